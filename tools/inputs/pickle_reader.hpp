// A bounded, safe reader of Python pickles that hold only data: the subset a PyTorch memory snapshot
// (`torch.cuda.memory._dump_snapshot`, pickle protocol 2-5) is written with. Nothing is ever imported, called or
// constructed: GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, PERSID, EXT* and every other opcode outside
// the list below are refused with a ConfigError naming the opcode and its byte offset.
//
// Accepted: PROTO, FRAME, STOP, MARK; EMPTY_DICT/LIST/TUPLE, DICT, LIST, TUPLE, TUPLE1-3, APPEND(S), SETITEM(S);
// NONE, NEWTRUE, NEWFALSE, BININT, BININT1, BININT2, LONG1 (at most 8 bytes: int64), BINFLOAT; SHORT_BINUNICODE,
// BINUNICODE, BINUNICODE8; MEMOIZE, BINPUT, LONG_BINPUT, BINGET, LONG_BINGET (a memo reference shares the object).
//
// Bounds: every length field is checked against the bytes left; at most PickleLimits::max_values values are
// made and containers nest at most max_depth deep. A container cannot be changed once it is inside another, so
// no pickle can build a cycle (a list that contains itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace trainmem::tools {

struct PickleLimits {
  std::size_t max_depth = 64;
  std::size_t max_values = std::size_t{8} << 20;  // ~90 bytes each: under 1 GiB
};

struct PickleValue {
  enum class Kind : std::uint8_t { none, boolean, integer, floating, string, list, tuple, dict };
  Kind kind = Kind::none;
  bool frozen = false;       // inside another container: no more changes
  std::uint8_t depth = 0;    // 0 for a scalar, 1 + the deepest child for a container
  std::int64_t integer = 0;  // integer, or boolean (0/1)
  double floating = 0;
  std::string text;
  std::vector<std::shared_ptr<PickleValue>> items;  // list/tuple items; dict: key, value, key, value...

  bool is_container() const { return kind == Kind::list || kind == Kind::tuple || kind == Kind::dict; }
  std::size_t size() const { return kind == Kind::dict ? items.size() / 2 : items.size(); }
  // The value of a dict's string key, or nullptr (none when not a dict).
  const PickleValue* find(std::string_view key) const;
};

struct PickleDocument {
  std::shared_ptr<PickleValue> root;
  std::size_t values = 0;  // values made (memo references not counted)
};

// `field` and `source` name the input in errors ("measured", the path): "measured = PATH: pickle opcode ...".
PickleDocument read_pickle(std::string_view bytes, const std::string& field, const std::string& source,
                           const PickleLimits& limits = {});

// "dict", "list", ... for messages.
const char* pickle_kind_name(PickleValue::Kind k);

}  // namespace trainmem::tools
