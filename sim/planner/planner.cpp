// The Planner's construction, step by step: check the request (fixing the knobs its base sets), resolve the base
// at the trivial layout, compile the model-state terms the evaluator sums, choose the offload settings
// (planner_offload.cpp) and enumerate the bases of the knob space (planner_knobs.cpp).
#include "sim/planner/planner.hpp"

#include <stdexcept>
#include <string>

#include "partition/error.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/accounting/framework_profile.hpp"
#include "sim/offload/offload_memory.hpp"
#include "sim/offload/offload_rules.hpp"

namespace trainmem::sim {
namespace {
std::string str(std::int64_t v) { return std::to_string(v); }
}  // namespace

Planner::Planner(PlanRequest request) : request_(std::move(request)) { build(); }

void Planner::build() {
  check_request();
  resolve_base();
  compile_state_terms();
  choose_offload();
  enumerate_bases();
  if (hf_) compile_hf_peaks();
}

std::uint64_t Planner::candidate_count() const {
  std::uint64_t n = 0;
  for (const auto& b : bases_) n += options_[b.options].count;
  return n;
}

// Refuses what plan does not search, and fixes the knobs the base sets (offload, the distributed optimizer).
void Planner::check_request() {
  PlanRequest& rq = request_;
  const Scenario& in = rq.base;
  if (!in.model)
    throw ConfigError("num_parameters", in.num_parameters ? std::to_string(in.num_parameters->value) : "(none)",
                      "plan needs a layered model (a preset, config.json or the shape flags), not a bare count");
  if (!in.gpu_memory) throw ConfigError("gpu", "(none)", "plan needs a device: give --gpu NAME or --gpu-memory SIZE");
  if (in.training.global_batch_size < 1)
    throw ConfigError("global_batch_size", str(in.training.global_batch_size), "plan needs the global batch size");
  if (rq.gpus_per_node < 1 || rq.gpus_per_node > 1024)
    throw ConfigError("gpus_per_node", str(rq.gpus_per_node), "must be between 1 and 1024");
  if (rq.max_gpus < 1 || rq.max_gpus > (1 << 24))
    throw ConfigError("max_gpus", str(rq.max_gpus), "must be between 1 and 16777216");
  if (rq.num_gpus && (*rq.num_gpus < 1 || *rq.num_gpus > (1 << 24)))
    throw ConfigError("num_gpus", str(*rq.num_gpus), "must be between 1 and 16777216");
  if (rq.max_micro_batch_size < 1 || rq.max_micro_batch_size > (1 << 20))
    throw ConfigError("max_micro_batch_size", str(rq.max_micro_batch_size), "must be between 1 and 1048576");
  // Ulysses and HSDP set in the base fix their knob (as offload does below).
  auto fix_degree = [](std::optional<std::int64_t>& knob, std::int64_t value, std::int64_t unset, const char* field) {
    if (value == unset) return;
    if (knob && *knob != value) throw ConfigError(field, str(value), "conflicts with the fixed knob " + str(*knob));
    knob = value;
  };
  fix_degree(rq.fixed.ulysses_sp, in.parallel.ulysses_sp, 1, "ulysses_sp");
  fix_degree(rq.fixed.shard_group_size, in.parallel.shard_group_size, 0, "shard_group_size");
  if (rq.fixed.ulysses_sp && (*rq.fixed.ulysses_sp < 1 || *rq.fixed.ulysses_sp > (1 << 20)))
    throw ConfigError("ulysses_sp", str(*rq.fixed.ulysses_sp), "must be between 1 and 1048576");
  if (rq.fixed.shard_group_size && (*rq.fixed.shard_group_size < 1 || *rq.fixed.shard_group_size > (1 << 24)))
    throw ConfigError("shard_group_size", str(*rq.fixed.shard_group_size), "must be between 1 and 16777216");
  if (rq.max_ulysses_sp < 1 || rq.max_ulysses_sp > (1 << 20))
    throw ConfigError("max_ulysses_sp", str(rq.max_ulysses_sp), "must be between 1 and 1048576");
  if (rq.uneven_max_delta < 0 || rq.uneven_max_delta > (1 << 20))
    throw ConfigError("uneven_max_delta", str(rq.uneven_max_delta), "must be between 0 and 1048576");
  // Not in the searched space yet (docs/planner.md, limits): refused rather than silently dropped.
  if (in.inference.enabled)
    throw ConfigError("inference", "true", "plan searches training layouts; use `trainmem estimate --inference`");
  hf_ = in.training.framework == Framework::hf;
  if (in.lora.enabled() && !hf_)
    throw ConfigError("lora_rank", str(in.lora.rank),
                      "LoRA layouts are not searched by plan (but under --framework hf)");
  if (hf_ && (in.offload.optimizer != OffloadDevice::none || in.offload.param != OffloadDevice::none ||
              in.offload.activation_checkpoints || rq.offload_search != OffloadDevice::none ||
              (rq.fixed.offload_optimizer && *rq.fixed.offload_optimizer != OffloadDevice::none) ||
              (rq.fixed.offload_param && *rq.fixed.offload_param != OffloadDevice::none) ||
              (rq.fixed.offload_checkpoints && *rq.fixed.offload_checkpoints)))
    throw ConfigError("offload_optimizer", "cpu/nvme", "with framework hf: offload is a DeepSpeed feature");
  if ((in.training.low_precision.quantized() || in.training.low_precision.precision_aware_optimizer) &&
      rq.offload_search != OffloadDevice::none)
    throw ConfigError("offload_search", std::string(offload_device_name(rq.offload_search)),
                      "low precision is modelled for Megatron-LM + TE without ZeRO offload");
  // Offload set in the base fixes that knob (as use_distributed_optimizer fixes the ZeRO stage).
  auto fix = [](auto& knob, auto value, auto none, const char* field, const std::string& text) {
    if (value == none) return;
    if (knob && *knob != value) throw ConfigError(field, text, "conflicts with the fixed offload knob");
    knob = value;
  };
  fix(rq.fixed.offload_optimizer, in.offload.optimizer, OffloadDevice::none, "offload_optimizer",
      std::string(offload_device_name(in.offload.optimizer)));
  fix(rq.fixed.offload_param, in.offload.param, OffloadDevice::none, "offload_param",
      std::string(offload_device_name(in.offload.param)));
  fix(rq.fixed.offload_checkpoints, in.offload.activation_checkpoints, false, "offload_activation_checkpoints", "true");
  if (rq.host_memory_per_node.value == 0)
    throw ConfigError("host_memory_per_node", "0", "must be a positive size (host RAM per node)");
  if (in.parallel.first_stage_layers < 0 || in.parallel.last_stage_layers < 0)
    throw ConfigError("decoder_first_pipeline_num_layers", str(in.parallel.first_stage_layers), "must not be negative");
  // Megatron's precision-aware optimizer and --fp8-param-gather run on the distributed optimizer (ZeRO stage 1).
  const LowPrecisionConfig& lp = in.training.low_precision;
  if (in.training.use_distributed_optimizer || lp.precision_aware_optimizer || lp.param_gather) {
    if (rq.fixed.zero_stage && *rq.fixed.zero_stage != 1)
      throw ConfigError("use_distributed_optimizer", "true",
                        "is ZeRO stage 1 and conflicts with zero_stage " + str(*rq.fixed.zero_stage));
    rq.fixed.zero_stage = 1;
  }
  if (rq.fixed.zero_stage && (*rq.fixed.zero_stage < 0 || *rq.fixed.zero_stage > 3))
    throw ConfigError("zero_stage", str(*rq.fixed.zero_stage), "must be 0, 1, 2 or 3");
  if (hf_) {
    // A knob the request fixes must be a layout the profile models (its own rule, hf_layout_refusal); the others
    // are searched only where it does (planner_hf.cpp).
    ParallelConfig p = in.parallel;
    p.tp = rq.fixed.tp.value_or(1), p.pp = rq.fixed.pp.value_or(1), p.cp = rq.fixed.cp.value_or(1);
    p.ep = rq.fixed.ep.value_or(1), p.dp = rq.fixed.dp.value_or(1), p.zero_stage = rq.fixed.zero_stage.value_or(0);
    if (auto no = hf_layout_refusal(p, in.lora.enabled()))
      throw ConfigError(no->field, no->value, "with framework hf: " + no->why);
  }
  budget_ = plan_budget(*in.gpu_memory, rq.safety_margin_ppm);
}

// The base at the trivial layout: applies the defaults (seq_length, dropout, position table) and checks everything
// that does not depend on the layout.
void Planner::resolve_base() {
  const Scenario& in = request_.base;
  Scenario trivial = in;
  trivial.parallel = ParallelConfig{};
  trivial.parallel.make_vocab_size_divisible_by = in.parallel.make_vocab_size_divisible_by;
  trivial.training.micro_batch_size = 1;
  trivial.training.use_distributed_optimizer =
      in.training.low_precision.precision_aware_optimizer || in.training.low_precision.param_gather;
  trivial.training.recompute_granularity = RecomputeGranularity::none;
  trivial.training.recompute_num_layers = 0;
  trivial.offload.optimizer = trivial.offload.param = OffloadDevice::none;
  trivial.offload.activation_checkpoints = false;
  resolved_ = resolve_scenario(trivial);
  act_bytes_ = activation_bytes(*resolved_.recipe);
  buffer_base_.megatron_grad_buffers = megatron_grad_buffers(*resolved_.recipe);
  buffer_base_.param_bytes = param_bytes(*resolved_.recipe);
  const RuntimeConfig& rt = resolved_.scenario.runtime;
  rounding_ = rt.enabled && rt.allocator_rounding;
  fragmentation_ppm_ = rt.enabled ? rt.fragmentation_ppm : 0;
}

// The model-state terms the evaluator sums (the rows model_state_memory() builds estimate()'s from), and the cost
// proxy's gradient bytes and bytes per parameter an offloaded optimizer keeps off the GPU.
void Planner::compile_state_terms() {
  terms_ = model_state_term_rules(*resolved_.recipe, *resolved_.optimizer);
  if (terms_.size() > 8) throw std::logic_error("Planner: more than 8 model-state terms (the offload masks hold 8)");
  unsigned grad_bytes = 2;
  double offloaded_bits = 0;
  bool fp32_copy = false;
  for (std::size_t i = 0; i < terms_.size(); ++i)
    if (terms_[i].fp32_grad_copy) fp32_copy_term_ = static_cast<int>(i);
  for (const auto& t : terms_) {
    if (t.category == MemoryCategory::grads && t.zero_class == ZeroStateClass::gradients && !t.fp32_grad_copy)
      grad_bytes = t.bits / 8;
    // The optimizer offload tier's terms, per parameter (the absmax scales are not counted).
    if (t.block == 0 && state_term_fate(t.category, t.fp32_grad_copy, 1, OffloadDevice::cpu, OffloadDevice::none) ==
                            StateTermFate::optimizer_tier)
      offloaded_bits += t.bits;
    fp32_copy |= t.fp32_grad_copy;
  }
  if (!fp32_copy) offloaded_bits += 32;  // offload_memory() adds an fp32 gradient partition
  cost_model_.emplace(*resolved_.scenario.model, resolved_.scenario.training, act_bytes_, grad_bytes,
                      request_.gpus_per_node, CostRates{}, offloaded_bits / 8.0);
}

}  // namespace trainmem::sim
