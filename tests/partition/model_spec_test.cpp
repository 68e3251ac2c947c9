// Parameter counts against published exact totals (Hugging Face model cards / safetensors metadata).
#include "partition/model_spec.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"

namespace trainmem {
namespace {

std::uint64_t count(const char* preset) {
  const ModelPreset* p = find_model_preset(preset);
  EXPECT_NE(p, nullptr) << preset;
  ModelSpec m = p->spec;
  if (m.position_embedding == PositionEmbedding::learned && m.max_position_embeddings == 0)
    m.max_position_embeddings = p->default_seq_length;
  return total_parameters(m).value;
}

TEST(ModelSpec, PublishedParameterCounts) {
  // Published exact counts (HF model cards / config-derived totals quoted in the issue).
  EXPECT_EQ(count("llama2-7b"), 6'738'415'616ULL);
  EXPECT_EQ(count("llama3-8b"), 8'030'261'248ULL);
  EXPECT_EQ(count("gpt2-large"), 774'030'080ULL);
  EXPECT_EQ(count("gpt2"), 124'439'808ULL);  // GPT-2 small, "124M"
  EXPECT_EQ(count("llama2-13b"), 13'015'864'320ULL);
  EXPECT_EQ(count("llama2-70b"), 68'976'648'192ULL);
  EXPECT_EQ(count("llama3-70b"), 70'553'706'496ULL);
  EXPECT_EQ(count("llama3-405b"), 405'853'388'800ULL);
  EXPECT_EQ(count("mixtral-8x7b"), 46'702'792'704ULL);
  EXPECT_EQ(count("qwen2-0.5b"), 494'032'768ULL);
  EXPECT_EQ(count("opt-1.3b"), 1'315'758'080ULL);
}

TEST(ModelSpec, NewFamilyPresetsMatchPublishedCounts) {
  // Each is derived by hand in tests/tools/inputs/hf_config_test.cpp (same shapes) or below, and equals the
  // safetensors metadata total of the model's Hugging Face repository (Pythia: the model card's table).
  EXPECT_EQ(count("qwen3-0.6b"), 596'049'920ULL);
  EXPECT_EQ(count("qwen3-8b"), 8'190'735'360ULL);
  // Qwen3-32B: layer q 5120*8192 + k,v 2*5120*1024 + o 8192*5120 = 94,371,840; qk-norm 256; MLP 3*5120*25600 =
  // 393,216,000; norms 10,240 -> 487,598,336; x64 = 31,206,293,504; 2*151936*5120 = 1,555,824,640; final 5,120.
  EXPECT_EQ(count("qwen3-32b"), 32'762'123'264ULL);
  EXPECT_EQ(count("qwen3-30b-a3b"), 30'532'122'624ULL);
  // Qwen3-235B-A22B: layer q 4096*8192 + k,v 2*4096*512 + o 8192*4096 = 71,303,168; qk-norm 256; router
  // 4096*128 = 524,288; experts 128*3*4096*1536 = 2,415,919,104; norms 8,192 -> 2,487,755,008; x94 =
  // 233,848,970,752; 2*151936*4096 = 1,244,659,712; final 4,096.
  EXPECT_EQ(count("qwen3-235b-a22b"), 235'093'634'560ULL);
  EXPECT_EQ(count("qwen1.5-moe-a2.7b"), 14'315'784'192ULL);
  // Qwen2-57B-A14B: layer q 3584*3584 + k,v 2*3584*512 + o 3584*3584 = 29,360,128; q/k/v biases 3584 + 2*512 =
  // 4,608; router 3584*64 = 229,376; experts 64*3*3584*2560 = 1,761,607,680; shared expert 3*3584*20480 =
  // 220,200,960; shared gate 3,584; norms 7,168 -> 2,011,413,504; x28 = 56,319,578,112; 2*151936*3584 =
  // 1,089,077,248; final 3,584. Published: 57,408,658,944.
  EXPECT_EQ(count("qwen2-57b-a14b"), 57'408'658'944ULL);
  EXPECT_EQ(count("gemma-7b"), 8'537'680'896ULL);
  EXPECT_EQ(count("gemma2-9b"), 9'241'705'984ULL);
  // Gemma-2-27B: layer q 4608*4096 + k,v 2*4608*2048 + o 4096*4608 = 56,623,104; MLP 3*4608*36864 = 509,607,936;
  // 4 norms 18,432 -> 566,249,472; x46 = 26,047,475,712; embeddings 256000*4608 = 1,179,648,000; final 4,608.
  EXPECT_EQ(count("gemma2-27b"), 27'227'128'320ULL);
  EXPECT_EQ(count("gemma3-1b"), 999'885'952ULL);
  EXPECT_EQ(count("gemma3-27b"), 27'009'346'304ULL);
  EXPECT_EQ(count("phi3-mini"), 3'821'079'552ULL);
  EXPECT_EQ(count("phi4"), 14'659'507'200ULL);
  EXPECT_EQ(count("pythia-6.9b"), 6'857'302'016ULL);
  EXPECT_EQ(count("pythia-12b"), 11'846'072'320ULL);
  // StarCoder2 (derived in tests/tools/inputs/hf_config_test.cpp; 7B: layer q, o 2*(4608^2 + 4608) = 42,476,544;
  // k, v 2*(4608*512 + 512) = 4,719,616; MLP 2*4608*18432 + 18432 + 4608 = 169,892,352; norms 18,432 ->
  // 217,106,944; x32 = 6,947,422,208; tied embedding 49152*4608 = 226,492,416; final 9,216 -> "7.17B").
  EXPECT_EQ(count("starcoder2-3b"), 3'030'371'328ULL);
  EXPECT_EQ(count("starcoder2-7b"), 7'173'923'840ULL);
  EXPECT_EQ(count("starcoder2-15b"), 15'957'889'024ULL);
  // OLMo 2 (derived in tests/tools/inputs/hf_config_test.cpp): the Hub's safetensors totals of
  // allenai/OLMo-2-1124-7B (F32 7,298,617,344) and OLMo-2-1124-13B (index total_size 54,864,793,600 B / 4).
  EXPECT_EQ(count("olmo2-7b"), 7'298'617'344ULL);
  EXPECT_EQ(count("olmo2-13b"), 13'716'198'400ULL);
  // Falcon (LayerNorm weight+bias, GeLU MLP 4h, no linear biases, RoPE, vocab 65024). 7B: h 4544, 71 heads of
  // 64, one KV head, 32 layers, tied. Layer: query_key_value 4544*(4544+2*64) = 21,229,568; dense 4544^2 =
  // 20,647,936; MLP 2*4544*18176 = 165,183,488; one input_layernorm 2*4544 = 9,088 -> 207,070,080; x32 =
  // 6,626,242,560; word_embeddings 65024*4544 = 295,469,056; ln_f 9,088 -> 6,921,720,704.
  EXPECT_EQ(count("falcon-7b"), 6'921'720'704ULL);
  // 40B: h 8192, 128 heads of 64, 8 KV heads, 60 layers, tied. Layer: qkv 8192*(128+16)*64 = 75,497,472; dense
  // 67,108,864; MLP 2*8192*32768 = 536,870,912; ln_attn + ln_mlp 4*8192 = 32,768 -> 679,510,016; x60 =
  // 40,770,600,960; embeddings 65024*8192 = 532,676,608; ln_f 16,384 -> 41,303,293,952.
  EXPECT_EQ(count("falcon-40b"), 41'303'293'952ULL);
  // 180B: h 14848, 232 heads of 64, 8 KV heads, 80 layers, untied. Layer: qkv 14848*(232+16)*64 = 235,667,456;
  // dense 14848^2 = 220,463,104; MLP 2*14848*59392 = 1,763,704,832; norms 4*14848 = 59,392 -> 2,219,894,784; x80
  // = 177,591,582,720; word_embeddings + lm_head 2*65024*14848 = 1,930,952,704; ln_f 29,696 -> 179,522,565,120
  // (the Hub's safetensors total for tiiuae/falcon-180B).
  EXPECT_EQ(count("falcon-180b"), 179'522'565'120ULL);
}

TEST(ModelSpec, DbrxLayerNormWithoutBias) {
  // databricks/dbrx-base, by hand from transformers' modeling_dbrx.py (d 6144, 48 heads of 128, 8 KV heads, 16
  // experts of ffn 10752, vocab 100352, untied):
  //   Wqkv 6144*(6144 + 2*8*128) = 50,331,648; out_proj 6144^2 = 37,748,736; norm_1 + norm_2 (no bias) 12,288;
  //   router 6144*16 = 98,304; experts w1 + v1 + w2 3*16*10752*6144 = 3,170,893,824 -> 3,259,084,800 per block,
  //   x40 = 130,363,392,000; wte + lm_head 2*100352*6144 = 1,233,125,376; norm_f 6,144
  //   -> 131,596,523,520, the published total of dbrx-base / dbrx-instruct (132B).
  const ModelSpec m = find_model_preset("dbrx-132b")->spec;
  EXPECT_EQ(count("dbrx-132b"), 131'596'523'520ULL);
  // A bias-less LayerNorm holds h per norm: the same model with norm biases holds 2h more per block (2 norms) and h
  // more for norm_f.
  ModelSpec with_bias = m;
  with_bias.norm_bias = true;
  EXPECT_EQ(total_parameters(with_bias).value - total_parameters(m).value, 40ULL * 2 * 6144 + 6144);
  // RMSNorm ignores norm_bias (it has none either way).
  ModelSpec rms = m;
  rms.normalization = Normalization::rms_norm;
  EXPECT_EQ(total_parameters(rms).value, total_parameters(m).value);
}

TEST(ModelSpec, FalconSharedNormIsOneNormPerLayer) {
  const ModelSpec m = find_model_preset("falcon-7b")->spec;
  EXPECT_EQ(m.norms_per_layer(), 1);
  EXPECT_EQ(find_model_preset("falcon-40b")->spec.norms_per_layer(), 2);
  ModelSpec bad = m;
  bad.parallel_residual = false;  // a shared norm needs the parallel branches
  EXPECT_THROW(validate(bad), ConfigError);
}

TEST(ModelSpec, Olmo2FullWidthQkNormSplitsWithHeads) {
  // OLMo-2-7B layer at tp 4: q/k/v/o and the MLP split; q_norm (32*128) and k_norm (32*128) sliced with the heads;
  // the 2 post-norms (h each) replicated.
  const ModelSpec m = find_model_preset("olmo2-7b")->spec;
  const std::uint64_t h = 4096, f = 11008;
  EXPECT_EQ(layer_params(m, TensorSplit{4, 4, 1}).dense.value, (4 * h * h + 3 * h * f + 2 * h) / 4 + 2 * h);
  EXPECT_EQ(architecture_extension(m), "qk_norm");
  ModelSpec bad = m;
  bad.qk_norm = false;  // full width without q/k norms
  EXPECT_THROW(validate(bad), ConfigError);
  bad = m;
  bad.sandwich_norm = true;  // post-norm has no input norms to sandwich
  EXPECT_THROW(validate(bad), ConfigError);
  bad = m;
  bad.qk_norm = false;
  bad.qk_norm_full_width = false;
  EXPECT_EQ(architecture_extension(bad), "post_norm");
}

TEST(ModelSpec, QkNormAndSandwichNormsPerRank) {
  // Qwen3-8B layer at tp 4: q/k norm weights (2*head_dim) and the 2 RMSNorms are replicated, the rest split.
  const ModelSpec q = find_model_preset("qwen3-8b")->spec;
  const std::uint64_t h = 4096, f = 12288, d = 128;
  const std::uint64_t attention = h * 32 * d + 2 * h * 8 * d + 32 * d * h;
  EXPECT_EQ(layer_params(q, TensorSplit{4, 4, 1}).dense.value, (attention + 3 * h * f) / 4 + 2 * d + 2 * h);
  // Gemma-2-9B: 4 RMSNorms of h per layer (input, post-attention, pre- and post-feedforward).
  const ModelSpec g = find_model_preset("gemma2-9b")->spec;
  const std::uint64_t H = 3584, F = 14336, D = 256;
  EXPECT_EQ(layer_params(g, TensorSplit{}).dense.value, H * 16 * D + 2 * H * 8 * D + 16 * D * H + 3 * H * F + 4 * H);
  EXPECT_TRUE(g.gated_mlp());
}

TEST(ModelSpec, SharedExpertIsDenseAndTensorParallel) {
  // Qwen1.5-MoE-A2.7B layer at tp 2, ep 4: 15 of 60 routed experts (expert part); the shared expert
  // 3*h*5632/2 is split over tp like a dense MLP, its gate h*1 and the router h*60 replicated (dense part).
  const ModelSpec m = find_model_preset("qwen1.5-moe-a2.7b")->spec;
  const std::uint64_t h = 2048;
  const LayerParams p = layer_params(m, TensorSplit{2, 1, 4});
  EXPECT_EQ(p.expert.value, 15 * 3 * h * 1408);
  EXPECT_EQ(p.dense.value, (4 * h * h + 3 * h) / 2 + 2 * h + h * 60 + 3 * h * 5632 / 2 + h);
  ModelSpec bad = m;
  bad.num_experts = 0;
  EXPECT_THROW(validate(bad), ConfigError);  // a shared expert needs routed experts
}

TEST(ModelSpec, NewFieldsAreValidated) {
  ModelSpec m = find_model_preset("gemma2-9b")->spec;
  m.sliding_window = -1;
  EXPECT_THROW(validate(m), ConfigError);
  m = find_model_preset("gemma2-9b")->spec;
  m.final_logit_softcapping = -30.0;
  EXPECT_THROW(validate(m), ConfigError);
  m = find_model_preset("gemma2-9b")->spec;
  m.global_layer_every = -2;
  EXPECT_THROW(validate(m), ConfigError);
  EXPECT_NO_THROW(validate(find_model_preset("gemma3-27b")->spec));
  EXPECT_EQ(architecture_extension(find_model_preset("llama3-8b")->spec), "");
  EXPECT_EQ(architecture_extension(find_model_preset("qwen3-8b")->spec), "qk_norm");
  EXPECT_EQ(architecture_extension(find_model_preset("pythia-6.9b")->spec), "parallel_residual");
  EXPECT_EQ(architecture_extension(find_model_preset("gemma-7b")->spec), "activation");
}

TEST(ModelSpec, Gpt3LayerByHand) {
  // A GPT layer with biases: 12h^2 + 13h (QKV 3h^2+3h, out h^2+h, fc1 4h^2+4h, fc2 4h^2+h, 2 LayerNorms 4h).
  const ModelSpec m = find_model_preset("gpt3-175b")->spec;
  const std::uint64_t h = 12288;
  EXPECT_EQ(layer_params(m, TensorSplit{}).dense.value, 12 * h * h + 13 * h);
  // Total: 96 layers + word embeddings 50257*h + positions 2048*h + final LayerNorm 2h (tied head).
  EXPECT_EQ(total_parameters(m).value, 96 * (12 * h * h + 13 * h) + 50257 * h + 2048 * h + 2 * h);
}

TEST(ModelSpec, TensorParallelLayerShard) {
  // Llama-2-7B layer at tp 4: attention 4h^2/4, MLP 3*h*ffn/4, norms 2h replicated (no biases).
  const ModelSpec m = find_model_preset("llama2-7b")->spec;
  const std::uint64_t h = 4096, f = 11008;
  EXPECT_EQ(layer_params(m, TensorSplit{4, 4, 1}).dense.value, 4 * h * h / 4 + 3 * h * f / 4 + 2 * h);
  // GPT with biases at tp 8: column-parallel biases split, row-parallel biases (out-proj, fc2: h each) replicated.
  const ModelSpec g = find_model_preset("gpt3-175b")->spec;
  const std::uint64_t H = 12288;
  EXPECT_EQ(layer_params(g, TensorSplit{8, 8, 1}).dense.value, (12 * H * H + 7 * H) / 8 + 2 * H + 4 * H);
}

TEST(ModelSpec, GqaShrinksKeyValueProjections) {
  // Llama-3-8B attention: q h*h + k,v 2*h*(8*128) + o h*h.
  const ModelSpec m = find_model_preset("llama3-8b")->spec;
  const std::uint64_t h = 4096;
  const std::uint64_t attention = h * h + 2 * h * 1024 + h * h;
  EXPECT_EQ(layer_params(m, TensorSplit{}).dense.value, attention + 3 * h * 14336 + 2 * h);
}

TEST(ModelSpec, MoeExpertsSplitOverExpertParallel) {
  // Mixtral layer at ep 4, etp 1: 2 of 8 experts on the rank, each 3*h*ffn; router h*8 stays dense.
  const ModelSpec m = find_model_preset("mixtral-8x7b")->spec;
  const std::uint64_t h = 4096, f = 14336;
  const LayerParams p = layer_params(m, TensorSplit{1, 1, 4});
  EXPECT_EQ(p.expert.value, 2 * 3 * h * f);
  EXPECT_EQ(p.dense.value, h * h + 2 * h * 1024 + h * h + 2 * h + 8 * h);
}

TEST(ModelSpec, VocabPadding) {
  // Megatron pads 50257 to a multiple of 128*tp: 50304 at tp 1, 51200 at tp 8 (1024 * 50 = 51200).
  EXPECT_EQ(padded_vocab_size(50257, 128, 1), 50304);
  EXPECT_EQ(padded_vocab_size(50257, 128, 8), 51200);
  EXPECT_EQ(padded_vocab_size(32000, 128, 8), 32768);
  EXPECT_EQ(padded_vocab_size(32000, 1, 1), 32000);
}

TEST(ModelSpec, ValidationNamesTheField) {
  ModelSpec m = find_model_preset("llama2-7b")->spec;
  m.num_query_groups = 5;  // 32 heads not divisible by 5 groups
  try {
    validate(m);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "num_query_groups");
    EXPECT_EQ(e.value(), "5");
  }
  m = find_model_preset("llama2-7b")->spec;
  m.num_layers = 0;
  EXPECT_THROW(validate(m), ConfigError);
  m = find_model_preset("llama2-7b")->spec;
  m.hidden_size = 4097;  // not divisible by 32 heads and no kv_channels
  EXPECT_THROW(validate(m), ConfigError);
}

TEST(ModelPresets, DidYouMean) {
  EXPECT_EQ(closest_preset_name("llama2-7").value_or(""), "llama2-7b");
  EXPECT_EQ(closest_preset_name("gpt3-175"), std::optional<std::string>("gpt3-175b"));
  EXPECT_FALSE(closest_preset_name("completely-different-name-xyz").has_value());
}

}  // namespace
}  // namespace trainmem
