// Strict parsing of option values (from flags or YAML) into typed values; every failure is a
// ConfigError naming the field and the text given.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "partition/units.hpp"

namespace trainmem::tools {

// A whole number in [lo, hi]: "8", "4096". The error says "must be a whole number between lo and hi",
// or `domain` when given (a field whose real domain is best said in words).
std::int64_t parse_int(const std::string& field, const std::string& text, std::int64_t lo, std::int64_t hi,
                       std::string_view domain = {});
// A count that may use scientific notation or a K/M/B/T suffix but must be whole: "7.5e9", "175B".
std::uint64_t parse_count(const std::string& field, const std::string& text, std::uint64_t lo, std::uint64_t hi);
// A memory size with its unit (any letter case): B, KiB MiB GiB TiB (powers of 1024), KB MB GB TB (powers of
// 1000). A number without a unit ("80": 80 bytes or 80 GB?) is refused with both spellings suggested unless
// `bare` is BareNumber::bytes (trainmem-validate's byte perturbations); a one-letter unit (80G, 80Gi) is
// always refused as ambiguous. Parameter counts (parse_count) are different: 7G and 7B are 7 * 10^9.
enum class BareNumber { refused, bytes };
Bytes parse_size(const std::string& field, const std::string& text, BareNumber bare = BareNumber::refused);
bool parse_bool(const std::string& field, const std::string& text);
// One of `choices` (exact match); the error lists them.
std::string parse_choice(const std::string& field, const std::string& text,
                         std::initializer_list<std::string_view> choices);

}  // namespace trainmem::tools
