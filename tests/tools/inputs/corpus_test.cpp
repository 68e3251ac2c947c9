// The acceptance corpus (docs/ecosystem-inputs.md "The acceptance corpus"): public config.json files of every model
// family trainmem reads, ds_config files modelled on DeepSpeed's and transformers' examples, and Megatron-LM launch
// lines modelled on Megatron-LM's examples/ scripts. Each file is either accepted (with notices) or refused with a
// message naming the field; the tests say which and check the number or the message. Every expected count is the
// published one or derived by hand in the comment beside it, never copied from trainmem's output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "partition/error.hpp"
#include "tests/tools/cli_test_util.hpp"
#include "tools/inputs/hf_config.hpp"

namespace trainmem::tools::test {
namespace {

const std::string kInputs = std::string(TRAINMEM_SOURCE_DIR) + "/tests/tools/inputs/";

// ---- Hugging Face config.json: tests/tools/inputs/hf_configs/ --------------------------------------------------
// Per-layer hand derivations use h hidden, a heads, g KV heads, d head_dim, f ffn, V vocab, L layers:
// Llama layout = L*(h*a*d + 2*h*g*d + a*d*h + 3*h*f + 2h) + V*h*(1 tied, 2 untied) + h.
struct Published {
  const char* file;
  std::uint64_t count;
  const char* source;
};
constexpr Published kPublished[] = {
    // Llama 2 / 3 / 3.1 / 3.2 / 3.3 (Hub safetensors totals; the Llama layout above gives the same).
    {"llama-2-7b-hf.json", 6'738'415'616ULL, "meta-llama/Llama-2-7b-hf safetensors total"},
    {"llama-2-70b-hf.json", 68'976'648'192ULL,
     "meta-llama/Llama-2-70b-hf; 80*855,654,400 + 2*32000*8192 + 8192 (layer: 67,108,864 q + 16,777,216 kv + "
     "67,108,864 o + 704,643,072 MLP + 16,384 norms)"},
    {"meta-llama-3-8b.json", 8'030'261'248ULL, "meta-llama/Meta-Llama-3-8B safetensors total"},
    {"llama-3.1-70b.json", 70'553'706'496ULL, "meta-llama/Llama-3.1-70B; 80*855,654,400 + 2*128256*8192 + 8192"},
    {"llama-3.2-1b.json", 1'235'814'400ULL,
     "meta-llama/Llama-3.2-1B (1.24B); 16*60,821,504 + 128256*2048 (tied) + 2048"},
    {"llama-3.2-3b.json", 3'212'749'824ULL,
     "meta-llama/Llama-3.2-3B (3.21B); 28*100,669,440 + 128256*3072 (tied) + 3072"},
    {"llama-3.3-70b-instruct.json", 70'553'706'496ULL, "meta-llama/Llama-3.3-70B-Instruct: the 3.1 70B shape"},
    // Mistral / Mixtral.
    {"mistral-7b-v0.1.json", 7'241'732'096ULL, "mistralai/Mistral-7B-v0.1 safetensors total"},
    {"mixtral-8x7b-v0.1.json", 46'702'792'704ULL, "mistralai/Mixtral-8x7B-v0.1 safetensors total"},
    {"mixtral-8x22b-v0.1.json", 140'620'634'112ULL,
     "mistralai/Mixtral-8x22B-v0.1 (card: 141B), by hand: 56*(37,748,736 q + 12,582,912 kv + 37,748,736 o + "
     "49,152 router + 8*3*6144*16384 experts + 12,288 norms) + 2*32000*6144 + 6144"},
    // Qwen2 / Qwen2.5 (q/k/v biases), Qwen2-MoE, Qwen3, Qwen3-MoE.
    {"qwen2-7b.json", 7'615'616'512ULL,
     "Qwen/Qwen2-7B (7.62B); 28*(Llama layer 233,053,184 + q/k/v biases 4,608) + 2*152064*3584 + 3584"},
    {"qwen2.5-0.5b.json", 494'032'768ULL, "Qwen/Qwen2.5-0.5B card: 0.49B; the Qwen2-0.5B shape"},
    {"qwen2.5-7b.json", 7'615'616'512ULL, "Qwen/Qwen2.5-7B card: 7.61B; the Qwen2-7B shape"},
    {"qwen2.5-72b.json", 72'706'203'648ULL,
     "Qwen/Qwen2.5-72B card: 72.7B; 80*(877,674,496 + biases 10,240) + 2*152064*8192 + 8192"},
    {"qwen1.5-moe-a2.7b.json", 14'315'784'192ULL,
     "Qwen/Qwen1.5-MoE-A2.7B safetensors total (tests/.../hf_config_test)"},
    {"qwen2-57b-a14b.json", 57'408'658'944ULL, "Qwen/Qwen2-57B-A14B safetensors total"},
    {"qwen3-0.6b.json", 596'049'920ULL, "Qwen/Qwen3-0.6B (tied head counted once)"},
    {"qwen3-8b.json", 8'190'735'360ULL, "Qwen/Qwen3-8B safetensors total"},
    {"qwen3-32b.json", 32'762'123'264ULL,
     "Qwen/Qwen3-32B card: 32.8B; 64*(41,943,040 q + 10,485,760 kv + 41,943,040 o + 256 q/k norm + 393,216,000 MLP "
     "+ 10,240) + 2*151936*5120 + 5120"},
    {"qwen3-30b-a3b.json", 30'532'122'624ULL, "Qwen/Qwen3-30B-A3B safetensors total"},
    {"qwen3-235b-a22b.json", 235'093'634'560ULL,
     "Qwen/Qwen3-235B-A22B card: 235B, by hand: 94*(33,554,432 q + 4,194,304 kv + 33,554,432 o + 256 + router "
     "524,288 + 128*3*4096*1536 experts + 8192) = 233,848,970,752 + 2*151936*4096 + 4096"},
    // Gemma 1 / 2 / 3.
    {"gemma-2b.json", 2'506'172'416ULL,
     "google/gemma-2b (2.51B); 18*(4,194,304 q + 1,048,576 kv + 4,194,304 o + 100,663,296 MLP + 4096) + "
     "256000*2048 + 2048"},
    {"gemma-7b.json", 8'537'680'896ULL, "google/gemma-7b safetensors total"},
    {"gemma-2-2b.json", 2'614'341'888ULL,
     "google/gemma-2-2b (2.61B); 26*(3*4,718,592 attention + 63,700,992 MLP + 4 norms 9216) + 256000*2304 + 2304"},
    {"gemma-2-9b.json", 9'241'705'984ULL, "google/gemma-2-9b safetensors total"},
    {"gemma-2-27b.json", 27'227'128'320ULL,
     "google/gemma-2-27b (27.2B); 46*(3*18,874,368 + 509,607,936 MLP + 18,432 norms) + 256000*4608 + 4608"},
    {"gemma-3-1b-pt.json", 999'885'952ULL, "google/gemma-3-1b-pt safetensors total"},
    {"gemma-3-27b-text.json", 27'009'346'304ULL, "google/gemma-3-27b-pt language model (text_config)"},
    // Phi-3 / Phi-3.5 / Phi-4.
    {"phi-3-mini-4k-instruct.json", 3'821'079'552ULL, "microsoft/Phi-3-mini-4k-instruct safetensors total"},
    {"phi-3.5-mini-instruct.json", 3'821'079'552ULL, "microsoft/Phi-3.5-mini-instruct (3.8B): the Phi-3-mini shape"},
    {"phi-3-medium-4k-instruct.json", 13'960'238'080ULL,
     "microsoft/Phi-3-medium-4k-instruct (14B); 40*(26,214,400 q + 13,107,200 kv + 26,214,400 o + 275,251,200 MLP + "
     "10,240) + 2*32064*5120 + 5120"},
    {"phi-4.json", 14'659'507'200ULL, "microsoft/phi-4 safetensors total"},
    // DeepSeek V2-Lite / V2 / V3.
    {"deepseek-v2-lite.json", 15'706'484'224ULL, "deepseek-ai/DeepSeek-V2-Lite safetensors total"},
    {"deepseek-v2.json", 235'741'434'880ULL,
     "deepseek-ai/DeepSeek-V2 (236B), by hand: MLA 149,227,520 per layer (q_a 7,864,320 + 1536 + q_b 37,748,736 + "
     "kv_a 2,949,120 + 512 + kv_b 16,777,216 + o 83,886,080); dense layer 0: + 10,240 norms + 188,743,680 MLP = "
     "337,981,440; 59 MoE layers: + 10,240 + router 819,200 + 160*3*5120*1536 + shared 3*5120*3072 = 3,972,116,480; "
     "+ 2*102400*5120 + 5120"},
    {"deepseek-v3.json", 671'026'419'200ULL, "deepseek-ai/DeepSeek-V3 main model (671B without the MTP module)"},
    // GPT-NeoX (Pythia), GPT-2, OPT, Falcon, StarCoder2, OLMo 2, Granite, SmolLM3, DBRX.
    {"pythia-1.4b.json", 1'414'647'808ULL,
     "EleutherAI/pythia-1.4b (Biderman et al. 2023, Table: 1,414,647,808); 24*(12h^2+13h) + 2*50304*2048 + 2*2048"},
    {"pythia-6.9b.json", 6'857'302'016ULL, "EleutherAI/pythia-6.9b (Biderman et al. 2023)"},
    {"pythia-12b.json", 11'846'072'320ULL, "EleutherAI/pythia-12b (Biderman et al. 2023)"},
    {"gpt2.json", 124'439'808ULL, "openai-community/gpt2: 12*(12h^2+13h) + 50257*768 + 1024*768 + 2*768"},
    {"gpt2-xl.json", 1'557'611'200ULL, "openai-community/gpt2-xl: 48*(12h^2+13h) + 50257*1600 + 1024*1600 + 3200"},
    {"opt-6.7b.json", 6'658'473'984ULL,
     "facebook/opt-6.7b: 32*(12h^2+13h) + 50272*4096 + (2048+2)*4096 + 2*4096 (tied)"},
    {"falcon-7b.json", 6'921'720'704ULL, "tiiuae/falcon-7b safetensors total"},
    {"falcon-40b.json", 41'303'293'952ULL, "tiiuae/falcon-40b safetensors total"},
    {"starcoder2-3b.json", 3'030'371'328ULL, "bigcode/starcoder2-3b safetensors total"},
    {"starcoder2-15b.json", 15'957'889'024ULL, "bigcode/starcoder2-15b safetensors total"},
    {"olmo-2-1124-7b.json", 7'298'617'344ULL, "allenai/OLMo-2-1124-7B safetensors total (F32)"},
    {"olmo-2-1124-13b.json", 13'716'198'400ULL, "allenai/OLMo-2-1124-13B safetensors total_size / 4"},
    {"granite-3.1-8b-base.json", 8'170'848'256ULL, "ibm-granite/granite-3.1-8b-base safetensors total"},
    {"smollm3-3b.json", 3'075'098'624ULL, "HuggingFaceTB/SmolLM3-3B safetensors total"},
    {"dbrx-base.json", 131'596'523'520ULL,
     "databricks/dbrx-base (132B), by hand (tests/partition/model_spec_test.cpp DbrxLayerNormWithoutBias)"},
};
// Files of the corpus that are refused, with the field the message names.
struct Refused {
  const char* file;
  const char* message;
};
constexpr Refused kRefused[] = {
    {"gemma-3-27b-pt.json", "model_type (in "},  // the image-text model: its vision tower is not modelled
};

TEST(Corpus, EveryHfConfigGivesThePublishedCountOrIsRefused) {
  std::set<std::string> seen;
  for (const auto& entry : std::filesystem::directory_iterator(kInputs + "hf_configs")) {
    const std::string name = entry.path().filename().string();
    seen.insert(name);
    const Published* p = nullptr;
    for (const auto& e : kPublished)
      if (name == e.file) p = &e;
    const Refused* r = nullptr;
    for (const auto& e : kRefused)
      if (name == e.file) r = &e;
    ASSERT_TRUE(p != nullptr || r != nullptr) << name << ": every corpus file needs its published count";
    if (p != nullptr) {
      EXPECT_EQ(total_parameters(load_hf_config(entry.path().string())).value, p->count) << name << ": " << p->source;
    } else {
      try {
        load_hf_config(entry.path().string());
        ADD_FAILURE() << name << " was accepted";
      } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find(r->message), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_EQ(seen.size(), std::size(kPublished) + std::size(kRefused));  // no table entry without its file
  EXPECT_GE(std::size(kPublished), 30U);
}

// ---- ds_config files: tests/tools/inputs/corpus/ds_config/ ------------------------------------------------------
// Each runs as `trainmem estimate --model llama2-7b --dp 8 --deepspeed-config FILE`. Phi = 6,738,415,616 (Llama-2-7B);
// Adam / AdamW keep 8 bytes per parameter, sharded over dp = 8 from ZeRO stage 1 on: 8*Phi/8 = Phi per rank.
constexpr std::uint64_t kPhi = 6'738'415'616ULL;
struct DsCase {
  const char* file;
  std::vector<std::string> flags;  // beyond --model llama2-7b --dp 8
  int code;
  const char* recipe;  // accepted: the recipe DeepSpeed runs
  int zero_stage;
  std::uint64_t optimizer_bytes;  // rank 0's optimizer states on the GPU
  const char* message;            // in stderr: a notice (accepted) or the error (refused)
};
const std::vector<DsCase>& ds_cases() {
  static const std::vector<DsCase> cases = {
      // FP16_Optimizer at stage 0: nothing sharded, 8*Phi of Adam states.
      {"zero0_fp16_dynamic_loss_scale.json",
       {},
       0,
       "mixed-20",
       0,
       8 * kPhi,
       "ignored (no effect on GPU memory): fp16.hysteresis"},
      {"zero1_bf16_monitors.json",
       {},
       0,
       "mixed-20",
       1,
       kPhi,
       "steps_per_print, tensorboard, wall_clock_breakdown, wandb"},
      // Optimizer states offloaded to the CPU: none on the GPU.
      {"zero2_offload_cpu.json", {}, 0, "mixed-20", 2, 0, "comms_logger"},
      {"zero3_infinity_nvme.json", {}, 0, "mixed-20", 3, 0, "aio"},
      {"hf_zero2_auto.json",
       {},
       2,
       "",
       0,
       0,
       "gradient_accumulation_steps (in hf_zero2_auto.json) = \"auto\": is filled in by the Hugging Face Trainer"},
      {"hf_zero2_auto.json",
       {"--micro-batch-size", "2", "--global-batch-size", "64", "--recipe", "mixed-20"},
       0,
       "mixed-20",
       2,
       0,
       "optimizer.params.lr"},
      {"hf_zero3_auto.json",
       {},
       2,
       "",
       0,
       0,
       "gradient_accumulation_steps (in hf_zero3_auto.json) = \"auto\": is filled in by the Hugging Face Trainer"},
      // "auto" bucket sizes from h = 4096: reduce_bucket_size h^2 = 16,777,216.
      {"hf_zero3_auto.json",
       {"--micro-batch-size", "1", "--global-batch-size", "8", "--recipe", "mixed-20"},
       0,
       "mixed-20",
       3,
       kPhi,
       "reduce_bucket_size 16777216 (zero_optimization.reduce_bucket_size auto = hidden_size^2)"},
      // BF16_Optimizer: fp32 master + Adam sharded over dp (ZeRO stage 1 in trainmem's terms).
      {"bf16_stage0_bf16_optimizer.json", {}, 0, "mixed-18", 1, kPhi, "BF16_Optimizer"},
      {"zero1_fp16_activation_checkpointing.json",
       {},
       0,
       "mixed-20",
       1,
       kPhi,
       "not modelled (their GPU memory is not in the estimate): activation_checkpointing"},
      {"megatron_deepspeed_bf16_fp32_accum.json", {}, 0, "mixed-18", 1, kPhi, "prescale_gradients"},
      {"lamb_bing_bert.json",
       {},
       2,
       "",
       0,
       0,
       "optimizer.type (in lamb_bing_bert.json) = \"Lamb\": is not in trainmem's optimizer table"},
      {"fp16_and_bf16.json", {}, 2, "", 0, 0, "bf16.enabled (in fp16_and_bf16.json) = true: fp16.enabled is also true"},
      {"zero3_mics.json", {}, 2, "", 0, 0, "zero_optimization.mics_shard_size (in zero3_mics.json) = 8: MiCS"},
      {"zero2_typo.json", {}, 2, "", 0, 0, "zero_optimization.overlap_com (in zero2_typo.json) = true: unknown"},
  };
  return cases;
}

TEST(Corpus, EveryDsConfigIsAcceptedOrRefusedByName) {
  std::set<std::string> files;
  for (const auto& c : ds_cases()) {
    files.insert(c.file);
    std::vector<std::string> args = {
        "estimate", "--model", "llama2-7b", "--dp", "8", "--deepspeed-config", kInputs + "corpus/ds_config/" + c.file,
        "--format", "json"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    const CliRun r = run(args);
    ASSERT_EQ(r.code, c.code) << c.file << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.file << ": " << r.err;
    if (c.code != 0) {
      EXPECT_EQ(r.err.rfind("trainmem: error: ", 0), 0U) << r.err;
      continue;
    }
    const auto j = r.json();
    EXPECT_EQ(j["config"]["recipe"], c.recipe) << c.file;
    EXPECT_EQ(j["config"]["zero_stage"], c.zero_stage) << c.file;
    EXPECT_EQ(j["ranks"][0]["bytes"]["optimizer_states"].get<std::uint64_t>(), c.optimizer_bytes) << c.file;
  }
  std::size_t on_disk = 0;
  for (const auto& e : std::filesystem::directory_iterator(kInputs + "corpus/ds_config")) {
    ++on_disk;
    EXPECT_EQ(files.count(e.path().filename().string()), 1U) << e.path() << " has no case";
  }
  EXPECT_EQ(on_disk, files.size());
  EXPECT_GE(on_disk, 10U);
}

// ---- Megatron-LM launch lines: tests/tools/inputs/corpus/megatron/*.args ----------------------------------------
// The arguments as a script writes them, one group a line; lines starting with # are comments.
std::string launch_line(const std::string& file) {
  std::ifstream in(kInputs + "corpus/megatron/" + file);
  std::string line, text;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') text += line + " ";
  return text;
}
struct MegatronCase {
  const char* file;
  const char* world_size;
  int code;
  std::uint64_t parameters;  // accepted: the model's count
  std::int64_t vocab, padded_vocab;
  const char* message;  // in stderr
};
const std::vector<MegatronCase>& megatron_cases() {
  static const std::vector<MegatronCase> cases = {
      // GPT-3 175B: 96*(12h^2+13h) + 50257*h + 2048*h + 2h = 174,604,259,328 (h 12288); the default GPT-2 BPE
      // tokenizer's 50,257 tokens padded to a multiple of 128*tp = 1024: 51,200.
      {"gpt3_175b.args", "1024", 0, 174'604'259'328ULL, 50257, 51200,
       "vocab_size 50257 (--tokenizer-type GPT2BPETokenizer, pretrain_gpt.py's default"},
      // Llama-2-7B's published 6,738,415,616; --make-vocab-size-divisible-by 1: no padding.
      {"llama2_7b.args", "8", 0, 6'738'415'616ULL, 32000, 32000, "--tokenizer-model"},
      // Llama-2-70B's published 68,976,648,192; 32000 padded to a multiple of 128*8 = 1024: 32,768.
      {"llama2_70b.args", "256", 0, 68'976'648'192ULL, 32000, 32768, "--overlap-param-gather"},
      {"mixtral_8x7b_tokenizer_only.args", "32", 2, 0, 0, 0,
       "--vocab-size (in --megatron-args) = (missing): the vocabulary size is that of the Llama2Tokenizer tokenizer "
       "/workspace/tokenizer.model"},
      // Mixtral-8x7B's published 46,702,792,704; 32000 padded to a multiple of 128: 32,000.
      {"mixtral_8x7b.args", "32", 0, 46'702'792'704ULL, 32000, 32000, "--moe-grouped-gemm"},
      // DeepSeek-V2-Lite's published 15,706,484,224 (MLA, 1 dense + 26 MoE layers, 2 shared experts of 1408).
      {"deepseek_v2_lite.args", "8", 0, 15'706'484'224ULL, 102400, 102400, "--moe-router-score-function"},
      // FP8 (hybrid, --fp8-param-gather; docs/low-precision.md) with --grad-reduce-in-bf16. No --normalization
      // RMSNorm: LayerNorm with a bias, 65 norms of h 4096 = 266,240 more than Llama-3-8B's 8,030,261,248; and the
      // NullTokenizer's one EOD row in the embedding and the untied output layer: 2 x 4096 = 8,192. Total
      // 8,030,535,680. The 128,257 rows padded to a multiple of 128 (tp 1): 128,384.
      {"llama3_8b_fp8.args", "8", 0, 8'030'535'680ULL, 128257, 128384, "--fp8-amax-compute-algo"},
      // NullTokenizer: --vocab-size 128256 + 1 EOD token = 128,257 rows, padded to a multiple of 128*2 = 256:
      // 128,512; Llama-3-8B's 8,030,261,248 + 2 more rows of h 4096 (embedding and untied output) = 8,030,269,440.
      {"llama3_8b_null_tokenizer.args", "8", 0, 8'030'269'440ULL, 128257, 128512, "+ 1 EOD token"},
      // --padded-vocab-size 32000 used as is (the Llama-2-7B shape: 6,738,415,616).
      {"gpt_padded_vocab.args", "8", 0, 6'738'415'616ULL, 32000, 32000, "vocab_size 32000 (--padded-vocab-size"},
  };
  return cases;
}

TEST(Corpus, EveryMegatronLaunchIsAcceptedOrRefusedByName) {
  std::set<std::string> files;
  for (const auto& c : megatron_cases()) {
    files.insert(c.file);
    const CliRun r =
        run({"estimate", "--megatron-args", launch_line(c.file), "--world-size", c.world_size, "--format", "json"});
    ASSERT_EQ(r.code, c.code) << c.file << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.file << ": " << r.err;
    if (c.code != 0) continue;
    const auto j = r.json();
    EXPECT_EQ(j["config"]["num_parameters"].get<std::uint64_t>(), c.parameters) << c.file;
    EXPECT_EQ(j["config"]["model"]["vocab_size"], c.vocab) << c.file;
    EXPECT_EQ(j["config"]["model"]["padded_vocab_size"], c.padded_vocab) << c.file;
  }
  std::size_t on_disk = 0;
  for (const auto& e : std::filesystem::directory_iterator(kInputs + "corpus/megatron")) {
    ++on_disk;
    EXPECT_EQ(files.count(e.path().filename().string()), 1U) << e.path() << " has no case";
  }
  EXPECT_EQ(on_disk, files.size());
  EXPECT_GE(on_disk, 5U);
}

}  // namespace
}  // namespace trainmem::tools::test
