#include "comm/session.hpp"

#include <mpi.h>

#include <cstdio>

#include "comm/check.hpp"
#include "comm/watchdog.hpp"

namespace trainmem::comm {
namespace {
MPI_Comm& as_comm(void*& p) { return *static_cast<MPI_Comm*>(p); }
MPI_Comm as_comm(void* const& p) { return *static_cast<MPI_Comm*>(p); }
}  // namespace

std::string where(const char* file, int line) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int rank = -1;
  if (initialized != 0 && finalized == 0) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  if (initialized != 0 && finalized == 0) MPI_Get_processor_name(host, &len);
  std::string text = std::string(file) + ":" + std::to_string(line);
  if (rank >= 0)
    text += " on rank " + std::to_string(rank) + " (host " + std::string(host, static_cast<std::size_t>(len)) + ")";
  return text;
}

Session::Session(int* argc, char*** argv) {
  pin_malloc_thresholds();
  before_init_ = read_proc_status();
  // MPI_THREAD_MULTIPLE: the watchdog thread (comm/watchdog.hpp) calls MPI_Abort while the main thread may
  // be blocked inside a collective; only this level allows two threads in MPI at once.
  int provided = MPI_THREAD_SINGLE;
  TRAINMEM_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
  thread_multiple_ = provided >= MPI_THREAD_MULTIPLE;
  // Errors come back as codes, so the check macros can name the rank instead of MPI aborting silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  after_init_ = read_proc_status();
  TRAINMEM_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  TRAINMEM_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  TRAINMEM_MPI_CHECK(MPI_Get_processor_name(host, &len));
  host_.assign(host, static_cast<std::size_t>(len));
  node_comm_ = new MPI_Comm(MPI_COMM_NULL);
  TRAINMEM_MPI_CHECK(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &as_comm(node_comm_)));
  TRAINMEM_MPI_CHECK(MPI_Comm_size(as_comm(node_comm_), &local_size_));
  TRAINMEM_MPI_CHECK(MPI_Comm_rank(as_comm(node_comm_), &local_rank_));
}

Session::~Session() {
  if (node_comm_ != nullptr) {
    MPI_Comm_free(&as_comm(node_comm_));
    delete static_cast<MPI_Comm*>(node_comm_);
  }
  MPI_Finalize();
}

void Session::abort(int code) const {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this satisfies [[noreturn]] if it ever did
}

void Session::barrier() const {
  const PeerWait wait;
  TRAINMEM_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

std::uint64_t Session::allreduce_sum(std::uint64_t value) const {
  std::uint64_t out = 0;
  const PeerWait wait;
  TRAINMEM_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD));
  return out;
}

std::uint64_t Session::allreduce_max(std::uint64_t value) const {
  std::uint64_t out = 0;
  const PeerWait wait;
  TRAINMEM_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD));
  return out;
}

std::uint64_t Session::node_sum(std::uint64_t value) const {
  std::uint64_t out = 0;
  const PeerWait wait;
  TRAINMEM_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_UINT64_T, MPI_SUM, as_comm(node_comm_)));
  return out;
}

int Session::broadcast_from_root(int value) const {
  const PeerWait wait;
  TRAINMEM_MPI_CHECK(MPI_Bcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD));
  return value;
}

std::vector<std::string> Session::gather_to_root(const std::string& text) const {
  const int len = static_cast<int>(text.size());
  const PeerWait wait;
  std::vector<int> lens(rank_ == 0 ? static_cast<std::size_t>(size_) : 0);
  TRAINMEM_MPI_CHECK(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD));
  std::vector<int> displs(lens.size());
  int total = 0;
  for (std::size_t i = 0; i < lens.size(); ++i) {
    displs[i] = total;
    total += lens[i];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  TRAINMEM_MPI_CHECK(
      MPI_Gatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0, MPI_COMM_WORLD));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lens.size(); ++i)
    out.push_back(all.substr(static_cast<std::size_t>(displs[i]), static_cast<std::size_t>(lens[i])));
  return out;
}

}  // namespace trainmem::comm
