// SPDX-License-Identifier: MIT
// phoneverify: saturating and floor-rounding integer arithmetic. Not part of
// the public contract.
//
// Time, limit and size arithmetic must not overflow for any input (RULES.md §4),
// so every sum and product that can leave its type's range clamps to its end.
#ifndef PHONEVERIFY_DETAIL_SATURATING_HPP
#define PHONEVERIFY_DETAIL_SATURATING_HPP

#include <cstddef>
#include <cstdint>
#include <limits>

namespace phoneverify::detail {

inline constexpr std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();
inline constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

// a + b, clamped to the int64 range.
constexpr std::int64_t sat_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? i64_max : i64_min;
  return r;
}

// a - b, clamped to the int64 range.
constexpr std::int64_t sat_sub(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? i64_max : i64_min;
  return r;
}

// a * b, clamped to the int64 range.
constexpr std::int64_t sat_mul(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return (a < 0) != (b < 0) ? i64_min : i64_max;
  return r;
}

// a * b for unsigned operands, clamped to UINT64_MAX.
constexpr std::uint64_t sat_mul_u(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return u64_max;
  return r;
}

// a + b for sizes, clamped to SIZE_MAX.
constexpr std::size_t sat_add_size(std::size_t a, std::size_t b) noexcept {
  std::size_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return std::numeric_limits<std::size_t>::max();
  return r;
}

// Floor of a / b for b > 0 (rounds toward minus infinity, unlike `/`).
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// a - b * floor_div(a, b): always in [0, b) for b > 0.
constexpr std::int64_t floor_mod(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t r = a % b;
  return r < 0 ? r + b : r;
}

// Ceiling of a / b for b > 0.
constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && a > 0) ? q + 1 : q;
}

// Greatest common divisor of two non-negative values (gcd(a, 0) = a).
constexpr std::uint64_t gcd_u(std::uint64_t a, std::uint64_t b) noexcept {
  while (b != 0) {
    const std::uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

}  // namespace phoneverify::detail

#endif  // PHONEVERIFY_DETAIL_SATURATING_HPP
