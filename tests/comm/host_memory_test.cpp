#include "comm/host_memory.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

#include "comm/error.hpp"

namespace trainmem::comm {
namespace {

TEST(ProcStatus, ParsesTheKiBFields) {
  const char* text =
      "Name:\ttrainmem\nVmHWM:\t   14400 kB\nVmRSS:\t   14000 kB\nRssAnon:\t    3012 kB\nRssFile:\t   11000 kB\n";
  const ProcStatus s = parse_proc_status(text);
  EXPECT_EQ(s.rss_anon.value, 3012 * kKiB);
  EXPECT_EQ(s.vm_rss.value, 14000 * kKiB);
  EXPECT_EQ(s.vm_hwm.value, 14400 * kKiB);
}

TEST(ProcStatus, MissingFieldIsAnError) {
  EXPECT_THROW(parse_proc_status("VmRSS:\t 1 kB\nVmHWM:\t 1 kB\n"), CommError);
  // "RssAnonX" must not be taken for RssAnon.
  EXPECT_THROW(parse_proc_status("RssAnonX:\t 1 kB\nVmRSS:\t 1 kB\nVmHWM:\t 1 kB\n"), CommError);
}

TEST(MemInfo, ParsesMemAvailable) {
  EXPECT_EQ(parse_mem_available("MemTotal: 100 kB\nMemFree: 10 kB\nMemAvailable:   24000000 kB\n").value,
            24000000 * kKiB);
  EXPECT_THROW(parse_mem_available("MemTotal: 100 kB\n"), CommError);
}

TEST(ProcStatus, RssAnonSeesAPopulatedMapping) {
  // The probe the validator relies on: a 16 MiB MAP_POPULATE mapping shows up in RssAnon.
  const std::size_t bytes = 16 * kMiB;
  const Bytes before = read_proc_status().rss_anon;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  std::memset(p, 1, bytes);
  const Bytes after = read_proc_status().rss_anon;
  munmap(p, bytes);
  EXPECT_GE(after.value - before.value, bytes);
  EXPECT_LE(after.value - before.value, bytes + 256 * kKiB);
}

}  // namespace
}  // namespace trainmem::comm
