// SPDX-License-Identifier: MIT
// phoneverify: the syntax of every non-phone request parameter (RULES.md §1.1
// and appendix A).
//
// Each check takes the parameter exactly as received and says whether it is
// well formed, and if not, why (`param_reason`) and at which byte (for logs):
// the first byte that breaks the rule, so the time is bounded by the rule's
// maximum length, not the input's. Which errc a failure becomes is the action's
// business. Everything here is constexpr, noexcept and heap-free.
#ifndef PHONEVERIFY_PARAMS_HPP
#define PHONEVERIFY_PARAMS_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "detail/config.hpp"
#include "detail/digits.hpp"

namespace phoneverify {

// Why a parameter is not well formed. Values are append-only.
enum class param_reason : std::uint8_t {
  ok = 0,
  empty,                // the parameter is present but has no bytes
  non_ascii,            // a byte >= 0x80: every rule here is ASCII-only (no full-width digits, no look-alikes)
  control_character,    // a byte < 0x20 or 0x7F
  invalid_character,    // a printable ASCII byte the rule does not allow at this position
  too_short,            // the text ends before the rule's minimum length
  too_long,             // the text goes on past the rule's maximum length
  leading_zero,         // a numeric identifier that starts with 0
  missing_prefix,       // ContactId without its "c-"
  bad_start,            // MAName prefix starting with '_', '.' or '-'
  bad_end,              // MAName prefix ending with '_', '.' or '-'
  consecutive_special,  // MAName prefix with two of '_', '.', '-' in a row
  missing_domain,       // MAName without '@'
  wrong_domain,         // MAName whose domain is not "rdadmin.aliyunid.com"
  unknown_value,        // Method or EnableMode that names no accepted value
};

namespace detail {

// Short English phrases for logs, in enumerator order.
inline constexpr std::string_view param_reason_phrases[] = {
    "ok", "empty value", "non-ASCII byte", "control character", "character not allowed here", "too short",
    "too long", "leading zero", "missing prefix", "starts with a special character", "ends with a special character",
    "two special characters in a row", "missing '@' and domain", "wrong domain", "not one of the accepted values"};
static_assert(sizeof(param_reason_phrases) / sizeof(param_reason_phrases[0]) ==
              static_cast<std::size_t>(param_reason::unknown_value) + 1);

// names[e] for an enumerator e, "" for any other value.
template <class E, std::size_t N>
constexpr std::string_view name_of(E e, const std::string_view (&names)[N]) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < N ? names[i] : std::string_view{};
}

}  // namespace detail

// A short English phrase for logs ("non-ASCII byte"); "" for a value that is no enumerator.
constexpr std::string_view describe(param_reason r) noexcept { return detail::name_of(r, detail::param_reason_phrases); }

// The verdict of a syntax check: `reason` and `position`, the offset of the
// first byte that breaks the rule (the text's length when it ends too early; 0
// for ok). Positions never exceed a rule's maximum length + 1: 16 bits suffice.
struct param_check {
  param_reason reason = param_reason::ok;
  std::uint16_t position = 0;

  constexpr bool ok() const noexcept { return reason == param_reason::ok; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  friend constexpr bool operator==(const param_check&, const param_check&) noexcept = default;
};

// A check that also yields a value (Method, EnableMode): `value` is meaningful
// only when `check.ok()`.
template <class T>
struct parsed_param {
  T value{};
  param_check check{};

  constexpr bool ok() const noexcept { return check.ok(); }
  constexpr explicit operator bool() const noexcept { return ok(); }
  friend constexpr bool operator==(const parsed_param&, const parsed_param&) noexcept = default;
};

// Lengths the library decides [L] (RULES.md §1.1 gives none). Account IDs are
// 16 digits today; up to 20 (a 64-bit value) so that other IDs are not refused.
inline constexpr std::size_t account_id_max_digits = 20;
inline constexpr std::size_t cust_space_id_max_digits = 20;
inline constexpr std::size_t contact_id_max_suffix = 64;  // after "c-"
inline constexpr std::size_t request_id_max_length = 64;
// The MAName prefix and the only domain it may have (appendix A).
inline constexpr std::size_t ma_name_min_prefix = 2;
inline constexpr std::size_t ma_name_max_prefix = 50;
inline constexpr std::string_view ma_name_domain = "rdadmin.aliyunid.com";

namespace detail {

constexpr bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }
constexpr bool is_upper(char c) noexcept { return c >= 'A' && c <= 'Z'; }
// Branch-free: setting bit 0x20 folds A-Z onto a-z and maps no other byte into a-z.
constexpr bool is_alnum(char c) noexcept {
  const auto u = static_cast<unsigned>(static_cast<unsigned char>(c));
  return ((u | 0x20u) - 'a' < 26u) | (u - '0' < 10u);
}
constexpr char to_lower_ascii(char c) noexcept { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

// Non-ASCII and control bytes have their own reasons wherever they appear.
constexpr param_reason classify_bad_byte(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x80) return param_reason::non_ascii;
  if (u < 0x20 || u == 0x7F) return param_reason::control_character;
  return param_reason::invalid_character;
}

constexpr param_check fail(param_reason r, std::size_t position) noexcept {
  // Callers pass positions bounded by a rule's maximum length (<= 71).
  return {r, static_cast<std::uint16_t>(position)};
}

// A run of 1..max_length bytes, each satisfying `allowed`.
template <class Pred>
constexpr param_check check_run(std::string_view text, std::size_t offset, std::size_t max_length,
                                Pred allowed) noexcept {
  // The first byte that breaks the rule within max_length is the error; past
  // it, the text is too long.
  const std::size_t n = text.size() < max_length ? text.size() : max_length;
  std::size_t i = 0;
  while (i < n && allowed(text[i])) ++i;
  if (i < n) return fail(classify_bad_byte(text[i]), offset + i);
  if (text.size() > max_length) return fail(param_reason::too_long, offset + max_length);
  if (text.empty()) return fail(param_reason::too_short, offset);
  return {};
}

// A numeric identifier: 1..max_digits ASCII digits, no leading zero (a leading
// zero would give one account two spellings, hence two quota and code keys).
constexpr param_check check_numeric_id(std::string_view text, std::size_t max_digits) noexcept {
  if (text.empty()) return fail(param_reason::empty, 0);
  if (text[0] == '0') return fail(param_reason::leading_zero, 0);
  return check_run(text, 0, max_digits, is_digit);
}

// Matches `text` against `names` (compared after `fold` on the text's bytes):
// the index of the match, or the first position at which no name can match.
template <std::size_t N, class Fold>
constexpr param_check match_name(std::string_view text, const std::string_view (&names)[N], Fold fold,
                                 std::size_t& index) noexcept {
  if (text.empty()) return fail(param_reason::empty, 0);
  // The common case first: an exact match (the names are already folded).
  for (std::size_t k = 0; k < N; ++k)
    if (text == names[k]) {
      index = k;
      return {};
    }
  bool alive[N]{};
  for (auto& a : alive) a = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u >= 0x80 || u < 0x20 || u == 0x7F) return fail(classify_bad_byte(text[i]), i);
    bool any = false;
    for (std::size_t k = 0; k < N; ++k) {
      alive[k] = alive[k] && i < names[k].size() && fold(text[i]) == names[k][i];
      any = any || alive[k];
    }
    if (!any) return fail(param_reason::unknown_value, i);
  }
  for (std::size_t k = 0; k < N; ++k)
    if (alive[k] && names[k].size() == text.size()) {
      index = k;
      return {};
    }
  return fail(param_reason::unknown_value, text.size());
}

}  // namespace detail

// AccountId (actions 1, 2; RULES.md §1.1 "member account ID (digits)"): 1 to 20
// ASCII digits without a leading zero [L]. Masked examples ("138660628348****")
// are refused. Errors: empty, leading_zero, non_ascii, control_character,
// invalid_character, too_long.
constexpr param_check check_account_id(std::string_view text) noexcept {
  return detail::check_numeric_id(text, account_id_max_digits);
}

// CustSpaceId (actions 4, 7; RULES.md §1.1 "space ID ... (digits)"): the same
// rule as AccountId [L]. Errors as check_account_id.
constexpr param_check check_cust_space_id(std::string_view text) noexcept {
  return detail::check_numeric_id(text, cust_space_id_max_digits);
}

// ContactId (action 5; RULES.md §1.1, example "c-qL4HqKONzOM7****"): "c-" then 1
// to 64 ASCII letters and digits [L]. Errors: empty, missing_prefix (the first
// two bytes are not "c-"; position of the first that differs), non_ascii,
// control_character, invalid_character, too_short (nothing after "c-"), too_long.
constexpr param_check check_contact_id(std::string_view text) noexcept {
  if (text.empty()) return detail::fail(param_reason::empty, 0);
  for (std::size_t i = 0; i < 2; ++i) {
    if (i == text.size()) return detail::fail(param_reason::too_short, i);
    if (text[i] != "c-"[i]) {
      const auto r = detail::classify_bad_byte(text[i]);
      return detail::fail(r == param_reason::invalid_character ? param_reason::missing_prefix : r, i);
    }
  }
  return detail::check_run(text.substr(2), 2, contact_id_max_suffix, detail::is_alnum);
}

// Locale (action 4; RULES.md §1.1, "zh_CN", "en_US"): a language of 2 or 3
// lowercase ASCII letters, optionally '_' and a region of exactly 2 uppercase
// ASCII letters (the ISO 639 / ISO 3166 alpha shapes; no list is documented, so
// any such pair is accepted [L]). "zh-CN" and "zh_cn" are refused. Errors:
// empty, non_ascii, control_character, invalid_character, too_short, too_long.
constexpr param_check check_locale(std::string_view text) noexcept {
  if (text.empty()) return detail::fail(param_reason::empty, 0);
  std::size_t i = 0;
  for (; i < text.size() && i < 3 && text[i] != '_'; ++i)
    if (!detail::is_lower(text[i])) return detail::fail(detail::classify_bad_byte(text[i]), i);
  if (i < 2) return detail::fail(i == text.size() ? param_reason::too_short : param_reason::invalid_character, i);
  if (i == text.size()) return {};
  if (text[i] != '_') return detail::fail(detail::classify_bad_byte(text[i]), i);
  const std::size_t region = i + 1;
  for (std::size_t j = region; j < text.size(); ++j) {
    if (j == region + 2) return detail::fail(param_reason::too_long, j);
    if (!detail::is_upper(text[j])) return detail::fail(detail::classify_bad_byte(text[j]), j);
  }
  if (text.size() < region + 2) return detail::fail(param_reason::too_short, text.size());
  return {};
}

// How a CAMS migration code is delivered (action 4's Method).
enum class verify_method : std::uint8_t { sms, voice };

// How EnableResourceDirectory enables the directory (appendix A's EnableMode).
enum class enable_mode : std::uint8_t { current_account, new_management_account };

namespace detail {

// The wire spellings, in enumerator order.
inline constexpr std::string_view method_names[] = {"sms", "voice"};
inline constexpr std::string_view enable_mode_names[] = {"CurrentAccount", "NewManagementAccount"};

template <class E, std::size_t N, class Fold>
constexpr parsed_param<E> parse_name(std::string_view text, const std::string_view (&names)[N], Fold fold) noexcept {
  std::size_t index = 0;
  const param_check c = match_name(text, names, fold, index);
  return {static_cast<E>(index), c};
}

}  // namespace detail

// The wire spelling of a method: "sms" or "voice"; "" for a value that is no enumerator.
constexpr std::string_view method_name(verify_method m) noexcept { return detail::name_of(m, detail::method_names); }

// Method (action 4; RULES.md §1.1): "sms" or "voice", ASCII case-insensitive
// because the sources disagree on case [L]. Errors: empty, non_ascii,
// control_character, unknown_value (at the first byte no name can continue with,
// or at the end for a proper prefix such as "sm").
constexpr parsed_param<verify_method> parse_method(std::string_view text) noexcept {
  return detail::parse_name<verify_method>(text, detail::method_names, detail::to_lower_ascii);
}

// The wire spelling: "CurrentAccount" or "NewManagementAccount"; "" for a value that is no enumerator.
constexpr std::string_view enable_mode_name(enable_mode m) noexcept {
  return detail::name_of(m, detail::enable_mode_names);
}

// EnableMode (appendix A): exactly "CurrentAccount" or "NewManagementAccount",
// case-sensitive like every other enumerated wire value. Errors: empty,
// non_ascii, control_character, unknown_value.
constexpr parsed_param<enable_mode> parse_enable_mode(std::string_view text) noexcept {
  return detail::parse_name<enable_mode>(text, detail::enable_mode_names, [](char ch) { return ch; });
}

// MAName (appendix A): "<prefix>@rdadmin.aliyunid.com", the prefix 2 to 50
// ASCII letters, digits, '_', '.' and '-', starting and ending with a letter or
// digit, never two of '_', '.', '-' in a row. The domain is compared exactly
// (lowercase, as documented) [L]. Errors: empty, non_ascii, control_character,
// invalid_character, bad_start, consecutive_special, too_long (prefix over 50),
// missing_domain (no '@'), too_short (prefix under 2, at the '@'), bad_end (at
// the last prefix byte), wrong_domain (at the first byte that differs, or at the
// end when the domain is cut short).
constexpr param_check check_ma_name(std::string_view text) noexcept {
  if (text.empty()) return detail::fail(param_reason::empty, 0);
  auto special = [](char c) { return c == '_' || c == '.' || c == '-'; };
  std::size_t i = 0;
  for (; i < text.size() && text[i] != '@'; ++i) {
    if (i == ma_name_max_prefix) return detail::fail(param_reason::too_long, i);
    const char c = text[i];
    if (detail::is_alnum(c)) continue;
    if (!special(c)) return detail::fail(detail::classify_bad_byte(c), i);
    if (i == 0) return detail::fail(param_reason::bad_start, i);
    if (special(text[i - 1])) return detail::fail(param_reason::consecutive_special, i);
  }
  if (i == text.size()) return detail::fail(param_reason::missing_domain, i);
  if (i < ma_name_min_prefix) return detail::fail(param_reason::too_short, i);
  if (special(text[i - 1])) return detail::fail(param_reason::bad_end, i - 1);
  const std::size_t domain = i + 1;
  for (std::size_t j = domain; j < text.size(); ++j) {
    const std::size_t k = j - domain;
    if (k < ma_name_domain.size() && text[j] == ma_name_domain[k]) continue;
    const auto r = detail::classify_bad_byte(text[j]);
    return detail::fail(r == param_reason::invalid_character ? param_reason::wrong_domain : r, j);
  }
  if (text.size() - domain < ma_name_domain.size()) return detail::fail(param_reason::wrong_domain, text.size());
  return {};
}

// The text of a verification code (VerificationCode, VerifyCode; RULES.md §5):
// exactly `digits` ASCII digits, the code policy's length, 6 to 10 (a
// precondition). Errors: empty, non_ascii (full-width digits included),
// control_character, invalid_character, too_short, too_long.
constexpr param_check check_verification_code(std::string_view text, std::size_t digits) noexcept {
  PHONEVERIFY_ASSERT(digits >= detail::min_code_digits && digits <= detail::max_code_digits,
                     "check_verification_code: digits must be 6 to 10 (RULES.md §5)");
  if (text.empty()) return detail::fail(param_reason::empty, 0);
  const param_check c = detail::check_run(text, 0, digits, detail::is_digit);
  if (!c.ok()) return c;
  if (text.size() < digits) return detail::fail(param_reason::too_short, text.size());
  return {};
}

// A RequestId-style identifier ("DCD43660-75DD-5D15-B342-1B83FCA5B913"): 1 to 64
// ASCII letters, digits and '-' [L]; not a strict UUID, since action 4's own
// example ends in the letter 'O'. Errors: empty, non_ascii, control_character,
// invalid_character, too_long.
constexpr param_check check_request_id(std::string_view text) noexcept {
  if (text.empty()) return detail::fail(param_reason::empty, 0);
  return detail::check_run(text, 0, request_id_max_length,
                           [](char c) { return detail::is_alnum(c) || c == '-'; });
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_PARAMS_HPP
