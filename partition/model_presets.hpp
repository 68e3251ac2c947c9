// Built-in model presets (name -> ModelSpec) with the sequence length each was trained at.
// Shapes are the published configs (papers / Hugging Face config.json); see docs/models.md.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "partition/model_spec.hpp"

namespace trainmem {

struct ModelPreset {
  std::string_view name;
  std::string_view source;          // where the shape comes from
  std::int64_t default_seq_length;  // sequence length used when a scenario gives none
  ModelSpec spec;
};

std::span<const ModelPreset> model_presets();
const ModelPreset* find_model_preset(std::string_view name);
// The preset name closest to `name` (edit distance), for "did you mean" messages.
std::optional<std::string> closest_preset_name(std::string_view name);
// Levenshtein distance, shared by every "did you mean" suggestion.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace trainmem
