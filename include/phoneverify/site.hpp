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
#include "action.hpp"
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

  // Whether the code of `number` is in the set: contains(number.country_code())
  // without the range test (a phone_number's code is 1..999).
  constexpr bool contains(const phone_number& number) const noexcept {
    const std::uint16_t cc = number.country_code();
    static_assert(sizeof words_ * 8 >= 1024, "every 10-bit code indexes a word");
    return (words_[cc / 64 % 16] >> (cc % 64) & 1u) != 0;
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
// the one its row names (info(a).phone): secure phone for 1, 2, 3 and
// EnableResourceDirectory, message contact for 5, CAMS for 4 and
// ChatappMigrationVerified.
constexpr const country_code_set& policy_set(const site_policy& policy, action a) noexcept {
  switch (info(a).phone) {
    case phone_kind::secure_phone: return policy.secure_phone;
    case phone_kind::message_contact: return policy.message_contact;
    case phone_kind::cams: break;
  }
  return policy.cams;
}

// Whether `policy` accepts country code `cc` for the phone of action `a`: the
// code must be assigned and in the action's set. False for an action that is
// no enumerator. Never throws, never allocates, usable in constant expressions.
constexpr bool site_accepts(const site_policy& policy, action a, std::uint16_t cc) noexcept {
  return is_action(a) && is_assigned_country_code(cc) && policy_set(policy, a).contains(cc);
}

// Whether `policy` accepts the code of `number` for the phone of action `a`:
// site_accepts of its code, without the assigned test (a phone_number's code
// always is assigned), for the hot path after parse_phone.
constexpr bool site_accepts(const site_policy& policy, action a, const phone_number& number) noexcept {
  return is_action(a) && policy_set(policy, a).contains(number);
}

// Whether site `s` accepts the code of `number` for the phone of action `a`.
constexpr bool site_accepts(site s, action a, const phone_number& number) noexcept {
  return site_accepts(default_site_policy(s), a, number);
}

// Whether site `s` accepts country code `cc` for the phone of action `a`
// (RULES.md §3 exactly): China site, secure phone only 86; international site,
// secure phone never 86; message contact only 86 on both; CAMS any assigned
// code. Never throws, never allocates, usable in constant expressions.
constexpr bool site_accepts(site s, action a, std::uint16_t cc) noexcept {
  return site_accepts(default_site_policy(s), a, cc);
}

// Why a phone is not acceptable for an action, in RULES.md §7's order: steps
// 3 (syntax, length, trunk prefix; the mobile rule) and 4 (the country code
// is not assigned; the site does not accept it).
enum class phone_refusal : std::uint8_t { syntax, not_a_mobile_number, unassigned_country_code, site };

// A phone refused for an action: the action's wire error for it (its row's
// phone_error), why, and for a parse failure the parser's reason and byte.
struct phone_rejection {
  errc wire_error;
  phone_refusal refusal;
  phone_error parse_error = phone_error::none;
  std::uint16_t position = 0;

  constexpr bool ok() const noexcept { return wire_error == errc::ok; }
  // Refused at step 3 (syntax), else at step 4 (country code and site).
  constexpr bool at_syntax_step() const noexcept {
    return refusal == phone_refusal::syntax || refusal == phone_refusal::not_a_mobile_number;
  }
  friend constexpr bool operator==(const phone_rejection&, const phone_rejection&) noexcept = default;
};

// Whether a parsed phone is acceptable for action `a` under `policy`: the
// mobile rule of RULES.md §2 where the action needs a mobile, then the site
// (RULES.md §3), each refusal with the action's own error (RULES.md §6). The
// one phone check of the library: the actions and the engine call it.
constexpr result<phone_number, phone_rejection> check_phone_for_action(const site_policy& policy, action a,
                                                                       const phone_number& number) noexcept {
  const phone_errors errors = info(a).phone_error;
  if (info(a).mobile_only && !is_mobile_number(number)) return phone_rejection{errors.syntax, phone_refusal::not_a_mobile_number};
  if (!site_accepts(policy, a, number)) return phone_rejection{errors.site, phone_refusal::site};
  return number;
}

// The same for a phone as the request spells it, in the action's form
// (info(a).phone_form): parse errors first, in RULES.md §2's order.
constexpr result<phone_number, phone_rejection> check_phone_for_action(const site_policy& policy, action a,
                                                                       std::string_view text) noexcept {
  const phone_parse_result parsed = parse_phone_detailed(text, info(a).phone_form);
  const auto position = static_cast<std::uint16_t>(parsed.position > 0xFFFF ? 0xFFFF : parsed.position);
  if (parsed.number) return check_phone_for_action(policy, a, *parsed.number);
  if (parsed.reason == phone_error::unassigned_country_code)
    return phone_rejection{info(a).phone_error.unassigned, phone_refusal::unassigned_country_code, parsed.reason, position};
  return phone_rejection{info(a).phone_error.syntax, phone_refusal::syntax, parsed.reason, position};
}

// check_phone_for_action with the built-in policy of site `s`.
constexpr result<phone_number, phone_rejection> check_phone_for_action(site s, action a,
                                                                       const phone_number& number) noexcept {
  return check_phone_for_action(default_site_policy(s), a, number);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_SITE_HPP
