// Backend: where the step's buffers live and which library runs its collectives (host: RAM + MPI;
// cuda: cudaMalloc + NCCL). Private to comm/. Blocks are laid out back to back by rank order.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "comm/validation_step.hpp"

namespace trainmem::comm {

struct DeviceUsage {
  Bytes used;
  Bytes total;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Resident memory of `bytes` (host: mmap + MAP_POPULATE); reserved receives what it occupies.
  virtual void* allocate(std::size_t bytes, std::size_t& reserved) = 0;
  virtual void release(void* p, std::size_t bytes) = 0;
  virtual void to_device(void* dst, const void* host_src, std::size_t bytes) = 0;
  virtual void to_host(void* host_dst, const void* src, std::size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, std::size_t bytes) = 0;
  // Sums `send` over the dp group (counts[r] elements of rank r's block, blocks back to back) and
  // leaves this rank's block in `recv` (which may be this rank's block of `send`).
  virtual void reduce_scatter(const void* send, void* recv, const std::vector<std::size_t>& counts, Dtype dtype) = 0;
  // `full` holds every rank's block back to back; this rank's block is already in place.
  virtual void all_gather_in_place(void* full, const std::vector<std::size_t>& counts, Dtype dtype) = 0;
  virtual void all_reduce(void* buf, std::size_t count, Dtype dtype) = 0;
  virtual bool has_device_memory() const { return false; }
  virtual DeviceUsage device_usage() { return {}; }
  virtual Bytes context_bytes() const { return Bytes(0); }
  virtual Bytes comm_init_bytes() const { return Bytes(0); }
  virtual std::string device_name() const { return "host"; }
};

std::unique_ptr<Backend> make_host_backend(const ParallelGroups& groups);
std::unique_ptr<Backend> make_cuda_backend(const Session& session, const ParallelGroups& groups);

}  // namespace trainmem::comm
