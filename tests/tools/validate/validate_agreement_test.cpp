#include "tools/validate/validate_agreement.hpp"

#include <gtest/gtest.h>

namespace trainmem::tools {
namespace {

nlohmann::json config(int zero_stage, const std::string& recipe, int hidden) {
  return {{"model_source", "shape flags"},
          {"zero_stage", zero_stage},
          {"recipe", recipe},
          {"model", {{"hidden_size", hidden}, {"num_layers", 6}}}};
}

TEST(ValidateAgreement, FingerprintIsOneSortedLinePerLeafWithoutModelSource) {
  // Keys sorted, nested keys joined with '.', JSON-encoded values, then backend and seed.
  EXPECT_EQ(scenario_fingerprint(config(2, "mixed-16", 384), "host", 1234),
            "model.hidden_size = 384\n"
            "model.num_layers = 6\n"
            "recipe = \"mixed-16\"\n"
            "zero_stage = 2\n"
            "validate.backend = host\n"
            "validate.seed = 1234\n");
  auto other_path = config(2, "mixed-16", 384);
  other_path["model_source"] = "config.json /elsewhere/config.json";
  EXPECT_EQ(scenario_fingerprint(other_path, "host", 1234),
            scenario_fingerprint(config(2, "mixed-16", 384), "host", 1234));
}

TEST(ValidateAgreement, AllEqualIsAgreement) {
  const std::string a = scenario_fingerprint(config(1, "mixed-16", 384), "host", 1);
  EXPECT_FALSE(describe_disagreement({a, a, a, a}).has_value());
  EXPECT_FALSE(describe_disagreement({a}).has_value());
}

TEST(ValidateAgreement, NamesTheOddRankAndEveryDifferingField) {
  const std::string a = scenario_fingerprint(config(1, "mixed-16", 384), "host", 1);
  const std::string b = scenario_fingerprint(config(3, "mixed-16", 384), "host", 1);
  const auto lines = describe_disagreement({a, a, a, b});
  ASSERT_TRUE(lines.has_value());
  ASSERT_EQ(lines->size(), 1U);
  EXPECT_EQ(lines->front(), "rank 3 resolved a different scenario than ranks 0-2: zero_stage = 3 (not 1)");
}

TEST(ValidateAgreement, TheMajorityIsTheReferenceEvenWhenRankZeroIsOdd) {
  const std::string a = scenario_fingerprint(config(1, "mixed-16", 384), "host", 1);
  const std::string b = scenario_fingerprint(config(1, "mixed-20", 512), "host", 1);
  const auto lines = describe_disagreement({b, a, a, a});
  ASSERT_TRUE(lines.has_value());
  ASSERT_EQ(lines->size(), 1U);
  // Fields in key order: model.hidden_size before recipe.
  EXPECT_EQ(lines->front(),
            "rank 0 resolved a different scenario than ranks 1-3: model.hidden_size = 512 (not 384), "
            "recipe = \"mixed-20\" (not \"mixed-16\")");
}

TEST(ValidateAgreement, ATieKeepsRankZerosGroupAndNamesEachOtherRank) {
  const std::string a = scenario_fingerprint(config(1, "mixed-16", 384), "host", 1);
  const std::string b = scenario_fingerprint(config(1, "mixed-16", 384), "host", 2);
  const auto lines = describe_disagreement({a, b, a, b});
  ASSERT_TRUE(lines.has_value());
  ASSERT_EQ(lines->size(), 2U);
  EXPECT_EQ((*lines)[0], "rank 1 resolved a different scenario than ranks 0,2: validate.seed = 2 (not 1)");
  EXPECT_EQ((*lines)[1], "rank 3 resolved a different scenario than ranks 0,2: validate.seed = 2 (not 1)");
}

}  // namespace
}  // namespace trainmem::tools
