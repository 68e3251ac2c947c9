// ZeRO partitioning (Rajbhandari et al. 2019, Sec. 5): stage 1 shards optimizer states (master weights,
// moments, an fp32 gradient copy), stage 2 also gradients, stage 3 also parameters. A sharded tensor
// class of n elements costs ceil(n / dp) elements per rank: the flat buffer is padded to a multiple of
// dp so every rank's partition is equal (DeepSpeed's flatten+align, Megatron's distributed optimizer).
#pragma once

#include <cstdint>
#include <string_view>

#include "partition/units.hpp"

namespace trainmem {

// What ZeRO can shard; the stage from which each class is sharded is the ZeRO paper's P_os/P_g/P_p.
enum class ZeroStateClass { optimizer, gradients, parameters };

constexpr int zero_first_sharding_stage(ZeroStateClass cls) {
  switch (cls) {
    case ZeroStateClass::optimizer: return 1;
    case ZeroStateClass::gradients: return 2;
    case ZeroStateClass::parameters: return 3;
  }
  return 4;
}

constexpr bool zero_shards(int zero_stage, ZeroStateClass cls) { return zero_stage >= zero_first_sharding_stage(cls); }

// Elements one of `ways` data-parallel ranks holds of an n-element flat buffer.
inline ElementCount zero_shard_elements(ElementCount n, std::int64_t ways) {
  return ElementCount(detail::ceil_div(n.value, static_cast<std::uint64_t>(ways)));
}

}  // namespace trainmem
