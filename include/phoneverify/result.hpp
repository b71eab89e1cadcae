// SPDX-License-Identifier: MIT
// phoneverify: result<T>, a value or an errc, shaped like std::expected.
//
// Every fallible function of the library returns one. It never throws: asking
// a failed result for its value is a precondition violation (PHONEVERIFY_ASSERT),
// a compile error in a constant expression. Works with -fno-exceptions -fno-rtti.
#ifndef PHONEVERIFY_RESULT_HPP
#define PHONEVERIFY_RESULT_HPP

#include <type_traits>
#include <utility>

#include "detail/config.hpp"
#include "errc.hpp"

namespace phoneverify {

// result<T> holds either a T or a non-ok errc. T must be trivially copyable
// (every value type of the library is), so result<T> is trivially copyable too
// and can be returned and stored freely in constant expressions.
template <class T>
class result {
  static_assert(std::is_trivially_copyable_v<T>, "result<T> holds trivially copyable values only");
  static_assert(!std::is_reference_v<T> && !std::is_same_v<std::remove_cv_t<T>, errc>,
                "result<T>: T must be an object type other than errc");

 public:
  using value_type = T;
  using error_type = errc;

  // A success holding `value`.
  constexpr result(const T& value) noexcept : value_(value), error_(errc::ok) {}  // NOLINT: implicit like expected
  // A failure; `error` must not be errc::ok.
  constexpr result(errc error) noexcept : empty_(), error_(error) {  // NOLINT: implicit like unexpected
    PHONEVERIFY_ASSERT(error != errc::ok, "result: a failure needs an error other than errc::ok");
  }

  constexpr bool has_value() const noexcept { return error_ == errc::ok; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  // errc::ok when the result holds a value.
  constexpr errc error() const noexcept { return error_; }

  constexpr const T& value() const& noexcept {
    PHONEVERIFY_ASSERT(has_value(), "result: value() of a failed result");
    return value_;
  }
  constexpr T& value() & noexcept {
    PHONEVERIFY_ASSERT(has_value(), "result: value() of a failed result");
    return value_;
  }
  constexpr const T& operator*() const& noexcept { return value(); }
  constexpr T& operator*() & noexcept { return value(); }
  constexpr const T* operator->() const noexcept { return &value(); }
  constexpr T* operator->() noexcept { return &value(); }

  // The value, or `fallback` for a failure.
  constexpr T value_or(const T& fallback) const noexcept { return has_value() ? value_ : fallback; }

  friend constexpr bool operator==(const result& a, const result& b) noexcept {
    if (a.error_ != b.error_) return false;
    return !a.has_value() || a.value_ == b.value_;
  }
  friend constexpr bool operator==(const result& a, errc e) noexcept { return a.error_ == e; }

 private:
  struct empty_state {};
  union {
    empty_state empty_;
    T value_;
  };
  errc error_;
};

}  // namespace phoneverify

#endif  // PHONEVERIFY_RESULT_HPP
