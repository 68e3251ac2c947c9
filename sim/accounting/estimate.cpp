#include "sim/accounting/estimate.hpp"

#include <algorithm>

#include "sim/accounting/quantized_weights.hpp"

namespace trainmem::sim {

namespace {

// vLLM's start-up sizing (sim/serving/vllm_kv_sizing.hpp) with trainmem's models of what vLLM measures: per stage
// the weights, the workspace of the profile forward (max_num_batched_tokens tokens, min(max_num_seqs, tokens)
// sampled rows) and the non-torch runtime (CUDA context, NCCL, library workspaces; not the allocator's rounding or
// fragmentation reserve, which vLLM's allocated-bytes peak does not see).
VllmKvSizing vllm_sizing(const Scenario& sc, const std::vector<RankClass>& per_stage, std::int64_t padded_vocab) {
  const ParallelConfig& p = sc.parallel;
  const InferenceConfig& inf = sc.inference;
  const ModelSpec served = serving_model(*sc.model, p.tp);
  const auto stages = assign_layers(served.num_layers, p);
  const std::int64_t tokens = vllm_profile_tokens(inf.max_num_batched_tokens);
  const std::int64_t seqs = vllm_max_num_seqs(inf.max_num_seqs, inf.max_num_batched_tokens);
  std::vector<VllmWorker> workers;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const RankClass& st = per_stage[i];
    const InferenceRank& ir = *st.inference;
    VllmWorker w;
    w.pp_rank = static_cast<std::int64_t>(i);
    w.weights = ir.weights.total();
    w.activation_peak = inference_workspace(served, p, stages[i], std::min(seqs, tokens), tokens, padded_vocab,
                                            inference_compute_dtype(inf), ir.kv.kv_heads_per_rank)
                            .total;
    w.non_torch = st.runtime.cuda_context + st.runtime.nccl + st.runtime.workspaces;
    w.num_layers = stages[i].num_layers;
    if (w.num_layers > 0)
      w.kv_bytes_per_token_layer = Bytes(ir.kv.bytes_per_token.value / static_cast<std::uint64_t>(w.num_layers));
    workers.push_back(w);
  }
  const std::int64_t max_model_len =
      inf.max_model_len > 0 ? inf.max_model_len : sc.training.seq_length + inf.max_new_tokens;
  return vllm_kv_sizing(workers, *sc.gpu_memory, inf.gpu_memory_utilization, inf.kv_block_size, max_model_len, seqs);
}

EstimateResult estimate_impl(const Scenario& input, bool with_capacity) {
  EstimateResult out;
  out.resolved = resolve_scenario(input);
  const Scenario& sc = out.resolved.scenario;
  const ParallelConfig& p = sc.parallel;
  out.world_size = p.world_size;

  // Dense model states shard over dp * cp (HSDP: over shard_group_size, ParallelConfig::zero_shard_ways): Megatron
  // reduces gradients and runs the distributed optimizer over the data-parallel group with context parallelism
  // (get_data_parallel_group(with_context_parallel=True)). Per pipeline stage: parameters and model states (every
  // tp/cp/dp rank of a stage is identical).
  std::vector<RankClass> per_stage(static_cast<std::size_t>(p.pp));
  std::vector<StageLayers> stages;
  if (sc.model) {
    out.num_parameters = total_parameters(*sc.model);
    out.padded_vocab_size = padded_vocab_size(sc.model->vocab_size, p.make_vocab_size_divisible_by, p.tp);
    stages = assign_layers(sc.model->num_layers, p);
    out.activation_bytes = activation_bytes(*out.resolved.recipe);
    if (!sc.inference.enabled)  // serving has its own workspace model (sim/serving/inference_memory.hpp)
      out.layer_activations = layer_activations(*sc.model, p, sc.training, out.activation_bytes);
    for (std::size_t i = 0; i < stages.size(); ++i) {
      per_stage[i].shard = rank_param_shard(*sc.model, p, stages[i]);
      per_stage[i].num_layers = stages[i].num_layers;
      if (sc.inference.enabled) {
        const ModelSpec served = serving_model(*sc.model, p.tp);
        per_stage[i].shard = rank_param_shard(served, p, stages[i]);
        per_stage[i].inference =
            inference_rank(served, p, stages[i], per_stage[i].shard, sc.inference, sc.training.micro_batch_size,
                           sc.training.seq_length, out.padded_vocab_size);
        continue;
      }
      per_stage[i].activations = stage_activations(out.resolved, *out.layer_activations, stages[i],
                                                   out.padded_vocab_size, out.activation_bytes);
      if (sc.lora.enabled()) {
        const std::int64_t tokens = sc.training.seq_length / p.cp * sc.training.micro_batch_size;
        per_stage[i].lora = lora_rank(*sc.model, p, stages[i], per_stage[i].shard, sc.lora, *out.resolved.recipe,
                                      *out.resolved.optimizer, p.zero_stage, p.zero_shard_ways(), tokens,
                                      // autocast (amp): the base's embeddings, norms and LM head stay fp32
                                      out.resolved.recipe->autocast ? 4U : out.activation_bytes);
        // Layers kept whole (not fully recomputed) also keep the adapters' r-wide tensors, per in-flight forward.
        const auto& a = *per_stage[i].activations;
        const auto kept = static_cast<std::uint64_t>(a.layers_per_chunk - a.recomputed_layers_per_chunk);
        per_stage[i].lora_activations = per_stage[i].lora->adapter_activations_per_layer * kept *
                                        static_cast<std::uint64_t>(a.inflight.chunk_forwards);
      }
    }
  } else {
    out.num_parameters = *sc.num_parameters;
    for (auto& st : per_stage) st.shard = rank_param_shard(*sc.num_parameters, p);
  }
  const std::uint64_t largest = sc.model ? largest_parameter_elements(*sc.model, p, out.padded_vocab_size) : 0;
  for (auto& st : per_stage) {
    if (st.inference)
      st.model_states = inference_weight_terms(st.inference->weights, sc.inference);
    else
      st.model_states = st.lora
                            ? st.lora->states
                            : model_state_memory(st.shard, *out.resolved.recipe, *out.resolved.optimizer, p.zero_stage,
                                                 p.zero_shard_ways(), p.hybrid_shard() ? p.shard_group_size : p.edp());
    // FP8 / MXFP8 / NVFP4: the quantized weight copies of the stage's linear layers (sim/accounting/quantized_weights).
    if (sc.model && !st.inference && !st.lora)
      add_quantized_weight_terms(st.model_states, *sc.model, p,
                                 stages[static_cast<std::size_t>(&st - per_stage.data())], sc.training.low_precision);
    // A bare parameter count models no step (no layers, no activations): its peak is the model states alone, as the
    // papers' tables count them, so it carries no step buffers either (estimate and simulate alike).
    if (sc.model && !st.inference && sc.training.framework != Framework::hf) {
      // The gradient copy the DDP bucket mirrors: the recipe's gradients, not DeepSpeed's fp32 copy.
      Bytes grads = st.model_states.breakdown[MemoryCategory::grads];
      for (const auto& t : st.model_states.terms)
        if (t.name == "fp32 gradient copy") grads = grads - t.bytes;
      st.buffer_shape = step_buffer_shape(out.resolved, &*out.layer_activations, grads, st.num_layers);
    }
    if (sc.model && !st.inference && sc.training.framework == Framework::hf) {
      // The step's points replace the category maxima (sim/accounting/framework_profile.hpp).
      const std::uint64_t trainable = st.lora ? st.lora->adapters.total().value : st.shard.total().value;
      const std::uint64_t largest_trainable =
          st.lora ? static_cast<std::uint64_t>(sc.lora.rank * sc.model->hidden_size) : largest;
      st.framework_step =
          hf_step_memory(out.resolved, st.model_states, trainable, largest_trainable, out.padded_vocab_size);
    }
    finish_rank_class(st, out.resolved, largest);
  }

  // Group stages with equal numbers, then hand every global rank to its stage's class.
  std::vector<std::size_t> class_of_stage(per_stage.size());
  for (std::size_t s = 0; s < per_stage.size(); ++s) {
    auto same = std::find_if(out.classes.begin(), out.classes.end(), [&](const RankClass& c) {
      return c.bytes == per_stage[s].bytes && c.kv_cache == per_stage[s].kv_cache &&
             c.num_layers == per_stage[s].num_layers && c.offload.host == per_stage[s].offload.host &&
             c.offload.nvme == per_stage[s].offload.nvme;
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

  // Per node: gpus_per_node consecutive ranks (rank order tp-cp-ep-dp-pp fills a node with tp/cp/dp peers).
  NodeTotals& n = out.per_node;
  n.gpus_per_node = sc.gpus_per_node;
  n.num_nodes = (p.world_size + sc.gpus_per_node - 1) / sc.gpus_per_node;
  for (std::int64_t node = 0; node < n.num_nodes; ++node) {
    Bytes gpu, host, pinned, nvme;
    const std::int64_t end = std::min(p.world_size, (node + 1) * sc.gpus_per_node);
    for (std::int64_t r = node * sc.gpus_per_node; r < end; ++r) {
      const RankClass& c = out.classes[class_of_stage[static_cast<std::size_t>(r / ranks_per_stage)]];
      gpu += c.peak;
      host += c.offload.host;
      pinned += c.offload.host_pinned;
      nvme += c.offload.nvme;
    }
    n.gpu = std::max(n.gpu, gpu);
    n.host = std::max(n.host, host);
    n.host_pinned = std::max(n.host_pinned, pinned);
    n.nvme = std::max(n.nvme, nvme);
  }
  if (with_capacity && out.gpu_memory && sc.inference.enabled) {
    // The largest batch / context that fits, judged by the same estimate (runtime included) as `fits`.
    auto peak_of = [&input](std::int64_t sequences, std::int64_t context) {
      Scenario probe = input;
      probe.training.micro_batch_size = sequences;
      probe.training.seq_length = context;
      return estimate_impl(probe, false).max_peak;
    };
    out.inference_capacity = inference_capacity(*sc.model, sc.inference, sc.training.micro_batch_size,
                                                sc.training.seq_length, *out.gpu_memory, peak_of);
    out.vllm_not_sized = vllm_sliding_window_refusal(*sc.model);
    if (sc.inference.kv_block_size > 0 && out.vllm_not_sized.empty())
      out.vllm = vllm_sizing(sc, per_stage, out.padded_vocab_size);
  }
  return out;
}

}  // namespace

EstimateResult estimate(const Scenario& input) { return estimate_impl(input, true); }

std::uint64_t largest_parameter_elements(const ModelSpec& model, const ParallelConfig& p, std::int64_t padded_vocab) {
  std::uint64_t largest =
      static_cast<std::uint64_t>(padded_vocab / p.tp) * static_cast<std::uint64_t>(model.hidden_size);
  for (const auto& item : layer_param_items(model, TensorSplit{p.tp, p.etp, p.ep}))
    largest = std::max(largest, item.count.value);
  return largest;
}

void finish_rank_class(RankClass& c, const ResolvedScenario& r, std::uint64_t largest_param_elements) {
  const Scenario& sc = r.scenario;
  const ParallelConfig& p = sc.parallel;
  c.bytes = c.model_states.breakdown;
  if (c.framework_step) {
    c.bytes = c.framework_step->peak().bytes;
  } else if (c.buffer_shape) {
    c.buffers = step_buffers(*c.buffer_shape, sc.zero_runtime);
    c.bytes[MemoryCategory::params] += c.buffers.zero3_persistent;
    c.bytes[MemoryCategory::buffers] = c.buffers.persistent();
    if (c.activations) {
      // The stage's peak point (sim/accounting/stage_peak.hpp), not each category at its own maximum.
      const StageActivations& a = *c.activations;
      const StagePeak pk = stage_peak({a.total + c.lora_activations, a.last_stage ? a.last.saved_bytes : Bytes(0),
                                       a.loss_transient, a.recompute_transient, a.cp_exchange},
                                      c.buffers);
      c.bytes[MemoryCategory::activations] = pk.activations;
      c.bytes[MemoryCategory::buffers] = pk.buffers;
      c.bytes[MemoryCategory::temporaries] = pk.temporaries;
      c.peak_point = pk.point;
    }
  }
  if (c.inference) {
    c.bytes[MemoryCategory::activations] = c.inference->workspace.total;
    c.kv_cache = c.inference->kv.total;
  }
  OffloadInputs in;
  in.zero_stage = p.zero_stage;
  in.num_microbatches = r.num_microbatches;
  in.largest_param_elements = largest_param_elements;
  in.activations = c.activations ? &*c.activations : nullptr;
  c.offload = offload_memory(c.model_states, sc.offload, sc.zero_runtime, in);
  for (auto cat : kMemoryCategories) c.bytes[cat] = c.bytes[cat] - c.offload.gpu_removed[cat];
  // The optimizer offload's GPU staging buffer (temp_grad_buffer_for_gpu_offload) is held the whole step.
  c.bytes[MemoryCategory::buffers] += c.offload.gpu_staging;

  // The flat buffers allocated once: every model-state term still on the GPU (the removed bytes of a
  // category come off whole terms, so each remaining term is one buffer).
  std::vector<Bytes> persistent;
  for (const auto& t : c.model_states.terms) {
    bool moved = false;
    for (const auto& o : c.offload.terms)
      if (o.name == t.name && o.target != OffloadTarget::gpu) moved = true;
    const bool streamed =
        sc.offload.optimizer != OffloadDevice::none && p.zero_stage == 2 && t.category == MemoryCategory::grads;
    if (!moved && !streamed) persistent.push_back(t.bytes);
  }
  if (c.kv_cache > Bytes(0)) persistent.push_back(c.kv_cache);  // one preallocated pool (vLLM)
  const Bytes dynamic =
      c.bytes[MemoryCategory::activations] + c.bytes[MemoryCategory::buffers] + c.bytes[MemoryCategory::temporaries];
  const bool moe = sc.model && sc.model->is_moe();
  c.runtime = runtime_memory(p, moe, sc.runtime, persistent, dynamic);
  c.bytes[MemoryCategory::runtime] = c.runtime.total();
  c.peak = c.bytes.total() + c.kv_cache;
  c.allocated = c.peak - c.runtime.total() + c.runtime.workspaces;
  c.reserved = c.allocated + c.runtime.allocator_rounding + c.runtime.fragmentation;
  if (sc.gpu_memory) c.safe_budget = *sc.gpu_memory > c.runtime.total() ? *sc.gpu_memory - c.runtime.total() : Bytes(0);
}

}  // namespace trainmem::sim
