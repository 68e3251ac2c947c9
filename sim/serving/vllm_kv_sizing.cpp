#include "sim/serving/vllm_kv_sizing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {
std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(v); }
std::int64_t cdiv(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
}  // namespace

std::int64_t vllm_profile_tokens(std::int64_t max_num_batched_tokens) {
  return max_num_batched_tokens > 0 ? max_num_batched_tokens : kVllmDefaultMaxNumBatchedTokens;
}

std::int64_t vllm_max_num_seqs(std::int64_t max_num_seqs, std::int64_t max_num_batched_tokens) {
  return max_num_seqs > 0 ? max_num_seqs
                          : std::min(kVllmDefaultMaxNumSeqs, vllm_profile_tokens(max_num_batched_tokens));
}

std::string vllm_sliding_window_refusal(const ModelSpec& model) {
  std::int64_t local = 0;
  for (std::int64_t i = 0; i < model.num_layers; ++i) local += model.local_attention_layer(i) ? 1 : 0;
  if (local == 0) return "";
  return "vLLM's KV cache sizing of a sliding-window model (sliding_window " + std::to_string(model.sliding_window) +
         " on " + std::to_string(local) + " of " + std::to_string(model.num_layers) +
         " layers) is not modelled: vLLM gives sliding-window layers a SlidingWindowSpec (about the window's blocks "
         "per "
         "request) and pages them apart from full-attention layers in its hybrid KV cache manager (trainmem's KV cache "
         "per sequence does count the window)";
}

Bytes vllm_requested_memory(Bytes gpu_memory, double gpu_memory_utilization) {
  if (!(gpu_memory_utilization > 0.0 && gpu_memory_utilization <= 1.0))
    throw ConfigError("gpu_memory_utilization", std::to_string(gpu_memory_utilization),
                      "must be a fraction in (0, 1] (vLLM's default 0.9)");
  // math.ceil(total_memory * gpu_memory_utilization) in Python floats (vllm/v1/worker/utils.py request_memory).
  // A GPU's byte count (< 2^53) is exact in a double; the product is at most the total, so it fits.
  const double requested = std::ceil(static_cast<double>(gpu_memory.value) * gpu_memory_utilization);
  return Bytes(static_cast<std::uint64_t>(requested));
}

double vllm_concurrency(std::int64_t num_blocks, std::int64_t block_size, std::int64_t tokens) {
  if (block_size < 1) throw ConfigError("kv_block_size", std::to_string(block_size), "must be at least 1 for vLLM");
  if (tokens < 1) throw ConfigError("max_model_len", std::to_string(tokens), "must be at least 1");
  return static_cast<double>(num_blocks) / static_cast<double>(cdiv(tokens, block_size));
}

VllmKvSizing vllm_kv_sizing(const std::vector<VllmWorker>& workers, Bytes gpu_memory, double gpu_memory_utilization,
                            std::int64_t block_size, std::int64_t max_model_len, std::int64_t max_num_seqs) {
  if (block_size < 1 || block_size > (1 << 20))
    throw ConfigError("kv_block_size", std::to_string(block_size),
                      "must be between 1 and 1048576 for vLLM's paged KV cache (0 = contiguous is not vLLM)");
  if (max_model_len < 1 || max_model_len > (1LL << 34))
    throw ConfigError("max_model_len", std::to_string(max_model_len), "must be between 1 and 2^34");
  if (max_num_seqs < 1 || max_num_seqs > (1LL << 30))
    throw ConfigError("max_num_seqs", std::to_string(max_num_seqs), "must be between 1 and 2^30");
  const Bytes requested = vllm_requested_memory(gpu_memory, gpu_memory_utilization);

  VllmKvSizing out;
  out.block_size = block_size;
  out.max_model_len = max_model_len;
  out.max_num_seqs = max_num_seqs;
  out.blocks_per_request = cdiv(max_model_len, block_size);
  bool first = true;
  for (const VllmWorker& w : workers) {
    if (w.num_layers < 0) throw ConfigError("num_layers", std::to_string(w.num_layers), "must not be negative");
    VllmWorkerBudget b;
    b.pp_rank = w.pp_rank;
    b.requested = requested;
    b.weights = w.weights;
    b.activation_peak = w.activation_peak;
    b.non_torch = w.non_torch;
    b.non_kv = w.weights + w.activation_peak + w.non_torch;
    b.has_room = requested > b.non_kv;
    b.available = b.has_room ? requested - b.non_kv : Bytes(0);
    // A page is one block of one layer (FullAttentionSpec.page_size_bytes); num_blocks = available // page // layers.
    b.page_bytes = w.kv_bytes_per_token_layer * u(block_size);
    if (w.num_layers > 0 && b.page_bytes.value > 0)
      b.num_blocks = static_cast<std::int64_t>(b.available.value / b.page_bytes.value / u(w.num_layers));
    out.workers.push_back(b);
    if (w.num_layers == 0) continue;  // no KV cache layers here: vLLM leaves this worker out of the minimum
    if (first || b.num_blocks < out.num_blocks) {
      out.num_blocks = b.num_blocks;
      out.limiting = out.workers.size() - 1;
      out.needed_for_one_request = b.page_bytes * u(out.blocks_per_request) * u(w.num_layers);
      out.available_for_fit = b.available;
    }
    first = false;
  }
  if (first) throw ConfigError("num_layers", "0", "no worker holds a KV cache layer");
  if (u(out.num_blocks) > u(std::numeric_limits<std::int64_t>::max()) / u(block_size))
    throw OverflowError("vLLM KV cache tokens");
  out.kv_cache_tokens = out.num_blocks * block_size;
  out.max_concurrency = vllm_concurrency(out.num_blocks, block_size, max_model_len);
  // One request of max_model_len needs blocks_per_request blocks in every layer of a worker: it fits in a worker
  // exactly when blocks_per_request <= that worker's num_blocks, so in all of them when it fits the fewest.
  out.max_model_len_fits = out.workers[out.limiting].has_room && out.blocks_per_request <= out.num_blocks;
  out.concurrent_requests = std::min(out.num_blocks / out.blocks_per_request, max_num_seqs);
  // vLLM's estimate when it refuses: the longest length whose blocks fit, at most max_model_len.
  out.estimated_max_model_len = std::min(max_model_len, out.kv_cache_tokens);
  return out;
}

}  // namespace trainmem::sim
