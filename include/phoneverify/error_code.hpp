// SPDX-License-Identifier: MIT
// phoneverify: std::error_code glue for errc.
//
// Apart from errc.hpp because <system_error> is a heavy include. Through ADL,
// `std::error_code ec = errc::invalid_verification_code;` works;
// ec.category().name() is "phoneverify", ec.message() the documented message.
#ifndef PHONEVERIFY_ERROR_CODE_HPP
#define PHONEVERIFY_ERROR_CODE_HPP

#include <string>
#include <system_error>

#include "errc.hpp"

namespace phoneverify {

namespace detail {
class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "phoneverify"; }
  std::string message(int value) const override {
    if (value == 0) return "success";
    if (value < 0 || static_cast<std::size_t>(value) >= errc_count) return "unknown phoneverify error";
    return std::string(::phoneverify::message(static_cast<errc>(value)));
  }
};
}  // namespace detail

// The one category object of the program: an inline function's static is one
// object across all translation units (tests/odr/).
inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl category;
  return category;
}

// Found by ADL, so errc converts to std::error_code.
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace phoneverify

template <>
struct std::is_error_code_enum<phoneverify::errc> : std::true_type {};

#endif  // PHONEVERIFY_ERROR_CODE_HPP
