#include "tools/report/report_inference.hpp"

#include <iomanip>
#include <sstream>
#include <string>

#include "tools/report/format.hpp"
#include "tools/report/report.hpp"
#include "tools/report/report_vllm.hpp"

namespace trainmem::tools {
namespace {
std::string kv_dtype(const sim::InferenceConfig& c) {
  return std::string(dtype_name(c.kv_cache_dtype.value_or(sim::inference_compute_dtype(c))));
}
std::int64_t group_size(const sim::InferenceConfig& c) {
  return c.weights.group_size != 0 ? c.weights.group_size : sim::default_group_size(c.weights.dtype);
}
std::string paging(const sim::InferenceConfig& c) {
  return c.kv_block_size == 0 ? std::string("contiguous")
                              : "paged in blocks of " + std::to_string(c.kv_block_size) + " tokens";
}
}  // namespace

void write_inference_table(std::ostream& out, const sim::EstimateResult& r, const std::string& source) {
  const auto& sc = r.resolved.scenario;
  const auto& p = sc.parallel;
  const auto& m = *sc.model;
  const auto& inf = sc.inference;
  const auto& t = sc.training;
  out << "# trainmem " << kVersion << " estimate --inference\n";
  out << "# model      " << m.name << " (" << source << "): " << with_commas(r.num_parameters.value) << " parameters; "
      << m.num_layers << " layers, hidden " << m.hidden_size << ", " << m.num_attention_heads << " heads";
  if (m.mla())
    out << ", MLA (kv_lora " << m.kv_lora_rank << ", qk " << m.head_dim() << "+" << m.qk_rope_head_dim << " rope, v "
        << m.v_head_dim << ")";
  else
    out << " (" << m.query_groups() << " kv), head_dim " << m.head_dim();
  out << ", ffn " << m.ffn() << ", vocab " << m.vocab_size << " (padded " << r.padded_vocab_size << ")\n";
  out << "# layout     world_size " << p.world_size << " = tp " << p.tp << " x pp " << p.pp << " x dp " << p.dp
      << " (replicas); ep " << p.ep << ", etp " << p.etp << "; rank order tp-cp-ep-dp-pp\n";
  out << "# weights    " << dtype_name(inf.weights.dtype) << " linear weights";
  if (sim::is_quantized(inf.weights.dtype)) out << " + scales (" << sim::scale_label(inf.weights) << ")";
  out << "; embeddings, norms, biases and LM head in " << dtype_name(sim::inference_compute_dtype(inf)) << "; compute "
      << dtype_name(sim::inference_compute_dtype(inf)) << "\n";
  const auto& kv0 = *r.classes[r.max_peak_class].inference;
  out << "# requests   " << t.micro_batch_size << " concurrent sequence(s) x (" << t.seq_length << " context + "
      << inf.max_new_tokens << " new) tokens; KV cache " << kv_dtype(inf) << ", " << paging(inf) << ", "
      << kv0.kv.tokens_per_sequence << " tokens per sequence held, "
      << (m.mla() ? std::string("one MLA latent per token and layer")
                  : std::to_string(kv0.kv.kv_heads_per_rank) + " KV heads per rank")
      << ", " << with_commas(kv0.kv.bytes_per_token.value) << " bytes per token on class " << r.max_peak_class << "; "
      << kv0.workspace.tokens << " tokens per forward"
      << (inf.max_num_batched_tokens > 0 ? " (max_num_batched_tokens)" : " (whole prefill)") << "\n";
  out << "#\n";
  out << "#" << std::setw(5) << "class" << std::setw(9) << "pp_rank" << std::setw(7) << "layers" << std::setw(16)
      << "parameters" << std::setw(10) << "weights" << std::setw(10) << "kv_cache" << std::setw(10) << "activ"
      << std::setw(10) << "runtime" << std::setw(10) << "peak"
      << "  ranks\n";
  out << "#" << std::setw(5) << "" << std::setw(9) << "" << std::setw(7) << "" << std::setw(16) << "(held)";
  for (int i = 0; i < 5; ++i) out << std::setw(10) << "(GiB)";
  out << "\n";
  for (std::size_t i = 0; i < r.classes.size(); ++i) {
    const auto& c = r.classes[i];
    out << std::setw(6) << i << std::setw(9) << rank_ranges(c.pp_ranks) << std::setw(7) << c.num_layers << std::setw(16)
        << with_commas(c.shard.total().value) << std::setw(10) << gib(c.bytes[sim::MemoryCategory::params])
        << std::setw(10) << gib(c.kv_cache) << std::setw(10) << gib(c.bytes[sim::MemoryCategory::activations])
        << std::setw(10) << gib(c.bytes[sim::MemoryCategory::runtime]) << std::setw(10) << gib(c.peak) << "  "
        << rank_ranges(c.ranks) << "\n";
  }
  write_peak_verdict(out, r);
  if (r.gpu_memory) {
    const auto& cap = *r.inference_capacity;
    out << "# Capacity  : at seq_length " << t.seq_length << " + " << inf.max_new_tokens << " new tokens, up to "
        << with_commas(static_cast<std::uint64_t>(cap.max_micro_batch_size))
        << " concurrent sequences fit; at micro_batch_size " << t.micro_batch_size << ", up to seq_length "
        << with_commas(static_cast<std::uint64_t>(cap.max_seq_length)) << "\n";
    write_vllm_lines(out, r);
  } else {
    out << "# Device    : none given (--gpu or --gpu-memory gives a fits verdict and the largest batch/context)\n";
  }
  out << "# activ     : workspace of the prefill forward (one layer's intermediates, or the final hidden states + "
         "last-token logits); no gradients, optimizer states or saved activations\n";
  out << "# Not in estimate: CUDA graphs and the sampler (runtime covers the CUDA context, NCCL, workspaces and the "
         "allocator); Device and Capacity use the whole GPU, the vLLM lines gpu_memory_utilization of it\n";
}

void add_inference_json(nlohmann::json& doc, const sim::EstimateResult& r) {
  using nlohmann::json;
  const auto& sc = r.resolved.scenario;
  const auto& inf = sc.inference;
  doc["config"]["inference"] = inf.enabled;
  if (!inf.enabled) return;
  // Training-only settings do not apply to serving: null rather than misleading defaults.
  for (const char* k : {"recipe", "optimizer", "bytes_per_parameter", "global_batch_size", "num_microbatches",
                        "use_distributed_optimizer", "recompute_granularity", "recompute_method",
                        "recompute_num_layers", "pipeline_schedule", "attention_dropout", "hidden_dropout",
                        "fused_linear_cross_entropy", "moe_expert_capacity_factor", "activation_bytes_per_element"})
    doc["config"][k] = nullptr;
  doc["config"]["max_new_tokens"] = inf.max_new_tokens;
  doc["config"]["weight_dtype"] = dtype_name(inf.weights.dtype);
  doc["config"]["quant_group_size"] = group_size(inf);
  doc["config"]["weight_scales"] = sim::scale_label(inf.weights);
  doc["config"]["compute_dtype"] = dtype_name(sim::inference_compute_dtype(inf));
  doc["config"]["kv_cache_dtype"] = kv_dtype(inf);
  doc["config"]["kv_block_size"] = inf.kv_block_size;
  doc["config"]["max_num_batched_tokens"] = inf.max_num_batched_tokens;
  doc["config"]["gpu_memory_utilization"] = inf.gpu_memory_utilization;
  doc["config"]["max_model_len"] = inf.max_model_len;
  doc["config"]["max_num_seqs"] = sim::vllm_max_num_seqs(inf.max_num_seqs, inf.max_num_batched_tokens);
  for (std::size_t i = 0; i < r.classes.size(); ++i) {
    const auto& ir = *r.classes[i].inference;
    doc["ranks"][i]["inference"] = {{"weights",
                                     {{"linear_weight_elements", ir.weights.quantized_elements.value},
                                      {"linear_weight_matrices", ir.weights.matrices},
                                      {"linear_weight_bytes", ir.weights.quantized.data.value},
                                      {"scale_bytes", ir.weights.quantized.scales.value},
                                      {"other_elements", ir.weights.other_elements.value},
                                      {"other_bytes", ir.weights.other.value},
                                      {"bytes", ir.weights.total().value}}},
                                    {"kv_cache",
                                     {{"kv_heads_per_rank", ir.kv.kv_heads_per_rank},
                                      {"tokens_per_sequence", ir.kv.tokens_per_sequence},
                                      {"bytes_per_token", ir.kv.bytes_per_token.value},
                                      {"bytes", ir.kv.total.value}}},
                                    {"workspace",
                                     {{"tokens", ir.workspace.tokens},
                                      {"layer_bytes", ir.workspace.layer.value},
                                      {"logits_bytes", ir.workspace.logits.value},
                                      {"bytes", ir.workspace.total.value}}}};
  }
  doc["inference_capacity"] = r.inference_capacity
                                  ? json{{"max_micro_batch_size", r.inference_capacity->max_micro_batch_size},
                                         {"max_seq_length", r.inference_capacity->max_seq_length}}
                                  : json(nullptr);
  doc["vllm"] = vllm_json(r);
  if (!r.vllm_not_sized.empty()) doc["vllm_not_sized"] = r.vllm_not_sized;  // a sliding-window model
  // Runtime (context, NCCL, workspaces, allocator) is modelled as for training (sim/runtime/runtime_memory.hpp).
  doc["not_modelled"] = {"buffers"};
}

std::string explain_inference(const sim::EstimateResult& r) {
  const auto& sc = r.resolved.scenario;
  const auto& m = *sc.model;
  const auto& p = sc.parallel;
  const auto& inf = sc.inference;
  const auto& t = sc.training;
  const std::string act = std::string(dtype_name(sim::inference_compute_dtype(inf)));
  std::ostringstream o;
  o << "\nDerivation (inference)\n======================\n";
  o << "Weights: the transformer layers' linear weights in " << dtype_name(inf.weights.dtype);
  if (sim::is_quantized(inf.weights.dtype)) o << " plus scales (" << sim::scale_label(inf.weights) << ", per matrix)";
  o << "; embeddings, norms, biases and LM head in " << act << ". No gradients, master copy or optimizer states.\n";
  o << "KV cache (Kwon et al. 2023, vLLM Sec. 2): 2 (K and V) x layers x KV heads per rank x head_dim x dtype bytes\n"
    << "per token; tokens per sequence = seq_length + max_new_tokens, rounded up to whole blocks of kv_block_size.\n"
    << "TP splits the KV heads; when tp > KV heads each rank keeps one (replicated), as vLLM does.\n";
  o << "Workspace: the prefill forward of all sequences (micro_batch_size x seq_length tokens) is the largest;\n"
    << "one layer keeps tokens x [2h + max(attention, mlp)] " << act << " elements alive (flash attention, no s^2\n"
    << "scores); the last stage's LM head keeps the final hidden states and each sequence's last-token logits\n"
    << "(" << act << " + an fp32 copy for sampling). The workspace is the larger of the two.\n\n";
  for (std::size_t i = 0; i < r.classes.size(); ++i) {
    const auto& c = r.classes[i];
    const auto& ir = *c.inference;
    o << "Rank class " << i << ": ranks " << rank_ranges(c.ranks) << " (pp_rank " << rank_ranges(c.pp_ranks) << ", "
      << c.num_layers << " layers)\n";
    o << "  weights    " << with_commas(ir.weights.quantized_elements.value) << " linear weights ("
      << ir.weights.matrices << " matrices) = " << with_commas(ir.weights.quantized.data.value) << " B + scales "
      << with_commas(ir.weights.quantized.scales.value) << " B + " << with_commas(ir.weights.other_elements.value)
      << " other parameters = " << with_commas(ir.weights.other.value) << " B; total "
      << with_commas(ir.weights.total().value) << " B  " << iec(ir.weights.total()) << "\n";
    if (m.mla())  // one compressed latent per token and layer (docs/inference.md)
      o << "  kv_cache   " << c.num_layers << " layers x MLA latent (" << m.kv_lora_rank << " kv_lora + "
        << m.qk_rope_head_dim << " rope) x ";
    else
      o << "  kv_cache   2 x " << c.num_layers << " layers x " << ir.kv.kv_heads_per_rank << " KV heads x "
        << m.head_dim() << " x ";
    o << dtype_name(inf.kv_cache_dtype.value_or(sim::inference_compute_dtype(inf))) << " = "
      << with_commas(ir.kv.bytes_per_token.value) << " B per token; x " << ir.kv.tokens_per_sequence << " tokens x "
      << t.micro_batch_size << " sequences = " << with_commas(ir.kv.total.value) << " B  " << iec(ir.kv.total) << "\n";
    const std::int64_t q = m.num_attention_heads / p.tp;
    o << "  workspace  " << ir.workspace.tokens << " tokens; layer: attention ";
    if (m.mla())
      o << q << " x (2 x " << m.qk_head_dim() << " + 2 x " << m.v_head_dim << ") + " << m.kv_lora_rank << " + "
        << m.qk_rope_head_dim;
    else
      o << "(" << q << " + 2 x " << ir.kv.kv_heads_per_rank << ") x " << m.head_dim() << " + " << q << " x "
        << m.head_dim();
    o << ", mlp " << (m.gated_mlp() ? 3 : 2) << " x ffn/tp -> " << with_commas(ir.workspace.layer.value)
      << " B; logits " << with_commas(ir.workspace.logits.value)
      << " B; max = " << with_commas(ir.workspace.total.value) << " B  " << iec(ir.workspace.total) << "\n";
    const Bytes runtime = c.bytes[sim::MemoryCategory::runtime];
    o << "  runtime    CUDA context + NCCL + workspaces + allocator rounding and fragmentation "
         "(docs/runtime-memory.md) = "
      << with_commas(runtime.value) << " B  " << iec(runtime) << "\n";
    o << "  peak       weights + kv_cache + workspace + runtime = " << with_commas(c.peak.value) << " B  "
      << iec(c.peak) << "\n\n";
  }
  return o.str();
}

}  // namespace trainmem::tools
