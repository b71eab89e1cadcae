// The seven actions (RULES.md §1, §3, §6, §7, appendix A): one row per rule,
// every documented error produced, RULES.md §7's order, the sites, and the flows.
#include <catch2/catch.hpp>
#include <phoneverify/actions.hpp>
#include <phoneverify/render.hpp>

#include <array>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "support.hpp"

namespace pv = phoneverify;
using pv::action;
using pv::check_step;
using pv::errc;
using pv::verdict_reason;
using namespace std::chrono_literals;

namespace {

// --- A valid world for each action ----------------------------------------

constexpr std::string_view member_id = "1234567890123456";
constexpr std::string_view caller_id = "9999888877776666";
constexpr std::string_view china_mobile = "86-13900001234";
constexpr std::string_view uk_mobile = "44-7911123456";

constexpr pv::facts china_facts() {
  pv::facts f = pv::test::granting_facts(caller_id);
  f.account.secure_phone = china_mobile;
  f.contact.phone = china_mobile;
  return f;
}
// The facts of the international site's requests (the site itself is the policy's: intl_site).
constexpr pv::facts international_facts() {
  pv::facts f = china_facts();
  f.account.secure_phone = uk_mobile;
  return f;
}
constexpr pv::action_policy policy_on(const pv::site_policy& sites) {
  pv::action_policy policy;
  policy.sites = sites;
  return policy;
}
constexpr pv::action_policy intl_site = policy_on(pv::international_site_policy);

constexpr pv::send_verification_code_for_bind_secure_mobile_phone_request send_bind_ok{china_mobile, member_id};
constexpr pv::bind_secure_mobile_phone_request bind_ok{"123456", china_mobile, member_id};
constexpr pv::send_verification_code_for_enable_rd_request send_rd_ok{china_mobile};
constexpr pv::get_migration_verify_code_request cams_ok{"293483938841234", "8613800001234", "zh_CN", "sms"};
constexpr pv::send_phone_verification_for_message_contact_request contact_ok{"c-qL4HqKONzOM7ab", china_mobile};
constexpr pv::enable_resource_directory_request enable_rd_ok{"NewManagementAccount", "admin@rdadmin.aliyunid.com",
                                                             china_mobile, "123456"};
constexpr pv::chatapp_migration_verified_request chatapp_ok{"293483938841234", "8613800001234", "123456"};

// --- One row per rule -------------------------------------------------------

struct rule_row {
  std::string name;
  action act;
  std::function<pv::verdict()> run;
  errc expected;
  int status;
  check_step step;
};

template <class Request, class Mutate>
std::function<pv::verdict()> with(Request base, pv::facts f, Mutate mutate,
                                  const pv::action_policy& policy = pv::default_action_policy) {
  return [=]() mutable {
    mutate(base, f);
    return pv::check(base, f, policy);
  };
}

std::vector<rule_row> pure_rules() {
  using R1 = pv::send_verification_code_for_bind_secure_mobile_phone_request;
  using R2 = pv::bind_secure_mobile_phone_request;
  using R3 = pv::send_verification_code_for_enable_rd_request;
  using R4 = pv::get_migration_verify_code_request;
  using R5 = pv::send_phone_verification_for_message_contact_request;
  using R6 = pv::enable_resource_directory_request;
  using R7 = pv::chatapp_migration_verified_request;
  const auto a1 = action::send_verification_code_for_bind_secure_mobile_phone;
  const auto a2 = action::bind_secure_mobile_phone;
  const auto a3 = action::send_verification_code_for_enable_rd;
  const auto a4 = action::get_migration_verify_code;
  const auto a5 = action::send_phone_verification_for_message_contact;
  const auto a6 = action::enable_resource_directory;
  const auto a7 = action::chatapp_migration_verified;
  const pv::facts cn = china_facts();
  const pv::facts intl = international_facts();
  return {
      // Action 1
      {"action 1 accepts a valid request", a1, with(send_bind_ok, cn, [](R1&, pv::facts&) {}), errc::ok, 200, check_step::passed},
      {"action 1 without SecureMobilePhone is MissingParameter", a1, with(send_bind_ok, cn, [](R1& r, pv::facts&) { r.secure_mobile_phone = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 1 without AccountId is MissingParameter", a1, with(send_bind_ok, cn, [](R1& r, pv::facts&) { r.account_id = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 1 with a masked phone is InvalidParameter", a1, with(send_bind_ok, cn, [](R1& r, pv::facts&) { r.secure_mobile_phone = "86-139****1234"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"action 1 with a fixed-line 86 number is InvalidParameter (mobile rule)", a1, with(send_bind_ok, cn, [](R1& r, pv::facts&) { r.secure_mobile_phone = "86-1012345678"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"action 1 with a non-numeric AccountId is InvalidParameter", a1, with(send_bind_ok, cn, [](R1& r, pv::facts&) { r.account_id = "12a4"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"action 1 with an unassigned country code is InvalidParameter.MobileCountryCode 409", a1, with(send_bind_ok, cn, [](R1& r, pv::facts&) { r.secure_mobile_phone = "999-1234567"; }), errc::invalid_parameter_mobile_country_code, 409, check_step::site},
      {"action 1 with a 44 number on the China site is InvalidParameter.MobileCountryCode 409", a1, with(send_bind_ok, cn, [](R1& r, pv::facts&) { r.secure_mobile_phone = uk_mobile; }), errc::invalid_parameter_mobile_country_code, 409, check_step::site},
      {"action 1 with an 86 number on the international site is InvalidParameter.MobileCountryCode 409", a1, with(send_bind_ok, intl, [](R1&, pv::facts&) {}, intl_site), errc::invalid_parameter_mobile_country_code, 409, check_step::site},
      {"action 1 from a member account is CallerIdentityError", a1, with(send_bind_ok, cn, [](R1&, pv::facts& f) { f.caller.kind = pv::caller_kind::member_account; }), errc::caller_identity_error, 409, check_step::identity},
      {"action 1 for an account that does not exist is InvalidParameter", a1, with(send_bind_ok, cn, [](R1&, pv::facts& f) { f.account.exists = false; }), errc::invalid_parameter, 400, check_step::state},
      {"action 1 for a member of another directory is NotSupport.AccountInAnotherResourceDirectory", a1, with(send_bind_ok, cn, [](R1&, pv::facts& f) { f.account.membership = pv::directory_membership::another_directory; }), errc::not_support_account_in_another_resource_directory, 409, check_step::state},
      {"action 1 for an account with its own directory is EntityAlreadyExists.ResourceDirectory", a1, with(send_bind_ok, cn, [](R1&, pv::facts& f) { f.account.manages_a_directory = true; }), errc::entity_already_exists_resource_directory, 409, check_step::state},
      // Action 2
      {"action 2 accepts a valid request before the code step", a2, with(bind_ok, cn, [](R2&, pv::facts&) {}), errc::ok, 200, check_step::passed},
      {"action 2 without VerificationCode is MissingParameter", a2, with(bind_ok, cn, [](R2& r, pv::facts&) { r.verification_code = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 2 without SecureMobilePhone is MissingParameter", a2, with(bind_ok, cn, [](R2& r, pv::facts&) { r.secure_mobile_phone = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 2 without AccountId is MissingParameter", a2, with(bind_ok, cn, [](R2& r, pv::facts&) { r.account_id = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 2 with a phone with a second dash is InvalidParameter", a2, with(bind_ok, cn, [](R2& r, pv::facts&) { r.secure_mobile_phone = "86-139-00001234"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"action 2 with a 44 number on the China site is NotSupport.Site.Action 400", a2, with(bind_ok, cn, [](R2& r, pv::facts&) { r.secure_mobile_phone = uk_mobile; }), errc::not_support_site_action, 400, check_step::site},
      {"action 2 with an 86 number on the international site is NotSupport.Site.Action 400", a2, with(bind_ok, intl, [](R2&, pv::facts&) {}, intl_site), errc::not_support_site_action, 400, check_step::site},
      {"action 2 with an unassigned country code is NotSupport.Site.Action", a2, with(bind_ok, cn, [](R2& r, pv::facts&) { r.secure_mobile_phone = "388-1234567"; }), errc::not_support_site_action, 400, check_step::site},
      {"action 2 from the management account itself is CallerIdentityError", a2, with(bind_ok, cn, [](R2&, pv::facts& f) { f.caller.kind = pv::caller_kind::management_account; }), errc::caller_identity_error, 409, check_step::identity},
      {"action 2 for a member of another directory is NotSupport.AccountInAnotherResourceDirectory", a2, with(bind_ok, cn, [](R2&, pv::facts& f) { f.account.membership = pv::directory_membership::another_directory; }), errc::not_support_account_in_another_resource_directory, 409, check_step::state},
      {"action 2 for an account with its own directory is EntityAlreadyExists.ResourceDirectory", a2, with(bind_ok, cn, [](R2&, pv::facts& f) { f.account.manages_a_directory = true; }), errc::entity_already_exists_resource_directory, 409, check_step::state},
      {"action 2 for a cloud account is AccountTypeMismatch", a2, with(bind_ok, cn, [](R2&, pv::facts& f) { f.account.kind = pv::account_kind::cloud_account; }), errc::account_type_mismatch, 409, check_step::state},
      {"action 2 for a suspended member is AccountTypeMismatch", a2, with(bind_ok, cn, [](R2&, pv::facts& f) { f.account.status = pv::account_status::suspended; }), errc::account_type_mismatch, 409, check_step::state},
      {"action 2 for a member with a secure phone is AccountSecureMobileAlreadyExists", a2, with(bind_ok, cn, [](R2&, pv::facts& f) { f.account.secure_phone_bound = true; }), errc::account_secure_mobile_already_exists, 409, check_step::state},
      {"action 2 for an account without enterprise name is Invalid.EnterpriseName", a2, with(bind_ok, cn, [](R2&, pv::facts& f) { f.account.enterprise_name_set = false; }), errc::invalid_enterprise_name, 409, check_step::state},
      {"action 2 for an account without real-name verification is EnterpriseRealNameVerificationError", a2, with(bind_ok, cn, [](R2&, pv::facts& f) { f.account.real_name_verified = false; }), errc::enterprise_real_name_verification_error, 409, check_step::state},
      // Action 3
      {"action 3 accepts a valid request", a3, with(send_rd_ok, cn, [](R3&, pv::facts&) {}), errc::ok, 200, check_step::passed},
      {"action 3 with no phone uses the phone bound to the account", a3, with(send_rd_ok, cn, [](R3& r, pv::facts&) { r.secure_mobile_phone = {}; }), errc::ok, 200, check_step::passed},
      {"action 3 with no phone and none bound is MissingParameter", a3, with(send_rd_ok, cn, [](R3& r, pv::facts& f) { r.secure_mobile_phone = {}; f.account.secure_phone = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 3 with letters in the phone is InvalidParameter", a3, with(send_rd_ok, cn, [](R3& r, pv::facts&) { r.secure_mobile_phone = "86-1390000abcd"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"action 3 with a 44 number on the China site is InvalidParameter.MobileCountryCode 409", a3, with(send_rd_ok, cn, [](R3& r, pv::facts&) { r.secure_mobile_phone = uk_mobile; }), errc::invalid_parameter_mobile_country_code, 409, check_step::site},
      {"action 3 with a 44 number on the international site is accepted", a3, with(send_rd_ok, intl, [](R3& r, pv::facts&) { r.secure_mobile_phone = uk_mobile; }, intl_site), errc::ok, 200, check_step::passed},
      {"action 3 for an account in another directory is NotSupport.AccountInAnotherResourceDirectory", a3, with(send_rd_ok, cn, [](R3&, pv::facts& f) { f.account.membership = pv::directory_membership::another_directory; }), errc::not_support_account_in_another_resource_directory, 409, check_step::state},
      {"action 3 for an account whose directory is enabled is EntityAlreadyExists.ResourceDirectory", a3, with(send_rd_ok, cn, [](R3&, pv::facts& f) { f.account.manages_a_directory = true; }), errc::entity_already_exists_resource_directory, 409, check_step::state},
      // Action 4
      {"action 4 accepts a valid request", a4, with(cams_ok, cn, [](R4&, pv::facts&) {}), errc::ok, 200, check_step::passed},
      {"action 4 accepts Method in any case", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.method = "VOICE"; }), errc::ok, 200, check_step::passed},
      {"action 4 accepts a 44 number on the China site (CAMS takes any assigned code)", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.phone_number = "447911123456"; }), errc::ok, 200, check_step::passed},
      {"action 4 accepts a fixed-line number (CAMS needs no mobile)", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.phone_number = "861012345678"; }), errc::ok, 200, check_step::passed},
      {"action 4 without CustSpaceId is MissingParameter", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.cust_space_id = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 4 without PhoneNumber is MissingParameter", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.phone_number = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 4 without Locale is MissingParameter", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.locale = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 4 without Method is MissingParameter", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.method = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"action 4 with a non-numeric CustSpaceId is InvalidParameter", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.cust_space_id = "29348393884****"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"action 4 with a dashed phone is InvalidParameter", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.phone_number = "86-13800001234"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"action 4 with an unassigned country code is InvalidParameter", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.phone_number = "99912345678"; }), errc::invalid_parameter, 400, check_step::site},
      {"action 4 with Locale zh-CN is InvalidParameter", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.locale = "zh-CN"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"action 4 with Method email is InvalidParameter", a4, with(cams_ok, cn, [](R4& r, pv::facts&) { r.method = "email"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"action 4 without RAM permission is Ram.PermissionDeny", a4, with(cams_ok, cn, [](R4&, pv::facts& f) { f.caller.permitted = false; }), errc::ram_permission_deny, 400, check_step::identity},
      {"action 4 without the product is Product.Unsubscript", a4, with(cams_ok, cn, [](R4&, pv::facts& f) { f.caller.product_subscribed = false; }), errc::product_unsubscript, 400, check_step::identity},
      {"action 4 on another user's space is Unknown.ResourceOwnerId", a4, with(cams_ok, cn, [](R4&, pv::facts& f) { f.space.owned_by_caller = false; }), errc::unknown_resource_owner_id, 400, check_step::identity},
      // Action 5
      {"action 5 accepts a valid request", a5, with(contact_ok, cn, [](R5&, pv::facts&) {}), errc::ok, 200, check_step::passed},
      {"action 5 without ContactId is MissingParameter.ContactId", a5, with(contact_ok, cn, [](R5& r, pv::facts&) { r.contact_id = {}; }), errc::missing_parameter_contact_id, 400, check_step::presence},
      {"action 5 without PhoneNumber is MissingParameter.PhoneNumber", a5, with(contact_ok, cn, [](R5& r, pv::facts&) { r.phone_number = {}; }), errc::missing_parameter_phone_number, 400, check_step::presence},
      {"action 5 with a ContactId without c- is InvalidParameter.ContactId", a5, with(contact_ok, cn, [](R5& r, pv::facts&) { r.contact_id = "qL4HqKONzOM7"; }), errc::invalid_parameter_contact_id, 400, check_step::syntax},
      {"action 5 with a masked phone is InvalidParameter.PhoneNumber", a5, with(contact_ok, cn, [](R5& r, pv::facts&) { r.phone_number = "86-139****1234"; }), errc::invalid_parameter_phone_number, 400, check_step::syntax},
      {"action 5 with a too short 86 number is InvalidParameter.PhoneNumber", a5, with(contact_ok, cn, [](R5& r, pv::facts&) { r.phone_number = "86-139"; }), errc::invalid_parameter_phone_number, 400, check_step::syntax},
      {"action 5 with a 44 number on the international site is InvalidParameter.MobileCountryCode 400", a5, with(contact_ok, intl, [](R5& r, pv::facts&) { r.phone_number = uk_mobile; }, intl_site), errc::invalid_parameter_mobile_country_code, 400, check_step::site},
      {"action 5 with an 86 number on the international site is accepted", a5, with(contact_ok, intl, [](R5&, pv::facts& f) { f.contact.phone = china_mobile; }, intl_site), errc::ok, 200, check_step::passed},
      {"action 5 for a contact that does not exist is EntityNotExists.Contact 404", a5, with(contact_ok, cn, [](R5&, pv::facts& f) { f.contact.exists = false; }), errc::entity_not_exists_contact, 404, check_step::state},
      {"action 5 with another phone than AddMessageContact's is InvalidParameter.PhoneNumber", a5, with(contact_ok, cn, [](R5& r, pv::facts&) { r.phone_number = "86-13900004321"; }), errc::invalid_parameter_phone_number, 400, check_step::state},
      {"action 5 with no pending verification is EntityNotExists.Contact.Verification 404", a5, with(contact_ok, cn, [](R5&, pv::facts& f) { f.contact.verification_pending = false; }), errc::entity_not_exists_contact_verification, 404, check_step::state},
      // EnableResourceDirectory
      {"EnableResourceDirectory accepts a valid NewManagementAccount request before the code step", a6, with(enable_rd_ok, cn, [](R6&, pv::facts&) {}), errc::ok, 200, check_step::passed},
      {"EnableResourceDirectory with CurrentAccount needs no code", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts&) { r = {"CurrentAccount", {}, {}, {}}; }), errc::ok, 200, check_step::passed},
      {"EnableResourceDirectory without EnableMode is MissingParameter", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts&) { r.enable_mode = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"EnableResourceDirectory with an unknown EnableMode is InvalidParameter", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts&) { r.enable_mode = "currentaccount"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"EnableResourceDirectory without MAName is MissingParameter", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts&) { r.ma_name = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"EnableResourceDirectory with no phone and none bound is MissingSecureMobilePhone", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts& f) { r.ma_secure_mobile_phone = {}; f.account.secure_phone = {}; }), errc::missing_secure_mobile_phone, 409, check_step::presence},
      {"EnableResourceDirectory with no phone uses the caller's bound phone", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts&) { r.ma_secure_mobile_phone = {}; }), errc::ok, 200, check_step::passed},
      {"EnableResourceDirectory without VerificationCode is MissingSecurityInfo", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts&) { r.verification_code = {}; }), errc::missing_security_info, 409, check_step::presence},
      {"EnableResourceDirectory with a bad MAName is InvalidParameter.ManagementAccountName", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts&) { r.ma_name = "a..b@rdadmin.aliyunid.com"; }), errc::invalid_parameter_management_account_name, 409, check_step::syntax},
      {"EnableResourceDirectory with a bad phone is InvalidParameter.ManagementAccountSecurityInfo", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts&) { r.ma_secure_mobile_phone = "+86-13900001234"; }), errc::invalid_parameter_management_account_security_info, 409, check_step::syntax},
      {"EnableResourceDirectory with a 44 number on the China site is InvalidParameter.ManagementAccountSecurityInfo", a6, with(enable_rd_ok, cn, [](R6& r, pv::facts&) { r.ma_secure_mobile_phone = uk_mobile; }), errc::invalid_parameter_management_account_security_info, 409, check_step::site},
      {"EnableResourceDirectory for an account in another directory is NotSupport.AccountInAnotherResourceDirectory", a6, with(enable_rd_ok, cn, [](R6&, pv::facts& f) { f.account.membership = pv::directory_membership::another_directory; }), errc::not_support_account_in_another_resource_directory, 409, check_step::state},
      {"EnableResourceDirectory for an account whose directory is enabled is EntityAlreadyExists.ResourceDirectory", a6, with(enable_rd_ok, cn, [](R6&, pv::facts& f) { f.account.manages_a_directory = true; }), errc::entity_already_exists_resource_directory, 409, check_step::state},
      {"EnableResourceDirectory with a taken MAName is InvalidParameter.ManagementAccountName.AlreadyUsed", a6, with(enable_rd_ok, cn, [](R6&, pv::facts& f) { f.management_account_name_used = true; }), errc::invalid_parameter_management_account_name_already_used, 409, check_step::state},
      {"EnableResourceDirectory without enterprise name is Invalid.EnterpriseName", a6, with(enable_rd_ok, cn, [](R6&, pv::facts& f) { f.account.enterprise_name_set = false; }), errc::invalid_enterprise_name, 409, check_step::state},
      {"EnableResourceDirectory without real-name verification is EnterpriseRealNameVerificationError", a6, with(enable_rd_ok, cn, [](R6&, pv::facts& f) { f.account.real_name_verified = false; }), errc::enterprise_real_name_verification_error, 409, check_step::state},
      // ChatappMigrationVerified
      {"ChatappMigrationVerified accepts a valid request before the code step", a7, with(chatapp_ok, cn, [](R7&, pv::facts&) {}), errc::ok, 200, check_step::passed},
      {"ChatappMigrationVerified without CustSpaceId is MissingParameter", a7, with(chatapp_ok, cn, [](R7& r, pv::facts&) { r.cust_space_id = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"ChatappMigrationVerified without PhoneNumber is MissingParameter", a7, with(chatapp_ok, cn, [](R7& r, pv::facts&) { r.phone_number = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"ChatappMigrationVerified without VerifyCode is MissingParameter", a7, with(chatapp_ok, cn, [](R7& r, pv::facts&) { r.verify_code = {}; }), errc::missing_parameter, 400, check_step::presence},
      {"ChatappMigrationVerified with a bad phone is InvalidParameter", a7, with(chatapp_ok, cn, [](R7& r, pv::facts&) { r.phone_number = "+8613800001234"; }), errc::invalid_parameter, 400, check_step::syntax},
      {"ChatappMigrationVerified without RAM permission is Ram.PermissionDeny", a7, with(chatapp_ok, cn, [](R7&, pv::facts& f) { f.caller.permitted = false; }), errc::ram_permission_deny, 400, check_step::identity},
      {"ChatappMigrationVerified without the product is Product.Unsubscript", a7, with(chatapp_ok, cn, [](R7&, pv::facts& f) { f.caller.product_subscribed = false; }), errc::product_unsubscript, 400, check_step::identity},
      {"ChatappMigrationVerified on another user's space is Unknown.ResourceOwnerId", a7, with(chatapp_ok, cn, [](R7&, pv::facts& f) { f.space.owned_by_caller = false; }), errc::unknown_resource_owner_id, 400, check_step::identity},
  };
}

// --- The stateful steps ------------------------------------------------------

const pv::secret_key test_key = [] {
  pv::secret_key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(i * 7 + 1);
  return k;
}();
const pv::timestamp t0 = pv::timestamp{std::chrono::milliseconds{1'700'000'000'000}};

// The state of one world: one account's quota, one phone's windows, one
// challenge, one user's rate (enough for the flows of one binding).
struct world {
  pv::daily_usage quota{};
  pv::per_phone_state windows{};
  pv::challenge code{};
  pv::rate_state flow{};
  pv::test::splitmix64 rng{42};
  pv::action_policy policy{};
  pv::send_state send_state() { return {&quota, &windows, &code, &flow}; }
  pv::verify_state verify_state() { return {&code, &flow}; }
};

template <class Request>
pv::send_result send(world& w, const Request& r, const pv::facts& f, pv::timestamp now) {
  return pv::send(w.policy, test_key, r, f, w.send_state(), now, w.rng);
}
// The verdict of a send: its refusal, or the ok verdict of its action.
template <class Request>
pv::verdict send_verdict(world& w, const Request& r, const pv::facts& f, pv::timestamp now) {
  return send(w, r, f, now).error_or(pv::verdict{Request::id});
}
template <class Request>
pv::verdict verify(world& w, const Request& r, const pv::facts& f, pv::timestamp now) {
  return pv::verify(w.policy, test_key, r, f, w.verify_state(), now);
}

// Action 1 sends 101 times in one day (windows relaxed so only the quota counts).
pv::verdict the_101st_send_of_a_day(action which) {
  world w;
  w.policy.per_phone = {{{1000, 1ms}, {1000, 1ms}, {1000, 1ms}}};
  w.policy.code.resend_interval = 0s;
  pv::verdict last;
  for (int i = 0; i < 101; ++i) {
    const auto now = t0 + std::chrono::milliseconds{i};
    if (which == action::send_verification_code_for_bind_secure_mobile_phone)
      last = send_verdict(w, send_bind_ok, china_facts(), now);
    else if (which == action::send_verification_code_for_enable_rd)
      last = send_verdict(w, send_rd_ok, china_facts(), now);
    else
      last = send_verdict(w, contact_ok, china_facts(), now);
    if (i < 100) REQUIRE(last.ok());
  }
  return last;
}

pv::verdict eleventh_cams_request_in_one_second(action which) {
  world w;
  pv::verdict last;
  for (int i = 0; i < 11; ++i) {
    // Invalid requests count too (RULES.md §7 step 1): every other one lacks a parameter.
    pv::get_migration_verify_code_request r = cams_ok;
    if (i % 2 == 1) r.locale = {};
    if (which == action::get_migration_verify_code)
      last = send_verdict(w, r, china_facts(), t0);
    else
      last = verify(w, chatapp_ok, china_facts(), t0);
  }
  return last;
}

pv::verdict wrong_code_for(action consumer) {
  world w;
  if (consumer == action::bind_secure_mobile_phone) {
    REQUIRE(send(w, send_bind_ok, china_facts(), t0).has_value());
    return verify(w, pv::bind_secure_mobile_phone_request{"000000", china_mobile, member_id}, china_facts(), t0 + 1s);
  }
  if (consumer == action::enable_resource_directory) {
    REQUIRE(send(w, send_rd_ok, china_facts(), t0).has_value());
    auto r = enable_rd_ok;
    r.verification_code = "000000";
    return verify(w, r, china_facts(), t0 + 1s);
  }
  REQUIRE(send(w, cams_ok, china_facts(), t0).has_value());
  auto r = chatapp_ok;
  r.verify_code = "000000";
  return verify(w, r, china_facts(), t0 + 1s);
}

}  // namespace

TEST_CASE("each rule of each action gives its documented error, status and step", "[actions]") {
  for (const auto& row : pure_rules()) {
    INFO(row.name);
    const pv::verdict v = row.run();
    CHECK(v.action() == row.act);
    CHECK(pv::code_string(v.error()) == pv::code_string(row.expected));
    CHECK(v.http_status() == row.status);
    CHECK(v.step() == row.step);
    CHECK(v.message() == pv::message(row.expected, row.act));
    CHECK(pv::may_return(row.act, v.error()));
    if (!v.ok()) CHECK(v.reason() != verdict_reason::ok);
  }
}

TEST_CASE("a verdict names the parameter at fault and the precise reason", "[actions]") {
  auto r = contact_ok;
  r.phone_number = "86-139****1234";
  const auto v = pv::check(r, china_facts());
  CHECK(v.at_fault() == pv::parameter::phone_number);
  CHECK(pv::parameter_name(v.at_fault()) == "PhoneNumber");
  CHECK(v.reason() == verdict_reason::bad_syntax);
  CHECK(v.phone_failure() == pv::phone_error::non_digit);
  CHECK(v.position() == 6);
  CHECK(!pv::describe(v.reason()).empty());
}

TEST_CASE("action 1's NotSupport message is action 1's documented and action 3's is action 3's documented", "[actions]") {
  auto f = china_facts();
  f.account.membership = pv::directory_membership::another_directory;
  CHECK(pv::check(send_bind_ok, f).message().starts_with("Your account is a management account"));
  CHECK(pv::check(send_rd_ok, f).message().starts_with("The specified account is an Alibaba Cloud account"));
}

TEST_CASE("the daily quota refuses the 101st send of a day with SendValidateCodeExceedsLimitForAccount", "[actions][quota]") {
  for (action a : {action::send_verification_code_for_bind_secure_mobile_phone,
                   action::send_verification_code_for_enable_rd, action::send_phone_verification_for_message_contact}) {
    INFO(pv::action_name(a));
    const auto v = the_101st_send_of_a_day(a);
    CHECK(v.error() == errc::send_validate_code_exceeds_limit_for_account);
    CHECK(v.http_status() == 409);
    CHECK(v.reason() == verdict_reason::daily_quota_exceeded);
    // The next calendar day at UTC+8 starts at 16:00 UTC.
    CHECK(v.retry_at() > t0);
    CHECK(pv::day_index(v.retry_at(), 8h) == pv::day_index(t0, 8h) + 1);
    CHECK(pv::day_index(v.retry_at() - 1ms, 8h) == pv::day_index(t0, 8h));
  }
}

TEST_CASE("flow control refuses the 11th CAMS request in a second, valid or not, with System.LimitControl", "[actions][quota]") {
  for (action a : {action::get_migration_verify_code, action::chatapp_migration_verified}) {
    INFO(pv::action_name(a));
    const auto v = eleventh_cams_request_in_one_second(a);
    CHECK(v.error() == errc::system_limit_control);
    CHECK(v.step() == check_step::flow_control);
    CHECK(v.http_status() == 400);
    CHECK(v.retry_at() == t0 + 100ms);
  }
}

TEST_CASE("a second send inside the resend interval is refused with the action's limit error", "[actions][quota]") {
  world w;
  REQUIRE(send(w, send_bind_ok, china_facts(), t0).has_value());
  const auto again = send(w, send_bind_ok, china_facts(), t0 + 59s);
  CHECK(again.error().error() == errc::send_validate_code_exceeds_limit_for_account);
  CHECK(again.error().reason() == verdict_reason::resend_too_soon);
  CHECK(again.error().retry_at() == t0 + 60s);
  CHECK(send(w, send_bind_ok, china_facts(), again.error().retry_at()).has_value());

  world cams;
  REQUIRE(send(cams, cams_ok, china_facts(), t0).has_value());
  const auto cams_again = send(cams, cams_ok, china_facts(), t0 + 1s);
  CHECK(cams_again.error().error() == errc::system_limit_control);
  CHECK(cams_again.error().step() == check_step::quota);
}

TEST_CASE("the per-phone windows refuse the 6th code to one phone in an hour, charging nothing", "[actions][quota]") {
  world w;
  for (int i = 0; i < 5; ++i) REQUIRE(send(w, send_bind_ok, china_facts(), t0 + std::chrono::minutes{i}).has_value());
  const pv::daily_usage quota_before = w.quota;
  const pv::challenge code_before = w.code;
  const auto sixth = send(w, send_bind_ok, china_facts(), t0 + 5min);
  CHECK(sixth.error().error() == errc::send_validate_code_exceeds_limit_for_account);
  CHECK(sixth.error().reason() == verdict_reason::phone_window_exceeded);
  CHECK(sixth.error().retry_at() == t0 + 1h);
  CHECK(w.quota == quota_before);  // a denied send consumes nothing
  CHECK(w.code == code_before);
  CHECK(send(w, send_bind_ok, china_facts(), sixth.error().retry_at()).has_value());
}

TEST_CASE("send then bind succeeds with the right code and phone", "[actions][flow]") {
  world w;
  const auto sent = send(w, send_bind_ok, china_facts(), t0);
  REQUIRE(sent.has_value());
  CHECK(sent->expires_at == t0 + 5min);
  // A success is the issued code alone (no verdict, no retry time): send_result's value.
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(*sent)>, pv::issued_code>);
  const auto bound = verify(w, pv::bind_secure_mobile_phone_request{sent->code, china_mobile, member_id},
                            china_facts(), t0 + 30s);
  CHECK(bound.ok());
  CHECK(bound.http_status() == 200);
}

TEST_CASE("bind fails with Invalid.VerificationCode for another phone, an expired, reused or wrong code", "[actions][flow]") {
  SECTION("another phone") {
    world w;
    const auto sent = send(w, send_bind_ok, china_facts(), t0);
    const auto v = verify(w, pv::bind_secure_mobile_phone_request{sent->code, "86-13900004321", member_id},
                          china_facts(), t0 + 1s);
    CHECK(v.error() == errc::invalid_verification_code);
    CHECK(v.code_status() == pv::check_status::other_binding);
  }
  SECTION("another account") {
    world w;
    const auto sent = send(w, send_bind_ok, china_facts(), t0);
    const auto v = verify(w, pv::bind_secure_mobile_phone_request{sent->code, china_mobile, "1234567890123457"},
                          china_facts(), t0 + 1s);
    CHECK(v.error() == errc::invalid_verification_code);
  }
  SECTION("expired") {
    world w;
    const auto sent = send(w, send_bind_ok, china_facts(), t0);
    const auto v = verify(w, pv::bind_secure_mobile_phone_request{sent->code, china_mobile, member_id},
                          china_facts(), sent->expires_at);
    CHECK(v.error() == errc::invalid_verification_code);
    CHECK(v.code_status() == pv::check_status::expired);
  }
  SECTION("reused") {
    world w;
    const auto sent = send(w, send_bind_ok, china_facts(), t0);
    const pv::bind_secure_mobile_phone_request r{sent->code, china_mobile, member_id};
    REQUIRE(verify(w, r, china_facts(), t0 + 1s).ok());
    const auto v = verify(w, r, china_facts(), t0 + 2s);
    CHECK(v.error() == errc::invalid_verification_code);
    CHECK(v.code_status() == pv::check_status::used);
  }
  SECTION("wrong") {
    const auto v = wrong_code_for(action::bind_secure_mobile_phone);
    CHECK(v.error() == errc::invalid_verification_code);
    CHECK(v.http_status() == 409);
    CHECK(v.step() == check_step::code);
    CHECK(v.at_fault() == pv::parameter::verification_code);
  }
}

TEST_CASE("SendVerificationCodeForEnableRD then EnableResourceDirectory closes the flow", "[actions][flow]") {
  world w;
  const auto sent = send(w, send_rd_ok, china_facts(), t0);
  REQUIRE(sent.has_value());
  auto r = enable_rd_ok;
  r.verification_code = sent->code;
  auto wrong_phone = r;
  wrong_phone.ma_secure_mobile_phone = "86-13900004321";
  CHECK(verify(w, wrong_phone, china_facts(), t0 + 1s).error() == errc::invalid_verification_code);
  CHECK(verify(w, r, china_facts(), t0 + 2s).ok());
  CHECK(verify(w, r, china_facts(), t0 + 3s).error() == errc::invalid_verification_code);  // single use
  CHECK(wrong_code_for(action::enable_resource_directory).error() == errc::invalid_verification_code);
}

TEST_CASE("GetMigrationVerifyCode then ChatappMigrationVerified closes the flow", "[actions][flow]") {
  world w;
  const auto sent = send(w, cams_ok, china_facts(), t0);
  REQUIRE(sent.has_value());
  auto r = chatapp_ok;
  r.verify_code = sent->code;
  auto other_space = r;
  other_space.cust_space_id = "293483938841235";
  CHECK(verify(w, other_space, china_facts(), t0 + 1s).error() == errc::invalid_verification_code);
  CHECK(verify(w, r, china_facts(), t0 + 2s).ok());
  const auto reused = verify(w, r, china_facts(), t0 + 3s);
  CHECK(reused.error() == errc::invalid_verification_code);
  CHECK(pv::may_return(action::chatapp_migration_verified, reused.error()));
  CHECK(wrong_code_for(action::chatapp_migration_verified).error() == errc::invalid_verification_code);
}

TEST_CASE("a request that fails a pure step changes no state", "[actions][quota]") {
  world w;
  auto bad = send_bind_ok;
  bad.account_id = "x";
  const auto out = send(w, bad, china_facts(), t0);
  CHECK(out.error().error() == errc::invalid_parameter);
  CHECK(w.quota.used() == 0);
  CHECK(w.windows.size() == 0);
  CHECK(w.code == pv::challenge{});
}

TEST_CASE("every documented error of every action is produced by a rule and nothing else is", "[actions][documented]") {
  std::map<action, std::set<errc>> produced;
  for (const auto& row : pure_rules()) produced[row.act].insert(row.run().error());
  for (action a : {action::send_verification_code_for_bind_secure_mobile_phone,
                   action::send_verification_code_for_enable_rd, action::send_phone_verification_for_message_contact})
    produced[a].insert(the_101st_send_of_a_day(a).error());
  for (action a : {action::get_migration_verify_code, action::chatapp_migration_verified})
    produced[a].insert(eleventh_cams_request_in_one_second(a).error());
  for (action a : {action::bind_secure_mobile_phone, action::enable_resource_directory,
                   action::chatapp_migration_verified})
    produced[a].insert(wrong_code_for(a).error());
  for (action a : pv::all_actions) {
    INFO(pv::action_name(a));
    for (const auto& row : pv::documented_errors(a)) {
      INFO(pv::code_string(row.code));
      CHECK(produced[a].count(row.code) == 1);
    }
    for (errc e : produced[a]) {
      INFO(pv::code_string(e));
      CHECK(pv::may_return(a, e));
    }
  }
}

// --- Precedence: each adjacent pair of RULES.md §7 steps -------------------------

TEST_CASE("a request that breaks two rules gets the one RULES.md §7 puts first", "[actions][order]") {
  const pv::facts cn = china_facts();
  // 1 before 2: flow control counts even a request that lacks parameters.
  {
    world w;
    w.policy.cams_rate = {1, 1000ms};
    auto r = cams_ok;
    REQUIRE(send(w, r, cn, t0).has_value());
    r.locale = {};
    CHECK(send(w, r, cn, t0 + 1ms).error().step() == check_step::flow_control);
  }
  // 2 before 3: a missing parameter before another's bad syntax.
  {
    auto r = cams_ok;
    r.method = {};
    r.cust_space_id = "abc";
    CHECK(pv::check(r, cn).step() == check_step::presence);
  }
  // 3 before 4: bad syntax before a site the phone's code is not accepted on.
  {
    auto r = send_bind_ok;
    r.secure_mobile_phone = uk_mobile;
    r.account_id = "abc";
    CHECK(pv::check(r, cn).error() == errc::invalid_parameter);
    CHECK(pv::check(r, cn).step() == check_step::syntax);
  }
  // 4 before 5: the site before the caller's identity.
  {
    auto f = cn;
    f.caller.kind = pv::caller_kind::other_account;
    auto r = bind_ok;
    r.secure_mobile_phone = uk_mobile;
    CHECK(pv::check(r, f).error() == errc::not_support_site_action);
  }
  // 5 before 6: identity before the state of the entities.
  {
    auto f = cn;
    f.caller.product_subscribed = false;
    f.space.owned_by_caller = false;
    CHECK(pv::check(cams_ok, f).error() == errc::product_unsubscript);
    f = cn;
    f.caller.kind = pv::caller_kind::member_account;
    f.account.secure_phone_bound = true;
    CHECK(pv::check(bind_ok, f).error() == errc::caller_identity_error);
  }
  // 6 before 7: a state error consumes no quota, even with the quota spent.
  {
    world w;
    w.policy.daily.limit = 0;
    auto f = cn;
    f.account.manages_a_directory = true;
    const auto v = send_verdict(w, send_rd_ok, f, t0);
    CHECK(v.error() == errc::entity_already_exists_resource_directory);
    CHECK(w.quota.used() == 0);
  }
  // 7 before 8 has no pair: the consumers have no step 7; 6 before 8: a state error wins over a wrong code.
  {
    world w;
    REQUIRE(send(w, send_bind_ok, cn, t0).has_value());
    auto f = cn;
    f.account.real_name_verified = false;
    const auto v = verify(w, pv::bind_secure_mobile_phone_request{"000000", china_mobile, member_id}, f, t0 + 1s);
    CHECK(v.error() == errc::enterprise_real_name_verification_error);
    // ... and used no attempt of the code.
    CHECK(w.code.attempts() == 0);
  }
}

TEST_CASE("the same requests on both sites give RULES.md §3's answer with each action's own status", "[actions][site]") {
  struct case_row {
    pv::site on;
    std::string_view phone;
    bool accepted;
  };
  const case_row secure[] = {{pv::site::china, china_mobile, true},
                             {pv::site::china, uk_mobile, false},
                             {pv::site::international, china_mobile, false},
                             {pv::site::international, uk_mobile, true}};
  for (const auto& c : secure) {
    auto f = china_facts();
    const pv::action_policy policy = policy_on(pv::default_site_policy(c.on));
    INFO(c.phone << (c.on == pv::site::china ? " china" : " international"));
    const auto v1 =
        pv::check(pv::send_verification_code_for_bind_secure_mobile_phone_request{c.phone, member_id}, f, policy);
    const auto v2 = pv::check(pv::bind_secure_mobile_phone_request{"123456", c.phone, member_id}, f, policy);
    const auto v3 = pv::check(pv::send_verification_code_for_enable_rd_request{c.phone}, f, policy);
    CHECK(v1.ok() == c.accepted);
    CHECK(v2.ok() == c.accepted);
    CHECK(v3.ok() == c.accepted);
    if (!c.accepted) {
      CHECK((v1.error() == errc::invalid_parameter_mobile_country_code && v1.http_status() == 409));
      CHECK((v2.error() == errc::not_support_site_action && v2.http_status() == 400));
      CHECK((v3.error() == errc::invalid_parameter_mobile_country_code && v3.http_status() == 409));
    }
    // Message contacts: only 86, on both sites, 400.
    f.contact.phone = c.phone;
    const auto v5 = pv::check(pv::send_phone_verification_for_message_contact_request{"c-abc123", c.phone}, f, policy);
    const bool is86 = c.phone.starts_with("86-");
    CHECK(v5.ok() == is86);
    if (!is86) CHECK((v5.error() == errc::invalid_parameter_mobile_country_code && v5.http_status() == 400));
  }
}

TEST_CASE("a custom site policy replaces the built-in tables", "[actions][site]") {
  static constexpr std::uint16_t only_uk[] = {44};
  static constexpr pv::site_policy uk_site{pv::make_country_code_set(only_uk), pv::make_country_code_set(only_uk),
                                           pv::country_code_set::all_assigned()};
  pv::action_policy policy;
  policy.sites = uk_site;
  CHECK(pv::check(pv::send_verification_code_for_enable_rd_request{uk_mobile}, china_facts(), policy).ok());
  CHECK(pv::check(pv::send_verification_code_for_enable_rd_request{china_mobile}, china_facts(), policy).error() ==
        errc::invalid_parameter_mobile_country_code);
}

TEST_CASE("which account a daily quota counts is configurable", "[actions][quota]") {
  pv::action_policy policy;
  CHECK(pv::prepare(send_bind_ok, china_facts(), policy)->quota_account == member_id);
  policy.bind_quota_counts = pv::quota_subject::sending_account;
  CHECK(pv::prepare(send_bind_ok, china_facts(), policy)->quota_account == caller_id);
  CHECK(pv::prepare(send_rd_ok, china_facts(), policy)->quota_account == caller_id);
  CHECK(pv::prepare(contact_ok, china_facts(), policy)->quota_account == caller_id);
  policy.message_contact_quota_counts = pv::quota_subject::target_account;
  CHECK(pv::prepare(contact_ok, china_facts(), policy)->quota_account == contact_ok.contact_id);
}

// --- RULES.md §9: a fact that keys state must be given ------------------------

TEST_CASE("an empty caller.account_id that keys state gets the missing_fact verdict and keys no state", "[actions][facts]") {
  pv::facts unnamed = china_facts();
  unnamed.caller.account_id = {};
  struct expectation {
    action act;
    errc code;
    check_step step;
    pv::parameter at_fault;
  };
  auto expect = [](const pv::verdict& v, const expectation& e) {
    INFO(pv::action_name(e.act));
    CHECK(v.action() == e.act);
    CHECK(pv::code_string(v.error()) == pv::code_string(e.code));
    CHECK(v.reason() == verdict_reason::missing_fact);
    CHECK(v.step() == e.step);
    CHECK(v.at_fault() == e.at_fault);
    CHECK(v.http_status() == pv::http_status(e.code, e.act));
    CHECK(pv::may_return(e.act, v.error()));
  };
  const auto none = pv::parameter::none;
  const auto access_key = pv::parameter::access_key_id;
  SECTION("action 1, when its policy counts the sender's quota: CallerIdentityError") {
    pv::action_policy policy;
    policy.bind_quota_counts = pv::quota_subject::sending_account;
    expect(pv::check(send_bind_ok, unnamed, policy),
           {action::send_verification_code_for_bind_secure_mobile_phone, errc::caller_identity_error,
            check_step::identity, none});
    world w;
    w.policy = policy;
    expect(send_verdict(w, send_bind_ok, unnamed, t0),
           {action::send_verification_code_for_bind_secure_mobile_phone, errc::caller_identity_error,
            check_step::identity, none});
    CHECK(w.quota == pv::daily_usage{});
    CHECK(w.code == pv::challenge{});
    // By default action 1 counts the member's quota: the caller keys nothing, so nothing is asked of it.
    CHECK(pv::check(send_bind_ok, unnamed).ok());
  }
  SECTION("action 3: MissingParameter naming AccessKeyId") {
    const expectation e{action::send_verification_code_for_enable_rd, errc::missing_parameter, check_step::presence,
                        access_key};
    expect(pv::check(send_rd_ok, unnamed), e);
    world w;
    expect(send_verdict(w, send_rd_ok, unnamed, t0), e);
    CHECK(w.quota == pv::daily_usage{});
    CHECK(w.windows == pv::per_phone_state{});
    CHECK(w.code == pv::challenge{});
  }
  SECTION("action 4: Ram.PermissionDeny before flow control keys the user's rate") {
    const expectation e{action::get_migration_verify_code, errc::ram_permission_deny, check_step::identity, none};
    expect(pv::check(cams_ok, unnamed), e);
    world w;
    for (int i = 0; i < 12; ++i) expect(send_verdict(w, cams_ok, unnamed, t0), e);  // never System.LimitControl
    CHECK(w.flow == pv::rate_state{});
    CHECK(w.windows == pv::per_phone_state{});
    CHECK(w.code == pv::challenge{});
  }
  SECTION("action 5, when the sender's quota counts (the default): MissingParameter naming AccessKeyId") {
    const expectation e{action::send_phone_verification_for_message_contact, errc::missing_parameter,
                        check_step::presence, access_key};
    expect(pv::check(contact_ok, unnamed), e);
    world w;
    expect(send_verdict(w, contact_ok, unnamed, t0), e);
    CHECK(w.quota == pv::daily_usage{});
    CHECK(w.code == pv::challenge{});
    pv::action_policy policy;
    policy.message_contact_quota_counts = pv::quota_subject::target_account;
    CHECK(pv::check(contact_ok, unnamed, policy).ok());  // the contact keys everything then
  }
  SECTION("EnableResourceDirectory with NewManagementAccount: MissingParameter naming AccessKeyId") {
    const expectation e{action::enable_resource_directory, errc::missing_parameter, check_step::presence, access_key};
    expect(pv::check(enable_rd_ok, unnamed), e);
    world w;
    REQUIRE(send(w, send_rd_ok, china_facts(), t0).has_value());
    const pv::challenge before = w.code;
    auto r = enable_rd_ok;
    r.verification_code = "000000";
    expect(verify(w, r, unnamed, t0 + 1s), e);
    CHECK(w.code == before);  // no attempt used on anyone's challenge
    // CurrentAccount checks no code: the caller keys nothing.
    CHECK(pv::check(pv::enable_resource_directory_request{"CurrentAccount", {}, {}, {}}, unnamed).ok());
  }
  SECTION("ChatappMigrationVerified: Ram.PermissionDeny before flow control keys the user's rate") {
    const expectation e{action::chatapp_migration_verified, errc::ram_permission_deny, check_step::identity, none};
    expect(pv::check(chatapp_ok, unnamed), e);
    world w;
    for (int i = 0; i < 12; ++i) expect(verify(w, chatapp_ok, unnamed, t0), e);
    CHECK(w.flow == pv::rate_state{});
    CHECK(w.code == pv::challenge{});
  }
  SECTION("check_flow_subject: the CAMS actions only") {
    CHECK(pv::check_flow_subject(action::get_migration_verify_code, unnamed).reason() == verdict_reason::missing_fact);
    CHECK(pv::check_flow_subject(action::chatapp_migration_verified, unnamed).reason() == verdict_reason::missing_fact);
    CHECK(pv::check_flow_subject(action::send_verification_code_for_enable_rd, unnamed).ok());
    CHECK(pv::check_flow_subject(action::get_migration_verify_code, china_facts()).ok());
  }
}

// --- RULES.md §9: a forgotten fact refuses -------------------------------------

TEST_CASE("a default-constructed facts gets each action's documented refusal", "[actions][facts]") {
  const pv::facts none{};
  // With nothing given, the unnamed caller is refused first where it keys
  // state; everywhere else the first refusing default answers.
  CHECK(pv::check(send_bind_ok, none).error() == errc::caller_identity_error);
  CHECK(pv::check(bind_ok, none).error() == errc::caller_identity_error);
  CHECK(pv::check(send_rd_ok, none).error() == errc::missing_parameter);
  CHECK(pv::check(cams_ok, none).error() == errc::ram_permission_deny);
  CHECK(pv::check(contact_ok, none).error() == errc::missing_parameter);
  CHECK(pv::check(enable_rd_ok, none).error() == errc::missing_parameter);
  CHECK(pv::check(chatapp_ok, none).error() == errc::ram_permission_deny);
  // With only the caller named (the state key), each action meets a refusing default.
  pv::facts named{};
  named.caller.account_id = caller_id;
  CHECK(pv::check(send_bind_ok, named).reason() == verdict_reason::caller_not_management_identity);
  CHECK(pv::check(bind_ok, named).reason() == verdict_reason::caller_not_management_identity);
  CHECK(pv::check(send_rd_ok, named).error() == errc::not_support_account_in_another_resource_directory);
  CHECK(pv::check(cams_ok, named).reason() == verdict_reason::permission_denied);
  CHECK(pv::check(contact_ok, named).reason() == verdict_reason::contact_phone_mismatch);
  CHECK(pv::check(enable_rd_ok, named).error() == errc::not_support_account_in_another_resource_directory);
  CHECK(pv::check(chatapp_ok, named).reason() == verdict_reason::permission_denied);
  for (const auto& v : {pv::check(send_bind_ok, none), pv::check(bind_ok, none), pv::check(send_rd_ok, none),
                        pv::check(cams_ok, none), pv::check(contact_ok, none), pv::check(enable_rd_ok, none),
                        pv::check(chatapp_ok, none), pv::check(send_bind_ok, named), pv::check(send_rd_ok, named)}) {
    CHECK_FALSE(v.ok());
    CHECK(pv::may_return(v.action(), v.error()));
  }
}

TEST_CASE("each fact that would grant defaults to the value that refuses with its documented error", "[actions][facts]") {
  const pv::caller_facts caller{};
  const pv::account_facts account{};
  const pv::cams_space_facts space{};
  struct row {
    std::string name;
    std::function<pv::verdict()> run;
    errc expected;
  };
  const pv::facts cn = china_facts();
  const row rows[] = {
      {"caller.kind", [&] { auto f = cn; f.caller.kind = caller.kind; return pv::check(send_bind_ok, f); }, errc::caller_identity_error},
      {"caller.kind (action 2)", [&] { auto f = cn; f.caller.kind = caller.kind; return pv::check(bind_ok, f); }, errc::caller_identity_error},
      {"caller.permitted", [&] { auto f = cn; f.caller.permitted = caller.permitted; return pv::check(cams_ok, f); }, errc::ram_permission_deny},
      {"caller.product_subscribed", [&] { auto f = cn; f.caller.product_subscribed = caller.product_subscribed; return pv::check(chatapp_ok, f); }, errc::product_unsubscript},
      {"space.owned_by_caller", [&] { auto f = cn; f.space.owned_by_caller = space.owned_by_caller; return pv::check(cams_ok, f); }, errc::unknown_resource_owner_id},
      {"account.membership", [&] { auto f = cn; f.account.membership = account.membership; return pv::check(send_bind_ok, f); }, errc::not_support_account_in_another_resource_directory},
      {"account.membership (EnableRD)", [&] { auto f = cn; f.account.membership = account.membership; return pv::check(enable_rd_ok, f); }, errc::not_support_account_in_another_resource_directory},
      {"account.enterprise_name_set", [&] { auto f = cn; f.account.enterprise_name_set = account.enterprise_name_set; return pv::check(bind_ok, f); }, errc::invalid_enterprise_name},
      {"account.real_name_verified", [&] { auto f = cn; f.account.real_name_verified = account.real_name_verified; return pv::check(enable_rd_ok, f); }, errc::enterprise_real_name_verification_error},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    const pv::verdict v = r.run();
    CHECK(pv::code_string(v.error()) == pv::code_string(r.expected));
    CHECK(pv::may_return(v.action(), v.error()));
  }
  // And the helper of the tests sets each of them to what grants.
  CHECK(pv::check(send_bind_ok, cn).ok());
  CHECK(pv::check(bind_ok, cn).ok());
  CHECK(pv::check(cams_ok, cn).ok());
  CHECK(pv::check(enable_rd_ok, cn).ok());
}

// --- RULES.md §3, §9: the site is the policy's, held by value -------------------

namespace {
// A policy whose site tables were built at run time in a local that is gone
// when the policy is used.
pv::action_policy policy_from_a_local_site() {
  static constexpr std::uint16_t codes[] = {44, 33};
  pv::site_policy local;
  local.secure_phone = pv::country_code_set::from_codes(codes).value();
  local.message_contact = local.secure_phone;
  local.cams = pv::country_code_set::all_assigned();
  pv::action_policy policy;
  policy.sites = local;
  return policy;
}
// Writes over the stack where the local was.
[[gnu::noinline]] std::uint64_t scribble_on_the_stack() {
  volatile std::uint64_t junk[256];
  for (std::size_t i = 0; i < 256; ++i) junk[i] = ~std::uint64_t{0} - i;
  return junk[7];
}
}  // namespace

TEST_CASE("action_policy holds its site tables by value: a local site_policy may go away", "[actions][site]") {
  const pv::action_policy policy = policy_from_a_local_site();
  CHECK(scribble_on_the_stack() != 0);
  CHECK(pv::check(pv::send_verification_code_for_enable_rd_request{uk_mobile}, china_facts(), policy).ok());
  CHECK(pv::check(pv::send_verification_code_for_enable_rd_request{"33-612345678"}, china_facts(), policy).ok());
  CHECK(pv::check(pv::send_verification_code_for_enable_rd_request{china_mobile}, china_facts(), policy).error() ==
        errc::invalid_parameter_mobile_country_code);
  // The default is the China site.
  CHECK(pv::action_policy{}.sites == pv::china_site_policy);
}

// The site is set in one place: the policy's tables, by value; facts carry none.
static_assert(std::is_same_v<decltype(pv::action_policy{}.sites), pv::site_policy>);
template <class F>
concept names_a_site = requires(F f) { f.on_site; };
static_assert(!names_a_site<pv::facts>);
static_assert(pv::default_action_policy.sites == pv::china_site_policy);
// RULES.md §9 defaults, at compile time.
static_assert(pv::check(send_bind_ok, pv::facts{}).error() == errc::caller_identity_error);
static_assert(pv::check(cams_ok, pv::facts{}).reason() == verdict_reason::missing_fact);
static_assert(pv::parameter_name(pv::parameter::access_key_id) == "AccessKeyId");
static_assert(!pv::describe(verdict_reason::missing_fact).empty());

// Compile time: the pure checks are constant expressions.
static_assert(pv::check(send_bind_ok, china_facts()).ok());
static_assert(pv::check(bind_ok, china_facts()).ok());
static_assert(pv::check(send_rd_ok, china_facts()).ok());
static_assert(pv::check(cams_ok, china_facts()).ok());
static_assert(pv::check(contact_ok, china_facts()).ok());
static_assert(pv::check(enable_rd_ok, china_facts()).ok());
static_assert(pv::check(chatapp_ok, china_facts()).ok());
static_assert(pv::check(send_bind_ok, international_facts(), intl_site).error() ==
              errc::invalid_parameter_mobile_country_code);
static_assert(pv::parameter_name(pv::parameter::ma_secure_mobile_phone) == "MASecureMobilePhone");
static_assert(pv::describe(verdict_reason::flow_control) == "over the per-user request rate");
static_assert(pv::may_return(action::send_verification_code_for_bind_secure_mobile_phone, errc::caller_identity_error));
static_assert(!pv::may_return(action::get_migration_verify_code, errc::invalid_verification_code));
static_assert(pv::info(action::chatapp_migration_verified).flow_control);
static_assert(!pv::info(action::get_migration_verify_code).daily_quota);
static_assert(pv::bind_secure_mobile_phone_request::id == action::bind_secure_mobile_phone);
static_assert([] {
  // A whole send and bind in a constant expression.
  pv::daily_usage quota{};
  pv::per_phone_state windows{};
  pv::challenge code{};
  pv::test::splitmix64 rng{7};
  pv::secret_key key{};
  key[0] = std::byte{1};
  const pv::action_policy policy{};
  const auto t = pv::timestamp{std::chrono::milliseconds{1'700'000'000'000}};
  const auto sent = pv::send(policy, key, send_bind_ok, china_facts(), {&quota, &windows, &code, nullptr}, t, rng);
  if (!sent.has_value()) return false;
  const pv::bind_secure_mobile_phone_request bind{sent->code, china_mobile, member_id};
  return pv::verify(policy, key, bind, china_facts(), {&code, nullptr}, t + std::chrono::seconds{5}).ok();
}());
static_assert(std::is_trivially_copyable_v<pv::verdict>);
static_assert(std::is_trivially_copyable_v<pv::prepared_request>);
static_assert(std::is_trivially_copyable_v<pv::send_result>);

// --- One row per action (action.hpp): each field against what the action does ----

namespace {

using R1 = pv::send_verification_code_for_bind_secure_mobile_phone_request;
using R2 = pv::bind_secure_mobile_phone_request;
using R3 = pv::send_verification_code_for_enable_rd_request;
using R4 = pv::get_migration_verify_code_request;
using R5 = pv::send_phone_verification_for_message_contact_request;
using R6 = pv::enable_resource_directory_request;
using R7 = pv::chatapp_migration_verified_request;
// The seven request types, in the order of action_table.
using request_types = std::tuple<R1, R2, R3, R4, R5, R6, R7>;
static_assert(std::tuple_size_v<request_types> == pv::action_count);

// A request of type R that passes every pure step with china_facts().
template <class R>
constexpr R passing_request() {
  if constexpr (std::is_same_v<R, R1>) return send_bind_ok;
  else if constexpr (std::is_same_v<R, R2>) return bind_ok;
  else if constexpr (std::is_same_v<R, R3>) return send_rd_ok;
  else if constexpr (std::is_same_v<R, R4>) return cams_ok;
  else if constexpr (std::is_same_v<R, R5>) return contact_ok;
  else if constexpr (std::is_same_v<R, R6>) return enable_rd_ok;
  else return chatapp_ok;
}

// Each request's members in declaration order and the parameter each one is
// (written from actions.hpp's structs and RULES.md §1.1, not from the row),
// and which of them holds the phone.
template <class R>
struct request_fields;
template <>
struct request_fields<R1> {
  static constexpr std::string_view R1::*list[] = {&R1::secure_mobile_phone, &R1::account_id};
  static constexpr pv::parameter wire[] = {pv::parameter::secure_mobile_phone, pv::parameter::account_id};
  static constexpr std::size_t phone = 0;
};
template <>
struct request_fields<R2> {
  static constexpr std::string_view R2::*list[] = {&R2::verification_code, &R2::secure_mobile_phone, &R2::account_id};
  static constexpr pv::parameter wire[] = {pv::parameter::verification_code, pv::parameter::secure_mobile_phone, pv::parameter::account_id};
  static constexpr std::size_t phone = 1;
};
template <>
struct request_fields<R3> {
  static constexpr std::string_view R3::*list[] = {&R3::secure_mobile_phone};
  static constexpr pv::parameter wire[] = {pv::parameter::secure_mobile_phone};
  static constexpr std::size_t phone = 0;
};
template <>
struct request_fields<R4> {
  static constexpr std::string_view R4::*list[] = {&R4::cust_space_id, &R4::phone_number, &R4::locale, &R4::method};
  static constexpr pv::parameter wire[] = {pv::parameter::cust_space_id, pv::parameter::phone_number, pv::parameter::locale, pv::parameter::method};
  static constexpr std::size_t phone = 1;
};
template <>
struct request_fields<R5> {
  static constexpr std::string_view R5::*list[] = {&R5::contact_id, &R5::phone_number};
  static constexpr pv::parameter wire[] = {pv::parameter::contact_id, pv::parameter::phone_number};
  static constexpr std::size_t phone = 1;
};
template <>
struct request_fields<R6> {
  static constexpr std::string_view R6::*list[] = {&R6::enable_mode, &R6::ma_name, &R6::ma_secure_mobile_phone,
                                                   &R6::verification_code};
  static constexpr pv::parameter wire[] = {pv::parameter::enable_mode, pv::parameter::ma_name, pv::parameter::ma_secure_mobile_phone, pv::parameter::verification_code};
  static constexpr std::size_t phone = 2;
};
template <>
struct request_fields<R7> {
  static constexpr std::string_view R7::*list[] = {&R7::cust_space_id, &R7::phone_number, &R7::verify_code};
  static constexpr pv::parameter wire[] = {pv::parameter::cust_space_id, pv::parameter::phone_number, pv::parameter::verify_code};
  static constexpr std::size_t phone = 1;
};

// Calls f(std::type_identity<R>{}, std::integral_constant<std::size_t, I>{}) for each request type.
template <class F>
constexpr void for_each_request(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::type_identity<std::tuple_element_t<I, request_types>>{}, std::integral_constant<std::size_t, I>{}), ...);
  }(std::make_index_sequence<pv::action_count>{});
}

// The request with its phone replaced by `text`.
template <class R>
constexpr R with_phone(R r, std::string_view text) {
  r.*request_fields<R>::list[request_fields<R>::phone] = text;
  return r;
}
// The facts of a request whose phone is `dashed`: the bound phone (3, EnableRD) and the contact's (5).
constexpr pv::facts facts_for_phone(std::string_view dashed) {
  pv::facts f = china_facts();
  f.account.secure_phone = dashed;
  f.contact.phone = dashed;
  return f;
}
// A phone spelled in action a's form (its row's phone_form): "86-139..." or "86139...".
std::string spelled(action a, std::string_view dashed) {
  if (pv::info(a).phone_form == pv::phone_format::dashed) return std::string(dashed);
  std::string out;
  for (char c : dashed)
    if (c != '-') out.push_back(c);
  return out;
}

// A whole request through send() or verify(), as its type allows.
template <class R>
pv::verdict run(world& w, const R& r, const pv::facts& f, pv::timestamp now) {
  if constexpr (pv::is_send_request<R>) {
    return send_verdict(w, r, f, now);
  } else {
    return verify(w, r, f, now);
  }
}

// RULES.md §1's wire names, in the enumerator's order.
constexpr std::string_view rules_names[] = {
    "SendVerificationCodeForBindSecureMobilePhone", "BindSecureMobilePhone", "SendVerificationCodeForEnableRD",
    "GetMigrationVerifyCode", "SendPhoneVerificationForMessageContact", "EnableResourceDirectory",
    "ChatappMigrationVerified"};
// Whether the caller's account keys a state of the action (RULES.md §9) under
// a policy where action 1's quota counts the sender: all but action 2.
constexpr bool caller_keys_state[] = {true, false, true, true, true, true, true};

// A policy whose only non-empty set is `kind`'s (every assigned code).
pv::action_policy only_kind(pv::phone_kind kind) {
  pv::action_policy policy;
  policy.sites = {};
  const auto all = pv::country_code_set::all_assigned();
  if (kind == pv::phone_kind::secure_phone) policy.sites.secure_phone = all;
  if (kind == pv::phone_kind::message_contact) policy.sites.message_contact = all;
  if (kind == pv::phone_kind::cams) policy.sites.cams = all;
  return policy;
}
// A policy whose three sets hold every assigned code but 44.
pv::action_policy everything_but_44() {
  pv::site_policy sites;
  sites.secure_phone = sites.message_contact = sites.cams = pv::country_code_set::all_assigned();
  sites.secure_phone.erase(44);
  sites.message_contact.erase(44);
  sites.cams.erase(44);
  return policy_on(sites);
}

}  // namespace

TEST_CASE("every row of action_table matches what its action does", "[actions][table]") {
  for_each_request([](auto type, auto index) {
    using R = typename decltype(type)::type;
    constexpr std::size_t i = decltype(index)::value;
    using fields = request_fields<R>;
    constexpr std::size_t n = std::size(fields::list);
    static_assert(sizeof(R) == n * sizeof(std::string_view), "request_fields lists every member");
    const pv::action_info& row = pv::action_table[i];
    const action a = row.id;
    INFO(pv::action_name(a));

    // id and name
    CHECK(a == pv::all_actions[i]);
    CHECK(R::id == a);
    CHECK(pv::is_action(a));
    CHECK(&pv::info(a) == &row);
    CHECK(pv::action_name(a) == rules_names[i]);
    CHECK(pv::action_from_name(rules_names[i]) == a);

    const R ok = passing_request<R>();
    const pv::facts cn = china_facts();
    REQUIRE(pv::check(ok, cn).ok());
    REQUIRE(pv::check(ok, cn).action() == a);

    // parameters[]: exactly the request's members, in order; a missing k-th is blamed on parameters[k].
    static_assert(std::size(fields::wire) == n);
    for (std::size_t k = 0; k < row.parameters.size(); ++k)
      CHECK(row.parameters[k] == (k < n ? fields::wire[k] : pv::parameter::none));
    pv::facts nothing_bound = cn;
    nothing_bound.account.secure_phone = {};
    R all_missing{};
    for (std::size_t k = 0; k < n; ++k) {
      INFO("parameter " << k);
      R r = ok;
      r.*fields::list[k] = {};
      const pv::verdict v = pv::check(r, nothing_bound);
      CHECK_FALSE(v.ok());
      CHECK(v.step() == check_step::presence);
      CHECK(v.at_fault() == fields::wire[k]);
      all_missing.*fields::list[k] = {};
    }
    CHECK(pv::check(all_missing, nothing_bound).at_fault() == fields::wire[0]);
    CHECK(row.phone_parameter == fields::wire[fields::phone]);

    // phone_form: the passing phone parses in the row's form; in the other form it is a syntax error.
    const std::string_view own_phone = ok.*fields::list[fields::phone];
    const auto number = pv::parse_phone(own_phone, row.phone_form);
    REQUIRE(number.has_value());
    const pv::phone_format other_form =
        row.phone_form == pv::phone_format::dashed ? pv::phone_format::compact : pv::phone_format::dashed;
    const auto other_text = pv::format_phone(*number, other_form);
    const pv::verdict wrong_form = pv::check(with_phone(ok, other_text.view()), cn);
    CHECK(wrong_form.error() == row.phone_error.syntax);
    CHECK(wrong_form.at_fault() == row.phone_parameter);

    // phone_error.syntax: a bad byte in the phone.
    const std::string bad = spelled(a, "86-139x0001234");
    const pv::verdict syntax = pv::check(with_phone(ok, bad), facts_for_phone("86-139x0001234"));
    CHECK(syntax.error() == row.phone_error.syntax);
    CHECK(syntax.step() == check_step::syntax);
    CHECK(syntax.reason() == verdict_reason::bad_syntax);
    CHECK(syntax.phone_failure() == pv::phone_error::non_digit);
    CHECK(syntax.at_fault() == row.phone_parameter);

    // phone_error.unassigned: country code 999.
    const std::string unassigned_text = spelled(a, "999-12345678");
    const pv::verdict unassigned = pv::check(with_phone(ok, unassigned_text), facts_for_phone("999-12345678"));
    CHECK(unassigned.error() == row.phone_error.unassigned);
    CHECK(unassigned.step() == check_step::site);
    CHECK(unassigned.reason() == verdict_reason::unassigned_country_code);
    CHECK(unassigned.at_fault() == row.phone_parameter);

    // phone_error.site: a 44 mobile where the site refuses 44.
    const std::string uk_text = spelled(a, uk_mobile);
    const pv::verdict refused = pv::check(with_phone(ok, uk_text), facts_for_phone(uk_mobile), everything_but_44());
    CHECK(refused.error() == row.phone_error.site);
    CHECK(refused.step() == check_step::site);
    CHECK(refused.reason() == verdict_reason::site_rejects_country_code);
    constexpr auto all = pv::country_code_set::all_assigned();
    CHECK(pv::check(with_phone(ok, uk_text), facts_for_phone(uk_mobile), policy_on({all, all, all})).ok());

    // phone: the one set of the site policy that governs the phone.
    for (pv::phone_kind kind : {pv::phone_kind::secure_phone, pv::phone_kind::message_contact, pv::phone_kind::cams}) {
      const pv::verdict v = pv::check(ok, cn, only_kind(kind));
      CHECK(v.ok() == (kind == row.phone));
      if (!v.ok()) CHECK(v.error() == row.phone_error.site);
    }

    // mobile_only: a fixed-line 86 number.
    const std::string fixed_text = spelled(a, "86-1012345678");
    const pv::verdict fixed = pv::check(with_phone(ok, fixed_text), facts_for_phone("86-1012345678"));
    CHECK(fixed.ok() == !row.mobile_only);
    if (row.mobile_only) {
      CHECK(fixed.error() == row.phone_error.syntax);
      CHECK(fixed.reason() == verdict_reason::not_a_mobile_number);
    }

    // sends: the request type's kind, and whether a code is issued.
    CHECK(row.sends == pv::is_send_request<R>);
    CHECK(row.sends == !pv::is_verify_request<R>);
    {
      world w;
      (void)run(w, ok, cn, t0);
      CHECK((w.code != pv::challenge{}) == row.sends);
      CHECK((w.windows != pv::per_phone_state{}) == row.sends);
    }
    if (row.sends) {
      CHECK(row.code_of == a);
      CHECK(row.code_parameter == pv::parameter::none);
    }

    // flow_control: the 11th request in a second is System.LimitControl; nothing else meters the rate.
    {
      world w;
      pv::verdict last;
      for (int k = 0; k < 11; ++k) {
        last = run(w, ok, cn, t0);
        if (k < 10) CHECK(last.step() != check_step::flow_control);
      }
      CHECK((last.step() == check_step::flow_control) == row.flow_control);
      CHECK((w.flow != pv::rate_state{}) == row.flow_control);
      if (row.flow_control) {
        CHECK(last.error() == errc::system_limit_control);
        CHECK(last.error() == row.limit_error);  // the limit of a row with flow control
      }
    }

    // daily_quota: the 101st send of a day is refused with the row's limit error.
    if (row.sends) {
      world w;
      w.policy.per_phone = {{{1000, 1ms}, {1000, 1ms}, {1000, 1ms}}};
      w.policy.code.resend_interval = 0s;
      for (int k = 0; k < 100; ++k) REQUIRE(run(w, ok, cn, t0 + std::chrono::seconds{k}).ok());
      const pv::verdict v101 = run(w, ok, cn, t0 + 100s);
      CHECK(v101.ok() == !row.daily_quota);
      CHECK(w.quota.used() == (row.daily_quota ? 100u : 0u));
      if (row.daily_quota) {
        CHECK(v101.error() == row.limit_error);
        CHECK(v101.reason() == verdict_reason::daily_quota_exceeded);
      }
      // limit_error: a second send inside the resend interval.
      world again;
      REQUIRE(run(again, ok, cn, t0).ok());
      const pv::verdict soon = run(again, ok, cn, t0 + 1s);
      CHECK(soon.error() == row.limit_error);
      CHECK(soon.reason() == verdict_reason::resend_too_soon);
    } else {
      CHECK_FALSE(row.daily_quota);
      world w;
      (void)run(w, ok, cn, t0);
      CHECK(w.quota == pv::daily_usage{});
    }

    // code_of: a consumer accepts the code of exactly that sender; code_parameter is blamed for a wrong code.
    if constexpr (pv::is_verify_request<R>) {
      CHECK(pv::info(row.code_of).sends);
      std::size_t code_field = n;
      for (std::size_t k = 0; k < n; ++k)
        if (row.parameters[k] == row.code_parameter) code_field = k;
      REQUIRE(code_field < n);
      int accepted = 0;
      for_each_request([&](auto sender_type, auto) {
        using S = typename decltype(sender_type)::type;
        if constexpr (pv::is_send_request<S>) {
          INFO("code of " << pv::action_name(S::id));
          world w;
          const auto sent = send(w, passing_request<S>(), cn, t0);
          REQUIRE(sent.has_value());
          R r = ok;
          r.*fields::list[code_field] = sent->code.view();
          const pv::verdict v = verify(w, r, cn, t0 + 1s);
          CHECK(v.ok() == (S::id == row.code_of));
          accepted += v.ok();
        }
      });
      CHECK(accepted == 1);
      for_each_request([&](auto sender_type, auto) {
        using S = typename decltype(sender_type)::type;
        if constexpr (pv::is_send_request<S>) {
          if (S::id != row.code_of) return;
          world w;
          REQUIRE(send(w, passing_request<S>(), cn, t0).has_value());
          R r = ok;
          r.*fields::list[code_field] = "000000";
          const pv::verdict v = verify(w, r, cn, t0 + 1s);
          CHECK(v.error() == errc::invalid_verification_code);
          CHECK(v.at_fault() == row.code_parameter);
          CHECK(v.code_status() != pv::check_status::ok);
          // The limit of a consumer without flow control is its failed check.
          if (!row.flow_control) CHECK(v.error() == row.limit_error);
        }
      });
    }

    // returns_*: what render_success emits for the action.
    {
      std::array<char, 2048> buffer{};
      const pv::success_fields sf{"DCD43660-75DD-5D15-B342-1B83FCA5B913", "2021-12-17T07:38:41.747Z", "ok",
                                  "8613800001234", "id-1", "none"};
      const auto rendered = pv::render_success(buffer, pv::body_format::json, a, sf);
      REQUIRE(rendered.ok());
      const std::string_view body(buffer.data(), rendered.size);
      CHECK((body.find("ExpirationDate") != std::string_view::npos) == row.returns_expiration_date);
      CHECK((body.find("PhoneNumber") != std::string_view::npos) == row.returns_phone_number);
    }

    // unnamed_caller_error: an empty caller.account_id where it keys state.
    {
      pv::facts unnamed = cn;
      unnamed.caller.account_id = {};
      pv::action_policy policy;
      policy.bind_quota_counts = pv::quota_subject::sending_account;
      const pv::verdict v = pv::check(ok, unnamed, policy);
      CHECK(v.ok() == !caller_keys_state[i]);
      if (caller_keys_state[i]) {
        CHECK(v.error() == row.unnamed_caller_error);
        CHECK(v.reason() == verdict_reason::missing_fact);
        CHECK(pv::may_return(a, row.unnamed_caller_error));
        if (row.unnamed_caller_error == errc::missing_parameter) CHECK(v.at_fault() == pv::parameter::access_key_id);
      }
    }
  });
}

// The rows at compile time: one request type per row, in order, with its kind.
static_assert([] {
  bool ok = true;
  for_each_request([&](auto type, auto index) {
    using R = typename decltype(type)::type;
    constexpr pv::action_info row = pv::action_table[decltype(index)::value];
    ok = ok && R::id == row.id && pv::is_send_request<R> == row.sends && pv::is_verify_request<R> == !row.sends &&
         pv::action_request<R> && pv::check(passing_request<R>(), china_facts()).action() == row.id;
  });
  return ok;
}());
static_assert(!pv::action_request<int> && !pv::is_send_request<int> && !pv::is_verify_request<int>);
static_assert(!pv::is_action(static_cast<action>(pv::action_count)));
// ... and the rows say what RULES.md §1, §2, §4 and §7 say, written out here independently.
static_assert([] {
  constexpr bool sends[] = {true, false, true, true, true, false, false};        // §1
  constexpr bool mobile[] = {true, true, true, false, true, true, false};        // §2
  constexpr bool flow[] = {false, false, false, true, false, false, true};       // §4, §7 step 1 (CAMS)
  constexpr bool daily[] = {true, false, true, false, true, false, false};       // §4
  constexpr action code_of[] = {action::send_verification_code_for_bind_secure_mobile_phone,
                                action::send_verification_code_for_bind_secure_mobile_phone,
                                action::send_verification_code_for_enable_rd, action::get_migration_verify_code,
                                action::send_phone_verification_for_message_contact,
                                action::send_verification_code_for_enable_rd, action::get_migration_verify_code};  // appendix A
  for (std::size_t i = 0; i < pv::action_count; ++i) {
    const pv::action_info& row = pv::action_table[i];
    if (row.sends != sends[i] || row.mobile_only != mobile[i] || row.flow_control != flow[i] ||
        row.daily_quota != daily[i] || row.code_of != code_of[i])
      return false;
  }
  return true;
}());

// --- One phone check (RULES.md §2, §3): check() and check_phone_for_action agree ---

namespace {
constexpr R1 fixed_line_send_bind{"86-2012345678", member_id};
constexpr std::uint16_t only_86[] = {86};
constexpr pv::site_policy cams_without_44{pv::china_site_policy.secure_phone, pv::china_site_policy.message_contact,
                                          pv::make_country_code_set(only_86)};
constexpr R4 cams_uk{"293483938841234", "447911123456", "zh_CN", "sms"};
}  // namespace

TEST_CASE("the two former disagreements answer InvalidParameter in check() and check_phone_for_action alike", "[actions][site]") {
  SECTION("action 1, China site, fixed-line 86-2012345678: InvalidParameter, not InvalidParameter.PhoneNumber") {
    const auto v = pv::check(fixed_line_send_bind, china_facts());
    CHECK(v.error() == errc::invalid_parameter);
    CHECK(v.error() != errc::invalid_parameter_phone_number);
    CHECK(v.reason() == verdict_reason::not_a_mobile_number);
    const auto text = pv::check_phone_for_action(pv::china_site_policy, fixed_line_send_bind.id,
                                                 fixed_line_send_bind.secure_mobile_phone);
    REQUIRE_FALSE(text.has_value());
    CHECK(text.error().wire_error == errc::invalid_parameter);
    const auto parsed = pv::check_phone_for_action(
        pv::site::china, fixed_line_send_bind.id, *pv::parse_phone("86-2012345678", pv::phone_format::dashed));
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().wire_error == errc::invalid_parameter);
    CHECK(parsed.error().refusal == pv::phone_refusal::not_a_mobile_number);
  }
  SECTION("GetMigrationVerifyCode, a custom site whose CAMS set lacks 44: InvalidParameter, not .MobileCountryCode") {
    const auto v = pv::check(cams_uk, china_facts(), policy_on(cams_without_44));
    CHECK(v.error() == errc::invalid_parameter);
    CHECK(v.error() != errc::invalid_parameter_mobile_country_code);
    CHECK(v.reason() == verdict_reason::site_rejects_country_code);
    const auto phone = pv::check_phone_for_action(cams_without_44, cams_uk.id, cams_uk.phone_number);
    REQUIRE_FALSE(phone.has_value());
    CHECK(phone.error().wire_error == errc::invalid_parameter);
    CHECK(phone.error().refusal == pv::phone_refusal::site);
    CHECK(pv::check(cams_uk, china_facts()).ok());  // the built-in sites take 44 for CAMS
  }
}
static_assert(pv::check(fixed_line_send_bind, china_facts()).error() == errc::invalid_parameter);
static_assert(pv::check_phone_for_action(pv::china_site_policy, fixed_line_send_bind.id, "86-2012345678")
                  .error()
                  .wire_error == errc::invalid_parameter);
static_assert(pv::check(cams_uk, china_facts(), policy_on(cams_without_44)).error() == errc::invalid_parameter);
static_assert(pv::check_phone_for_action(cams_without_44, cams_uk.id, "447911123456").error().wire_error ==
              errc::invalid_parameter);

TEST_CASE("check() refuses a phone exactly as check_phone_for_action does, for every action, site and phone", "[actions][site]") {
  const pv::site_policy custom{pv::make_country_code_set(only_86), pv::make_country_code_set(only_86),
                               pv::make_country_code_set(only_86)};
  const pv::site_policy* policies[] = {&pv::china_site_policy, &pv::international_site_policy, &cams_without_44,
                                       &custom};
  const std::string_view phones[] = {china_mobile, "86-1012345678", uk_mobile, "999-12345678", "86-139x0001234",
                                     "1-2015550123"};
  std::size_t compared = 0;
  for_each_request([&](auto type, auto) {
    using R = typename decltype(type)::type;
    const action a = R::id;
    for (const pv::site_policy* sites : policies)
      for (std::string_view dashed : phones) {
        const std::string text = spelled(a, dashed);
        INFO(pv::action_name(a) << " " << text);
        const pv::verdict v = pv::check(with_phone(passing_request<R>(), text), facts_for_phone(dashed), policy_on(*sites));
        const auto phone = pv::check_phone_for_action(*sites, a, text);
        ++compared;
        if (phone) {
          CHECK(v.ok());
          continue;
        }
        const pv::phone_rejection& why = phone.error();
        CHECK(v.error() == why.wire_error);
        CHECK(v.at_fault() == pv::info(a).phone_parameter);
        CHECK(v.step() == (why.at_syntax_step() ? check_step::syntax : check_step::site));
        switch (why.refusal) {
          case pv::phone_refusal::syntax:
            CHECK(v.reason() == verdict_reason::bad_syntax);
            CHECK(v.phone_failure() == why.parse_error);
            CHECK(v.position() == why.position);
            break;
          case pv::phone_refusal::not_a_mobile_number: CHECK(v.reason() == verdict_reason::not_a_mobile_number); break;
          case pv::phone_refusal::unassigned_country_code:
            CHECK(v.reason() == verdict_reason::unassigned_country_code);
            CHECK(v.phone_failure() == pv::phone_error::unassigned_country_code);
            break;
          case pv::phone_refusal::site: CHECK(v.reason() == verdict_reason::site_rejects_country_code); break;
        }
      }
  });
  CHECK(compared == pv::action_count * std::size(policies) * std::size(phones));
}

// --- verdict: named accessors, computed status and message, one log line ------

TEST_CASE("a verdict's http_status and message are its action's documented ones for its error", "[actions][verdict]") {
  for (action a : pv::all_actions) {
    INFO(pv::action_name(a));
    const pv::verdict ok{a};
    CHECK(ok.ok());
    CHECK(static_cast<bool>(ok));
    CHECK(ok.action() == a);
    CHECK(ok.error() == errc::ok);
    CHECK(ok.http_status() == 200);
    CHECK(ok.message().empty());
    CHECK(ok.code_string().empty());
    CHECK(ok.step() == check_step::passed);
    CHECK(ok.reason() == verdict_reason::ok);
    CHECK(ok.retry_at() == pv::timestamp{});
    REQUIRE_FALSE(pv::documented_errors(a).empty());
    for (const pv::documented_error& row : pv::documented_errors(a)) {
      INFO(pv::code_string(row.code));
      const pv::verdict v{a, row.code, check_step::state, verdict_reason::account_not_found};
      CHECK_FALSE(v.ok());
      CHECK(v.error() == row.code);
      CHECK(v.code_string() == pv::code_string(row.code));
      CHECK(v.http_status() == row.http_status);
      CHECK(v.message() == row.message);
      CHECK_FALSE(v == ok);
      CHECK(v == pv::verdict{a, row.code, check_step::state, verdict_reason::account_not_found});
    }
  }
  // The same error, another action: that action's status and message (RULES.md §6).
  const pv::verdict a1{action::send_verification_code_for_bind_secure_mobile_phone,
                       errc::not_support_account_in_another_resource_directory, check_step::state,
                       verdict_reason::account_in_another_directory};
  const pv::verdict a3{action::send_verification_code_for_enable_rd,
                       errc::not_support_account_in_another_resource_directory, check_step::state,
                       verdict_reason::account_in_another_directory};
  CHECK(a1.message() != a3.message());
  CHECK_FALSE(a1 == a3);
}
static_assert([] {
  // At compile time: every documented row's status and message, computed.
  for (action a : pv::all_actions)
    for (const pv::documented_error& row : pv::documented_errors(a)) {
      const pv::verdict v{a, row.code, check_step::state, verdict_reason::account_not_found};
      if (v.http_status() != row.http_status || v.message() != row.message) return false;
    }
  return true;
}());
static_assert(pv::verdict{action::get_migration_verify_code}.http_status() == 200);
static_assert(pv::verdict{action::get_migration_verify_code, errc::system_limit_control, check_step::flow_control,
                          verdict_reason::flow_control}
                  .message() == "The system is under flow control.");

namespace {
constexpr R5 contact_masked{"c-qL4HqKONzOM7ab", "86-139****1234"};
constexpr R1 bad_account{china_mobile, "12a4"};
constexpr R1 unassigned_send_bind{"999-12345678", member_id};
}  // namespace

TEST_CASE("phone_failure, param_failure and code_status read the detail of their own reason, none or ok otherwise", "[actions][verdict]") {
  const auto none = pv::phone_error::none;
  const auto no_param = pv::param_reason::ok;
  const auto no_code = pv::check_status::ok;
  SECTION("a phone's bad syntax") {
    const auto v = pv::check(contact_masked, china_facts());
    CHECK(v.phone_failure() == pv::phone_error::non_digit);
    CHECK(v.param_failure() == no_param);
    CHECK(v.code_status() == no_code);
  }
  SECTION("an unassigned country code") {
    const auto v = pv::check(unassigned_send_bind, china_facts());
    CHECK(v.reason() == verdict_reason::unassigned_country_code);
    CHECK(v.phone_failure() == pv::phone_error::unassigned_country_code);
    CHECK(v.param_failure() == no_param);
    CHECK(v.code_status() == no_code);
  }
  SECTION("another parameter's bad syntax") {
    const auto v = pv::check(bad_account, china_facts());
    CHECK(v.at_fault() == pv::parameter::account_id);
    CHECK(v.param_failure() == pv::check_account_id("12a4").reason);
    CHECK(v.param_failure() != no_param);
    CHECK(v.position() == pv::check_account_id("12a4").position);
    CHECK(v.phone_failure() == none);
    CHECK(v.code_status() == no_code);
  }
  SECTION("a wrong code") {
    const auto v = wrong_code_for(action::bind_secure_mobile_phone);
    CHECK(v.code_status() == pv::check_status::wrong_code);
    CHECK(v.phone_failure() == none);
    CHECK(v.param_failure() == no_param);
  }
  SECTION("a verdict without a detail") {
    for (const pv::verdict& v : {pv::verdict{action::bind_secure_mobile_phone}, pv::check(send_bind_ok, pv::facts{}),
                                 the_101st_send_of_a_day(action::send_verification_code_for_enable_rd),
                                 pv::check(bind_ok, china_facts())}) {
      INFO(pv::describe(v).view());
      CHECK(v.phone_failure() == none);
      CHECK(v.param_failure() == no_param);
      CHECK(v.code_status() == no_code);
    }
  }
}
static_assert(pv::check(contact_masked, china_facts()).phone_failure() == pv::phone_error::non_digit);
static_assert(pv::check(contact_masked, china_facts()).param_failure() == pv::param_reason::ok);
static_assert(pv::check(bad_account, china_facts()).param_failure() == pv::check_account_id("12a4").reason);
static_assert(pv::check(bad_account, china_facts()).phone_failure() == pv::phone_error::none);
static_assert(pv::verdict{action::bind_secure_mobile_phone, errc::invalid_verification_code, check_step::code,
                          verdict_reason::code_rejected, pv::parameter::verification_code,
                          static_cast<std::uint8_t>(pv::check_status::expired)}
                  .code_status() == pv::check_status::expired);
static_assert(pv::verdict{action::bind_secure_mobile_phone}.code_status() == pv::check_status::ok);

TEST_CASE("describe(verdict) names the action, status, wire code, reason, detail, parameter, byte and masked phone", "[actions][verdict]") {
  const auto contains = [](std::string_view line, std::string_view part) {
    return line.find(part) != std::string_view::npos;
  };
  SECTION("a wrong code, with the request's phone") {
    world w;
    const auto sent = send(w, send_bind_ok, china_facts(), t0);
    REQUIRE(sent.has_value());
    const std::string issued(sent->code.view());
    const std::string submitted = issued == "314159" ? "271828" : "314159";
    const auto v = verify(w, R2{submitted, china_mobile, member_id}, china_facts(), t0 + 1s);
    REQUIRE(v.code_status() == pv::check_status::wrong_code);
    const auto phone = pv::parse_phone(china_mobile, pv::phone_format::dashed);
    const auto line_text = pv::describe(v, *phone);
    const std::string_view line = line_text.view();
    INFO(line);
    CHECK(line.starts_with("BindSecureMobilePhone 409 Invalid.VerificationCode"));
    CHECK(contains(line, pv::describe(verdict_reason::code_rejected)));
    CHECK(contains(line, "(wrong_code)"));
    CHECK(contains(line, pv::status_name(pv::check_status::wrong_code)));
    CHECK(contains(line, "parameter VerificationCode"));
    CHECK(contains(line, "86-139****1234"));
    CHECK_FALSE(contains(line, "13900001234"));  // never the unmasked national number
    CHECK_FALSE(contains(line, submitted));      // nor a submitted code
    CHECK_FALSE(contains(line, issued));         // nor the issued one
    CHECK_FALSE(contains(pv::describe(v).view(), "phone"));  // no phone given, none written
  }
  SECTION("a phone's bad syntax: the reason in words, the parser's reason, the parameter and the byte") {
    const auto v = pv::check(contact_masked, china_facts());
    const auto line_text = pv::describe(v);
    const std::string_view line = line_text.view();
    INFO(line);
    CHECK(line.starts_with("SendPhoneVerificationForMessageContact 400 InvalidParameter.PhoneNumber: "));
    CHECK(contains(line, pv::describe(verdict_reason::bad_syntax)));
    CHECK(contains(line, pv::describe(pv::phone_error::non_digit)));
    CHECK(contains(line, "parameter PhoneNumber at byte 6"));
  }
  SECTION("another parameter's bad syntax") {
    const auto v = pv::check(bad_account, china_facts());
    const auto line_text = pv::describe(v);
    INFO(line_text.view());
    CHECK(contains(line_text.view(), pv::describe(pv::check_account_id("12a4").reason)));
    CHECK(contains(line_text.view(), "parameter AccountId at byte "));
  }
  SECTION("a limit: its retry time") {
    const auto v = the_101st_send_of_a_day(action::send_verification_code_for_bind_secure_mobile_phone);
    const auto line_text = pv::describe(v);
    INFO(line_text.view());
    CHECK(contains(line_text.view(), "SendValidateCodeExceedsLimitForAccount"));
    CHECK(contains(line_text.view(), pv::describe(verdict_reason::daily_quota_exceeded)));
    CHECK(contains(line_text.view(), std::string("; retry at ") + std::string(pv::format_iso8601(v.retry_at()).view())));
  }
  SECTION("an ok verdict") {
    CHECK(pv::describe(pv::verdict{action::chatapp_migration_verified}).view() == "ChatappMigrationVerified 200 ok");
  }
  SECTION("every verdict of the rule table fits and starts with its action") {
    for (const auto& row : pure_rules()) {
      const pv::verdict v = row.run();
      const auto line = pv::describe(v, pv::parse_phone(uk_mobile, pv::phone_format::dashed).value());
      INFO(line.view());
      CHECK(line.view().starts_with(pv::action_name(v.action())));
      CHECK(contains(line.view(), std::to_string(v.http_status())));
      CHECK(contains(line.view(), v.code_string()));
      CHECK(line.size() <= line.capacity());
      CHECK(line.view().ends_with(std::string("; phone ") + std::string(pv::mask_phone(*pv::parse_phone(uk_mobile, pv::phone_format::dashed)).view())));
      CHECK_FALSE(contains(line.view(), "7911123456"));
    }
  }
}
namespace {
// string_view::find, by hand: usable in a constant expression on every compiler.
constexpr bool has_part(std::string_view line, std::string_view part) {
  for (std::size_t i = 0; i + part.size() <= line.size(); ++i)
    if (line.substr(i, part.size()) == part) return true;
  return false;
}
}  // namespace
static_assert([] {
  const auto line = pv::describe(pv::check(contact_masked, china_facts()));
  return has_part(line.view(), "parameter PhoneNumber at byte 6") &&
         has_part(line.view(), pv::describe(pv::phone_error::non_digit));
}());
static_assert(pv::describe(pv::verdict{action::bind_secure_mobile_phone},
                           pv::parse_phone("86-13900001234", pv::phone_format::dashed).value())
                  .view() == "BindSecureMobilePhone 200 ok; phone 86-139****1234");

// --- prepare: a success is a prepared_request, a failure a verdict ------------------

TEST_CASE("prepare answers the verdict of a refusal, or a prepared_request with the parsed phone", "[actions][prepare]") {
  SECTION("a failure is the verdict check() gives") {
    const auto p = pv::prepare(bad_account, china_facts());
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error() == pv::check(bad_account, china_facts()));
    CHECK(p.error().error() == errc::invalid_parameter);
  }
  SECTION("a success carries the action, the binding with the parsed phone, the quota account and the code") {
    struct expected {
      std::string_view phone;
      std::string_view binding_account;
      std::string_view quota_account;
      std::string_view submitted_code;
    };
    const expected want[] = {
        {china_mobile, member_id, member_id, {}},                    // 1: the member's quota by default
        {china_mobile, member_id, {}, "123456"},                     // 2
        {china_mobile, caller_id, caller_id, {}},                    // 3
        {"86-13800001234", "293483938841234", {}, {}},               // 4: no daily quota
        {china_mobile, "c-qL4HqKONzOM7ab", caller_id, {}},           // 5: the sender's quota by default
        {china_mobile, caller_id, {}, "123456"},                     // 6
        {"86-13800001234", "293483938841234", {}, "123456"},         // 7
    };
    for_each_request([&](auto type, auto index) {
      using R = typename decltype(type)::type;
      const expected& e = want[decltype(index)::value];
      INFO(pv::action_name(R::id));
      const pv::preparation p = pv::prepare(passing_request<R>(), china_facts());
      REQUIRE(p.has_value());
      CHECK(p->action == R::id);
      REQUIRE(p->binding.has_value());
      CHECK(p->binding->phone == pv::parse_phone(e.phone, pv::phone_format::dashed).value());
      CHECK(p->binding->purpose == pv::info(R::id).code_of);
      CHECK(p->binding->account_id == e.binding_account);
      CHECK(p->quota_account == e.quota_account);
      CHECK(p->submitted_code == e.submitted_code);
      CHECK(p->needs_code() == !pv::info(R::id).sends);
      CHECK(pv::check(passing_request<R>(), china_facts()) == pv::verdict{R::id});
    });
  }
  SECTION("action 3 without a phone binds the account's phone, parsed") {
    pv::facts f = china_facts();
    f.account.secure_phone = uk_mobile;
    const auto p = pv::prepare(R3{}, f, intl_site);
    REQUIRE(p.has_value());
    CHECK(p->binding->phone == pv::parse_phone(uk_mobile, pv::phone_format::dashed).value());
  }
  SECTION("EnableResourceDirectory with CurrentAccount involves no code") {
    const auto p = pv::prepare(R6{"CurrentAccount", {}, {}, {}}, china_facts());
    REQUIRE(p.has_value());
    CHECK_FALSE(p->binding.has_value());
    CHECK_FALSE(p->needs_code());
    CHECK(p->submitted_code.empty());
  }
}
static_assert(pv::prepare(send_bind_ok, china_facts())->binding->phone ==
              pv::parse_phone(china_mobile, pv::phone_format::dashed).value());
static_assert(!pv::prepare(send_bind_ok, china_facts())->needs_code());
static_assert(pv::prepare(bind_ok, china_facts())->needs_code());
static_assert(pv::prepare(chatapp_ok, china_facts())->needs_code());
static_assert(pv::prepare(enable_rd_ok, china_facts())->needs_code());
static_assert(!pv::prepare(R6{"CurrentAccount", {}, {}, {}}, china_facts())->needs_code());
static_assert(pv::prepare(bad_account, china_facts()).error() == pv::check(bad_account, china_facts()));
static_assert(std::is_same_v<pv::preparation, pv::result<pv::prepared_request, pv::verdict>>);

// --- finish_send with a code drawn beforehand (draw_code): how the embedded
// engine sends, drawing outside its locks. The same verdicts and state as
// finish_send with the generator, the code drawn from that generator's state.

namespace {

enum class drawn_send_op : std::uint8_t { send, wrong_check };
struct drawn_send_step {
  drawn_send_op what;
  std::int64_t ms;  // after t0
  verdict_reason reason;  // expected of a send (ok: admitted)
};

// Each send of `steps` runs in two worlds: finish_send with the world's
// generator, and draw_code from a copy of that generator (in its state before
// the send) then finish_send with the drawn code. -1 when both give the same
// verdict, code, expiry and states at every step, else the first step that differs.
template <std::size_t N>
constexpr int drawn_send_matches(const pv::action_policy& policy, const pv::secret_key& key,
                                 const std::array<drawn_send_step, N>& steps) {
  pv::daily_usage quota_a{}, quota_b{};
  pv::per_phone_state windows_a{}, windows_b{};
  pv::challenge code_a{}, code_b{};
  pv::test::splitmix64 rng{42};
  pv::inline_string<pv::code_max_digits> last;
  const pv::preparation p = pv::prepare(send_bind_ok, china_facts(), policy);
  if (!p) return 0;
  for (std::size_t i = 0; i < N; ++i) {
    const drawn_send_step& st = steps[i];
    const pv::timestamp now = pv::timestamp{std::chrono::milliseconds{1'700'000'000'000 + st.ms}};  // t0's instant
    if (st.what == drawn_send_op::send) {
      pv::test::splitmix64 copy = rng;
      const pv::send_result by_rng = pv::finish_send(policy, key, *p, {&quota_a, &windows_a, &code_a, nullptr}, now, rng);
      const auto drawn = pv::draw_code(policy.code, key, *p->binding, copy);
      if (!drawn) return static_cast<int>(i);
      const pv::send_result by_drawn = pv::finish_send(policy, *drawn, *p, {&quota_b, &windows_b, &code_b, nullptr}, now);
      if (by_rng.has_value() != by_drawn.has_value()) return static_cast<int>(i);
      if (by_rng) {
        if (st.reason != verdict_reason::ok || by_rng->code != by_drawn->code ||
            by_rng->expires_at != by_drawn->expires_at || copy() != rng())
          return static_cast<int>(i);
        last = by_rng->code;
      } else if (!(by_rng.error() == by_drawn.error()) || by_rng.error().reason() != st.reason) {
        return static_cast<int>(i);
      }
    } else {
      pv::inline_string<pv::code_max_digits> wrong;
      for (std::size_t k = 0; k + 1 < last.size(); ++k) wrong.push_back(last[k]);
      wrong.push_back(last[last.size() - 1] == '0' ? '1' : '0');
      const pv::bind_secure_mobile_phone_request bind{wrong.view(), china_mobile, member_id};
      const pv::preparation q = pv::prepare(bind, china_facts(), policy);
      if (!q) return static_cast<int>(i);
      if (!(pv::finish_verify(policy, key, *q, code_a, now) == pv::finish_verify(policy, key, *q, code_b, now)))
        return static_cast<int>(i);
    }
    if (!(quota_a == quota_b) || !(windows_a == windows_b) || !(code_a == code_b)) return static_cast<int>(i);
  }
  return -1;
}

// Resend interval 30 s, 1 code per phone per minute, 3 per account per day,
// locked after 3 failures.
constexpr pv::action_policy drawn_policy = [] {
  pv::action_policy p;
  p.code.resend_interval = 30s;
  p.code.max_consecutive_failures = 3;
  p.daily.limit = 3;
  return p;
}();
constexpr std::array<drawn_send_step, 11> drawn_sends{{
    {drawn_send_op::send, 0, verdict_reason::ok},
    {drawn_send_op::send, 10'000, verdict_reason::resend_too_soon},
    {drawn_send_op::send, 40'000, verdict_reason::phone_window_exceeded},
    {drawn_send_op::send, 60'000, verdict_reason::ok},
    {drawn_send_op::send, 120'000, verdict_reason::ok},
    {drawn_send_op::send, 180'000, verdict_reason::daily_quota_exceeded},
    {drawn_send_op::wrong_check, 181'000, verdict_reason::ok},
    {drawn_send_op::wrong_check, 182'000, verdict_reason::ok},
    {drawn_send_op::wrong_check, 183'000, verdict_reason::ok},
    {drawn_send_op::send, 240'000, verdict_reason::binding_locked},
    {drawn_send_op::send, 183'000 + 86'400'000, verdict_reason::ok},  // the next day, the lock over
}};
constexpr pv::secret_key drawn_key = [] {
  pv::secret_key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(0x5A ^ i);
  return k;
}();

}  // namespace

TEST_CASE("finish_send with a drawn code gives finish_send's verdicts over a scenario at compile time",
          "[actions][quota][drawn]") {
  STATIC_REQUIRE(drawn_send_matches(drawn_policy, drawn_key, drawn_sends) == -1);
}

TEST_CASE("finish_send with a drawn code gives finish_send's verdicts over a scenario at run time",
          "[actions][quota][drawn]") {
  CHECK(drawn_send_matches(pv::test::opaque(&drawn_policy)[0], test_key, drawn_sends) == -1);
  // A drawn code of other digits than the policy's refuses as a broken
  // generator does, charging nothing.
  pv::daily_usage quota{};
  pv::per_phone_state windows{};
  pv::challenge code{};
  const pv::preparation p = pv::prepare(send_bind_ok, china_facts());
  REQUIRE(p);
  const pv::send_result refused = pv::finish_send(pv::default_action_policy, pv::drawn_code{}, *p,
                                                  {&quota, &windows, &code, nullptr}, t0);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().reason() == verdict_reason::invalid_policy);
  CHECK(quota == pv::daily_usage{});
  CHECK(windows == pv::per_phone_state{});
  CHECK(code == pv::challenge{});
}
