#include "sim/accounting/activation_memory.hpp"

#include <string>

#include "partition/error.hpp"
#include "sim/accounting/quantized_activations.hpp"

namespace trainmem::sim {
namespace {

std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(v); }
std::string str(std::int64_t v) { return std::to_string(v); }

std::string join_splits(std::initializer_list<std::pair<bool, const char*>> parts) {
  std::string out;
  for (const auto& [on, name] : parts)
    if (on) out += (out.empty() ? "" : " ") + std::string(name);
  return out.empty() ? "-" : out;
}

// Builds the saved tensors of a layer: one place that knows the per-rank dims and dtypes.
class TableBuilder {
 public:
  TableBuilder(const ParallelConfig& p, const TrainingConfig& t, unsigned act_bytes) : act_bytes_(act_bytes) {
    const std::int64_t s = t.seq_length;
    const std::int64_t split = p.cp * p.ulysses_sp;
    if (s % split != 0) throw ConfigError("seq_length", str(s), "is not divisible by cp * ulysses_sp = " + str(split));
    const bool sp = p.sequence_parallel && p.tp > 1;
    if (sp && (s / split) % p.tp != 0)
      throw ConfigError(
          "seq_length", str(s),
          "sequence_parallel needs s / (cp * ulysses_sp) = " + str(s / split) + " divisible by tp = " + str(p.tp));
    dims_.seq = u(s);
    dims_.batch = u(t.micro_batch_size);
    dims_.tokens_tp = (ElementCount(u(s / split)) * u(t.micro_batch_size)).value;
    dims_.tokens_replicated = sp ? dims_.tokens_tp / u(p.tp) : dims_.tokens_tp;
    dims_.key_length = u(s);
    dims_.activation_bytes = act_bytes;
    rep_split_ = join_splits({{sp, "sp"}, {p.cp > 1, "cp"}, {p.ulysses_sp > 1, "ulysses"}});
    tp_split_ = join_splits({{p.tp > 1, "tp"}, {p.cp > 1, "cp"}, {p.ulysses_sp > 1, "ulysses"}});
  }

  const ActivationDims& dims() const { return dims_; }
  const std::string& rep_split() const { return rep_split_; }
  const std::string& tp_split() const { return tp_split_; }
  std::string act_dtype() const { return act_bytes_ == 4 ? "fp32" : "bf16"; }

  SavedTensor make(std::string name, std::string shape, std::string split, ElementCount n, unsigned bpe,
                   std::string dtype, bool core = false) const {
    SavedTensor st;
    st.name = std::move(name);
    st.shape = std::move(shape);
    st.split = std::move(split);
    st.dtype = std::move(dtype);
    st.bytes_per_element = bpe;
    st.elements = n;
    st.bytes = Bytes((n * bpe).value);
    st.attention_core = core;
    return st;
  }
  // A tensor of `width` per token in the norm/dropout region (sequence-sharded with SP).
  SavedTensor replicated(std::string name, std::string shape, std::uint64_t width) const {
    return make(std::move(name), std::move(shape), rep_split_, ElementCount(dims_.tokens_replicated) * width,
                act_bytes_, act_dtype());
  }
  SavedTensor replicated_mask(std::string name, std::string shape, std::uint64_t width) const {
    return make(std::move(name), std::move(shape), rep_split_, ElementCount(dims_.tokens_replicated) * width, 1,
                "mask");
  }
  // A tensor of `width` per token (already divided by tp) in the TP region.
  SavedTensor tp_region(std::string name, std::string shape, std::uint64_t width, bool core = false) const {
    return make(std::move(name), std::move(shape), tp_split_, ElementCount(dims_.tokens_tp) * width, act_bytes_,
                act_dtype(), core);
  }

 private:
  unsigned act_bytes_;
  ActivationDims dims_;
  std::string rep_split_;
  std::string tp_split_;
};

SavedTensor alias(SavedTensor st, std::string of) {
  st.bytes = Bytes(0);
  st.alias_of = std::move(of);
  return st;
}

bool dropout_on(const std::optional<double>& p) { return p.value_or(0.0) > 0.0; }

void add_attention(std::vector<ActivationOp>& ops, const TableBuilder& tb, const ModelSpec& m, const ParallelConfig& p,
                   const TrainingConfig& t) {
  const std::uint64_t d = u(m.head_dim());
  const std::uint64_t q_heads = u(m.num_attention_heads / p.tp);
  const std::uint64_t kv_heads = u(m.query_groups() / p.tp);
  const bool gqa = m.query_groups() != m.num_attention_heads;
  // MLA (DeepSeek): per head, queries and keys are nope + rope wide, values and the output v_head_dim wide
  // (HF DeepseekV2Attention concatenates q_nope|q_pe and k_nope|k_pe into new tensors before attention).
  const std::uint64_t qd = q_heads * u(m.mla() ? m.qk_head_dim() : m.head_dim());
  const std::uint64_t kd = m.mla() ? qd : kv_heads * d;      // flash: K not expanded
  const std::uint64_t vd = q_heads * u(m.value_head_dim());  // eager: V expanded to all heads
  const std::uint64_t vkd = m.mla() ? vd : kv_heads * d;     // flash: V not expanded
  const auto& dims = tb.dims();

  if (t.attention == AttentionKernel::eager) {
    // Eager (Megatron's non-fused DotProductAttention / HF eager): K and V are expanded to all query heads
    // (repeat_interleave) before the batched matmuls, which save the expanded copies.
    const std::string kv_shape = gqa ? "s*b*a*d (GQA kv heads expanded to a)" : "s*b*a*d";
    ops.push_back({"attention core: QK^T",
                   {tb.tp_region("Q (QK^T input)", "s*b*a*d", qd), tb.tp_region("K (QK^T input)", kv_shape, qd)},
                   "Q, K and V are the inputs of the recomputed region under selective recompute, so they stay"});
    if (m.attn_logit_softcapping > 0.0)  // Gemma 2 eager: cap * tanh(scores / cap); tanh keeps its output
      ops.push_back({"attention logit soft-capping (tanh)",
                     {tb.make("tanh output (capped scores)", "a*s*s*b", tb.tp_split(),
                              ElementCount(dims.tokens_tp) * q_heads * dims.key_length, dims.activation_bytes,
                              tb.act_dtype(), true)},
                     "flash kernels apply the cap inside the kernel and keep nothing extra"});
    SavedTensor scores =
        tb.make("softmax output", "a*s*s*b", tb.tp_split(), ElementCount(dims.tokens_tp) * q_heads * dims.key_length,
                dims.activation_bytes, tb.act_dtype(), true);
    ops.push_back({"softmax (scaled, causal-masked)", {scores}, "the fused scale-mask-softmax saves only its output"});
    const bool attn_dropout = dropout_on(t.attention_dropout);
    if (attn_dropout) {
      ops.push_back({"attention dropout",
                     {tb.make("attention dropout mask", "a*s*s*b", tb.tp_split(),
                              ElementCount(dims.tokens_tp) * q_heads * dims.key_length, 1, "mask", true)},
                     ""});
    }
    SavedTensor probs = scores;
    probs.name = attn_dropout ? "dropout output (probs @ V input)" : "probabilities (probs @ V input)";
    ops.push_back(
        {"attention over V",
         {attn_dropout ? probs : alias(probs, "softmax output"), tb.tp_region("V (probs @ V input)", kv_shape, vd)},
         attn_dropout ? "" : "without attention dropout the matmul saves the softmax output itself"});
    ops.push_back({"out projection", {tb.tp_region("out-proj input (attention context)", "s*b*a*d", vd)}, ""});
    return;
  }
  // Flash attention (FlashAttention-2 / cuDNN / TE fused): saves Q, K, V (GQA: kv heads not expanded), the
  // output and the fp32 row logsumexp; attention dropout is regenerated from the RNG seed, no mask.
  ops.push_back(
      {"attention core (flash)",
       {tb.tp_region("Q", "s*b*a*d", qd), tb.tp_region("K", "s*b*kv*d", kd), tb.tp_region("V", "s*b*kv*d", vkd),
        tb.make("softmax logsumexp", "a*s*b", tb.tp_split(), ElementCount(dims.tokens_tp) * q_heads, 4, "fp32", true)},
       "the output O is saved too; it is the out-projection input below (same storage), counted there"});
  ops.push_back({"out projection", {tb.tp_region("out-proj input (attention output O)", "s*b*a*d", vd)}, ""});
}

// MLA's low-rank projections (HF DeepseekV2Attention.forward, Megatron MLASelfAttention): the down projections
// q_a_proj and kv_a_proj_with_mqa read the norm output (saved once, by the QKV projection op); q_a_layernorm and
// kv_a_layernorm keep their inputs (the down-projection outputs; kv_a's output holds the kv latent and the shared
// rope key, kv_a_layernorm's input is a view of it); q_b_proj (or q_proj) and kv_b_proj keep their inputs, the
// normed latents. The down projections are whole on every TP rank, so these widths are not divided by tp. The
// up-projected q, k and v are counted by the attention op.
void add_mla_latents(std::vector<ActivationOp>& ops, const TableBuilder& tb, const ModelSpec& m) {
  const std::uint64_t kv_lora = u(m.kv_lora_rank), rope = u(m.qk_rope_head_dim), q_lora = u(m.q_lora_rank);
  std::vector<SavedTensor> saved;
  if (q_lora > 0) {
    saved.push_back(tb.tp_region("q_a_layernorm input (q_a_proj output)", "s*b*q_lora", q_lora));
    saved.push_back(tb.tp_region("q_b_proj input (q_a_layernorm output)", "s*b*q_lora", q_lora));
  }
  saved.push_back(tb.tp_region("kv_a_proj output (kv latent + rope key; kv_a_layernorm input)", "s*b*(kv_lora+rope)",
                               kv_lora + rope));
  saved.push_back(tb.tp_region("kv_b_proj input (kv_a_layernorm output)", "s*b*kv_lora", kv_lora));
  ops.push_back({"MLA latent projections", saved,
                 q_lora > 0 ? "" : "no q LoRA: q_proj reads the norm output, saved by the QKV projection op"});
}

void add_dropout(std::vector<ActivationOp>& ops, const TableBuilder& tb, const ModelSpec& m, const TrainingConfig& t,
                 const std::string& name) {
  if (dropout_on(t.hidden_dropout))
    ops.push_back(
        {name, {tb.replicated_mask("dropout mask", "s*b*h", u(m.hidden_size))}, "the residual add saves nothing"});
  else
    ops.push_back({name, {}, "no hidden dropout: the residual add saves nothing"});
}

void add_dense_mlp(std::vector<ActivationOp>& ops, const TableBuilder& tb, const ModelSpec& m,
                   const ParallelConfig& p) {
  const std::uint64_t h = u(m.hidden_size);
  const std::uint64_t f = u(m.ffn() / p.tp);
  const bool gated = m.gated_mlp();
  ops.push_back(
      {gated ? "MLP up/gate (fc1)" : "MLP up (fc1)",
       {m.parallel_shared_norm
            ? alias(tb.replicated("fc1 input (norm output)", "s*b*h", h), "QKV input (norm output)")
            : tb.replicated(m.post_norm ? "fc1 input (residual sum)" : "fc1 input (norm output)", "s*b*h", h)},
       ""});
  const std::string act = std::string(activation_name(m.activation));
  if (gated)
    ops.push_back({"activation function (" + act + ")",
                   {tb.tp_region("fc1 output [gate, up]", "s*b*2*ffn", 2 * f)},
                   "fused SwiGLU (Megatron bias_swiglu / TE) saves its input and recomputes silu in backward"});
  else
    ops.push_back({"activation function (" + act + ")",
                   {tb.tp_region("fc1 output (activation input)", "s*b*ffn", f)},
                   "fused bias-" + act + " saves its input"});
  ops.push_back({"MLP down (fc2)", {tb.tp_region("fc2 input (activation output)", "s*b*ffn", f)}, ""});
}

void add_moe_mlp(std::vector<ActivationOp>& ops, const TableBuilder& tb, const ModelSpec& m, const ParallelConfig& p,
                 const TrainingConfig& t) {
  const std::uint64_t h = u(m.hidden_size);
  const std::uint64_t experts = u(m.num_experts);
  const std::uint64_t topk = u(m.moe_router_topk);
  const auto& dims = tb.dims();
  ops.push_back({"MoE router",
                 {tb.replicated("router input (norm output)", "s*b*h", h),
                  tb.make("router probabilities", "s*b*E", tb.rep_split(),
                          ElementCount(dims.tokens_replicated) * experts, 4, "fp32")},
                 "softmax over experts in fp32, then top-k"});
  // Tokens an expert-parallel rank computes: the TP-region tokens scaled by etp/tp (expert TP gathers
  // tokens over its etp group), times top-k; with a capacity factor each of the E experts gets
  // ceil(tokens*topk*cf/E) slots (padded), so E of those slots arrive per rank (Megatron get_capacity).
  const std::uint64_t scaled = (ElementCount(dims.tokens_tp) * u(p.etp)).value;
  const std::uint64_t base = scaled / u(p.tp) + (scaled % u(p.tp) != 0 ? 1 : 0);
  std::uint64_t routed = 0;
  std::string routed_shape;
  if (t.moe_capacity_factor) {
    const long double want = static_cast<long double>(base) * static_cast<long double>(topk) *
                             static_cast<long double>(*t.moe_capacity_factor) / static_cast<long double>(experts);
    if (want >= 18446744073709551615.0L) throw OverflowError("MoE expert capacity");
    auto capacity = static_cast<std::uint64_t>(want);
    if (static_cast<long double>(capacity) < want) ++capacity;
    routed = (ElementCount(capacity) * experts).value;
    routed_shape = "E*ceil(T*k*cf/E)";
  } else {
    routed = (ElementCount(base) * topk).value;
    routed_shape = "T*k";
  }
  const std::uint64_t fe = u(m.expert_ffn() / p.etp);
  const bool gated = m.gated_mlp();
  const std::string ex_split = join_splits({{p.etp > 1, "etp"}, {p.ep > 1, "ep"}, {p.cp > 1, "cp"}});
  auto ex = [&](std::string name, const std::string& shape, std::uint64_t width) {
    return tb.make(std::move(name), routed_shape + "*" + shape, ex_split, ElementCount(routed) * width,
                   tb.dims().activation_bytes, tb.act_dtype());
  };
  ops.push_back({"top-k dispatch (permute + all-to-all)", {}, "permutation indices only (O(tokens), not modelled)"});
  ops.push_back({"expert MLPs",
                 {ex("expert fc1 input (dispatched tokens)", "h", h),
                  ex(gated ? "expert fc1 output [gate, up]" : "expert fc1 output", gated ? "2*ffn_e" : "ffn_e",
                     gated ? 2 * fe : fe),
                  ex("expert fc2 input", "ffn_e", fe)},
                 "balanced routing assumed: T = s*b/(cp*ulysses) * etp/tp tokens"});
  ops.push_back({"combine (unpermute x router probabilities)",
                 {ex("expert outputs", "h", h)},
                 "kept for the gradient of the router probabilities"});
  if (m.shared_expert_ffn != 0) {  // Qwen2-MoE: a dense, TP-split MLP on every token, beside the routed experts
    const std::uint64_t fs = u(m.shared_expert_ffn / p.tp);
    SavedTensor in =
        alias(tb.replicated("shared expert fc1 input (norm output)", "s*b*h", h), "router input (norm output)");
    std::vector<SavedTensor> saved = {
        in,
        tb.tp_region(gated ? "shared expert fc1 output [gate, up]" : "shared expert fc1 output",
                     gated ? "s*b*2*ffn_s" : "s*b*ffn_s", gated ? 2 * fs : fs),
        tb.tp_region("shared expert fc2 input", "s*b*ffn_s", fs)};
    if (m.shared_expert_gate) {
      // sigmoid(gate(x)) * shared output: the product keeps both factors (the sigmoid output is one value a token).
      saved.push_back(tb.replicated("shared expert output (gate product input)", "s*b*h", h));
      saved.push_back(tb.replicated("shared expert gate sigmoid output", "s*b*1", 1));
    }
    ops.push_back({"shared expert MLP", saved, "its input is the router's input (same tensor)"});
  }
}

}  // namespace

LayerActivations layer_activations(const ModelSpec& m, const ParallelConfig& p, const TrainingConfig& t,
                                   unsigned activation_bytes) {
  const TableBuilder tb(p, t, activation_bytes);
  LayerActivations out;
  out.dims = tb.dims();
  const std::uint64_t h = u(m.hidden_size);
  const std::string norm = std::string(normalization_name(m.normalization));
  auto& ops = out.ops;
  if (m.post_norm)  // OLMo 2: no input norm, the QKV projection reads (and keeps) the layer input
    ops.push_back({"QKV projection",
                   {tb.replicated("QKV input (layer input)", "s*b*h", h)},
                   "post-norm: no input norm; with SP the sequence-sharded input is saved and all-gathered again"});
  else {
    ops.push_back({"input norm (" + norm + ")",
                   {tb.replicated("norm input (layer input)", "s*b*h", h)},
                   "per-token mean/rstd (fp32, O(s*b)) not counted"});
    ops.push_back({"QKV projection",
                   {tb.replicated("QKV input (norm output)", "s*b*h", h)},
                   "with SP the sequence-sharded norm output is saved and all-gathered again in backward"});
  }
  if (m.qk_norm) {  // Qwen3 / Gemma 3: RMSNorm over head_dim on each query and key head keeps its input (OLMo 2:
                    // over the whole q and k widths; the same tensors, the q and k projections)
    const std::uint64_t d = u(m.head_dim());
    ops.push_back(
        {m.qk_norm_full_width ? "q/k norm (RMSNorm over the whole q and k widths)" : "q/k norm (RMSNorm over head_dim)",
         {tb.tp_region("q_norm input (q projection)", "s*b*a*d", u(m.num_attention_heads / p.tp) * d),
          tb.tp_region("k_norm input (k projection)", "s*b*kv*d", u(m.query_groups() / p.tp) * d)},
         ""});
  }
  if (m.mla()) add_mla_latents(ops, tb, m);
  if (m.position_embedding == PositionEmbedding::rope)
    ops.push_back({"RoPE", {}, "backward rotates the gradient with the shared cos/sin tables: nothing per token"});
  add_attention(ops, tb, m, p, t);
  if (m.sandwich_norm || m.post_norm)  // Gemma 2/3, OLMo 2 post_attention_layernorm on the attention output
    ops.push_back(
        {"attention output norm (" + norm + ")", {tb.replicated("norm input (attention output)", "s*b*h", h)}, ""});
  add_dropout(ops, tb, m, t, "residual + dropout (attention)");
  SavedTensor mlp_norm_input = tb.replicated("norm input (residual sum)", "s*b*h", h);
  if (m.parallel_residual)  // GPT-NeoX: the MLP's norm reads the layer input, already kept by the input norm
    mlp_norm_input = alias(tb.replicated("norm input (layer input)", "s*b*h", h), "norm input (layer input)");
  if (!m.post_norm && !m.parallel_shared_norm)  // Falcon-7B: one norm feeds both branches; OLMo 2: the MLP reads the
                                                // residual sum itself, saved under "fc1 input" (same bytes)
    ops.push_back({"post-attention norm (" + norm + ")",
                   {mlp_norm_input},
                   m.parallel_residual ? "parallel attention + MLP: same tensor as the input norm's" : ""});
  if (m.is_moe())
    add_moe_mlp(ops, tb, m, p, t);
  else
    add_dense_mlp(ops, tb, m, p);
  if (m.sandwich_norm || m.post_norm)  // Gemma 2/3, OLMo 2 post_feedforward_layernorm on the MLP output
    ops.push_back({"MLP output norm (" + norm + ")", {tb.replicated("norm input (MLP output)", "s*b*h", h)}, ""});
  add_dropout(ops, tb, m, t, "residual + dropout (MLP)");
  quantize_saved_linear_inputs(ops, out.dims, m, p, t.low_precision, t.attention == AttentionKernel::flash);

  for (const auto& op : ops)
    for (const auto& st : op.saved) {
      out.saved_all += st.bytes;
      if (st.attention_core)
        out.attention_core_bytes += st.bytes;
      else
        out.saved_selective += st.bytes;
    }
  out.checkpoint = ops.front().saved.front().bytes;  // the layer input (input norm's or, post-norm, QKV's tensor)
  if (p.cp > 1) {
    // Local K and V as the flash kernel sees them (kv heads, not expanded; eager is refused with cp).
    const Bytes kv((ElementCount(out.dims.tokens_tp) *
                    (m.mla() ? u(m.num_attention_heads / p.tp) * u(m.qk_head_dim() + m.value_head_dim())
                             : 2 * u(m.query_groups() / p.tp) * u(m.head_dim())) *
                    activation_bytes)
                       .value);
    out.cp_exchange_bytes = kv * u(p.cp > 4 ? p.cp : 4);
  }
  return out;
}

Bytes layer_saved_bytes(const LayerActivations& layer, RecomputeGranularity g) {
  switch (g) {
    case RecomputeGranularity::none: return layer.saved_all;
    case RecomputeGranularity::selective: return layer.saved_selective;
    case RecomputeGranularity::full: return layer.checkpoint;
  }
  return layer.saved_all;
}

StageExtras first_stage_extras(const ModelSpec& m, const ParallelConfig& p, const TrainingConfig& t,
                               unsigned activation_bytes) {
  const TableBuilder tb(p, t, activation_bytes);
  StageExtras out;
  // The vocab-parallel embedding keeps its (masked) int64 token ids for the backward scatter-add; Megatron's
  // theoretical_memory_usage.py counts them too (8 * s * b per microbatch).
  out.saved.push_back(tb.make("token ids (embedding backward)", "s*b",
                              join_splits({{p.cp > 1, "cp"}, {p.ulysses_sp > 1, "ulysses"}}),
                              ElementCount(tb.dims().tokens_tp), 8, "int64"));
  // Megatron's embedding applies hidden_dropout to its output (after the SP scatter); the output itself is
  // the first layer's input, counted by that layer.
  if (dropout_on(t.hidden_dropout))
    out.saved.push_back(tb.replicated_mask("embedding dropout mask", "s*b*h", u(m.hidden_size)));
  for (const auto& st : out.saved) out.saved_bytes += st.bytes;
  return out;
}

StageExtras last_stage_extras(const ModelSpec& m, const ParallelConfig& p, const TrainingConfig& t,
                              unsigned activation_bytes, std::int64_t padded_vocab_size) {
  const TableBuilder tb(p, t, activation_bytes);
  const auto& dims = tb.dims();
  const std::uint64_t h = u(m.hidden_size);
  const std::uint64_t v = u(padded_vocab_size / p.tp);  // vocab-parallel LM head: padded vocab / tp rows
  StageExtras out;
  out.saved.push_back(tb.replicated("final norm input", "s*b*h", h));
  if (!t.fused_linear_cross_entropy) {
    out.saved.push_back(tb.replicated("LM head input (final norm output)", "s*b*h", h));
    // Megatron vocab_parallel_cross_entropy(logits.float(), labels): the fp32 copy is exponentiated and
    // normalised in place and saved (exp_logits), with target_mask (bool) and masked_target_1d (int64).
    out.saved.push_back(tb.make("fp32 logits (cross-entropy softmax, in place)", "s*b*V", tb.tp_split(),
                                ElementCount(dims.tokens_tp) * v, 4, "fp32"));
    if (m.final_logit_softcapping > 0.0)  // Gemma 2: cap * tanh(logits / cap); tanh keeps its output
      out.saved.push_back(tb.make("soft-capped logits (tanh output)", "s*b*V", tb.tp_split(),
                                  ElementCount(dims.tokens_tp) * v, activation_bytes, tb.act_dtype()));
    out.saved.push_back(
        tb.make("cross-entropy target mask", "s*b", tb.tp_split(), ElementCount(dims.tokens_tp), 1, "bool"));
    out.saved.push_back(
        tb.make("cross-entropy masked targets", "s*b", tb.tp_split(), ElementCount(dims.tokens_tp), 8, "int64"));
    if (activation_bytes != 4)
      out.transient.push_back(tb.make("bf16 logits (LM head output, freed after the fp32 cast)", "s*b*V", tb.tp_split(),
                                      ElementCount(dims.tokens_tp) * v, activation_bytes, tb.act_dtype()));
  } else {
    // Liger-Kernel fused_linear_cross_entropy: forward computes the loss chunk by chunk and writes the input
    // and weight gradients right away; it saves those gradients, never the logits.
    out.saved.push_back(tb.make("input gradient (computed in forward)", "s*b*h", tb.tp_split(),
                                ElementCount(dims.tokens_tp) * h, activation_bytes, tb.act_dtype()));
    out.saved.push_back(tb.make("LM head weight gradient (computed in forward)", "V*h", p.tp > 1 ? "tp" : "-",
                                ElementCount(v) * h, activation_bytes, tb.act_dtype()));
    // Chunk rows: next_power_of_2(ceil(BT / ceil(V / h))) (Liger fused_linear_cross_entropy_forward).
    const std::uint64_t inc = (v + h - 1) / h;
    const std::uint64_t want = (dims.tokens_tp + inc - 1) / inc;
    std::uint64_t chunk = 1;
    while (chunk < want) chunk *= 2;
    if (chunk > dims.tokens_tp) chunk = dims.tokens_tp;
    out.transient.push_back(tb.make("logits of one chunk (" + std::to_string(chunk) + " tokens)", "chunk*V",
                                    p.tp > 1 ? "tp" : "-", ElementCount(chunk) * v, activation_bytes, tb.act_dtype()));
  }
  for (const auto& st : out.saved) out.saved_bytes += st.bytes;
  for (const auto& st : out.transient) out.transient_bytes += st.bytes;
  return out;
}

}  // namespace trainmem::sim
