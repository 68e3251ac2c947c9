#include "sim/runtime/runtime_memory.hpp"

#include <algorithm>

namespace trainmem::sim {
namespace {
constexpr std::uint64_t kMillion = 1000000;
}  // namespace

Bytes parts_per_million(Bytes bytes, std::uint64_t ppm) {
  // (q * 1e6 + r) * ppm / 1e6 = q * ppm + r * ppm / 1e6; r * ppm < 1e6 * 1e6 fits in 64 bits.
  const std::uint64_t q = bytes.value / kMillion, r = bytes.value % kMillion;
  return Bytes(q) * ppm + Bytes(r * ppm / kMillion);
}

std::vector<Communicator> communicators(const ParallelConfig& p, bool moe, const RuntimeConfig& c) {
  std::vector<Communicator> out;
  auto add = [&](const char* group, std::int64_t size, CommPattern pattern) {
    if (size <= 1) return;
    Communicator comm;
    comm.group = group;
    comm.size = size;
    comm.pattern = pattern;
    switch (pattern) {
      case CommPattern::ring:  // each ring channel receives from the previous rank and sends to the next
        comm.channels = c.nccl_channels;
        comm.connections = 2;
        break;
      case CommPattern::p2p:  // neighbours only: previous and next stage (one peer when the group has 2 ranks)
        comm.channels = c.nccl_p2p_channels;
        comm.connections = 2 * std::min<std::int64_t>(size - 1, 2);
        break;
      case CommPattern::all_to_all:  // every other rank is a peer
        comm.channels = c.nccl_p2p_channels;
        comm.connections = 2 * (size - 1);
        break;
    }
    comm.bytes =
        c.nccl_buffsize * static_cast<std::uint64_t>(comm.channels) * static_cast<std::uint64_t>(comm.connections);
    out.push_back(std::move(comm));
  };
  add("tp", p.tp, CommPattern::ring);
  if (p.hybrid_shard()) {
    // HSDP (torch DeviceMesh (replicate, shard)): reduce-scatter / all-gather within the shard group, all-reduce of
    // the sharded gradient across the dp / shard_group_size replicas.
    add("dp_shard", p.shard_group_size, CommPattern::ring);
    add("dp_replicate", p.dp / p.shard_group_size, CommPattern::ring);
  } else {
    add("dp", p.dp * p.cp, CommPattern::ring);  // gradient reduction / ZeRO group (Megatron: dp with cp)
  }
  add("cp", p.cp, CommPattern::p2p);  // ring attention exchanges K/V with its neighbours
  add("pp", p.pp, CommPattern::p2p);  // activations to the next stage, gradients to the previous
  add("ulysses", p.ulysses_sp, CommPattern::all_to_all);
  if (moe) {
    add("ep", p.ep, CommPattern::all_to_all);  // token dispatch and combine
    if (p.edp() != p.dp * p.cp) add("edp", p.edp(), CommPattern::ring);
  }
  return out;
}

RuntimeMemory runtime_memory(const ParallelConfig& p, bool moe, const RuntimeConfig& c,
                             const std::vector<Bytes>& persistent_buffers, Bytes dynamic) {
  RuntimeMemory out;
  if (!c.enabled) return out;
  out.cuda_context = c.cuda_context;
  out.comms = communicators(p, moe, c);
  for (const auto& comm : out.comms) out.nccl += comm.bytes;
  out.workspaces = c.cublas_workspace + c.attention_workspace;
  if (c.allocator_rounding)
    for (Bytes b : persistent_buffers)
      if (b.value > 0) out.allocator_rounding += round_up_waste(b, kSegmentRounding);
  out.fragmentation = parts_per_million(dynamic, c.fragmentation_ppm);
  out.fragmentation_high = std::max(out.fragmentation, variable_length_fragmentation(dynamic));
  return out;
}

}  // namespace trainmem::sim
