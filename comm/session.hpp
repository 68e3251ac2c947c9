// Session: the MPI runtime of one process (RAII: MPI_Init in the constructor, MPI_Finalize in the
// destructor) with the few world-wide operations the validator needs. No MPI type leaks out of comm/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/host_memory.hpp"

namespace trainmem::comm {

class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& host() const { return host_; }
  // Ranks on this node (MPI_COMM_TYPE_SHARED) and this rank's index among them.
  int local_size() const { return local_size_; }
  int local_rank() const { return local_rank_; }
  // MPI_Init_thread granted MPI_THREAD_MULTIPLE (the watchdog thread may then call MPI_Abort).
  bool thread_multiple() const { return thread_multiple_; }
  // Host memory just before MPI_Init and just after it (the runtime-init phase).
  const ProcStatus& before_init() const { return before_init_; }
  const ProcStatus& after_init() const { return after_init_; }

  // Ends every rank of the job with `code` (MPI_Abort); never returns.
  [[noreturn]] void abort(int code) const;
  void barrier() const;
  std::uint64_t allreduce_sum(std::uint64_t value) const;
  std::uint64_t allreduce_max(std::uint64_t value) const;
  // Sum over the ranks of this node only.
  std::uint64_t node_sum(std::uint64_t value) const;
  int broadcast_from_root(int value) const;
  // Every rank's text, in rank order, on rank 0 (empty elsewhere).
  std::vector<std::string> gather_to_root(const std::string& text) const;

 private:
  int rank_ = 0;
  int size_ = 1;
  int local_size_ = 1;
  int local_rank_ = 0;
  bool thread_multiple_ = false;
  std::string host_;
  ProcStatus before_init_;
  ProcStatus after_init_;
  void* node_comm_ = nullptr;  // MPI_Comm, kept opaque
};

}  // namespace trainmem::comm
