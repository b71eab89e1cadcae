// phone.hpp: parse, format and mask phone numbers (RULES.md §2).
#include <catch2/catch.hpp>
#include <phoneverify/action.hpp>
#include <phoneverify/phone.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "support.hpp"

namespace pv = phoneverify;
using pv::errc;
using pv::phone_error;
using pv::phone_format;
using pv::test::opaque;

namespace {

constexpr auto dashed = phone_format::dashed;
constexpr auto compact = phone_format::compact;
constexpr auto e164 = phone_format::e164;
constexpr errc bad_phone = errc::invalid_parameter_phone_number;
constexpr errc bad_code = errc::invalid_parameter_mobile_country_code;

// `text` through volatile reads, so the run-time path is what is checked.
std::string_view at_run_time(std::string_view text) { return {opaque(text.data()), opaque(text.size())}; }

struct parse_case {
  std::string_view text;
  phone_format form;
  errc error;
  phone_error reason;
  std::size_t position;
};

// One table, checked at compile time and at run time. Each row names the rule
// of RULES.md §2 it checks.
constexpr parse_case parse_cases[] = {
    // The documented examples (RULES.md §1.1, §2), in their forms.
    {"44-7911123456", dashed, errc::ok, phone_error::none, 0},
    {"86-13900001234", dashed, errc::ok, phone_error::none, 0},
    {"8613800001234", compact, errc::ok, phone_error::none, 0},
    {"+447911123456", e164, errc::ok, phone_error::none, 0},
    {"1-2025550123", dashed, errc::ok, phone_error::none, 0},
    {"800-12345678", dashed, errc::ok, phone_error::none, 0},    // non-geographic
    {"+80012345678", e164, errc::ok, phone_error::none, 0},      // non-geographic, compact split
    {"39-0612345678", dashed, errc::ok, phone_error::none, 0},   // Italian leading zero kept
    // Masks, letters, spaces (doc examples are masked).
    {"86-139****1234", dashed, bad_phone, phone_error::non_digit, 6},
    {"xx-13900001234", dashed, bad_phone, phone_error::non_digit, 0},
    {"86 13900001234", dashed, bad_phone, phone_error::non_digit, 2},
    {"86-1390000123a", dashed, bad_phone, phone_error::non_digit, 13},
    {"861390000123 ", compact, bad_phone, phone_error::non_digit, 12},
    {"+44 7911123456", e164, bad_phone, phone_error::non_digit, 3},
    {"86-13900001234\n", dashed, bad_phone, phone_error::non_digit, 14},
    {std::string_view("86-1390000\0" "1234", 15), dashed, bad_phone, phone_error::non_digit, 10},
    // Full-width and other non-ASCII digits.
    {"86-\xEF\xBC\x91" "3900001234", dashed, bad_phone, phone_error::non_ascii, 3},  // U+FF11 FULLWIDTH ONE
    {"\xD9\xA8\xD9\xA6" "13900001234", compact, bad_phone, phone_error::non_ascii, 0},  // Arabic-Indic 8 6
    {"+86\xE0\xA5\xA7" "3900001234", e164, bad_phone, phone_error::non_ascii, 3},  // Devanagari one
    // Separators and '+'.
    {"86-139-00001234", dashed, bad_phone, phone_error::second_separator, 6},
    {"86--13900001234", dashed, bad_phone, phone_error::second_separator, 3},
    {"+86-13900001234", dashed, bad_phone, phone_error::plus_in_dashed, 0},
    {"86-+13900001234", dashed, bad_phone, phone_error::plus_in_dashed, 3},
    {"8613900001234", dashed, bad_phone, phone_error::missing_separator, 13},
    {"86-13900001234", compact, bad_phone, phone_error::unexpected_separator, 2},
    {"+86-13900001234", e164, bad_phone, phone_error::unexpected_separator, 3},
    {"+8613900001234", compact, bad_phone, phone_error::misplaced_plus, 0},
    {"++8613900001234", e164, bad_phone, phone_error::misplaced_plus, 1},
    {"8613900001234", e164, bad_phone, phone_error::missing_plus, 0},
    // Empty parts.
    {"", dashed, bad_phone, phone_error::empty, 0},
    {"", compact, bad_phone, phone_error::empty, 0},
    {"", e164, bad_phone, phone_error::empty, 0},
    {"-13900001234", dashed, bad_phone, phone_error::empty_country_code, 0},
    {"86-", dashed, bad_phone, phone_error::empty_national_number, 3},
    {"-", dashed, bad_phone, phone_error::empty_country_code, 0},
    {"+", e164, bad_phone, phone_error::empty_country_code, 1},
    {"86", compact, bad_phone, phone_error::empty_national_number, 2},
    {"+44", e164, bad_phone, phone_error::empty_national_number, 3},
    // Country code shape: 1-3 digits, no leading zero.
    {"086-13900001234", dashed, bad_phone, phone_error::leading_zero_country_code, 0},
    {"0-13900001234", dashed, bad_phone, phone_error::leading_zero_country_code, 0},
    {"008613900001234", compact, bad_phone, phone_error::leading_zero_country_code, 0},
    {"+08613900001234", e164, bad_phone, phone_error::leading_zero_country_code, 1},
    {"1234-5678901", dashed, bad_phone, phone_error::country_code_too_long, 3},
    // More than 15 digits in all (ITU-T E.164).
    {"86-13900001234567", dashed, bad_phone, phone_error::too_long, 16},
    {"8613900001234567", compact, bad_phone, phone_error::too_long, 15},
    {"+8613900001234567", e164, bad_phone, phone_error::too_long, 16},
    {"999-1234567890123", dashed, bad_phone, phone_error::too_long, 16},  // syntax before the code
    // Unassigned codes: InvalidParameter.MobileCountryCode.
    {"388-123456789", dashed, bad_code, phone_error::unassigned_country_code, 0},
    {"991-123456789", dashed, bad_code, phone_error::unassigned_country_code, 0},
    {"999-123456789", dashed, bad_code, phone_error::unassigned_country_code, 0},
    {"3881234567", compact, bad_code, phone_error::unassigned_country_code, 0},
    {"+9991234567", e164, bad_code, phone_error::unassigned_country_code, 1},
    {"388-1", dashed, bad_code, phone_error::unassigned_country_code, 0},  // the code before the length
    // National lengths: only the code's possible lengths (44: 7, 9, 10).
    {"44-79111234", dashed, bad_phone, phone_error::bad_length, 3},      // 8 digits
    {"44-791112345678", dashed, bad_phone, phone_error::bad_length, 3},  // 12 digits
    {"44-7911123", dashed, errc::ok, phone_error::none, 0},              // 7 digits
    {"44-791112345", dashed, errc::ok, phone_error::none, 0},            // 9 digits
    {"4479111234", compact, bad_phone, phone_error::bad_length, 2},
    {"+861390000123456", e164, bad_phone, phone_error::bad_length, 3},  // 86 allows 7..12, not 13
};

constexpr bool case_holds(const parse_case& c) {
  const auto r = pv::parse_phone_detailed(c.text, c.form);
  if (r.reason != c.reason || r.number.error() != c.error) return false;
  if (c.error != errc::ok) return r.position == c.position && pv::parse_phone(c.text, c.form).error() == c.error;
  return pv::format_phone(*r.number, c.form) == c.text;
}

constexpr phone_format all_forms[] = {dashed, compact, e164};

std::string national_of_length(std::size_t n, char first = '2') {
  std::string digits(n, '0');
  for (std::size_t i = 0; i < n; ++i) digits[i] = static_cast<char>('0' + (i * 7 + 3) % 10);
  if (n > 0) digits[0] = first;
  return digits;
}

std::string written(std::uint16_t cc, std::string_view national, phone_format form) {
  std::string text = form == e164 ? "+" : "";
  text += std::to_string(cc);
  if (form == dashed) text += '-';
  text += national;
  return text;
}

}  // namespace

TEST_CASE("parse_phone follows the table of RULES.md §2 cases at compile time and at run time", "[phone]") {
  STATIC_REQUIRE([] {
    for (const auto& c : parse_cases)
      if (!case_holds(c)) return false;
    return true;
  }());
  for (const auto& c : parse_cases) {
    CAPTURE(c.text, static_cast<int>(c.form));
    const auto r = pv::parse_phone_detailed(at_run_time(c.text), opaque(c.form));
    CHECK(r.number.error() == c.error);
    CHECK(r.reason == c.reason);
    CHECK(pv::to_errc(r.reason) == c.error);
    if (c.error != errc::ok) {
      CHECK(r.position == c.position);
    } else {
      CHECK(pv::format_phone(*r.number, c.form).view() == c.text);
    }
  }
}

TEST_CASE("parse_phone rejects a national number whose length the code does not allow", "[phone]") {
  // 86 allows 7..12 national digits; 13 is too many (and 16 in all would be syntax).
  STATIC_REQUIRE(pv::parse_phone("+86139000012345", e164).has_value());
  STATIC_REQUIRE(pv::parse_phone_detailed("86-13900001234567", dashed).reason == phone_error::too_long);
  STATIC_REQUIRE(pv::parse_phone_detailed("86-1390000", dashed).number.has_value());
  STATIC_REQUIRE(pv::parse_phone_detailed("86-1390000123456", dashed).reason == phone_error::bad_length);
  STATIC_REQUIRE(pv::parse_phone_detailed("86-123456", dashed).reason == phone_error::bad_length);
  CHECK(pv::parse_phone_detailed(at_run_time("86-1390000123456"), dashed).reason == phone_error::bad_length);
  CHECK(pv::parse_phone_detailed(at_run_time("86-123456"), dashed).position == 3);
}

TEST_CASE("parse_phone checks syntax, then the country code, then the length", "[phone]") {
  // RULES.md §2 order: a text broken in all three ways reports syntax; with good
  // syntax, an unassigned code wins over a bad length.
  STATIC_REQUIRE(pv::parse_phone("999-1x", dashed).error() == bad_phone);
  STATIC_REQUIRE(pv::parse_phone("999-1", dashed).error() == bad_code);
  STATIC_REQUIRE(pv::parse_phone("44-1", dashed).error() == bad_phone);
  CHECK(pv::parse_phone_detailed(at_run_time("999-1x"), dashed).reason == phone_error::non_digit);
  CHECK(pv::parse_phone_detailed(at_run_time("999-1"), dashed).reason == phone_error::unassigned_country_code);
  CHECK(pv::parse_phone_detailed(at_run_time("44-1"), dashed).reason == phone_error::bad_length);
  CHECK(pv::parse_phone_detailed(at_run_time("+9991"), e164).reason == phone_error::unassigned_country_code);
  CHECK(pv::parse_phone_detailed(at_run_time("+441"), e164).reason == phone_error::bad_length);
}

TEST_CASE("parse_phone takes every integer 0..1000 as a country code only when it is assigned", "[phone]") {
  for (std::uint32_t i = 0; i <= 1000; ++i) {
    const auto cc = static_cast<std::uint16_t>(i);
    CAPTURE(cc);
    const auto range = pv::national_number_lengths(cc);
    const std::string national = national_of_length(range.max != 0 ? range.min : 8);
    const std::string text = std::to_string(cc) + "-" + national;
    const auto r = pv::parse_phone_detailed(at_run_time(text), dashed);
    if (cc == 0) {
      CHECK(r.reason == phone_error::leading_zero_country_code);
    } else if (cc == 1000) {
      CHECK(r.reason == phone_error::country_code_too_long);
    } else if (pv::is_assigned_country_code(cc)) {
      REQUIRE(r.number.has_value());
      CHECK(r.number->country_code() == cc);
      CHECK(r.number->national_number() == national);
    } else {
      CHECK(r.number.error() == bad_code);
      CHECK(r.reason == phone_error::unassigned_country_code);
    }
  }
}

TEST_CASE("parse_phone accepts exactly the possible lengths of every assigned code, up to 15 digits", "[phone]") {
  // Every assigned code, national lengths 1..17, all three forms.
  for (const auto& entry : pv::country_code_table) {
    const std::uint16_t cc = entry.code;
    const std::size_t cc_digits = std::to_string(cc).size();
    for (std::size_t n = 1; n <= 17; ++n) {
      const std::string national = national_of_length(n);
      const bool expected = pv::is_possible_length(cc, n) && n + cc_digits <= 15;
      for (phone_format form : all_forms) {
        CAPTURE(cc, n, static_cast<int>(form));
        const std::string text = written(cc, national, form);
        const auto r = pv::parse_phone_detailed(at_run_time(text), form);
        REQUIRE(r.number.has_value() == expected);
        if (expected) {
          CHECK(r.number->country_code() == cc);
          CHECK(r.number->national_number() == national);
        } else {
          CHECK(r.number.error() == bad_phone);
          CHECK(r.reason == (n + cc_digits > 15 ? phone_error::too_long : phone_error::bad_length));
        }
      }
    }
  }
}

TEST_CASE("every accepted number formats back to its input in the same form, and the three forms agree",
          "[phone]") {
  STATIC_REQUIRE(pv::format_phone(*pv::parse_phone("86-13900001234", dashed), compact) ==
                 std::string_view("8613900001234"));
  STATIC_REQUIRE(pv::format_phone(*pv::parse_phone("8613900001234", compact), e164) ==
                 std::string_view("+8613900001234"));
  STATIC_REQUIRE(pv::format_phone(*pv::parse_phone("+8613900001234", e164), dashed) ==
                 std::string_view("86-13900001234"));
  pv::test::splitmix64 rng{pv::test::test_seed("phone round trip", 0x5eed'0003)};
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto& entry = pv::country_code_table[rng() % pv::assigned_country_code_count];
    const std::size_t n = 1 + rng() % 14;
    std::string national(n, '0');
    for (auto& c : national) c = static_cast<char>('0' + rng() % 10);
    const phone_format form = all_forms[rng() % 3];
    const std::string text = written(entry.code, national, form);
    const auto r = pv::parse_phone(at_run_time(text), form);
    if (!r) continue;
    ++accepted;
    CAPTURE(text);
    CHECK(pv::format_phone(*r, form).view() == text);
    for (phone_format other : all_forms) {
      const auto again = pv::parse_phone(pv::format_phone(*r, other), other);
      REQUIRE(again.has_value());
      CHECK(*again == *r);
      CHECK(pv::parse_phone(written(entry.code, national, other), other) == r);
    }
  }
  CHECK(accepted > 1000);  // the property was exercised
}

TEST_CASE("parse_phone gives a defined error, never a crash, for random bytes", "[phone]") {
  pv::test::splitmix64 rng{pv::test::test_seed("phone random bytes", 0x5eed'0004)};
  constexpr char alphabet[] = "0123456789-+ *x\xEF\xBC\x91";
  for (int i = 0; i < 20000; ++i) {
    std::string text(rng() % 20, '0');
    for (auto& c : text) c = alphabet[rng() % (sizeof alphabet - 1)];
    const phone_format form = all_forms[rng() % 3];
    const auto r = pv::parse_phone_detailed(at_run_time(text), form);
    CAPTURE(text, static_cast<int>(form));
    CHECK(r.number.error() == pv::to_errc(r.reason));
    if (r.number) {
      CHECK(pv::format_phone(*r.number, form).view() == text);
    } else {
      CHECK((r.number.error() == bad_phone || r.number.error() == bad_code));
      CHECK(r.position <= text.size());
    }
  }
}

// parse_phone's dashed form has its own one-pass path (phone_parse_dashed_fast,
// word-at-a-time reads); parse_phone_detailed keeps the byte-by-byte parser.
// They must agree on every text. Each text is copied into a heap block of
// exactly its size, so that a read past its end is caught by ASan.
namespace {
void check_digit_paths_agree(std::string_view text, phone_format form) {
  const std::unique_ptr<char[]> exact(new char[text.size() + (text.empty() ? 1 : 0)]);
  for (std::size_t i = 0; i < text.size(); ++i) exact[i] = text[i];
  const std::string_view copy = at_run_time(std::string_view(exact.get(), text.size()));
  const auto fast = pv::parse_phone(copy, opaque(form));
  const auto detailed = pv::parse_phone_detailed(copy, form);
  CAPTURE(text, static_cast<int>(form));
  REQUIRE(fast == detailed.number);
  if (fast) REQUIRE(pv::format_phone(*fast, form).view() == text);
}
void check_dashed_paths_agree(std::string_view text) { check_digit_paths_agree(text, dashed); }
// `check` of every text one byte away from `text`: each byte replaced by one
// of `odd` or dropped, and one of `odd` or a digit inserted at each offset.
template <std::size_t N, class Check>
void each_one_byte_away(const std::string& text, const char (&odd)[N], pv::test::splitmix64& rng, Check check) {
  for (std::size_t at = 0; at <= text.size(); ++at) {
    const char c = odd[rng() % N];
    if (at < text.size()) {
      std::string replaced = text;
      replaced[at] = c;
      check(replaced);
      check(std::string(text).erase(at, 1));
    }
    check(std::string(text).insert(at, 1, c));
    check(std::string(text).insert(at, 1, static_cast<char>('0' + rng() % 10)));
  }
}
// `check` of every code 0..999 (and "0") with a national number of random
// digits of every length 0..16.
template <class Check>
void each_code_and_national(pv::test::splitmix64& rng, Check check) {
  for (int code = 0; code <= 1000; ++code) {
    const std::string cc = code == 1000 ? std::string("0") : std::to_string(code);
    for (std::size_t length = 0; length <= 16; ++length) {
      std::string national(length, '0');
      for (auto& c : national) c = static_cast<char>('0' + rng() % 10);
      check(cc, national);
    }
  }
}
// `check` of every text of up to 4 bytes over a small alphabet.
template <class Check>
void each_short_text(Check check) {
  constexpr char small[] = {'0', '1', '4', '9', '-', '+', 'a'};
  for (std::size_t size = 0; size <= 4; ++size) {
    std::size_t count = 1;
    for (std::size_t i = 0; i < size; ++i) count *= sizeof small;
    for (std::size_t k = 0; k < count; ++k) {
      std::string text;
      for (std::size_t i = 0, v = k; i < size; ++i, v /= sizeof small) text += small[v % sizeof small];
      check(text);
    }
  }
}
}  // namespace

TEST_CASE("parse_phone's dashed path agrees with parse_phone_detailed near and far from the valid shape",
          "[phone]") {
  pv::test::splitmix64 rng{pv::test::test_seed("phone dashed paths", 0x5eed'0019)};
  // Bytes at the edges of the digit test: around '0' and '9', the '-', the
  // '+', the top bit, NUL, bytes whose low 7 bits are digits, and bytes whose
  // low 4 bits are those of the '-' (the dashed path finds the code from the
  // low 4 bits of the first bytes).
  constexpr char odd[] = {'/', ':', '-', '+', ' ', 'x', '*', '\0', '\x7F', '\x80', '\xB0', '\xB9', '\xFF', '\x10',
                          '=', 'M', ']', '\r', '\xAD', ',', '.'};
  std::size_t accepted = 0;
  each_code_and_national(rng, [&](const std::string& cc, const std::string& national) {
    const std::string text = cc + "-" + national;
    check_dashed_paths_agree(text);
    accepted += pv::parse_phone(at_run_time(text), dashed).has_value();
    // Every trunk prefix a code can have, and a leading zero of the code.
    for (const char* head : {"0", "1", "06", "8"}) check_dashed_paths_agree(cc + "-" + head + national);
    check_dashed_paths_agree("0" + text);
    // One byte replaced, dropped or inserted anywhere.
    each_one_byte_away(text, odd, rng, check_dashed_paths_agree);
  });
  CHECK(accepted > 400);  // valid numbers were among them
  // Random texts of digits and '-' (mostly digits), 0..20 bytes.
  for (int i = 0; i < 200000; ++i) {
    std::string text(rng() % 21, '0');
    for (auto& c : text) c = rng() % 8 == 0 ? '-' : static_cast<char>('0' + rng() % 10);
    check_dashed_paths_agree(text);
  }
  each_short_text(check_dashed_paths_agree);
}

// The same at compile time (the dashed path runs in constant evaluation too).
static_assert(pv::parse_phone("44-7911123456", dashed)->national_number() == "7911123456");
static_assert(pv::parse_phone("44-7911123456", dashed)->country_code() == 44);
static_assert(pv::parse_phone("1-2025550123", dashed)->digit_count() == 11);
static_assert(pv::parse_phone("86-13900001234", dashed) == pv::parse_phone("+8613900001234", e164));
static_assert(pv::parse_phone("998-12345678901234", dashed).error() == bad_phone);  // 17 digits
static_assert(pv::parse_phone("999-1234567", dashed).error() == bad_code);
static_assert(pv::parse_phone("49-015112345678", dashed).error() == bad_phone);  // trunk prefix
static_assert(pv::parse_phone("36-061234567", dashed).error() == bad_phone);     // two-digit trunk prefix
static_assert(pv::parse_phone("36-012345678", dashed).has_value());
static_assert(pv::parse_phone("1-1", dashed).error() == bad_phone);
static_assert(pv::parse_phone("1-", dashed).error() == bad_phone);
static_assert(pv::parse_phone("-1", dashed).error() == bad_phone);
static_assert(pv::parse_phone("-12025550123", dashed).error() == bad_phone);  // no code, 9 bytes and more
static_assert(pv::parse_phone("1=2025550123", dashed).error() == bad_phone);  // '=' looks like '-' in 4 bits
static_assert(pv::parse_phone("44=7911123456", dashed).error() == bad_phone);
static_assert(pv::parse_phone("44-791112345", dashed).has_value());          // 12 bytes
static_assert(pv::parse_phone("1-20255501", dashed).error() == bad_phone);    // 10 bytes: no such length
static_assert(pv::parse_phone("01-2025550123", dashed).error() == bad_phone);
static_assert(pv::parse_phone("1-202555-0123", dashed).error() == bad_phone);
static_assert(pv::parse_phone("1234-5678", dashed).error() == bad_phone);

// The compact and e164 forms have their own one-pass path too
// (phone_parse_digits_fast); it must agree with parse_phone_detailed on every
// text, read from an exact-size heap block as above.
namespace {
void check_digit_forms_agree(std::string_view digits) {
  std::string plus(1, '+');
  plus += digits;
  check_digit_paths_agree(digits, compact);
  check_digit_paths_agree(plus, e164);
  check_digit_paths_agree(digits, e164);  // no '+'
  check_digit_paths_agree(plus, compact);
}
}  // namespace

TEST_CASE("parse_phone's compact and e164 path agrees with parse_phone_detailed near and far from the valid shape",
          "[phone]") {
  pv::test::splitmix64 rng{pv::test::test_seed("phone digit paths", 0x5eed'0164)};
  constexpr char odd[] = {'/', ':', '-', '+', ' ', 'x', '*', '\0', '\x7F', '\x80', '\xB0', '\xB9', '\xFF', '\x10',
                          '=', 'M', ']', '\r', '\xAD', ',', '.', '\xAB', 'K', '['};
  std::size_t accepted = 0;
  each_code_and_national(rng, [&](const std::string& cc, const std::string& national) {
    const std::string text = cc + national;
    check_digit_forms_agree(text);
    accepted += pv::parse_phone(at_run_time(text), compact).has_value();
    std::string plus(1, '+');
    plus += text;
    accepted += pv::parse_phone(at_run_time(plus), e164).has_value();
    for (const char* head : {"0", "1", "06", "8"}) check_digit_forms_agree(cc + head + national);
    check_digit_forms_agree("0" + text);
    each_one_byte_away(text, odd, rng, check_digit_forms_agree);
  });
  CHECK(accepted > 800);  // valid numbers were among them
  // Random texts of digits with a few '+' and '-', 0..20 bytes.
  for (int i = 0; i < 200000; ++i) {
    std::string text(rng() % 21, '0');
    for (auto& c : text) c = rng() % 16 == 0 ? "+-"[rng() % 2] : static_cast<char>('0' + rng() % 10);
    check_digit_paths_agree(text, compact);
    check_digit_paths_agree(text, e164);
    if (!text.empty()) text[0] = '+';
    check_digit_paths_agree(text, e164);
  }
  each_short_text([](std::string_view text) {
    check_digit_paths_agree(text, compact);
    check_digit_paths_agree(text, e164);
  });
}

// The same at compile time (the compact and e164 path runs in constant evaluation too).
static_assert(pv::parse_phone("447911123456", compact)->national_number() == "7911123456");
static_assert(pv::parse_phone("+447911123456", e164)->country_code() == 44);
static_assert(pv::parse_phone("12025550123", compact)->digit_count() == 11);
static_assert(pv::parse_phone("+12025550123", e164) == pv::parse_phone("1-2025550123", dashed));
static_assert(pv::parse_phone("8613900001234", compact) == pv::parse_phone("86-13900001234", dashed));
static_assert(pv::parse_phone("+8613900001234", e164) == pv::parse_phone("86-13900001234", dashed));
static_assert(pv::parse_phone("9981234567890123", compact).error() == bad_phone);   // 16 digits
static_assert(pv::parse_phone("+9981234567890123", e164).error() == bad_phone);
static_assert(pv::parse_phone("9991234567", compact).error() == bad_code);
static_assert(pv::parse_phone("+9991234567", e164).error() == bad_code);
static_assert(pv::parse_phone("49015112345678", compact).error() == bad_phone);   // trunk prefix
static_assert(pv::parse_phone("+36061234567", e164).error() == bad_phone);        // two-digit trunk prefix
static_assert(pv::parse_phone("+36012345678", e164).has_value());
static_assert(pv::parse_phone("0447911123456", compact).error() == bad_phone);    // leading zero
static_assert(pv::parse_phone("+0447911123456", e164).error() == bad_phone);
static_assert(pv::parse_phone("8613900001234", e164).error() == bad_phone);       // no '+'
static_assert(pv::parse_phone("+8613900001234", compact).error() == bad_phone);
static_assert(pv::parse_phone("86139+0001234", compact).error() == bad_phone);
static_assert(pv::parse_phone("+86139-0001234", e164).error() == bad_phone);
static_assert(pv::parse_phone("44791112", compact).error() == bad_phone);         // 8 bytes: no such length
static_assert(pv::parse_phone("12025550", compact).has_value());                  // 8 bytes: 1 has 7 digits
static_assert(pv::parse_phone("6831234", compact).has_value());                   // under 8 digits
static_assert(pv::parse_phone("+6831234", e164).has_value());
static_assert(pv::parse_phone("68312345", compact).error() == bad_phone);
static_assert(pv::parse_phone("+881234567890", e164).has_value());                // 881: 9 digits
static_assert(pv::parse_phone("+8812345678", e164).error() == bad_phone);

TEST_CASE("parse_phone rejects a phone_format that is no enumerator", "[phone]") {
  STATIC_REQUIRE(pv::parse_phone_detailed("86-13900001234", static_cast<phone_format>(7)).reason ==
                 phone_error::unknown_format);
  CHECK(pv::parse_phone(at_run_time("86-13900001234"), opaque(static_cast<phone_format>(3))).error() == bad_phone);
}

TEST_CASE("mask_phone keeps the first 3 and last 4 of 8 or more national digits, the last 2 of fewer",
          "[phone]") {
  STATIC_REQUIRE(pv::mask_phone(*pv::parse_phone("86-13900001234", dashed)) == std::string_view("86-139****1234"));
  STATIC_REQUIRE(pv::mask_phone(*pv::parse_phone("44-7911123", dashed)) == std::string_view("44-*****23"));
  STATIC_REQUIRE(pv::mask_phone(*pv::parse_phone("800-12345678", dashed)) == std::string_view("800-123*5678"));
  // Every national length any code allows, checked digit by digit.
  for (const auto& entry : pv::country_code_table) {
    for (std::size_t n = 1; n <= pv::max_national_digits; ++n) {
      const std::string national = national_of_length(n, '9');
      const auto number = pv::phone_number::from_parts(entry.code, national);
      if (!number) continue;
      const auto masked = pv::mask_phone(*number);
      const std::string prefix = std::to_string(entry.code) + "-";
      CAPTURE(entry.code, n, masked.view());
      REQUIRE(masked.view().substr(0, prefix.size()) == prefix);
      const std::string_view shown = masked.view().substr(prefix.size());
      REQUIRE(shown.size() == n);
      const std::size_t head = n >= 8 ? 3 : 0;
      const std::size_t tail = n >= 8 ? 4 : (n < 2 ? n : 2);
      for (std::size_t i = 0; i < n; ++i) {
        if (i < head || i >= n - tail)
          CHECK(shown[i] == national[i]);
        else
          CHECK(shown[i] == '*');  // a middle digit never shows
      }
    }
  }
}

TEST_CASE("is_mobile_number: 86 needs 11 digits starting with 1, other codes any possible number", "[phone]") {
  STATIC_REQUIRE(pv::is_mobile_number(*pv::parse_phone("86-13900001234", dashed)));
  STATIC_REQUIRE(!pv::is_mobile_number(*pv::parse_phone("86-1012345678", dashed)));   // Beijing fixed line, 10
  STATIC_REQUIRE(!pv::is_mobile_number(*pv::parse_phone("86-23900001234", dashed)));  // 11 digits, not 1
  STATIC_REQUIRE(pv::is_mobile_number(*pv::parse_phone("44-2079460000", dashed)));    // London fixed line
  for (std::size_t n = 7; n <= 12; ++n)
    for (char first = '1'; first <= '9'; ++first) {  // '0' is 86's trunk prefix, refused by parsing
      const auto number = pv::phone_number::from_parts(86, national_of_length(n, first));
      REQUIRE(number.has_value());
      CHECK(pv::is_mobile_number(*number) == (n == 11 && first == '1'));
    }
  // The actions of RULES.md §2 that need a mobile: 1, 2, 3, 5 and EnableResourceDirectory.
  STATIC_REQUIRE(pv::info(pv::action::send_verification_code_for_bind_secure_mobile_phone).mobile_only);
  STATIC_REQUIRE(pv::info(pv::action::bind_secure_mobile_phone).mobile_only);
  STATIC_REQUIRE(pv::info(pv::action::send_verification_code_for_enable_rd).mobile_only);
  STATIC_REQUIRE(pv::info(pv::action::send_phone_verification_for_message_contact).mobile_only);
  STATIC_REQUIRE(pv::info(pv::action::enable_resource_directory).mobile_only);
  STATIC_REQUIRE(!pv::info(pv::action::get_migration_verify_code).mobile_only);
  STATIC_REQUIRE(!pv::info(pv::action::chatapp_migration_verified).mobile_only);
}

TEST_CASE("phone_number::from_parts applies the rules of parse_phone", "[phone]") {
  STATIC_REQUIRE(pv::phone_number::from_parts(86, "13900001234") == pv::parse_phone("86-13900001234", dashed));
  STATIC_REQUIRE(pv::phone_number::from_parts(388, "123456789").error() == bad_code);
  STATIC_REQUIRE(pv::phone_number::from_parts(0, "123456789").error() == bad_code);
  STATIC_REQUIRE(pv::phone_number::from_parts(44, "").error() == bad_phone);
  STATIC_REQUIRE(pv::phone_number::from_parts(44, "79111234").error() == bad_phone);
  STATIC_REQUIRE(pv::phone_number::from_parts(44, "791112345*").error() == bad_phone);
  STATIC_REQUIRE(pv::phone_number::from_parts(49, "123456789012345").error() == bad_phone);  // 17 in all
  for (const auto& entry : pv::country_code_table)
    for (std::size_t n = 0; n <= 17; ++n) {
      const std::string national = national_of_length(n);
      CAPTURE(entry.code, n);
      CHECK(pv::phone_number::from_parts(opaque(entry.code), national) ==
            pv::parse_phone(written(entry.code, national, dashed), dashed));
    }
}

TEST_CASE("every phone_error has a description and the wire error of RULES.md §2", "[phone]") {
  STATIC_REQUIRE(pv::describe(phone_error::second_separator) == "second '-'");
  STATIC_REQUIRE(pv::to_errc(phone_error::none) == errc::ok);
  for (int i = 0; i <= static_cast<int>(phone_error::trunk_prefix); ++i) {
    const auto e = static_cast<phone_error>(opaque(i));
    CHECK_FALSE(pv::describe(e).empty());
    CHECK(pv::to_errc(e) == (e == phone_error::none                      ? errc::ok
                             : e == phone_error::unassigned_country_code ? bad_code
                                                                         : bad_phone));
  }
  CHECK(pv::describe(static_cast<phone_error>(opaque(200))).empty());
}

// phone_number: small, trivially copyable, no heap (the public contract, RULES.md).
static_assert(std::is_trivially_copyable_v<pv::phone_number>);
static_assert(sizeof(pv::phone_number) <= 24);
static_assert(!std::is_default_constructible_v<pv::phone_number>);  // always valid
static_assert(std::is_nothrow_copy_constructible_v<pv::phone_number>);
static_assert(std::is_trivially_copyable_v<pv::result<pv::phone_number>>);
static_assert(std::is_trivially_copyable_v<pv::phone_parse_result>);
static_assert(noexcept(pv::parse_phone("", dashed)));
static_assert(noexcept(pv::format_phone(*pv::parse_phone("1-2025550123", dashed), dashed)));
static_assert(noexcept(pv::mask_phone(*pv::parse_phone("1-2025550123", dashed))));
static_assert(decltype(pv::format_phone(*pv::parse_phone("1-2025550123", dashed), dashed))::capacity() ==
              pv::max_phone_text);
static_assert(pv::parse_phone("1-2025550123", dashed)->digit_count() == 11);
static_assert(pv::parse_phone("+447911123456", e164)->country_code() == 44);
static_assert(pv::parse_phone("+447911123456", e164)->national_number() == "7911123456");

TEST_CASE("parse_phone refuses a national number that begins with its code's trunk prefix, in every form",
          "[phone]") {
  // One handset, one spelling (RULES.md §2): 49-015112345678 is 49-15112345678
  // dialled at home; accepting both would give one handset two keys.
  STATIC_REQUIRE(pv::parse_phone("49-15112345678", dashed).has_value());
  STATIC_REQUIRE(pv::parse_phone_detailed("49-015112345678", dashed).reason == phone_error::trunk_prefix);
  STATIC_REQUIRE(!pv::parse_phone("49-0015112345678", dashed).has_value());
  STATIC_REQUIRE(pv::parse_phone_detailed("86013800001234", compact).reason == phone_error::trunk_prefix);
  STATIC_REQUIRE(pv::parse_phone_detailed("+86013800001234", e164).reason == phone_error::trunk_prefix);
  STATIC_REQUIRE(pv::parse_phone("8613800001234", compact).has_value());
  STATIC_REQUIRE(pv::parse_phone_detailed("1-1202555012", dashed).reason == phone_error::trunk_prefix);
  STATIC_REQUIRE(pv::parse_phone_detailed("36-06123456", dashed).reason == phone_error::trunk_prefix);
  STATIC_REQUIRE(pv::parse_phone("36-612345678", dashed).has_value());  // 06 is the prefix, 6 alone is not
  // Codes whose numbers can begin with their prefix keep them: Italy has none, Russia's 8 starts 800 numbers.
  STATIC_REQUIRE(pv::parse_phone("39-0612345678", dashed).has_value());
  STATIC_REQUIRE(pv::parse_phone("7-8001234567", dashed).has_value());
  const auto refused = pv::parse_phone_detailed(at_run_time("49-015112345678"), dashed);
  CHECK(refused.number.error() == bad_phone);
  CHECK(refused.position == 3);  // the national number
  CHECK(pv::phone_number::from_parts(49, "015112345678").error() == bad_phone);
  CHECK(pv::phone_number::from_parts(49, "15112345678").has_value());
  CHECK(!pv::describe(phone_error::trunk_prefix).empty());
  CHECK(pv::to_errc(phone_error::trunk_prefix) == bad_phone);
  // Every code: a number of a possible length that begins with the prefix is
  // refused exactly when the table names one, with the trunk_prefix reason.
  int codes_with_prefix = 0;
  for (const auto& entry : pv::country_code_table) {
    if (entry.trunk_prefix_length == 0) continue;
    ++codes_with_prefix;
    const std::string prefix = entry.trunk_prefix_length == 2
                                   ? std::string{static_cast<char>('0' + entry.trunk_prefix_value / 10),
                                                 static_cast<char>('0' + entry.trunk_prefix_value % 10)}
                                   : std::string{static_cast<char>('0' + entry.trunk_prefix_value)};
    for (std::size_t n = prefix.size() + 1; n <= pv::max_national_digits; ++n) {
      if (!pv::is_possible_length(entry.code, n) || n + std::to_string(entry.code).size() > 15) continue;
      const std::string national = prefix + national_of_length(n - prefix.size(), '5');
      CAPTURE(entry.code, national);
      CHECK(pv::starts_with_trunk_prefix(entry.code, national));
      for (phone_format form : all_forms)
        CHECK(pv::parse_phone_detailed(at_run_time(written(entry.code, national, form)), form).reason ==
              phone_error::trunk_prefix);
    }
  }
  CHECK(codes_with_prefix == 101);  // of libphonenumber 8.12.57's 215 codes
}
