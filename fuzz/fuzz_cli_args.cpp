// libFuzzer target: `trainmem estimate <tokens>` through run_cli(), the function main() forwards to.
// The input is split into argv tokens on NUL and newline. Exit code 3 ("internal error": an exception
// that is not a trainmem::Error) is a finding, as is any exit code outside 0-3, a crash or a sanitizer
// report. A trainmem error (exit 2) must print exactly one "trainmem: error:" line.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "tools/cli/cli.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args{"estimate"};
  std::string token;
  for (std::size_t i = 0; i < size; ++i) {
    const char ch = static_cast<char>(data[i]);
    if (ch == '\0' || ch == '\n') {
      args.push_back(token);
      token.clear();
    } else {
      token += ch;
    }
  }
  if (!token.empty()) args.push_back(token);
  // `--html FILE` writes a file (estimate's page): a fuzzed path could overwrite anything the fuzzer's user can.
  for (const auto& a : args)
    if (a.rfind("--html", 0) == 0) return 0;

  trainmem::fuzz::NullBuffer out_buf;
  std::ostream out(&out_buf);
  std::ostringstream err;
  const int code = trainmem::tools::run_cli(args, out, err);
  if (code == trainmem::tools::kExitRuntime) trainmem::fuzz::finding("exit 3 (internal error): " + err.str());
  if (code < 0 || code > 3) trainmem::fuzz::finding("exit code " + std::to_string(code));
  if (code == trainmem::tools::kExitUsage) {
    const std::string e = err.str();
    const bool one_line = e.size() > 1 && e.find('\n') == e.size() - 1;
    if (e.rfind("trainmem: error: ", 0) == 0 && !one_line) trainmem::fuzz::finding("error is not one line: " + e);
  }
  return 0;
}
