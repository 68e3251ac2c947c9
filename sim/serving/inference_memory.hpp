// Inference memory of one rank (bytes): weights in the serving dtype with their quantisation scales, the KV
// cache (sim/serving/kv_cache.hpp, vLLM paper Sec. 2) and the activation workspace of the largest forward (the
// prefill of every sequence at once), and the largest batch or context that fits a GPU. See docs/inference.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "partition/layer_assignment.hpp"
#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"
#include "partition/shard_plan.hpp"
#include "sim/accounting/model_state_memory.hpp"
#include "sim/serving/kv_cache.hpp"
#include "sim/serving/vllm_kv_sizing.hpp"
#include "sim/serving/weight_quantization.hpp"

namespace trainmem::sim {

struct InferenceConfig {
  bool enabled = false;
  std::int64_t max_new_tokens = 0;      // generated tokens per sequence (KV cache holds seq_length + these)
  WeightFormat weights;                 // weight_dtype, quant_group_size
  std::optional<Dtype> kv_cache_dtype;  // unset = the compute dtype
  std::int64_t kv_block_size = 16;      // paged attention block in tokens (vLLM default); 0 = contiguous
  // Tokens one forward processes at most (vLLM max_num_batched_tokens, chunked prefill); 0 = every prompt
  // token of every sequence in one forward (Hugging Face generate).
  std::int64_t max_num_batched_tokens = 0;
  // vLLM's start-up KV cache sizing (sim/serving/vllm_kv_sizing.hpp), reported when a GPU is given:
  double gpu_memory_utilization = 0.9;  // fraction of the GPU vLLM may use (vLLM's default)
  std::int64_t max_model_len = 0;       // tokens one request may hold; 0 = seq_length + max_new_tokens
  // Requests per step (the profile run's sampled rows); 0 = vLLM's default 128, at most the profile's tokens.
  std::int64_t max_num_seqs = 0;
};

// The model as served on `tp` ranks: when tp exceeds the KV heads (and is a multiple of them) every rank keeps
// one KV head, replicated tp / kv_heads times (vLLM QKVParallelLinear num_kv_head_replicas), so per rank the
// weights and cache are those of a model with tp KV heads. Otherwise the model unchanged.
ModelSpec serving_model(const ModelSpec& model, std::int64_t tp);

// Compute (activation) dtype: fp32 for fp32 weights, fp16 for fp16 weights, else bf16.
Dtype inference_compute_dtype(const InferenceConfig& config);

// The activation workspace of one forward of `tokens` tokens (micro_batch_size x seq_length, or at most
// max_num_batched_tokens with chunked prefill) of `sequences` sequences on one rank:
//   layer:  tokens * [2h (residual stream + normed input) + max(attention, mlp)] compute-dtype elements,
//           attention = (q + 2 kv heads per rank) * head_dim (the QKV output) + q heads * head_dim (core output),
//           mlp = 3 ffn/tp (gate, up, act(gate)*up) with SwiGLU, 2 ffn/tp (fc1, act) otherwise;
//   logits (last stage only): the final hidden states (tokens * h) + the logits of each sequence's last token
//           (sequences * padded_vocab/tp) in the compute dtype and again in fp32 for sampling.
// The workspace is the larger of the two: a layer's intermediates are freed before the LM head runs.
struct InferenceWorkspace {
  std::int64_t tokens = 0;
  Bytes layer;
  Bytes logits;
  Bytes total;
};
InferenceWorkspace inference_workspace(const ModelSpec& model, const ParallelConfig& parallel, const StageLayers& stage,
                                       std::int64_t sequences, std::int64_t tokens, std::int64_t padded_vocab,
                                       Dtype compute_dtype, std::int64_t kv_heads_per_rank);

struct InferenceRank {
  RankWeights weights;           // `params`
  KvCache kv;                    // `kv_cache`
  InferenceWorkspace workspace;  // `activations`
  Bytes peak() const { return weights.total() + kv.total + workspace.total; }
};

// One rank of pipeline stage `stage` (`model` and `shard` of serving_model()): `sequences` concurrent sequences of
// `context` prompt tokens each, plus config.max_new_tokens generated tokens in the KV cache.
InferenceRank inference_rank(const ModelSpec& model, const ParallelConfig& parallel, const StageLayers& stage,
                             const RankParamShard& shard, const InferenceConfig& config, std::int64_t sequences,
                             std::int64_t context, std::int64_t padded_vocab);

// The weights as report terms in the `params` category: quantised linear weights, their scales, the rest.
ModelStateMemory inference_weight_terms(const RankWeights& weights, const InferenceConfig& config);

// The largest micro_batch_size (sequences) at the given context, and the largest seq_length (context) at the
// given batch, whose fullest rank fits in `gpu_memory` (0 when even 1 does not fit). Binary search; the peak
// grows monotonically in both. `peak(sequences, context)` is the fullest rank's device total for that size
// (estimate() passes its own full estimate, runtime included, so the capacity agrees with `fits`).
struct InferenceCapacity {
  std::int64_t max_micro_batch_size = 0;
  std::int64_t max_seq_length = 0;
};
InferenceCapacity inference_capacity(const ModelSpec& model, const InferenceConfig& config, std::int64_t sequences,
                                     std::int64_t context, Bytes gpu_memory,
                                     const std::function<Bytes(std::int64_t, std::int64_t)>& peak);

// The fullest rank's peak over all pipeline stages (for the capacity search and tests).
Bytes inference_max_peak(const ModelSpec& model, const ParallelConfig& parallel, const InferenceConfig& config,
                         std::int64_t sequences, std::int64_t context);

}  // namespace trainmem::sim
