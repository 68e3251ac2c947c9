#include "tools/validate/validate_signals.hpp"

#include <unistd.h>

#include <array>
#include <csignal>
#include <cstring>

namespace trainmem::tools {
namespace {

// The handler may not allocate or format, so the message prefix is prepared here once. A signal
// handler can only reach process-wide state; this buffer is written before the handler is installed
// and only read afterwards.
std::array<char, 256> g_prefix{};  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)
std::size_t g_prefix_len = 0;      // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

void put(const char* s, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}
void put(const char* s) { put(s, std::strlen(s)); }
void put_number(long v) {
  char digits[24];
  std::size_t n = 0;
  unsigned long u = v < 0 ? 0UL - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
  do {
    digits[sizeof digits - 1 - n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0 && n < sizeof digits - 1);
  if (v < 0) digits[sizeof digits - 1 - n++] = '-';
  put(digits + sizeof digits - n, n);
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    default: return "a termination signal";
  }
}

void on_termination(int sig, siginfo_t* info, void* /*context*/) {
  const pid_t sender = info != nullptr ? info->si_pid : 0;
  if (sender == 0 || sender != ::getppid()) {
    put(g_prefix.data(), g_prefix_len);
    put(" received ");
    put(signal_name(sig));
    if (sender == ::getpid()) {
      put(" from itself");
    } else if (sender != 0) {
      put(" from pid ");
      put_number(sender);
    }
    put("; it stops now and mpiexec ends the other ranks\n");
  }
  // SA_RESETHAND restored the default action; re-raising ends this process by the signal itself, which
  // is what tells mpiexec to stop the job.
  ::raise(sig);
}

}  // namespace

void install_termination_handler(int rank, const std::string& host) {
  std::string prefix = "trainmem-validate: rank " + std::to_string(rank) + " (host " + host + ")";
  if (prefix.size() >= g_prefix.size()) prefix.resize(g_prefix.size() - 1);
  std::memcpy(g_prefix.data(), prefix.data(), prefix.size());
  g_prefix_len = prefix.size();
  struct sigaction action {};
  action.sa_sigaction = &on_termination;
  action.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &action, nullptr);
}

}  // namespace trainmem::tools
