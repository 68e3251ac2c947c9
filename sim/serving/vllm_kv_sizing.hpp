// How vLLM sizes its paged KV cache at start-up, and so how many concurrent requests of a length fit
// (docs/inference.md, "vLLM's KV cache sizing"). vLLM (v1 engine) does it per worker (GPU):
//   requested  = ceil(total GPU memory * gpu_memory_utilization)      vllm/v1/worker/utils.py request_memory
//   available  = requested - non_kv_cache_memory                      vllm/v1/worker/gpu_worker.py
//                non_kv_cache_memory = weights + torch peak increase of a profile forward of
//                max_num_batched_tokens tokens (max_num_seqs requests) + non-torch increase (CUDA context, NCCL)
//                                                                     determine_available_memory / memory_profiling
//   num_blocks = available // page_size // num_layers, page_size = one block of one layer:
//                2 (K and V) * block_size * kv_heads per rank * head_size * dtype bytes
//                                                                     vllm/v1/core/kv_cache_utils.py get_num_blocks,
//                                                                     vllm/v1/kv_cache_interface.py page_size_bytes
//                (kv heads per rank = max(1, kv_heads // tp), vllm/config ModelConfig.get_num_kv_heads); every
//                worker then takes the smallest num_blocks of all workers (get_kv_cache_configs)
//   KV cache size = num_blocks * block_size tokens; max concurrency for max_model_len tokens per request =
//                num_blocks / cdiv(max_model_len, block_size)         get_max_concurrency_for_kv_cache_config
//   refusal    = available <= 0 ("No available memory for the cache blocks"), or one request of max_model_len
//                needs more than available ("To serve at least one request with the models's max seq len ...")
//                                                                     _check_enough_kv_cache_memory
// vLLM measures the activation peak and the non-torch memory on the GPU; trainmem models them (the inference
// workspace of sim/serving/inference_memory.hpp and the CUDA context + NCCL + workspaces of
// sim/runtime/runtime_memory.hpp) and passes them in. Pure arithmetic: no model knowledge here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "partition/model_spec.hpp"
#include "partition/units.hpp"

namespace trainmem::sim {

// vLLM SchedulerConfig's own defaults (vllm/config/scheduler.py DEFAULT_MAX_NUM_SEQS, DEFAULT_MAX_NUM_BATCHED_TOKENS).
// vLLM's EngineArgs raise both for large GPUs depending on how it is started; give them explicitly to match a run.
inline constexpr std::int64_t kVllmDefaultMaxNumSeqs = 128;
inline constexpr std::int64_t kVllmDefaultMaxNumBatchedTokens = 2048;

// The profile run's forward: max_num_batched_tokens tokens (vLLM's default when 0), in min(max_num_seqs, tokens)
// requests whose last tokens are sampled (vllm/v1/worker/gpu_model_runner.py profile_run, _dummy_sampler_run).
std::int64_t vllm_profile_tokens(std::int64_t max_num_batched_tokens);
// max_num_seqs as given, or when 0 vLLM's default 128 lowered to the profile's tokens (so that a small
// max_num_batched_tokens alone is no error).
std::int64_t vllm_max_num_seqs(std::int64_t max_num_seqs, std::int64_t max_num_batched_tokens);

// One vLLM worker (GPU) as the profile run sees it. vLLM's measured terms are trainmem's models of them.
struct VllmWorker {
  std::int64_t pp_rank = 0;
  Bytes weights;          // model weights on this GPU (vLLM: measured after loading)
  Bytes activation_peak;  // the profile forward's peak activations (vLLM: torch peak increase, measured)
  Bytes non_torch;        // CUDA context, NCCL buffers, library workspaces (vLLM: non-torch increase, measured)
  Bytes kv_bytes_per_token_layer;  // K and V of one token in one layer (2 * kv heads per rank * head_dim * dtype)
  std::int64_t num_layers = 0;     // attention layers on this worker; 0 = none (vLLM skips such a worker)
};

struct VllmWorkerBudget {
  std::int64_t pp_rank = 0;
  Bytes requested;                            // ceil(gpu_memory * gpu_memory_utilization)
  Bytes weights, activation_peak, non_torch;  // the worker's inputs
  Bytes non_kv;                               // weights + activation_peak + non_torch
  bool has_room = false;        // requested > non_kv; otherwise vLLM refuses: no memory for the cache blocks
  Bytes available;              // requested - non_kv (0 when !has_room)
  Bytes page_bytes;             // one block of one layer
  std::int64_t num_blocks = 0;  // available // page_bytes // num_layers
};

struct VllmKvSizing {
  std::vector<VllmWorkerBudget> workers;  // one per pipeline stage (tp ranks of a stage are identical)
  std::size_t limiting = 0;               // the worker with the fewest blocks (vLLM uses its count everywhere)
  std::int64_t block_size = 0;
  std::int64_t num_blocks = 0;       // min over the workers
  std::int64_t kv_cache_tokens = 0;  // num_blocks * block_size ("GPU KV cache size: N tokens")
  std::int64_t max_model_len = 0;
  std::int64_t blocks_per_request = 0;  // cdiv(max_model_len, block_size)
  double max_concurrency = 0.0;         // num_blocks / blocks_per_request ("Maximum concurrency ...: X.XXx")
  std::int64_t max_num_seqs = 0;
  std::int64_t concurrent_requests = 0;      // min(floor(max_concurrency), max_num_seqs)
  bool max_model_len_fits = false;           // vLLM starts: every worker has room for one request of max_model_len
  Bytes needed_for_one_request;              // on the limiting-for-fit worker: blocks_per_request * page * layers
  Bytes available_for_fit;                   // that worker's available bytes
  std::int64_t estimated_max_model_len = 0;  // the longest request that fits (vLLM's estimate when it refuses)
};

// Throws ConfigError for utilization outside (0, 1], block_size, max_model_len or max_num_seqs below 1, or a
// worker without layers.
VllmKvSizing vllm_kv_sizing(const std::vector<VllmWorker>& workers, Bytes gpu_memory, double gpu_memory_utilization,
                            std::int64_t block_size, std::int64_t max_model_len, std::int64_t max_num_seqs);

// Concurrency of requests of `tokens` tokens in `num_blocks` blocks: num_blocks / cdiv(tokens, block_size).
double vllm_concurrency(std::int64_t num_blocks, std::int64_t block_size, std::int64_t tokens);

// Why vLLM's start-up sizing is not modelled for `model`, or "" when it is. A model with sliding-window layers is
// refused: vLLM's v1 hybrid KV cache manager pages its sliding-window and full-attention layers as separate KV cache
// groups sharing one block pool (vllm/v1/core/kv_cache_utils.py), so the block count, the per-request blocks and the
// concurrency differ from the one-spec arithmetic above; the version-dependent grouping is not reproduced here.
std::string vllm_sliding_window_refusal(const ModelSpec& model);

// ceil(gpu_memory * utilization) as vLLM computes it in floating point.
Bytes vllm_requested_memory(Bytes gpu_memory, double gpu_memory_utilization);

}  // namespace trainmem::sim
