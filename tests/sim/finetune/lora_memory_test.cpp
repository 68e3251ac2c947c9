// LoRA/QLoRA through estimate(): adapter counts against PEFT's printed numbers, nf4 scale overhead against the
// QLoRA paper, TP and ZeRO-3 splits, and QLoRA of a 7B model on one 24 GB GPU, every figure derived by hand.
#include "sim/finetune/lora_memory.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "sim/accounting/estimate.hpp"

namespace trainmem::sim {
namespace {

const ModelSpec& preset(const char* name) { return find_model_preset(name)->spec; }

LoraConfig lora(std::int64_t r, const char* targets) {
  LoraConfig c;
  c.rank = r;
  c.targets = parse_lora_targets(targets);
  c.all_linear = std::string(targets) == "all-linear";
  return c;
}

TEST(LoraMemory, Llama2_7bRank8OnQvIsPeftsCount) {
  // PEFT's print_trainable_parameters() for Llama-2-7B, r = 8, target_modules q_proj, v_proj:
  // "trainable params: 4,194,304". By hand: q and v are 4096 x 4096, each adapter 8 * (4096 + 4096) = 65,536;
  // 2 per layer x 32 layers = 4,194,304.
  EXPECT_EQ(lora_parameters(preset("llama2-7b"), lora(8, "q_proj,v_proj")).value, 4'194'304u);
  EXPECT_EQ(lora_parameters(preset("llama2-7b"), lora(8, "q,v")).value, 4'194'304u);
}

TEST(LoraMemory, Llama2_7bRank64AllLinear) {
  // QLoRA setting (r 64 on every linear layer). Per layer: q,k,v,o 4 * 64 * (4096 + 4096) = 2,097,152;
  // gate, up 2 * 64 * (4096 + 11008) = 1,933,312; down 64 * (11008 + 4096) = 966,656; sum 4,997,120;
  // x 32 = 159,907,840 (PEFT prints "trainable params: 159,907,840" for this configuration).
  EXPECT_EQ(lora_parameters(preset("llama2-7b"), lora(64, "all-linear")).value, 159'907'840u);
}

TEST(LoraMemory, GptStyleAllLinearHasNoGate) {
  // GPT-2 (h 768, ffn 3072), r 8: q, k, v 3 * 8 * 1536 = 36,864; o 8 * 1536 = 12,288; fc1 and fc2
  // 2 * 8 * (768 + 3072) = 61,440; sum 110,592 per layer x 12 = 1,327,104. An explicit gate_proj is an error.
  EXPECT_EQ(lora_parameters(preset("gpt2"), lora(8, "all-linear")).value, 1'327'104u);
  EXPECT_THROW(lora_parameters(preset("gpt2"), lora(8, "gate_proj")), ConfigError);
  EXPECT_THROW(parse_lora_targets("q_proj,c_attn"), ConfigError);
  EXPECT_THROW(parse_lora_targets(""), ConfigError);
}

TEST(LoraMemory, Nf4ScalesCostHalfABitOr0127WithDoubleQuantization) {
  // QLoRA Sec. 3: an fp32 absmax per 64 weights costs 32/64 = 0.5 bits per parameter; double quantisation stores
  // it in 8 bits with an fp32 constant per 256 blocks: 8/64 + 32/(64*256) = 0.127 bits. For 64*256*1000 weights
  // (256,000 blocks): 1,024,000 B vs 256,000 + 1000 * 4 = 260,000 B; the 4-bit data is 8,192,000 B.
  WeightFormat f{Dtype::nf4, 0, false};
  const ElementCount n(64ULL * 256 * 1000);
  EXPECT_EQ(quantized_tensor(n, f).scales.value, 1'024'000u);
  EXPECT_EQ(quantized_tensor(n, f).data.value, 8'192'000u);
  f.double_quantization = true;
  EXPECT_EQ(quantized_tensor(n, f).scales.value, 260'000u);
  EXPECT_NEAR(8.0 * 260'000 / static_cast<double>(n.value), 0.127, 0.0005);
}

TEST(LoraMemory, TensorParallelSplitsAdaptersLikePeft) {
  // tp 2, r 8. Column-parallel q_proj: A 8 x 4096 whole (32,768), B split 4096/2 x 8 (16,384). Row-parallel
  // o_proj: A split 8 x 4096/2 (16,384), B whole 4096 x 8 (32,768). Both 49,152 per rank.
  const LoraLayer l = lora_layer(preset("llama2-7b"), lora(8, "q_proj,o_proj"), 2);
  ASSERT_EQ(l.modules.size(), 2u);
  EXPECT_EQ(l.modules[0].a_elements.value, 32'768u);
  EXPECT_EQ(l.modules[0].b_elements.value, 16'384u);
  EXPECT_EQ(l.modules[1].a_elements.value, 16'384u);
  EXPECT_EQ(l.modules[1].b_elements.value, 32'768u);
  EXPECT_EQ(l.params.value, 98'304u);
}

Scenario qlora_7b() {
  Scenario sc;
  sc.model = preset("llama2-7b");
  sc.lora = lora(64, "all-linear");
  sc.lora.base.dtype = Dtype::nf4;
  sc.lora.base.double_quantization = true;
  sc.training.seq_length = 2048;
  sc.training.micro_batch_size = 1;
  sc.training.recompute_granularity = RecomputeGranularity::full;  // gradient checkpointing, every layer
  sc.training.recompute_num_layers = 1;
  return sc;
}

TEST(LoraMemory, Qlora7bFitsOn24GbGpuWithDerivation) {
  // QLoRA of Llama-2-7B (nf4 + double quantisation, r 64 all-linear, mixed-16 Adam on the adapters, gradient
  // checkpointing every layer, 1 x 2048 tokens) on an RTX 4090 (24,564 MiB = 25,757,220,864 B):
  //   frozen nf4 linear weights 6,476,005,376 / 2                                  = 3,238,002,688
  //   their scales per matrix (QKV 786,432 blocks, o 262,144, gate+up 1,409,024, down 704,512 = 3,162,112
  //     int8 + fp32 per 256 blocks of each matrix (3072 + 1024 + 5504 + 2752 = 12,352) * 4 = 49,408)
  //     = 3,211,520 per layer x 32                                                  =   102,768,640
  //   embeddings, LM head and norms in bf16 262,410,240 * 2                        =   524,820,480
  //   adapters 159,907,840 x (bf16 param 2 + bf16 grad 2 + fp32 master 4 + Adam 8): 319,815,680 params,
  //     319,815,680 grads, 639,631,360 master, 1,279,262,720 optimizer
  //   model states: 4,185,407,488 params + 319,815,680 + 639,631,360 + 1,279,262,720 = 6,424,117,248
  //   activations: 32 layer-input checkpoints of s*b*h*2 = 16,777,216 -> 536,870,912; last-stage extras: final
  //     norm input and LM head input 2 x 16,777,216, fp32 logits 2048 * 32000 * 4 = 262,144,000, loss mask
  //     2048 B and targets 2048 * 8 = 16,384; first stage token ids 16,384 -> 832,604,160 (adapter tensors
  //     are recomputed with their layer: 0)
  //   the peak point (sim/accounting/stage_peak.hpp) is the loss: A + the bf16 logits 2 * 2048 * 32000 =
  //     131,072,000 = 963,676,160 B. The backward point is lower: A - the loss extras X (final norm input and
  //     LM head input 33,554,432 + fp32 logits 262,144,000 + mask and targets 18,432 = 295,716,864) + one layer
  //     rebuilt (8 s*b*h tensors 134,217,728 + logsumexp 262,144 + gate/up output 90,177,536 + down input
  //     45,088,768 = 269,746,176) + its activation gradients 2 * (2048*4096 + 2048*2*11008) = 106,954,752
  //     -> 913,588,224 B. (Until the full-recompute transient stopped being added on top of the loss extras,
  //     this test expected 832,604,160 + 269,746,176.)
  //   peak 6,424,117,248 + 832,604,160 + 131,072,000 = 7,387,793,408 B (6.88 GiB): fits with 17.11 GiB spare.
  Scenario sc = qlora_7b();
  sc.gpu_memory = Bytes(24'564ULL * kMiB);
  const EstimateResult r = estimate(sc);
  ASSERT_EQ(r.classes.size(), 1u);
  const RankClass& c = r.classes[0];
  EXPECT_EQ(c.lora->base.quantized.data.value, 3'238'002'688u);
  EXPECT_EQ(c.lora->base.quantized.scales.value, 102'768'640u);
  EXPECT_EQ(c.lora->base.other.value, 524'820'480u);
  EXPECT_EQ(c.bytes[MemoryCategory::params].value, 4'185'407'488u);
  EXPECT_EQ(c.bytes[MemoryCategory::grads].value, 319'815'680u);
  EXPECT_EQ(c.bytes[MemoryCategory::master_params].value, 639'631'360u);
  EXPECT_EQ(c.bytes[MemoryCategory::optimizer_states].value, 1'279'262'720u);
  EXPECT_EQ(c.bytes[MemoryCategory::activations].value, 832'604'160u);
  EXPECT_EQ(c.peak_point, "loss");
  EXPECT_EQ(c.bytes[MemoryCategory::temporaries].value, 131'072'000u);
  // The derivation above is the allocated bytes; the device total adds the runtime model (CUDA context,
  // cuBLAS workspace, allocator rounding and fragmentation reserve; docs/runtime-memory.md), which still fits.
  EXPECT_EQ((r.max_peak - c.bytes[MemoryCategory::runtime]).value, 7'387'793'408u);
  EXPECT_GT(c.bytes[MemoryCategory::runtime].value, 512ULL * kMiB);
  EXPECT_TRUE(*r.fits);
  // Full fine-tuning of the same model and batch needs 16 bytes per parameter for model states alone
  // (107,814,649,856 B) and cannot fit.
  Scenario full = sc;
  full.lora = LoraConfig{};
  EXPECT_FALSE(*estimate(full).fits);
}

TEST(LoraMemory, AdapterActivationsOfLayersKeptWhole) {
  // Without recompute every layer keeps its adapters' A outputs: 7 modules x r 64 = 448 values per token,
  // 2048 tokens x 448 x 2 B = 1,835,008 B per layer, x 32 layers = 58,720,256 B on top of the base's
  // activations.
  Scenario sc = qlora_7b();
  sc.training.recompute_granularity = RecomputeGranularity::none;
  sc.training.recompute_num_layers = 0;
  const EstimateResult r = estimate(sc);
  EXPECT_EQ(r.classes[0].lora->adapter_activations_per_layer.value, 1'835'008u);
  EXPECT_EQ(r.classes[0].lora_activations.value, 58'720'256u);
  EXPECT_EQ(r.classes[0].bytes[MemoryCategory::activations].value, r.classes[0].activations->total.value + 58'720'256u);
}

TEST(LoraMemory, Zero3ShardsTheFrozenBaseAndTheAdapters) {
  // dp 8, ZeRO-3: nf4 data ceil(3,238,002,688 / 8) = 404,750,336 B; adapter bf16 params
  // ceil(159,907,840 / 8) = 19,988,480 elements -> 39,976,960 B; Adam moments 2 * 4 * 19,988,480 = 159,907,840 B.
  // ZeRO-1 leaves the base and the adapter params whole and shards only the optimizer states.
  Scenario sc = qlora_7b();
  sc.parallel.dp = 8;
  sc.parallel.zero_stage = 3;
  sc.training.micro_batch_size = 1;
  const EstimateResult r = estimate(sc);
  const RankClass& c = r.classes[0];
  EXPECT_EQ(c.lora->base.quantized.data.value, 404'750'336u);
  EXPECT_EQ(c.bytes[MemoryCategory::optimizer_states].value, 159'907'840u);
  std::uint64_t adapter_params = 0;
  for (const auto& t : c.model_states.terms)
    if (t.name == "adapter bf16 parameters") adapter_params = t.bytes.value;
  EXPECT_EQ(adapter_params, 39'976'960u);
  sc.parallel.zero_stage = 1;
  const EstimateResult r1 = estimate(sc);  // keep the result alive: c1 refers into it
  const RankClass& c1 = r1.classes[0];
  EXPECT_EQ(c1.lora->base.quantized.data.value, 3'238'002'688u);
  EXPECT_EQ(c1.bytes[MemoryCategory::optimizer_states].value, 159'907'840u);
}

}  // namespace
}  // namespace trainmem::sim
