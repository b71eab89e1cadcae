// SPDX-License-Identifier: MIT
// phoneverify: configuration macros and the precondition check.
// Not part of the public contract.
#ifndef PHONEVERIFY_DETAIL_CONFIG_HPP
#define PHONEVERIFY_DETAIL_CONFIG_HPP

#include <cstdlib>

namespace phoneverify::detail {

// Deliberately not constexpr: reaching it during constant evaluation is a
// compile error, which is how a broken precondition in a constant expression
// (for example a code_policy outside its limits) fails to compile (STYLE.md).
[[noreturn]] inline void precondition_failed(const char* /*what*/) noexcept { std::abort(); }

}  // namespace phoneverify::detail

// PHONEVERIFY_ASSERT(cond, what): a precondition. Users may predefine it (to
// log, to throw in their own code, or to nothing); by default a broken
// precondition aborts at run time and does not compile in a constant expression.
#ifndef PHONEVERIFY_ASSERT
#define PHONEVERIFY_ASSERT(cond, what) \
  ((cond) ? static_cast<void>(0) : ::phoneverify::detail::precondition_failed(what))
#endif

#endif  // PHONEVERIFY_DETAIL_CONFIG_HPP
