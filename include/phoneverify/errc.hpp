// SPDX-License-Identifier: MIT
// phoneverify: the error catalog and the actions (RULES.md §1, §6, appendix A).
//
// `errc` names every wire code the seven actions document; `ok` (zero) is
// success. `code_string`, `message` and `http_status` give the wire code and
// the canonical English message and status; `documented_errors(action)` gives
// each action's own documented table, because the same code carries another
// status or message in another action (RULES.md §6). Everything here is
// constexpr, noexcept and heap-free. The <system_error> glue lives in
// error_code.hpp so that this header stays cheap to include.
#ifndef PHONEVERIFY_ERRC_HPP
#define PHONEVERIFY_ERRC_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace phoneverify {

// One enumerator per wire code of RULES.md §6 and appendix A, named by
// snake-casing the code. Values are append-only: never renumber.
enum class errc : std::uint8_t {
  ok = 0,
  not_support_account_in_another_resource_directory,  // NotSupport.AccountInAnotherResourceDirectory
  entity_already_exists_resource_directory,           // EntityAlreadyExists.ResourceDirectory
  send_validate_code_exceeds_limit_for_account,       // SendValidateCodeExceedsLimitForAccount
  invalid_parameter_mobile_country_code,              // InvalidParameter.MobileCountryCode
  not_support_site_action,                            // NotSupport.Site.Action
  invalid_enterprise_name,                            // Invalid.EnterpriseName
  enterprise_real_name_verification_error,            // EnterpriseRealNameVerificationError
  invalid_verification_code,                          // Invalid.VerificationCode
  account_type_mismatch,                              // AccountTypeMismatch
  account_secure_mobile_already_exists,               // AccountSecureMobileAlreadyExists
  caller_identity_error,                              // CallerIdentityError
  missing_parameter_contact_id,                       // MissingParameter.ContactId
  invalid_parameter_contact_id,                       // InvalidParameter.ContactId
  missing_parameter_phone_number,                     // MissingParameter.PhoneNumber
  invalid_parameter_phone_number,                     // InvalidParameter.PhoneNumber
  entity_not_exists_contact,                          // EntityNotExists.Contact
  entity_not_exists_contact_verification,             // EntityNotExists.Contact.Verification
  product_unsubscript,                                // Product.Unsubscript
  ram_permission_deny,                                // Ram.PermissionDeny
  system_limit_control,                               // System.LimitControl
  unknown_resource_owner_id,                          // Unknown.ResourceOwnerId
  missing_parameter,                                  // MissingParameter (common, [L])
  invalid_parameter,                                  // InvalidParameter (common, [L])
  invalid_parameter_management_account_name_already_used,  // InvalidParameter.ManagementAccountName.AlreadyUsed
  invalid_parameter_management_account_name,          // InvalidParameter.ManagementAccountName
  invalid_parameter_management_account_security_info, // InvalidParameter.ManagementAccountSecurityInfo
  missing_secure_mobile_phone,                        // MissingSecureMobilePhone
  missing_security_info,                              // MissingSecurityInfo
};

// How many enumerators errc has, `ok` included (29: ok and 28 wire codes).
inline constexpr std::size_t errc_count = 29;

namespace detail {

struct errc_entry {
  errc code;
  std::string_view wire;
  int http_status;
  std::string_view message;
};

// The canonical status and message of each code (RULES.md §6: where a code has
// several, the most common status, and the metadata's current message).
// Indexed by the enumerator's value; tests check the index matches.
inline constexpr errc_entry errc_table[errc_count] = {
    {errc::ok, "", 200, ""},
    {errc::not_support_account_in_another_resource_directory, "NotSupport.AccountInAnotherResourceDirectory", 409,
     "The specified account is an Alibaba Cloud account or already exists in another resource directory."},
    {errc::entity_already_exists_resource_directory, "EntityAlreadyExists.ResourceDirectory", 409,
     "The resource directory for the account is already enabled. We recommend that you do not enable the "
     "resource directory again."},
    {errc::send_validate_code_exceeds_limit_for_account, "SendValidateCodeExceedsLimitForAccount", 409,
     "For the same account, the number of verification codes sent exceeds the limit."},
    {errc::invalid_parameter_mobile_country_code, "InvalidParameter.MobileCountryCode", 409,
     "The current site does not support the country code."},
    {errc::not_support_site_action, "NotSupport.Site.Action", 400, "Site does not allow current action."},
    {errc::invalid_enterprise_name, "Invalid.EnterpriseName", 409, "You must specify the enterprise name."},
    {errc::enterprise_real_name_verification_error, "EnterpriseRealNameVerificationError", 409,
     "The specified account does not pass enterprise real-name verification. We recommend you first complete "
     "enterprise real-name verification for the account."},
    {errc::invalid_verification_code, "Invalid.VerificationCode", 409, "The verification code is invalid."},
    {errc::account_type_mismatch, "AccountTypeMismatch", 409,
     "The type or status of the member account cannot satisfy the current operation."},
    {errc::account_secure_mobile_already_exists, "AccountSecureMobileAlreadyExists", 409,
     "The secure mobile number of the member already exists."},
    {errc::caller_identity_error, "CallerIdentityError", 409,
     "Please use the RAM user or role of the Management Account."},
    {errc::missing_parameter_contact_id, "MissingParameter.ContactId", 400, "You must specify ContactId."},
    {errc::invalid_parameter_contact_id, "InvalidParameter.ContactId", 400, "The ContactId is invalid."},
    {errc::missing_parameter_phone_number, "MissingParameter.PhoneNumber", 400, "You must specify PhoneNumber."},
    {errc::invalid_parameter_phone_number, "InvalidParameter.PhoneNumber", 400, "The PhoneNumber is invalid."},
    {errc::entity_not_exists_contact, "EntityNotExists.Contact", 404, "This Contact does not exist."},
    {errc::entity_not_exists_contact_verification, "EntityNotExists.Contact.Verification", 404,
     "This contact verification does not exist."},
    {errc::product_unsubscript, "Product.Unsubscript", 400, "You have not subscribed to the specified product."},
    {errc::ram_permission_deny, "Ram.PermissionDeny", 400, "You are not authorized to perform the operation."},
    {errc::system_limit_control, "System.LimitControl", 400, "The system is under flow control."},
    {errc::unknown_resource_owner_id, "Unknown.ResourceOwnerId", 400,
     "The resource does not belong to the current user."},
    {errc::missing_parameter, "MissingParameter", 400,
     "The input parameter \"%s\" that is mandatory for processing this request is not supplied."},
    {errc::invalid_parameter, "InvalidParameter", 400, "The specified parameter \"%s\" is not valid."},
    {errc::invalid_parameter_management_account_name_already_used,
     "InvalidParameter.ManagementAccountName.AlreadyUsed", 409, "The ManagementAccountName has been used."},
    {errc::invalid_parameter_management_account_name, "InvalidParameter.ManagementAccountName", 409,
     "The management account name is in the wrong format."},
    {errc::invalid_parameter_management_account_security_info, "InvalidParameter.ManagementAccountSecurityInfo",
     409, "The parameter management account secure mobile phone is invalid."},
    {errc::missing_secure_mobile_phone, "MissingSecureMobilePhone", 409, "Secure mobile phone is missing."},
    {errc::missing_security_info, "MissingSecurityInfo", 409, "Security info is missing."},
};

// Whether `e` is an enumerator (an index into errc_table). The lookups below
// index the table rather than compare pointers: g++ 12 with -fsanitize=undefined
// refuses pointer comparisons in constant expressions.
constexpr bool is_enumerator(errc e) noexcept { return static_cast<std::size_t>(e) < errc_count; }

}  // namespace detail

// The wire code ("InvalidParameter.PhoneNumber"); "" for ok and for a value
// that is no enumerator. Never throws, never allocates, usable in constant expressions.
constexpr std::string_view code_string(errc e) noexcept {
  return detail::is_enumerator(e) ? detail::errc_table[static_cast<std::size_t>(e)].wire : std::string_view{};
}

// The canonical English message, verbatim from the documents; "" for ok.
// An action's own message may differ: see message(errc, action).
constexpr std::string_view message(errc e) noexcept {
  return detail::is_enumerator(e) ? detail::errc_table[static_cast<std::size_t>(e)].message : std::string_view{};
}

// The canonical HTTP status: 200 for ok, 500 for a value that is no enumerator.
constexpr int http_status(errc e) noexcept {
  return detail::is_enumerator(e) ? detail::errc_table[static_cast<std::size_t>(e)].http_status : 500;
}

// The errc whose wire code is exactly `code` (case-sensitive); nullopt for
// anything else, including "".
constexpr std::optional<errc> errc_from_string(std::string_view code) noexcept {
  if (code.empty()) return std::nullopt;
  for (const auto& entry : detail::errc_table)
    if (entry.wire == code) return entry.code;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Actions (RULES.md §1)

// The seven actions: four send a code (1, 3, 4, 5) and three check one (2,
// EnableResourceDirectory, ChatappMigrationVerified). Their facts are the rows
// of action.hpp.
enum class action : std::uint8_t {
  send_verification_code_for_bind_secure_mobile_phone,  // 1, ResourceManager 2020-03-31
  bind_secure_mobile_phone,                             // 2, ResourceManager 2020-03-31
  send_verification_code_for_enable_rd,                 // 3, ResourceManager 2020-03-31
  get_migration_verify_code,                            // 4, CAMS 2020-06-06
  send_phone_verification_for_message_contact,          // 5, ResourceDirectoryMaster 2022-04-19
  enable_resource_directory,                            // 6, ResourceManager 2020-03-31
  chatapp_migration_verified,                           // 7, CAMS 2020-06-06
};

inline constexpr std::size_t action_count = 7;

// Every action, in the enumerator's order, for loops and tables.
inline constexpr action all_actions[action_count] = {
    action::send_verification_code_for_bind_secure_mobile_phone,
    action::bind_secure_mobile_phone,
    action::send_verification_code_for_enable_rd,
    action::get_migration_verify_code,
    action::send_phone_verification_for_message_contact,
    action::enable_resource_directory,
    action::chatapp_migration_verified,
};

namespace detail {
inline constexpr std::string_view action_names[action_count] = {
    "SendVerificationCodeForBindSecureMobilePhone",
    "BindSecureMobilePhone",
    "SendVerificationCodeForEnableRD",
    "GetMigrationVerifyCode",
    "SendPhoneVerificationForMessageContact",
    "EnableResourceDirectory",
    "ChatappMigrationVerified",
};
}  // namespace detail

// The action's wire name ("BindSecureMobilePhone"); "" for a value that is no enumerator.
constexpr std::string_view action_name(action a) noexcept {
  const auto index = static_cast<std::size_t>(a);
  return index < action_count ? detail::action_names[index] : std::string_view{};
}

// The action whose wire name is exactly `name` (case-sensitive), or nullopt.
constexpr std::optional<action> action_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < action_count; ++i)
    if (detail::action_names[i] == name) return all_actions[i];
  return std::nullopt;
}

// One row of an action's documented error table: the code, the status and the
// message that action documents, and the document's description.
struct documented_error {
  errc code;
  int http_status;
  std::string_view message;
  std::string_view description;
};

namespace detail {

// SendVerificationCodeForBindSecureMobilePhone (its page is in Chinese): its
// table in its order; descriptions kept in Chinese as the page has them.
inline constexpr documented_error send_bind_errors[] = {
    {errc::entity_already_exists_resource_directory, 409,
     "The resource directory for the account is already enabled. We recommend that you do not enable the "
     "resource directory again.",
     "账号已开通资源目录,请勿重复开通。"},
    {errc::send_validate_code_exceeds_limit_for_account, 409,
     "For the same account, the number of verification codes sent exceeds the limit.",
     "当前账号发送的验证码每日数量超限。"},
    {errc::invalid_parameter_mobile_country_code, 409, "The current site does not support the country code.",
     "当前站点不支持您输入的国家码。"},
    {errc::not_support_account_in_another_resource_directory, 409,
     "Your account is a management account for another resource directory or a member of another resource "
     "directory.",
     "您的账号是另一个资源目录的管理账号或是另一个资源目录内的成员。"},
};

// BindSecureMobilePhone, then the row only the metadata documents.
inline constexpr documented_error bind_errors[] = {
    {errc::invalid_enterprise_name, 409, "You must specify the enterprise name.",
     "The error message returned because no enterprise name is specified for the account. Specify an "
     "enterprise name for the account."},
    {errc::enterprise_real_name_verification_error, 409,
     "The specified account does not pass enterprise real-name verification. We recommend you first complete "
     "enterprise real-name verification for the account.",
     "The error message returned because the account does not pass enterprise real-name verification. Complete "
     "enterprise real-name verification first."},
    {errc::entity_already_exists_resource_directory, 409,
     "The resource directory for the account is already enabled. We recommend that you do not enable the "
     "resource directory again.",
     "The error message returned because the account has been used to enable a resource directory. Do not use "
     "the account to enable a resource directory again."},
    {errc::invalid_verification_code, 409, "The verification code is invalid.",
     "The error message returned because the verification code is invalid."},
    {errc::account_type_mismatch, 409,
     "The type or status of the member account cannot satisfy the current operation.",
     "The error message returned because the type or status of the member does not meet the requirements for "
     "the current operation."},
    {errc::account_secure_mobile_already_exists, 409, "The secure mobile number of the member already exists.",
     "The error message returned because a mobile phone number has been bound to the member for security "
     "purposes."},
    {errc::caller_identity_error, 409, "Please use the RAM user or role of the Management Account.",
     "The error message returned because only a RAM user or RAM role within the management account of the "
     "resource directory can be used to call this operation."},
    {errc::not_support_account_in_another_resource_directory, 409,
     "Your account is a management account for another resource directory or a member of another resource "
     "directory.",
     "The error message returned because your account is the management account or a member of another "
     "resource directory."},
    // Documented only by the OpenAPI metadata (RULES.md §3, §6).
    {errc::not_support_site_action, 400, "Site does not allow current action.",
     "The current site does not allow this operation (for example a country code the site does not support)."},
};

// SendVerificationCodeForEnableRD. The page's first description is "-".
inline constexpr documented_error send_enable_rd_errors[] = {
    {errc::not_support_account_in_another_resource_directory, 409,
     "The specified account is an Alibaba Cloud account or already exists in another resource directory.", "-"},
    {errc::entity_already_exists_resource_directory, 409,
     "The resource directory for the account is already enabled. We recommend that you do not enable the "
     "resource directory again.",
     "The resource directory for the account is already enabled. We recommend that you do not enable the "
     "resource directory again."},
    {errc::send_validate_code_exceeds_limit_for_account, 409,
     "For the same account, the number of verification codes sent exceeds the limit.",
     "For the same account, the maximum number of verification codes sent per day is exceeded."},
    {errc::invalid_parameter_mobile_country_code, 409, "The current site does not support the country code.",
     "The current site does not support the country code you entered."},
};

// GetMigrationVerifyCode: no descriptions on its page.
inline constexpr documented_error cams_errors[] = {
    {errc::product_unsubscript, 400, "You have not subscribed to the specified product.", ""},
    {errc::ram_permission_deny, 400, "You are not authorized to perform the operation.", ""},
    {errc::system_limit_control, 400, "The system is under flow control.", ""},
    {errc::unknown_resource_owner_id, 400, "The resource does not belong to the current user.", ""},
};

// SendPhoneVerificationForMessageContact.
inline constexpr documented_error message_contact_errors[] = {
    {errc::missing_parameter_contact_id, 400, "You must specify ContactId.", "The ContactId parameter is not configured."},
    {errc::invalid_parameter_contact_id, 400, "The ContactId is invalid.", "The value of the ContactId parameter is invalid."},
    {errc::missing_parameter_phone_number, 400, "You must specify PhoneNumber.",
     "The PhoneNumber parameter is not configured."},
    {errc::invalid_parameter_phone_number, 400, "The PhoneNumber is invalid.",
     "The value of the PhoneNumber parameter is invalid."},
    {errc::invalid_parameter_mobile_country_code, 400, "The current site does not support the country code.",
     "The specified country code is not supported at the current site."},
    {errc::entity_not_exists_contact, 404, "This Contact does not exist.", "The specified contact does not exist."},
    {errc::entity_not_exists_contact_verification, 404, "This contact verification does not exist.",
     "The verification code of the contact does not exist."},
    {errc::send_validate_code_exceeds_limit_for_account, 409,
     "For the same account, the number of verification codes sent exceeds the limit.",
     "The number of verification codes that are sent per day by using the account exceeds the upper limit."},
};

// Appendix A (EnableResourceDirectory, from the metadata): no descriptions.
inline constexpr documented_error enable_rd_errors[] = {
    {errc::not_support_account_in_another_resource_directory, 409,
     "The specified account is an Alibaba Cloud account or already exists in another resource directory.", ""},
    {errc::invalid_enterprise_name, 409, "You must specify the enterprise name.", ""},
    {errc::enterprise_real_name_verification_error, 409,
     "The specified account does not pass enterprise real-name verification. We recommend you first complete "
     "enterprise real-name verification for the account.",
     ""},
    {errc::entity_already_exists_resource_directory, 409,
     "The resource directory for the account is already enabled. We recommend that you do not enable the "
     "resource directory again.",
     ""},
    {errc::invalid_parameter_management_account_name_already_used, 409, "The ManagementAccountName has been used.", ""},
    {errc::invalid_verification_code, 409, "The verification code is invalid.", ""},
    {errc::invalid_parameter_management_account_name, 409, "The management account name is in the wrong format.", ""},
    {errc::invalid_parameter_management_account_security_info, 409,
     "The parameter management account secure mobile phone is invalid.", ""},
    {errc::missing_secure_mobile_phone, 409, "Secure mobile phone is missing.", ""},
    {errc::missing_security_info, 409, "Security info is missing.", ""},
};

// Appendix A (ChatappMigrationVerified): the same four rows as its sender.
inline constexpr documented_error chatapp_verified_errors[] = {
    {errc::product_unsubscript, 400, "You have not subscribed to the specified product.", ""},
    {errc::ram_permission_deny, 400, "You are not authorized to perform the operation.", ""},
    {errc::system_limit_control, 400, "The system is under flow control.", ""},
    {errc::unknown_resource_owner_id, 400, "The resource does not belong to the current user.", ""},
};

}  // namespace detail

// The action's documented error table, in the document's order (RULES.md §6):
// the documented page's rows, then the rows only the metadata documents; for the consumer
// actions, appendix A's rows. Empty for a value that is no enumerator.
constexpr std::span<const documented_error> documented_errors(action a) noexcept {
  switch (a) {
    case action::send_verification_code_for_bind_secure_mobile_phone: return detail::send_bind_errors;
    case action::bind_secure_mobile_phone: return detail::bind_errors;
    case action::send_verification_code_for_enable_rd: return detail::send_enable_rd_errors;
    case action::get_migration_verify_code: return detail::cams_errors;
    case action::send_phone_verification_for_message_contact: return detail::message_contact_errors;
    case action::enable_resource_directory: return detail::enable_rd_errors;
    case action::chatapp_migration_verified: return detail::chatapp_verified_errors;
  }
  return {};
}

namespace detail {
// The index of `e`'s row in `a`'s table, or the table's size when `a` does not document `e`.
constexpr std::size_t documented_index(action a, errc e) noexcept {
  const auto table = documented_errors(a);
  std::size_t i = 0;
  while (i < table.size() && table[i].code != e) ++i;
  return i;
}
}  // namespace detail

// Whether action `a` documents error `e` in its table.
constexpr bool documents(action a, errc e) noexcept {
  return detail::documented_index(a, e) < documented_errors(a).size();
}

// The row `a` documents for `e`, or nullptr when `a` does not document `e`.
constexpr const documented_error* find_documented_error(action a, errc e) noexcept {
  const std::size_t i = detail::documented_index(a, e);
  return i < documented_errors(a).size() ? &documented_errors(a)[i] : nullptr;
}

// The status action `a` documents for `e`; the canonical status where it
// documents none (ok is 200 everywhere).
constexpr int http_status(errc e, action a) noexcept {
  const std::size_t i = detail::documented_index(a, e);
  return i < documented_errors(a).size() ? documented_errors(a)[i].http_status : http_status(e);
}

// The message action `a` documents for `e`; the canonical message where it documents none.
constexpr std::string_view message(errc e, action a) noexcept {
  const std::size_t i = detail::documented_index(a, e);
  return i < documented_errors(a).size() ? documented_errors(a)[i].message : message(e);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_ERRC_HPP
