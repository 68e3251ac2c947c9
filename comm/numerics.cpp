#include "comm/numerics.hpp"

#include <cmath>

namespace trainmem::comm {
std::uint64_t stream_key(std::uint64_t seed, Stream stream, std::uint64_t group, std::uint64_t member) {
  std::uint64_t h = splitmix64(seed ^ (static_cast<std::uint64_t>(stream) * 0x9E3779B97F4A7C15ULL));
  h = splitmix64(h ^ group);
  return splitmix64(h ^ member);
}

float seeded_param(std::uint64_t seed, std::uint64_t group, std::uint64_t index) {
  return param_value(stream_key(seed, Stream::param, group, 0), index);
}
float seeded_grad(std::uint64_t seed, std::uint64_t group, std::uint64_t member, std::uint64_t index) {
  return grad_value(stream_key(seed, Stream::grad, group, member), index);
}
float seeded_moment_m(std::uint64_t seed, std::uint64_t group, std::uint64_t index) {
  return moment_m_value(stream_key(seed, Stream::moment_m, group, 0), index);
}
float seeded_moment_v(std::uint64_t seed, std::uint64_t group, std::uint64_t index) {
  return moment_v_value(stream_key(seed, Stream::moment_v, group, 0), index);
}

float bias_correction(float beta, int step) { return 1.0F - std::pow(beta, static_cast<float>(step)); }

}  // namespace trainmem::comm
