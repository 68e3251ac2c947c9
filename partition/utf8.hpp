// UTF-8 decoding for user text: one decoder for the error-message escapes (printable.hpp) and for the check that
// a settings file is text (tools/inputs/structured_file.cpp). Well-formed means Unicode 15 section 3.9 table 3-7:
// no overlong forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace trainmem {

// Decodes the sequence starting at text[i] (i < text.size()) into `code_point`; returns its length in bytes (1 to
// 4), or 0 when the bytes there are not well-formed UTF-8 (then `code_point` is unspecified).
std::size_t decode_utf8(std::string_view text, std::size_t i, std::uint32_t& code_point);

// The offset of the first byte that does not start a well-formed sequence, or std::string_view::npos when all of
// `text` is UTF-8.
std::size_t first_invalid_utf8(std::string_view text);

}  // namespace trainmem
