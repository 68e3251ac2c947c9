// The search's progress on stderr: a search that runs over a second prints, about once a second, how far it is
// (candidates passed of the space, candidates per second) and its best layout so far; a search that ends within
// a second prints nothing. stdout (the table or JSON) is never touched. The library reports through
// sim::PlanSearchOptions::progress and keeps no clock; the clock is here.
#pragma once

#include <chrono>
#include <functional>
#include <ostream>

#include "sim/planner/planner.hpp"

namespace trainmem::tools {

class PlanProgressPrinter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit PlanProgressPrinter(std::ostream& err, Clock::duration quiet_for = std::chrono::seconds(1));
  // The callback for sim::PlanSearchOptions::progress.
  std::function<void(const sim::PlanProgress&)> callback();
  void report(const sim::PlanProgress& p);

 private:
  std::ostream& err_;
  Clock::time_point start_, last_;
  Clock::duration quiet_for_;
  bool printed_ = false;
};

}  // namespace trainmem::tools
