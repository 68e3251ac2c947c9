// The hf framework profile (sim/accounting/framework_profile.hpp): each term against a hand derivation, the
// step's peak against ground-truth lab measurements (tools/groundtruth, results/<config>.json, measured on CPU
// with the CUDA caching allocator's 512-byte rounding emulated), and the megatron default left untouched.
#include "sim/accounting/framework_profile.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "partition/error.hpp"
#include "sim/accounting/estimate.hpp"
#include "tests/sim/lab_models.hpp"

namespace trainmem::sim {
namespace {

Scenario hf(const std::string& recipe, const std::string& optimizer, OptimizerImpl impl, std::int64_t seq,
            std::int64_t mbs) {
  Scenario sc;
  sc.model = lab_llama();
  sc.parallel.make_vocab_size_divisible_by = 1;  // transformers pads nothing
  sc.training.seq_length = seq;
  sc.training.micro_batch_size = mbs;
  sc.training.recipe = recipe;
  sc.training.optimizer = optimizer;
  sc.training.framework = Framework::hf;
  sc.training.optimizer_impl = impl;
  sc.training.hidden_dropout = 0.0;
  sc.training.attention_dropout = 0.0;
  sc.runtime.enabled = false;
  return sc;
}

const FrameworkTerm* find(const std::vector<FrameworkTerm>& terms, const std::string& prefix) {
  for (const auto& t : terms)
    if (t.name.rfind(prefix, 0) == 0) return &t;
  return nullptr;
}

double error_pct(Bytes predicted, std::uint64_t measured) {
  return 100.0 * (static_cast<double>(predicted.value) - static_cast<double>(measured)) / static_cast<double>(measured);
}

TEST(FrameworkProfile, MegatronDefaultHasNoStepPoints) {
  Scenario sc = hf("bf16", "adamw", OptimizerImpl::foreach, 128, 1);
  sc.training.framework = Framework::megatron;
  sc.training.optimizer_impl.reset();
  const auto r = estimate(sc);
  EXPECT_FALSE(r.classes[0].framework_step.has_value());
}

TEST(FrameworkProfile, DefaultOptimizerImplementations) {
  EXPECT_EQ(default_optimizer_impl(Framework::hf), OptimizerImpl::foreach);  // torch: foreach on CUDA
  EXPECT_EQ(default_optimizer_impl(Framework::megatron), OptimizerImpl::fused);
}

TEST(FrameworkProfile, LossTermsAreFp32VocabularyTensors) {
  // s = 128, b = 1, V = 32000: log_softmax keeps 4*s*b*V = 16,384,000 B; at the start of backward nll_loss
  // backward and log_softmax backward each write one more fp32 [s*b, V]: 2 * 16,384,000 = 32,768,000 B.
  const auto r = estimate(hf("bf16", "adamw", OptimizerImpl::foreach, 128, 1));
  const auto& step = *r.classes[0].framework_step;
  EXPECT_EQ(step.peak().name, "start of backward (log_softmax backward)");
  const auto* logp = find(step.peak().terms, "loss: fp32 log-probabilities");
  ASSERT_NE(logp, nullptr);
  EXPECT_EQ(logp->bytes.value, 16'384'000U);
  const auto* back = find(step.peak().terms, "loss backward");
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->bytes.value, 32'768'000U);
  // No gradients at that point (set_to_none, one micro-step); the categories sum to the peak.
  EXPECT_EQ(r.classes[0].bytes[MemoryCategory::grads].value, 0U);
  EXPECT_EQ(r.classes[0].bytes.total(), r.classes[0].peak);
}

TEST(FrameworkProfile, LlamaBf16LayerByHand) {
  // One layer, s*b = T = 128, h 64, a 4, kv 2, d 16, f 176, bf16 (e = 2):
  //   2 RMSNorms x (fp32 upcast 4Th + rstd 4T + bf16 normalized 2Th + output 2Th) = 2 x 66,048 = 132,096
  //   SDPA: q, k after RoPE 2T(a+kv)d = 24,576; v 2T*kv*d = 8,192; O 2Tad = 16,384; logsumexp 4Ta = 2,048
  //   SwiGLU: gate, up 2 x 2Tf = 90,112; silu 2Tf = 45,056; product (down_proj input) 2Tf = 45,056
  //   = 363,520. The lab (llama-bf16-adamw-for-loop-s128-b1) measured 801,280 B of saved tensors besides the
  //   log-probs: 2 x 363,520 + the final norm 66,048 + RoPE cos, sin 2 x 2*s*d = 8,192 = 801,280.
  const auto r = estimate(hf("bf16", "adamw", OptimizerImpl::for_loop, 128, 1));
  const auto& step = *r.classes[0].framework_step;
  EXPECT_EQ(step.layer_bytes.value, 363'520U);
  const std::uint64_t saved_besides_loss =
      r.classes[0].bytes[MemoryCategory::activations].value - 16'384'000U - 8U * 128U;  // minus log-probs, ids
  EXPECT_EQ(saved_besides_loss, 801'280U);
}

TEST(FrameworkProfile, OptimizerStepTemporariesPerImplementation) {
  // bf16 AdamW: for-loop keeps sqrt(v) and its quotient for the largest tensor (the 32000 x 64 embedding):
  // 2 x 2 x 2,048,000 = 8,192,000 B (lab: aten::sqrt 4,096,000 + aten::div 4,096,512); foreach one sqrt per
  // tensor: 2 x 4,188,480 params = 8,376,960 B (lab: 8,378,880 with 512-byte blocks); fused none.
  auto temps = [](OptimizerImpl impl) {
    const auto r = estimate(hf("bf16", "adamw", impl, 128, 1));
    const auto& pts = r.classes[0].framework_step->points;
    return pts.back().bytes[MemoryCategory::temporaries].value;
  };
  EXPECT_EQ(temps(OptimizerImpl::for_loop), 8'192'000U);
  EXPECT_EQ(temps(OptimizerImpl::foreach), 8'376'960U);
  EXPECT_EQ(temps(OptimizerImpl::fused), 0U);
}

TEST(FrameworkProfile, GradientsPersistFromTheSecondMicroStep) {
  // Gradient accumulation 2: at the start of the second micro-step's backward the first's gradients are live.
  Scenario sc = hf("bf16", "adamw", OptimizerImpl::foreach, 256, 2);
  sc.training.global_batch_size = 4;
  const auto r = estimate(sc);
  EXPECT_EQ(r.classes[0].bytes[MemoryCategory::grads], r.classes[0].model_states.breakdown[MemoryCategory::grads]);
}

TEST(FrameworkProfile, MatchesLabMeasurements) {
  struct Case {
    const char* config;  // tools/groundtruth/results/<config>.json, measured.max_peak_bytes
    std::string recipe, optimizer;
    OptimizerImpl impl;
    std::int64_t seq, mbs, gbs;
    bool ckpt;
    std::uint64_t measured;
  };
  const Case cases[] = {
      {"llama-bf16-adamw-for-loop-s128-b1", "bf16", "adamw", OptimizerImpl::for_loop, 128, 1, 1, false, 75'092'992},
      {"llama-fp32-adamw-foreach-s128-b1", "fp32", "adamw", OptimizerImpl::foreach, 128, 1, 1, false, 100'852'736},
      {"llama-amp-adamw-for-loop-s128-b2", "amp", "adamw", OptimizerImpl::for_loop, 128, 2, 2, false, 154'817'024},
      {"llama-bf16-sgd-for-loop-s128-b1", "bf16", "sgd", OptimizerImpl::for_loop, 128, 1, 1, false, 58'335'232},
      {"llama-bf16-adamw-foreach-s256-b2-ckpt", "bf16", "adamw", OptimizerImpl::foreach, 256, 2, 2, true, 222'174'720},
      {"llama-bf16-adamw-foreach-s256-b2-ga2", "bf16", "adamw", OptimizerImpl::foreach, 256, 2, 4, false, 233'322'496},
  };
  for (const auto& c : cases) {
    Scenario sc = hf(c.recipe, c.optimizer, c.impl, c.seq, c.mbs);
    sc.training.global_batch_size = c.gbs;
    if (c.ckpt) sc.training.recompute_granularity = RecomputeGranularity::full;
    const auto r = estimate(sc);
    EXPECT_LT(std::abs(error_pct(r.max_peak, c.measured)), 0.1) << c.config << ": " << r.max_peak.value;
  }
}

TEST(FrameworkProfile, RefusesWhatItDoesNotModel) {
  Scenario sc = hf("bf16", "adamw", OptimizerImpl::foreach, 128, 1);
  sc.parallel.tp = 2;
  EXPECT_THROW(estimate(sc), ConfigError);
  Scenario z = hf("bf16", "adamw", OptimizerImpl::foreach, 128, 1);
  z.parallel.zero_stage = 1;
  z.parallel.dp = 2;
  z.parallel.world_size = 2;
  z.lora.rank = 8;
  z.lora.targets = {LoraTarget::q_proj, LoraTarget::v_proj};
  EXPECT_THROW(estimate(z), ConfigError);  // LoRA under ZeRO/FSDP is not modelled
}

TEST(FrameworkProfile, RefusesLayoutsBeyondLlamaAndGpt2) {
  // The profile lists the Llama / GPT-2 tensors one by one: a q/k norm, sandwich norms, a parallel residual,
  // GeGLU, soft-capping or a sliding window would be missing from it, so each is refused, naming the model.
  for (void (*edit)(ModelSpec&) :
       {+[](ModelSpec& m) { m.qk_norm = true; }, +[](ModelSpec& m) { m.sandwich_norm = true; },
        +[](ModelSpec& m) { m.parallel_residual = true; }, +[](ModelSpec& m) { m.activation = Activation::geglu; },
        +[](ModelSpec& m) { m.final_logit_softcapping = 30.0; }, +[](ModelSpec& m) { m.sliding_window = 4096; }}) {
    Scenario sc = hf("bf16", "adamw", OptimizerImpl::foreach, 128, 1);
    edit(*sc.model);
    try {
      estimate(sc);
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("model = " + sc.model->name + ": with framework hf: has "),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_NO_THROW(estimate(hf("bf16", "adamw", OptimizerImpl::foreach, 128, 1)));
}

TEST(FrameworkProfile, ParameterTensorsOfTheLabLlama) {
  // embed_tokens [32000, 64], per layer q [64,64], k [32,64], v [32,64], o [64,64], gate/up [176,64],
  // down [64,176], 2 norms [64]; final norm [64]; lm_head [32000, 64]: 2*2,048,000 + 2*46,208 + 64 = 4,188,480.
  const auto t = hf_parameter_tensors(lab_llama(), 32000);
  ASSERT_EQ(t.size(), 2U + 2 * 9 + 1);
  std::uint64_t total = 0;
  for (const auto& x : t) total += x.elements;
  EXPECT_EQ(total, 4'188'480U);
  EXPECT_EQ(t.front().rows, 32000U);
  EXPECT_EQ(t.back().name, "lm_head.weight");
  EXPECT_EQ(t.back().layer, -1);
}

TEST(FrameworkProfile, ZeroRedundancyPartitionIsGreedyWholeTensors) {
  // Sorted: 2 x 2,048,000 (embedding, LM head), 6 x 11,264 (gate, up, down), 4 x 4,096 (q, o), 4 x 2,048 (k, v),
  // 5 x 64 (norms). dp 2: embedding -> 0, LM head -> 1, then the ties alternate from rank 0:
  // rank 0 = 2,048,000 + 3*11,264 + 2*4,096 + 2*2,048 + 3*64 = 2,094,272; rank 1 = 2,094,208.
  // (Lab zero1-dp2: rank states 8,379,392 / 8,378,368 B = 4 B/element (two bf16 moments) * these + each norm's
  // 128-byte moment rounded up to 512 B.)
  const auto t = hf_parameter_tensors(lab_llama(), 32000);
  const auto two = zero_redundancy_partition(t, 2);
  EXPECT_EQ(two, (std::vector<std::uint64_t>{2'094'272, 2'094'208}));
  // dp 4: the two big tensors on ranks 0 and 1 alone; ranks 2, 3 share the layers: 46,272 and 46,208.
  const auto four = zero_redundancy_partition(t, 4);
  EXPECT_EQ(four, (std::vector<std::uint64_t>{2'048'000, 2'048'000, 46'272, 46'208}));
}

TEST(FrameworkProfile, FsdpShardsDimZeroPadded) {
  // ceil(rows / dp) * cols: [32000, 64] at dp 3 -> 10,667 rows * 64 = 682,688; [64] at dp 3 -> 22.
  EXPECT_EQ(fsdp_shard_elements(HfParamTensor{"e", 32000, 2'048'000, -1}, 3), 682'688U);
  EXPECT_EQ(fsdp_shard_elements(HfParamTensor{"n", 64, 64, 0}, 3), 22U);
  EXPECT_EQ(fsdp_shard_elements(HfParamTensor{"n", 64, 64, 0}, 2), 32U);
}

Scenario sharded(int zero, std::int64_t dp) {
  Scenario sc = hf("bf16", "adamw", OptimizerImpl::foreach, 128, 1);
  sc.parallel.zero_stage = zero;
  sc.parallel.dp = dp;
  sc.parallel.world_size = dp;
  sc.training.global_batch_size = dp;
  return sc;
}

TEST(FrameworkProfile, ZeroOneIsDdpWithTheRanksPartitionOfTheStates) {
  // DDP + ZeroRedundancyOptimizer, dp 2: the DDP step with the states of the larger partition,
  // 4 B * 2,094,272 = 8,377,088 B instead of 16,753,920. Lab llama-bf16-adamw-foreach-s128-b1-zero1-dp2
  // (DDP + ZeRO-1, steady third step): 75,091,968 B = the DDP run's 83,471,360 - 8,379,392.
  const auto ddp = estimate(sharded(0, 2));
  const auto z1 = estimate(sharded(1, 2));
  const auto& pt = z1.classes[0].framework_step->peak();
  EXPECT_EQ(pt.bytes[MemoryCategory::optimizer_states], Bytes(8'377'088));
  EXPECT_EQ(ddp.max_peak - z1.max_peak, Bytes(16'753'920 - 8'377'088));
  EXPECT_LT(std::abs(error_pct(z1.max_peak, 75'091'968)), 0.1) << z1.max_peak.value;
  // dp 4: the largest partition is one 2,048,000-element tensor: 8,192,000 B (measured 8,192,000 on ranks 0, 1);
  // lab zero1-dp4 max peak 74,904,576.
  const auto z4 = estimate(sharded(1, 4));
  EXPECT_EQ(z4.classes[0].framework_step->peak().bytes[MemoryCategory::optimizer_states], Bytes(8'192'000));
  EXPECT_LT(std::abs(error_pct(z4.max_peak, 74'904'576)), 0.1) << z4.max_peak.value;
}

TEST(FrameworkProfile, FsdpTurnToBackward) {
  // Shards at dp 2 (every dim 0 of the lab Llama is even): 4,188,480 / 2 = 2,094,240 elements per rank.
  // Full shard (zero 3): the root (2*2,048,000 + 64 elements) re-gathered for backward, 2 B * 4,096,064 =
  // 8,192,128, and the last layer's group, 2 B * 46,208 = 92,416. Shard-grad-op (zero 2): every group stays
  // unsharded after forward, 2 B * 4,188,480 = 8,376,960. No DDP buckets.
  const auto full = estimate(sharded(3, 2));
  const auto& f = full.classes[0].framework_step->peak();
  EXPECT_EQ(f.bytes[MemoryCategory::params], Bytes(2 * 2'094'240));
  EXPECT_EQ(f.bytes[MemoryCategory::optimizer_states], Bytes(4 * 2'094'240));
  EXPECT_EQ(f.bytes[MemoryCategory::buffers], Bytes(0));
  ASSERT_NE(find(f.terms, "FSDP root module"), nullptr);
  EXPECT_EQ(find(f.terms, "FSDP root module")->bytes, Bytes(8'192'128));
  EXPECT_EQ(find(f.terms, "FSDP last layer")->bytes, Bytes(92'416));
  // Lab fsdp-full-dp2, rank 0 (no gloo leftovers, tools/groundtruth/README.md): 70,815,232 B at backward:2.0.
  EXPECT_LT(std::abs(error_pct(full.max_peak, 70'815'232)), 0.1) << full.max_peak.value;
  const auto op = estimate(sharded(2, 2));
  const auto& g = op.classes[0].framework_step->peak();
  EXPECT_EQ(find(g.terms, "FSDP parameters, unsharded")->bytes, Bytes(8'376'960));
  // Lab fsdp-grad-op-dp2: 79,101,440 on rank 0, of which 8,192,512 is the previous step's root reduce-scatter
  // input still held by a gloo work object (released by FSDP at the end of backward): 70,908,928.
  EXPECT_LT(std::abs(error_pct(op.max_peak, 79'101'440 - 8'192'512)), 0.1) << op.max_peak.value;
}

// FSDP's mixed-precision policy over fp32 parameters (recipe fsdp-mp: MixedPrecisionPolicy(param_dtype=bf16) on a
// model loaded in fp32), full shard over dp 2 of the lab Llama (every dim 0 even: 4,188,480 / 2 = 2,094,240
// elements per rank). PyTorch's rule (torch/distributed/fsdp/_fully_shard/_fsdp_api.py MixedPrecisionPolicy:
// param_dtype is "the dtype for the unsharded parameter ... and the parameter all-gather"; "the optimizer step uses
// the sharded parameter in the original dtype"; no extra high-precision copy):
//   sharded parameters  fp32   4 * 2,094,240 =  8,376,960
//   sharded gradients   fp32   4 * 2,094,240 =  8,376,960 (reduce-scattered, then cast to the sharded param dtype)
//   AdamW m, v          fp32   8 * 2,094,240 = 16,753,920 (torch.optim zeros_like(param) of the fp32 shard)
//   gathered root       bf16   2 * (2 * 32000 * 64 + 64) = 2 * 4,096,064 = 8,192,128
//   gathered last layer bf16   2 * 46,208 = 92,416 (q 4096 + k 2048 + v 2048 + o 4096 + mlp 3*64*176 + 2 norms 128)
// so 16 bytes per parameter per rank / dp at rest, and the compute (activations) is the bf16 recipe's.
TEST(FrameworkProfile, FsdpMixedPrecisionKeepsFp32Shards) {
  Scenario mp = sharded(3, 2);
  mp.training.recipe = "fsdp-mp";
  const auto r = estimate(mp);
  const auto& pts = r.classes[0].framework_step->points;
  const auto& back = pts[1];  // start of backward: what FSDP holds gathered at the turn to backward
  EXPECT_EQ(back.bytes[MemoryCategory::params], Bytes(8'376'960));
  EXPECT_EQ(back.bytes[MemoryCategory::optimizer_states], Bytes(16'753'920));
  EXPECT_EQ(pts[2].bytes[MemoryCategory::grads], Bytes(8'376'960));  // optimizer step: every sharded gradient
  EXPECT_EQ(find(back.terms, "FSDP root module")->bytes, Bytes(8'192'128));
  EXPECT_EQ(find(back.terms, "FSDP last layer")->bytes, Bytes(92'416));
  // Model states per rank: (4 + 4 + 8) * 2,094,240 = 33,507,840 = 16 B * 4,188,480 / 2.
  EXPECT_EQ(r.classes[0].model_states.breakdown.total(), Bytes(16 * 4'188'480 / 2));
  // The compute is bf16 as under the bf16 recipe: the same saved activations at the turn to backward.
  const auto b = estimate(sharded(3, 2));
  EXPECT_EQ(back.bytes[MemoryCategory::activations],
            b.classes[0].framework_step->points[1].bytes[MemoryCategory::activations]);
  // Autocast without a policy (recipe amp) gathers the fp32 parameters: 4 * 4,096,064 = 16,384,256 for the root.
  Scenario amp = sharded(3, 2);
  amp.training.recipe = "amp";
  const auto a = estimate(amp);
  const auto& ab = a.classes[0].framework_step->points[1];
  EXPECT_EQ(ab.bytes[MemoryCategory::params], Bytes(8'376'960));
  EXPECT_EQ(find(ab.terms, "FSDP root module")->bytes, Bytes(16'384'256));
}

TEST(FrameworkProfile, FsdpMixedPrecisionNeedsFsdp) {
  Scenario ddp = sharded(0, 2);  // DDP: no FSDP policy to apply
  ddp.training.recipe = "fsdp-mp";
  EXPECT_THROW(estimate(ddp), ConfigError);
  Scenario one = sharded(3, 1);  // one rank: the hf profile models no FSDP there
  one.training.recipe = "fsdp-mp";
  EXPECT_THROW(estimate(one), ConfigError);
  Scenario mg = sharded(3, 2);
  mg.training.recipe = "fsdp-mp";
  mg.training.framework = Framework::megatron;
  try {
    estimate(mg);
    ADD_FAILURE() << "framework megatron with fsdp-mp was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("recipe"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trainmem::sim
