// SPDX-License-Identifier: MIT
// phoneverify: ASCII digits and the length bounds of a verification code, for
// the headers that check digits (params.hpp, phone.hpp, code.hpp) without
// including one another. Not part of the public contract.
#ifndef PHONEVERIFY_DETAIL_DIGITS_HPP
#define PHONEVERIFY_DETAIL_DIGITS_HPP

#include <cstdint>

namespace phoneverify::detail {

// '0' to '9' only: every rule refuses full-width and other non-ASCII digits
// (RULES.md §2, §5).
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// A verification code has 6 to 10 digits (RULES.md §5); code.hpp publishes
// these as code_min_digits and code_max_digits.
inline constexpr std::uint8_t min_code_digits = 6;
inline constexpr std::uint8_t max_code_digits = 10;

}  // namespace phoneverify::detail

#endif  // PHONEVERIFY_DETAIL_DIGITS_HPP
