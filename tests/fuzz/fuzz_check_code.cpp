// Fuzz target for check_code (RULES.md §5): arbitrary submitted strings,
// times, policies, bindings and stored challenges (through from_bytes), and
// freshly issued codes submitted right or wrong. Asserts the rules, not only
// "no crash":
//  - from_bytes either fails with invalid_parameter or gives a challenge that round-trips;
//  - a failure against a live code (wrong_code, other_binding, malformed) uses one attempt,
//    adds one consecutive failure and records the time; every other outcome uses nothing;
//  - ok only for exactly `digits` ASCII digits of the right binding, and it consumes the code
//    and resets the consecutive failures; a second check answers used;
//  - malformed exactly when the submission is not `digits` ASCII digits (for a live code of
//    the right binding); to_errc is Invalid.VerificationCode for every failure;
//  - the issued code, submitted in time for its binding, is accepted.
#include <phoneverify/code.hpp>
#include "fuzz_input.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "../support.hpp"

namespace pv = phoneverify;

namespace {

using phoneverify::test::require;

using input = phoneverify::test::fuzz_input;

using splitmix = phoneverify::test::splitmix64;  // tests/support.hpp

bool well_formed(std::string_view text, std::size_t digits) {
  if (text.size() != digits) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

bool is_failure_against_live_code(pv::check_status s) {
  return s == pv::check_status::wrong_code || s == pv::check_status::other_binding ||
         s == pv::check_status::malformed;
}

// Checks `submitted` and asserts the accounting rules on the state change.
pv::check_status checked(const pv::code_policy& policy, const pv::secret_key& key, const pv::code_binding& binding,
                         bool same_binding, bool tags_known, pv::challenge& state, std::string_view submitted, pv::timestamp now) {
  const pv::challenge before = state;
  const pv::check_status status = pv::check_code(policy, key, binding, state, submitted, now);
  require(static_cast<std::uint8_t>(status) <= static_cast<std::uint8_t>(pv::check_status::budget_spent));
  require((pv::to_errc(status) == pv::errc::ok) == (status == pv::check_status::ok));
  require(status == pv::check_status::ok || pv::to_errc(status) == pv::errc::invalid_verification_code);
  if (is_failure_against_live_code(status)) {
    require(before.state() == pv::challenge_state::live);
    require(state.attempts() == (before.attempts() == 255 ? 255 : before.attempts() + 1));
    require(state.last_failure_at() == (now > before.last_failure_at() ? now : before.last_failure_at()));
    require(state.consecutive_failures() >= 1);
    // Charged to the failure budget, never beyond it (RULES.md §4).
    require(state.budget_charged() >= 1 && state.budget_charged() <= policy.failure_budget);
    require(state.state() == (state.attempts() >= policy.max_attempts ? pv::challenge_state::exhausted
                                                                       : pv::challenge_state::live));
    if (tags_known) require((status == pv::check_status::other_binding) == !same_binding);
    if (tags_known && same_binding) require((status == pv::check_status::malformed) == !well_formed(submitted, policy.digits));
  } else if (status == pv::check_status::ok) {
    require(same_binding && well_formed(submitted, policy.digits));
    require(state.state() == pv::challenge_state::used && state.consecutive_failures() == 0);
    require(now < before.expires_at());
    pv::challenge again = state;
    require(pv::check_code(policy, key, binding, again, submitted, now) == pv::check_status::used);
  } else {
    // No live code to check, a lock or a spent budget: nothing is used
    // (failures forgotten lockout after the last one may end the count).
    require(state.attempts() == before.attempts());
    require(state.last_failure_at() == before.last_failure_at());
    require(state.budget_charged() == before.budget_charged());
    require(state.consecutive_failures() == before.consecutive_failures() ||
            (state.consecutive_failures() == 0 && now >= before.last_failure_at() + policy.lockout));
  }
  // Whatever happened, the state stays storable.
  const auto back = pv::from_bytes(pv::to_bytes(state));
  require(back.has_value() && *back == state);
  return status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input in{data, size};
  const std::uint8_t mode = in.byte();
  pv::code_policy policy{};
  policy.digits = static_cast<std::uint8_t>(6 + in.byte() % 5);
  policy.max_attempts = static_cast<std::uint8_t>(1 + in.byte() % 8);
  policy.max_consecutive_failures = static_cast<std::uint16_t>(1 + in.byte() % 12);
  policy.validity = std::chrono::seconds{1 + in.byte() % 200};
  require(pv::validate(policy) == pv::errc::ok);

  pv::secret_key key{};
  key[0] = std::byte{1};
  key[31] = static_cast<std::byte>(in.byte());
  const pv::code_binding bindings[] = {
      {pv::action::send_verification_code_for_bind_secure_mobile_phone, "1234567890123456",
       pv::parse_phone("86-13900001234", pv::phone_format::dashed).value()},
      {pv::action::send_verification_code_for_bind_secure_mobile_phone, "1234567890123456",
       pv::parse_phone("86-13900001235", pv::phone_format::dashed).value()},
      {pv::action::send_verification_code_for_bind_secure_mobile_phone, "123456789012345",
       pv::parse_phone("86-13900001234", pv::phone_format::dashed).value()},
      {pv::action::get_migration_verify_code, "1234567890123456",
       pv::parse_phone("86-13900001234", pv::phone_format::dashed).value()},
  };
  const std::size_t which = (mode >> 4) % 4;

  pv::challenge state{};
  const bool tags_known = (mode & 1) == 0;  // a code issued here, not stored bytes
  pv::inline_string<pv::code_max_digits> code;
  pv::timestamp now{std::chrono::milliseconds{static_cast<std::int64_t>(in.u64() >> 1) - (std::int64_t{1} << 61)}};
  if (mode & 1) {
    // A stored challenge from arbitrary bytes.
    pv::challenge_bytes bytes{};
    for (auto& b : bytes) b = static_cast<std::byte>(in.byte());
    const auto parsed = pv::from_bytes(bytes);
    if (!parsed) {
      require(parsed.error() == pv::errc::invalid_parameter);
      return 0;
    }
    pv::challenge_bytes written = bytes;  // version 1 bytes read, and are written as version 2
    if (written[0] == std::byte{1}) written[0] = std::byte{2};
    require(pv::to_bytes(*parsed) == written || bytes == pv::challenge_bytes{});
    state = *parsed;
  } else {
    // A real code, then checks at fuzzed offsets from its issue.
    splitmix rng{in.u64()};
    const auto issued = pv::issue_code(policy, key, bindings[0], state, now, rng);
    if (!issued) return 0;  // an issue time so close to the end of time that nothing can follow
    code = issued->code;
    require(pv::from_bytes(pv::to_bytes(state)).value() == state);
    if (mode & 2) {  // submit the right code in time, for the right binding: must be accepted
      require(checked(policy, key, bindings[0], true, true, state, code, now) == pv::check_status::ok);
      return 0;
    }
  }
  // A sequence of checks: submitted text and time steps from the input.
  while (in.size > 0) {
    const std::uint8_t length = in.byte() % 16;
    const std::uint8_t step = in.byte();
    now += std::chrono::milliseconds{static_cast<std::int64_t>(step) * 1000 - 64'000};
    char text[16] = {};
    if ((step & 3) == 0 && !code.empty()) {
      std::memcpy(text, code.data(), code.size());  // the issued code, maybe altered below
      if (length < code.size()) text[length] = static_cast<char>(in.byte());
      checked(policy, key, bindings[which], which == 0, tags_known, state, std::string_view(text, code.size()), now);
    } else {
      for (std::size_t i = 0; i < length; ++i) text[i] = static_cast<char>(in.byte());
      checked(policy, key, bindings[which], which == 0, tags_known, state, std::string_view(text, length), now);
    }
  }
  return 0;
}
