#include "tools/inputs/structured_file.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "partition/error.hpp"
#include "partition/utf8.hpp"
#include "tools/inputs/input_file.hpp"

namespace trainmem::tools {
namespace {
using json = nlohmann::json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A plain YAML 1.1 scalar as PyYAML's SafeLoader resolves it.
json plain_scalar(const std::string& s) {
  const std::string l = lower(s);
  if (l == "true" || l == "yes" || l == "on" || l == "y") return true;
  if (l == "false" || l == "no" || l == "off" || l == "n") return false;
  if (s.empty() || l == "null" || s == "~") return nullptr;
  // Hand-written matchers rather than std::regex, whose libstdc++ executor recurses once per character (a 16 MiB
  // scalar would overflow the stack). int: [-+]?(0|[1-9][0-9_]*); float: [-+]?digits?.digits*([eE][-+]?digits)?
  // or digits[eE][-+]?digits (YAML 1.1, as PyYAML resolves it).
  std::size_t i = s[0] == '-' || s[0] == '+' ? 1 : 0;
  const auto digits_from = [&](std::size_t& at, bool underscores) {
    const std::size_t from = at;
    while (at < s.size() && (std::isdigit(static_cast<unsigned char>(s[at])) != 0 || (underscores && s[at] == '_')))
      ++at;
    return at > from;
  };
  std::string digits = s;
  digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
  std::size_t at = i;
  const bool lead = digits_from(at, true);
  if (lead && at == s.size() && (s[i] != '0' || at == i + 1)) {
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(digits.c_str(), &end, 10);
    if (errno == 0 && end != nullptr && *end == '\0') return v;
    return s;  // beyond 64 bits: kept as text, the reader's range check names it
  }
  bool is_float = false;
  if (at < s.size() && s[at] == '.') {
    ++at;
    digits_from(at, true);
    is_float = true;
  }
  if ((lead || is_float) && at < s.size() && (s[at] == 'e' || s[at] == 'E')) {
    std::size_t e = at + 1;
    if (e < s.size() && (s[e] == '-' || s[e] == '+')) ++e;
    if (digits_from(e, false)) at = e, is_float = true;
  }
  if ((lead || is_float) && is_float && at == s.size() && s != "." && s != "-." && s != "+.")
    return std::strtod(digits.c_str(), nullptr);
  return s;
}

json to_json(const YAML::Node& n, const std::string& field, const std::string& origin) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: return n.Tag() == "!" ? json(n.Scalar()) : plain_scalar(n.Scalar());
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& x : n) a.push_back(to_json(x, field, origin));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) throw ConfigError(field, origin, "has a key that is not a plain name");
        const std::string key = kv.first.Scalar();
        if (o.contains(key)) {
          std::string name = key;
          name.append(" (in ").append(origin).append(")");
          throw ConfigError(name, "", "appears more than once");
        }
        o[key] = to_json(kv.second, field, origin);
      }
      return o;
    }
  }
  return nullptr;
}
}  // namespace

nlohmann::json parse_structured_text(const std::string& field, const std::string& origin, const std::string& text) {
  if (text.find('\0') != std::string::npos) throw ConfigError(field, origin, "is a binary file, not JSON or YAML");
  // YAML scalars become json strings, and nlohmann::json refuses to print ill-formed UTF-8 (type_error 316) in
  // every message that quotes a value: refuse it here, naming the byte.
  if (const std::size_t bad = first_invalid_utf8(text); bad != std::string_view::npos)
    throw ConfigError(field, origin, "is not UTF-8 text (byte " + std::to_string(bad) + ")");
  const auto first = text.find_first_not_of(" \t\r\n");
  json j;
  if (first != std::string::npos && text[first] == '{') {
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      throw ConfigError(field, origin, std::string("malformed JSON: ") + e.what());
    }
  } else {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw ConfigError(field, origin,
                        "malformed YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                            std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
    j = to_json(root, field, origin);
  }
  if (!j.is_object()) throw ConfigError(field, origin, "must be a mapping of fields (JSON object or YAML mapping)");
  return j;
}

nlohmann::json load_structured_file(const std::string& field, const std::string& path) {
  return parse_structured_text(field, path, read_input_file(field, path, "a JSON or YAML file"));
}

}  // namespace trainmem::tools
