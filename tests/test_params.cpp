// The syntax of the non-phone parameters (RULES.md §1.1, §5, appendix A):
// AccountId, CustSpaceId, ContactId, Locale, Method, EnableMode, MAName,
// verification code text, RequestId. Each rule is one constexpr table of
// cases, checked at compile time (STATIC_REQUIRE) and at run time through opaque.
#include <catch2/catch.hpp>
#include <phoneverify/params.hpp>

#include <array>
#include <string>
#include <type_traits>

#include "support.hpp"

namespace pv = phoneverify;
using pv::param_reason;
using namespace std::string_view_literals;

namespace {

struct param_case {
  std::string_view text;
  param_reason reason;
  std::uint16_t position;
};

template <class Check, std::size_t N>
constexpr bool all_cases_hold(Check check, const param_case (&cases)[N]) {
  for (const auto& c : cases)
    if (!(check(c.text) == pv::param_check{c.reason, c.position})) return false;
  return true;
}

// The run-time path: the text's pointer and size go through a volatile read.
std::string_view runtime_view(std::string_view s) {
  return {phoneverify::test::opaque(s.data()), phoneverify::test::opaque(s.size())};
}

template <class Check, std::size_t N>
void check_cases_at_run_time(Check check, const param_case (&cases)[N]) {
  for (const auto& c : cases) {
    const pv::param_check got = check(runtime_view(c.text));
    INFO("text \"" << std::string(c.text) << "\" expected " << std::string(pv::describe(c.reason)) << " at "
                   << c.position << ", got " << std::string(pv::describe(got.reason)) << " at " << got.position);
    CHECK(got.reason == c.reason);
    CHECK(got.position == c.position);
    CHECK(got.ok() == (c.reason == param_reason::ok));
  }
}

constexpr auto account_id = [](std::string_view s) { return pv::check_account_id(s); };
constexpr auto cust_space_id = [](std::string_view s) { return pv::check_cust_space_id(s); };
constexpr auto contact_id = [](std::string_view s) { return pv::check_contact_id(s); };
constexpr auto locale = [](std::string_view s) { return pv::check_locale(s); };
constexpr auto ma_name = [](std::string_view s) { return pv::check_ma_name(s); };
constexpr auto request_id = [](std::string_view s) { return pv::check_request_id(s); };
constexpr auto code6 = [](std::string_view s) { return pv::check_verification_code(s, 6); };

constexpr param_case account_id_cases[] = {
    {"1", param_reason::ok, 0},
    {"1386606283481234", param_reason::ok, 0},       // 16 digits, today's UIDs
    {"12345678901234567890", param_reason::ok, 0},   // 20 digits: the bound
    {"123456789012345678901", param_reason::too_long, 20},
    {"", param_reason::empty, 0},
    {"0", param_reason::leading_zero, 0},
    {"0138660628348123", param_reason::leading_zero, 0},
    {"138660628348****", param_reason::invalid_character, 12},  // the documented mask
    {"12 3", param_reason::invalid_character, 2},
    {"-1", param_reason::invalid_character, 0},
    {"+1", param_reason::invalid_character, 0},
    {"1e5", param_reason::invalid_character, 1},
    {"\xEF\xBC\x91", param_reason::non_ascii, 0},  // full-width 1
    {"12\n", param_reason::control_character, 2},
    {"12\x7F", param_reason::control_character, 2},
    {"1\0"sv, param_reason::control_character, 1},
};

constexpr param_case cust_space_id_cases[] = {
    {"293483938841234", param_reason::ok, 0},
    {"29348393884****", param_reason::invalid_character, 11},  // the documented mask
    {"", param_reason::empty, 0},
    {"0293", param_reason::leading_zero, 0},
    {"12345678901234567890", param_reason::ok, 0},
    {"123456789012345678901", param_reason::too_long, 20},
    {"29\xC2\xA0", param_reason::non_ascii, 2},
    {"29\t", param_reason::control_character, 2},
};

constexpr param_case contact_id_cases[] = {
    {"c-qL4HqKONzOM7abcd", param_reason::ok, 0},
    {"c-a", param_reason::ok, 0},
    {"c-0", param_reason::ok, 0},
    {"c-qL4HqKONzOM7****", param_reason::invalid_character, 14},  // the documented mask
    {"", param_reason::empty, 0},
    {"c", param_reason::too_short, 1},
    {"c-", param_reason::too_short, 2},
    {"C-abc", param_reason::missing_prefix, 0},
    {"c_abc", param_reason::missing_prefix, 1},
    {"x", param_reason::missing_prefix, 0},
    {"-c-abc", param_reason::missing_prefix, 0},
    {"c-ab-c", param_reason::invalid_character, 4},
    {"c-ab_c", param_reason::invalid_character, 4},
    {"c-\xC3\xA9", param_reason::non_ascii, 2},
    {"\x01-", param_reason::control_character, 0},
    {"c\x80", param_reason::non_ascii, 1},
    {"c-ab\t", param_reason::control_character, 4},
    {"c-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab", param_reason::ok, 0},  // 64
    {"c-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abc", param_reason::too_long, 66},
};

constexpr param_case locale_cases[] = {
    {"zh_CN", param_reason::ok, 0},
    {"en_US", param_reason::ok, 0},
    {"en", param_reason::ok, 0},
    {"fil", param_reason::ok, 0},
    {"fil_PH", param_reason::ok, 0},
    {"", param_reason::empty, 0},
    {"z", param_reason::too_short, 1},
    {"zh_", param_reason::too_short, 3},
    {"zh_C", param_reason::too_short, 4},
    {"zh_CNX", param_reason::too_long, 5},
    {"zh_CN ", param_reason::too_long, 5},
    {"zh-CN", param_reason::invalid_character, 2},
    {"zh_cn", param_reason::invalid_character, 3},
    {"ZH_CN", param_reason::invalid_character, 0},
    {"zhcn", param_reason::invalid_character, 3},
    {"_CN", param_reason::invalid_character, 0},
    {"z_CN", param_reason::invalid_character, 1},
    {"zh_C1", param_reason::invalid_character, 4},
    {"zh\0"sv, param_reason::control_character, 2},
    {"zh_\xEF\xBC\xA3N", param_reason::non_ascii, 3},  // full-width C
    {"fil_PHL", param_reason::too_long, 6},
};

constexpr param_case ma_name_cases[] = {
    {"ab@rdadmin.aliyunid.com", param_reason::ok, 0},
    {"a.b-c_d@rdadmin.aliyunid.com", param_reason::ok, 0},
    {"Admin01@rdadmin.aliyunid.com", param_reason::ok, 0},
    {"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX@rdadmin.aliyunid.com", param_reason::ok, 0},  // 50
    {"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY@rdadmin.aliyunid.com", param_reason::too_long, 50},
    {"", param_reason::empty, 0},
    {"a@rdadmin.aliyunid.com", param_reason::too_short, 1},
    {"@rdadmin.aliyunid.com", param_reason::too_short, 0},
    {"_ab@rdadmin.aliyunid.com", param_reason::bad_start, 0},
    {".ab@rdadmin.aliyunid.com", param_reason::bad_start, 0},
    {"-ab@rdadmin.aliyunid.com", param_reason::bad_start, 0},
    {"ab_@rdadmin.aliyunid.com", param_reason::bad_end, 2},
    {"ab.@rdadmin.aliyunid.com", param_reason::bad_end, 2},
    {"ab-@rdadmin.aliyunid.com", param_reason::bad_end, 2},
    {"a__b@rdadmin.aliyunid.com", param_reason::consecutive_special, 2},
    {"a._b@rdadmin.aliyunid.com", param_reason::consecutive_special, 2},
    {"a-.b@rdadmin.aliyunid.com", param_reason::consecutive_special, 2},
    {"ab", param_reason::missing_domain, 2},
    {"a_b", param_reason::missing_domain, 3},
    {"ab#c@rdadmin.aliyunid.com", param_reason::invalid_character, 2},
    {"ab c@rdadmin.aliyunid.com", param_reason::invalid_character, 2},
    {"a\xC3\xA9@rdadmin.aliyunid.com", param_reason::non_ascii, 1},
    {"a\n@rdadmin.aliyunid.com", param_reason::control_character, 1},
    {"ab@rdadmin.aliyunid.co", param_reason::wrong_domain, 22},
    {"ab@rdadmin.aliyunid.comm", param_reason::wrong_domain, 23},
    {"ab@RDADMIN.ALIYUNID.COM", param_reason::wrong_domain, 3},
    {"ab@", param_reason::wrong_domain, 3},
    {"ab@@rdadmin.aliyunid.com", param_reason::wrong_domain, 3},
    {"ab@example.com", param_reason::wrong_domain, 3},
    {"ab@rdadmin.aliyunid.com\n", param_reason::control_character, 23},
    {"ab@rdadmin.aliyunid.c\xC3\xB6m", param_reason::non_ascii, 21},
};

constexpr param_case code6_cases[] = {
    {"123456", param_reason::ok, 0},
    {"000000", param_reason::ok, 0},  // leading zeros are digits of a code
    {"12345", param_reason::too_short, 5},
    {"1234567", param_reason::too_long, 6},
    {"", param_reason::empty, 0},
    {"12a456", param_reason::invalid_character, 2},
    {" 123456", param_reason::invalid_character, 0},
    {"12345 ", param_reason::invalid_character, 5},
    {"\xEF\xBC\x91" "23456", param_reason::non_ascii, 0},  // full-width 1
    {"12345\n", param_reason::control_character, 5},
    {"123\0" "56"sv, param_reason::control_character, 3},
};

constexpr param_case request_id_cases[] = {
    {"DCD43660-75DD-5D15-B342-1B83FCA5B913", param_reason::ok, 0},  // action 1's documented example
    {"90E63D28-E31D-1EB2-8939-A94866411B2O", param_reason::ok, 0},  // action 4's documented example, ends in a letter O
    {"a", param_reason::ok, 0},
    {"", param_reason::empty, 0},
    {"abc_def", param_reason::invalid_character, 3},
    {"abc\0"sv, param_reason::control_character, 3},
    {"ab\xFF", param_reason::non_ascii, 2},
    {"0123456789012345678901234567890123456789012345678901234567890123", param_reason::ok, 0},  // 64
    {"01234567890123456789012345678901234567890123456789012345678901234", param_reason::too_long, 64},
};

}  // namespace

TEST_CASE("check_account_id accepts 1 to 20 ASCII digits without a leading zero", "[params]") {
  STATIC_REQUIRE(all_cases_hold(account_id, account_id_cases));
  check_cases_at_run_time(account_id, account_id_cases);
}

TEST_CASE("check_account_id accepts every length from 1 to 20 digits and refuses 21", "[params]") {
  std::string id;
  for (std::size_t n = 1; n <= 21; ++n) {
    id.push_back(static_cast<char>('1' + n % 9));
    const auto got = pv::check_account_id(runtime_view(id));
    CHECK(got.ok() == (n <= 20));
    if (n == 21) CHECK(got == pv::param_check{param_reason::too_long, 20});
  }
}

TEST_CASE("check_cust_space_id follows the numeric identifier rule of account IDs", "[params]") {
  STATIC_REQUIRE(all_cases_hold(cust_space_id, cust_space_id_cases));
  check_cases_at_run_time(cust_space_id, cust_space_id_cases);
}

TEST_CASE("check_contact_id accepts c- followed by 1 to 64 letters and digits", "[params]") {
  STATIC_REQUIRE(all_cases_hold(contact_id, contact_id_cases));
  check_cases_at_run_time(contact_id, contact_id_cases);
}

TEST_CASE("check_contact_id refuses every ASCII byte that is not a letter or digit after c-", "[params]") {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const std::string text = std::string("c-ab") + c;
    const auto got = pv::check_contact_id(runtime_view(text));
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    CHECK(got.ok() == alnum);
    if (!alnum) {
      CHECK(got.position == 4);
      const auto expected = b >= 0x80                 ? param_reason::non_ascii
                            : (b < 0x20 || b == 0x7F) ? param_reason::control_character
                                                      : param_reason::invalid_character;
      CHECK(got.reason == expected);
    }
  }
}

TEST_CASE("check_locale accepts a 2-3 letter lowercase language and an optional _ and uppercase region", "[params]") {
  STATIC_REQUIRE(all_cases_hold(locale, locale_cases));
  check_cases_at_run_time(locale, locale_cases);
}

TEST_CASE("parse_method accepts sms and voice in any ASCII case and nothing else", "[params]") {
  struct method_case {
    std::string_view text;
    param_reason reason;
    std::uint16_t position;
    pv::verify_method value;
  };
  static constexpr method_case cases[] = {
      {"sms", param_reason::ok, 0, pv::verify_method::sms},
      {"SMS", param_reason::ok, 0, pv::verify_method::sms},
      {"sMs", param_reason::ok, 0, pv::verify_method::sms},
      {"voice", param_reason::ok, 0, pv::verify_method::voice},
      {"VOICE", param_reason::ok, 0, pv::verify_method::voice},
      {"Voice", param_reason::ok, 0, pv::verify_method::voice},
      {"", param_reason::empty, 0, {}},
      {"sm", param_reason::unknown_value, 2, {}},
      {"smss", param_reason::unknown_value, 3, {}},
      {"email", param_reason::unknown_value, 0, {}},
      {"s ms", param_reason::unknown_value, 1, {}},
      {" sms", param_reason::unknown_value, 0, {}},
      {"vo\x80", param_reason::non_ascii, 2, {}},
      {"sms\n", param_reason::control_character, 3, {}},
      {"\xC5\xBFms", param_reason::non_ascii, 0, {}},  // U+017F long s, which Unicode case folding maps to s
      {"voic\0"sv, param_reason::control_character, 4, {}},
  };
  STATIC_REQUIRE([] {
    for (const auto& c : cases) {
      const auto got = pv::parse_method(c.text);
      if (!(got.check == pv::param_check{c.reason, c.position})) return false;
      if (got.ok() && got.value != c.value) return false;
    }
    return true;
  }());
  for (const auto& c : cases) {
    const auto got = pv::parse_method(runtime_view(c.text));
    INFO(std::string(c.text));
    CHECK(got.check.reason == c.reason);
    CHECK(got.check.position == c.position);
    if (got.ok()) CHECK(got.value == c.value);
  }
  STATIC_REQUIRE(pv::method_name(pv::verify_method::sms) == "sms");
  STATIC_REQUIRE(pv::method_name(pv::verify_method::voice) == "voice");
  CHECK(pv::method_name(static_cast<pv::verify_method>(phoneverify::test::opaque<std::uint8_t>(9))).empty());
}

TEST_CASE("parse_enable_mode accepts exactly CurrentAccount and NewManagementAccount", "[params]") {
  struct mode_case {
    std::string_view text;
    param_reason reason;
    std::uint16_t position;
    pv::enable_mode value;
  };
  static constexpr mode_case cases[] = {
      {"CurrentAccount", param_reason::ok, 0, pv::enable_mode::current_account},
      {"NewManagementAccount", param_reason::ok, 0, pv::enable_mode::new_management_account},
      {"currentaccount", param_reason::unknown_value, 0, {}},
      {"CurrentAccounts", param_reason::unknown_value, 14, {}},
      {"Current", param_reason::unknown_value, 7, {}},
      {"NewManagementaccount", param_reason::unknown_value, 13, {}},
      {"", param_reason::empty, 0, {}},
      {"NewManagementAccount\0"sv, param_reason::control_character, 20, {}},
      {"Curr\xC3\xA9ntAccount", param_reason::non_ascii, 4, {}},
  };
  STATIC_REQUIRE([] {
    for (const auto& c : cases) {
      const auto got = pv::parse_enable_mode(c.text);
      if (!(got.check == pv::param_check{c.reason, c.position})) return false;
      if (got.ok() && got.value != c.value) return false;
    }
    return true;
  }());
  for (const auto& c : cases) {
    const auto got = pv::parse_enable_mode(runtime_view(c.text));
    INFO(std::string(c.text));
    CHECK(got.check.reason == c.reason);
    CHECK(got.check.position == c.position);
    if (got.ok()) CHECK(got.value == c.value);
  }
  STATIC_REQUIRE(pv::enable_mode_name(pv::enable_mode::current_account) == "CurrentAccount");
  STATIC_REQUIRE(pv::enable_mode_name(pv::enable_mode::new_management_account) == "NewManagementAccount");
  CHECK(pv::enable_mode_name(static_cast<pv::enable_mode>(phoneverify::test::opaque<std::uint8_t>(7))).empty());
}

TEST_CASE("check_ma_name follows appendix A: 2-50 character prefix at rdadmin.aliyunid.com", "[params]") {
  STATIC_REQUIRE(all_cases_hold(ma_name, ma_name_cases));
  check_cases_at_run_time(ma_name, ma_name_cases);
}

TEST_CASE("check_ma_name refuses a special character at the start, at the end and next to another", "[params]") {
  // Every special character at every position of a 6-character prefix, and
  // every ordered pair of specials in the middle.
  constexpr std::string_view specials = "_.-";
  const std::string domain = "@rdadmin.aliyunid.com";
  for (char s : specials) {
    for (std::size_t at = 0; at < 6; ++at) {
      std::string prefix = "abcdef";
      prefix[at] = s;
      const auto got = pv::check_ma_name(runtime_view(prefix + domain));
      INFO(prefix);
      if (at == 0) {
        CHECK(got == pv::param_check{param_reason::bad_start, 0});
      } else if (at == 5) {
        CHECK(got == pv::param_check{param_reason::bad_end, 5});
      } else {
        CHECK(got.ok());
      }
    }
    for (char t : specials) {
      const std::string text = std::string("ab") + s + t + "cd" + domain;
      INFO(text);
      CHECK(pv::check_ma_name(runtime_view(text)) == pv::param_check{param_reason::consecutive_special, 3});
    }
  }
  // Every prefix length from 0 to 51.
  for (std::size_t n = 0; n <= 51; ++n) {
    const std::string text = std::string(n, 'a') + domain;
    const auto got = pv::check_ma_name(runtime_view(text));
    INFO(n);
    if (n < 2) {
      CHECK(got == pv::param_check{param_reason::too_short, static_cast<std::uint16_t>(n)});
    } else if (n > 50) {
      CHECK(got == pv::param_check{param_reason::too_long, 50});
    } else {
      CHECK(got.ok());
    }
  }
}

TEST_CASE("check_verification_code accepts exactly N ASCII digits for N from 6 to 10", "[params]") {
  STATIC_REQUIRE(all_cases_hold(code6, code6_cases));
  check_cases_at_run_time(code6, code6_cases);
  STATIC_REQUIRE(pv::check_verification_code("1234567890", 10).ok());
  STATIC_REQUIRE(pv::check_verification_code("123456789", 10) == pv::param_check{param_reason::too_short, 9});
  for (std::size_t n = 6; n <= 10; ++n) {
    const std::string exact(n, '7');
    CHECK(pv::check_verification_code(runtime_view(exact), phoneverify::test::opaque(n)).ok());
    CHECK(pv::check_verification_code(runtime_view(exact.substr(1)), n) ==
          pv::param_check{param_reason::too_short, static_cast<std::uint16_t>(n - 1)});
    CHECK(pv::check_verification_code(runtime_view(exact + "7"), n) ==
          pv::param_check{param_reason::too_long, static_cast<std::uint16_t>(n)});
  }
}

TEST_CASE("check_verification_code accepts all 10^6 six-digit codes and no other byte", "[params]") {
  char text[7] = {};
  for (int v = 0; v < 1000000; v += 1) {
    int x = v;
    for (int i = 5; i >= 0; --i) {
      text[i] = static_cast<char>('0' + x % 10);
      x /= 10;
    }
    if (!pv::check_verification_code(std::string_view(text, 6), 6).ok()) FAIL("refused " << text);
  }
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const std::string code = std::string("12") + c + "456";
    CHECK(pv::check_verification_code(runtime_view(code), 6).ok() == (c >= '0' && c <= '9'));
  }
}

TEST_CASE("check_request_id accepts 1 to 64 letters, digits and dashes", "[params]") {
  STATIC_REQUIRE(all_cases_hold(request_id, request_id_cases));
  check_cases_at_run_time(request_id, request_id_cases);
}

TEST_CASE("every param_reason has a description for logs", "[params]") {
  for (int r = 0; r <= static_cast<int>(param_reason::unknown_value); ++r)
    CHECK_FALSE(pv::describe(static_cast<param_reason>(phoneverify::test::opaque(r))).empty());
  CHECK(pv::describe(static_cast<param_reason>(phoneverify::test::opaque(200))).empty());
  STATIC_REQUIRE(pv::describe(param_reason::non_ascii) == "non-ASCII byte");
}

// The value types: trivially copyable and small.
static_assert(std::is_trivially_copyable_v<pv::param_check>);
static_assert(sizeof(pv::param_check) <= 4);
static_assert(std::is_trivially_copyable_v<pv::parsed_param<pv::verify_method>>);
static_assert(sizeof(pv::parsed_param<pv::verify_method>) <= 6);
static_assert(sizeof(pv::parsed_param<pv::enable_mode>) <= 6);
static_assert(std::is_nothrow_copy_constructible_v<pv::param_check>);
static_assert(pv::param_check{}.ok() && !pv::param_check{param_reason::empty, 0}.ok());
