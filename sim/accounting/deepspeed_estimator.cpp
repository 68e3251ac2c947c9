#include "sim/accounting/deepspeed_estimator.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {
// Doubles hold integers exactly below 2^53; DeepSpeed's arithmetic mixes ints and floats, so we keep
// every intermediate below that bound and refuse larger inputs rather than round silently.
constexpr double kExact = 9007199254740992.0;  // 2^53

std::uint64_t py_int(double v, const char* what) {
  if (!(v >= 0) || v >= kExact) throw OverflowError(std::string("DeepSpeed estimator ") + what);
  return static_cast<std::uint64_t>(std::trunc(v));
}
double as_double(std::uint64_t v) {
  if (static_cast<double>(v) >= kExact) throw OverflowError("DeepSpeed estimator input beyond 2^53");
  return static_cast<double>(v);
}
}  // namespace

DeepSpeedEstimate deepspeed_estimate(const DeepSpeedEstimatorInput& in) {
  if (in.zero_stage != 2 && in.zero_stage != 3)
    throw ConfigError("zero_stage", std::to_string(in.zero_stage), "the DeepSpeed estimators exist for stages 2 and 3");
  if (in.total_params == 0 || in.total_params > 1000000000000000ULL)
    throw ConfigError("num_parameters", std::to_string(in.total_params), "must be between 1 and 1e15");
  if (in.num_nodes < 1 || in.num_nodes > (1 << 20))
    throw ConfigError("num_nodes", std::to_string(in.num_nodes), "must be between 1 and 1048576");
  if (in.gpus_per_node < 1 || in.gpus_per_node > 1024)
    throw ConfigError("gpus_per_node", std::to_string(in.gpus_per_node), "must be between 1 and 1024");
  if (in.offload_param && !in.offload_optimizer)
    throw ConfigError("offload_param", "cpu",
                      "DeepSpeed's estimator only offloads parameters together with the optimizer");
  if (in.zero_stage == 2 && in.offload_param)
    throw ConfigError("offload_param", "cpu", "parameter offload needs zero_stage 3");
  if (in.zero_stage == 3 && (in.largest_layer_params == 0 || in.largest_layer_params > in.total_params))
    throw ConfigError("largest_layer_parameters", std::to_string(in.largest_layer_params),
                      "ZeRO-3 needs the largest layer's parameter count (between 1 and num_parameters)");

  const std::uint64_t P = in.total_params;
  const auto gpus_per_node = static_cast<std::uint64_t>(in.gpus_per_node);
  const std::uint64_t total_gpus = static_cast<std::uint64_t>(in.num_nodes) * gpus_per_node;
  const double f = in.additional_buffer_factor;
  DeepSpeedEstimate out;

  if (in.zero_stage == 2) {
    if (in.offload_optimizer) {
      // gpu_mem = 2 * total_params; cpu_mem = total_params * max(4 * total_gpus, 16) * f
      out.gpu_bytes = 2 * P;
      out.cpu_bytes = py_int(as_double(P * std::max<std::uint64_t>(4 * total_gpus, 16)) * f, "cpu bytes");
    } else {
      // gpu_mem = 2 * total_params + int(18 * total_params / total_gpus); cpu_mem = total_params * 4 * gpn * f
      out.gpu_bytes = 2 * P + py_int(as_double(18 * P) / static_cast<double>(total_gpus), "gpu bytes");
      out.cpu_bytes = py_int(as_double(P * 4 * gpus_per_node) * f, "cpu bytes");
    }
    return out;
  }

  const std::uint64_t LL = in.largest_layer_params;
  const double gpus_factor = 1.0 / static_cast<double>(in.num_nodes);
  const std::uint64_t largest_layer_memory = 4 * LL;
  // Python: total_params * max(4 * gpus_per_node, K * gpus_factor) * f, where max() keeps the winner's type.
  auto offloaded_cpu = [&](double k) {
    const double shard = k * gpus_factor;
    const auto per_node = static_cast<double>(4 * gpus_per_node);
    const double product = per_node >= shard ? as_double(P * 4 * gpus_per_node) : as_double(P) * shard;
    return py_int(product * f, "cpu bytes");
  };
  if (in.offload_optimizer) {
    const double k = in.offload_param ? 18.0 : 16.0;
    out.gpu_bytes = in.offload_param ? largest_layer_memory
                                     : largest_layer_memory +
                                           py_int(as_double(2 * P) / static_cast<double>(total_gpus), "gpu bytes");
    // zero_init: total_params * K * gpus_factor * f (left to right: (P * K) * gpus_factor * f)
    out.cpu_bytes = in.zero_init ? py_int(as_double(P * static_cast<std::uint64_t>(k)) * gpus_factor * f, "cpu bytes")
                                 : offloaded_cpu(k);
  } else {
    out.gpu_bytes = largest_layer_memory + py_int(as_double(18 * P) / static_cast<double>(total_gpus), "gpu bytes");
    out.cpu_bytes = in.zero_init ? py_int(as_double(LL * 4 * gpus_per_node) * f, "cpu bytes")
                                 : py_int(as_double(P * 4 * gpus_per_node) * f, "cpu bytes");
  }
  return out;
}

}  // namespace trainmem::sim
