// Element data types and their storage size in bits (int4/nf4 pack two elements per byte).
#pragma once

#include <optional>
#include <string_view>

#include "partition/units.hpp"

namespace trainmem {

enum class Dtype { fp32, bf16, fp16, fp8, int8, int4, nf4 };

// Storage bits per element: fp32 32, bf16/fp16 16, fp8/int8 8, int4/nf4 4.
unsigned bits_per_element(Dtype dtype);
std::string_view dtype_name(Dtype dtype);
std::optional<Dtype> parse_dtype(std::string_view name);

// Bytes needed to store n elements of dtype, rounded up to a whole byte.
Bytes bytes_of(ElementCount n, Dtype dtype);

}  // namespace trainmem
