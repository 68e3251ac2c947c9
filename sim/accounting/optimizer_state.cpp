#include "sim/accounting/optimizer_state.hpp"

#include <numeric>
#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {
using detail::checked_add;
using detail::checked_mul;

Dtype moment_dtype(const Recipe& recipe, int i) { return i == 1 ? second_moment_dtype(recipe) : recipe.moment_dtype; }
}  // namespace

Bytes moment_bytes_of_tensor(const Optimizer& optimizer, const Recipe& recipe, std::uint64_t numel, Dtype param_dtype) {
  const MomentFormat& f = optimizer.format;
  const bool quantize = optimizer.quantized() && numel >= f.min_elements &&
                        (!f.needs_whole_blocks || (f.block > 0 && numel % f.block == 0));
  std::uint64_t total = 0;
  for (int i = 0; i < optimizer.num_states; ++i) {
    std::uint64_t bits = 0;
    if (quantize) {
      bits = checked_mul(numel, f.value_bits, "moment bits");
      const std::uint64_t scales = detail::ceil_div(numel, f.block);  // bitsandbytes: (n // 256) + bool(n % 256)
      bits = checked_add(bits, checked_mul(scales + f.qmap_entries, 32, "scale bits"), "moment bits");
    } else {
      // Full precision: the recipe's moment dtype, or the library's fallback (bitsandbytes fp32, torchao the
      // parameter's own dtype: torch.zeros_like(p)).
      const Dtype d = !optimizer.quantized()   ? moment_dtype(recipe, i)
                      : f.fallback_param_dtype ? param_dtype
                                               : Dtype::fp32;
      bits = checked_mul(numel, bits_per_element(d), "moment bits");
    }
    total = checked_add(total, detail::ceil_div(bits, 8), "moment bytes");
  }
  total = checked_add(total,
                      checked_mul(checked_mul(numel, 4, "accumulator bytes"),
                                  static_cast<std::uint64_t>(optimizer.extra_fp32_states), "accumulator bytes"),
                      "moment bytes");
  return Bytes(total);
}

OnebitErrorElements onebit_error_elements(std::uint64_t n, std::uint64_t ranks) {
  if (ranks == 0) throw ConfigError("dp", "0", "1-bit optimizers need at least one data-parallel rank");
  const std::uint64_t divider = std::lcm(ranks, std::uint64_t{8});
  const std::uint64_t multiple = checked_mul(ranks, divider, "1-bit padding multiple");
  const std::uint64_t worker = checked_mul(detail::ceil_div(n, multiple), multiple, "1-bit worker_error elements");
  return {worker, worker / ranks};
}

double bytes_per_parameter_exact(const Recipe& recipe, const Optimizer& optimizer, std::uint64_t ranks) {
  if (ranks == 0) throw ConfigError("dp", "0", "must be at least 1");
  double bytes = 0;
  for (const auto& t : recipe.tensors) bytes += bits_per_element(t.dtype) / 8.0;
  const MomentFormat& f = optimizer.format;
  for (int i = 0; i < optimizer.num_states; ++i)
    bytes += optimizer.quantized() ? f.value_bits / 8.0 + 4.0 / static_cast<double>(f.block)
                                   : bits_per_element(moment_dtype(recipe, i)) / 8.0;
  bytes += 4.0 * optimizer.extra_fp32_states;
  if (optimizer.error_feedback) bytes += 4.0 + 4.0 / static_cast<double>(ranks);
  return bytes;
}

}  // namespace trainmem::sim
