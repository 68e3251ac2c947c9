// Interleaved 1F1B (Narayanan et al. 2021, Sec. 2.2; Megatron-LM
// forward_backward_pipelining_with_interleaving): each stage holds vpp model chunks. Virtual microbatch
// k runs chunk (k / pp) % vpp of microbatch (k / (pp * vpp)) * pp + k % pp; backwards visit chunks in
// reverse. Warm-up: (pp - p - 1) * 2 + (vpp - 1) * pp forwards (capped at m * vpp; all of them when
// m == pp). The first stage
// then holds pp microbatches' worth of layers times 1 + (pp - 1) / (pp * vpp).
#include <algorithm>
#include <string>

#include "partition/error.hpp"
#include "sim/schedule/pipeline_schedule.hpp"

namespace trainmem::sim {

std::vector<ScheduleOp> interleaved_ops(const ScheduleShape& s) {
  if (s.num_microbatches % s.pp != 0)
    throw ConfigError("num_microbatches", std::to_string(s.num_microbatches),
                      "the interleaved schedule needs a multiple of pp = " + std::to_string(s.pp));
  const std::int64_t total = s.num_microbatches * s.vpp;
  // Megatron: with exactly pp microbatches every forward is a warm-up forward (all_warmup_microbatches).
  const std::int64_t warmup = s.num_microbatches == s.pp
                                  ? total
                                  : std::min<std::int64_t>((s.pp - s.pp_rank - 1) * 2 + (s.vpp - 1) * s.pp, total);
  auto op = [&](ScheduleOp::Kind kind, std::int64_t k) {
    const std::int64_t group = k / (s.pp * s.vpp);
    std::int64_t chunk = (k / s.pp) % s.vpp;
    if (kind == ScheduleOp::Kind::backward) chunk = s.vpp - 1 - chunk;
    return ScheduleOp{kind, static_cast<std::int32_t>(group * s.pp + k % s.pp), static_cast<std::int32_t>(chunk)};
  };
  std::vector<ScheduleOp> ops;
  ops.reserve(static_cast<std::size_t>(2 * total));
  for (std::int64_t k = 0; k < warmup; ++k) ops.push_back(op(ScheduleOp::Kind::forward, k));
  for (std::int64_t i = 0; i < total - warmup; ++i) {
    ops.push_back(op(ScheduleOp::Kind::forward, warmup + i));
    ops.push_back(op(ScheduleOp::Kind::backward, i));
  }
  for (std::int64_t i = total - warmup; i < total; ++i) ops.push_back(op(ScheduleOp::Kind::backward, i));
  return ops;
}

}  // namespace trainmem::sim
