// Input checks (docs/input-checks.md) not already exercised by input_errors_test.cpp: every check reachable
// from the command line, through the public CLI (run_cli). Each case must exit 2 and print exactly one
// "trainmem: error:" line that names the field and the value as given ("field = value: reason").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

const std::string& dir() {
  static const std::string d = [] {
    const auto p = std::filesystem::temp_directory_path() / "trainmem_input_checks";
    std::filesystem::create_directories(p);
    return p.string();
  }();
  return d;
}

// meta-llama/Llama-2-7b-hf's shape keys, without the closing brace.
constexpr const char* kLlama = R"({"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096,
    "intermediate_size": 11008, "num_attention_heads": 32, "vocab_size": 32000)";

// Files the cases read: written once into dir(); f(name) is the path.
std::string f(const std::string& name) {
  static const std::map<std::string, std::string> kFiles = {
      {"complexkey.yaml", "? [a, b]\n: 1\n"},
      {"notype.json", "{}"},
      {"array.json", "[1, 2]"},
      {"missing.json", "{\"model_type\": \"llama\", \"hidden_size\": 4096}"},
      {"zero.json",
       "{\"model_type\": \"llama\", \"num_hidden_layers\": 0, \"hidden_size\": 4096, \"intermediate_size\": 11008, "
       "\"num_attention_heads\": 32, \"vocab_size\": 32000}"},
      {"kvheads.json",
       "{\"model_type\": \"llama\", \"num_hidden_layers\": 2, \"hidden_size\": 4096, \"intermediate_size\": 11008, "
       "\"num_attention_heads\": 32, \"num_key_value_heads\": 5, \"vocab_size\": 32000}"},
      {"n_embd.json",
       "{\"model_type\": \"gpt2\", \"n_embd\": 2097152, \"n_head\": 16, \"n_layer\": 2, \"n_positions\": 1024, "
       "\"vocab_size\": 50257}"},
      {"tie.json",
       "{\"model_type\": \"llama\", \"num_hidden_layers\": 32, \"hidden_size\": 4096, \"intermediate_size\": 11008, "
       "\"num_attention_heads\": 32, \"vocab_size\": 32000, \"tie_word_embeddings\": \"yes\"}"},
      {"postnorm.json",
       "{\"model_type\": \"opt\", \"hidden_size\": 2048, \"ffn_dim\": 8192, \"num_attention_heads\": 32, "
       "\"num_hidden_layers\": 24, \"vocab_size\": 50272, \"max_position_embeddings\": 2048, \"do_layer_norm_before\": "
       "false}"},
      {"relcfg.yaml", "model_config: missing/config.json\n"},
      {"ok.yaml", "model: llama2-7b\n"},
      // issue 15 footguns
      {"llama.json", std::string(kLlama) + "}"},
      {"dupkey.json", std::string(kLlama) + ", \"num_hidden_layers\": 2}"},
      {"dupds.json", R"({"zero_optimization": {"stage": 2, "stage": 3}})"},
      {"ds.json", R"({"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 2}})"},
      {"nulllayers.json", R"({"model_type": "llama", "num_hidden_layers": null, "hidden_size": 4096,
          "intermediate_size": 11008, "num_attention_heads": 32, "vocab_size": 32000})"},
      {"nulltie.json", std::string(kLlama) + ", \"tie_word_embeddings\": null}"},
      // HF's optional keys as the Hub writes them: null means unset (num_key_value_heads = MHA, head_dim = h/a).
      {"nullok.json", std::string(kLlama) + R"(, "num_key_value_heads": null, "head_dim": null, "rope_scaling": null,
          "sliding_window": null, "quantization_config": null})"},
      // openai-community/gpt2 config.json, verbatim.
      {"gpt2.json",
       R"({"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
          "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
          "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
          "n_inner": null, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "vocab_size": 50257})"},
      {"zwsp.yaml", "model: llama2-7b\ntensor_model_parallel_size\u200b: 2\n"},
  };
  const std::string path = dir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << kFiles.at(name);
  return path;
}

struct Check {
  std::vector<std::string> args;
  std::string expect;  // "field = value" (and the reason's start where it tells checks apart)
};

TEST(InputChecks, EachExitsTwoWithOneLineNamingFieldAndValue) {
  const std::string est = "estimate";
  const std::vector<Check> checks = {
      // model shape (partition/model_spec.cpp validate)
      {{est, "--num-layers", "100001", "--hidden-size", "64", "--num-attention-heads", "4"}, "num_layers = 100001"},
      {{est, "--model", "llama2-7b", "--num-attention-heads", "65537"}, "num_attention_heads = 65537"},
      {{est, "--model", "llama2-7b", "--ffn-hidden-size", "16777217"}, "ffn_hidden_size = 16777217"},
      {{est, "--model", "llama2-7b", "--num-query-groups", "65537"}, "num_query_groups = 65537"},
      {{est, "--model", "llama2-7b", "--kv-channels", "1048577"}, "kv_channels = 1048577"},
      {{est, "--model", "llama2-7b", "--vocab-size", "67108865"}, "vocab_size = 67108865"},
      {{est, "--model", "gpt2", "--max-position-embeddings", "4294967297"}, "max_position_embeddings = 4294967297"},
      {{est, "--model", "gpt2", "--num-attention-heads", "7"}, "num_attention_heads = 7"},
      {{est, "--model", "llama2-7b", "--num-query-groups", "5"}, "num_query_groups = 5"},
      {{est, "--model", "llama2-7b", "--num-experts", "65537"}, "num_experts = 65537"},
      {{est, "--model", "mixtral-8x7b", "--moe-router-topk", "9"}, "moe_router_topk = 9"},
      {{est, "--model", "mixtral-8x7b", "--moe-ffn-hidden-size", "16777217"}, "moe_ffn_hidden_size = 16777217"},
      {{est, "--model", "llama2-7b", "--num-layers", "0"},
       "num_layers = 0: must be a whole number between 1 and 100000"},
      // parallel layout (partition/parallel_config.cpp resolve)
      {{est, "--model", "llama2-7b", "--pp", "0"}, "pipeline_model_parallel_size = 0"},
      {{est, "--model", "llama2-7b", "--cp", "1048577"}, "context_parallel_size = 1048577"},
      {{est, "--model", "llama2-7b", "--ep", "0"}, "expert_model_parallel_size = 0"},
      {{est, "--model", "llama2-7b", "--vpp", "0"}, "virtual_pipeline_model_parallel_size = 0"},
      {{est, "--model", "llama2-7b", "--ulysses-sp", "0"}, "ulysses_sp = 0"},
      {{est, "--model", "llama2-7b", "--etp", "-1"}, "expert_tensor_parallel_size = -1"},
      {{est, "--model", "llama2-7b", "--make-vocab-size-divisible-by", "65537"},
       "make_vocab_size_divisible_by = 65537"},
      {{est, "--model", "llama2-7b", "--tp", "1024", "--pp", "1024", "--cp", "1024"},
       "tensor_model_parallel_size = 1024"},
      {{est, "--model", "llama2-7b", "--world-size", "-8"}, "world_size = -8"},
      {{est, "--model", "llama2-7b", "--dp", "-1"}, "data_parallel_size = -1"},
      {{est, "--model", "llama2-7b", "--world-size", "16777217"}, "world_size = 16777217"},
      {{est, "--model", "llama2-7b", "--dp", "1048576", "--tp", "32"}, "data_parallel_size = 1048576"},
      {{est, "--model", "llama2-7b", "--ulysses-sp", "3", "--dp", "4"}, "ulysses_sp = 3"},
      // HSDP (shard_group_size): 1..dp, divides dp, a sharding ZeRO stage, no cp / Ulysses / ep.
      {{est, "--model", "llama2-7b", "--zero-stage", "3", "--dp", "16", "--shard-group-size", "3"},
       "shard_group_size = 3"},
      {{est, "--model", "llama2-7b", "--zero-stage", "3", "--dp", "16", "--shard-group-size", "32"},
       "shard_group_size = 32"},
      {{est, "--model", "llama2-7b", "--zero-stage", "3", "--dp", "16", "--shard-group-size", "0"},
       "shard_group_size = 0"},
      {{est, "--model", "llama2-7b", "--dp", "16", "--shard-group-size", "8"}, "shard_group_size = 8"},
      {{est, "--model", "llama2-7b", "--zero-stage", "1", "--dp", "8", "--cp", "2", "--shard-group-size", "4",
        "--seq-length", "4096"},
       "shard_group_size = 4"},
      {{est, "--model", "mixtral-8x7b", "--ep", "8", "--dp", "4"}, "expert_model_parallel_size = 8"},
      {{est, "--model", "llama2-7b", "--vpp", "2"}, "virtual_pipeline_model_parallel_size = 2"},
      {{est, "--num-parameters", "7B", "--ep", "2", "--dp", "2"}, "expert_model_parallel_size = 2"},
      {{est, "--num-parameters", "7B", "--pp", "2", "--decoder-first-pipeline-num-layers", "3"},
       "decoder_first_pipeline_num_layers = 3"},
      {{est, "--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4", "--ffn-hidden-size", "66",
        "--tp", "4"},
       "tensor_model_parallel_size = 4"},
      {{est, "--model", "gpt2", "--ulysses-sp", "8", "--dp", "8"}, "ulysses_sp = 8"},
      {{est, "--model", "mixtral-8x7b", "--ep", "3", "--dp", "3"}, "expert_model_parallel_size = 3"},
      {{est, "--model", "mixtral-8x7b", "--etp", "3", "--dp", "3"}, "expert_tensor_parallel_size = 3"},
      {{est, "--model", "llama2-7b", "--ep", "2", "--dp", "2"}, "expert_model_parallel_size = 2"},
      {{est, "--model", "gpt2", "--pp", "16"}, "pipeline_model_parallel_size = 16"},
      {{est, "--model", "llama2-7b", "--decoder-first-pipeline-num-layers", "4"},
       "decoder_first_pipeline_num_layers = 4"},
      {{est, "--model", "llama2-7b", "--pp", "2", "--vpp", "2", "--decoder-first-pipeline-num-layers", "4"},
       "virtual_pipeline_model_parallel_size = 2"},
      {{est, "--model", "llama2-7b", "--pp", "4", "--decoder-first-pipeline-num-layers", "6"},
       "decoder_first_pipeline_num_layers = 6"},
      {{est, "--model", "llama2-7b", "--pp", "2", "--vpp", "3"}, "virtual_pipeline_model_parallel_size = 3"},
      {{est, "--model", "llama2-7b", "--decoder-last-pipeline-num-layers", "-1", "--pp", "2"},
       "decoder_last_pipeline_num_layers = -1"},
      // training setup (sim/accounting/scenario.cpp resolve_scenario)
      {{est, "--model", "llama2-7b", "--use-distributed-optimizer", "--zero-stage", "2"},
       "use_distributed_optimizer = true"},
      {{est, "--model", "llama2-7b", "--micro-batch-size", "0"}, "micro_batch_size = 0"},
      {{est, "--model", "llama2-7b", "--global-batch-size", "-4"}, "global_batch_size = -4"},
      {{est, "--model", "llama2-7b", "--micro-batch-size", "1073741825"}, "micro_batch_size = 1073741825"},
      {{est, "--model", "llama2-7b", "--pp", "4", "--vpp", "2", "--global-batch-size", "6"}, "global_batch_size = 6"},
      {{est, "--model", "llama2-7b", "--tp", "8", "--sequence-parallel", "--seq-length", "4100"}, "seq_length = 4100"},
      {{est, "--model", "llama2-7b", "--cp", "2", "--seq-length", "4098"}, "seq_length = 4098"},
      {{est, "--model", "gpt2", "--ulysses-sp", "2", "--dp", "2", "--seq-length", "1023"}, "seq_length = 1023"},
      {{est, "--model", "llama2-7b", "--seq-length", "-5"}, "seq_length = -5"},
      {{est, "--model", "llama2-7b", "--recompute-num-layers", "-1"},
       "recompute_num_layers = -1: must be a whole number between 0 and 100000"},
      {{est, "--model", "llama2-7b", "--pp", "4", "--recompute-granularity", "full", "--recompute-num-layers", "9"},
       "recompute_num_layers = 9"},
      {{est, "--model", "llama2-7b", "--attention-dropout", "1.5"},
       "attention_dropout = 1.5: must be a number p with 0 <= p < 1"},
      {{est, "--model", "llama2-7b", "--hidden-dropout", "-0.1"},
       "hidden_dropout = -0.1: must be a number p with 0 <= p < 1"},
      {{est, "--model", "llama2-7b", "--pipeline-schedule", "gpipe", "--pp", "2", "--vpp", "2", "--global-batch-size",
        "2"},
       "pipeline_schedule = gpipe"},
      {{est, "--model", "llama2-7b", "--pipeline-schedule", "zb"}, "pipeline_schedule = zb"},
      {{est, "--model", "mixtral-8x7b", "--moe-expert-capacity-factor", "0"},
       "moe_expert_capacity_factor = 0: must be a number f with 0.000001 <= f <= 1000"},
      {{est, "--model", "llama2-7b", "--attention", "eager", "--cp", "2"}, "attention = eager"},
      {{est, "--model", "llama2-70b", "--tp", "8", "--ulysses-sp", "2", "--dp", "2"}, "ulysses_sp = 2"},
      // value syntax (tools/inputs/value_parse.cpp)
      // Text that is no whole number quotes the field's real domain (the library's 1..2^20), not the parser's.
      {{est, "--model", "llama2-7b", "--tp", ""},
       "tensor_model_parallel_size = '': must be a whole number between 1 and 1048576"},
      {{est, "--model", "llama2-7b", "--tp", "99999999999999999999"},
       "tensor_model_parallel_size = 99999999999999999999: must be a whole number between 1 and 1048576"},
      {{est, "--model", "llama2-7b", "--gpu-memory", "0GiB"}, "gpu_memory = 0GiB: must be between 1 byte"},
      {{est, "--model", "llama2-7b", "--gpu-memory", "2e18B"}, "gpu_memory = 2e18B: must be between 1 byte"},
      {{est, "--num-parameters", "abc"}, "num_parameters = abc"},
      {{est, "--model", "llama2-7b", "--normalization", "BatchNorm"}, "normalization = BatchNorm"},
      {{est, "--model", "llama2-7b", "--position-embedding-type", "alibi"}, "position_embedding_type = alibi"},
      {{est, "--model", "llama2-7b", "--recompute-granularity", "partial"}, "recompute_granularity = partial"},
      {{est, "--model", "llama2-7b", "--recompute-method", "random"}, "recompute_method = random"},
      {{est, "--model", "llama2-7b", "--attention", "sdpa"}, "attention = sdpa"},
      {{est, "--model", "llama2-7b", "--explain=maybe"}, "explain = maybe"},
      // command line and scenario file (tools/cli/command_line.cpp, tools/inputs/scenario_file.cpp,
      // tools/inputs/scenario_builder.cpp)
      {{est, f("ok.yaml"), f("ok.yaml")}, "scenario = (second file)"},
      {{est, "--model", "llama2-7b", "--tp"}, "option = --tp"},
      {{est, f("complexkey.yaml")},
       std::string("scenario = ") + f("complexkey.yaml") + ": has a key that is not a plain name"},
      {{est, f("relcfg.yaml")}, std::string("model_config = ") + dir() + "/missing/config.json: file not found"},
      {{est, "--model", "gpt2", "--model-config", f("zero.json")},
       std::string("model_config = ") + f("zero.json") + ": give either"},
      {{est, "--model", "gpt2", "--num-parameters", "1B"}, "num_parameters = 1B"},
      {{est, "--model", "llama2-7b", "--gpu", "h100-80gb", "--gpu-memory", "80GiB"}, "gpu_memory = 80GiB"},
      {{est, "--num-layers", "32"}, "model = (none)"},
      // config.json (tools/inputs/hf_config.cpp)
      {{est, "--model-config", f("array.json")},
       std::string("model_config = ") + f("array.json") + ": must be a JSON object"},
      {{est, "--model-config", f("notype.json")}, std::string("model_type (in ") + f("notype.json") + ") = (missing)"},
      {{est, "--model-config", f("missing.json")},
       std::string("num_hidden_layers (in ") + f("missing.json") + ") = (missing)"},
      {{est, "--model-config", f("zero.json")},
       std::string("num_hidden_layers (in ") + f("zero.json") + ") = 0: must be positive"},
      // Shape errors found by validate() name the config.json key, not the Megatron field.
      {{est, "--model-config", f("kvheads.json")},
       std::string("num_key_value_heads (in ") + f("kvheads.json") + ") = 5: does not divide num_attention_heads 32"},
      {{est, "--model-config", f("n_embd.json")},
       std::string("n_embd (in ") + f("n_embd.json") + ") = 2097152: must be between 1 and 1048576"},
      {{est, "--model-config", f("tie.json")}, std::string("tie_word_embeddings (in ") + f("tie.json") + ") = \"yes\""},
      {{est, "--model-config", f("postnorm.json")},
       std::string("do_layer_norm_before (in ") + f("postnorm.json") + ") = false"},
      {{est, "--model-config", "/tmp"}, "model_config = /tmp: is a directory"},
      // issue 15: a size names its unit (80 was 80 bytes); one letter is ambiguous between GB and GiB
      {{est, "--model", "llama2-7b", "--gpu-memory", "80"},
       "gpu_memory = 80: has no unit: write 80GB (10^9 bytes) or 80GiB (2^30 bytes), or 80B for a byte count"},
      {{est, "--model", "llama2-7b", "--gpu-memory", "80G"},
       "gpu_memory = 80G: has an ambiguous unit: write 80GB (10^9 bytes) or 80GiB (2^30 bytes)"},
      {{est, "--model", "llama2-7b", "--cuda-context", "512m"},
       "cuda_context = 512m: has an ambiguous unit: write 512MB (10^6 bytes) or 512MiB (2^20 bytes)"},
      {{"plan", "--model", "llama2-7b", "--gpu", "h100-80gb", "--global-batch-size", "8", "--host-memory-per-node",
        "2048"},
       "host_memory_per_node = 2048: has no unit"},
      // GPU names: any case and nvidia-smi spellings resolve (InputChecks.FootgunFixes); a family of several
      // devices names them all
      {{est, "--model", "llama2-7b", "--gpu", "a100"},
       "gpu = a100: unknown GPU (did you mean a100-40gb or a100-80gb?)"},
      {{est, "--model", "llama2-7b", "--gpu", "H100-8OGB"}, "gpu = H100-8OGB: unknown GPU (did you mean h100-80gb?)"},
      // a Hub id or a file given to --model
      {{est, "--model", "meta-llama/Llama-2-7b-hf"},
       "model = meta-llama/Llama-2-7b-hf: looks like a Hugging Face Hub id, not a preset: download its config.json "
       "(huggingface-cli download meta-llama/Llama-2-7b-hf config.json --local-dir DIR, or "
       "https://huggingface.co/meta-llama/Llama-2-7b-hf/resolve/main/config.json) and pass --model-config "
       "DIR/config.json"},
      {{est, "--model", f("gpt2.json")},
       "model = " + f("gpt2.json") + ": is a file, not a preset; pass a config.json with --model-config " +
           f("gpt2.json")},
      // a config.json or ds_config given as the scenario
      {{est, f("llama.json")},
       "scenario = " + f("llama.json") +
           ": is a Hugging Face config.json (it has model_type), not a scenario; pass it with --model-config " +
           f("llama.json")},
      {{est, f("ds.json")},
       "scenario = " + f("ds.json") +
           ": is a DeepSpeed ds_config (it has zero_optimization), not a scenario; pass it with --deepspeed-config " +
           f("ds.json")},
      // JSON keys given twice; nulls
      {{est, "--model-config", f("dupkey.json")},
       "num_hidden_layers (in " + f("dupkey.json") + ") = (duplicate key): appears more than once in the same object"},
      {{est, "--model", "gpt2", "--dp", "2", "--deepspeed-config", f("dupds.json")},
       "zero_optimization.stage (in dupds.json) = (duplicate key): appears more than once"},
      {{est, "--model-config", f("nulllayers.json")},
       "num_hidden_layers (in " + f("nulllayers.json") + ") = null: required by this model_type (give a number)"},
      {{est, "--model-config", f("nulltie.json")},
       "tie_word_embeddings (in " + f("nulltie.json") + ") = null: is not a value for this key"},
      // invisible characters are escaped in the message (U+2011 non-breaking hyphen, U+200B zero-width space,
      // U+00A0 no-break space, U+202E right-to-left override, a carriage return)
      {{est, "--model", "llama2\u20117b"}, "model = llama2\\u20117b: unknown preset (did you mean llama2-7b?)"},
      {{est, "--model", "llama2-7b\u200b"}, "model = llama2-7b\\u200b: unknown preset (did you mean llama2-7b?)"},
      {{est, "--model", "llama2-7b", "--gpu", "h100\u00a080gb"},
       "gpu = h100\\u00a080gb: unknown GPU (did you mean h100-80gb?)"},
      {{est, "--model", "llama2-7b", "--recipe", "mixed\u202e"}, "recipe = mixed\\u202e: "},
      {{est, "--model", "llama2-7b\r"}, "model = llama2-7b\\r: unknown preset (did you mean llama2-7b?)"},
      {{est, f("zwsp.yaml")},
       "tensor_model_parallel_size\\u200b = (in zwsp.yaml): unknown key (did you mean 'tensor_model_parallel_size'?)"},
      // models subcommand
      {{"models", "--frobnicate"}, "option = --frobnicate"},
      {{"models", "--format", "xml"}, "format = xml"},
  };
  for (const auto& c : checks) {
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    const CliRun r = run(c.args);
    EXPECT_EQ(r.code, 2) << joined << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("trainmem: error: ", 0), 0U) << joined << "\n" << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << joined << "\nnot one line: " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << joined << "\nexpected: " << c.expect << "\ngot: " << r.err;
    EXPECT_TRUE(r.out.empty()) << joined;
  }
}

// The checks are not vacuous: the same commands with the offending value fixed succeed.
TEST(InputChecks, FixedValuesPass) {
  const std::vector<std::vector<std::string>> good = {
      {"estimate", "--model", "llama2-7b", "--pp", "4", "--decoder-first-pipeline-num-layers", "5"},
      {"estimate", "--model", "llama2-7b", "--tp", "8", "--sequence-parallel", "--seq-length", "4096"},
      {"estimate", "--model", "mixtral-8x7b", "--ep", "8", "--dp", "8"},
      {"estimate", "--model", "llama2-7b", "--pp", "4", "--vpp", "2", "--global-batch-size", "8"},
      {"estimate", "--model", "llama2-7b", "--cp", "2", "--seq-length", "4096"},
      {"estimate", "--model", "llama2-7b", "--zero-stage", "3", "--dp", "16", "--shard-group-size", "8"},
      {"estimate", f("ok.yaml")},
  };
  for (const auto& args : good) {
    const CliRun r = run(args);
    EXPECT_EQ(r.code, 0) << args[2] << "\n" << r.err;
  }
}

// Issue 15: what the footgun fixes accept, with values derived outside trainmem.
TEST(InputChecks, FootgunFixes) {
  const auto gpu_bytes = [](const std::vector<std::string>& args) {
    std::vector<std::string> a = {"estimate", "--model", "gpt2", "--format", "json"};
    a.insert(a.end(), args.begin(), args.end());
    const CliRun r = run(a);
    EXPECT_EQ(r.code, 0) << args.back() << "\n" << r.err;
    return r.code == 0 ? r.json()["gpu_memory_bytes"].get<std::uint64_t>() : 0;
  };
  // nvidia-smi's totals: 81559 MiB for H100 80GB HBM3, 40960 MiB for A100-SXM4-40GB.
  for (const char* name : {"h100-80gb", "H100-80GB", "h100", "H100 80GB", "NVIDIA H100 80GB HBM3", "h100-sxm",
                           "H100_SXM5_80GB", "h10080gb"})
    EXPECT_EQ(gpu_bytes({"--gpu", name}), 81559ULL << 20) << name;
  EXPECT_EQ(gpu_bytes({"--gpu", "A100-SXM4-40GB"}), 40960ULL << 20);
  const CliRun table = run({"estimate", "--model", "gpt2", "--gpu", "NVIDIA H100 80GB HBM3"});
  EXPECT_NE(table.out.find("# Device    : h100-80gb, "), std::string::npos) << table.out;  // the table's name
  // Units in any case; GB is 10^9, GiB 2^30, B a byte count.
  EXPECT_EQ(gpu_bytes({"--gpu-memory", "80gib"}), 80ULL << 30);
  EXPECT_EQ(gpu_bytes({"--gpu-memory", "80GB"}), 80'000'000'000ULL);
  EXPECT_EQ(gpu_bytes({"--gpu-memory", "85899345920B"}), 85'899'345'920ULL);
  // Parameter counts keep K/M/B/G/T as powers of 1000: 7G = 7B = 7 * 10^9 (20 bytes each under mixed-20).
  for (const char* n : {"7G", "7B", "7e9"}) {
    const CliRun c =
        run({"estimate", "--num-parameters", n, "--recipe", "mixed-20", "--runtime", "off", "--format", "json"});
    ASSERT_EQ(c.code, 0) << n << "\n" << c.err;
    EXPECT_EQ(c.json()["max_peak_bytes"].get<std::uint64_t>(), 140'000'000'000ULL) << n;
  }
  // README's --model-config example on GPT-2's config.json: the default sequence is its 1024 positions (the 2048
  // default exceeded the position table). The null optional keys of a Hub config read as unset.
  const CliRun readme =
      run({"estimate", "--model-config", f("gpt2.json"), "--dp", "8", "--zero-stage", "3", "--gpu-memory", "80GiB"});
  EXPECT_EQ(readme.code, 0) << readme.err;
  EXPECT_NE(readme.out.find("seq_length 1024;"), std::string::npos) << readme.out;
  const CliRun nullok = run({"estimate", "--model-config", f("nullok.json"), "--format", "json"});
  ASSERT_EQ(nullok.code, 0) << nullok.err;
  EXPECT_EQ(nullok.json()["config"]["num_parameters"], 6'738'415'616ULL);  // Llama-2-7b's published count
  // Fewer microbatches than stages: a warning on stderr, the report unchanged. Default global batch 1 = micro 1
  // * dp 1: one microbatch on 4 stages, bubble (pp - 1) / (m + pp - 1) = 3/4; 4 = pp * 1 * 1 fills the pipeline.
  for (const char* cmd : {"estimate", "simulate"}) {
    const CliRun few = run({cmd, "--model", "llama2-7b", "--pp", "4"});
    EXPECT_EQ(few.code, 0) << few.err;
    EXPECT_EQ(few.err,
              "trainmem: warning: num_microbatches 1 = global_batch_size 1 / (micro_batch_size 1 * dp 1) is below "
              "pipeline_model_parallel_size 4: the pipeline never fills (bubble 3/4 of the step) and the activation "
              "peaks are those of a part-empty pipeline; give --global-batch-size 4 or more to size a full one\n");
    EXPECT_EQ(few.out.find("warning"), std::string::npos) << few.out;
    const CliRun full = run({cmd, "--model", "llama2-7b", "--pp", "4", "--global-batch-size", "4"});
    EXPECT_EQ(full.code, 0) << full.err;
    EXPECT_EQ(full.err, "") << cmd;
    // JSON carries the same lines in `warnings` (empty when there are none).
    const CliRun few_json = run({cmd, "--model", "llama2-7b", "--pp", "4", "--format", "json"});
    ASSERT_EQ(few_json.code, 0) << few_json.err;
    const auto w = few_json.json()["warnings"];
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ("trainmem: warning: " + w[0].get<std::string>() + "\n", few.err);
    const CliRun full_json =
        run({cmd, "--model", "llama2-7b", "--pp", "4", "--global-batch-size", "4", "--format", "json"});
    EXPECT_TRUE(full_json.json()["warnings"].empty()) << cmd;
  }
}

}  // namespace
}  // namespace trainmem::tools::test
