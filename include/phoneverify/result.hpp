// SPDX-License-Identifier: MIT
// phoneverify: result<T, E>, a value or an error, shaped like std::expected.
//
// Every fallible function of the library returns one: result<T> (E = errc)
// in the rule layers, result<T, verdict> where a failure needs more than a
// wire code (actions.hpp). It never throws: asking a failed result for its
// value, or a successful one for an error other than errc's ok, is a
// precondition violation (PHONEVERIFY_ASSERT), a compile error in a constant
// expression. Works with -fno-exceptions -fno-rtti.
#ifndef PHONEVERIFY_RESULT_HPP
#define PHONEVERIFY_RESULT_HPP

#include <type_traits>
#include <utility>

#include "detail/config.hpp"
#include "errc.hpp"

namespace phoneverify {

namespace detail {
// Whether `e` may be the error of a failed result: never errc::ok, nor a
// value whose own ok() says success.
template <class E>
constexpr bool is_failure(const E& e) noexcept {
  if constexpr (std::is_same_v<E, errc>) {
    return e != errc::ok;
  } else if constexpr (requires { e.ok(); }) {
    return !e.ok();
  } else {
    return true;
  }
}
}  // namespace detail

// result<T, E> holds either a T or an E. Both must be trivially copyable
// (every value type of the library is), so result is trivially copyable too
// and can be returned and stored freely in constant expressions.
template <class T, class E = errc>
class result {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_copyable_v<E>,
                "result<T, E> holds trivially copyable values only");
  static_assert(!std::is_reference_v<T> && !std::is_same_v<std::remove_cv_t<T>, std::remove_cv_t<E>>,
                "result<T, E>: T must be an object type other than E");

 public:
  using value_type = T;
  using error_type = E;

  // A success holding `value`.
  constexpr result(const T& value) noexcept : value_(value), has_value_(true) {}  // NOLINT: implicit like expected
  // A failure; `error` must not mean success (errc::ok, or an E whose ok() is true).
  constexpr result(const E& error) noexcept : error_(error), has_value_(false) {  // NOLINT: implicit like unexpected
    PHONEVERIFY_ASSERT(detail::is_failure(error), "result: a failure needs an error that is not ok");
  }

  constexpr bool has_value() const noexcept { return has_value_; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  // The error. For E = errc, errc::ok when the result holds a value; for any
  // other E a precondition: the result failed.
  constexpr E error() const noexcept {
    if constexpr (std::is_same_v<E, errc>) {
      return has_value_ ? errc::ok : error_;
    } else {
      PHONEVERIFY_ASSERT(!has_value_, "result: error() of a successful result");
      return has_value_ ? E{} : error_;
    }
  }
  // The error, or `fallback` for a success.
  constexpr E error_or(const E& fallback) const noexcept { return has_value_ ? fallback : error_; }

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
    if (a.has_value_ != b.has_value_) return false;
    return a.has_value_ ? a.value_ == b.value_ : a.error_ == b.error_;
  }
  // For E = errc, `r == errc::ok` holds for a success, as error() says.
  friend constexpr bool operator==(const result& a, const E& e) noexcept {
    if constexpr (std::is_same_v<E, errc>) {
      return a.error() == e;
    } else {
      return !a.has_value_ && a.error_ == e;
    }
  }

 private:
  union {
    T value_;
    E error_;
  };
  bool has_value_;
};

}  // namespace phoneverify

#endif  // PHONEVERIFY_RESULT_HPP
