#include "tools/validate/validate_options.hpp"

#include "partition/error.hpp"
#include "tools/inputs/value_parse.hpp"

namespace trainmem::tools {
namespace {

Perturbation parse_perturbation(const std::string& text) {
  Perturbation p;
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw ConfigError("--perturb", text, "expected [RANK:]CATEGORY=BYTES, e.g. grads=4096 or 2:params=-2");
  std::string left = text.substr(0, eq);
  const auto colon = left.find(':');
  if (colon != std::string::npos) {
    p.rank = parse_int("--perturb rank", left.substr(0, colon), 0, 1 << 24);
    left = left.substr(colon + 1);
  }
  p.category = left;
  std::string amount = text.substr(eq + 1);
  bool negative = false;
  if (amount[0] == '+' || amount[0] == '-') {
    negative = amount[0] == '-';
    amount = amount.substr(1);
  }
  const Bytes b = parse_size("--perturb bytes", amount, BareNumber::bytes);
  if (b.value > static_cast<std::uint64_t>(INT64_MAX)) throw ConfigError("--perturb", text, "too large");
  p.bytes = negative ? -static_cast<std::int64_t>(b.value) : static_cast<std::int64_t>(b.value);
  if (p.bytes == 0) throw ConfigError("--perturb", text, "a perturbation of 0 bytes changes nothing");
  return p;
}

constexpr FaultKind kFaultKinds[] = {FaultKind::alloc_fail, FaultKind::throw_mid_collective,
                                     FaultKind::sigterm_at_setup, FaultKind::sigterm_mid_collective, FaultKind::hang};

InjectedFault parse_fault(const std::string& text) {
  const auto colon = text.rfind(':');
  const std::string kind = colon == std::string::npos ? text : text.substr(0, colon);
  InjectedFault f;
  bool known = false;
  for (FaultKind k : kFaultKinds)
    if (kind == fault_kind_name(k)) {
      f.kind = k;
      known = true;
    }
  if (!known || colon == std::string::npos)
    throw ConfigError("--inject-fault", text,
                      "expected KIND:RANK with KIND one of alloc-fail, throw-mid-collective, sigterm-at-setup, "
                      "sigterm-mid-collective, hang");
  f.rank = parse_int("--inject-fault rank", text.substr(colon + 1), 0, 1 << 24);
  return f;
}

}  // namespace

std::string_view fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::alloc_fail: return "alloc-fail";
    case FaultKind::throw_mid_collective: return "throw-mid-collective";
    case FaultKind::sigterm_at_setup: return "sigterm-at-setup";
    case FaultKind::sigterm_mid_collective: return "sigterm-mid-collective";
    case FaultKind::hang: return "hang";
  }
  return "?";
}

SplitArgs split_validate_args(const std::vector<std::string>& args) {
  SplitArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string name = a, value;
    bool has_value = false;
    if (a.rfind("--", 0) == 0) {
      const auto eq = a.find('=');
      if (eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
        has_value = true;
      }
    }
    auto take = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= args.size()) throw ConfigError(name, "(missing)", "needs a value");
      return args[++i];
    };
    if (name == "--backend")
      out.validate.backend = parse_choice("--backend", take(), {"host", "cuda"});
    else if (name == "--perturb")
      out.validate.perturbations.push_back(parse_perturbation(take()));
    else if (name == "--inject-fault")
      out.validate.faults.push_back(parse_fault(take()));
    else if (name == "--fail-rank")
      out.validate.fail_rank = parse_int("--fail-rank", take(), 0, 1 << 24);
    else if (name == "--assume-available")
      out.validate.assume_available = parse_size("--assume-available", take());
    else if (name == "--seed")
      out.validate.seed = static_cast<std::uint64_t>(parse_int("--seed", take(), 0, INT64_MAX));
    else if (name == "--timeout")
      out.validate.timeout_seconds = parse_int("--timeout", take(), 0, std::int64_t{7} * 24 * 3600);
    else if (a == "--help" || a == "-h")
      out.validate.help = true;
    else
      out.scenario_args.push_back(a);
  }
  return out;
}

std::string validate_options_help() {
  return "validation options:\n"
         "  --backend host|cuda        host: MPI collectives on host memory (default); cuda: cudaMalloc + NCCL,\n"
         "                             one rank per GPU\n"
         "  --seed N                   seed of the generated parameters, gradients and moments (default 1234)\n"
         "  --timeout SECONDS          watchdog: a rank that makes no progress (enters no phase, finishes no\n"
         "                             collective) for this long ends the whole job, naming itself and its\n"
         "                             phase (exit 3; ncclCommAbort first on the cuda backend); default 300,\n"
         "                             0 turns it off\n"
         "test-only options (prove that the check and the abort path work):\n"
         "  --perturb [RANK:]CAT=BYTES add BYTES (may be negative) to the prediction of category CAT\n"
         "  --fail-rank N              rank N throws after allocating its model states\n"
         "  --inject-fault KIND:RANK   rank RANK fails; KIND: alloc-fail (its first model-state allocation\n"
         "                             asks for 2^62 bytes), throw-mid-collective (it throws half-way through\n"
         "                             the gradient reduction), sigterm-at-setup / sigterm-mid-collective (it\n"
         "                             raises SIGTERM there), hang (it sleeps forever half-way through the\n"
         "                             gradient reduction; the watchdog must end the job); the whole job\n"
         "                             must end, naming the rank\n"
         "  --assume-available SIZE    pretend this much host memory is available (up-front refusal)\n";
}

}  // namespace trainmem::tools
