// nccl-tests style table for `trainmem estimate`: '#' header with the resolved config, one row per rank
// class with a units row, '#' footer with the peak and the verdict.
#include <iomanip>
#include <string>

#include "tools/report/format.hpp"
#include "tools/report/report.hpp"
#include "tools/report/report_inference.hpp"
#include "tools/report/report_lora.hpp"

namespace trainmem::tools {
namespace {
std::string on_off(bool b) { return b ? "on" : "off"; }

void write_header(std::ostream& out, const sim::EstimateResult& r, const std::string& source) {
  const auto& sc = r.resolved.scenario;
  const auto& p = sc.parallel;
  const auto& t = sc.training;
  out << "# trainmem " << kVersion << " estimate\n";
  if (sc.model) {
    const auto& m = *sc.model;
    out << "# model      " << m.name << " (" << source << "): " << with_commas(r.num_parameters.value)
        << " parameters; " << m.num_layers << " layers, hidden " << m.hidden_size << ", " << m.num_attention_heads;
    if (m.mla())
      out << " heads, MLA (" << (m.q_lora_rank != 0 ? "q_lora " + std::to_string(m.q_lora_rank) : "no q LoRA")
          << ", kv_lora " << m.kv_lora_rank << ", qk " << m.head_dim() << "+" << m.qk_rope_head_dim << " rope, v "
          << m.v_head_dim << ")";
    else
      out << " heads (" << m.query_groups() << " kv), head_dim " << m.head_dim();
    out << ", ffn " << m.ffn() << ", vocab " << m.vocab_size << " (padded " << r.padded_vocab_size << ")\n";
    out << "#            " << normalization_name(m.normalization)
        << (m.normalization == Normalization::layer_norm && !m.norm_bias ? " (no bias)" : "") << ", "
        << activation_name(m.activation) << ", " << position_embedding_name(m.position_embedding) << " positions, "
        << (m.tie_embeddings ? "tied" : "untied") << " embeddings, "
        << (m.add_bias_linear ? "biases"
            : m.add_qkv_bias  ? "q/k/v biases only"
                              : "no biases");
    if (m.qk_norm) out << ", q/k norm";
    if (m.sandwich_norm) out << ", sandwich norms";
    if (m.parallel_residual) out << ", parallel residual";
    if (m.is_moe()) {
      out << ", " << m.num_experts << " experts (top-" << m.moe_router_topk << ", expert ffn " << m.expert_ffn();
      if (m.shared_expert_ffn != 0)
        out << ", shared expert ffn " << m.shared_expert_ffn << (m.shared_expert_gate ? " gated" : "");
      if (m.moe_router_bias) out << ", router bias";
      out << ")";
      if (m.first_dense_layers != 0) out << ", first " << m.first_dense_layers << " layers dense";
    }
    if (m.mtp_layers != 0) out << ", " << m.mtp_layers << " MTP module(s)";
    out << "\n";
  } else {
    out << "# model      " << with_commas(r.num_parameters.value) << " parameters (bare count: model states only)\n";
  }
  out << "# layout     world_size " << p.world_size << " = tp " << p.tp << " x cp " << p.cp << " x pp " << p.pp
      << " x dp " << p.dp << "; ep " << p.ep << ", etp " << p.etp << ", edp " << p.edp() << ", vpp " << p.vpp
      << ", sequence_parallel " << on_off(p.sequence_parallel) << ", ulysses_sp " << p.ulysses_sp;
  if (p.hybrid_shard())
    out << "; HSDP shard_group_size " << p.shard_group_size << " (" << p.dp / p.shard_group_size << " replicas)";
  out << "; rank order tp-cp-ep-dp-pp\n";
  out << "# training   recipe " << r.resolved.recipe->name
      << (r.resolved.recipe->alias.empty() ? "" : " (" + std::string(r.resolved.recipe->alias) + ")") << " + "
      << r.resolved.optimizer->name << " = " << sim::bytes_per_parameter(*r.resolved.recipe, *r.resolved.optimizer)
      << " bytes/param before sharding; zero_stage " << p.zero_stage << "; seq_length " << t.seq_length
      << "; micro_batch_size " << t.micro_batch_size << "; global_batch_size " << t.global_batch_size
      << "; num_microbatches " << r.resolved.num_microbatches << "\n";
  if (sc.model) {
    const char* recompute = t.recompute_granularity == sim::RecomputeGranularity::full        ? "full"
                            : t.recompute_granularity == sim::RecomputeGranularity::selective ? "selective"
                                                                                              : "none";
    out << "# activation " << (r.activation_bytes == 4 ? "fp32" : "bf16") << "; attention "
        << (t.attention == sim::AttentionKernel::eager ? "eager" : "flash") << "; dropout attention "
        << t.attention_dropout.value_or(0.0) << ", hidden " << t.hidden_dropout.value_or(0.0) << "; recompute "
        << recompute;
    if (t.recompute_granularity == sim::RecomputeGranularity::full) {
      // recompute_num_layers 0 (the default) checkpoints every layer on its own (sim/accounting/stage_activations.cpp).
      const bool block = t.recompute_method == sim::RecomputeMethod::block;
      out << " (" << (block ? "block, " : "uniform, ");
      if (t.recompute_num_layers == 0)
        out << (block ? "every layer of a chunk" : "groups of 1 layer");
      else
        out << (block ? "" : "groups of ") << t.recompute_num_layers
            << (t.recompute_num_layers == 1 ? " layer" : " layers");
      out << ")";
    }
    out << "; schedule "
        << (t.pipeline_schedule == sim::PipelineScheduleOption::gpipe ? "gpipe"
            : p.vpp > 1                                               ? "interleaved 1f1b"
                                                                      : "1f1b")
        << "; per layer and microbatch " << iec(r.layer_activations->saved_all) << " kept whole, "
        << iec(r.layer_activations->saved_selective) << " with selective recompute, "
        << iec(r.layer_activations->checkpoint) << " as a full-recompute checkpoint\n";
  }
  write_lora_header(out, r);
  out << "#\n";
}

// Non-model memory and offload of the fullest rank class, and the per-node totals (docs/runtime-memory.md,
// docs/offload.md). The JSON output has every class.
void write_offload_runtime(std::ostream& out, const sim::EstimateResult& r) {
  const auto& sc = r.resolved.scenario;
  const auto& c = r.classes[r.max_peak_class];
  const auto& rt = c.runtime;
  if (sc.runtime.enabled) {
    out << "# Runtime   : CUDA context " << iec(rt.cuda_context) << ", NCCL " << iec(rt.nccl);
    if (!rt.comms.empty()) {
      out << " (";
      for (std::size_t k = 0; k < rt.comms.size(); ++k) {
        const auto& cm = rt.comms[k];
        out << (k ? ", " : "") << cm.group << " " << cm.size << " "
            << (cm.pattern == sim::CommPattern::ring  ? "ring"
                : cm.pattern == sim::CommPattern::p2p ? "p2p"
                                                      : "all-to-all")
            << " " << iec(cm.bytes);
      }
      out << ")";
    }
    out << ", workspaces " << iec(rt.workspaces) << ", allocator rounding " << iec(rt.allocator_rounding)
        << ", fragmentation reserve " << iec(rt.fragmentation) << " (fixed shapes) .. " << iec(rt.fragmentation_high)
        << " (variable-length batches) (class " << r.max_peak_class << ")\n";
  }
  out << "# Allocator : allocated " << iec(c.allocated) << ", reserved " << iec(c.reserved);
  if (rt.fragmentation_high > rt.fragmentation)
    out << " .. " << iec(c.reserved - rt.fragmentation + rt.fragmentation_high);
  out << ", device total " << iec(c.peak);
  if (c.safe_budget) out << "; safe budget " << iec(*c.safe_budget) << " (GPU memory - runtime)";
  out << " (class " << r.max_peak_class << ")\n";
  if (sc.offload.any()) {
    out << "# Offload   : per rank host " << iec(c.offload.host) << " (pinned " << iec(c.offload.host_pinned)
        << "), NVMe " << iec(c.offload.nvme) << ", GPU staging " << iec(c.offload.gpu_staging) << "; off the GPU:";
    bool any = false;
    for (auto cat : sim::kMemoryCategories)
      if (c.offload.gpu_removed[cat].value > 0) {
        out << (any ? ", " : " ") << sim::category_name(cat) << " " << iec(c.offload.gpu_removed[cat]);
        any = true;
      }
    out << (any ? "" : " nothing") << " (class " << r.max_peak_class << ")\n";
  }
  const auto& n = r.per_node;
  out << "# Per node  : " << n.gpus_per_node << " GPUs/node, " << n.num_nodes << " node(s); largest node: GPU "
      << iec(n.gpu) << ", host " << iec(n.host) << " (pinned " << iec(n.host_pinned) << "), NVMe " << iec(n.nvme)
      << "\n";
}
}  // namespace

void write_peak_verdict(std::ostream& out, const sim::EstimateResult& r) {
  const auto& worst = r.classes[r.max_peak_class];
  out << "# Max peak  : " << iec(r.max_peak) << " (" << with_commas(r.max_peak.value) << " bytes) on class "
      << r.max_peak_class << " (ranks " << rank_ranges(worst.ranks) << ", pp_rank " << rank_ranges(worst.pp_ranks)
      << ")\n";
  if (!r.gpu_memory) return;
  const auto& sc = r.resolved.scenario;
  out << "# Device    : " << (sc.gpu_name.empty() ? std::string("--gpu-memory") : sc.gpu_name) << ", "
      << iec(*r.gpu_memory) << " (" << with_commas(r.gpu_memory->value) << " bytes): ";
  if (*r.fits)
    out << "FITS, " << iec(*r.gpu_memory - r.max_peak) << " free on the fullest rank\n";
  else
    out << "DOES NOT FIT, short by " << iec(r.max_peak - *r.gpu_memory) << " on the fullest rank\n";
}

void write_estimate_table(std::ostream& out, const sim::EstimateResult& r, const std::string& source) {
  if (r.resolved.scenario.inference.enabled) return write_inference_table(out, r, source);
  write_header(out, r, source);
  using sim::MemoryCategory;
  static constexpr struct {
    MemoryCategory cat;
    const char* title;
  } kCols[] = {{MemoryCategory::params, "params"},        {MemoryCategory::grads, "grads"},
               {MemoryCategory::master_params, "master"}, {MemoryCategory::optimizer_states, "optim"},
               {MemoryCategory::activations, "activ"},    {MemoryCategory::buffers, "buffers"},
               {MemoryCategory::temporaries, "temps"},    {MemoryCategory::runtime, "runtime"}};
  out << "#" << std::setw(5) << "class" << std::setw(9) << "pp_rank" << std::setw(7) << "layers" << std::setw(19)
      << "parameters";
  for (const auto& c : kCols) out << std::setw(9) << c.title;
  out << std::setw(10) << "peak"
      << "  ranks\n";
  out << "#" << std::setw(5) << "" << std::setw(9) << "" << std::setw(7) << "" << std::setw(19) << "(held)";
  for (std::size_t i = 0; i < std::size(kCols); ++i) out << std::setw(9) << "(GiB)";
  out << std::setw(10) << "(GiB)"
      << "\n";
  for (std::size_t i = 0; i < r.classes.size(); ++i) {
    const auto& c = r.classes[i];
    out << std::setw(6) << i << std::setw(9) << rank_ranges(c.pp_ranks) << std::setw(7) << c.num_layers << std::setw(19)
        << with_commas(c.shard.total().value);
    for (const auto& col : kCols) out << std::setw(9) << gib(c.bytes[col.cat]);
    out << std::setw(10) << gib(c.peak) << "  " << rank_ranges(c.ranks) << "\n";
  }
  write_peak_verdict(out, r);
  if (!r.gpu_memory) out << "# Device    : none given (--gpu or --gpu-memory gives a fits verdict)\n";
  write_offload_runtime(out, r);
  const bool runtime_on = r.resolved.scenario.runtime.enabled;
  if (r.resolved.scenario.model) {
    out << "# activ     : saved-for-backward tensors x in-flight microbatches (+ embedding/loss extras); temps: "
           "recompute, CP exchange, logits and activation-gradient transients (--explain shows the per-op table)\n";
    if (!r.classes.empty() && r.classes[r.max_peak_class].buffer_shape)
      out << "# buffers   : DDP / DeepSpeed gradient buckets, ZeRO-3 gathers, p2p sends (--explain: formulas); "
             "activ/buffers/temps are taken at the stage's peak point ("
          << r.classes[r.max_peak_class].peak_point << " here), the point `trainmem simulate` replays\n";
    if (!runtime_on) out << "# Not in estimate: runtime (--runtime off) is reported as 0\n";
  } else {
    out << "# Not yet modelled: a bare parameter count has no layers, so no step is modelled: activations, buffers "
           "(DDP/ZeRO buckets, ZeRO-3 gathers)"
        << (runtime_on ? " and temporaries are" : ", temporaries and runtime (--runtime off) are")
        << " reported as 0\n";
  }
}

}  // namespace trainmem::tools
