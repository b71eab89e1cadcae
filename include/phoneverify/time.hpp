// SPDX-License-Identifier: MIT
// phoneverify: timestamps, the ISO-8601 form of ExpirationDate, day indexes.
//
// The caller supplies the time (the core reads no clock): a `timestamp` is
// milliseconds since 1970-01-01T00:00:00Z on the system clock. Everything here
// is constexpr and noexcept, never allocates and never overflows.
#ifndef PHONEVERIFY_TIME_HPP
#define PHONEVERIFY_TIME_HPP

#include <chrono>
#include <cstdint>
#include <string_view>

#include "detail/saturating.hpp"
#include "inline_string.hpp"
#include "result.hpp"

namespace phoneverify {

// A point in time: milliseconds since the Unix epoch, UTC (a public contract name, RULES.md).
using timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

namespace detail {

inline constexpr std::int64_t ms_per_day = 86'400'000;
inline constexpr std::int64_t ms_per_minute = 60'000;
inline constexpr std::int64_t minutes_per_day = 1'440;

// Days from 1970-01-01 to 1 January of `year` (negative before 1970), years
// 1..1'000'000, Gregorian leap rule.
constexpr std::int64_t days_before_year(std::int64_t year) noexcept {
  const auto leaps_through = [](std::int64_t y) { return y / 4 - y / 100 + y / 400; };
  return 365 * (year - 1970) + leaps_through(year - 1) - leaps_through(1969);
}

constexpr bool is_leap_year(std::int64_t year) noexcept {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

// Days in `month` (1-12) of `year`.
constexpr int days_in_month(std::int64_t year, int month) noexcept {
  constexpr int lengths[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : lengths[month - 1];
}

// Days before the first of `month` (1-12) in a year.
constexpr int days_before_month(std::int64_t year, int month) noexcept {
  constexpr int cumulative[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  return cumulative[month - 1] + (month > 2 && is_leap_year(year) ? 1 : 0);
}

// Days since 1970-01-01 of a real Gregorian date (year 1..1'000'000).
constexpr std::int64_t days_from_civil(std::int64_t year, int month, int day) noexcept {
  return days_before_year(year) + days_before_month(year, month) + (day - 1);
}

struct civil_date {
  std::int64_t year;
  int month;
  int day;
};

// The Gregorian date of a day count since 1970-01-01 (days >= 0), counting years
// from 1 March so that the leap day ends the year and month lengths repeat
// every 153 days: constant divisions, no loops. Every intermediate value fits
// 32 bits for days in [0, 2^31 - 719'468), the whole 1970-9999 range.
constexpr civil_date civil_from_days(std::int64_t days) noexcept {
  constexpr std::uint32_t days_per_400_years = 146'097;
  // Days since 0000-03-01 of the proleptic Gregorian calendar (719'468 before 1970-01-01).
  const auto from_march_0 = static_cast<std::uint32_t>(days + 719'468);
  const std::uint32_t cycle = from_march_0 / days_per_400_years;
  const std::uint32_t day_of_cycle = from_march_0 - cycle * days_per_400_years;  // [0, 146'096]
  // Years into the cycle: remove the leap days (one per 1'461 days, one back per
  // 36'524, one more per 146'096) and divide by 365.
  const std::uint32_t year_of_cycle =
      (day_of_cycle - day_of_cycle / 1'460 + day_of_cycle / 36'524 - day_of_cycle / 146'096) / 365;
  const std::uint32_t day_of_year =  // from 1 March, [0, 365]
      day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
  const std::uint32_t month_from_march = (5 * day_of_year + 2) / 153;  // 0 = March ... 11 = February
  const int day = static_cast<int>(day_of_year - (153 * month_from_march + 2) / 5 + 1);
  const int month = static_cast<int>(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
  return {std::int64_t{cycle} * 400 + year_of_cycle + (month <= 2 ? 1 : 0), month, day};
}

// Writes `value` (0-99) as two ASCII digits at `out`; the table saves a division.
inline constexpr char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";
constexpr void put_two_digits(char* out, std::uint32_t value) noexcept {
  out[0] = digit_pairs[2 * value];
  out[1] = digit_pairs[2 * value + 1];
}

}  // namespace detail

// The earliest and latest instants the ISO-8601 functions represent:
// 1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
inline constexpr timestamp iso8601_min{std::chrono::milliseconds{0}};
inline constexpr timestamp iso8601_max{
    std::chrono::milliseconds{detail::days_from_civil(10000, 1, 1) * detail::ms_per_day - 1}};

// Formats `t` as "YYYY-MM-DDTHH:MM:SS.sssZ", the ExpirationDate form of
// RULES.md §1.1 (ISO 8601, UTC, milliseconds). A timestamp outside
// [iso8601_min, iso8601_max] is clamped to the nearer end, so the output is
// always 24 characters that parse_iso8601 accepts.
constexpr inline_string<24> format_iso8601(timestamp t) noexcept {
  std::int64_t ms = t.time_since_epoch().count();
  if (ms < iso8601_min.time_since_epoch().count()) ms = iso8601_min.time_since_epoch().count();
  if (ms > iso8601_max.time_since_epoch().count()) ms = iso8601_max.time_since_epoch().count();
  // Non-negative from here: unsigned constant divisions are the cheapest.
  const auto total = static_cast<std::uint64_t>(ms);
  const std::uint64_t days = total / detail::ms_per_day;
  const auto in_day = static_cast<std::uint32_t>(total - days * detail::ms_per_day);
  const detail::civil_date date = detail::civil_from_days(static_cast<std::int64_t>(days));
  const auto year = static_cast<std::uint32_t>(date.year);
  const std::uint32_t millis = in_day % 1000;
  const std::uint32_t seconds_of_day = in_day / 1000;
  const std::uint32_t second = seconds_of_day % 60;
  const std::uint32_t minute = seconds_of_day / 60 % 60;
  const std::uint32_t hour = seconds_of_day / 3600;

  char text[24] = {'0', '0', '0', '0', '-', '0', '0', '-', '0', '0', 'T', '0',
                    '0', ':', '0', '0', ':', '0', '0', '.', '0', '0', '0', 'Z'};
  detail::put_two_digits(text, year / 100);
  detail::put_two_digits(text + 2, year % 100);
  detail::put_two_digits(text + 5, static_cast<std::uint32_t>(date.month));
  detail::put_two_digits(text + 8, static_cast<std::uint32_t>(date.day));
  detail::put_two_digits(text + 11, hour);
  detail::put_two_digits(text + 14, minute);
  detail::put_two_digits(text + 17, second);
  text[20] = static_cast<char>('0' + millis / 100);
  detail::put_two_digits(text + 21, millis % 100);
  return inline_string<24>(std::string_view(text, 24));
}

// Why parse_iso8601 rejected a text, for logs (the wire says InvalidParameter).
// Checked in order: the length, each character left to right, then the fields'
// ranges from the year down to the second.
enum class iso8601_error : std::uint8_t {
  none = 0,             // accepted
  bad_length,           // not exactly 24 characters (e.g. no milliseconds, an offset)
  bad_separator,        // not '-' '-' 'T' ':' ':' '.' at positions 4, 7, 10, 13, 16, 19
  bad_digit,            // a field character is not an ASCII digit 0-9
  missing_z,            // the 24th character is not 'Z' (offsets other than Z)
  year_out_of_range,    // before 1970
  month_out_of_range,   // not 01-12
  day_out_of_range,     // 00, or past the month's end (2021-02-29, 2100-02-29, 04-31)
  hour_out_of_range,    // 24 or more
  minute_out_of_range,  // 60 or more
  second_out_of_range,  // 60 or more (leap seconds are not representable)
};

// The enumerator's name ("day_out_of_range"), "" for an unknown value.
constexpr std::string_view iso8601_error_name(iso8601_error e) noexcept {
  switch (e) {
    case iso8601_error::none: return "none";
    case iso8601_error::bad_length: return "bad_length";
    case iso8601_error::bad_separator: return "bad_separator";
    case iso8601_error::bad_digit: return "bad_digit";
    case iso8601_error::missing_z: return "missing_z";
    case iso8601_error::year_out_of_range: return "year_out_of_range";
    case iso8601_error::month_out_of_range: return "month_out_of_range";
    case iso8601_error::day_out_of_range: return "day_out_of_range";
    case iso8601_error::hour_out_of_range: return "hour_out_of_range";
    case iso8601_error::minute_out_of_range: return "minute_out_of_range";
    case iso8601_error::second_out_of_range: return "second_out_of_range";
  }
  return "";
}

// What parse_iso8601_detailed returns: the instant when `error` is none
// (value is the epoch otherwise).
struct iso8601_parse_result {
  timestamp value;
  iso8601_error error;
};

// Parses exactly the 24-character form format_iso8601 emits and says why
// anything else is rejected (see iso8601_error for the order of the checks).
constexpr iso8601_parse_result parse_iso8601_detailed(std::string_view text) noexcept {
  const auto fail = [](iso8601_error e) { return iso8601_parse_result{timestamp{}, e}; };
  if (text.size() != 24) return fail(iso8601_error::bad_length);
  constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  for (std::size_t i = 0; i < 24; ++i) {
    const char c = text[i];
    if (shape[i] == 'd') {
      if (c < '0' || c > '9') return fail(iso8601_error::bad_digit);
    } else if (c != shape[i]) {
      return fail(i == 23 ? iso8601_error::missing_z : iso8601_error::bad_separator);
    }
  }
  const auto field = [text](std::size_t at, std::size_t width) {
    int value = 0;
    for (std::size_t i = at; i < at + width; ++i) value = value * 10 + (text[i] - '0');
    return value;
  };
  const int year = field(0, 4), month = field(5, 2), day = field(8, 2);
  const int hour = field(11, 2), minute = field(14, 2), second = field(17, 2), millis = field(20, 3);
  if (year < 1970) return fail(iso8601_error::year_out_of_range);
  if (month < 1 || month > 12) return fail(iso8601_error::month_out_of_range);
  if (day < 1 || day > detail::days_in_month(year, month)) return fail(iso8601_error::day_out_of_range);
  if (hour > 23) return fail(iso8601_error::hour_out_of_range);
  if (minute > 59) return fail(iso8601_error::minute_out_of_range);
  if (second > 59) return fail(iso8601_error::second_out_of_range);
  const std::int64_t ms = detail::days_from_civil(year, month, day) * detail::ms_per_day +
                          ((hour * 60 + minute) * 60 + second) * std::int64_t{1000} + millis;
  return {timestamp{std::chrono::milliseconds{ms}}, iso8601_error::none};
}

// Parses an ExpirationDate ("2021-12-17T07:38:41.747Z", RULES.md §1.1): exactly
// the form format_iso8601 emits, real dates only; anything else (hour 24,
// second 60, an offset, no milliseconds, a year before 1970...) is
// errc::invalid_parameter.
constexpr result<timestamp> parse_iso8601(std::string_view text) noexcept {
  const iso8601_parse_result r = parse_iso8601_detailed(text);
  if (r.error != iso8601_error::none) return errc::invalid_parameter;
  return r.value;
}

// The calendar day of `t` at `utc_offset` (UTC+8:00 is minutes{480}), the unit
// of the daily quota (RULES.md §4): days since 1970-01-01 in that zone, rounded
// toward minus infinity (the instant before local midnight of 1970-01-01 is day
// -1). Any timestamp and offset; saturates at the int64 range.
constexpr std::int64_t day_index(timestamp t, std::chrono::minutes utc_offset) noexcept {
  const std::int64_t ms = t.time_since_epoch().count();
  const std::int64_t off = utc_offset.count();
  // Whenever the local time fits in 64 bits (all but the range's last days):
  // one floor division.
  std::int64_t off_ms = 0;
  std::int64_t local = 0;
  if (!__builtin_mul_overflow(off, detail::ms_per_minute, &off_ms) && !__builtin_add_overflow(ms, off_ms, &local)) {
    return detail::floor_div(local, detail::ms_per_day);
  }
  // Otherwise split both terms into whole days and a remainder so no product
  // overflows, and saturate.
  const std::int64_t t_days = detail::floor_div(ms, detail::ms_per_day);
  const std::int64_t t_rest = detail::floor_mod(ms, detail::ms_per_day);
  const std::int64_t off_days = detail::floor_div(off, detail::minutes_per_day);
  const std::int64_t off_rest = detail::floor_mod(off, detail::minutes_per_day) * detail::ms_per_minute;
  const std::int64_t carry = (t_rest + off_rest) >= detail::ms_per_day ? 1 : 0;
  return detail::sat_add(detail::sat_add(t_days, off_days), carry);
}

// The first instant of local day `day` at `utc_offset`, the inverse of
// day_index (day_index(day_start(d, o), o) == d), saturating at the range's ends.
constexpr timestamp day_start(std::int64_t day, std::chrono::minutes utc_offset) noexcept {
  const std::int64_t off = utc_offset.count();
  const std::int64_t off_days = detail::floor_div(off, detail::minutes_per_day);
  const std::int64_t off_rest = detail::floor_mod(off, detail::minutes_per_day) * detail::ms_per_minute;
  const std::int64_t utc_day = detail::sat_sub(day, off_days);
  const std::int64_t ms = detail::sat_sub(detail::sat_mul(utc_day, detail::ms_per_day), off_rest);
  return timestamp{std::chrono::milliseconds{ms}};
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_TIME_HPP
