// The progress printer of `trainmem plan` (tools/cli/plan/plan_progress.hpp), driven by hand-made reports: its
// quiet period set to zero (every report prints) or to an hour (nothing prints, the final report included), so
// no assertion depends on how fast the machine is.
#include "tools/cli/plan/plan_progress.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <sstream>

namespace trainmem::tools {
namespace {

sim::PlanProgress at(std::size_t bases, std::uint64_t candidates, bool done, const sim::PlanEntry* best) {
  return sim::PlanProgress{bases, 100, candidates, 5000, candidates / 2, best, done};
}

TEST(PlanProgressPrinter, QuietSearchPrintsNothing) {
  std::ostringstream err;
  PlanProgressPrinter p(err, std::chrono::hours(1));
  p.report(at(50, 2500, false, nullptr));
  p.report(at(100, 5000, true, nullptr));
  EXPECT_EQ(err.str(), "");
}

TEST(PlanProgressPrinter, LongSearchPrintsCountsShareAndBest) {
  std::ostringstream err;
  PlanProgressPrinter p(err, std::chrono::seconds(0));
  sim::PlanEntry best;
  best.layout.tp = 8, best.layout.pp = 4, best.layout.dp = 2, best.layout.zero_stage = 1;
  best.max_peak = Bytes(3ULL << 30);
  p.report(at(25, 1234567, false, nullptr));
  p.report(at(100, 5000000, true, &best));
  const std::string s = err.str();
  // Two lines: 25 of 100 layouts = 25%, then the final one with the best layout (8 x 4 x 2 = 64 GPUs, 3 GiB).
  EXPECT_NE(s.find("# plan search: 1,234,567 candidates, "), std::string::npos) << s;
  EXPECT_NE(s.find("25% of 100 layouts"), std::string::npos) << s;
  EXPECT_NE(s.find("best so far none\n"), std::string::npos) << s;
  EXPECT_NE(s.find("# plan search done: 5,000,000 candidates, "), std::string::npos) << s;
  EXPECT_NE(s.find("100% of 100 layouts"), std::string::npos) << s;
  EXPECT_NE(s.find("best so far 64 GPUs: tp 8 pp 4 vpp 1 cp 1 dp 2 mbs 1 zero 1, peak 3.00 GiB\n"), std::string::npos)
      << s;
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 2);
}

}  // namespace
}  // namespace trainmem::tools
