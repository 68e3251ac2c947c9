// Every integer flag quotes its real domain: text that is no number (or beyond 64 bits) gets the same
// "between LO and HI" as the library's own check of an out-of-range number. The library side is called
// directly (sim::resolve_scenario on a scenario with the field set to HI + 1), so this test fails when
// either side changes its limit alone.
#include <gtest/gtest.h>

#include <functional>
#include <regex>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "sim/accounting/scenario.hpp"
#include "tools/inputs/scenario_builder.hpp"

namespace trainmem::tools {
namespace {

struct Case {
  const char* key;
  std::int64_t hi;  // the documented upper limit (DESIGN/docs/input-checks.md)
  std::function<void(sim::Scenario&, std::int64_t)> set;
};

std::string between(const std::string& message) {
  static const std::regex re("between (-?[0-9]+) and ([0-9]+)");
  std::smatch m;
  return std::regex_search(message, m, re) ? m[1].str() + ".." + m[2].str() : "(no range in: " + message + ")";
}

std::string tools_message(const char* key, const std::string& text) {
  Settings s;
  s["model"] = SettingValue{"mixtral-8x7b", "test"};
  s[key] = SettingValue{text, "test"};
  try {
    build_scenario(s);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), key);
    return e.what();
  }
  return "(accepted)";
}

std::string library_message(const Case& c, std::int64_t value) {
  sim::Scenario sc;
  sc.model = find_model_preset("mixtral-8x7b")->spec;
  c.set(sc, value);
  try {
    sim::resolve_scenario(sc);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), c.key);
    return e.what();
  }
  return "(accepted)";
}

TEST(IntegerDomains, NonNumbersQuoteTheLibrarysRange) {
  const std::vector<Case> cases = {
      {"num_layers", 100000, [](sim::Scenario& s, std::int64_t v) { s.model->num_layers = v; }},
      {"hidden_size", 1 << 20, [](sim::Scenario& s, std::int64_t v) { s.model->hidden_size = v; }},
      {"ffn_hidden_size", 1 << 24, [](sim::Scenario& s, std::int64_t v) { s.model->ffn_hidden_size = v; }},
      {"num_attention_heads", 1 << 16, [](sim::Scenario& s, std::int64_t v) { s.model->num_attention_heads = v; }},
      {"num_query_groups", 1 << 16, [](sim::Scenario& s, std::int64_t v) { s.model->num_query_groups = v; }},
      {"kv_channels", 1 << 20, [](sim::Scenario& s, std::int64_t v) { s.model->kv_channels = v; }},
      {"vocab_size", 1 << 26, [](sim::Scenario& s, std::int64_t v) { s.model->vocab_size = v; }},
      {"max_position_embeddings", 1LL << 32,
       [](sim::Scenario& s, std::int64_t v) { s.model->max_position_embeddings = v; }},
      {"num_experts", 1 << 16, [](sim::Scenario& s, std::int64_t v) { s.model->num_experts = v; }},
      {"moe_router_topk", 8, [](sim::Scenario& s, std::int64_t v) { s.model->moe_router_topk = v; }},
      {"moe_ffn_hidden_size", 1 << 24, [](sim::Scenario& s, std::int64_t v) { s.model->moe_ffn_hidden_size = v; }},
      {"tensor_model_parallel_size", 1 << 20, [](sim::Scenario& s, std::int64_t v) { s.parallel.tp = v; }},
      {"pipeline_model_parallel_size", 1 << 20, [](sim::Scenario& s, std::int64_t v) { s.parallel.pp = v; }},
      {"context_parallel_size", 1 << 20, [](sim::Scenario& s, std::int64_t v) { s.parallel.cp = v; }},
      {"expert_model_parallel_size", 1 << 20, [](sim::Scenario& s, std::int64_t v) { s.parallel.ep = v; }},
      {"expert_tensor_parallel_size", 1 << 20, [](sim::Scenario& s, std::int64_t v) { s.parallel.etp = v; }},
      {"virtual_pipeline_model_parallel_size", 1 << 20, [](sim::Scenario& s, std::int64_t v) { s.parallel.vpp = v; }},
      {"ulysses_sp", 1 << 20, [](sim::Scenario& s, std::int64_t v) { s.parallel.ulysses_sp = v; }},
      {"make_vocab_size_divisible_by", 1 << 16,
       [](sim::Scenario& s, std::int64_t v) { s.parallel.make_vocab_size_divisible_by = v; }},
      {"seq_length", 1 << 25, [](sim::Scenario& s, std::int64_t v) { s.training.seq_length = v; }},
      {"micro_batch_size", 1 << 30, [](sim::Scenario& s, std::int64_t v) { s.training.micro_batch_size = v; }},
      {"global_batch_size", 1 << 30, [](sim::Scenario& s, std::int64_t v) { s.training.global_batch_size = v; }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    const std::string range = "1.." + std::to_string(c.hi);
    EXPECT_EQ(between(library_message(c, c.hi + 1)), range);
    for (const std::string& text :
         std::vector<std::string>{"two", "", "2.5", "99999999999999999999", std::to_string(c.hi + 1)}) {
      const std::string msg = tools_message(c.key, text);
      // num_experts accepts 0 (a dense model); the library checks 1..HI only when experts are present.
      EXPECT_EQ(between(msg), std::string(c.key) == "num_experts" ? "0.." + std::to_string(c.hi) : range) << msg;
      EXPECT_NE(msg.find("must be a whole number between"), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace trainmem::tools
