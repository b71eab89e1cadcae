// Fuzz target for actions.hpp: random requests, facts, states and times
// through every action's check, send and verify. Invariants (RULES.md §6, §7):
//   - the answer is ok or an errc the action may return (its documented table,
//     or the common MissingParameter / InvalidParameter, or RULES.md's named extras);
//   - status and message are the action's own for that errc;
//   - a request that fails a pure step (2-6) changes no state but flow control;
//   - a denied send changes none of the quota, windows or challenge;
//   - a request whose facts name no caller where it keys state (missing_fact,
//     RULES.md §9) changes no state at all, flow control included;
//   - an ok send hands out a code of exactly policy.code.digits ASCII digits.
#include <phoneverify/actions.hpp>
#include "fuzz_input.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "../support.hpp"

namespace pv = phoneverify;

namespace {

// Reads the fuzzer's bytes as a sequence of choices and strings.
struct input : phoneverify::test::fuzz_input {
  // A string: either one of a few valid-looking texts or raw bytes.
  std::string_view text(std::initializer_list<std::string_view> valid) {
    const std::uint8_t choice = byte();
    if (choice < 160) return *(valid.begin() + choice % valid.size());
    const std::size_t length = byte() % 24;
    const std::size_t n = length < size ? length : size;
    std::string_view out(reinterpret_cast<const char*>(data), n);
    data += n;
    size -= n;
    return out;
  }
};

using phoneverify::test::require;

void check_verdict(pv::action a, const pv::verdict& v) {
  require(v.action() == a);
  require(pv::may_return(a, v.error()));
  require(v.http_status() == pv::http_status(v.error(), a));
  require(v.ok() ? v.message().empty() : v.message() == pv::message(v.error(), a));
  require(v.ok() == (v.step() == pv::check_step::passed));
  // Each detail accessor answers only for its own reason.
  if (v.code_status() != pv::check_status::ok) require(v.reason() == pv::verdict_reason::code_rejected);
  if (v.phone_failure() != pv::phone_error::none) require(v.at_fault() == pv::info(a).phone_parameter);
  if (v.param_failure() != pv::param_reason::ok) require(v.phone_failure() == pv::phone_error::none);
  // describe() always names the action and never overflows.
  const auto line = pv::describe(v);
  require(line.view().starts_with(pv::action_name(a)));
}

std::string_view phone_text(input& in) {
  return in.text({"86-13900001234", "44-7911123456", "86-13900004321", "1-2015550123", "999-1234567",
                  "86-1012345678", "+86-13900001234", "86-139****1234"});
}
std::string_view compact_text(input& in) {
  return in.text({"8613800001234", "447911123456", "99912345678", "+8613800001234", "86-13800001234"});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input in{data, size};
  pv::facts f;
  const bool china = in.flag();
  f.caller.kind = static_cast<pv::caller_kind>(in.byte() % 4);
  f.caller.account_id = in.text({"9999888877776666", "1", ""});
  f.caller.product_subscribed = !in.flag() || in.flag();
  f.caller.permitted = !in.flag() || in.flag();
  f.account.exists = !in.flag() || in.flag();
  f.account.kind = static_cast<pv::account_kind>(in.byte() % 2);
  f.account.status = static_cast<pv::account_status>(in.byte() % 4);
  f.account.membership = static_cast<pv::directory_membership>(in.byte() % 3);
  f.account.manages_a_directory = in.flag() && in.flag();
  f.account.secure_phone_bound = in.flag() && in.flag();
  f.account.secure_phone = phone_text(in);
  f.account.enterprise_name_set = !in.flag() || in.flag();
  f.account.real_name_verified = !in.flag() || in.flag();
  f.contact.exists = !in.flag() || in.flag();
  f.contact.phone = phone_text(in);
  f.contact.verification_pending = !in.flag() || in.flag();
  f.space.owned_by_caller = !in.flag() || in.flag();
  f.management_account_name_used = in.flag() && in.flag();

  pv::action_policy policy;
  policy.sites = china ? pv::china_site_policy : pv::international_site_policy;
  policy.code.resend_interval = std::chrono::seconds{in.byte() % 90};
  policy.cams_rate.count = 1u + in.byte() % 12u;
  pv::secret_key key{};
  for (auto& b : key) b = static_cast<std::byte>(in.byte() | 1);

  pv::daily_usage quota{};
  pv::per_phone_state windows{};
  pv::challenge code{};
  pv::rate_state flow{};
  phoneverify::test::splitmix64 rng{0x9E3779B9u ^ in.byte()};
  pv::timestamp now{std::chrono::milliseconds{1'700'000'000'000LL + in.byte() * 1000LL}};
  std::string_view last_code = "123456";

  for (int step = 0; step < 12 && in.size > 0; ++step) {
    now += std::chrono::milliseconds{std::int64_t{in.byte()} * 997};
    const auto which = static_cast<pv::action>(in.byte() % pv::action_count);
    const std::string_view code_text = in.flag() ? last_code : in.text({"123456", "000000", "12345", "abcdef"});
    const pv::send_state send_state{&quota, &windows, &code, &flow};
    const pv::verify_state verify_state{&code, &flow};
    const pv::daily_usage quota_before = quota;
    const pv::per_phone_state windows_before = windows;
    const pv::challenge code_before = code;
    const pv::rate_state flow_before = flow;
    auto unchanged_if_unnamed = [&](const pv::verdict& v) {
      if (v.reason() == pv::verdict_reason::missing_fact)
        require(quota == quota_before && windows == windows_before && code == code_before && flow == flow_before);
    };

    auto after_send = [&](const pv::send_result& out) {
      if (out) {
        require(out->code.size() == policy.code.digits);
        for (char c : out->code.view()) require(c >= '0' && c <= '9');
        require(out->expires_at > now);
      } else {
        // A failed send is a verdict that is not ok, and changes no limit and no challenge.
        require(!out.error().ok());
        check_verdict(which, out.error());
        unchanged_if_unnamed(out.error());
        require(quota == quota_before && windows == windows_before && code == code_before);
      }
    };
    auto after_verify = [&](const pv::verdict& v) {
      check_verdict(which, v);
      unchanged_if_unnamed(v);
    };
    switch (which) {
      case pv::action::send_verification_code_for_bind_secure_mobile_phone: {
        const pv::send_verification_code_for_bind_secure_mobile_phone_request r{
            phone_text(in), in.text({"1234567890123456", "12a", ""})};
        after_send(pv::send(policy, key, r, f, send_state, now, rng));
        break;
      }
      case pv::action::send_verification_code_for_enable_rd: {
        const pv::send_verification_code_for_enable_rd_request r{in.flag() ? std::string_view{} : phone_text(in)};
        after_send(pv::send(policy, key, r, f, send_state, now, rng));
        break;
      }
      case pv::action::get_migration_verify_code: {
        const pv::get_migration_verify_code_request r{in.text({"293483938841234", "x", ""}), compact_text(in),
                                                       in.text({"zh_CN", "en", "EN", ""}),
                                                       in.text({"sms", "Voice", "mail", ""})};
        after_send(pv::send(policy, key, r, f, send_state, now, rng));
        break;
      }
      case pv::action::send_phone_verification_for_message_contact: {
        const pv::send_phone_verification_for_message_contact_request r{in.text({"c-abc123", "abc", ""}),
                                                                        phone_text(in)};
        after_send(pv::send(policy, key, r, f, send_state, now, rng));
        break;
      }
      case pv::action::bind_secure_mobile_phone: {
        const pv::bind_secure_mobile_phone_request r{code_text, phone_text(in),
                                                     in.text({"1234567890123456", "7", ""})};
        after_verify(pv::verify(policy, key, r, f, verify_state, now));
        break;
      }
      case pv::action::enable_resource_directory: {
        const pv::enable_resource_directory_request r{
            in.text({"NewManagementAccount", "CurrentAccount", "x", ""}),
            in.text({"admin@rdadmin.aliyunid.com", "a@b.com", ""}), phone_text(in), code_text};
        after_verify(pv::verify(policy, key, r, f, verify_state, now));
        break;
      }
      case pv::action::chatapp_migration_verified: {
        const pv::chatapp_migration_verified_request r{in.text({"293483938841234", ""}), compact_text(in), code_text};
        after_verify(pv::verify(policy, key, r, f, verify_state, now));
        break;
      }
    }
  }
  return 0;
}
