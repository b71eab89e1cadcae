// expect: precondition_failed
// Asking a failed result for its value is a precondition violation: in a
// constant expression it does not compile.
#include <phoneverify/result.hpp>

constexpr phoneverify::result<int> failed() { return phoneverify::errc::invalid_parameter; }
constexpr phoneverify::result<int> succeeded() { return 1; }

#ifdef PHONEVERIFY_COMPILE_FAIL_CONTROL
static_assert(succeeded().value() == 1);
#else
static_assert(failed().value() == 1);
#endif

int main() { return 0; }
