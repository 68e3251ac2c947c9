#include "tools/validate/validate_compare.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace trainmem::tools {
namespace {

RankMeasurement sample() {
  RankMeasurement m;
  m.rank = 2;
  m.host = "node7";
  m.buffers = {{"bf16 parameters", "params", 2000, 4096, 1000},
               {"bf16 gradients", "grads", 500, 4096, 250},
               {"fp32 master parameters", "master_params", 1000, 4096, 250}};
  m.model_states_rss = 3 * 4096;
  m.wrong = 0;
  m.checked = 1000;
  m.max_abs_error = 0.125;
  m.seconds_fill = 0.5;
  return m;
}

TEST(ValidateCompare, SerializationRoundTrips) {
  const RankMeasurement m = sample();
  const RankMeasurement back = deserialize(serialize(m));
  EXPECT_EQ(back.rank, 2);
  EXPECT_EQ(back.host, "node7");
  ASSERT_EQ(back.buffers.size(), 3U);
  EXPECT_EQ(back.buffers[1].label, "bf16 gradients");
  EXPECT_EQ(back.buffers[1].bytes, 500U);
  EXPECT_EQ(back.max_abs_error, 0.125);
  EXPECT_EQ(back.seconds_fill, 0.5);
  EXPECT_THROW(deserialize("nonsense\t1\n"), Error);
}

TEST(ValidateCompare, ExactCategoriesPass) {
  const std::map<std::string, Bytes> predicted = {
      {"params", Bytes(2000)}, {"grads", Bytes(500)}, {"master_params", Bytes(1000)}};
  const auto rows = compare_rank(predicted, sample());
  ASSERT_EQ(rows.size(), 5U);  // 3 categories + RssAnon + update
  for (const auto& r : rows) EXPECT_TRUE(r.ok()) << r.item;
  EXPECT_EQ(rows[3].item, "model states (RssAnon)");
  EXPECT_EQ(rows[3].predicted, 3500U);
}

TEST(ValidateCompare, OneByteOffFailsAndNamesTheCategory) {
  const std::map<std::string, Bytes> predicted = {
      {"params", Bytes(2000)}, {"grads", Bytes(501)}, {"master_params", Bytes(1000)}};
  const auto rows = compare_rank(predicted, sample());
  int failures = 0;
  for (const auto& r : rows)
    if (!r.ok()) {
      ++failures;
      EXPECT_EQ(r.item, "grads");
      EXPECT_EQ(r.rank, 2);
      EXPECT_EQ(r.delta(), -1);
    }
  EXPECT_EQ(failures, 1);
}

TEST(ValidateCompare, MissingOrExtraCategoryFails) {
  const std::map<std::string, Bytes> predicted = {
      {"params", Bytes(2000)}, {"grads", Bytes(500)}, {"optimizer_states", Bytes(8)}};
  const auto rows = compare_rank(predicted, sample());
  int failures = 0;
  for (const auto& r : rows) failures += r.ok() ? 0 : 1;
  EXPECT_EQ(failures, 2);  // optimizer_states predicted but not allocated; master_params allocated but not predicted
}

TEST(ValidateCompare, WrongElementsFailTheUpdateRow) {
  RankMeasurement m = sample();
  m.wrong = 3;
  const std::map<std::string, Bytes> predicted = {
      {"params", Bytes(2000)}, {"grads", Bytes(500)}, {"master_params", Bytes(1000)}};
  const auto rows = compare_rank(predicted, m);
  EXPECT_FALSE(rows.back().ok());
  EXPECT_EQ(rows.back().item, "update: wrong elements");
}

TEST(ValidateCompare, TableHasHeaderRowsAndVerdict) {
  const std::map<std::string, Bytes> predicted = {
      {"params", Bytes(2000)}, {"grads", Bytes(500)}, {"master_params", Bytes(1000)}};
  const auto m = sample();
  std::ostringstream out;
  TableContext ctx;
  ctx.header = {"trainmem-validate: test"};
  EXPECT_TRUE(write_validation_table(out, ctx, compare_rank(predicted, m), {m}, false));
  const std::string text = out.str();
  EXPECT_NE(text.find("# trainmem-validate: test"), std::string::npos);
  EXPECT_NE(text.find("predicted"), std::string::npos);
  EXPECT_NE(text.find("# Verdict: PASS"), std::string::npos);
  std::ostringstream bad;
  const std::map<std::string, Bytes> off = {
      {"params", Bytes(1)}, {"grads", Bytes(500)}, {"master_params", Bytes(1000)}};
  EXPECT_FALSE(write_validation_table(bad, ctx, compare_rank(off, m), {m}, false));
  EXPECT_NE(bad.str().find("FAIL"), std::string::npos);
}

}  // namespace
}  // namespace trainmem::tools
