// Watchdog: ends the whole job when this rank stops making progress, so a hung peer, a collective that
// never completes or NCCL waiting on a dead rank cannot hang trainmem-validate (after PyTorch's NCCL
// watchdog: a thread per rank, ncclCommAbort, then the job-wide abort).
//
// Progress is (a) entering a named phase (`watchdog_phase`), (b) finishing a collective (a `PeerWait`
// scope ends) and (c) a chunk of local work done (`watchdog_tick`). When neither happened for `timeout`, the watchdog
// thread prints one line naming the rank, its host and its phase, runs the abort hooks (the CUDA backend's
// ncclCommAbort) for at most a few seconds, and calls MPI_Abort. A rank blocked inside a collective (waiting for a
// peer) waits a grace period longer than one that is not, so the rank that stopped is normally the one that reports and
// ends the job. The thread is an ordinary thread, not a signal handler: it may format and allocate;
// MPI_Abort from it needs MPI_THREAD_MULTIPLE (comm::Session asks for it); without that level it ends
// its own process with _exit, and mpiexec ends the job because a rank exited without MPI_Finalize.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace trainmem::comm {

class Session;

// Names the phase this rank is in now (and counts as progress). No-op when no watchdog runs.
void watchdog_phase(const std::string& phase);

// Counts as progress inside a long phase (one chunk of a fill, check or update done): a slow phase is not a
// hang. One relaxed atomic increment.
void watchdog_tick();

// RAII: this rank is blocked in a collective, waiting for its peers; its end counts as progress.
class PeerWait {
 public:
  PeerWait();
  ~PeerWait();
  PeerWait(const PeerWait&) = delete;
  PeerWait& operator=(const PeerWait&) = delete;
};

// Functions the watchdog runs before MPI_Abort (ncclCommAbort of a live communicator). Returns an id for
// remove_abort_hook; a hook must be removed before what it refers to is destroyed.
int add_abort_hook(std::function<void()> hook);
void remove_abort_hook(int id);

class Watchdog {
 public:
  // timeout 0 = no watchdog. `abort_code` is the job's exit code when it fires.
  Watchdog(const Session& session, std::chrono::milliseconds timeout, int abort_code);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Extra time a rank blocked in a collective waits before it reports (min(timeout, 5 s)).
  static std::chrono::milliseconds grace(std::chrono::milliseconds timeout);

 private:
  void run();
  [[noreturn]] void fire(const std::string& phase, bool waiting, std::chrono::milliseconds idle);
  std::chrono::milliseconds timeout_;
  int abort_code_;
  int rank_;
  std::string host_;
  bool thread_multiple_;
  std::thread thread_;
};

}  // namespace trainmem::comm
