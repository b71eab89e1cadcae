// expect: precondition_failed
// issue_code with a policy whose validity exceeds 10 minutes (RULES.md §5,
// NIST SP 800-63B §5.1.3.2) does not compile in a constant expression; at run
// time it returns errc::invalid_parameter instead.
#include <phoneverify/code.hpp>

#include <chrono>
#include <cstdint>

namespace {
struct counter {
  using result_type = std::uint32_t;
  result_type next = 0;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return 0xFFFFFFFFU; }
  constexpr result_type operator()() { return next += 0x9E3779B9U; }
};

constexpr bool issues(std::chrono::seconds validity) {
  phoneverify::secret_key key{};
  key[0] = std::byte{1};
  const phoneverify::code_binding binding{
      phoneverify::action::send_verification_code_for_bind_secure_mobile_phone, "1234567890123456",
      phoneverify::parse_phone("86-13900001234", phoneverify::phone_format::dashed).value()};
  phoneverify::challenge state{};
  counter rng{};
  return phoneverify::issue_code(phoneverify::code_policy{.validity = validity}, key, binding, state,
                                 phoneverify::timestamp{}, rng)
      .has_value();
}
}  // namespace

#ifdef PHONEVERIFY_COMPILE_FAIL_CONTROL
static_assert(issues(std::chrono::seconds{600}));
#else
static_assert(issues(std::chrono::seconds{601}));
#endif

int main() { return 0; }
