// Test helper: a PlanRequest for a model preset, sequence length, global batch, device memory and largest
// world size (the other request fields at their defaults).
#pragma once

#include <cstdint>
#include <string>

#include "partition/model_presets.hpp"
#include "sim/planner/plan_space.hpp"
#include "sim/runtime/device_spec.hpp"

namespace trainmem::sim::test {

inline PlanRequest request_for(const std::string& preset, std::int64_t seq, std::int64_t gbs, Bytes gpu_memory,
                               std::int64_t max_gpus) {
  PlanRequest r;
  const ModelPreset* p = find_model_preset(preset);
  r.base.model = p->spec;
  r.base.default_seq_length = p->default_seq_length;
  r.base.training.seq_length = seq;
  r.base.training.global_batch_size = gbs;
  r.base.gpu_memory = gpu_memory;
  r.max_gpus = max_gpus;
  return r;
}

inline PlanRequest request_for(const std::string& preset, std::int64_t seq, std::int64_t gbs, const std::string& gpu,
                               std::int64_t max_gpus) {
  return request_for(preset, seq, gbs, find_device(gpu)->memory, max_gpus);
}

}  // namespace trainmem::sim::test
