// The JSON reader shared by config.json and ds_config.json: malformed text, a top level that is no object and a
// key given twice in one object are ConfigErrors. nlohmann::json (like Python's json.load) keeps one of two equal
// keys silently, so `{"num_hidden_layers": 32, "num_hidden_layers": 2}` would be sized as either model.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace trainmem::tools {

// `field` and `origin` name the file in errors about the whole text ("model_config = PATH: malformed JSON ...");
// a duplicate key is reported as "KEY.PATH (in `in`) = (duplicate key): ...", the path dotted from the top.
nlohmann::json parse_json_object(const std::string& text, const std::string& field, const std::string& origin,
                                 const std::string& in);

}  // namespace trainmem::tools
