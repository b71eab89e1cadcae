// time.hpp: the ExpirationDate form (RULES.md §1.1) and day indexes (RULES.md §4).
#include <catch2/catch.hpp>
#include <phoneverify/time.hpp>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>

#include "support.hpp"

namespace pv = phoneverify;
using std::chrono::milliseconds;
using std::chrono::minutes;

namespace {

__extension__ typedef __int128 wide;  // an independent reference for extreme values

constexpr pv::timestamp at(std::int64_t ms) { return pv::timestamp{milliseconds{ms}}; }
constexpr std::int64_t ms_of(pv::timestamp t) { return t.time_since_epoch().count(); }

// ---- compile-time contract of the public types ----
static_assert(std::is_trivially_copyable_v<pv::timestamp>);
static_assert(sizeof(pv::timestamp) == 8);
static_assert(std::is_trivially_copyable_v<pv::iso8601_parse_result>);
static_assert(sizeof(pv::iso8601_parse_result) <= 16);
static_assert(std::is_trivially_copyable_v<pv::inline_string<24>>);
static_assert(std::is_same_v<decltype(pv::format_iso8601(pv::timestamp{})), pv::inline_string<24>>);
static_assert(noexcept(pv::format_iso8601(std::declval<pv::timestamp>())));
static_assert(noexcept(pv::parse_iso8601(std::string_view{})));
static_assert(noexcept(pv::day_index(std::declval<pv::timestamp>(), std::declval<minutes>())));

// ---- one table of parse cases: checked at compile time and at run time ----
struct parse_case {
  std::string_view text;
  pv::iso8601_error error;
  std::int64_t ms;  // the instant when accepted
};

constexpr parse_case parse_cases[] = {
    // accepted: the documented ExpirationDate, the ends of the range, leap days
    {"2021-12-17T07:38:41.747Z", pv::iso8601_error::none, 1639726721747},
    {"1970-01-01T00:00:00.000Z", pv::iso8601_error::none, 0},
    {"9999-12-31T23:59:59.999Z", pv::iso8601_error::none, 253402300799999},
    {"2000-02-29T12:00:00.000Z", pv::iso8601_error::none, 951825600000},
    {"2400-02-29T00:00:00.000Z", pv::iso8601_error::none, 13574563200000},
    {"2024-02-29T23:59:59.999Z", pv::iso8601_error::none, 1709251199999},
    {"1999-12-31T23:59:59.999Z", pv::iso8601_error::none, 946684799999},
    // length: missing milliseconds, an offset, a trailing space, empty
    {"2021-12-17T07:38:41Z", pv::iso8601_error::bad_length, 0},
    {"2021-12-17T07:38:41.747+08:00", pv::iso8601_error::bad_length, 0},
    {"2021-12-17T07:38:41.747Z ", pv::iso8601_error::bad_length, 0},
    {"2021-12-17T07:38:41.74Z", pv::iso8601_error::bad_length, 0},
    {"", pv::iso8601_error::bad_length, 0},
    // separators
    {"2021-12-17 07:38:41.747Z", pv::iso8601_error::bad_separator, 0},
    {"2021/12/17T07:38:41.747Z", pv::iso8601_error::bad_separator, 0},
    {"2021-12-17t07:38:41.747Z", pv::iso8601_error::bad_separator, 0},
    {"2021-12-17T07.38:41.747Z", pv::iso8601_error::bad_separator, 0},
    {"2021-12-17T07:38:41,747Z", pv::iso8601_error::bad_separator, 0},
    {"20211-2-17T07:38:41.747Z", pv::iso8601_error::bad_separator, 0},
    // digits: letters, signs, masks, spaces
    {"2O21-12-17T07:38:41.747Z", pv::iso8601_error::bad_digit, 0},
    {"+021-12-17T07:38:41.747Z", pv::iso8601_error::bad_digit, 0},
    {"2021-12-17T07:38:4*.747Z", pv::iso8601_error::bad_digit, 0},
    {"2021-12-17T 7:38:41.747Z", pv::iso8601_error::bad_digit, 0},
    {"2021-12-17T07:38:41.74+8", pv::iso8601_error::bad_digit, 0},
    // the final Z: lower case, another letter, a digit
    {"2021-12-17T07:38:41.747z", pv::iso8601_error::missing_z, 0},
    {"2021-12-17T07:38:41.747A", pv::iso8601_error::missing_z, 0},
    {"2021-12-17T07:38:41.7470", pv::iso8601_error::missing_z, 0},
    // ranges
    {"1969-12-31T23:59:59.999Z", pv::iso8601_error::year_out_of_range, 0},
    {"0000-01-01T00:00:00.000Z", pv::iso8601_error::year_out_of_range, 0},
    {"2021-00-17T07:38:41.747Z", pv::iso8601_error::month_out_of_range, 0},
    {"2021-13-17T07:38:41.747Z", pv::iso8601_error::month_out_of_range, 0},
    {"2021-02-29T07:38:41.747Z", pv::iso8601_error::day_out_of_range, 0},
    {"2100-02-29T00:00:00.000Z", pv::iso8601_error::day_out_of_range, 0},
    {"2021-04-31T00:00:00.000Z", pv::iso8601_error::day_out_of_range, 0},
    {"2021-12-00T00:00:00.000Z", pv::iso8601_error::day_out_of_range, 0},
    {"2021-12-32T00:00:00.000Z", pv::iso8601_error::day_out_of_range, 0},
    {"2021-12-17T24:00:00.000Z", pv::iso8601_error::hour_out_of_range, 0},
    {"2021-12-17T07:60:41.747Z", pv::iso8601_error::minute_out_of_range, 0},
    {"2021-12-17T07:38:60.747Z", pv::iso8601_error::second_out_of_range, 0},
    {"2016-12-31T23:59:60.000Z", pv::iso8601_error::second_out_of_range, 0},  // a real leap second
};

constexpr bool parse_case_holds(const parse_case& c, std::string_view text) {
  const pv::iso8601_parse_result detailed = pv::parse_iso8601_detailed(text);
  const pv::result<pv::timestamp> plain = pv::parse_iso8601(text);
  if (detailed.error != c.error) return false;
  if (c.error != pv::iso8601_error::none)
    return plain.error() == pv::errc::invalid_parameter && detailed.value == pv::timestamp{};
  return plain.has_value() && *plain == at(c.ms) && detailed.value == at(c.ms) &&
         pv::format_iso8601(at(c.ms)) == text;
}

constexpr bool all_parse_cases_hold() {
  for (const parse_case& c : parse_cases)
    if (!parse_case_holds(c, c.text)) return false;
  return true;
}

// An independent calendar: steps one day at a time from 1970-01-01.
struct civil {
  int year, month, day;
  static bool leap(int y) { return y % 400 == 0 || (y % 4 == 0 && y % 100 != 0); }
  static int month_length(int y, int m) {
    if (m == 2) return leap(y) ? 29 : 28;
    return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
  }
  void next() {
    if (++day > month_length(year, month)) {
      day = 1;
      if (++month > 12) {
        month = 1;
        ++year;
      }
    }
  }
};

}  // namespace

TEST_CASE("parse_iso8601 accepts exactly the ExpirationDate form and names each rejection", "[time]") {
  STATIC_REQUIRE(all_parse_cases_hold());
  for (const parse_case& c : parse_cases) {
    // Through a volatile read, so the run-time path is what runs here.
    const std::string_view text(pv::test::opaque(c.text.data()), pv::test::opaque(c.text.size()));
    INFO(c.text);
    CHECK(parse_case_holds(c, text));
  }
}

TEST_CASE("format_iso8601 emits the documented ExpirationDate 2021-12-17T07:38:41.747Z", "[time]") {
  STATIC_REQUIRE(pv::format_iso8601(at(1639726721747)) == std::string_view("2021-12-17T07:38:41.747Z"));
  CHECK(pv::format_iso8601(at(pv::test::opaque<std::int64_t>(1639726721747))) ==
        std::string_view("2021-12-17T07:38:41.747Z"));
  CHECK(pv::format_iso8601(at(pv::test::opaque<std::int64_t>(1639726721747))).size() == 24);
}

TEST_CASE("format_iso8601 and parse_iso8601 agree with an independent calendar on every day from 1970 to 2400",
          "[time]") {
  civil date{1970, 1, 1};
  std::int64_t day = 0;
  std::int64_t checked = 0;
  char expected[64];
  while (date.year <= 2400) {
    // A different time of day on each day, the day's first and last milliseconds included.
    const std::int64_t in_day = day % 3 == 0 ? 0 : (day % 3 == 1 ? 86'399'999 : (day * 7'919'003) % 86'400'000);
    const std::int64_t ms = day * 86'400'000 + in_day;
    std::snprintf(expected, sizeof expected, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", date.year, date.month, date.day,
                  static_cast<int>(in_day / 3'600'000), static_cast<int>(in_day / 60'000 % 60),
                  static_cast<int>(in_day / 1000 % 60), static_cast<int>(in_day % 1000));
    const pv::timestamp t = at(pv::test::opaque(ms));
    const auto text = pv::format_iso8601(t);
    const pv::result<pv::timestamp> back = pv::parse_iso8601(std::string_view(expected, 24));
    if (text != std::string_view(expected) || !back || *back != t || pv::day_index(t, minutes{0}) != day) {
      FAIL_CHECK("calendar mismatch on " << expected << ": formatted " << text.view());
      break;
    }
    // The day after the month's last day does not exist (2021-02-29, 2100-02-29, 04-31).
    if (date.day == civil::month_length(date.year, date.month)) {
      char impossible[64];
      std::snprintf(impossible, sizeof impossible, "%04d-%02d-%02dT00:00:00.000Z", date.year, date.month,
                    date.day + 1);
      CHECK(pv::parse_iso8601_detailed(impossible).error == pv::iso8601_error::day_out_of_range);
    }
    date.next();
    ++day;
    ++checked;
  }
  CHECK(checked == 157'420);  // 431 years of 365 days plus 105 leap days
}

TEST_CASE("leap years follow the Gregorian rule: 2000-02-29 and 2400-02-29 exist, 2100-02-29 does not", "[time]") {
  STATIC_REQUIRE(pv::parse_iso8601("2000-02-29T00:00:00.000Z").has_value());
  STATIC_REQUIRE(pv::parse_iso8601("2400-02-29T00:00:00.000Z").has_value());
  STATIC_REQUIRE(pv::parse_iso8601_detailed("2100-02-29T00:00:00.000Z").error == pv::iso8601_error::day_out_of_range);
  STATIC_REQUIRE(pv::parse_iso8601_detailed("2200-02-29T00:00:00.000Z").error == pv::iso8601_error::day_out_of_range);
  for (int year = 1970; year <= 9999; ++year) {
    char text[64];
    std::snprintf(text, sizeof text, "%04d-02-29T00:00:00.000Z", pv::test::opaque(year));
    const bool leap = year % 400 == 0 || (year % 4 == 0 && year % 100 != 0);
    if (pv::parse_iso8601(text).has_value() != leap) FAIL_CHECK(text);
  }
}

TEST_CASE("format_iso8601 clamps timestamps outside 1970-01-01 to 9999-12-31 to the nearer end", "[time]") {
  STATIC_REQUIRE(pv::format_iso8601(pv::timestamp::min()) == std::string_view("1970-01-01T00:00:00.000Z"));
  STATIC_REQUIRE(pv::format_iso8601(pv::timestamp::max()) == std::string_view("9999-12-31T23:59:59.999Z"));
  STATIC_REQUIRE(pv::format_iso8601(pv::iso8601_max) == std::string_view("9999-12-31T23:59:59.999Z"));
  STATIC_REQUIRE(pv::parse_iso8601("9999-12-31T23:59:59.999Z").value() == pv::iso8601_max);
  const std::int64_t edges[] = {std::numeric_limits<std::int64_t>::min(), -86'400'000, -1, 0,
                                ms_of(pv::iso8601_max), ms_of(pv::iso8601_max) + 1,
                                std::numeric_limits<std::int64_t>::max()};
  for (std::int64_t ms : edges) {
    const std::int64_t clamped = ms < 0 ? 0 : (ms > ms_of(pv::iso8601_max) ? ms_of(pv::iso8601_max) : ms);
    const auto text = pv::format_iso8601(at(pv::test::opaque(ms)));
    CHECK(text.size() == 24);
    CHECK(pv::parse_iso8601(text) == pv::result<pv::timestamp>(at(clamped)));
  }
}

TEST_CASE("format_iso8601 round-trips through parse_iso8601 for random instants of 1970-9999", "[time]") {
  pv::test::splitmix64 rng{pv::test::test_seed("iso8601 round trip", 0x150860)};
  const auto span = static_cast<std::uint64_t>(ms_of(pv::iso8601_max)) + 1;
  for (int i = 0; i < 200'000; ++i) {
    const auto t = at(static_cast<std::int64_t>(rng() % span));
    const pv::result<pv::timestamp> back = pv::parse_iso8601(pv::format_iso8601(t));
    if (!back || *back != t) {
      FAIL_CHECK("round trip failed at " << ms_of(t));
      break;
    }
  }
}

TEST_CASE("iso8601_error_name names every reason", "[time]") {
  STATIC_REQUIRE(pv::iso8601_error_name(pv::iso8601_error::day_out_of_range) == "day_out_of_range");
  STATIC_REQUIRE(pv::iso8601_error_name(static_cast<pv::iso8601_error>(200)).empty());
  for (int e = 0; e <= static_cast<int>(pv::iso8601_error::second_out_of_range); ++e)
    CHECK(!pv::iso8601_error_name(static_cast<pv::iso8601_error>(pv::test::opaque(e))).empty());
}

TEST_CASE("day_index changes exactly at local midnight for every offset from -12:00 to +14:00", "[time]") {
  STATIC_REQUIRE(pv::day_index(at(0), minutes{0}) == 0);
  STATIC_REQUIRE(pv::day_index(at(-1), minutes{0}) == -1);  // floor, not truncation
  STATIC_REQUIRE(pv::day_index(at(16 * 3'600'000 - 1), minutes{480}) == 0);  // 23:59:59.999 at UTC+8
  STATIC_REQUIRE(pv::day_index(at(16 * 3'600'000), minutes{480}) == 1);      // midnight at UTC+8
  STATIC_REQUIRE(pv::day_start(1, minutes{480}) == at(16 * 3'600'000));
  // Days around 1970 (negative indexes too), today, and the end of 9999.
  const std::int64_t days[] = {-3, -1, 0, 1, 18'978, 19'000, 2'932'896};
  for (int off = -12 * 60; off <= 14 * 60; ++off) {
    const minutes offset{pv::test::opaque(off)};
    for (std::int64_t d : days) {
      // Local midnight of day d is UTC d * 86'400'000 - offset; computed here directly.
      const std::int64_t midnight = d * 86'400'000 - std::int64_t{off} * 60'000;
      if (pv::day_start(d, offset) != at(midnight) || pv::day_index(at(midnight), offset) != d ||
          pv::day_index(at(midnight - 1), offset) != d - 1 ||
          pv::day_index(at(midnight + 86'399'999), offset) != d) {
        FAIL_CHECK("day boundary wrong at offset " << off << " minutes, day " << d);
        return;
      }
    }
  }
}

TEST_CASE("day_index and day_start never overflow at the ends of the timestamp and offset ranges", "[time]") {
  constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  STATIC_REQUIRE(pv::day_index(pv::timestamp::max(), minutes::max()) > 0);
  STATIC_REQUIRE(pv::day_start(hi, minutes{0}) == pv::timestamp::max());
  STATIC_REQUIRE(pv::day_start(lo, minutes{0}) == pv::timestamp::min());
  const std::int64_t times[] = {lo, lo + 1, -86'400'001, -1, 0, 1, hi - 1, hi};
  const std::int64_t offsets[] = {lo, -1'000'000'000'000, -14 * 60, -1, 0, 1, 14 * 60, 1'000'000'000'000, hi};
  for (std::int64_t ms : times) {
    for (std::int64_t off : offsets) {
      // The exact value in 128 bits, floor-divided.
      const wide sum = wide{ms} + wide{off} * 60'000;
      wide q = sum / 86'400'000;
      if (sum % 86'400'000 != 0 && sum < 0) --q;
      const std::int64_t expected = q > hi ? hi : (q < lo ? lo : static_cast<std::int64_t>(q));
      CHECK(pv::day_index(at(pv::test::opaque(ms)), minutes{off}) == expected);
    }
  }
  // day_start saturates instead of wrapping.
  const wide exact = wide{hi / 86'400'000 + 1} * 86'400'000;
  CHECK(exact > hi);
  CHECK(pv::day_start(pv::test::opaque(hi / 86'400'000 + 1), minutes{0}) == pv::timestamp::max());
  CHECK(pv::day_start(pv::test::opaque(lo / 86'400'000 - 1), minutes{0}) == pv::timestamp::min());
}
