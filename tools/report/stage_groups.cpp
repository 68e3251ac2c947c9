#include "tools/report/stage_groups.hpp"

#include <algorithm>

#include "tools/report/format.hpp"

namespace trainmem::tools {

std::vector<std::vector<std::size_t>> stage_groups(const sim::SimulationResult& r) {
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < r.stages.size(); ++i) {
    const auto& s = r.stages[i].simulation;
    auto same = std::find_if(groups.begin(), groups.end(), [&](const std::vector<std::size_t>& g) {
      const auto& o = r.stages[g.front()].simulation;
      return o.peak == s.peak && o.at_peak == s.at_peak && o.max_live_microbatches == s.max_live_microbatches &&
             r.stages[g.front()].inputs.layer_activation.size() == r.stages[i].inputs.layer_activation.size();
    });
    if (same == groups.end())
      groups.push_back({i});
    else
      same->push_back(i);
  }
  return groups;
}

std::string stage_list(const sim::SimulationResult& r, const std::vector<std::size_t>& g) {
  std::vector<std::int64_t> pp;
  pp.reserve(g.size());
  for (auto i : g) pp.push_back(r.stages[i].pp_rank);
  return rank_ranges(pp);
}

std::vector<std::int64_t> group_ranks(const sim::SimulationResult& r, const std::vector<std::size_t>& g) {
  std::vector<std::int64_t> ranks;
  for (auto i : g) ranks.insert(ranks.end(), r.stages[i].ranks.begin(), r.stages[i].ranks.end());
  return ranks;
}

}  // namespace trainmem::tools
