// The ground-truth lab's model shapes (tools/groundtruth/catalogue.py, results/configs/*.json) as ModelSpecs, for
// the tests that check the hf profile against the lab's measurements.
#pragma once

#include "partition/model_spec.hpp"

namespace trainmem::sim {

// The lab's Llama-shaped model (results/configs/llama.json): h 64, 4 heads (2 kv), head_dim 16, ffn 176,
// 2 layers, vocab 32000, untied, RMSNorm, SwiGLU, RoPE, no biases, use_cache false.
inline ModelSpec lab_llama() {
  ModelSpec m;
  m.name = "lab-llama";
  m.num_layers = 2;
  m.hidden_size = 64;
  m.ffn_hidden_size = 176;
  m.num_attention_heads = 4;
  m.num_query_groups = 2;
  m.vocab_size = 32000;
  m.normalization = Normalization::rms_norm;
  m.activation = Activation::swiglu;
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = false;
  m.add_bias_linear = false;
  m.use_cache = false;
  return m;
}

}  // namespace trainmem::sim
