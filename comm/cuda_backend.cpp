// CUDA backend: model-state shards in cudaMalloc'd memory, collectives with NCCL over the dp group
// (ncclCommInitRank with an id broadcast over the dp MPI communicator), memory from cudaMemGetInfo.
// Plain C++ against the runtime API: no kernels, the Adam update runs on host copies of the shard.
// One rank per GPU: NCCL rejects two ranks of a communicator on one device, so that is refused here.
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <string>

#include "comm/backend.hpp"
#include "comm/check.hpp"
#include "comm/parallel_groups_impl.hpp"
#include "comm/session.hpp"
#include "comm/watchdog.hpp"

#define TRAINMEM_CUDA_CHECK(call)                                                                                     \
  do {                                                                                                                \
    const cudaError_t trainmem_e_ = (call);                                                                           \
    if (trainmem_e_ != cudaSuccess)                                                                                   \
      throw ::trainmem::comm::CommError(std::string(#call) + " failed: " + cudaGetErrorString(trainmem_e_) + " at " + \
                                        ::trainmem::comm::where(__FILE__, __LINE__));                                 \
  } while (false)

#define TRAINMEM_NCCL_CHECK(call)                                                                                     \
  do {                                                                                                                \
    const ncclResult_t trainmem_r_ = (call);                                                                          \
    if (trainmem_r_ != ncclSuccess)                                                                                   \
      throw ::trainmem::comm::CommError(std::string(#call) + " failed: " + ncclGetErrorString(trainmem_r_) + " at " + \
                                        ::trainmem::comm::where(__FILE__, __LINE__));                                 \
  } while (false)

namespace trainmem::comm {
namespace {

ncclDataType_t nccl_type(Dtype d) { return d == Dtype::bf16 ? ncclBfloat16 : ncclFloat32; }
std::size_t elem_size(Dtype d) { return d == Dtype::bf16 ? 2 : 4; }

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Session& session, const ParallelGroups& groups) {
    int devices = 0;
    const cudaError_t e = cudaGetDeviceCount(&devices);
    if (e != cudaSuccess || devices == 0)
      throw BackendUnavailable("no CUDA device visible (cudaGetDeviceCount: " +
                               std::string(e != cudaSuccess ? cudaGetErrorString(e) : "0 devices") +
                               "); the cuda backend needs one GPU per rank, use --backend host here (" +
                               where(__FILE__, __LINE__) + ")");
    if (session.local_size() > devices)
      throw BackendUnavailable(std::to_string(session.local_size()) + " ranks on host " + session.host() +
                               " but only " + std::to_string(devices) +
                               " visible GPU(s): NCCL needs one GPU per rank (two ranks on one GPU fail with "
                               "'Duplicate GPU detected'); start at most " +
                               std::to_string(devices) + " ranks per host");
    device_ = session.local_rank();
    TRAINMEM_CUDA_CHECK(cudaSetDevice(device_));
    cudaDeviceProp prop{};
    TRAINMEM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    name_ = prop.name;
    TRAINMEM_CUDA_CHECK(cudaFree(nullptr));  // creates the primary context
    context_ = device_usage().used;
    TRAINMEM_CUDA_CHECK(cudaStreamCreate(&stream_));
    const MPI_Comm dp = groups.impl().comm(ParallelDim::dp);
    int rank = 0, size = 0;
    TRAINMEM_MPI_CHECK(MPI_Comm_rank(dp, &rank));
    TRAINMEM_MPI_CHECK(MPI_Comm_size(dp, &size));
    rank_ = rank;
    ncclUniqueId id{};
    if (rank == 0) TRAINMEM_NCCL_CHECK(ncclGetUniqueId(&id));
    {
      const PeerWait wait;
      TRAINMEM_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, dp));
    }
    const Bytes before = device_usage().used;
    {
      // A peer that never arrives blocks ncclCommInitRank; there is no communicator to abort yet, so the
      // watchdog ends the job with MPI_Abort alone (the process exit frees the GPU).
      const PeerWait wait;
      TRAINMEM_NCCL_CHECK(ncclCommInitRank(&comm_, size, id, rank));
    }
    const Bytes after = device_usage().used;
    comm_init_ = after - std::min(after, before);
    // The watchdog aborts the communicator before MPI_Abort, so kernels spinning on a dead peer exit and
    // a host thread blocked in cudaStreamSynchronize returns (what PyTorch's NCCL watchdog does).
    ncclComm_t comm = comm_;
    abort_hook_ = add_abort_hook([comm] { ncclCommAbort(comm); });
  }
  ~CudaBackend() override {
    if (abort_hook_ >= 0) remove_abort_hook(abort_hook_);
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  void* allocate(std::size_t bytes, std::size_t& reserved) override {
    reserved = bytes;
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    TRAINMEM_CUDA_CHECK(cudaMalloc(&p, bytes));
    TRAINMEM_CUDA_CHECK(cudaMemset(p, 0, bytes));  // touch it, like the host backend's MAP_POPULATE
    return p;
  }
  void release(void* p, std::size_t /*bytes*/) override {
    if (p != nullptr) cudaFree(p);
  }
  void to_device(void* dst, const void* src, std::size_t bytes) override {
    TRAINMEM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
  }
  void to_host(void* dst, const void* src, std::size_t bytes) override {
    TRAINMEM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
  }
  void copy(void* dst, const void* src, std::size_t bytes) override {
    TRAINMEM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  }
  // Uneven blocks: one ncclReduce per rank-root inside a group (NCCL's reduce-scatter needs equal counts).
  void reduce_scatter(const void* send, void* recv, const std::vector<std::size_t>& counts, Dtype dtype) override {
    const std::size_t es = elem_size(dtype);
    std::size_t offset = 0;
    const PeerWait wait;
    TRAINMEM_NCCL_CHECK(ncclGroupStart());
    for (std::size_t r = 0; r < counts.size(); ++r) {
      const void* block = static_cast<const char*>(send) + offset * es;
      void* out = static_cast<int>(r) == rank_ ? recv : nullptr;
      if (counts[r] > 0)
        TRAINMEM_NCCL_CHECK(
            ncclReduce(block, out, counts[r], nccl_type(dtype), ncclSum, static_cast<int>(r), comm_, stream_));
      offset += counts[r];
    }
    TRAINMEM_NCCL_CHECK(ncclGroupEnd());
    TRAINMEM_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void all_gather_in_place(void* full, const std::vector<std::size_t>& counts, Dtype dtype) override {
    const std::size_t es = elem_size(dtype);
    std::size_t offset = 0;
    const PeerWait wait;
    TRAINMEM_NCCL_CHECK(ncclGroupStart());
    for (std::size_t r = 0; r < counts.size(); ++r) {
      void* block = static_cast<char*>(full) + offset * es;
      if (counts[r] > 0)
        TRAINMEM_NCCL_CHECK(
            ncclBroadcast(block, block, counts[r], nccl_type(dtype), static_cast<int>(r), comm_, stream_));
      offset += counts[r];
    }
    TRAINMEM_NCCL_CHECK(ncclGroupEnd());
    TRAINMEM_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void all_reduce(void* buf, std::size_t count, Dtype dtype) override {
    const PeerWait wait;
    TRAINMEM_NCCL_CHECK(ncclAllReduce(buf, buf, count, nccl_type(dtype), ncclSum, comm_, stream_));
    TRAINMEM_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  bool has_device_memory() const override { return true; }
  DeviceUsage device_usage() override {
    std::size_t free_b = 0, total_b = 0;
    TRAINMEM_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    return DeviceUsage{Bytes(total_b - free_b), Bytes(total_b)};
  }
  Bytes context_bytes() const override { return context_; }
  Bytes comm_init_bytes() const override { return comm_init_; }
  std::string device_name() const override { return name_ + " (device " + std::to_string(device_) + ")"; }

 private:
  int device_ = 0;
  int rank_ = 0;
  std::string name_;
  Bytes context_;
  Bytes comm_init_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  int abort_hook_ = -1;
};

}  // namespace

bool cuda_backend_compiled() { return true; }

int cuda_device_count(std::string& why) {
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess) {
    why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
    return 0;
  }
  why = std::to_string(devices) + " CUDA device(s) visible";
  return devices;
}

std::unique_ptr<Backend> make_cuda_backend(const Session& session, const ParallelGroups& groups) {
  return std::make_unique<CudaBackend>(session, groups);
}

}  // namespace trainmem::comm
