// libFuzzer target: Hugging Face config.json text through model_from_hf_config(), then sim::estimate and
// every reporter under a few layouts (single rank, tp 2, pp 2 with the distributed optimizer, tp 8 x pp 4
// x dp 4 with ZeRO-1, ep 2 for MoE models). Only trainmem::Error may escape.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "partition/error.hpp"
#include "tools/inputs/hf_config.hpp"

namespace {
struct Layout {
  std::int64_t tp, pp, dp, ep;
  int zero_stage;
};
constexpr Layout kLayouts[] = {{1, 1, 1, 1, 0}, {2, 1, 4, 1, 3}, {1, 2, 2, 1, 1}, {8, 4, 4, 1, 1}, {1, 1, 4, 2, 2}};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  trainmem::ModelSpec model;
  try {
    model = trainmem::tools::model_from_hf_config(text, "config.json");
  } catch (const trainmem::Error&) {
    return 0;
  }
  for (const Layout& l : kLayouts) {
    trainmem::sim::Scenario sc;
    sc.model = model;
    sc.parallel.tp = l.tp;
    sc.parallel.pp = l.pp;
    sc.parallel.dp = l.dp;
    sc.parallel.ep = l.ep;
    sc.parallel.zero_stage = l.zero_stage;
    sc.training.seq_length = 1024;
    try {
      const trainmem::sim::EstimateResult result = trainmem::sim::estimate(sc);
      trainmem::fuzz::check_invariants(result);
      trainmem::fuzz::render_all(result, "config.json");
    } catch (const trainmem::Error&) {
      // This layout does not fit the model (heads not divisible by tp, ...): an input error.
    }
  }
  return 0;
}
