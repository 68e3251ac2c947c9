#include "sim/finetune/lora_memory.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {
std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(v); }

struct TargetName {
  LoraTarget target;
  std::string_view name;
  std::string_view shorthand;
  std::string_view gpt_name;  // GPT-style MLP names (fc1/fc2), "" when none
};
constexpr std::array<TargetName, 7> kTargets{{
    {LoraTarget::q_proj, "q_proj", "q", ""},
    {LoraTarget::k_proj, "k_proj", "k", ""},
    {LoraTarget::v_proj, "v_proj", "v", ""},
    {LoraTarget::o_proj, "o_proj", "o", ""},
    {LoraTarget::gate_proj, "gate_proj", "gate", ""},
    {LoraTarget::up_proj, "up_proj", "up", "fc1"},
    {LoraTarget::down_proj, "down_proj", "down", "fc2"},
}};

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}
}  // namespace

std::string_view lora_target_name(LoraTarget t) {
  for (const auto& n : kTargets)
    if (n.target == t) return n.name;
  return "?";
}

std::string lora_targets_text(const std::vector<LoraTarget>& targets) {
  std::string out;
  for (auto t : targets) out += (out.empty() ? "" : ",") + std::string(lora_target_name(t));
  return out;
}

std::vector<LoraTarget> parse_lora_targets(std::string_view text) {
  const std::string all = trim(text);
  if (all == "all-linear" || all == "all_linear") {
    std::vector<LoraTarget> out(kTargets.size());
    for (std::size_t i = 0; i < kTargets.size(); ++i) out[i] = kTargets[i].target;
    return out;
  }
  std::array<bool, kTargets.size()> chosen{};
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string name = trim(text.substr(start, comma - start));
    bool found = false;
    for (std::size_t i = 0; i < kTargets.size(); ++i)
      if (!name.empty() && (name == kTargets[i].name || name == kTargets[i].shorthand || name == kTargets[i].gpt_name))
        chosen[i] = found = true;
    if (!found)
      throw ConfigError("lora_target_modules", std::string(text),
                        (name.empty() ? std::string("has an empty name") : "has an unknown module '" + name + "'") +
                            "; use q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj (or q,k,v,o,gate,up,down, "
                            "fc1,fc2) or all-linear");
    start = comma + 1;
  }
  std::vector<LoraTarget> out;
  for (std::size_t i = 0; i < kTargets.size(); ++i)
    if (chosen[i]) out.push_back(kTargets[i].target);
  return out;
}

LoraLayer lora_layer(const ModelSpec& m, const LoraConfig& c, std::int64_t tp) {
  if (c.rank < 1 || c.rank > (1 << 20))
    throw ConfigError("lora_rank", std::to_string(c.rank), "must be between 1 and 1048576");
  const std::int64_t h = m.hidden_size, d = m.head_dim();
  LoraLayer out;
  for (LoraTarget t : c.targets) {
    LoraModule mod;
    mod.target = t;
    switch (t) {
      case LoraTarget::q_proj: mod.in = h, mod.out = m.num_attention_heads * d; break;
      case LoraTarget::k_proj:
      case LoraTarget::v_proj: mod.in = h, mod.out = m.query_groups() * d; break;
      case LoraTarget::o_proj: mod.in = m.num_attention_heads * d, mod.out = h, mod.row_parallel = true; break;
      case LoraTarget::gate_proj:
      case LoraTarget::up_proj: mod.in = h, mod.out = m.ffn(); break;
      case LoraTarget::down_proj: mod.in = m.ffn(), mod.out = h, mod.row_parallel = true; break;
    }
    const bool mlp = t == LoraTarget::gate_proj || t == LoraTarget::up_proj || t == LoraTarget::down_proj;
    if (mlp && m.is_moe())
      throw ConfigError("lora_target_modules", std::string(lora_target_name(t)),
                        "adapters on MoE experts are not modelled; target the attention modules (q,k,v,o)");
    if (t == LoraTarget::gate_proj && !m.gated_mlp() && c.all_linear) continue;
    if (t == LoraTarget::gate_proj && !m.gated_mlp())
      throw ConfigError("lora_target_modules", "gate_proj", "the model has no gated (SwiGLU) MLP");
    const std::uint64_t r = u(c.rank);
    // PEFT LoraParallelLinear: column-parallel base -> lora_B split over output rows; row-parallel -> lora_A
    // split over input columns. The split dimension is divisible by tp (heads and ffn are).
    mod.a_elements = ElementCount(r) * u(mod.row_parallel ? mod.in / tp : mod.in);
    mod.b_elements = ElementCount(r) * u(mod.row_parallel ? mod.out : mod.out / tp);
    out.params += mod.elements();
    out.saved_width += r;  // A's output (x A), saved for B's weight gradient
    out.modules.push_back(mod);
  }
  return out;
}

ElementCount lora_parameters(const ModelSpec& m, const LoraConfig& c) {
  return lora_layer(m, c, 1).params * u(m.num_layers);
}

LoraRank lora_rank(const ModelSpec& m, const ParallelConfig& p, const StageLayers& stage, const RankParamShard& shard,
                   const LoraConfig& c, const Recipe& recipe, const Optimizer& optimizer, int zero_stage,
                   std::int64_t dp, std::int64_t tokens, unsigned activation_bytes) {
  LoraRank r;
  check_weight_format(c.base);
  const Dtype compute = activation_bytes == 4 ? Dtype::fp32 : Dtype::bf16;
  r.base = rank_weights(m, p, stage, shard, c.base, compute, zero_stage == 3 ? dp : 1);
  r.layer = lora_layer(m, c, p.tp);
  const ElementCount adapters = r.layer.params * u(stage.num_layers);
  r.adapters.dense = adapters;
  r.adapters.terms.push_back(
      {"LoRA adapters (r " + std::to_string(c.rank) + " on " + lora_targets_text(c.targets) + ")", r.layer.params,
       u(stage.num_layers), false});
  const ModelStateMemory adapter_states = model_state_memory(r.adapters, recipe, optimizer, zero_stage, dp, dp);

  const bool sharded = zero_stage == 3;
  auto frozen = [&](std::string name, std::string dtype, ElementCount n, Bytes bytes) {
    add_params_term(r.states, std::move(name), std::move(dtype), n, bytes, sharded);
  };
  const std::string base_dtype(dtype_name(c.base.dtype));
  frozen("frozen base linear weights", base_dtype, r.base.quantized_elements, r.base.quantized.data);
  frozen("frozen base quantisation scales", scale_label(c.base), ElementCount(0), r.base.quantized.scales);
  frozen("frozen base embeddings, norms, LM head", std::string(dtype_name(compute)), r.base.other_elements,
         r.base.other);
  for (ModelStateTerm t : adapter_states.terms) {
    t.name = "adapter " + t.name;
    r.states.add(std::move(t));
  }
  r.adapter_activations_per_layer = Bytes(activation_bytes) * u(tokens) * r.layer.saved_width;
  return r;
}

}  // namespace trainmem::sim
