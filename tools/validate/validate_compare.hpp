// Predicted vs measured, per rank and category: the rows of the validation table (nccl-tests layout,
// `#` header and footer), their verdicts, and the text form in which each rank sends its
// measurements to rank 0. Model-state rows must match to the byte (tolerance 0).
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "partition/units.hpp"

namespace trainmem::tools {

struct MeasuredCategoryBuffer {
  std::string label;
  std::string category;
  std::uint64_t bytes = 0;
  std::uint64_t reserved = 0;
  std::uint64_t elements = 0;
};

// What one rank measured (all figures in bytes; deltas clamp at 0).
struct RankMeasurement {
  std::int64_t rank = 0;
  std::string host;
  std::vector<MeasuredCategoryBuffer> buffers;
  std::uint64_t runtime_init = 0;      // RssAnon after MPI_Init - before
  std::uint64_t rss_after_init = 0;    // RssAnon right after MPI_Init
  std::uint64_t comm_init = 0;         // RssAnon growth across the 5 communicator splits
  std::uint64_t model_states_rss = 0;  // RssAnon growth across allocating + filling the buffers
  std::uint64_t collective_peak = 0;   // VmHWM growth over the collectives
  std::uint64_t temporaries_peak = 0;  // the step's own largest live temporary
  std::uint64_t staging = 0;           // host staging of the step
  std::uint64_t device_context = 0, device_comm_init = 0, device_model_states = 0, device_collective_peak = 0;
  std::string device;
  std::uint64_t checked = 0;
  std::uint64_t wrong = 0;
  double max_abs_error = 0;
  double seconds_fill = 0, seconds_collectives = 0, seconds_check = 0;
};

std::string serialize(const RankMeasurement& m);
RankMeasurement deserialize(const std::string& text);  // throws Error on malformed text

struct CompareRow {
  std::int64_t rank = 0;
  std::string item;  // category name or "model states (RssAnon)" / "update: wrong elements"
  std::uint64_t predicted = 0;
  std::uint64_t measured = 0;
  std::uint64_t tolerance = 0;
  bool exact = true;  // a model-state category: delta must be 0
  std::int64_t delta() const { return static_cast<std::int64_t>(measured) - static_cast<std::int64_t>(predicted); }
  bool ok() const {
    const std::uint64_t d = measured > predicted ? measured - predicted : predicted - measured;
    return d <= tolerance;
  }
};

// Slack of the RssAnon row: one page per buffer plus 512 KiB for the process's own small heap growth.
std::uint64_t rss_tolerance(std::size_t buffers);

// Rows of one rank: each category of `predicted` or the measurement (sums over its buffers, exact),
// the RssAnon cross-check of their total, and the count of wrongly updated parameters (must be 0).
std::vector<CompareRow> compare_rank(const std::map<std::string, Bytes>& predicted, const RankMeasurement& measured);

struct TableContext {
  std::vector<std::string> header;  // lines printed after "# "
};

// Writes the table (rows of every rank, then the phase figures) and the verdict footer; returns true
// when every row passed.
bool write_validation_table(std::ostream& out, const TableContext& ctx, const std::vector<CompareRow>& rows,
                            const std::vector<RankMeasurement>& ranks, bool device_figures);

}  // namespace trainmem::tools
