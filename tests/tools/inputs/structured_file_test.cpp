// parse_structured_text(): text that is not well-formed UTF-8 is refused naming the byte, before a YAML scalar
// becomes a json string that nlohmann::json would refuse to print (type_error 316) in an error message. The byte
// sequences are ill-formed by Unicode 15 section 3.9 table 3-7 (an overlong slash, a UTF-16 surrogate, a value
// above U+10FFFF, a truncated sequence), written out by hand.
#include "tools/inputs/structured_file.hpp"

#include <gtest/gtest.h>

#include <string>

#include "partition/error.hpp"

namespace trainmem::tools {
namespace {

std::string refusal(const std::string& text) {
  try {
    (void)parse_structured_text("hf_training_args", "args.yaml", text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(StructuredFile, RefusesIllFormedUtf8NamingTheByte) {
  // "output_dir: " is 12 bytes, so the bad scalar starts at byte 12.
  EXPECT_NE(refusal("output_dir: \xC0\xAF\n").find("is not UTF-8 text (byte 12)"), std::string::npos);
  EXPECT_NE(refusal("output_dir: \xED\xA0\x80\n").find("(byte 12)"), std::string::npos);      // U+D800
  EXPECT_NE(refusal("output_dir: \xF4\x90\x80\x80\n").find("(byte 12)"), std::string::npos);  // > U+10FFFF
  EXPECT_NE(refusal("output_dir: ab\xE6\xA8").find("(byte 14)"), std::string::npos);          // truncated
  EXPECT_NE(refusal("{\"output_dir\": \"\xFF\"}").find("(byte 16)"), std::string::npos);      // JSON too
}

TEST(StructuredFile, KeepsWellFormedNonAsciiText) {
  // "/home/josé/模型": é is C3 A9, 模 E6 A8 A1, 型 E5 9E 8B.
  const auto j = parse_structured_text("hf_training_args", "args.yaml",
                                       "output_dir: /home/jos\xC3\xA9/\xE6\xA8\xA1\xE5\x9E\x8B\n");
  EXPECT_EQ(j.at("output_dir").get<std::string>(), "/home/jos\xC3\xA9/\xE6\xA8\xA1\xE5\x9E\x8B");
}

}  // namespace
}  // namespace trainmem::tools
