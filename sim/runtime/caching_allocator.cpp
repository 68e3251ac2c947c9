#include "sim/runtime/caching_allocator.hpp"

namespace trainmem::sim {
namespace {
// Up to the next multiple of `unit` (checked: Bytes arithmetic throws on overflow).
Bytes round_up(Bytes bytes, std::uint64_t unit) {
  const std::uint64_t rem = bytes.value % unit;
  return rem == 0 ? bytes : bytes + Bytes(unit - rem);
}
}  // namespace

Bytes block_size(Bytes request) {
  return request.value < kMinBlockSize ? Bytes(kMinBlockSize) : round_up(request, kMinBlockSize);
}

Bytes segment_size(Bytes request) {
  const Bytes block = block_size(request);
  if (block.value <= kSmallSize) return Bytes(kSmallBuffer);
  if (block.value < kMinLargeAlloc) return Bytes(kLargeBuffer);
  return round_up(block, kRoundLarge);
}

Bytes variable_length_fragmentation(Bytes dynamic, std::uint64_t stranded) {
  if (dynamic.value == 0 || stranded == 0) return Bytes(0);
  return round_up(dynamic, kRoundLarge) * stranded + Bytes(kLargeBuffer) + Bytes(kSmallBuffer);
}

}  // namespace trainmem::sim
