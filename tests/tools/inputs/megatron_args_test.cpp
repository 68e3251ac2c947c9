// Megatron-LM argument lists (--megatron-args): shell-like splitting, each argument's mapping, Megatron's
// precision rules, and the GPT-3 175B launch line of Megatron's examples against the scenario library.
// Expected values come from Megatron's arguments.py / docs (cited per test) or hand derivations.
#include "tools/inputs/megatron_args.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "partition/error.hpp"
#include "tests/tools/cli_test_util.hpp"
#include "tools/inputs/scenario_builder.hpp"

namespace trainmem::tools::test {
namespace {

using Words = std::vector<std::string>;

TEST(SplitShellWords, QuotesEscapesAndContinuations) {
  EXPECT_EQ(split_shell_words("  --tp 8\t--pp  2 \n"), (Words{"--tp", "8", "--pp", "2"}));
  EXPECT_EQ(split_shell_words(R"(--data-path 'a b' "c d" e\ f)"), (Words{"--data-path", "a b", "c d", "e f"}));
  EXPECT_EQ(split_shell_words(R"("a\"b" 'c\d' "\$x" "\q")"), (Words{"a\"b", "c\\d", "$x", "\\q"}));
  EXPECT_EQ(split_shell_words("--num-layers 96 \\\n    --hidden-size 12288"),
            (Words{"--num-layers", "96", "--hidden-size", "12288"}));
  EXPECT_EQ(split_shell_words("''"), (Words{""}));
  EXPECT_EQ(split_shell_words(""), Words{});
  EXPECT_THROW(split_shell_words("--save 'unterminated"), ConfigError);
  EXPECT_THROW(split_shell_words("--save \"unterminated"), ConfigError);
  EXPECT_THROW(split_shell_words("--save x\\"), ConfigError);
}

std::string key(const MegatronArgs& m, const char* k) {
  return m.settings.count(k) ? m.settings.at(k).text : "(unset)";
}

TEST(MegatronArgs, EveryMappedArgument) {
  const MegatronArgs m = megatron_args_from_string(
      "--num-layers 32 --hidden-size 4096 --ffn-hidden-size 11008 --num-attention-heads 32 --kv-channels 128 "
      "--group-query-attention --num-query-groups 8 --max-position-embeddings 4096 --position-embedding-type rope "
      "--normalization RMSNorm --swiglu --untie-embeddings-and-output-weights --disable-bias-linear --add-qkv-bias "
      "--vocab-size 32000 --make-vocab-size-divisible-by 64 --num-experts 8 --moe-router-topk 2 "
      "--moe-ffn-hidden-size 14336 --moe-expert-capacity-factor 1.25 --attention-dropout 0 --hidden-dropout 0.0 "
      "--tensor-model-parallel-size 2 --pipeline-model-parallel-size 4 --context-parallel-size 2 "
      "--expert-model-parallel-size 4 --expert-tensor-parallel-size 1 --num-layers-per-virtual-pipeline-stage 2 "
      "--decoder-first-pipeline-num-layers 8 --sequence-parallel --use-distributed-optimizer --seq-length 4096 "
      "--micro-batch-size 2 --global-batch-size=512 --bf16 --recompute-granularity full --recompute-method block "
      "--recompute-num-layers 1 --use-flash-attn --optimizer adam");
  const std::pair<const char*, const char*> expected[] = {
      {"num_layers", "32"},
      {"hidden_size", "4096"},
      {"ffn_hidden_size", "11008"},
      {"num_attention_heads", "32"},
      {"kv_channels", "128"},
      {"num_query_groups", "8"},
      {"max_position_embeddings", "4096"},
      {"position_embedding_type", "rope"},
      {"normalization", "RMSNorm"},
      {"swiglu", "true"},
      {"untie_embeddings_and_output_weights", "true"},
      {"disable_bias_linear", "true"},
      {"add_qkv_bias", "true"},
      {"vocab_size", "32000"},
      {"make_vocab_size_divisible_by", "64"},
      {"num_experts", "8"},
      {"moe_router_topk", "2"},
      {"moe_ffn_hidden_size", "14336"},
      {"moe_expert_capacity_factor", "1.25"},
      {"attention_dropout", "0"},
      {"hidden_dropout", "0.0"},
      {"tensor_model_parallel_size", "2"},
      {"pipeline_model_parallel_size", "4"},
      {"context_parallel_size", "2"},
      {"expert_model_parallel_size", "4"},
      {"expert_tensor_parallel_size", "1"},
      // Megatron: vpp = num_layers / pp / layers per virtual stage = 32 / 4 / 2.
      {"virtual_pipeline_model_parallel_size", "4"},
      {"decoder_first_pipeline_num_layers", "8"},
      {"sequence_parallel", "true"},
      {"use_distributed_optimizer", "true"},
      {"seq_length", "4096"},
      {"micro_batch_size", "2"},
      {"global_batch_size", "512"},
      {"recipe", "mixed-18"},
      {"recompute_granularity", "full"},
      {"recompute_method", "block"},
      {"recompute_num_layers", "1"},
      {"attention", "flash"},
      {"optimizer", "adam"}};
  for (const auto& [k, v] : expected) EXPECT_EQ(key(m, k), v) << k;
  EXPECT_EQ(m.settings.at("tensor_model_parallel_size").origin, "--megatron-args: --tensor-model-parallel-size");
  EXPECT_TRUE(m.ignored.empty());
}

TEST(MegatronArgs, SpellingsTrainmemDoesNotHave) {
  EXPECT_EQ(key(megatron_args_from_string("--recompute-activations"), "recompute_granularity"), "selective");
  EXPECT_EQ(key(megatron_args_from_string("--use-rotary-position-embeddings"), "position_embedding_type"), "rope");
  EXPECT_EQ(key(megatron_args_from_string("--no-position-embedding"), "position_embedding_type"), "none");
  EXPECT_EQ(key(megatron_args_from_string("--attention-backend unfused"), "attention"), "eager");
  EXPECT_EQ(key(megatron_args_from_string("--attention-backend local"), "attention"), "eager");
  EXPECT_EQ(key(megatron_args_from_string("--attention-backend fused"), "attention"), "flash");
  EXPECT_EQ(key(megatron_args_from_string("--num-virtual-stages-per-pipeline-rank 3"),
                "virtual_pipeline_model_parallel_size"),
            "3");
  // Megatron's --sgd-momentum defaults to 0.9, so plain SGD keeps a momentum buffer.
  EXPECT_EQ(key(megatron_args_from_string("--optimizer sgd"), "optimizer"), "sgd-momentum");
  EXPECT_EQ(key(megatron_args_from_string("--optimizer sgd --sgd-momentum 0"), "optimizer"), "sgd");
  // --num-query-groups does nothing without --group-query-attention (TransformerConfig gets None).
  const MegatronArgs q = megatron_args_from_string("--num-query-groups 8");
  EXPECT_EQ(key(q, "num_query_groups"), "(unset)");
  EXPECT_EQ(q.ignored, Words{"--num-query-groups (without --group-query-attention)"});
}

// Megatron's bytes per parameter (docs, distributed optimizer): fp16 param + fp16 grads 20 (4 + 16/d),
// bf16 param + fp32 grads 18 (6 + 12/d), fp32 16 (8 + 8/d). arguments.py turns on
// accumulate_allreduce_grads_in_fp32 for bf16 unless --grad-reduce-in-bf16; the grad buffer is fp32 when it
// is on (distributed_data_parallel.py: grad_dtype = float if grad_reduce_in_fp32 else param.dtype).
TEST(MegatronArgs, PrecisionFollowsMegatronsTable) {
  EXPECT_EQ(key(megatron_args_from_string("--fp16"), "recipe"), "mixed-20");
  EXPECT_EQ(key(megatron_args_from_string("--bf16"), "recipe"), "mixed-18");
  EXPECT_EQ(key(megatron_args_from_string("--fp16 --accumulate-allreduce-grads-in-fp32"), "recipe"), "mixed-18");
  EXPECT_EQ(key(megatron_args_from_string("--bf16 --grad-reduce-in-bf16"), "recipe"), "mixed-20");
  const MegatronArgs none = megatron_args_from_string("--num-layers 2");
  EXPECT_EQ(key(none, "recipe"), "(unset)");
  EXPECT_TRUE(none.implicit_fp32);
  // Through the CLI: no precision argument means fp32 (16 bytes/param; 8 + 8/d sharded): at dp 8 on a bare
  // count of 8e9: params 4 * 8e9, grads 4 * 8e9, Adam 8 * 1e9.
  const CliRun r = run({"estimate", "--num-parameters", "8e9", "--dp", "8", "--megatron-args",
                        "--use-distributed-optimizer", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto b = r.json()["ranks"][0]["bytes"];
  EXPECT_EQ(b["params"].get<std::uint64_t>(), 32'000'000'000ULL);
  EXPECT_EQ(b["grads"].get<std::uint64_t>(), 32'000'000'000ULL);
  EXPECT_EQ(b["optimizer_states"].get<std::uint64_t>(), 8'000'000'000ULL);
}

TEST(MegatronArgs, ErrorsNameTheArgument) {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"--tensor-model-paralel-size 8",
       "megatron_args = --tensor-model-paralel-size: unknown Megatron argument (did you mean "
       "--tensor-model-parallel-size?)"},
      {"--tp 8", "megatron_args = --tp: unknown Megatron argument"},
      {"--num-layers", "megatron_args = --num-layers: needs a value"},
      {"--num-layers 2 4", "megatron_args = --num-layers: takes one value, got 2"},
      {"--swiglu yes", "megatron_args = --swiglu yes: takes no value"},
      {"8 --num-layers 2", "megatron_args = 8: expected an argument starting with --"},
      {"--fp16 --bf16", "megatron_args = --fp16 --bf16: Megatron allows one of --fp16 and --bf16"},
      {"--fp8 hybrid",
       "megatron_args = --fp8: is not a Megatron-LM flag; FP8 is --fp8-format e4m3|hybrid (--fp8-recipe)"},
      {"--multi-latent-attention", "megatron_args = --multi-latent-attention: without --qk-layernorm"},
      {"--moe-layer-freq 2", "megatron_args = --moe-layer-freq 2: only 1 or ([0]*K+[1]*N)"},
      {"--position-embedding-type alibi",
       "position_embedding_type = alibi: must be one of learned_absolute, rope, none"},
      {"--attention-backend sdpa", "attention_backend = sdpa"},
      {"--optimizer lion", "optimizer = lion: must be one of adam, sgd"},
      {"--num-layers-per-virtual-pipeline-stage 2",
       "megatron_args = --num-layers-per-virtual-pipeline-stage: needs --num-layers and "
       "--pipeline-model-parallel-size"},
      {"--num-layers 24 --pipeline-model-parallel-size 4 --num-layers-per-virtual-pipeline-stage 4",
       "megatron_args = --num-layers-per-virtual-pipeline-stage 4: layers per pipeline stage (24 / 4) are not "
       "divisible"},
  };
  for (const auto& tc : cases) {
    try {
      megatron_args_from_string(tc.text);
      ADD_FAILURE() << "no error for " << tc.text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(tc.expect), std::string::npos) << tc.text << "\n -> " << e.what();
    }
  }
  // An error found later (tp 5 does not divide GPT-2's 12 heads) is still the only line: no notice before it.
  const CliRun late = run({"estimate", "--model", "gpt2", "--megatron-args", "--tensor-model-parallel-size 5 --lr 1"});
  EXPECT_EQ(late.code, 2);
  EXPECT_EQ(late.err,
            "trainmem: error: tensor_model_parallel_size = 5: num_attention_heads (12) is not divisible by it\n");
  // Through the CLI: exit 2 and one line.
  const CliRun r = run({"estimate", "--model", "gpt2", "--megatron-args", "--frobnicate 3"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "trainmem: error: megatron_args = --frobnicate: unknown Megatron argument; docs/ecosystem-inputs.md "
            "lists the arguments trainmem reads\n");
}

// The vocabulary (megatron/training/tokenizer/tokenizer.py build_tokenizer): --vocab-size as given; NullTokenizer
// adds the EOD token (vocab_size + 1); --padded-vocab-size is the embedding's rows (no padding); the default
// GPT2BPETokenizer (pretrain_gpt.py's args_defaults) with a --vocab-file is GPT-2's 50,257; any other tokenizer's
// size is unknown to trainmem.
TEST(MegatronArgs, VocabularyFromTheArgumentsOrTheTokenizer) {
  const MegatronArgs plain = megatron_args_from_string("--vocab-size 32000 --tokenizer-type Llama2Tokenizer");
  EXPECT_EQ(key(plain, "vocab_size"), "32000");
  EXPECT_EQ(plain.ignored, Words{"--tokenizer-type"});
  const MegatronArgs null = megatron_args_from_string("--tokenizer-type NullTokenizer --vocab-size 128256");
  EXPECT_EQ(key(null, "vocab_size"), "128257");
  EXPECT_TRUE(null.ignored.empty());
  const MegatronArgs padded =
      megatron_args_from_string("--vocab-size 50257 --padded-vocab-size 50304 --make-vocab-size-divisible-by 64");
  EXPECT_EQ(key(padded, "vocab_size"), "50304");
  EXPECT_EQ(key(padded, "make_vocab_size_divisible_by"), "1");
  EXPECT_EQ(padded.padded_vocab_size, 50304);
  EXPECT_EQ(padded.ignored, Words{"--make-vocab-size-divisible-by (with --padded-vocab-size)"});
  const MegatronArgs gpt2 = megatron_args_from_string("--vocab-file gpt2-vocab.json --merge-file gpt2-merges.txt");
  EXPECT_EQ(key(gpt2, "vocab_size"), "(unset)");  // applied only when the arguments give the model's shape
  ASSERT_TRUE(gpt2.tokenizer_vocab.has_value());
  EXPECT_EQ(gpt2.tokenizer_vocab->text, "50257");
  const MegatronArgs hf = megatron_args_from_string("--tokenizer-type HuggingFaceTokenizer --tokenizer-model org/m");
  ASSERT_TRUE(hf.vocab_unknown.has_value());
  EXPECT_NE(hf.vocab_unknown->find("HuggingFaceTokenizer tokenizer org/m"), std::string::npos) << *hf.vocab_unknown;
  EXPECT_TRUE(megatron_args_from_string("--lr 1").vocab_unknown.has_value());  // GPT2BPETokenizer, no --vocab-file
  const std::pair<const char*, const char*> errors[] = {
      {"--tokenizer-type NullTokenizer", "megatron_args = --tokenizer-type NullTokenizer: needs --vocab-size"},
      {"--tokenizer-type Tiktoken", "megatron_args --tokenizer-type = Tiktoken: must be one of"},
      {"--vocab-size 50257 --padded-vocab-size 50000",
       "megatron_args = --padded-vocab-size 50000: is smaller than the vocabulary (50257 from --vocab-size)"},
      {"--padded-vocab-size 0", "megatron_args --padded-vocab-size = 0"}};
  for (const auto& [text, expect] : errors) {
    try {
      megatron_args_from_string(text);
      ADD_FAILURE() << "no error for " << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << text << "\n -> " << e.what();
    }
  }
}

// Through the CLI: a launch that gives the model's shape but no vocabulary is an error naming the missing input;
// a preset keeps its own vocabulary (the tokenizer arguments are then listed as ignored); --padded-vocab-size
// must split evenly over tp.
TEST(MegatronArgsCli, MissingVocabularyIsAnErrorNamingIt) {
  const std::string shape = "--num-layers 2 --hidden-size 256 --num-attention-heads 4 ";
  const CliRun none = run({"estimate", "--megatron-args", shape + "--bf16"});
  EXPECT_EQ(none.code, 2);
  EXPECT_EQ(none.err,
            "trainmem: error: --vocab-size (in --megatron-args) = (missing): GPT2BPETokenizer (pretrain_gpt.py's "
            "default tokenizer) reads the vocabulary size from --vocab-file, which is not given; give --vocab-size or "
            "--padded-vocab-size\n");
  const CliRun hf = run({"estimate", "--megatron-args",
                         shape + "--tokenizer-type HuggingFaceTokenizer --tokenizer-model meta-llama/Llama-2-7b-hf"});
  EXPECT_EQ(hf.code, 2);
  EXPECT_NE(hf.err.find("the vocabulary size is that of the HuggingFaceTokenizer tokenizer meta-llama/Llama-2-7b-hf, "
                        "which trainmem does not read"),
            std::string::npos)
      << hf.err;
  // A trainmem flag gives it as well.
  EXPECT_EQ(run({"estimate", "--megatron-args", shape, "--vocab-size", "1000"}).code, 0);
  // A preset brings its vocabulary: GPT-2's tokenizer arguments do not replace Llama's 32,000.
  const CliRun preset =
      run({"estimate", "--model", "llama2-7b", "--megatron-args",
           "--tensor-model-parallel-size 2 --vocab-file v.json --merge-file m.txt", "--format", "json"});
  ASSERT_EQ(preset.code, 0) << preset.err;
  EXPECT_EQ(preset.json()["config"]["model"]["vocab_size"], 32000);
  EXPECT_NE(preset.err.find("--merge-file, --vocab-file"), std::string::npos) << preset.err;
  // 50,304 rows do not split over tp 3... but the heads must divide first: 12 heads, tp 3, rows 50,305 % 3 = 2.
  const CliRun odd = run({"estimate", "--megatron-args",
                          "--num-layers 2 --hidden-size 768 --num-attention-heads 12 --padded-vocab-size 50305 "
                          "--tensor-model-parallel-size 3"});
  EXPECT_EQ(odd.code, 2);
  EXPECT_EQ(odd.err,
            "trainmem: error: --padded-vocab-size (in --megatron-args) = 50305: is not divisible by "
            "tensor_model_parallel_size 3 (the vocab-parallel embedding splits its rows evenly)\n");
}

// DeepSeek-V2-Lite as Megatron-Bridge's deepseek_v2_lite recipe launches it (MLA without q LoRA, kv_lora 512,
// qk_head_dim 128, qk_pos_emb_head_dim 64, v_head_dim 128, moe_layer_freq ([0]*1+[1]*26), 64 experts of 1408,
// shared experts 2 * 1408 = 2816): the same 15,706,484,224 parameters as its config.json (derived by hand in
// tests/partition/deepseek_test.cpp). The MLA sizes do nothing without --multi-latent-attention (Megatron reads
// them only then); --qk-layernorm without MLA is the per-head q/k norm.
TEST(MegatronArgs, DeepSeekMultiLatentAttentionLaunchLine) {
  const std::string line =
      "--num-layers 27 --hidden-size 2048 --ffn-hidden-size 10944 --num-attention-heads 16 --kv-channels 128 "
      "--vocab-size 102400 --make-vocab-size-divisible-by 1 --position-embedding-type rope --normalization RMSNorm "
      "--swiglu --untie-embeddings-and-output-weights --disable-bias-linear --multi-latent-attention --qk-layernorm "
      "--kv-lora-rank 512 --qk-head-dim 128 --qk-pos-emb-head-dim 64 --v-head-dim 128 --num-experts 64 "
      "--moe-router-topk 6 --moe-ffn-hidden-size 1408 --moe-shared-expert-intermediate-size 2816 "
      "--moe-layer-freq ([0]*1+[1]*26) --seq-length 4096 --micro-batch-size 1 --bf16";
  const MegatronArgs a = megatron_args_from_string(line);
  EXPECT_EQ(a.settings.at("kv_lora_rank").text, "512");
  EXPECT_EQ(a.settings.at("first_dense_layers").text, "1");
  EXPECT_EQ(a.settings.count("q_lora_rank"), 0u);  // Megatron's default None: one q_proj
  const BuiltScenario b = build_scenario(a.settings);
  ASSERT_TRUE(b.scenario.model.has_value());
  EXPECT_EQ(total_parameters(*b.scenario.model).value, 15'706'484'224ULL);
  // With --mtp-num-layers 1 and --moe-router-enable-expert-bias on the V3 shapes the count would grow by the MTP
  // module; here: the V2-Lite MoE layer 584,847,872 + 3 norms 3*2048 + eh_proj 2*2048*2048 = 8,388,608, and
  // 26 router biases of 64.
  const MegatronArgs mtp = megatron_args_from_string(line + " --mtp-num-layers 1 --moe-router-enable-expert-bias");
  EXPECT_EQ(total_parameters(*build_scenario(mtp.settings).scenario.model).value,
            15'706'484'224ULL + 584'847'872ULL + 64 + 6'144 + 8'388'608 + 26 * 64);
  // Without --multi-latent-attention the MLA sizes are listed as ignored, and --qk-layernorm is the q/k norm.
  const MegatronArgs plain = megatron_args_from_string("--qk-layernorm --kv-lora-rank 512");
  EXPECT_EQ(plain.settings.at("qk_norm").text, "true");
  EXPECT_EQ(plain.ignored, (Words{"--kv-lora-rank (without --multi-latent-attention)"}));
}

// examples/gpt3/train_gpt3_175b_distributed.sh of Megatron-LM (model, training, parallel, data and logging
// arguments; torchrun supplies the world size, so --world-size 1024 comes as a trainmem flag).
const std::string kGpt3Example =
    "--num-layers 96 --hidden-size 12288 --num-attention-heads 96 --seq-length 2048 --max-position-embeddings 2048 "
    "--attention-backend auto "
    "--micro-batch-size 1 --global-batch-size 1536 --rampup-batch-size 16 16 5859375 --train-iters 500000 "
    "--weight-decay 0.1 --adam-beta1 0.9 --adam-beta2 0.95 --init-method-std 0.006 --clip-grad 1.0 --fp16 "
    "--lr 6.0e-5 --lr-decay-style cosine --min-lr 6.0e-6 --lr-warmup-fraction .001 --lr-decay-iters 430000 "
    "--tensor-model-parallel-size 8 --pipeline-model-parallel-size 16 "
    "--data-path $DATA_PATH --vocab-file $VOCAB_FILE --merge-file $MERGE_FILE --split 949,50,1 "
    "--log-interval 100 --save-interval 10000 --eval-interval 1000 --save $CHECKPOINT_PATH --load $CHECKPOINT_PATH "
    "--eval-iters 10 --tensorboard-dir $TENSORBOARD_LOGS_PATH";

// scenarios/gpt3_175b_megatron.yaml is that launch with --bf16 (18 bytes) instead of --fp16, the distributed
// optimizer, sequence parallelism and selective recompute. Both must give the same estimate, rank by rank.
TEST(MegatronArgsCli, Gpt3LaunchLineEqualsTheScenario) {
  std::string line = kGpt3Example;
  line.replace(line.find("--fp16"), 6, "--bf16");
  line += " --use-distributed-optimizer --sequence-parallel --recompute-activations";
  const CliRun a =
      run({"estimate", "--megatron-args", line, "--world-size", "1024", "--gpu", "a100-80gb", "--format", "json"});
  ASSERT_EQ(a.code, 0) << a.err;
  const CliRun b =
      run({"estimate", std::string(TRAINMEM_SOURCE_DIR) + "/scenarios/gpt3_175b_megatron.yaml", "--format", "json"});
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.json()["ranks"], b.json()["ranks"]);
  EXPECT_EQ(a.json()["max_peak_bytes"], b.json()["max_peak_bytes"]);
  // The vocabulary the default GPT-2 BPE tokenizer implies, then the memory-irrelevant arguments, once, on one
  // notice line.
  EXPECT_EQ(a.err.rfind("trainmem: notice: --megatron-args: vocab_size 50257 (--tokenizer-type GPT2BPETokenizer, "
                        "pretrain_gpt.py's default: the GPT-2 vocab file's 50,257 tokens); ignored (no effect on GPU "
                        "memory): --rampup-batch-size, --train-iters, ",
                        0),
            0U)
      << a.err;
  EXPECT_EQ(a.err.find('\n'), a.err.size() - 1) << a.err;
}

// The example verbatim (--fp16, no distributed optimizer): Megatron's table says 20 bytes per parameter,
// nothing sharded. Middle stages hold 6 layers = 1,359,461,376 parameters per rank (docs/model-states.md
// section 5, derived in tests/tools/cli/estimate_cli_test.cpp): fp16 params 2, fp16 main_grad 2 + fp32 grad 4,
// fp32 master 4, Adam 8.
TEST(MegatronArgsCli, Gpt3ExampleVerbatimIsTwentyBytesPerParameter) {
  const CliRun r = run({"estimate", "--megatron-args", kGpt3Example, "--world-size", "1024", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["config"]["dp"], 8);
  EXPECT_EQ(j["config"]["recipe"], "mixed-20");
  const std::uint64_t n = 1'359'461'376ULL;
  const auto& middle = j["ranks"][1];
  ASSERT_EQ(middle["pp_rank"], 1);
  EXPECT_EQ(middle["bytes"]["params"].get<std::uint64_t>(), 2 * n);
  EXPECT_EQ(middle["bytes"]["grads"].get<std::uint64_t>(), 6 * n);
  EXPECT_EQ(middle["bytes"]["master_params"].get<std::uint64_t>(), 4 * n);
  EXPECT_EQ(middle["bytes"]["optimizer_states"].get<std::uint64_t>(), 8 * n);
}

TEST(MegatronArgsCli, FlagsOverrideTheArguments) {
  const CliRun r = run({"estimate", "--megatron-args",
                        "--num-layers 4 --hidden-size 256 --num-attention-heads 4 --vocab-size 1000 "
                        "--tensor-model-parallel-size 2 --bf16",
                        "--tp", "4", "--dp", "2", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.json()["config"]["tp"], 4);
  EXPECT_EQ(r.json()["config"]["recipe"], "mixed-18");
  EXPECT_TRUE(r.err.empty()) << r.err;  // nothing ignored, no notice
}

// Megatron-DeepSpeed passes both: they are one precedence level, so a disagreement is an error naming both.
TEST(MegatronArgsCli, DisagreementWithTheDsConfigIsAnError) {
  const auto path = std::filesystem::temp_directory_path() / "trainmem_megatron_args_test_ds.json";
  std::ofstream(path) << R"({"train_micro_batch_size_per_gpu": 4, "train_batch_size": 64})";
  const CliRun r = run({"estimate", "--model", "gpt2", "--dp", "8", "--deepspeed-config", path.string(),
                        "--megatron-args", "--micro-batch-size 2"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "trainmem: error: micro_batch_size = 2 / 4: given with different values by --megatron-args: "
            "--micro-batch-size and trainmem_megatron_args_test_ds.json: train_micro_batch_size_per_gpu\n");
  // Agreeing values are fine: 64 = 2 * 4 (gas) * dp 8, and Megatron's --global-batch-size must equal
  // train_batch_size.
  const CliRun ok = run({"estimate", "--model", "gpt2", "--dp", "8", "--deepspeed-config", path.string(),
                         "--megatron-args", "--micro-batch-size 4", "--format", "json"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.json()["config"]["global_batch_size"], 64);
  // The file enables neither fp16 nor bf16 (DeepSpeed trains in fp32); Megatron's --bf16 disagrees.
  const CliRun prec = run(
      {"estimate", "--model", "gpt2", "--dp", "8", "--deepspeed-config", path.string(), "--megatron-args", "--bf16"});
  EXPECT_EQ(prec.code, 2);
  EXPECT_NE(prec.err.find("recipe = mixed-18 / fp32: given with different values by --megatron-args: --bf16 and "
                          "trainmem_megatron_args_test_ds.json: (neither fp16 nor bf16 enabled), ZeRO stage 0"),
            std::string::npos)
      << prec.err;
  const CliRun gb = run({"estimate", "--model", "gpt2", "--dp", "8", "--deepspeed-config", path.string(),
                         "--megatron-args", "--global-batch-size 128"});
  EXPECT_EQ(gb.code, 2);
  EXPECT_NE(gb.err.find("train_batch_size (in trainmem_megatron_args_test_ds.json) = 64: differs from "
                        "--global-batch-size 128 in the Megatron arguments"),
            std::string::npos)
      << gb.err;
}

// The top-level --padded-vocab-size P (also a YAML key): the embedding and LM head get exactly P rows, no further
// padding. Llama-2 7B (vocab 32000, untied, hidden 4096; 6,738,415,616 parameters, its default padding a no-op:
// 32000 is a multiple of 128) with P = 32128: 2 * 128 * 4096 = 1,048,576 more, 6,739,464,192. At tp 2 with P = 32256
// each rank holds P / 2 = 16128 rows of each. P must be >= the vocabulary and a multiple of tp (Megatron's
// VocabParallelEmbedding divides the rows evenly: megatron.core.utils.divide asserts it).
TEST(PaddedVocabSizeFlag, SetsTheRowsAndChecksThem) {
  const CliRun r = run({"estimate", "--model", "llama2-7b", "--padded-vocab-size", "32128", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.json()["config"]["num_parameters"], 6'739'464'192ULL);
  EXPECT_EQ(r.json()["config"]["model"]["padded_vocab_size"], 32128);
  const CliRun t2 =
      run({"estimate", "--model", "llama2-7b", "--tp", "2", "--padded-vocab-size", "32256", "--format", "json"});
  ASSERT_EQ(t2.code, 0) << t2.err;
  EXPECT_EQ(t2.json()["config"]["model"]["padded_vocab_size"], 32256);
  // The YAML key is the same setting.
  const std::string yaml = testing::TempDir() + "/padded.yaml";
  std::ofstream(yaml) << "model: llama2-7b\npadded_vocab_size: 32128\n";
  const CliRun y = run({"estimate", yaml, "--format", "json"});
  ASSERT_EQ(y.code, 0) << y.err;
  EXPECT_EQ(y.json()["config"]["num_parameters"], 6'739'464'192ULL);
  struct Bad {
    std::vector<std::string> args;
    const char* message;
  };
  for (const Bad& b : {
           Bad{{"--model", "llama2-7b", "--padded-vocab-size", "31999"},
               "padded_vocab_size = 31999: is smaller than the vocabulary (vocab_size 32000)"},
           Bad{{"--model", "llama2-7b", "--tp", "2", "--padded-vocab-size", "32001"},
               "padded_vocab_size = 32001: is not divisible by tensor_model_parallel_size 2"},
           Bad{{"--model", "llama2-7b", "--padded-vocab-size", "32128", "--make-vocab-size-divisible-by", "64"},
               "padded_vocab_size = 32128: is the padded size itself; make_vocab_size_divisible_by (64) is also given"},
           Bad{{"--num-parameters", "7e9", "--padded-vocab-size", "32128"}, "padded_vocab_size = 32128: needs a model"},
           Bad{{"--model", "llama2-7b", "--padded-vocab-size", "0"}, "padded_vocab_size = 0"},
           Bad{{"--model", "llama2-7b", "--padded-vocab-size", "32128", "--megatron-args", "--padded-vocab-size 32256"},
               "padded_vocab_size = 32128 / 32256: given with different values"},
       }) {
    std::vector<std::string> args{"estimate"};
    args.insert(args.end(), b.args.begin(), b.args.end());
    const CliRun e = run(args);
    EXPECT_EQ(e.code, 2) << b.message;
    EXPECT_NE(e.err.find(b.message), std::string::npos) << e.err;
  }
  // plan searches every tp that divides a node (8 GPUs): P must split over each, or --tp fixes one.
  const CliRun p = run({"plan", "--model", "llama2-7b", "--padded-vocab-size", "32004", "--gpu", "h100-80gb",
                        "--num-gpus", "8", "--global-batch-size", "8"});
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("padded_vocab_size = 32004: is not divisible by gpus_per_node 8"), std::string::npos) << p.err;
  const CliRun pt = run({"plan", "--model", "llama2-7b", "--padded-vocab-size", "32004", "--tp", "4", "--gpu",
                         "h100-80gb", "--num-gpus", "8", "--global-batch-size", "8"});
  EXPECT_EQ(pt.code, 0) << pt.err;
}

}  // namespace
}  // namespace trainmem::tools::test
