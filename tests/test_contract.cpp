// The public contract (RULES.md, "The public contract"): the names and shapes
// that code outside this repository uses. This file fails to compile when one
// of them changes, so a change to the contract has to be deliberate.
#include <catch2/catch.hpp>
#include <phoneverify/phoneverify.hpp>

#include <concepts>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "support.hpp"

namespace pv = phoneverify;

// errc.hpp
static_assert(std::is_same_v<std::underlying_type_t<pv::errc>, std::uint8_t>);
static_assert(static_cast<int>(pv::errc::ok) == 0);
static_assert(std::is_same_v<decltype(pv::code_string(pv::errc{})), std::string_view>);
static_assert(std::is_same_v<decltype(pv::message(pv::errc{})), std::string_view>);
static_assert(std::is_same_v<decltype(pv::http_status(pv::errc{})), int>);
static_assert(std::is_same_v<decltype(pv::errc_from_string(std::string_view{})), std::optional<pv::errc>>);
static_assert(std::is_same_v<decltype(pv::error_category()), const std::error_category&>);
static_assert(std::is_same_v<decltype(pv::make_error_code(pv::errc{})), std::error_code>);
static_assert(std::is_error_code_enum_v<pv::errc>);
static_assert(noexcept(pv::code_string(pv::errc{})) && noexcept(pv::errc_from_string("")));
static_assert(std::is_same_v<std::underlying_type_t<pv::action>, std::uint8_t>);
static_assert(std::is_same_v<decltype(pv::action_name(pv::action{})), std::string_view>);
static_assert(std::is_same_v<decltype(pv::action_from_name(std::string_view{})), std::optional<pv::action>>);
static_assert(std::is_same_v<decltype(pv::documented_errors(pv::action{})), std::span<const pv::documented_error>>);
static_assert(std::is_same_v<decltype(pv::documented_error{}.code), pv::errc>);
static_assert(std::is_same_v<decltype(pv::documented_error{}.http_status), int>);
static_assert(std::is_same_v<decltype(pv::documented_error{}.message), std::string_view>);
static_assert(std::is_same_v<decltype(pv::documented_error{}.description), std::string_view>);
// The enumerators the contract names by its snake-case rule.
static_assert(pv::code_string(pv::errc::invalid_parameter_mobile_country_code) == "InvalidParameter.MobileCountryCode");
static_assert(pv::code_string(pv::errc::ram_permission_deny) == "Ram.PermissionDeny");
static_assert(pv::code_string(pv::errc::missing_parameter) == "MissingParameter");
static_assert(pv::action_name(pv::action::send_verification_code_for_bind_secure_mobile_phone) ==
              "SendVerificationCodeForBindSecureMobilePhone");
static_assert(pv::action_name(pv::action::chatapp_migration_verified) == "ChatappMigrationVerified");

// result.hpp
static_assert(std::is_same_v<decltype(pv::result<int>(1).has_value()), bool>);
static_assert(std::is_same_v<decltype(pv::result<int>(1).error()), pv::errc>);
static_assert(std::is_constructible_v<bool, pv::result<int>> && !std::is_convertible_v<pv::result<int>, bool>);

// phone.hpp, country_codes.hpp, site.hpp
static_assert(std::is_trivially_copyable_v<pv::phone_number>);
static_assert(std::is_same_v<decltype(pv::parse_phone("", pv::phone_format::dashed)), pv::result<pv::phone_number>>);
static_assert(std::is_same_v<decltype(std::declval<pv::phone_number>().country_code()), std::uint16_t>);
static_assert(std::is_same_v<decltype(std::declval<pv::phone_number>().national_number()), std::string_view>);
static_assert(std::is_convertible_v<decltype(pv::format_phone(std::declval<pv::phone_number>(), pv::phone_format::e164)),
                                    std::string_view>);
static_assert(std::is_convertible_v<decltype(pv::mask_phone(std::declval<pv::phone_number>())), std::string_view>);
static_assert(std::is_same_v<decltype(pv::is_assigned_country_code(std::uint16_t{})), bool>);
static_assert(std::is_same_v<decltype(pv::national_number_lengths(std::uint16_t{})), pv::length_range>);
static_assert(std::is_same_v<decltype(pv::is_possible_length(std::uint16_t{}, std::size_t{})), bool>);
static_assert(pv::national_number_lengths(999).min == 0 && pv::national_number_lengths(999).max == 0);
static_assert(std::is_same_v<decltype(pv::site_accepts(pv::site::china, pv::action{}, std::uint16_t{})), bool>);

// time.hpp
static_assert(std::is_same_v<pv::timestamp, std::chrono::sys_time<std::chrono::milliseconds>>);
static_assert(std::is_convertible_v<decltype(pv::format_iso8601(pv::timestamp{})), std::string_view>);
static_assert(std::is_same_v<decltype(pv::parse_iso8601("")), pv::result<pv::timestamp>>);

// quota.hpp
static_assert(std::is_same_v<decltype(pv::decision{}.allowed), bool>);
static_assert(std::is_same_v<decltype(pv::decision{}.remaining), std::uint32_t>);
static_assert(std::is_same_v<decltype(pv::decision{}.retry_at), pv::timestamp>);
static_assert(pv::daily_quota{}.limit == 100 && pv::daily_quota{}.utc_offset == std::chrono::minutes{8 * 60});
static_assert(std::is_trivially_copyable_v<pv::daily_usage> && sizeof(pv::daily_usage) <= 8);
static_assert(std::is_same_v<decltype(pv::consume(pv::daily_quota{}, std::declval<pv::daily_usage&>(), pv::timestamp{})),
                             pv::decision>);
static_assert(pv::rate_limit{}.count == 10 && pv::rate_limit{}.period == std::chrono::milliseconds{1000});
static_assert(std::is_trivially_copyable_v<pv::rate_state> && sizeof(pv::rate_state) <= 8);
static_assert(std::is_same_v<decltype(pv::admit(pv::rate_limit{}, std::declval<pv::rate_state&>(), pv::timestamp{})),
                             pv::decision>);

// code.hpp
static_assert(pv::code_policy{}.digits == 6 && pv::code_policy{}.validity == std::chrono::seconds{300});
static_assert(pv::code_policy{}.max_attempts == 5 && pv::code_policy{}.resend_interval == std::chrono::seconds{60});
static_assert(pv::code_policy{}.max_consecutive_failures == 100 &&
              pv::code_policy{}.lockout == std::chrono::seconds{24 * 3600});
static_assert(std::is_same_v<pv::secret_key, std::array<std::byte, 32>>);
static_assert(std::is_same_v<decltype(std::declval<pv::code_binding>().purpose), pv::action>);
static_assert(std::is_same_v<decltype(std::declval<pv::code_binding>().account_id), std::string_view>);
static_assert(std::is_same_v<decltype(std::declval<pv::code_binding>().phone), pv::phone_number>);
static_assert(std::is_trivially_copyable_v<pv::challenge> && sizeof(pv::challenge) <= 64);
static_assert(std::is_convertible_v<decltype(std::declval<pv::issued_code>().code), std::string_view>);
static_assert(std::is_same_v<decltype(std::declval<pv::issued_code>().expires_at), pv::timestamp>);
static_assert(std::is_same_v<decltype(pv::issue_code(pv::code_policy{}, pv::secret_key{}, std::declval<pv::code_binding>(),
                                                     std::declval<pv::challenge&>(), pv::timestamp{},
                                                     std::declval<pv::test::splitmix64&>())),
                             pv::result<pv::issued_code>>);
static_assert(std::is_same_v<decltype(pv::next_issue_at(pv::code_policy{}, pv::challenge{})), pv::timestamp>);
static_assert(std::is_same_v<decltype(pv::check_code(pv::code_policy{}, pv::secret_key{}, std::declval<pv::code_binding>(),
                                                     std::declval<pv::challenge&>(), std::string_view{}, pv::timestamp{})),
                             pv::check_status>);
static_assert(pv::to_errc(pv::check_status::other_binding) == pv::errc::invalid_verification_code);
static_assert(pv::to_errc(pv::check_status::ok) == pv::errc::ok);
static_assert(static_cast<int>(pv::check_status::ok) == 0 && static_cast<int>(pv::check_status::malformed) == 8);

TEST_CASE("the public contract holds at run time too", "[contract]") {
  const std::error_code ec = pv::make_error_code(pv::errc::invalid_verification_code);
  CHECK(std::string_view(ec.category().name()) == "phoneverify");
  const auto phone = pv::parse_phone("86-13900001234", pv::phone_format::dashed);
  REQUIRE(phone);
  CHECK(pv::mask_phone(*phone).view() == "86-139****1234");
  CHECK(pv::format_iso8601(pv::timestamp{std::chrono::milliseconds{1'639'726'721'747}}).view() ==
        "2021-12-17T07:38:41.747Z");
  CHECK(pv::site_accepts(pv::site::international, pv::action::bind_secure_mobile_phone, 86) == false);
}
