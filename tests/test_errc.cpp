// The error catalog (RULES.md §6, appendix A): wire codes, messages, statuses,
// actions and each action's documented table.
#include <catch2/catch.hpp>
#include <phoneverify/errc.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "support.hpp"

namespace pv = phoneverify;
using pv::errc;
using pv::action;

namespace {

// The snake-casing rule of errc (RULES.md §6), written independently of the library:
// dots become '_', each capital starts a new word.
std::string snake_case(std::string_view wire) {
  std::string out;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    const char c = wire[i];
    if (c == '.') {
      out += '_';
    } else if (std::isupper(static_cast<unsigned char>(c))) {
      const bool word_start = i > 0 && wire[i - 1] != '.' &&
                              (std::islower(static_cast<unsigned char>(wire[i - 1])) ||
                               (i + 1 < wire.size() && std::islower(static_cast<unsigned char>(wire[i + 1]))));
      if (word_start && !out.empty() && out.back() != '_') out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

// The 28 wire codes of RULES.md §6 and appendix A with the enumerator name the
// snake-case rule gives and the canonical status (transcribed from RULES.md).
struct catalog_row {
  errc code;
  const char* enumerator;
  const char* wire;
  int status;
};
const catalog_row catalog[] = {
    {errc::not_support_account_in_another_resource_directory, "not_support_account_in_another_resource_directory",
     "NotSupport.AccountInAnotherResourceDirectory", 409},
    {errc::entity_already_exists_resource_directory, "entity_already_exists_resource_directory",
     "EntityAlreadyExists.ResourceDirectory", 409},
    {errc::send_validate_code_exceeds_limit_for_account, "send_validate_code_exceeds_limit_for_account",
     "SendValidateCodeExceedsLimitForAccount", 409},
    {errc::invalid_parameter_mobile_country_code, "invalid_parameter_mobile_country_code",
     "InvalidParameter.MobileCountryCode", 409},
    {errc::not_support_site_action, "not_support_site_action", "NotSupport.Site.Action", 400},
    {errc::invalid_enterprise_name, "invalid_enterprise_name", "Invalid.EnterpriseName", 409},
    {errc::enterprise_real_name_verification_error, "enterprise_real_name_verification_error",
     "EnterpriseRealNameVerificationError", 409},
    {errc::invalid_verification_code, "invalid_verification_code", "Invalid.VerificationCode", 409},
    {errc::account_type_mismatch, "account_type_mismatch", "AccountTypeMismatch", 409},
    {errc::account_secure_mobile_already_exists, "account_secure_mobile_already_exists",
     "AccountSecureMobileAlreadyExists", 409},
    {errc::caller_identity_error, "caller_identity_error", "CallerIdentityError", 409},
    {errc::missing_parameter_contact_id, "missing_parameter_contact_id", "MissingParameter.ContactId", 400},
    {errc::invalid_parameter_contact_id, "invalid_parameter_contact_id", "InvalidParameter.ContactId", 400},
    {errc::missing_parameter_phone_number, "missing_parameter_phone_number", "MissingParameter.PhoneNumber", 400},
    {errc::invalid_parameter_phone_number, "invalid_parameter_phone_number", "InvalidParameter.PhoneNumber", 400},
    {errc::entity_not_exists_contact, "entity_not_exists_contact", "EntityNotExists.Contact", 404},
    {errc::entity_not_exists_contact_verification, "entity_not_exists_contact_verification",
     "EntityNotExists.Contact.Verification", 404},
    {errc::product_unsubscript, "product_unsubscript", "Product.Unsubscript", 400},
    {errc::ram_permission_deny, "ram_permission_deny", "Ram.PermissionDeny", 400},
    {errc::system_limit_control, "system_limit_control", "System.LimitControl", 400},
    {errc::unknown_resource_owner_id, "unknown_resource_owner_id", "Unknown.ResourceOwnerId", 400},
    {errc::missing_parameter, "missing_parameter", "MissingParameter", 400},
    {errc::invalid_parameter, "invalid_parameter", "InvalidParameter", 400},
    {errc::invalid_parameter_management_account_name_already_used,
     "invalid_parameter_management_account_name_already_used", "InvalidParameter.ManagementAccountName.AlreadyUsed",
     409},
    {errc::invalid_parameter_management_account_name, "invalid_parameter_management_account_name",
     "InvalidParameter.ManagementAccountName", 409},
    {errc::invalid_parameter_management_account_security_info, "invalid_parameter_management_account_security_info",
     "InvalidParameter.ManagementAccountSecurityInfo", 409},
    {errc::missing_secure_mobile_phone, "missing_secure_mobile_phone", "MissingSecureMobilePhone", 409},
    {errc::missing_security_info, "missing_security_info", "MissingSecurityInfo", 409},
};

}  // namespace

TEST_CASE("errc has ok = 0 and one enumerator per wire code of RULES.md §6 and appendix A", "[errc]") {
  STATIC_REQUIRE(static_cast<int>(errc::ok) == 0);
  STATIC_REQUIRE(errc{} == errc::ok);
  STATIC_REQUIRE(pv::errc_count == 29);
  CHECK(std::size(catalog) == 28);
  std::set<errc> seen;
  for (const auto& row : catalog) {
    INFO(row.wire);
    CHECK(seen.insert(row.code).second);
    CHECK(snake_case(row.wire) == row.enumerator);
    CHECK(pv::code_string(row.code) == row.wire);
    CHECK(pv::http_status(row.code) == row.status);
  }
  CHECK(seen.size() == pv::errc_count - 1);
}

TEST_CASE("code_string and errc_from_string round-trip every enumerator", "[errc]") {
  for (std::size_t i = 1; i < pv::errc_count; ++i) {
    const auto e = static_cast<errc>(i);
    INFO(i);
    REQUIRE(!pv::code_string(e).empty());
    REQUIRE(pv::errc_from_string(pv::code_string(e)) == e);
    CHECK(pv::detail::errc_table[i].code == e);  // the table is indexed by value
    CHECK(!pv::message(e).empty());
  }
  CHECK(pv::code_string(errc::ok).empty());
  CHECK(pv::http_status(errc::ok) == 200);
}

TEST_CASE("errc_from_string is exact and case-sensitive", "[errc]") {
  CHECK(pv::errc_from_string("Invalid.VerificationCode") == errc::invalid_verification_code);
  CHECK_FALSE(pv::errc_from_string("invalid.verificationcode"));
  CHECK_FALSE(pv::errc_from_string("Invalid.VerificationCode "));
  CHECK_FALSE(pv::errc_from_string(" Invalid.VerificationCode"));
  CHECK_FALSE(pv::errc_from_string("Invalid.VerificationCod"));
  CHECK_FALSE(pv::errc_from_string(""));
  CHECK_FALSE(pv::errc_from_string("OK"));
  CHECK(pv::errc_from_string("MissingParameter") == errc::missing_parameter);
  CHECK(pv::errc_from_string("MissingParameter.PhoneNumber") == errc::missing_parameter_phone_number);
}

TEST_CASE("values that are no enumerator get empty strings and status 500, never UB", "[errc]") {
  const auto bogus = static_cast<errc>(pv::test::opaque<unsigned char>(200));
  CHECK(pv::code_string(bogus).empty());
  CHECK(pv::message(bogus).empty());
  CHECK(pv::http_status(bogus) == 500);
  const auto bogus_action = static_cast<action>(pv::test::opaque<unsigned char>(99));
  CHECK(pv::action_name(bogus_action).empty());
  CHECK(pv::documented_errors(bogus_action).empty());
}

TEST_CASE("the canonical message and status follow RULES.md §6 where a code has several", "[errc]") {
  CHECK(pv::http_status(errc::invalid_parameter_mobile_country_code) == 409);
  CHECK(pv::message(errc::not_support_account_in_another_resource_directory) ==
        "The specified account is an Alibaba Cloud account or already exists in another resource directory.");
  CHECK(pv::message(errc::missing_parameter) ==
        "The input parameter \"%s\" that is mandatory for processing this request is not supplied.");
  CHECK(pv::message(errc::invalid_parameter) == "The specified parameter \"%s\" is not valid.");
}

TEST_CASE("each action's own status and message win over the canonical ones", "[errc]") {
  CHECK(pv::http_status(errc::invalid_parameter_mobile_country_code,
                        action::send_phone_verification_for_message_contact) == 400);
  CHECK(pv::http_status(errc::invalid_parameter_mobile_country_code,
                        action::send_verification_code_for_bind_secure_mobile_phone) == 409);
  CHECK(pv::http_status(errc::invalid_parameter_mobile_country_code, action::send_verification_code_for_enable_rd) ==
        409);
  CHECK(pv::message(errc::not_support_account_in_another_resource_directory, action::bind_secure_mobile_phone) ==
        "Your account is a management account for another resource directory or a member of another resource "
        "directory.");
  CHECK(pv::message(errc::not_support_account_in_another_resource_directory,
                    action::send_verification_code_for_enable_rd) ==
        "The specified account is an Alibaba Cloud account or already exists in another resource directory.");
  // An error the action does not document falls back to the canonical row.
  CHECK(pv::http_status(errc::system_limit_control, action::bind_secure_mobile_phone) == 400);
  CHECK_FALSE(pv::documents(action::bind_secure_mobile_phone, errc::system_limit_control));
  CHECK(pv::find_documented_error(action::bind_secure_mobile_phone, errc::system_limit_control) == nullptr);
  REQUIRE(pv::find_documented_error(action::bind_secure_mobile_phone, errc::not_support_site_action) != nullptr);
  CHECK(pv::find_documented_error(action::bind_secure_mobile_phone, errc::not_support_site_action)->http_status == 400);
  CHECK(pv::documents(action::bind_secure_mobile_phone, errc::not_support_site_action));
}

TEST_CASE("action names round-trip, exactly and case-sensitively", "[errc][action]") {
  const char* names[] = {"SendVerificationCodeForBindSecureMobilePhone", "BindSecureMobilePhone",
                         "SendVerificationCodeForEnableRD",             "GetMigrationVerifyCode",
                         "SendPhoneVerificationForMessageContact",      "EnableResourceDirectory",
                         "ChatappMigrationVerified"};
  for (std::size_t i = 0; i < pv::action_count; ++i) {
    CHECK(pv::action_name(pv::all_actions[i]) == names[i]);
    CHECK(pv::action_from_name(names[i]) == pv::all_actions[i]);
  }
  CHECK_FALSE(pv::action_from_name("bindsecuremobilephone"));
  CHECK_FALSE(pv::action_from_name("SendVerificationCodeForEnableRd"));
  CHECK_FALSE(pv::action_from_name(""));
}

// ---------------------------------------------------------------------------
// documented_errors against an independent transcription of the documented tables.

namespace {

struct expected_row {
  const char* wire;
  int status;
  const char* message;
};

// Transcribed by hand from each action's documented error table (RULES.md §6,
// in the page's order), then the rows RULES.md §6 says only the metadata
// documents. The test below compares the library with the tables of
// tests/data/documented_errors/ as well.
const expected_row send_bind_table[] = {
    {"EntityAlreadyExists.ResourceDirectory", 409,
     "The resource directory for the account is already enabled. We recommend that you do not enable the resource "
     "directory again."},
    {"SendValidateCodeExceedsLimitForAccount", 409,
     "For the same account, the number of verification codes sent exceeds the limit."},
    {"InvalidParameter.MobileCountryCode", 409, "The current site does not support the country code."},
    {"NotSupport.AccountInAnotherResourceDirectory", 409,
     "Your account is a management account for another resource directory or a member of another resource "
     "directory."},
};
const expected_row bind_table[] = {
    {"Invalid.EnterpriseName", 409, "You must specify the enterprise name."},
    {"EnterpriseRealNameVerificationError", 409,
     "The specified account does not pass enterprise real-name verification. We recommend you first complete "
     "enterprise real-name verification for the account."},
    {"EntityAlreadyExists.ResourceDirectory", 409,
     "The resource directory for the account is already enabled. We recommend that you do not enable the resource "
     "directory again."},
    {"Invalid.VerificationCode", 409, "The verification code is invalid."},
    {"AccountTypeMismatch", 409, "The type or status of the member account cannot satisfy the current operation."},
    {"AccountSecureMobileAlreadyExists", 409, "The secure mobile number of the member already exists."},
    {"CallerIdentityError", 409, "Please use the RAM user or role of the Management Account."},
    {"NotSupport.AccountInAnotherResourceDirectory", 409,
     "Your account is a management account for another resource directory or a member of another resource "
     "directory."},
    {"NotSupport.Site.Action", 400, "Site does not allow current action."},  // metadata only
};
const expected_row send_enable_rd_table[] = {
    {"NotSupport.AccountInAnotherResourceDirectory", 409,
     "The specified account is an Alibaba Cloud account or already exists in another resource directory."},
    {"EntityAlreadyExists.ResourceDirectory", 409,
     "The resource directory for the account is already enabled. We recommend that you do not enable the resource "
     "directory again."},
    {"SendValidateCodeExceedsLimitForAccount", 409,
     "For the same account, the number of verification codes sent exceeds the limit."},
    {"InvalidParameter.MobileCountryCode", 409, "The current site does not support the country code."},
};
const expected_row cams_table[] = {
    {"Product.Unsubscript", 400, "You have not subscribed to the specified product."},
    {"Ram.PermissionDeny", 400, "You are not authorized to perform the operation."},
    {"System.LimitControl", 400, "The system is under flow control."},
    {"Unknown.ResourceOwnerId", 400, "The resource does not belong to the current user."},
};
const expected_row message_contact_table[] = {
    {"MissingParameter.ContactId", 400, "You must specify ContactId."},
    {"InvalidParameter.ContactId", 400, "The ContactId is invalid."},
    {"MissingParameter.PhoneNumber", 400, "You must specify PhoneNumber."},
    {"InvalidParameter.PhoneNumber", 400, "The PhoneNumber is invalid."},
    {"InvalidParameter.MobileCountryCode", 400, "The current site does not support the country code."},
    {"EntityNotExists.Contact", 404, "This Contact does not exist."},
    {"EntityNotExists.Contact.Verification", 404, "This contact verification does not exist."},
    {"SendValidateCodeExceedsLimitForAccount", 409,
     "For the same account, the number of verification codes sent exceeds the limit."},
};
// Appendix A, in its order.
const expected_row enable_rd_table[] = {
    {"NotSupport.AccountInAnotherResourceDirectory", 409,
     "The specified account is an Alibaba Cloud account or already exists in another resource directory."},
    {"Invalid.EnterpriseName", 409, "You must specify the enterprise name."},
    {"EnterpriseRealNameVerificationError", 409,
     "The specified account does not pass enterprise real-name verification. We recommend you first complete "
     "enterprise real-name verification for the account."},
    {"EntityAlreadyExists.ResourceDirectory", 409,
     "The resource directory for the account is already enabled. We recommend that you do not enable the resource "
     "directory again."},
    {"InvalidParameter.ManagementAccountName.AlreadyUsed", 409, "The ManagementAccountName has been used."},
    {"Invalid.VerificationCode", 409, "The verification code is invalid."},
    {"InvalidParameter.ManagementAccountName", 409, "The management account name is in the wrong format."},
    {"InvalidParameter.ManagementAccountSecurityInfo", 409,
     "The parameter management account secure mobile phone is invalid."},
    {"MissingSecureMobilePhone", 409, "Secure mobile phone is missing."},
    {"MissingSecurityInfo", 409, "Security info is missing."},
};
const expected_row chatapp_verified_table[] = {
    {"Product.Unsubscript", 400, "You have not subscribed to the specified product."},
    {"Ram.PermissionDeny", 400, "You are not authorized to perform the operation."},
    {"System.LimitControl", 400, "The system is under flow control."},
    {"Unknown.ResourceOwnerId", 400, "The resource does not belong to the current user."},
};

template <std::size_t N>
void check_table(action a, const expected_row (&expected)[N]) {
  const auto table = pv::documented_errors(a);
  INFO(pv::action_name(a));
  REQUIRE(table.size() == N);
  for (std::size_t i = 0; i < N; ++i) {
    INFO("row " << i << " " << expected[i].wire);
    CHECK(pv::code_string(table[i].code) == expected[i].wire);
    CHECK(table[i].http_status == expected[i].status);
    CHECK(table[i].message == expected[i].message);
  }
}

// One row of a table of tests/data/documented_errors/ (tests/data/README.md).
struct table_row {
  int status;
  std::string code;
  std::string message;
  std::string description;
};

// Splits `line` at every tab.
std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> cells;
  std::size_t from = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', from);
    cells.push_back(line.substr(from, tab == std::string::npos ? std::string::npos : tab - from));
    if (tab == std::string::npos) return cells;
    from = tab + 1;
  }
}

// Reads tests/data/documented_errors/<file>: the header line, then one row per
// line, four tab-separated cells. Any deviation from that format fails the
// calling test (a table the test cannot read must not pass as "no rows").
std::vector<table_row> read_documented_table(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  INFO("file " << path);
  REQUIRE(in.is_open());
  std::vector<table_row> rows;
  std::string line;
  REQUIRE(std::getline(in, line));
  CHECK(line == "status\tcode\tmessage\tdescription");
  std::size_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    INFO("line " << number << ": " << line);
    REQUIRE(!line.empty());
    REQUIRE(line.back() != '\r');  // LF line ends only
    const auto cells = split_tabs(line);
    REQUIRE(cells.size() == 4);
    REQUIRE(cells[0].size() == 3);
    REQUIRE(std::all_of(cells[0].begin(), cells[0].end(), [](char c) { return c >= '0' && c <= '9'; }));
    rows.push_back({std::stoi(cells[0]), cells[1], cells[2], cells[3]});
  }
  return rows;
}

}  // namespace

TEST_CASE("documented_errors returns each action's documented table in its order, then the metadata rows",
          "[errc][documented]") {
  check_table(action::send_verification_code_for_bind_secure_mobile_phone, send_bind_table);
  check_table(action::bind_secure_mobile_phone, bind_table);
  check_table(action::send_verification_code_for_enable_rd, send_enable_rd_table);
  check_table(action::get_migration_verify_code, cams_table);
  check_table(action::send_phone_verification_for_message_contact, message_contact_table);
  check_table(action::enable_resource_directory, enable_rd_table);
  check_table(action::chatapp_migration_verified, chatapp_verified_table);
}

TEST_CASE("action 1's documented Chinese descriptions are carried as they stand", "[errc][documented]") {
  const auto table = pv::documented_errors(action::send_verification_code_for_bind_secure_mobile_phone);
  CHECK(table[0].description == "账号已开通资源目录,请勿重复开通。");
  CHECK(table[1].description == "当前账号发送的验证码每日数量超限。");
  CHECK(table[2].description == "当前站点不支持您输入的国家码。");
  CHECK(table[3].description == "您的账号是另一个资源目录的管理账号或是另一个资源目录内的成员。");
}

TEST_CASE("documented_errors agrees with the tables in tests/data", "[errc][documented]") {
  // The documented tables as facts (tests/data/README.md): one file per sending
  // action, named by its wire name. A missing or unreadable file fails.
  const std::string dir = std::string(PHONEVERIFY_SOURCE_DIR) + "/tests/data/documented_errors/";
  struct table_file {
    action a;
    std::size_t metadata_rows;  // rows documented_errors has after the page's own
  };
  const table_file files[] = {
      {action::send_verification_code_for_bind_secure_mobile_phone, 0},
      {action::bind_secure_mobile_phone, 1},
      {action::send_verification_code_for_enable_rd, 0},
      {action::get_migration_verify_code, 0},
      {action::send_phone_verification_for_message_contact, 0},
  };
  for (const auto& file : files) {
    const std::string path = dir + std::string(pv::action_name(file.a)) + ".tsv";
    INFO(path);
    const auto rows = read_documented_table(path);
    const auto table = pv::documented_errors(file.a);
    REQUIRE(!rows.empty());
    REQUIRE(rows.size() + file.metadata_rows == table.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      INFO("row " << i + 1 << " " << rows[i].code);
      CHECK(table[i].http_status == rows[i].status);
      CHECK(pv::code_string(table[i].code) == rows[i].code);
      CHECK(table[i].message == rows[i].message);
      // The library carries each page's description as the page has it (the
      // Chinese ones of SendVerificationCodeForBindSecureMobilePhone, "-" where
      // the page writes "-", none where the page has none).
      CHECK(table[i].description == rows[i].description);
    }
    // The rows after the page's own are the metadata's: never a page row twice.
    for (std::size_t i = rows.size(); i < table.size(); ++i) {
      INFO("metadata row " << i + 1);
      for (const auto& row : rows) CHECK(pv::code_string(table[i].code) != row.code);
    }
  }
}

TEST_CASE("every errc but ok is documented by some action or is a common gateway code", "[errc][documented]") {
  std::set<errc> documented;
  for (action a : pv::all_actions)
    for (const auto& row : pv::documented_errors(a)) documented.insert(row.code);
  for (std::size_t i = 1; i < pv::errc_count; ++i) {
    const auto e = static_cast<errc>(i);
    INFO(pv::code_string(e));
    const bool common = e == errc::missing_parameter || e == errc::invalid_parameter;
    CHECK((documented.count(e) == 1) != common);
  }
}

// Compile-time checks of every constexpr function of errc.hpp.
static_assert(pv::code_string(errc::system_limit_control) == "System.LimitControl");
static_assert(pv::code_string(errc::ok).empty());
static_assert(pv::message(errc::invalid_verification_code) == "The verification code is invalid.");
static_assert(pv::http_status(errc::entity_not_exists_contact) == 404);
static_assert(pv::http_status(errc::ok) == 200);
static_assert(pv::errc_from_string("Ram.PermissionDeny") == errc::ram_permission_deny);
static_assert(!pv::errc_from_string("ram.permissiondeny"));
static_assert(pv::action_name(action::bind_secure_mobile_phone) == "BindSecureMobilePhone");
static_assert(pv::action_from_name("GetMigrationVerifyCode") == action::get_migration_verify_code);
static_assert(pv::documented_errors(action::bind_secure_mobile_phone).size() == 9);
static_assert(pv::documented_errors(action::bind_secure_mobile_phone)[8].code == errc::not_support_site_action);
static_assert(pv::documents(action::get_migration_verify_code, errc::system_limit_control));
static_assert(!pv::documents(action::get_migration_verify_code, errc::ok));
static_assert(pv::http_status(errc::invalid_parameter_mobile_country_code,
                              action::send_phone_verification_for_message_contact) == 400);
static_assert(pv::message(errc::not_support_account_in_another_resource_directory,
                          action::send_verification_code_for_bind_secure_mobile_phone)
                  .starts_with("Your account is"));
// A constexpr round trip over every enumerator.
static_assert([] {
  for (std::size_t i = 1; i < pv::errc_count; ++i)
    if (pv::errc_from_string(pv::code_string(static_cast<errc>(i))) != static_cast<errc>(i)) return false;
  return true;
}());
static_assert(sizeof(errc) == 1 && sizeof(action) == 1);
