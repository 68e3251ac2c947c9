// Low-bit and 1-bit optimizer states (sim/accounting/optimizer_state.hpp, the formats in recipe.cpp kOptimizers).
// Every expected number is derived by hand in the comment beside it from the upstream code:
//   bitsandbytes optim/optimizer.py Optimizer2State.init_state: uint8 state1/state2, fp32 absmax1/absmax2 of
//     (n // 256) + bool(n % 256) blocks, fp32 state1/state2 when n < min_8bit_size = 4096; one shared qmap.
//   torchao optim/adam.py _new_buffer: quantized only when n >= 4096 and n % block_size == 0, else
//     torch.zeros_like(p); subclass_8bit/4bit/fp8.py zeros: codes, fp32 scale of n / block_size, a per-tensor fp32
//     qmap of 256 (8-bit) or 16 (4-bit) entries, none for fp8.
//   DeepSpeed runtime/fp16/onebit/adam.py: worker_error of n padded to a multiple of N * lcm(N, 8), server_error
//     of that / N, both fp32; zoadam.py adds momentum_accumulator; lamb.py keeps m, v, fresh v and pads m.
#include "sim/accounting/optimizer_state.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "sim/accounting/model_state_memory.hpp"
#include "sim/accounting/model_state_terms.hpp"
#include "sim/accounting/scenario.hpp"

namespace trainmem::sim {
namespace {

const Recipe& mixed16() { return *find_recipe("mixed-16"); }
const Optimizer& opt(const char* name) { return *find_optimizer(name); }
constexpr std::uint64_t k4096x4096 = 4096ull * 4096;  // 16,777,216 elements

TEST(OptimizerState, Torchao4bitOfA4096x4096Weight) {
  // codes: 2 states x 16,777,216 / 2 = 16,777,216 B; scales: 2 x (16,777,216 / 128 = 131,072) x 4 B = 1,048,576 B;
  // qmap: 2 x 16 x 4 B = 128 B.
  EXPECT_EQ(moment_bytes_of_tensor(opt("adamw-torchao-4bit"), mixed16(), k4096x4096, Dtype::fp32).value,
            16777216u + 1048576u + 128u);
}

TEST(OptimizerState, EightBitAndFp8OfA4096x4096Weight) {
  // bitsandbytes: 2 x 16,777,216 B uint8 + 2 x (16,777,216 / 256 = 65,536) x 4 B absmax = 34,078,720 B.
  EXPECT_EQ(moment_bytes_of_tensor(opt("adam-8bit"), mixed16(), k4096x4096, Dtype::fp32).value, 34078720u);
  // torchao AdamW8bit: the same plus its per-tensor qmaps, 2 x 256 x 4 B = 2,048 B.
  EXPECT_EQ(moment_bytes_of_tensor(opt("adamw-torchao-8bit"), mixed16(), k4096x4096, Dtype::fp32).value,
            34078720u + 2048u);
  // torchao AdamWFp8: e4m3 codes 2 x 16,777,216 B + 2 x 65,536 x 4 B scales, no qmap.
  EXPECT_EQ(moment_bytes_of_tensor(opt("adamw-torchao-fp8"), mixed16(), k4096x4096, Dtype::fp32).value, 34078720u);
  // Full-precision Adam for comparison: 2 x 16,777,216 x 4 B.
  EXPECT_EQ(moment_bytes_of_tensor(opt("adam"), mixed16(), k4096x4096, Dtype::fp32).value, 134217728u);
}

TEST(OptimizerState, SmallTensorsStayFullPrecisionAsTheLibrariesDo) {
  // 4,095 < min_8bit_size: bitsandbytes keeps fp32 state1/state2, 2 x 4,095 x 4 B.
  EXPECT_EQ(moment_bytes_of_tensor(opt("adam-8bit"), mixed16(), 4095, Dtype::bf16).value, 32760u);
  // 4,096: quantized, 2 x 4,096 B + 2 x 16 blocks x 4 B.
  EXPECT_EQ(moment_bytes_of_tensor(opt("adam-8bit"), mixed16(), 4096, Dtype::bf16).value, 8192u + 128u);
  // 4,160 (not a multiple of 256): bitsandbytes rounds the blocks up, (4160 // 256) + 1 = 17: 8,320 + 136 B.
  EXPECT_EQ(moment_bytes_of_tensor(opt("adam-8bit"), mixed16(), 4160, Dtype::bf16).value, 8320u + 136u);
  // torchao needs whole blocks (4,160 % 128 = 64): zeros_like(p), here an fp32 parameter, 2 x 4,160 x 4 B ...
  EXPECT_EQ(moment_bytes_of_tensor(opt("adamw-torchao-4bit"), mixed16(), 4160, Dtype::fp32).value, 33280u);
  // ... and a bf16 parameter of 4,000 (< 4,096) keeps bf16 moments, 2 x 4,000 x 2 B.
  EXPECT_EQ(moment_bytes_of_tensor(opt("adamw-torchao-4bit"), mixed16(), 4000, Dtype::bf16).value, 16000u);
}

TEST(OptimizerState, MatchesTheLibrariesMeasuredOnCpu) {
  // tools/groundtruth/optim_states.py: m and v storages as torchao 0.18.0 (_new_buffer) and bitsandbytes 0.50.2
  // (init_state) allocate them under torch 2.15.0 on CPU; the hand derivations above give the same numbers.
  struct Row {
    const char* optimizer;
    std::uint64_t numel;
    Dtype param;
    std::uint64_t measured;
  };
  const Row rows[] = {
      {"adamw-torchao-4bit", k4096x4096, Dtype::fp32, 17825920},
      {"adamw-torchao-4bit", 4095, Dtype::fp32, 32760},
      {"adamw-torchao-4bit", 4096, Dtype::fp32, 4480},
      {"adamw-torchao-4bit", 4160, Dtype::fp32, 33280},
      {"adamw-torchao-4bit", 4000, Dtype::bf16, 16000},
      {"adamw-torchao-8bit", k4096x4096, Dtype::fp32, 34080768},
      {"adamw-torchao-8bit", 4096, Dtype::fp32, 10368},
      {"adamw-torchao-8bit", 4160, Dtype::fp32, 33280},
      {"adamw-torchao-fp8", k4096x4096, Dtype::fp32, 34078720},
      {"adamw-torchao-fp8", 4096, Dtype::fp32, 8320},
      {"adamw-torchao-fp8", 4000, Dtype::bf16, 16000},
      {"adam-8bit", k4096x4096, Dtype::fp32, 34078720},
      {"adam-8bit", 4095, Dtype::fp32, 32760},
      {"adam-8bit", 4096, Dtype::fp32, 8320},
      {"adam-8bit", 4160, Dtype::fp32, 8456},
      {"adam-8bit", 4000, Dtype::bf16, 32000},
  };
  for (const Row& r : rows)
    EXPECT_EQ(moment_bytes_of_tensor(opt(r.optimizer), mixed16(), r.numel, r.param).value, r.measured)
        << r.optimizer << " " << r.numel;
}

TEST(OptimizerState, OnebitErrorBuffersPadToNTimesLcmOfNAnd8) {
  // N = 8: lcm(8, 8) = 8, multiple 64; 1,000,000 = 15,625 x 64, no padding; server 1,000,000 / 8.
  EXPECT_EQ(onebit_error_elements(1000000, 8).worker, 1000000u);
  EXPECT_EQ(onebit_error_elements(1000000, 8).server, 125000u);
  // N = 6: lcm(6, 8) = 24, multiple 144; ceil(1,000,000 / 144) = 6,945 -> 1,000,080; server 1,000,080 / 6 = 166,680.
  EXPECT_EQ(onebit_error_elements(1000000, 6).worker, 1000080u);
  EXPECT_EQ(onebit_error_elements(1000000, 6).server, 166680u);
  // N = 1: multiple 8; 1,001 -> 1,008.
  EXPECT_EQ(onebit_error_elements(1001, 1).worker, 1008u);
  EXPECT_THROW(onebit_error_elements(1000, 0), ConfigError);
}

TEST(OptimizerState, OnebitAdamRankTotalsWithSixRanks) {
  RankParamShard s;
  s.dense = ElementCount(1000000);
  // mixed-20 (DeepSpeed) at ZeRO 0: params 2 + grads 2 + fp32 copy 4 + master 4 + m 4 + v 4 = 20 B x 10^6, plus
  // worker_error 1,000,080 x 4 = 4,000,320 B and server_error 166,680 x 4 = 666,720 B.
  const Recipe& ds = *find_recipe("mixed-20");
  EXPECT_EQ(model_state_memory(s, ds, opt("onebit-adam"), 0, 6, 6).breakdown.total().value,
            20000000u + 4000320u + 666720u);
  // 0/1 Adam adds the fp32 momentum_accumulator, 4,000,000 B.
  EXPECT_EQ(model_state_memory(s, ds, opt("zero-one-adam"), 0, 6, 6).breakdown.total().value,
            24000000u + 4000320u + 666720u);
  // 1-bit LAMB: m, v, fresh v (12 B x 10^6), the errors, and m padded by 80 zeros (320 B).
  EXPECT_EQ(model_state_memory(s, ds, opt("onebit-lamb"), 0, 6, 6).breakdown.total().value,
            24000000u + 4000320u + 666720u + 320u);
}

TEST(OptimizerState, BytesPerParameterBesideSixteenEighteenTwenty) {
  // mixed-18 (2 + 4 + 4) + torchao 4-bit m, v: 2 x (0.5 + 4/128) = 1.0625 -> 11.0625.
  EXPECT_DOUBLE_EQ(bytes_per_parameter_exact(*find_recipe("mixed-18"), opt("adamw-torchao-4bit"), 1), 11.0625);
  // mixed-16 (8) + 8-bit m, v: 2 x (1 + 4/256) = 2.03125.
  EXPECT_DOUBLE_EQ(bytes_per_parameter_exact(mixed16(), opt("adam-8bit"), 1), 10.03125);
  // mixed-20 (12) + 1-bit Adam: m, v 8 + worker 4 + server 4/8 = 24.5 at N = 8.
  EXPECT_DOUBLE_EQ(bytes_per_parameter_exact(*find_recipe("mixed-20"), opt("onebit-adam"), 8), 24.5);
  // Whole bytes: mixed-16 + 4-bit moments = 8 + 1 = 9; mixed-20 + 0/1 Adam = 12 + 8 + 4 + 4 = 28.
  EXPECT_EQ(bytes_per_parameter(mixed16(), opt("adamw-torchao-4bit")), 9u);
  EXPECT_EQ(bytes_per_parameter(*find_recipe("mixed-20"), opt("zero-one-adam")), 28u);
}

TEST(OptimizerState, NamesAliasesAndRefusals) {
  EXPECT_EQ(find_optimizer("adamw-bnb-8bit"), find_optimizer("adam-8bit"));
  EXPECT_EQ(find_optimizer("onebitadam"), nullptr);  // the DeepSpeed spelling is mapped by the config reader
  // The planner's rules cannot size the error buffers (they depend on dp): a clear error, not a wrong number.
  EXPECT_THROW(model_state_term_rules(mixed16(), opt("onebit-adam")), ConfigError);
  Scenario sc;
  sc.num_parameters = ElementCount(1000000);
  sc.parallel.dp = 4;
  sc.training.optimizer = "onebit-adam";
  sc.parallel.zero_stage = 1;
  EXPECT_THROW(resolve_scenario(sc), ConfigError);  // DeepSpeed: "1bit-Adam is not compatible with ZeRO"
  sc.parallel.zero_stage = 0;
  EXPECT_NO_THROW(resolve_scenario(sc));
  sc.training.framework = Framework::hf;  // a DeepSpeed optimizer, not a PyTorch one
  EXPECT_THROW(resolve_scenario(sc), ConfigError);
  sc.training.framework = Framework::megatron;
  sc.training.optimizer = "lion-8bit";
  EXPECT_THROW(resolve_scenario(sc), ConfigError);
}

}  // namespace
}  // namespace trainmem::sim
