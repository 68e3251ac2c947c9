// libFuzzer target: a YAML scenario file through the real loader (load_scenario_file), the scenario
// builder, sim::estimate and every reporter. Only trainmem::Error may escape the library; any other
// exception, a crash or a sanitizer report is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_common.hpp"
#include "partition/error.hpp"
#include "tools/inputs/scenario_builder.hpp"
#include "tools/inputs/scenario_file.hpp"

namespace {
// load_scenario_file() takes a path: write each input to a per-process file in /dev/shm (memory-backed).
const std::string& scratch_path() {
  static const std::string path = "/dev/shm/trainmem_fuzz_scenario_" + std::to_string(::getpid()) + ".yaml";
  return path;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_path();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const trainmem::tools::Settings settings = trainmem::tools::load_scenario_file(path);
    const trainmem::tools::BuiltScenario built = trainmem::tools::build_scenario(settings);
    const trainmem::sim::EstimateResult result = trainmem::sim::estimate(built.scenario);
    trainmem::fuzz::check_invariants(result);
    trainmem::fuzz::render_all(result, built.model_source);
  } catch (const trainmem::Error&) {
    // Input errors (exit 2 in the CLI) are the expected outcome for most inputs.
  }
  return 0;
}
