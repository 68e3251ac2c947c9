#include "tools/report/html/timeline_downsample.hpp"

#include <algorithm>

namespace trainmem::tools {
namespace {

// total(i) is sample i's byte total; n samples.
template <typename Total>
std::vector<std::size_t> downsample(std::size_t n, const Total& total, std::size_t buckets, std::size_t peak) {
  std::vector<std::size_t> keep;
  if (n == 0) return keep;
  if (buckets == 0 || n <= 2 * buckets) {
    keep.resize(n);
    for (std::size_t i = 0; i < n; ++i) keep[i] = i;
    return keep;
  }
  const std::size_t size = (n + buckets - 1) / buckets;  // samples per bucket
  keep.reserve(2 * buckets + 3);
  keep.push_back(0);
  for (std::size_t lo = 0; lo < n; lo += size) {
    const std::size_t hi = std::min(n, lo + size);
    std::size_t lo_at = lo, hi_at = lo;
    for (std::size_t i = lo; i < hi; ++i) {
      const std::uint64_t t = total(i);
      if (t < total(lo_at)) lo_at = i;
      if (t > total(hi_at)) hi_at = i;
    }
    keep.push_back(std::min(lo_at, hi_at));
    keep.push_back(std::max(lo_at, hi_at));
  }
  keep.push_back(n - 1);
  if (peak < n) keep.push_back(peak);
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  return keep;
}

}  // namespace

std::vector<std::size_t> downsample_timeline(const std::vector<sim::TimelineSample>& tl, std::size_t buckets,
                                             std::size_t peak) {
  return downsample(
      tl.size(), [&](std::size_t i) { return tl[i].bytes.total().value; }, buckets, peak);
}

std::vector<std::size_t> downsample_series(const std::vector<std::uint64_t>& totals, std::size_t buckets,
                                           std::size_t peak) {
  return downsample(
      totals.size(), [&](std::size_t i) { return totals[i]; }, buckets, peak);
}

std::size_t sample_of_event(const std::vector<sim::TimelineSample>& tl, std::uint32_t event) {
  const auto it = std::lower_bound(tl.begin(), tl.end(), event,
                                   [](const sim::TimelineSample& s, std::uint32_t e) { return s.event < e; });
  return it != tl.end() && it->event == event ? static_cast<std::size_t>(it - tl.begin()) : tl.size();
}

}  // namespace trainmem::tools
