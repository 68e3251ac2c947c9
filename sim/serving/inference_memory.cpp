#include "sim/serving/inference_memory.hpp"

#include <algorithm>
#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {
std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(v); }

// The largest n in [1, hi] with fits(n), or 0 when fits(1) is false. fits must be monotone (true then false).
template <typename Fits>
std::int64_t largest_fitting(std::int64_t hi, Fits fits) {
  if (!fits(1)) return 0;
  std::int64_t lo = 1;  // fits(lo) holds
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid))
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}
}  // namespace

ModelSpec serving_model(const ModelSpec& m, std::int64_t tp) {
  ModelSpec served = m;
  const std::int64_t kv = m.query_groups();
  if (tp > kv && kv > 0 && tp % kv == 0) served.num_query_groups = tp;
  return served;
}

Dtype inference_compute_dtype(const InferenceConfig& c) {
  if (c.weights.dtype == Dtype::fp32) return Dtype::fp32;
  if (c.weights.dtype == Dtype::fp16) return Dtype::fp16;
  return Dtype::bf16;
}

InferenceWorkspace inference_workspace(const ModelSpec& m, const ParallelConfig& p, const StageLayers& stage,
                                       std::int64_t sequences, std::int64_t tokens, std::int64_t padded_vocab,
                                       Dtype compute, std::int64_t kv_heads_per_rank) {
  InferenceWorkspace w;
  w.tokens = tokens;
  const std::uint64_t h = u(m.hidden_size), d = u(m.head_dim());
  const ElementCount t(u(tokens));
  if (stage.num_layers > 0) {
    const std::uint64_t q = u(m.num_attention_heads / p.tp);
    // MLA: q and k of nope + rope, v and the output of v_head_dim per head, plus the kv latent and rope key.
    const std::uint64_t attention =
        m.mla() ? q * u(2 * m.qk_head_dim() + 2 * m.v_head_dim) + u(m.kv_lora_rank + m.qk_rope_head_dim)
                : (q + 2 * u(kv_heads_per_rank)) * d + q * d;
    std::uint64_t ffn_per_rank = 0;
    std::uint64_t mlp = 0;
    if (m.is_moe()) {
      // Each token's hidden states go to topk experts: count the routed copies at the expert width.
      ffn_per_rank = u(m.expert_ffn() / p.etp);
      mlp = (m.gated_mlp() ? 3 : 2) * ffn_per_rank * u(m.moe_router_topk);
      // A shared expert runs after the routed ones (Qwen2MoeSparseMoeBlock): the larger of the two.
      mlp = std::max(mlp, (m.gated_mlp() ? 3 : 2) * u(m.shared_expert_ffn / p.tp));
      // DeepSeek's first_dense_layers run a dense MLP of ffn_hidden_size, when this stage holds any of them.
      bool dense_layers = false;
      for (const auto& chunk : stage.chunks) dense_layers = dense_layers || chunk.first_layer < m.first_dense_layers;
      if (dense_layers) mlp = std::max(mlp, (m.gated_mlp() ? 3 : 2) * u(m.ffn() / p.tp));
    } else {
      ffn_per_rank = u(m.ffn() / p.tp);
      mlp = (m.gated_mlp() ? 3 : 2) * ffn_per_rank;
    }
    w.layer = bytes_of(t * (2 * h + std::max(attention, mlp)), compute);
  }
  if (stage.has_output_layer) {
    const ElementCount last_logits = ElementCount(u(sequences)) * u(padded_vocab / p.tp);
    w.logits = bytes_of(t * h, compute) + bytes_of(last_logits, compute) + bytes_of(last_logits, Dtype::fp32);
  }
  w.total = std::max(w.layer, w.logits);
  return w;
}

InferenceRank inference_rank(const ModelSpec& m, const ParallelConfig& p, const StageLayers& stage,
                             const RankParamShard& shard, const InferenceConfig& c, std::int64_t sequences,
                             std::int64_t context, std::int64_t padded_vocab) {
  InferenceRank r;
  const Dtype compute = inference_compute_dtype(c);
  r.weights = rank_weights(m, p, stage, shard, c.weights, compute);
  ModelSpec stage_model = m;  // the KV cache of this stage's layers only
  stage_model.num_layers = stage.num_layers;
  KvCacheConfig kc;
  kc.num_sequences = sequences;
  kc.context_tokens = context;
  kc.new_tokens = c.max_new_tokens;
  kc.dtype = c.kv_cache_dtype.value_or(compute);
  kc.block_size = c.kv_block_size;
  kc.tp = p.tp;
  for (const auto& chunk : stage.chunks)
    for (std::int64_t l = chunk.first_layer; l < chunk.first_layer + chunk.num_layers; ++l)
      kc.local_layers += m.local_attention_layer(l) ? 1 : 0;
  r.kv = kv_cache(stage_model, kc);
  // Prefill of every sequence in one forward is the largest: a decode step processes one token per sequence.
  ElementCount tokens = ElementCount(u(sequences)) * u(context);
  if (tokens.value > (1ULL << 40)) throw OverflowError("inference prefill tokens");
  if (c.max_num_batched_tokens > 0) tokens = std::min(tokens, ElementCount(u(c.max_num_batched_tokens)));
  r.workspace = inference_workspace(m, p, stage, sequences, static_cast<std::int64_t>(tokens.value), padded_vocab,
                                    compute, r.kv.kv_heads_per_rank);
  return r;
}

ModelStateMemory inference_weight_terms(const RankWeights& w, const InferenceConfig& c) {
  ModelStateMemory out;
  auto add = [&out](std::string name, std::string dtype, ElementCount n, Bytes bytes) {
    add_params_term(out, std::move(name), std::move(dtype), n, bytes, false);
  };
  add("linear weights", std::string(dtype_name(c.weights.dtype)), w.quantized_elements, w.quantized.data);
  add("quantisation scales", scale_label(c.weights), ElementCount(0), w.quantized.scales);
  add("embeddings, norms, biases, LM head", std::string(dtype_name(inference_compute_dtype(c))), w.other_elements,
      w.other);
  return out;
}

Bytes inference_max_peak(const ModelSpec& model, const ParallelConfig& p, const InferenceConfig& c,
                         std::int64_t sequences, std::int64_t context) {
  const ModelSpec m = serving_model(model, p.tp);
  const std::int64_t padded = padded_vocab_size(m.vocab_size, p.make_vocab_size_divisible_by, p.tp);
  Bytes worst;
  for (const auto& stage : assign_layers(m.num_layers, p)) {
    const RankParamShard shard = rank_param_shard(m, p, stage);
    worst = std::max(worst, inference_rank(m, p, stage, shard, c, sequences, context, padded).peak());
  }
  return worst;
}

InferenceCapacity inference_capacity(const ModelSpec& m, const InferenceConfig& c, std::int64_t sequences,
                                     std::int64_t context, Bytes gpu_memory,
                                     const std::function<Bytes(std::int64_t, std::int64_t)>& peak) {
  auto fits = [&](std::int64_t b, std::int64_t s) {
    try {
      return peak(b, s) <= gpu_memory;
    } catch (const OverflowError&) {
      return false;  // too large to even count: certainly does not fit
    } catch (const ConfigError&) {
      return false;  // beyond the KV cache's limits on sequences or tokens
    }
  };
  InferenceCapacity cap;
  cap.max_micro_batch_size = largest_fitting(1LL << 30, [&](std::int64_t b) { return fits(b, context); });
  cap.max_seq_length = largest_fitting(1LL << 25, [&](std::int64_t s) { return fits(sequences, s); });
  if (m.position_embedding == PositionEmbedding::learned && m.max_position_embeddings > 0)
    cap.max_seq_length =
        std::min(cap.max_seq_length, std::max<std::int64_t>(0, m.max_position_embeddings - c.max_new_tokens));
  return cap;
}

}  // namespace trainmem::sim
