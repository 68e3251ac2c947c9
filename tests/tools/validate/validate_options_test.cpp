#include "tools/validate/validate_options.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "sim/accounting/estimate.hpp"
#include "tools/validate/validate_plan.hpp"

namespace trainmem::tools {
namespace {

TEST(ValidateOptions, SplitsItsOwnFlagsFromScenarioFlags) {
  const SplitArgs s = split_validate_args(
      {"scenario.yaml", "--backend", "host", "--zero-stage", "2", "--perturb=1:grads=4KiB", "--perturb", "params=-2"});
  EXPECT_EQ(s.validate.backend, "host");
  ASSERT_EQ(s.validate.perturbations.size(), 2U);
  EXPECT_EQ(*s.validate.perturbations[0].rank, 1);
  EXPECT_EQ(s.validate.perturbations[0].category, "grads");
  EXPECT_EQ(s.validate.perturbations[0].bytes, 4096);
  EXPECT_FALSE(s.validate.perturbations[1].rank.has_value());
  EXPECT_EQ(s.validate.perturbations[1].bytes, -2);
  EXPECT_EQ(s.scenario_args, (std::vector<std::string>{"scenario.yaml", "--zero-stage", "2"}));
}

TEST(ValidateOptions, BadValuesNameTheFlag) {
  try {
    split_validate_args({"--backend", "tpu"});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "--backend");
    EXPECT_EQ(e.value(), "tpu");
  }
  EXPECT_THROW(split_validate_args({"--perturb", "grads"}), ConfigError);
  EXPECT_THROW(split_validate_args({"--perturb", "grads=0"}), ConfigError);
  EXPECT_THROW(split_validate_args({"--fail-rank"}), ConfigError);
}

TEST(ValidateOptions, InjectFaultTakesKindAndRank) {
  const SplitArgs s =
      split_validate_args({"--inject-fault", "alloc-fail:1", "--inject-fault=sigterm-mid-collective:3",
                           "--inject-fault", "throw-mid-collective:0", "--inject-fault", "sigterm-at-setup:2"});
  ASSERT_EQ(s.validate.faults.size(), 4U);
  EXPECT_EQ(s.validate.faults[0].kind, FaultKind::alloc_fail);
  EXPECT_EQ(s.validate.faults[0].rank, 1);
  EXPECT_EQ(s.validate.faults[1].kind, FaultKind::sigterm_mid_collective);
  EXPECT_EQ(s.validate.faults[1].rank, 3);
  EXPECT_EQ(s.validate.faults[2].kind, FaultKind::throw_mid_collective);
  EXPECT_EQ(s.validate.faults[3].kind, FaultKind::sigterm_at_setup);
  EXPECT_TRUE(s.scenario_args.empty());
  for (const char* bad : {"alloc-fail", "segfault:1", "alloc-fail:-1", "alloc-fail:x", ":1"}) {
    try {
      split_validate_args({"--inject-fault", bad});
      ADD_FAILURE() << bad;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.field().rfind("--inject-fault", 0), 0U) << e.what();
    }
  }
}

TEST(ValidateOptions, HangFaultAndWatchdogTimeout) {
  const SplitArgs d = split_validate_args({});
  EXPECT_EQ(d.validate.timeout_seconds, kDefaultTimeoutSeconds);
  EXPECT_EQ(kDefaultTimeoutSeconds, 300);
  const SplitArgs s = split_validate_args({"--inject-fault", "hang:2", "--timeout", "3"});
  ASSERT_EQ(s.validate.faults.size(), 1U);
  EXPECT_EQ(s.validate.faults[0].kind, FaultKind::hang);
  EXPECT_EQ(s.validate.faults[0].rank, 2);
  EXPECT_EQ(fault_kind_name(FaultKind::hang), "hang");
  EXPECT_EQ(s.validate.timeout_seconds, 3);
  EXPECT_EQ(split_validate_args({"--timeout=0"}).validate.timeout_seconds, 0);  // 0: watchdog off
  for (const char* bad : {"-1", "x", "1.5", "999999999"}) {
    try {
      split_validate_args({"--timeout", bad});
      ADD_FAILURE() << bad;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.field(), "--timeout") << e.what();
    }
  }
}

sim::ModelStateMemory states_for(const std::string& recipe, int stage) {
  sim::Scenario sc;
  sc.num_parameters = ElementCount(1000003);
  sc.parallel.dp = 4;
  sc.parallel.zero_stage = stage;
  sc.training.recipe = recipe;
  return sim::estimate(sc).classes.at(0).model_states;
}

TEST(ValidatePlan, MapsEveryMixedRecipeTermToABuffer) {
  for (const char* recipe : {"mixed-16", "mixed-18", "mixed-20", "fp32", "bf16"}) {
    const auto states = states_for(recipe, 1);
    const auto requests = buffer_requests(states);
    ASSERT_EQ(requests.size(), states.terms.size()) << recipe;
    int moments = 0;
    for (const auto& r : requests)
      moments += (r.role == comm::BufferRole::moment_m || r.role == comm::BufferRole::moment_v) ? 1 : 0;
    EXPECT_EQ(moments, 2) << recipe;
  }
  const auto twenty = buffer_requests(states_for("mixed-20", 2));
  EXPECT_EQ(twenty[2].role, comm::BufferRole::grad_copy);
  EXPECT_EQ(twenty[2].category, "grads");
  EXPECT_EQ(twenty[2].dtype, Dtype::fp32);
}

TEST(ValidatePlan, RefusesEightBitStates) {
  sim::Scenario sc;
  sc.num_parameters = ElementCount(1000);
  for (const char* optimizer : {"adam-8bit", "adamw-torchao-4bit", "adamw-torchao-fp8"}) {
    sc.training.optimizer = optimizer;
    try {
      buffer_requests(sim::estimate(sc).classes.at(0).model_states);
      ADD_FAILURE() << optimizer << " was not refused";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("not allocated by trainmem-validate"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace trainmem::tools
