// MemoryLedger: bytes currently allocated per category on one rank, the peak total, the breakdown at
// the peak and the index of the event that reached it. A value type: no formulas, no globals.
#pragma once

#include <cstdint>

#include "sim/accounting/memory_category.hpp"

namespace trainmem::sim {

class MemoryLedger {
 public:
  void alloc(MemoryCategory category, Bytes bytes, std::uint32_t event);
  // Throws trainmem::Error when freeing more than the category holds (an accounting bug, not input).
  void free(MemoryCategory category, Bytes bytes, std::uint32_t event);

  const MemoryBreakdown& current() const { return current_; }
  Bytes current_total() const { return total_; }
  Bytes peak() const { return peak_; }
  const MemoryBreakdown& at_peak() const { return at_peak_; }
  std::uint32_t peak_event() const { return peak_event_; }
  // The largest value each category reached at any time (not necessarily at the total's peak).
  const MemoryBreakdown& category_max() const { return category_max_; }

 private:
  MemoryBreakdown current_;
  MemoryBreakdown at_peak_;
  MemoryBreakdown category_max_;
  Bytes total_;
  Bytes peak_;
  std::uint32_t peak_event_ = 0;
};

}  // namespace trainmem::sim
