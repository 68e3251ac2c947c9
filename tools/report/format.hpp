// Human formatting: IEC units (GiB, never "GB" for 2^30), thousands separators, rank ranges.
#pragma once

#include <cstddef>
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
// Left-aligned (pad) and right-aligned (lpad) to width w with spaces; longer strings are kept whole.
std::string pad(std::string s, std::size_t w);
std::string lpad(const std::string& s, std::size_t w);
// "0-7,16-23" from ascending ranks.
std::string rank_ranges(const std::vector<std::int64_t>& ranks);

}  // namespace trainmem::tools
