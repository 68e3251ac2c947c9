// The search's progress callback (PlanSearchOptions::progress): reports in search order, counts that only grow
// and end at the search's own counts, the best layout so far equal to the ranking's head at the end, and a result
// that does not depend on whether anyone listens. No clock: the callback is driven by bases, not time.
#include <gtest/gtest.h>

#include <vector>

#include "plan_request.hpp"
#include "sim/planner/planner.hpp"

namespace trainmem::sim {
namespace {

struct Seen {
  PlanProgress p;
  bool has_best = false;
  PlanEntry best;
};

TEST(PlanProgress, ReportsEveryNBasesAndOnceAtTheEnd) {
  const Planner planner(test::request_for("llama2-7b", 4096, 64, "a100-80gb", 64));
  PlanSearchOptions quiet;
  quiet.stop_early = false;  // visit every base
  const PlanResult want = planner.search(quiet);

  std::vector<Seen> seen;
  PlanSearchOptions opt = quiet;
  opt.progress_every = 5;
  opt.progress = [&](const PlanProgress& p) { seen.push_back({p, p.best != nullptr, p.best ? *p.best : PlanEntry{}}); };
  const PlanResult got = planner.search(opt);

  const std::size_t bases = planner.num_bases();
  ASSERT_GT(bases, 10u);
  // One report after each 5 bases (at base indices 5, 10, ... below the count) and the final one.
  ASSERT_EQ(seen.size(), (bases - 1) / 5 + 1);
  for (std::size_t i = 0; i + 1 < seen.size(); ++i) {
    EXPECT_FALSE(seen[i].p.done);
    EXPECT_EQ(seen[i].p.bases_done, 5 * (i + 1));
    EXPECT_LE(seen[i].p.candidates_done, seen[i + 1].p.candidates_done);
    EXPECT_LE(seen[i].p.evaluated, seen[i + 1].p.evaluated);
    // The best so far only improves.
    if (seen[i].has_best) {
      ASSERT_TRUE(seen[i + 1].has_best);
      EXPECT_FALSE(plan_entry_less(seen[i].best, seen[i + 1].best));
    }
  }
  const Seen& last = seen.back();
  EXPECT_TRUE(last.p.done);
  EXPECT_EQ(last.p.bases_done, bases);
  EXPECT_EQ(last.p.bases_total, bases);
  EXPECT_EQ(last.p.candidates_total, planner.candidate_count());
  EXPECT_EQ(last.p.candidates_done, got.counts.candidates);
  EXPECT_EQ(last.p.candidates_done, last.p.candidates_total);  // one process, no early stop: the whole space
  EXPECT_EQ(last.p.evaluated, got.counts.evaluated);
  ASSERT_TRUE(last.has_best);
  ASSERT_FALSE(got.layouts.empty());
  EXPECT_EQ(last.best.layout, got.layouts.front().layout);

  // Listening changes nothing.
  ASSERT_EQ(got.layouts.size(), want.layouts.size());
  for (std::size_t i = 0; i < got.layouts.size(); ++i) EXPECT_EQ(got.layouts[i].layout, want.layouts[i].layout);
  EXPECT_EQ(got.counts.evaluated, want.counts.evaluated);
}

TEST(PlanProgress, NoFittingLayoutReportsNoBest) {
  // 8 GiB devices cannot hold a 7B model's states on one GPU: nothing fits up to 1 GPU.
  const Planner planner(test::request_for("llama2-7b", 4096, 64, Bytes(8ULL << 30), 1));
  int calls = 0;
  PlanSearchOptions opt;
  opt.progress = [&](const PlanProgress& p) {
    ++calls;
    EXPECT_EQ(p.best, nullptr);
  };
  const PlanResult r = planner.search(opt);
  EXPECT_TRUE(r.layouts.empty());
  EXPECT_GE(calls, 1);
}

}  // namespace
}  // namespace trainmem::sim
