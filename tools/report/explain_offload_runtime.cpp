#include "tools/report/explain_offload_runtime.hpp"

#include "tools/report/format.hpp"

namespace trainmem::tools {

void explain_offload_runtime(std::ostream& o, const sim::RankClass& c, const sim::Scenario& sc) {
  if (!c.offload.terms.empty()) {
    o << "  Offload (offload_optimizer " << sim::offload_device_name(sc.offload.optimizer) << ", offload_param "
      << sim::offload_device_name(sc.offload.param) << ", checkpoints "
      << (sc.offload.activation_checkpoints ? "host" : "GPU") << ", pin_memory "
      << (sc.offload.pin_memory ? "true" : "false") << "):\n";
    for (const auto& t : c.offload.terms) {
      const char* where = t.target == sim::OffloadTarget::host   ? (t.pinned ? "host, pinned" : "host")
                          : t.target == sim::OffloadTarget::nvme ? "NVMe"
                                                                 : "GPU staging";
      o << "    " << t.name << " -> " << where << ": " << with_commas(t.bytes.value) << " B  " << iec(t.bytes) << "  ("
        << t.why << ")\n";
    }
    o << "    off the GPU:";
    for (auto cat : sim::kMemoryCategories)
      if (c.offload.gpu_removed[cat].value > 0)
        o << " " << sim::category_name(cat) << " " << with_commas(c.offload.gpu_removed[cat].value) << " B;";
    o << " host " << with_commas(c.offload.host.value) << " B, NVMe " << with_commas(c.offload.nvme.value) << " B\n";
  }
  if (!sc.runtime.enabled) {
    o << "  Runtime: off (--runtime off)\n";
    return;
  }
  const auto& rt = c.runtime;
  o << "  Runtime (non-model GPU memory):\n";
  o << "    CUDA context                         " << with_commas(rt.cuda_context.value) << " B\n";
  for (const auto& cm : rt.comms)
    o << "    NCCL " << cm.group << " (" << cm.size << " ranks, "
      << (cm.pattern == sim::CommPattern::ring  ? "ring"
          : cm.pattern == sim::CommPattern::p2p ? "p2p"
                                                : "all-to-all")
      << "): " << cm.channels << " channels x " << cm.connections << " connections x "
      << with_commas(sc.runtime.nccl_buffsize.value) << " B = " << with_commas(cm.bytes.value) << " B\n";
  o << "    workspaces (cuBLAS + attention)      " << with_commas(rt.workspaces.value) << " B\n";
  o << "    allocator rounding (2 MiB segments)  " << with_commas(rt.allocator_rounding.value) << " B\n";
  o << "    fragmentation reserve (" << fixed(static_cast<double>(sc.runtime.fragmentation_ppm) / 1e4, 2)
    << "% of activations + buffers + temporaries) " << with_commas(rt.fragmentation.value) << " B\n";
  o << "    fragmentation, variable-length batches (dynamic rounded to 2 MiB + 20 MiB + 2 MiB segment tails) "
    << with_commas(rt.fragmentation_high.value) << " B\n";
  o << "    runtime = " << with_commas(rt.total().value) << " B  " << iec(rt.total()) << "; allocated "
    << with_commas(c.allocated.value) << " B, reserved " << with_commas(c.reserved.value) << " .. "
    << with_commas((c.reserved - rt.fragmentation + rt.fragmentation_high).value) << " B";
  if (c.safe_budget) o << ", safe budget " << with_commas(c.safe_budget->value) << " B";
  o << "\n";
}

}  // namespace trainmem::tools
