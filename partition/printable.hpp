// Text from the user made safe to print in one error line: characters that are invisible, look like ASCII but
// are not, or break the line are written as escapes, so `--model llama2<U+2011>7b` shows `llama2\u20117b`.
#pragma once

#include <string>
#include <string_view>

namespace trainmem {

// Escapes C0/C1 controls and DEL (\n, \t, \r, or \u00XX), Unicode spaces other than ' ' (U+00A0, U+2000..U+200A,
// U+202F, U+205F, U+3000), zero-width and joiner characters (U+200B..U+200D, U+2060..U+2064, U+FEFF),
// bidirectional marks and overrides (U+200E, U+200F, U+061C, U+202A..U+202E, U+2066..U+2069), the hyphen and
// minus look-alikes of '-' (U+2010..U+2015, U+2212), soft hyphen U+00AD, line/paragraph separators, variation
// selectors and tag characters as \uXXXX (\UXXXXXXXX above U+FFFF); bytes that are not UTF-8 as \xNN.
// Everything else, ASCII and visible non-ASCII letters alike, is kept as it is.
std::string printable(std::string_view text);

}  // namespace trainmem
