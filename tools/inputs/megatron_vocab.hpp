// The vocabulary a Megatron-LM launch builds (megatron/training/tokenizer/tokenizer.py build_tokenizer): from
// --vocab-size, --padded-vocab-size, or the tokenizer. trainmem never guesses it: a vocabulary only the tokenizer
// file knows is an error naming the missing input when the model is built from the arguments' shape.
#pragma once

#include <optional>
#include <string>

#include "sim/accounting/scenario.hpp"
#include "tools/inputs/megatron_args.hpp"
#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

// The vocabulary arguments of one launch line, as written (nullopt: absent).
struct MegatronVocabArgs {
  std::optional<std::string> vocab_size;         // --vocab-size
  std::optional<std::string> padded_vocab_size;  // --padded-vocab-size
  std::optional<std::string> tokenizer_type;     // --tokenizer-type (pretrain_gpt.py's default: GPT2BPETokenizer)
  std::optional<std::string> tokenizer_model;    // --tokenizer-model
  std::optional<std::string> vocab_file;         // --vocab-file
};

// Sets out.settings["vocab_size"] where the arguments fix it (--vocab-size; NullTokenizer's --vocab-size + 1;
// --padded-vocab-size with make_vocab_size_divisible_by 1), out.tokenizer_vocab where only the default GPT-2 BPE
// tokenizer implies it (50257), or out.vocab_unknown with the reason. Throws ConfigError for a launch Megatron
// itself refuses (NullTokenizer without --vocab-size, an unknown tokenizer, --padded-vocab-size < --vocab-size).
void apply_megatron_vocab(MegatronArgs& out, const MegatronVocabArgs& v);

// The top-level padded_vocab_size (--padded-vocab-size P, a YAML key): the embedding and LM head get exactly P rows
// (sc.model->vocab_size = P, make_vocab_size_divisible_by 1). Throws ConfigError naming padded_vocab_size when
// P < the model's vocab_size, P is not a multiple of tp, there is no model, or make_vocab_size_divisible_by is
// also given (outside --megatron-args).
void apply_padded_vocab_size(const Settings& settings, sim::Scenario& sc);

}  // namespace trainmem::tools
