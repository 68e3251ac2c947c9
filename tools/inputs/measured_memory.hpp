// What a real run measured, read for `trainmem compare --measured FILE`: a PyTorch CUDA memory snapshot (the pickle
// `torch.cuda.memory._dump_snapshot(path)` writes, read with tools/inputs/pickle_reader.hpp) or a ground-truth lab
// result JSON (tools/groundtruth: `lab.py run` / `lab.py snapshot`). The file's first byte decides (0x80: pickle).
//
// Snapshot, per device: the trace (`device_traces[d]`) is replayed, `alloc` +size and `free_completed` -size (CUDA
// records the requested size), `segment_alloc`/`segment_map` +size and `segment_free`/`segment_unmap` -size. The
// trace may start mid-run (recording began after the model was built, or the ring buffer dropped old entries), so
// the bytes live at its start come from the snapshot's end state: the `segments` (reserved = their total_size;
// allocated = the requested_size of their blocks not `inactive`) minus what the trace added. Peaks are the largest
// running sums, that start included.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trainmem::tools {

inline constexpr std::size_t kMaxSnapshotBytes = std::size_t{256} << 20;  // 256 MiB

// The running sums after a trace entry that moved bytes: x = entry index + 1 (x = 0: the bytes live at the trace's
// start). allocated in 512 B blocks (the figure compared), reserved = the segments' bytes.
struct MeasuredSample {
  std::uint64_t x = 0;
  std::uint64_t allocated_blocks = 0;
  std::uint64_t reserved = 0;
};

struct MeasuredDevice {
  std::int64_t device = 0;
  std::uint64_t allocated_peak = 0;         // requested bytes, as the trace records them
  std::uint64_t allocated_peak_blocks = 0;  // each allocation rounded up to 512 B (the allocator's kMinBlockSize)
  std::uint64_t allocated_at_start = 0;     // live when the trace starts (requested bytes)
  std::uint64_t allocated_at_end = 0;
  std::uint64_t reserved_peak = 0;  // cudaMalloc'ed segments
  std::uint64_t reserved_at_start = 0;
  std::uint64_t reserved_at_end = 0;
  std::uint64_t trace_entries = 0;
  std::uint64_t allocs = 0;
  std::uint64_t frees = 0;
  std::uint64_t segments = 0;
  std::vector<MeasuredSample> timeline;  // empty without a trace (segments only)
};

struct MeasuredMemory {
  enum class Source { snapshot, lab_json };
  Source source = Source::snapshot;
  std::string path;
  std::vector<MeasuredDevice> devices;  // snapshot: devices with a trace entry or a segment
  // The figure compared with trainmem's peak: snapshot: the largest allocated_peak_blocks; lab: max_peak_bytes.
  std::uint64_t peak = 0;
  std::optional<std::uint64_t> peak_unrounded;      // lab: peak_bytes_unrounded (of the peak rank)
  std::optional<std::uint64_t> reserved_peak;       // snapshot; lab: reserved_emulated.peak_reserved when present
  std::string name, phase;                          // lab: the configuration and the peak's phase
  std::map<std::string, std::uint64_t> categories;  // lab: bytes live at the peak, by category
};

// `field` names the input in errors ("measured").
MeasuredMemory read_measured_memory(const std::string& field, const std::string& path);
MeasuredMemory measured_from_bytes(const std::string& field, const std::string& path, const std::string& bytes);

}  // namespace trainmem::tools
