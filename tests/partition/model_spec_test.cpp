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
