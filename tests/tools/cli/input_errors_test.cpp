// Bad input through the public CLI: exit code 2 and one line naming the field and the value; no crash.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

struct BadInput {
  std::vector<std::string> args;
  std::string expect;  // substring of the error message (the field, and the value where there is one)
};

std::string temp_file(const std::string& name, const std::string& content) {
  const auto dir = std::filesystem::temp_directory_path() / "trainmem_input_errors";
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

TEST(InputErrors, EachGivesExit2AndNamesTheField) {
  const std::string est = "estimate";
  const std::vector<BadInput> cases = {
      {{est, "--model", "llama2-7b", "--tp", "3"}, "tensor_model_parallel_size = 3: num_attention_heads (32)"},
      {{est, "--model", "llama2-7b", "--pp", "5"}, "pipeline_model_parallel_size = 5"},
      {{est, "--model", "llama2-7b", "--tp", "2", "--world-size", "7"}, "world_size = 7"},
      {{est, "--model", "llama2-7b", "--dp", "4", "--world-size", "8"}, "world_size = 8"},
      {{est, "--model", "llama2-7b", "--tp=-2"}, "tensor_model_parallel_size = -2"},
      {{est, "--model", "llama2-7b", "--tp", "0"}, "tensor_model_parallel_size = 0"},
      {{est, "--model", "llama2-7b", "--tp", "two"}, "tensor_model_parallel_size = two"},
      {{est, "--model", "llama2-7b", "--tp", "2.5"}, "tensor_model_parallel_size = 2.5"},
      {{est, "--model", "llama2-70b", "--tp", "16"}, "num_query_groups (8)"},
      {{est, "--model", "llama2-7b", "--zero-stage", "4"}, "zero_stage = 4"},
      {{est, "--model", "llama2-7b", "--pp", "2", "--zero-stage", "3"}, "zero_stage = 3"},
      {{est, "--num-parameters", "1e30"}, "num_parameters = 1e30"},
      {{est, "--num-parameters", "-5"}, "num_parameters = -5"},
      {{est, "--num-parameters", "7.25"}, "num_parameters = 7.25"},
      {{est, "--model", "llama2-7b", "--seq-length", "1099511627776"}, "seq_length = 1099511627776"},
      {{est, "--model", "llama2-7b", "--hidden-size", "99999999999"}, "hidden_size = 99999999999"},
      {{est, "--model", "llama2-7b", "--micro-batch-size", "3", "--dp", "2", "--global-batch-size", "10"},
       "global_batch_size = 10"},
      {{est, "--model", "gpt2", "--ulysses-sp", "4", "--dp", "8", "--global-batch-size", "3"},
       "global_batch_size = 3: is not divisible by micro_batch_size * dp / ulysses_sp = 1 * 8 / 4"},
      {{est, "--model", "gpt3-175b", "--seq-length", "4096"}, "seq_length = 4096: exceeds the learned position table"},
      {{est, "--model", "llama2-7x"}, "model = llama2-7x: unknown preset (did you mean llama2-7b?)"},
      {{est, "--model", "llama2-7b", "--gpu", "h100-80"}, "gpu = h100-80: unknown GPU (did you mean h100-80gb?)"},
      {{est, "--model", "llama2-7b", "--gpu-memory", "lots"}, "gpu_memory = lots"},
      {{est, "--model", "llama2-7b", "--recipe", "mixed-17"}, "recipe = mixed-17"},
      {{est, "--model", "llama2-7b", "--optimizer", "lion"}, "optimizer = lion"},
      {{est, "--model", "llama2-7b", "--format", "xml"}, "format = xml"},
      {{est, "--model", "llama2-7b", "--sequence-parallel=maybe"}, "sequence_parallel = maybe"},
      {{est, "--model", "llama2-7b", "--tensor-paralel-size", "2"}, "unknown option"},
      {{est, "--model", "llama2-7b", "--tp", "2", "--tensor-model-parallel-size", "4"},
       "tensor_model_parallel_size = 4 / 2"},
      {{est, "--model", "llama2-7b", "--num-parameters", "7e9"}, "num_parameters = 7e9"},
      {{est}, "model = (none)"},
      {{est, "/nonexistent/scenario.yaml"}, "scenario = /nonexistent/scenario.yaml: file not found"},
      {{est, "/tmp"}, "is a directory"},
      {{est, temp_file("empty.yaml", "")}, "is empty"},
      {{est, temp_file("binary.yaml", std::string("\x00\x01\x02\xff", 4))}, "binary"},
      {{est, temp_file("malformed.yaml", "model: [llama2-7b\n")}, "malformed YAML at line"},
      {{est, temp_file("list.yaml", "- a\n- b\n")}, "must be a mapping"},
      {{est, temp_file("unknown.yaml", "model: llama2-7b\ntensor_paralel_size: 2\n")},
       "tensor_paralel_size = (in unknown.yaml): unknown key (did you mean 'tensor_model_parallel_size'?)"},
      {{est, temp_file("dup.yaml", "model: llama2-7b\ntp: 2\ntensor_model_parallel_size: 4\n")},
       "appears more than once"},
      {{est, temp_file("nested.yaml", "model: {name: x}\n")}, "model = (in nested.yaml): must be a single value"},
      {{est, temp_file("null.yaml", "model:\n")}, "has no value"},
      {{est, "--model-config", "/nonexistent/config.json"}, "model_config = /nonexistent/config.json: file not found"},
      {{est, "--model-config", temp_file("bad.json", "{\"model_type\": \"llama\", ")}, "malformed JSON"},
      {{est, "--model-config", temp_file("t5.json", "{\"model_type\": \"t5\"}")}, "model_type (in"},
      {{est, "--model-config", temp_file("str.json", "{\"model_type\": \"llama\", \"num_hidden_layers\": \"32\"}")},
       "must be an integer"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
  };
  for (const auto& c : cases) {
    const CliRun r = run(c.args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << joined << "\nexpected: " << c.expect << "\ngot: " << r.err;
    EXPECT_TRUE(r.out.empty()) << joined;
  }
}

// A named pipe given as any input file is refused before it is opened: opening a FIFO for reading blocks until a
// writer comes, so `mkfifo f; trainmem estimate f` hung (issue 15). Each run gets 20 s; one that blocks fails the
// test, and opening the FIFO for writing then releases it, so the test cannot hang.
TEST(InputErrors, NamedPipeIsRefusedNotOpened) {
  const auto dir = std::filesystem::temp_directory_path() / "trainmem_input_errors_fifo";
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "input.fifo").string();
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  std::ofstream(dir / "uses_fifo.yaml") << "model_config: input.fifo\n";
  const std::string est = "estimate";
  const std::vector<BadInput> cases = {
      {{est, fifo}, "scenario = " + fifo + ": is a named pipe (FIFO), not a regular file"},
      {{"explain", fifo}, "scenario = " + fifo + ": is a named pipe (FIFO)"},
      {{est, "--model-config", fifo}, "model_config = " + fifo + ": is a named pipe (FIFO)"},
      {{est, (dir / "uses_fifo.yaml").string()}, "model_config = " + fifo + ": is a named pipe (FIFO)"},
      {{est, "--model", "gpt2", "--deepspeed-config", fifo}, "deepspeed_config = " + fifo + ": is a named pipe (FIFO)"},
      {{"plan", "--model-config", fifo, "--gpu", "h100-80gb", "--global-batch-size", "8"},
       "model_config = " + fifo + ": is a named pipe (FIFO)"},
  };
  for (const auto& c : cases) {
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    std::promise<CliRun> done;
    std::future<CliRun> result = done.get_future();
    std::thread runner([&done, args = c.args] { done.set_value(run(args)); });
    if (result.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << joined << ": blocked on the FIFO";
      const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // lets a reader blocked in open() go on
      if (writer >= 0) ::close(writer);
    }
    runner.join();
    const CliRun r = result.get();
    EXPECT_EQ(r.code, 2) << joined << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << joined << "\nexpected: " << c.expect << "\ngot: " << r.err;
  }
}

TEST(InputErrors, HundredTrillionParametersDoNotWrap) {
  // 1e14 parameters, mixed-20, one rank: exactly 20 * 1e14 = 2e15 bytes of model states (runtime off).
  const CliRun r =
      run({"estimate", "--num-parameters", "100T", "--recipe", "mixed-20", "--runtime", "off", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.json()["max_peak_bytes"].get<std::uint64_t>(), 2'000'000'000'000'000ULL);
}

}  // namespace
}  // namespace trainmem::tools::test
