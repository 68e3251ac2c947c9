// Low-precision terms (docs/low-precision.md) against hand derivations: every expected number below is worked out
// in the comment beside it from the Megatron-LM / Transformer Engine rule it cites, not taken from trainmem.
#include "sim/accounting/low_precision.hpp"

#include <gtest/gtest.h>

#include <string>

#include "partition/error.hpp"
#include "sim/accounting/activation_memory.hpp"
#include "sim/accounting/model_state_memory.hpp"
#include "sim/accounting/quantized_weights.hpp"
#include "sim/engine/simulate.hpp"
#include "sim/runtime/device_spec.hpp"

namespace trainmem::sim {
namespace {

RankParamShard dense(std::uint64_t n) {
  RankParamShard s;
  s.dense = ElementCount(n);
  return s;
}

LowPrecisionConfig pao(Dtype m, Dtype v) {
  LowPrecisionConfig c;
  c.precision_aware_optimizer = true;
  c.exp_avg_dtype = m;
  c.exp_avg_sq_dtype = v;
  return c;
}

ModelStateMemory states(const LowPrecisionConfig& c, std::uint64_t n, std::int64_t dp) {
  const auto recipe = precision_aware_recipe(c, *find_recipe("megatron"));
  return model_state_memory(dense(n), *recipe, *find_optimizer("adam"), 1, dp, dp);
}

Bytes term(const ModelStateMemory& m, const std::string& name) {
  for (const auto& t : m.terms)
    if (t.name == name) return t.bytes;
  ADD_FAILURE() << "no term " << name;
  return Bytes(0);
}

TEST(PrecisionAwareOptimizer, Bf16MomentsAreExactlyHalfOfFp32) {
  // 1,000,000 parameters, distributed optimizer over dp 8: each rank holds ceil(1e6 / 8) = 125,000 elements of m and
  // of v. fp32: 2 x 125,000 x 4 = 1,000,000 B; bf16 (--exp-avg-dtype bf16 --exp-avg-sq-dtype bf16): 500,000 B.
  const auto fp32 = states(pao(Dtype::fp32, Dtype::fp32), 1000000, 8);
  const auto bf16 = states(pao(Dtype::bf16, Dtype::bf16), 1000000, 8);
  EXPECT_EQ(fp32.breakdown[MemoryCategory::optimizer_states].value, 1000000u);
  EXPECT_EQ(bf16.breakdown[MemoryCategory::optimizer_states].value, 500000u);
  // fp8 (TE E4M3 Float8Tensor, 1 byte): 2 x 125,000 = 250,000; mixed: m fp16 (2 B) + v fp32 (4 B) = 750,000.
  EXPECT_EQ(states(pao(Dtype::fp8, Dtype::fp8), 1000000, 8).breakdown[MemoryCategory::optimizer_states].value, 250000u);
  EXPECT_EQ(states(pao(Dtype::fp16, Dtype::fp32), 1000000, 8).breakdown[MemoryCategory::optimizer_states].value,
            750000u);
}

TEST(PrecisionAwareOptimizer, MasterAndMainGradDtypes) {
  // TE FusedAdam store_param_remainders (Megatron default): the fp32 master of a bf16 param is its int16 low half,
  // 125,000 x 2 = 250,000 B per rank; without remainders 125,000 x 4 = 500,000; --main-params-dtype fp16: 250,000.
  LowPrecisionConfig c = pao(Dtype::fp32, Dtype::fp32);
  EXPECT_EQ(term(states(c, 1000000, 8), "fp32 master remainders").value, 250000u);
  c.store_param_remainders = false;
  EXPECT_EQ(term(states(c, 1000000, 8), "fp32 master parameters").value, 500000u);
  c.main_params_dtype = Dtype::fp16;
  EXPECT_EQ(term(states(c, 1000000, 8), "fp16 master parameters").value, 250000u);
  // --main-grads-dtype bf16: the (unsharded at ZeRO-1) grad buffer is 1,000,000 x 2 B.
  c.main_grads_dtype = Dtype::bf16;
  EXPECT_EQ(states(c, 1000000, 8).breakdown[MemoryCategory::grads].value, 2000000u);
  // An FP8 recipe other than delayed moves the fp32 master to Megatron (no remainders): 500,000 B.
  LowPrecisionConfig mx = pao(Dtype::fp32, Dtype::fp32);
  mx.fp8_format = "hybrid";
  mx.recipe = QuantRecipe::mxfp8;
  EXPECT_EQ(term(states(mx, 1000000, 8), "fp32 master parameters").value, 500000u);
}

TEST(PrecisionAwareOptimizer, RefusesWhatMegatronRefuses) {
  const Recipe& megatron = *find_recipe("megatron");
  const Optimizer& adam = *find_optimizer("adam");
  LowPrecisionConfig c = pao(Dtype::bf16, Dtype::bf16);
  try {
    check_low_precision(c, megatron, adam, 0);
    FAIL() << "zero_stage 0 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("distributed optimizer"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(check_low_precision(c, megatron, adam, 1));
  EXPECT_THROW(check_low_precision(c, *find_recipe("deepspeed"), adam, 1), ConfigError);
  EXPECT_THROW(check_low_precision(c, megatron, *find_optimizer("sgd"), 1), ConfigError);
  c.precision_aware_optimizer = false;  // optimizer_config.py: bf16 moments need the precision-aware optimizer
  EXPECT_THROW(check_low_precision(c, megatron, adam, 1), ConfigError);
  LowPrecisionConfig both;
  both.fp8_format = "e4m3";
  both.fp4_format = "e2m1";
  EXPECT_THROW(check_low_precision(both, megatron, adam, 1), ConfigError);
  LowPrecisionConfig gather;
  gather.fp8_format = "hybrid";
  gather.param_gather = true;
  EXPECT_THROW(check_low_precision(gather, megatron, adam, 0), ConfigError);
}

TEST(QuantizedBytes, ScaleShapesAsTransformerEngineLaysThemOut) {
  // MXFP8 [1000, 1000]: rowwise scales [round_up(1000,128)=1024, round_up(1000/32=31,4)=32] = 32,768 B;
  // columnwise [round_up(31,4)=32, round_up(1000,128)=1024] = 32,768 B; data 1,000,000 B each.
  EXPECT_EQ(quantized_bytes(QuantRecipe::mxfp8, 1000, 1000, false, true).scales.value, 32768u);
  EXPECT_EQ(quantized_bytes(QuantRecipe::mxfp8, 1000, 1000, true, true).scales.value, 32768u);
  EXPECT_EQ(quantized_bytes(QuantRecipe::mxfp8, 1000, 1000, true, true).data.value, 1000000u);
  // Blockwise 128x128 weight blocks: ceil(1000/128) = 8 -> [8, round_up(8,4)=8] fp32 = 256 B.
  EXPECT_EQ(quantized_bytes(QuantRecipe::blockwise, 1000, 1000, false, true).scales.value, 256u);
  // Blockwise 1x128 activations, columnwise [ceil(rows/128), round_up(cols,4)]: rows 256 -> [2, 1000] x 4 = 8,000 B.
  EXPECT_EQ(quantized_bytes(QuantRecipe::blockwise, 256, 1000, true, false).scales.value, 8000u);
  // NVFP4: 4-bit data 500,000 B; rowwise e4m3 scales [1024, round_up(ceil(1000/16)=63,4)=64] = 65,536 + fp32 amax 4.
  EXPECT_EQ(quantized_bytes(QuantRecipe::nvfp4, 1000, 1000, false, true).data.value, 500000u);
  EXPECT_EQ(quantized_bytes(QuantRecipe::nvfp4, 1000, 1000, false, true).scales.value, 65540u);
  // Delayed / tensorwise: one fp32 scale_inv per tensor.
  EXPECT_EQ(quantized_bytes(QuantRecipe::delayed, 1000, 1000, false, true).scales.value, 4u);
}

// One GPT-style layer: h 1024, 8 heads of 128 (MHA), ffn 4096, GeLU, tp 1. Linear weights [out, in]:
// QKV [3072, 1024] 3,145,728; out-proj [1024, 1024] 1,048,576; fc1 [4096, 1024] 4,194,304; fc2 [1024, 4096]
// 4,194,304; n = 12,582,912 elements.
ModelSpec one_layer(std::int64_t layers) {
  ModelSpec m;
  m.name = "hand";
  m.num_layers = layers;
  m.hidden_size = 1024;
  m.num_attention_heads = 8;
  m.ffn_hidden_size = 4096;
  m.vocab_size = 51200;
  return m;
}
ParallelConfig tp1() {
  ParallelConfig p;
  p.etp = 1;
  return p;
}
StageLayers stage_of(std::int64_t first, std::int64_t count) {
  StageLayers s;
  s.num_layers = count;
  s.chunks.push_back({0, first, count});
  return s;
}

TEST(QuantizedWeights, OneMxfp8LayerByHand) {
  LowPrecisionConfig c;
  c.fp8_format = "hybrid";
  c.recipe = QuantRecipe::mxfp8;
  ModelStateMemory m;
  add_quantized_weight_terms(m, one_layer(1), tp1(), stage_of(0, 1), c);
  // Every dimension is a multiple of 128, so the e8m0 scales are exactly n/32 = 393,216 B in each direction.
  EXPECT_EQ(term(m, "fp8 weight cache (rowwise)").value, 12582912u);
  EXPECT_EQ(term(m, "fp8 weight scales (rowwise)").value, 393216u);
  EXPECT_EQ(term(m, "fp8 weight columnwise copy").value, 12582912u);
  EXPECT_EQ(term(m, "fp8 weight scales (columnwise)").value, 393216u);
  EXPECT_EQ(m.breakdown[MemoryCategory::params].value, 2u * 12582912 + 2u * 393216);  // 25,952,256
}

TEST(QuantizedWeights, DelayedScalingStateAndParamGather) {
  LowPrecisionConfig c;
  c.fp8_format = "e4m3";  // recipe delayed (Megatron's default), amax history 1
  c.param_gather = true;
  // The rank's bf16 parameters: the layer's 12,582,912 linear weights + 20,000 others, ZeRO-1 over dp 8.
  ModelStateMemory m =
      model_state_memory(dense(12582912 + 20000), *find_recipe("megatron"), *find_optimizer("adam"), 1, 8, 8);
  const Bytes before = m.breakdown[MemoryCategory::params];
  EXPECT_EQ(before.value, 2u * (12582912 + 20000));
  add_quantized_weight_terms(m, one_layer(1), tp1(), stage_of(0, 1), c);
  // --fp8-param-gather: the linear weights lose their bf16 copy (2 B each): 20,000 x 2 = 40,000 B stay bf16;
  // the quantized parameters take 1 B per element + 4 fp32 scale_inv (16 B); columnwise copy the same;
  // delayed state: 4 GEMMs x 5 quantizers x (1 + 1) x 4 B = 160 B.
  EXPECT_EQ(term(m, "bf16 params (not quantized)").value, 40000u);
  EXPECT_EQ(term(m, "fp8 params (the weights, rowwise)").value, 12582912u);
  EXPECT_EQ(term(m, "fp8 weight scales (rowwise)").value, 16u);
  EXPECT_EQ(term(m, "fp8 delayed-scaling state").value, 160u);
  EXPECT_EQ(m.breakdown[MemoryCategory::params].value, 40000u + 2u * (12582912 + 16) + 160u);
}

TEST(QuantizedWeights, FirstAndLastLayersStayBf16) {
  LowPrecisionConfig c;
  c.fp8_format = "hybrid";
  c.recipe = QuantRecipe::tensorwise;
  c.first_last_layers_bf16 = true;  // defaults: 1 at the start, 1 at the end
  // 4 layers: 0 and 3 stay BF16, so a stage holding all four quantizes 2 layers; one holding layer 0 none.
  EXPECT_EQ(quantized_layers(c, 4, 0, 4), 2);
  EXPECT_EQ(quantized_layers(c, 4, 0, 1), 0);
  ModelStateMemory m;
  add_quantized_weight_terms(m, one_layer(4), tp1(), stage_of(0, 4), c);
  EXPECT_EQ(term(m, "fp8 weight cache (rowwise)").value, 2u * 12582912);
}

TEST(QuantizedActivations, LinearInputsSavedInMxfp8) {
  LowPrecisionConfig c;
  c.fp8_format = "hybrid";
  c.recipe = QuantRecipe::mxfp8;
  TrainingConfig t;
  t.seq_length = 128;
  t.low_precision = c;
  const auto layer = layer_activations(one_layer(1), tp1(), t, 2);
  // 128 tokens x 1024: bf16 262,144 B -> 131,072 B of fp8 + columnwise scales [round_up(128/32=4,4)=4,
  // round_up(1024,128)=1024] = 4,096 B: 135,168 B. fc2 input 128 x 4096: 524,288 + [4, 4096] = 16,384 -> 540,672.
  std::uint64_t qkv = 0, fc1 = 0, fc2 = 0, proj = 0, o = 0;
  bool o_core = false;
  for (const auto& op : layer.ops)
    for (const auto& st : op.saved) {
      if (st.name == "QKV input (norm output)") qkv = st.bytes.value;
      if (st.name == "fc1 input (norm output)") fc1 = st.bytes.value;
      if (st.name == "fc2 input (activation output)") fc2 = st.bytes.value;
      if (st.name == "out-proj input (fp8 copy of O)") proj = st.bytes.value;
      if (st.name == "attention output O (kept by flash)") o = st.bytes.value, o_core = st.attention_core;
    }
  EXPECT_EQ(qkv, 135168u);
  EXPECT_EQ(fc1, 135168u);
  EXPECT_EQ(fc2, 540672u);
  EXPECT_EQ(proj, 135168u);
  EXPECT_EQ(o, 262144u);  // flash keeps O in bf16 (attention core: selective recompute rebuilds it)
  EXPECT_TRUE(o_core);
  // Against the bf16 table: QKV, fc1 and fc2 inputs shrink, the out-proj gains its quantized copy of O.
  TrainingConfig bf = t;
  bf.low_precision = LowPrecisionConfig{};
  const auto base = layer_activations(one_layer(1), tp1(), bf, 2);
  EXPECT_EQ(base.saved_all.value - layer.saved_all.value, (262144u - 135168u) * 2 + (1048576u - 540672u) - 135168u);
}

// simulate() replays the same FP8 terms (model states and saved activations) as estimate(): equal at pp 1, and
// estimate() bounds every stage of a pipeline, for every recipe and with and without --fp8-param-gather.
TEST(QuantizedWeights, SimulateReplaysTheSameTerms) {
  for (const QuantRecipe r :
       {QuantRecipe::delayed, QuantRecipe::tensorwise, QuantRecipe::blockwise, QuantRecipe::mxfp8, QuantRecipe::nvfp4})
    for (const bool gather : {false, true})
      for (const std::int64_t pp : {1, 2}) {
        Scenario sc;
        sc.model = one_layer(8);
        sc.parallel.pp = pp;
        sc.parallel.dp = 2;
        sc.training.seq_length = 256;
        sc.training.recipe = "mixed-18";
        sc.training.use_distributed_optimizer = true;
        sc.training.global_batch_size = 4;
        LowPrecisionConfig& c = sc.training.low_precision;
        (r == QuantRecipe::nvfp4 ? c.fp4_format : c.fp8_format) = r == QuantRecipe::nvfp4 ? "e2m1" : "hybrid";
        c.recipe = r;
        c.param_gather = gather;
        const SimulationResult s = simulate(sc, false);
        SCOPED_TRACE(std::string(quant_recipe_name(r)) + (gather ? " gather" : "") + " pp " + std::to_string(pp));
        for (const StageReport& st : s.stages)
          EXPECT_GE(s.estimate.classes[st.estimate_class].peak.value, st.simulation.peak.value);
        if (pp == 1) {
          EXPECT_EQ(s.estimate.max_peak.value, s.max_peak.value);
        }
      }
}

TEST(Devices, PresetsWithTheirStatedConvention) {
  // Measured nvidia-smi totals: B200 183,359 MiB = 192,265,846,784 B; H20 97,871 MiB = 102,625,181,696 B;
  // RTX 5090 32,607 MiB = 34,190,917,632 B. Marketing: GB200 186 GB = 186e9 B; MI355X 288 GiB.
  EXPECT_EQ(find_device("b200")->memory.value, 192265846784u);
  EXPECT_EQ(find_device("h20")->memory.value, 102625181696u);
  EXPECT_EQ(find_device("rtx-5090")->memory.value, 34190917632u);
  EXPECT_EQ(find_device("gb200")->memory.value, 186000000000u);
  EXPECT_EQ(find_device("mi355x")->memory.value, 288u * kGiB);
  for (const char* name : {"b300", "l40s", "a10", "mi325x", "gaudi3"}) {
    ASSERT_NE(find_device(name), nullptr) << name;
    EXPECT_NE(std::string(find_device(name)->source).find(" "), std::string::npos);
  }
}

}  // namespace
}  // namespace trainmem::sim
