// Reading a user-named input file (YAML scenario, config.json, ds_config.json) with the checks every loader
// needs: it exists, is a regular file (after symlinks), can be opened, and is at most kMaxInputFileBytes long.
// Anything else is refused before it is opened: a directory, a named pipe (opening one with no writer blocks
// forever: `mkfifo f; trainmem estimate f` hung), a character device (/dev/zero, /dev/tty), a block device or a
// socket. The size cap stays for a regular file that grows while it is read. Every failure is a ConfigError
// naming `field` and the path.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>

#include "partition/error.hpp"

namespace trainmem::tools {

inline constexpr std::size_t kMaxInputFileBytes = std::size_t{16} << 20;  // 16 MiB; real files are a few KiB

// `expected` completes "is a directory, not ...": "a YAML file", "config.json". `max_bytes`: a memory snapshot
// pickle may be larger than a config file (tools/inputs/memory_snapshot.cpp).
inline std::string read_input_file(const std::string& field, const std::string& path, const std::string& expected,
                                   std::size_t max_bytes = kMaxInputFileBytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ConfigError(field, path, "file not found");
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::directory) throw ConfigError(field, path, "is a directory, not " + expected);
  if (st.type() != fs::file_type::regular) {
    const char* kind = st.type() == fs::file_type::fifo        ? "a named pipe (FIFO)"
                       : st.type() == fs::file_type::character ? "a character device"
                       : st.type() == fs::file_type::block     ? "a block device"
                       : st.type() == fs::file_type::socket    ? "a socket"
                                                               : "an unknown kind of file";
    throw ConfigError(field, path,
                      std::string("is ") + kind +
                          ", not a regular file (a pipe or device may block or never end); save the content to a "
                          "file and give that");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(field, path, "cannot be opened");
  std::string text;
  std::array<char, 65536> chunk{};
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_bytes)
      throw ConfigError(field, path, "is larger than " + std::to_string(max_bytes >> 20) + " MiB");
  }
  if (in.bad()) throw ConfigError(field, path, "cannot be read");
  return text;
}

}  // namespace trainmem::tools
