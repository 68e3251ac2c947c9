// The arithmetic of one validation step, shared by the sharded step and the unsharded reference:
// bf16 <-> fp32 conversion (round to nearest even), seeded tensor values (splitmix64 of seed, stream,
// index) and the Adam/AdamW update (Kingma & Ba 2015, Algorithm 1; Loshchilov & Hutter 2019 decay).
// Seeded gradients are k/64 with |k| <= 7, so any dp <= 16 sum of them is exact in bf16 and fp32 and
// the result does not depend on the reduction order of the collective.
#pragma once

#include <cstdint>
#include <cstring>

#include "partition/dtype.hpp"

namespace trainmem::comm {

inline std::uint16_t float_to_bf16(float f) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7f800000U) == 0x7f800000U && (bits & 0x007fffffU) != 0)
    return static_cast<std::uint16_t>((bits >> 16) | 0x40U);
  const std::uint32_t rounding = 0x7fffU + ((bits >> 16) & 1U);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

inline float bf16_to_float(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f = 0;
  std::memcpy(&f, &bits, 4);
  return f;
}

// The value a float has after a round trip through storage of `dtype` (fp32 or bf16).
inline float quantize(float f, Dtype dtype) { return dtype == Dtype::bf16 ? bf16_to_float(float_to_bf16(f)) : f; }

// Independent value streams of the step.
enum class Stream : std::uint64_t { param = 1, grad = 2, moment_m = 3, moment_v = 4 };

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The key of one value stream: `group` identifies the data-parallel group (its lowest global rank),
// `member` the dp index whose gradient is meant (0 for replicated tensors). Element i of a stream is
// splitmix64(key + i): one hash per element, so the reference can regenerate every rank's gradients.
std::uint64_t stream_key(std::uint64_t seed, Stream stream, std::uint64_t group, std::uint64_t member);

// Values of element i of a stream. Parameters are k/128 (|k| <= 127) and gradients k/64 (|k| <= 7),
// exactly representable in bf16; m and v are arbitrary fp32 values (v > 0).
inline float param_value(std::uint64_t key, std::uint64_t i) {
  return static_cast<float>(static_cast<int>(splitmix64(key + i) % 255) - 127) / 128.0F;
}
inline float grad_value(std::uint64_t key, std::uint64_t i) {
  return static_cast<float>(static_cast<int>(splitmix64(key + i) % 15) - 7) / 64.0F;
}
inline float moment_m_value(std::uint64_t key, std::uint64_t i) {
  return static_cast<float>(static_cast<int>(splitmix64(key + i) % 201) - 100) * 1e-4F;
}
inline float moment_v_value(std::uint64_t key, std::uint64_t i) {
  return static_cast<float>(static_cast<int>(splitmix64(key + i) % 1000) + 1) * 1e-6F;
}

// Convenience forms (one element; the step and the reference hoist the keys).
float seeded_param(std::uint64_t seed, std::uint64_t group, std::uint64_t index);
float seeded_grad(std::uint64_t seed, std::uint64_t group, std::uint64_t member, std::uint64_t index);
float seeded_moment_m(std::uint64_t seed, std::uint64_t group, std::uint64_t index);
float seeded_moment_v(std::uint64_t seed, std::uint64_t group, std::uint64_t index);

struct AdamConfig {
  float lr = 1e-3F;
  float beta1 = 0.9F;
  float beta2 = 0.999F;
  float eps = 1e-8F;
  float weight_decay = 0.0F;  // decoupled (AdamW) when > 0
  int step = 1;               // the step being taken (bias correction uses beta^step)
};

// One Adam step of one element, in fp32: updates w, m, v in place from the averaged gradient g.
inline void adam_update(float& w, float& m, float& v, float g, const AdamConfig& c, float bias1, float bias2) {
  m = c.beta1 * m + (1.0F - c.beta1) * g;
  v = c.beta2 * v + (1.0F - c.beta2) * g * g;
  const float m_hat = m / bias1;
  const float v_hat = v / bias2;
  w = w - c.lr * (m_hat / (__builtin_sqrtf(v_hat) + c.eps) + c.weight_decay * w);
}

// 1 - beta^step, computed once per step.
float bias_correction(float beta, int step);

}  // namespace trainmem::comm
