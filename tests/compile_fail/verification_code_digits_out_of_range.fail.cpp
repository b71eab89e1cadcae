// expect: precondition_failed
// A verification code length outside 6..10 (RULES.md §5) is a broken
// precondition of check_verification_code: in a constant expression it does not compile.
#include <phoneverify/params.hpp>

#ifdef PHONEVERIFY_COMPILE_FAIL_CONTROL
static_assert(phoneverify::check_verification_code("123456", 6).ok());
#else
static_assert(phoneverify::check_verification_code("12345", 5).ok());
#endif

int main() { return 0; }
