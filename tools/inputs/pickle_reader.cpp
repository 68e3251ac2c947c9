#include "tools/inputs/pickle_reader.hpp"

#include <bit>
#include <cstring>
#include <sstream>
#include <unordered_map>

#include "partition/error.hpp"

namespace trainmem::tools {
namespace {

using Ptr = std::shared_ptr<PickleValue>;
using Kind = PickleValue::Kind;

// Names of the opcodes of pickle protocols 0-5 (Lib/pickletools.py), for the refusal message.
const char* opcode_name(unsigned char op) {
  switch (op) {
    case 'c': return "GLOBAL";
    case 0x93: return "STACK_GLOBAL";
    case 'R': return "REDUCE";
    case 'b': return "BUILD";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 0x8b: return "LONG4";
    case 'F': return "FLOAT";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8e: return "BINBYTES8";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'p': return "PUT";
    case 'g': return "GET";
    default: return "unknown";
  }
}

class Reader {
 public:
  Reader(std::string_view bytes, const std::string& field, const std::string& source, const PickleLimits& limits)
      : b_(bytes), field_(field), source_(source), limits_(limits) {
    if (limits_.max_depth > 200) throw ConfigError("max_depth", std::to_string(limits_.max_depth), "at most 200");
  }

  PickleDocument run() {
    if (b_.empty()) fail(0, "is empty, not a pickle");
    if (static_cast<unsigned char>(b_[0]) != 0x80)
      fail(0, "does not start with a pickle PROTO opcode (0x80): not a protocol 2-5 pickle");
    while (true) {
      if (pos_ >= b_.size()) fail(pos_, "ends before the pickle's STOP opcode (truncated)");
      const std::size_t at = pos_;
      const auto op = static_cast<unsigned char>(b_[pos_++]);
      if (op == '.') break;
      step(op, at);
    }
    if (stack_.size() != 1 || !marks_.empty())
      fail(pos_ - 1, "STOP with " + std::to_string(stack_.size()) + " values on the stack and open MARKs");
    return PickleDocument{stack_.back(), values_};
  }

 private:
  [[noreturn]] void fail(std::size_t at, const std::string& why) const {
    throw ConfigError(field_, source_, "byte " + std::to_string(at) + ": " + why);
  }

  std::string_view take(std::size_t n, std::size_t at, const char* what) {
    if (n > b_.size() - pos_)
      fail(at, std::string(what) + " of " + std::to_string(n) + " bytes runs past the end of the file (" +
                   std::to_string(b_.size() - pos_) + " left)");
    const std::string_view s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::uint64_t le(std::size_t n, std::size_t at, const char* what) {
    const std::string_view s = take(n, at, what);
    std::uint64_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(s[i]);
    return v;
  }

  Ptr make(Kind k, std::size_t at) {
    if (++values_ > limits_.max_values)
      fail(at, "more than " + std::to_string(limits_.max_values) + " values (the reader's limit)");
    auto v = std::make_shared<PickleValue>();
    v->kind = k;
    if (v->is_container()) v->depth = 1;
    return v;
  }
  void push(Ptr v) {
    if (stack_.size() >= limits_.max_values)
      fail(pos_, "more than " + std::to_string(limits_.max_values) + " values on the stack");
    stack_.push_back(std::move(v));
  }
  Ptr pop(std::size_t at, const char* op) {
    if (stack_.size() <= floor()) fail(at, std::string(op) + " with nothing on the stack above the last MARK");
    Ptr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<Ptr> pop_mark(std::size_t at, const char* op) {
    if (marks_.empty()) fail(at, std::string(op) + " without a MARK");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ptr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }
  Ptr& top(std::size_t at, const char* op) {
    if (stack_.size() <= floor()) fail(at, std::string(op) + " with no container on the stack");
    return stack_.back();
  }

  // Puts `child` into `parent` (items appended as given); the child is frozen from then on.
  void insert(PickleValue& parent, std::vector<Ptr> children, std::size_t at, const char* op) {
    for (const Ptr& c : children) {
      if (c->is_container()) c->frozen = true;
      if (c->depth + 1u > limits_.max_depth)
        fail(at, "containers nested more than " + std::to_string(limits_.max_depth) + " deep (the reader's limit)");
      parent.depth = std::max<std::uint8_t>(parent.depth, static_cast<std::uint8_t>(c->depth + 1));
    }
    if (parent.frozen)
      fail(at, std::string(op) + " changes a container already inside another (a self-referencing pickle)");
    for (Ptr& c : children) parent.items.push_back(std::move(c));
  }
  Ptr container(Kind k, std::vector<Ptr> children, std::size_t at, const char* op) {
    Ptr v = make(k, at);
    insert(*v, std::move(children), at, op);
    return v;
  }
  void append_to(Kind want, std::vector<Ptr> children, std::size_t at, const char* op) {
    Ptr& t = top(at, op);
    if (t->kind != want)
      fail(at, std::string(op) + " on a " + pickle_kind_name(t->kind) + ", not a " + pickle_kind_name(want));
    if (want == Kind::dict && children.size() % 2 != 0) fail(at, std::string(op) + " with a key and no value");
    if (want == Kind::dict)
      for (std::size_t i = 0; i < children.size(); i += 2)
        if (children[i]->is_container())
          fail(at, std::string("a ") + pickle_kind_name(children[i]->kind) + " as a dict key");
    insert(*t, std::move(children), at, op);
  }
  void memo_put(std::uint64_t idx, std::size_t at) {
    if (stack_.size() <= floor()) fail(at, "memo store with nothing on the stack");
    if (memo_.size() >= limits_.max_values && !memo_.contains(idx))
      fail(at, "more than " + std::to_string(limits_.max_values) + " memo entries");
    memo_[idx] = stack_.back();
  }
  void memo_get(std::uint64_t idx, std::size_t at) {
    const auto it = memo_.find(idx);
    if (it == memo_.end()) fail(at, "memo reference " + std::to_string(idx) + " to nothing stored");
    push(it->second);
  }
  Ptr scalar_int(std::int64_t v, std::size_t at) {
    Ptr p = make(Kind::integer, at);
    p->integer = v;
    return p;
  }
  Ptr string(std::size_t n, std::size_t at) {
    Ptr p = make(Kind::string, at);
    p->text = std::string(take(n, at, "a string"));
    return p;
  }

  void step(unsigned char op, std::size_t at) {
    switch (op) {
      case 0x80: {  // PROTO
        const auto v = le(1, at, "PROTO");
        if (v < 2 || v > 5) fail(at, "pickle protocol " + std::to_string(v) + " (2 to 5 are read)");
        return;
      }
      case 0x95: {  // FRAME: a length hint; the opcodes follow inline
        const auto n = le(8, at, "FRAME");
        if (n > b_.size() - pos_) fail(at, "FRAME of " + std::to_string(n) + " bytes runs past the end of the file");
        return;
      }
      case '(':
        if (marks_.size() >= limits_.max_depth)
          fail(at, "more than " + std::to_string(limits_.max_depth) + " open MARKs (the reader's nesting limit)");
        marks_.push_back(stack_.size());
        return;
      case '}': push(make(Kind::dict, at)); return;
      case ']': push(make(Kind::list, at)); return;
      case ')': push(make(Kind::tuple, at)); return;
      case 'd': {  // DICT: key, value pairs above the mark, checked as SETITEMS checks them
        std::vector<Ptr> items = pop_mark(at, "DICT");
        push(make(Kind::dict, at));
        append_to(Kind::dict, std::move(items), at, "DICT");
        return;
      }
      case 'l': push(container(Kind::list, pop_mark(at, "LIST"), at, "LIST")); return;
      case 't': push(container(Kind::tuple, pop_mark(at, "TUPLE"), at, "TUPLE")); return;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        std::vector<Ptr> items(op - 0x84);
        for (std::size_t i = items.size(); i-- > 0;) items[i] = pop(at, "TUPLEn");
        push(container(Kind::tuple, std::move(items), at, "TUPLEn"));
        return;
      }
      case 'a': {
        Ptr v = pop(at, "APPEND");
        append_to(Kind::list, {std::move(v)}, at, "APPEND");
        return;
      }
      case 'e': append_to(Kind::list, pop_mark(at, "APPENDS"), at, "APPENDS"); return;
      case 's': {
        Ptr v = pop(at, "SETITEM");
        Ptr k = pop(at, "SETITEM");
        append_to(Kind::dict, {std::move(k), std::move(v)}, at, "SETITEM");
        return;
      }
      case 'u': append_to(Kind::dict, pop_mark(at, "SETITEMS"), at, "SETITEMS"); return;
      case 'N': push(make(Kind::none, at)); return;
      case 0x88:
      case 0x89: {
        Ptr p = make(Kind::boolean, at);
        p->integer = op == 0x88 ? 1 : 0;
        push(std::move(p));
        return;
      }
      case 'J':
        push(scalar_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(le(4, at, "BININT"))), at));
        return;
      case 'K': push(scalar_int(static_cast<std::int64_t>(le(1, at, "BININT1")), at)); return;
      case 'M': push(scalar_int(static_cast<std::int64_t>(le(2, at, "BININT2")), at)); return;
      case 0x8a: {  // LONG1: n little-endian two's-complement bytes
        const auto n = le(1, at, "LONG1");
        if (n > 8) fail(at, "LONG1 integer of " + std::to_string(n) + " bytes (at most 8: a 64-bit integer)");
        std::uint64_t v = n == 0 ? 0 : le(n, at, "LONG1");
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) != 0) v |= ~std::uint64_t{0} << (8 * n);  // sign-extend
        push(scalar_int(static_cast<std::int64_t>(v), at));
        return;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        const std::string_view s = take(8, at, "BINFLOAT");
        std::uint64_t v = 0;
        for (char c : s) v = (v << 8) | static_cast<unsigned char>(c);
        Ptr p = make(Kind::floating, at);
        p->floating = std::bit_cast<double>(v);
        push(std::move(p));
        return;
      }
      case 0x8c: push(string(le(1, at, "SHORT_BINUNICODE"), at)); return;
      case 'X': push(string(le(4, at, "BINUNICODE"), at)); return;
      case 0x8d: push(string(le(8, at, "BINUNICODE8"), at)); return;
      case 0x94: memo_put(memo_.size(), at); return;  // MEMOIZE
      case 'q': memo_put(le(1, at, "BINPUT"), at); return;
      case 'r': memo_put(le(4, at, "LONG_BINPUT"), at); return;
      case 'h': memo_get(le(1, at, "BINGET"), at); return;
      case 'j': memo_get(le(4, at, "LONG_BINGET"), at); return;
      default: {
        std::ostringstream o;
        o << "pickle opcode " << opcode_name(op) << " (0x" << std::hex << static_cast<int>(op) << std::dec
          << ") refused: a memory snapshot holds only dicts, lists, tuples, numbers and strings, and this reader "
             "never imports or calls anything";
        fail(at, o.str());
      }
    }
  }

  std::string_view b_;
  const std::string& field_;
  const std::string& source_;
  const PickleLimits& limits_;
  std::size_t pos_ = 0;
  std::size_t values_ = 0;
  std::vector<Ptr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Ptr> memo_;
};

}  // namespace

const PickleValue* PickleValue::find(std::string_view key) const {
  if (kind != Kind::dict) return nullptr;
  for (std::size_t i = 0; i + 1 < items.size(); i += 2)
    if (items[i]->kind == Kind::string && items[i]->text == key) return items[i + 1].get();
  return nullptr;
}

const char* pickle_kind_name(PickleValue::Kind k) {
  switch (k) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::list: return "list";
    case Kind::tuple: return "tuple";
    case Kind::dict: return "dict";
  }
  return "value";
}

PickleDocument read_pickle(std::string_view bytes, const std::string& field, const std::string& source,
                           const PickleLimits& limits) {
  return Reader(bytes, field, source, limits).run();
}

}  // namespace trainmem::tools
