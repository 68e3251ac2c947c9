#include "partition/parallel_config.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"

namespace trainmem {
namespace {

const ModelSpec& llama7b() { return find_model_preset("llama2-7b")->spec; }

std::string failing_field(ParallelConfig c, const ModelSpec* m) {
  try {
    resolve(c, m);
  } catch (const ConfigError& e) {
    return e.field() + "=" + e.value();
  }
  return "(no error)";
}

TEST(ParallelConfig, DerivesDpFromWorldSize) {
  ParallelConfig c;
  c.tp = 2;
  c.pp = 4;
  c.world_size = 64;
  const ParallelConfig r = resolve(c, &llama7b());
  EXPECT_EQ(r.dp, 8);  // 64 / (2 * 1 * 4)
  EXPECT_EQ(r.etp, 2);
  EXPECT_EQ(r.edp(), 8);
}

TEST(ParallelConfig, TensorParallelMustDivideTheSharedExpert) {
  // Qwen1.5-MoE-A2.7B with a shared expert of 5630 (not a multiple of 4) at tp 4: heads 16 divide, the shared
  // expert's columns would not.
  ModelSpec m = find_model_preset("qwen1.5-moe-a2.7b")->spec;
  ParallelConfig c;
  c.tp = 4;
  EXPECT_EQ(failing_field(c, &m), "(no error)");
  m.shared_expert_ffn = 5630;
  EXPECT_EQ(failing_field(c, &m), "tensor_model_parallel_size=4");
}

TEST(ParallelConfig, DefaultsToOneRank) {
  const ParallelConfig r = resolve(ParallelConfig{}, &llama7b());
  EXPECT_EQ(r.world_size, 1);
  EXPECT_EQ(r.dp, 1);
}

TEST(ParallelConfig, NamesTheOffendingValue) {
  ParallelConfig c;
  c.tp = 3;  // 32 heads
  EXPECT_EQ(failing_field(c, &llama7b()), "tensor_model_parallel_size=3");
  c = ParallelConfig{};
  c.pp = 5;  // 32 layers
  EXPECT_EQ(failing_field(c, &llama7b()), "pipeline_model_parallel_size=5");
  c = ParallelConfig{};
  c.tp = 2;
  c.world_size = 7;
  EXPECT_EQ(failing_field(c, &llama7b()), "world_size=7");
  c = ParallelConfig{};
  c.dp = 4;
  c.world_size = 8;
  EXPECT_EQ(failing_field(c, &llama7b()), "world_size=8");
  c = ParallelConfig{};
  c.pp = 2;
  c.vpp = 3;  // 32 layers not divisible by 2*3
  EXPECT_EQ(failing_field(c, &llama7b()), "virtual_pipeline_model_parallel_size=3");
  c = ParallelConfig{};
  c.tp = -1;
  EXPECT_EQ(failing_field(c, &llama7b()), "tensor_model_parallel_size=-1");
  c = ParallelConfig{};
  c.zero_stage = 4;
  EXPECT_EQ(failing_field(c, &llama7b()), "zero_stage=4");
  c = ParallelConfig{};
  c.ep = 2;  // dense model
  c.dp = 2;
  EXPECT_EQ(failing_field(c, &llama7b()), "expert_model_parallel_size=2");
  c = ParallelConfig{};
  c.pp = 2;
  c.zero_stage = 3;
  EXPECT_EQ(failing_field(c, &llama7b()), "zero_stage=3");
}

TEST(ParallelConfig, Llama70bKvHeadsLimitTp) {
  // 8 kv heads: tp 16 cannot split them.
  ParallelConfig c;
  c.tp = 16;
  EXPECT_EQ(failing_field(c, &find_model_preset("llama2-70b")->spec), "tensor_model_parallel_size=16");
}

TEST(ParallelConfig, UnevenSplitMustCoverLayers) {
  ParallelConfig c;
  c.pp = 4;
  c.first_stage_layers = 5;
  c.last_stage_layers = 6;  // 32 - 11 = 21 over 2 middle stages: not even
  EXPECT_EQ(failing_field(c, &llama7b()), "decoder_first_pipeline_num_layers=5");
  c.last_stage_layers = 7;  // 20 over 2: ok
  EXPECT_NO_THROW(resolve(c, &llama7b()));
}

TEST(ParallelConfig, ExpertLayoutMustFit) {
  const ModelSpec& mixtral = find_model_preset("mixtral-8x7b")->spec;
  ParallelConfig c;
  c.ep = 3;  // 8 experts
  c.dp = 3;
  EXPECT_EQ(failing_field(c, &mixtral), "expert_model_parallel_size=3");
  c.ep = 4;
  c.dp = 2;  // tp*cp*dp = 2 not divisible by etp*ep = 4
  EXPECT_EQ(failing_field(c, &mixtral), "expert_model_parallel_size=4");
  c.dp = 8;
  EXPECT_EQ(resolve(c, &mixtral).edp(), 2);  // 8 / 4
}

}  // namespace
}  // namespace trainmem
