#include "tools/report/report_vllm.hpp"

#include <algorithm>
#include <string>

#include "tools/report/format.hpp"

namespace trainmem::tools {
namespace {
std::string n(std::int64_t v) { return with_commas(static_cast<std::uint64_t>(v)); }
// The request the scenario describes: seq_length prompt + max_new_tokens generated.
std::int64_t request_tokens(const sim::EstimateResult& r) {
  return r.resolved.scenario.training.seq_length + r.resolved.scenario.inference.max_new_tokens;
}
}  // namespace

void write_vllm_lines(std::ostream& out, const sim::EstimateResult& r) {
  if (!r.vllm && r.gpu_memory && r.resolved.scenario.inference.kv_block_size > 0 && !r.vllm_not_sized.empty()) {
    out << "# vLLM      : not sized: " << r.vllm_not_sized << "\n";
    return;
  }
  if (!r.vllm || !r.gpu_memory) return;
  const sim::VllmKvSizing& v = *r.vllm;
  const auto& inf = r.resolved.scenario.inference;
  const sim::VllmWorkerBudget& w = v.workers[v.limiting];
  const std::int64_t tokens = sim::vllm_profile_tokens(inf.max_num_batched_tokens);
  out << "# vLLM      : gpu_memory_utilization " << fixed(inf.gpu_memory_utilization, 2) << " x " << iec(*r.gpu_memory)
      << " = " << iec(w.requested) << "; - weights " << iec(w.weights) << " - profile activations "
      << iec(w.activation_peak) << " (" << n(tokens) << " tokens, " << n(std::min(v.max_num_seqs, tokens))
      << " seqs) - non-torch " << iec(w.non_torch) << " (CUDA context, NCCL, workspaces) = KV cache "
      << (w.has_room ? iec(w.available) : std::string("none")) << " on pp_rank " << w.pp_rank << "\n";
  if (!w.has_room) {
    out << "# vLLM      : REFUSES to start: no memory left for the KV cache (non-KV " << iec(w.non_kv)
        << " >= requested " << iec(w.requested)
        << "); raise --gpu-memory-utilization, quantise the weights or add tp/pp ranks\n";
    return;
  }
  out << "# vLLM      : GPU KV cache size: " << n(v.kv_cache_tokens) << " tokens (" << n(v.num_blocks) << " blocks of "
      << v.block_size << " tokens, " << with_commas(w.page_bytes.value)
      << " B per block and layer); Maximum concurrency for " << n(v.max_model_len)
      << " tokens per request: " << fixed(v.max_concurrency, 2) << "x\n";
  if (!v.max_model_len_fits) {
    out << "# vLLM      : max_model_len " << n(v.max_model_len) << " does NOT fit: one request needs "
        << iec(v.needed_for_one_request) << " of KV cache, " << iec(v.available_for_fit)
        << " available; vLLM refuses to start (its estimated maximum model length: " << n(v.estimated_max_model_len)
        << "); lower --max-model-len or raise --gpu-memory-utilization\n";
    return;
  }
  out << "# vLLM      : max_model_len " << n(v.max_model_len) << " fits (" << n(v.blocks_per_request)
      << " blocks per request): up to " << n(v.concurrent_requests) << " concurrent requests of " << n(v.max_model_len)
      << " tokens" << (v.concurrent_requests == v.max_num_seqs ? " (capped by max_num_seqs)" : "") << "; max_num_seqs "
      << n(v.max_num_seqs);
  if (request_tokens(r) != v.max_model_len)
    out << "; for requests of " << n(request_tokens(r)) << " tokens (seq_length + max_new_tokens): "
        << fixed(sim::vllm_concurrency(v.num_blocks, v.block_size, request_tokens(r)), 2) << "x";
  out << "\n";
}

nlohmann::json vllm_json(const sim::EstimateResult& r) {
  using nlohmann::json;
  if (!r.vllm) return json(nullptr);
  const sim::VllmKvSizing& v = *r.vllm;
  const auto& inf = r.resolved.scenario.inference;
  json workers = json::array();
  for (const auto& w : v.workers)
    workers.push_back({{"pp_rank", w.pp_rank},
                       {"requested_memory", w.requested.value},
                       {"non_kv_cache_memory", w.non_kv.value},
                       {"available_kv_cache_memory", w.available.value},
                       {"has_room", w.has_room},
                       {"page_size_bytes", w.page_bytes.value},
                       {"num_blocks", w.num_blocks}});
  return json{{"gpu_memory_utilization", inf.gpu_memory_utilization},
              {"profile_tokens", sim::vllm_profile_tokens(inf.max_num_batched_tokens)},
              {"block_size", v.block_size},
              {"num_gpu_blocks", v.num_blocks},
              {"kv_cache_tokens", v.kv_cache_tokens},
              {"max_model_len", v.max_model_len},
              {"blocks_per_request", v.blocks_per_request},
              {"max_concurrency", v.max_concurrency},
              {"max_num_seqs", v.max_num_seqs},
              {"concurrent_requests", v.concurrent_requests},
              {"max_model_len_fits", v.max_model_len_fits},
              {"estimated_max_model_len", v.estimated_max_model_len},
              {"limiting_pp_rank", v.workers[v.limiting].pp_rank},
              {"workers", workers}};
}

}  // namespace trainmem::tools
