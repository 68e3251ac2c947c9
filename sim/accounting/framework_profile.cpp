#include "sim/accounting/framework_profile.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <utility>

#include "partition/error.hpp"
#include "sim/accounting/stage_activations.hpp"

namespace trainmem::sim {
namespace {

using C = MemoryCategory;
using U = std::uint64_t;

std::string n(U v) { return std::to_string(v); }

struct Terms {
  std::vector<FrameworkTerm> list;
  Bytes total;
  void add(std::string name, C cat, std::string formula, std::string source, U bytes) {
    if (bytes == 0) return;
    total += Bytes(bytes);
    list.push_back({std::move(name), cat, std::move(formula) + " = " + n(bytes), std::move(source), Bytes(bytes)});
  }
  void append(const Terms& o) {
    for (const auto& t : o.list) {
      list.push_back(t);
      total += t.bytes;
    }
  }
};

constexpr const char* kLlama = "transformers models/llama/modeling_llama.py (LlamaRMSNorm, LlamaAttention, LlamaMLP)";
constexpr const char* kGpt2 = "transformers models/gpt2/modeling_gpt2.py (GPT2Attention, GPT2MLP, NewGELUActivation)";
constexpr const char* kAutocast =
    "torch.amp autocast (CUDA op lists: matmuls in bf16, their inputs cast per call; weight casts cached for "
    "backward when the weight is a leaf requiring grad)";
constexpr const char* kLoss =
    "transformers loss_utils.py ForCausalLMLoss: logits.float(), cross_entropy = log_softmax + nll_loss";

// Shapes of one microbatch on one rank, in elements; e* are bytes per element.
struct Dims {
  U s = 0, b = 0, T = 0, h = 0, a = 0, kv = 0, d = 0, f = 0, V = 0;
  U ec = 2;  // matmul outputs: the param dtype, bf16 under autocast
  U er = 2;  // the residual stream: the param dtype (fp32 under autocast: fp32 params + bf16 = fp32)
  bool amp = false;
};

// A norm (LlamaRMSNorm: fp32 upcast; GPT-2 nn.LayerNorm) and its output as saved by the linears that consume it.
// `savers`: consuming linears that keep their input (trainable weight or a LoRA adapter); `trainable_weight`:
// the norm's own weight requires grad (weight * x then keeps x).
Terms norm_terms(const Dims& d, bool rms, const std::string& label, U savers, bool trainable_weight) {
  Terms t;
  const U Th = d.T * d.h;
  if (rms) {
    t.add(label + ": fp32 input (upcast copy; the fp32 residual itself under fp32/amp)", C::activations, "4*s*b*h",
          kLlama, 4 * Th);
    t.add(label + ": rstd (fp32)", C::activations, "4*s*b", kLlama, 4 * d.T);
    if (trainable_weight)
      t.add(label + ": normalized x (kept by weight * x)", C::activations, "e_res*s*b*h", kLlama, d.er * Th);
  } else {
    t.add(label + ": input (the residual stream)", C::activations, "e_res*s*b*h", kGpt2, d.er * Th);
    t.add(label + ": mean + rstd (fp32)", C::activations, "8*s*b", "torch native_layer_norm (CUDA)", 8 * d.T);
  }
  if (savers == 0) return t;
  if (d.amp)
    t.add(label + ": bf16 cast of the output per consuming matmul", C::activations, n(savers) + " * 2*s*b*h", kAutocast,
          savers * 2 * Th);
  else
    t.add(label + ": output (input of the next linear)", C::activations, "e*s*b*h", kLlama, d.ec * Th);
  return t;
}

constexpr const char* kZero =
    "torch/distributed/optim/zero_redundancy_optimizer.py (_partition_parameters: whole tensors sorted by size, "
    "each to the least-loaded rank)";
constexpr const char* kFsdp =
    "torch/distributed/fsdp/_fully_shard (FSDPParam: dim-0 chunks padded to ceil(rows/dp); FSDPParamGroup unshard / "
    "reshard; the root state keeps its parameters unsharded after forward)";

}  // namespace

std::optional<LayoutRefusal> hf_layout_refusal(const ParallelConfig& p, bool lora) {
  if (p.tp > 1 || p.pp > 1 || p.cp > 1 || p.ulysses_sp > 1 || p.ep > 1)
    return LayoutRefusal{"framework", "hf",
                         "models single-GPU and data-parallel steps only (tp, pp, cp, ep and ulysses_sp 1)"};
  if (p.zero_stage > 0 && lora)
    return LayoutRefusal{"zero_stage", std::to_string(p.zero_stage),
                         "LoRA with ZeroRedundancyOptimizer/FSDP is not modelled"};
  return std::nullopt;  // zero_stage 1: DDP + ZeroRedundancyOptimizer; 2 / 3: FSDP2 shard-grad-op / full shard
}

FrameworkStep hf_step_memory(const ResolvedScenario& r, const ModelStateMemory& states, std::uint64_t trainable,
                             std::uint64_t largest_trainable, std::int64_t padded_vocab_size) {
  const Scenario& sc = r.scenario;
  const ParallelConfig& p = sc.parallel;
  const TrainingConfig& tc = sc.training;
  const ModelSpec& m = *sc.model;
  auto refuse = [](const char* field, const std::string& value, const std::string& why) {
    throw ConfigError(field, value, "with framework hf: " + why);
  };
  if (auto no = hf_layout_refusal(p, sc.lora.enabled())) refuse(no->field.c_str(), no->value, no->why);
  if (m.is_moe()) refuse("num_experts", std::to_string(m.num_experts), "MoE layers are not modelled");
  if (const auto ext = architecture_extension(m); !ext.empty())
    refuse(
        "model", m.name,
        "has " + std::string(ext) + ", beyond the Llama and GPT-2 module layouts this profile models tensor by tensor");
  if (tc.recompute_granularity == RecomputeGranularity::selective)
    refuse("recompute_granularity", "selective", "transformers has per-layer gradient checkpointing only (full)");
  if (tc.fused_linear_cross_entropy) refuse("fused_linear_cross_entropy", "true", "use the transformers loss");
  if (sc.offload.optimizer != OffloadDevice::none || sc.offload.param != OffloadDevice::none)
    refuse("offload_optimizer", "cpu/nvme", "offload is a DeepSpeed feature");

  FrameworkStep out;
  out.framework = Framework::hf;
  out.optimizer_impl = tc.optimizer_impl.value_or(default_optimizer_impl(Framework::hf));
  out.trainable_elements = trainable;

  Dims d;
  d.s = static_cast<U>(tc.seq_length);
  d.b = static_cast<U>(tc.micro_batch_size);
  d.T = d.s * d.b;
  d.h = static_cast<U>(m.hidden_size);
  d.a = static_cast<U>(m.num_attention_heads);
  d.kv = static_cast<U>(m.query_groups());
  d.d = static_cast<U>(m.head_dim());
  d.f = static_cast<U>(m.ffn());
  d.V = static_cast<U>(padded_vocab_size);
  d.amp = r.recipe->autocast;
  // pe: the parameter dtype, of the shards, their gradients and the optimizer step (fp32 under fp32, amp and
  // fsdp-mp); pu: the dtype FSDP all-gathers the unsharded parameters in and computes with (fsdp-mp: its policy's
  // param_dtype, bf16; otherwise pe). Activations follow the compute: bf16 matmuls under autocast, else pu.
  const U pe = param_bytes(*r.recipe);
  const U pu = unsharded_param_bytes(*r.recipe);
  d.ec = d.amp ? 2 : pu;
  d.er = d.amp ? 4 : pu;
  const bool rms = m.normalization == Normalization::rms_norm;
  const bool ckpt = tc.recompute_granularity == RecomputeGranularity::full;
  const bool eager = tc.attention == AttentionKernel::eager;
  const bool gpt_style = !rms;  // HF GPT-2: LayerNorm, fused c_attn (Conv1D), gelu_new, learned positions
  const double default_p = m.position_embedding == PositionEmbedding::learned ? 0.1 : 0.0;
  const bool hidden_dropout = tc.hidden_dropout.value_or(default_p) > 0.0;
  const bool attn_dropout = tc.attention_dropout.value_or(default_p) > 0.0;
  const bool lora = sc.lora.enabled();
  auto adapted = [&](LoraTarget t) {
    for (auto x : sc.lora.targets)
      if (x == t) return true;
    return false;
  };
  // A linear keeps its input for its weight gradient when the weight trains (full fine-tuning); under LoRA the
  // frozen base keeps nothing and an adapted module's lora_A keeps its input (PEFT casts it to the adapter dtype).
  // (The adapters' own saved tensors are one term below; the frozen base linear saves nothing of x.)
  auto saves = [&](LoraTarget t) { return !lora || (t == LoraTarget::o_proj && adapted(t)); };
  const U Th = d.T * d.h, Tf = d.T * d.f, bass = d.b * d.a * d.s * d.s;

  // ---- one transformer layer, one microbatch (what it keeps for backward) ----
  Terms layer;
  {
    U in_savers = 0;
    if (gpt_style) {
      in_savers = saves(LoraTarget::q_proj) || saves(LoraTarget::k_proj) || saves(LoraTarget::v_proj) ? 1 : 0;
    } else {
      for (auto t : {LoraTarget::q_proj, LoraTarget::k_proj, LoraTarget::v_proj}) in_savers += saves(t) ? 1 : 0;
      if (!d.amp && in_savers > 0) in_savers = 1;  // one tensor shared by q/k/v without autocast casts
    }
    layer.append(norm_terms(d, rms, "input norm", in_savers, !lora));
    if (gpt_style) {
      if (eager) {
        layer.add("attention: q, k, v copies for the batched matmuls", C::activations, "3*e*s*b*h", kGpt2,
                  3 * d.ec * Th);
        const U sm = d.amp ? 4 : d.ec;
        layer.add("attention: softmax output (compute dtype; fp32 under autocast)", C::activations, "e_sm*b*a*s*s",
                  kGpt2, sm * bass);
        if (attn_dropout) {
          layer.add("attention dropout: mask (bool)", C::activations, "b*a*s*s", "torch native_dropout", bass);
          layer.add("attention dropout: output (probs @ V input)", C::activations, "e*b*a*s*s", kGpt2, d.ec * bass);
        } else if (d.amp) {
          layer.add("attention: bf16 cast of the probabilities", C::activations, "2*b*a*s*s", kAutocast, 2 * bass);
        }
        layer.add("attention: merged heads (contiguous copy, c_proj input)", C::activations, "e*s*b*h", kGpt2,
                  d.ec * Th);
      } else {
        layer.add("c_attn output (q, k, v views kept by SDPA)", C::activations, "3*e*s*b*h", kGpt2, 3 * d.ec * Th);
        if (m.use_cache && !ckpt)
          layer.add("DynamicCache K, V concatenations (use_cache)", C::activations, "2*e*s*b*h",
                    "transformers cache_utils.py DynamicLayer.update (torch.cat)", 2 * d.ec * Th);
        layer.add("SDPA output O (also c_proj input)", C::activations, "e*s*b*h", kGpt2, d.ec * Th);
        layer.add("SDPA logsumexp (fp32)", C::activations, "4*s*b*a", "FlashAttention-2 / SDPA", 4 * d.T * d.a);
      }
    } else {
      const U q = d.T * d.a * d.d, k = d.T * d.kv * d.d;
      if (eager) {
        layer.add("attention: q copy, repeat_kv k and v (a heads)", C::activations, "3*e*s*b*a*d", kLlama,
                  3 * d.ec * q);
        layer.add("attention: softmax output (fp32)", C::activations, "4*b*a*s*s", kLlama, 4 * bass);
        if (attn_dropout) {
          layer.add("attention dropout: mask (bool)", C::activations, "b*a*s*s", "torch native_dropout", bass);
          layer.add("attention dropout: output", C::activations, "e*b*a*s*s", kLlama, d.ec * bass);
        } else if (d.ec != 4) {
          layer.add("attention: probabilities cast to the compute dtype", C::activations, "e*b*a*s*s", kLlama,
                    d.ec * bass);
        }
        if (saves(LoraTarget::o_proj))
          layer.add("attention: merged heads (contiguous copy, o_proj input)", C::activations, "e*s*b*a*d", kLlama,
                    d.ec * q);
      } else {
        layer.add("SDPA: q, k after RoPE (bf16 casts under autocast)", C::activations, "e*s*b*(a+kv)*d", kLlama,
                  d.ec * (q + k));
        layer.add("SDPA: v (v_proj output)", C::activations, "e*s*b*kv*d", kLlama, d.ec * k);
        layer.add("SDPA output O (also o_proj input)", C::activations, "e*s*b*a*d", kLlama, d.ec * q);
        layer.add("SDPA logsumexp (fp32)", C::activations, "4*s*b*a", "FlashAttention-2 / SDPA", 4 * d.T * d.a);
      }
    }
    if (hidden_dropout)
      layer.add("residual dropout masks (attention, MLP)", C::activations, "2*s*b*h", "torch native_dropout", 2 * Th);
    U post_savers = 0;
    if (gpt_style) {
      post_savers = saves(LoraTarget::up_proj) ? 1 : 0;
    } else {
      post_savers = (saves(LoraTarget::gate_proj) ? 1 : 0) + (saves(LoraTarget::up_proj) ? 1 : 0);
      if (!d.amp && post_savers > 0) post_savers = 1;
    }
    layer.append(norm_terms(d, rms, "post-attention norm", post_savers, !lora));
    const bool down_saves = saves(LoraTarget::down_proj);
    if (m.gated_mlp()) {
      layer.add("SwiGLU: gate and up outputs (kept by silu and the product)", C::activations, "2*e*s*b*f", kLlama,
                2 * d.ec * Tf);
      layer.add("SwiGLU: silu(gate) (kept by the product)", C::activations, "e*s*b*f", kLlama, d.ec * Tf);
      if (down_saves)
        layer.add("SwiGLU: silu(gate)*up (down_proj input)", C::activations, "e*s*b*f", kLlama, d.ec * Tf);
    } else if (m.activation == Activation::gelu) {
      if (d.amp) {
        layer.add("gelu_new under autocast: fp32 cast of x (pow), tanh, 1+tanh", C::activations, "3*4*s*b*f", kGpt2,
                  12 * Tf);
        layer.add("gelu_new under autocast: 0.5*x (bf16)", C::activations, "2*s*b*f", kGpt2, 2 * Tf);
        if (down_saves)
          layer.add("gelu_new output: bf16 cast for c_proj", C::activations, "2*s*b*f", kAutocast, 2 * Tf);
      } else {
        layer.add("gelu_new: x (c_fc output), tanh, 1+tanh, 0.5*x", C::activations, "4*e*s*b*f", kGpt2, 4 * d.ec * Tf);
        if (down_saves) layer.add("gelu_new output (c_proj input)", C::activations, "e*s*b*f", kGpt2, d.ec * Tf);
      }
    } else {
      layer.add("relu output (fc2 input)", C::activations, "e*s*b*f", "torch relu (keeps its output)", d.ec * Tf);
    }
    // The bf16 weight cast is what the matmul saves for the input gradient, so frozen (LoRA base) weights keep
    // theirs too; gradient checkpointing recomputes them (only the checkpoint is kept, below).
    if (d.amp) {
      const U w = d.h * (d.a + 2 * d.kv) * d.d + d.a * d.d * d.h + (m.gated_mlp() ? 3 : 2) * d.h * d.f;
      layer.add("autocast bf16 weight casts (cached for backward)", C::activations,
                "2*(h*(a+2kv)*d + a*d*h + " + std::string(m.gated_mlp() ? "3" : "2") + "*h*f)", kAutocast, 2 * w);
    }
    if (lora) {
      const U mods = sc.lora.targets.size();
      const U r_ = static_cast<U>(sc.lora.rank);
      // PEFT keeps the adapters in fp32 (autocast_adapter_dtype) and casts x to their dtype: lora_A keeps that
      // copy, lora_B the r-wide lora_A output. Under autocast x is already fp32 and the matmuls cast to bf16.
      if (d.amp)
        layer.add("LoRA: adapters' bf16 input casts + r-wide outputs (autocast)", C::activations,
                  n(mods) + " * (2*s*b*h + 2*s*b*r)", "peft tuners/lora/layer.py Linear.forward; torch.amp autocast",
                  mods * (2 * Th + 2 * d.T * r_));
      else
        layer.add("LoRA: adapters' fp32 input copies + r-wide outputs", C::activations,
                  n(mods) + " * (4*s*b*h + 4*s*b*r)", "peft tuners/lora/layer.py Linear.forward (_cast_input_dtype)",
                  mods * (4 * Th + 4 * d.T * r_));
    }
  }
  out.layer_terms = layer.list;
  out.layer_bytes = layer.total;
  out.kept_per_layer = ckpt ? Bytes(d.er * Th) : layer.total;
  const U L = static_cast<U>(m.num_layers);

  // ---- what every point of the step holds: model states, inputs, saved activations ----
  Bytes P = states.breakdown[C::params], G = states.breakdown[C::grads],
        S = states.breakdown[C::optimizer_states] + states.breakdown[C::master_params];
  const U accum = static_cast<U>(r.num_microbatches);
  // HSDP: the states shard over the shard group (replicated across dp / shard_group_size groups), not over dp.
  const std::int64_t ways = p.hybrid_shard() ? p.shard_group_size : p.dp;
  const std::string ways_name = p.hybrid_shard() ? "shard_group_size" : "dp";
  const U shard_ways = static_cast<U>(ways);
  const int zero = p.dp > 1 ? p.zero_stage : 0;
  const bool fsdp = zero >= 2;
  // Sharded data parallelism: the rank's share follows PyTorch's own rule, not phi/dp. States per element:
  // trainmem's model states hold ceil(N/dp) elements' states under ZeRO (N without).
  const U state_divisor = p.zero_stage >= 1 ? (trainable + shard_ways - 1) / shard_ways : trainable;
  const U state_per_element = state_divisor == 0 ? 0 : S.value / state_divisor;
  std::vector<HfParamTensor> tensors;
  U rank_trainable = trainable;        // elements whose optimizer state this rank holds
  U rank_largest = largest_trainable;  // largest of them
  std::string state_formula = "model states";
  std::string param_formula = "model states";
  U root_elements = 0, layer_elements = 0, all_elements = 0;
  if (zero > 0) {
    tensors = hf_parameter_tensors(m, padded_vocab_size);
    for (const auto& t : tensors) {
      all_elements += t.elements;
      if (t.layer < 0) root_elements += t.elements;
      if (t.layer == 0) layer_elements += t.elements;
    }
  }
  if (zero == 1) {
    // ZeroRedundancyOptimizer: whole tensors; the largest partition is the rank that bounds the peak.
    const auto parts = zero_redundancy_partition(tensors, ways);
    rank_trainable = *std::max_element(parts.begin(), parts.end());
    rank_largest = 0;
    for (const auto& t : tensors) rank_largest = std::max(rank_largest, t.elements);
    S = Bytes(state_per_element * rank_trainable);
    std::string list;
    for (U x : parts) list += (list.empty() ? "" : ", ") + n(x);
    state_formula = "state bytes/element * max rank partition = " + n(state_per_element) + " * max(" + list + ")";
  } else if (fsdp) {
    U shard = 0, largest_shard = 0;
    for (const auto& t : tensors) {
      const U e = fsdp_shard_elements(t, ways);
      shard += e;
      largest_shard = std::max(largest_shard, e);
    }
    rank_trainable = shard;
    rank_largest = largest_shard;
    P = Bytes(pe * shard);
    G = Bytes(pe * shard);
    S = Bytes(state_per_element * shard);
    param_formula = "e*sum(ceil(rows/" + ways_name + ")*cols) = " + n(pe) + "*" + n(shard);
    state_formula = "state bytes/element * sharded elements = " + n(state_per_element) + "*" + n(shard);
  }
  Terms base;
  base.add(fsdp ? "parameters (FSDP shards, dim-0 chunks padded)" : "parameters", C::params, param_formula,
           fsdp ? kFsdp : "recipe + model (docs/model-states.md)", P.value);
  base.add(zero == 1 ? "optimizer states of the rank's ZeroRedundancyOptimizer partition (largest rank)"
                     : "optimizer states (exist from the first step on)",
           C::optimizer_states, state_formula,
           zero == 1 ? kZero
           : fsdp    ? kFsdp
                     : "torch.optim state, created lazily at the first step",
           S.value);
  base.add("token ids of the accumulation cycle (int64)", C::activations, "8*s*b*accum",
           "transformers Trainer.get_batch_samples (loads every micro-batch of the cycle)", 8 * d.T * accum);
  if (p.dp > 1 && !fsdp)
    base.add(zero == 1 ? "DDP gradient buckets (ZeroRedundancyOptimizer runs under DDP)" : "DDP gradient buckets",
             C::buffers, "grad bytes", "torch DistributedDataParallel Reducer (flat buckets covering every gradient)",
             G.value);
  // FSDP at the turn to backward: what is unsharded (all-gathered) there. Measured (lab, steady third step, the
  // rank without gloo leftovers): the root group re-gathered by the pre-backward hook (FSDP::all_gather_copy_out
  // < NllLossBackward0) and the last layer's group prefetched for backward.
  Terms gathered;
  if (fsdp) {
    if (zero == 3) {
      gathered.add("FSDP root module's parameters, unsharded again for backward (embeddings, final norm, LM head)",
                   C::temporaries, "e_unsharded*root elements = " + n(pu) + "*" + n(root_elements), kFsdp,
                   pu * root_elements);
      gathered.add("FSDP last layer's parameters, gathered first in backward", C::temporaries,
                   "e_unsharded*layer elements = " + n(pu) + "*" + n(layer_elements), kFsdp, pu * layer_elements);
    } else {
      gathered.add("FSDP parameters, unsharded (reshard_after_forward=False keeps every group gathered)",
                   C::temporaries, "e_unsharded*all elements = " + n(pu) + "*" + n(all_elements), kFsdp,
                   pu * all_elements);
    }
  }

  Terms saved;  // the forward's saved tensors at the turn to backward
  if (ckpt)
    saved.add("gradient checkpointing: each layer's input", C::activations, "L * e_res*s*b*h",
              "torch.utils.checkpoint (non-reentrant), transformers gradient_checkpointing_enable", L * d.er * Th);
  else
    saved.add("transformer layers (per-layer table)", C::activations, "L * layer", "the per-layer terms",
              L * layer.total.value);
  if (lora && !ckpt && rms) {
    // The frozen embedding's output needs no gradient, so the first layer's input norm keeps nothing of its own
    // (its fp32 input and rstd); with checkpointing PEFT calls enable_input_require_grads and it does.
    const Terms first = norm_terms(d, rms, "first input norm", 0, false);
    Terms minus;
    for (const auto& x : first.list) minus.total += x.bytes;
    saved.total = saved.total - minus.total;
    saved.list.front().bytes = saved.list.front().bytes - minus.total;
    saved.list.front().formula =
        "L * layer - first input norm (4*s*b*h + 4*s*b) = " + n(saved.list.front().bytes.value);
  }
  if (!rms && m.position_embedding == PositionEmbedding::learned)
    saved.add("position ids (int64, kept by the position embedding)", C::activations, "8*s", kGpt2, 8 * d.s);
  if (hidden_dropout) saved.add("embedding dropout mask", C::activations, "s*b*h", "torch native_dropout", Th);
  if (m.position_embedding == PositionEmbedding::rope && !ckpt)
    saved.add("RoPE cos, sin ([1, s, d], residual dtype)", C::activations, "2*e_res*s*d",
              "transformers LlamaRotaryEmbedding", 2 * d.er * d.s * d.d);
  const Bytes input_saved = saved.total - saved.list.front().bytes;  // before the final norm (lifetimes)
  saved.append(norm_terms(d, rms, "final norm", lora ? 0 : 1, !lora));
  if (d.amp) saved.add("autocast bf16 cast of the LM head weight", C::activations, "2*V*h", kAutocast, 2 * d.V * d.h);
  saved.add("loss: fp32 log-probabilities (log_softmax output)", C::activations, "4*s*b*V", kLoss, 4 * d.T * d.V);

  const Bytes G_prev = accum > 1 ? G : Bytes(0);
  auto point = [&](std::string name, const std::vector<const Terms*>& parts, const Terms& extra) {
    StepPoint pt;
    pt.name = std::move(name);
    for (const Terms* t : parts)
      for (const auto& x : t->list) pt.terms.push_back(x);
    for (const auto& x : extra.list) pt.terms.push_back(x);
    for (const auto& x : pt.terms) pt.bytes[x.category] += x.bytes;
    out.points.push_back(std::move(pt));
  };
  auto grads_term = [&](Bytes g, const char* why) {
    Terms t;
    t.add("gradients", C::grads, why, "zero_grad(set_to_none=True): torch.optim.Optimizer.zero_grad default", g.value);
    return t;
  };
  // 1. loss forward: the logits, their fp32 copy and the log-probabilities being written.
  {
    Terms x = grads_term(G_prev, "accumulated from earlier micro-steps");
    x.add("loss: logits (freed after the fp32 cast)", C::temporaries, "e*s*b*V", kLoss, d.ec * d.T * d.V);
    if (d.ec != 4) x.add("loss: logits.float() copy", C::temporaries, "4*s*b*V", kLoss, 4 * d.T * d.V);
    point("loss forward (logits.float(), log_softmax)", {&base, &saved, &gathered}, x);
  }
  // 2. start of backward: nll_loss and log_softmax backward each write an fp32 [s*b, V] tensor.
  {
    Terms x = grads_term(G_prev, "accumulated from earlier micro-steps");
    x.add("loss backward: nll_loss grad and log_softmax grad (fp32)", C::temporaries, "2*4*s*b*V",
          "torch NllLossBackward0, LogSoftmaxBackward0", 8 * d.T * d.V);
    point("start of backward (log_softmax backward)", {&base, &saved, &gathered}, x);
  }
  // 3. optimizer step: every gradient plus the implementation's temporaries.
  {
    Terms x = grads_term(G, "every trainable parameter");
    const U moment = r.recipe->moment_dtype == Dtype::bf16 && !lora ? 2 : 4;
    if (r.optimizer->num_states == 2 && !r.optimizer->quantized()) {
      if (out.optimizer_impl == OptimizerImpl::for_loop)
        x.add("Adam for-loop step: sqrt(v) and its quotient for the largest tensor", C::temporaries,
              "2*e_state*largest", "torch/optim/adam.py _single_tensor_adam (denom = (v.sqrt() / bc2).add_(eps))",
              2 * moment * rank_largest);
      else if (out.optimizer_impl == OptimizerImpl::foreach)
        x.add("Adam foreach step: sqrt(v) of every tensor", C::temporaries, "e_state*trainable",
              "torch/optim/adam.py _multi_tensor_adam (torch._foreach_sqrt(exp_avg_sqs))", moment * rank_trainable);
    }
    point("optimizer step", {&base}, x);
  }
  // The same terms by lifetime (sim/engine/simulate.cpp replays them): the points are 0 loss forward, 1 start of
  // backward, 2 optimizer step, and the temporaries of each are its own.
  StepLifetimes& lt = out.lifetimes;
  for (const auto& x : base.list) lt.persistent[x.category] += x.bytes;
  const Bytes layers_saved = saved.list.front().bytes;
  lt.first_layer_saved = L > 0 ? layers_saved - out.kept_per_layer * (L - 1) : Bytes(0);
  lt.layer_recompute = ckpt ? layer.total : Bytes(0);
  lt.input_saved = input_saved;
  lt.output_saved = saved.total - layers_saved - input_saved;
  lt.loss_forward = out.points[0].bytes[C::temporaries];
  lt.loss_backward = out.points[1].bytes[C::temporaries];
  lt.grads = G;
  lt.optimizer_step = out.points[2].bytes[C::temporaries];
  for (std::size_t i = 0; i < out.points.size(); ++i)
    if (out.points[i].bytes.total() > out.points[out.peak_point].bytes.total()) out.peak_point = i;
  return out;
}

}  // namespace trainmem::sim
