// The offload and runtime options through the real command line: input errors (exit 2 naming the field),
// the runtime switch, and the ZeRO-Infinity 1T acceptance scenario with its GPU, host and NVMe bytes per node
// derived by hand.
#include <gtest/gtest.h>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools {
namespace {
using test::CliRun;
using test::run;

std::uint64_t u64(const nlohmann::json& v) { return v.get<std::uint64_t>(); }

TEST(OffloadCli, InputErrorsNameTheField) {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  } cases[] = {
      {{"--offload-param", "cpu", "--zero-stage", "2"}, "offload_param"},
      {{"--offload-optimizer", "cpu"}, "offload_optimizer"},
      {{"--offload-optimizer", "nvme", "--zero-stage", "2"}, "offload_optimizer"},
      {{"--offload-optimizer", "disk", "--zero-stage", "2"}, "offload_optimizer"},
      {{"--offload-activation-checkpoints"}, "offload_activation_checkpoints"},
      {{"--gpus-per-node", "0"}, "gpus_per_node"},
      {{"--allocator-fragmentation", "1.5"}, "allocator_fragmentation"},
      {{"--nccl-channels", "0"}, "nccl_channels"},
      {{"--cuda-context", "lots"}, "cuda_context"},
      {{"--offload-optimizer-buffer-count", "0"}, "offload_optimizer_buffer_count = 0"},
      {{"--offload-param-buffer-count", "2000"}, "offload_param_buffer_count = 2000"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"estimate", "--model", "llama2-7b", "--dp", "8"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CliRun r = run(args);
    EXPECT_EQ(r.code, 2) << c.expect << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
  }
}

TEST(OffloadCli, RuntimeSwitchesOffAndEachCategoryIsReported) {
  const CliRun on = run({"estimate", "--model", "llama2-7b", "--dp", "8", "--zero-stage", "1", "--format", "json"});
  const CliRun off = run(
      {"estimate", "--model", "llama2-7b", "--dp", "8", "--zero-stage", "1", "--runtime", "off", "--format", "json"});
  ASSERT_EQ(on.code, 0) << on.err;
  ASSERT_EQ(off.code, 0) << off.err;
  const nlohmann::json on_j = on.json(), off_j = off.json();
  const auto& a = on_j["ranks"][0];
  const auto& b = off_j["ranks"][0];
  EXPECT_EQ(u64(b["bytes"]["runtime"]), 0u);
  EXPECT_EQ(off_j["not_modelled"], nlohmann::json::array({"runtime"}));
  // runtime = the sum of its categories; the peak drops by exactly the runtime.
  const auto& d = a["runtime_detail"];
  EXPECT_EQ(u64(a["bytes"]["runtime"]), u64(d["cuda_context"]) + u64(d["nccl"]) + u64(d["workspaces"]) +
                                            u64(d["allocator_rounding"]) + u64(d["fragmentation"]));
  EXPECT_EQ(u64(a["bytes"]["peak"]) - u64(a["bytes"]["runtime"]), u64(b["bytes"]["peak"]));
  // Defaults: context 512 MiB; one dp-8 ring 16 channels x 2 connections x 4 MiB = 128 MiB; cuBLAS 32 MiB.
  EXPECT_EQ(u64(d["cuda_context"]), 512ULL << 20);
  EXPECT_EQ(u64(d["nccl"]), 128ULL << 20);
  EXPECT_EQ(u64(d["workspaces"]), 32ULL << 20);
  // A category switched off alone: --cuda-context 0 removes exactly 512 MiB.
  const CliRun no_ctx = run({"estimate", "--model", "llama2-7b", "--dp", "8", "--zero-stage", "1", "--cuda-context",
                             "0", "--format", "json"});
  EXPECT_EQ(u64(a["bytes"]["peak"]) - u64(no_ctx.json()["ranks"][0]["bytes"]["peak"]), 512ULL << 20);
}

TEST(OffloadCli, ZeroInfinity1TNvmeScenarioPerNodeBytes) {
  // scenarios/zero_infinity_1t_nvme.yaml: 128 layers, h = 25,600, GeLU MLP with biases: a layer is
  // 12h^2 + 13h = 7,864,652,800 parameters, x 128 = 1,006,675,558,400; + word embedding 50257 x 25600 =
  // 1,286,579,200 + positions 1024 x 25600 = 26,214,400 + final LayerNorm 2h = 51,200 -> 1,007,988,403,200.
  // The rank holds the vocab padded to 50304 (+47 rows x 25600): 1,007,989,606,400, so a dp-16 shard is
  // 62,999,350,400 elements.
  const std::string path = std::string(TRAINMEM_SOURCE_DIR) + "/scenarios/zero_infinity_1t_nvme.yaml";
  const CliRun r = run({"estimate", path, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(u64(j["config"]["num_parameters"]), 1'007'988'403'200ULL);
  const std::uint64_t shard = 62'999'350'400ULL;
  const auto& c = j["ranks"][0];
  ASSERT_EQ(u64(c["parameters"]), 16 * shard);
  // GPU: no model state is left (params, both gradient buffers, master and moments are offloaded) but ZeRO-3's
  // persistent small tensors: a layer's tensors under stage3_param_persistence_threshold (1e5 elements), the QKV
  // bias 3h = 76,800, the out-proj bias h and the fc2 bias h = 25,600 each (the fc1 bias 4h and the two
  // LayerNorms, one 4h item, are at or above it), stay whole on every rank under offload_param: 2 B x 128,000 x
  // 128 layers = 32,768,000 B.
  EXPECT_EQ(u64(c["bytes"]["params"]), 2ULL * 128'000 * 128);
  for (const char* k : {"grads", "master_params", "optimizer_states"}) EXPECT_EQ(u64(c["bytes"][k]), 0u) << k;
  // NVMe per rank: mixed-20's bf16 params 2 + fp32 gradients 4 + fp32 master 4 + Adam m, v 8 = 18 bytes x shard.
  EXPECT_EQ(u64(c["nvme"]["bytes"]), 18 * shard);
  // Host per rank: bf16 gradient partition buffer 2 x shard + optimizer swap buffers 4 x 1e9 fp32 + parameter
  // swap buffers 5 x 1e8 bf16 + 128 offloaded checkpoints of s*b*h*2 = 1024 * 25600 * 2 = 52,428,800 bytes.
  const std::uint64_t pinned = 4ULL * 1'000'000'000 * 4 + 5ULL * 100'000'000 * 2;
  const std::uint64_t host = 2 * shard + pinned + 128ULL * 52'428'800;
  EXPECT_EQ(host, 149'709'587'200ULL);
  EXPECT_EQ(u64(c["host"]["bytes"]), host);
  EXPECT_EQ(u64(c["host"]["pinned_bytes"]), pinned);
  // Per node (16 GPUs of a DGX-2, the whole job): 16 x each figure.
  const auto& n = j["per_node"];
  EXPECT_EQ(u64(n["gpus_per_node"]), 16u);
  EXPECT_EQ(u64(n["num_nodes"]), 1u);
  EXPECT_EQ(u64(n["nvme_bytes"]), 16 * 18 * shard);  // 18,143,812,915,200 B = 16.5 TiB
  EXPECT_EQ(u64(n["host_bytes"]), 16 * host);        // 2,395,353,395,200 B = 2.18 TiB
  EXPECT_EQ(u64(n["host_pinned_bytes"]), 16 * pinned);
  EXPECT_EQ(u64(n["gpu_bytes"]), 16 * u64(j["max_peak_bytes"]));
  // GPU per rank, s = 1024, b = 1, h = 25600, a = 160, V = 50304 (padded), one stage holding both ends.
  // Activations left on the GPU (the checkpoints are in host memory): first-stage extras = embedding dropout
  // mask sbh (1 byte) + int64 token ids 8s = 26,222,592; last-stage extras = final-norm input 2sbh + LM-head
  // input 2sbh + fp32 logits 4sV + target mask s + int64 targets 8s = 310,912,000. The peak is the backward of
  // the last layer (sim/accounting/stage_peak.hpp), where the loss extras are already freed:
  //   buffers: DeepSpeed's IPG bucket 2 B x 5e8 + the layer's gather 2 B x min(1e9, partitioned + 5e7) with
  //     partitioned = 7,864,652,800 - 128,000 = 7,864,524,800 -> 1e9 + 2e9;
  //   temporaries: the layer's full-size gradients 2 B x 7,864,524,800 + its activation gradients 2 B x (sbh +
  //     s*4h) = 262,144,000 + rebuilding it under full recompute, Korthikanti's 34sbh with flash attention (no
  //     5as^2 term) + the fp32 logsumexp 4sa = 891,289,600 + 655,360 = 891,944,960.
  const std::uint64_t s = 1024, h = 25600, a = 160;
  const std::uint64_t partitioned = 7'864'652'800ULL - 128'000;
  const std::uint64_t activations = s * h + 8 * s;
  const std::uint64_t buffers = 2ULL * 500'000'000 + 2ULL * 1'000'000'000;
  const std::uint64_t temporaries = 2 * partitioned + 2 * (s * h + 4 * s * h) + 34 * s * h + 4 * s * a;
  EXPECT_EQ(j["ranks"][0]["buffers"]["peak_point"], "backward");
  EXPECT_EQ(u64(c["bytes"]["activations"]), activations);
  EXPECT_EQ(u64(c["bytes"]["buffers"]), buffers);
  EXPECT_EQ(u64(c["bytes"]["temporaries"]), temporaries);
  // Runtime: context 512 MiB + the dp-16 ring (16 channels x 2 connections x 4 MiB = 128 MiB) + cuBLAS 32 MiB
  // + no flat buffer left to round + floor(5% of activations + buffers + temporaries).
  const std::uint64_t dynamic = activations + buffers + temporaries;
  const std::uint64_t runtime = ((512ULL + 128 + 32) << 20) + dynamic / 20;
  EXPECT_EQ(u64(j["max_peak_bytes"]), 2ULL * 128'000 * 128 + dynamic + runtime);
  EXPECT_EQ(u64(c["bytes"]["runtime"]), runtime);
  EXPECT_EQ(j["fits"], true);
}

}  // namespace
}  // namespace trainmem::tools
