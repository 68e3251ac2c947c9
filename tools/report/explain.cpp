// --explain: every model-state term of every rank class with its formula, the numbers substituted and
// its source, why the recipe costs 16, 18 or 20 bytes per parameter, and the per-op activation table.
#include <sstream>

#include "partition/model_spec.hpp"
#include "tools/report/explain_buffers.hpp"
#include "tools/report/explain_offload_runtime.hpp"
#include "tools/report/explain_precision.hpp"
#include "tools/report/explain_terms.hpp"
#include "tools/report/format.hpp"
#include "tools/report/report.hpp"
#include "tools/report/report_framework.hpp"
#include "tools/report/report_inference.hpp"
#include "tools/report/report_lora.hpp"

namespace trainmem::tools {

void explain_recipes(std::ostream& o, const sim::EstimateResult& r) {
  o << "Why 16, 18 or 20 bytes per parameter\n"
    << "  Mixed-precision training keeps, per parameter, the compute copy, its gradient, an fp32 master copy\n"
    << "  and the optimizer moments; the frameworks differ in which gradient buffers persist:\n";
  for (const auto& rec : sim::recipes()) {
    const auto* adam = sim::find_optimizer("adam");
    std::string terms;
    for (const auto& t : rec.tensors)
      terms += (terms.empty() ? "" : " + ") + std::string(t.name) + " " + std::to_string(bits_per_element(t.dtype) / 8);
    terms += " + Adam m,v " + std::to_string(2 * bits_per_element(rec.moment_dtype) / 8);
    o << "    " << pad(std::string(rec.name), 9) << pad(rec.alias.empty() ? "" : "(" + std::string(rec.alias) + ")", 13)
      << terms << " = " << sim::bytes_per_parameter(rec, *adam) << "\n";
  }
  o << "  Sources: ZeRO (Rajbhandari et al. 2019, Sec. 3.1: 2+2+K with K=12 -> 16); Megatron-LM\n"
    << "  theoretical_memory_usage.py (bf16 weights + fp32 main_grad + fp32 master + Adam = 18; 6 + 12/dp with\n"
    << "  the distributed optimizer); ZeRO-Infinity Sec. 3 and DeepSpeed #1137 (an fp32 gradient copy for the\n"
    << "  fp32 optimizer -> 20).\n"
    << "  Why keep fp32 master weights at all: an update lr*grad is often below half a bf16 ulp of the weight\n"
    << "  (8 mantissa bits), so adding it to a bf16 weight rounds it away; the optimizer updates fp32 copies.\n"
    << "  Example: bf16 values just above 1.0 are 2^-7 = 0.0078125 apart, so bf16(1.0 + 1e-4) = 1.0: an Adam step of\n"
    << "  lr 1e-4 (|m/sqrt(v)| ~ 1) is lost; in fp32 (spacing 2^-23 ~ 1.2e-7 at 1.0) it is kept. Pure bf16 training\n"
    << "  (recipe bf16) needs stochastic rounding or Kahan summation to converge (Zamirai et al. 2020).\n";
  for (const auto& t : r.resolved.recipe->tensors) o << "  - " << t.name << ": " << t.why << "\n";
  o << "  This scenario: " << r.resolved.recipe->name << " + " << r.resolved.optimizer->name << " ("
    << r.resolved.optimizer->summary << ") = " << sim::bytes_per_parameter(*r.resolved.recipe, *r.resolved.optimizer)
    << " bytes per parameter before sharding.\n\n";
}

void explain_layer_activations(std::ostream& o, const sim::EstimateResult& r) {
  const auto& layer = *r.layer_activations;
  const auto& d = layer.dims;
  const auto& sc = r.resolved.scenario;
  const auto& p = sc.parallel;
  o << "Activations: what one transformer layer saves for backward on one rank (Korthikanti et al. 2022, Sec. 4;\n"
    << "docs/activations.md). s = " << d.seq << ", b = " << d.batch << "; tokens per rank: " << d.tokens_replicated
    << " in the norm/dropout region (s*b / (cp" << (p.sequence_parallel && p.tp > 1 ? " * tp [SP]" : "")
    << " * ulysses_sp)), " << d.tokens_tp
    << " in the TP region (s*b / (cp * ulysses_sp)); widths split by tp = " << p.tp << ".\n";
  o << "  " << pad("op", 40) << pad("saved tensor", 46) << pad("shape", 22) << pad("split", 16) << pad("dtype", 6)
    << lpad("elements", 16) << lpad("bytes", 17) << "\n";
  for (const auto& op : layer.ops) {
    if (op.saved.empty()) {
      o << "  " << pad(op.name, 40) << "(nothing" << (op.note.empty() ? "" : ": " + op.note) << ")\n";
      continue;
    }
    bool first = true;
    for (const auto& t : op.saved) {
      o << "  " << pad(first ? op.name : "", 40) << pad(t.name, 46) << pad(t.shape, 22) << pad(t.split, 16)
        << pad(t.dtype, 6) << lpad(with_commas(t.elements.value), 16)
        << lpad(t.alias_of.empty() ? with_commas(t.bytes.value) : "= " + t.alias_of, 17)
        << (t.attention_core ? "  [attention core]" : "") << "\n";
      first = false;
    }
    if (!op.note.empty()) o << "  " << pad("", 40) << "(" << op.note << ")\n";
  }
  o << "  Sums per layer and microbatch:\n"
    << "    no recompute                       " << lpad(with_commas(layer.saved_all.value), 17) << " B  "
    << lpad(iec(layer.saved_all), 11) << "\n"
    << "    selective (attention core rebuilt) " << lpad(with_commas(layer.saved_selective.value), 17) << " B  "
    << lpad(iec(layer.saved_selective), 11) << "   (attention core " << with_commas(layer.attention_core_bytes.value)
    << " B)\n"
    << "    full (layer input checkpoint)      " << lpad(with_commas(layer.checkpoint.value), 17) << " B  "
    << lpad(iec(layer.checkpoint), 11) << "\n";
  if (layer.cp_exchange_bytes.value != 0)
    o << "    CP ring K/V exchange (transient)   " << lpad(with_commas(layer.cp_exchange_bytes.value), 17) << " B\n";
  o << "\n";
}

void explain_stage_activations(std::ostream& o, const sim::StageActivations& a) {
  o << "  Activations (" << a.num_layers << " layers";
  if (a.inflight.vpp > 1) o << " in " << a.inflight.vpp << " model chunks of " << a.layers_per_chunk;
  o << "):\n";
  o << "    one chunk, one microbatch: ";
  if (a.checkpoints_per_chunk > 0)
    o << a.checkpoints_per_chunk << " checkpoints x " << with_commas(a.checkpoint_bytes.value) << " + "
      << (a.layers_per_chunk - a.recomputed_layers_per_chunk) << " full layers x " << with_commas(a.layer_bytes.value);
  else
    o << a.layers_per_chunk << " layers x " << with_commas(a.layer_bytes.value);
  o << " = " << with_commas(a.chunk_bytes.value) << " B\n";
  o << "    in flight at the peak: " << a.inflight.chunk_forwards << " chunk forwards (schedule rule) -> "
    << with_commas(a.layers_total.value) << " B\n";
  if (a.first_stage) {
    o << "    first stage extras x " << a.first_inflight << " microbatches:";
    if (a.first.saved.empty()) o << " none (no embedding dropout)";
    for (const auto& t : a.first.saved) o << " " << t.name << " " << with_commas(t.bytes.value) << " B;";
    o << "\n";
  }
  if (a.last_stage) {
    o << "    last stage extras x " << a.last_inflight << " microbatches:";
    for (const auto& t : a.last.saved) o << " " << t.name << " " << with_commas(t.bytes.value) << " B;";
    o << "\n";
    for (const auto& t : a.last.transient)
      o << "    loss transient: " << t.name << " " << with_commas(t.bytes.value) << " B\n";
  }
  o << "    activations = " << with_commas(a.layers_total.value) << " + " << with_commas(a.extras_total.value) << " = "
    << with_commas(a.total.value) << " B  " << iec(a.total) << "\n";
  o << "    transients: recompute " << with_commas(a.recompute_transient.value) << ", CP exchange "
    << with_commas(a.cp_exchange.value) << ", loss " << with_commas(a.loss_transient.value)
    << " B (combined with the buffers at the peak point below)\n";
}

void explain_class(std::ostream& o, const sim::EstimateResult& r, std::size_t index) {
  const auto& c = r.classes[index];
  const auto& sc = r.resolved.scenario;
  const auto& p = sc.parallel;
  o << "Rank class " << index << ": ranks " << rank_ranges(c.ranks) << " (pp_rank " << rank_ranges(c.pp_ranks) << ", "
    << c.num_layers << " layers)\n";
  o << "  Parameters held by one rank (after the TP/PP/EP split, before ZeRO):\n";
  for (const auto& t : c.shard.terms) {
    const std::string expr =
        t.units == 1 ? with_commas(t.total().value) : std::to_string(t.units) + " x " + with_commas(t.per_unit.value);
    o << "    " << pad(t.name, 46) << lpad(expr, 26) << " = " << lpad(with_commas(t.total().value), 17) << "\n";
  }
  o << "    " << pad("total", 46) << lpad("", 26) << " = " << lpad(with_commas(c.shard.total().value), 17) << "\n";
  if (sc.model && c.num_layers > 0) {
    o << "  One transformer layer on this rank:\n";
    for (const auto& item : layer_param_items(*sc.model, TensorSplit{p.tp, p.etp, p.ep}))
      o << "    " << pad(item.name, 36) << pad(item.formula, 58) << " = " << lpad(with_commas(item.count.value), 13)
        << "\n";
  }
  if (sc.model && c.pp_ranks.front() == 0)
    o << "  Vocabulary padding: " << sc.model->vocab_size << " -> " << r.padded_vocab_size
      << " rows (multiple of make_vocab_size_divisible_by * tp = " << p.make_vocab_size_divisible_by << " * " << p.tp
      << ", Megatron's rule), " << r.padded_vocab_size / p.tp << " rows per TP rank.\n";
  if (c.lora) {
    o << explain_lora_states(r, c);
    if (c.activations) explain_stage_activations(o, *c.activations);
    explain_buffers(o, c, sc);
    o << "    peak (sum of categories)             " << with_commas(c.peak.value) << " B  " << iec(c.peak) << "\n\n";
    return;
  }
  // HSDP: the states shard over the shard group (ParallelConfig::zero_shard_ways), replicated across dp / it groups.
  const std::int64_t ways = p.zero_shard_ways(), expert_ways = p.hybrid_shard() ? p.shard_group_size : p.edp();
  if (p.hybrid_shard())
    o << "  Model states (zero_stage " << p.zero_stage << "; HSDP: parameters shard over shard_group_size = " << ways
      << ", replicated across dp / shard_group_size = " << p.dp / ways << " groups";
  else
    o << "  Model states (zero_stage " << p.zero_stage << "; dense parameters shard over dp * cp = " << ways;
  if (c.shard.expert.value != 0) o << ", expert parameters over " << (p.hybrid_shard() ? "" : "edp = ") << expert_ways;
  o << "):\n";
  for (const auto& t : c.model_states.terms) {
    std::string held;
    if (t.sharded)
      held = "ceil(" + with_commas(c.shard.dense.value) + " / " + std::to_string(ways) + ")";
    else
      held = with_commas(c.shard.dense.value);
    if (c.shard.expert.value != 0)
      held +=
          " + " + (t.sharded ? "ceil(" + with_commas(c.shard.expert.value) + " / " + std::to_string(expert_ways) + ")"
                             : with_commas(c.shard.expert.value));
    if (!t.formula.empty()) held = t.formula;
    o << "    " << pad(t.name, 36) << pad(t.dtype, 13) << " x " << pad(held, 34) << " = "
      << lpad(with_commas(t.bytes.value), 17) << " B  " << lpad(iec(t.bytes), 11)
      << (t.sharded ? "  (sharded by ZeRO)" : "") << "\n";
  }
  o << "    " << pad("total model states", 36) << pad("", 13) << "   " << pad("", 34) << " = "
    << lpad(with_commas(c.model_states.breakdown.total().value), 17) << " B  "
    << lpad(iec(c.model_states.breakdown.total()), 11) << "\n";
  if (c.activations) explain_stage_activations(o, *c.activations);
  explain_buffers(o, c, sc);
  explain_offload_runtime(o, c, sc);
  o << "    peak (sum of categories)             " << with_commas(c.peak.value) << " B  " << iec(c.peak) << "\n\n";
}

void explain_zero(std::ostream& o) {
  o << "ZeRO (Rajbhandari et al. 2019, Sec. 5): stage 1 shards the optimizer states (fp32 master, moments and a\n"
    << "recipe's fp32 gradient copy), stage 2 also the gradients, stage 3 also the parameters. A sharded class of\n"
    << "n elements costs ceil(n / dp) elements per rank: the flat buffer is padded so every partition is equal.\n\n";
}

std::string explain_estimate(const sim::EstimateResult& r) {
  if (r.resolved.scenario.inference.enabled) return explain_inference(r);
  std::ostringstream o;
  o << "\nDerivation\n==========\n";
  explain_recipes(o, r);
  explain_low_precision(o, r);
  explain_zero(o);
  if (r.layer_activations) explain_layer_activations(o, r);
  for (std::size_t i = 0; i < r.classes.size(); ++i) explain_class(o, r, i);
  o << explain_framework(r);
  return o.str();
}

}  // namespace trainmem::tools
