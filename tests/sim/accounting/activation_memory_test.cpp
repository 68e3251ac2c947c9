// The per-layer activation op table against independent closed forms: Korthikanti et al. 2022 ("Reducing
// Activation Recomputation in Large Transformer Models", arXiv 2205.05198) Table 2, all six rows, for the
// paper's 22B, 175B, 530B and 1T configurations; a Llama-style layer checked op by op (docs/activations.md).
#include "sim/accounting/activation_memory.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "korthikanti_models.hpp"
#include "partition/error.hpp"

namespace trainmem::sim {
namespace {

using test::kPaperModels;
using test::PaperModel;
constexpr std::int64_t kSeq = 2048;
constexpr std::int64_t kTp = 8;

// A GPT-3 style layer: LayerNorm, GeLU 4h MLP, learned positions, biases, vocab 51200 (the paper's v).
ModelSpec gpt_layer(const PaperModel& pm) {
  ModelSpec m;
  m.name = pm.name;
  m.num_layers = pm.layers;
  m.hidden_size = pm.hidden;
  m.num_attention_heads = pm.heads;
  m.ffn_hidden_size = 4 * pm.hidden;
  m.vocab_size = 51200;
  return m;
}

TrainingConfig paper_training() {
  TrainingConfig t;
  t.seq_length = kSeq;
  t.micro_batch_size = 1;
  t.attention = AttentionKernel::eager;  // the paper's attention materialises the s x s scores
  t.attention_dropout = 0.1;             // dropout masks are 1 byte per element
  t.hidden_dropout = 0.1;
  return t;
}

ParallelConfig tp_config(std::int64_t tp, bool sp) {
  ParallelConfig p;
  p.tp = tp;
  p.sequence_parallel = sp;
  p.etp = tp;
  return p;
}

TEST(ActivationMemory, KorthikantiTable2AllRowsForThePaperModels) {
  for (const auto& pm : kPaperModels) {
    SCOPED_TRACE(pm.name);
    const ModelSpec m = gpt_layer(pm);
    const TrainingConfig t = paper_training();
    const std::uint64_t s = kSeq, b = 1, h = static_cast<std::uint64_t>(pm.hidden),
                        a = static_cast<std::uint64_t>(pm.heads);
    const std::uint64_t tp = kTp, sbh = s * b * h, as2b = a * s * s * b;

    // Row 1, no parallelism: sbh(34 + 5as/h) = 34sbh + 5as^2b.
    const auto none = layer_activations(m, tp_config(1, false), t, 2);
    EXPECT_EQ(none.saved_all.value, 34 * sbh + 5 * as2b);
    // Row 2, tensor parallel: sbh(10 + 24/t + 5as/(ht)).
    const auto tp_only = layer_activations(m, tp_config(kTp, false), t, 2);
    EXPECT_EQ(tp_only.saved_all.value, 10 * sbh + 24 * sbh / tp + 5 * as2b / tp);
    // Row 3, tensor + sequence parallel: sbh(34/t + 5as/(ht)).
    const auto tp_sp = layer_activations(m, tp_config(kTp, true), t, 2);
    EXPECT_EQ(tp_sp.saved_all.value, 34 * sbh / tp + 5 * as2b / tp);
    // Row 4, tensor parallel + selective recompute: sbh(10 + 24/t).
    EXPECT_EQ(layer_saved_bytes(tp_only, RecomputeGranularity::selective).value, 10 * sbh + 24 * sbh / tp);
    // Row 5, tensor + sequence parallel + selective recompute: 34sbh/t.
    EXPECT_EQ(layer_saved_bytes(tp_sp, RecomputeGranularity::selective).value, 34 * sbh / tp);
    // Row 6, full recompute: 2sbh (the layer input, tensor parallel without SP keeps it whole).
    EXPECT_EQ(layer_saved_bytes(tp_only, RecomputeGranularity::full).value, 2 * sbh);
    // With SP the checkpoint is the sequence-sharded input: 2sbh/t (Korthikanti Sec. 5).
    EXPECT_EQ(layer_saved_bytes(tp_sp, RecomputeGranularity::full).value, 2 * sbh / tp);
    // Selective recompute rebuilds exactly the 5as^2b/t of softmax output, its dropout mask and dropout output.
    EXPECT_EQ(tp_only.attention_core_bytes.value, 5 * as2b / tp);
  }
}

TEST(ActivationMemory, Table2BreakdownBlockByBlock) {
  // Korthikanti Sec. 4.1 itemises the unparallelised layer: attention block 11sbh + 5as^2b (QKV input 2sbh,
  // Q and K 4sbh, softmax output 2as^2b, its dropout mask as^2b, dropout output 2as^2b, V 2sbh, out-proj
  // input 2sbh, dropout mask sbh), MLP 19sbh (fc1 input 2sbh, GeLU input 8sbh, fc2 input 8sbh, dropout mask
  // sbh), two LayerNorm inputs 4sbh. Check the op table reproduces each item (175B shapes).
  const ModelSpec m = gpt_layer(kPaperModels[1]);
  const auto layer = layer_activations(m, tp_config(1, false), paper_training(), 2);
  const std::uint64_t s = kSeq, h = 12288, a = 96, sbh = s * h, as2b = a * s * s;
  std::map<std::string, std::uint64_t> by_op;
  for (const auto& op : layer.ops)
    for (const auto& st : op.saved) by_op[op.name] += st.bytes.value;
  EXPECT_EQ(by_op["input norm (LayerNorm)"] + by_op["post-attention norm (LayerNorm)"], 4 * sbh);
  EXPECT_EQ(by_op["QKV projection"], 2 * sbh);
  EXPECT_EQ(by_op["attention core: QK^T"], 4 * sbh);
  EXPECT_EQ(by_op["softmax (scaled, causal-masked)"], 2 * as2b);
  EXPECT_EQ(by_op["attention dropout"], as2b);
  EXPECT_EQ(by_op["attention over V"], 2 * as2b + 2 * sbh);
  EXPECT_EQ(by_op["out projection"], 2 * sbh);
  EXPECT_EQ(by_op["residual + dropout (attention)"], sbh);
  EXPECT_EQ(by_op["MLP up (fc1)"], 2 * sbh);
  EXPECT_EQ(by_op["activation function (gelu)"], 8 * sbh);
  EXPECT_EQ(by_op["MLP down (fc2)"], 8 * sbh);
  EXPECT_EQ(by_op["residual + dropout (MLP)"], sbh);
}

TEST(ActivationMemory, NoAttentionDropoutSavesTheSoftmaxOutputOnce) {
  // Without attention dropout the probs @ V matmul saves the softmax output itself: 2as^2b instead of
  // 5as^2b (no mask, no second copy). Hidden dropout off too: 34sbh - 2sbh of masks = 32sbh.
  TrainingConfig t = paper_training();
  t.attention_dropout = 0.0;
  t.hidden_dropout = 0.0;
  const auto layer = layer_activations(gpt_layer(kPaperModels[0]), tp_config(1, false), t, 2);
  const std::uint64_t s = kSeq, h = 6144, a = 64;
  EXPECT_EQ(layer.saved_all.value, 32 * s * h + 2 * a * s * s);
}

// Llama-3-8B shapes: RMSNorm, SwiGLU (ffn 14336), no biases, no dropout, RoPE, GQA 32 query / 8 kv heads of
// dimension 128, flash attention.
ModelSpec llama_layer() {
  ModelSpec m;
  m.name = "llama-style";
  m.num_layers = 32;
  m.hidden_size = 4096;
  m.ffn_hidden_size = 14336;
  m.num_attention_heads = 32;
  m.num_query_groups = 8;
  m.vocab_size = 128256;
  m.normalization = Normalization::rms_norm;
  m.activation = Activation::swiglu;
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = false;
  m.add_bias_linear = false;
  return m;
}

TrainingConfig llama_training(std::int64_t seq) {
  TrainingConfig t;
  t.seq_length = seq;
  t.micro_batch_size = 1;
  t.attention = AttentionKernel::flash;
  t.attention_dropout = 0.0;
  t.hidden_dropout = 0.0;
  return t;
}

TEST(ActivationMemory, LlamaLayerTermByTerm) {
  // docs/activations.md, "Llama-style layer": with s = 4096, b = 2, h = 4096, a = 32, kv = 8, d = 128,
  // f = 14336, bf16 (2 bytes), tp 2 without SP:
  //   input RMSNorm input        2sbh        (replicated)
  //   QKV input                  2sbh        (replicated)
  //   RoPE                       nothing
  //   flash: Q 2sb(a/t)d, K 2sb(kv/t)d, V 2sb(kv/t)d, logsumexp 4sb(a/t) fp32
  //   out-proj input O           2sb(a/t)d
  //   residual                   nothing (no dropout)
  //   post-attention norm input  2sbh
  //   fc1 input                  2sbh
  //   SwiGLU input [gate, up]    2sb(2f/t)
  //   fc2 input                  2sb(f/t)
  const std::uint64_t s = 4096, b = 2, h = 4096, a = 32, kv = 8, d = 128, f = 14336, t = 2;
  const auto layer = layer_activations(llama_layer(), tp_config(2, false), llama_training(4096), 2);  // b = 1
  TrainingConfig tc = llama_training(4096);
  tc.micro_batch_size = 2;
  const auto l2 = layer_activations(llama_layer(), tp_config(2, false), tc, 2);
  std::map<std::string, std::uint64_t> got;
  for (const auto& op : l2.ops)
    for (const auto& st : op.saved) got[op.name + " / " + st.name] = st.bytes.value;
  const std::map<std::string, std::uint64_t> want = {
      {"input norm (RMSNorm) / norm input (layer input)", 2 * s * b * h},
      {"QKV projection / QKV input (norm output)", 2 * s * b * h},
      {"attention core (flash) / Q", 2 * s * b * (a / t) * d},
      {"attention core (flash) / K", 2 * s * b * (kv / t) * d},
      {"attention core (flash) / V", 2 * s * b * (kv / t) * d},
      {"attention core (flash) / softmax logsumexp", 4 * s * b * (a / t)},
      {"out projection / out-proj input (attention output O)", 2 * s * b * (a / t) * d},
      {"post-attention norm (RMSNorm) / norm input (residual sum)", 2 * s * b * h},
      {"MLP up/gate (fc1) / fc1 input (norm output)", 2 * s * b * h},
      {"activation function (swiglu) / fc1 output [gate, up]", 2 * s * b * (2 * f / t)},
      {"MLP down (fc2) / fc2 input (activation output)", 2 * s * b * (f / t)},
  };
  EXPECT_EQ(got, want);
  // Ops that keep nothing are still listed (with the reason).
  bool rope = false, residual = false;
  for (const auto& op : l2.ops) {
    if (op.name == "RoPE") rope = op.saved.empty() && !op.note.empty();
    if (op.name == "residual + dropout (MLP)") residual = op.saved.empty();
  }
  EXPECT_TRUE(rope);
  EXPECT_TRUE(residual);
  std::uint64_t sum = 0;
  for (const auto& [k, v] : want) sum += v;
  EXPECT_EQ(l2.saved_all.value, sum);
  // b = 1 is exactly half.
  EXPECT_EQ(layer.saved_all.value * 2, l2.saved_all.value);
  // Selective recompute on flash drops only the logsumexp (Q, K, V are the region's inputs, O the
  // out-projection's input).
  EXPECT_EQ(l2.saved_selective.value, sum - 4 * s * b * (a / t));
  // Full recompute keeps the layer input: 2sbh.
  EXPECT_EQ(l2.checkpoint.value, 2 * s * b * h);
}

TEST(ActivationMemory, EagerGqaSavesExpandedKeysAndValues) {
  // Eager attention expands the 8 kv heads to 32 before the batched matmuls: K and V cost 2sbad each,
  // and the scores 2as^2b; no dropout, so the softmax output is saved once. s = 1024, b = 1, tp 1.
  const std::uint64_t s = 1024, h = 4096, a = 32, d = 128, f = 14336;
  TrainingConfig t = llama_training(1024);
  t.attention = AttentionKernel::eager;
  const auto layer = layer_activations(llama_layer(), tp_config(1, false), t, 2);
  // norms 4sh + QKV input 2sh + fc1 input 2sh + Q, K, V, context 4 * 2sad + scores 2as^2 + SwiGLU 4sf + fc2 2sf.
  EXPECT_EQ(layer.saved_all.value, 8 * s * h + 8 * s * a * d + 2 * a * s * s + 6 * s * f);
}

TEST(ActivationMemory, SequenceParallelShardsOnlyTheReplicatedRegion) {
  // Llama layer, s = 4096, b = 1, tp 4 with SP: the four replicated 2sbh tensors become 2sbh/4; the
  // TP-region tensors are unchanged.
  const std::uint64_t s = 4096, h = 4096, a = 32, kv = 8, d = 128, f = 14336, t = 4;
  const auto with_sp = layer_activations(llama_layer(), tp_config(4, true), llama_training(4096), 2);
  const std::uint64_t tp_region =
      2 * s * (a / t) * d * 2 + 2 * s * (kv / t) * d * 2 + 4 * s * (a / t) + 2 * s * (2 * f / t) + 2 * s * (f / t);
  EXPECT_EQ(with_sp.saved_all.value, 4 * 2 * s * h / t + tp_region);
  EXPECT_EQ(with_sp.checkpoint.value, 2 * s * h / t);
}

TEST(ActivationMemory, ContextParallelSplitsTheSequenceAndAddsRingBuffers) {
  // cp 2 halves every token count (s/cp per rank); the ring-attention exchange keeps max(cp, 4) copies
  // of the local K + V: 4 * 2 * (s/2) * kv * d * 2 bytes.
  const std::uint64_t s = 8192, kv = 8, d = 128;
  ParallelConfig p = tp_config(1, false);
  ParallelConfig pc = p;
  pc.cp = 2;
  const auto full = layer_activations(llama_layer(), p, llama_training(8192), 2);
  const auto half = layer_activations(llama_layer(), pc, llama_training(8192), 2);
  EXPECT_EQ(half.saved_all.value * 2, full.saved_all.value);
  EXPECT_EQ(full.cp_exchange_bytes.value, 0u);
  EXPECT_EQ(half.cp_exchange_bytes.value, 4 * (2 * (s / 2) * kv * d * 2));
  pc.cp = 8;  // more ranks than 4: cp chunks of K + V
  const auto eighth = layer_activations(llama_layer(), pc, llama_training(8192), 2);
  EXPECT_EQ(eighth.cp_exchange_bytes.value, 8 * (2 * (s / 8) * kv * d * 2));
}

TEST(ActivationMemory, UlyssesDividesEveryTensorByItsDegree) {
  // Outside attention the sequence is split ulysses_sp ways, inside the heads are: every saved tensor
  // shrinks by the degree, the s x s scores included (a/u heads x s x s).
  TrainingConfig t = paper_training();
  ParallelConfig p = tp_config(1, false);
  p.ulysses_sp = 4;
  const auto base = layer_activations(gpt_layer(kPaperModels[0]), tp_config(1, false), t, 2);
  const auto uly = layer_activations(gpt_layer(kPaperModels[0]), p, t, 2);
  EXPECT_EQ(uly.saved_all.value * 4, base.saved_all.value);
}

TEST(ActivationMemory, Fp32ActivationsDoubleTheTensorsButNotTheMasks) {
  // fp32 recipe: 4-byte activations. Table 2 row 1 becomes 2 * (32sbh + 4as^2b) + masks (2sbh + as^2b).
  const ModelSpec m = gpt_layer(kPaperModels[0]);
  const auto layer = layer_activations(m, tp_config(1, false), paper_training(), 4);
  const std::uint64_t s = kSeq, h = 6144, a = 64;
  EXPECT_EQ(layer.saved_all.value, 2 * (32 * s * h + 4 * a * s * s) + 2 * s * h + a * s * s);
}

TEST(ActivationMemory, MoeLayerRouterDispatchAndExperts) {
  // Mixtral-style MoE: 8 experts, top-2, expert ffn 14336, SwiGLU, h 4096; s = 4096, b = 1, tp 1, ep 1.
  // Dropless (balanced): T*k = 8192 routed token slots. Per docs/activations.md the MoE MLP keeps:
  //   router input 2sh, router probabilities fp32 4sE, expert fc1 input 2Tk h, SwiGLU input 2Tk*2f,
  //   fc2 input 2Tk f, combine (expert outputs) 2Tk h.
  ModelSpec m = llama_layer();
  m.num_experts = 8;
  m.moe_router_topk = 2;
  const std::uint64_t s = 4096, h = 4096, f = 14336, e = 8, k = 2;
  auto mlp_bytes = [](const LayerActivations& l) {
    std::uint64_t sum = 0;
    bool in_mlp = false;
    for (const auto& op : l.ops) {
      if (op.name == "MoE router") in_mlp = true;
      if (op.name == "residual + dropout (MLP)") in_mlp = false;
      if (in_mlp)
        for (const auto& st : op.saved) sum += st.bytes.value;
    }
    return sum;
  };
  const auto dropless = layer_activations(m, tp_config(1, false), llama_training(4096), 2);
  const std::uint64_t tk = s * k;
  EXPECT_EQ(mlp_bytes(dropless), 2 * s * h + 4 * s * e + 2 * tk * h + 2 * tk * 2 * f + 2 * tk * f + 2 * tk * h);
  // Capacity factor 1.25: each of the 8 experts gets ceil(4096 * 2 * 1.25 / 8) = 1280 slots -> 10240.
  TrainingConfig t = llama_training(4096);
  t.moe_capacity_factor = 1.25;
  const auto capped = layer_activations(m, tp_config(1, false), t, 2);
  const std::uint64_t slots = 8 * 1280;
  EXPECT_EQ(mlp_bytes(capped),
            2 * s * h + 4 * s * e + 2 * slots * h + 2 * slots * 2 * f + 2 * slots * f + 2 * slots * h);
}

TEST(ActivationMemory, SharedExpertIsADenseMlpOnEveryToken) {
  // Qwen2-MoE style: the MoE layer above plus a gated shared expert of width fs = 5632 at tp 2 (no SP, s = 4096,
  // b = 1, bf16). Its fc1 input is the router's input (an alias, 0 bytes); it keeps [gate, up] 2s(2fs/t), the fc2
  // input 2s(fs/t), and for sigmoid(gate(x)) * output the output 2sh and the sigmoid output 2s.
  ModelSpec m = llama_layer();
  m.num_experts = 8;
  m.moe_router_topk = 2;
  const auto plain = layer_activations(m, tp_config(2, false), llama_training(4096), 2);
  m.shared_expert_ffn = 5632;
  m.shared_expert_gate = true;
  const auto shared = layer_activations(m, tp_config(2, false), llama_training(4096), 2);
  const std::uint64_t s = 4096, h = 4096, fs = 5632, t = 2;
  EXPECT_EQ(shared.saved_all.value,
            plain.saved_all.value + 2 * s * (2 * fs / t) + 2 * s * (fs / t) + 2 * s * h + 2 * s);
}

TEST(ActivationMemory, MoeExpertTensorParallelFoldingScalesTokens) {
  // Same MoE layer on tp 2 with SP, etp 1, ep 2 (MoE parallel folding): the router sees the SP shard
  // (s/2 = 2048 tokens); each expert rank computes T = s * etp/tp = 2048 tokens' top-2 slots (4096) over
  // the full expert width f (etp 1).
  ModelSpec m = llama_layer();
  m.num_experts = 8;
  m.moe_router_topk = 2;
  ParallelConfig p = tp_config(2, true);
  p.etp = 1;
  p.ep = 2;
  const std::uint64_t h = 4096, f = 14336, e = 8, rep = 2048, slots = 4096;
  const auto layer = layer_activations(m, p, llama_training(4096), 2);
  std::map<std::string, std::uint64_t> got;
  for (const auto& op : layer.ops)
    for (const auto& st : op.saved) got[st.name] = st.bytes.value;
  EXPECT_EQ(got["router input (norm output)"], 2 * rep * h);
  EXPECT_EQ(got["router probabilities"], 4 * rep * e);
  EXPECT_EQ(got["expert fc1 input (dispatched tokens)"], 2 * slots * h);
  EXPECT_EQ(got["expert fc1 output [gate, up]"], 2 * slots * 2 * f);
  EXPECT_EQ(got["expert fc2 input"], 2 * slots * f);
  EXPECT_EQ(got["expert outputs"], 2 * slots * h);
}

TEST(ActivationMemory, ArchitectureVariantsAddOrShareTensors) {
  // The Llama layer above (s = 4096, b = 1, h = 4096, a = 32, kv = 8, d = 128, tp 2, bf16) with each variant:
  const std::uint64_t s = 4096, h = 4096, a = 32, kv = 8, d = 128, t = 2;
  const TrainingConfig tc = llama_training(4096);
  const std::uint64_t base = layer_activations(llama_layer(), tp_config(2, false), tc, 2).saved_all.value;
  // qk-norm (Qwen3): the q and k RMSNorms keep their inputs, 2s(a/t)d + 2s(kv/t)d.
  ModelSpec qk = llama_layer();
  qk.qk_norm = true;
  EXPECT_EQ(layer_activations(qk, tp_config(2, false), tc, 2).saved_all.value,
            base + 2 * s * (a / t) * d + 2 * s * (kv / t) * d);
  // Sandwich norms (Gemma 2/3): the attention-output and MLP-output norms keep their inputs, 2sh each.
  ModelSpec sw = llama_layer();
  sw.sandwich_norm = true;
  EXPECT_EQ(layer_activations(sw, tp_config(2, false), tc, 2).saved_all.value, base + 2 * (2 * s * h));
  // Parallel residual (GPT-NeoX): the MLP's norm reads the layer input, already kept: 2sh less.
  ModelSpec par = llama_layer();
  par.parallel_residual = true;
  const auto pl = layer_activations(par, tp_config(2, false), tc, 2);
  EXPECT_EQ(pl.saved_all.value, base - 2 * s * h);
  // One shared norm (Falcon-7B): no second norm, and fc1 reads the QKV input (an alias): another 2sh less.
  par.parallel_shared_norm = true;
  EXPECT_EQ(layer_activations(par, tp_config(2, false), tc, 2).saved_all.value, base - 2 * (2 * s * h));
  // Post-norm (OLMo 2): QKV keeps the layer input instead of the input norm's input and output, the MLP the residual
  // sum instead of the post-attention norm's input and output, and the attention- and MLP-output norms keep their
  // inputs: 4 tensors of 2sh either way, the same total as pre-norm. The full-width q/k norms keep the q and k
  // projections like Qwen3's per-head ones. The checkpoint is still the layer input.
  ModelSpec post = llama_layer();
  post.post_norm = true;
  const auto pn = layer_activations(post, tp_config(2, false), tc, 2);
  EXPECT_EQ(pn.saved_all.value, base);
  EXPECT_EQ(pn.checkpoint.value, 2 * s * h);
  std::map<std::string, std::uint64_t> named;
  for (const auto& op : pn.ops)
    for (const auto& st : op.saved) named[st.name] += st.bytes.value;
  EXPECT_EQ(named["QKV input (layer input)"], 2 * s * h);
  EXPECT_EQ(named["norm input (attention output)"], 2 * s * h);
  EXPECT_EQ(named["fc1 input (residual sum)"], 2 * s * h);
  EXPECT_EQ(named["norm input (MLP output)"], 2 * s * h);
  EXPECT_EQ(named.count("norm input (layer input)"), 0U);
  post.qk_norm = true;
  post.qk_norm_full_width = true;
  EXPECT_EQ(layer_activations(post, tp_config(2, false), tc, 2).saved_all.value,
            base + 2 * s * (a / t) * d + 2 * s * (kv / t) * d);
  // Attention logit soft-capping under eager attention: the tanh output, 2(a/t)s^2 (an attention-core tensor,
  // dropped by selective recompute); flash applies the cap in the kernel and keeps nothing more.
  TrainingConfig eager = tc;
  eager.attention = AttentionKernel::eager;
  ModelSpec cap = llama_layer();
  cap.attn_logit_softcapping = 50.0;
  const auto plain_eager = layer_activations(llama_layer(), tp_config(2, false), eager, 2);
  const auto capped = layer_activations(cap, tp_config(2, false), eager, 2);
  EXPECT_EQ(capped.saved_all.value, plain_eager.saved_all.value + 2 * (a / t) * s * s);
  EXPECT_EQ(capped.saved_selective.value, plain_eager.saved_selective.value);
  EXPECT_EQ(layer_activations(cap, tp_config(2, false), tc, 2).saved_all.value, base);
  // Final logit soft-capping: the last stage keeps the bf16 tanh output of the logits, 2sV (V = 128256, tp 1).
  ModelSpec fcap = llama_layer();
  fcap.final_logit_softcapping = 30.0;
  const std::uint64_t v = 128256;
  EXPECT_EQ(last_stage_extras(fcap, tp_config(1, false), tc, 2, 128256).saved_bytes.value,
            last_stage_extras(llama_layer(), tp_config(1, false), tc, 2, 128256).saved_bytes.value + 2 * s * v);
}

TEST(ActivationMemory, LastStageLogitsAndLoss) {
  // Llama-3-8B vocab 128256 (a multiple of 128, no padding at tp 1), s = 8192, b = 1:
  //   final norm input 2sh + LM head input 2sh + fp32 logits 4sV + target mask s (bool) + masked targets 8s
  //   (int64); transient: the bf16 logits 2sV before the fp32 cast.
  const std::uint64_t s = 8192, h = 4096, v = 128256;
  const auto last = last_stage_extras(llama_layer(), tp_config(1, false), llama_training(8192), 2, 128256);
  EXPECT_EQ(last.saved_bytes.value, 4 * s * h + 4 * s * v + s + 8 * s);
  EXPECT_EQ(last.transient_bytes.value, 2 * s * v);
  // Vocab-parallel over tp 8: the logits are split 8 ways (the vocabulary is padded to 128 * 8 = 1024:
  // 128256 -> 128512, 16064 rows per rank).
  const auto tp8 = last_stage_extras(llama_layer(), tp_config(8, false), llama_training(8192), 2, 128512);
  EXPECT_EQ(tp8.saved_bytes.value, 4 * s * h + 4 * s * 16064 + s + 8 * s);
  // Fused linear cross entropy (Liger): no logits kept; the input gradient (2sh) and the LM head weight
  // gradient (2Vh) are computed in forward and kept; the final norm input stays. Chunk rows:
  // next_pow2(ceil(8192 / ceil(128256 / 4096))) = next_pow2(ceil(8192 / 32)) = 256; transient 2 * 256 * V.
  TrainingConfig t = llama_training(8192);
  t.fused_linear_cross_entropy = true;
  const auto fused = last_stage_extras(llama_layer(), tp_config(1, false), t, 2, 128256);
  EXPECT_EQ(fused.saved_bytes.value, 2 * s * h + 2 * s * h + 2 * v * h);
  EXPECT_EQ(fused.transient_bytes.value, 2 * 256 * v);
}

TEST(ActivationMemory, FirstStageTokenIdsAndEmbeddingDropoutMask) {
  // The embedding keeps its int64 token ids (8 bytes per token, Megatron's theoretical_memory_usage.py
  // "input to embedding" 8sb) and, GPT-style, the hidden-dropout mask of its output: 1 byte x sbh
  // (sbh/t with SP).
  const ModelSpec m = gpt_layer(kPaperModels[1]);
  const std::uint64_t s = kSeq, h = 12288;
  EXPECT_EQ(first_stage_extras(m, tp_config(8, false), paper_training(), 2).saved_bytes.value, 8 * s + s * h);
  EXPECT_EQ(first_stage_extras(m, tp_config(8, true), paper_training(), 2).saved_bytes.value, 8 * s + s * h / 8);
  EXPECT_EQ(first_stage_extras(llama_layer(), tp_config(1, false), llama_training(8192), 2).saved_bytes.value,
            8u * 8192);
}

TEST(ActivationMemory, SequenceThatCannotBeShardedIsAnError) {
  // cp 2 x ulysses 3 over s = 4100: 4100 is not divisible by 6.
  ParallelConfig p = tp_config(1, false);
  p.cp = 2;
  p.ulysses_sp = 3;
  try {
    layer_activations(llama_layer(), p, llama_training(4100), 2);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "seq_length");
  }
}

}  // namespace
}  // namespace trainmem::sim

namespace trainmem::sim {
namespace {

TEST(ActivationMemory, MultiLatentAttentionTensors) {
  // DeepSeek-V2 layer (h 5120, 128 heads, q_lora 1536, kv_lora 512, nope 128, rope 64, v 128), flash, bf16,
  // s = 4096, b = 1, tp 2 without SP. HF DeepseekV2Attention.forward / Megatron MLASelfAttention save:
  //   q_a_layernorm input (q_a_proj output)   2*s*b*q_lora          (down projection whole on each rank)
  //   q_b_proj input (normed q latent)        2*s*b*q_lora
  //   kv_a_proj output (latent + rope key)    2*s*b*(kv_lora+rope)  (kv_a_layernorm's input is a view of it)
  //   kv_b_proj input (normed kv latent)      2*s*b*kv_lora
  //   flash Q = cat(q_nope, q_pe)             2*s*b*(a/t)*(nope+rope)
  //   flash K = cat(k_nope, k_pe expanded)    2*s*b*(a/t)*(nope+rope)
  //   flash V                                 2*s*b*(a/t)*v
  //   out-proj input O                        2*s*b*(a/t)*v
  const std::uint64_t s = 4096, a = 128, t = 2;
  ModelSpec m;
  m.num_layers = 60;
  m.hidden_size = 5120;
  m.ffn_hidden_size = 12288;
  m.num_attention_heads = 128;
  m.kv_channels = 128;
  m.q_lora_rank = 1536;
  m.kv_lora_rank = 512;
  m.qk_rope_head_dim = 64;
  m.v_head_dim = 128;
  m.vocab_size = 102400;
  m.normalization = Normalization::rms_norm;
  m.activation = Activation::swiglu;
  m.position_embedding = PositionEmbedding::rope;
  m.add_bias_linear = false;
  validate(m);
  TrainingConfig tc;
  tc.seq_length = 4096;
  tc.micro_batch_size = 1;
  tc.attention = AttentionKernel::flash;
  tc.attention_dropout = 0.0;
  tc.hidden_dropout = 0.0;
  ParallelConfig p;
  p.tp = 2;
  p.etp = 2;
  const auto layer = layer_activations(m, p, tc, 2);
  std::map<std::string, std::uint64_t> got;
  for (const auto& op : layer.ops)
    for (const auto& st : op.saved) got[op.name + " / " + st.name] = st.bytes.value;
  EXPECT_EQ(got["MLA latent projections / q_a_layernorm input (q_a_proj output)"], 2 * s * 1536);
  EXPECT_EQ(got["MLA latent projections / q_b_proj input (q_a_layernorm output)"], 2 * s * 1536);
  EXPECT_EQ(got["MLA latent projections / kv_a_proj output (kv latent + rope key; kv_a_layernorm input)"],
            2 * s * (512 + 64));
  EXPECT_EQ(got["MLA latent projections / kv_b_proj input (kv_a_layernorm output)"], 2 * s * 512);
  EXPECT_EQ(got["attention core (flash) / Q"], 2 * s * (a / t) * 192);
  EXPECT_EQ(got["attention core (flash) / K"], 2 * s * (a / t) * 192);
  EXPECT_EQ(got["attention core (flash) / V"], 2 * s * (a / t) * 128);
  EXPECT_EQ(got["out projection / out-proj input (attention output O)"], 2 * s * (a / t) * 128);
  // Eager: the s x s scores over a/t heads, V at v_head_dim.
  tc.attention = AttentionKernel::eager;
  const auto eager = layer_activations(m, p, tc, 2);
  got.clear();
  for (const auto& op : eager.ops)
    for (const auto& st : op.saved) got[op.name + " / " + st.name] = st.bytes.value;
  EXPECT_EQ(got["attention core: QK^T / K (QK^T input)"], 2 * s * (a / t) * 192);
  EXPECT_EQ(got["attention over V / V (probs @ V input)"], 2 * s * (a / t) * 128);
}

}  // namespace
}  // namespace trainmem::sim
