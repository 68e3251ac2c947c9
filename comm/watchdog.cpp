#include "comm/watchdog.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "comm/session.hpp"

namespace trainmem::comm {
namespace {

// Process-wide progress marks: written by the main thread (phases, collectives), read by the watchdog.
struct State {
  std::mutex mutex;
  std::condition_variable wake;
  std::string phase = "start";
  bool running = false;
  bool stop = false;
  std::map<int, std::function<void()>> hooks;
  int next_hook = 0;
  std::atomic<std::uint64_t> progress{0};
  std::atomic<int> waiting{0};
};
State& state() {
  static State s;
  return s;
}

void put(const std::string& text) {
  const char* p = text.data();
  std::size_t n = text.size();
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, p, n);
    if (w <= 0) return;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

std::string seconds_text(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

}  // namespace

void watchdog_phase(const std::string& phase) {
  State& s = state();
  {
    const std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.running) return;
    s.phase = phase;
  }
  s.progress.fetch_add(1, std::memory_order_relaxed);
}

void watchdog_tick() { state().progress.fetch_add(1, std::memory_order_relaxed); }

PeerWait::PeerWait() { state().waiting.fetch_add(1, std::memory_order_relaxed); }
PeerWait::~PeerWait() {
  State& s = state();
  s.waiting.fetch_sub(1, std::memory_order_relaxed);
  s.progress.fetch_add(1, std::memory_order_relaxed);
}

int add_abort_hook(std::function<void()> hook) {
  State& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  s.hooks.emplace(s.next_hook, std::move(hook));
  return s.next_hook++;
}

void remove_abort_hook(int id) {
  State& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  s.hooks.erase(id);
}

std::chrono::milliseconds Watchdog::grace(std::chrono::milliseconds timeout) {
  return std::min(timeout, std::chrono::milliseconds(5000));
}

Watchdog::Watchdog(const Session& session, std::chrono::milliseconds timeout, int abort_code)
    : timeout_(timeout),
      abort_code_(abort_code),
      rank_(session.rank()),
      host_(session.host()),
      thread_multiple_(session.thread_multiple()) {
  if (timeout_.count() <= 0) return;
  State& s = state();
  {
    const std::lock_guard<std::mutex> lock(s.mutex);
    s.running = true;
    s.stop = false;
    s.phase = "start";
  }
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  if (!thread_.joinable()) return;
  State& s = state();
  {
    const std::lock_guard<std::mutex> lock(s.mutex);
    s.stop = true;
    s.running = false;
  }
  s.wake.notify_all();
  thread_.join();
}

void Watchdog::run() {
  using clock = std::chrono::steady_clock;
  State& s = state();
  const auto poll = std::clamp(timeout_ / 10, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
  std::uint64_t seen = s.progress.load(std::memory_order_relaxed);
  auto last = clock::now();
  std::unique_lock<std::mutex> lock(s.mutex);
  while (!s.stop) {
    s.wake.wait_for(lock, poll);
    if (s.stop) return;
    const std::uint64_t now_progress = s.progress.load(std::memory_order_relaxed);
    const auto now = clock::now();
    if (now_progress != seen) {
      seen = now_progress;
      last = now;
      continue;
    }
    const bool waiting = s.waiting.load(std::memory_order_relaxed) > 0;
    const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(now - last);
    if (idle >= timeout_ + (waiting ? grace(timeout_) : std::chrono::milliseconds(0))) {
      const std::string phase = s.phase;
      lock.unlock();
      fire(phase, waiting, idle);
    }
  }
}

void Watchdog::fire(const std::string& phase, bool waiting, std::chrono::milliseconds idle) {
  put("trainmem-validate: watchdog: rank " + std::to_string(rank_) + " (host " + host_ + ") made no progress for " +
      seconds_text(idle) + " s (--timeout " + seconds_text(timeout_) + ") in phase '" + phase + "', " +
      (waiting ? "blocked in a collective waiting for another rank"
               : "not waiting for another rank (this rank is the one that stopped)") +
      "; aborting the job\n");
  // If anything below hangs (ncclCommAbort on a wedged GPU, MPI_Abort itself), SIGALRM's default action
  // ends this process; mpiexec then ends the others.
  ::alarm(15);
  // Abort hooks (ncclCommAbort) run on a helper thread, bounded to 5 s: NCCL's abort can itself block.
  {
    State& s = state();
    std::map<int, std::function<void()>> hooks;
    {
      const std::lock_guard<std::mutex> lock(s.mutex);
      hooks = s.hooks;
    }
    if (!hooks.empty()) {
      auto done = std::make_shared<std::atomic<bool>>(false);
      std::thread([hooks, done] {
        for (const auto& [id, hook] : hooks) hook();
        done->store(true);
      }).detach();
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!done->load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (!done->load()) put("trainmem-validate: watchdog: the communicator abort did not finish in 5 s\n");
    }
  }
  std::fflush(stdout);
  if (thread_multiple_) MPI_Abort(MPI_COMM_WORLD, abort_code_);
  // Without MPI_THREAD_MULTIPLE this thread may not call MPI: leaving without MPI_Finalize makes mpiexec
  // end the job.
  std::_Exit(abort_code_);
}

}  // namespace trainmem::comm
