// site.hpp: the country codes each site accepts for each action (RULES.md §3).
#include <catch2/catch.hpp>
#include <phoneverify/site.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "support.hpp"

namespace pv = phoneverify;
using pv::action;
using pv::errc;
using pv::site;
using pv::test::opaque;

namespace {

enum class phone_kind { secure_phone, message_contact, cams };

// RULES.md §3's table, written out independently of site.hpp.
constexpr phone_kind kind_of(action a) {
  switch (a) {
    case action::get_migration_verify_code:
    case action::chatapp_migration_verified: return phone_kind::cams;
    case action::send_phone_verification_for_message_contact: return phone_kind::message_contact;
    default: return phone_kind::secure_phone;
  }
}

constexpr bool spec_accepts(site s, action a, std::uint16_t cc) {
  if (!pv::is_assigned_country_code(cc)) return false;  // never an unassigned code
  switch (kind_of(a)) {
    case phone_kind::secure_phone: return s == site::china ? cc == 86 : cc != 86;
    case phone_kind::message_contact: return cc == 86;
    case phone_kind::cams: return true;
  }
  return false;
}

constexpr site all_sites[] = {site::china, site::international};

struct site_case {
  site s;
  action a;
  std::uint16_t cc;
  bool accepted;
};
constexpr site_case site_cases[] = {
    {site::china, action::send_verification_code_for_bind_secure_mobile_phone, 86, true},
    {site::china, action::bind_secure_mobile_phone, 44, false},
    {site::china, action::enable_resource_directory, 852, false},
    {site::international, action::send_verification_code_for_bind_secure_mobile_phone, 86, false},
    {site::international, action::send_verification_code_for_enable_rd, 44, true},
    {site::international, action::enable_resource_directory, 1, true},
    {site::international, action::bind_secure_mobile_phone, 388, false},
    {site::china, action::send_phone_verification_for_message_contact, 86, true},
    {site::international, action::send_phone_verification_for_message_contact, 86, true},
    {site::international, action::send_phone_verification_for_message_contact, 44, false},
    {site::china, action::get_migration_verify_code, 62, true},
    {site::china, action::chatapp_migration_verified, 86, true},
    {site::international, action::get_migration_verify_code, 991, false},
    {site::international, action::chatapp_migration_verified, 0, false},
    {site::international, action::chatapp_migration_verified, 1000, false},
};

}  // namespace

TEST_CASE("site_accepts follows the table of RULES.md §3 cases at compile time and at run time", "[site]") {
  STATIC_REQUIRE([] {
    for (const auto& c : site_cases)
      if (pv::site_accepts(c.s, c.a, c.cc) != c.accepted) return false;
    return true;
  }());
  for (const auto& c : site_cases) {
    CAPTURE(static_cast<int>(c.s), static_cast<int>(c.a), c.cc);
    CHECK(pv::site_accepts(opaque(c.s), opaque(c.a), opaque(c.cc)) == c.accepted);
  }
}

TEST_CASE("site_accepts implements RULES.md §3 for every site, action and code 0..1000", "[site]") {
  // China: secure phone only 86; international: secure phone never 86;
  // message contact only 86 on both; CAMS any assigned code.
  for (site s : all_sites)
    for (action a : pv::all_actions)
      for (std::uint32_t i = 0; i <= 1000; ++i) {
        const auto cc = static_cast<std::uint16_t>(i);
        CAPTURE(static_cast<int>(s), static_cast<int>(a), cc);
        REQUIRE(pv::site_accepts(opaque(s), opaque(a), opaque(cc)) == spec_accepts(s, a, cc));
      }
  STATIC_REQUIRE(!pv::site_accepts(site::international, action::bind_secure_mobile_phone, 86));
  STATIC_REQUIRE(pv::site_accepts(site::international, action::bind_secure_mobile_phone, 44));
  STATIC_REQUIRE(pv::site_accepts(site::china, action::bind_secure_mobile_phone, 86));
  STATIC_REQUIRE(!pv::site_accepts(site::china, action::bind_secure_mobile_phone, 44));
}

TEST_CASE("site_accepts never accepts an unassigned code, even when a custom set lists it", "[site]") {
  constexpr std::uint16_t codes[] = {86, 388, 991, 999};
  constexpr pv::country_code_set set = pv::make_country_code_set(codes);
  constexpr pv::site_policy policy{set, set, set};
  STATIC_REQUIRE(set.contains(388));
  STATIC_REQUIRE(!pv::site_accepts(policy, action::get_migration_verify_code, 388));
  STATIC_REQUIRE(pv::site_accepts(policy, action::get_migration_verify_code, 86));
  for (action a : pv::all_actions)
    for (std::uint16_t cc : codes) CHECK(pv::site_accepts(policy, opaque(a), opaque(cc)) == (cc == 86));
  // An action that is no enumerator is refused rather than read out of bounds.
  CHECK_FALSE(pv::site_accepts(policy, opaque(static_cast<action>(42)), 86));
  CHECK_FALSE(pv::site_accepts(opaque(site::china), opaque(static_cast<action>(42)), 86));
}

TEST_CASE("site_accepts and contains of a phone_number agree with those of its code", "[site]") {
  constexpr std::uint16_t codes[] = {86, 44, 1, 999, 388};
  constexpr pv::country_code_set set = pv::make_country_code_set(codes);
  const pv::site_policy policies[] = {pv::china_site_policy, pv::international_site_policy, {set, set, set}};
  std::size_t numbers = 0;
  for (const auto& entry : pv::country_code_table) {
    std::size_t length = 1;
    while (!pv::is_possible_length(entry.code, length)) ++length;
    const auto number = pv::phone_number::from_parts(entry.code, std::string(length, '5'));
    if (!number) continue;  // more than 15 digits in all
    ++numbers;
    for (const auto& policy : policies) {
      CHECK(policy.cams.contains(*number) == policy.cams.contains(opaque(entry.code)));
      for (action a : pv::all_actions)
        CHECK(pv::site_accepts(policy, opaque(a), *number) == pv::site_accepts(policy, a, entry.code));
    }
    for (site s : {site::china, site::international})
      for (action a : pv::all_actions)
        CHECK(pv::site_accepts(opaque(s), opaque(a), *number) == pv::site_accepts(s, a, entry.code));
  }
  CHECK(numbers == pv::assigned_country_code_count);
  const auto uk = pv::parse_phone("44-7911123456", pv::phone_format::dashed);
  REQUIRE(uk.has_value());
  CHECK_FALSE(pv::site_accepts(pv::china_site_policy, opaque(static_cast<action>(42)), *uk));
}

TEST_CASE("a site_policy built at compile time or at start-up replaces the built-in tables", "[site]") {
  // A custom site: secure phones from Hong Kong, Macao and Taiwan, contacts 86, CAMS 62 only.
  constexpr std::uint16_t greater_china[] = {852, 853, 886};
  constexpr std::uint16_t china[] = {86};
  constexpr std::uint16_t indonesia[] = {62};
  constexpr pv::site_policy custom{pv::make_country_code_set(greater_china), pv::make_country_code_set(china),
                                   pv::make_country_code_set(indonesia)};
  STATIC_REQUIRE(pv::site_accepts(custom, action::bind_secure_mobile_phone, 853));
  STATIC_REQUIRE(!pv::site_accepts(custom, action::bind_secure_mobile_phone, 86));
  STATIC_REQUIRE(pv::site_accepts(custom, action::chatapp_migration_verified, 62));
  STATIC_REQUIRE(!pv::site_accepts(custom, action::chatapp_migration_verified, 44));

  // The same policy from lists read at start-up.
  const std::uint16_t read_secure[] = {opaque<std::uint16_t>(886), 852, 853};
  const auto secure = pv::country_code_set::from_codes(read_secure);
  const auto contact = pv::country_code_set::from_codes(china);
  const auto cams = pv::country_code_set::from_codes(indonesia);
  REQUIRE(secure.has_value());
  REQUIRE(contact.has_value());
  REQUIRE(cams.has_value());
  const pv::site_policy loaded{*secure, *contact, *cams};
  CHECK(loaded == custom);
  for (action a : pv::all_actions)
    for (std::uint16_t cc = 0; cc <= 1000; ++cc) CHECK(pv::site_accepts(loaded, a, cc) == pv::site_accepts(custom, a, cc));
}

TEST_CASE("country_code_set::from_codes refuses a duplicate or a code outside 1..999", "[site]") {
  constexpr std::uint16_t duplicate[] = {86, 44, 86};
  constexpr std::uint16_t zero[] = {0};
  constexpr std::uint16_t too_big[] = {1000};
  STATIC_REQUIRE(pv::country_code_set::from_codes(duplicate).error() == errc::invalid_parameter);
  STATIC_REQUIRE(pv::country_code_set::from_codes(zero).error() == errc::invalid_parameter);
  STATIC_REQUIRE(pv::country_code_set::from_codes(too_big).error() == errc::invalid_parameter);
  STATIC_REQUIRE(pv::country_code_set::from_codes({}).has_value());
  const std::uint16_t run_time[] = {opaque<std::uint16_t>(44), opaque<std::uint16_t>(44)};
  CHECK(pv::country_code_set::from_codes(run_time).error() == errc::invalid_parameter);
  const std::uint16_t huge[] = {opaque<std::uint16_t>(65535)};
  CHECK(pv::country_code_set::from_codes(huge).error() == errc::invalid_parameter);
}

TEST_CASE("country_code_set holds exactly the codes inserted, for all 0..1000", "[site]") {
  pv::test::splitmix64 rng{pv::test::test_seed("country_code_set", 0x5eed'0005)};
  for (int round = 0; round < 20; ++round) {
    bool expected[1001] = {};
    pv::country_code_set set;
    std::size_t count = 0;
    for (int i = 0; i < 300; ++i) {
      const auto cc = static_cast<std::uint16_t>(rng() % 1001);
      const bool fresh = cc != 0 && cc != 1000 && !expected[cc];
      CHECK(set.insert(cc) == fresh);
      if (fresh) {
        expected[cc] = true;
        ++count;
      }
      if (rng() % 4 == 0) {
        const auto gone = static_cast<std::uint16_t>(rng() % 1001);
        CHECK(set.erase(gone) == expected[gone]);
        if (expected[gone]) --count;
        expected[gone] = false;
      }
    }
    CHECK(set.size() == count);
    for (std::uint16_t cc = 0; cc <= 1000; ++cc) CHECK(set.contains(cc) == expected[cc]);
  }
  CHECK_FALSE(pv::country_code_set{}.contains(opaque<std::uint16_t>(65535)));
  STATIC_REQUIRE(pv::country_code_set::all_assigned().size() == pv::assigned_country_code_count);
  STATIC_REQUIRE(pv::country_code_set{}.empty());
}

namespace {
// The wire error of a phone check: ok for an accepted phone.
constexpr errc wire(const pv::result<pv::phone_number, pv::phone_rejection>& r) {
  return r ? errc::ok : r.error().wire_error;
}
// RULES.md §2, written out independently of action.hpp: the actions that need a mobile...
constexpr bool spec_mobile_only(action a) { return kind_of(a) != phone_kind::cams; }
// ... the error of a syntax failure or a number that is not a mobile (RULES.md §2) ...
constexpr errc spec_syntax_error(action a) {
  switch (a) {
    case action::send_phone_verification_for_message_contact: return errc::invalid_parameter_phone_number;
    case action::enable_resource_directory: return errc::invalid_parameter_management_account_security_info;
    default: return errc::invalid_parameter;
  }
}
// ... and of a code the site refuses (RULES.md §3).
constexpr errc spec_site_error(action a) {
  switch (a) {
    case action::bind_secure_mobile_phone: return errc::not_support_site_action;
    case action::enable_resource_directory: return errc::invalid_parameter_management_account_security_info;
    case action::get_migration_verify_code:
    case action::chatapp_migration_verified: return errc::invalid_parameter;
    default: return errc::invalid_parameter_mobile_country_code;
  }
}
}  // namespace

TEST_CASE("check_phone_for_action applies the mobile rule, then the site, with each action's error", "[site]") {
  constexpr auto mobile = *pv::parse_phone("86-13900001234", pv::phone_format::dashed);
  constexpr auto fixed = *pv::parse_phone("86-1012345678", pv::phone_format::dashed);
  constexpr auto uk = *pv::parse_phone("44-7911123456", pv::phone_format::dashed);
  STATIC_REQUIRE(pv::check_phone_for_action(site::china, action::bind_secure_mobile_phone, mobile).has_value());
  STATIC_REQUIRE(*pv::check_phone_for_action(site::china, action::bind_secure_mobile_phone, mobile) == mobile);
  // Mobile rule (syntax) before the site (RULES.md §7: 3 before 4): the action's syntax error (RULES.md §2).
  STATIC_REQUIRE(wire(pv::check_phone_for_action(site::international, action::bind_secure_mobile_phone, fixed)) ==
                 errc::invalid_parameter);
  STATIC_REQUIRE(pv::check_phone_for_action(site::international, action::bind_secure_mobile_phone, fixed)
                     .error()
                     .refusal == pv::phone_refusal::not_a_mobile_number);
  STATIC_REQUIRE(wire(pv::check_phone_for_action(site::china,
                                                 action::send_verification_code_for_bind_secure_mobile_phone, fixed)) ==
                 errc::invalid_parameter);
  STATIC_REQUIRE(wire(pv::check_phone_for_action(site::china, action::send_phone_verification_for_message_contact,
                                                 fixed)) == errc::invalid_parameter_phone_number);
  STATIC_REQUIRE(pv::check_phone_for_action(site::china, action::get_migration_verify_code, fixed).has_value());
  // Site errors of RULES.md §3: 2 says NotSupport.Site.Action, 1, 3, 5 the country code.
  STATIC_REQUIRE(wire(pv::check_phone_for_action(site::international, action::bind_secure_mobile_phone, mobile)) ==
                 errc::not_support_site_action);
  STATIC_REQUIRE(pv::check_phone_for_action(site::international, action::bind_secure_mobile_phone, mobile)
                     .error()
                     .refusal == pv::phone_refusal::site);
  STATIC_REQUIRE(wire(pv::check_phone_for_action(site::china, action::send_verification_code_for_bind_secure_mobile_phone,
                                                 uk)) == errc::invalid_parameter_mobile_country_code);
  STATIC_REQUIRE(wire(pv::check_phone_for_action(site::china, action::send_verification_code_for_enable_rd, uk)) ==
                 errc::invalid_parameter_mobile_country_code);
  STATIC_REQUIRE(wire(pv::check_phone_for_action(site::international,
                                                 action::send_phone_verification_for_message_contact, uk)) ==
                 errc::invalid_parameter_mobile_country_code);
  STATIC_REQUIRE(wire(pv::check_phone_for_action(site::china, action::enable_resource_directory, uk)) ==
                 errc::invalid_parameter_management_account_security_info);
  for (site s : all_sites)
    for (action a : pv::all_actions)
      for (const auto& number : {mobile, fixed, uk}) {
        const auto got = pv::check_phone_for_action(opaque(s), opaque(a), number);
        const bool mobile_ok = !spec_mobile_only(a) || pv::is_mobile_number(number);
        const errc want = !mobile_ok                                  ? spec_syntax_error(a)
                          : !spec_accepts(s, a, number.country_code()) ? spec_site_error(a)
                                                                       : errc::ok;
        CHECK(wire(got) == want);
        if (got) CHECK(*got == number);
        if (!got) CHECK(got.error().at_syntax_step() == !mobile_ok);
        // The policy overload says the same as the site's.
        CHECK(pv::check_phone_for_action(pv::default_site_policy(s), a, number) == got);
      }
}

TEST_CASE("check_phone_for_action on text parses in the action's form, then checks the parsed number", "[site]") {
  using pv::phone_refusal;
  for (site s : all_sites)
    for (action a : pv::all_actions) {
      INFO(pv::action_name(a));
      const bool compact = kind_of(a) == phone_kind::cams;
      const pv::site_policy& policy = pv::default_site_policy(s);
      // A syntax error: the action's syntax error, the parser's reason and byte.
      const auto bad = pv::check_phone_for_action(policy, a, compact ? "86139x0001234" : "86-139x0001234");
      REQUIRE_FALSE(bad.has_value());
      CHECK(bad.error().wire_error == spec_syntax_error(a));
      CHECK(bad.error().refusal == phone_refusal::syntax);
      CHECK(bad.error().parse_error == pv::phone_error::non_digit);
      CHECK(bad.error().position == (compact ? 5 : 6));
      CHECK(bad.error().at_syntax_step());
      // The other form is a syntax error too.
      const auto other_form = pv::check_phone_for_action(policy, a, compact ? "86-13900001234" : "8613900001234");
      REQUIRE_FALSE(other_form.has_value());
      CHECK(other_form.error().refusal == phone_refusal::syntax);
      // An unassigned country code: step 4, the action's error for it.
      const auto unassigned = pv::check_phone_for_action(policy, a, compact ? "99912345678" : "999-12345678");
      REQUIRE_FALSE(unassigned.has_value());
      CHECK(unassigned.error().refusal == phone_refusal::unassigned_country_code);
      CHECK(unassigned.error().parse_error == pv::phone_error::unassigned_country_code);
      CHECK_FALSE(unassigned.error().at_syntax_step());
      CHECK(unassigned.error().wire_error == pv::info(a).phone_error.unassigned);
      // A number that parses: exactly the answer on the parsed number.
      for (std::string_view dashed : {"86-13900001234", "86-1012345678", "44-7911123456"}) {
        const auto number = *pv::parse_phone(dashed, pv::phone_format::dashed);
        const auto text = pv::format_phone(number, compact ? pv::phone_format::compact : pv::phone_format::dashed);
        CHECK(pv::check_phone_for_action(policy, a, text.view()) == pv::check_phone_for_action(policy, a, number));
      }
    }
}

// Public types: small, trivially copyable, usable in constant expressions.
static_assert(std::is_trivially_copyable_v<pv::country_code_set>);
static_assert(sizeof(pv::country_code_set) == 128);
static_assert(std::is_trivially_copyable_v<pv::site_policy>);
static_assert(sizeof(pv::site_policy) == 3 * 128);
static_assert(std::is_nothrow_default_constructible_v<pv::country_code_set>);
static_assert(noexcept(pv::site_accepts(site::china, action::bind_secure_mobile_phone, 86)));
static_assert(noexcept(pv::site_accepts(pv::china_site_policy, action::bind_secure_mobile_phone, 86)));
static_assert(pv::default_site_policy(site::china) == pv::china_site_policy);
static_assert(pv::international_site_policy.secure_phone.size() == pv::assigned_country_code_count - 1);
static_assert(pv::china_site_policy.cams == pv::country_code_set::all_assigned());
// policy_set reads the row's phone kind and hands back the policy's own set.
static_assert(&pv::policy_set(pv::china_site_policy, action::get_migration_verify_code) == &pv::china_site_policy.cams);
static_assert(&pv::policy_set(pv::china_site_policy, action::send_phone_verification_for_message_contact) ==
              &pv::china_site_policy.message_contact);
static_assert(&pv::policy_set(pv::china_site_policy, action::enable_resource_directory) ==
              &pv::china_site_policy.secure_phone);
// A value that is no action is accepted nowhere (site_accepts checks is_action before the row).
static_assert(!pv::site_accepts(pv::china_site_policy, static_cast<action>(9), 86));
static_assert(pv::info(action::bind_secure_mobile_phone).phone_error.site == errc::not_support_site_action);
static_assert(pv::info(action::send_phone_verification_for_message_contact).phone_error.site ==
              errc::invalid_parameter_mobile_country_code);
static_assert([] {
  pv::country_code_set set;
  const bool first = set.insert(86) && !set.insert(86) && !set.insert(0) && !set.insert(1000);
  const bool gone = set.erase(86) && !set.erase(86);
  return first && gone && set.empty() && set.size() == 0;
}());
static_assert(pv::check_phone_for_action(pv::china_site_policy, action::get_migration_verify_code,
                                         *pv::parse_phone("44-7911123456", pv::phone_format::dashed))
                  .has_value());
