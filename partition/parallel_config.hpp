// ParallelConfig: the degrees of a job's layout (tp, pp, dp, cp, ep, etp, vpp, Megatron SP, Ulysses SP)
// and its ZeRO stage. dp is derived as world_size / (tp*cp*pp) unless given; resolve() checks every
// divisibility rule against the model and names the offending values.
#pragma once

#include <cstdint>

#include "partition/model_spec.hpp"

namespace trainmem {

struct ParallelConfig {
  std::int64_t tp = 1;
  std::int64_t pp = 1;
  std::int64_t dp = 0;          // 0 = derive from world_size (or 1 when neither is given)
  std::int64_t world_size = 0;  // 0 = tp * cp * pp * dp
  std::int64_t cp = 1;
  std::int64_t ep = 1;
  std::int64_t etp = 0;  // 0 = tp (Megatron's default expert tensor parallel size)
  std::int64_t vpp = 1;
  bool sequence_parallel = false;  // Megatron SP, only meaningful with tp > 1
  std::int64_t ulysses_sp = 1;     // DeepSpeed Ulysses degree, carved out of dp
  int zero_stage = 0;              // 0..3; Megatron's distributed optimizer is stage 1
  // Uneven pipeline split (Megatron --decoder-first/last-pipeline-num-layers); 0 = even split.
  std::int64_t first_stage_layers = 0;
  std::int64_t last_stage_layers = 0;
  std::int64_t make_vocab_size_divisible_by = 128;
  // HSDP (PyTorch FSDP HYBRID_SHARD, FSDP2 on a (replicate, shard) mesh): ZeRO / FSDP shards the model states over
  // groups of shard_group_size data-parallel ranks and replicates them across dp / shard_group_size such groups.
  // 0 = dp (plain ZeRO / FSDP: one group). resolve() fills it and checks 1 <= S <= dp, S divides dp.
  std::int64_t shard_group_size = 0;

  // Expert data-parallel size: ranks that hold the same expert shard (MoE parallel folding,
  // etp * ep * edp = tp * cp * dp).
  std::int64_t edp() const { return tp * cp * dp / (etp * ep); }
  // Ranks the dense model states shard over under ZeRO / FSDP: dp * cp (Megatron's data-parallel group with
  // context parallelism), or the HSDP shard group (shard_group_size < dp; resolve() then requires cp 1).
  std::int64_t zero_shard_ways() const { return hybrid_shard() ? shard_group_size : dp * cp; }
  // HSDP: a shard group smaller than dp.
  bool hybrid_shard() const { return shard_group_size != 0 && shard_group_size != dp; }
};

// Fills dp, world_size and etp and checks the layout against the model; throws ConfigError.
// A bare parameter count (no layer structure) passes model == nullptr.
ParallelConfig resolve(ParallelConfig config, const ModelSpec* model);

}  // namespace trainmem
