// One real ZeRO/DP training step on this rank, measured: allocate the model-state buffers the step
// needs (sized by comm's own ZeRO rules, never by the prediction), fill them with seeded data, run
// the step's collectives over the data-parallel group, update the shard with Adam, gather the
// parameters, and compare them with an unsharded reference computed independently on this rank.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "comm/numerics.hpp"
#include "partition/dtype.hpp"
#include "partition/units.hpp"

namespace trainmem::comm {

class Session;
class ParallelGroups;

enum class BackendKind { host, cuda };
std::string_view backend_name(BackendKind kind);
// True when this build has the CUDA/NCCL backend compiled in.
bool cuda_backend_compiled();
// Visible CUDA devices (0 when none, or when the backend is not compiled); `why` says what was found.
int cuda_device_count(std::string& why);

// What a model-state buffer is for in the step. ZeRO shards (Rajbhandari et al. 2019, Sec. 5.1):
// grad_copy, master_params and moments from stage 1, grads from stage 2, params from stage 3.
enum class BufferRole { params, grads, grad_copy, master_params, moment_m, moment_v };
std::string_view buffer_role_name(BufferRole role);
bool sharded_at(BufferRole role, int zero_stage);

struct BufferRequest {
  std::string label;     // "bf16 parameters"
  std::string category;  // "params", "grads", ... (reported back unchanged)
  BufferRole role;
  Dtype dtype;  // fp32 or bf16
};

struct StepSpec {
  BackendKind backend = BackendKind::host;
  ElementCount elements;  // this rank's parameters before ZeRO (its tp/pp shard of the model)
  int zero_stage = 0;
  std::int64_t gather_units = 1;  // ZeRO-2 gradient buckets and ZeRO-3 parameter gathers (one per layer)
  std::uint64_t seed = 1234;
  AdamConfig adam;
  int fail_rank = -1;  // test-only: this global rank throws after allocating
  // Test-only: this global rank requests its first model-state buffer as 2^62 bytes, more than any
  // 64-bit address space maps (x86-64: 2^47 user bytes), so the backend's real allocation call fails.
  int alloc_fail_rank = -1;
  // Test-only: called on every rank half-way through the gradient reduction (before the middle
  // bucket's reduce-scatter at ZeRO-2/3, before the one collective at ZeRO-0/1); tools/ injects faults.
  std::function<void()> mid_collective_hook;
};

struct MeasuredBuffer {
  std::string label;
  std::string category;
  BufferRole role = BufferRole::params;
  Dtype dtype = Dtype::fp32;
  bool sharded = false;
  ElementCount elements;
  Bytes bytes;     // exactly what was allocated (the backend's own count)
  Bytes reserved;  // what the allocation occupies (host: whole pages)
};

struct StepResult {
  std::vector<MeasuredBuffer> buffers;
  Bytes host_rss_before_alloc;    // RssAnon before the first model-state buffer
  Bytes host_model_states_delta;  // RssAnon growth across allocating and filling them
  Bytes host_collective_peak;     // VmHWM growth over the collectives (HWM reset before them)
  Bytes own_temporaries_peak;     // largest live step temporary (bucket, gathered layer)
  Bytes staging_bytes;            // host staging buffer for fills, updates and checks
  bool hwm_reset_ok = false;
  // Device figures (cuda backend; 0 on host): cudaMemGetInfo used-memory deltas.
  Bytes device_context;          // used after creating the CUDA context (whole GPU, other processes included)
  Bytes device_comm_init;        // growth across ncclCommInitRank of the dp communicator
  Bytes device_model_states;     // growth across the model-state cudaMallocs
  Bytes device_collective_peak;  // growth across the collectives (temporaries, NCCL lazy buffers)
  std::string device_name;
  std::uint64_t checked_elements = 0;  // on this rank
  std::uint64_t wrong_elements = 0;    // on this rank
  double max_abs_error = 0;
  double seconds_fill = 0, seconds_collectives = 0, seconds_check = 0;
};

// Runs the step; throws CommError (or BackendUnavailable) on a runtime failure and ConfigError on a
// request list the step cannot run (missing params/grads/moments, a dtype other than fp32/bf16).
StepResult run_validation_step(const Session& session, const ParallelGroups& groups, const StepSpec& spec,
                               std::span<const BufferRequest> requests);

// The unsharded reference: the parameter values after one step at global flat indices [begin, end)
// of the dp group `group` (its lowest global rank) with `dp` members, written to out[0 .. end-begin).
struct ReferenceSpec {
  std::uint64_t seed = 0;
  std::uint64_t group = 0;
  int dp = 1;
  Dtype param_dtype = Dtype::bf16;
  Dtype grad_dtype = Dtype::bf16;
  Dtype moment_dtype = Dtype::fp32;
  bool has_master = true;
  AdamConfig adam;
};
void reference_updated_params(const ReferenceSpec& spec, std::uint64_t begin, std::uint64_t end, float* out);

}  // namespace trainmem::comm
