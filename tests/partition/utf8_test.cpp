// first_invalid_utf8() / decode_utf8(): the byte sequences are written out by hand from Unicode 15 section 3.9
// table 3-7 (U+00E9 is C3 A9, U+1F600 is F0 9F 98 80; C0 AF is an overlong '/', ED A0 80 the surrogate U+D800).
#include "partition/utf8.hpp"

#include <gtest/gtest.h>

namespace trainmem {
namespace {

TEST(Utf8, FirstInvalidUtf8FindsTheFirstIllFormedByte) {
  EXPECT_EQ(first_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(first_invalid_utf8("jos\xC3\xA9 \xF0\x9F\x98\x80"), std::string_view::npos);  // U+00E9, U+1F600
  EXPECT_EQ(first_invalid_utf8(""), std::string_view::npos);
  EXPECT_EQ(first_invalid_utf8("ab\xC0\xAF"), 2U);        // overlong '/'
  EXPECT_EQ(first_invalid_utf8("a\xED\xA0\x80"), 1U);     // U+D800, a UTF-16 surrogate
  EXPECT_EQ(first_invalid_utf8("\xF4\x90\x80\x80"), 0U);  // U+110000, above the last code point
  EXPECT_EQ(first_invalid_utf8("abc\xE2\x80"), 3U);       // truncated at the end
  EXPECT_EQ(first_invalid_utf8("\xC3\xA9\x80"), 2U);      // a lone continuation byte after a good one
}

TEST(Utf8, DecodeGivesTheCodePointAndLength) {
  std::uint32_t cp = 0;
  EXPECT_EQ(decode_utf8("\xC3\xA9", 0, cp), 2U);
  EXPECT_EQ(cp, 0xE9U);
  EXPECT_EQ(decode_utf8("x\xF0\x9F\x98\x80", 1, cp), 4U);
  EXPECT_EQ(cp, 0x1F600U);
  EXPECT_EQ(decode_utf8("\xE2\x80\x91", 0, cp), 3U);
  EXPECT_EQ(cp, 0x2011U);
  EXPECT_EQ(decode_utf8("\xE0\x80\xAF", 0, cp), 0U);  // overlong 3-byte '/'
}

}  // namespace
}  // namespace trainmem
