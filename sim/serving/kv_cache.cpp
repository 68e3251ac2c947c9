#include "sim/serving/kv_cache.hpp"

#include <algorithm>
#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {

KvCache kv_cache(const ModelSpec& m, const KvCacheConfig& c) {
  auto positive = [](const char* field, std::int64_t v, std::int64_t hi) {
    if (v < 1 || v > hi) throw ConfigError(field, std::to_string(v), "must be between 1 and " + std::to_string(hi));
  };
  positive("micro_batch_size", c.num_sequences, 1LL << 30);
  positive("seq_length", c.context_tokens + c.new_tokens, 1LL << 34);
  if (c.context_tokens < 0) throw ConfigError("seq_length", std::to_string(c.context_tokens), "must not be negative");
  if (c.new_tokens < 0) throw ConfigError("new_tokens", std::to_string(c.new_tokens), "must not be negative");
  positive("tensor_model_parallel_size", c.tp, 1 << 20);
  if (c.block_size < 0 || c.block_size > (1 << 20))
    throw ConfigError("kv_block_size", std::to_string(c.block_size), "must be between 0 (contiguous) and 1048576");

  const std::int64_t kv_heads = m.query_groups();
  KvCache out;
  if (m.mla()) {
    out.kv_heads_per_rank = 1;  // one compressed latent per token, whole on every TP rank
  } else if (c.tp <= kv_heads) {
    if (kv_heads % c.tp != 0)
      throw ConfigError("tensor_model_parallel_size", std::to_string(c.tp),
                        "does not divide the " + std::to_string(kv_heads) + " KV heads");
    out.kv_heads_per_rank = kv_heads / c.tp;
  } else {
    if (c.tp % kv_heads != 0)
      throw ConfigError(
          "tensor_model_parallel_size", std::to_string(c.tp),
          "is not a multiple of the " + std::to_string(kv_heads) + " KV heads (each rank needs whole heads)");
    out.kv_heads_per_rank = 1;  // replicated: tp / kv_heads ranks share each head
  }
  if (c.local_layers < 0 || c.local_layers > m.num_layers || (c.local_layers > 0 && m.sliding_window == 0))
    throw ConfigError("local_layers", std::to_string(c.local_layers),
                      "must be between 0 and the stage's layers, and 0 without a sliding window");
  auto blocks = [&c](std::int64_t n) {
    return c.block_size > 0 ? (n + c.block_size - 1) / c.block_size * c.block_size : n;
  };
  const std::int64_t tokens = blocks(c.context_tokens + c.new_tokens);
  out.tokens_per_sequence = tokens;
  // A sliding-window layer keeps the last sliding_window tokens only.
  const std::int64_t local_tokens =
      c.local_layers > 0 ? blocks(std::min(c.context_tokens + c.new_tokens, m.sliding_window)) : 0;

  // K and V: 2 vectors of head_dim per KV head per layer.
  auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
  // MLA (DeepSeek-V2/V3) caches the compressed latent instead: kv_lora_rank + qk_rope_head_dim values per token
  // per layer (the normed kv latent and the rotated shared rope key; DeepSeek-V2 report Sec. 2.1.2, vLLM's MLA
  // backend, SGLang), the same on every TP rank. transformers' DeepseekV3Attention caches the up-projected
  // per-head K and V instead (heads * (qk_nope + qk_rope + v_head_dim)), which this does not model.
  const ElementCount per_layer_token = m.mla() ? ElementCount(u(m.kv_lora_rank + m.qk_rope_head_dim))
                                               : ElementCount(2) * u(out.kv_heads_per_rank) * u(m.head_dim());
  out.bytes_per_token = bytes_of(per_layer_token * u(m.num_layers), c.dtype);
  const ElementCount layer_tokens =
      ElementCount(u(m.num_layers - c.local_layers)) * u(tokens) + ElementCount(u(c.local_layers)) * u(local_tokens);
  out.total = bytes_of(per_layer_token * layer_tokens.value * u(c.num_sequences), c.dtype);
  return out;
}

}  // namespace trainmem::sim
