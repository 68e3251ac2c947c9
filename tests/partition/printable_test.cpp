// printable(): the escapes that make user text in an error line show what is really there. Each expected string
// is written from the Unicode code point of the input (U+2011 is UTF-8 E2 80 91, and so on).
#include "partition/printable.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"

namespace trainmem {
namespace {

TEST(Printable, EscapesInvisibleAndLookAlikeCharacters) {
  EXPECT_EQ(printable("llama2\xE2\x80\x91"
                      "7b"),
            "llama2\\u20117b");                                       // U+2011 non-breaking hyphen
  EXPECT_EQ(printable("llama2-7b\xE2\x80\x8B"), "llama2-7b\\u200b");  // U+200B zero-width space
  EXPECT_EQ(printable("h100\xC2\xA0"
                      "80gb"),
            "h100\\u00a080gb");  // U+00A0 no-break space
  EXPECT_EQ(printable("a\xE2\x80\x8F"
                      "b\xE2\x80\xAE"
                      "c"),
            "a\\u200fb\\u202ec");                             // RLM, RTL override
  EXPECT_EQ(printable("\xEF\xBB\xBFmodel"), "\\ufeffmodel");  // U+FEFF byte-order mark
  EXPECT_EQ(printable("x\xE2\x88\x92"
                      "1"),
            "x\\u22121");  // U+2212 minus sign
  EXPECT_EQ(printable("a\tb\nc\rd\x01"
                      "e\x7F"),
            "a\\tb\\nc\\rd\\u0001e\\u007f");                // C0 controls and DEL
  EXPECT_EQ(printable("\xC2\x85"), "\\u0085");              // U+0085, a C1 control
  EXPECT_EQ(printable("\xF3\xA0\x80\x81"), "\\U000e0001");  // U+E0001 language tag
}

TEST(Printable, KeepsVisibleTextAndEscapesBytesThatAreNotUtf8) {
  EXPECT_EQ(printable("tensor_model_parallel_size = 3: (did you mean 'x'?)"),
            "tensor_model_parallel_size = 3: (did you mean 'x'?)");
  EXPECT_EQ(printable("/home/jos\xC3\xA9/\xE6\xA8\xA1\xE5\x9E\x8B.json"),
            "/home/jos\xC3\xA9/\xE6\xA8\xA1\xE5\x9E\x8B.json");  // é and CJK letters stay
  EXPECT_EQ(printable("\xFF"), "\\xff");
  EXPECT_EQ(printable("\xC0\xAF"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(printable("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // a UTF-16 surrogate
  EXPECT_EQ(printable("\xE2\x80"), "\\xe2\\x80");           // truncated sequence
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, ConfigErrorEscapesItsMessageButKeepsTheFields) {
  const ConfigError e("model",
                      "llama2\xE2\x80\x91"
                      "7b",
                      "unknown preset");
  EXPECT_STREQ(e.what(), "model = llama2\\u20117b: unknown preset");
  EXPECT_EQ(e.value(),
            "llama2\xE2\x80\x91"
            "7b");
  EXPECT_EQ(e.reason(), "unknown preset");
}

}  // namespace
}  // namespace trainmem
