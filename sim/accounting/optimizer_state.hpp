// Optimizer-state sizes that a flat per-rank element count cannot express: one tensor's moments under the
// libraries' own rules (bitsandbytes and torchao keep tensors under 4096 elements in full precision, torchao also
// tensors that are not whole blocks), DeepSpeed's 1-bit error-feedback buffers, and the fractional bytes per
// parameter `explain` prints beside 16/18/20. The formats and their sources are in recipe.cpp (kOptimizers).
#pragma once

#include <cstdint>

#include "partition/dtype.hpp"
#include "partition/units.hpp"
#include "sim/accounting/recipe.hpp"

namespace trainmem::sim {

// Bytes of the optimizer states of one parameter tensor of `numel` elements whose dtype is `param_dtype`
// (moments, block scales, per-tensor quantization maps, 0/1 Adam's accumulator; not 1-bit error buffers).
Bytes moment_bytes_of_tensor(const Optimizer& optimizer, const Recipe& recipe, std::uint64_t numel, Dtype param_dtype);

// DeepSpeed 1-bit Adam / 0/1 Adam / 1-bit LAMB over a flat buffer of n elements and N = `ranks` workers:
// worker = n rounded up to a multiple of N * lcm(N, 8) (onebit/adam.py: divider = N*8/gcd(N,8)), server = worker / N.
struct OnebitErrorElements {
  std::uint64_t worker = 0;
  std::uint64_t server = 0;
};
OnebitErrorElements onebit_error_elements(std::uint64_t n, std::uint64_t ranks);

// Bytes per parameter of the model states in the large-tensor limit: the recipe's tensors, the moments with their
// block scales (value bits/8 + 4/block each) and 1-bit error buffers (4 + 4/ranks). `ranks` must be >= 1.
double bytes_per_parameter_exact(const Recipe& recipe, const Optimizer& optimizer, std::uint64_t ranks);

}  // namespace trainmem::sim
