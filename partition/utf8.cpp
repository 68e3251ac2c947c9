#include "partition/utf8.hpp"

namespace trainmem {

std::size_t decode_utf8(std::string_view text, std::size_t i, std::uint32_t& code_point) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
  const std::uint8_t b0 = byte(i);
  std::size_t len = 0;
  std::uint32_t min = 0;
  std::uint32_t cp = 0;
  if (b0 < 0x80) {
    code_point = b0;
    return 1;
  }
  if ((b0 & 0xE0U) == 0xC0U)
    len = 2, cp = b0 & 0x1FU, min = 0x80;
  else if ((b0 & 0xF0U) == 0xE0U)
    len = 3, cp = b0 & 0x0FU, min = 0x800;
  else if ((b0 & 0xF8U) == 0xF0U)
    len = 4, cp = b0 & 0x07U, min = 0x10000;
  else
    return 0;
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0U) != 0x80U) return 0;
    cp = (cp << 6U) | (byte(i + k) & 0x3FU);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  code_point = cp;
  return len;
}

std::size_t first_invalid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = decode_utf8(text, i, cp);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace trainmem
