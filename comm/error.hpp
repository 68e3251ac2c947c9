// CommError: a failure of the measurement runtime (MPI, CUDA, NCCL, the OS) on one rank. Its message
// names the call, the source file and line, the rank and the host, so a job-wide abort says who failed.
#pragma once

#include <string>

#include "partition/error.hpp"

namespace trainmem::comm {

class CommError : public Error {
 public:
  using Error::Error;
};

// The scenario cannot run on this machine (no GPU for the cuda backend, more ranks than GPUs,
// a backend that was not compiled in): a clear refusal, not a crash.
class BackendUnavailable : public CommError {
 public:
  using CommError::CommError;
};

// "file.cpp:42 on rank 3 (host node7)": the location suffix of every CommError.
std::string where(const char* file, int line);

}  // namespace trainmem::comm
