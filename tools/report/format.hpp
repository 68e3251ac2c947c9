// Human formatting: IEC units (GiB, never "GB" for 2^30), thousands separators, rank ranges.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "partition/units.hpp"

namespace trainmem::tools {

std::string with_commas(std::uint64_t v);
std::string fixed(double v, int decimals);
// "1.25 GiB", "512.00 MiB", "12 B": the largest IEC unit that keeps the number >= 1.
std::string iec(Bytes b);
// Bytes as GiB with two decimals, for fixed table columns.
std::string gib(Bytes b);
// "0-7,16-23" from ascending ranks.
std::string rank_ranges(const std::vector<std::int64_t>& ranks);

}  // namespace trainmem::tools
