// SPDX-License-Identifier: MIT
// phoneverify: phone numbers (RULES.md §2): parse the three forms strictly,
// format them back, mask them for logs, and tell a mobile number for the
// actions that need one.
//
// A phone_number is always valid: the only ways to get one are parse_phone and
// phone_number::from_parts, which apply every rule of RULES.md §2. Everything
// here is constexpr, noexcept and heap-free.
#ifndef PHONEVERIFY_PHONE_HPP
#define PHONEVERIFY_PHONE_HPP

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "country_codes.hpp"
#include "detail/digits.hpp"
#include "errc.hpp"
#include "inline_string.hpp"
#include "result.hpp"

namespace phoneverify {

// The three written forms of a number (RULES.md §2): dashed `44-7911123456`
// (actions 1, 2, 3, 5), compact `447911123456` (action 4) and e164
// `+447911123456` (what users log and store).
enum class phone_format : std::uint8_t { dashed, compact, e164 };

// The most digits a number has in all, country code included (ITU-T E.164 §6).
inline constexpr std::size_t max_phone_digits = 15;

// The longest text any form takes: 15 digits and a '-' or a '+'.
inline constexpr std::size_t max_phone_text = max_phone_digits + 1;

// The longest national number a valid phone_number can hold: 15 digits less
// at least one of country code.
inline constexpr std::size_t max_national_digits = max_phone_digits - 1;

// Why a text is not a phone number: the precise rule, for logs (the wire only
// carries the errc). Values are append-only.
enum class phone_error : std::uint8_t {
  none = 0,                   // a valid number
  empty,                      // the text is empty
  non_digit,                  // an ASCII character that is no digit: letter, space, mask '*', punctuation
  non_ascii,                  // a byte above 0x7F: full-width or other non-ASCII digits, any UTF-8
  missing_separator,          // dashed: no '-' between country code and national number
  second_separator,           // dashed: a second '-'
  plus_in_dashed,             // dashed: a '+' (the dashed form has none)
  unexpected_separator,       // compact or e164: a '-'
  misplaced_plus,             // compact: any '+'; e164: a '+' that is not the first character
  missing_plus,               // e164: the text does not start with '+'
  empty_country_code,         // nothing where the country code goes
  country_code_too_long,      // dashed: more than 3 digits before the '-'
  leading_zero_country_code,  // the country code starts with 0 (ITU-T E.164: codes have none)
  empty_national_number,      // nothing after the country code
  too_long,                   // more than 15 digits in all (ITU-T E.164)
  unassigned_country_code,    // no numbering plan for the code (InvalidParameter.MobileCountryCode)
  bad_length,                 // the national length is not one of the code's possible lengths
  unknown_format,             // the phone_format argument is no enumerator
  trunk_prefix,               // the national number begins with the code's trunk prefix (49-0151...): one handset, one spelling
};

// A short English description of a reason, for logs; "" for a value that is
// no enumerator.
constexpr std::string_view describe(phone_error e) noexcept {
  switch (e) {
    case phone_error::none: return "valid phone number";
    case phone_error::empty: return "empty phone number";
    case phone_error::non_digit: return "character that is not an ASCII digit";
    case phone_error::non_ascii: return "non-ASCII byte (full-width or other non-ASCII digit)";
    case phone_error::missing_separator: return "no '-' between country code and national number";
    case phone_error::second_separator: return "second '-'";
    case phone_error::plus_in_dashed: return "'+' in the dashed form";
    case phone_error::unexpected_separator: return "'-' in the compact or e164 form";
    case phone_error::misplaced_plus: return "'+' where none is allowed";
    case phone_error::missing_plus: return "e164 number without a leading '+'";
    case phone_error::empty_country_code: return "empty country code";
    case phone_error::country_code_too_long: return "country code longer than 3 digits";
    case phone_error::leading_zero_country_code: return "country code with a leading zero";
    case phone_error::empty_national_number: return "empty national number";
    case phone_error::too_long: return "more than 15 digits in all";
    case phone_error::unassigned_country_code: return "country code that is not assigned";
    case phone_error::bad_length: return "national number length not possible for the country code";
    case phone_error::unknown_format: return "unknown phone_format";
    case phone_error::trunk_prefix: return "national number begins with the country's trunk prefix";
  }
  return {};
}

// The wire error of a reason (RULES.md §2): invalid_parameter_mobile_country_code
// for an unassigned code, invalid_parameter_phone_number for every other
// failure, ok for none.
constexpr errc to_errc(phone_error e) noexcept {
  if (e == phone_error::none) return errc::ok;
  if (e == phone_error::unassigned_country_code) return errc::invalid_parameter_mobile_country_code;
  return errc::invalid_parameter_phone_number;
}

namespace detail {
struct phone_access;
}  // namespace detail

// A valid phone number: an assigned country code and a national significant
// number of ASCII digits whose length is possible for that code and that does
// not begin with its trunk prefix (RULES.md §2), 15 digits at
// most in all (RULES.md §2). Trivially copyable, 16 bytes, no heap; two
// numbers are equal when code and digits are.
class phone_number {
 public:
  // The country calling code, 1..999.
  constexpr std::uint16_t country_code() const noexcept { return packed_ & code_bits; }
  // The national significant number: ASCII digits only, never empty.
  constexpr std::string_view national_number() const noexcept { return {digits_, national_length()}; }
  // How many digits the number has in all (country code included), at most 15.
  constexpr std::size_t digit_count() const noexcept {
    const std::uint16_t cc = country_code();
    return national_length() + (cc >= 100 ? 3u : cc >= 10 ? 2u : 1u);
  }

  // The number with country code `cc` and national digits `national`, with
  // the checks of parse_phone: invalid_parameter_mobile_country_code for an
  // unassigned code; invalid_parameter_phone_number for a national number that
  // is empty, has a non-digit, has an impossible length or makes more than 15
  // digits in all.
  static constexpr result<phone_number> from_parts(std::uint16_t cc, std::string_view national) noexcept {
    if (!is_assigned_country_code(cc)) return errc::invalid_parameter_mobile_country_code;
    if (national.empty() || national.size() > max_national_digits) return errc::invalid_parameter_phone_number;
    for (char c : national)
      if (!detail::is_digit(c)) return errc::invalid_parameter_phone_number;
    const phone_number number(cc, national);
    if (number.digit_count() > max_phone_digits || !is_possible_length(cc, national.size()) ||
        starts_with_trunk_prefix(cc, national))
      return errc::invalid_parameter_phone_number;
    return number;
  }

  friend constexpr bool operator==(const phone_number&, const phone_number&) noexcept = default;

 private:
  friend struct detail::phone_access;

  constexpr std::size_t national_length() const noexcept { return std::size_t{packed_} >> length_shift; }

  // Only for already-checked parts (the invariant: always valid).
  constexpr phone_number(std::uint16_t cc, std::string_view national) noexcept
      : packed_(static_cast<std::uint16_t>(cc | national.size() << length_shift)) {
    for (std::size_t i = 0; i < national.size(); ++i) digits_[i] = national[i];
  }

  // Only for already-checked parts: `packed` the code and the national
  // length as packed_ holds them, the national digits, ASCII, as bytes 2..15
  // of the 16 bytes `low` then `high` (byte 0 of `low` its lowest; bytes 0
  // and 1 are ignored), every byte from 2 + the length on zero.
  static constexpr phone_number from_words(std::uint16_t packed, std::uint64_t low, std::uint64_t high) noexcept {
    const auto cc = static_cast<std::uint16_t>(packed & code_bits);
    const std::size_t length = std::size_t{packed} >> length_shift;
    if constexpr (std::endian::native == std::endian::little) {
      // The object's 16 bytes as two words: bytes 0-1 the code and length,
      // 2-15 the digits.
      const std::uint64_t first = (low & ~std::uint64_t{0xFFFF}) | packed;
#if defined(__GNUC__)
      if (!std::is_constant_evaluated()) {
        // Written by one 16-byte store: the copy that follows (into a
        // result) loads 16 bytes at once, and a load that spans two stores
        // waits for both to retire (no store forwarding), which cost more
        // than the whole parse.
        using object_vector = std::uint64_t __attribute__((vector_size(16)));
        const object_vector bytes = {first, high};
        phone_number number(cc, std::string_view{});
        std::memcpy(static_cast<void*>(&number), &bytes, sizeof number);
        return number;
      }
#endif
      struct object_words {
        std::uint64_t first, second;
      };
      return std::bit_cast<phone_number>(object_words{first, high});
    } else {
      phone_number number(cc, std::string_view{});
      number.packed_ = packed;
      for (std::size_t i = 0; i < length; ++i)
        number.digits_[i] = static_cast<char>((i < 6 ? low >> (8 * (i + 2)) : high >> (8 * (i - 6))) & 0xFFu);
      return number;
    }
  }

  // packed_: bits 0-9 the country code (1..999), bits 10-13 the national length.
  static constexpr unsigned length_shift = 10;
  static constexpr std::uint16_t code_bits = (1u << length_shift) - 1;
  std::uint16_t packed_;
  char digits_[max_national_digits]{};  // unused tail stays '\0', so == can compare it
};

static_assert(sizeof(phone_number) == 16 && std::is_trivially_copyable_v<phone_number>,
              "phone_number::from_words writes the object as two words");

// The outcome of parse_phone_detailed: the number or its wire error, with the
// precise reason and the byte offset in the text where the rule broke (for an
// unassigned code, the start of the code; for a bad length, the start of the
// national number).
struct phone_parse_result {
  result<phone_number> number;
  phone_error reason;
  std::size_t position;
};

namespace detail {

// Grants the parser access to phone_number's private constructor.
struct phone_access {
  static constexpr phone_number make(std::uint16_t cc, std::string_view national) noexcept {
    return phone_number(cc, national);
  }
  static constexpr phone_number make(std::uint16_t packed, std::uint64_t low, std::uint64_t high) noexcept {
    return phone_number::from_words(packed, low, high);
  }
};

constexpr phone_parse_result phone_failure(phone_error reason, std::size_t position) noexcept {
  return {result<phone_number>(to_errc(reason)), reason, position};
}

// The reason for a byte that no form allows anywhere.
constexpr phone_error phone_bad_byte(char c) noexcept {
  return static_cast<unsigned char>(c) >= 0x80 ? phone_error::non_ascii : phone_error::non_digit;
}

constexpr std::uint16_t phone_code_value(std::string_view digits) noexcept {
  std::uint16_t value = 0;
  for (char c : digits) value = static_cast<std::uint16_t>(value * 10 + (c - '0'));
  return value;
}

// The checks after syntax, in RULES.md §2's order: the code, the length, then
// the trunk prefix.
// `national_at` is the offset of the national number in the original text.
constexpr phone_parse_result phone_finish(std::uint16_t cc, std::size_t cc_at, std::string_view national,
                                          std::size_t national_at) noexcept {
  if (!is_assigned_country_code(cc)) return phone_failure(phone_error::unassigned_country_code, cc_at);
  if (!is_possible_length(cc, national.size())) return phone_failure(phone_error::bad_length, national_at);
  if (starts_with_trunk_prefix(cc, national)) return phone_failure(phone_error::trunk_prefix, national_at);
  return {phone_access::make(cc, national), phone_error::none, 0};
}

// `<cc>-<national>`: every byte a digit but exactly one '-'; the first
// offending byte wins, then the shape of the parts.
constexpr phone_parse_result phone_parse_dashed(std::string_view text) noexcept {
  if (text.empty()) return phone_failure(phone_error::empty, 0);
  std::size_t separator = text.size();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_digit(c)) continue;
    if (c == '-') {
      if (separator != text.size()) return phone_failure(phone_error::second_separator, i);
      separator = i;
      continue;
    }
    if (c == '+') return phone_failure(phone_error::plus_in_dashed, i);
    return phone_failure(phone_bad_byte(c), i);
  }
  if (separator == text.size()) return phone_failure(phone_error::missing_separator, text.size());
  if (separator == 0) return phone_failure(phone_error::empty_country_code, 0);
  if (separator > 3) return phone_failure(phone_error::country_code_too_long, 3);
  if (text[0] == '0') return phone_failure(phone_error::leading_zero_country_code, 0);
  const std::size_t national_at = separator + 1;
  if (national_at == text.size()) return phone_failure(phone_error::empty_national_number, text.size());
  if (text.size() - 1 > max_phone_digits) return phone_failure(phone_error::too_long, max_phone_digits + 1);
  return phone_finish(phone_code_value(text.substr(0, separator)), 0, text.substr(national_at), national_at);
}

// The `k` bytes (1..8) at `p` as a little-endian word, the bytes above zero.
constexpr std::uint64_t phone_load(const char* p, std::size_t k) noexcept {
  if (!std::is_constant_evaluated() && std::endian::native == std::endian::little && (k == 8 || k == 4)) {
    if (k == 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      return word;
    }
    std::uint32_t word;
    std::memcpy(&word, p, 4);
    return word;
  }
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < k; ++i) word |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return word;
}

// phone_parse_dashed's number, out of line where the compiler allows: the
// rare texts of fewer than 9 bytes, kept from the registers of the hot path.
#if defined(__GNUC__)
[[gnu::noinline, gnu::cold]]
#endif
constexpr result<phone_number> phone_parse_dashed_short(std::string_view text) noexcept {
  return phone_parse_dashed(text).number;
}

// `low >> down | high << (64 - down)` for `down` 0..63: the 8 bytes from
// byte `down / 8` of the 16 bytes `low` then `high` (one shrd on x86-64).
constexpr std::uint64_t phone_funnel_right(std::uint64_t low, std::uint64_t high, unsigned down) noexcept {
#if defined(__SIZEOF_INT128__)
  __extension__ typedef unsigned __int128 phone_wide;
  return static_cast<std::uint64_t>((static_cast<phone_wide>(high) << 64 | low) >> (down & 63u));
#else
  return low >> down | high << 1 << (63 - down);
#endif
}

#if defined(__SSE2__)
// Bytes 0..7 then bytes n-8..n-1 of p (n >= 8) in one register: the fast
// paths test a text of 8 to 16 bytes with two in-bounds loads.
inline __m128i phone_ends16(const char* p, std::size_t n) noexcept {
  const __m128d first = _mm_castsi128_pd(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm_castpd_si128(_mm_loadh_pd(first, reinterpret_cast<const double*>(p + n - 8)));
}
// A bit per byte of `bytes` that is no ASCII digit (bit i for byte i).
inline std::uint32_t phone_non_digit_bits(__m128i bytes) noexcept {
  const __m128i value = _mm_sub_epi8(bytes, _mm_set1_epi8('0'));
  const __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(value, _mm_set1_epi8(9)), value);
  return static_cast<std::uint32_t>(_mm_movemask_epi8(digit)) ^ 0xFFFFu;
}
#endif

// parse_phone's dashed form: the same rules and the same errc as
// phone_parse_dashed, in one pass without a loop, for the hot path of
// every request (parse_phone_detailed keeps the byte-by-byte parser, which
// names the reason and the byte). A text of 9..16 bytes is read as two
// words (in-bounds, overlapping loads); the digit test runs on all 16 bytes
// at once (SSE2; else on 8 at a time) and must hold for every byte but one,
// the '-' at offset 1, 2 or 3.
// Every other text is refused with invalid_parameter_phone_number, as
// phone_parse_dashed refuses it for its syntax (no valid dashed text has
// more than 16 bytes: 15 digits and the '-'); a shorter one goes to
// phone_parse_dashed. The code and the '-' come from one load of
// country_code_dashed_tables.lead, then one word of its facts decides the
// code, the length and the trunk prefix, in phone_finish's order, and the
// number is built from the two words. One branch for the syntax and one
// for the rest: no branch follows the code's length.
constexpr result<phone_number> phone_parse_dashed_fast(std::string_view text) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101u;
  // Per byte, the high bit set for a byte that is no ASCII digit: x = byte ^
  // '0' is 0..9 for a digit; (x & 0x7F) + 0x76 carries into bit 7 from 10 on
  // and never into the next byte; x's own bit 7 catches bytes from 0x80.
  const auto non_digits = [](std::uint64_t word) {
    const std::uint64_t x = word ^ (0x30 * ones);
    return (((x & (0x7F * ones)) + 0x76 * ones) | x) & (0x80 * ones);
  };
  const std::size_t n = text.size();
  // Fewer than 9 bytes (a national number of at most 7 digits, rare): the
  // byte-by-byte parser, whose result is the same.
  if (n - 9 > max_phone_text - 9) {
    if (n < 9) return phone_parse_dashed_short(text);
    return errc::invalid_parameter_phone_number;
  }
  const char* p = text.data();
  const std::uint64_t low = phone_load(p, 8);           // bytes 0..7
  const std::uint64_t last = phone_load(p + n - 8, 8);  // bytes n-8..n-1, overlapping `low` for n < 16
  // Bytes 8..n-1 are bytes 16-n.. of `last` (16 - n is 0..7).
  const unsigned tail = 8 * static_cast<unsigned>(16 - n);
  const std::uint64_t high = last >> tail;  // bytes 8..15, zero past the end
  // The code and the '-' as the first three bytes would give them (the
  // checks below confirm the bytes): no arithmetic on the code's length.
  const auto& tables = country_code_dashed_tables;
  const auto key = static_cast<std::uint32_t>(low) & 0x0F0F0Fu;
  const std::uint32_t lead = tables.lead[(key | key >> 12) & 0xFFFu];
  const std::uint32_t separator = (~lead & 0xFFFFu) >> 10;  // 1..3; 0: no code can start the text
  const auto cc = static_cast<std::uint16_t>(lead & 0x3FFu);
  const unsigned at = 8 * separator;
  // The syntax is right when the byte at `separator` is the '-' and the only
  // non-digit of bytes 0..7, and bytes 8..n-1 are digits (separator 0 needs
  // a '-' first: code 0, which the facts refuse as bad syntax).
  std::uint64_t wrong = 0;
#if defined(__SSE2__)
  if (!std::is_constant_evaluated()) {
    // The 16 bytes of `low` then `last` in one register: a mask bit per
    // byte that is no digit, one per '-'. Bit i < 8 is byte i, bit i >= 8
    // byte n - 16 + i (byte 8 at bit 24 - n). The '-' must be the one
    // non-digit and sit at `separator`; no byte 8..n-1 may be either.
    const __m128i bytes = phone_ends16(p, n);
    const std::uint32_t others = phone_non_digit_bits(bytes);
    const auto dashes = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8('-'))));
    const std::uint32_t bits = (others ^ dashes) | (dashes ^ 1u << separator);
    wrong = (bits & 0xFFu) | (bits << n >> 24);
  } else
#endif
  {
    wrong = (non_digits(low) ^ std::uint64_t{0x80} << at) | (non_digits(last) >> tail) | ((low >> at ^ '-') & 0xFFu);
  }
  if (wrong != 0) return errc::invalid_parameter_phone_number;
  const std::uint64_t facts = tables.facts[cc];  // cc <= 999
  const auto first_two = static_cast<std::uint32_t>(low >> (at + 8) & 0xFFFFu);  // the national number's first bytes
  const auto trunk = static_cast<std::uint32_t>(facts);
  // The code, the length, then the trunk prefix (phone_finish's order; an
  // unassigned code has no lengths, so fails the length test too).
  if (((facts >> (32 + n) & 1u) != 0) & ((first_two & trunk) != trunk >> 16)) {
    // The text moved down by separator - 1 bytes: the national number from byte 2.
    const unsigned down = at - 8;  // 0, 8 or 16
    const auto packed = static_cast<std::uint16_t>(lead + (n << 10));  // the code, n - separator - 1 above
    return phone_access::make(packed, phone_funnel_right(low, high, down), high >> down);
  }
  return facts >> 32 == 0 ? errc::invalid_parameter_mobile_country_code : errc::invalid_parameter_phone_number;
}

// Country code directly followed by the national number, starting at
// `offset` of `text` (0 for compact, 1 after the '+' of e164). Calling codes
// are prefix-free (ITU-T E.164), so the first assigned prefix of 1, 2 or 3
// digits is the code.
constexpr phone_parse_result phone_parse_digits(std::string_view text, std::size_t offset) noexcept {
  if (offset == text.size())
    return phone_failure(offset == 0 ? phone_error::empty : phone_error::empty_country_code, offset);
  for (std::size_t i = offset; i < text.size(); ++i) {
    const char c = text[i];
    if (is_digit(c)) continue;
    if (c == '-') return phone_failure(phone_error::unexpected_separator, i);
    if (c == '+') return phone_failure(phone_error::misplaced_plus, i);
    return phone_failure(phone_bad_byte(c), i);
  }
  const std::string_view digits = text.substr(offset);
  if (digits[0] == '0') return phone_failure(phone_error::leading_zero_country_code, offset);
  if (digits.size() > max_phone_digits) return phone_failure(phone_error::too_long, offset + max_phone_digits);
  std::size_t cc_length = 0;
  std::uint16_t cc = 0;
  for (std::size_t n = 1; n <= 3 && n <= digits.size(); ++n) {
    cc = static_cast<std::uint16_t>(cc * 10 + (digits[n - 1] - '0'));
    if (is_assigned_country_code(cc)) {
      cc_length = n;
      break;
    }
  }
  if (cc_length == 0) return phone_failure(phone_error::unassigned_country_code, offset);
  if (cc_length == digits.size()) return phone_failure(phone_error::empty_national_number, text.size());
  return phone_finish(cc, offset, digits.substr(cc_length), offset + cc_length);
}

// phone_parse_digits's number, out of line where the compiler allows: the
// texts phone_parse_digits_fast leaves to it (under 8 digits, or longer
// than any valid text), kept from the registers of the hot path.
#if defined(__GNUC__)
[[gnu::noinline, gnu::cold]]
#endif
constexpr result<phone_number> phone_parse_digits_short(std::string_view text, std::size_t offset) noexcept {
  if (offset == 1 && (text.empty() || text[0] != '+')) return errc::invalid_parameter_phone_number;
  return phone_parse_digits(text, offset).number;
}

// parse_phone's compact and e164 forms: the same rules and the same errc as
// phone_parse_digits (behind the e164 '+' test of parse_phone_detailed), in
// one pass without a loop, as phone_parse_dashed_fast does it. The text is
// taken as the dashed text it would be with its '-' moved to the front
// (e164: where the '+' is; compact: one byte before the text), of m bytes
// (e164 n, compact n + 1): then the national number sits where the dashed
// form has it, and the facts, the trunk pattern and phone_number's packed
// field are the dashed path's for m. The code is the first assigned prefix
// of the first three digits, from one load of
// country_code_dashed_tables.digits_lead (no loop over prefixes, no branch
// on the code's length). Texts of 8..15 digits are read as two words; the
// others go to phone_parse_digits.
constexpr result<phone_number> phone_parse_digits_fast(std::string_view text, bool e164) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101u;
  const auto non_digits = [](std::uint64_t word) {  // as in phone_parse_dashed_fast
    const std::uint64_t x = word ^ (0x30 * ones);
    return (((x & (0x7F * ones)) + 0x76 * ones) | x) & (0x80 * ones);
  };
  const std::size_t offset = e164 ? 1 : 0;
  const std::size_t n = text.size();
  const std::size_t m = n + 1 - offset;  // the dashed length: n - offset digits and the '-'
  if (m - 9 > max_phone_text - 9) return phone_parse_digits_short(text, offset);
  const char* p = text.data();
  const std::uint64_t low = phone_load(p, 8);           // bytes 0..7
  const std::uint64_t last = phone_load(p + n - 8, 8);  // bytes n-8..n-1 (n >= 8)
  // The dashed text's bytes 0..7 and 8..15, zero past the end (for e164 the
  // text's own; compact moves up a byte).
  const std::uint64_t dashed_low = low << (8 * (1 - offset));
  const std::uint64_t dashed_high = last >> (8 * static_cast<unsigned>(16 - m));  // 16 - m is 0..7
  const auto& tables = country_code_dashed_tables;
  const auto key = static_cast<std::uint32_t>(low >> (8 * offset)) & 0x0F0F0Fu;  // the first three digits
  const std::uint32_t lead = tables.digits_lead[(key | key >> 12) & 0xFFFu];
  const std::uint32_t code_length = (~lead & 0xFFFFu) >> 10;  // 1..3
  const auto cc = static_cast<std::uint16_t>(lead & 0x3FFu);
  const unsigned at = 8 * code_length;
  // The syntax is right when every byte is a digit, but for e164 byte 0,
  // which must be the '+' (byte 0 is in `last` only for n = 8: compact).
  std::uint64_t wrong = 0;
  const std::uint64_t plus_wrong = e164 ? (low & 0xFFu) ^ '+' : 0;
#if defined(__SSE2__)
  if (!std::is_constant_evaluated()) {
    const std::uint32_t others = phone_non_digit_bits(phone_ends16(p, n));
    wrong = (others ^ (e164 ? 1u : 0u)) | plus_wrong;
  } else
#endif
  {
    wrong = (non_digits(low) ^ (e164 ? 0x80u : 0u)) | non_digits(last) | plus_wrong;
  }
  if (wrong != 0) return errc::invalid_parameter_phone_number;
  const std::uint64_t facts = tables.facts[cc];  // cc <= 999
  const auto first_two = static_cast<std::uint32_t>(dashed_low >> (at + 8) & 0xFFFFu);
  const auto trunk = static_cast<std::uint32_t>(facts);
  // A leading zero is code 0 (bad syntax); no assigned prefix a code
  // without lengths (unassigned); then the length and the trunk prefix.
  if (((facts >> (32 + m) & 1u) != 0) & ((first_two & trunk) != trunk >> 16)) {
    const unsigned down = at - 8;  // 0, 8 or 16
    const auto packed = static_cast<std::uint16_t>(lead + (m << 10));  // the code, m - code_length - 1 above
    return phone_access::make(packed, phone_funnel_right(dashed_low, dashed_high, down), dashed_high >> down);
  }
  return facts >> 32 == 0 ? errc::invalid_parameter_mobile_country_code : errc::invalid_parameter_phone_number;
}

}  // namespace detail

// Parses `text` in form `form` and says exactly why it is not a number.
// Checks in RULES.md §2's order: syntax (first offending byte, then the shape of
// the parts, then at most 15 digits), the country code, the national length.
// Never throws, never allocates, usable in constant expressions.
constexpr phone_parse_result parse_phone_detailed(std::string_view text, phone_format form) noexcept {
  switch (form) {
    case phone_format::dashed: return detail::phone_parse_dashed(text);
    case phone_format::compact: return detail::phone_parse_digits(text, 0);
    case phone_format::e164:
      if (text.empty()) return detail::phone_failure(phone_error::empty, 0);
      if (text[0] != '+') return detail::phone_failure(phone_error::missing_plus, 0);
      return detail::phone_parse_digits(text, 1);
  }
  return detail::phone_failure(phone_error::unknown_format, 0);
}

// Parses `text` in form `form` (RULES.md §2). Errors:
// invalid_parameter_phone_number for bad syntax (masks, spaces, letters,
// non-ASCII digits, a second '-', '+' in the dashed form, an empty part, a
// leading zero in the code, more than 15 digits) or an impossible national
// length; invalid_parameter_mobile_country_code for a code that is not
// assigned (in compact and e164: no assigned code starts the number).
// parse_phone_detailed gives the precise reason. Never throws, never
// allocates, usable in constant expressions.
constexpr result<phone_number> parse_phone(std::string_view text, phone_format form) noexcept {
  if (form == phone_format::dashed) return detail::phone_parse_dashed_fast(text);
  if (form == phone_format::compact || form == phone_format::e164)
    return detail::phone_parse_digits_fast(text, form == phone_format::e164);
  return parse_phone_detailed(text, form).number;
}

namespace detail {
constexpr void phone_append_code(inline_string<max_phone_text>& out, std::uint16_t cc) noexcept {
  if (cc >= 100) out.push_back(static_cast<char>('0' + cc / 100));
  if (cc >= 10) out.push_back(static_cast<char>('0' + cc / 10 % 10));
  out.push_back(static_cast<char>('0' + cc % 10));
}
}  // namespace detail

// Writes `number` in form `form`; parse_phone of the result in the same form
// gives `number` back. A form that is no enumerator writes dashed. Never
// throws, never allocates, usable in constant expressions.
constexpr inline_string<max_phone_text> format_phone(const phone_number& number, phone_format form) noexcept {
  inline_string<max_phone_text> out;
  if (form == phone_format::e164) out.push_back('+');
  detail::phone_append_code(out, number.country_code());
  if (form != phone_format::e164 && form != phone_format::compact) out.push_back('-');
  out.append(number.national_number());
  return out;
}

// The number for logs, dashed, with its middle digits masked (RULES.md §2): a
// national number of 8 digits or more keeps its first 3 and last 4 digits, a
// shorter one its last 2; every other digit becomes '*' ("86-139****1234").
// Never throws, never allocates, usable in constant expressions.
constexpr inline_string<max_phone_text> mask_phone(const phone_number& number) noexcept {
  inline_string<max_phone_text> out;
  detail::phone_append_code(out, number.country_code());
  out.push_back('-');
  const std::string_view national = number.national_number();
  const std::size_t n = national.size();
  const std::size_t head = n >= 8 ? 3 : 0;
  const std::size_t tail = n >= 8 ? 4 : (n >= 2 ? 2 : n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(i < head || i >= n - tail ? national[i] : '*');
  return out;
}

// Whether `number` is a mobile number in the sense of RULES.md §2: for 86
// (China), 11 digits starting with 1 (the national plan); for every other
// code any possible number, since only 86 has a plan rule in the library.
constexpr bool is_mobile_number(const phone_number& number) noexcept {
  if (number.country_code() != 86) return true;
  const std::string_view national = number.national_number();
  return national.size() == 11 && national[0] == '1';
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_PHONE_HPP
