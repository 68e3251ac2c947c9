#include "partition/printable.hpp"

#include <array>
#include <cstdint>

#include "partition/utf8.hpp"

namespace trainmem {
namespace {

bool needs_escape(std::uint32_t cp) {
  struct Range {
    std::uint32_t lo, hi;
  };
  static constexpr Range kEscaped[] = {
      {0x0000, 0x001F}, {0x007F, 0x00A0}, {0x00AD, 0x00AD}, {0x034F, 0x034F},   {0x061C, 0x061C},
      {0x115F, 0x1160}, {0x17B4, 0x17B5}, {0x180E, 0x180E}, {0x2000, 0x2015},   {0x2028, 0x202F},
      {0x205F, 0x206F}, {0x2212, 0x2212}, {0x3000, 0x3000}, {0x3164, 0x3164},   {0xFE00, 0xFE0F},
      {0xFEFF, 0xFEFF}, {0xFFA0, 0xFFA0}, {0xFFF9, 0xFFFB}, {0x1D173, 0x1D17A}, {0xE0000, 0xE0FFF},
  };
  for (const Range& r : kEscaped)
    if (cp >= r.lo && cp <= r.hi) return true;
  return false;
}

void append_hex(std::string& out, std::uint32_t v, int digits) {
  static constexpr std::array<char, 16> kHex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out += kHex[(v >> shift) & 0xFU];
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8(text, i, cp);
    if (len == 0) {
      out += "\\x";
      append_hex(out, static_cast<std::uint8_t>(text[i]), 2);
      ++i;
      continue;
    }
    if (!needs_escape(cp)) {
      out.append(text.substr(i, len));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp > 0xFFFF) {
      out += "\\U";
      append_hex(out, cp, 8);
    } else {
      out += "\\u";
      append_hex(out, cp, 4);
    }
    i += len;
  }
  return out;
}

}  // namespace trainmem
