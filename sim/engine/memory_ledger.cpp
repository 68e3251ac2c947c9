#include "sim/engine/memory_ledger.hpp"

#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {

void MemoryLedger::alloc(MemoryCategory category, Bytes bytes, std::uint32_t event) {
  current_[category] += bytes;
  total_ += bytes;
  if (current_[category] > category_max_[category]) category_max_[category] = current_[category];
  if (total_ > peak_) {
    peak_ = total_;
    at_peak_ = current_;
    peak_event_ = event;
  }
}

void MemoryLedger::free(MemoryCategory category, Bytes bytes, std::uint32_t event) {
  if (bytes > current_[category])
    throw Error("memory ledger: event " + std::to_string(event) + " frees " + std::to_string(bytes.value) +
                " bytes of " + std::string(category_name(category)) + " but only " +
                std::to_string(current_[category].value) + " are allocated");
  current_[category] = current_[category] - bytes;
  total_ = total_ - bytes;
}

}  // namespace trainmem::sim
