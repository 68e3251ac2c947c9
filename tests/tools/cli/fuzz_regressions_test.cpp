// Inputs the libFuzzer targets (fuzz/, tools/scripts/run_fuzzers) found crashing or misbehaving, each kept as a
// regression test: the library must throw a trainmem::Error (ConfigError) and the CLI must exit 2 with
// one line naming the field, never crash, wrap or report an internal error (exit 3).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "partition/error.hpp"
#include "tests/tools/cli_test_util.hpp"
#include "tools/inputs/hf_config.hpp"

namespace trainmem::tools::test {
namespace {

std::string temp_file(const std::string& name, const std::string& content) {
  const auto dir = std::filesystem::temp_directory_path() / "trainmem_fuzz_regressions";
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

// Exit 2 and exactly one "trainmem: error:" line that contains `expect`.
void expect_input_error(const std::vector<std::string>& args, const std::string& expect) {
  const CliRun r = run(args);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("trainmem: error: ", 0), 0U) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_NE(r.err.find(expect), std::string::npos) << "expected: " << expect << "\ngot: " << r.err;
}

// fuzz_hf_config crash-e4b297cc: a number beyond double range ("121e308000") made nlohmann::json throw
// out_of_range, which is not a parse_error, so it escaped the loader as an internal error (exit 3).
TEST(FuzzRegressions, HfConfigNumberOverflowIsAnInputError) {
  const std::string text = R"({"model_type": "llama", "bos_token_id": 121e308000, "hidden_size": 4096})";
  try {
    model_from_hf_config(text, "cfg.json");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "model_config");
    EXPECT_NE(std::string(e.what()).find("number overflow"), std::string::npos) << e.what();
  }
  expect_input_error({"estimate", "--model-config", temp_file("overflow.json", text)}, "model_config = ");
  // An integer beyond 2^64 takes the same path.
  EXPECT_THROW(model_from_hf_config(R"({"model_type": "gpt2", "n_layer": 184467440737095516160})", "c.json"),
               ConfigError);
}

// Found while reviewing the fuzz_hf_config target: GPT-2's default n_inner was computed as 4 * n_embd
// before n_embd was range-checked (signed overflow, UB, for n_embd near 2^63).
TEST(FuzzRegressions, Gpt2HugeHiddenSizeDoesNotOverflow) {
  const std::string text = R"({"model_type": "gpt2", "n_embd": 9223372036854775807, "n_head": 1, "n_layer": 1,
                               "n_positions": 1024, "vocab_size": 50257})";
  try {
    model_from_hf_config(text, "gpt2.json");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "n_embd (in gpt2.json)");  // the config.json key, not Megatron's hidden_size
    EXPECT_EQ(e.value(), "9223372036854775807");
  }
  // The default 4h is still applied once h is valid.
  const ModelSpec m = model_from_hf_config(
      R"({"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "vocab_size": 50257})",
      "gpt2.json");
  EXPECT_EQ(m.ffn_hidden_size, 3072);
}

// Same review: OPT's position table is max_position_embeddings + 2 rows; INT64_MAX + 2 overflowed.
TEST(FuzzRegressions, OptHugePositionTableDoesNotOverflow) {
  const std::string text = R"({"model_type": "opt", "hidden_size": 2048, "ffn_dim": 8192, "num_attention_heads": 32,
                               "num_hidden_layers": 24, "vocab_size": 50272,
                               "max_position_embeddings": 9223372036854775807})";
  try {
    model_from_hf_config(text, "opt.json");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "max_position_embeddings (in opt.json)");
    EXPECT_EQ(e.value(), "9223372036854775807");
  }
  expect_input_error({"estimate", "--model-config", temp_file("opt.json", text)}, "max_position_embeddings (in ");
}

// Found while writing the fuzz targets (inputs name files): a scenario or config.json path naming an endless
// character device was read until memory ran out: `trainmem estimate /dev/zero` hung, and
// `--model-config /dev/zero` ended in "out of memory" (exit 3). Input files were capped at 16 MiB; since issue 15
// a device is refused before it is read (a named pipe would block in open(); input_errors_test.cpp).
TEST(FuzzRegressions, EndlessInputFileIsAnInputError) {
  if (!std::filesystem::exists("/dev/zero")) GTEST_SKIP() << "no /dev/zero";
  expect_input_error({"estimate", "/dev/zero"}, "scenario = /dev/zero: is a character device, not a regular file");
  expect_input_error({"estimate", "--model-config", "/dev/zero"},
                     "model_config = /dev/zero: is a character device, not a regular file");
}

TEST(FuzzRegressions, OversizedInputFileIsAnInputError) {
  const std::string big = temp_file("big.yaml", "model: gpt2\n" + std::string(17U << 20, '#'));
  expect_input_error({"estimate", big}, "is larger than 16 MiB");
  const std::string small = temp_file("small.yaml", "model: gpt2\n# " + std::string(1U << 20, '#') + "\n");
  EXPECT_EQ(run({"estimate", small}).code, 0);
}

}  // namespace
}  // namespace trainmem::tools::test
