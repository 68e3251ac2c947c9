#include "sim/engine/simulate.hpp"

#include <algorithm>
#include <string>

#include "partition/error.hpp"
#include "partition/layer_assignment.hpp"
#include "sim/accounting/step_buffers.hpp"

namespace trainmem::sim {
namespace {

PipelineSchedule schedule_for(const ResolvedScenario& r) {
  const auto& p = r.scenario.parallel;
  if (r.scenario.training.pipeline_schedule == PipelineScheduleOption::gpipe && p.pp > 1)
    return PipelineSchedule::gpipe;
  return default_schedule(p.pp, p.vpp);
}

// Per-layer saved bytes and backward transients of one model chunk of n layers under the recompute policy
// (Megatron-LM _checkpointed_forward: uniform checkpoints groups of N layers, block the first N layers).
// With checkpoint offload (DeepSpeed cpu_checkpointing) the checkpoints live in host memory: 0 on the GPU.
void chunk_layers(const LayerActivations& layer, const TrainingConfig& t, std::int64_t n, bool offload_checkpoints,
                  std::vector<Bytes>& saved, std::vector<Bytes>& transient) {
  const Bytes checkpoint = offload_checkpoints ? Bytes(0) : layer.checkpoint;
  for (std::int64_t i = 0; i < n; ++i) {
    switch (t.recompute_granularity) {
      case RecomputeGranularity::none:
        saved.push_back(layer.saved_all);
        transient.emplace_back(0);
        break;
      case RecomputeGranularity::selective:
        saved.push_back(layer.saved_selective);
        transient.push_back(layer.attention_core_bytes);
        break;
      case RecomputeGranularity::full:
        if (t.recompute_method == RecomputeMethod::uniform) {
          const std::int64_t group = std::min(t.recompute_num_layers == 0 ? 1 : t.recompute_num_layers, n);
          const std::int64_t group_start = i / group * group;
          const std::int64_t group_end = std::min(group_start + group, n);  // exclusive
          saved.push_back(i == group_start ? checkpoint : Bytes(0));
          // Backward reaches the group's last layer first and rebuilds the whole group there.
          transient.push_back(i == group_end - 1 ? layer.saved_all * static_cast<std::uint64_t>(group_end - group_start)
                                                 : Bytes(0));
        } else {
          const std::int64_t rec = std::min(t.recompute_num_layers == 0 ? n : t.recompute_num_layers, n);
          saved.push_back(i < rec ? checkpoint : layer.saved_all);
          transient.push_back(i < rec ? layer.saved_all : Bytes(0));
        }
        break;
    }
  }
}

// --framework hf (one stage): the profile's terms by lifetime (sim/accounting/framework_profile.hpp). Gradients
// appear in the first backward, layer by layer after each layer's saved tensors are freed: the profile's gradient
// bytes split in proportion to the trainable elements (a layer's, the rest at the end of the backward).
void hf_stage_inputs(const RankClass& cls, const ModelSpec& m, StageStepInputs& in) {
  const FrameworkStep& f = *cls.framework_step;
  const StepLifetimes& lt = f.lifetimes;
  in.persistent = lt.persistent;
  in.persistent[MemoryCategory::runtime] = cls.bytes[MemoryCategory::runtime];
  const auto L = static_cast<std::size_t>(m.num_layers);
  in.chunk_first_layer = {0};
  in.chunk_layers = {m.num_layers};
  in.layer_activation.assign(L, f.kept_per_layer);
  if (L > 0) in.layer_activation[0] = lt.first_layer_saved;
  in.recompute_transient.assign(L, lt.layer_recompute);
  in.embedding_activation = lt.input_saved;
  in.output_activation = lt.output_saved;
  in.output_transient = lt.loss_forward;
  in.loss_grad_transient = lt.loss_backward;
  in.optimizer_transient = lt.optimizer_step;
  const std::uint64_t trainable = f.trainable_elements;
  std::uint64_t layer_trainable = 0;
  if (cls.lora) {
    layer_trainable = L > 0 && trainable % L == 0 ? trainable / L : 0;
  } else {
    for (const auto& item : layer_param_items(m, TensorSplit{1, 1, 1})) layer_trainable += item.count.value;
  }
  const std::uint64_t g = lt.grads.value;
  Bytes per_layer(0);
  if (trainable > 0 && g % trainable == 0 && layer_trainable * L <= trainable)
    per_layer = Bytes(g / trainable * layer_trainable);
  in.layer_grads.assign(L, per_layer);
  in.late_grads = lt.grads - per_layer * L;
}

}  // namespace

SimulationResult simulate(const Scenario& scenario, bool keep_timeline) {
  SimulationResult out;
  out.estimate = estimate(scenario);
  const EstimateResult& e = out.estimate;
  const ResolvedScenario& r = e.resolved;
  const Scenario& sc = r.scenario;
  const ParallelConfig& p = sc.parallel;
  out.schedule = schedule_for(r);
  // A timeline keeps every event of the step (m x layers x a few per stage); the peaks alone replay a bounded
  // number of microbatches (sim/schedule/steady_state.hpp) and take the same time for any m.
  if (keep_timeline && r.num_microbatches > kMaxTimelineMicrobatches)
    throw ConfigError("num_microbatches", std::to_string(r.num_microbatches),
                      "a timeline (trace or HTML report) keeps every event of the step: at most " +
                          std::to_string(kMaxTimelineMicrobatches) +
                          " microbatches; the peaks alone (no timeline) replay at most 4 pp of them for any count");

  std::vector<StageLayers> stages;
  if (sc.model) stages = assign_layers(sc.model->num_layers, p);
  const std::int64_t ranks_per_stage = p.tp * p.cp * p.dp;
  auto finish = [&](StageReport& rep) {
    rep.simulation = simulate_stage(rep.inputs, keep_timeline);
    if (rep.simulation.peak > out.max_peak) {
      out.max_peak = rep.simulation.peak;
      out.max_peak_stage = out.stages.size();
    }
    out.stages.push_back(std::move(rep));
  };

  for (std::int64_t s = 0; s < p.pp; ++s) {
    StageReport rep;
    rep.pp_rank = s;
    for (std::size_t c = 0; c < e.classes.size(); ++c)
      if (std::find(e.classes[c].pp_ranks.begin(), e.classes[c].pp_ranks.end(), s) != e.classes[c].pp_ranks.end())
        rep.estimate_class = c;
    const RankClass& cls = e.classes[rep.estimate_class];
    for (std::int64_t rank = s * ranks_per_stage; rank < (s + 1) * ranks_per_stage; ++rank) rep.ranks.push_back(rank);

    StageStepInputs& in = rep.inputs;
    in.pp = p.pp;
    in.pp_rank = s;
    in.vpp = p.vpp;
    in.num_microbatches = r.num_microbatches;
    in.schedule = out.schedule;
    if (cls.framework_step && sc.model) {
      hf_stage_inputs(cls, *sc.model, in);
      finish(rep);
      continue;
    }
    in.persistent = cls.model_states.breakdown;
    // Offloaded model states are not on the GPU (docs/offload.md); their GPU staging buffer is.
    for (auto cat : {MemoryCategory::params, MemoryCategory::grads, MemoryCategory::master_params,
                     MemoryCategory::optimizer_states})
      in.persistent[cat] = in.persistent[cat] - cls.offload.gpu_removed[cat];
    // The whole-step buffers (DDP / DeepSpeed buckets) and ZeRO-3's whole small tensors: the terms estimate() adds
    // (sim/accounting/step_buffers.hpp), and the offload staging buffer.
    const StepBuffers& b = cls.buffers;
    in.persistent[MemoryCategory::buffers] = b.persistent() + cls.offload.gpu_staging;
    in.persistent[MemoryCategory::params] += b.zero3_persistent;
    in.persistent[MemoryCategory::runtime] = cls.bytes[MemoryCategory::runtime];

    // The recipe's fp32 gradient copy (mixed-20) exists only in the optimizer step
    // (fp32_grad_copy_step_transient(), sim/accounting/step_buffers.hpp). Under offload_optimizer that copy lives in
    // host memory instead (docs/offload.md).
    for (const auto& term : cls.model_states.terms) {
      if (term.name != "fp32 gradient copy" || sc.offload.optimizer != OffloadDevice::none) continue;
      in.persistent[term.category] = in.persistent[term.category] - term.bytes;
      in.optimizer_transient = fp32_grad_copy_step_transient(
          term.bytes, (term.dense_elements + term.expert_elements).value, p.zero_stage, sc.zero_runtime.sub_group_size);
    }

    if (sc.model && cls.activations && e.layer_activations) {
      const StageActivations& a = *cls.activations;
      const LayerActivations& layer = *e.layer_activations;
      for (const auto& chunk : stages[static_cast<std::size_t>(s)].chunks) {
        in.chunk_first_layer.push_back(chunk.first_layer);
        in.chunk_layers.push_back(chunk.num_layers);
        chunk_layers(layer, sc.training, chunk.num_layers, sc.offload.activation_checkpoints, in.layer_activation,
                     in.recompute_transient);
      }
      in.attention_transient = layer.cp_exchange_bytes;
      if (b.layer_gather.value != 0 || b.layer_gather_grads.value != 0) {
        in.layer_gather.assign(in.layer_activation.size(), b.layer_gather);
        in.layer_gather_grads.assign(in.layer_activation.size(), b.layer_gather_grads);
      }
      in.backward_transient = b.backward_transient;
      if (a.first_stage) in.embedding_activation = a.first.saved_bytes;
      if (a.last_stage) {
        in.output_activation = a.last.saved_bytes;
        in.output_transient = a.last.transient_bytes;
      }
      in.p2p_send_buffer = b.p2p_send;
    } else {
      in.chunk_first_layer.assign(static_cast<std::size_t>(p.vpp), 0);
      in.chunk_layers.assign(static_cast<std::size_t>(p.vpp), 0);
    }
    finish(rep);
  }
  if (e.gpu_memory) out.fits = out.max_peak <= *e.gpu_memory;
  return out;
}

}  // namespace trainmem::sim
