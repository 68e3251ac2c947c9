// DeepSpeed estimator compatibility: estimate_zero2/zero3_model_states_mem_needs for 1.3B, 7B and 70B
// models on 1, 4 and 16 nodes of 8 GPUs, in every offload mode DeepSpeed's *_all_cold tables print.
// Expected values: DeepSpeed's two functions transcribed verbatim to Python (stage_1_and_2.py and
// stage3.py after PR #5099) and run there; the integers are what they return before formatting.
// Largest layer = the module with most direct parameters: the word embedding (vocab * h) for all three.
#include "sim/accounting/deepspeed_estimator.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {

struct Case {
  const char* model;
  std::uint64_t params;
  std::uint64_t largest_layer;
  std::int64_t nodes;
  int stage;
  bool offload_optimizer;
  bool offload_param;
  bool zero_init;
  std::uint64_t gpu;
  std::uint64_t cpu;
};

constexpr Case kCases[] = {
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 1, 2, true, false, true, 2631516160ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 1, 2, false, false, true, 5591971840ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 1, 3, true, true, true, 411828224ULL, 35525468160ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 1, 3, true, true, false, 411828224ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 1, 3, true, false, true, 740767744ULL, 31578193920ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 1, 3, true, false, false, 740767744ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 1, 3, false, false, true, 3372283904ULL, 4941938688ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 1, 3, false, false, false, 3372283904ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 4, 2, true, false, true, 2631516160ULL, 252625551360ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 4, 2, false, false, true, 3371630080ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 4, 3, true, true, true, 411828224ULL, 8881367040ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 4, 3, true, true, false, 411828224ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 4, 3, true, false, true, 494063104ULL, 7894548480ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 4, 3, true, false, false, 494063104ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 4, 3, false, false, true, 1151942144ULL, 4941938688ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 4, 3, false, false, false, 1151942144ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 16, 2, true, false, true, 2631516160ULL, 1010502205440ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 16, 2, false, false, true, 2816544640ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 16, 3, true, true, true, 411828224ULL, 2220341760ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 16, 3, true, true, false, 411828224ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 16, 3, true, false, true, 432386944ULL, 1973637120ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 16, 3, true, false, false, 432386944ULL, 63156387840ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 16, 3, false, false, true, 596856704ULL, 4941938688ULL},
    {"opt-1.3b", 1315758080ULL, 102957056ULL, 16, 3, false, false, false, 596856704ULL, 63156387840ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 1, 2, true, false, true, 13476831232ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 1, 2, false, false, true, 28638266368ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 1, 3, true, true, true, 524288000ULL, 181937221632ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 1, 3, true, true, false, 524288000ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 1, 3, true, false, true, 2208891904ULL, 161721974784ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 1, 3, true, false, false, 2208891904ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 1, 3, false, false, true, 15685723136ULL, 6291456000ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 1, 3, false, false, false, 15685723136ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 4, 2, true, false, true, 13476831232ULL, 1293775798272ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 4, 2, false, false, true, 17267190016ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 4, 3, true, true, true, 524288000ULL, 45484305408ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 4, 3, true, true, false, 524288000ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 4, 3, true, false, true, 945438976ULL, 40430493696ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 4, 3, true, false, false, 945438976ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 4, 3, false, false, true, 4314646784ULL, 6291456000ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 4, 3, false, false, false, 4314646784ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 16, 2, true, false, true, 13476831232ULL, 5175103193088ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 16, 2, false, false, true, 14424420928ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 16, 3, true, true, true, 524288000ULL, 11371076352ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 16, 3, true, true, false, 524288000ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 16, 3, true, false, true, 629575744ULL, 10107623424ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 16, 3, true, false, false, 629575744ULL, 323443949568ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 16, 3, false, false, true, 1471877696ULL, 6291456000ULL},
    {"llama2-7b", 6738415616ULL, 131072000ULL, 16, 3, false, false, false, 1471877696ULL, 323443949568ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 1, 2, true, false, true, 137953296384ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 1, 2, false, false, true, 293150754816ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 1, 3, true, true, true, 1048576000ULL, 1862369501184ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 1, 3, true, true, false, 1048576000ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 1, 3, true, false, true, 18292738048ULL, 1655439556608ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 1, 3, true, false, false, 18292738048ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 1, 3, false, false, true, 156246034432ULL, 12582912000ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 1, 3, false, false, false, 156246034432ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 4, 2, true, false, true, 137953296384ULL, 13243516452864ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 4, 2, false, false, true, 176752660992ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 4, 3, true, true, true, 1048576000ULL, 465592375296ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 4, 3, true, true, false, 1048576000ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 4, 3, true, false, true, 5359616512ULL, 413859889152ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 4, 3, true, false, false, 5359616512ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 4, 3, false, false, true, 39847940608ULL, 12582912000ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 4, 3, false, false, false, 39847940608ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 16, 2, true, false, true, 137953296384ULL, 52974065811456ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 16, 2, false, false, true, 147653137536ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 16, 3, true, true, true, 1048576000ULL, 116398093824ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 16, 3, true, true, false, 1048576000ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 16, 3, true, false, true, 2126336128ULL, 103464972288ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 16, 3, true, false, false, 2126336128ULL, 3310879113216ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 16, 3, false, false, true, 10748417152ULL, 12582912000ULL},
    {"llama2-70b", 68976648192ULL, 262144000ULL, 16, 3, false, false, false, 10748417152ULL, 3310879113216ULL},
};

TEST(DeepSpeedEstimator, MatchesDeepSpeedArithmetic) {
  for (const Case& c : kCases) {
    DeepSpeedEstimatorInput in;
    in.total_params = c.params;
    in.largest_layer_params = c.largest_layer;
    in.num_nodes = c.nodes;
    in.gpus_per_node = 8;
    in.zero_stage = c.stage;
    in.offload_optimizer = c.offload_optimizer;
    in.offload_param = c.offload_param;
    in.zero_init = c.zero_init;
    const DeepSpeedEstimate e = deepspeed_estimate(in);
    EXPECT_EQ(e.gpu_bytes, c.gpu) << c.model << " nodes " << c.nodes << " stage " << c.stage;
    EXPECT_EQ(e.cpu_bytes, c.cpu) << c.model << " nodes " << c.nodes << " stage " << c.stage;
  }
}

TEST(DeepSpeedEstimator, Zero2WithoutOffloadIsTwoPlusEighteenOverN) {
  // By hand: 7.5e9 params on 1 node x 8 GPUs: 2 * 7.5e9 + 18 * 7.5e9 / 8 = 15e9 + 16.875e9.
  DeepSpeedEstimatorInput in;
  in.total_params = 7'500'000'000ULL;
  in.gpus_per_node = 8;
  EXPECT_EQ(deepspeed_estimate(in).gpu_bytes, 31'875'000'000ULL);
  // Host: the fp32 model materialised per GPU process: 7.5e9 * 4 * 8 * 1.5 = 360e9.
  EXPECT_EQ(deepspeed_estimate(in).cpu_bytes, 360'000'000'000ULL);
}

TEST(DeepSpeedEstimator, RefusesWhatDeepSpeedDoesNotModel) {
  DeepSpeedEstimatorInput in;
  in.total_params = 1000;
  in.zero_stage = 1;
  EXPECT_THROW(deepspeed_estimate(in), ConfigError);
  in.zero_stage = 3;  // no largest layer
  EXPECT_THROW(deepspeed_estimate(in), ConfigError);
  in.largest_layer_params = 10;
  in.offload_param = true;  // without optimizer offload
  EXPECT_THROW(deepspeed_estimate(in), ConfigError);
}

}  // namespace
}  // namespace trainmem::sim
