#include "tools/inputs/megatron_vocab.hpp"

#include "partition/error.hpp"
#include "tools/inputs/value_parse.hpp"

namespace trainmem::tools {
namespace {
constexpr std::int64_t kMaxVocab = 1 << 26;  // partition/model_spec.cpp's vocab_size bound

// The GPT-2 BPE vocabulary (gpt2-vocab.json, the file Megatron's examples download): 50,257 tokens, the
// vocab_size of Hugging Face's gpt2 config.json (Radford et al. 2019).
constexpr std::int64_t kGpt2Vocab = 50257;

std::string origin(const std::string& name) { return "--megatron-args: " + name; }
}  // namespace

void apply_megatron_vocab(MegatronArgs& out, const MegatronVocabArgs& v) {
  // Megatron-LM's --tokenizer-type choices (arguments.py); pretrain_gpt.py passes
  // args_defaults={'tokenizer_type': 'GPT2BPETokenizer'} when none is given.
  const std::string tokenizer =
      v.tokenizer_type
          ? parse_choice("megatron_args --tokenizer-type", *v.tokenizer_type,
                         {"BertWordPieceLowerCase", "BertWordPieceCase", "GPT2BPETokenizer", "SentencePieceTokenizer",
                          "GPTSentencePieceTokenizer", "HuggingFaceTokenizer", "Llama2Tokenizer", "TikTokenizer",
                          "MultimodalTokenizer", "NullTokenizer", "NullMultimodalTokenizer", "SFTTokenizer"})
          : "GPT2BPETokenizer";
  const bool null_tokenizer = tokenizer == "NullTokenizer" || tokenizer == "NullMultimodalTokenizer";
  // The tokenizer arguments given; those that do not decide the vocabulary are listed as ignored.
  auto ignore_tokenizer_args = [&](bool keep_type) {
    if (v.tokenizer_type && !keep_type) out.ignored.emplace_back("--tokenizer-type");
    if (v.tokenizer_model) out.ignored.emplace_back("--tokenizer-model");
    if (v.vocab_file) out.ignored.emplace_back("--vocab-file");
  };
  std::optional<std::int64_t> V;
  if (v.vocab_size) V = parse_int("megatron_args --vocab-size", *v.vocab_size, 1, kMaxVocab);
  if (null_tokenizer && !V)
    throw ConfigError("megatron_args", "--tokenizer-type " + tokenizer,
                      "needs --vocab-size (Megatron asserts args.vocab_size is not None)");

  // build_tokenizer keeps a padded_vocab_size that is already set (from a checkpoint's arguments, or MindSpeed-LLM's
  // --padded-vocab-size argument) instead of padding the tokenizer's size: the embedding has exactly P rows.
  if (v.padded_vocab_size) {
    const std::int64_t P = parse_int("megatron_args --padded-vocab-size", *v.padded_vocab_size, 1, kMaxVocab);
    const std::int64_t tokens = V ? *V + (null_tokenizer ? 1 : 0) : 0;
    if (V && tokens > P)
      throw ConfigError("megatron_args", "--padded-vocab-size " + *v.padded_vocab_size,
                        "is smaller than the vocabulary (" + std::to_string(tokens) + " from --vocab-size)");
    if (out.settings.count("make_vocab_size_divisible_by") != 0)
      out.ignored.emplace_back("--make-vocab-size-divisible-by (with --padded-vocab-size)");
    ignore_tokenizer_args(false);
    out.settings["vocab_size"] = SettingValue{std::to_string(P), origin("--padded-vocab-size")};
    out.settings["make_vocab_size_divisible_by"] = SettingValue{"1", origin("--padded-vocab-size")};
    out.padded_vocab_size = P;
    out.derived.push_back("vocab_size " + std::to_string(P) +
                          " (--padded-vocab-size: the embedding's rows as given, no further padding" +
                          (V ? "; they include the padding of --vocab-size " + std::to_string(*V) : "") + ")");
    return;
  }
  if (V) {
    ignore_tokenizer_args(null_tokenizer);
    if (null_tokenizer) {  // _NullTokenizer.vocab_size = vocab_size + 1 (the EOD token)
      out.settings["vocab_size"] = SettingValue{std::to_string(*V + 1), origin("--tokenizer-type " + tokenizer)};
      out.derived.push_back("vocab_size " + std::to_string(*V + 1) + " (--tokenizer-type " + tokenizer +
                            ": --vocab-size " + std::to_string(*V) + " + 1 EOD token)");
    } else {  // the tokenizer's size as the user states it
      out.settings["vocab_size"] = SettingValue{std::to_string(*V), origin("--vocab-size")};
    }
    return;
  }
  if (tokenizer == "GPT2BPETokenizer" && v.vocab_file) {
    if (v.tokenizer_model) out.ignored.emplace_back("--tokenizer-model");
    out.tokenizer_args = std::string(v.tokenizer_type ? "--tokenizer-type, " : "") + "--vocab-file";
    out.tokenizer_vocab = SettingValue{std::to_string(kGpt2Vocab), origin("--tokenizer-type GPT2BPETokenizer")};
    out.tokenizer_vocab_note = "vocab_size 50257 (--tokenizer-type GPT2BPETokenizer" +
                               std::string(v.tokenizer_type ? "" : ", pretrain_gpt.py's default") +
                               ": the GPT-2 vocab file's 50,257 tokens)";
    return;
  }
  ignore_tokenizer_args(false);  // listed as ignored when the vocabulary comes from a preset or config.json
  if (tokenizer == "GPT2BPETokenizer")
    out.vocab_unknown = "GPT2BPETokenizer" +
                        std::string(v.tokenizer_type ? "" : " (pretrain_gpt.py's default tokenizer)") +
                        " reads the vocabulary size from --vocab-file, which is not given; give --vocab-size or "
                        "--padded-vocab-size";
  else
    out.vocab_unknown = "the vocabulary size is that of the " + tokenizer + " tokenizer" +
                        (v.tokenizer_model ? " " + *v.tokenizer_model : std::string()) +
                        ", which trainmem does not read; give --vocab-size (the tokenizer's size) or "
                        "--padded-vocab-size";
}

// --padded-vocab-size P: the embedding and LM head have exactly P rows (Megatron's build_tokenizer keeps a
// padded_vocab_size that is already set instead of padding the tokenizer's size). P must hold the vocabulary and split
// evenly over tp (VocabParallelEmbedding: megatron.core.utils.divide asserts it). The model then carries P rows and no
// further padding (make_vocab_size_divisible_by 1), as --megatron-args' --padded-vocab-size does.
void apply_padded_vocab_size(const Settings& settings, sim::Scenario& sc) {
  const std::int64_t P = parse_int("padded_vocab_size", settings.at("padded_vocab_size").text, 1, kMaxVocab);
  if (!sc.model)
    throw ConfigError("padded_vocab_size", std::to_string(P),
                      "needs a model (a bare parameter count has no vocabulary)");
  const auto mv = settings.find("make_vocab_size_divisible_by");
  if (mv != settings.end() && mv->second.origin.rfind("--megatron-args", 0) != 0)
    throw ConfigError("padded_vocab_size", std::to_string(P),
                      "is the padded size itself; make_vocab_size_divisible_by (" + mv->second.text +
                          ") is also given: give one of them");
  ModelSpec& m = *sc.model;
  if (P < m.vocab_size)
    throw ConfigError("padded_vocab_size", std::to_string(P),
                      "is smaller than the vocabulary (vocab_size " + std::to_string(m.vocab_size) +
                          "): the embedding needs a row "
                          "per token");
  const std::int64_t tp = sc.parallel.tp;
  if (P % tp != 0)
    throw ConfigError("padded_vocab_size", std::to_string(P),
                      "is not divisible by tensor_model_parallel_size " + std::to_string(tp) +
                          " (the vocab-parallel embedding and LM head split their rows evenly)");
  m.vocab_size = P;
  sc.parallel.make_vocab_size_divisible_by = 1;
}

}  // namespace trainmem::tools
