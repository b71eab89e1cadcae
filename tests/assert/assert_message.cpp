// A program that breaks one precondition, chosen by its argument, so that
// tests/assert/expect_abort.cmake can check what PHONEVERIFY_ASSERT prints
// (detail/config.hpp, RULES.md §9): "file:line: assertion failed: message" on
// stderr, then abort. Built twice: as is, and with PHONEVERIFY_ASSERT_CUSTOM,
// a user's own PHONEVERIFY_ASSERT defined before any library header.
#include <cstdio>
#include <cstdlib>
#include <string_view>

#ifdef PHONEVERIFY_ASSERT_CUSTOM
[[noreturn]] inline void custom_failure(const char* what) {
  std::fprintf(stderr, "custom handler: %s\n", what);
  std::exit(3);
}
#define PHONEVERIFY_ASSERT(cond, what) ((cond) ? static_cast<void>(0) : custom_failure(what))
#endif

#include <phoneverify/engine.hpp>
#include <phoneverify/result.hpp>

namespace pv = phoneverify;

int main(int argc, char** argv) {
  const std::string_view which = argc > 1 ? argv[1] : "";
  if (which == "result") {
    volatile int fail = 1;
    const pv::result<int> r = fail != 0 ? pv::result<int>(pv::errc::invalid_parameter) : pv::result<int>(1);
    std::printf("%d\n", r.value());  // a precondition violation: value() of a failed result
  } else if (which == "engine_config") {
    const pv::engine_config config;  // an all-zero key
    pv::engine engine(config);       // a precondition violation: validate(config) is key_all_zero
    std::printf("%zu\n", engine.stats().quotas);
  } else {
    std::fprintf(stderr, "usage: assert_message result|engine_config\n");
    return 2;
  }
  return 0;  // not reached: the precondition stops the program
}
