// Termination signals of one trainmem-validate rank (SIGTERM, SIGINT, SIGHUP): the rank that receives
// one from anyone other than its launcher prints one line naming itself, then dies by that signal, so
// mpiexec stops the whole job at once. Async-signal-safe (POSIX 2.4.3: write, getppid, sigaction, raise).
#pragma once

#include <string>

namespace trainmem::tools {

// Installs the handler; `rank` and `host` go into the message (formatted now, not in the handler).
// A signal sent by the parent (mpiexec or orted stopping the job) ends the rank quietly: the rank that
// caused the stop has already said so.
void install_termination_handler(int rank, const std::string& host);

}  // namespace trainmem::tools
