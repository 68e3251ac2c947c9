// libFuzzer target: a Hugging Face TrainingArguments file and an accelerate config (JSON or YAML text) through the
// real readers (tools/inputs/structured_file.cpp, hf_training_args.cpp, accelerate_config.cpp), then the whole
// ecosystem path (build_scenario_with_inputs), sim::estimate and every reporter. Only trainmem::Error may escape.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_common.hpp"
#include "partition/error.hpp"
#include "tools/inputs/accelerate_config.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"
#include "tools/inputs/hf_training_args.hpp"
#include "tools/inputs/structured_file.hpp"

namespace {
// build_scenario_with_inputs() reads the files by path: a per-process file in /dev/shm (memory-backed).
const std::string& scratch_path() {
  static const std::string path = "/dev/shm/trainmem_fuzz_trainer_inputs_" + std::to_string(::getpid()) + ".yaml";
  return path;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json tree;
  try {
    tree = trainmem::tools::parse_structured_text("hf_training_args", "args.yaml", text);
  } catch (const trainmem::Error&) {
    return 0;  // an input error: the CLI exits 2
  }
  for (const char* flag : {"hf_training_args", "accelerate_config"}) {
    try {
      if (std::string(flag) == "hf_training_args")
        (void)trainmem::tools::hf_training_args_from_json(tree, "args.yaml", "/dev/shm", {});
      else
        (void)trainmem::tools::accelerate_config_from_json(tree, "args.yaml", "/dev/shm", {}, nullptr);
    } catch (const trainmem::Error&) {
      continue;
    }
    {
      std::ofstream f(scratch_path(), std::ios::binary | std::ios::trunc);
      f.write(text.data(), static_cast<std::streamsize>(text.size()));
    }
    for (const char* model : {"gpt2", "llama2-7b"}) {
      trainmem::tools::Settings user;
      user["model"] = {model, "fuzz"};
      user["seq_length"] = {"256", "fuzz"};
      user["micro_batch_size"] = {"1", "fuzz"};
      user[flag] = {scratch_path(), "fuzz"};
      try {
        trainmem::fuzz::NullBuffer buf;
        std::ostream notices(&buf);
        const trainmem::tools::BuiltScenario built = trainmem::tools::build_scenario_with_inputs(user, notices);
        const trainmem::sim::EstimateResult result = trainmem::sim::estimate(built.scenario);
        trainmem::fuzz::check_invariants(result);
        trainmem::fuzz::render_all(result, built.model_source);
      } catch (const trainmem::Error&) {
        // The settings do not fit this model or layout (an unresolved recipe, a refused profile, ...).
      }
    }
  }
  return 0;
}
