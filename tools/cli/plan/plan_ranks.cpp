#include "tools/cli/plan/plan_ranks.hpp"

#include <cstdlib>
#include <string>

#ifdef TRAINMEM_PLAN_MPI
#include "comm/session.hpp"
#endif

namespace trainmem::tools {
namespace {
std::int64_t env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  return end != nullptr && *end == '\0' ? x : -1;
}
}  // namespace

bool launched_under_mpi() {
  // Open MPI (mpirun/mpiexec), PMIx launchers, and MPICH/Hydra's PMI.
  for (const char* size_var : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (env_int(size_var) > 1) return true;
  return false;
}

int launcher_rank() {
  if (!launched_under_mpi()) return 0;
  for (const char* rank_var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (const std::int64_t r = env_int(rank_var); r >= 0) return static_cast<int>(r);
  return 0;
}

int with_plan_ranks(const std::function<int(const PlanRanks&)>& body) {
#ifdef TRAINMEM_PLAN_MPI
  if (launched_under_mpi()) {
    const comm::Session session(nullptr, nullptr);
    PlanRanks ranks;
    ranks.rank = session.rank();
    ranks.size = session.size();
    ranks.sum = [&session](std::uint64_t v) { return session.allreduce_sum(v); };
    ranks.gather = [&session](const std::string& text) { return session.gather_to_root(text); };
    return body(ranks);
  }
#endif
  PlanRanks one;
  one.sum = [](std::uint64_t v) { return v; };
  one.gather = [](const std::string& text) { return std::vector<std::string>{text}; };
  return body(one);
}

}  // namespace trainmem::tools
