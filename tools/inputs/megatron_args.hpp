// A Megatron-LM launch line (`pretrain_gpt.py` arguments, megatron/training/arguments.py names) mapped onto
// trainmem's option keys. Precision follows Megatron's own bytes-per-parameter table (docs: distributed
// optimizer): --fp16 = 20 (mixed-20), --bf16 = 18 (mixed-18, fp32 main_grad), neither = 16 (fp32).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

struct MegatronArgs {
  Settings settings;                      // origins "--megatron-args: --tensor-model-parallel-size"
  std::vector<std::string> ignored;       // arguments with no effect on GPU memory
  std::vector<std::string> not_modelled;  // arguments with a GPU-memory effect trainmem does not model
  // Neither --fp16 nor --bf16: Megatron trains in fp32 (recipe fp32). Kept apart from `settings` so that a
  // ds_config given with the arguments (Megatron-DeepSpeed) decides the precision instead.
  bool implicit_fp32 = false;
  // What the arguments imply beyond a one-to-one mapping, for the notice ("vocab_size 50257 (...)").
  std::vector<std::string> derived;
  // The vocabulary (tools/inputs/megatron_vocab.hpp). tokenizer_vocab: implied by the default GPT-2 BPE tokenizer
  // with a --vocab-file, applied only when the arguments give the model's shape (a preset or config.json keeps its
  // own vocabulary). vocab_unknown: why no size can be known (an error when the arguments give the shape).
  // padded_vocab_size: --padded-vocab-size, checked against tp once the layout resolves.
  std::optional<SettingValue> tokenizer_vocab;
  std::string tokenizer_vocab_note;
  std::string tokenizer_args;  // the arguments tokenizer_vocab comes from ("--tokenizer-type, --vocab-file")
  std::optional<std::string> vocab_unknown;
  std::optional<std::int64_t> padded_vocab_size;
};

// Splits a command line the way a POSIX shell does for words: blanks separate, 'single' and "double"
// quotes group, backslash escapes (and a backslash-newline joins lines). No variable expansion ($DATA_PATH
// stays as written). An unterminated quote throws ConfigError("megatron_args", ...).
std::vector<std::string> split_shell_words(const std::string& text);

// Parses Megatron arguments (exact names, as Megatron's argparse has allow_abbrev=False; `--name=value`
// accepted). Unknown arguments, missing or extra values and unsupported settings throw ConfigError naming
// the argument.
MegatronArgs megatron_args_from_string(const std::string& text);

}  // namespace trainmem::tools
