// SPDX-License-Identifier: MIT
// phoneverify: the seven actions. One request type per action, naming its
// action (`Request::id`); one `prepare` per request applying RULES.md §7's
// order and answering with the error that action documents (RULES.md §1, §3,
// §6, §7, appendix A); every per-action fact is read from the action's row
// (action.hpp).
//
// Two levels:
//   - `prepare(request, facts, policy)`: the pure steps 2-6 of RULES.md §7
//     (presence, syntax, site and country code, caller identity and
//     permission, state of the entities): the prepared_request the stateful
//     steps need, or the verdict that refused it. `check` is its verdict.
//   - `send(...)` for the four sending actions and `verify(...)` for the three
//     consumers: every step, 1-8, on the caller's state structs (quota.hpp,
//     code.hpp). A state changes only when the request passed every step
//     before the one that owns it; flow control (step 1) counts every
//     request, valid or not.
// Everything is constexpr, noexcept and heap-free; the state lives wherever
// the caller keeps it (engine.hpp keeps it in memory).
#ifndef PHONEVERIFY_ACTIONS_HPP
#define PHONEVERIFY_ACTIONS_HPP

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "action.hpp"
#include "code.hpp"
#include "detail/config.hpp"
#include "errc.hpp"
#include "inline_string.hpp"
#include "params.hpp"
#include "phone.hpp"
#include "quota.hpp"
#include "result.hpp"
#include "site.hpp"
#include "time.hpp"

namespace phoneverify {

// ---------------------------------------------------------------------------
// Requests: the parameters exactly as received (an empty view is a parameter
// that was not supplied), in the order of the action's row. Views: keep the
// texts alive while the request is used.

// SendVerificationCodeForBindSecureMobilePhone (RULES.md §1.1, action 1).
struct send_verification_code_for_bind_secure_mobile_phone_request {
  static constexpr action id = action::send_verification_code_for_bind_secure_mobile_phone;
  std::string_view secure_mobile_phone{};  // SecureMobilePhone, required, dashed ("44-7911123456")
  std::string_view account_id{};           // AccountId, required: the member account
};

// BindSecureMobilePhone (action 2).
struct bind_secure_mobile_phone_request {
  static constexpr action id = action::bind_secure_mobile_phone;
  std::string_view verification_code{};    // VerificationCode, required: the code action 1 sent
  std::string_view secure_mobile_phone{};  // SecureMobilePhone, required: the phone action 1 sent it to
  std::string_view account_id{};           // AccountId, required: the member account
};

// SendVerificationCodeForEnableRD (action 3).
struct send_verification_code_for_enable_rd_request {
  static constexpr action id = action::send_verification_code_for_enable_rd;
  std::string_view secure_mobile_phone{};  // SecureMobilePhone, optional: empty = the caller's bound phone
};

// GetMigrationVerifyCode (action 4, CAMS).
struct get_migration_verify_code_request {
  static constexpr action id = action::get_migration_verify_code;
  std::string_view cust_space_id{};  // CustSpaceId, required: the ISV sub-customer's space (digits)
  std::string_view phone_number{};   // PhoneNumber, required, compact ("8613800001234")
  std::string_view locale{};         // Locale, required ("zh_CN", "en_US", "en")
  std::string_view method{};         // Method, required: "sms" or "voice", any case
};

// SendPhoneVerificationForMessageContact (action 5).
struct send_phone_verification_for_message_contact_request {
  static constexpr action id = action::send_phone_verification_for_message_contact;
  std::string_view contact_id{};    // ContactId, required in effect (MissingParameter.ContactId exists)
  std::string_view phone_number{};  // PhoneNumber, required in effect, dashed, the AddMessageContact phone
};

// EnableResourceDirectory (appendix A): consumes action 3's code.
struct enable_resource_directory_request {
  static constexpr action id = action::enable_resource_directory;
  std::string_view enable_mode{};             // EnableMode, required: CurrentAccount | NewManagementAccount
  std::string_view ma_name{};                 // MAName, with NewManagementAccount
  std::string_view ma_secure_mobile_phone{};  // MASecureMobilePhone, with NewManagementAccount; empty = caller's
  std::string_view verification_code{};       // VerificationCode, with NewManagementAccount
};

// ChatappMigrationVerified (appendix A): consumes action 4's code.
struct chatapp_migration_verified_request {
  static constexpr action id = action::chatapp_migration_verified;
  std::string_view cust_space_id{};  // CustSpaceId, required
  std::string_view phone_number{};   // PhoneNumber, required, compact
  std::string_view verify_code{};    // VerifyCode, required
};

// A request type of one of the seven actions.
template <class Request>
concept action_request = requires {
  { Request::id } -> std::convertible_to<action>;
};

namespace detail {
template <class Request>
constexpr bool sends_of() noexcept {
  if constexpr (action_request<Request>) {
    return info(Request::id).sends;
  } else {
    return false;
  }
}
}  // namespace detail

// Whether `Request` is the request of a sending action / of a consumer (its row's `sends`).
template <class Request>
inline constexpr bool is_send_request = action_request<Request> && detail::sends_of<Request>();
template <class Request>
inline constexpr bool is_verify_request = action_request<Request> && !detail::sends_of<Request>();

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
  std::string_view account_id{};
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
  std::string_view secure_phone{};      // the bound phone, dashed: used by 3 and EnableRD when the request gives none
  bool enterprise_name_set = false;   // Invalid.EnterpriseName when false (the default, RULES.md §9)
  bool real_name_verified = false;    // EnterpriseRealNameVerificationError when false (the default)
};

// The message contact of action 5 (created by AddMessageContact).
struct contact_facts {
  bool exists = true;                // EntityNotExists.Contact when false
  std::string_view phone{};            // the phone given to AddMessageContact, dashed
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
  state_damaged,                    // the shared store holds a value that is no state of the expected layout: fail closed, left as it is
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
    case verdict_reason::state_unavailable:
      return "the state store could not give this key's state (full of live state, or failed): refused, nothing "
             "forgotten or admitted";
    case verdict_reason::missing_fact:
      return "facts.caller.account_id is empty but keys this action's state: the service must name the caller";
    case verdict_reason::randomness_unavailable:
      return "the random source failed: no code was drawn and nothing was charged";
    case verdict_reason::state_damaged:
      return "the state store holds a value of another layout, version or type under this key: refused, left as it is";
    case verdict_reason::invalid_fact:
      return "facts.caller.account_id keys this action's state but is not an AccountId (1-20 digits, no leading zero)";
  }
  return "";
}

// How many enumerators verdict_reason has (counters index by it, metrics.hpp).
// A reason added after the last one is described, so the static_assert below
// fails until this count names it.
inline constexpr std::size_t verdict_reason_count = static_cast<std::size_t>(verdict_reason::state_damaged) + 1;
static_assert(describe(static_cast<verdict_reason>(verdict_reason_count)).empty() &&
                  !describe(static_cast<verdict_reason>(verdict_reason_count - 1)).empty(),
              "verdict_reason_count must name the last verdict_reason");

// The answer to one request. Every field means one thing; what follows from
// them is computed: the status and the message are the ones this action
// documents for the error (RULES.md §6).
class verdict {
 public:
  // The ok verdict of action send_verification_code_for_bind_secure_mobile_phone (the first).
  constexpr verdict() noexcept = default;
  // The ok verdict of action `a`.
  constexpr explicit verdict(phoneverify::action a) noexcept : action_(a) {}
  // A verdict of action `a`: the wire error, the step of RULES.md §7 that
  // decided it, the precise reason, the parameter at fault, the reason's
  // detail (a phone_error, param_reason or check_status, as the accessors
  // below read it), the byte of a syntax error, and the retry time of a limit.
  constexpr verdict(phoneverify::action a, errc error, check_step step, verdict_reason reason,
                    parameter at_fault = parameter::none, std::uint8_t detail = 0, std::uint16_t position = 0,
                    timestamp retry_at = {}) noexcept
      : action_(a), error_(error), step_(step), reason_(reason), at_fault_(at_fault), detail_(detail),
        position_(position), retry_at_(retry_at) {}

  constexpr phoneverify::action action() const noexcept { return action_; }
  constexpr errc error() const noexcept { return error_; }
  constexpr bool ok() const noexcept { return error_ == errc::ok; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  // The wire code ("Invalid.VerificationCode"), "" for ok.
  constexpr std::string_view code_string() const noexcept { return phoneverify::code_string(error_); }
  // The status and the message the action documents for the error (200 and "" for ok).
  constexpr int http_status() const noexcept { return phoneverify::http_status(error_, action_); }
  constexpr std::string_view message() const noexcept { return ok() ? std::string_view{} : phoneverify::message(error_, action_); }
  constexpr check_step step() const noexcept { return step_; }
  constexpr verdict_reason reason() const noexcept { return reason_; }
  constexpr parameter at_fault() const noexcept { return at_fault_; }
  // The byte offset of a syntax error in the parameter at fault (0 otherwise).
  constexpr std::uint16_t position() const noexcept { return position_; }
  // Limits: the earliest time the same request can succeed (timestamp::max():
  // never); the epoch for every other verdict.
  constexpr timestamp retry_at() const noexcept { return retry_at_; }

  // Why the phone was refused by the parser (bad syntax of the action's phone,
  // or a country code that is not assigned); phone_error::none otherwise.
  constexpr phone_error phone_failure() const noexcept {
    const bool phone_parse = reason_ == verdict_reason::unassigned_country_code ||
                             (reason_ == verdict_reason::bad_syntax && is_action(action_) &&
                              at_fault_ == info(action_).phone_parameter);
    return phone_parse ? static_cast<phone_error>(detail_) : phone_error::none;
  }
  // Why a parameter other than the phone (or a fact that keys state) broke
  // its syntax rule; param_reason::ok otherwise.
  constexpr param_reason param_failure() const noexcept {
    const bool param = reason_ == verdict_reason::invalid_fact ||
                       (reason_ == verdict_reason::bad_syntax && phone_failure() == phone_error::none);
    return param ? static_cast<param_reason>(detail_) : param_reason::ok;
  }
  // How the code check failed (reason code_rejected); check_status::ok otherwise.
  constexpr check_status code_status() const noexcept {
    return reason_ == verdict_reason::code_rejected ? static_cast<check_status>(detail_) : check_status::ok;
  }

  friend constexpr bool operator==(const verdict&, const verdict&) noexcept = default;

 private:
  phoneverify::action action_{};
  errc error_ = errc::ok;
  check_step step_ = check_step::passed;
  verdict_reason reason_ = verdict_reason::ok;
  parameter at_fault_ = parameter::none;
  std::uint8_t detail_ = 0;
  std::uint16_t position_ = 0;
  timestamp retry_at_{};
};

namespace detail {
// The longest log line describe(verdict) writes.
inline constexpr std::size_t verdict_description_capacity = 320;
template <std::size_t N>
constexpr void append_number(inline_string<N>& out, std::uint64_t n) noexcept {
  char digits[20]{};
  std::size_t count = 0;
  do {
    digits[count++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  while (count > 0) out.push_back(digits[--count]);
}
// Appends `text`, cut to what still fits.
template <std::size_t N>
constexpr void append_cut(inline_string<N>& out, std::string_view text) noexcept {
  out.append(text.substr(0, N - out.size()));
}
}  // namespace detail

// One log line for a verdict: the action, the status and wire code, the
// reason in words and its detail, the parameter at fault and the byte, the
// retry time of a limit, and the request's phone masked (RULES.md §2: logs
// show a number only masked), e.g.
//   "BindSecureMobilePhone 409 Invalid.VerificationCode: the verification code
//    was not accepted (wrong_code); parameter VerificationCode; phone 86-139****1234"
// Never the code or a secret. Usable in constant expressions.
constexpr inline_string<detail::verdict_description_capacity> describe(
    const verdict& v, const std::optional<phone_number>& phone = std::nullopt) noexcept {
  inline_string<detail::verdict_description_capacity> out;
  detail::append_cut(out, action_name(v.action()));
  out.push_back(' ');
  detail::append_number(out, static_cast<std::uint64_t>(v.http_status()));
  detail::append_cut(out, v.ok() ? std::string_view{" ok"} : std::string_view{" "});
  detail::append_cut(out, v.code_string());
  if (!v.ok()) {
    detail::append_cut(out, ": ");
    detail::append_cut(out, describe(v.reason()));
  }
  std::string_view detail_text{};
  if (v.phone_failure() != phone_error::none) detail_text = describe(v.phone_failure());
  if (v.param_failure() != param_reason::ok) detail_text = describe(v.param_failure());
  if (v.code_status() != check_status::ok) detail_text = status_name(v.code_status());
  if (!detail_text.empty()) {
    detail::append_cut(out, " (");
    detail::append_cut(out, detail_text);
    detail::append_cut(out, ")");
  }
  if (v.at_fault() != parameter::none) {
    detail::append_cut(out, "; parameter ");
    detail::append_cut(out, parameter_name(v.at_fault()));
    const verdict_reason r = v.reason();
    if (r == verdict_reason::bad_syntax || r == verdict_reason::unassigned_country_code ||
        r == verdict_reason::invalid_fact) {
      detail::append_cut(out, " at byte ");
      detail::append_number(out, v.position());
    }
  }
  if (v.step() == check_step::quota || v.step() == check_step::flow_control) {
    detail::append_cut(out, "; retry at ");
    detail::append_cut(out, v.retry_at() == timestamp::max() ? std::string_view{"never"}
                                                             : format_iso8601(v.retry_at()).view());
  }
  if (phone) {
    detail::append_cut(out, "; phone ");
    detail::append_cut(out, mask_phone(*phone).view());
  }
  return out;
}

namespace detail {

constexpr verdict make_verdict(action a, errc e, check_step step, verdict_reason reason,
                               parameter at_fault = parameter::none, std::uint8_t detail_value = 0,
                               std::size_t position = 0) noexcept {
  return {a, e, step, reason, at_fault, detail_value,
          static_cast<std::uint16_t>(position > 0xFFFF ? 0xFFFF : position)};
}

constexpr verdict passed(action a) noexcept { return verdict{a}; }

// The wire error action `a` documents for `p` under `family` ("MissingParameter"
// or "InvalidParameter"): `family.Name` where its table lists it (action 5's
// MissingParameter.ContactId), else the common `fallback` (RULES.md §6).
constexpr errc specific_error(action a, std::string_view family, parameter p, errc fallback) noexcept {
  const std::string_view name = parameter_name(p);
  for (const documented_error& row : documented_errors(a)) {
    const std::string_view code = code_string(row.code);
    if (code.size() == family.size() + 1 + name.size() && code.starts_with(family) &&
        code[family.size()] == '.' && code.ends_with(name))
      return row.code;
  }
  return fallback;
}

// Step 2: a required parameter is missing (RULES.md §6: the action's own
// MissingParameter.<Name> where it documents one, else the common code).
constexpr verdict missing(action a, parameter p) noexcept {
  return make_verdict(a, specific_error(a, "MissingParameter", p, errc::missing_parameter), check_step::presence,
                      verdict_reason::missing_parameter, p);
}

// Step 2 over the action's parameters in its row's order: the first of the
// `given` texts that is empty, each blamed on the row's parameter at its place.
constexpr std::optional<verdict> first_missing(action a, std::initializer_list<std::string_view> given) noexcept {
  std::size_t i = 0;
  for (const std::string_view text : given) {
    if (text.empty()) return missing(a, info(a).parameters[i]);
    ++i;
  }
  return std::nullopt;
}

// Step 3: a non-phone parameter breaks its syntax rule (params.hpp):
// InvalidParameter.<Name> where the action documents it, else `fallback`.
constexpr verdict bad_param(action a, parameter p, param_check c, errc fallback = errc::invalid_parameter) noexcept {
  return make_verdict(a, specific_error(a, "InvalidParameter", p, fallback), check_step::syntax,
                      verdict_reason::bad_syntax, p, static_cast<std::uint8_t>(c.reason), c.position);
}

// The verdict of a phone check_phone_for_action refused: step 3 for its
// syntax and the mobile rule, step 4 for its country code and the site.
constexpr verdict refused_phone(action a, const phone_rejection& r) noexcept {
  const parameter p = info(a).phone_parameter;
  switch (r.refusal) {
    case phone_refusal::syntax:
      return make_verdict(a, r.wire_error, check_step::syntax, verdict_reason::bad_syntax, p,
                          static_cast<std::uint8_t>(r.parse_error), r.position);
    case phone_refusal::not_a_mobile_number:
      return make_verdict(a, r.wire_error, check_step::syntax, verdict_reason::not_a_mobile_number, p);
    case phone_refusal::unassigned_country_code:
      return make_verdict(a, r.wire_error, check_step::site, verdict_reason::unassigned_country_code, p,
                          static_cast<std::uint8_t>(r.parse_error), r.position);
    case phone_refusal::site: break;
  }
  return make_verdict(a, r.wire_error, check_step::site, verdict_reason::site_rejects_country_code, p);
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
// wire error is the row's unnamed_caller_error: the action's own identity
// error where it documents one, otherwise the common MissingParameter naming
// AccessKeyId [L]. The reason is missing_fact for logs.
constexpr verdict missing_caller_account(action a) noexcept {
  const errc e = info(a).unnamed_caller_error;
  if (e == errc::missing_parameter)
    return make_verdict(a, e, check_step::presence, verdict_reason::missing_fact, parameter::access_key_id);
  return make_verdict(a, e, check_step::identity, verdict_reason::missing_fact);
}

// Step 5 of actions 1 and 2: a RAM user or role of the management account
// (the usage notes of their documentation).
constexpr verdict management_identity(action a, const facts& f) noexcept {
  if (f.caller.kind == caller_kind::management_ram_identity) return passed(a);
  return make_verdict(a, errc::caller_identity_error, check_step::identity,
                      verdict_reason::caller_not_management_identity);
}

// Step 6 of BindSecureMobilePhone and EnableResourceDirectory: the account's
// enterprise name, then its real-name verification.
constexpr verdict enterprise_state(action a, const account_facts& account) noexcept {
  if (!account.enterprise_name_set)
    return state_error(a, errc::invalid_enterprise_name, verdict_reason::enterprise_name_missing);
  if (!account.real_name_verified)
    return state_error(a, errc::enterprise_real_name_verification_error, verdict_reason::real_name_not_verified);
  return passed(a);
}

}  // namespace detail

// What the pure steps 2-6 found and the stateful steps need: the action; the
// code binding (the sending action whose code is issued or checked, the
// binding account, the request's phone, parsed), none for a request that
// involves no code (EnableResourceDirectory with CurrentAccount); the
// account whose daily quota counts (sends that charge one); the code
// submitted (consumers). It exists only for a request that passed.
struct prepared_request {
  phoneverify::action action;
  std::optional<code_binding> binding;
  std::string_view quota_account{};
  std::string_view submitted_code{};

  // Whether step 8 checks a code (a consumer whose request carries one).
  constexpr bool needs_code() const noexcept { return binding.has_value() && !info(action).sends; }
};

// What prepare answers: the prepared request, or the verdict that refused it.
using preparation = result<prepared_request, verdict>;

// --- Action 1 ---------------------------------------------------------------

// Steps 2-6 of SendVerificationCodeForBindSecureMobilePhone.
constexpr preparation prepare(const send_verification_code_for_bind_secure_mobile_phone_request& r, const facts& f,
                              const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = send_verification_code_for_bind_secure_mobile_phone_request::id;
  if (const auto v = detail::first_missing(a, {r.secure_mobile_phone, r.account_id})) return *v;
  // 3-4: the phone's syntax, the account ID's, then the phone's country code and site.
  const auto phone = check_phone_for_action(policy.sites, a, r.secure_mobile_phone);
  if (!phone && phone.error().at_syntax_step()) return detail::refused_phone(a, phone.error());
  if (const auto c = check_account_id(r.account_id); !c) return detail::bad_param(a, parameter::account_id, c);
  if (!phone) return detail::refused_phone(a, phone.error());
  if (const verdict v = detail::management_identity(a, f); !v) return v;
  // ... and named, when its account is the quota key (RULES.md §9)
  const bool sender_pays = policy.bind_quota_counts == quota_subject::sending_account;
  if (sender_pays && f.caller.account_id.empty()) return detail::missing_caller_account(a);
  if (!f.account.exists)
    return detail::state_error(a, errc::invalid_parameter, verdict_reason::account_not_found, parameter::account_id);
  if (const verdict v = detail::directory_state(a, f.account); !v) return v;
  return prepared_request{a, code_binding{a, r.account_id, *phone}, sender_pays ? f.caller.account_id : r.account_id, {}};
}

// --- Action 2 ---------------------------------------------------------------

// Steps 2-6 of BindSecureMobilePhone; the code binding is action 1's. The
// code's own syntax is not a step-3 error: a malformed code is a failed check
// that uses an attempt (RULES.md §5), judged at step 8.
constexpr preparation prepare(const bind_secure_mobile_phone_request& r, const facts& f,
                              const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = bind_secure_mobile_phone_request::id;
  if (const auto v = detail::first_missing(a, {r.verification_code, r.secure_mobile_phone, r.account_id})) return *v;
  const auto phone = check_phone_for_action(policy.sites, a, r.secure_mobile_phone);
  if (!phone && phone.error().at_syntax_step()) return detail::refused_phone(a, phone.error());
  if (const auto c = check_account_id(r.account_id); !c) return detail::bad_param(a, parameter::account_id, c);
  if (!phone) return detail::refused_phone(a, phone.error());
  if (const verdict v = detail::management_identity(a, f); !v) return v;
  if (const verdict v = detail::directory_state(a, f.account); !v) return v;
  if (!f.account.exists || f.account.kind != account_kind::resource_account ||
      f.account.status != account_status::active)
    return detail::state_error(a, errc::account_type_mismatch,
                               f.account.exists ? verdict_reason::account_type_mismatch
                                                : verdict_reason::account_not_found);
  if (f.account.secure_phone_bound)
    return detail::state_error(a, errc::account_secure_mobile_already_exists, verdict_reason::secure_phone_already_bound);
  if (const verdict v = detail::enterprise_state(a, f.account); !v) return v;
  return prepared_request{a, code_binding{info(a).code_of, r.account_id, *phone}, {}, r.verification_code};
}

// --- Action 3 ---------------------------------------------------------------

// Steps 2-6 of SendVerificationCodeForEnableRD: the caller's own account; an
// empty SecureMobilePhone means the phone bound to it (action 3's documentation).
constexpr preparation prepare(const send_verification_code_for_enable_rd_request& r, const facts& f,
                              const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = send_verification_code_for_enable_rd_request::id;
  const std::string_view text = r.secure_mobile_phone.empty() ? f.account.secure_phone : r.secure_mobile_phone;
  if (text.empty())
    return detail::make_verdict(a, errc::missing_parameter, check_step::presence, verdict_reason::no_phone_bound,
                                parameter::secure_mobile_phone);
  // The caller's account keys the challenge and the quota (RULES.md §9).
  if (f.caller.account_id.empty()) return detail::missing_caller_account(a);
  const auto phone = check_phone_for_action(policy.sites, a, text);
  if (!phone) return detail::refused_phone(a, phone.error());
  if (const verdict v = detail::directory_state(a, f.account); !v) return v;
  return prepared_request{a, code_binding{a, f.caller.account_id, *phone}, f.caller.account_id, {}};
}

// --- Action 4 ---------------------------------------------------------------

// Steps 2-6 of GetMigrationVerifyCode (flow control, step 1, is in send()).
constexpr preparation prepare(const get_migration_verify_code_request& r, const facts& f,
                              const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = get_migration_verify_code_request::id;
  // The calling user keys step 1, so it is checked before everything (RULES.md §9, check_flow_subject).
  if (f.caller.account_id.empty()) return detail::missing_caller_account(a);
  if (const auto v = detail::first_missing(a, {r.cust_space_id, r.phone_number, r.locale, r.method})) return *v;
  if (const auto c = check_cust_space_id(r.cust_space_id); !c) return detail::bad_param(a, parameter::cust_space_id, c);
  const auto phone = check_phone_for_action(policy.sites, a, r.phone_number);
  if (!phone && phone.error().at_syntax_step()) return detail::refused_phone(a, phone.error());
  if (const auto c = check_locale(r.locale); !c) return detail::bad_param(a, parameter::locale, c);
  if (const auto m = parse_method(r.method); !m) return detail::bad_param(a, parameter::method, m.check);
  if (!phone) return detail::refused_phone(a, phone.error());
  // 5. identity and permission, in RULES.md §7's order
  if (const verdict v = detail::cams_identity(a, f); !v) return v;
  return prepared_request{a, code_binding{a, r.cust_space_id, *phone}, {}, {}};
}

// --- Action 5 ---------------------------------------------------------------

// Steps 2-6 of SendPhoneVerificationForMessageContact. The code binding's
// account is the contact (each contact verifies on its own) [L]; the daily
// quota counts the sending account by default (RULES.md §4).
constexpr preparation prepare(const send_phone_verification_for_message_contact_request& r, const facts& f,
                              const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = send_phone_verification_for_message_contact_request::id;
  if (const auto v = detail::first_missing(a, {r.contact_id, r.phone_number})) return *v;
  // The sending account keys the daily quota by default (RULES.md §9).
  const bool sender_pays = policy.message_contact_quota_counts == quota_subject::sending_account;
  if (sender_pays && f.caller.account_id.empty()) return detail::missing_caller_account(a);
  if (const auto c = check_contact_id(r.contact_id); !c) return detail::bad_param(a, parameter::contact_id, c);
  const auto phone = check_phone_for_action(policy.sites, a, r.phone_number);
  if (!phone) return detail::refused_phone(a, phone.error());
  if (!f.contact.exists)
    return detail::state_error(a, errc::entity_not_exists_contact, verdict_reason::contact_not_found,
                               parameter::contact_id);
  // The phone must be the one given to AddMessageContact (action 5's documentation): compared
  // as numbers (the same text is the same number without a second parse).
  if (f.contact.phone != r.phone_number && !detail::same_dashed_number(f.contact.phone, *phone))
    return detail::state_error(a, errc::invalid_parameter_phone_number, verdict_reason::contact_phone_mismatch,
                               parameter::phone_number);
  if (!f.contact.verification_pending)
    return detail::state_error(a, errc::entity_not_exists_contact_verification, verdict_reason::no_pending_verification);
  return prepared_request{a, code_binding{a, r.contact_id, *phone}, sender_pays ? f.caller.account_id : r.contact_id, {}};
}

// --- EnableResourceDirectory --------------------------------------------------

namespace detail {

// Step 2 of EnableResourceDirectory with NewManagementAccount (appendix A):
// MAName, the management account's phone (the caller's bound one when the
// request gives none), the code, and the caller's account, which keys action
// 3's challenge the code is checked against (RULES.md §9).
constexpr std::optional<verdict> new_account_missing(const enable_resource_directory_request& r, const facts& f,
                                                     std::string_view phone_text) noexcept {
  constexpr action a = enable_resource_directory_request::id;
  if (r.ma_name.empty()) return missing(a, parameter::ma_name);
  if (phone_text.empty())
    return make_verdict(a, errc::missing_secure_mobile_phone, check_step::presence, verdict_reason::no_phone_bound,
                        parameter::ma_secure_mobile_phone);
  if (r.verification_code.empty())
    return make_verdict(a, errc::missing_security_info, check_step::presence, verdict_reason::missing_parameter,
                        parameter::verification_code);
  if (f.caller.account_id.empty()) return missing_caller_account(a);
  return std::nullopt;
}

}  // namespace detail

// Steps 2-6 of EnableResourceDirectory (appendix A). With CurrentAccount no
// code is involved; with NewManagementAccount the code is action 3's, bound
// to the caller's account and the management account's phone.
constexpr preparation prepare(const enable_resource_directory_request& r, const facts& f,
                              const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = enable_resource_directory_request::id;
  if (r.enable_mode.empty()) return detail::missing(a, parameter::enable_mode);
  const auto mode = parse_enable_mode(r.enable_mode);
  const bool new_account = mode.ok() && mode.value == enable_mode::new_management_account;
  const std::string_view phone_text = r.ma_secure_mobile_phone.empty() ? f.account.secure_phone : r.ma_secure_mobile_phone;
  if (new_account)
    if (const auto v = detail::new_account_missing(r, f, phone_text)) return *v;
  if (!mode) return detail::bad_param(a, parameter::enable_mode, mode.check);
  std::optional<code_binding> binding;
  if (new_account) {
    if (const auto c = check_ma_name(r.ma_name); !c)
      return detail::bad_param(a, parameter::ma_name, c, errc::invalid_parameter_management_account_name);
    const auto phone = check_phone_for_action(policy.sites, a, phone_text);
    if (!phone) return detail::refused_phone(a, phone.error());
    binding = code_binding{info(a).code_of, f.caller.account_id, *phone};
  }
  if (const verdict v = detail::directory_state(a, f.account); !v) return v;
  if (new_account && f.management_account_name_used)
    return detail::state_error(a, errc::invalid_parameter_management_account_name_already_used,
                               verdict_reason::management_account_name_used, parameter::ma_name);
  if (const verdict v = detail::enterprise_state(a, f.account); !v) return v;
  return prepared_request{a, binding, {}, new_account ? r.verification_code : std::string_view{}};
}

// --- ChatappMigrationVerified -------------------------------------------------

// Steps 2-6 of ChatappMigrationVerified (appendix A); the code is action 4's.
constexpr preparation prepare(const chatapp_migration_verified_request& r, const facts& f,
                              const action_policy& policy = default_action_policy) noexcept {
  constexpr action a = chatapp_migration_verified_request::id;
  // The calling user keys step 1, so it is checked before everything (RULES.md §9, check_flow_subject).
  if (f.caller.account_id.empty()) return detail::missing_caller_account(a);
  if (const auto v = detail::first_missing(a, {r.cust_space_id, r.phone_number, r.verify_code})) return *v;
  if (const auto c = check_cust_space_id(r.cust_space_id); !c) return detail::bad_param(a, parameter::cust_space_id, c);
  const auto phone = check_phone_for_action(policy.sites, a, r.phone_number);
  if (!phone) return detail::refused_phone(a, phone.error());
  if (const verdict v = detail::cams_identity(a, f); !v) return v;
  return prepared_request{a, code_binding{info(a).code_of, r.cust_space_id, *phone}, {}, r.verify_code};
}

// The pure check of a request (RULES.md §7 steps 2-6): presence, syntax, site,
// identity and state. No state is read or changed; flow control, quotas and
// the code are the stateful steps of send() and verify().
template <action_request Request>
constexpr verdict check(const Request& request, const facts& f, const action_policy& policy = default_action_policy) noexcept {
  return prepare(request, f, policy).error_or(verdict{Request::id});
}

// ---------------------------------------------------------------------------
// The stateful steps: 1 (flow control), 7 (resend interval, lock, per-phone
// windows, daily quota) and 8 (the code).

// The calling user of an action with flow control must be named before step
// 1 meters it (RULES.md §9): an ok verdict for the actions without flow
// control or when facts.caller.account_id is given, otherwise
// detail::missing_caller_account's. send() and verify() call it before
// admit_request; a service that keys rate_state itself calls it first too.
constexpr verdict check_flow_subject(action a, const facts& f) noexcept {
  if (info(a).flow_control && f.caller.account_id.empty()) return detail::missing_caller_account(a);
  return detail::passed(a);
}

// Step 1 for action `a`: every request counts, valid or not (RULES.md §7).
// An ok verdict for the actions without flow control.
constexpr verdict admit_request(const action_policy& policy, action a, rate_state& flow, timestamp now) noexcept {
  if (!info(a).flow_control) return detail::passed(a);
  const decision d = admit(policy.cams_rate, flow, now);
  if (d.allowed) return detail::passed(a);
  return {a, errc::system_limit_control, check_step::flow_control, verdict_reason::flow_control, parameter::none, 0, 0,
          d.retry_at};
}

// The state a send reads and changes, each kept by the caller under its own key:
//   account_quota: the daily usage of prepared_request::quota_account (the rows with daily_quota);
//   phone_windows: the per-phone windows of the phone, e.g. keyed by format_phone(phone, e164);
//   code: the challenge of the binding, keyed by (sending action, binding account);
//   flow: the request rate of the calling user (the rows with flow_control; see admit_request).
// A pointer the action needs must not be null (a precondition).
struct send_state {
  daily_usage* account_quota = nullptr;
  per_phone_state* phone_windows = nullptr;
  challenge* code = nullptr;
  rate_state* flow = nullptr;
};

// What a send answers: the code to deliver and its expiry (never log it), or
// the verdict that refused it.
using send_result = result<issued_code, verdict>;

namespace detail {

// Step 1 of send() and verify(): for the rows with flow control, the caller
// must be named (before its rate is keyed, RULES.md §9) and within its rate;
// `flow` must then not be null (a precondition).
constexpr verdict flow_step(const action_policy& policy, action a, const facts& f, rate_state* flow,
                            timestamp now) noexcept {
  if (!info(a).flow_control) return passed(a);
  PHONEVERIFY_ASSERT(flow != nullptr, "send, verify: flow state for an action with flow control");
  if (const verdict v = check_flow_subject(a, f); !v) return v;
  return admit_request(policy, a, *flow, now);
}

constexpr verdict limit_denial(action a, verdict_reason reason, timestamp retry_at) noexcept {
  return {a, info(a).limit_error, check_step::quota, reason, parameter::none, 0, 0, retry_at};
}

}  // namespace detail

namespace detail {
// The rest of both finish_sends once the code was issued (or refused) on
// `code_state`, a copy of *state.code: the limits, the verdict, and the
// writes, all or nothing. One function for both, so that the limits'
// admit_all has one caller and is inlined into it.
constexpr send_result finish_send_limits(const action_policy& policy, action a, const send_state& state,
                                         timestamp now, const challenge& code_state,
                                         const result<issued_code>& issued) noexcept {
  const bool charges_quota = info(a).daily_quota;
  PHONEVERIFY_ASSERT(!charges_quota || state.account_quota != nullptr, "send: account_quota state");
  per_phone_state windows = *state.phone_windows;
  daily_usage usage = charges_quota ? *state.account_quota : daily_usage{};
  const joint_decision limits = charges_quota
                                    ? admit_all(now, meter(policy.per_phone, windows), meter(policy.daily, usage))
                                    : admit_all(now, meter(policy.per_phone, windows));
  if (!issued && issued.error() != info(a).limit_error)  // an all-zero key, an empty ring or a broken generator
    return detail::make_verdict(a, issued.error(), check_step::quota, verdict_reason::invalid_policy);
  if (!issued || !limits.result.allowed) {
    timestamp retry = issued ? now : next_issue_at(policy.code, *state.code);
    if (!limits.result.allowed && limits.result.retry_at > retry) retry = limits.result.retry_at;
    if (!issued) {
      const bool locked = detail::is_locked(policy.code, *state.code, now);
      return detail::limit_denial(a, locked ? verdict_reason::binding_locked : verdict_reason::resend_too_soon, retry);
    }
    // denied_by: 0 = the per-phone windows, 1 = the daily quota.
    return detail::limit_denial(
        a, limits.denied_by == 0 ? verdict_reason::phone_window_exceeded : verdict_reason::daily_quota_exceeded, retry);
  }
  *state.code = code_state;
  *state.phone_windows = windows;
  if (charges_quota) *state.account_quota = usage;
  return *issued;
}

// The body of both finish_sends: `issue(challenge&)` issues the code on the
// copy of the challenge it is given (issue_code or issue_drawn_code).
template <class Issue>
constexpr send_result finish_send_with(const action_policy& policy, const prepared_request& prepared,
                                       const send_state& state, timestamp now, Issue&& issue) noexcept {
  const action a = prepared.action;
  PHONEVERIFY_ASSERT(info(a).sends && prepared.binding.has_value(), "send: a prepared send");
  if (const errc e = validate(policy.code); e != errc::ok)
    return detail::make_verdict(a, e, check_step::quota, verdict_reason::invalid_policy);
  PHONEVERIFY_ASSERT(state.code != nullptr && state.phone_windows != nullptr, "send: code and phone_windows state");
  // Everything is tried on copies and written back only when all admit.
  challenge code_state = *state.code;
  const result<issued_code> issued = issue(code_state);
  return finish_send_limits(policy, a, state, now, code_state, issued);
}
}  // namespace detail

// Step 7 and the issue of a send whose steps 2-6 passed: the resend interval
// and the lock (code.hpp), the per-phone windows and, for the rows with
// daily_quota, the daily quota (quota.hpp), all or nothing: a denied send
// changes no state (RULES.md §4). The denial is the row's limit error
// (SendValidateCodeExceedsLimitForAccount, or System.LimitControl for CAMS,
// RULES.md §5) with retry_at the earliest instant every limit admits again.
template <code_keys Keys, detail::uniform_random_bit_generator G>
constexpr send_result finish_send(const action_policy& policy, const Keys& key, const prepared_request& prepared,
                                  const send_state& state, timestamp now, G& rng) noexcept {
  return detail::finish_send_with(policy, prepared, state, now, [&](challenge& code_state) {
    return issue_code(policy.code, key, *prepared.binding, code_state, now, rng);
  });
}

// The same with a code drawn beforehand (draw_code for prepared.binding under
// the key the challenge's checks will use), issued by issue_drawn_code: the
// same verdicts and state as the one above with the generator `drawn` came
// from, in the state it was in before the draw; nothing is drawn here, so a
// caller can draw outside its locks and decide inside them. A refused send
// issues nothing (the caller drops `drawn`).
constexpr send_result finish_send(const action_policy& policy, const drawn_code& drawn,
                                  const prepared_request& prepared, const send_state& state, timestamp now) noexcept {
  return detail::finish_send_with(policy, prepared, state, now, [&](challenge& code_state) {
    return issue_drawn_code(policy.code, drawn, *prepared.binding, code_state, now);
  });
}

// Step 8 of a consumer whose steps 2-6 passed: the code, checked against the
// binding's challenge (code.hpp). A failed check uses an attempt as RULES.md §5
// says and answers Invalid.VerificationCode, the precise check_status in
// code_status(). A request that involves no code (EnableResourceDirectory
// with CurrentAccount) is ok.
template <code_keys Keys>
constexpr verdict finish_verify(const action_policy& policy, const Keys& key, const prepared_request& prepared,
                                challenge& code_state, timestamp now) noexcept {
  const action a = prepared.action;
  if (!prepared.needs_code()) return detail::passed(a);
  if (const errc e = validate(policy.code); e != errc::ok)
    return detail::make_verdict(a, e, check_step::code, verdict_reason::invalid_policy);
  const check_status status = check_code(policy.code, key, *prepared.binding, code_state, prepared.submitted_code, now);
  if (status == check_status::ok) return detail::passed(a);
  return detail::make_verdict(a, to_errc(status), check_step::code, verdict_reason::code_rejected,
                              info(a).code_parameter, static_cast<std::uint8_t>(status));
}

// A whole send, steps 1-7 and the issue, on state the caller already holds
// (RULES.md §7). States change only as each step allows: flow control counts
// every request; the limits and the challenge change only for a request
// that passed every earlier step.
template <class Request, code_keys Keys, detail::uniform_random_bit_generator G>
  requires is_send_request<Request>
constexpr send_result send(const action_policy& policy, const Keys& key, const Request& request, const facts& f,
                           const send_state& state, timestamp now, G& rng) noexcept {
  if (const verdict v = detail::flow_step(policy, Request::id, f, state.flow, now); !v) return v;
  const preparation prepared = prepare(request, f, policy);
  if (!prepared) return prepared.error();
  return finish_send(policy, key, *prepared, state, now, rng);
}

// The state a consumer reads and changes: the challenge of the binding the
// request names (prepared_request::binding), and for flow control the user's rate.
struct verify_state {
  challenge* code = nullptr;
  rate_state* flow = nullptr;
};

// A whole consumer request, steps 1-8 (RULES.md §7).
template <class Request, code_keys Keys>
  requires is_verify_request<Request>
constexpr verdict verify(const action_policy& policy, const Keys& key, const Request& request, const facts& f,
                         const verify_state& state, timestamp now) noexcept {
  if (const verdict v = detail::flow_step(policy, Request::id, f, state.flow, now); !v) return v;
  const preparation prepared = prepare(request, f, policy);
  if (!prepared) return prepared.error();
  if (!prepared->needs_code()) return detail::passed(Request::id);
  PHONEVERIFY_ASSERT(state.code != nullptr, "verify: code state");
  return finish_verify(policy, key, *prepared, *state.code, now);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_ACTIONS_HPP
