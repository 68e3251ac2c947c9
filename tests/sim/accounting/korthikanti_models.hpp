// Korthikanti et al. 2022, Table 3 (model configurations) shared by the activation tests: attention heads a,
// hidden size h, layers L, and the pipeline size used there; t = 8 and s = 2048 for every model.
// From memory of the paper: 22B (64, 6144, 48, pp 1), 175B (96, 12288, 96, pp 8), 530B (128, 20480, 105,
// pp 35), 1T (160, 25600, 128, pp 64). The heads/hidden/layers of 175B match GPT-3 (Brown et al. 2020); the
// others are the paper's own scaled models. The Table 2 identities hold for any such shape.
#pragma once

#include <cstdint>

namespace trainmem::sim::test {

struct PaperModel {
  const char* name;
  std::int64_t heads, hidden, layers, pp;
};
inline constexpr PaperModel kPaperModels[] = {
    {"22B", 64, 6144, 48, 1}, {"175B", 96, 12288, 96, 8}, {"530B", 128, 20480, 105, 35}, {"1T", 160, 25600, 128, 64}};

}  // namespace trainmem::sim::test
