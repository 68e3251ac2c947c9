#include "partition/dtype.hpp"

#include <array>
#include <utility>

namespace trainmem {
namespace {
struct DtypeInfo {
  Dtype dtype;
  std::string_view name;
  unsigned bits;
};
constexpr std::array<DtypeInfo, 7> kDtypes{{
    {Dtype::fp32, "fp32", 32},
    {Dtype::bf16, "bf16", 16},
    {Dtype::fp16, "fp16", 16},
    {Dtype::fp8, "fp8", 8},
    {Dtype::int8, "int8", 8},
    {Dtype::int4, "int4", 4},
    {Dtype::nf4, "nf4", 4},
}};
const DtypeInfo& info(Dtype d) {
  for (const auto& i : kDtypes)
    if (i.dtype == d) return i;
  return kDtypes[0];  // unreachable: every enumerator is in the table
}
}  // namespace

unsigned bits_per_element(Dtype dtype) { return info(dtype).bits; }
std::string_view dtype_name(Dtype dtype) { return info(dtype).name; }

std::optional<Dtype> parse_dtype(std::string_view name) {
  for (const auto& i : kDtypes)
    if (i.name == name) return i.dtype;
  return std::nullopt;
}

Bytes bytes_of(ElementCount n, Dtype dtype) {
  const std::uint64_t bits = detail::checked_mul(n.value, bits_per_element(dtype), "bytes_of");
  return Bytes(detail::ceil_div(bits, 8));
}

}  // namespace trainmem
