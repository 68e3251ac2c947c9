// Precision recipes and optimizers: which tensors live per parameter, in which dtype, and from which
// ZeRO stage each is sharded. The 16/18/20 bytes-per-parameter totals are derived from these tables,
// never stored: mixed-16 is the ZeRO paper's 2+2+12 (Rajbhandari et al. 2019, Sec. 3.1), mixed-18
// Megatron's bf16 params + fp32 main_grad (Megatron-LM theoretical_memory_usage.py), mixed-20
// DeepSpeed's extra fp32 gradient partition (ZeRO-Infinity Sec. 3, DeepSpeed #1137).
#pragma once

#include <cstdint>
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

// How an optimizer stores its moments (docs/model-states.md, "Optimizer-state formats", has the sources).
struct MomentFormat {
  // 0: the recipe's moment dtypes (fp32 Adam, Megatron --exp-avg-dtype); else bits per stored moment element.
  unsigned value_bits = 0;
  std::string_view value_label = "";  // "uint8", "4-bit (2 per uint8)", "fp8 e4m3"
  std::uint64_t block = 0;            // > 0: one fp32 scale (absmax) per `block` elements of each moment
  // Tensors with fewer elements keep full-precision moments (bitsandbytes min_8bit_size, torchao's 4096).
  std::uint64_t min_elements = 0;
  bool needs_whole_blocks = false;    // torchao: numel % block must be 0, else full precision
  bool fallback_param_dtype = false;  // the full-precision fallback is zeros_like(p) (torchao), not fp32 (bnb)
  unsigned qmap_entries = 0;          // fp32 quantization-map entries per state tensor (torchao; bnb shares one)
};

struct Optimizer {
  std::string_view name;
  int num_states;  // moment tensors per parameter (Adam: m and v; 1-bit LAMB: m, v, fresh v)
  MomentFormat format;
  std::string_view summary;
  std::string_view alias = "";  // another accepted name ("" when none)
  // DeepSpeed 1-bit Adam / 0/1 Adam / 1-bit LAMB: an fp32 worker_error over the flat buffer padded to a multiple
  // of N * lcm(N, 8) and an fp32 server_error of 1/N of it, N the data-parallel size (onebit_error_elements()).
  bool error_feedback = false;
  int extra_fp32_states = 0;  // further fp32 per-parameter buffers (0/1 Adam's momentum_accumulator)
  bool quantized() const { return format.value_bits != 0; }
};

std::span<const Recipe> recipes();
std::span<const Optimizer> optimizers();
// Finds by name or alias; nullptr when unknown.
const Recipe* find_recipe(std::string_view name);
const Optimizer* find_optimizer(std::string_view name);

// Whole bytes per parameter of the unsharded model states (block scales and the 1/N server_error not included),
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
