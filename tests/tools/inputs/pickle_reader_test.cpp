// The safe pickle reader: Python's own pickle output read back value by value, and every refusal (code objects,
// truncation, huge lengths, deep nesting, cycles) a ConfigError naming the opcode or the limit and the byte.
// The byte strings are Python 3.11 `pickle.dumps(..., protocol=N)` output (the expression is beside each).
#include "tools/inputs/pickle_reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "partition/error.hpp"

namespace trainmem::tools {
namespace {

using ::testing::HasSubstr;
using Kind = PickleValue::Kind;

PickleDocument read(const std::string& bytes, const PickleLimits& limits = {}) {
  return read_pickle(bytes, "measured", "x.pickle", limits);
}
std::string error_of(const std::string& bytes, const PickleLimits& limits = {}) {
  try {
    read(bytes, limits);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}
std::string lit(const char* s, std::size_t n) { return std::string(s, n); }
#define BYTES(s) lit(s, sizeof(s) - 1)

// pickle.dumps({'a': [1, -2, 300, 70000, 2**40, -2**40, 1.5, None, True, False, 'xyz'], 't': (1, 2)}, protocol=4)
const std::string kDict = BYTES(
    "\x80\x04\x95\x48\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01\x61\x94\x5d\x94\x28\x4b\x01\x4a\xfe\xff\xff\xff"
    "\x4d\x2c\x01\x4a\x70\x11\x01\x00\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x06\x00\x00\x00\x00\x00\xff\x47\x3f\xf8\x00"
    "\x00\x00\x00\x00\x00\x4e\x88\x89\x8c\x03\x78\x79\x7a\x94\x65\x8c\x01\x74\x94\x4b\x01\x4b\x02\x86\x94\x75\x2e");

TEST(PickleReader, ReadsWhatPythonWrote) {
  const PickleDocument d = read(kDict);
  ASSERT_EQ(d.root->kind, Kind::dict);
  const PickleValue* a = d.root->find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->kind, Kind::list);
  ASSERT_EQ(a->size(), 11u);
  const std::int64_t ints[] = {1, -2, 300, 70000, std::int64_t{1} << 40, -(std::int64_t{1} << 40)};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(a->items[i]->kind, Kind::integer);
    EXPECT_EQ(a->items[i]->integer, ints[i]) << i;
  }
  EXPECT_EQ(a->items[6]->floating, 1.5);
  EXPECT_EQ(a->items[7]->kind, Kind::none);
  EXPECT_EQ(a->items[8]->integer, 1);
  EXPECT_EQ(a->items[9]->integer, 0);
  EXPECT_EQ(a->items[10]->text, "xyz");
  const PickleValue* t = d.root->find("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->kind, Kind::tuple);
  EXPECT_EQ(t->items[1]->integer, 2);
  EXPECT_EQ(d.root->find("missing"), nullptr);
  EXPECT_EQ(d.root->depth, 2);
}

TEST(PickleReader, MemoReferencesShareTheObject) {
  // x = {'k': 1}; pickle.dumps([x, x], protocol=4): the second is BINGET 1
  const PickleDocument d =
      read(BYTES("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x7d\x94\x8c\x01\x6b\x94"
                 "\x4b\x01\x73\x68\x01\x65\x2e"));
  ASSERT_EQ(d.root->size(), 2u);
  EXPECT_EQ(d.root->items[0].get(), d.root->items[1].get());
  EXPECT_EQ(d.values, 4u);  // list, dict, 'k', 1
}

TEST(PickleReader, RefusesCodeWithTheOpcodeAndByte) {
  // class E: __reduce__ = lambda self: (os.system, ('true',)); pickle.dumps(E(), protocol=4): STACK_GLOBAL at 28
  const std::string p4 = BYTES(
      "\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x05\x70\x6f\x73\x69\x78\x94\x8c\x06\x73\x79\x73\x74\x65\x6d\x94"
      "\x93\x94\x8c\x04\x74\x72\x75\x65\x94\x85\x94\x52\x94\x2e");
  EXPECT_THAT(error_of(p4), HasSubstr("measured = x.pickle: byte 28: pickle opcode STACK_GLOBAL (0x93) refused"));
  // protocol=2: GLOBAL 'posix system' at byte 2
  const std::string p2 = BYTES(
      "\x80\x02\x63\x70\x6f\x73\x69\x78\x0a\x73\x79\x73\x74\x65\x6d\x0a\x71\x00\x58\x04\x00\x00\x00\x74\x72\x75\x65\x71"
      "\x01\x85\x71\x02\x52\x71\x03\x2e");
  EXPECT_THAT(error_of(p2), HasSubstr("byte 2: pickle opcode GLOBAL (0x63) refused"));
  // REDUCE, BUILD, INST, OBJ, NEWOBJ, PERSID as the first opcode after PROTO
  for (const auto& [op, name] : std::vector<std::pair<char, std::string>>{
           {'R', "REDUCE"}, {'b', "BUILD"}, {'i', "INST"}, {'o', "OBJ"}, {'\x81', "NEWOBJ"}, {'P', "PERSID"}})
    EXPECT_THAT(error_of(std::string("\x80\x04", 2) + op + "."), HasSubstr("byte 2: pickle opcode " + name)) << name;
}

TEST(PickleReader, RefusesTruncatedAndHugeLengths) {
  // Protocol 4 announces each frame's length: a cut inside it is caught at the FRAME.
  EXPECT_THAT(error_of(kDict.substr(0, 40)), HasSubstr("byte 2: FRAME of 72 bytes runs past the end of the file"));
  // pickle.dumps([1, 2], protocol=2) has no FRAME: cut before STOP, and inside BININT2.
  const std::string p2 = BYTES("\x80\x02\x5d\x71\x00\x28\x4b\x01\x4b\x02\x65\x2e");
  EXPECT_EQ(read(p2).root->size(), 2u);
  EXPECT_THAT(error_of(p2.substr(0, p2.size() - 1)),
              HasSubstr("byte 11: ends before the pickle's STOP opcode (truncated)"));
  EXPECT_THAT(error_of(BYTES("\x80\x02\x4d\x01")), HasSubstr("byte 2: BININT2 of 2 bytes runs past the end"));
  // BINUNICODE8 claiming 2^62 bytes
  EXPECT_THAT(error_of(BYTES("\x80\x04\x8d\x00\x00\x00\x00\x00\x00\x00\x40xyz.")),
              HasSubstr("byte 2: a string of 4611686018427387904 bytes runs past the end of the file (4 left)"));
  // FRAME claiming 2^40 bytes
  EXPECT_THAT(error_of(BYTES("\x80\x04\x95\x00\x00\x00\x00\x00\x01\x00\x00N.")), HasSubstr("FRAME of 1099511627776"));
  // LONG1 of 9 bytes (beyond int64)
  EXPECT_THAT(error_of(BYTES("\x80\x04\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.")),
              HasSubstr("LONG1 integer of 9"));
  EXPECT_THAT(error_of(""), HasSubstr("is empty"));
  EXPECT_THAT(error_of("{\"a\": 1}"), HasSubstr("does not start with a pickle PROTO"));
  EXPECT_THAT(error_of(BYTES("\x80\x01N.")), HasSubstr("pickle protocol 1"));
}

TEST(PickleReader, BoundsNestingValuesAndCycles) {
  // 100 nested lists: ']' then 99 x (']' ... ) built by hand: EMPTY_LIST x100, then APPEND x99
  std::string deep = "\x80\x04";
  deep += std::string(100, ']') + std::string(99, 'a') + ".";
  EXPECT_THAT(error_of(deep), HasSubstr("containers nested more than 64 deep"));
  std::string ok = "\x80\x04";
  ok += std::string(64, ']') + std::string(63, 'a') + ".";
  EXPECT_EQ(read(ok).root->depth, 64);
  std::string marks = "\x80\x04";
  marks += std::string(100, '(');
  EXPECT_THAT(error_of(marks), HasSubstr("more than 64 open MARKs"));
  PickleLimits few;
  few.max_values = 10;
  EXPECT_THAT(error_of(kDict, few), HasSubstr("more than 10 values"));
  // l = []; l.append(l); pickle.dumps(l, protocol=4): a list inside itself
  EXPECT_THAT(error_of(BYTES("\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x68\x00\x61\x2e")),
              HasSubstr("changes a container already inside another"));
  // a = []; b = [a]; then a.append(b) by hand: EMPTY_LIST MEMOIZE EMPTY_LIST BINGET 0 APPEND APPEND
  EXPECT_THAT(error_of(BYTES("\x80\x04\x5d\x94\x5d\x68\x00\x61\x61.")), HasSubstr("changes a container already"));
  EXPECT_THAT(error_of(BYTES("\x80\x04\x68\x05.")), HasSubstr("memo reference 5 to nothing stored"));
  EXPECT_THAT(error_of(BYTES("\x80\x04\x61.")), HasSubstr("APPEND with nothing on the stack"));
  EXPECT_THAT(error_of(BYTES("\x80\x04NN.")), HasSubstr("STOP with 2 values"));
  EXPECT_THAT(error_of(BYTES("\x80\x04}]N\x73.")), HasSubstr("a list as a dict key"));
  // DICT (protocol 0/1 style, mark-based): pairs only, same key rule
  EXPECT_EQ(read(BYTES("\x80\x02(K\x01K\x02\x64.")).root->size(), 1u);
  EXPECT_THAT(error_of(BYTES("\x80\x02(K\x01\x64.")), HasSubstr("DICT with a key and no value"));
}

}  // namespace
}  // namespace trainmem::tools
