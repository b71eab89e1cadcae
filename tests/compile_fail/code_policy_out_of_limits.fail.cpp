// expect: precondition_failed
// A code_policy outside its limits (RULES.md §5: 6 to 10 digits) does not
// compile when it is a constant: checked_policy is consteval.
#include <phoneverify/code.hpp>

#ifdef PHONEVERIFY_COMPILE_FAIL_CONTROL
constexpr phoneverify::code_policy policy = phoneverify::checked_policy({.digits = 6});
#else
constexpr phoneverify::code_policy policy = phoneverify::checked_policy({.digits = 5});
#endif

int main() { return policy.digits == 0; }
