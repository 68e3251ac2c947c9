#include "tools/validate/validate_agreement.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "tools/report/format.hpp"

namespace trainmem::tools {
namespace {

// "a" + "b" + "c" without the temporaries of chained operator+.
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  (s.append(parts), ...);
  return s;
}

void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) flatten(value, prefix.empty() ? key : cat(prefix, ".", key), out);
  } else {
    out[prefix] = j.dump();
  }
}

// "key = value" lines back into a map.
std::map<std::string, std::string> fields_of(const std::string& text) {
  std::map<std::string, std::string> fields;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) fields[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return fields;
}

constexpr std::size_t kMaxNamed = 4;  // differing fields named per rank

}  // namespace

std::string scenario_fingerprint(const nlohmann::json& config, const std::string& backend, std::uint64_t seed) {
  std::map<std::string, std::string> leaves;
  flatten(config, "", leaves);
  leaves.erase("model_source");
  std::string text;
  for (const auto& [key, value] : leaves) text.append(cat(key, " = ", value, "\n"));
  text += "validate.backend = " + backend + "\n";
  text += "validate.seed = " + std::to_string(seed) + "\n";
  return text;
}

std::optional<std::vector<std::string>> describe_disagreement(const std::vector<std::string>& texts) {
  if (texts.empty()) return std::nullopt;
  // Ranks grouped by identical fingerprint, in order of their lowest rank.
  std::vector<std::vector<std::int64_t>> groups;
  std::vector<std::size_t> group_of(texts.size());
  for (std::size_t r = 0; r < texts.size(); ++r) {
    std::size_t g = 0;
    while (g < groups.size() && texts[static_cast<std::size_t>(groups[g].front())] != texts[r]) ++g;
    if (g == groups.size()) groups.emplace_back();
    groups[g].push_back(static_cast<std::int64_t>(r));
    group_of[r] = g;
  }
  if (groups.size() == 1) return std::nullopt;
  std::size_t ref = 0;  // the largest group; the first (rank 0's) wins a tie
  for (std::size_t g = 1; g < groups.size(); ++g)
    if (groups[g].size() > groups[ref].size()) ref = g;
  const auto want = fields_of(texts[static_cast<std::size_t>(groups[ref].front())]);
  const std::string ref_ranks = (groups[ref].size() == 1 ? "rank " : "ranks ") + rank_ranges(groups[ref]);
  std::vector<std::string> out;
  for (std::size_t r = 0; r < texts.size(); ++r) {
    if (group_of[r] == ref) continue;
    auto got = fields_of(texts[r]);
    std::vector<std::string> diffs;
    for (const auto& [key, value] : want) {
      const auto it = got.find(key);
      if (it == got.end())
        diffs.push_back(cat(key, " missing (not ", value, ")"));
      else if (it->second != value)
        diffs.push_back(cat(key, " = ", it->second, " (not ", value, ")"));
      if (it != got.end()) got.erase(it);
    }
    for (const auto& [key, value] : got) diffs.push_back(cat(key, " = ", value, " (absent on ", ref_ranks, ")"));
    std::string line = cat("rank ", std::to_string(r), " resolved a different scenario than ", ref_ranks, ": ");
    for (std::size_t i = 0; i < diffs.size() && i < kMaxNamed; ++i) line.append(i > 0 ? ", " : "").append(diffs[i]);
    if (diffs.size() > kMaxNamed) line += " and " + std::to_string(diffs.size() - kMaxNamed) + " more";
    out.push_back(line);
  }
  return out;
}

}  // namespace trainmem::tools
