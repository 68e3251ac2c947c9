// Host memory probes for one process, in bytes: RssAnon / VmRSS / VmHWM from /proc/self/status,
// MemAvailable from /proc/meminfo, and a per-phase peak reset through /proc/self/clear_refs ("5").
// Why RssAnon and the mmap-threshold pin: see research/toolchain.md section 4.
#pragma once

#include <optional>
#include <string_view>

#include "partition/units.hpp"

namespace trainmem::comm {

struct ProcStatus {
  Bytes rss_anon;  // anonymous resident memory (heap, mmap'd shards): the metric
  Bytes vm_rss;    // all resident memory, shared libraries included
  Bytes vm_hwm;    // peak VmRSS since start or the last reset_peak_rss()
};

// Parses the text of /proc/<pid>/status ("RssAnon:\t  3012 kB"); a missing field throws CommError.
ProcStatus parse_proc_status(std::string_view text);
ProcStatus read_proc_status();
// Parses the text of /proc/meminfo for MemAvailable; throws CommError when absent.
Bytes parse_mem_available(std::string_view text);
Bytes mem_available();
// Resets VmHWM to the current VmRSS (Linux clear_refs "5"); false when the kernel refuses.
bool reset_peak_rss();
// Pins glibc's mmap and trim thresholds at 1 MiB so freed chunks never raise the dynamic mmap
// threshold (later allocations would silently reuse resident brk pages and show no RSS growth).
void pin_malloc_thresholds();

}  // namespace trainmem::comm
