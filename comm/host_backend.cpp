// Host backend: shards in anonymous private mappings populated up front (MAP_POPULATE), so every
// byte is resident and counted in RssAnon; collectives are MPI over the dp communicator. bf16 has no
// MPI type: it travels as MPI_UINT16_T with a user sum that widens to fp32 and rounds back.
#include <mpi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include "comm/backend.hpp"
#include "comm/check.hpp"
#include "comm/numerics.hpp"
#include "comm/parallel_groups_impl.hpp"
#include "comm/watchdog.hpp"

namespace trainmem::comm {
namespace {

// The signature is MPI_User_function's, so `len` cannot be a pointer to const.
void bf16_sum(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {  // NOLINT(readability-non-const-parameter)
  const auto* a = static_cast<const std::uint16_t*>(in);
  auto* b = static_cast<std::uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

std::size_t elem_size(Dtype d) { return d == Dtype::bf16 ? 2 : 4; }

class HostBackend final : public Backend {
 public:
  explicit HostBackend(const ParallelGroups& groups) : comm_(groups.impl().comm(ParallelDim::dp)) {
    TRAINMEM_MPI_CHECK(MPI_Op_create(&bf16_sum, 1, &bf16_sum_op_));
    TRAINMEM_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  }
  ~HostBackend() override { MPI_Op_free(&bf16_sum_op_); }

  void* allocate(std::size_t bytes, std::size_t& reserved) override {
    reserved = (bytes + page_ - 1) / page_ * page_;
    if (bytes == 0) return nullptr;
    void* p = ::mmap(nullptr, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    TRAINMEM_SYS_CHECK(p != MAP_FAILED, "mmap of " + std::to_string(bytes) + " bytes failed (" +
                                            std::string(std::strerror(errno)) + ")");
    return p;
  }
  void release(void* p, std::size_t bytes) override {
    if (p != nullptr) ::munmap(p, (bytes + page_ - 1) / page_ * page_);
  }
  void to_device(void* dst, const void* src, std::size_t bytes) override { std::memcpy(dst, src, bytes); }
  void to_host(void* dst, const void* src, std::size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, std::size_t bytes) override { std::memmove(dst, src, bytes); }

  void reduce_scatter(const void* send, void* recv, const std::vector<std::size_t>& counts, Dtype dtype) override {
    const std::vector<int> c = int_counts(counts);
    std::size_t own_offset = 0;
    for (int r = 0; r < rank_; ++r) own_offset += counts[static_cast<std::size_t>(r)];
    const auto es = elem_size(dtype);
    auto* own = static_cast<const char*>(send) + own_offset * es;
    const PeerWait wait;
    if (recv == own) {
      // In place: MPI leaves the result at the start of the buffer; move it to this rank's block.
      TRAINMEM_MPI_CHECK(
          MPI_Reduce_scatter(MPI_IN_PLACE, const_cast<void*>(send), c.data(), type(dtype), op(dtype), comm_));
      std::memmove(recv, send, counts[static_cast<std::size_t>(rank_)] * es);
    } else {
      TRAINMEM_MPI_CHECK(MPI_Reduce_scatter(send, recv, c.data(), type(dtype), op(dtype), comm_));
    }
  }
  void all_gather_in_place(void* full, const std::vector<std::size_t>& counts, Dtype dtype) override {
    const std::vector<int> c = int_counts(counts);
    std::vector<int> displs(c.size());
    int at = 0;
    for (std::size_t i = 0; i < c.size(); ++i) {
      displs[i] = at;
      at += c[i];
    }
    const PeerWait wait;
    TRAINMEM_MPI_CHECK(
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, full, c.data(), displs.data(), type(dtype), comm_));
  }
  void all_reduce(void* buf, std::size_t count, Dtype dtype) override {
    // MPI counts are int: reduce in slices of at most 2^30 elements.
    constexpr std::size_t kSlice = std::size_t{1} << 30;
    auto* p = static_cast<char*>(buf);
    const PeerWait wait;
    for (std::size_t done = 0; done < count; done += kSlice) {
      const std::size_t n = std::min(kSlice, count - done);
      TRAINMEM_MPI_CHECK(
          MPI_Allreduce(MPI_IN_PLACE, p + done * elem_size(dtype), static_cast<int>(n), type(dtype), op(dtype), comm_));
    }
  }

 private:
  MPI_Datatype type(Dtype d) const { return d == Dtype::bf16 ? MPI_UINT16_T : MPI_FLOAT; }
  MPI_Op op(Dtype d) const { return d == Dtype::bf16 ? bf16_sum_op_ : MPI_SUM; }
  static std::vector<int> int_counts(const std::vector<std::size_t>& counts) {
    std::vector<int> c;
    std::size_t total = 0;
    for (std::size_t n : counts) {
      total += n;
      c.push_back(static_cast<int>(n));
    }
    if (total > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw CommError("a collective of " + std::to_string(total) + " elements exceeds MPI's int counts at " +
                      where(__FILE__, __LINE__));
    return c;
  }

  MPI_Comm comm_;
  MPI_Op bf16_sum_op_ = MPI_OP_NULL;
  int rank_ = 0;
  std::size_t page_ = 4096;
};

}  // namespace

std::unique_ptr<Backend> make_host_backend(const ParallelGroups& groups) {
  return std::make_unique<HostBackend>(groups);
}

}  // namespace trainmem::comm
