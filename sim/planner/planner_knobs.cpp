// The search space of the Planner: each knob's range filtered by its rule (a fixed knob no rule allows is a
// ConfigError naming it), the pipeline splits, the inner knobs of a base (sequence parallel, ZeRO stage, recompute,
// offload) and the enumeration of the bases (layouts without sp, zero and recompute), sorted by world size.
#include <algorithm>
#include <string>

#include "partition/error.hpp"
#include "sim/planner/planner.hpp"
#include "sim/planner/planner_build.hpp"

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

}  // namespace

bool Planner::fixed_split() const {
  return request_.base.parallel.first_stage_layers != 0 || request_.base.parallel.last_stage_layers != 0;
}

// Edge stages lighter than a middle one by at most uneven_max_delta layers (uneven splits), or the split the base
// fixes.
std::vector<Planner::Split> Planner::splits_of(std::int64_t pp) const {
  const PlanRequest& rq = request_;
  const std::int64_t L = resolved_.scenario.model->num_layers;
  const bool fixed_split = this->fixed_split();
  std::vector<Split> out;
  if (fixed_split) {
    const std::int64_t f0 = rq.base.parallel.first_stage_layers, l0 = rq.base.parallel.last_stage_layers;
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
  // Edge stages lighter than a middle one by at most delta = uneven_max_delta layers (the usual reason to go uneven:
  // the first stage keeps pp microbatches in flight, the last one the logits).
  const std::int64_t delta = rq.uneven_max_delta;
  if (pp == 2) {
    for (std::int64_t f = std::max<std::int64_t>(1, L / 2 - delta); f <= L - 1 && f <= (L + 1) / 2 + delta; ++f)
      if (f != L - f) out.push_back({f, L - f, f, 0, L - f});
    return out;
  }
  for (std::int64_t mid = 1; mid * (pp - 2) <= L - 2; ++mid) {
    const std::int64_t edges = L - mid * (pp - 2);
    for (std::int64_t f = std::max<std::int64_t>(1, mid - delta); f <= mid; ++f) {
      const std::int64_t l = edges - f;
      if (l < std::max<std::int64_t>(1, mid - delta) || l > mid || (f == mid && l == mid)) continue;
      out.push_back({f, l, f, mid, l});
    }
  }
  return out;
}

// The inner knobs of a base: n is the smallest chunk of the layout; uneven: stages differ, so block N = n is not
// uniform recompute.
std::uint32_t Planner::options_for(PieceIndex& ix, std::int64_t tp, bool sp_ok, std::int64_t pp,
                                   const std::array<std::int64_t, 3>& chunks, bool uneven, std::uint8_t zero_allowed) {
  const auto& F = request_.fixed;
  const std::int64_t n = std::min({chunks[0], chunks[1], chunks[2]});
  const auto key = std::make_tuple(tp > 1, sp_ok, pp == 1, chunks[0], chunks[1], chunks[2], uneven, zero_allowed);
  if (auto it = ix.options.find(key); it != ix.options.end()) return it->second;
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
    if (((zero_allowed >> z) & 1U) == 0) continue;  // the framework profile does not model it here
    if (z >= 2 && pp > 1) continue;                 // DeepSpeed refuses ZeRO-2/3 with pipeline parallelism
    if (num_state_off_[static_cast<std::size_t>(z)] == 0) continue;  // a fixed offload knob rules it out
    o.zero[static_cast<std::size_t>(o.num_zero++)] = z;
  }
  const auto g = F.recompute_granularity;
  const auto method = F.recompute_method;
  const auto k = F.recompute_num_layers;
  // Checkpoint offload fixed on: full recompute only (check_offload()).
  if ((!g || *g == RecomputeGranularity::none) && ckpt_other_)
    o.simple.push_back({RecomputeGranularity::none, RecomputeMethod::uniform, 0});
  // hf: transformers checkpoints every layer (gradient_checkpointing_enable); there is no selective recompute and
  // no block of N layers (the profile refuses selective; full is one setting).
  if ((!g || *g == RecomputeGranularity::selective) && ckpt_other_ && !hf_)
    o.simple.push_back({RecomputeGranularity::selective, RecomputeMethod::uniform, 0});
  if (hf_ && (!g || *g == RecomputeGranularity::full)) {
    o.simple.push_back({RecomputeGranularity::full, RecomputeMethod::uniform, k ? *k : 1});
  } else if (!g || *g == RecomputeGranularity::full) {
    // Uniform groups of N layers (Megatron --recompute-method uniform --recompute-num-layers N), or a fixed N. A
    // chunk of c layers keeps ceil(c / N) checkpoints and re-runs N layers at once (chunk_activations()), every layer
    // recomputed whatever N: N beyond 1 is searched only where some chunk's checkpoint count falls (an N with the
    // counts of N - 1 has a larger transient and the same cost: it never ranks first).
    if (!method || *method == RecomputeMethod::uniform) {
      if (k) {
        if (*k <= n) o.simple.push_back({RecomputeGranularity::full, RecomputeMethod::uniform, *k});
      } else {
        for (std::int64_t group = 1; group <= n; ++group) {
          bool fewer = group == 1;
          for (const std::int64_t c : chunks)
            if (group > 1) fewer |= (c + group - 1) / group != (c + group - 2) / (group - 1);
          if (fewer) o.simple.push_back({RecomputeGranularity::full, RecomputeMethod::uniform, group});
        }
      }
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
  ix.options.emplace(key, index);
  return index;
}

void Planner::enumerate_bases() {
  const PlanRequest& rq = request_;
  const ModelSpec& M = *resolved_.scenario.model;
  const TrainingConfig& T = resolved_.scenario.training;
  const std::int64_t L = M.num_layers, s = T.seq_length, gbs = T.global_batch_size;
  const bool fixed_split = this->fixed_split();
  const auto& F = rq.fixed;
  // Knob ranges. tp stays inside a node (divides gpus_per_node) unless fixed.
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
  // Ulysses: powers of two up to max_ulysses_sp (1 by default: off). Per layout it must also divide dp, and tp * it
  // the heads and kv heads, cp * it the sequence (checked in the loops).
  const std::vector<std::int64_t> ulysses =
      knob("ulysses_sp", F.ulysses_sp, powers_of_two_up_to(rq.max_ulysses_sp), [&](std::int64_t v) -> std::string {
        if (v == 1) return "";
        if (hf_) return "with framework hf: the profile models tp, pp, cp, ep and ulysses_sp 1";
        if (M.num_attention_heads % v != 0)
          return "num_attention_heads (" + str(M.num_attention_heads) + ") is not divisible by it";
        if (M.query_groups() % v != 0) return "num_query_groups (" + str(M.query_groups()) + ") is not divisible by it";
        if (s % v != 0) return "seq_length (" + str(s) + ") is not divisible by it";
        return "";
      });
  if (F.shard_group_size && *F.shard_group_size < 1)
    throw ConfigError("shard_group_size", str(*F.shard_group_size), "must be at least 1");
  // HSDP shard groups of a base with data-parallel size dp (0 = all of dp): every divisor S < dp when searched, or the
  // fixed S where it divides dp (S = dp is plain sharding); only where estimate() models it (ZeRO >= 1, checked in
  // options_for's zero mask; cp, ep and Ulysses 1).
  auto shard_groups = [&](std::int64_t dp, std::int64_t cp, std::int64_t ep, std::int64_t u) {
    std::vector<std::int64_t> out;
    const bool dense_dp = cp == 1 && ep == 1 && u == 1;
    if (F.shard_group_size) {
      const std::int64_t S = *F.shard_group_size;
      if (S == dp)
        out.push_back(0);
      else if (S < dp && dp % S == 0 && dense_dp)
        out.push_back(S);
      return out;
    }
    out.push_back(0);
    if (rq.search_shard_groups && dense_dp)
      for (std::int64_t S : divisors(dp))
        if (S < dp) out.push_back(S);
    return out;
  };
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

  PieceIndex ix;
  const std::int64_t world_limit = rq.num_gpus ? *rq.num_gpus : rq.max_gpus;
  auto world_ok = [&](std::int64_t w) {
    if (rq.num_gpus) return w == *rq.num_gpus;
    if (w > rq.max_gpus) return false;
    return !rq.whole_nodes || w % rq.gpus_per_node == 0 || rq.gpus_per_node % w == 0;
  };
  for (std::int64_t tp : tps)
    // Expert tensor parallelism (Megatron --expert-tensor-parallel-size): for an MoE model every divisor of tp
    // (etp 1 is DeepSeek-V3's layout, etp = tp Megatron's default), the expert grid etp x ep x edp covering the
    // same tp x cp x dp ranks; a dense model has no experts to split (etp = tp).
    for (std::int64_t etp : F.etp        ? std::vector<std::int64_t>{*F.etp}
                            : M.is_moe() ? divisors(tp)
                                         : std::vector<std::int64_t>{tp}) {
      if (M.is_moe() && M.expert_ffn() % etp != 0) {
        if (F.etp)
          throw ConfigError("expert_tensor_parallel_size", str(etp),
                            "moe_ffn_hidden_size (" + str(M.expert_ffn()) + ") is not divisible by it");
        continue;
      }
      for (std::int64_t ep : eps) {
        for (std::int64_t cp : cps)
          for (std::int64_t u : ulysses) {
            if (tp * cp * u > world_limit) continue;
            // estimate()'s rules: tp * ulysses divides the heads and kv heads, cp * ulysses the sequence.
            if (u > 1 &&
                (M.num_attention_heads % (tp * u) != 0 || M.query_groups() % (tp * u) != 0 || s % (cp * u) != 0))
              continue;
            const bool sp_ok = tp > 1 && s % tp == 0 && (s / (cp * u)) % tp == 0;
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
                  for (std::int64_t mbs : mbss) {
                    // dp_of_mbs holds the batch replicas d (d * mbs divides the global batch); a Ulysses group of u
                    // ranks shares one replica's sequences, so dp = d * u (scenario.cpp: m = gbs / (mbs * dp / u)).
                    for (std::int64_t d : dp_of_mbs[mbs])
                      for (std::int64_t S : shard_groups(F.dp ? d : d * u, cp, ep, u)) {
                        const std::int64_t dp = F.dp ? d : d * u;
                        if (dp % u != 0 || gbs % (mbs * (dp / u)) != 0) continue;
                        const std::int64_t world = tp * cp * pp * dp;
                        if (!world_ok(world)) continue;
                        const std::int64_t m = gbs / (mbs * (dp / u));
                        if (vpp > 1 && m % pp != 0) continue;  // the interleaved schedule needs m % pp == 0
                        if ((tp * cp * dp) % (etp * ep) != 0) continue;
                        Base b;
                        b.layout.tp = tp, b.layout.pp = pp, b.layout.dp = dp, b.layout.cp = cp, b.layout.ep = ep;
                        b.layout.etp = etp == tp ? 0 : etp;  // 0 reads as etp = tp (PlanLayout)
                        b.layout.vpp = vpp, b.layout.micro_batch_size = mbs;
                        b.layout.first_stage_layers = split.first, b.layout.last_stage_layers = split.last;
                        b.layout.ulysses_sp = u, b.layout.shard_group_size = S;
                        // The ranks the states shard over, as estimate() gives model_state_memory() (zero_shard_ways(),
                        // and edp or the shard group).
                        b.ways = static_cast<std::uint64_t>(S != 0 ? S : dp * cp);
                        b.edp = static_cast<std::uint64_t>(S != 0 ? S : tp * cp * dp / (etp * ep));
                        b.m = m;
                        b.n = n;
                        b.n_first = n_first, b.n_last = n_last;
                        std::uint8_t zero_allowed = hf_ ? hf_zero_allowed(tp, pp, cp, ep, dp, S) : 0xF;
                        if (S != 0) zero_allowed &= 0xE;  // HSDP shards ZeRO / FSDP states: stage 0 has none
                        if (zero_allowed == 0) continue;
                        const std::array<std::int64_t, 3> chunks{n_first, pp >= 3 ? n : n_first,
                                                                 pp >= 2 ? n_last : n_first};
                        b.options = options_for(ix, tp, sp_ok, pp, chunks, uneven, zero_allowed);
                        const Options& o = options_[b.options];
                        if (o.num_sp == 0 || o.num_zero == 0 || o.count == 0) continue;
                        b.layer = layer_piece(ix, tp, etp, ep, cp, u, mbs);
                        b.shard = shard_piece(ix, tp, etp, ep, pp, vpp, split);
                        b.inflight = inflight_piece(ix, pp, vpp, m);
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

}  // namespace trainmem::sim
