#include "sim/planner/planner.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>

#include "partition/error.hpp"
#include "partition/layer_assignment.hpp"
#include "partition/shard_plan.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/accounting/runtime_memory.hpp"
#include "sim/accounting/stage_activations.hpp"
#include "sim/offload/offload_memory.hpp"
#include "sim/schedule/inflight_microbatches.hpp"

namespace trainmem::sim {
namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

std::vector<std::int64_t> divisors(std::int64_t n) {
  std::vector<std::int64_t> lo, hi;
  for (std::int64_t d = 1; d * d <= n; ++d) {
    if (n % d != 0) continue;
    lo.push_back(d);
    if (d != n / d) hi.push_back(n / d);
  }
  lo.insert(lo.end(), hi.rbegin(), hi.rend());
  return lo;
}

std::vector<std::int64_t> powers_of_two_up_to(std::int64_t limit) {
  std::vector<std::int64_t> out;
  for (std::int64_t v = 1; v <= limit; v *= 2) out.push_back(v);
  return out;
}

// A knob's values: the fixed one (which must pass the rule, else ConfigError naming the knob) or the range
// filtered by the rule. `why_not` returns "" when a value is allowed.
template <typename Rule>
std::vector<std::int64_t> knob(const char* field, const std::optional<std::int64_t>& fixed,
                               const std::vector<std::int64_t>& range, Rule&& why_not) {
  if (fixed) {
    if (*fixed < 1) throw ConfigError(field, str(*fixed), "must be at least 1");
    const std::string reason = why_not(*fixed);
    if (!reason.empty()) throw ConfigError(field, str(*fixed), reason);
    return {*fixed};
  }
  std::vector<std::int64_t> out;
  for (std::int64_t v : range)
    if (why_not(v).empty()) out.push_back(v);
  return out;
}

auto layout_key(const PlanLayout& l) {
  return std::make_tuple(l.tp, l.pp, l.vpp, l.cp, l.ep, l.etp, l.dp, l.micro_batch_size, !l.sequence_parallel,
                         l.zero_stage, static_cast<int>(l.recompute_granularity), static_cast<int>(l.recompute_method),
                         l.recompute_num_layers, l.first_stage_layers, l.last_stage_layers,
                         static_cast<int>(l.offload_optimizer), static_cast<int>(l.offload_param),
                         l.offload_checkpoints);
}

Bytes bytes_for(std::uint64_t n, unsigned bits, bool absmax) {
  if (absmax) return Bytes(detail::checked_mul(detail::ceil_div(n, kBlockwise8bitBlock), 4, "bytes_of"));
  return Bytes(detail::ceil_div(detail::checked_mul(n, bits, "bytes_of"), 8));
}

}  // namespace

bool plan_entry_less(const PlanEntry& a, const PlanEntry& b) {
  const std::int64_t wa = a.layout.world_size(), wb = b.layout.world_size();
  if (wa != wb) return wa < wb;
  // Offload only where nothing else fits on as many GPUs: its cost term is the proxy's roughest (host CPU and
  // PCIe sharing vary), so it does not trade against recompute or the bubble (docs/planner.md section 7).
  if (a.layout.offloads() != b.layout.offloads()) return !a.layout.offloads();
  if (a.cost.total != b.cost.total) return a.cost.total < b.cost.total;
  if (a.max_peak != b.max_peak) return a.max_peak < b.max_peak;
  return layout_key(a.layout) < layout_key(b.layout);
}

namespace {
bool closer(const PlanEntry& a, const PlanEntry& b) {  // smaller overflow first
  if (a.max_peak != b.max_peak) return a.max_peak < b.max_peak;
  return plan_entry_less(a, b);
}
}  // namespace

PlanResult merge_plan_results(const std::vector<PlanResult>& parts, const PlanSearchOptions& options) {
  PlanResult out;
  for (const auto& p : parts) {
    out.layouts.insert(out.layouts.end(), p.layouts.begin(), p.layouts.end());
    const auto& c = p.counts;
    auto& o = out.counts;
    o.candidates += c.candidates, o.bases += c.bases, o.evaluated += c.evaluated;
    o.pruned_by_bound += c.pruned_by_bound, o.pruned_monotone += c.pruned_monotone, o.not_visited += c.not_visited;
    o.fitting_bases += c.fitting_bases, o.fitting += c.fitting, o.over_host += c.over_host;
    if (p.closest && (!out.closest || closer(*p.closest, *out.closest))) out.closest = p.closest;
    if (p.closest_bound && (!out.closest_bound || closer(*p.closest_bound, *out.closest_bound)))
      out.closest_bound = p.closest_bound;
  }
  std::sort(out.layouts.begin(), out.layouts.end(), plan_entry_less);
  if (options.min_gpus && !out.layouts.empty()) {
    const std::int64_t w = out.layouts.front().layout.world_size();
    out.layouts.erase(std::find_if(out.layouts.begin(), out.layouts.end(),
                                   [w](const PlanEntry& e) { return e.layout.world_size() != w; }),
                      out.layouts.end());
  }
  if (out.layouts.size() > options.top) out.layouts.resize(options.top);
  if (!out.layouts.empty()) out.closest.reset(), out.closest_bound.reset();
  return out;
}

Planner::Planner(PlanRequest request) : request_(std::move(request)) { build(); }

void Planner::build() {
  PlanRequest& rq = request_;
  const Scenario& in = rq.base;
  if (!in.model)
    throw ConfigError("num_parameters", in.num_parameters ? std::to_string(in.num_parameters->value) : "(none)",
                      "plan needs a layered model (a preset, config.json or the shape flags), not a bare count");
  if (!in.gpu_memory) throw ConfigError("gpu", "(none)", "plan needs a device: give --gpu NAME or --gpu-memory SIZE");
  if (in.training.global_batch_size < 1)
    throw ConfigError("global_batch_size", str(in.training.global_batch_size), "plan needs the global batch size");
  if (rq.gpus_per_node < 1 || rq.gpus_per_node > 1024)
    throw ConfigError("gpus_per_node", str(rq.gpus_per_node), "must be between 1 and 1024");
  if (rq.max_gpus < 1 || rq.max_gpus > (1 << 24))
    throw ConfigError("max_gpus", str(rq.max_gpus), "must be between 1 and 16777216");
  if (rq.num_gpus && (*rq.num_gpus < 1 || *rq.num_gpus > (1 << 24)))
    throw ConfigError("num_gpus", str(*rq.num_gpus), "must be between 1 and 16777216");
  if (rq.max_micro_batch_size < 1 || rq.max_micro_batch_size > (1 << 20))
    throw ConfigError("max_micro_batch_size", str(rq.max_micro_batch_size), "must be between 1 and 1048576");
  if (in.parallel.ulysses_sp != 1)
    throw ConfigError("ulysses_sp", str(in.parallel.ulysses_sp), "is not searched by plan; leave it at 1");
  // Not in the searched space yet (docs/planner.md, limits): refused rather than silently dropped.
  if (in.inference.enabled)
    throw ConfigError("inference", "true", "plan searches training layouts; use `trainmem estimate --inference`");
  if (in.lora.enabled()) throw ConfigError("lora_rank", str(in.lora.rank), "LoRA layouts are not searched by plan");
  // Offload set in the base fixes that knob (as use_distributed_optimizer fixes the ZeRO stage).
  {
    auto fix = [](auto& knob, auto value, auto none, const char* field, const std::string& text) {
      if (value == none) return;
      if (knob && *knob != value) throw ConfigError(field, text, "conflicts with the fixed offload knob");
      knob = value;
    };
    fix(rq.fixed.offload_optimizer, in.offload.optimizer, OffloadDevice::none, "offload_optimizer",
        std::string(offload_device_name(in.offload.optimizer)));
    fix(rq.fixed.offload_param, in.offload.param, OffloadDevice::none, "offload_param",
        std::string(offload_device_name(in.offload.param)));
    fix(rq.fixed.offload_checkpoints, in.offload.activation_checkpoints, false, "offload_activation_checkpoints",
        "true");
  }
  if (rq.host_memory_per_node.value == 0)
    throw ConfigError("host_memory_per_node", "0", "must be a positive size (host RAM per node)");
  // A split given in the base fixes it (both counts; 0 for one of them = Megatron's even share).
  const bool fixed_split = in.parallel.first_stage_layers != 0 || in.parallel.last_stage_layers != 0;
  if (in.parallel.first_stage_layers < 0 || in.parallel.last_stage_layers < 0)
    throw ConfigError("decoder_first_pipeline_num_layers", str(in.parallel.first_stage_layers), "must not be negative");
  if (in.training.use_distributed_optimizer) {
    if (rq.fixed.zero_stage && *rq.fixed.zero_stage != 1)
      throw ConfigError("use_distributed_optimizer", "true",
                        "is ZeRO stage 1 and conflicts with zero_stage " + str(*rq.fixed.zero_stage));
    rq.fixed.zero_stage = 1;
  }
  if (rq.fixed.zero_stage && (*rq.fixed.zero_stage < 0 || *rq.fixed.zero_stage > 3))
    throw ConfigError("zero_stage", str(*rq.fixed.zero_stage), "must be 0, 1, 2 or 3");
  budget_ = plan_budget(*in.gpu_memory, rq.safety_margin_ppm);

  // The base at the trivial layout: applies the defaults (seq_length, dropout, position table) and checks
  // everything that does not depend on the layout.
  Scenario trivial = in;
  trivial.parallel = ParallelConfig{};
  trivial.parallel.make_vocab_size_divisible_by = in.parallel.make_vocab_size_divisible_by;
  trivial.training.micro_batch_size = 1;
  trivial.training.use_distributed_optimizer = false;
  trivial.training.recompute_granularity = RecomputeGranularity::none;
  trivial.training.recompute_num_layers = 0;
  trivial.offload.optimizer = trivial.offload.param = OffloadDevice::none;
  trivial.offload.activation_checkpoints = false;
  resolved_ = resolve_scenario(trivial);
  const ModelSpec& M = *resolved_.scenario.model;
  const TrainingConfig& T = resolved_.scenario.training;
  const std::int64_t L = M.num_layers, s = T.seq_length, gbs = T.global_batch_size;
  act_bytes_ = activation_bytes(*resolved_.recipe);
  const RuntimeConfig& rt = resolved_.scenario.runtime;
  rounding_ = rt.enabled && rt.allocator_rounding;
  fragmentation_ppm_ = rt.enabled ? rt.fragmentation_ppm : 0;

  unsigned grad_bytes = 2;
  double offloaded_bits = 0;  // bits per parameter an offloaded optimizer keeps off the GPU (cost proxy)
  bool fp32_copy = false;
  for (const auto& t : resolved_.recipe->tensors) {
    const bool copy = t.name == kFp32GradCopyName;
    rule_kinds_[static_cast<std::size_t>(num_rules_)] = {t.category, copy};
    rules_[static_cast<std::size_t>(num_rules_++)] = {t.zero_class, bits_per_element(t.dtype), false};
    if (t.category == MemoryCategory::grads && t.zero_class == ZeroStateClass::gradients)
      grad_bytes = bits_per_element(t.dtype) / 8;
    if (copy || t.category == MemoryCategory::master_params) offloaded_bits += bits_per_element(t.dtype);
    fp32_copy |= copy;
  }
  for (int i = 0; i < resolved_.optimizer->num_states; ++i) {
    if (resolved_.optimizer->blockwise_8bit) {
      rule_kinds_[static_cast<std::size_t>(num_rules_)] = {MemoryCategory::optimizer_states, false};
      rules_[static_cast<std::size_t>(num_rules_++)] = {ZeroStateClass::optimizer, 8, false};
      rule_kinds_[static_cast<std::size_t>(num_rules_)] = {MemoryCategory::optimizer_states, false};
      rules_[static_cast<std::size_t>(num_rules_++)] = {ZeroStateClass::optimizer, 32, true};
      offloaded_bits += 8;
    } else {
      rule_kinds_[static_cast<std::size_t>(num_rules_)] = {MemoryCategory::optimizer_states, false};
      rules_[static_cast<std::size_t>(num_rules_++)] = {ZeroStateClass::optimizer,
                                                        bits_per_element(resolved_.recipe->moment_dtype), false};
      offloaded_bits += bits_per_element(resolved_.recipe->moment_dtype);
    }
  }
  if (!fp32_copy) offloaded_bits += 32;  // offload_memory() adds an fp32 gradient partition
  cost_model_.emplace(M, T, act_bytes_, grad_bytes, rq.gpus_per_node, CostRates{}, offloaded_bits / 8.0);

  // Offload choices: a fixed knob (checked against the fixed ZeRO stage / recompute with estimate()'s rules),
  // else the tiers up to offload_search. Per ZeRO stage, the (optimizer, parameter) pairs check_offload() allows.
  {
    const auto& F = rq.fixed;
    const OffloadDevice tier = rq.offload_search;
    const bool full_fixed = F.recompute_granularity && *F.recompute_granularity == RecomputeGranularity::full;
    if (F.offload_optimizer || F.offload_param || F.offload_checkpoints) {
      OffloadConfig c;
      c.optimizer = F.offload_optimizer.value_or(OffloadDevice::none);
      c.param = F.offload_param.value_or(OffloadDevice::none);
      c.activation_checkpoints = F.offload_checkpoints.value_or(false);
      if (F.zero_stage) {
        OffloadConfig no_ckpt = c;
        no_ckpt.activation_checkpoints = false;
        check_offload(no_ckpt, *F.zero_stage, true);
      }
      if (c.activation_checkpoints && F.recompute_granularity) check_offload(c, 3, full_fixed);
    }
    auto devices = [&](const std::optional<OffloadDevice>& fixed) {
      std::vector<OffloadDevice> d;
      if (fixed) return std::vector<OffloadDevice>{*fixed};
      d.push_back(OffloadDevice::none);
      if (tier != OffloadDevice::none) d.push_back(OffloadDevice::cpu);
      if (tier == OffloadDevice::nvme) d.push_back(OffloadDevice::nvme);
      return d;
    };
    const auto opts = devices(F.offload_optimizer), params = devices(F.offload_param);
    for (int z = 0; z <= 3; ++z) {
      int best = -1;
      for (OffloadDevice o : opts)
        for (OffloadDevice p : params) {
          OffloadConfig c;
          c.optimizer = o, c.param = p;
          try {
            check_offload(c, z, true);
          } catch (const ConfigError&) {
            continue;
          }
          const StateOffload so{o, p};
          const std::uint8_t mask = removed_mask(z, so);
          const int i = num_state_off_[static_cast<std::size_t>(z)]++;
          state_off_[static_cast<std::size_t>(z)][static_cast<std::size_t>(i)] = so;
          auto& bm = bound_mask_[static_cast<std::size_t>(z)];
          if (best < 0 || (mask | bm) == mask) best = i;
          bm = static_cast<std::uint8_t>(bm | mask);
        }
      bound_choice_[static_cast<std::size_t>(z)] = std::max(best, 0);
    }
    if (F.offload_checkpoints) {
      ckpt_full_[static_cast<std::size_t>(num_ckpt_full_++)] = *F.offload_checkpoints;
      ckpt_other_ = !*F.offload_checkpoints;
    } else {
      ckpt_full_[static_cast<std::size_t>(num_ckpt_full_++)] = false;
      if (tier != OffloadDevice::none) ckpt_full_[static_cast<std::size_t>(num_ckpt_full_++)] = true;
    }
    offload_in_space_ =
        tier != OffloadDevice::none || F.offload_optimizer.value_or(OffloadDevice::none) != OffloadDevice::none ||
        F.offload_param.value_or(OffloadDevice::none) != OffloadDevice::none || F.offload_checkpoints.value_or(false);
  }
  const bool ckpt_offload = ckpt_full_[static_cast<std::size_t>(num_ckpt_full_ - 1)];

  // Knob ranges. tp stays inside a node (divides gpus_per_node) unless fixed.
  const auto& F = rq.fixed;
  const std::vector<std::int64_t> tps =
      knob("tensor_model_parallel_size", F.tp, divisors(rq.gpus_per_node), [&](std::int64_t v) -> std::string {
        if (M.num_attention_heads % v != 0)
          return "num_attention_heads (" + str(M.num_attention_heads) + ") is not divisible by it";
        if (M.query_groups() % v != 0) return "num_query_groups (" + str(M.query_groups()) + ") is not divisible by it";
        if (!M.is_moe() && M.ffn() % v != 0) return "ffn_hidden_size (" + str(M.ffn()) + ") is not divisible by it";
        return "";
      });
  const std::vector<std::int64_t> eps =
      knob("expert_model_parallel_size", F.ep, M.is_moe() ? divisors(M.num_experts) : std::vector<std::int64_t>{1},
           [&](std::int64_t v) -> std::string {
             if (!M.is_moe() && v != 1) return "the model has no experts (num_experts = 0)";
             if (M.is_moe() && M.num_experts % v != 0)
               return "num_experts (" + str(M.num_experts) + ") is not divisible by it";
             return "";
           });
  const bool flash = T.attention == AttentionKernel::flash;
  const std::vector<std::int64_t> cps =
      knob("context_parallel_size", F.cp, powers_of_two_up_to(rq.max_cp), [&](std::int64_t v) -> std::string {
        if (v == 1) return "";
        if (!flash) return "context parallelism needs attention flash";
        if (s % (2 * v) != 0) return "seq_length (" + str(s) + ") is not divisible by 2 * cp";
        return "";
      });
  std::vector<std::int64_t> pp_range = divisors(L);
  if (rq.uneven_splits || fixed_split) {
    pp_range.clear();
    for (std::int64_t v = fixed_split ? 2 : 1; v <= L; ++v) pp_range.push_back(v);
  }
  const std::vector<std::int64_t> pps =
      knob("pipeline_model_parallel_size", F.pp, pp_range, [&](std::int64_t v) -> std::string {
        if (v > L) return "exceeds num_layers " + str(L);
        if (fixed_split && v < 2) return "an uneven split needs pipeline_model_parallel_size >= 2";
        if (!rq.uneven_splits && !fixed_split && L % v != 0)
          return "num_layers (" + str(L) + ") is not divisible by it (uneven splits: --uneven-pp)";
        return "";
      });
  // Pipeline splits of pp stages: (first, last) layer counts, {0, 0} = even (pp must divide L). Uneven ones
  // give both counts explicitly; the middle stages share the rest evenly.
  struct Split {
    std::int64_t first = 0, last = 0, n_first = 0, n_mid = 0, n_last = 0;
  };
  auto splits_of = [&](std::int64_t pp) {
    std::vector<Split> out;
    if (fixed_split) {
      const std::int64_t f0 = in.parallel.first_stage_layers, l0 = in.parallel.last_stage_layers;
      std::int64_t rest = L, other = pp;
      if (f0 != 0) rest -= f0, --other;
      if (l0 != 0) rest -= l0, --other;
      if (rest < other || (other == 0 && rest != 0) || (other > 0 && rest % other != 0)) return out;
      const std::int64_t mid = other > 0 ? rest / other : 0;
      if (mid == 0 && other > 0) return out;
      out.push_back({f0, l0, f0 != 0 ? f0 : mid, mid, l0 != 0 ? l0 : mid});
      return out;
    }
    if (L % pp == 0) out.push_back({0, 0, L / pp, L / pp, L / pp});
    if (!rq.uneven_splits || pp < 2) return out;
    // Edge stages lighter than a middle one by at most kShift layers (the usual reason to go uneven: the
    // first stage keeps pp microbatches in flight, the last one the logits).
    constexpr std::int64_t kShift = 4;
    if (pp == 2) {
      for (std::int64_t f = std::max<std::int64_t>(1, L / 2 - kShift); f <= L - 1 && f <= (L + 1) / 2 + kShift; ++f)
        if (f != L - f) out.push_back({f, L - f, f, 0, L - f});
      return out;
    }
    for (std::int64_t mid = 1; mid * (pp - 2) <= L - 2; ++mid) {
      const std::int64_t edges = L - mid * (pp - 2);
      for (std::int64_t f = std::max<std::int64_t>(1, mid - kShift); f <= mid; ++f) {
        const std::int64_t l = edges - f;
        if (l < std::max<std::int64_t>(1, mid - kShift) || l > mid || (f == mid && l == mid)) continue;
        out.push_back({f, l, f, mid, l});
      }
    }
    return out;
  };
  const std::vector<std::int64_t> mbss =
      knob("micro_batch_size", F.micro_batch_size, powers_of_two_up_to(rq.max_micro_batch_size),
           [&](std::int64_t v) -> std::string {
             if (gbs % v != 0) return "global_batch_size (" + str(gbs) + ") is not divisible by it";
             return "";
           });
  if (F.vpp && *F.vpp < 1) throw ConfigError("virtual_pipeline_model_parallel_size", str(*F.vpp), "must be at least 1");
  if (F.dp && *F.dp < 1) throw ConfigError("data_parallel_size", str(*F.dp), "must be at least 1");
  if (F.etp && *F.etp < 1) throw ConfigError("expert_tensor_parallel_size", str(*F.etp), "must be at least 1");
  if (F.recompute_num_layers && *F.recompute_num_layers < 0)
    throw ConfigError("recompute_num_layers", str(*F.recompute_num_layers), "must not be negative");
  const bool gpipe = T.pipeline_schedule == PipelineScheduleOption::gpipe;

  std::map<std::int64_t, std::vector<std::int64_t>> dp_of_mbs;
  for (std::int64_t mbs : mbss) dp_of_mbs[mbs] = F.dp ? std::vector<std::int64_t>{*F.dp} : divisors(gbs / mbs);

  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>, std::uint32_t> layer_ix;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>,
           std::uint32_t>
      shard_ix;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, std::uint32_t> inflight_ix;
  std::map<std::tuple<bool, bool, bool, std::int64_t, bool>, std::uint32_t> options_ix;

  auto make_layer = [&](std::int64_t tp, std::int64_t etp, std::int64_t ep, std::int64_t cp, std::int64_t mbs) {
    const auto key = std::make_tuple(tp, etp, ep, cp, mbs);
    if (auto it = layer_ix.find(key); it != layer_ix.end()) return it->second;
    const auto index = static_cast<std::uint32_t>(layers_.size());
    for (bool sp : {false, true}) {
      LayerPiece piece;
      ParallelConfig p;
      p.tp = tp, p.etp = etp, p.ep = ep, p.cp = cp, p.sequence_parallel = sp;
      p.make_vocab_size_divisible_by = in.parallel.make_vocab_size_divisible_by;
      TrainingConfig t = T;
      t.micro_batch_size = mbs;
      // Sequence parallelism with tp 1 changes nothing (estimate() treats it as off).
      piece.valid = !sp || tp == 1 || (s % tp == 0 && (s / cp) % tp == 0);
      if (piece.valid) {
        piece.layer = layer_activations(M, p, t, act_bytes_);
        piece.layer.ops.clear();
        piece.first_saved = first_stage_extras(M, p, t, act_bytes_).saved_bytes;
        const StageExtras last =
            last_stage_extras(M, p, t, act_bytes_, padded_vocab_size(M.vocab_size, p.make_vocab_size_divisible_by, tp));
        piece.last_saved = last.saved_bytes;
        piece.loss_transient = last.transient_bytes;
      }
      layers_.push_back(std::move(piece));
    }
    layer_ix.emplace(key, index);
    return index;
  };
  auto make_shard = [&](std::int64_t tp, std::int64_t etp, std::int64_t ep, std::int64_t pp, const Split& split) {
    const auto key = std::make_tuple(tp, etp, ep, pp, split.first, split.last);
    if (auto it = shard_ix.find(key); it != shard_ix.end()) return it->second;
    ParallelConfig p;
    p.tp = tp, p.etp = etp, p.ep = ep, p.pp = pp;
    p.make_vocab_size_divisible_by = in.parallel.make_vocab_size_divisible_by;
    ShardPiece piece;
    for (int k = 0; k < 3; ++k) {
      StageLayers st;
      st.num_layers = k == 0 ? split.n_first : k == 1 ? split.n_mid : split.n_last;
      st.chunks.push_back({0, 0, st.num_layers});
      st.has_embedding = k == 0;
      st.has_output_layer = k == 2 || (k == 0 && pp == 1);
      const RankParamShard shard = rank_param_shard(M, p, st);
      piece.dense[k] = shard.dense;
      piece.expert[k] = shard.expert;
    }
    p.etp = etp;
    piece.largest =
        largest_parameter_elements(M, p, padded_vocab_size(M.vocab_size, p.make_vocab_size_divisible_by, tp));
    const auto index = static_cast<std::uint32_t>(shards_.size());
    shards_.push_back(piece);
    shard_ix.emplace(key, index);
    return index;
  };
  auto make_inflight = [&](std::int64_t pp, std::int64_t vpp, std::int64_t m) {
    const auto key = std::make_tuple(pp, vpp, m);
    if (auto it = inflight_ix.find(key); it != inflight_ix.end()) return it->second;
    InflightPiece piece;
    const InflightMicrobatches first = inflight_microbatches(T.pipeline_schedule, pp, vpp, 0, m);
    piece.first_cf = first.chunk_forwards;
    piece.first_extra = first.per_chunk.front();
    if (pp == 1) {
      piece.last_cf = first.chunk_forwards;
      piece.last_extra = first.per_chunk.back();
    } else {
      const InflightMicrobatches last = inflight_microbatches(T.pipeline_schedule, pp, vpp, pp - 1, m);
      piece.last_cf = last.chunk_forwards;
      piece.last_extra = last.per_chunk.back();
    }
    // Middle stages hold the same parameters; the schedules' in-flight counts fall with the stage index
    // (warm-up (pp - rank - 1), interleaved 2 (pp - rank - 1) + (vpp - 1) pp), so stage 1 is the fullest.
    // tests/sim/planner/planner_test.cpp checks this against estimate() over every stage.
    if (pp >= 3) piece.mid_cf = inflight_microbatches(T.pipeline_schedule, pp, vpp, 1, m).chunk_forwards;
    if (ckpt_offload) {  // the per-node host total adds every stage's offloaded checkpoints
      piece.stage_cf = static_cast<std::uint32_t>(stage_cf_.size());
      for (std::int64_t st = 0; st < pp; ++st)
        stage_cf_.push_back(inflight_microbatches(T.pipeline_schedule, pp, vpp, st, m).chunk_forwards);
    }
    const auto index = static_cast<std::uint32_t>(inflight_.size());
    inflight_.push_back(piece);
    inflight_ix.emplace(key, index);
    return index;
  };
  // n: the smallest chunk of the layout; uneven: stages differ, so block N = n is not uniform recompute.
  auto make_options = [&](std::int64_t tp, bool sp_ok, std::int64_t pp, std::int64_t n, bool uneven) {
    const auto key = std::make_tuple(tp > 1, sp_ok, pp == 1, n, uneven);
    if (auto it = options_ix.find(key); it != options_ix.end()) return it->second;
    Options o;
    // Sequence parallel first: same communication volume as plain TP (Korthikanti Sec. 4.2.2), less memory.
    if (F.sequence_parallel) {
      if (!*F.sequence_parallel || tp == 1 || sp_ok) o.sp[static_cast<std::size_t>(o.num_sp++)] = *F.sequence_parallel;
    } else {
      if (tp > 1 && sp_ok) o.sp[static_cast<std::size_t>(o.num_sp++)] = true;
      o.sp[static_cast<std::size_t>(o.num_sp++)] = false;
    }
    for (int z = 0; z <= 3; ++z) {
      if (F.zero_stage && z != *F.zero_stage) continue;
      if (z >= 2 && pp > 1) continue;  // DeepSpeed refuses ZeRO-2/3 with pipeline parallelism
      if (num_state_off_[static_cast<std::size_t>(z)] == 0) continue;  // a fixed offload knob rules it out
      o.zero[static_cast<std::size_t>(o.num_zero++)] = z;
    }
    const auto g = F.recompute_granularity;
    const auto method = F.recompute_method;
    const auto k = F.recompute_num_layers;
    // Checkpoint offload fixed on: full recompute only (check_offload()).
    if ((!g || *g == RecomputeGranularity::none) && ckpt_other_)
      o.simple.push_back({RecomputeGranularity::none, RecomputeMethod::uniform, 0});
    if ((!g || *g == RecomputeGranularity::selective) && ckpt_other_)
      o.simple.push_back({RecomputeGranularity::selective, RecomputeMethod::uniform, 0});
    if (!g || *g == RecomputeGranularity::full) {
      // Uniform groups of one layer (every layer checkpointed), or a fixed group size.
      if (!method || *method == RecomputeMethod::uniform) {
        const std::int64_t group = k ? *k : 1;
        if (group <= n) o.simple.push_back({RecomputeGranularity::full, RecomputeMethod::uniform, group});
      }
      // Block: the first N layers of each chunk (N = n is uniform groups of one, memory for memory).
      if (!method || *method == RecomputeMethod::block) {
        if (k) {
          if (*k <= n) o.block_lo = o.block_hi = *k;
        } else {
          o.block_lo = 1;
          o.block_hi = method || uneven ? n : n - 1;
        }
      }
    }
    std::uint64_t per_state = 0;  // candidates per (sp, zero, state offload): recompute x checkpoint offload
    for (const auto& rc : o.simple)
      per_state += rc.granularity == RecomputeGranularity::full ? static_cast<std::uint64_t>(num_ckpt_full_) : 1;
    if (o.block_lo <= o.block_hi)
      per_state += static_cast<std::uint64_t>(o.block_hi - o.block_lo + 1) * static_cast<std::uint64_t>(num_ckpt_full_);
    for (int zi = 0; zi < o.num_zero; ++zi)
      o.count +=
          static_cast<std::uint64_t>(o.num_sp) *
          static_cast<std::uint64_t>(num_state_off_[static_cast<std::size_t>(o.zero[static_cast<std::size_t>(zi)])]) *
          per_state;
    const auto index = static_cast<std::uint32_t>(options_.size());
    options_.push_back(std::move(o));
    options_ix.emplace(key, index);
    return index;
  };

  const std::int64_t world_limit = rq.num_gpus ? *rq.num_gpus : rq.max_gpus;
  auto world_ok = [&](std::int64_t w) {
    if (rq.num_gpus) return w == *rq.num_gpus;
    if (w > rq.max_gpus) return false;
    return !rq.whole_nodes || w % rq.gpus_per_node == 0 || rq.gpus_per_node % w == 0;
  };
  for (std::int64_t tp : tps) {
    const std::int64_t etp = F.etp ? *F.etp : tp;
    if (M.is_moe() && M.expert_ffn() % etp != 0) {
      if (F.etp)
        throw ConfigError("expert_tensor_parallel_size", str(etp),
                          "moe_ffn_hidden_size (" + str(M.expert_ffn()) + ") is not divisible by it");
      continue;
    }
    for (std::int64_t ep : eps) {
      for (std::int64_t cp : cps) {
        if (tp * cp > world_limit) continue;
        const bool sp_ok = tp > 1 && s % tp == 0 && (s / cp) % tp == 0;
        for (std::int64_t pp : pps) {
          if (tp * cp * pp > world_limit) continue;
          const std::vector<Split> splits = splits_of(pp);
          if (splits.empty()) continue;
          auto vpp_reason = [&](std::int64_t v) -> std::string {
            if (v == 1) return "";
            if (pp < 2) return "needs pipeline_model_parallel_size >= 2";
            if (fixed_split) return "cannot be combined with an uneven first/last stage";
            if (L % pp != 0) return "needs an even split (num_layers divisible by pp)";
            if (gpipe) return "the gpipe schedule has no virtual stages";
            if ((L / pp) % v != 0) return "num_layers / pp (" + str(L / pp) + ") is not divisible by it";
            return "";
          };
          std::vector<std::int64_t> vpps;
          if (F.vpp) {
            const std::string why = vpp_reason(*F.vpp);
            if (why.empty())
              vpps.push_back(*F.vpp);
            else if (F.pp || gpipe)
              throw ConfigError("virtual_pipeline_model_parallel_size", str(*F.vpp), why);
          } else {
            for (std::int64_t v : L % pp == 0 ? divisors(L / pp) : std::vector<std::int64_t>{1})
              if (vpp_reason(v).empty()) vpps.push_back(v);
          }
          for (std::int64_t vpp : vpps)
            for (const Split& split : splits) {
              const bool uneven = split.first != 0 || split.last != 0;
              if (uneven && vpp != 1) continue;
              const std::int64_t n = uneven ? split.n_mid : L / (pp * vpp);
              const std::int64_t n_first = uneven ? split.n_first : n, n_last = uneven ? split.n_last : n;
              std::int64_t n_min = std::min(n_first, n_last);
              if (pp >= 3) n_min = std::min(n_min, n);
              for (std::int64_t mbs : mbss) {
                for (std::int64_t dp : dp_of_mbs[mbs]) {
                  if (gbs % (mbs * dp) != 0) continue;
                  const std::int64_t world = tp * cp * pp * dp;
                  if (!world_ok(world)) continue;
                  const std::int64_t m = gbs / (mbs * dp);
                  if (vpp > 1 && m % pp != 0) continue;  // the interleaved schedule needs m % pp == 0
                  if ((tp * cp * dp) % (etp * ep) != 0) continue;
                  Base b;
                  b.layout.tp = tp, b.layout.pp = pp, b.layout.dp = dp, b.layout.cp = cp, b.layout.ep = ep;
                  b.layout.etp = F.etp ? *F.etp : 0;
                  b.layout.vpp = vpp, b.layout.micro_batch_size = mbs;
                  b.layout.first_stage_layers = split.first, b.layout.last_stage_layers = split.last;
                  b.m = m;
                  b.n = n;
                  b.n_first = n_first, b.n_last = n_last;
                  b.options = make_options(tp, sp_ok, pp, n_min, uneven);
                  const Options& o = options_[b.options];
                  if (o.num_sp == 0 || o.num_zero == 0 || o.count == 0) continue;
                  b.layer = make_layer(tp, etp, ep, cp, mbs);
                  b.shard = make_shard(tp, etp, ep, pp, split);
                  b.inflight = make_inflight(pp, vpp, m);
                  b.runtime_fixed = runtime_fixed(b.layout);
                  bases_.push_back(b);
                }
              }
            }
        }
      }
    }
  }
  std::stable_sort(bases_.begin(), bases_.end(),
                   [](const Base& a, const Base& b) { return a.layout.world_size() < b.layout.world_size(); });
}

std::uint64_t Planner::candidate_count() const {
  std::uint64_t n = 0;
  for (const auto& b : bases_) n += options_[b.options].count;
  return n;
}

Bytes Planner::states(ElementCount dense, ElementCount expert, int zero_stage, std::uint64_t ways, std::uint64_t edp,
                      std::uint8_t removed) const {
  return removed == 0 ? states_impl<false>(dense, expert, zero_stage, ways, edp, 0)
                      : states_impl<true>(dense, expert, zero_stage, ways, edp, removed);
}

template <bool kMask>
Bytes Planner::states_impl(ElementCount dense, ElementCount expert, int zero_stage, std::uint64_t ways,
                           std::uint64_t edp, std::uint8_t removed) const {
  const std::uint64_t d_sh = detail::ceil_div(dense.value, ways);
  const std::uint64_t x_sh = detail::ceil_div(expert.value, edp);
  Bytes sum;
  for (int i = 0; i < num_rules_; ++i) {
    // Offloaded (or, ZeRO-2 gradients under optimizer offload, never allocated): neither bytes nor a buffer.
    if constexpr (kMask)
      if ((removed >> i) & 1U) continue;
    const StateRule& r = rules_[static_cast<std::size_t>(i)];
    const bool sharded = zero_shards(zero_stage, r.cls);
    const Bytes term = bytes_for(sharded ? d_sh : dense.value, r.bits, r.absmax) +
                       bytes_for(sharded ? x_sh : expert.value, r.bits, r.absmax);
    sum += term;
    // Each model-state tensor class is one flat buffer: the caching allocator rounds it to whole 2 MiB
    // segments (sim/accounting/runtime_memory.hpp, as finish_rank_class() does for estimate()).
    if (rounding_ && term.value > 0) sum += round_up_waste(term, kSegmentRounding);
  }
  return sum;
}

// Which rules offload_memory() takes off the GPU: under optimizer offload the fp32 master, the optimizer states,
// the fp32 gradient copy and (ZeRO-2: streamed to the host, ZeRO-3: moved there) the gradients; under parameter
// offload the parameters.
std::uint8_t Planner::removed_mask(int zero_stage, const StateOffload& so) const {
  std::uint8_t mask = 0;
  for (int i = 0; i < num_rules_; ++i) {
    const RuleKind& r = rule_kinds_[static_cast<std::size_t>(i)];
    bool off = false;
    if (so.optimizer != OffloadDevice::none)
      off = r.category == MemoryCategory::master_params || r.category == MemoryCategory::optimizer_states ||
            r.fp32_grad_copy || (r.category == MemoryCategory::grads && zero_stage >= 2);
    if (so.param != OffloadDevice::none && r.category == MemoryCategory::params) off = true;
    if (off) mask = static_cast<std::uint8_t>(mask | (1U << i));
  }
  return mask;
}

// offload_memory()'s host and NVMe bytes of the model states of stage class k, term by term in its order.
NodeOffload Planner::state_offload(const ShardPiece& S, int k, int zero_stage, std::uint64_t ways, std::uint64_t edp,
                                   std::int64_t m, const StateOffload& so) const {
  NodeOffload out;
  const OffloadConfig& cfg = resolved_.scenario.offload;  // buffer counts and sizes (the knobs are cleared)
  const std::uint64_t d = S.dense[k].value, x = S.expert[k].value;
  const std::uint64_t d_sh = detail::ceil_div(d, ways), x_sh = detail::ceil_div(x, edp);
  const bool nvme_opt = so.optimizer == OffloadDevice::nvme;
  std::uint64_t shard = 0;
  bool has_fp32_grad = false;
  for (int i = 0; i < num_rules_; ++i) {
    const StateRule& rule = rules_[static_cast<std::size_t>(i)];
    const RuleKind& r = rule_kinds_[static_cast<std::size_t>(i)];
    const bool sharded = zero_shards(zero_stage, rule.cls);
    const std::uint64_t de = sharded ? d_sh : d, xe = sharded ? x_sh : x;
    const Bytes bytes = bytes_for(de, rule.bits, rule.absmax) + bytes_for(xe, rule.bits, rule.absmax);
    const std::uint64_t elements = de + xe;
    if (so.optimizer != OffloadDevice::none) {
      const bool opt_state =
          r.category == MemoryCategory::master_params || r.category == MemoryCategory::optimizer_states;
      if (opt_state && shard == 0) shard = elements;
      if (opt_state || r.fp32_grad_copy) {
        (nvme_opt ? out.nvme : out.host) += bytes;
        has_fp32_grad |= r.fp32_grad_copy;
      } else if (r.category == MemoryCategory::grads && zero_stage == 3) {
        out.host += bytes;  // grad_partitions_flat_buffer on the host
      }
    }
    if (so.param != OffloadDevice::none && r.category == MemoryCategory::params) {
      if (so.param == OffloadDevice::nvme) {
        out.nvme += bytes;
        const std::uint64_t dtype = elements == 0 ? 2 : bytes.value / elements;
        out.host += Bytes(cfg.param_buffer_size) * dtype * static_cast<std::uint64_t>(cfg.param_buffer_count);
      } else {
        out.host += bytes;
      }
    }
  }
  if (so.optimizer != OffloadDevice::none) {
    if (!has_fp32_grad && shard > 0) (nvme_opt ? out.nvme : out.host) += Bytes(shard) * 4;
    if (zero_stage <= 2) {
      out.host += Bytes(S.largest) * 2;
      if (m > 1) out.host += Bytes(shard) * 2;
    }
    if (nvme_opt)
      out.host += Bytes(std::min<std::uint64_t>(resolved_.scenario.zero_runtime.sub_group_size, shard)) * 4 *
                  static_cast<std::uint64_t>(cfg.optimizer_buffer_count);
  }
  return out;
}

// Non-model bytes of one stage (estimate()'s `runtime`, sim/accounting/runtime_memory.hpp): the layout's fixed part
// (CUDA context, NCCL communicators of its groups, workspaces; precomputed per base) plus the fragmentation
// reserve of the stage's dynamic bytes (activations + temporaries). The allocator rounding of the model-state
// buffers is added in states(). `buffers` are 0 in estimate() (simulate adds them) and offload is refused.
Bytes Planner::non_model_bytes(const Base& b, Bytes dynamic) const {
  return b.runtime_fixed + (fragmentation_ppm_ > 0 ? parts_per_million(dynamic, fragmentation_ppm_) : Bytes(0));
}

Bytes Planner::runtime_fixed(const PlanLayout& l) const {
  const RuntimeConfig& rt = resolved_.scenario.runtime;
  if (!rt.enabled) return Bytes(0);
  const std::int64_t etp = l.etp == 0 ? l.tp : l.etp;
  const auto key = std::make_tuple(l.tp, l.cp, l.pp, l.dp, l.ep, etp);
  if (const auto it = nccl_cache_.find(key); it != nccl_cache_.end()) return it->second;
  ParallelConfig p;
  p.tp = l.tp, p.cp = l.cp, p.pp = l.pp, p.dp = l.dp, p.ep = l.ep, p.etp = etp;
  p.world_size = l.world_size();
  // The same parts runtime_memory() gives estimate(), without the per-stage rounding and fragmentation.
  const RuntimeMemory r = runtime_memory(p, resolved_.scenario.model->is_moe(), rt, {}, Bytes(0));
  const Bytes fixed = r.cuda_context + r.nccl + r.workspaces;
  nccl_cache_.emplace(key, fixed);
  return fixed;
}

Bytes Planner::lower_bound(const Base& b, int zero_stage) const {
  const ShardPiece& S = shards_[b.shard];
  const auto ways = static_cast<std::uint64_t>(b.layout.dp * b.layout.cp);
  const std::int64_t etp = b.layout.etp == 0 ? b.layout.tp : b.layout.etp;
  const auto edp = static_cast<std::uint64_t>(b.layout.tp * b.layout.cp * b.layout.dp / (etp * b.layout.ep));
  // The most the stage's offload choices remove (states only: checkpoint offload moves activations).
  const std::uint8_t removed = bound_mask_[static_cast<std::size_t>(zero_stage)];
  Bytes worst;
  for (int k = 0; k < (b.layout.pp == 1 ? 1 : 3); ++k) {
    if (k == 1 && b.layout.pp < 3) continue;
    worst = std::max(worst, states(S.dense[k], S.expert[k], zero_stage, ways, edp, removed));
  }
  return worst + non_model_bytes(b, Bytes(0));
}

Bytes Planner::evaluate(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                        const OffloadChoice& off) const {
  // Without offload the same arithmetic as before offload was a knob (no mask, no checkpoint term); the offload
  // variant stays out of line so that the common path inlines as it did.
  if (off.any()) [[unlikely]]
    return evaluate_offload(bi, sp, zero_stage, rc, off);
  return evaluate_impl<false>(bi, sp, zero_stage, rc, off);
}

[[gnu::noinline]] Bytes Planner::evaluate_offload(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                                                  const OffloadChoice& off) const {
  return evaluate_impl<true>(bi, sp, zero_stage, rc, off);
}

template <bool kOffload>
Bytes Planner::evaluate_impl(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                             const OffloadChoice& off) const {
  const Base& b = bases_[bi];
  const LayerPiece& A = layers_[b.layer + (sp ? 1U : 0U)];
  const ShardPiece& S = shards_[b.shard];
  const InflightPiece& I = inflight_[b.inflight];
  const ChunkActivations ch = chunk_activations(A.layer, b.n_first, rc.granularity, rc.method, rc.num_layers);
  const auto ways = static_cast<std::uint64_t>(b.layout.dp * b.layout.cp);
  const std::int64_t etp = b.layout.etp == 0 ? b.layout.tp : b.layout.etp;
  const auto edp = static_cast<std::uint64_t>(b.layout.tp * b.layout.cp * b.layout.dp / (etp * b.layout.ep));
  const Bytes transient = ch.recompute_transient + A.layer.cp_exchange_bytes;
  const bool uneven = b.layout.first_stage_layers != 0 || b.layout.last_stage_layers != 0;
  auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
  std::uint8_t removed = 0;
  if constexpr (kOffload) removed = removed_mask(zero_stage, {off.optimizer, off.param});
  // A stage's peak: model states + dynamic bytes (activations + temporaries) + its runtime.
  auto stage = [&](int k, Bytes dynamic) {
    if constexpr (kOffload)
      return states(S.dense[k], S.expert[k], zero_stage, ways, edp, removed) + dynamic + non_model_bytes(b, dynamic);
    else
      return states_impl<false>(S.dense[k], S.expert[k], zero_stage, ways, edp, 0) + dynamic +
             non_model_bytes(b, dynamic);
  };
  // The chunk's bytes of all in-flight forwards; under checkpoint offload its checkpoints live in host memory.
  auto kept = [&](const ChunkActivations& c, std::int64_t cf) {
    if constexpr (kOffload)
      if (off.checkpoints) return c.chunk_bytes * u(cf) - A.layer.checkpoint * u(c.checkpoints_per_chunk) * u(cf);
    return c.chunk_bytes * u(cf);
  };
  if (b.layout.pp == 1) {
    return stage(0, kept(ch, I.first_cf) + A.first_saved * u(I.first_extra) + A.last_saved * u(I.last_extra) +
                        std::max(transient, A.loss_transient));
  }
  const Bytes first = stage(0, kept(ch, I.first_cf) + A.first_saved * u(I.first_extra) + transient);
  // Uneven split: the last and middle stages have their own chunk sizes.
  const ChunkActivations ch_last =
      uneven ? chunk_activations(A.layer, b.n_last, rc.granularity, rc.method, rc.num_layers) : ch;
  const Bytes transient_last = ch_last.recompute_transient + A.layer.cp_exchange_bytes;
  const Bytes last =
      stage(2, kept(ch_last, I.last_cf) + A.last_saved * u(I.last_extra) + std::max(transient_last, A.loss_transient));
  Bytes worst = std::max(first, last);
  if (b.layout.pp >= 3) {
    const ChunkActivations ch_mid =
        uneven ? chunk_activations(A.layer, b.n, rc.granularity, rc.method, rc.num_layers) : ch;
    worst = std::max(worst, stage(1, kept(ch_mid, I.mid_cf) + ch_mid.recompute_transient + A.layer.cp_exchange_bytes));
  }
  return worst;
}

NodeOffload Planner::node_offload(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                                  const OffloadChoice& off) const {
  if (!off.any()) return {};
  const Base& b = bases_[bi];
  const LayerPiece& A = layers_[b.layer + (sp ? 1U : 0U)];
  const ShardPiece& S = shards_[b.shard];
  const InflightPiece& I = inflight_[b.inflight];
  const std::int64_t pp = b.layout.pp;
  const auto ways = static_cast<std::uint64_t>(b.layout.dp * b.layout.cp);
  const std::int64_t etp = b.layout.etp == 0 ? b.layout.tp : b.layout.etp;
  const auto edp = static_cast<std::uint64_t>(b.layout.tp * b.layout.cp * b.layout.dp / (etp * b.layout.ep));
  // Per stage class (first, middle, last): offloaded model states, and checkpoint bytes per in-flight forward.
  NodeOffload cls[3];
  Bytes ckpt[3];
  const std::int64_t n_of[3] = {b.n_first, b.n, b.n_last};
  for (int k = 0; k < 3; ++k) {
    if ((k == 1 && pp < 3) || (k == 2 && pp < 2)) continue;
    cls[k] = state_offload(S, k, zero_stage, ways, edp, b.m, {off.optimizer, off.param});
    if (off.checkpoints)
      ckpt[k] =
          A.layer.checkpoint *
          static_cast<std::uint64_t>(
              chunk_activations(A.layer, n_of[k], rc.granularity, rc.method, rc.num_layers).checkpoints_per_chunk);
  }
  const std::int64_t G = request_.gpus_per_node, R = b.layout.tp * b.layout.cp * b.layout.dp, W = R * pp;
  auto cf = [&](std::int64_t st) {
    if (!off.checkpoints) return std::uint64_t{0};
    return static_cast<std::uint64_t>(stage_cf_[I.stage_cf + static_cast<std::size_t>(st)]);
  };
  auto class_of = [&](std::int64_t st) { return st == 0 ? 0 : st == pp - 1 ? 2 : 1; };
  auto host_of = [&](std::int64_t st) { return cls[class_of(st)].host + ckpt[class_of(st)] * cf(st); };
  NodeOffload out;
  if (R % G == 0) {  // every node inside one stage: G ranks of it
    for (std::int64_t st = 0; st < pp; ++st) {
      out.host = std::max(out.host, host_of(st) * static_cast<std::uint64_t>(G));
      out.nvme = std::max(out.nvme, cls[class_of(st)].nvme * static_cast<std::uint64_t>(G));
    }
    return out;
  }
  // Nodes of G consecutive ranks (the last may be partial) over stages of R consecutive ranks.
  for (std::int64_t a = 0; a < W; a += G) {
    const std::int64_t e = std::min(W, a + G);
    NodeOffload node;
    for (std::int64_t st = a / R; st <= (e - 1) / R; ++st) {
      const auto ranks = static_cast<std::uint64_t>(std::min(e, (st + 1) * R) - std::max(a, st * R));
      node.host += host_of(st) * ranks;
      node.nvme += cls[class_of(st)].nvme * ranks;
    }
    out.host = std::max(out.host, node.host);
    out.nvme = std::max(out.nvme, node.nvme);
  }
  return out;
}

PlanLayout Planner::layout_of(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                              const OffloadChoice& off) const {
  PlanLayout l = bases_[bi].layout;
  l.offload_optimizer = off.optimizer;
  l.offload_param = off.param;
  l.offload_checkpoints = off.checkpoints;
  l.sequence_parallel = sp;
  l.zero_stage = zero_stage;
  l.recompute_granularity = rc.granularity;
  l.recompute_method = rc.method;
  l.recompute_num_layers = rc.num_layers;
  return l;  // first/last stage layers come with the base
}

PlanCost Planner::cost_of(std::size_t bi, const PlanLayout& l) const {
  const Base& b = bases_[bi];
  const ShardPiece& S = shards_[b.shard];
  double dense = 0, expert = 0;
  for (int k = 0; k < 3; ++k) {
    if ((k == 1 && b.layout.pp < 3) || (k == 2 && b.layout.pp < 2)) continue;
    dense = std::max(dense, static_cast<double>(S.dense[k].value));
    expert = std::max(expert, static_cast<double>(S.expert[k].value));
  }
  const Bytes checkpoint = layers_[b.layer + (l.sequence_parallel ? 1U : 0U)].layer.checkpoint;
  return cost_model_->cost(l, b.m, dense, expert, static_cast<double>(checkpoint.value));
}

void Planner::for_each_inner(
    const std::function<void(std::size_t, bool, int, const RecomputeChoice&, const OffloadChoice&)>& visit) const {
  for (std::size_t bi = 0; bi < bases_.size(); ++bi) for_each_inner_of(bi, visit);
}

void Planner::for_each_inner_of(
    std::size_t bi,
    const std::function<void(std::size_t, bool, int, const RecomputeChoice&, const OffloadChoice&)>& visit) const {
  const Options& o = options_[bases_[bi].options];
  for (int si = 0; si < o.num_sp; ++si)
    for (int zi = 0; zi < o.num_zero; ++zi) {
      const bool sp = o.sp[static_cast<std::size_t>(si)];
      const int z = o.zero[static_cast<std::size_t>(zi)];
      for (int oi = 0; oi < num_state_off_[static_cast<std::size_t>(z)]; ++oi) {
        const StateOffload so = state_off_[static_cast<std::size_t>(z)][static_cast<std::size_t>(oi)];
        for (const auto& rc : o.simple) {
          if (rc.granularity != RecomputeGranularity::full) {
            visit(bi, sp, z, rc, {so.optimizer, so.param, false});
            continue;
          }
          for (int ci = 0; ci < num_ckpt_full_; ++ci)
            visit(bi, sp, z, rc, {so.optimizer, so.param, ckpt_full_[static_cast<std::size_t>(ci)]});
        }
        for (int ci = 0; ci < num_ckpt_full_; ++ci)
          for (std::int64_t k = o.block_lo; k <= o.block_hi; ++k)
            visit(bi, sp, z, {RecomputeGranularity::full, RecomputeMethod::block, k},
                  {so.optimizer, so.param, ckpt_full_[static_cast<std::size_t>(ci)]});
      }
    }
}

std::vector<Planner::Candidate> Planner::candidates() const {
  std::vector<Candidate> out;
  out.reserve(static_cast<std::size_t>(candidate_count()));
  for_each_inner([&out](std::size_t bi, bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) {
    out.push_back({static_cast<std::uint32_t>(bi), sp, z, rc, off});
  });
  return out;
}

void Planner::for_each_candidate(const std::function<void(const PlanEntry&)>& visit) const {
  for_each_inner([&](std::size_t bi, bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) {
    PlanEntry e;
    e.layout = layout_of(bi, sp, z, rc, off);
    e.base = static_cast<std::uint32_t>(bi);
    e.num_microbatches = bases_[bi].m;
    e.max_peak = evaluate(bi, sp, z, rc, off);
    e.cost = cost_of(bi, e.layout);
    const NodeOffload n = node_offload(bi, sp, z, rc, off);
    e.host_per_node = n.host;
    e.nvme_per_node = n.nvme;
    visit(e);
  });
}

std::vector<PlanEntry> Planner::fitting_variants(std::size_t bi) const {
  if (bi >= bases_.size()) throw std::out_of_range("Planner::fitting_variants: no such base");
  std::vector<PlanEntry> out;
  for_each_inner_of(bi, [&](std::size_t, bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) {
    const Bytes peak = evaluate(bi, sp, z, rc, off);
    if (peak > budget_) return;
    PlanEntry e;
    if (off.any()) {  // offload fits only if the node has the host RAM / NVMe (as in search())
      const NodeOffload n = node_offload(bi, sp, z, rc, off);
      if (n.host > request_.host_memory_per_node || n.nvme > request_.nvme_per_node) return;
      e.host_per_node = n.host;
      e.nvme_per_node = n.nvme;
    }
    e.layout = layout_of(bi, sp, z, rc, off);
    e.base = static_cast<std::uint32_t>(bi);
    e.num_microbatches = bases_[bi].m;
    e.max_peak = peak;
    e.cost = cost_of(bi, e.layout);
    out.push_back(e);
  });
  std::sort(out.begin(), out.end(), plan_entry_less);
  return out;
}

PlanResult Planner::search(const PlanSearchOptions& opt,
                           const std::function<std::uint64_t(std::uint64_t)>& global_sum) const {
  PlanResult res;
  auto& c = res.counts;
  res.layouts.reserve(opt.top + 1);
  const auto slices = static_cast<std::size_t>(std::max(opt.slices, 1));
  const auto slice = static_cast<std::size_t>(opt.slice);
  const std::uint64_t enough = opt.min_gpus ? 1 : opt.top;

  auto push = [&](const PlanEntry& e) {
    if (opt.top == 0) return;
    if (res.layouts.size() == opt.top && !plan_entry_less(e, res.layouts.back())) return;
    auto at = std::upper_bound(res.layouts.begin(), res.layouts.end(), e, plan_entry_less);
    res.layouts.insert(at, e);  // capacity reserved: no allocation
    if (res.layouts.size() > opt.top) res.layouts.pop_back();
  };

  std::int64_t current_world = 0;
  bool stopped = false;
  for (std::size_t bi = 0; bi < bases_.size(); ++bi) {
    const Base& b = bases_[bi];
    const std::int64_t world = b.layout.world_size();
    if (world != current_world) {
      // A world-size group is complete: if enough layouts fit on this or fewer GPUs (over every slice), no
      // larger world can enter the ranking.
      if (opt.stop_early && current_world != 0 && !stopped) stopped = global_sum(c.fitting_bases) >= enough;
      current_world = world;
    }
    if (bi % slices != slice) continue;
    const Options& o = options_[b.options];
    const std::uint64_t inner = o.count;
    c.candidates += inner;
    ++c.bases;
    if (stopped) {
      c.not_visited += inner;
      continue;
    }
    // The bound: model states at the highest ZeRO stage (with offload, the least over the stages: a fixed
    // offload knob may leave the highest stage with less to remove).
    int zmax = o.zero[static_cast<std::size_t>(o.num_zero - 1)];
    Bytes lb = lower_bound(b, zmax);
    if (offload_in_space_)
      for (int zi = 0; zi + 1 < o.num_zero; ++zi)
        if (const Bytes v = lower_bound(b, o.zero[static_cast<std::size_t>(zi)]); v < lb)
          lb = v, zmax = o.zero[static_cast<std::size_t>(zi)];
    if (lb > budget_) {
      c.pruned_by_bound += inner;
      if (c.fitting_bases == 0 && (!res.closest_bound || lb <= res.closest_bound->max_peak)) {
        PlanEntry e;
        const StateOffload so = state_off_[static_cast<std::size_t>(zmax)]
                                          [static_cast<std::size_t>(bound_choice_[static_cast<std::size_t>(zmax)])];
        e.layout = layout_of(bi, o.sp[0], zmax, RecomputeChoice{}, {so.optimizer, so.param, false});
        e.base = static_cast<std::uint32_t>(bi);
        e.num_microbatches = b.m;
        e.max_peak = lb;
        if (!res.closest_bound || closer(e, *res.closest_bound)) res.closest_bound = e;
      }
      continue;
    }
    std::optional<PlanEntry> best;
    // Returns whether the GPU peak fits; the layout fits if its offloaded bytes also fit the node.
    auto consider = [&](bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) {
      const Bytes peak = evaluate(bi, sp, z, rc, off);
      ++c.evaluated;
      const bool gpu_fits = peak <= budget_;
      NodeOffload node;
      bool fits = gpu_fits;
      if (gpu_fits && off.any()) {
        node = node_offload(bi, sp, z, rc, off);
        fits = node.host <= request_.host_memory_per_node && node.nvme <= request_.nvme_per_node;
        if (!fits) ++c.over_host;
      }
      if (fits) ++c.fitting;
      if (fits || (!gpu_fits && (!res.closest || peak <= res.closest->max_peak))) {
        PlanEntry e;
        e.layout = layout_of(bi, sp, z, rc, off);
        e.base = static_cast<std::uint32_t>(bi);
        e.num_microbatches = b.m;
        e.max_peak = peak;
        e.cost = cost_of(bi, e.layout);
        e.host_per_node = node.host;
        e.nvme_per_node = node.nvme;
        if (fits) {
          if (!best || plan_entry_less(e, *best)) best = e;
        } else if (!res.closest || closer(e, *res.closest)) {
          res.closest = e;
        }
      }
      return gpu_fits;
    };
    for (int si = 0; si < o.num_sp; ++si)
      for (int zi = 0; zi < o.num_zero; ++zi) {
        const bool sp = o.sp[static_cast<std::size_t>(si)];
        const int z = o.zero[static_cast<std::size_t>(zi)];
        for (int oi = 0; oi < num_state_off_[static_cast<std::size_t>(z)]; ++oi) {
          const StateOffload so = state_off_[static_cast<std::size_t>(z)][static_cast<std::size_t>(oi)];
          for (const auto& rc : o.simple) {
            if (rc.granularity != RecomputeGranularity::full) {
              consider(sp, z, rc, {so.optimizer, so.param, false});
              continue;
            }
            for (int ci = 0; ci < num_ckpt_full_; ++ci)
              consider(sp, z, rc, {so.optimizer, so.param, ckpt_full_[static_cast<std::size_t>(ci)]});
          }
          if (o.block_lo > o.block_hi) continue;
          for (int ci = 0; ci < num_ckpt_full_; ++ci) {
            const OffloadChoice off{so.optimizer, so.param, ckpt_full_[static_cast<std::size_t>(ci)]};
            // Full block recompute of N layers per chunk: GPU memory never rises with N (a recomputed layer
            // keeps its checkpoint, a subset of what it would keep, or nothing under checkpoint offload; the
            // transient is one layer for every N >= 1) and the recompute cost rises with N, so the smallest
            // N whose GPU peak fits is the only one worth keeping. Checkpoint offload's host bytes rise with N:
            // if they overflow at that N they overflow at every larger one.
            auto rc_of = [](std::int64_t k) {
              return RecomputeChoice{RecomputeGranularity::full, RecomputeMethod::block, k};
            };
            std::int64_t lo = o.block_lo, hi = o.block_hi;
            std::uint64_t evals = 1;
            if (consider(sp, z, rc_of(hi), off)) {
              while (lo < hi) {
                const std::int64_t mid = lo + (hi - lo) / 2;
                ++evals;
                if (consider(sp, z, rc_of(mid), off))
                  hi = mid;
                else
                  lo = mid + 1;
              }
            }
            c.pruned_monotone += static_cast<std::uint64_t>(o.block_hi - o.block_lo + 1) - evals;
          }
        }
      }
    if (best) {
      ++c.fitting_bases;
      push(*best);
    }
  }
  if (c.fitting_bases > 0) res.closest.reset(), res.closest_bound.reset();
  if (opt.min_gpus && !res.layouts.empty()) {
    const std::int64_t w = res.layouts.front().layout.world_size();
    res.layouts.erase(std::find_if(res.layouts.begin(), res.layouts.end(),
                                   [w](const PlanEntry& e) { return e.layout.world_size() != w; }),
                      res.layouts.end());
  }
  return res;
}

}  // namespace trainmem::sim
