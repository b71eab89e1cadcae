// SPDX-License-Identifier: MIT
// phoneverify: which country codes each site accepts for each action
// (RULES.md §3).
//
// A site_policy is three sets of calling codes (secure phone, message
// contact, CAMS); the two built-in policies encode RULES.md §3, and a user
// replaces them with their own, built at compile time (make_country_code_set,
// which refuses duplicates and codes outside 1..999) or at start-up
// (country_code_set::from_codes, which returns an errc). A code that is not
// assigned (country_codes.hpp) is never accepted, whatever a set says.
// Everything is constexpr, noexcept and heap-free.
#ifndef PHONEVERIFY_SITE_HPP
#define PHONEVERIFY_SITE_HPP

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "country_codes.hpp"
#include "errc.hpp"
#include "phone.hpp"
#include "result.hpp"

namespace phoneverify {

// The two Alibaba Cloud sites (RULES.md §3): aliyun.com and alibabacloud.com.
enum class site : std::uint8_t { china, international };

// A set of calling codes 1..999 as a 1000-bit bitset: O(1) contains, 128
// bytes, trivially copyable, usable in constant expressions. Built empty,
// from a list (make_country_code_set, from_codes) or from the assigned codes.
class country_code_set {
 public:
  static constexpr std::uint16_t max_code = 999;

  // The empty set.
  constexpr country_code_set() noexcept = default;

  // Whether `cc` is in the set; false for 0 and for anything above 999.
  constexpr bool contains(std::uint16_t cc) const noexcept {
    return cc <= max_code && (words_[cc / 64] >> (cc % 64) & 1u) != 0;
  }

  // Adds `cc`: false (and no change) when it is 0, above 999, or already in.
  constexpr bool insert(std::uint16_t cc) noexcept {
    if (cc == 0 || cc > max_code || contains(cc)) return false;
    words_[cc / 64] |= std::uint64_t{1} << (cc % 64);
    return true;
  }

  // Removes `cc`: false when it was not in the set.
  constexpr bool erase(std::uint16_t cc) noexcept {
    if (!contains(cc)) return false;
    words_[cc / 64] &= ~(std::uint64_t{1} << (cc % 64));
    return true;
  }

  // How many codes the set holds.
  constexpr std::size_t size() const noexcept {
    std::size_t count = 0;
    for (std::uint64_t word : words_)
      for (; word != 0; word &= word - 1) ++count;
    return count;
  }
  constexpr bool empty() const noexcept { return size() == 0; }

  // The set of codes in `codes`, for start-up configuration: errc::invalid_parameter
  // when a code is 0, above 999, or appears twice (a typo in a configuration
  // file must not pass silently). Codes that are not assigned are kept but
  // never accepted by site_accepts.
  static constexpr result<country_code_set> from_codes(std::span<const std::uint16_t> codes) noexcept {
    country_code_set set;
    for (std::uint16_t cc : codes)
      if (!set.insert(cc)) return errc::invalid_parameter;
    return set;
  }

  // Every assigned calling code (country_codes.hpp).
  static constexpr country_code_set all_assigned() noexcept {
    country_code_set set;
    for (const auto& entry : country_code_table) set.insert(entry.code);
    return set;
  }

  friend constexpr bool operator==(const country_code_set&, const country_code_set&) noexcept = default;

 private:
  std::uint64_t words_[(max_code + 64) / 64]{};
};

namespace detail {
// Deliberately not constexpr: reaching them while building a set at compile
// time is the compile error, and their names are the message.
inline void country_code_set_duplicate_code() noexcept {}
inline void country_code_set_code_out_of_range() noexcept {}
}  // namespace detail

// The set of `codes`, built at compile time: a code listed twice or outside
// 1..999 does not compile (the error names country_code_set_duplicate_code or
// country_code_set_code_out_of_range). For sites and policies fixed in the
// program; use country_code_set::from_codes for a list read at start-up.
template <std::size_t N>
consteval country_code_set make_country_code_set(const std::uint16_t (&codes)[N]) noexcept {
  country_code_set set;
  for (std::uint16_t cc : codes) {
    if (cc == 0 || cc > country_code_set::max_code) detail::country_code_set_code_out_of_range();
    if (!set.insert(cc)) detail::country_code_set_duplicate_code();
  }
  return set;
}

// Which country codes a site accepts, per kind of phone (RULES.md §3): the
// secure phone (actions 1, 2, 3 and EnableResourceDirectory), the message
// contact (action 5) and CAMS (action 4 and ChatappMigrationVerified). A user
// builds their own for a custom site, at compile time or at start-up.
struct site_policy {
  country_code_set secure_phone;
  country_code_set message_contact;
  country_code_set cams;

  friend constexpr bool operator==(const site_policy&, const site_policy&) noexcept = default;
};

namespace detail {
constexpr country_code_set site_assigned_without(std::uint16_t cc) noexcept {
  country_code_set set = country_code_set::all_assigned();
  set.erase(cc);
  return set;
}
inline constexpr std::uint16_t site_china_only[] = {86};
}  // namespace detail

// The China site (aliyun.com, RULES.md §3): secure phones and message contacts
// only 86; CAMS any assigned code.
inline constexpr site_policy china_site_policy{make_country_code_set(detail::site_china_only),
                                               make_country_code_set(detail::site_china_only),
                                               country_code_set::all_assigned()};

// The international site (alibabacloud.com, RULES.md §3): secure phones any
// assigned code but 86; message contacts only 86; CAMS any assigned code.
inline constexpr site_policy international_site_policy{detail::site_assigned_without(86),
                                                       make_country_code_set(detail::site_china_only),
                                                       country_code_set::all_assigned()};

// The built-in policy of `s`; the international one for a value that is no enumerator.
constexpr const site_policy& default_site_policy(site s) noexcept {
  return s == site::china ? china_site_policy : international_site_policy;
}

// The set of `policy` that governs the phone of action `a` (RULES.md §3):
// secure phone for 1, 2, 3 and EnableResourceDirectory, message contact for
// 5, CAMS for 4 and ChatappMigrationVerified. nullptr for a value that is no
// enumerator.
constexpr const country_code_set* policy_set(const site_policy& policy, action a) noexcept {
  switch (a) {
    case action::send_verification_code_for_bind_secure_mobile_phone:
    case action::bind_secure_mobile_phone:
    case action::send_verification_code_for_enable_rd:
    case action::enable_resource_directory: return &policy.secure_phone;
    case action::send_phone_verification_for_message_contact: return &policy.message_contact;
    case action::get_migration_verify_code:
    case action::chatapp_migration_verified: return &policy.cams;
  }
  return nullptr;
}

// Whether `policy` accepts country code `cc` for the phone of action `a`: the
// code must be assigned and in the action's set. False for an action that is
// no enumerator. Never throws, never allocates, usable in constant expressions.
constexpr bool site_accepts(const site_policy& policy, action a, std::uint16_t cc) noexcept {
  // The sets by name, not through policy_set's pointer: with -fsanitize=null,
  // g++ 12 cannot compare the address of a member of a constexpr object
  // (action_policy's sites, held by value) with nullptr in a constant expression.
  if (!is_assigned_country_code(cc)) return false;
  switch (a) {
    case action::send_verification_code_for_bind_secure_mobile_phone:
    case action::bind_secure_mobile_phone:
    case action::send_verification_code_for_enable_rd:
    case action::enable_resource_directory: return policy.secure_phone.contains(cc);
    case action::send_phone_verification_for_message_contact: return policy.message_contact.contains(cc);
    case action::get_migration_verify_code:
    case action::chatapp_migration_verified: return policy.cams.contains(cc);
  }
  return false;
}

// Whether site `s` accepts country code `cc` for the phone of action `a`
// (RULES.md §3 exactly): China site, secure phone only 86; international site,
// secure phone never 86; message contact only 86 on both; CAMS any assigned
// code. Never throws, never allocates, usable in constant expressions.
constexpr bool site_accepts(site s, action a, std::uint16_t cc) noexcept {
  return site_accepts(default_site_policy(s), a, cc);
}

// The wire error when a site refuses a code for action `a` (RULES.md §3, §6):
// NotSupport.Site.Action for BindSecureMobilePhone (the only site error it
// documents), InvalidParameter.ManagementAccountSecurityInfo for
// EnableResourceDirectory (its error for the management account's phone),
// InvalidParameter.MobileCountryCode for every other action. [L] for
// EnableResourceDirectory, 4 and ChatappMigrationVerified, which document no
// site error of their own.
constexpr errc site_rejection_error(action a) noexcept {
  if (a == action::bind_secure_mobile_phone) return errc::not_support_site_action;
  if (a == action::enable_resource_directory) return errc::invalid_parameter_management_account_security_info;
  return errc::invalid_parameter_mobile_country_code;
}

// The checks of a parsed phone for action `a` under `policy`, in RULES.md §7
// order: the mobile rule of RULES.md §2 (syntax: invalid_parameter_phone_number
// for a non-mobile 86 number where the action needs a mobile), then the site
// (site_rejection_error(a)). errc::ok when the phone is accepted.
constexpr errc check_phone_for_action(const site_policy& policy, action a, const phone_number& number) noexcept {
  if (requires_mobile_number(a) && !is_mobile_number(number)) return errc::invalid_parameter_phone_number;
  if (!site_accepts(policy, a, number.country_code())) return site_rejection_error(a);
  return errc::ok;
}

// check_phone_for_action with the built-in policy of site `s`.
constexpr errc check_phone_for_action(site s, action a, const phone_number& number) noexcept {
  return check_phone_for_action(default_site_policy(s), a, number);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_SITE_HPP
