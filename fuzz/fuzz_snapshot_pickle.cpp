// libFuzzer target: bytes through the memory-snapshot loader of `trainmem compare --measured` (the safe pickle
// reader, tools/inputs/pickle_reader.hpp, and the trace replay, or the lab-JSON reader for non-pickles). Only
// trainmem::Error may escape; a snapshot that loads must keep its peaks at or above its start and end.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "partition/error.hpp"
#include "tools/inputs/measured_memory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  trainmem::tools::MeasuredMemory m;
  try {
    m = trainmem::tools::measured_from_bytes("measured", "fuzz.pickle", bytes);
  } catch (const trainmem::Error&) {
    return 0;
  }
  for (const auto& d : m.devices) {
    if (d.allocated_peak < d.allocated_at_start || d.allocated_peak < d.allocated_at_end)
      trainmem::fuzz::finding("allocated peak below the trace's start or end");
    if (d.reserved_peak < d.reserved_at_start || d.reserved_peak < d.reserved_at_end)
      trainmem::fuzz::finding("reserved peak below the trace's start or end");
    if (d.allocated_peak_blocks > m.peak) trainmem::fuzz::finding("a device's peak above the reported peak");
  }
  return 0;
}
