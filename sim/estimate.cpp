#include "sim/estimate.hpp"

#include <algorithm>

namespace trainmem::sim {

EstimateResult estimate(const Scenario& input) {
  EstimateResult out;
  out.resolved = resolve_scenario(input);
  const Scenario& sc = out.resolved.scenario;
  const ParallelConfig& p = sc.parallel;
  out.world_size = p.world_size;

  // Dense model states shard over dp * cp: Megatron reduces gradients and runs the distributed optimizer over
  // the data-parallel group with context parallelism (get_data_parallel_group(with_context_parallel=True)).
  // Per pipeline stage: parameters and model states (every tp/cp/dp rank of a stage is identical).
  std::vector<RankClass> per_stage(static_cast<std::size_t>(p.pp));
  if (sc.model) {
    out.num_parameters = total_parameters(*sc.model);
    out.padded_vocab_size = padded_vocab_size(sc.model->vocab_size, p.make_vocab_size_divisible_by, p.tp);
    const auto stages = assign_layers(sc.model->num_layers, p);
    out.activation_bytes = activation_bytes(*out.resolved.recipe);
    if (!sc.inference.enabled)  // serving has its own workspace model (sim/inference_memory.hpp)
      out.layer_activations = layer_activations(*sc.model, p, sc.training, out.activation_bytes);
    for (std::size_t i = 0; i < stages.size(); ++i) {
      per_stage[i].shard = rank_param_shard(*sc.model, p, stages[i]);
      per_stage[i].num_layers = stages[i].num_layers;
      if (sc.inference.enabled) {
        const ModelSpec served = serving_model(*sc.model, p.tp);
        per_stage[i].shard = rank_param_shard(served, p, stages[i]);
        per_stage[i].inference = inference_rank(served, p, stages[i], per_stage[i].shard, sc.inference,
                                                sc.training.micro_batch_size, sc.training.seq_length,
                                                out.padded_vocab_size);
        continue;
      }
      per_stage[i].activations =
          stage_activations(out.resolved, *out.layer_activations, stages[i], out.padded_vocab_size, out.activation_bytes);
      if (sc.lora.enabled()) {
        const std::int64_t tokens = sc.training.seq_length / p.cp * sc.training.micro_batch_size;
        per_stage[i].lora = lora_rank(*sc.model, p, stages[i], per_stage[i].shard, sc.lora, *out.resolved.recipe,
                                      *out.resolved.optimizer, p.zero_stage, p.dp * p.cp, tokens, out.activation_bytes);
        // Layers kept whole (not fully recomputed) also keep the adapters' r-wide tensors, per in-flight forward.
        const auto& a = *per_stage[i].activations;
        const auto kept = static_cast<std::uint64_t>(a.layers_per_chunk - a.recomputed_layers_per_chunk);
        per_stage[i].lora_activations =
            per_stage[i].lora->adapter_activations_per_layer * kept * static_cast<std::uint64_t>(a.inflight.chunk_forwards);
      }
    }
  } else {
    out.num_parameters = *sc.num_parameters;
    for (auto& st : per_stage) st.shard = rank_param_shard(*sc.num_parameters, p);
  }
  for (auto& st : per_stage) {
    if (st.inference) {
      st.model_states = inference_weight_terms(st.inference->weights, sc.inference);
      st.bytes = st.model_states.breakdown;
      st.bytes[MemoryCategory::activations] = st.inference->workspace.total;
      st.kv_cache = st.inference->kv.total;
      st.peak = st.bytes.total() + st.kv_cache;
      continue;
    }
    st.model_states = st.lora ? st.lora->states
                              : model_state_memory(st.shard, *out.resolved.recipe, *out.resolved.optimizer,
                                                   p.zero_stage, p.dp * p.cp, p.edp());
    st.bytes = st.model_states.breakdown;
    if (st.activations) {
      st.bytes[MemoryCategory::activations] = st.activations->total + st.lora_activations;
      st.bytes[MemoryCategory::temporaries] = st.activations->temporaries;
    }
    st.peak = st.bytes.total();
  }

  // Group stages with equal numbers, then hand every global rank to its stage's class.
  std::vector<std::size_t> class_of_stage(per_stage.size());
  for (std::size_t s = 0; s < per_stage.size(); ++s) {
    auto same = std::find_if(out.classes.begin(), out.classes.end(), [&](const RankClass& c) {
      return c.bytes == per_stage[s].bytes && c.kv_cache == per_stage[s].kv_cache &&
             c.num_layers == per_stage[s].num_layers;
    });
    if (same == out.classes.end()) {
      out.classes.push_back(per_stage[s]);
      same = out.classes.end() - 1;
    }
    same->pp_ranks.push_back(static_cast<std::int64_t>(s));
    class_of_stage[s] = static_cast<std::size_t>(same - out.classes.begin());
  }
  const RankGrid grid(p);
  const std::int64_t ranks_per_stage = p.tp * p.cp * p.dp;
  for (auto& c : out.classes) c.ranks.reserve(static_cast<std::size_t>(ranks_per_stage) * c.pp_ranks.size());
  for (std::int64_t r = 0; r < p.world_size; ++r) {
    auto& c = out.classes[class_of_stage[static_cast<std::size_t>(r / ranks_per_stage)]];
    if (c.ranks.empty()) c.coords = grid.coords(r);
    c.ranks.push_back(r);
  }

  for (std::size_t i = 0; i < out.classes.size(); ++i) {
    if (out.classes[i].peak > out.max_peak) {
      out.max_peak = out.classes[i].peak;
      out.max_peak_class = i;
    }
  }
  out.gpu_memory = sc.gpu_memory;
  if (out.gpu_memory) out.fits = out.max_peak <= *out.gpu_memory;
  if (out.gpu_memory && sc.inference.enabled)
    out.inference_capacity = inference_capacity(*sc.model, p, sc.inference, sc.training.micro_batch_size,
                                                sc.training.seq_length, *out.gpu_memory);
  return out;
}

}  // namespace trainmem::sim
