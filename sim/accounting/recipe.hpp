// Precision recipes and optimizers: which tensors live per parameter, in which dtype, and from which
// ZeRO stage each is sharded. The 16/18/20 bytes-per-parameter totals are derived from these tables,
// never stored: mixed-16 is the ZeRO paper's 2+2+12 (Rajbhandari et al. 2019, Sec. 3.1), mixed-18
// Megatron's bf16 params + fp32 main_grad (Megatron-LM theoretical_memory_usage.py), mixed-20
// DeepSpeed's extra fp32 gradient partition (ZeRO-Infinity Sec. 3, DeepSpeed #1137).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "partition/dtype.hpp"
#include "partition/zero_partition.hpp"
#include "sim/accounting/memory_category.hpp"

namespace trainmem::sim {

// One per-parameter tensor class of a recipe (optimizer moments are added by the Optimizer).
struct StateTensor {
  std::string_view name;
  Dtype dtype;
  ZeroStateClass zero_class;
  MemoryCategory category;
  std::string_view why;
  std::string_view dtype_label = "";  // the label when it is not dtype_name(dtype) ("int16": 16-bit remainders)
};

struct Recipe {
  std::string_view name;
  std::string_view alias;  // "" when none
  std::string_view summary;
  std::vector<StateTensor> tensors;
  Dtype moment_dtype;  // dtype of full-precision optimizer states
  // torch.autocast: fp32 parameters, bf16 matmuls (activations mostly bf16, the residual stream fp32).
  bool autocast = false;
  // The second moment's dtype when it differs from moment_dtype (Megatron --exp-avg-sq-dtype; low_precision.hpp).
  std::optional<Dtype> second_moment_dtype = std::nullopt;
  // PyTorch FSDP's mixed-precision policy (MixedPrecision / MixedPrecisionPolicy param_dtype): the all-gathered
  // (unsharded) parameters, the compute and so the activations use this dtype, while the sharded parameters, the
  // sharded gradients and the optimizer step keep the parameter dtype of `tensors` (no master copy).
  std::optional<Dtype> compute_dtype = std::nullopt;
};

struct Optimizer {
  std::string_view name;
  int num_states;       // moment tensors per parameter (Adam: m and v)
  bool blockwise_8bit;  // states stored as int8 with one fp32 absmax per kBlockwise8bitBlock elements
  std::string_view summary;
};

// bitsandbytes 8-bit blockwise optimizers keep one fp32 absmax per 256 elements per state
// (bitsandbytes optim/optimizer.py, Optimizer8bit.init_state: blocksize 256).
inline constexpr std::uint64_t kBlockwise8bitBlock = 256;

std::span<const Recipe> recipes();
std::span<const Optimizer> optimizers();
// Finds by name or alias; nullptr when unknown.
const Recipe* find_recipe(std::string_view name);
const Optimizer* find_optimizer(std::string_view name);

// Whole bytes per parameter of the unsharded model states (scales of 8-bit states not included),
// e.g. 16 for mixed-16 + adam.
unsigned bytes_per_parameter(const Recipe& recipe, const Optimizer& optimizer);

// The parameter dtype's bytes (4 under fp32 / amp, else 2): DeepSpeed's bucket and gather element size, and the
// activation dtype without autocast.
unsigned param_bytes(const Recipe& recipe);

// The bytes of the dtype FSDP all-gathers and computes in: compute_dtype when set, else param_bytes.
unsigned unsharded_param_bytes(const Recipe& recipe);

// The dtype of the optimizer's second state (Adam v): second_moment_dtype when set, else moment_dtype.
Dtype second_moment_dtype(const Recipe& recipe);

}  // namespace trainmem::sim
