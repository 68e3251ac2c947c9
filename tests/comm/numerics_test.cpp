#include "comm/numerics.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "comm/validation_step.hpp"

namespace trainmem::comm {
namespace {

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0F), 0x3F80);
  EXPECT_EQ(bf16_to_float(0x3F80), 1.0F);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0F + 0x1p-8F)), 1.0F);
  // 1 + 3*2^-8 is halfway between 1+2^-7 and 1+2^-6: even is 1+2^-6.
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0F + 3 * 0x1p-8F)), 1.0F + 0x1p-6F);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
}

TEST(SeededValues, AreDeterministicAndExactInBf16) {
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const float p = seeded_param(7, 0, i);
    EXPECT_EQ(p, seeded_param(7, 0, i));
    EXPECT_EQ(quantize(p, Dtype::bf16), p);
    const float g = seeded_grad(7, 0, 3, i);
    EXPECT_EQ(quantize(g, Dtype::bf16), g);
    EXPECT_LE(std::fabs(g), 7.0F / 64.0F);
    EXPECT_GT(seeded_moment_v(7, 0, i), 0.0F);
  }
  EXPECT_NE(seeded_grad(7, 0, 0, 5), seeded_grad(7, 0, 1, 5) + 1.0F);  // streams differ per member
}

TEST(SeededValues, SumsOfSixteenGradientsAreExactInBf16) {
  for (std::uint64_t i = 0; i < 1000; ++i) {
    float sum = 0;
    double exact = 0;
    for (std::uint64_t d = 0; d < 16; ++d) {
      sum = quantize(sum + seeded_grad(1, 0, d, i), Dtype::bf16);
      exact += seeded_grad(1, 0, d, i);
    }
    EXPECT_EQ(static_cast<double>(sum), exact);
  }
}

TEST(Adam, FirstStepMatchesHandComputation) {
  // Step 1 from m = v = 0: m_hat = g, v_hat = g^2, so w moves by lr * g / (|g| + eps) ~ lr * sign(g).
  AdamConfig c;
  float w = 0.5F, m = 0.0F, v = 0.0F;
  adam_update(w, m, v, 0.25F, c, bias_correction(c.beta1, 1), bias_correction(c.beta2, 1));
  EXPECT_FLOAT_EQ(m, 0.025F);
  EXPECT_NEAR(v, 0.001F * 0.0625F, 1e-9F);  // (1 - 0.999) is not exact in fp32
  EXPECT_NEAR(w, 0.5F - 1e-3F, 1e-7F);
}

TEST(Adam, WeightDecayIsDecoupled) {
  AdamConfig c;
  c.weight_decay = 0.1F;
  float w = 2.0F, m = 0.0F, v = 0.0F;
  adam_update(w, m, v, 1.0F, c, bias_correction(c.beta1, 1), bias_correction(c.beta2, 1));
  EXPECT_NEAR(w, 2.0F - 1e-3F * (1.0F + 0.1F * 2.0F), 1e-6F);
}

TEST(Reference, EqualsTheStepWrittenOutByHand) {
  ReferenceSpec spec;
  spec.seed = 99;
  spec.group = 4;
  spec.dp = 4;
  spec.param_dtype = Dtype::bf16;
  spec.grad_dtype = Dtype::bf16;
  spec.moment_dtype = Dtype::fp32;
  float out[8];
  reference_updated_params(spec, 100, 108, out);
  for (std::uint64_t i = 100; i < 108; ++i) {
    float g = 0;
    for (std::uint64_t d = 0; d < 4; ++d) g += seeded_grad(99, 4, d, i);
    g /= 4.0F;
    float w = seeded_param(99, 4, i), m = seeded_moment_m(99, 4, i), v = seeded_moment_v(99, 4, i);
    adam_update(w, m, v, g, spec.adam, bias_correction(0.9F, 1), bias_correction(0.999F, 1));
    EXPECT_EQ(out[i - 100], quantize(w, Dtype::bf16)) << i;
  }
}

TEST(Sharding, FollowsTheZeroStages) {
  EXPECT_FALSE(sharded_at(BufferRole::master_params, 0));
  EXPECT_TRUE(sharded_at(BufferRole::master_params, 1));
  EXPECT_TRUE(sharded_at(BufferRole::grad_copy, 1));
  EXPECT_FALSE(sharded_at(BufferRole::grads, 1));
  EXPECT_TRUE(sharded_at(BufferRole::grads, 2));
  EXPECT_FALSE(sharded_at(BufferRole::params, 2));
  EXPECT_TRUE(sharded_at(BufferRole::params, 3));
}

}  // namespace
}  // namespace trainmem::comm
