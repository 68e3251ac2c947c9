// Layer assignment: which transformer layers each pipeline stage (pp_rank) holds, split into vpp
// virtual chunks (interleaved schedule: chunk v of stage p holds model chunk v*pp + p), plus where the
// embedding (first stage) and the final norm + output layer (last stage) live.
#pragma once

#include <cstdint>
#include <vector>

#include "partition/parallel_config.hpp"

namespace trainmem {

struct LayerChunk {
  std::int64_t vp_stage = 0;
  std::int64_t first_layer = 0;  // global index of the chunk's first layer
  std::int64_t num_layers = 0;
};

struct StageLayers {
  std::int64_t pp_rank = 0;
  std::int64_t num_layers = 0;  // sum over chunks
  std::vector<LayerChunk> chunks;
  bool has_embedding = false;     // word (+ position) embeddings: first stage
  bool has_output_layer = false;  // final norm + LM head (a tied copy when pp > 1): last stage
};

// One entry per pp_rank. `config` must be resolved (resolve() checked the split).
std::vector<StageLayers> assign_layers(std::int64_t num_layers, const ParallelConfig& config);

}  // namespace trainmem
