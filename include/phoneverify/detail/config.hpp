// SPDX-License-Identifier: MIT
// phoneverify: configuration macros and the precondition check.
// Not part of the public contract.
#ifndef PHONEVERIFY_DETAIL_CONFIG_HPP
#define PHONEVERIFY_DETAIL_CONFIG_HPP

#include <cstdio>
#include <cstdlib>

namespace phoneverify::detail {

// Prints "file:line: assertion failed: what" to stderr and aborts. Not
// constexpr on purpose: reaching it during constant evaluation is how a broken
// precondition in a constant expression fails to compile.
[[noreturn]] inline void precondition_failed(const char* file, int line, const char* what) noexcept {
  std::fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, what);
  std::abort();
}

}  // namespace phoneverify::detail

// PHONEVERIFY_ASSERT(cond, what): a precondition; `what` is a C string, read
// only when the condition fails. Users may predefine it (to log, to throw in
// their own code, or to nothing); by default a broken precondition prints its
// file, line and `what` to stderr and aborts at run time, and does not compile
// in a constant expression.
#ifndef PHONEVERIFY_ASSERT
#define PHONEVERIFY_ASSERT(cond, what) \
  ((cond) ? static_cast<void>(0) : ::phoneverify::detail::precondition_failed(__FILE__, __LINE__, what))
#endif

#endif  // PHONEVERIFY_DETAIL_CONFIG_HPP
