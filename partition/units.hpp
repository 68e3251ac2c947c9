// Units: Bytes and ElementCount are distinct overflow-checked unsigned 64-bit quantities.
// Any operation that would exceed 2^64-1 throws OverflowError instead of wrapping.
#pragma once

#include <compare>
#include <cstdint>

#include "partition/error.hpp"

namespace trainmem {

namespace detail {
inline std::uint64_t checked_add(std::uint64_t a, std::uint64_t b, const char* what) {
  std::uint64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) throw OverflowError(what);
  return r;
}
inline std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const char* what) {
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) throw OverflowError(what);
  return r;
}
inline std::uint64_t checked_sub(std::uint64_t a, std::uint64_t b, const char* what) {
  if (b > a) throw OverflowError(what);
  return a - b;
}
inline std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return a / b + (a % b != 0 ? 1 : 0); }
}  // namespace detail

// A count of tensor elements (parameters, activations values).
struct ElementCount {
  std::uint64_t value = 0;
  constexpr ElementCount() = default;
  constexpr explicit ElementCount(std::uint64_t v) : value(v) {}
  friend ElementCount operator+(ElementCount a, ElementCount b) {
    return ElementCount(detail::checked_add(a.value, b.value, "element count addition"));
  }
  friend ElementCount operator-(ElementCount a, ElementCount b) {
    return ElementCount(detail::checked_sub(a.value, b.value, "element count subtraction"));
  }
  friend ElementCount operator*(ElementCount a, std::uint64_t k) {
    return ElementCount(detail::checked_mul(a.value, k, "element count multiplication"));
  }
  ElementCount& operator+=(ElementCount o) { return *this = *this + o; }
  friend constexpr auto operator<=>(ElementCount, ElementCount) = default;
};

// A size in bytes.
struct Bytes {
  std::uint64_t value = 0;
  constexpr Bytes() = default;
  constexpr explicit Bytes(std::uint64_t v) : value(v) {}
  friend Bytes operator+(Bytes a, Bytes b) { return Bytes(detail::checked_add(a.value, b.value, "byte addition")); }
  friend Bytes operator-(Bytes a, Bytes b) { return Bytes(detail::checked_sub(a.value, b.value, "byte subtraction")); }
  friend Bytes operator*(Bytes a, std::uint64_t k) {
    return Bytes(detail::checked_mul(a.value, k, "byte multiplication"));
  }
  Bytes& operator+=(Bytes o) { return *this = *this + o; }
  friend constexpr auto operator<=>(Bytes, Bytes) = default;
};

inline constexpr std::uint64_t kKiB = 1024ULL;
inline constexpr std::uint64_t kMiB = 1024ULL * kKiB;
inline constexpr std::uint64_t kGiB = 1024ULL * kMiB;
inline constexpr std::uint64_t kTiB = 1024ULL * kGiB;

}  // namespace trainmem
