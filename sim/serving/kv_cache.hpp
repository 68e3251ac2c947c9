// Inference KV cache: every layer keeps a key and a value vector per token and KV head,
// 2 * layers * kv_heads * head_dim * dtype bytes per token (Kwon et al. 2023, vLLM, Sec. 2: 800 KB per
// token for OPT-13B). GQA/MQA shrink kv_heads; TP splits KV heads but every rank keeps at least one
// (vLLM replicates KV heads when tp > kv_heads); paged attention allocates whole blocks of tokens.
#pragma once

#include <cstdint>

#include "partition/dtype.hpp"
#include "partition/model_spec.hpp"

namespace trainmem::sim {

struct KvCacheConfig {
  std::int64_t num_sequences = 1;   // concurrent sequences (batch)
  std::int64_t context_tokens = 0;  // prompt length per sequence
  std::int64_t new_tokens = 0;      // generated tokens per sequence
  Dtype dtype = Dtype::bf16;        // KV cache dtype (fp8/int8 caches halve it)
  std::int64_t block_size = 0;      // paged attention block in tokens (vLLM default 16); 0 = contiguous
  std::int64_t tp = 1;
  // Layers of this stage with sliding-window attention (ModelSpec::local_attention_layer): each keeps at most
  // ModelSpec::sliding_window tokens per sequence (rounded up to whole blocks), as transformers' HybridCache
  // and vLLM's sliding-window KV cache manager allocate them.
  std::int64_t local_layers = 0;
};

struct KvCache {
  std::int64_t kv_heads_per_rank = 0;
  std::int64_t tokens_per_sequence = 0;  // context + new, rounded up to whole blocks when paged
  Bytes bytes_per_token;                 // one token, all layers, on one rank (before any sliding window fills)
  Bytes total;                           // all sequences, on one rank
};

// Throws ConfigError for non-positive sizes or a tp that does not divide (or is not a multiple of) kv heads.
KvCache kv_cache(const ModelSpec& model, const KvCacheConfig& config);

}  // namespace trainmem::sim
