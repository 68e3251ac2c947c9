#include "comm/validation_step.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>

#include "comm/backend.hpp"
#include "comm/error.hpp"
#include "comm/host_memory.hpp"
#include "comm/parallel_groups.hpp"
#include "comm/session.hpp"
#include "comm/watchdog.hpp"

namespace trainmem::comm {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr std::size_t kChunk = std::size_t{1} << 18;  // elements per staging chunk
constexpr float kRelTolerance = 1e-6F;                // per element, relative to max(1, |reference|)

std::size_t esize(Dtype d) { return d == Dtype::bf16 ? 2 : 4; }

// Element i of a raw staging buffer holding `d` values (memcpy: no type punning).
float load(const unsigned char* raw, std::size_t i, Dtype d) {
  if (d == Dtype::bf16) {
    std::uint16_t h = 0;
    std::memcpy(&h, raw + 2 * i, 2);
    return bf16_to_float(h);
  }
  float f = 0;
  std::memcpy(&f, raw + 4 * i, 4);
  return f;
}
void store(unsigned char* raw, std::size_t i, Dtype d, float v) {
  if (d == Dtype::bf16) {
    const std::uint16_t h = float_to_bf16(v);
    std::memcpy(raw + 2 * i, &h, 2);
  } else {
    std::memcpy(raw + 4 * i, &v, 4);
  }
}

// One allocated model-state or temporary buffer; released by the owning Step.
struct Buffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  std::size_t reserved = 0;
  Dtype dtype = Dtype::fp32;
  std::size_t elements = 0;
  char* at(std::size_t i) const { return static_cast<char*>(ptr) + i * esize(dtype); }
};

class Step {
 public:
  Step(const Session& session, const ParallelGroups& groups, const StepSpec& spec, Backend& backend)
      : session_(session), spec_(spec), be_(backend) {
    dp_ = groups.size(ParallelDim::dp);
    me_ = groups.index(ParallelDim::dp);
    group_ = static_cast<std::uint64_t>(groups.members(ParallelDim::dp).front());
    n_ = spec.elements.value;
    shard_ = (n_ + static_cast<std::size_t>(dp_) - 1) / static_cast<std::size_t>(dp_);
    lo_ = std::min(n_, shard_ * static_cast<std::size_t>(me_));
    hi_ = std::min(n_, lo_ + shard_);
    raw_.resize(kChunk * 4);
  }
  ~Step() {
    for (Buffer* b : {&params_, &grads_, &grad_copy_, &master_, &m_, &v_}) be_.release(b->ptr, b->bytes);
  }
  Step(const Step&) = delete;
  Step& operator=(const Step&) = delete;

  StepResult run(std::span<const BufferRequest> requests);

 private:
  Buffer* slot(BufferRole role) {
    switch (role) {
      case BufferRole::params: return &params_;
      case BufferRole::grads: return &grads_;
      case BufferRole::grad_copy: return &grad_copy_;
      case BufferRole::master_params: return &master_;
      case BufferRole::moment_m: return &m_;
      case BufferRole::moment_v: return &v_;
    }
    return nullptr;
  }
  bool sharded(BufferRole role) const { return sharded_at(role, spec_.zero_stage); }
  std::size_t held(BufferRole role) const { return sharded(role) ? shard_ : n_; }
  // Elements of each rank's block of the flat range [a, b).
  std::vector<std::size_t> counts(std::size_t a, std::size_t b) const {
    std::vector<std::size_t> c;
    for (int r = 0; r < dp_; ++r) {
      const std::size_t rlo = std::min(n_, shard_ * static_cast<std::size_t>(r));
      const std::size_t rhi = std::min(n_, rlo + shard_);
      c.push_back(std::max(a, rlo) < std::min(b, rhi) ? std::min(b, rhi) - std::max(a, rlo) : 0);
    }
    return c;
  }
  std::size_t unit_begin(std::int64_t u) const {
    const auto units = static_cast<std::size_t>(std::max<std::int64_t>(1, spec_.gather_units));
    // n_ * u / units without overflow: n_ = q * units + r.
    const std::size_t q = n_ / units, r = n_ % units, k = static_cast<std::size_t>(u);
    return q * k + r * k / units;
  }
  std::int64_t units() const { return std::max<std::int64_t>(1, spec_.gather_units); }

  Buffer temporary(Dtype dtype, std::size_t elements) {
    Buffer b;
    b.dtype = dtype;
    b.elements = elements;
    b.bytes = elements * esize(dtype);
    b.ptr = be_.allocate(b.bytes, b.reserved);
    live_temp_ += b.bytes;
    temp_peak_ = std::max(temp_peak_, live_temp_);
    return b;
  }
  void release_temporary(Buffer& b) {
    be_.release(b.ptr, b.bytes);
    live_temp_ -= b.bytes;
    b.ptr = nullptr;
  }

  // Writes f(global index) for global indices [g0, g0 + count) into buffer b starting at element e0.
  template <class F>
  void fill(const Buffer& b, std::size_t e0, std::size_t g0, std::size_t count, F f) {
    for (std::size_t done = 0; done < count; done += kChunk) {
      const std::size_t n = std::min(kChunk, count - done);
      watchdog_tick();  // a chunk done: a long fill, check or update is progress, not a hang
      for (std::size_t i = 0; i < n; ++i) store(raw_.data(), i, b.dtype, f(g0 + done + i));
      be_.to_device(b.at(e0 + done), raw_.data(), n * esize(b.dtype));
    }
  }
  // Compares buffer b's elements [e0, e0 + count) (global indices from g0) with the reference.
  void check(const Buffer& b, std::size_t e0, std::size_t g0, std::size_t count, bool updated);
  ReferenceSpec reference_spec() const;

  const Session& session_;
  const StepSpec& spec_;
  Backend& be_;
  int dp_ = 1, me_ = 0;
  std::uint64_t group_ = 0;
  std::size_t n_ = 0, shard_ = 0, lo_ = 0, hi_ = 0;
  Buffer params_, grads_, grad_copy_, master_, m_, v_;
  bool has_grad_copy_ = false, has_master_ = false;
  std::vector<unsigned char> raw_;  // host staging, one chunk of fp32
  std::vector<float> reference_;
  std::size_t live_temp_ = 0, temp_peak_ = 0;
  StepResult result_;
};

ReferenceSpec Step::reference_spec() const {
  ReferenceSpec r;
  r.seed = spec_.seed;
  r.group = group_;
  r.dp = dp_;
  r.param_dtype = params_.dtype;
  r.grad_dtype = grads_.dtype;
  r.moment_dtype = m_.dtype;
  r.has_master = has_master_;
  r.adam = spec_.adam;
  return r;
}

void Step::check(const Buffer& b, std::size_t e0, std::size_t g0, std::size_t count, bool updated) {
  const ReferenceSpec ref = reference_spec();
  reference_.resize(kChunk);
  for (std::size_t done = 0; done < count; done += kChunk) {
    const std::size_t n = std::min(kChunk, count - done);
    watchdog_tick();  // a chunk done: a long fill, check or update is progress, not a hang
    be_.to_host(raw_.data(), b.at(e0 + done), n * esize(b.dtype));
    if (updated) {
      reference_updated_params(ref, g0 + done, g0 + done + n, reference_.data());
    } else {
      const std::uint64_t kp = stream_key(spec_.seed, Stream::param, group_, 0);
      for (std::size_t i = 0; i < n; ++i) reference_[i] = quantize(param_value(kp, g0 + done + i), b.dtype);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const float got = load(raw_.data(), i, b.dtype);
      const float want = reference_[i];
      const float err = std::fabs(got - want);
      if (!(err <= kRelTolerance * std::max(1.0F, std::fabs(want)))) ++result_.wrong_elements;
      if (std::isfinite(err))
        result_.max_abs_error = std::max(result_.max_abs_error, static_cast<double>(err));
      else
        result_.max_abs_error = INFINITY;
    }
    result_.checked_elements += n;
  }
}

StepResult Step::run(std::span<const BufferRequest> requests) {
  // --- requests: which buffers this recipe has, in which dtype
  bool seen[6] = {};
  for (const BufferRequest& r : requests) {
    const auto idx = static_cast<std::size_t>(r.role);
    if (seen[idx]) throw ConfigError("buffer " + std::string(buffer_role_name(r.role)), r.label, "requested twice");
    seen[idx] = true;
    if (r.dtype != Dtype::fp32 && r.dtype != Dtype::bf16)
      throw ConfigError("dtype of " + r.label, std::string(dtype_name(r.dtype)),
                        "the validation step stores only fp32 and bf16");
    if ((r.role == BufferRole::grad_copy || r.role == BufferRole::master_params) && r.dtype != Dtype::fp32)
      throw ConfigError("dtype of " + r.label, std::string(dtype_name(r.dtype)), "must be fp32");
  }
  for (BufferRole must : {BufferRole::params, BufferRole::grads, BufferRole::moment_m, BufferRole::moment_v})
    if (!seen[static_cast<std::size_t>(must)])
      throw ConfigError("model states", "(no " + std::string(buffer_role_name(must)) + ")",
                        "the validation step runs Adam and needs params, grads and both moments");
  has_grad_copy_ = seen[static_cast<std::size_t>(BufferRole::grad_copy)];
  has_master_ = seen[static_cast<std::size_t>(BufferRole::master_params)];
  result_.staging_bytes = Bytes(raw_.size() + 5 * kChunk * sizeof(float));

  // --- phase: model states allocated (and every page written)
  watchdog_phase("model states: allocate and fill");
  const auto t_fill = Clock::now();
  result_.host_rss_before_alloc = read_proc_status().rss_anon;
  const DeviceUsage dev_before_alloc = be_.device_usage();
  for (const BufferRequest& r : requests) {
    Buffer& b = *slot(r.role);
    b.dtype = r.dtype;
    b.elements = held(r.role);
    b.bytes = b.elements * esize(r.dtype);
    const bool fail_here = spec_.alloc_fail_rank == session_.rank() && &r == requests.data();
    b.ptr = be_.allocate(fail_here ? std::size_t{1} << 62 : b.bytes, b.reserved);
    result_.buffers.push_back(MeasuredBuffer{r.label, r.category, r.role, r.dtype, sharded(r.role),
                                             ElementCount(b.elements), Bytes(b.bytes), Bytes(b.reserved)});
  }
  const std::uint64_t seed = spec_.seed;
  const std::uint64_t group = group_;
  const std::uint64_t kp = stream_key(seed, Stream::param, group, 0);
  const std::uint64_t km = stream_key(seed, Stream::moment_m, group, 0);
  const std::uint64_t kv = stream_key(seed, Stream::moment_v, group, 0);
  const std::uint64_t kg = stream_key(seed, Stream::grad, group, static_cast<std::uint64_t>(me_));
  auto param0 = [kp](std::size_t i) { return param_value(kp, i); };
  auto zero = [](std::size_t) { return 0.0F; };
  // Replicas hold the whole vector; shards hold [lo_, hi_) at offset 0 (padding zeroed).
  auto fill_role = [&](Buffer& b, BufferRole role, auto f) {
    if (sharded(role)) {
      fill(b, 0, lo_, hi_ - lo_, f);
      fill(b, hi_ - lo_, 0, shard_ - (hi_ - lo_), zero);
    } else {
      fill(b, 0, 0, n_, f);
    }
  };
  fill_role(params_, BufferRole::params, param0);
  if (has_master_) fill_role(master_, BufferRole::master_params, param0);
  fill_role(m_, BufferRole::moment_m, [km](std::size_t i) { return moment_m_value(km, i); });
  fill_role(v_, BufferRole::moment_v, [kv](std::size_t i) { return moment_v_value(kv, i); });
  auto my_grad = [kg](std::size_t i) { return grad_value(kg, i); };
  if (sharded(BufferRole::grads))
    fill(grads_, 0, 0, shard_, zero);  // produced per bucket below
  else
    fill(grads_, 0, 0, n_, my_grad);
  if (has_grad_copy_) fill(grad_copy_, 0, 0, grad_copy_.elements, zero);
  result_.host_model_states_delta =
      read_proc_status().rss_anon - std::min(read_proc_status().rss_anon, result_.host_rss_before_alloc);
  if (be_.has_device_memory()) {
    const DeviceUsage after = be_.device_usage();
    result_.device_model_states = after.used - std::min(after.used, dev_before_alloc.used);
  }
  result_.seconds_fill = seconds_since(t_fill);

  if (spec_.fail_rank == session_.rank())
    throw CommError("test-only failure injected by --fail-rank " + std::to_string(spec_.fail_rank) + " at " +
                    where(__FILE__, __LINE__));

  // --- phase: the step's collectives (peak measured from a reset VmHWM)
  watchdog_phase("collectives: barrier before the step");
  session_.barrier();
  const auto t_coll = Clock::now();
  result_.hwm_reset_ok = reset_peak_rss();
  const Bytes rss_before_coll = read_proc_status().vm_rss;
  const DeviceUsage dev_before_coll = be_.device_usage();
  Bytes dev_peak = dev_before_coll.used;
  auto sample_device = [&] {
    if (be_.has_device_memory()) dev_peak = std::max(dev_peak, be_.device_usage().used);
  };
  const int stage = spec_.zero_stage;
  // ZeRO-3: gather each layer's parameters into a temporary, check them (before or after the update),
  // release them. The forward does it before the step; the next forward's gathers deliver the update.
  auto gather_and_check_layers = [&](bool updated) {
    for (std::int64_t u = 0; u < units(); ++u) {
      watchdog_phase(std::string(updated ? "check: all-gather of updated parameters, layer "
                                         : "forward: parameter all-gather, layer ") +
                     std::to_string(u + 1) + " of " + std::to_string(units()));
      const std::size_t a = unit_begin(u), b = unit_begin(u + 1);
      Buffer layer = temporary(params_.dtype, b - a);
      const auto c = counts(a, b);
      if (c[static_cast<std::size_t>(me_)] > 0)
        be_.copy(layer.at(std::max(a, lo_) - a), params_.at(std::max(a, lo_) - lo_),
                 c[static_cast<std::size_t>(me_)] * esize(layer.dtype));
      be_.all_gather_in_place(layer.ptr, c, layer.dtype);
      sample_device();
      check(layer, 0, a, b - a, updated);
      release_temporary(layer);
    }
  };
  if (stage >= 3) gather_and_check_layers(/*updated=*/false);
  // Gradient reduction: all-reduce (stage 0), reduce-scatter in place (stage 1), or per-layer buckets
  // reduce-scattered into the gradient shard (stages 2 and 3).
  auto mid_collective = [this] {
    if (spec_.mid_collective_hook) spec_.mid_collective_hook();
  };
  if (stage == 0) {
    watchdog_phase("collectives: gradient all-reduce");
    mid_collective();
    be_.all_reduce(grads_.ptr, n_, grads_.dtype);
  } else if (stage == 1) {
    watchdog_phase("collectives: gradient reduce-scatter");
    mid_collective();
    be_.reduce_scatter(grads_.ptr, grads_.at(lo_), counts(0, n_), grads_.dtype);
  } else {
    for (std::int64_t u = 0; u < units(); ++u) {
      watchdog_phase("collectives: gradient reduce-scatter, bucket " + std::to_string(u + 1) + " of " +
                     std::to_string(units()));
      if (u == units() / 2) mid_collective();
      const std::size_t a = unit_begin(u), b = unit_begin(u + 1);
      Buffer bucket = temporary(grads_.dtype, b - a);
      fill(bucket, 0, a, b - a, my_grad);
      const auto c = counts(a, b);
      be_.reduce_scatter(bucket.ptr, grads_.at(std::min(std::max(a, lo_) - lo_, shard_)), c, grads_.dtype);
      sample_device();
      release_temporary(bucket);
    }
  }
  sample_device();
  // Optimizer step over the range this rank updates: everything at stage 0, its shard otherwise.
  watchdog_phase("optimizer: Adam on this rank's range");
  {
    const bool full = stage == 0;
    const std::size_t begin = full ? 0 : lo_, count = full ? n_ : hi_ - lo_;
    const std::size_t grad_off = (stage >= 2) ? 0 : begin;   // gradient shard, or this rank's block of the replica
    const std::size_t param_off = (stage >= 3) ? 0 : begin;  // parameter shard, or this rank's block
    // Optimizer buffers (master, moments, fp32 gradient copy) are the replica at stage 0, the shard
    // otherwise: both start at element 0 of the range updated here.
    const float bias1 = bias_correction(spec_.adam.beta1, spec_.adam.step);
    const float bias2 = bias_correction(spec_.adam.beta2, spec_.adam.step);
    const auto dp = static_cast<float>(dp_);
    std::vector<float> g(kChunk), w(kChunk), m(kChunk), v(kChunk);
    unsigned char* raw = raw_.data();
    auto read = [&](std::vector<float>& dst, const Buffer& b, std::size_t at, std::size_t n) {
      be_.to_host(raw, b.at(at), n * esize(b.dtype));
      for (std::size_t i = 0; i < n; ++i) dst[i] = load(raw, i, b.dtype);
    };
    auto write = [&](const Buffer& b, std::size_t at, const std::vector<float>& src, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) store(raw, i, b.dtype, src[i]);
      be_.to_device(b.at(at), raw, n * esize(b.dtype));
    };
    for (std::size_t done = 0; done < count; done += kChunk) {
      const std::size_t n = std::min(kChunk, count - done);
      watchdog_tick();  // a chunk done: a long fill, check or update is progress, not a hang
      read(g, grads_, grad_off + done, n);
      if (has_grad_copy_) {
        // Mixed-20: the gradient is cast into the fp32 gradient copy, and the optimizer reads that.
        write(grad_copy_, done, g, n);
        read(g, grad_copy_, done, n);
      }
      if (has_master_)
        read(w, master_, done, n);
      else
        read(w, params_, param_off + done, n);
      read(m, m_, done, n);
      read(v, v_, done, n);
      for (std::size_t i = 0; i < n; ++i) adam_update(w[i], m[i], v[i], g[i] / dp, spec_.adam, bias1, bias2);
      if (has_master_) write(master_, done, w, n);
      write(m_, done, m, n);
      write(v_, done, v, n);
      write(params_, param_off + done, w, n);
    }
  }
  // Updated parameters to every replica: all-gather (stages 1, 2); at stage 3 the next forward's
  // per-layer gathers, checked as they arrive.
  if (stage == 1 || stage == 2) watchdog_phase("collectives: parameter all-gather");
  if (stage == 1 || stage == 2) be_.all_gather_in_place(params_.ptr, counts(0, n_), params_.dtype);
  sample_device();
  const std::uint64_t coll_hwm = read_proc_status().vm_hwm.value;
  result_.host_collective_peak = Bytes(coll_hwm - std::min(coll_hwm, rss_before_coll.value));
  result_.seconds_collectives = seconds_since(t_coll);

  watchdog_phase("check: updated parameters against the reference");
  const auto t_check = Clock::now();
  if (stage >= 3) {
    gather_and_check_layers(/*updated=*/true);
  } else {
    check(params_, 0, 0, n_, /*updated=*/true);
  }
  result_.seconds_check = seconds_since(t_check);
  result_.own_temporaries_peak = Bytes(temp_peak_);
  if (be_.has_device_memory()) {
    result_.device_collective_peak = dev_peak - std::min(dev_peak, dev_before_coll.used);
    result_.device_context = be_.context_bytes();
    result_.device_comm_init = be_.comm_init_bytes();
  }
  result_.device_name = be_.device_name();
  return result_;
}

}  // namespace

std::string_view backend_name(BackendKind kind) { return kind == BackendKind::cuda ? "cuda" : "host"; }

std::string_view buffer_role_name(BufferRole role) {
  switch (role) {
    case BufferRole::params: return "params";
    case BufferRole::grads: return "grads";
    case BufferRole::grad_copy: return "grad_copy";
    case BufferRole::master_params: return "master_params";
    case BufferRole::moment_m: return "moment_m";
    case BufferRole::moment_v: return "moment_v";
  }
  return "?";
}

bool sharded_at(BufferRole role, int zero_stage) {
  switch (role) {
    case BufferRole::params: return zero_stage >= 3;
    case BufferRole::grads: return zero_stage >= 2;
    case BufferRole::grad_copy:
    case BufferRole::master_params:
    case BufferRole::moment_m:
    case BufferRole::moment_v: return zero_stage >= 1;
  }
  return false;
}

void reference_updated_params(const ReferenceSpec& spec, std::uint64_t begin, std::uint64_t end, float* out) {
  const float bias1 = bias_correction(spec.adam.beta1, spec.adam.step);
  const float bias2 = bias_correction(spec.adam.beta2, spec.adam.step);
  const std::uint64_t kp = stream_key(spec.seed, Stream::param, spec.group, 0);
  const std::uint64_t km = stream_key(spec.seed, Stream::moment_m, spec.group, 0);
  const std::uint64_t kv = stream_key(spec.seed, Stream::moment_v, spec.group, 0);
  std::vector<std::uint64_t> kg;
  kg.reserve(static_cast<std::size_t>(spec.dp));
  for (int d = 0; d < spec.dp; ++d)
    kg.push_back(stream_key(spec.seed, Stream::grad, spec.group, static_cast<std::uint64_t>(d)));
  const float dp = static_cast<float>(spec.dp);
  for (std::uint64_t i = begin; i < end; ++i) {
    // Every member's gradient, summed in rank order (exact: see numerics.hpp), stored in the grad
    // dtype, averaged over dp in fp32.
    float sum = 0.0F;
    for (const std::uint64_t k : kg) sum += grad_value(k, i);
    const float g = quantize(sum, spec.grad_dtype) / dp;
    float w = spec.has_master ? param_value(kp, i) : quantize(param_value(kp, i), spec.param_dtype);
    float m = quantize(moment_m_value(km, i), spec.moment_dtype);
    float v = quantize(moment_v_value(kv, i), spec.moment_dtype);
    adam_update(w, m, v, g, spec.adam, bias1, bias2);
    out[i - begin] = quantize(w, spec.param_dtype);
  }
}

StepResult run_validation_step(const Session& session, const ParallelGroups& groups, const StepSpec& spec,
                               std::span<const BufferRequest> requests) {
  if (spec.zero_stage < 0 || spec.zero_stage > 3)
    throw ConfigError("zero_stage", std::to_string(spec.zero_stage), "must be 0, 1, 2 or 3");
  watchdog_phase(spec.backend == BackendKind::cuda ? "backend init: CUDA context and NCCL communicator"
                                                   : "backend init");
  std::unique_ptr<Backend> backend =
      spec.backend == BackendKind::cuda ? make_cuda_backend(session, groups) : make_host_backend(groups);
  Step step(session, groups, spec, *backend);
  return step.run(requests);
}

}  // namespace trainmem::comm
