// --framework hf in the step replay (sim/engine/simulate.cpp): the profile's terms by lifetime
// (sim/accounting/framework_profile.hpp StepLifetimes) replayed over the gradient-accumulation schedule reach
// exactly estimate()'s peak (the largest of the profile's step points), runtime included, and name the moment.
#include <gtest/gtest.h>

#include <string>

#include "partition/model_presets.hpp"
#include "sim/engine/simulate.hpp"
#include "tests/sim/lab_models.hpp"

namespace trainmem::sim {
namespace {

struct Case {
  std::string name;
  std::string model;  // a preset, or "lab-llama"
  std::string recipe = "bf16";
  std::string optimizer = "adamw";
  OptimizerImpl impl = OptimizerImpl::foreach;
  std::int64_t seq = 128, mbs = 1, gbs = 1, dp = 1;
  int zero_stage = 0;  // 1: DDP + ZeroRedundancyOptimizer; 2 / 3: FSDP2 shard-grad-op / full shard
  bool ckpt = false;
  std::int64_t lora_rank = 0;
  AttentionKernel attention = AttentionKernel::flash;
};

Scenario scenario(const Case& c) {
  Scenario sc;
  sc.model = c.model == "lab-llama" ? lab_llama() : find_model_preset(c.model)->spec;
  sc.parallel.make_vocab_size_divisible_by = 1;
  sc.parallel.dp = c.dp;
  sc.parallel.world_size = c.dp;
  sc.parallel.zero_stage = c.zero_stage;
  sc.training.seq_length = c.seq;
  sc.training.micro_batch_size = c.mbs;
  sc.training.global_batch_size = c.gbs;
  sc.training.recipe = c.recipe;
  sc.training.optimizer = c.optimizer;
  sc.training.framework = Framework::hf;
  sc.training.optimizer_impl = c.impl;
  sc.training.attention = c.attention;
  if (c.ckpt) sc.training.recompute_granularity = RecomputeGranularity::full;
  sc.lora.rank = c.lora_rank;
  return sc;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  auto add = [&v](Case c) { v.push_back(std::move(c)); };
  add({.name = "lab bf16 for-loop", .model = "lab-llama", .impl = OptimizerImpl::for_loop});
  add({.name = "lab fp32 foreach", .model = "lab-llama", .recipe = "fp32"});
  add({.name = "lab amp for-loop b2",
       .model = "lab-llama",
       .recipe = "amp",
       .impl = OptimizerImpl::for_loop,
       .mbs = 2,
       .gbs = 2});
  add({.name = "lab sgd", .model = "lab-llama", .optimizer = "sgd", .impl = OptimizerImpl::for_loop});
  add({.name = "lab ckpt", .model = "lab-llama", .seq = 256, .mbs = 2, .gbs = 2, .ckpt = true});
  add({.name = "lab ga2", .model = "lab-llama", .seq = 256, .mbs = 2, .gbs = 4});
  add({.name = "lab ga4 ckpt fused", .model = "lab-llama", .impl = OptimizerImpl::fused, .gbs = 4, .ckpt = true});
  add({.name = "lab dp2", .model = "lab-llama", .gbs = 2, .dp = 2});
  add({.name = "lab zero1 dp2", .model = "lab-llama", .gbs = 2, .dp = 2, .zero_stage = 1});
  add({.name = "qwen2-0.5b zero1 dp4 ckpt",
       .model = "qwen2-0.5b",
       .seq = 1024,
       .mbs = 2,
       .gbs = 8,
       .dp = 4,
       .zero_stage = 1,
       .ckpt = true});
  add({.name = "qwen2-0.5b fsdp grad-op dp4",
       .model = "qwen2-0.5b",
       .seq = 1024,
       .mbs = 2,
       .gbs = 8,
       .dp = 4,
       .zero_stage = 2});
  add({.name = "qwen2-0.5b fsdp full dp4",
       .model = "qwen2-0.5b",
       .seq = 1024,
       .mbs = 2,
       .gbs = 8,
       .dp = 4,
       .zero_stage = 3});
  add({.name = "lab dp2 ga2 amp", .model = "lab-llama", .recipe = "amp", .gbs = 4, .dp = 2});
  add({.name = "lab lora", .model = "lab-llama", .lora_rank = 8});
  add({.name = "lab lora ckpt ga2", .model = "lab-llama", .gbs = 2, .ckpt = true, .lora_rank = 8});
  add({.name = "lab eager", .model = "lab-llama", .attention = AttentionKernel::eager});
  add({.name = "gpt2 bf16", .model = "gpt2", .seq = 512, .mbs = 2, .gbs = 2});
  add({.name = "gpt2 amp ga2", .model = "gpt2", .recipe = "amp", .seq = 256, .gbs = 2});
  add({.name = "gpt2 fp32 ckpt dp2", .model = "gpt2", .recipe = "fp32", .seq = 256, .gbs = 2, .dp = 2, .ckpt = true});
  add({.name = "qwen2-0.5b bf16", .model = "qwen2-0.5b", .seq = 1024, .mbs = 2, .gbs = 2});
  add({.name = "qwen2-0.5b lora amp", .model = "qwen2-0.5b", .recipe = "amp", .seq = 512, .lora_rank = 16});
  add({.name = "llama2-7b lora ckpt", .model = "llama2-7b", .seq = 2048, .ckpt = true, .lora_rank = 16});
  add({.name = "llama2-7b bf16 foreach", .model = "llama2-7b", .seq = 1024});
  return v;
}

// The replay's peak is estimate()'s max_peak, byte for byte, at a moment the profile names.
TEST(SimulateHf, PeakEqualsEstimate) {
  for (const Case& c : cases()) {
    const SimulationResult r = simulate(scenario(c), false);
    ASSERT_EQ(r.stages.size(), 1U) << c.name;
    const StageReport& s = r.stages[0];
    const RankClass& cls = r.estimate.classes[s.estimate_class];
    ASSERT_TRUE(cls.framework_step.has_value()) << c.name;
    EXPECT_EQ(s.simulation.peak.value, r.estimate.max_peak.value) << c.name;
    EXPECT_EQ(r.max_peak.value, r.estimate.max_peak.value) << c.name;
    // The breakdown at the replay's peak is the profile's peak point, category by category.
    for (auto cat : kMemoryCategories)
      EXPECT_EQ(s.simulation.at_peak[cat].value, cls.bytes[cat].value)
          << c.name << ": " << category_name(cat) << " at " << describe(s.simulation.peak_event, 0);
  }
}

TEST(SimulateHf, PeakEventNamesTheStepPoint) {
  // The lab Llama under bf16: the loss backward's two fp32 [tokens, V] tensors are the peak.
  Case c{.name = "lab", .model = "lab-llama"};
  SimulationResult r = simulate(scenario(c), false);
  ASSERT_EQ(r.estimate.classes[0].framework_step->peak_point, 1U);
  EXPECT_EQ(describe(r.stages[0].simulation.peak_event, 0),
            "backward, microbatch 0 (chunk 0), stage 0: backward start: loss gradients");
  // for-loop vs foreach on a 7B model: the foreach step's sqrt(v) of every tensor is the peak.
  c = {.name = "7b", .model = "llama2-7b", .seq = 512};
  r = simulate(scenario(c), false);
  ASSERT_EQ(r.estimate.classes[0].framework_step->peak_point, 2U);
  EXPECT_EQ(describe(r.stages[0].simulation.peak_event, 0), "optimizer step, stage 0: optimizer step scratch");
}

TEST(SimulateHf, GradientsAppearInTheFirstBackwardAndPersist) {
  // No gradients while microbatch 0 runs forward; all of them from the end of its backward to the step.
  Case c{.name = "ga2", .model = "lab-llama", .gbs = 2};
  const SimulationResult r = simulate(scenario(c), true);
  const StageSimulation& s = r.stages[0].simulation;
  const Bytes g = r.estimate.classes[0].model_states.breakdown[MemoryCategory::grads];
  ASSERT_GT(g.value, 0U);
  bool seen_backward = false;
  for (std::size_t i = 0; i < s.events.size(); ++i) {
    const StepEvent& e = s.events[i];
    const Bytes now = s.timeline[i].bytes[MemoryCategory::grads];
    if (e.phase == StepEvent::Phase::forward && e.microbatch == 0) {
      EXPECT_EQ(now.value, 0U) << describe(e, 0);
    }
    if (e.phase == StepEvent::Phase::backward) seen_backward = true;
    if (e.microbatch == 1 || e.phase == StepEvent::Phase::optimizer) {
      EXPECT_EQ(now.value, g.value) << describe(e, 0);
    }
  }
  EXPECT_TRUE(seen_backward);
}

}  // namespace
}  // namespace trainmem::sim
