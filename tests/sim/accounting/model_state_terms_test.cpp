// The model-state term table (sim/accounting/model_state_terms.hpp) is the one source of model_state_memory():
// every row of every recipe x optimizer becomes one term with the row's name, dtype, category, sharding and
// bytes, and a row added to a recipe reaches estimate()'s breakdown (the planner's evaluator reads the same rows;
// tests/sim/planner/planner_test.cpp holds it equal to estimate()).
#include "sim/accounting/model_state_terms.hpp"

#include <gtest/gtest.h>

#include "sim/accounting/model_state_memory.hpp"
#include "sim/offload/offload_rules.hpp"

namespace trainmem::sim {
namespace {

RankParamShard shard(std::uint64_t dense, std::uint64_t expert) {
  RankParamShard s;
  s.dense = ElementCount(dense);
  s.expert = ElementCount(expert);
  return s;
}

TEST(ModelStateTerms, ModelStateMemoryIsTheTableRowByRow) {
  const RankParamShard sh = shard(1000003, 70001);
  for (const Recipe& recipe : recipes())
    for (const Optimizer& optimizer : optimizers())
      for (int zero = 0; zero <= 3; ++zero) {
        if (optimizer.error_feedback) continue;  // sized with dp by model_state_memory(); optimizer_state_test
        SCOPED_TRACE(testing::Message() << recipe.name << " " << optimizer.name << " zero " << zero);
        const auto rows = model_state_term_rules(recipe, optimizer);
        const ModelStateMemory m = model_state_memory(sh, recipe, optimizer, zero, 8, 2);
        ASSERT_EQ(rows.size(), m.terms.size());
        Bytes sum;
        for (std::size_t i = 0; i < rows.size(); ++i) {
          const auto& r = rows[i];
          const auto& t = m.terms[i];
          EXPECT_EQ(r.name, t.name);
          EXPECT_EQ(r.dtype, t.dtype);
          EXPECT_EQ(r.category, t.category);
          EXPECT_EQ(r.sharded(zero), t.sharded);
          EXPECT_EQ(r.held(1000003, zero, 8), t.dense_elements.value);
          EXPECT_EQ(r.held(70001, zero, 2), t.expert_elements.value);
          EXPECT_EQ((r.bytes(t.dense_elements.value) + r.bytes(t.expert_elements.value)).value, t.bytes.value);
          sum += t.bytes;
        }
        EXPECT_EQ(sum.value, m.breakdown.total().value);
      }
}

TEST(ModelStateTerms, BytesFollowTheDtypeAndTheAbsmaxBlock) {
  const Recipe& mixed = *find_recipe("mixed-16");
  const auto adam8 = model_state_term_rules(mixed, *find_optimizer("adam-8bit"));
  ASSERT_FALSE(adam8.empty());
  const ModelStateTermRule& scales = adam8.back();
  EXPECT_EQ(scales.block, 256u);  // bitsandbytes blocksize = 256 (optim/optimizer.py init_state)
  EXPECT_EQ(scales.bytes(256).value, 4u);
  EXPECT_EQ(scales.bytes(257).value, 8u);  // a partial block has its own scale
  const ModelStateTermRule& values = adam8[adam8.size() - 2];
  EXPECT_EQ(values.bytes(257).value, 257u);
  // The DeepSpeed recipe's fp32 gradient copy is the row optimizer offload moves with the optimizer.
  bool copy = false;
  for (const auto& r : model_state_term_rules(*find_recipe("deepspeed"), *find_optimizer("adam")))
    if (r.fp32_grad_copy) {
      copy = true;
      EXPECT_EQ(state_term_fate(r.category, true, 1, OffloadDevice::cpu, OffloadDevice::none),
                StateTermFate::optimizer_tier);
    }
  EXPECT_TRUE(copy);
}

TEST(ModelStateTerms, ARowAddedToARecipeReachesTheBreakdown) {
  Recipe recipe = *find_recipe("mixed-16");
  const Optimizer& adam = *find_optimizer("adam");
  const Bytes before = model_state_memory(shard(1000, 0), recipe, adam, 1, 4, 4).breakdown.total();
  recipe.tensors.push_back({"fp32 EMA weights", Dtype::fp32, ZeroStateClass::optimizer, MemoryCategory::master_params,
                            "test: an extra term"});
  const auto rows = model_state_term_rules(recipe, adam);
  const ModelStateMemory m = model_state_memory(shard(1000, 0), recipe, adam, 1, 4, 4);
  EXPECT_EQ(m.breakdown.total().value, before.value + 1000u);  // 250 elements x 4 bytes (sharded at ZeRO-1)
  ASSERT_EQ(rows.size(), m.terms.size());
  EXPECT_EQ(m.terms[recipe.tensors.size() - 1].name, "fp32 EMA weights");
}

}  // namespace
}  // namespace trainmem::sim
