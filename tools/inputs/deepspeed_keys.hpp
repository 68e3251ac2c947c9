// The keys of a DeepSpeed ds_config.json, one table per section (top level, zero_optimization, its
// offload_optimizer / offload_param blocks, fp16, bf16, data_types, optimizer), following DeepSpeed's own
// config classes, each key with how trainmem treats it; and the lookup with a did-you-mean suggestion. The
// reader (deepspeed_config.cpp) walks a file with them.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace trainmem::tools::ds_keys {

// handled: the reader reads it; ignored: no effect on GPU memory (listed in the notice); not_modelled: a
// GPU-memory effect trainmem does not model (listed in the notice).
enum class Rule { handled, ignored, not_modelled };
struct KeyRule {
  std::string_view name;
  Rule rule;
};
using KeyRules = std::span<const KeyRule>;

extern const KeyRules kTopLevel;
extern const KeyRules kZero;              // zero_optimization
extern const KeyRules kOffloadOptimizer;  // zero_optimization.offload_optimizer
extern const KeyRules kOffloadParam;      // zero_optimization.offload_param
extern const KeyRules kFp16;
extern const KeyRules kBf16;  // also bfloat16
extern const KeyRules kDataTypes;
extern const KeyRules kOptimizer;

// The rule of `key`, or nullptr when the section has no such key.
const KeyRule* find_rule(KeyRules rules, std::string_view key);
// The section's key nearest `key` in edit distance, or "" when none is near.
std::string suggestion(KeyRules rules, std::string_view key);

}  // namespace trainmem::tools::ds_keys
