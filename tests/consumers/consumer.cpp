// A program that uses phoneverify as an outside project would: built against
// the installed package (find_package, pkg-config), add_subdirectory, and a
// Meson subproject by tools/run-tests. Exits non-zero when the library misbehaves.
#include <phoneverify/phoneverify.hpp>

#include <cstdio>
#include <system_error>

int main() {
  namespace pv = phoneverify;
  static_assert(pv::code_string(pv::errc::invalid_verification_code) == "Invalid.VerificationCode");
  const std::error_code ec = pv::errc::system_limit_control;
  const bool ok = ec.message() == "The system is under flow control." &&
                  pv::action_from_name("BindSecureMobilePhone") == pv::action::bind_secure_mobile_phone;
  std::printf("phoneverify %s consumer: %s\n", PHONEVERIFY_VERSION_STRING, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
