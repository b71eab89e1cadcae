// SPDX-License-Identifier: MIT
// phoneverify for a service that is not Alibaba-shaped: the sign-in of a
// messaging app that texts a one-time code to E.164 numbers of three
// countries. It uses only the generic pure core: phone parsing and masking,
// its own country_code_set, quotas charged all or nothing (per-phone sliding
// windows, a GCRA rate per client IP, a daily quota per number), and the code
// lifecycle (issue_code / check_code with keyed digests, ChaCha20 random).
// No engine, no action table: the service keeps the state structs wherever it
// likes (here: local variables) and passes its own clock.
// Exits non-zero if an outcome differs from the one the comments describe.
#include <phoneverify/code.hpp>
#include <phoneverify/phone.hpp>
#include <phoneverify/quota.hpp>
#include <phoneverify/random.hpp>
#include <phoneverify/site.hpp>

#include <chrono>
#include <cstdio>
#include <string_view>

namespace pv = phoneverify;
using namespace std::chrono_literals;

namespace {

// The service's rules, all fixed at compile time.
constexpr std::uint16_t served_codes[] = {33, 44, 49};  // France, the UK, Germany
constexpr pv::country_code_set served = pv::make_country_code_set(served_codes);
constexpr pv::window_set<2> per_number{{{1, 30s}, {3, 10min}}};  // 1 text per 30 s, 3 per 10 minutes
constexpr pv::rate_limit per_client{20, 1min};                    // 20 requests a minute per client IP
constexpr pv::daily_quota per_number_daily{8, 0min};              // 8 texts a UTC day per number
constexpr pv::code_policy codes{.digits = 6, .validity = 5min, .max_attempts = 5, .resend_interval = 30s};
// The code's purpose: a domain separator of the keyed digests. Any sending
// action works; one per flow of your own keeps the flows' codes apart.
constexpr pv::action sign_in = pv::action::send_verification_code_for_bind_secure_mobile_phone;

// What the service stores per phone number (all trivially copyable: any
// key-value store holds them; challenge has a 64-byte to_bytes form).
struct number_state {
  pv::sliding_window_state<3> windows;
  pv::daily_usage daily;
  pv::challenge code;
};

int failures = 0;
void expect(bool ok, const char* what) {
  std::printf("  %-58s %s\n", what, ok ? "as expected" : "UNEXPECTED");
  if (!ok) ++failures;
}

}  // namespace

int main() {
  pv::secret_key key{};
  key.fill(std::byte{0x5e});  // the HMAC key of stored codes: 32 secret bytes from your vault in production
  pv::system_random rng;      // ChaCha20, keyed from the operating system
  pv::timestamp now{std::chrono::milliseconds{1'767'225'600'000}};  // 2026-01-01T00:00:00Z
  pv::rate_state client;       // one per client IP
  number_state state;          // one per number

  std::printf("parsing E.164 input:\n");
  for (std::string_view text : {"+447911123456", "+44 7911 123456", "+8613900001234", "+999123"}) {
    const auto parsed = pv::parse_phone_detailed(text, pv::phone_format::e164);
    if (!parsed.number) {
      const auto why = pv::describe(parsed.reason);
      std::printf("  %-16.*s rejected: %.*s at byte %zu\n", static_cast<int>(text.size()), text.data(),
                  static_cast<int>(why.size()), why.data(), parsed.position);
    } else if (!served.contains(parsed.number->country_code())) {
      std::printf("  %-16.*s valid, but country code %u is not served\n", static_cast<int>(text.size()), text.data(),
                  static_cast<unsigned>(parsed.number->country_code()));
    } else {
      std::printf("  %-16.*s accepted, logged as %s\n", static_cast<int>(text.size()), text.data(),
                  pv::mask_phone(*parsed.number).c_str());
    }
  }

  const pv::phone_number phone = *pv::parse_phone("+447911123456", pv::phone_format::e164);
  const pv::code_binding binding{sign_in, "user-42", phone};

  // A send: every limit admits, or none is charged. The code's own resend
  // interval is asked first, so a send it refuses charges no limit.
  auto send = [&](pv::timestamp at) -> pv::result<pv::issued_code> {
    if (const pv::timestamp next = pv::next_issue_at(codes, state.code); at < next) {
      std::printf("  send at +%llds: refused, the last code was sent less than 30 s ago (retry at +%llds)\n",
                  static_cast<long long>((at - now) / 1s), static_cast<long long>((next - now) / 1s));
      return pv::errc::send_validate_code_exceeds_limit_for_account;
    }
    const pv::joint_decision limits = pv::admit_all(at, pv::meter(per_client, client), pv::meter(per_number, state.windows),
                                                    pv::meter(per_number_daily, state.daily));
    if (!limits.result.allowed) {
      static const char* const names[] = {"the client's rate", "the number's windows", "the number's daily quota"};
      std::printf("  send at +%llds: refused by %s, retry at +%llds\n", static_cast<long long>((at - now) / 1s),
                  names[limits.denied_by],
                  static_cast<long long>((limits.result.retry_at - now) / 1s));
      return pv::errc::send_validate_code_exceeds_limit_for_account;
    }
    auto issued = pv::issue_code(codes, key, binding, state.code, at, rng);
    if (issued) std::printf("  send at +%llds: code texted to %s\n", static_cast<long long>((at - now) / 1s),
                            pv::mask_phone(phone).c_str());
    return issued;
  };

  std::printf("the sign-in flow:\n");
  const auto first = send(now);
  expect(first.has_value(), "the first send is admitted");
  expect(!send(now + 10s).has_value(), "a second send 10 s later is refused (1 per 30 s)");
  const auto second = send(now + 40s);
  expect(second.has_value(), "a send 40 s later is admitted; it replaces the first code");
  if (!first || !second) return 1;

  const std::string_view right = second->code.view();
  const std::string_view wrong = right == "000000" ? "111111" : "000000";
  if (first->code.view() != right)  // two draws agree once in a million
    expect(pv::check_code(codes, key, binding, state.code, first->code.view(), now + 50s) == pv::check_status::wrong_code,
           "the replaced code no longer signs in");
  expect(pv::check_code(codes, key, binding, state.code, wrong, now + 55s) == pv::check_status::wrong_code,
         "a wrong code is a failed attempt");
  const pv::code_binding other_user{sign_in, "user-43", phone};
  expect(pv::check_code(codes, key, other_user, state.code, right, now + 56s) == pv::check_status::other_binding,
         "the right code for another user is refused");
  expect(pv::check_code(codes, key, binding, state.code, right, now + 60s) == pv::check_status::ok,
         "the right code signs in");
  expect(pv::check_code(codes, key, binding, state.code, right, now + 61s) == pv::check_status::used,
         "it signs in once only");
  expect(pv::to_bytes(state.code).size() == 64, "the challenge is 64 bytes to store");
  expect(send(now + 80s).has_value(), "a third send, 80 s in, is admitted");
  expect(!send(now + 120s).has_value(), "a fourth within 10 minutes is refused (3 per 10 min)");

  std::printf("%s\n", failures == 0 ? "generic service: ok" : "generic service: FAILED");
  return failures == 0 ? 0 : 1;
}
