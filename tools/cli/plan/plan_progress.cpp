#include "tools/cli/plan/plan_progress.hpp"

#include <string>

#include "tools/report/format.hpp"

namespace trainmem::tools {
namespace {

std::string layout_words(const sim::PlanEntry& e) {
  const sim::PlanLayout& l = e.layout;
  std::string s = std::to_string(l.world_size()) + " GPUs: tp " + std::to_string(l.tp) + " pp " + std::to_string(l.pp) +
                  " vpp " + std::to_string(l.vpp) + " cp " + std::to_string(l.cp) + " dp " + std::to_string(l.dp);
  if (l.ep > 1) s += " ep " + std::to_string(l.ep);
  s += " mbs " + std::to_string(l.micro_batch_size) + " zero " + std::to_string(l.zero_stage) + ", peak " +
       gib(e.max_peak) + " GiB";
  return s;
}

}  // namespace

PlanProgressPrinter::PlanProgressPrinter(std::ostream& err, Clock::duration quiet_for)
    : err_(err), start_(Clock::now()), last_(start_), quiet_for_(quiet_for) {}

std::function<void(const sim::PlanProgress&)> PlanProgressPrinter::callback() {
  return [this](const sim::PlanProgress& p) { report(p); };
}

void PlanProgressPrinter::report(const sim::PlanProgress& p) {
  const Clock::time_point now = Clock::now();
  // Quiet during the first `quiet_for`, then a line at most every `quiet_for`; the last report only after a line.
  if (p.done ? !printed_ : (now - start_ < quiet_for_ || (printed_ && now - last_ < quiet_for_))) return;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double per_second = seconds > 0 ? static_cast<double>(p.candidates_done) / seconds : 0.0;
  const double share = p.bases_total ? static_cast<double>(p.bases_done) / static_cast<double>(p.bases_total) : 1.0;
  err_ << "# plan search" << (p.done ? " done" : "") << ": " << with_commas(p.candidates_done) << " candidates, "
       << fixed(per_second / 1e6, 2) << " M/s, " << fixed(100.0 * share, 0) << "% of " << with_commas(p.bases_total)
       << " layouts, " << fixed(seconds, 1) << " s; best so far "
       << (p.best ? layout_words(*p.best) : std::string("none")) << "\n";
  err_.flush();
  printed_ = true;
  last_ = now;
}

}  // namespace trainmem::tools
