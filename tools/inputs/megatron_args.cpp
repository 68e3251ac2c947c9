#include "tools/inputs/megatron_args.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "tools/inputs/megatron_vocab.hpp"
#include "tools/inputs/value_parse.hpp"

namespace trainmem::tools {
namespace {

// How an argument is read. value: one value, copied to `key`; flag: no value, sets `key` to `value_text`;
// special: handled in code; ignored / not_modelled: any number of values, listed in the notice.
enum class Kind { value, flag, special_value, special_flag, ignored, not_modelled, unsupported };
struct MegatronArg {
  std::string_view name;
  Kind kind;
  std::string_view key{};         // trainmem option key
  std::string_view value_text{};  // for flags; for unsupported: the reason
};

// Megatron-LM megatron/training/arguments.py names. Most trainmem flags are Megatron's own names.
constexpr MegatronArg kArgs[] = {
    // model shape
    {"--num-layers", Kind::value, "num_layers"},
    {"--hidden-size", Kind::value, "hidden_size"},
    {"--ffn-hidden-size", Kind::value, "ffn_hidden_size"},
    {"--num-attention-heads", Kind::value, "num_attention_heads"},
    {"--kv-channels", Kind::value, "kv_channels"},
    {"--group-query-attention", Kind::special_flag},
    {"--num-query-groups", Kind::special_value},
    {"--max-position-embeddings", Kind::value, "max_position_embeddings"},
    {"--position-embedding-type", Kind::special_value},
    {"--use-rotary-position-embeddings", Kind::flag, "position_embedding_type", "rope"},
    {"--normalization", Kind::value, "normalization"},
    {"--swiglu", Kind::flag, "swiglu", "true"},
    {"--untie-embeddings-and-output-weights", Kind::flag, "untie_embeddings_and_output_weights", "true"},
    {"--disable-bias-linear", Kind::flag, "disable_bias_linear", "true"},
    {"--add-qkv-bias", Kind::flag, "add_qkv_bias", "true"},
    {"--vocab-size", Kind::special_value},  // the vocabulary: tools/inputs/megatron_vocab.cpp
    {"--padded-vocab-size", Kind::special_value},
    {"--make-vocab-size-divisible-by", Kind::value, "make_vocab_size_divisible_by"},
    {"--num-experts", Kind::value, "num_experts"},
    {"--moe-router-topk", Kind::value, "moe_router_topk"},
    {"--moe-ffn-hidden-size", Kind::value, "moe_ffn_hidden_size"},
    {"--moe-expert-capacity-factor", Kind::value, "moe_expert_capacity_factor"},
    {"--moe-shared-expert-intermediate-size", Kind::value, "shared_expert_ffn"},
    {"--moe-layer-freq", Kind::special_value},
    {"--moe-router-enable-expert-bias", Kind::flag, "moe_router_bias", "true"},
    {"--mtp-num-layers", Kind::value, "mtp_layers"},
    {"--qk-layernorm", Kind::special_flag},
    // Multi-latent attention (DeepSeek): the sizes take effect with --multi-latent-attention only.
    {"--multi-latent-attention", Kind::special_flag},
    {"--q-lora-rank", Kind::special_value},
    {"--kv-lora-rank", Kind::special_value},
    {"--qk-head-dim", Kind::special_value},
    {"--qk-pos-emb-head-dim", Kind::special_value},
    {"--v-head-dim", Kind::special_value},
    {"--attention-dropout", Kind::value, "attention_dropout"},
    {"--hidden-dropout", Kind::value, "hidden_dropout"},
    // layout
    {"--tensor-model-parallel-size", Kind::value, "tensor_model_parallel_size"},
    {"--pipeline-model-parallel-size", Kind::value, "pipeline_model_parallel_size"},
    {"--context-parallel-size", Kind::value, "context_parallel_size"},
    {"--expert-model-parallel-size", Kind::value, "expert_model_parallel_size"},
    {"--expert-tensor-parallel-size", Kind::value, "expert_tensor_parallel_size"},
    {"--num-layers-per-virtual-pipeline-stage", Kind::special_value},
    {"--num-virtual-stages-per-pipeline-rank", Kind::value, "virtual_pipeline_model_parallel_size"},
    {"--decoder-first-pipeline-num-layers", Kind::value, "decoder_first_pipeline_num_layers"},
    {"--decoder-last-pipeline-num-layers", Kind::value, "decoder_last_pipeline_num_layers"},
    {"--sequence-parallel", Kind::flag, "sequence_parallel", "true"},
    {"--use-distributed-optimizer", Kind::flag, "use_distributed_optimizer", "true"},
    // low precision (docs/low-precision.md): the precision-aware optimizer and FP8 / FP4 linear layers
    {"--use-precision-aware-optimizer", Kind::flag, "use_precision_aware_optimizer", "true"},
    {"--main-params-dtype", Kind::value, "main_params_dtype"},
    {"--main-grads-dtype", Kind::value, "main_grads_dtype"},
    {"--exp-avg-dtype", Kind::value, "exp_avg_dtype"},
    {"--exp-avg-sq-dtype", Kind::value, "exp_avg_sq_dtype"},
    {"--fp8-format", Kind::value, "fp8_format"},
    {"--fp8-recipe", Kind::value, "fp8_recipe"},
    {"--fp4-format", Kind::value, "fp4_format"},
    {"--fp4-recipe", Kind::value, "fp4_recipe"},
    {"--fp8-param-gather", Kind::flag, "fp8_param_gather", "true"},
    {"--fp4-param-gather", Kind::flag, "fp4_param_gather", "true"},
    {"--first-last-layers-bf16", Kind::flag, "first_last_layers_bf16", "true"},
    {"--num-layers-at-start-in-bf16", Kind::value, "num_layers_at_start_in_bf16"},
    {"--num-layers-at-end-in-bf16", Kind::value, "num_layers_at_end_in_bf16"},
    {"--fp8-amax-history-len", Kind::value, "fp8_amax_history_len"},
    {"--fp8-amax-compute-algo", Kind::ignored},
    {"--fp8-margin", Kind::ignored},
    // training
    {"--seq-length", Kind::value, "seq_length"},
    {"--micro-batch-size", Kind::value, "micro_batch_size"},
    {"--global-batch-size", Kind::value, "global_batch_size"},
    {"--fp16", Kind::special_flag},
    {"--bf16", Kind::special_flag},
    {"--accumulate-allreduce-grads-in-fp32", Kind::special_flag},
    {"--grad-reduce-in-bf16", Kind::special_flag},
    {"--optimizer", Kind::special_value},
    {"--sgd-momentum", Kind::special_value},
    {"--recompute-activations", Kind::flag, "recompute_granularity", "selective"},
    {"--recompute-granularity", Kind::value, "recompute_granularity"},
    {"--recompute-method", Kind::value, "recompute_method"},
    {"--recompute-num-layers", Kind::value, "recompute_num_layers"},
    {"--use-flash-attn", Kind::flag, "attention", "flash"},
    {"--attention-backend", Kind::special_value},
    // No effect on GPU memory: learning rate and schedule, initialisation, data, tokenizer, checkpoint I/O,
    // logging, fusion and overlap switches, loss scaling, distributed launch settings.
    {"--lr", Kind::ignored},
    {"--min-lr", Kind::ignored},
    {"--lr-decay-style", Kind::ignored},
    {"--lr-decay-iters", Kind::ignored},
    {"--lr-decay-samples", Kind::ignored},
    {"--lr-warmup-fraction", Kind::ignored},
    {"--lr-warmup-iters", Kind::ignored},
    {"--lr-warmup-samples", Kind::ignored},
    {"--train-iters", Kind::ignored},
    {"--train-samples", Kind::ignored},
    {"--rampup-batch-size", Kind::ignored},
    {"--weight-decay", Kind::ignored},
    {"--start-weight-decay", Kind::ignored},
    {"--end-weight-decay", Kind::ignored},
    {"--weight-decay-incr-style", Kind::ignored},
    {"--adam-beta1", Kind::ignored},
    {"--adam-beta2", Kind::ignored},
    {"--adam-eps", Kind::ignored},
    {"--clip-grad", Kind::ignored},
    {"--init-method-std", Kind::ignored},
    {"--seed", Kind::ignored},
    {"--save", Kind::ignored},
    {"--load", Kind::ignored},
    {"--save-interval", Kind::ignored},
    {"--eval-interval", Kind::ignored},
    {"--eval-iters", Kind::ignored},
    {"--log-interval", Kind::ignored},
    {"--data-path", Kind::ignored},
    {"--train-data-path", Kind::ignored},
    {"--valid-data-path", Kind::ignored},
    {"--test-data-path", Kind::ignored},
    {"--data-cache-path", Kind::ignored},
    {"--mock-data", Kind::ignored},
    {"--split", Kind::ignored},
    {"--vocab-file", Kind::special_value},
    {"--merge-file", Kind::ignored},
    {"--tokenizer-type", Kind::special_value},
    {"--tokenizer-model", Kind::special_value},
    {"--tensorboard-dir", Kind::ignored},
    {"--wandb-project", Kind::ignored},
    {"--wandb-exp-name", Kind::ignored},
    {"--wandb-save-dir", Kind::ignored},
    {"--log-throughput", Kind::ignored},
    {"--log-timers-to-tensorboard", Kind::ignored},
    {"--log-memory-to-tensorboard", Kind::ignored},
    {"--log-validation-ppl-to-tensorboard", Kind::ignored},
    {"--log-params-norm", Kind::ignored},
    {"--log-num-zeros-in-grad", Kind::ignored},
    {"--tensorboard-log-interval", Kind::ignored},
    {"--timing-log-level", Kind::ignored},
    {"--distributed-backend", Kind::ignored},
    {"--distributed-timeout-minutes", Kind::ignored},
    {"--use-mcore-models", Kind::ignored},
    {"--transformer-impl", Kind::ignored},
    {"--num-workers", Kind::ignored},
    {"--dataloader-type", Kind::ignored},
    {"--exit-interval", Kind::ignored},
    {"--exit-duration-in-mins", Kind::ignored},
    {"--no-load-optim", Kind::ignored},
    {"--no-load-rng", Kind::ignored},
    {"--finetune", Kind::ignored},
    {"--ckpt-format", Kind::ignored},
    {"--use-checkpoint-args", Kind::ignored},
    {"--async-save", Kind::ignored},
    {"--use-dist-ckpt", Kind::ignored},
    {"--auto-detect-ckpt-format", Kind::ignored},
    {"--attention-softmax-in-fp32", Kind::ignored},
    {"--no-bias-gelu-fusion", Kind::ignored},
    {"--no-bias-swiglu-fusion", Kind::ignored},
    {"--no-bias-dropout-fusion", Kind::ignored},
    {"--no-masked-softmax-fusion", Kind::ignored},
    {"--no-persist-layer-norm", Kind::ignored},
    {"--no-gradient-accumulation-fusion", Kind::ignored},
    {"--apply-query-key-layer-scaling", Kind::ignored},
    {"--loss-scale", Kind::ignored},
    {"--initial-loss-scale", Kind::ignored},
    {"--min-loss-scale", Kind::ignored},
    {"--loss-scale-window", Kind::ignored},
    {"--hysteresis", Kind::ignored},
    {"--eod-mask-loss", Kind::ignored},
    {"--reset-position-ids", Kind::ignored},
    {"--reset-attention-mask", Kind::ignored},
    {"--manual-gc", Kind::ignored},
    {"--manual-gc-interval", Kind::ignored},
    {"--num-dataset-builder-threads", Kind::ignored},
    {"--rotary-base", Kind::ignored},
    {"--rotary-percent", Kind::ignored},
    {"--norm-epsilon", Kind::ignored},
    {"--layernorm-epsilon", Kind::ignored},
    {"--overlap-grad-reduce", Kind::ignored},
    {"--overlap-param-gather", Kind::ignored},
    {"--check-for-nan-in-loss-and-grad", Kind::ignored},
    {"--no-check-for-nan-in-loss-and-grad", Kind::ignored},
    {"--profile", Kind::ignored},
    {"--profile-step-start", Kind::ignored},
    {"--profile-step-end", Kind::ignored},
    {"--init-method-xavier-uniform", Kind::ignored},
    {"--moe-router-load-balancing-type", Kind::ignored},
    {"--moe-aux-loss-coeff", Kind::ignored},
    {"--moe-z-loss-coeff", Kind::ignored},
    {"--moe-grouped-gemm", Kind::ignored},
    {"--moe-token-dispatcher-type", Kind::ignored},
    {"--moe-router-score-function", Kind::ignored},
    {"--moe-router-topk-scaling-factor", Kind::ignored},
    {"--moe-router-pre-softmax", Kind::ignored},
    {"--moe-permute-fusion", Kind::ignored},
    {"--no-rope-fusion", Kind::ignored},
    {"--rotary-scaling-factor", Kind::ignored},  // YaRN scalars: no parameters, no saved tensors
    {"--mscale", Kind::ignored},
    {"--mscale-all-dim", Kind::ignored},
    {"--apply-layernorm-1p", Kind::ignored},  // zero-centred gamma: the same weights
    {"--decoupled-lr", Kind::ignored},
    {"--decoupled-min-lr", Kind::ignored},
    {"--calculate-per-token-loss", Kind::ignored},
    {"--exit-on-missing-checkpoint", Kind::ignored},
    {"--no-position-embedding", Kind::flag, "position_embedding_type", "none"},
    // A GPU-memory effect trainmem does not model (communication buffers, caches).
    {"--tp-comm-overlap", Kind::not_modelled},
    {"--ddp-bucket-size", Kind::not_modelled},
    {"--empty-unused-memory-level", Kind::not_modelled},
    {"--moe-pad-expert-input-to-capacity", Kind::not_modelled},
    {"--cross-entropy-loss-fusion", Kind::not_modelled},  // no fp32 logits copy: the estimate keeps it
    // Changes the memory in ways the estimate would get wrong.
    {"--fp8", Kind::unsupported, "", "is not a Megatron-LM flag; FP8 is --fp8-format e4m3|hybrid (--fp8-recipe)"},
    {"--squared-relu", Kind::unsupported, "", "the squared-ReLU MLP is not modelled"},
    {"--cpu-offloading", Kind::unsupported, "", "Megatron activation/weight CPU offloading is not modelled"},
};

const MegatronArg* find_arg(std::string_view name) {
  for (const auto& a : kArgs)
    if (a.name == name) return &a;
  return nullptr;
}

std::string suggestion(std::string_view name) {
  std::string best;
  std::size_t best_d = 0;
  for (const auto& a : kArgs) {
    const std::size_t d = edit_distance(name, a.name);
    if (best.empty() || d < best_d) best = std::string(a.name), best_d = d;
  }
  if (best.empty() || best_d > std::max<std::size_t>(3, name.size() / 3)) return "";
  return best;
}

bool is_option(const std::string& token) { return token.size() > 2 && token.rfind("--", 0) == 0; }

// --moe-layer-freq: 1 (every layer MoE) or the pattern "([0]*K+[1]*N)" (K dense layers, then MoE; DeepSeek's
// first_k_dense_replace, as Megatron-Bridge writes it). Other periods and patterns are refused.
std::int64_t leading_dense_layers(const std::string& text) {
  std::string v;
  for (const char c : text)
    if (c != ' ') v += c;
  if (v == "1") return 0;
  const std::string why = "only 1 or ([0]*K+[1]*N) (K leading dense layers, then every layer MoE) is modelled";
  if (v.size() < 2 || v.front() != '(' || v.back() != ')')
    throw ConfigError("megatron_args", "--moe-layer-freq " + text, why);
  v = v.substr(1, v.size() - 2);
  const auto plus = v.find("+[1]*");
  if (v.rfind("[0]*", 0) != 0 || plus == std::string::npos)
    throw ConfigError("megatron_args", "--moe-layer-freq " + text, why);
  const std::int64_t dense = parse_int("megatron_args --moe-layer-freq", v.substr(4, plus - 4), 0, 100000);
  parse_int("megatron_args --moe-layer-freq", v.substr(plus + 5), 1, 100000);
  return dense;
}

// Megatron TransformerConfig: with --multi-latent-attention the MLA sizes apply (defaults q_lora_rank None,
// kv_lora_rank 32, qk_head_dim 128, qk_pos_emb_head_dim 64, v_head_dim 128) and --qk-layernorm puts RMSNorms on
// the q and kv latents (q_layernorm / kv_layernorm, IdentityOp without it); without MLA, --qk-layernorm is a
// norm over head_dim on each query and key head (ModelSpec qk_norm) and the MLA sizes are unused.
void apply_attention_variant(MegatronArgs& out, bool mla, bool qk_ln,
                             const std::vector<std::pair<std::string, std::string>>& sizes) {
  if (!mla) {
    if (qk_ln) out.settings["qk_norm"] = SettingValue{"true", "--megatron-args: --qk-layernorm"};
    for (const auto& [name, value] : sizes) out.ignored.push_back(name + " (without --multi-latent-attention)");
    return;
  }
  if (!qk_ln)
    throw ConfigError("megatron_args", "--multi-latent-attention",
                      "without --qk-layernorm (no q/kv latent norms) is not modelled; DeepSeek models use it");
  std::map<std::string, std::string> v = {
      {"--kv-lora-rank", "32"}, {"--qk-head-dim", "128"}, {"--qk-pos-emb-head-dim", "64"}, {"--v-head-dim", "128"}};
  for (const auto& [name, value] : sizes) v[name] = value;
  auto set = [&](const char* key, const std::string& name) {
    if (v.count(name) == 0) return;
    out.settings[key] = SettingValue{v[name], "--megatron-args: " + name};
  };
  set("q_lora_rank", "--q-lora-rank");
  set("kv_lora_rank", "--kv-lora-rank");
  set("kv_channels", "--qk-head-dim");
  set("qk_rope_head_dim", "--qk-pos-emb-head-dim");
  set("v_head_dim", "--v-head-dim");
}
}  // namespace

std::vector<std::string> split_shell_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(word), word.clear(), in_word = false;
    } else if (c == '\\') {
      if (i + 1 >= text.size())
        throw ConfigError("megatron_args", "'\\' at the end", "a backslash must escape a character");
      const char next = text[++i];
      if (next == '\n') continue;  // line continuation, as in a copied launch script
      word += next, in_word = true;
    } else if (c == '\'') {
      const std::size_t end = text.find('\'', i + 1);
      if (end == std::string::npos) throw ConfigError("megatron_args", text.substr(i), "has an unterminated ' quote");
      word += text.substr(i + 1, end - i - 1), in_word = true;
      i = end;
    } else if (c == '"') {
      in_word = true;
      std::size_t j = i + 1;
      for (; j < text.size() && text[j] != '"'; ++j) {
        // Inside double quotes a backslash escapes only $ ` " \ and newline (POSIX).
        if (text[j] == '\\' && j + 1 < text.size() &&
            std::string_view("$`\"\\\n").find(text[j + 1]) != std::string_view::npos) {
          if (text[j + 1] != '\n') word += text[j + 1];
          ++j;
        } else {
          word += text[j];
        }
      }
      if (j >= text.size()) throw ConfigError("megatron_args", text.substr(i), "has an unterminated \" quote");
      i = j;
    } else {
      word += c, in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

MegatronArgs megatron_args_from_string(const std::string& text) {
  const std::vector<std::string> words = split_shell_words(text);
  MegatronArgs out;
  auto origin = [](const std::string& name) { return "--megatron-args: " + name; };
  bool fp16 = false, bf16 = false, fp32_grads = false, bf16_grads = false, gqa = false, mla = false, qk_ln = false;
  std::vector<std::pair<std::string, std::string>> mla_sizes;  // (name, value) of the MLA size arguments
  std::optional<std::pair<std::string, std::string>> query_groups, layers_per_virtual_stage;  // (text, name)
  std::optional<std::string> optimizer;
  std::string sgd_momentum = "0.9";  // Megatron's --sgd-momentum default
  MegatronVocabArgs vocab;
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string name = words[i];
    std::optional<std::string> inline_value;
    if (!is_option(name)) throw ConfigError("megatron_args", name, "expected an argument starting with --");
    if (const auto eq = name.find('='); eq != std::string::npos)
      inline_value = name.substr(eq + 1), name = name.substr(0, eq);
    const MegatronArg* a = find_arg(name);
    if (a == nullptr) {
      const std::string hint = suggestion(name);
      throw ConfigError("megatron_args", name,
                        "unknown Megatron argument" + (hint.empty() ? "" : " (did you mean " + hint + "?)") +
                            "; docs/ecosystem-inputs.md lists the arguments trainmem reads");
    }
    // Values: the tokens up to the next --argument.
    std::vector<std::string> values;
    if (inline_value) values.push_back(*inline_value);
    while (i + 1 < words.size() && !is_option(words[i + 1])) values.push_back(words[++i]);
    const bool takes_value = a->kind == Kind::value || a->kind == Kind::special_value;
    const bool takes_none = a->kind == Kind::flag || a->kind == Kind::special_flag;
    if (takes_value && values.size() != 1)
      throw ConfigError("megatron_args", name,
                        values.empty() ? "needs a value" : "takes one value, got " + std::to_string(values.size()));
    if (takes_none && !values.empty())
      throw ConfigError("megatron_args", name + " " + values.front(), "takes no value");
    const std::string value = values.empty() ? "" : values.front();
    switch (a->kind) {
      case Kind::value: out.settings[std::string(a->key)] = SettingValue{value, origin(name)}; break;
      case Kind::flag:
        out.settings[std::string(a->key)] = SettingValue{std::string(a->value_text), origin(name)};
        break;
      case Kind::ignored: out.ignored.push_back(name); break;
      case Kind::not_modelled: out.not_modelled.push_back(name); break;
      case Kind::unsupported: throw ConfigError("megatron_args", name, std::string(a->value_text));
      case Kind::special_flag:
        if (name == "--fp16")
          fp16 = true;
        else if (name == "--bf16")
          bf16 = true;
        else if (name == "--accumulate-allreduce-grads-in-fp32")
          fp32_grads = true;
        else if (name == "--grad-reduce-in-bf16")
          bf16_grads = true;
        else if (name == "--group-query-attention")
          gqa = true;
        else if (name == "--multi-latent-attention")
          mla = true;
        else if (name == "--qk-layernorm")
          qk_ln = true;
        break;
      case Kind::special_value:
        if (name == "--num-query-groups") {
          query_groups = {value, name};
        } else if (name == "--num-layers-per-virtual-pipeline-stage") {
          layers_per_virtual_stage = {value, name};
        } else if (name == "--q-lora-rank" || name == "--kv-lora-rank" || name == "--qk-head-dim" ||
                   name == "--qk-pos-emb-head-dim" || name == "--v-head-dim") {
          mla_sizes.emplace_back(name, value);
        } else if (name == "--moe-layer-freq") {
          out.settings["first_dense_layers"] = SettingValue{std::to_string(leading_dense_layers(value)), origin(name)};
        } else if (name == "--vocab-size" || name == "--padded-vocab-size" || name == "--tokenizer-type" ||
                   name == "--tokenizer-model" || name == "--vocab-file") {
          auto& slot = name == "--vocab-size"          ? vocab.vocab_size
                       : name == "--padded-vocab-size" ? vocab.padded_vocab_size
                       : name == "--tokenizer-type"    ? vocab.tokenizer_type
                       : name == "--tokenizer-model"   ? vocab.tokenizer_model
                                                       : vocab.vocab_file;
          slot = value;
        } else if (name == "--optimizer") {
          optimizer = value;
        } else if (name == "--sgd-momentum") {
          sgd_momentum = value;
        } else if (name == "--position-embedding-type") {
          const std::string v = parse_choice("position_embedding_type", value, {"learned_absolute", "rope", "none"});
          out.settings["position_embedding_type"] = SettingValue{v, origin(name)};
        } else if (name == "--attention-backend") {
          // flash / fused (cuDNN) / auto keep no s x s score matrix; unfused / local materialise it.
          const std::string v =
              parse_choice("attention_backend", value, {"flash", "fused", "auto", "unfused", "local"});
          out.settings["attention"] = SettingValue{v == "unfused" || v == "local" ? "eager" : "flash", origin(name)};
        }
        break;
    }
  }
  // Precision (megatron/training/arguments.py): bf16 turns on accumulate_allreduce_grads_in_fp32 unless
  // --grad-reduce-in-bf16; the DDP grad buffer is fp32 when that is on, else the param dtype.
  if (fp16 && bf16) throw ConfigError("megatron_args", "--fp16 --bf16", "Megatron allows one of --fp16 and --bf16");
  if (bf16)
    out.settings["recipe"] = SettingValue{bf16_grads ? "mixed-20" : "mixed-18",
                                          origin(bf16_grads ? "--bf16 --grad-reduce-in-bf16" : "--bf16")};
  else if (fp16)
    out.settings["recipe"] =
        SettingValue{fp32_grads ? "mixed-18" : "mixed-20",
                     origin(fp32_grads ? "--fp16 --accumulate-allreduce-grads-in-fp32" : "--fp16")};
  else
    out.implicit_fp32 = true;  // fp32 params and grads: 16 bytes (8 + 8/d with the distributed optimizer)
  if (optimizer) {
    const std::string o = parse_choice("optimizer", *optimizer, {"adam", "sgd"});
    std::string mapped = "adam";
    if (o == "sgd") {
      bool momentum = true;
      try {
        momentum = std::stod(sgd_momentum) > 0.0;
      } catch (const std::exception&) {
        throw ConfigError("megatron_args", "--sgd-momentum " + sgd_momentum, "must be a number");
      }
      mapped = momentum ? "sgd-momentum" : "sgd";
    }
    out.settings["optimizer"] = SettingValue{mapped, origin("--optimizer")};
  }
  // --num-query-groups takes effect only with --group-query-attention (TransformerConfig gets None otherwise).
  if (query_groups && gqa)
    out.settings["num_query_groups"] = SettingValue{query_groups->first, origin(query_groups->second)};
  else if (query_groups)
    out.ignored.emplace_back("--num-query-groups (without --group-query-attention)");
  apply_attention_variant(out, mla, qk_ln, mla_sizes);
  apply_megatron_vocab(out, vocab);
  if (layers_per_virtual_stage) {
    // Megatron: vpp = (num_layers / pp) / num_layers_per_virtual_pipeline_stage.
    const auto& name = layers_per_virtual_stage->second;
    const std::int64_t per = parse_int("megatron_args " + name, layers_per_virtual_stage->first, 1, 1 << 20);
    auto it_layers = out.settings.find("num_layers");
    auto it_pp = out.settings.find("pipeline_model_parallel_size");
    if (it_layers == out.settings.end() || it_pp == out.settings.end())
      throw ConfigError("megatron_args", name,
                        "needs --num-layers and --pipeline-model-parallel-size in the same arguments");
    const std::int64_t layers = parse_int("num_layers", it_layers->second.text, 1, 100000);
    const std::int64_t pp = parse_int("pipeline_model_parallel_size", it_pp->second.text, 1, 1 << 20);
    if (layers % pp != 0 || (layers / pp) % per != 0)
      throw ConfigError("megatron_args", name + " " + layers_per_virtual_stage->first,
                        "layers per pipeline stage (" + std::to_string(layers) + " / " + std::to_string(pp) +
                            ") are not divisible by it");
    out.settings["virtual_pipeline_model_parallel_size"] =
        SettingValue{std::to_string(layers / pp / per), origin(name)};
  }
  return out;
}

}  // namespace trainmem::tools
