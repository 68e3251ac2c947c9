// --explain for low-precision training (docs/low-precision.md): bytes per parameter of each optimizer-state choice
// (precision-aware optimizer dtypes, 8-bit Adam) beside the 16/18/20-byte recipes, and the FP8 / MXFP8 / NVFP4
// terms with their formulas and sources. Prints nothing for a scenario that uses none of them.
#pragma once

#include <ostream>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

void explain_low_precision(std::ostream& o, const sim::EstimateResult& r);

}  // namespace trainmem::tools
