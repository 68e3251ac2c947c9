// Benchmark helper: times a whole process (posix_spawn + waitpid, stdout to /dev/null) per iteration, for
// the "whole trainmem process" figures of DESIGN.md section 9. Throws when the process fails.
#pragma once

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace trainmem::bench {

// Runs `args` (args[0] the program path) once per iteration; an exit code above `max_ok_exit` (or a
// signal) is a failure.
inline void time_process(benchmark::State& state, std::vector<std::string> args, int max_ok_exit) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  for (auto _ : state) {
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
      posix_spawn_file_actions_destroy(&actions);
      throw std::runtime_error("posix_spawn failed: " + args[0]);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) > max_ok_exit) {
      posix_spawn_file_actions_destroy(&actions);
      throw std::runtime_error(args[0] + " " + args[1] + " failed");
    }
  }
  posix_spawn_file_actions_destroy(&actions);
}

}  // namespace trainmem::bench
