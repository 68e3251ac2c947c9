// Shared helpers for the libFuzzer targets: a stream that discards output (so reporters still format
// everything) and the "only trainmem::Error may escape" rule every target enforces.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <streambuf>
#include <string>

#include "sim/accounting/estimate.hpp"
#include "tools/report/report.hpp"

namespace trainmem::fuzz {

// Accepts and drops every character; reporters run their full formatting path.
class NullBuffer : public std::streambuf {
 protected:
  int_type overflow(int_type ch) override { return traits_type::not_eof(ch); }
  std::streamsize xsputn(const char* /*s*/, std::streamsize n) override { return n; }
};

// Runs every reporter over an estimate, as `trainmem estimate --format table|json --explain` does.
inline void render_all(const sim::EstimateResult& result, const std::string& model_source) {
  NullBuffer buf;
  std::ostream out(&buf);
  tools::write_estimate_table(out, result, model_source);
  out << tools::estimate_json(result, model_source).dump(2);
  out << tools::explain_estimate(result);
}

// A finding that is not a crash by itself (wrong exit code, an invariant broken): print and abort so
// libFuzzer saves the input.
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "FUZZ FINDING: %s\n", what.c_str());
  std::abort();
}

// Every estimate must hold: the peak is the largest class total and fits agrees with it.
inline void check_invariants(const sim::EstimateResult& r) {
  if (r.classes.empty()) finding("estimate returned no rank classes");
  std::size_t ranks = 0;
  for (const auto& c : r.classes) {
    ranks += c.ranks.size();
    if (c.peak > r.max_peak) finding("a rank class peak exceeds max_peak");
    if (c.bytes.total() != c.peak) finding("a rank class peak differs from its category sum");
  }
  if (static_cast<std::int64_t>(ranks) != r.world_size) finding("rank classes do not cover the world");
  if (r.gpu_memory && r.fits != (r.max_peak <= *r.gpu_memory)) finding("fits disagrees with max_peak");
}

}  // namespace trainmem::fuzz
