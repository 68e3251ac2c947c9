// Shard plan: how many parameters one rank holds before ZeRO, per pipeline stage, after the TP split
// (column/row-parallel linears, vocab-parallel embedding padded to make_vocab_size_divisible_by * tp)
// and the expert split (num_experts / ep experts, each split etp ways). Terms are kept for explain.
#pragma once

#include <string>
#include <vector>

#include "partition/layer_assignment.hpp"
#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"

namespace trainmem {

struct ShardTerm {
  std::string name;         // e.g. "transformer layers (dense part)"
  ElementCount per_unit;    // parameters of one unit on this rank
  std::uint64_t units = 1;  // how many units (layers) this rank holds
  bool expert = false;      // expert parameters are sharded by ZeRO over edp, not dp
  ElementCount total() const { return per_unit * units; }
};

struct RankParamShard {
  ElementCount dense;   // ZeRO shards these over dp
  ElementCount expert;  // ZeRO shards these over the expert data-parallel group (edp)
  std::vector<ShardTerm> terms;
  ElementCount total() const { return dense + expert; }
};

// Parameters of a rank on pipeline stage `stage` (every tp/cp/dp rank of a stage holds the same count).
RankParamShard rank_param_shard(const ModelSpec& model, const ParallelConfig& resolved, const StageLayers& stage);

// A bare parameter count spread evenly over tp * pp (rounded up): for model-state-only questions.
RankParamShard rank_param_shard(ElementCount total_params, const ParallelConfig& resolved);

}  // namespace trainmem
