// Check macros for MPI, CUDA and NCCL calls (after nccl-tests' MPICHECK/CUDACHECK/NCCLCHECK): a failing
// call throws CommError naming the call, its error string, file, line, rank and host. Private to comm/.
#pragma once

#include <mpi.h>

#include <string>

#include "comm/error.hpp"

namespace trainmem::comm::detail {
inline std::string mpi_error_string(int rc) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return std::string(text, static_cast<std::size_t>(len));
}
}  // namespace trainmem::comm::detail

#define TRAINMEM_MPI_CHECK(call)                                                                                 \
  do {                                                                                                           \
    const int trainmem_rc_ = (call);                                                                             \
    if (trainmem_rc_ != MPI_SUCCESS)                                                                             \
      throw ::trainmem::comm::CommError(std::string(#call) +                                                     \
                                        " failed: " + ::trainmem::comm::detail::mpi_error_string(trainmem_rc_) + \
                                        " at " + ::trainmem::comm::where(__FILE__, __LINE__));                   \
  } while (false)

#define TRAINMEM_SYS_CHECK(cond, what)                                                                             \
  do {                                                                                                             \
    if (!(cond))                                                                                                   \
      throw ::trainmem::comm::CommError(std::string(what) + " at " + ::trainmem::comm::where(__FILE__, __LINE__)); \
  } while (false)
