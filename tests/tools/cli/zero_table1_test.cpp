// ZeRO paper Table 1 (Rajbhandari et al. 2019, "ZeRO: Memory Optimizations Toward Training Trillion
// Parameter Models"): per-device model-state memory in GB (10^9 bytes) with K = 12 (mixed-precision Adam)
// for 7.5B, 128B and 1T parameters at Nd = 1, 4, 16, 64, 256, 1024 for the baseline, P_os, P_os+g and
// P_os+g+p. Reproduced through the public CLI with --recipe mixed-16.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

struct Row {
  const char* psi;  // --num-parameters
  std::uint64_t psi_value;
  int nd;
  const char* paper[3];  // P_os, P_os+g, P_os+g+p as printed in Table 1 (GB)
};

// The table as printed in the paper.
constexpr Row kTable1[] = {
    {"7.5e9", 7500000000ULL, 1, {"120", "120", "120"}},
    {"7.5e9", 7500000000ULL, 4, {"52.5", "41.3", "30"}},
    {"7.5e9", 7500000000ULL, 16, {"35.6", "21.6", "7.5"}},
    {"7.5e9", 7500000000ULL, 64, {"31.4", "16.6", "1.88"}},
    {"7.5e9", 7500000000ULL, 256, {"30.4", "15.4", "0.47"}},
    {"7.5e9", 7500000000ULL, 1024, {"30.1", "15.1", "0.12"}},
    {"128e9", 128000000000ULL, 1, {"2048", "2048", "2048"}},
    {"128e9", 128000000000ULL, 4, {"896", "704", "512"}},
    {"128e9", 128000000000ULL, 16, {"608", "368", "128"}},
    {"128e9", 128000000000ULL, 64, {"536", "284", "32"}},
    {"128e9", 128000000000ULL, 256, {"518", "263", "8"}},
    {"128e9", 128000000000ULL, 1024, {"513", "257", "2"}},
    {"1e12", 1000000000000ULL, 1, {"16000", "16000", "16000"}},
    {"1e12", 1000000000000ULL, 4, {"7000", "5500", "4000"}},
    {"1e12", 1000000000000ULL, 16, {"4750", "2875", "1000"}},
    {"1e12", 1000000000000ULL, 64, {"4187.5", "2218.75", "250"}},
    {"1e12", 1000000000000ULL, 256, {"4046.88", "2054.69", "62.5"}},
    {"1e12", 1000000000000ULL, 1024, {"4011.72", "2013.67", "15.63"}},
};

std::uint64_t peak(const Row& row, int stage) {
  // Table 1 counts model states only: the non-model runtime memory is switched off.
  const CliRun r = run({"estimate", "--num-parameters", row.psi, "--dp", std::to_string(row.nd), "--zero-stage",
                        std::to_string(stage), "--recipe", "mixed-16", "--runtime", "off", "--format", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  return r.json()["max_peak_bytes"].get<std::uint64_t>();
}

// The paper prints 3-4 significant digits, sometimes rounded, sometimes truncated (513.5 -> 513):
// agree within one unit of the last printed digit.
void expect_printed(const char* printed, std::uint64_t bytes, const std::string& what) {
  const std::string s = printed;
  const auto dot = s.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(s.size() - dot - 1);
  const double unit = std::pow(10.0, -decimals);
  EXPECT_LE(std::fabs(static_cast<double>(bytes) / 1e9 - std::stod(s)), unit) << what << " printed " << s;
}

TEST(ZeroPaperTable1, ExactBytesAndPrintedValues) {
  for (const Row& row : kTable1) {
    const std::uint64_t psi = row.psi_value;
    const std::uint64_t nd = static_cast<std::uint64_t>(row.nd);
    const std::uint64_t shard = (psi + nd - 1) / nd;  // each rank's partition of a flat buffer
    const std::string what = std::string(row.psi) + " Nd=" + std::to_string(row.nd);
    // Baseline (stage 0): (2 + 2 + K) * psi = 16 psi on every rank, whatever Nd.
    EXPECT_EQ(peak(row, 0), 16 * psi) << what;
    // P_os: 2 psi + 2 psi + K psi / Nd.
    const std::uint64_t os = peak(row, 1);
    EXPECT_EQ(os, 4 * psi + 12 * shard) << what;
    // P_os+g: 2 psi + (2 + K) psi / Nd.
    const std::uint64_t osg = peak(row, 2);
    EXPECT_EQ(osg, 2 * psi + 14 * shard) << what;
    // P_os+g+p: (2 + 2 + K) psi / Nd.
    const std::uint64_t osgp = peak(row, 3);
    EXPECT_EQ(osgp, 16 * shard) << what;
    expect_printed(row.paper[0], os, what + " P_os");
    expect_printed(row.paper[1], osg, what + " P_os+g");
    expect_printed(row.paper[2], osgp, what + " P_os+g+p");
  }
}

}  // namespace
}  // namespace trainmem::tools::test
