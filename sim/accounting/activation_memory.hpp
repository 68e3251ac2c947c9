// Activation memory of one transformer layer on one rank: an op table in which every op lists the tensors it
// saves for backward (elements per rank x bytes per element), summed by code. Rules: Korthikanti et al. 2022
// (arXiv 2205.05198) Sec. 4, whose Table 2 closed forms are tests; flash/GQA/SwiGLU/MoE per docs/activations.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"
#include "sim/accounting/scenario.hpp"

namespace trainmem::sim {

// One tensor an op keeps alive from its forward to its backward, as held by one rank.
struct SavedTensor {
  std::string name;   // "softmax output"
  std::string shape;  // symbolic, before sharding: "a*s*s*b"
  std::string split;  // which parallel dims shard it on this rank: "tp", "sp cp ulysses", "-"
  std::string dtype;  // "bf16", "fp32", "mask", "int64"
  unsigned bytes_per_element = 0;
  ElementCount elements;        // on this rank
  Bytes bytes;                  // elements * bytes_per_element; 0 when alias_of is set
  bool attention_core = false;  // rebuilt by selective recompute, so not kept with it
  std::string alias_of;         // non-empty: the same storage as another saved tensor, counted there
};

struct ActivationOp {
  std::string name;  // "attention core: QK^T"
  std::vector<SavedTensor> saved;
  std::string note;  // why an op keeps nothing, or a convention
};

// Per-rank sizes the op table is written in (tokens and widths after the TP/SP/CP/Ulysses splits).
struct ActivationDims {
  std::uint64_t seq = 0;                // s
  std::uint64_t batch = 0;              // b (micro_batch_size)
  std::uint64_t tokens_replicated = 0;  // tokens of the norm/dropout/residual region: s*b/(cp*ulysses[*tp if SP])
  std::uint64_t tokens_tp = 0;          // tokens of the TP region (between column and row linears): s*b/(cp*ulysses)
  std::uint64_t key_length = 0;         // keys one query attends over (eager scores): s
  unsigned activation_bytes = 2;        // bf16, or 4 under the fp32 recipe
};

struct LayerActivations {
  ActivationDims dims;
  std::vector<ActivationOp> ops;
  Bytes saved_all;             // no recompute: every non-alias tensor
  Bytes saved_selective;       // selective recompute: minus the attention-core tensors
  Bytes checkpoint;            // full recompute: the layer input only (sequence-sharded with SP)
  Bytes attention_core_bytes;  // what selective recompute rebuilds for one layer during backward
  // Context parallelism (cp > 1): ring-attention K/V exchange buffers alive while one layer's attention
  // runs. TE AttnFuncWithCPAndKVP2P keeps cp received [K, V] chunks in forward and two [KV, dKV] buffers in
  // backward: max(cp, 4) x the local K + V bytes. 0 without cp.
  Bytes cp_exchange_bytes;
};

// The op table of one layer (dense or MoE per the model) under `training` on a rank of `parallel`
// (resolved). `activation_bytes` is the compute dtype size (2 for bf16/fp16, 4 for fp32).
LayerActivations layer_activations(const ModelSpec& model, const ParallelConfig& parallel,
                                   const TrainingConfig& training, unsigned activation_bytes);

// Bytes one layer keeps per microbatch under a recompute granularity, for a layer that is itself
// checkpointed (full) or not: none -> saved_all, selective -> saved_selective, full -> checkpoint.
Bytes layer_saved_bytes(const LayerActivations& layer, RecomputeGranularity granularity);

// Tensors kept outside the transformer layers on the first stage (embedding) or the last (final norm,
// LM head, loss), per microbatch, plus the transient of the loss computation.
struct StageExtras {
  std::vector<SavedTensor> saved;
  Bytes saved_bytes;
  std::vector<SavedTensor> transient;  // alive briefly (bf16 logits before the fp32 cast)
  Bytes transient_bytes;
};
StageExtras first_stage_extras(const ModelSpec& model, const ParallelConfig& parallel, const TrainingConfig& training,
                               unsigned activation_bytes);
StageExtras last_stage_extras(const ModelSpec& model, const ParallelConfig& parallel, const TrainingConfig& training,
                              unsigned activation_bytes, std::int64_t padded_vocab_size);

}  // namespace trainmem::sim
