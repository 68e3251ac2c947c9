#include "comm/host_memory.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <charconv>
#include <string>

#include "comm/error.hpp"

namespace trainmem::comm {
namespace {

std::optional<Bytes> find_kib_field(std::string_view text, std::string_view field) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t eol = text.find('\n', pos);
    const std::string_view line = text.substr(pos, eol == std::string_view::npos ? text.size() - pos : eol - pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    if (line.size() <= field.size() || line.substr(0, field.size()) != field || line[field.size()] != ':') continue;
    std::string_view rest = line.substr(field.size() + 1);
    const std::size_t first = rest.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::nullopt;
    rest = rest.substr(first);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
    if (ec != std::errc()) return std::nullopt;
    const std::string_view unit(end, static_cast<std::size_t>(rest.data() + rest.size() - end));
    if (unit.find("kB") == std::string_view::npos) return std::nullopt;
    return Bytes(value) * kKiB;
  }
  return std::nullopt;
}

Bytes required(std::string_view text, std::string_view field, std::string_view file) {
  const auto v = find_kib_field(text, field);
  if (!v) throw CommError(std::string(file) + ": no '" + std::string(field) + ":' line in kB");
  return *v;
}

std::string read_small_file(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw CommError(std::string("cannot open ") + path);
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

}  // namespace

ProcStatus parse_proc_status(std::string_view text) {
  return ProcStatus{required(text, "RssAnon", "/proc/self/status"), required(text, "VmRSS", "/proc/self/status"),
                    required(text, "VmHWM", "/proc/self/status")};
}

ProcStatus read_proc_status() { return parse_proc_status(read_small_file("/proc/self/status")); }

Bytes parse_mem_available(std::string_view text) { return required(text, "MemAvailable", "/proc/meminfo"); }

Bytes mem_available() { return parse_mem_available(read_small_file("/proc/meminfo")); }

bool reset_peak_rss() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

void pin_malloc_thresholds() {
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
}

}  // namespace trainmem::comm
