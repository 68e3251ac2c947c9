// libFuzzer target: DeepSpeed ds_config.json text through the real loader (deepspeed_config_from_json), then
// the whole ecosystem path (build_scenario_with_inputs: batch rule, recipe at the final ZeRO stage, "auto"
// bucket sizes), sim::estimate and every reporter, under a few layouts. Only trainmem::Error may escape.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_common.hpp"
#include "partition/error.hpp"
#include "tools/inputs/deepspeed_config.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"

namespace {
// build_scenario_with_inputs() reads the ds_config by path: a per-process file in /dev/shm (memory-backed).
const std::string& scratch_path() {
  static const std::string path = "/dev/shm/trainmem_fuzz_ds_config_" + std::to_string(::getpid()) + ".json";
  return path;
}

struct Layout {
  const char* model;
  const char* tp;
  const char* pp;
  const char* dp;
};
// A small dense model at 1 and 4 ranks, a pipeline layout (ZeRO-2/3 then refused), a bare parameter count
// (no hidden size for "auto" bucket sizes) and an MoE model.
constexpr Layout kLayouts[] = {{"gpt2", "1", "1", "1"},
                               {"gpt2", "2", "1", "4"},
                               {"llama2-7b", "1", "2", "2"},
                               {"", "1", "1", "8"},
                               {"mixtral-8x7b", "2", "1", "4"}};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)trainmem::tools::deepspeed_config_from_json(text, "ds_config.json");
  } catch (const trainmem::Error&) {
    return 0;  // an input error: the CLI exits 2
  }
  const std::string& path = scratch_path();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  for (const Layout& l : kLayouts) {
    trainmem::tools::Settings user;
    if (*l.model != '\0')
      user["model"] = {l.model, "fuzz"};
    else
      user["num_parameters"] = {"1.3B", "fuzz"};
    user["tensor_model_parallel_size"] = {l.tp, "fuzz"};
    user["pipeline_model_parallel_size"] = {l.pp, "fuzz"};
    user["data_parallel_size"] = {l.dp, "fuzz"};
    user["seq_length"] = {"1024", "fuzz"};
    user["deepspeed_config"] = {path, "fuzz"};
    try {
      trainmem::fuzz::NullBuffer buf;
      std::ostream notices(&buf);
      const trainmem::tools::BuiltScenario built = trainmem::tools::build_scenario_with_inputs(user, notices);
      const trainmem::sim::EstimateResult result = trainmem::sim::estimate(built.scenario);
      trainmem::fuzz::check_invariants(result);
      trainmem::fuzz::render_all(result, built.model_source);
    } catch (const trainmem::Error&) {
      // The settings do not fit this layout (an "auto" without a flag, ZeRO-3 with pp > 1, ...).
    }
  }
  return 0;
}
