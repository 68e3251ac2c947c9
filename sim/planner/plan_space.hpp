// The planner's knob space: one candidate layout (tp, pp, dp, cp, ep, vpp, zero_stage, sequence_parallel,
// recompute, micro_batch_size, offload), which knobs a request fixes, the cluster and host limits and the margin.
// Degrees are counts of GPUs; memory in bytes. Rules follow resolve()/resolve_scenario() (DESIGN.md section 6).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/accounting/scenario.hpp"
#include "sim/offload/offload_config.hpp"

namespace trainmem::sim {

// One layout of the search space. etp 0 = tp (Megatron's default expert tensor parallel size).
struct PlanLayout {
  std::int64_t tp = 1, pp = 1, dp = 1, cp = 1, ep = 1, etp = 0, vpp = 1, micro_batch_size = 1;
  bool sequence_parallel = false;
  int zero_stage = 0;
  RecomputeGranularity recompute_granularity = RecomputeGranularity::none;
  RecomputeMethod recompute_method = RecomputeMethod::uniform;
  std::int64_t recompute_num_layers = 0;
  // Uneven pipeline split (Megatron --decoder-first/last-pipeline-num-layers); 0 = even split.
  std::int64_t first_stage_layers = 0, last_stage_layers = 0;
  // DeepSpeed Ulysses sequence parallel degree, carved out of dp (1 = off).
  std::int64_t ulysses_sp = 1;
  // HSDP shard group (ParallelConfig::shard_group_size): 0 = the states shard over all of dp (plain ZeRO / FSDP).
  std::int64_t shard_group_size = 0;
  // Offload (DeepSpeed ZeRO-Offload / ZeRO-Infinity / cpu_checkpointing; docs/offload.md): none unless searched
  // (PlanRequest::offload_search) or fixed.
  OffloadDevice offload_optimizer = OffloadDevice::none, offload_param = OffloadDevice::none;
  bool offload_checkpoints = false;

  std::int64_t world_size() const { return tp * cp * pp * dp; }
  bool offloads() const {
    return offload_optimizer != OffloadDevice::none || offload_param != OffloadDevice::none || offload_checkpoints;
  }
  friend bool operator==(const PlanLayout&, const PlanLayout&) = default;
};

// Knobs a request fixes (unset = searched; the offload knobs are searched only up to
// PlanRequest::offload_search, else none).
struct PlanKnobs {
  std::optional<std::int64_t> tp, pp, dp, cp, ep, etp, vpp, micro_batch_size;
  std::optional<bool> sequence_parallel;
  std::optional<int> zero_stage;
  std::optional<RecomputeGranularity> recompute_granularity;
  std::optional<RecomputeMethod> recompute_method;
  std::optional<std::int64_t> recompute_num_layers;
  std::optional<std::int64_t> ulysses_sp, shard_group_size;
  std::optional<OffloadDevice> offload_optimizer, offload_param;
  std::optional<bool> offload_checkpoints;
};

// Per-node capacities offloaded bytes must fit by default: a DGX H100 node, 2 TiB of host RAM (32 x 64 GiB
// DDR5 DIMMs) and 8 x 3.84 TB NVMe U.2 data drives = 30.72 TB (NVIDIA DGX H100 user guide, hardware overview).
inline constexpr std::uint64_t kDefaultHostMemoryPerNode = 2048ULL * 1024 * 1024 * 1024;
inline constexpr std::uint64_t kDefaultNvmePerNode = 30720000000000ULL;

struct PlanRequest {
  // Model, training setup (seq_length, global_batch_size, recipe, optimizer, attention, dropout, schedule)
  // and gpu_memory. Its `parallel` layout fields are ignored: the knobs below say what is fixed.
  Scenario base;
  PlanKnobs fixed;
  std::int64_t gpus_per_node = 8;
  std::int64_t max_gpus = 4096;          // largest world size searched
  std::optional<std::int64_t> num_gpus;  // a fixed world size (then max_gpus is ignored)
  // Whole nodes: world sizes are multiples of gpus_per_node, or divisors of it (one partial node).
  // Off for a fixed num_gpus, which is taken as given.
  bool whole_nodes = true;
  std::uint32_t safety_margin_ppm = 100000;  // keep 10% of device memory free (parts per million)
  std::int64_t max_micro_batch_size = 16;    // searched micro batch sizes: powers of two up to this
  std::int64_t max_cp = 64;                  // searched context parallel sizes: powers of two up to this
  // Also search uneven pipeline splits: any pp from 2 to num_layers, the first and last stage each holding
  // 0 to uneven_max_delta layers fewer than a middle stage (pp 2: splits within uneven_max_delta layers of half),
  // vpp 1. Off by default.
  bool uneven_splits = false;
  std::int64_t uneven_max_delta = 4;
  // Searched Ulysses degrees: powers of two up to this that divide dp, the heads and kv heads (with tp) and the
  // sequence (with cp). 1 (the default) = Ulysses off; a fixed knob (PlanKnobs::ulysses_sp) overrides it.
  std::int64_t max_ulysses_sp = 1;
  // Also search HSDP shard groups: every divisor S < dp of dp, with ZeRO >= 1 (and cp, ep, Ulysses 1, as
  // estimate() models it). Off by default (a shard group smaller than dp never lowers the peak); a fixed knob
  // (PlanKnobs::shard_group_size) overrides it.
  bool search_shard_groups = false;
  // Offload knobs not fixed are searched up to this tier: none (no offload: the default), cpu (optimizer
  // states to host RAM at ZeRO >= 1, parameters to host RAM at ZeRO-3, full-recompute checkpoints to host RAM),
  // nvme (also optimizer states (ZeRO-3) and parameters to NVMe). Only the combinations estimate() accepts.
  OffloadDevice offload_search = OffloadDevice::none;
  // A layout with offload fits only if its per-node host RAM and NVMe bytes (estimate()'s per-node totals,
  // nodes of gpus_per_node consecutive ranks) are within these.
  Bytes host_memory_per_node = Bytes(kDefaultHostMemoryPerNode);
  Bytes nvme_per_node = Bytes(kDefaultNvmePerNode);
};

// Device bytes a layout's worst rank may use: gpu_memory - ceil(gpu_memory * margin).
Bytes plan_budget(Bytes gpu_memory, std::uint32_t safety_margin_ppm);

// The scenario `trainmem estimate` evaluates for `layout`: the request's base with the layout's knobs (and the
// request's gpus_per_node for the per-node totals).
Scenario scenario_for(const PlanRequest& request, const PlanLayout& layout);

// The inverse of scenario_for: the layout knobs of a (resolved) scenario; etp equal to tp reads as 0.
PlanLayout layout_of_scenario(const Scenario& scenario);

// The estimate flags that reproduce the layout (after the model/training flags): "--tp 8 --pp 4 ...".
std::vector<std::string> layout_flags(const PlanLayout& layout);

std::string_view recompute_name(RecomputeGranularity granularity);

}  // namespace trainmem::sim
