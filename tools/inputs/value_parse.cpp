#include "tools/inputs/value_parse.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "partition/error.hpp"

namespace trainmem::tools {
namespace {
std::string trim(const std::string& t) {
  const auto b = t.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = t.find_last_not_of(" \t");
  return t.substr(b, e - b + 1);
}

// Parses a finite non-negative decimal (scientific notation allowed) as long double; false when not one.
bool parse_decimal(const std::string& text, long double& out) {
  if (text.empty() || text[0] == '-' || text[0] == '+') return false;
  for (char ch : text)
    if (!(std::isdigit(static_cast<unsigned char>(ch)) || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' ||
          ch == '-'))
      return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtold(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(out);
}
}  // namespace

std::int64_t parse_int(const std::string& field, const std::string& raw, std::int64_t lo, std::int64_t hi,
                       std::string_view domain) {
  const std::string text = trim(raw);
  const std::string range = domain.empty()
                                ? "must be a whole number between " + std::to_string(lo) + " and " + std::to_string(hi)
                                : std::string(domain);
  if (text.empty()) throw ConfigError(field, "''", range);
  std::size_t i = 0;
  const bool negative = text[0] == '-';
  if (negative || text[0] == '+') i = 1;
  if (i == text.size()) throw ConfigError(field, text, range);
  std::uint64_t v = 0;
  for (; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch < '0' || ch > '9') throw ConfigError(field, text, range);
    if (v > (UINT64_MAX - 9) / 10) throw ConfigError(field, text, range);
    v = v * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  if (v > static_cast<std::uint64_t>(INT64_MAX)) throw ConfigError(field, text, range);
  const std::int64_t sv = negative ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
  if (sv < lo || sv > hi) throw ConfigError(field, text, range);
  return sv;
}

std::uint64_t parse_count(const std::string& field, const std::string& raw, std::uint64_t lo, std::uint64_t hi) {
  std::string text = trim(raw);
  const std::string range = "must be a whole number between " + std::to_string(lo) + " and " + std::to_string(hi) +
                            " (7.5e9 and 7.5B are accepted)";
  long double scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K':
      case 'k': scale = 1e3L; break;
      case 'M':
      case 'm': scale = 1e6L; break;
      case 'B':
      case 'b':
      case 'G':
      case 'g': scale = 1e9L; break;
      case 'T':
      case 't': scale = 1e12L; break;
      default: break;
    }
    if (scale != 1) text.pop_back();
  }
  long double v = 0;
  if (!parse_decimal(text, v)) throw ConfigError(field, raw, range);
  v *= scale;
  if (v < static_cast<long double>(lo) || v > static_cast<long double>(hi)) throw ConfigError(field, raw, range);
  if (std::floor(v) != v) throw ConfigError(field, raw, "is not a whole number");
  return static_cast<std::uint64_t>(v);
}

Bytes parse_size(const std::string& field, const std::string& raw, BareNumber bare) {
  const std::string text = trim(raw);
  struct Unit {
    const char* suffix;  // matched case-insensitively: 80gib = 80GiB, 80gb = 80GB
    long double factor;
  };
  static constexpr Unit kUnits[] = {{"TiB", 1099511627776.0L},
                                    {"GiB", 1073741824.0L},
                                    {"MiB", 1048576.0L},
                                    {"KiB", 1024.0L},
                                    {"TB", 1e12L},
                                    {"GB", 1e9L},
                                    {"MB", 1e6L},
                                    {"KB", 1e3L},
                                    {"B", 1.0L}};
  const std::string usage = "must be a size such as 80GiB, 81559MiB, 80GB (10^9 bytes) or 1024B";
  const auto ends_with = [&](std::string_view suf) {
    if (text.size() <= suf.size()) return false;
    for (std::size_t i = 0; i < suf.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(text[text.size() - suf.size() + i])) !=
          std::tolower(static_cast<unsigned char>(suf[i])))
        return false;
    return true;
  };
  std::string number = text;
  long double factor = 0;  // 0: no unit
  for (const auto& u : kUnits) {
    if (ends_with(u.suffix)) {
      number = trim(text.substr(0, text.size() - std::string_view(u.suffix).size()));
      factor = u.factor;
      break;
    }
  }
  long double v = 0;
  if (factor == 0) {
    // A bare number, or a one-letter suffix (80G, 80Gi): memory sizes name their unit. Parameter counts take
    // K/M/B/G/T as powers of 1000 (parse_count), but for memory "G" is ambiguous between GB and GiB.
    std::string digits = text;
    std::string letter;
    if (!digits.empty() && (digits.back() == 'i' || digits.back() == 'I')) digits.pop_back();
    if (!digits.empty() && std::string_view("KkMmGgTt").find(digits.back()) != std::string_view::npos) {
      letter.assign(1, static_cast<char>(std::toupper(static_cast<unsigned char>(digits.back()))));
      digits.pop_back();
    }
    if (!parse_decimal(trim(digits), v)) throw ConfigError(field, raw, usage);
    if (letter.empty() && bare == BareNumber::bytes) {
      factor = 1;
    } else {
      const std::string n = trim(digits);
      const std::string l = letter.empty() ? "G" : letter;
      throw ConfigError(field, raw,
                        std::string(letter.empty() ? "has no unit" : "has an ambiguous unit") + ": write " + n + l +
                            "B (10^" + std::to_string(3 * (std::string_view("KMGT").find(l[0]) + 1)) + " bytes) or " +
                            n + l + "iB (2^" + std::to_string(10 * (std::string_view("KMGT").find(l[0]) + 1)) +
                            " bytes)" + (letter.empty() ? ", or " + n + "B for a byte count" : ""));
    }
  } else if (!parse_decimal(number, v)) {
    throw ConfigError(field, raw, usage);
  }
  v *= factor;
  if (v < 1 || v > 1e18L) throw ConfigError(field, raw, "must be between 1 byte and 10^18 bytes");
  return Bytes(static_cast<std::uint64_t>(std::floor(v)));
}

bool parse_bool(const std::string& field, const std::string& raw) {
  const std::string t = trim(raw);
  if (t == "true" || t == "True" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "False" || t == "0" || t == "no" || t == "off") return false;
  throw ConfigError(field, raw, "must be true or false");
}

std::string parse_choice(const std::string& field, const std::string& raw,
                         std::initializer_list<std::string_view> choices) {
  std::string t = trim(raw);  // not const: returned by value (moved)
  std::string list;
  for (auto c : choices) {
    if (c == t) return t;
    list += (list.empty() ? "" : ", ") + std::string(c);
  }
  throw ConfigError(field, raw, "must be one of " + list);
}

}  // namespace trainmem::tools
