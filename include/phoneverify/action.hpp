// SPDX-License-Identifier: MIT
// phoneverify: one row per action. Everything the library decides per action
// (RULES.md §1-§7, appendix A) is a field of that action's row in
// `action_table`: its parameters, its documented table, its phone and the
// errors it answers for it, its limit error, whether it sends, meters its
// callers, charges the daily quota, whose code it consumes and what its
// success carries. Code that needs a per-action fact reads `info(a)`; a new
// action is one new row (tests/test_actions.cpp walks every row).
#ifndef PHONEVERIFY_ACTION_HPP
#define PHONEVERIFY_ACTION_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "detail/config.hpp"
#include "errc.hpp"
#include "phone.hpp"

namespace phoneverify {

// A request parameter, by wire name (parameter_name).
enum class parameter : std::uint8_t {
  none,
  secure_mobile_phone,     // SecureMobilePhone
  account_id,              // AccountId
  verification_code,       // VerificationCode
  cust_space_id,           // CustSpaceId
  phone_number,            // PhoneNumber
  locale,                  // Locale
  method,                  // Method
  contact_id,              // ContactId
  enable_mode,             // EnableMode
  ma_name,                 // MAName
  ma_secure_mobile_phone,  // MASecureMobilePhone
  verify_code,             // VerifyCode
  // AccessKeyId, the common parameter of every Alibaba Cloud RPC request from
  // which a service learns the caller's account: blamed when the facts name
  // no caller account where it keys state (RULES.md §9) [L].
  access_key_id,
};

namespace detail {
inline constexpr std::string_view parameter_names[] = {
    "",       "SecureMobilePhone", "AccountId",  "VerificationCode", "CustSpaceId",         "PhoneNumber", "Locale",
    "Method", "ContactId",         "EnableMode", "MAName",           "MASecureMobilePhone", "VerifyCode",  "AccessKeyId",
};
}  // namespace detail

// The wire name of a parameter ("SecureMobilePhone"); "" for none or a value that is no enumerator.
constexpr std::string_view parameter_name(parameter p) noexcept {
  const auto i = static_cast<std::size_t>(p);
  return i < std::size(detail::parameter_names) ? detail::parameter_names[i] : std::string_view{};
}

// Which set of a site_policy governs an action's phone (RULES.md §3).
enum class phone_kind : std::uint8_t { secure_phone, message_contact, cams };

// The wire errors an action answers for its phone (RULES.md §2, §3): bad
// syntax, length, trunk prefix or the mobile rule; a country code that is not
// assigned; a code the site does not accept.
struct phone_errors {
  errc syntax;
  errc unassigned;
  errc site;
};

// One action: every per-action fact of RULES.md, in one place.
struct action_info {
  action id;
  std::array<parameter, 4> parameters;  // the request's parameters in its order (parameter::none pads)
  parameter phone_parameter;            // the parameter holding the phone (for 3 and 6 it may be omitted)
  phone_format phone_form;              // how the phone is spelled (RULES.md §2)
  phone_kind phone;                     // the site set it is checked against (RULES.md §3)
  bool mobile_only;                     // needs a mobile number (RULES.md §2)
  phone_errors phone_error;             // RULES.md §2, §3
  // A refusal by a limit or a store that cannot hold the state (RULES.md §4,
  // §5): the sender's limit error; for a consumer the error its check answers.
  errc limit_error;
  // The error of a request whose caller account keys state but is not named
  // (RULES.md §9): the action's own identity error where it documents one,
  // else the common MissingParameter naming AccessKeyId.
  errc unnamed_caller_error;
  bool sends;               // issues a code (RULES.md §1)
  bool flow_control;        // every request counts against the caller's rate (step 1, RULES.md §7)
  bool daily_quota;         // a send is charged to an account's daily quota (RULES.md §4)
  action code_of;           // whose code it checks (consumers) or issues (senders: itself)
  parameter code_parameter;  // the parameter carrying the submitted code; none for senders
  bool returns_expiration_date;  // its success body carries ExpirationDate (RULES.md §1.1)
  bool returns_phone_number;     // its success body is the CAMS envelope with Data.PhoneNumber (RULES.md §1.1)
};

// The seven rows, in the enumerator's order (RULES.md §1, §3, §4, §5, §6, appendix A).
inline constexpr action_info action_table[action_count] = {
    {action::send_verification_code_for_bind_secure_mobile_phone,
     {parameter::secure_mobile_phone, parameter::account_id},
     parameter::secure_mobile_phone, phone_format::dashed, phone_kind::secure_phone, true,
     {errc::invalid_parameter, errc::invalid_parameter_mobile_country_code, errc::invalid_parameter_mobile_country_code},
     errc::send_validate_code_exceeds_limit_for_account, errc::caller_identity_error,
     true, false, true, action::send_verification_code_for_bind_secure_mobile_phone, parameter::none, true, false},
    {action::bind_secure_mobile_phone,
     {parameter::verification_code, parameter::secure_mobile_phone, parameter::account_id},
     parameter::secure_mobile_phone, phone_format::dashed, phone_kind::secure_phone, true,
     // It documents no country-code error; its site error is NotSupport.Site.Action.
     {errc::invalid_parameter, errc::not_support_site_action, errc::not_support_site_action},
     errc::invalid_verification_code, errc::missing_parameter,
     false, false, false, action::send_verification_code_for_bind_secure_mobile_phone, parameter::verification_code,
     false, false},
    {action::send_verification_code_for_enable_rd,
     {parameter::secure_mobile_phone},
     parameter::secure_mobile_phone, phone_format::dashed, phone_kind::secure_phone, true,
     {errc::invalid_parameter, errc::invalid_parameter_mobile_country_code, errc::invalid_parameter_mobile_country_code},
     errc::send_validate_code_exceeds_limit_for_account, errc::missing_parameter,
     true, false, true, action::send_verification_code_for_enable_rd, parameter::none, false, false},
    {action::get_migration_verify_code,
     {parameter::cust_space_id, parameter::phone_number, parameter::locale, parameter::method},
     parameter::phone_number, phone_format::compact, phone_kind::cams, false,
     // CAMS documents no parameter error: the common InvalidParameter.
     {errc::invalid_parameter, errc::invalid_parameter, errc::invalid_parameter},
     errc::system_limit_control, errc::ram_permission_deny,
     true, true, false, action::get_migration_verify_code, parameter::none, false, true},
    {action::send_phone_verification_for_message_contact,
     {parameter::contact_id, parameter::phone_number},
     parameter::phone_number, phone_format::dashed, phone_kind::message_contact, true,
     {errc::invalid_parameter_phone_number, errc::invalid_parameter_mobile_country_code,
      errc::invalid_parameter_mobile_country_code},
     errc::send_validate_code_exceeds_limit_for_account, errc::missing_parameter,
     true, false, true, action::send_phone_verification_for_message_contact, parameter::none, false, false},
    {action::enable_resource_directory,
     {parameter::enable_mode, parameter::ma_name, parameter::ma_secure_mobile_phone, parameter::verification_code},
     parameter::ma_secure_mobile_phone, phone_format::dashed, phone_kind::secure_phone, true,
     // Appendix A: its error for the management account's phone, for all three.
     {errc::invalid_parameter_management_account_security_info, errc::invalid_parameter_management_account_security_info,
      errc::invalid_parameter_management_account_security_info},
     errc::invalid_verification_code, errc::missing_parameter,
     false, false, false, action::send_verification_code_for_enable_rd, parameter::verification_code, false, false},
    {action::chatapp_migration_verified,
     {parameter::cust_space_id, parameter::phone_number, parameter::verify_code},
     parameter::phone_number, phone_format::compact, phone_kind::cams, false,
     {errc::invalid_parameter, errc::invalid_parameter, errc::invalid_parameter},
     errc::system_limit_control, errc::ram_permission_deny,
     false, true, false, action::get_migration_verify_code, parameter::verify_code, false, false},
};

// The row of action `a`. A precondition: `a` is an enumerator (every action
// value the library makes is); broken, PHONEVERIFY_ASSERT stops.
constexpr const action_info& info(action a) noexcept {
  const auto i = static_cast<std::size_t>(a);
  PHONEVERIFY_ASSERT(i < action_count, "info: an action value that is no enumerator");
  return action_table[i < action_count ? i : 0];
}

// Whether `a` is an enumerator of action.
constexpr bool is_action(action a) noexcept { return static_cast<std::size_t>(a) < action_count; }

// Whether action `a` may answer `e` at all (RULES.md §6): ok; the rows of its
// documented table; the common MissingParameter / InvalidParameter where it
// documents no specific code [L]; its unnamed-caller error (CallerIdentityError
// for action 1, "the caller rule of 1"); Invalid.VerificationCode for a
// consumer (every failed check, RULES.md §5).
constexpr bool may_return(action a, errc e) noexcept {
  if (e == errc::ok || documents(a, e)) return true;
  if (e == errc::missing_parameter || e == errc::invalid_parameter) return true;
  if (!is_action(a)) return false;
  const action_info& row = info(a);
  return e == row.unnamed_caller_error || (e == errc::invalid_verification_code && !row.sends);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_ACTION_HPP
