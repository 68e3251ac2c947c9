#include "tools/inputs/scenario_builder.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "partition/dtype.hpp"
#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "sim/runtime/device_spec.hpp"
#include "tools/inputs/hf_config.hpp"
#include "tools/inputs/megatron_vocab.hpp"
#include "tools/inputs/offload_runtime_settings.hpp"
#include "tools/inputs/precision_settings.hpp"
#include "tools/inputs/value_parse.hpp"

namespace trainmem::tools {
namespace {
// A plain decimal number in [lo, hi]: "0.1", "1.25", "0"; `domain` is the error's reason.
double parse_real(const std::string& field, const std::string& text, double lo, double hi, const std::string& domain) {
  const bool shape_ok = !text.empty() && text.find_first_not_of("0123456789.eE+-") == std::string::npos;
  double v = 0.0;
  std::size_t used = 0;
  try {
    if (shape_ok) v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (!shape_ok || used != text.size() || !(v >= lo && v <= hi)) throw ConfigError(field, text, domain);
  return v;
}

// The domain of every integer key, as the library checks it (partition/model_spec.cpp `validate`,
// partition/parallel_config.cpp `resolve`, sim/accounting/scenario.cpp `resolve_scenario`). Checked here first so
// that text that is no number, or a number beyond 64 bits, gets the same range in its message as an
// out-of-range number (tests/tools/cli/input_checks_test.cpp compares the two). The library still applies
// the constraints between fields (divisibility, the layers of a stage).
struct IntegerDomain {
  const char* key;
  std::int64_t lo, hi;
};
constexpr std::int64_t kBig = 1LL << 62;
constexpr std::int64_t kMaxDegree = 1 << 20, kMaxWorld = 1 << 24, kMaxLayers = 100000;
constexpr IntegerDomain kIntegerDomains[] = {
    {"num_layers", 1, kMaxLayers},
    {"hidden_size", 1, 1 << 20},
    {"ffn_hidden_size", 1, 1 << 24},
    {"num_attention_heads", 1, 1 << 16},
    {"num_query_groups", 1, 1 << 16},
    {"kv_channels", 1, 1 << 20},
    {"vocab_size", 1, 1 << 26},
    {"max_position_embeddings", 1, 1LL << 32},
    {"num_experts", 0, 1 << 16},  // 0: a dense model
    {"moe_router_topk", 1, 8},
    {"moe_ffn_hidden_size", 1, 1 << 24},
    {"shared_expert_ffn", 0, 1 << 24},
    {"first_dense_layers", 0, kMaxLayers},
    {"mtp_layers", 0, 64},
    {"q_lora_rank", 0, 1 << 20},
    {"kv_lora_rank", 0, 1 << 20},
    {"qk_rope_head_dim", 0, 1 << 20},
    {"v_head_dim", 0, 1 << 20},
    {"tensor_model_parallel_size", 1, kMaxDegree},
    {"pipeline_model_parallel_size", 1, kMaxDegree},
    {"context_parallel_size", 1, kMaxDegree},
    {"expert_model_parallel_size", 1, kMaxDegree},
    {"expert_tensor_parallel_size", 1, kMaxDegree},
    {"virtual_pipeline_model_parallel_size", 1, kMaxDegree},
    {"ulysses_sp", 1, kMaxDegree},
    {"shard_group_size", 1, kMaxWorld},
    {"data_parallel_size", 1, kMaxWorld},
    {"world_size", 1, kMaxWorld},
    {"decoder_first_pipeline_num_layers", 1, kMaxLayers},
    {"decoder_last_pipeline_num_layers", 1, kMaxLayers},
    {"make_vocab_size_divisible_by", 1, 1 << 16},
    {"seq_length", 1, 1 << 25},
    {"micro_batch_size", 1, 1 << 30},
    {"global_batch_size", 1, 1 << 30},
    {"recompute_num_layers", 0, kMaxLayers},
    {"max_model_len", 0, 1 << 25},
    {"max_num_seqs", 1, 1 << 30},
};

struct Lookup {
  const Settings& s;
  const SettingValue* find(const char* key) const {
    auto it = s.find(key);
    return it == s.end() ? nullptr : &it->second;
  }
  bool has(const char* key) const { return find(key) != nullptr; }
  std::string text(const char* key) const { return find(key)->text; }
  // A key missing from kIntegerDomains (add it there) is parsed in [lo, 2^62] and the library checks it.
  void integer(const char* key, std::int64_t& out, std::int64_t lo = 1) const {
    const auto* v = find(key);
    if (v == nullptr) return;
    for (const auto& d : kIntegerDomains)
      if (std::string_view(d.key) == key) {
        out = parse_int(key, v->text, d.lo, d.hi);
        return;
      }
    out = parse_int(key, v->text, lo, kBig,
                    lo >= 1   ? "must be a positive whole number"
                    : lo == 0 ? "must be a whole number, 0 or more"
                              : "must be a whole number");
  }
  void boolean(const char* key, bool& out) const {
    if (const auto* v = find(key)) out = parse_bool(key, v->text);
  }
};

constexpr const char* kShapeKeys[] = {"num_layers",
                                      "hidden_size",
                                      "ffn_hidden_size",
                                      "num_attention_heads",
                                      "num_query_groups",
                                      "kv_channels",
                                      "vocab_size",
                                      "max_position_embeddings",
                                      "position_embedding_type",
                                      "normalization",
                                      "swiglu",
                                      "untie_embeddings_and_output_weights",
                                      "disable_bias_linear",
                                      "add_qkv_bias",
                                      "num_experts",
                                      "moe_router_topk",
                                      "moe_ffn_hidden_size",
                                      "shared_expert_ffn",
                                      "first_dense_layers",
                                      "moe_router_bias",
                                      "mtp_layers",
                                      "qk_norm",
                                      "q_lora_rank",
                                      "kv_lora_rank",
                                      "qk_rope_head_dim",
                                      "v_head_dim"};

void apply_shape_overrides(const Lookup& l, ModelSpec& m) {
  l.integer("num_layers", m.num_layers);
  l.integer("hidden_size", m.hidden_size);
  l.integer("ffn_hidden_size", m.ffn_hidden_size);
  l.integer("num_attention_heads", m.num_attention_heads);
  l.integer("num_query_groups", m.num_query_groups);
  l.integer("kv_channels", m.kv_channels);
  l.integer("vocab_size", m.vocab_size);
  l.integer("max_position_embeddings", m.max_position_embeddings);
  l.integer("num_experts", m.num_experts);
  l.integer("moe_router_topk", m.moe_router_topk);
  l.integer("moe_ffn_hidden_size", m.moe_ffn_hidden_size);
  l.integer("shared_expert_ffn", m.shared_expert_ffn);
  l.integer("first_dense_layers", m.first_dense_layers);
  l.boolean("moe_router_bias", m.moe_router_bias);
  l.integer("mtp_layers", m.mtp_layers);
  l.boolean("qk_norm", m.qk_norm);
  l.integer("q_lora_rank", m.q_lora_rank);
  l.integer("kv_lora_rank", m.kv_lora_rank);
  l.integer("qk_rope_head_dim", m.qk_rope_head_dim);
  l.integer("v_head_dim", m.v_head_dim);
  if (l.has("position_embedding_type")) {
    const auto v = parse_choice("position_embedding_type", l.text("position_embedding_type"),
                                {"learned_absolute", "rope", "none"});
    m.position_embedding = v == "rope"   ? PositionEmbedding::rope
                           : v == "none" ? PositionEmbedding::none
                                         : PositionEmbedding::learned;
  }
  if (l.has("normalization"))
    m.normalization = parse_choice("normalization", l.text("normalization"), {"LayerNorm", "RMSNorm"}) == "RMSNorm"
                          ? Normalization::rms_norm
                          : Normalization::layer_norm;
  if (l.has("swiglu")) {
    const bool on = parse_bool("swiglu", l.text("swiglu"));
    if (on)
      m.activation = Activation::swiglu;
    else if (m.activation == Activation::swiglu)
      m.activation = Activation::gelu;
  }
  if (l.has("untie_embeddings_and_output_weights"))
    m.tie_embeddings =
        !parse_bool("untie_embeddings_and_output_weights", l.text("untie_embeddings_and_output_weights"));
  if (l.has("disable_bias_linear"))
    m.add_bias_linear = !parse_bool("disable_bias_linear", l.text("disable_bias_linear"));
  l.boolean("add_qkv_bias", m.add_qkv_bias);
}
Dtype parse_dtype_choice(const char* key, const std::string& text, std::initializer_list<std::string_view> choices) {
  return *parse_dtype(parse_choice(key, text, choices));
}

// Inference and LoRA keys (docs/inference.md, docs/lora.md). Training-only keys given with inference are errors
// rather than silently ignored, as are inference or LoRA keys without --inference or lora_rank.
void build_inference_and_lora(const Settings& settings, sim::Scenario& sc) {
  const Lookup l{settings};
  auto& inf = sc.inference;
  l.boolean("inference", inf.enabled);
  static constexpr const char* kInferenceKeys[] = {
      "max_new_tokens",         "weight_dtype",  "kv_cache_dtype",         "kv_block_size",
      "max_num_batched_tokens", "max_model_len", "gpu_memory_utilization", "max_num_seqs"};
  static constexpr const char* kTrainingOnly[] = {"zero_stage",
                                                  "use_distributed_optimizer",
                                                  "recipe",
                                                  "optimizer",
                                                  "framework",
                                                  "optimizer_impl",
                                                  "global_batch_size",
                                                  "recompute_granularity",
                                                  "recompute_method",
                                                  "recompute_num_layers",
                                                  "attention",
                                                  "attention_dropout",
                                                  "hidden_dropout",
                                                  "pipeline_schedule",
                                                  "moe_expert_capacity_factor",
                                                  "fused_linear_cross_entropy",
                                                  "context_parallel_size",
                                                  "virtual_pipeline_model_parallel_size",
                                                  "ulysses_sp",
                                                  "shard_group_size",
                                                  "sequence_parallel",
                                                  "reduce_bucket_size",
                                                  "overlap_comm",
                                                  "contiguous_gradients",
                                                  "stage3_prefetch_bucket_size",
                                                  "stage3_max_live_parameters",
                                                  "stage3_param_persistence_threshold",
                                                  "sub_group_size",
                                                  "ddp_gradient_as_bucket_view",
                                                  "lora_rank",
                                                  "lora_target_modules",
                                                  "base_weight_dtype",
                                                  "double_quantization"};
  if (inf.enabled) {
    for (const char* k : kTrainingOnly)
      if (l.has(k))
        throw ConfigError(k, l.text(k),
                          "is a training setting; --inference has no backward pass, gradients or optimizer");
  } else {
    for (const char* k : kInferenceKeys)
      if (l.has(k)) throw ConfigError(k, l.text(k), "applies to inference only (add --inference)");
  }
  l.integer("max_new_tokens", inf.max_new_tokens, 0);
  if (l.has("weight_dtype"))
    inf.weights.dtype = parse_dtype_choice("weight_dtype", l.text("weight_dtype"),
                                           {"bf16", "fp16", "fp32", "fp8", "int8", "int4", "nf4"});
  if (l.has("kv_cache_dtype")) {
    // vLLM's names: auto = the model's (compute) dtype; fp8, fp8_e4m3 and fp8_e5m2 are all one byte per element.
    const std::string kv = parse_choice("kv_cache_dtype", l.text("kv_cache_dtype"),
                                        {"auto", "bf16", "fp16", "fp32", "fp8", "fp8_e4m3", "fp8_e5m2", "int8"});
    if (kv == "auto")
      inf.kv_cache_dtype.reset();
    else
      inf.kv_cache_dtype = *parse_dtype(kv.rfind("fp8", 0) == 0 ? std::string("fp8") : kv);
  }
  if (l.has("gpu_memory_utilization"))
    inf.gpu_memory_utilization = parse_real("gpu_memory_utilization", l.text("gpu_memory_utilization"), 1e-9, 1.0,
                                            "must be a fraction in (0, 1] (vLLM's default 0.9)");
  l.integer("max_model_len", inf.max_model_len, 0);
  l.integer("max_num_seqs", inf.max_num_seqs);
  l.integer("kv_block_size", inf.kv_block_size, 0);
  l.integer("max_num_batched_tokens", inf.max_num_batched_tokens, 0);
  // vLLM's start-up sizing of a model with sliding-window layers is not modelled (sim::vllm_sliding_window_refusal):
  // the knobs that only that sizing reads are refused rather than silently unused.
  if (inf.enabled && sc.model)
    if (const std::string why = sim::vllm_sliding_window_refusal(*sc.model); !why.empty())
      for (const char* k : {"gpu_memory_utilization", "max_model_len", "max_num_seqs"})
        if (l.has(k)) throw ConfigError(k, l.text(k), why + "; leave the vLLM knobs out");

  auto& lora = sc.lora;
  l.integer("lora_rank", lora.rank, 0);
  static constexpr const char* kLoraKeys[] = {"lora_target_modules", "base_weight_dtype", "double_quantization"};
  if (!lora.enabled())
    for (const char* k : kLoraKeys)
      if (l.has(k)) throw ConfigError(k, l.text(k), "applies to LoRA fine-tuning only (give lora_rank > 0)");
  // LoRA adapters are sized on q/k/v/o_proj of the standard layout; MLA's q_a/q_b/kv_a/kv_b differ.
  if (lora.enabled() && sc.model && sc.model->mla())
    throw ConfigError("lora_rank", l.text("lora_rank"),
                      "LoRA on multi-latent attention (DeepSeek q_a/q_b/kv_a/kv_b projections) is not modelled");
  if (l.has("lora_target_modules")) {
    lora.targets = sim::parse_lora_targets(l.text("lora_target_modules"));
    const std::string t = l.text("lora_target_modules");
    lora.all_linear = t == "all-linear" || t == "all_linear";
  }
  if (l.has("base_weight_dtype"))
    lora.base.dtype = parse_dtype_choice("base_weight_dtype", l.text("base_weight_dtype"),
                                         {"bf16", "fp16", "fp32", "int8", "int4", "nf4"});
  l.boolean("double_quantization", lora.base.double_quantization);
  if (l.has("quant_group_size")) {
    if (!inf.enabled && !lora.enabled())
      throw ConfigError("quant_group_size", l.text("quant_group_size"),
                        "applies to quantised inference or LoRA base weights");
    (inf.enabled ? inf.weights.group_size : lora.base.group_size) =
        parse_int("quant_group_size", l.text("quant_group_size"), 1, kBig);
  }
}
// `--model` names presets only. A name with a '/' is a file (pass it with --model-config) or a Hugging Face
// Hub id ("meta-llama/Llama-2-7b-hf"): trainmem reads no network, so the way is to fetch its config.json.
ConfigError not_a_preset(const std::string& name) {
  std::error_code ec;
  if (std::filesystem::exists(name, ec))
    return ConfigError("model", name, "is a file, not a preset; pass a config.json with --model-config " + name);
  return ConfigError("model", name,
                     "looks like a Hugging Face Hub id, not a preset: download its config.json (huggingface-cli "
                     "download " +
                         name + " config.json --local-dir DIR, or https://huggingface.co/" + name +
                         "/resolve/main/config.json) and pass --model-config DIR/config.json");
}

}  // namespace

BuiltScenario build_scenario(const Settings& settings) {
  const Lookup l{settings};
  BuiltScenario out;
  sim::Scenario& sc = out.scenario;

  bool any_shape = false;
  for (const char* k : kShapeKeys) any_shape = any_shape || l.has(k);
  if (l.has("model") && l.has("model_config"))
    throw ConfigError("model_config", l.text("model_config"), "give either model or model_config, not both");
  if (l.has("num_parameters")) {
    if (l.has("model") || l.has("model_config") || any_shape)
      throw ConfigError("num_parameters", l.text("num_parameters"),
                        "a bare parameter count cannot be combined with a model preset, config.json or shape flags");
    sc.num_parameters = ElementCount(parse_count("num_parameters", l.text("num_parameters"), 1, 1000000000000000ULL));
    out.model_source = "num_parameters";
  } else {
    ModelSpec m;
    if (l.has("model")) {
      const std::string name = l.text("model");
      const ModelPreset* preset = find_model_preset(name);
      if (preset == nullptr) {
        if (name.find('/') != std::string::npos) throw not_a_preset(name);
        const auto hint = closest_preset_name(name);
        throw ConfigError(
            "model", name,
            "unknown preset" + (hint ? " (did you mean " + *hint + "?)" : "") + "; `trainmem models` lists them");
      }
      m = preset->spec;
      sc.default_seq_length = preset->default_seq_length;
      out.model_source = "preset " + name;
    } else if (l.has("model_config")) {
      m = load_hf_config(l.text("model_config"));
      out.model_source = "config.json " + l.text("model_config");
    } else {
      if (!l.has("num_layers") || !l.has("hidden_size") || !l.has("num_attention_heads"))
        throw ConfigError("model", "(none)",
                          "no model given: use --model PRESET, --model-config config.json, --num-parameters N, or "
                          "the shape flags --num-layers, --hidden-size and --num-attention-heads");
      out.model_source = "shape flags";
    }
    if (any_shape && out.model_source != "shape flags") out.model_source += " with overrides";
    apply_shape_overrides(l, m);
    // A learned position table bounds the sequence: GPT-2's n_positions 1024 is its default too (a preset
    // carries its own; without this a config.json or shape-flag GPT-2 failed on the 2048 default).
    if (m.position_embedding == PositionEmbedding::learned && m.max_position_embeddings > 0)
      sc.default_seq_length = std::min(sc.default_seq_length, m.max_position_embeddings);
    sc.model = m;
  }

  auto& p = sc.parallel;
  l.integer("tensor_model_parallel_size", p.tp);
  l.integer("pipeline_model_parallel_size", p.pp);
  l.integer("data_parallel_size", p.dp);
  l.integer("world_size", p.world_size);
  l.integer("context_parallel_size", p.cp);
  l.integer("expert_model_parallel_size", p.ep);
  l.integer("expert_tensor_parallel_size", p.etp);
  l.integer("virtual_pipeline_model_parallel_size", p.vpp);
  l.integer("ulysses_sp", p.ulysses_sp);
  l.integer("shard_group_size", p.shard_group_size);
  l.boolean("sequence_parallel", p.sequence_parallel);
  if (l.has("zero_stage")) p.zero_stage = static_cast<int>(parse_int("zero_stage", l.text("zero_stage"), 0, 3));
  l.integer("decoder_first_pipeline_num_layers", p.first_stage_layers);
  l.integer("decoder_last_pipeline_num_layers", p.last_stage_layers);
  auto& t = sc.training;
  if (l.has("framework"))
    t.framework = parse_choice("framework", l.text("framework"), {"megatron", "hf"}) == "hf" ? sim::Framework::hf
                                                                                             : sim::Framework::megatron;
  // transformers does not pad the vocabulary (Megatron's --make-vocab-size-divisible-by 128 does not apply).
  if (t.framework == sim::Framework::hf) p.make_vocab_size_divisible_by = 1;
  l.integer("make_vocab_size_divisible_by", p.make_vocab_size_divisible_by);
  if (l.has("padded_vocab_size")) apply_padded_vocab_size(settings, sc);  // tools/inputs/megatron_vocab.cpp

  l.integer("seq_length", t.seq_length);
  l.integer("micro_batch_size", t.micro_batch_size);
  l.integer("global_batch_size", t.global_batch_size);
  if (l.has("recipe")) t.recipe = l.text("recipe");
  if (l.has("optimizer")) t.optimizer = l.text("optimizer");
  if (l.has("optimizer_impl")) {
    const auto v = parse_choice("optimizer_impl", l.text("optimizer_impl"), {"for-loop", "foreach", "fused"});
    t.optimizer_impl = v == "for-loop"  ? sim::OptimizerImpl::for_loop
                       : v == "foreach" ? sim::OptimizerImpl::foreach
                                        : sim::OptimizerImpl::fused;
  }
  l.boolean("use_distributed_optimizer", t.use_distributed_optimizer);
  if (l.has("recompute_granularity")) {
    const auto v =
        parse_choice("recompute_granularity", l.text("recompute_granularity"), {"none", "selective", "full"});
    t.recompute_granularity = v == "full"        ? sim::RecomputeGranularity::full
                              : v == "selective" ? sim::RecomputeGranularity::selective
                                                 : sim::RecomputeGranularity::none;
  }
  if (l.has("recompute_method"))
    t.recompute_method = parse_choice("recompute_method", l.text("recompute_method"), {"uniform", "block"}) == "block"
                             ? sim::RecomputeMethod::block
                             : sim::RecomputeMethod::uniform;
  l.integer("recompute_num_layers", t.recompute_num_layers);
  if (l.has("attention"))
    t.attention = parse_choice("attention", l.text("attention"), {"flash", "eager"}) == "eager"
                      ? sim::AttentionKernel::eager
                      : sim::AttentionKernel::flash;

  auto probability = [&l](const char* key, std::optional<double>& target) {
    // Megatron's dropout probabilities: 0 <= p < 1 (p = 1 would drop everything).
    if (l.has(key))
      target = parse_real(key, l.text(key), 0.0, std::nextafter(1.0, 0.0), "must be a number p with 0 <= p < 1");
  };
  probability("attention_dropout", t.attention_dropout);
  probability("hidden_dropout", t.hidden_dropout);
  if (l.has("pipeline_schedule"))
    t.pipeline_schedule = parse_choice("pipeline_schedule", l.text("pipeline_schedule"), {"1f1b", "gpipe"}) == "gpipe"
                              ? sim::PipelineScheduleOption::gpipe
                              : sim::PipelineScheduleOption::one_f_one_b;
  if (l.has("moe_expert_capacity_factor"))
    t.moe_capacity_factor = parse_real("moe_expert_capacity_factor", l.text("moe_expert_capacity_factor"), 1e-6, 1000.0,
                                       "must be a number f with 0.000001 <= f <= 1000");
  l.boolean("fused_linear_cross_entropy", t.fused_linear_cross_entropy);

  if (l.has("gpu") && l.has("gpu_memory"))
    throw ConfigError("gpu_memory", l.text("gpu_memory"), "give either gpu or gpu_memory, not both");
  if (l.has("gpu")) {
    const std::string name = l.text("gpu");
    const sim::DeviceSpec* d = sim::find_device(name);
    if (d == nullptr) {
      const auto hint = sim::closest_device_name(name);
      throw ConfigError("gpu", name,
                        "unknown GPU" + (hint ? " (did you mean " + *hint + "?)" : "") +
                            "; `trainmem models` lists the GPUs, or give --gpu-memory");
    }
    sc.gpu_memory = d->memory;
    sc.gpu_name = std::string(d->name);  // the table's spelling, whatever case or alias was given
  } else if (l.has("gpu_memory")) {
    sc.gpu_memory = parse_size("gpu_memory", l.text("gpu_memory"));
  }

  if (l.has("format"))
    out.output.format = parse_choice("format", l.text("format"), {"table", "json"}) == "json" ? OutputFormat::json
                                                                                              : OutputFormat::table;
  l.boolean("explain", out.output.explain);

  build_inference_and_lora(l.s, sc);

  auto& z = sc.zero_runtime;
  auto count = [&l](const char* key, std::uint64_t& v, std::uint64_t lo) {
    if (l.has(key)) v = parse_count(key, l.text(key), lo, 1000000000000000ULL);
  };
  count("reduce_bucket_size", z.reduce_bucket_size, 1);
  count("stage3_prefetch_bucket_size", z.stage3_prefetch_bucket_size, 0);
  count("stage3_max_live_parameters", z.stage3_max_live_parameters, 1);
  count("stage3_param_persistence_threshold", z.stage3_param_persistence_threshold, 0);
  count("sub_group_size", z.sub_group_size, 1);
  l.boolean("overlap_comm", z.overlap_comm);
  l.boolean("contiguous_gradients", z.contiguous_gradients);
  l.boolean("ddp_gradient_as_bucket_view", z.ddp_gradient_as_bucket_view);
  apply_offload_and_runtime(settings, sc);
  apply_low_precision(settings, sc);
  return out;
}

}  // namespace trainmem::tools
