// A program that uses phoneverify as an outside project would: built against
// the installed package (find_package, pkg-config), add_subdirectory, and a
// Meson subproject by tools/run-tests, each with -std=c++20 and -std=c++23.
// Exits non-zero when the library misbehaves; does not compile when the
// package lowered the standard the consumer asked for (PHONEVERIFY_CONSUMER_STD).
#include <phoneverify/phoneverify.hpp>

#if defined(PHONEVERIFY_CONSUMER_STD) && PHONEVERIFY_CONSUMER_STD >= 23
static_assert(__cplusplus > 202002L, "asked for C++23, compiled as C++20 or older: the package downgraded -std");
#elif defined(PHONEVERIFY_CONSUMER_STD)
static_assert(__cplusplus >= 202002L, "asked for C++20, compiled as an older standard");
#endif

#include <cstdio>
#include <system_error>

int main() {
  namespace pv = phoneverify;
  static_assert(pv::code_string(pv::errc::invalid_verification_code) == "Invalid.VerificationCode");
  const std::error_code ec = pv::errc::system_limit_control;
  const bool ok = ec.message() == "The system is under flow control." &&
                  pv::action_from_name("BindSecureMobilePhone") == pv::action::bind_secure_mobile_phone;
  std::printf("phoneverify %s consumer (__cplusplus %ld): %s\n", PHONEVERIFY_VERSION_STRING, static_cast<long>(__cplusplus),
              ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
