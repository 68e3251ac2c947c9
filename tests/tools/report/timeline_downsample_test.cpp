// tools/report/html/timeline_downsample.hpp: which samples a downsampled timeline keeps, derived by hand.
#include "tools/report/html/timeline_downsample.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace trainmem::tools::test {
namespace {

// A timeline whose sample i holds totals[i] bytes of activations after event i.
std::vector<sim::TimelineSample> timeline(const std::vector<std::uint64_t>& totals) {
  std::vector<sim::TimelineSample> tl;
  for (std::size_t i = 0; i < totals.size(); ++i) {
    sim::TimelineSample s{static_cast<std::uint32_t>(i), {}};
    s.bytes[sim::MemoryCategory::activations] = Bytes(totals[i]);
    tl.push_back(s);
  }
  return tl;
}

TEST(TimelineDownsample, ShortTimelinesKeepEverySample) {
  const auto tl = timeline({5, 1, 9, 3});
  EXPECT_EQ(downsample_timeline(tl, 2, 2), (std::vector<std::size_t>{0, 1, 2, 3}));  // 4 <= 2 x 2
  EXPECT_TRUE(downsample_timeline({}, 10, 0).empty());
}

TEST(TimelineDownsample, KeepsEachBucketsSpikeAndDip) {
  // 100 samples of 500 bytes, a spike of 1000 at 37 and a dip to 0 at 70; 10 buckets of 10 samples.
  std::vector<std::uint64_t> totals(100, 500);
  totals[37] = 1000;
  totals[70] = 0;
  // Flat buckets keep their first sample (it is both the first smallest and the first largest); bucket 30-39 keeps
  // 30 (its first smallest) and 37 (the spike); bucket 70-79 keeps 70 (the dip) and 71 (its first largest);
  // the last sample 99 is always kept.
  const std::vector<std::size_t> expected{0, 10, 20, 30, 37, 40, 50, 60, 70, 71, 80, 90, 99};
  EXPECT_EQ(downsample_timeline(timeline(totals), 10, 37), expected);
  // The peak index is kept even inside a flat bucket.
  auto with_peak = downsample_timeline(timeline(totals), 10, 55);
  EXPECT_TRUE(std::binary_search(with_peak.begin(), with_peak.end(), std::size_t{55}));
  EXPECT_EQ(with_peak.size(), expected.size() + 1);
}

TEST(TimelineDownsample, RandomWalkKeepsItsExtremesAndStaysSmall) {
  std::mt19937 rng(7);
  std::vector<std::uint64_t> totals;
  std::uint64_t v = std::uint64_t{1} << 30;
  for (int i = 0; i < 20000; ++i) {
    v = v + (rng() % 2001) - 1000;
    totals.push_back(v);
  }
  const auto tl = timeline(totals);
  const auto peak = static_cast<std::size_t>(std::max_element(totals.begin(), totals.end()) - totals.begin());
  const auto keep = downsample_timeline(tl, 300, peak);
  EXPECT_LE(keep.size(), 2u * 300u + 3u);
  EXPECT_TRUE(std::is_sorted(keep.begin(), keep.end()));
  std::uint64_t kept_max = 0, kept_min = UINT64_MAX;
  for (auto i : keep) kept_max = std::max(kept_max, totals[i]), kept_min = std::min(kept_min, totals[i]);
  EXPECT_EQ(kept_max, *std::max_element(totals.begin(), totals.end()));
  EXPECT_EQ(kept_min, *std::min_element(totals.begin(), totals.end()));
}

TEST(TimelineDownsample, SeriesKeepsTheSameSamplesAndTheExactPeak) {
  // The plain-bytes overload (compare's measured timelines) keeps what the timeline overload keeps: the spike and
  // dip case above, by hand.
  std::vector<std::uint64_t> totals(100, 500);
  totals[37] = 1000;
  totals[70] = 0;
  EXPECT_EQ(downsample_series(totals, 10, 37),
            (std::vector<std::size_t>{0, 10, 20, 30, 37, 40, 50, 60, 70, 71, 80, 90, 99}));
  // A 4,330-sample series (the lab fixture's trace length) whose one largest value, 75,092,992 B, sits at 2,911,
  // among neighbours of 75,092,000 B. Buckets hold 11 samples (4,330 / 400 rounded up), so 2,904-2,914 is bucket
  // 264: it keeps 2,904 (its first smallest) and 2,911 (its largest); nothing rounds the peak to a neighbour.
  std::vector<std::uint64_t> s(4330, 8378880);
  for (std::size_t i = 2904; i < 2915; ++i) s[i] = 75092000;
  s[2911] = 75092992;
  const auto keep = downsample_series(s, 400, 2911);
  EXPECT_LE(keep.size(), 2u * 400u + 3u);
  EXPECT_TRUE(std::binary_search(keep.begin(), keep.end(), std::size_t{2911}));
  EXPECT_TRUE(std::binary_search(keep.begin(), keep.end(), std::size_t{2904}));
  std::uint64_t kept_max = 0;
  for (auto i : keep) kept_max = std::max(kept_max, s[i]);
  EXPECT_EQ(kept_max, 75092992u);
  EXPECT_TRUE(downsample_series({}, 10, 0).empty());
}

TEST(TimelineDownsample, SampleOfEvent) {
  auto tl = timeline({1, 2, 3});
  tl[1].event = 5;
  tl[2].event = 9;
  EXPECT_EQ(sample_of_event(tl, 5), 1u);
  EXPECT_EQ(sample_of_event(tl, 9), 2u);
  EXPECT_EQ(sample_of_event(tl, 6), 3u);  // no sample after event 6
}

}  // namespace
}  // namespace trainmem::tools::test
