// Scenario agreement across the ranks of one trainmem-validate job: each rank's fingerprint is the text
// "key = value" per line of its fully resolved scenario (the JSON `config` of `trainmem estimate`, plus
// backend and seed); rank 0 compares them and names every rank that resolved something else.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace trainmem::tools {

// One "key = value" line per leaf of `config` (nested keys joined with '.'), sorted by key, then the
// validation settings. `model_source` is left out: two paths may name the same config.json.
std::string scenario_fingerprint(const nlohmann::json& config, const std::string& backend, std::uint64_t seed);

// texts[r] is rank r's fingerprint. nullopt when all agree; otherwise one line per rank outside the
// largest group of equal fingerprints (ties: the group holding rank 0), naming the rank and its first
// differing line, e.g. "rank 3 resolved zero_stage = 3, ranks 0-2 resolved zero_stage = 2".
std::optional<std::vector<std::string>> describe_disagreement(const std::vector<std::string>& texts);

}  // namespace trainmem::tools
