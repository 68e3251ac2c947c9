// The spellings of PyTorch's floating-point dtypes that configuration files use: DeepSpeed's DtypeEnum
// (deepspeed/runtime/config.py: "fp32" / "float32" / "float" / "torch.float32" / "torch.float", "fp16" / "float16" /
// "half" / "torch.float16" / "torch.half", "bf16" / "bfloat16" / "torch.bfloat16"), also read for FSDP's
// mixed-precision policies. Exact, case-sensitive; callers that accept more (accelerate's "no") check it first.
#pragma once

#include <optional>
#include <string_view>

#include "partition/dtype.hpp"

namespace trainmem::tools {

inline std::optional<Dtype> torch_dtype_named(std::string_view s) {
  if (s == "fp32" || s == "float32" || s == "float" || s == "torch.float32" || s == "torch.float") return Dtype::fp32;
  if (s == "fp16" || s == "float16" || s == "half" || s == "torch.float16" || s == "torch.half") return Dtype::fp16;
  if (s == "bf16" || s == "bfloat16" || s == "torch.bfloat16") return Dtype::bf16;
  return std::nullopt;
}

}  // namespace trainmem::tools
