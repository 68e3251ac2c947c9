#include "partition/shard_plan.hpp"

#include <algorithm>

namespace trainmem {

RankParamShard rank_param_shard(const ModelSpec& m, const ParallelConfig& c, const StageLayers& stage) {
  RankParamShard shard;
  auto add = [&shard](std::string name, ElementCount per_unit, std::uint64_t units, bool expert) {
    if (per_unit.value == 0 || units == 0) return;
    ShardTerm t{std::move(name), per_unit, units, expert};
    (expert ? shard.expert : shard.dense) += t.total();
    shard.terms.push_back(std::move(t));
  };
  const auto h = static_cast<std::uint64_t>(m.hidden_size);
  const auto vocab_rows =
      static_cast<std::uint64_t>(padded_vocab_size(m.vocab_size, c.make_vocab_size_divisible_by, c.tp) / c.tp);
  const ElementCount vocab_shard = ElementCount(vocab_rows) * h;
  const ElementCount norm(h * (m.norm_has_bias() ? 2 : 1));

  if (stage.has_embedding) {
    add("word embeddings (vocab-parallel)", vocab_shard, 1, false);
    if (m.position_embedding == PositionEmbedding::learned)
      add("position embeddings (replicated)", ElementCount(static_cast<std::uint64_t>(m.max_position_embeddings)) * h,
          1, false);
  }
  const TensorSplit split{c.tp, c.etp, c.ep};
  const LayerParams layer = layer_params(m, split);
  // DeepSeek first_k_dense_replace: the stage's layers below first_dense_layers (global index) are dense.
  std::int64_t dense_layers = 0;
  for (const auto& chunk : stage.chunks)
    dense_layers += std::max<std::int64_t>(
        0, std::min(chunk.first_layer + chunk.num_layers, m.first_dense_layers) - chunk.first_layer);
  const auto layers = static_cast<std::uint64_t>(stage.num_layers - dense_layers);
  if (dense_layers > 0)
    add("dense transformer layers (first_dense_layers)", layer_params(m, split, true).dense,
        static_cast<std::uint64_t>(dense_layers), false);
  add(m.is_moe() ? "transformer layers (attention, norms, router)" : "transformer layers", layer.dense, layers, false);
  add("transformer layers (routed experts)", layer.expert, layers, true);
  if (stage.has_output_layer && m.mtp_layers > 0) {  // Megatron places the MTP block on the last stage
    const auto mtp = static_cast<std::uint64_t>(m.mtp_layers);
    add("MTP modules (layer, norms, eh_proj)", layer.dense + mtp_extra_params(m, c.tp), mtp, false);
    add("MTP modules (routed experts)", layer.expert, mtp, true);
  }
  if (stage.has_output_layer) {
    add("final norm (replicated)", norm, 1, false);
    // Untied: its own LM head. Tied with pp > 1: the last stage keeps a copy of the word embedding
    // (Megatron's shared embedding, kept in sync by an all-reduce). Tied with pp == 1: shared, no copy.
    if (!m.tie_embeddings)
      add("output layer (vocab-parallel)", vocab_shard, 1, false);
    else if (!stage.has_embedding)
      add("output layer (tied embedding copy)", vocab_shard, 1, false);
  }
  return shard;
}

RankParamShard rank_param_shard(ElementCount total, const ParallelConfig& c) {
  RankParamShard shard;
  const auto ways = static_cast<std::uint64_t>(c.tp * c.pp);
  shard.dense = ElementCount(detail::ceil_div(total.value, ways));
  shard.terms.push_back({"parameters / (tp * pp)", shard.dense, 1, false});
  return shard;
}

}  // namespace trainmem
