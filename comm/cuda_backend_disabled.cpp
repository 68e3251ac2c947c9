// Built when CUDA or NCCL was not found at configure time: the cuda backend refuses clearly.
#include "comm/backend.hpp"
#include "comm/error.hpp"

namespace trainmem::comm {

bool cuda_backend_compiled() { return false; }

int cuda_device_count(std::string& why) {
  why = "this build has no cuda backend";
  return 0;
}

std::unique_ptr<Backend> make_cuda_backend(const Session& /*session*/, const ParallelGroups& /*groups*/) {
  throw BackendUnavailable(
      "this build has no cuda backend (CUDA toolkit or NCCL not found at configure time, or "
      "TRAINMEM_ENABLE_CUDA=OFF); use --backend host");
}

}  // namespace trainmem::comm
