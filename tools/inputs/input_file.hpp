// Reading a user-named input file (YAML scenario, config.json) with the checks every loader needs: it
// exists, is not a directory, can be opened, and is at most kMaxInputFileBytes long. The cap matters
// for character devices and pipes (/dev/zero, /dev/urandom) that would otherwise be read forever.
// Every failure is a ConfigError naming `field` and the path.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>

#include "partition/error.hpp"

namespace trainmem::tools {

inline constexpr std::size_t kMaxInputFileBytes = std::size_t{16} << 20;  // 16 MiB; real files are a few KiB

// `expected` completes "is a directory, not ...": "a YAML file", "config.json".
inline std::string read_input_file(const std::string& field, const std::string& path, const std::string& expected) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ConfigError(field, path, "file not found");
  if (fs::is_directory(path, ec)) throw ConfigError(field, path, "is a directory, not " + expected);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(field, path, "cannot be opened");
  std::string text;
  std::array<char, 65536> chunk{};
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxInputFileBytes)
      throw ConfigError(field, path, "is larger than " + std::to_string(kMaxInputFileBytes >> 20) + " MiB");
  }
  if (in.bad()) throw ConfigError(field, path, "cannot be read");
  return text;
}

}  // namespace trainmem::tools
