#include "tools/inputs/json_object.hpp"

#include <set>
#include <vector>

#include "partition/error.hpp"

namespace trainmem::tools {
namespace {
using json = nlohmann::json;

// One open object or array while parsing: its dotted path and, for an object, the keys seen so far.
struct Frame {
  std::string path;
  bool array = false;
  std::set<std::string> keys;
  std::string last_key;
};

std::string child_path(const std::vector<Frame>& open) {
  if (open.empty()) return "";
  const Frame& parent = open.back();
  if (parent.array) return parent.path + "[]";
  return parent.path.empty() ? parent.last_key : parent.path + "." + parent.last_key;
}
}  // namespace

json parse_json_object(const std::string& text, const std::string& field, const std::string& origin,
                       const std::string& in) {
  std::vector<Frame> open;
  const json::parser_callback_t check_keys = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        open.push_back(Frame{child_path(open), event == json::parse_event_t::array_start, {}, {}});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key: {
        Frame& obj = open.back();
        obj.last_key = parsed.get<std::string>();
        if (!obj.keys.insert(obj.last_key).second)
          throw ConfigError(child_path(open) + " (in " + in + ")", "(duplicate key)",
                            "appears more than once in the same object; JSON readers keep one of the values "
                            "silently (Python's json.load the last), so give it once");
        break;
      }
      case json::parse_event_t::value: break;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text, check_keys);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for numbers beyond double/int64 (fuzz finding: "1e400").
    throw ConfigError(field, origin, std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) throw ConfigError(field, origin, "must be a JSON object");
  return j;
}

}  // namespace trainmem::tools
