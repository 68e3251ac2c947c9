// Planner: searches the layouts of a PlanRequest for those whose worst rank fits the device budget and
// ranks them (fewest GPUs, then no offload before offload, then the cost proxy of sim/planner/plan_cost.hpp). The
// evaluator is estimate()'s arithmetic, byte for byte, over pieces precomputed per distinct key (DESIGN.md
// sections 6 and 9), offload included (sim/offload/offload_memory.hpp: GPU bytes removed, host/NVMe bytes per node).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include "sim/accounting/activation_memory.hpp"
#include "sim/accounting/model_state_terms.hpp"
#include "sim/accounting/recipe.hpp"
#include "sim/accounting/scenario.hpp"
#include "sim/accounting/step_buffers.hpp"
#include "sim/planner/plan_cost.hpp"
#include "sim/planner/plan_space.hpp"

namespace trainmem::sim {

struct PlanEntry {
  PlanLayout layout;
  std::uint32_t base = 0;  // index of the layout's base in the planner (same in every slice of a split search)
  std::int64_t num_microbatches = 0;
  Bytes max_peak;  // worst rank, equal to estimate(scenario_for(request, layout)).max_peak
  // At or below simulate(scenario_for(request, layout)).max_peak (stage_peak_lower(), sim/accounting/stage_peak.hpp):
  // a layout with lower_peak over the budget overflows when replayed; max_peak within it fits when replayed.
  Bytes lower_peak;
  PlanCost cost;
  // Offload only: the largest node's host RAM and NVMe bytes, equal to estimate()'s per_node.host / .nvme.
  Bytes host_per_node, nvme_per_node;
};

// Fewest GPUs first, then layouts without offload before those with, then the cost proxy, then the lower
// peak, then the knobs (a strict total order, so every split of the search merges to the same ranking).
bool plan_entry_less(const PlanEntry& a, const PlanEntry& b);

struct PlanCounts {
  std::uint64_t candidates = 0;       // full layouts in the searched space
  std::uint64_t bases = 0;            // layouts without sequence_parallel, zero_stage and recompute
  std::uint64_t evaluated = 0;        // worst-rank peaks computed
  std::uint64_t pruned_by_bound = 0;  // model states alone (at the highest ZeRO stage allowed) overflow
  std::uint64_t pruned_monotone = 0;  // block-recompute layer counts settled by monotonicity
  std::uint64_t not_visited = 0;      // in bases with more GPUs than the answer needs (early stop)
  std::uint64_t fitting_bases = 0;    // bases with at least one fitting layout
  std::uint64_t fitting = 0;          // evaluated layouts that fit (by estimate(), so also when replayed)
  std::uint64_t may_fit = 0;          // fit_by_replay: over the budget by estimate(), within it by the lower bound
  std::uint64_t over_host = 0;        // evaluated layouts that fit the GPU but not the host RAM / NVMe capacity
};

// How far a search is: reported to PlanSearchOptions::progress (the library keeps no clock; tools/ decides
// what to print and when).
struct PlanProgress {
  std::size_t bases_done = 0, bases_total = 0;  // bases passed (every slice's, in search order) of all
  std::uint64_t candidates_done = 0;            // this slice's candidates passed: evaluated, pruned or skipped
  std::uint64_t candidates_total = 0;           // the whole space's (every slice)
  std::uint64_t evaluated = 0;                  // this slice's worst-rank peaks computed so far
  const PlanEntry* best = nullptr;              // the best fitting layout so far (this slice), or none
  bool done = false;                            // the last report of the search
};

struct PlanSearchOptions {
  std::size_t top = 10;
  bool min_gpus = false;   // keep only layouts on the smallest world size that fits
  bool stop_early = true;  // stop once no larger world size can enter the result
  // Rank the layouts that may fit when replayed (lower_peak within the budget) instead of those that fit by
  // estimate(): verify_finalists() (sim/planner/plan_verify.hpp) then settles them with simulate(). The early stop
  // still counts only bases that fit by estimate() (they fit when replayed).
  bool fit_by_replay = false;
  int slice = 0, slices = 1;  // this process evaluates bases i with i % slices == slice
  // Called after every `progress_every` bases and once at the end (done); the result does not depend on it.
  std::function<void(const PlanProgress&)> progress;
  std::size_t progress_every = 64;
};

struct PlanResult {
  std::vector<PlanEntry> layouts;  // best first; at most one per base (its cheapest fitting variant)
  PlanCounts counts;
  std::optional<PlanEntry> closest;  // the evaluated layout with the smallest overflow (when none fit)
  // Among bases pruned by the model-state bound (when none fit): the smallest bound; max_peak holds the
  // bound (model states at the highest ZeRO stage allowed), a lower limit of that base's every peak.
  std::optional<PlanEntry> closest_bound;
};

// Combines the results of slices into the result one process would give.
PlanResult merge_plan_results(const std::vector<PlanResult>& parts, const PlanSearchOptions& options);

// One recompute setting of the space.
struct RecomputeChoice {
  RecomputeGranularity granularity = RecomputeGranularity::none;
  RecomputeMethod method = RecomputeMethod::uniform;
  std::int64_t num_layers = 0;
};

// One offload setting of the space (sim/offload/offload_config.hpp's three knobs).
struct OffloadChoice {
  OffloadDevice optimizer = OffloadDevice::none, param = OffloadDevice::none;
  bool checkpoints = false;
  bool any() const { return optimizer != OffloadDevice::none || param != OffloadDevice::none || checkpoints; }
};

// Largest node's offloaded bytes (estimate()'s per-node totals).
struct NodeOffload {
  Bytes host, nvme;
};

class Planner {
 public:
  // Resolves the base scenario, builds the knob ranges and the precomputed pieces. Throws ConfigError for
  // bad input (a fixed knob no rule allows names the knob).
  explicit Planner(PlanRequest request);

  const PlanRequest& request() const { return request_; }
  const ResolvedScenario& resolved_base() const { return resolved_; }
  Bytes budget() const { return budget_; }
  std::size_t num_bases() const { return bases_.size(); }
  std::uint64_t candidate_count() const;

  // `global_sum` adds a count over every slice (identity in one process; an MPI all-reduce when split): the
  // search stops after a world-size group once the fitting bases of all slices reach the answer's need, so
  // each slice visits exactly the bases one process would.
  PlanResult search(
      const PlanSearchOptions& options,
      const std::function<std::uint64_t(std::uint64_t)>& global_sum = [](std::uint64_t v) { return v; }) const;

  // Every candidate of the space with its evaluated worst-rank peak and cost, no pruning (tests, audits).
  void for_each_candidate(const std::function<void(const PlanEntry&)>& visit) const;

  // Every variant (sequence_parallel, zero_stage, recompute) of base `b` whose worst-rank peak fits the
  // budget (by_replay: whose lower_peak does), best first (plan_entry_less). At most a few hundred: sp x zero x
  // recompute choices.
  std::vector<PlanEntry> fitting_variants(std::size_t b, bool by_replay = false) const;

  // Every candidate as (base, inner knobs), in search order: for benchmarks of evaluate() alone.
  struct Candidate {
    std::uint32_t base = 0;
    bool sequence_parallel = false;
    int zero_stage = 0;
    RecomputeChoice recompute;
    OffloadChoice offload;
  };
  std::vector<Candidate> candidates() const;

  // The hot path: worst-rank peak of base `b` with the inner knobs. Allocation-free.
  Bytes evaluate(std::size_t b, bool sequence_parallel, int zero_stage, const RecomputeChoice& rc,
                 const OffloadChoice& offload = {}) const;
  // estimate()'s peak (upper) and a lower limit of the replayed peak, the largest over the stages of
  // stage_peak_lower() (sim/accounting/stage_peak.hpp) with the model states less mixed-20's fp32 gradient copy.
  // lower_falling never rises with full block recompute's N; under block recompute lower = max(lower_falling, the
  // rising deeper point with the runtime's fixed part only), so lower(N) <= budget is an interval of N.
  // Allocation-free.
  struct PeakBounds {
    Bytes upper, lower, lower_falling;
  };
  PeakBounds evaluate_bounds(std::size_t b, bool sequence_parallel, int zero_stage, const RecomputeChoice& rc,
                             const OffloadChoice& offload = {}) const;
  // The largest node's host RAM and NVMe bytes under `offload` (zero without offload). Allocation-free.
  NodeOffload node_offload(std::size_t b, bool sequence_parallel, int zero_stage, const RecomputeChoice& rc,
                           const OffloadChoice& offload) const;
  PlanLayout layout_of(std::size_t b, bool sequence_parallel, int zero_stage, const RecomputeChoice& rc,
                       const OffloadChoice& offload = {}) const;
  PlanCost cost_of(std::size_t b, const PlanLayout& layout) const;
  // Whether any layout of the space may offload (the request searches or fixes an offload knob).
  bool offload_in_space() const { return offload_in_space_; }

 private:
  struct LayerPiece {
    bool valid = false;
    LayerActivations layer;  // sums only (ops cleared)
    Bytes first_saved, last_saved, loss_transient;
    // add_activation_buffers() of the layer's shapes (sim/accounting/step_buffers.hpp): [0] pp 1, [1] pp > 1.
    StepBuffers act_buffers[2];
  };
  // Parameters held before ZeRO per stage class: [0] the first stage, [1] stage 1 (the middle stage with the most
  // in-flight forwards), [2] the last (pp 1: [0] is the only one), and [3 + i] middle stage mid_stages[i]: with
  // DeepSeek's first dense layers the middle stages hold different parameters until the last one holding a dense
  // layer; every later middle stage holds what the one before it does, with fewer forwards in flight.
  struct ShardPiece {
    std::vector<ElementCount> dense, expert;
    // FP8/FP4 weight copies and scales beyond the bf16 params (sim/accounting/quantized_weights), per stage class.
    std::vector<Bytes> quantized;
    std::vector<std::int64_t> mid_stages;
    std::uint64_t largest = 0;  // the largest parameter tensor (elements): ZeRO-1/2 offload staging buffers
    std::uint64_t layer_partitioned = 0, layer_persistent = 0;  // ZeRO-3: one layer's gathered / whole elements
  };
  struct InflightPiece {  // chunk forwards alive and extra-carrying chunk's count
    std::int64_t first_cf = 0, first_extra = 0, last_cf = 0, last_extra = 0, mid_cf = 0;
    std::uint32_t stage_cf = 0;  // checkpoint offload searched: index into stage_cf_ of every stage's chunk forwards
  };
  struct Base {
    PlanLayout layout;                                 // sp, zero and recompute unset
    std::int64_t m = 0;                                // microbatches per step
    std::int64_t n = 0;                                // layers per model chunk (a middle stage's with an uneven split)
    std::int64_t n_first = 0, n_last = 0;              // the first and last stage's chunk (= n for an even split)
    std::uint32_t layer = 0, shard = 0, inflight = 0;  // piece indices (layer: + 1 for sequence parallel)
    std::uint32_t options = 0;                         // index into options_
    Bytes runtime_fixed;                               // CUDA context + NCCL of the layout's groups + workspaces
    // Ranks the dense and the expert model states shard over (ParallelConfig::zero_shard_ways(), and edp or the
    // HSDP shard group, as estimate() passes them to model_state_memory()).
    std::uint64_t ways = 0, edp = 0;
  };
  struct Options {  // inner knob values of a base
    std::array<bool, 2> sp{};
    int num_sp = 0;
    std::array<int, 4> zero{};
    int num_zero = 0;
    std::vector<RecomputeChoice> simple;      // none / selective / full uniform
    std::int64_t block_lo = 1, block_hi = 0;  // full block N in [lo, hi] (empty when lo > hi)
    std::uint64_t count = 0;                  // inner candidates (offload variants included)
  };
  struct StateOffload {  // the optimizer and parameter offload knobs (model states; checkpoints are separate)
    OffloadDevice optimizer = OffloadDevice::none, param = OffloadDevice::none;
  };

  // Build-time types (sim/planner/planner_build.hpp): a pipeline split and the pieces' memo by key.
  struct Split;
  struct PieceIndex;

  // Construction, step by step (planner.cpp): check the request and fix the knobs its base sets, resolve the
  // base at the trivial layout, compile the model-state terms, choose the offload settings, enumerate the bases.
  void build();
  void check_request();
  void resolve_base();
  void compile_state_terms();
  void choose_offload();   // planner_offload.cpp
  void enumerate_bases();  // planner_knobs.cpp
  // The knob space (planner_knobs.cpp): pipeline splits of pp stages, the inner knobs of a base.
  bool fixed_split() const;
  std::vector<Split> splits_of(std::int64_t pp) const;
  // zero_allowed: bit z set when the framework profile models ZeRO stage z on the layout (megatron: every stage).
  // chunks: the layer counts of the base's model chunks (first, middle, last; equal for an even split): the uniform
  // recompute group sizes searched are those that change a chunk's checkpoint count.
  std::uint32_t options_for(PieceIndex& ix, std::int64_t tp, bool sp_ok, std::int64_t pp,
                            const std::array<std::int64_t, 3>& chunks, bool uneven, std::uint8_t zero_allowed = 0xF);
  // --framework hf: the ZeRO stages the profile models on a layout (bit z), 0 when it refuses the layout.
  std::uint8_t hf_zero_allowed(std::int64_t tp, std::int64_t pp, std::int64_t cp, std::int64_t ep, std::int64_t dp,
                               std::int64_t shard_group_size) const;
  // --framework hf: every variant's peak, once per base (planner_hf.cpp), and its lookup.
  void compile_hf_peaks();
  Bytes evaluate_hf(std::size_t b, int zero_stage, const RecomputeChoice& rc) const;
  // The precomputed pieces, one per distinct key (planner_pieces.cpp).
  std::uint32_t layer_piece(PieceIndex& ix, std::int64_t tp, std::int64_t etp, std::int64_t ep, std::int64_t cp,
                            std::int64_t ulysses, std::int64_t mbs);
  std::uint32_t shard_piece(PieceIndex& ix, std::int64_t tp, std::int64_t etp, std::int64_t ep, std::int64_t pp,
                            std::int64_t vpp, const Split& split);
  std::uint32_t inflight_piece(PieceIndex& ix, std::int64_t pp, std::int64_t vpp, std::int64_t m);
  Bytes runtime_fixed(const PlanLayout& layout) const;

  // Model states on the GPU: the terms not in `removed` (bit i = term i offloaded), with segment rounding.
  Bytes states(ElementCount dense, ElementCount expert, int zero_stage, std::uint64_t ways, std::uint64_t edp,
               std::uint8_t removed = 0) const;
  // Host and NVMe bytes of one rank's offloaded model states (offload_memory(), without checkpoints).
  NodeOffload state_offload(const ShardPiece& s, std::size_t k, int zero_stage, std::uint64_t ways, std::uint64_t edp,
                            std::int64_t m, const StateOffload& so) const;
  std::uint8_t removed_mask(int zero_stage, const StateOffload& so) const;
  template <bool kMask>
  Bytes states_impl(ElementCount dense, ElementCount expert, int zero_stage, std::uint64_t ways, std::uint64_t edp,
                    std::uint8_t removed) const;
  Bytes evaluate_offload(std::size_t b, bool sequence_parallel, int zero_stage, const RecomputeChoice& rc,
                         const OffloadChoice& offload) const;
  template <bool kOffload, bool kLower>
  PeakBounds evaluate_impl(std::size_t b, bool sequence_parallel, int zero_stage, const RecomputeChoice& rc,
                           const OffloadChoice& offload) const;
  // Mixed-20's fp32 gradient copy on stage class k (0 when the recipe has none or `removed` offloads it): its bytes
  // in the model states and the optimizer step's transient the replay holds instead (one sub-group under ZeRO-3).
  struct Fp32Copy {
    Bytes bytes, transient;
  };
  Fp32Copy fp32_copy(const ShardPiece& s, std::size_t k, int zero_stage, std::uint64_t ways, std::uint64_t edp,
                     std::uint8_t removed) const;
  // The buffers of stage class k (ShardPiece: 0 first, 1 middle, 2 last, 3.. other middle stages) of `layers` layers:
  // step_buffers() of the layout's shape.
  StepBuffers buffers_of(const Base& b, const LayerPiece& A, const ShardPiece& S, std::size_t k, int zero_stage,
                         std::int64_t layers, bool offload_param) const;
  // Non-model bytes of a stage with `dynamic` bytes (runtime fixed part + fragmentation reserve).
  Bytes non_model_bytes(const Base& b, Bytes dynamic) const;
  // A lower limit of every peak of base `b` at `zero_stage`: its model states (planner_bounds.cpp); `replay`: of
  // every replayed peak (without mixed-20's fp32 gradient copy).
  Bytes lower_bound(const Base& b, int zero_stage, bool replay) const;
  // Every (base, sequence_parallel, zero_stage, recompute, offload) of the space, in search order, unpruned.
  void for_each_inner(
      const std::function<void(std::size_t, bool, int, const RecomputeChoice&, const OffloadChoice&)>& visit) const;
  // The same for one base.
  void for_each_inner_of(
      std::size_t b,
      const std::function<void(std::size_t, bool, int, const RecomputeChoice&, const OffloadChoice&)>& visit) const;
  // The inner settings of options `o` in search order: simple(sp, zero, recompute, offload) for each setting but
  // full block recompute, block(sp, zero, offload) for each block range (N from o.block_lo to o.block_hi).
  template <typename Simple, typename Block>
  void walk_inner(const Options& o, Simple&& simple, Block&& block) const;
  PlanEntry entry_of(std::size_t b, const PlanLayout& layout, Bytes peak) const;

  PlanRequest request_;
  ResolvedScenario resolved_;
  Bytes budget_;
  unsigned act_bytes_ = 2;
  StepBufferShape buffer_base_;          // the recipe's parts of every layout's buffer shape (megatron buffers, dtype)
  bool rounding_ = false;                // runtime model on with 2 MiB segment rounding of the state buffers
  std::uint64_t fragmentation_ppm_ = 0;  // runtime model on: fragmentation reserve of the dynamic bytes
  // The model-state terms (sim/accounting/model_state_terms.hpp: estimate()'s rows); at most 8 (a bit each in
  // the offload masks).
  std::vector<ModelStateTermRule> terms_;
  int fp32_copy_term_ = -1;  // index of mixed-20's fp32 gradient copy in terms_, -1 without one
  std::vector<LayerPiece> layers_;
  std::vector<ShardPiece> shards_;
  std::vector<InflightPiece> inflight_;
  std::vector<Options> options_;
  std::vector<Base> bases_;  // sorted by world size
  // --framework hf (the profile's step points, not the megatron pieces): per base, the first index into hf_peaks_,
  // which holds its variants' peaks in walk order (zero stage, then the simple recompute choices).
  bool hf_ = false;
  std::vector<std::uint32_t> hf_first_;
  std::vector<Bytes> hf_peaks_;
  std::optional<PlanCostModel> cost_model_;
  // Offload: the state-offload choices per ZeRO stage, the checkpoint choices under full recompute (other
  // recompute settings: none, or no candidate when checkpoint offload is fixed on), every stage's chunk forwards.
  bool offload_in_space_ = false;
  std::array<std::array<StateOffload, 9>, 4> state_off_{};
  std::array<int, 4> num_state_off_{};
  std::array<std::uint8_t, 4> bound_mask_{};  // the most any choice removes, per ZeRO stage (lower bound)
  std::array<int, 4> bound_choice_{};         // a choice that removes bound_mask_
  std::array<bool, 2> ckpt_full_{};
  int num_ckpt_full_ = 0;
  bool ckpt_other_ = true;  // non-full recompute settings allowed (checkpoint offload not fixed on)
  std::vector<std::int64_t> stage_cf_;
  // The evaluator's model states of the last (base, ZeRO stage, removed terms), per stage class (at most 8 kept):
  // the walk evaluates a base's recompute and sequence-parallel variants one after another, and they share them.
  // Like nccl_cache_, a const method fills it: a Planner is used by one thread at a time.
  struct StatesMemo {
    std::size_t base = static_cast<std::size_t>(-1);
    int zero_stage = -1;
    std::uint8_t removed = 0;
    std::uint8_t valid = 0;  // bit k: states[k] holds stage class k's bytes
    std::array<Bytes, 8> states{};
  };
  mutable StatesMemo states_memo_;
  Bytes memo_states(std::size_t b, std::size_t k, const ShardPiece& s, int zero_stage, std::uint8_t removed) const;
  // runtime_fixed() per (tp, cp, pp, dp, ep, etp, ulysses, shard group): filled while the bases are built.
  mutable std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                              std::int64_t, std::int64_t>,
                   Bytes>
      nccl_cache_;
};

}  // namespace trainmem::sim
