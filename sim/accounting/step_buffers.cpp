#include "sim/accounting/step_buffers.hpp"

#include <algorithm>

namespace trainmem::sim {
namespace {

using U = std::uint64_t;
std::string n(U v) { return std::to_string(v); }

}  // namespace

void zero3_layer_split(const ModelSpec& model, const TensorSplit& split, std::uint64_t threshold, U& partitioned,
                       U& persistent) {
  partitioned = persistent = 0;
  for (const auto& item : layer_param_items(model, split))
    (item.count.value < threshold ? persistent : partitioned) += item.count.value;
}

bool megatron_grad_buffers(const Recipe& recipe) { return recipe.name.starts_with("mixed-18"); }

StepBufferShape step_buffer_shape(const ResolvedScenario& r, const LayerActivations* layer, Bytes grads,
                                  std::int64_t stage_layers) {
  const Scenario& sc = r.scenario;
  const ParallelConfig& p = sc.parallel;
  StepBufferShape s;
  s.zero_stage = p.zero_stage;
  s.dp = p.hybrid_shard() ? p.shard_group_size : p.dp;  // HSDP: ZeRO-3's small-tensor share is over the shard group
  s.cp = p.cp;
  s.pp = p.pp;
  s.megatron_grad_buffers = megatron_grad_buffers(*r.recipe);
  s.param_bytes = param_bytes(*r.recipe);
  s.grads = grads;
  s.offload_param = sc.offload.param != OffloadDevice::none;
  if (!sc.model || layer == nullptr) return s;
  const ModelSpec& m = *sc.model;
  s.stage_layers = stage_layers;
  if (p.zero_stage == 3)
    zero3_layer_split(m, TensorSplit{p.tp, p.etp, p.ep}, sc.zero_runtime.stage3_param_persistence_threshold,
                      s.layer_partitioned, s.layer_persistent);
  s.tokens_replicated = layer->dims.tokens_replicated;
  s.tokens_tp = layer->dims.tokens_tp;
  s.hidden = static_cast<U>(m.hidden_size);
  s.mlp_width = static_cast<U>((m.is_moe() ? std::max(m.expert_ffn(), m.shared_expert_ffn) : m.ffn()) / p.tp) *
                (m.gated_mlp() ? 2 : 1);
  s.act_bytes = layer->dims.activation_bytes;
  return s;
}

StepBuffers step_buffers(const StepBufferShape& s, const ZeroRuntimeConfig& z) {
  StepBuffers out;
  add_state_buffers(s, z, out);
  add_activation_buffers(s, out);
  return out;
}

void add_state_buffers(const StepBufferShape& s, const ZeroRuntimeConfig& z, StepBuffers& out) {
  // PyTorch DDP: the Reducer's flat buckets cover every gradient, a second copy of them in the gradient dtype.
  if (s.zero_stage == 0 && s.dp * s.cp > 1 && !s.megatron_grad_buffers && !z.ddp_gradient_as_bucket_view)
    out.ddp_bucket = s.grads;
  // DeepSpeed's IPG buckets: reduce_bucket_size elements in the model dtype (fp32 under the fp32 recipe).
  if (z.contiguous_gradients && s.zero_stage >= 2) {
    out.ipg_count = s.zero_stage == 2 && z.overlap_comm ? 2 : 1;
    out.ipg_buckets = Bytes(z.reduce_bucket_size) * (U{s.param_bytes} * out.ipg_count);
  }
  if (s.zero_stage == 3 && s.stage_layers > 0) {
    const U layers = static_cast<U>(s.stage_layers);
    const U live = std::min(z.stage3_max_live_parameters,
                            detail::checked_add(s.layer_partitioned, z.stage3_prefetch_bucket_size, "ZeRO-3 gather"));
    out.layer_gather = Bytes(live) * s.param_bytes;
    out.layer_gather_grads = Bytes(s.layer_partitioned) * s.param_bytes;
    // The model states hold a 1/dp share of the small tensors; each rank keeps them whole (with offload_param the
    // partition, that share included, is off the GPU while the whole small tensors stay).
    const U dp = static_cast<U>(s.dp);
    const U share = detail::ceil_div(s.layer_persistent, dp);
    const U extra = s.offload_param ? s.layer_persistent : s.layer_persistent - share;
    out.zero3_persistent = Bytes(extra) * s.param_bytes * layers;
  }
}

void add_activation_buffers(const StepBufferShape& s, StepBuffers& out) {
  // One layer's backward: the gradient flowing in (the layer output's shape) and that of its widest intermediate.
  out.backward_transient =
      Bytes(detail::checked_add(detail::checked_mul(s.tokens_replicated, s.hidden, "tokens*h"),
                                detail::checked_mul(s.tokens_tp, s.mlp_width, "tokens*ffn"), "activation gradients")) *
      s.act_bytes;
  if (s.pp > 1) out.p2p_send = Bytes(detail::checked_mul(s.tokens_replicated, s.hidden, "p2p")) * s.act_bytes;
}

std::vector<BufferTerm> step_buffer_terms(const StepBufferShape& s, const ZeroRuntimeConfig& z) {
  const StepBuffers b = step_buffers(s, z);
  std::vector<BufferTerm> out;
  auto add = [&](std::string name, MemoryCategory c, const char* when, std::string formula, const char* source,
                 Bytes bytes) {
    if (bytes.value == 0) return;
    out.push_back({std::move(name), c, when, std::move(formula) + " = " + n(bytes.value), source, bytes});
  };
  using C = MemoryCategory;
  add("DDP gradient buckets", C::buffers, "whole step", "grad bytes (a copy of every gradient)",
      "torch DistributedDataParallel Reducer (flat buckets; off with --ddp-gradient-as-bucket-view true)",
      b.ddp_bucket);
  add("DeepSpeed gradient (IPG) bucket" + std::string(b.ipg_count > 1 ? "s (overlap_comm)" : ""), C::buffers,
      "whole step",
      "e_param*reduce_bucket_size*buckets = " + n(s.param_bytes) + "*" + n(z.reduce_bucket_size) + "*" + n(b.ipg_count),
      "deepspeed/runtime/zero/stage_1_and_2.py ipg_buffer, stage3.py __ipg_bucket_flat_buffer", b.ipg_buckets);
  const U share = s.offload_param ? 0 : detail::ceil_div(s.layer_persistent, static_cast<U>(s.dp));
  add("ZeRO-3 small tensors kept whole (< persistence threshold)", C::params, "whole step",
      std::string(s.offload_param ? "e_param*persistent*layers" : "e_param*(persistent - ceil(persistent/dp))*layers") +
          " = " + n(s.param_bytes) + "*(" + n(s.layer_persistent) + " - " + n(share) + ")*" +
          n(static_cast<U>(s.stage_layers)),
      "deepspeed/runtime/zero/parameter_offload.py (persistence threshold)", b.zero3_persistent);
  add("ZeRO-3 parameter gather (layer + prefetch bucket)", C::buffers, "while a layer runs",
      "e_param*min(max_live, layer elements + prefetch) = " + n(s.param_bytes) + "*min(" +
          n(z.stage3_max_live_parameters) + ", " + n(s.layer_partitioned) + " + " + n(z.stage3_prefetch_bucket_size) +
          ")",
      "deepspeed/runtime/zero/partitioned_param_coordinator.py", b.layer_gather);
  add("ZeRO-3 full-size layer gradients before reduce-scatter", C::temporaries, "one layer's backward",
      "e_param*layer elements = " + n(s.param_bytes) + "*" + n(s.layer_partitioned),
      "deepspeed/runtime/zero/stage3.py reduce_independent_p_g_buckets_and_remove_grads", b.layer_gather_grads);
  add("activation gradients of one layer", C::temporaries, "one layer's backward",
      "e*(tokens_rep*h + tokens_tp*mlp) = " + n(s.act_bytes) + "*(" + n(s.tokens_replicated) + "*" + n(s.hidden) +
          " + " + n(s.tokens_tp) + "*" + n(s.mlp_width) + ")",
      "autograd: the layer's output gradient and that of its widest intermediate", b.backward_transient);
  add("pipeline p2p send buffer", C::buffers, "between schedule ops",
      "e*tokens_rep*h = " + n(s.act_bytes) + "*" + n(s.tokens_replicated) + "*" + n(s.hidden),
      "Megatron-LM p2p_communication.py (send_forward / send_backward)", b.p2p_send);
  return out;
}

}  // namespace trainmem::sim
