#include "partition/layer_assignment.hpp"

namespace trainmem {

std::vector<StageLayers> assign_layers(std::int64_t num_layers, const ParallelConfig& c) {
  std::vector<StageLayers> stages(static_cast<std::size_t>(c.pp));
  for (std::int64_t p = 0; p < c.pp; ++p) {
    auto& st = stages[static_cast<std::size_t>(p)];
    st.pp_rank = p;
    st.has_embedding = p == 0;
    st.has_output_layer = p == c.pp - 1;
  }
  const bool uneven = c.first_stage_layers != 0 || c.last_stage_layers != 0;
  if (uneven) {
    std::int64_t rest = num_layers;
    std::int64_t others = c.pp;
    if (c.first_stage_layers != 0) rest -= c.first_stage_layers, --others;
    if (c.last_stage_layers != 0) rest -= c.last_stage_layers, --others;
    const std::int64_t per_other = others > 0 ? rest / others : 0;
    std::int64_t next = 0;
    for (std::int64_t p = 0; p < c.pp; ++p) {
      std::int64_t n = per_other;
      if (p == 0 && c.first_stage_layers != 0) n = c.first_stage_layers;
      if (p == c.pp - 1 && c.last_stage_layers != 0) n = c.last_stage_layers;
      auto& st = stages[static_cast<std::size_t>(p)];
      st.chunks.push_back({0, next, n});
      st.num_layers = n;
      next += n;
    }
    return stages;
  }
  const std::int64_t per_chunk = num_layers / (c.pp * c.vpp);
  for (std::int64_t v = 0; v < c.vpp; ++v) {
    for (std::int64_t p = 0; p < c.pp; ++p) {
      auto& st = stages[static_cast<std::size_t>(p)];
      st.chunks.push_back({v, (v * c.pp + p) * per_chunk, per_chunk});
      st.num_layers += per_chunk;
    }
  }
  return stages;
}

}  // namespace trainmem
