// SPDX-License-Identifier: MIT
// phoneverify: the seven actions. One request type and one check per action,
// applying RULES.md §7's order and answering with the error that action
// documents (RULES.md §1, §3, §6, §7, appendix A).
//
// Two levels:
//   - `check(request, facts, policy)`: the pure steps 2-6 of RULES.md §7
//     (presence, syntax, site and country code, caller identity and permission,
//     state of the entities). No state, no time.
//   - `send(...)` for the five sending actions and `verify(...)` for the three
//     actions that consume a code: every step, 1-8, on the caller's state
//     structs (quota.hpp, code.hpp). A state changes only when the request
//     passed every step before the one that owns it; flow control (step 1)
//     counts every request, valid or not.
// Everything is constexpr, noexcept and heap-free; the state lives wherever
// the caller keeps it (engine.hpp keeps it in memory).
#ifndef PHONEVERIFY_ACTIONS_HPP
#define PHONEVERIFY_ACTIONS_HPP

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "code.hpp"
#include "detail/config.hpp"
#include "errc.hpp"
#include "params.hpp"
#include "phone.hpp"
#include "quota.hpp"
#include "site.hpp"
#include "time.hpp"

namespace phoneverify {

// ---------------------------------------------------------------------------
// Requests: the parameters exactly as received (an empty view is a parameter
// that was not supplied). Views: keep the texts alive while the request is used.

// SendVerificationCodeForBindSecureMobilePhone (RULES.md §1.1, action 1).
struct send_verification_code_for_bind_secure_mobile_phone_request {
  std::string_view secure_mobile_phone;  // SecureMobilePhone, required, dashed ("44-7911123456")
  std::string_view account_id;           // AccountId, required: the member account
};

// BindSecureMobilePhone (action 2).
struct bind_secure_mobile_phone_request {
  std::string_view verification_code;    // VerificationCode, required: the code action 1 sent
  std::string_view secure_mobile_phone;  // SecureMobilePhone, required: the phone action 1 sent it to
  std::string_view account_id;           // AccountId, required: the member account
};

// SendVerificationCodeForEnableRD (action 3).
struct send_verification_code_for_enable_rd_request {
  std::string_view secure_mobile_phone;  // SecureMobilePhone, optional: empty = the caller's bound phone
};

// GetMigrationVerifyCode (action 4, CAMS).
struct get_migration_verify_code_request {
  std::string_view cust_space_id;  // CustSpaceId, required: the ISV sub-customer's space (digits)
  std::string_view phone_number;   // PhoneNumber, required, compact ("8613800001234")
  std::string_view locale;         // Locale, required ("zh_CN", "en_US", "en")
  std::string_view method;         // Method, required: "sms" or "voice", any case
};

// SendPhoneVerificationForMessageContact (action 5).
struct send_phone_verification_for_message_contact_request {
  std::string_view contact_id;    // ContactId, required in effect (MissingParameter.ContactId exists)
  std::string_view phone_number;  // PhoneNumber, required in effect, dashed, the AddMessageContact phone
};

// EnableResourceDirectory (appendix A): consumes action 3's code.
struct enable_resource_directory_request {
  std::string_view enable_mode;             // EnableMode, required: CurrentAccount | NewManagementAccount
  std::string_view ma_name;                 // MAName, with NewManagementAccount
  std::string_view ma_secure_mobile_phone;  // MASecureMobilePhone, with NewManagementAccount; empty = caller's
  std::string_view verification_code;       // VerificationCode, with NewManagementAccount
};

// ChatappMigrationVerified (appendix A): consumes action 4's code.
struct chatapp_migration_verified_request {
  std::string_view cust_space_id;  // CustSpaceId, required
  std::string_view phone_number;   // PhoneNumber, required, compact
  std::string_view verify_code;    // VerifyCode, required
};

// ---------------------------------------------------------------------------
// Facts: what the service knows about the world, passed in as plain values.
//
// Every fact whose forgotten value would grant something defaults to the
// value that refuses (RULES.md §9): a service that does not fill a fact gets
// that fact's documented error, never a pass. The caller's kind defaults to
// other_account (CallerIdentityError), `permitted`, `product_subscribed`,
// `owned_by_caller`, `enterprise_name_set` and `real_name_verified` to false,
// `membership` to another_directory (NotSupport.AccountInAnotherResourceDirectory).
// Set each one the actions you call read.

// Who is calling (RULES.md §6 CallerIdentityError; the usage notes of the documentation of actions 1 and 2).
enum class caller_kind : std::uint8_t {
  management_ram_identity,  // a RAM user or role of the management account (what actions 1, 2 require)
  management_account,       // the management account itself (its root identity)
  member_account,           // a member of the resource directory
  other_account,            // any other Alibaba Cloud account
};

// The caller: its identity, its account, its product subscription and permission.
struct caller_facts {
  caller_kind kind = caller_kind::other_account;  // refuses by default (RULES.md §9): CallerIdentityError for 1, 2
  // The caller's account ID: a state key (challenge and quota of 3, EnableRD's
  // challenge, the quota of 5 and, by policy, of 1; the CAMS user of 4 and 7).
  // Required where it keys state: empty is the missing_fact verdict (RULES.md §9).
  std::string_view account_id;
  bool product_subscribed = false;  // CAMS: Product.Unsubscript when false (the default, RULES.md §9)
  bool permitted = false;           // RAM authorisation for the action: Ram.PermissionDeny when false (CAMS)
};

// What kind of account the request is about.
enum class account_kind : std::uint8_t { resource_account, cloud_account };
// Its status; only `active` satisfies BindSecureMobilePhone (AccountTypeMismatch otherwise).
enum class account_status : std::uint8_t { active, creating, suspended, deleting };
// Where the account stands towards resource directories.
enum class directory_membership : std::uint8_t { none, this_directory, another_directory };

// The account the request is about: the member account of actions 1 and 2;
// the caller's own account for actions 3 and EnableResourceDirectory.
struct account_facts {
  bool exists = true;
  account_kind kind = account_kind::resource_account;
  account_status status = account_status::active;
  directory_membership membership = directory_membership::another_directory;  // refuses by default (RULES.md §9)
  bool manages_a_directory = false;   // has a resource directory enabled already (EntityAlreadyExists.ResourceDirectory)
  bool secure_phone_bound = false;    // AccountSecureMobileAlreadyExists for BindSecureMobilePhone
  std::string_view secure_phone;      // the bound phone, dashed: used by 3 and EnableRD when the request gives none
  bool enterprise_name_set = false;   // Invalid.EnterpriseName when false (the default, RULES.md §9)
  bool real_name_verified = false;    // EnterpriseRealNameVerificationError when false (the default)
};

// The message contact of action 5 (created by AddMessageContact).
struct contact_facts {
  bool exists = true;                // EntityNotExists.Contact when false
  std::string_view phone;            // the phone given to AddMessageContact, dashed
  bool verification_pending = true;  // EntityNotExists.Contact.Verification when false
};

// The CAMS space of actions 4 and 7.
struct cams_space_facts {
  bool owned_by_caller = false;  // Unknown.ResourceOwnerId when false (the default, RULES.md §9)
};

// Everything a check may ask about; each action reads only its own part. The
// site is not a fact: it is the deployment's, action_policy::sites (RULES.md §3).
struct facts {
  caller_facts caller{};
  account_facts account{};
  contact_facts contact{};
  cams_space_facts space{};
  bool management_account_name_used = false;  // EnableRD: InvalidParameter.ManagementAccountName.AlreadyUsed
};

// ---------------------------------------------------------------------------
// Policy: the knobs RULES.md marks [L], with its defaults.

// Whose daily quota a send counts (RULES.md §4: the documents disagree for action 1).
enum class quota_subject : std::uint8_t {
  sending_account,  // the caller's account
  target_account,   // the member account the code is for (action 1's AccountId)
};

struct action_policy {
  daily_quota daily{};                                          // 100 codes per account per day, UTC+8 (RULES.md §4)
  quota_subject bind_quota_counts = quota_subject::target_account;           // action 1 [L]
  quota_subject message_contact_quota_counts = quota_subject::sending_account;  // action 5 [L]
  rate_limit cams_rate{};                                       // 10 requests per second per user (action 4's documentation)
  window_set<3> per_phone = per_phone_windows;                 // 1/min, 5/h, 10/24 h per phone (RULES.md §4)
  code_policy code{};                                           // 6 digits, 5 min, 5 attempts... (RULES.md §5)
  // The site the deployment runs, set here and nowhere else (RULES.md §3): the
  // tables are held by value, so a policy never points at memory that may go
  // away. china_site_policy, international_site_policy or your own.
  site_policy sites = china_site_policy;
};

// The defaults, as one object: the default argument of prepare() and check(),
// so a call without a policy copies nothing.
inline constexpr action_policy default_action_policy{};

// ---------------------------------------------------------------------------
// Verdicts

// The request parameter a verdict blames, by wire name (parameter_name).
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
  // AccessKeyId, the common parameter of every Alibaba Cloud RPC request, from
  // which a service learns the caller's account: blamed when the facts name no
  // caller account where it keys state (RULES.md §9) [L].
  access_key_id,
};

// The wire name of a parameter ("SecureMobilePhone"); "" for none.
constexpr std::string_view parameter_name(parameter p) noexcept {
  switch (p) {
    case parameter::none: return "";
    case parameter::secure_mobile_phone: return "SecureMobilePhone";
    case parameter::account_id: return "AccountId";
    case parameter::verification_code: return "VerificationCode";
    case parameter::cust_space_id: return "CustSpaceId";
    case parameter::phone_number: return "PhoneNumber";
    case parameter::locale: return "Locale";
    case parameter::method: return "Method";
    case parameter::contact_id: return "ContactId";
    case parameter::enable_mode: return "EnableMode";
    case parameter::ma_name: return "MAName";
    case parameter::ma_secure_mobile_phone: return "MASecureMobilePhone";
    case parameter::verify_code: return "VerifyCode";
    case parameter::access_key_id: return "AccessKeyId";
  }
  return "";
}

// The step of RULES.md §7 that decided a verdict.
enum class check_step : std::uint8_t {
  passed,        // every step passed
  flow_control,  // 1
  presence,      // 2
  syntax,        // 3
  site,          // 4
  identity,      // 5
  state,         // 6
  quota,         // 7: daily quota, per-phone windows, resend interval, lock
  code,          // 8
};

// The precise reason of a verdict, for logs (the wire carries only the errc).
enum class verdict_reason : std::uint8_t {
  ok,
  flow_control,                     // over the per-user request rate
  missing_parameter,                // a required parameter is empty
  bad_syntax,                       // detail: param_reason or phone_error value; position: byte offset
  unassigned_country_code,          // detail: phone_error::unassigned_country_code
  site_rejects_country_code,        // the site does not accept the phone's country code for this action
  not_a_mobile_number,              // the action needs a mobile number (RULES.md §2: 86 = 11 digits starting with 1)
  no_phone_bound,                   // no phone given and the account has none bound
  caller_not_management_identity,   // CallerIdentityError
  permission_denied,                // Ram.PermissionDeny
  product_not_subscribed,           // Product.Unsubscript
  resource_not_owned,               // Unknown.ResourceOwnerId
  account_not_found,                // the member account does not exist
  account_in_another_directory,     // NotSupport.AccountInAnotherResourceDirectory
  directory_already_enabled,        // EntityAlreadyExists.ResourceDirectory
  account_type_mismatch,            // AccountTypeMismatch
  secure_phone_already_bound,       // AccountSecureMobileAlreadyExists
  enterprise_name_missing,          // Invalid.EnterpriseName
  real_name_not_verified,           // EnterpriseRealNameVerificationError
  management_account_name_used,     // InvalidParameter.ManagementAccountName.AlreadyUsed
  contact_not_found,                // EntityNotExists.Contact
  contact_phone_mismatch,           // the phone is not the one given to AddMessageContact
  no_pending_verification,          // EntityNotExists.Contact.Verification
  resend_too_soon,                  // inside the code policy's resend interval
  binding_locked,                   // too many consecutive failures (RULES.md §4, §5)
  phone_window_exceeded,            // detail: index of the per-phone window that denied
  daily_quota_exceeded,             // the account's daily quota
  code_rejected,                    // detail: check_status value
  invalid_policy,                   // the code policy or the key is unusable (a configuration error)
  state_unavailable,                // the engine's state store refused the key (full of live state): fail closed
  missing_fact,                     // a fact that keys state is empty (caller.account_id): never a shared key (RULES.md §9)
  randomness_unavailable,           // the random source gave no value: no code drawn, nothing charged (fail closed)
  invalid_fact,                     // a fact that keys state is malformed (caller.account_id is no AccountId): detail = param_reason
};

// A short English description of a reason, for logs.
constexpr std::string_view describe(verdict_reason r) noexcept {
  switch (r) {
    case verdict_reason::ok: return "ok";
    case verdict_reason::flow_control: return "over the per-user request rate";
    case verdict_reason::missing_parameter: return "a required parameter is missing";
    case verdict_reason::bad_syntax: return "a parameter breaks its syntax rule";
    case verdict_reason::unassigned_country_code: return "the country code is not assigned";
    case verdict_reason::site_rejects_country_code: return "the site does not accept this country code here";
    case verdict_reason::not_a_mobile_number: return "the action needs a mobile number";
    case verdict_reason::no_phone_bound: return "no phone given and none is bound to the account";
    case verdict_reason::caller_not_management_identity:
      return "the caller is not a RAM user or role of the management account";
    case verdict_reason::permission_denied: return "the caller is not authorised for the action";
    case verdict_reason::product_not_subscribed: return "the caller has not subscribed to the product";
    case verdict_reason::resource_not_owned: return "the space does not belong to the caller";
    case verdict_reason::account_not_found: return "the account does not exist";
    case verdict_reason::account_in_another_directory: return "the account belongs to another resource directory";
    case verdict_reason::directory_already_enabled: return "the account already has a resource directory";
    case verdict_reason::account_type_mismatch: return "the account's type or status does not allow this";
    case verdict_reason::secure_phone_already_bound: return "the account already has a secure phone";
    case verdict_reason::enterprise_name_missing: return "the account has no enterprise name";
    case verdict_reason::real_name_not_verified: return "the account has not passed enterprise real-name verification";
    case verdict_reason::management_account_name_used: return "the management account name is taken";
    case verdict_reason::contact_not_found: return "the contact does not exist";
    case verdict_reason::contact_phone_mismatch: return "the phone is not the contact's phone";
    case verdict_reason::no_pending_verification: return "the contact has no pending verification";
    case verdict_reason::resend_too_soon: return "a code was sent too recently";
    case verdict_reason::binding_locked: return "too many failed checks: locked";
    case verdict_reason::phone_window_exceeded: return "too many codes to this phone";
    case verdict_reason::daily_quota_exceeded: return "the account's daily quota is spent";
    case verdict_reason::code_rejected: return "the verification code was not accepted";
    case verdict_reason::invalid_policy: return "the code policy or the secret key is unusable";
    case verdict_reason::state_unavailable: return "no room for the state of this key: refused, nothing forgotten";
    case verdict_reason::missing_fact:
      return "facts.caller.account_id is empty but keys this action's state: the service must name the caller";
    case verdict_reason::randomness_unavailable:
      return "the random source failed: no code was drawn and nothing was charged";
    case verdict_reason::invalid_fact:
      return "facts.caller.account_id keys this action's state but is not an AccountId (1-20 digits, no leading zero)";
  }
  return "";
}

// The answer to one request: the wire error with the status and message that
// this action documents, the step and the precise reason (for logs), the
// parameter at fault, and for a limit the earliest time a retry can succeed.
struct verdict {
  action act{};
  errc code = errc::ok;
  int http_status = 200;
  std::string_view message;        // the action's documented message ("" for ok)
  check_step step = check_step::passed;
  verdict_reason reason = verdict_reason::ok;
  parameter at_fault = parameter::none;
  std::uint8_t detail = 0;         // phone_error, param_reason, check_status or window index, by reason
  std::uint16_t position = 0;      // byte offset of a syntax error
  timestamp retry_at{};            // limits: when the same request can succeed (timestamp::max(): never)

  constexpr bool ok() const noexcept { return code == errc::ok; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  constexpr std::string_view code_string() const noexcept { return phoneverify::code_string(code); }
};

// Whether action `a` may answer `e` at all: the rows of its documented table,
// the common MissingParameter / InvalidParameter where it documents no specific
// code (RULES.md §6 [L]), CallerIdentityError for action 1 ("the caller rule of
// 1", RULES.md §6), and Invalid.VerificationCode for ChatappMigrationVerified
// (every failed check is Invalid.VerificationCode, RULES.md §5). ok always.
constexpr bool may_return(action a, errc e) noexcept {
  if (e == errc::ok || documents(a, e)) return true;
  if (e == errc::missing_parameter || e == errc::invalid_parameter) return true;
  if (a == action::send_verification_code_for_bind_secure_mobile_phone && e == errc::caller_identity_error)
    return true;
  return a == action::chatapp_migration_verified && e == errc::invalid_verification_code;
}

namespace detail {

constexpr verdict make_verdict(action a, errc e, check_step step, verdict_reason reason,
                               parameter at_fault = parameter::none, std::uint8_t detail_value = 0,
                               std::size_t position = 0) noexcept {
  verdict v;
  v.act = a;
  v.code = e;
  v.http_status = http_status(e, a);
  v.message = message(e, a);
  v.step = step;
  v.reason = reason;
  v.at_fault = at_fault;
  v.detail = detail_value;
  v.position = static_cast<std::uint16_t>(position > 0xFFFF ? 0xFFFF : position);
  return v;
}

constexpr verdict passed(action a) noexcept {
  verdict v;
  v.act = a;
  return v;
}

// Step 2: a required parameter is missing. Actions that document a specific
// code for it pass it; the others answer the common MissingParameter (RULES.md §6).
constexpr verdict missing(action a, parameter p, errc e = errc::missing_parameter) noexcept {
  return make_verdict(a, e, check_step::presence, verdict_reason::missing_parameter, p);
}

// Step 3: a non-phone parameter breaks its syntax rule (params.hpp).
constexpr verdict bad_param(action a, parameter p, param_check c, errc e = errc::invalid_parameter) noexcept {
  return make_verdict(a, e, check_step::syntax, verdict_reason::bad_syntax, p, static_cast<std::uint8_t>(c.reason),
                      c.position);
}

// A placeholder for the phone of a request that has none yet (phone_number has
// no empty state: it is always a valid number). Read only when a verdict is ok.
// Computed once at compile time: building it per request would validate it per request.
inline constexpr phone_number placeholder_phone = phone_number::from_parts(1, "2015550123").value();
constexpr phone_number no_phone() noexcept { return placeholder_phone; }

// How an action reports the three phone failures: bad syntax or length, an
// unassigned country code, and a country code the site does not accept.
struct phone_errors {
  errc syntax;
  errc unassigned;
  errc site;
};

constexpr phone_errors phone_errors_of(action a) noexcept {
  switch (a) {
    case action::send_verification_code_for_bind_secure_mobile_phone:
    case action::send_verification_code_for_enable_rd:
      // Documents InvalidParameter.MobileCountryCode (409), no phone syntax code.
      return {errc::invalid_parameter, errc::invalid_parameter_mobile_country_code,
              errc::invalid_parameter_mobile_country_code};
    case action::bind_secure_mobile_phone:
      // Documents no country-code error; its site error is NotSupport.Site.Action (RULES.md §3).
      return {errc::invalid_parameter, errc::not_support_site_action, errc::not_support_site_action};
    case action::send_phone_verification_for_message_contact:
      return {errc::invalid_parameter_phone_number, errc::invalid_parameter_mobile_country_code,
              errc::invalid_parameter_mobile_country_code};
    case action::enable_resource_directory:
      // Appendix A: its error for the management account's phone.
      return {errc::invalid_parameter_management_account_security_info,
              errc::invalid_parameter_management_account_security_info,
              errc::invalid_parameter_management_account_security_info};
    case action::get_migration_verify_code:
    case action::chatapp_migration_verified:
      // CAMS documents no parameter errors: the common InvalidParameter; every assigned code is accepted.
      return {errc::invalid_parameter, errc::invalid_parameter, errc::invalid_parameter};
  }
  return {errc::invalid_parameter, errc::invalid_parameter, errc::invalid_parameter};
}

// The phone of a request after steps 3 and 4.
struct phone_check {
  verdict v;
  phone_number phone;
};

// Steps 3 (syntax, length, mobile rule) and 4 (assigned code, site) for the
// phone of action `a` (RULES.md §2, §3): parse errors keep RULES.md §2's order
// (syntax, then country code, then length); the country code's assignment is
// judged with the site (step 4) because both answer with the country-code error.
constexpr phone_check check_phone(action a, parameter p, std::string_view text, phone_format form,
                                  const site_policy& sites) noexcept {
  const phone_errors errors = phone_errors_of(a);
  const phone_parse_result parsed = parse_phone_detailed(text, form);
  phone_check out{passed(a), no_phone()};
  if (!parsed.number) {
    if (parsed.reason == phone_error::unassigned_country_code) {
      out.v = make_verdict(a, errors.unassigned, check_step::site, verdict_reason::unassigned_country_code, p,
                           static_cast<std::uint8_t>(parsed.reason), parsed.position);
    } else {
      out.v = make_verdict(a, errors.syntax, check_step::syntax, verdict_reason::bad_syntax, p,
                           static_cast<std::uint8_t>(parsed.reason), parsed.position);
    }
    return out;
  }
  out.phone = *parsed.number;
  if (requires_mobile_number(a) && !is_mobile_number(out.phone)) {
    out.v = make_verdict(a, errors.syntax, check_step::syntax, verdict_reason::not_a_mobile_number, p);
    return out;
  }
  if (!site_accepts(sites, a, out.phone.country_code()))
    out.v = make_verdict(a, errors.site, check_step::site, verdict_reason::site_rejects_country_code, p);
  return out;
}

// Whether dashed `text` is the number `phone`.
constexpr bool same_dashed_number(std::string_view text, const phone_number& phone) noexcept {
  const auto parsed = parse_phone(text, phone_format::dashed);
  return parsed && *parsed == phone;
}

constexpr verdict state_error(action a, errc e, verdict_reason r, parameter p = parameter::none) noexcept {
  return make_verdict(a, e, check_step::state, r, p);
}

// Step 6, the account's place among resource directories (actions 1, 2, 3 and
// EnableResourceDirectory): a member of another directory, then one that
// already has its own.
constexpr verdict directory_state(action a, const account_facts& account) noexcept {
  if (account.membership == directory_membership::another_directory)
    return state_error(a, errc::not_support_account_in_another_resource_directory,
                       verdict_reason::account_in_another_directory);
  if (account.manages_a_directory)
    return state_error(a, errc::entity_already_exists_resource_directory, verdict_reason::directory_already_enabled);
  return passed(a);
}

// Step 5 of the CAMS actions, in RULES.md §7's order: permission, subscription,
// ownership of the space.
constexpr verdict cams_identity(action a, const facts& f) noexcept {
  if (!f.caller.permitted)
    return make_verdict(a, errc::ram_permission_deny, check_step::identity, verdict_reason::permission_denied);
  if (!f.caller.product_subscribed)
    return make_verdict(a, errc::product_unsubscript, check_step::identity, verdict_reason::product_not_subscribed);
  if (!f.space.owned_by_caller)
    return make_verdict(a, errc::unknown_resource_owner_id, check_step::identity, verdict_reason::resource_not_owned,
                        parameter::cust_space_id);
  return passed(a);
}

// A fact that keys state must be given (RULES.md §9): when the caller's
// account keys a state of action `a` and facts.caller.account_id is empty,
// the request gets this verdict and no state is keyed, so two callers the
// service forgot to name never share a challenge, a quota or a rate. The
// wire error is the action's own documented identity error where it has
// one (CallerIdentityError for action 1, "the caller rule of 1"; Ram.PermissionDeny
// for the CAMS actions 4 and ChatappMigrationVerified: an unnamed user cannot
// be authorised), otherwise the common MissingParameter naming AccessKeyId,
// the request parameter the caller's account comes from (actions 3, 5 and
// EnableResourceDirectory, which document no identity error) [L]. The reason
// is missing_fact for logs.
constexpr verdict missing_caller_account(action a) noexcept {
  switch (a) {
    case action::send_verification_code_for_bind_secure_mobile_phone:
      return make_verdict(a, errc::caller_identity_error, check_step::identity, verdict_reason::missing_fact);
    case action::get_migration_verify_code:
    case action::chatapp_migration_verified:
      return make_verdict(a, errc::ram_permission_deny, check_step::identity, verdict_reason::missing_fact);
    default:
      return make_verdict(a, errc::missing_parameter, check_step::presence, verdict_reason::missing_fact,
                          parameter::access_key_id);
  }
}


}  // namespace detail

// What the pure steps 2-6 found, and what the stateful steps need: the
// verdict; the code binding (sending action, account, and the phone, parsed);
// the account whose daily quota counts; the code submitted (consumers).
struct prepared_request {
  verdict v;
  code_binding binding{action{}, {}, detail::no_phone()};  // binding.phone: the request's phone, parsed
  std::string_view quota_account;   // sends with a daily quota: whose quota counts
  std::string_view submitted_code;  // consumers: the code to check
  bool needs_code = false;          // consumers: a code must be checked (EnableRD with CurrentAccount: no)
};

// --- Action 1 ---------------------------------------------------------------

// Steps 2-6 of SendVerificationCodeForBindSecureMobilePhone.
constexpr prepared_request prepare(const send_verification_code_for_bind_secure_mobile_phone_request& r,
                                   const facts& f, const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = action::send_verification_code_for_bind_secure_mobile_phone;
  prepared_request out;
  out.v = detail::passed(a);
  // 2. presence, in the table's order
  if (r.secure_mobile_phone.empty()) return out.v = detail::missing(a, parameter::secure_mobile_phone), out;
  if (r.account_id.empty()) return out.v = detail::missing(a, parameter::account_id), out;
  // 3-4. syntax, then site and country code (phone), then the account ID's syntax
  const auto phone = detail::check_phone(a, parameter::secure_mobile_phone, r.secure_mobile_phone,
                                         phone_format::dashed, policy.sites);
  if (!phone.v.ok() && phone.v.step == check_step::syntax) return out.v = phone.v, out;
  if (const auto c = check_account_id(r.account_id); !c) return out.v = detail::bad_param(a, parameter::account_id, c), out;
  if (!phone.v.ok()) return out.v = phone.v, out;
  // 5. caller identity: a RAM user or role of the management account (usage notes of action 1's documentation)
  if (f.caller.kind != caller_kind::management_ram_identity)
    return out.v = detail::make_verdict(a, errc::caller_identity_error, check_step::identity,
                                        verdict_reason::caller_not_management_identity),
           out;
  // ... and named, when its account is the quota key (RULES.md §9)
  if (policy.bind_quota_counts == quota_subject::sending_account && f.caller.account_id.empty())
    return out.v = detail::missing_caller_account(a), out;
  // 6. state of the member account
  if (!f.account.exists)
    return out.v = detail::make_verdict(a, errc::invalid_parameter, check_step::state,
                                        verdict_reason::account_not_found, parameter::account_id),
           out;
  if (const verdict v = detail::directory_state(a, f.account); !v.ok()) return out.v = v, out;
  out.binding = {a, r.account_id, phone.phone};
  out.quota_account = policy.bind_quota_counts == quota_subject::target_account ? r.account_id : f.caller.account_id;
  return out;
}

// --- Action 2 ---------------------------------------------------------------

// Steps 2-6 of BindSecureMobilePhone; the code binding is action 1's.
constexpr prepared_request prepare(const bind_secure_mobile_phone_request& r, const facts& f,
                                   const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = action::bind_secure_mobile_phone;
  prepared_request out;
  out.v = detail::passed(a);
  if (r.verification_code.empty()) return out.v = detail::missing(a, parameter::verification_code), out;
  if (r.secure_mobile_phone.empty()) return out.v = detail::missing(a, parameter::secure_mobile_phone), out;
  if (r.account_id.empty()) return out.v = detail::missing(a, parameter::account_id), out;
  // The code's own syntax is not a step-3 error: a malformed code is a failed
  // check that uses an attempt (RULES.md §5), judged at step 8.
  const auto phone = detail::check_phone(a, parameter::secure_mobile_phone, r.secure_mobile_phone,
                                         phone_format::dashed, policy.sites);
  if (!phone.v.ok() && phone.v.step == check_step::syntax) return out.v = phone.v, out;
  if (const auto c = check_account_id(r.account_id); !c) return out.v = detail::bad_param(a, parameter::account_id, c), out;
  if (!phone.v.ok()) return out.v = phone.v, out;
  if (f.caller.kind != caller_kind::management_ram_identity)
    return out.v = detail::make_verdict(a, errc::caller_identity_error, check_step::identity,
                                        verdict_reason::caller_not_management_identity),
           out;
  if (const verdict v = detail::directory_state(a, f.account); !v.ok()) return out.v = v, out;
  if (!f.account.exists || f.account.kind != account_kind::resource_account ||
      f.account.status != account_status::active)
    return out.v = detail::state_error(a, errc::account_type_mismatch, f.account.exists
                                                                           ? verdict_reason::account_type_mismatch
                                                                           : verdict_reason::account_not_found),
           out;
  if (f.account.secure_phone_bound)
    return out.v = detail::state_error(a, errc::account_secure_mobile_already_exists,
                                       verdict_reason::secure_phone_already_bound),
           out;
  if (!f.account.enterprise_name_set)
    return out.v = detail::state_error(a, errc::invalid_enterprise_name, verdict_reason::enterprise_name_missing), out;
  if (!f.account.real_name_verified)
    return out.v = detail::state_error(a, errc::enterprise_real_name_verification_error,
                                       verdict_reason::real_name_not_verified),
           out;
  out.binding = {action::send_verification_code_for_bind_secure_mobile_phone, r.account_id, phone.phone};
  out.submitted_code = r.verification_code;
  out.needs_code = true;
  return out;
}

// --- Action 3 ---------------------------------------------------------------

// Steps 2-6 of SendVerificationCodeForEnableRD: the caller's own account; an
// empty SecureMobilePhone means the phone bound to it (action 3's documentation).
constexpr prepared_request prepare(const send_verification_code_for_enable_rd_request& r, const facts& f,
                                   const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = action::send_verification_code_for_enable_rd;
  prepared_request out;
  out.v = detail::passed(a);
  const std::string_view text = r.secure_mobile_phone.empty() ? f.account.secure_phone : r.secure_mobile_phone;
  if (text.empty())
    return out.v = detail::make_verdict(a, errc::missing_parameter, check_step::presence,
                                        verdict_reason::no_phone_bound, parameter::secure_mobile_phone),
           out;
  // The caller's account keys the challenge and the quota (RULES.md §9).
  if (f.caller.account_id.empty()) return out.v = detail::missing_caller_account(a), out;
  const auto phone = detail::check_phone(a, parameter::secure_mobile_phone, text, phone_format::dashed,
                                         policy.sites);
  if (!phone.v.ok()) return out.v = phone.v, out;
  if (const verdict v = detail::directory_state(a, f.account); !v.ok()) return out.v = v, out;
  out.binding = {a, f.caller.account_id, phone.phone};
  out.quota_account = f.caller.account_id;
  return out;
}

// --- Action 4 ---------------------------------------------------------------

// Steps 2-6 of GetMigrationVerifyCode (flow control, step 1, is in send()).
constexpr prepared_request prepare(const get_migration_verify_code_request& r, const facts& f,
                                   const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = action::get_migration_verify_code;
  prepared_request out;
  out.v = detail::passed(a);
  // The calling user keys step 1, so it is checked before everything (RULES.md §9, check_flow_subject).
  if (f.caller.account_id.empty()) return out.v = detail::missing_caller_account(a), out;
  if (r.cust_space_id.empty()) return out.v = detail::missing(a, parameter::cust_space_id), out;
  if (r.phone_number.empty()) return out.v = detail::missing(a, parameter::phone_number), out;
  if (r.locale.empty()) return out.v = detail::missing(a, parameter::locale), out;
  if (r.method.empty()) return out.v = detail::missing(a, parameter::method), out;
  if (const auto c = check_cust_space_id(r.cust_space_id); !c)
    return out.v = detail::bad_param(a, parameter::cust_space_id, c), out;
  const auto phone = detail::check_phone(a, parameter::phone_number, r.phone_number, phone_format::compact,
                                         policy.sites);
  if (!phone.v.ok() && phone.v.step == check_step::syntax) return out.v = phone.v, out;
  if (const auto c = check_locale(r.locale); !c) return out.v = detail::bad_param(a, parameter::locale, c), out;
  if (const auto m = parse_method(r.method); !m) return out.v = detail::bad_param(a, parameter::method, m.check), out;
  if (!phone.v.ok()) return out.v = phone.v, out;
  // 5. identity and permission, in RULES.md §7's order
  if (const verdict v = detail::cams_identity(a, f); !v.ok()) return out.v = v, out;
  out.binding = {a, r.cust_space_id, phone.phone};
  return out;
}

// --- Action 5 ---------------------------------------------------------------

// Steps 2-6 of SendPhoneVerificationForMessageContact. The code binding's
// account is the contact (each contact verifies on its own) [L]; the daily
// quota counts the sending account by default (RULES.md §4).
constexpr prepared_request prepare(const send_phone_verification_for_message_contact_request& r, const facts& f,
                                   const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = action::send_phone_verification_for_message_contact;
  prepared_request out;
  out.v = detail::passed(a);
  if (r.contact_id.empty()) return out.v = detail::missing(a, parameter::contact_id, errc::missing_parameter_contact_id), out;
  if (r.phone_number.empty())
    return out.v = detail::missing(a, parameter::phone_number, errc::missing_parameter_phone_number), out;
  // The sending account keys the daily quota by default (RULES.md §9).
  if (policy.message_contact_quota_counts == quota_subject::sending_account && f.caller.account_id.empty())
    return out.v = detail::missing_caller_account(a), out;
  if (const auto c = check_contact_id(r.contact_id); !c)
    return out.v = detail::bad_param(a, parameter::contact_id, c, errc::invalid_parameter_contact_id), out;
  const auto phone = detail::check_phone(a, parameter::phone_number, r.phone_number, phone_format::dashed,
                                         policy.sites);
  if (!phone.v.ok()) return out.v = phone.v, out;
  if (!f.contact.exists)
    return out.v = detail::state_error(a, errc::entity_not_exists_contact, verdict_reason::contact_not_found,
                                       parameter::contact_id),
           out;
  // The phone must be the one given to AddMessageContact (action 5's documentation): compared
  // as numbers (the same text is the same number without a second parse).
  if (f.contact.phone != r.phone_number && !detail::same_dashed_number(f.contact.phone, phone.phone))
    return out.v = detail::state_error(a, errc::invalid_parameter_phone_number,
                                       verdict_reason::contact_phone_mismatch, parameter::phone_number),
           out;
  if (!f.contact.verification_pending)
    return out.v = detail::state_error(a, errc::entity_not_exists_contact_verification,
                                       verdict_reason::no_pending_verification),
           out;
  out.binding = {a, r.contact_id, phone.phone};
  out.quota_account =
      policy.message_contact_quota_counts == quota_subject::sending_account ? f.caller.account_id : r.contact_id;
  return out;
}

// --- EnableResourceDirectory --------------------------------------------------

// Steps 2-6 of EnableResourceDirectory (appendix A). With CurrentAccount no
// code is involved; with NewManagementAccount the code is action 3's, bound
// to the caller's account and the management account's phone.
constexpr prepared_request prepare(const enable_resource_directory_request& r, const facts& f,
                                   const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = action::enable_resource_directory;
  prepared_request out;
  out.v = detail::passed(a);
  if (r.enable_mode.empty()) return out.v = detail::missing(a, parameter::enable_mode), out;
  const auto mode = parse_enable_mode(r.enable_mode);
  const bool new_account = mode.ok() && mode.value == enable_mode::new_management_account;
  std::string_view phone_text;
  if (new_account) {
    if (r.ma_name.empty()) return out.v = detail::missing(a, parameter::ma_name), out;
    phone_text = r.ma_secure_mobile_phone.empty() ? f.account.secure_phone : r.ma_secure_mobile_phone;
    if (phone_text.empty())
      return out.v = detail::make_verdict(a, errc::missing_secure_mobile_phone, check_step::presence,
                                          verdict_reason::no_phone_bound, parameter::ma_secure_mobile_phone),
             out;
    if (r.verification_code.empty())
      return out.v = detail::missing(a, parameter::verification_code, errc::missing_security_info), out;
    // The caller's account keys action 3's challenge this code is checked against (RULES.md §9).
    if (f.caller.account_id.empty()) return out.v = detail::missing_caller_account(a), out;
  }
  if (!mode) return out.v = detail::bad_param(a, parameter::enable_mode, mode.check), out;
  detail::phone_check phone{detail::passed(a), detail::no_phone()};
  if (new_account) {
    if (const auto c = check_ma_name(r.ma_name); !c)
      return out.v = detail::bad_param(a, parameter::ma_name, c, errc::invalid_parameter_management_account_name),
             out;
    phone = detail::check_phone(a, parameter::ma_secure_mobile_phone, phone_text, phone_format::dashed,
                                policy.sites);
    if (!phone.v.ok()) return out.v = phone.v, out;
  }
  if (const verdict v = detail::directory_state(a, f.account); !v.ok()) return out.v = v, out;
  if (new_account && f.management_account_name_used)
    return out.v = detail::state_error(a, errc::invalid_parameter_management_account_name_already_used,
                                       verdict_reason::management_account_name_used, parameter::ma_name),
           out;
  if (!f.account.enterprise_name_set)
    return out.v = detail::state_error(a, errc::invalid_enterprise_name, verdict_reason::enterprise_name_missing), out;
  if (!f.account.real_name_verified)
    return out.v = detail::state_error(a, errc::enterprise_real_name_verification_error,
                                       verdict_reason::real_name_not_verified),
           out;
  if (new_account) {
    out.binding = {action::send_verification_code_for_enable_rd, f.caller.account_id, phone.phone};
    out.submitted_code = r.verification_code;
    out.needs_code = true;
  }
  return out;
}

// --- ChatappMigrationVerified -------------------------------------------------

// Steps 2-6 of ChatappMigrationVerified (appendix A); the code is action 4's.
constexpr prepared_request prepare(const chatapp_migration_verified_request& r, const facts& f,
                                   const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = action::chatapp_migration_verified;
  prepared_request out;
  out.v = detail::passed(a);
  // The calling user keys step 1, so it is checked before everything (RULES.md §9, check_flow_subject).
  if (f.caller.account_id.empty()) return out.v = detail::missing_caller_account(a), out;
  if (r.cust_space_id.empty()) return out.v = detail::missing(a, parameter::cust_space_id), out;
  if (r.phone_number.empty()) return out.v = detail::missing(a, parameter::phone_number), out;
  if (r.verify_code.empty()) return out.v = detail::missing(a, parameter::verify_code), out;
  if (const auto c = check_cust_space_id(r.cust_space_id); !c)
    return out.v = detail::bad_param(a, parameter::cust_space_id, c), out;
  const auto phone = detail::check_phone(a, parameter::phone_number, r.phone_number, phone_format::compact,
                                         policy.sites);
  if (!phone.v.ok()) return out.v = phone.v, out;
  if (const verdict v = detail::cams_identity(a, f); !v.ok()) return out.v = v, out;
  out.binding = {action::get_migration_verify_code, r.cust_space_id, phone.phone};
  out.submitted_code = r.verify_code;
  out.needs_code = true;
  return out;
}

// The pure check of a request (RULES.md §7 steps 2-6): presence, syntax, site,
// identity and state. No state is read or changed; flow control, quotas and
// the code are the stateful steps of send() and verify().
template <class Request>
constexpr verdict check(const Request& request, const facts& f, const action_policy& policy = default_action_policy) noexcept
  requires requires { prepare(request, f, policy); }
{
  return prepare(request, f, policy).v;
}

// ---------------------------------------------------------------------------
// The stateful steps: 1 (flow control), 7 (resend interval, lock, per-phone
// windows, daily quota) and 8 (the code).

// Whether action `a` is metered by the per-user request rate (step 1): the CAMS
// actions, 10 requests per second per user (action 4's documentation, appendix A).
constexpr bool uses_flow_control(action a) noexcept {
  return a == action::get_migration_verify_code || a == action::chatapp_migration_verified;
}

// The calling user of a CAMS action must be named before step 1 meters it
// (RULES.md §9): an ok verdict for the actions without flow control or when
// facts.caller.account_id is given, otherwise detail::missing_caller_account's
// (Ram.PermissionDeny, reason missing_fact). send() and verify() call it before
// admit_request; a service that keys rate_state itself calls it first too.
constexpr verdict check_flow_subject(action a, const facts& f) noexcept {
  if (uses_flow_control(a) && f.caller.account_id.empty()) return detail::missing_caller_account(a);
  return detail::passed(a);
}

// Whether a send of action `a` is charged to an account's daily quota (RULES.md §4:
// actions 1, 3 and 5; CAMS is metered per user and per phone instead).
constexpr bool uses_daily_quota(action a) noexcept {
  return a == action::send_verification_code_for_bind_secure_mobile_phone ||
         a == action::send_verification_code_for_enable_rd ||
         a == action::send_phone_verification_for_message_contact;
}

// Step 1 for action `a`: every request counts, valid or not (RULES.md §7).
// An ok verdict for the actions without flow control.
constexpr verdict admit_request(const action_policy& policy, action a, rate_state& flow, timestamp now) noexcept {
  if (!uses_flow_control(a)) return detail::passed(a);
  const decision d = admit(policy.cams_rate, flow, now);
  if (d.allowed) return detail::passed(a);
  verdict v = detail::make_verdict(a, errc::system_limit_control, check_step::flow_control,
                                   verdict_reason::flow_control);
  v.retry_at = d.retry_at;
  return v;
}

// The state a send reads and changes, each kept by the caller under its own key:
//   account_quota: the daily usage of prepared_request::quota_account (actions 1, 3, 5);
//   phone_windows: the per-phone windows of the phone, e.g. keyed by format_phone(phone, e164);
//   code: the challenge of the binding, keyed by (sending action, binding account);
//   flow: the request rate of the calling user (action 4; see admit_request).
// A pointer the action needs must not be null (a precondition).
struct send_state {
  daily_usage* account_quota = nullptr;
  per_phone_state* phone_windows = nullptr;
  challenge* code = nullptr;
  rate_state* flow = nullptr;
};

// The answer to a send: the verdict and, when it is ok, the code to deliver
// and its expiry (the engine hands it to the caller; it is never logged).
struct send_outcome {
  verdict v;
  issued_code code{};
};

namespace detail {

constexpr verdict limit_denial(action a, verdict_reason reason, timestamp retry_at, std::uint8_t which = 0) noexcept {
  verdict v = make_verdict(a, issue_limit_error(a), check_step::quota, reason, parameter::none, which);
  v.retry_at = retry_at;
  return v;
}

}  // namespace detail

// Steps 7 and the issue of a send whose steps 2-6 passed (`prepared.v.ok()`):
// the resend interval and the lock (code.hpp), the per-phone windows and, for
// actions 1, 3 and 5, the daily quota (quota.hpp), all or nothing: a denied
// send changes no state (RULES.md §4). The denial is the action's limit error
// (SendValidateCodeExceedsLimitForAccount, or System.LimitControl for CAMS,
// RULES.md §5) with retry_at the earliest instant every limit admits again.
template <detail::uniform_random_bit_generator G>
constexpr send_outcome finish_send(const action_policy& policy, const secret_key& key, const prepared_request& prepared,
                                   const send_state& state, timestamp now, G& rng) noexcept {
  const action a = prepared.v.act;
  if (!prepared.v.ok()) return {prepared.v};
  if (const errc e = validate(policy.code); e != errc::ok)
    return {detail::make_verdict(a, e, check_step::quota, verdict_reason::invalid_policy)};
  PHONEVERIFY_ASSERT(state.code != nullptr && state.phone_windows != nullptr, "send: code and phone_windows state");
  PHONEVERIFY_ASSERT(!uses_daily_quota(a) || state.account_quota != nullptr, "send: account_quota state");

  // Everything is tried on copies and written back only when all admit.
  challenge code_state = *state.code;
  const result<issued_code> issued = issue_code(policy.code, key, prepared.binding, code_state, now, rng);
  per_phone_state windows = *state.phone_windows;
  daily_usage usage = state.account_quota != nullptr ? *state.account_quota : daily_usage{};
  const joint_decision limits = uses_daily_quota(a)
                                    ? admit_all(now, meter(policy.per_phone, windows), meter(policy.daily, usage))
                                    : admit_all(now, meter(policy.per_phone, windows));
  if (!issued && issued.error() != detail::issue_limit_error(a))  // an all-zero key or a broken generator
    return {detail::make_verdict(a, issued.error(), check_step::quota, verdict_reason::invalid_policy)};
  if (!issued || !limits.result.allowed) {
    timestamp retry = issued ? now : next_issue_at(policy.code, *state.code);
    if (!limits.result.allowed && limits.result.retry_at > retry) retry = limits.result.retry_at;
    if (!issued) {
      const bool locked = detail::is_locked(policy.code, *state.code, now);
      return {detail::limit_denial(a, locked ? verdict_reason::binding_locked : verdict_reason::resend_too_soon, retry)};
    }
    // denied_by: 0 = the per-phone windows, 1 = the daily quota.
    return {detail::limit_denial(a,
                                 limits.denied_by == 0 ? verdict_reason::phone_window_exceeded
                                                       : verdict_reason::daily_quota_exceeded,
                                 retry)};
  }
  *state.code = code_state;
  *state.phone_windows = windows;
  if (state.account_quota != nullptr && uses_daily_quota(a)) *state.account_quota = usage;
  send_outcome out{prepared.v, *issued};
  out.v.retry_at = now;
  return out;
}

// Step 8 of a consumer whose steps 2-6 passed: the code, checked against the
// binding's challenge (code.hpp). A failed check uses an attempt as RULES.md §5
// says and answers Invalid.VerificationCode, the precise check_status in
// `detail`. EnableResourceDirectory with CurrentAccount has no code: ok.
constexpr verdict finish_verify(const action_policy& policy, const secret_key& key, const prepared_request& prepared,
                                challenge& code_state, timestamp now) noexcept {
  const action a = prepared.v.act;
  if (!prepared.v.ok() || !prepared.needs_code) return prepared.v;
  if (const errc e = validate(policy.code); e != errc::ok)
    return detail::make_verdict(a, e, check_step::code, verdict_reason::invalid_policy);
  const check_status status = check_code(policy.code, key, prepared.binding, code_state, prepared.submitted_code, now);
  if (status == check_status::ok) return prepared.v;
  const parameter p = a == action::chatapp_migration_verified ? parameter::verify_code : parameter::verification_code;
  return detail::make_verdict(a, to_errc(status), check_step::code, verdict_reason::code_rejected, p,
                              static_cast<std::uint8_t>(status));
}

// Whether `Request` is the request of one of the five sending actions.
template <class Request>
inline constexpr bool is_send_request =
    std::is_same_v<Request, send_verification_code_for_bind_secure_mobile_phone_request> ||
    std::is_same_v<Request, send_verification_code_for_enable_rd_request> ||
    std::is_same_v<Request, get_migration_verify_code_request> ||
    std::is_same_v<Request, send_phone_verification_for_message_contact_request>;

// Whether `Request` is the request of one of the three consumer actions.
template <class Request>
inline constexpr bool is_verify_request = std::is_same_v<Request, bind_secure_mobile_phone_request> ||
                                          std::is_same_v<Request, enable_resource_directory_request> ||
                                          std::is_same_v<Request, chatapp_migration_verified_request>;

// The action a request type belongs to.
template <class Request>
constexpr action action_of() noexcept {
  if constexpr (std::is_same_v<Request, send_verification_code_for_bind_secure_mobile_phone_request>)
    return action::send_verification_code_for_bind_secure_mobile_phone;
  else if constexpr (std::is_same_v<Request, bind_secure_mobile_phone_request>)
    return action::bind_secure_mobile_phone;
  else if constexpr (std::is_same_v<Request, send_verification_code_for_enable_rd_request>)
    return action::send_verification_code_for_enable_rd;
  else if constexpr (std::is_same_v<Request, get_migration_verify_code_request>)
    return action::get_migration_verify_code;
  else if constexpr (std::is_same_v<Request, send_phone_verification_for_message_contact_request>)
    return action::send_phone_verification_for_message_contact;
  else if constexpr (std::is_same_v<Request, enable_resource_directory_request>)
    return action::enable_resource_directory;
  else
    return action::chatapp_migration_verified;
}

// A whole send, steps 1-7 and the issue, on state the caller already holds
// (RULES.md §7). States change only as each step allows: flow control counts
// every request; the limits and the challenge change only for a request
// that passed every earlier step.
template <class Request, detail::uniform_random_bit_generator G>
  requires is_send_request<Request>
constexpr send_outcome send(const action_policy& policy, const secret_key& key, const Request& request,
                            const facts& f, const send_state& state, timestamp now, G& rng) noexcept {
  constexpr action a = action_of<Request>();
  if constexpr (uses_flow_control(a)) {
    PHONEVERIFY_ASSERT(state.flow != nullptr, "send: flow state for a CAMS action");
    if (const verdict v = check_flow_subject(a, f); !v.ok()) return {v};  // before the rate is keyed (RULES.md §9)
    if (const verdict v = admit_request(policy, a, *state.flow, now); !v.ok()) return {v};
  }
  return finish_send(policy, key, prepare(request, f, policy), state, now, rng);
}

// The state a consumer reads and changes: the challenge of the binding the
// request names (prepared_request::binding), and for CAMS the user's rate.
struct verify_state {
  challenge* code = nullptr;
  rate_state* flow = nullptr;
};

// A whole consumer request, steps 1-8 (RULES.md §7).
template <class Request>
  requires is_verify_request<Request>
constexpr verdict verify(const action_policy& policy, const secret_key& key, const Request& request, const facts& f,
                         const verify_state& state, timestamp now) noexcept {
  constexpr action a = action_of<Request>();
  if constexpr (uses_flow_control(a)) {
    PHONEVERIFY_ASSERT(state.flow != nullptr, "verify: flow state for a CAMS action");
    if (const verdict v = check_flow_subject(a, f); !v.ok()) return v;  // before the rate is keyed (RULES.md §9)
    if (const verdict v = admit_request(policy, a, *state.flow, now); !v.ok()) return v;
  }
  const prepared_request prepared = prepare(request, f, policy);
  if (!prepared.v.ok() || !prepared.needs_code) return prepared.v;
  PHONEVERIFY_ASSERT(state.code != nullptr, "verify: code state");
  return finish_verify(policy, key, prepared, *state.code, now);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_ACTIONS_HPP
