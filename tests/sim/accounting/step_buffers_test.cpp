// The step's buffers (sim/accounting/step_buffers.hpp) and the stage's peak point (stage_peak.hpp), each figure
// derived by hand in its comment from the framework's allocation rule.
#include "sim/accounting/step_buffers.hpp"

#include <gtest/gtest.h>

#include "sim/accounting/stage_peak.hpp"

namespace trainmem::sim {
namespace {

StepBufferShape shape() {
  StepBufferShape s;
  s.dp = 2;
  s.grads = Bytes(1000);
  s.tokens_replicated = 4;
  s.tokens_tp = 4;
  s.hidden = 8;
  s.mlp_width = 32;
  return s;
}

TEST(StepBuffers, DdpBucketIsAGradientCopyUnlessAViewOrMegatron) {
  ZeroRuntimeConfig z;
  StepBufferShape s = shape();
  // torch DDP's Reducer: flat buckets over every gradient, 1000 B of gradients -> 1000 B of buckets.
  EXPECT_EQ(step_buffers(s, z).ddp_bucket.value, 1000U);
  z.ddp_gradient_as_bucket_view = true;  // the gradients are views into the buckets: no copy
  EXPECT_EQ(step_buffers(s, z).ddp_bucket.value, 0U);
  z.ddp_gradient_as_bucket_view = false;
  s.megatron_grad_buffers = true;  // Megatron's buckets are views of main_grad
  EXPECT_EQ(step_buffers(s, z).ddp_bucket.value, 0U);
  s.megatron_grad_buffers = false;
  s.dp = 1;  // no data parallelism, no DDP
  EXPECT_EQ(step_buffers(s, z).ddp_bucket.value, 0U);
  s.dp = 2;
  s.zero_stage = 1;  // DeepSpeed ZeRO-1 reduces without DDP
  EXPECT_EQ(step_buffers(s, z).ddp_bucket.value, 0U);
}

TEST(StepBuffers, DeepSpeedBucketInTheParameterDtype) {
  ZeroRuntimeConfig z;  // reduce_bucket_size 5e8 elements (DeepSpeed default)
  StepBufferShape s = shape();
  s.zero_stage = 2;
  EXPECT_EQ(step_buffers(s, z).ipg_buckets.value, 1000000000U);  // 5e8 * 2 B (bf16)
  s.param_bytes = 4;                                             // --recipe fp32: fp32 gradients in the bucket
  EXPECT_EQ(step_buffers(s, z).ipg_buckets.value, 2000000000U);  // 5e8 * 4 B
  z.overlap_comm = true;                                         // ZeRO-2: two buckets
  EXPECT_EQ(step_buffers(s, z).ipg_buckets.value, 4000000000U);
  s.zero_stage = 3;  // ZeRO-3: one flat bucket whatever overlap_comm says
  EXPECT_EQ(step_buffers(s, z).ipg_buckets.value, 2000000000U);
  z.contiguous_gradients = false;
  EXPECT_EQ(step_buffers(s, z).ipg_buckets.value, 0U);
}

TEST(StepBuffers, ZeroThreeGathersAndSmallTensors) {
  ZeroRuntimeConfig z;
  z.stage3_prefetch_bucket_size = 50;
  z.stage3_max_live_parameters = 2000;
  StepBufferShape s = shape();
  s.zero_stage = 3;
  s.stage_layers = 3;
  s.layer_partitioned = 1000;
  s.layer_persistent = 11;
  const StepBuffers b = step_buffers(s, z);
  EXPECT_EQ(b.layer_gather.value, 2100U);        // 2 B * min(2000, 1000 + 50)
  EXPECT_EQ(b.layer_gather_grads.value, 2000U);  // 2 B * 1000
  EXPECT_EQ(b.zero3_persistent.value, 30U);      // 2 B * (11 - ceil(11 / 2)) * 3 layers = 2 * 5 * 3
  z.stage3_max_live_parameters = 500;            // the cap binds
  EXPECT_EQ(step_buffers(s, z).layer_gather.value, 1000U);
}

TEST(StepBuffers, ActivationGradientsAndP2p) {
  StepBufferShape s = shape();
  // 2 B * (4 tokens * 8 hidden + 4 tokens * 32 MLP width) = 2 * 160
  EXPECT_EQ(step_buffers(s, {}).backward_transient.value, 320U);
  EXPECT_EQ(step_buffers(s, {}).p2p_send.value, 0U);  // one stage: nothing to send
  s.pp = 2;
  EXPECT_EQ(step_buffers(s, {}).p2p_send.value, 64U);  // 2 B * 4 * 8
}

TEST(StagePeak, FullRecomputeNeverMeetsTheLossExtras) {
  // Defect fixed: estimate added the full-recompute transient on top of the loss extras (A + max(recompute,
  // loss) = 100 + max(50, 30) = 150), but backward frees the microbatch's loss extras X before its layers
  // recompute. Points: forward 100 - 40 = 60; loss 100 + 30 = 130; backward 60 + activation grads 10 + 50 = 120.
  StepBuffers b;
  b.backward_transient = Bytes(10);
  const StagePeak pk = stage_peak({Bytes(100), Bytes(40), Bytes(30), Bytes(50), Bytes(0)}, b);
  EXPECT_EQ(pk.total().value, 130U);
  EXPECT_EQ(pk.point, "loss");
  EXPECT_EQ(pk.temporaries.value, 30U);
  // A larger recompute (90): backward 60 + 10 + 90 = 160 > loss 130; the activations there are A - X.
  const StagePeak pk2 = stage_peak({Bytes(100), Bytes(40), Bytes(30), Bytes(90), Bytes(0)}, b);
  EXPECT_EQ(pk2.point, "backward");
  EXPECT_EQ(pk2.activations.value, 60U);
  EXPECT_EQ(pk2.temporaries.value, 100U);
}

TEST(StagePeak, BuffersAtTheirPoints) {
  // Whole-step DDP bucket 7 and a ZeRO-3 gather of 20 with 15 B of layer gradients; no loss (a middle stage).
  StepBuffers b;
  b.ddp_bucket = Bytes(7);
  b.layer_gather = Bytes(20);
  b.layer_gather_grads = Bytes(15);
  b.backward_transient = Bytes(5);
  b.p2p_send = Bytes(3);
  const StagePeak pk = stage_peak({Bytes(100), Bytes(0), Bytes(0), Bytes(0), Bytes(0)}, b);
  // forward 100 + 27 = 127; loss 100 + 7; backward 100 + 27 + 15 + 5 = 147; p2p 100 + 7 + 3 = 110.
  EXPECT_EQ(pk.point, "backward");
  EXPECT_EQ(pk.buffers.value, 27U);
  EXPECT_EQ(pk.total().value, 147U);
}

}  // namespace
}  // namespace trainmem::sim
