// expect: precondition_failed
// result<T, E> for an E other than errc (RULES.md §7: prepare's result):
// error() of a success is a precondition violation, a compile error in a
// constant expression.
#include <phoneverify/actions.hpp>

#ifdef PHONEVERIFY_COMPILE_FAIL_CONTROL
static_assert(phoneverify::result<int, phoneverify::verdict>(1).value() == 1);
#else
static_assert(!phoneverify::result<int, phoneverify::verdict>(1).error().ok());
#endif

int main() {}
