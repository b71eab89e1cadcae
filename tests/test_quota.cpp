// quota.hpp: daily quotas, GCRA, exact sliding windows, all-or-nothing (RULES.md §4).
#include <catch2/catch.hpp>
#include <phoneverify/quota.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "support.hpp"
#include "window_model.hpp"

namespace pv = phoneverify;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

namespace {

constexpr pv::timestamp at(std::int64_t ms) { return pv::timestamp{milliseconds{ms}}; }
constexpr std::int64_t ms_of(pv::timestamp t) { return t.time_since_epoch().count(); }
constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t day_ms = 86'400'000;

// ---- compile-time contract of the public types ----
static_assert(std::is_trivially_copyable_v<pv::decision>);
static_assert(sizeof(pv::decision) <= 16);
static_assert(std::is_trivially_copyable_v<pv::daily_quota>);
static_assert(std::is_trivially_copyable_v<pv::daily_usage>);
static_assert(sizeof(pv::daily_usage) <= 8);
static_assert(pv::daily_usage{}.unused() && pv::daily_usage{}.used() == 0);
static_assert(std::is_nothrow_default_constructible_v<pv::daily_usage>);
static_assert(std::is_trivially_copyable_v<pv::rate_limit>);
static_assert(std::is_trivially_copyable_v<pv::rate_state>);
static_assert(sizeof(pv::rate_state) <= 8);
static_assert(pv::rate_state{}.idle());
static_assert(std::is_trivially_copyable_v<pv::sliding_window>);
static_assert(std::is_trivially_copyable_v<pv::window_set<3>>);
static_assert(std::is_trivially_copyable_v<pv::per_phone_state>);
static_assert(sizeof(pv::per_phone_state) == 80);
static_assert(pv::per_phone_state{}.size() == 0 && pv::per_phone_state::capacity() == 10);
static_assert(std::is_trivially_copyable_v<pv::rolling_quota>);
static_assert(std::is_trivially_copyable_v<pv::rolling_usage<100>>);
static_assert(sizeof(pv::rolling_usage<100>) == 440);  // 4 * (100 + 4) + 24
static_assert(sizeof(pv::sliding_window_state<16>) == 128 && pv::sliding_window_state<16>::capacity() == 16);
static_assert(pv::rolling_usage<>{}.unused() && pv::rolling_usage<>{}.size() == 0 && pv::rolling_usage<>::capacity() == 100);
static_assert(noexcept(pv::consume(std::declval<const pv::rolling_quota&>(), std::declval<pv::rolling_usage<>&>(),
                                   std::declval<pv::timestamp>())));
static_assert(std::is_trivially_copyable_v<pv::joint_decision>);
static_assert(sizeof(pv::joint_decision) <= 24);
// The defaults are RULES.md §4's figures.
static_assert(pv::daily_quota{}.limit == 100 && pv::daily_quota{}.utc_offset == hours{8});
static_assert(pv::rate_limit{}.count == 10 && pv::rate_limit{}.period == milliseconds{1000});
static_assert(pv::per_phone_windows.windows[0].count == 1 && pv::per_phone_windows.windows[0].window == minutes{1});
static_assert(pv::per_phone_windows.windows[1].count == 5 && pv::per_phone_windows.windows[1].window == hours{1});
static_assert(pv::per_phone_windows.windows[2].count == 10 && pv::per_phone_windows.windows[2].window == hours{24});
static_assert(pv::rolling_quota{}.limit == 100 && pv::rolling_quota{}.window == hours{24});
static_assert(noexcept(pv::consume(std::declval<const pv::daily_quota&>(), std::declval<pv::daily_usage&>(),
                                   std::declval<pv::timestamp>())));
static_assert(noexcept(pv::admit(std::declval<const pv::rate_limit&>(), std::declval<pv::rate_state&>(),
                                 std::declval<pv::timestamp>())));
// The 64-bit forms round-trip and order days.
static_assert(pv::daily_usage::from_bits(0x8000'0005'0000'0007u).day() == 5);
static_assert(pv::daily_usage::from_bits(0x8000'0005'0000'0007u).used() == 7);
static_assert(pv::daily_usage::from_bits(0x8000'0005'0000'0007u).to_bits() == 0x8000'0005'0000'0007u);
static_assert(pv::rate_state::from_bits(42).to_bits() == 42);

// ---- a replayable script: one state, a list of requests and expected answers ----
struct step {
  std::int64_t t;
  std::uint32_t n;
  bool allowed;
  std::uint32_t remaining;
  std::int64_t retry;  // ms; `never` for timestamp::max()
};

template <class Limit, class State, std::size_t K>
constexpr bool replay(const Limit& limit, const step (&script)[K], bool through_opaque = false) {
  State state{};
  for (const step& s : script) {
    std::int64_t t = s.t;
    std::uint32_t n = s.n;
    if (!std::is_constant_evaluated() && through_opaque) {
      t = pv::test::opaque(t);
      n = pv::test::opaque(n);
    }
    const pv::decision d = pv::charge(limit, state, at(t), n);
    if (d.allowed != s.allowed || d.remaining != s.remaining || ms_of(d.retry_at) != s.retry) return false;
  }
  return true;
}

// Daily quota of 3 at UTC+8: local midnight of day 1 is 16:00 UTC of day 0.
constexpr pv::daily_quota three_a_day{3, hours{8}};
constexpr std::int64_t midnight1 = 16 * 3'600'000;
constexpr step daily_script[] = {
    {0, 1, true, 2, 0},
    {1000, 2, true, 0, 1000},
    {2000, 1, false, 0, midnight1},                     // spent: retry at the next local midnight
    {midnight1 - 1, 1, false, 0, midnight1},            // one millisecond before: still the same day
    {midnight1, 1, true, 2, midnight1},                 // a new day starts from zero
    {1000, 2, true, 0, 1000},                           // time went back: charged to the remembered day
    {1000, 1, false, 0, midnight1 + day_ms},            // ...whose end is the retry time
    {midnight1 + day_ms, 4, false, 3, never},           // n > limit: never
    {midnight1 + day_ms, 0, true, 3, midnight1 + day_ms},  // n = 0 always passes, charges nothing
    {midnight1 + day_ms, 3, true, 0, midnight1 + day_ms},
};

// GCRA 3 per second: T = 333 1/3 ms, tolerance 666 2/3 ms.
constexpr pv::rate_limit three_a_second{3, milliseconds{1000}};
constexpr step gcra_script[] = {
    {0, 1, true, 2, 0},  {0, 1, true, 1, 0},  {0, 1, true, 0, 0},
    {0, 1, false, 0, 334},                       // TAT 1000 - tolerance 666.67 = 333.33: rounded up
    {333, 1, false, 0, 334}, {334, 1, true, 0, 334},
    {667, 1, true, 0, 667},                      // 666.67 rounded up: no drift after two steps
    {1000, 1, true, 0, 1000},                    // exactly 3 per second
    {1000, 4, false, 0, never},                  // more than count at once: never
    {5000, 3, true, 0, 5000},                    // idle long enough: a full burst again
    {4000, 1, false, 0, 5334},                   // time went back: no extra budget
};

// The per-phone windows 1/min, 5/h, 10/24h.
constexpr step phone_script[] = {
    {0, 1, true, 0, 0},
    {1, 1, false, 0, 60'000},                    // 1 per minute
    {60'000, 1, true, 0, 60'000},
    {120'000, 1, true, 0, 120'000},
    {180'000, 1, true, 0, 180'000},
    {240'000, 1, true, 0, 240'000},              // 5 in the hour
    {300'000, 1, false, 0, 3'600'000},           // 5 per hour: the first leaves at 1 h
    {3'600'000, 1, true, 0, 3'600'000},
    {100, 1, false, 0, 3'660'000},               // time went back: charged as at 3'600'000
    {3'660'000, 2, false, 1, never},             // 2 at once exceed 1 per minute: never
};

}  // namespace

TEST_CASE("consume admits up to the limit per local day and names the next local midnight", "[quota]") {
  STATIC_REQUIRE(replay<pv::daily_quota, pv::daily_usage>(three_a_day, daily_script));
  CHECK(replay<pv::daily_quota, pv::daily_usage>(three_a_day, daily_script, true));
}

TEST_CASE("consume changes the day at local midnight for every offset from -12:00 to +14:00", "[quota]") {
  STATIC_REQUIRE([] {
    pv::daily_usage u{};
    const pv::daily_quota q{1, hours{-12}};
    return pv::consume(q, u, at(12 * 3'600'000 - 1)).allowed && !pv::consume(q, u, at(12 * 3'600'000 - 1)).allowed &&
           pv::consume(q, u, at(12 * 3'600'000)).allowed;
  }());
  const std::int64_t days[] = {0, 1, 19'000, 2'932'896};
  for (int off = -12 * 60; off <= 14 * 60; ++off) {
    const pv::daily_quota q{2, minutes{pv::test::opaque(off)}};
    for (std::int64_t d : days) {
      const std::int64_t midnight = d * day_ms - std::int64_t{off} * 60'000;  // local midnight of day d
      pv::daily_usage u{};
      const bool ok = pv::consume(q, u, at(midnight - 1), 2).allowed &&
                      pv::consume(q, u, at(midnight - 1)).retry_at == at(midnight) &&
                      pv::consume(q, u, at(midnight), 2).allowed && u.day() == d && u.used() == 2 &&
                      !pv::consume(q, u, at(midnight + day_ms - 1)).allowed &&
                      pv::consume(q, u, at(midnight + day_ms)).allowed;
      if (!ok) {
        FAIL_CHECK("day boundary wrong at offset " << off << " minutes, day " << d);
        return;
      }
    }
  }
}

TEST_CASE("consume with limit 0 never admits, n = 0 always passes, and saturates at the ends of time", "[quota]") {
  STATIC_REQUIRE([] {
    pv::daily_usage u{};
    const pv::decision d = pv::consume(pv::daily_quota{0, hours{8}}, u, at(0));
    return !d.allowed && d.retry_at == pv::timestamp::max() && u.unused();
  }());
  pv::daily_usage u{};
  CHECK(!pv::consume(pv::daily_quota{0, hours{8}}, u, at(pv::test::opaque<std::int64_t>(5))).allowed);
  CHECK(pv::consume(pv::daily_quota{0, hours{8}}, u, at(5), pv::test::opaque(0u)).allowed);
  // Huge n, and the largest limit: no overflow of used + n.
  const pv::daily_quota big{0xFFFF'FFFFu, hours{8}};
  CHECK(pv::consume(big, u, at(0), pv::test::opaque(0xFFFF'FFFFu)).allowed);
  const pv::decision full = pv::consume(big, u, at(0), 1);
  CHECK((!full.allowed && full.remaining == 0 && full.retry_at == at(midnight1)));
  // The far ends of the timestamp range share a last day: its end is never.
  pv::daily_usage far{};
  CHECK(pv::consume(three_a_day, far, pv::timestamp::max(), 3).allowed);
  CHECK(pv::consume(three_a_day, far, pv::timestamp::max()).retry_at == pv::timestamp::max());
  pv::daily_usage early{};
  CHECK(pv::consume(three_a_day, early, pv::timestamp::min(), 3).allowed);
  const pv::decision after = pv::consume(three_a_day, early, pv::timestamp::min());
  CHECK((!after.allowed && after.retry_at > pv::timestamp::min()));
  CHECK(pv::consume(three_a_day, early, after.retry_at).allowed);
}

TEST_CASE("consume over seeded random traces with clocks that jump back: at most the limit per day, exact retry_at",
          "[quota]") {
  pv::test::splitmix64 rng{pv::test::test_seed("consume property", 0xDA11)};
  for (int trace = 0; trace < 40; ++trace) {
    const pv::daily_quota q{static_cast<std::uint32_t>(1 + rng() % 12),
                            minutes{static_cast<std::int64_t>(rng() % (26 * 60 + 1)) - 12 * 60}};
    pv::daily_usage u{};
    std::int64_t t = static_cast<std::int64_t>(rng() % (400 * day_ms));
    std::int64_t latest_day = std::numeric_limits<std::int64_t>::min();
    std::map<std::int64_t, std::uint32_t> charged;  // the reference: units per charged day
    for (int i = 0; i < 600; ++i) {
      t += static_cast<std::int64_t>(rng() % (3 * 3'600'000)) - (rng() % 8 == 0 ? 2 * day_ms : 0);
      const auto n = static_cast<std::uint32_t>(rng() % (q.limit + 2));
      const std::int64_t day = std::max(latest_day, pv::day_index(at(t), q.utc_offset));
      const pv::daily_usage before = u;
      // Going back never grants: if allowed at t, the same request at the latest day is allowed too.
      pv::daily_usage probe = u;
      const std::int64_t latest_time = std::max(t, ms_of(pv::day_start(latest_day, q.utc_offset)));
      const bool allowed_at_latest = pv::consume(q, probe, at(latest_time), n).allowed;
      const pv::decision d = pv::consume(q, u, at(t), n);
      const std::uint32_t used = charged[day];
      REQUIRE(d.allowed == (used + n <= q.limit));
      REQUIRE(d.remaining == (d.allowed ? q.limit - used - n : q.limit - used));
      REQUIRE((!d.allowed || allowed_at_latest));
      if (d.allowed) {
        charged[day] += n;
        latest_day = day;
        REQUIRE(d.retry_at == at(t));
      } else {
        REQUIRE(u == before);  // a denial charges nothing
        if (n > q.limit) {
          REQUIRE(d.retry_at == pv::timestamp::max());
        } else {
          pv::daily_usage a = u, b = u;
          REQUIRE(pv::consume(q, a, d.retry_at, n).allowed);
          REQUIRE(!pv::consume(q, b, d.retry_at - milliseconds{1}, n).allowed);
        }
      }
    }
    for (const auto& [day, units] : charged) REQUIRE(units <= q.limit);
  }
}

TEST_CASE("admit (GCRA) follows the rate limit script: burst, exact rate, never, time going back", "[quota]") {
  STATIC_REQUIRE(replay<pv::rate_limit, pv::rate_state>(three_a_second, gcra_script));
  CHECK(replay<pv::rate_limit, pv::rate_state>(three_a_second, gcra_script, true));
}

TEST_CASE("admit (GCRA) passes exactly count requests at one instant and then exactly one per T", "[quota]") {
  STATIC_REQUIRE([] {
    pv::rate_state s{};
    int passed = 0;
    for (int i = 0; i < 11; ++i) passed += pv::admit(pv::rate_limit{}, s, at(7)).allowed ? 1 : 0;
    return passed == 10;
  }());
  const pv::rate_limit limits[] = {{10, milliseconds{1000}}, {3, milliseconds{1000}}, {7, milliseconds{1000}},
                                   {1, milliseconds{60'000}}, {1000, milliseconds{1}}, {9, milliseconds{10}},
                                   {4'000'000'000u, milliseconds{1000}}, {97, milliseconds{86'400'000}}};
  for (const pv::rate_limit& l : limits) {
    INFO("count " << l.count << " per " << l.period.count() << " ms");
    pv::rate_state s{};
    const std::int64_t t0 = pv::test::opaque<std::int64_t>(1'639'726'721'747);
    const std::uint32_t burst = std::min<std::uint32_t>(l.count, 2000);
    for (std::uint32_t i = 0; i < burst; ++i) {
      const pv::decision d = pv::admit(l, s, at(t0));
      REQUIRE(d.allowed);
      REQUIRE(d.remaining == l.count - 1 - i);
    }
    if (burst < l.count) continue;  // a 4e9 burst is not replayed one by one
    REQUIRE(!pv::admit(l, s, at(t0)).allowed);
    // Then request k conforms exactly at t0 + ceil(k * period / count), for many k: no drift.
    for (std::int64_t k = 1; k <= 3000; ++k) {
      const std::int64_t p = l.period.count(), c = l.count;
      const std::int64_t due = t0 + (k * p + c - 1) / c;
      const pv::decision early = pv::admit(l, s, at(due - 1));
      REQUIRE(!early.allowed);
      REQUIRE(early.retry_at == at(due));
      REQUIRE(pv::admit(l, s, at(due)).allowed);
    }
  }
}

TEST_CASE("admit (GCRA) over seeded random traces never passes more than count + t/T in any span t", "[quota]") {
  pv::test::splitmix64 rng{pv::test::test_seed("gcra property", 0x6C7A)};
  for (int trace = 0; trace < 30; ++trace) {
    const pv::rate_limit l{static_cast<std::uint32_t>(1 + rng() % 9), milliseconds{1 + static_cast<std::int64_t>(rng() % 2000)}};
    const bool jumps = trace % 2 == 1;
    pv::rate_state s{};
    std::int64_t t = static_cast<std::int64_t>(rng() % 1'000'000), lowest = t, latest = t;
    std::vector<std::int64_t> admitted;
    for (int i = 0; i < 1500; ++i) {
      t += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(l.period.count() / l.count + 2));
      if (jumps && rng() % 10 == 0) t -= static_cast<std::int64_t>(rng() % 5000);
      latest = std::max(latest, t);
      lowest = std::min(lowest, t);
      const auto n = static_cast<std::uint32_t>(1 + rng() % 2);
      pv::rate_state probe = s;
      const bool allowed_at_latest = pv::admit(l, probe, at(latest), n).allowed;
      const pv::rate_state before = s;
      const pv::decision d = pv::admit(l, s, at(t), n);
      REQUIRE((!d.allowed || allowed_at_latest));  // going back never grants
      if (d.allowed) {
        for (std::uint32_t k = 0; k < n; ++k) admitted.push_back(t);
        // Cumulative bound over all the times seen: count + (latest - lowest) / T.
        REQUIRE(static_cast<std::int64_t>(admitted.size()) * l.period.count() <=
                std::int64_t{l.count} * l.period.count() + (latest - lowest) * l.count);
      } else {
        REQUIRE(s == before);
        if (n > l.count) {
          REQUIRE(d.retry_at == pv::timestamp::max());
        } else {
          pv::rate_state a = s, b = s;
          REQUIRE(d.retry_at > at(t));
          REQUIRE(pv::admit(l, a, d.retry_at, n).allowed);
          REQUIRE(!pv::admit(l, b, d.retry_at - milliseconds{1}, n).allowed);
        }
      }
    }
    if (!jumps) {
      // Any span [a_i, a_j] of the monotone trace holds at most count + (a_j - a_i) / T
      // requests: (j - i + 1) * P <= count * P + (a_j - a_i) * count. With
      // f(k) = k * P - a_k * count that is f(j) - f(i) <= (count - 1) * P for
      // all i <= j, checked against the running minimum of f.
      const std::int64_t p = l.period.count(), c = l.count;
      std::int64_t min_f = std::numeric_limits<std::int64_t>::max();
      for (std::size_t k = 0; k < admitted.size(); ++k) {
        const std::int64_t f = static_cast<std::int64_t>(k) * p - admitted[k] * c;
        min_f = std::min(min_f, f);
        if (f - min_f > (c - 1) * p) FAIL("span bound broken ending at " << admitted[k]);
      }
    }
  }
}

TEST_CASE("admit (GCRA): count 0 never admits, period 0 never limits, and extreme times fail closed", "[quota]") {
  STATIC_REQUIRE([] {
    pv::rate_state s{};
    return !pv::admit(pv::rate_limit{0, milliseconds{1000}}, s, at(0)).allowed &&
           pv::admit(pv::rate_limit{0, milliseconds{1000}}, s, at(0)).retry_at == pv::timestamp::max() &&
           pv::admit(pv::rate_limit{5, milliseconds{0}}, s, at(0), 5).allowed &&
           pv::admit(pv::rate_limit{5, milliseconds{-10}}, s, at(0)).allowed && s.idle();
  }());
  pv::rate_state s{};
  CHECK(pv::admit(pv::rate_limit{5, milliseconds{0}}, s, at(pv::test::opaque<std::int64_t>(3)), 5).allowed);
  CHECK(!pv::admit(pv::rate_limit{5, milliseconds{0}}, s, at(3), 6).allowed);
  CHECK(s.idle());
  // The far past, where time scaled by the count (10) leaves int64: fail closed.
  const pv::rate_limit l{};
  pv::rate_state past{};
  const pv::decision closed = pv::admit(l, past, pv::timestamp::min());
  CHECK((!closed.allowed && closed.retry_at == pv::timestamp::max() && past.idle()));
  // With a count above 32768 that divides the period, time is not scaled: a
  // burst passes even at the very start of the range and the retry is exact.
  const pv::rate_limit big{40'000, milliseconds{40'000'000}};  // T = 1000 ms
  pv::rate_state early{};
  CHECK(pv::admit(big, early, pv::timestamp::min(), 40'000).allowed);
  const pv::decision d = pv::admit(big, early, pv::timestamp::min());
  CHECK((!d.allowed && d.retry_at == pv::timestamp::min() + milliseconds{1000}));
  // Within 1970-9999 every count up to 32768 is exact: 10 per second on the
  // last second of 9999 and on the first of 1970.
  for (const std::int64_t edge : {std::int64_t{253'402'300'799'000}, std::int64_t{0}}) {
    pv::rate_state s10{};
    for (int i = 0; i < 10; ++i) CHECK(pv::admit(l, s10, at(edge)).allowed);
    const pv::decision e = pv::admit(l, s10, at(edge));
    CHECK((!e.allowed && e.retry_at == at(edge + 100)));
    pv::rate_state s7{};
    const pv::rate_limit seven{32'768, milliseconds{1000}};
    CHECK(pv::admit(seven, s7, at(edge), 32'768).allowed);
    CHECK(pv::admit(seven, s7, at(edge)).retry_at == at(edge + 1));  // T = 1000/32768 ms, rounded up
  }
  // The far future: scaled time beyond int64 fails closed (10 per second).
  pv::rate_state future{};
  const pv::decision f = pv::admit(l, future, pv::timestamp::max());
  CHECK((!f.allowed && f.retry_at == pv::timestamp::max() && future.idle()));
  // Unscaled (the large count), a TAT that would leave int64 fails closed
  // instead of wrapping: the burst that ends exactly at the last millisecond
  // passes, and the next request is told the exact time it conforms.
  pv::rate_state late{};
  const auto last_burst = pv::timestamp::max() - milliseconds{40'000'000};
  CHECK(pv::admit(big, late, last_burst, 40'000).allowed);
  const pv::decision after = pv::admit(big, late, last_burst);
  CHECK((!after.allowed && after.retry_at == last_burst + milliseconds{1000}));
  pv::rate_state overflow{};
  CHECK(pv::admit(big, overflow, last_burst + milliseconds{1}, 40'000).retry_at == pv::timestamp::max());
  CHECK(overflow.idle());
  // A count that does not divide the period scales time: beyond 2^63 / scale, fail closed.
  pv::rate_state scaled{};
  CHECK(!pv::admit(pv::rate_limit{7, milliseconds{1000}}, scaled, at(std::int64_t{1} << 62)).allowed);
  // Huge n never overflows.
  pv::rate_state huge{};
  CHECK(!pv::admit(pv::rate_limit{0xFFFF'FFFFu, milliseconds{never}}, huge, at(0), 0xFFFF'FFFFu).allowed);
  CHECK(pv::admit(pv::rate_limit{0xFFFF'FFFFu, milliseconds{1000}}, huge, at(0), 0xFFFF'FFFFu).allowed);
}

TEST_CASE("admit (sliding windows) enforces 1 per minute, 5 per hour, 10 per 24 hours together", "[quota]") {
  STATIC_REQUIRE(replay<pv::window_set<3>, pv::per_phone_state>(pv::per_phone_windows, phone_script));
  CHECK(replay<pv::window_set<3>, pv::per_phone_state>(pv::per_phone_windows, phone_script, true));
  // The 24-hour window: ten sends spread over the day, the eleventh waits for the first to age out.
  pv::per_phone_state s{};
  for (int i = 0; i < 10; ++i) REQUIRE(pv::admit(pv::per_phone_windows, s, at(pv::test::opaque(i) * 3'600'000)).allowed);
  const pv::decision d = pv::admit(pv::per_phone_windows, s, at(10 * 3'600'000));
  CHECK((!d.allowed && d.retry_at == at(24 * 3'600'000)));
  CHECK(!pv::admit(pv::per_phone_windows, s, at(24 * 3'600'000 - 1)).allowed);
  CHECK(pv::admit(pv::per_phone_windows, s, at(24 * 3'600'000)).allowed);
}

// How a random trace moves time: each step forward by up to `step_ms`; one
// step in `pause_every` also pauses up to `pause_ms` (so many times age out
// at once), one in `back_every` goes back up to `back_ms`.
struct trace_shape {
  std::int64_t step_ms;
  int pause_every;
  std::int64_t pause_ms;
  int back_every;
  std::int64_t back_ms;
  int steps;
};

// The sliding-window property over one seeded random trace: every answer of
// decide(state, now, n) (admit() with `set`, or its equivalent) against a
// brute-force count of the charged times (window counts up to N, so the
// model needs no clamping), the state after each step against the charged
// times, and at the end at most count in any window.
template <std::size_t N, std::size_t K, class Decide, class State = pv::sliding_window_state<N>>
void check_window_trace(const pv::window_set<K>& set, const trace_shape& shape, pv::test::splitmix64& rng,
                        Decide decide) {
  const auto chance = [&rng](int every) { return every > 0 && rng() % static_cast<std::uint64_t>(every) == 0; };
  const auto up_to = [&rng](std::int64_t ms) { return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(ms + 1)); };
  std::uint32_t least_count = 0xFFFF'FFFFu;
  for (const pv::sliding_window& w : set.windows) least_count = std::min(least_count, w.count);
  State s{};
  std::vector<std::int64_t> charged;  // the reference: every charged time, in order
  std::int64_t t = static_cast<std::int64_t>(rng() % 1'000'000);
  for (int i = 0; i < shape.steps; ++i) {
    t += up_to(shape.step_ms);
    if (chance(shape.pause_every)) t += up_to(shape.pause_ms);
    if (chance(shape.back_every)) t -= up_to(shape.back_ms);
    const auto n = static_cast<std::uint32_t>(rng() % 3);
    const std::int64_t eff = charged.empty() ? t : std::max(t, charged.back());
    // Brute force: for each window, the charged times inside (eff - W, eff].
    bool allowed = true;
    std::uint32_t left = 0xFFFF'FFFFu;
    for (const pv::sliding_window& w : set.windows) {
      const auto inside = static_cast<std::uint32_t>(
          std::count_if(charged.begin(), charged.end(), [&](std::int64_t e) { return eff - e < w.window.count(); }));
      left = std::min(left, w.count - std::min(w.count, inside));
      allowed = allowed && inside + n <= w.count;
    }
    const auto before = s;
    State probe = s;
    const bool allowed_at_latest = decide(probe, at(eff), n).allowed;
    const pv::decision d = decide(s, at(t), n);
    REQUIRE(d.allowed == allowed);
    REQUIRE(d.allowed == allowed_at_latest);  // charged as at the latest time: going back never grants
    REQUIRE(d.remaining == (allowed ? left - n : left));
    REQUIRE(s.size() == std::min(charged.size() + (allowed ? n : 0), N));
    if (d.allowed) {
      for (std::uint32_t k = 0; k < n; ++k) charged.push_back(eff);
      REQUIRE(d.retry_at == at(t));
    } else {
      REQUIRE(s == before);
      if (n > least_count) {
        REQUIRE(d.retry_at == pv::timestamp::max());
      } else {
        State a = s, b = s;
        REQUIRE(decide(a, d.retry_at, n).allowed);
        REQUIRE(!decide(b, d.retry_at - milliseconds{1}, n).allowed);
      }
    }
    for (std::size_t k = 0; k < s.size(); ++k) REQUIRE(s.recent(k) == at(charged[charged.size() - 1 - k]));
  }
  // At most count charged times in any window of length W: any count + 1 of them span W or more.
  for (const pv::sliding_window& w : set.windows)
    for (std::size_t i = 0; i + w.count < charged.size(); ++i)
      REQUIRE(charged[i + w.count] - charged[i] >= w.window.count());
}

// The property over 30 traces of random window sets for a state of N slots.
template <std::size_t N>
void check_sliding_window_traces(pv::test::splitmix64& rng) {
  for (int trace = 0; trace < 30; ++trace) {
    const pv::window_set<3> set{{{static_cast<std::uint32_t>(1 + rng() % 3), milliseconds{1 + static_cast<std::int64_t>(rng() % 1000)}},
                                 {static_cast<std::uint32_t>(2 + rng() % 6), milliseconds{1 + static_cast<std::int64_t>(rng() % 20'000)}},
                                 {static_cast<std::uint32_t>(5 + rng() % (N - 4)), milliseconds{1 + static_cast<std::int64_t>(rng() % 100'000)}}}};
    check_window_trace<N>(set, {699, 0, 0, 12, 50'000, 800}, rng,
                          [&set](pv::sliding_window_state<N>& s, pv::timestamp now, std::uint32_t n) {
                            return pv::admit(set, s, now, n);
                          });
  }
}

// From the smallest state the traces allow to the largest there is.
TEST_CASE("admit (sliding windows) over seeded random traces: at most count in any window, exact retry_at",
          "[quota]") {
  pv::test::splitmix64 rng{pv::test::test_seed("sliding window property", 0x51D3)};
  check_sliding_window_traces<5>(rng);
  check_sliding_window_traces<10>(rng);
  check_sliding_window_traces<16>(rng);
  check_sliding_window_traces<13>(rng);
}

TEST_CASE("admit (sliding windows): n over count is never, count over N is N, window 0 holds nothing", "[quota]") {
  STATIC_REQUIRE([] {
    pv::sliding_window_state<4> s{};
    const pv::sliding_window w{3, milliseconds{1000}};
    return !pv::admit(w, s, at(0), 4).allowed && pv::admit(w, s, at(0), 4).retry_at == pv::timestamp::max() &&
           s.size() == 0 && pv::admit(w, s, at(0), 3).allowed && s.size() == 3 && s.recent(0) == at(0);
  }());
  // count 20 on a ring of 4: stricter (4 per window), never looser.
  pv::sliding_window_state<4> s{};
  const pv::sliding_window too_many{20, milliseconds{1000}};
  int passed = 0;
  for (int i = 0; i < 10; ++i) passed += pv::admit(too_many, s, at(pv::test::opaque(i))).allowed;
  CHECK(passed == 4);
  // A window of 0 ms (or negative) holds nothing: only n <= count is checked.
  pv::sliding_window_state<4> z{};
  for (int i = 0; i < 10; ++i) CHECK(pv::admit(pv::sliding_window{1, milliseconds{pv::test::opaque(0)}}, z, at(5)).allowed);
  CHECK(pv::admit(pv::sliding_window{1, milliseconds{-5}}, z, at(5)).allowed);
  // No windows at all: everything passes.
  pv::sliding_window_state<4> none{};
  CHECK(pv::admit(std::span<const pv::sliding_window>{}, none, at(5), 7).allowed);
  // Events near timestamp::max(): the retry time saturates to never.
  pv::sliding_window_state<4> far{};
  const pv::sliding_window w{1, hours{1}};
  CHECK(pv::admit(w, far, pv::timestamp::max() - milliseconds{10}).allowed);
  CHECK(pv::admit(w, far, pv::timestamp::max()).retry_at == pv::timestamp::max());
  // And near timestamp::min(): no wrap of now - event. An event at the very
  // first millisecond is kept 1 ms later (that instant marks an empty slot):
  // it blocks 1 ms longer, stricter, never looser.
  pv::sliding_window_state<4> past{};
  CHECK(pv::admit(w, past, pv::timestamp::min()).allowed);
  CHECK(past.recent(0) == pv::timestamp::min() + milliseconds{1});
  CHECK(pv::admit(w, past, pv::timestamp::min()).retry_at == pv::timestamp::min() + hours{1} + milliseconds{1});
  pv::sliding_window_state<4> past2{};
  CHECK(pv::admit(w, past2, pv::timestamp::min() + milliseconds{1}).allowed);
  CHECK(pv::admit(w, past2, pv::timestamp::min() + milliseconds{2}).retry_at ==
        pv::timestamp::min() + hours{1} + milliseconds{1});
  CHECK(pv::admit(w, past, pv::timestamp::max()).allowed);
}

// As many as the state holds (13 or more) in any 10 s, 100 ms apart: full,
// then a pause that ages out 11 times at once, then one that ages out 2
// more. Either state.
template <class State>
constexpr bool full_in_ten_seconds(State& s) {
  constexpr auto c = static_cast<std::uint32_t>(State::capacity());
  static_assert(c >= 13);
  const pv::rolling_quota q{c, std::chrono::seconds{10}};
  bool ok = true;
  for (std::uint32_t i = 0; i < c; ++i)
    ok = ok && pv::consume(q, s, at(static_cast<std::int64_t>(i) * 100)).remaining == c - 1 - i;
  const pv::decision full = pv::consume(q, s, at(5000));
  const pv::decision eleven_out = pv::consume(q, s, at(11'050));  // times 0 to 1000 aged out
  const pv::decision two_out = pv::consume(q, s, at(11'200));     // and 1100, 1200
  return ok && !full.allowed && full.retry_at == at(10'000) && eleven_out.allowed && eleven_out.remaining == 10 &&
         two_out.allowed && two_out.remaining == 11;
}

// As many a day as the state holds (the default quota on rolling_usage<>),
// one a minute: the next waits for the first to leave the 24 hours, then one
// leaves and one enters. Either state.
template <class State>
void check_full_day(State& s) {
  const pv::rolling_quota q{static_cast<std::uint32_t>(State::capacity()), hours{24}};
  for (int i = 0; i < static_cast<int>(q.limit); ++i) REQUIRE(pv::consume(q, s, at(pv::test::opaque(i) * 60'000)).allowed);
  const pv::decision d = pv::consume(q, s, at(23 * 3'600'000));
  CHECK((!d.allowed && d.remaining == 0 && d.retry_at == at(24 * 3'600'000)));
  CHECK(pv::consume(q, s, at(24 * 3'600'000)).allowed);
  CHECK(!pv::consume(q, s, at(24 * 3'600'000)).allowed);
  CHECK(pv::consume(q, s, at(24 * 3'600'000), 0).allowed);
}

TEST_CASE("consume (rolling 24 hours) admits the limit in any 24 hours and retries when the oldest ages out",
          "[quota]") {
  STATIC_REQUIRE([] {
    pv::sliding_window_state<3> s{};
    const pv::rolling_quota q{3, hours{24}};
    return pv::consume(q, s, at(0), 2).allowed && pv::consume(q, s, at(1000)).allowed &&
           pv::consume(q, s, at(2000)).retry_at == at(24 * 3'600'000);
  }());
  // The largest state in a constant expression too, after pauses that age
  // out 11 times at once, then 2, then all.
  STATIC_REQUIRE([] {
    pv::sliding_window_state<16> s{};
    const bool ok = full_in_ten_seconds(s);
    const pv::decision all_out = pv::consume(pv::rolling_quota{16, std::chrono::seconds{10}}, s, at(60'000));
    return ok && all_out.allowed && all_out.remaining == 15;
  }());
  pv::sliding_window_state<16> s{};
  check_full_day(s);
}

// As many in any 24 hours as the state holds (the default rolling quota on
// rolling_usage<100>) over the same five traces: about 1.5 times the limit
// a day, so the quota binds, with pauses of up to 6 hours; then about 0.6
// times it: mostly admitted, the count moves both ways.
template <class State>
void check_rolling_day_traces(pv::test::splitmix64& rng) {
  constexpr std::size_t c = State::capacity();
  constexpr auto per_limit = static_cast<std::int64_t>(100 / c);  // 1 for the default quota
  const pv::rolling_quota q{static_cast<std::uint32_t>(c), hours{24}};
  const pv::window_set<1> as_window{{{q.limit, q.window}}};
  const auto by_consume = [&q](State& s, pv::timestamp now, std::uint32_t n) { return pv::consume(q, s, now, n); };
  for (int trace = 0; trace < 4; ++trace)
    check_window_trace<c, 1, decltype(by_consume), State>(
        as_window, {1'150'000 * per_limit, 40, 6 * 3'600'000, 25, 3'600'000, 1500}, rng, by_consume);
  check_window_trace<c, 1, decltype(by_consume), State>(
      as_window, {2'900'000 * per_limit, 30, 12 * 3'600'000, 40, 600'000, 1500}, rng, by_consume);
}

// These traces age out one time at a time, many at once after long pauses,
// and go back in time, and two windows share one state: every answer stays
// exact.
TEST_CASE("consume (rolling 24 hours) over seeded random traces: exact at any pace, after pauses and going back",
          "[quota]") {
  pv::test::splitmix64 rng{pv::test::test_seed("rolling quota property", 0x2A11)};
  check_rolling_day_traces<pv::sliding_window_state<16>>(rng);
  // A smaller quota over a larger state, and bursts of many requests at one instant.
  const pv::rolling_quota small{10, std::chrono::hours{1}};
  const pv::window_set<1> small_window{{{small.limit, small.window}}};
  check_window_trace<16>(small_window, {750'000, 15, 2 * 3'600'000, 20, 900'000, 2000}, rng,
                         [&small](pv::sliding_window_state<16>& s, pv::timestamp now, std::uint32_t n) {
                           return pv::consume(small, s, now, n);
                         });
  // Two windows taking turns over one state.
  const pv::sliding_window turns[2] = {{5, std::chrono::hours{1}}, {16, std::chrono::hours{24}}};
  pv::sliding_window_state<16> shared{};
  std::vector<std::int64_t> charged;
  std::int64_t t = 0;
  for (int i = 0; i < 4000; ++i) {
    t += static_cast<std::int64_t>(rng() % 200'000) + (i % 500 == 499 ? 20 * 3'600'000 : 0);
    const pv::sliding_window& w = turns[i % 2];
    const std::int64_t eff = charged.empty() ? t : std::max(t, charged.back());
    const auto inside = static_cast<std::uint32_t>(
        std::count_if(charged.begin(), charged.end(), [&](std::int64_t e) { return eff - e < w.window.count(); }));
    const pv::decision d = pv::admit(w, shared, at(t));
    REQUIRE(d.allowed == (inside < w.count));
    REQUIRE(d.remaining == (d.allowed ? w.count - inside - 1 : 0));
    if (d.allowed) charged.push_back(eff);
  }
}

// ---- rolling_usage: the compact state of a rolling quota ----

TEST_CASE("consume (rolling_usage) admits the limit in any window and retries when the oldest ages out", "[quota]") {
  STATIC_REQUIRE([] {
    pv::rolling_usage<3> u{};
    const pv::rolling_quota q{3, hours{24}};
    return pv::consume(q, u, at(0), 2).allowed && pv::consume(q, u, at(1000)).allowed &&
           pv::consume(q, u, at(2000)).retry_at == at(24 * 3'600'000) && u.size() == 3 && u.recent(0) == at(1000);
  }());
  // The common path in a constant expression: a count confirmed from the
  // first block of the hint, one after 11 times aged out (three blocks), and
  // one after a pause that moves the origin (60 days: past 2^32 ms; the older
  // times are then kept as 1 ms after it).
  STATIC_REQUIRE([] {
    pv::rolling_usage<20> u{};
    const bool ok = full_in_ten_seconds(u);
    const pv::decision later = pv::consume(pv::rolling_quota{20, std::chrono::seconds{10}}, u, at(60 * day_ms));
    return ok && later.allowed && later.remaining == 19 && u.recent(0) == at(60 * day_ms) && u.size() == 20 &&
           u.recent(1) == at(60 * day_ms - (std::int64_t{1} << 31) + 1);  // kept as 1 ms after the new origin
  }());
  pv::rolling_usage<> u{};
  check_full_day(u);
  const pv::rolling_quota q{};
  CHECK(pv::consume(q, u, at(24 * 3'600'000), 101).retry_at == pv::timestamp::max());  // more than the limit: never
  // The extremes of time: the first millisecond is kept 1 ms later (as the
  // sliding window does), and a retry past the last saturates to never.
  pv::rolling_usage<2> edge{};
  const pv::rolling_quota one_hour{1, hours{1}};
  CHECK(pv::consume(one_hour, edge, pv::timestamp::min()).allowed);
  CHECK(edge.recent(0) == pv::timestamp::min() + milliseconds{1});
  CHECK(pv::consume(one_hour, edge, pv::timestamp::min()).retry_at == pv::timestamp::min() + hours{1} + milliseconds{1});
  CHECK(pv::consume(one_hour, edge, pv::timestamp::max()).allowed);
  CHECK(pv::consume(one_hour, edge, pv::timestamp::max()).retry_at == pv::timestamp::max());
}

// The ring keeps the count its last admission left and confirms it a block
// of four slots at a time; these traces make that hold, run past the first
// block after pauses, and go back in time: every answer stays exact.
TEST_CASE("consume (rolling_usage) over seeded random traces: exact at any pace, after pauses and going back",
          "[quota]") {
  pv::test::splitmix64 rng{pv::test::test_seed("rolling usage property", 0x2A12)};
  check_rolling_day_traces<pv::rolling_usage<100>>(rng);
  // A smaller quota over a larger ring (the path for any request), and one
  // with fewer slots than the four of a block.
  const pv::rolling_quota small{30, hours{1}};
  const auto by_small = [&small](pv::rolling_usage<64>& u, pv::timestamp now, std::uint32_t n) {
    return pv::consume(small, u, now, n);
  };
  check_window_trace<64, 1, decltype(by_small), pv::rolling_usage<64>>({{{small.limit, small.window}}},
                                                                        {250'000, 15, 2 * 3'600'000, 20, 900'000, 2000}, rng, by_small);
  const pv::rolling_quota tiny{3, std::chrono::seconds{10}};
  const auto by_tiny = [&tiny](pv::rolling_usage<3>& u, pv::timestamp now, std::uint32_t n) {
    return pv::consume(tiny, u, now, n);
  };
  check_window_trace<3, 1, decltype(by_tiny), pv::rolling_usage<3>>({{{tiny.limit, tiny.window}}},
                                                                     {6000, 10, 30'000, 5, 8000, 3000}, rng, by_tiny);
  // A few blocks' worth inside, and frequent pauses longer than the window:
  // counts that end exactly at, just before and past a block's end.
  const pv::rolling_quota eight{8, std::chrono::seconds{10}};
  const auto by_eight = [&eight](pv::rolling_usage<8>& u, pv::timestamp now, std::uint32_t n) {
    return pv::consume(eight, u, now, n);
  };
  for (int trace = 0; trace < 4; ++trace)
    check_window_trace<8, 1, decltype(by_eight), pv::rolling_usage<8>>({{{eight.limit, eight.window}}},
                                                                       {2500, 6, 14'000, 30, 3000, 3000}, rng, by_eight);
}

// The exact answers a rolling_usage<N> must give: those of a
// sliding_window_state<N> (exact at any window) where there is one, N <= 16,
// and of window_model.hpp's model of its times beyond.
template <std::size_t N>
struct exact_rolling {
  pv::test::model_times model{N, {}};
  std::size_t size() const { return model.times.size(); }
  pv::timestamp recent(std::size_t k) const { return at(model.times[k]); }
};
template <std::size_t N>
pv::decision consume(const pv::rolling_quota& q, exact_rolling<N>& exact, pv::timestamp now, std::uint32_t n) {
  const pv::sliding_window w{q.limit, q.window};
  return exact.model.admit(std::span<const pv::sliding_window>(&w, 1), ms_of(now), n);
}
template <std::size_t N>
using exact_state = std::conditional_t<(N <= 16), pv::sliding_window_state<(N <= 16 ? N : 1)>, exact_rolling<N>>;

// rolling_usage<N> against exact_state<N> on the same requests: limits
// below, at and above N, windows from none to 2^31 - 1 ms (and changing
// between requests), n of 0 to 3, pauses that move the origin (beyond
// 2^32 ms), clocks that go back, and times at the ends of the range. Every
// answer and every kept time within 2^31 ms of the newest must be the same.
template <std::size_t N>
void check_rolling_against_window_state(pv::test::splitmix64& rng, int traces) {
  constexpr std::int64_t windows[] = {0, 1, 1000, 3'600'000, day_ms, 2'147'483'647, -5};
  const auto saturating_add = [](std::int64_t& t, std::int64_t d) {
    if (__builtin_add_overflow(t, d, &t)) t = d > 0 ? never : std::numeric_limits<std::int64_t>::min();
  };
  for (int trace = 0; trace < traces; ++trace) {
    pv::rolling_quota q{static_cast<std::uint32_t>(rng() % (N + 3)), milliseconds{windows[rng() % 7]}};
    if (trace % 4 == 3) q.limit = static_cast<std::uint32_t>(N);  // the common path throughout
    const std::uint64_t step = static_cast<std::uint64_t>(std::max<std::int64_t>(q.window.count(), 1000) / 4 + 1);
    pv::rolling_usage<N> compact{};
    exact_state<N> exact{};
    std::int64_t t = static_cast<std::int64_t>(rng() % 4'000'000'000'000u) - 2'000'000'000'000;
    if (trace % 20 == 0) t = std::numeric_limits<std::int64_t>::min() + static_cast<std::int64_t>(rng() % 1000);
    if (trace % 20 == 1) t = never - 3 * day_ms;
    for (int i = 0; i < 300; ++i) {
      // Now and then another window over the same states: the count a
      // narrower window left must not be trusted for a wider one.
      if (trace % 4 == 3 && rng() % 8 == 0) q.window = milliseconds{windows[rng() % 6]};
      const std::uint64_t r = rng() % 100;
      if (r < 60) saturating_add(t, static_cast<std::int64_t>(rng() % step));
      else if (r < 72) saturating_add(t, -static_cast<std::int64_t>(rng() % (step * 8)));
      else if (r < 77) saturating_add(t, static_cast<std::int64_t>(rng() % 6'000'000'000u));  // may move the origin
      const auto n = static_cast<std::uint32_t>(rng() % 3 == 0 ? rng() % 4 : 1);
      const pv::decision a = pv::consume(q, compact, at(t), n);
      const pv::decision b = consume(q, exact, at(t), n);
      INFO("trace " << trace << " step " << i << " limit " << q.limit << " window " << q.window.count() << " t " << t << " n " << n);
      REQUIRE((a.allowed == b.allowed && a.remaining == b.remaining && a.retry_at == b.retry_at));
      REQUIRE(compact.size() == exact.size());
      for (std::size_t k = 0; k < exact.size(); ++k) {
        const auto age = static_cast<std::uint64_t>(ms_of(exact.recent(0))) - static_cast<std::uint64_t>(ms_of(exact.recent(k)));
        if (age < (std::uint64_t{1} << 31)) REQUIRE(compact.recent(k) == exact.recent(k));
      }
    }
  }
}

TEST_CASE("consume (rolling_usage) answers as sliding_window_state does for windows up to 2^31 - 1 ms", "[quota]") {
  pv::test::splitmix64 rng{pv::test::test_seed("rolling usage differential", 0xD1FF)};
  check_rolling_against_window_state<1>(rng, 200);
  check_rolling_against_window_state<3>(rng, 300);
  check_rolling_against_window_state<4>(rng, 200);  // as many slots as a block
  check_rolling_against_window_state<5>(rng, 200);
  check_rolling_against_window_state<8>(rng, 300);
  check_rolling_against_window_state<100>(rng, 60);
}

TEST_CASE("consume (rolling_usage): a window over 2^31 - 1 ms is stricter after the origin moves, never looser",
          "[quota]") {
  // 3 in any 40 days. Times at day 0 and day 30: the second moves the origin
  // (past 2^32 ms), to 2^31 ms before day 30, so the time of day 0 is kept as
  // 1 ms after it (day 5.14...), still inside a 40-day window on day 45.
  const pv::rolling_quota forty_days{3, hours{40 * 24}};
  pv::rolling_usage<3> compact{};
  pv::sliding_window_state<3> exact{};
  for (const std::int64_t day : {0, 30}) {
    REQUIRE(pv::consume(forty_days, compact, at(day * day_ms)).allowed);
    REQUIRE(pv::consume(forty_days, exact, at(day * day_ms)).allowed);
  }
  const std::int64_t kept_as = 30 * day_ms - (std::int64_t{1} << 31) + 1;
  CHECK(compact.recent(1) == at(kept_as));
  const pv::decision strict = pv::consume(forty_days, compact, at(45 * day_ms));
  const pv::decision exact_answer = pv::consume(forty_days, exact, at(45 * day_ms));
  CHECK((strict.allowed && strict.remaining == 0 && exact_answer.allowed && exact_answer.remaining == 1));
  const pv::decision denied = pv::consume(forty_days, compact, at(45 * day_ms + 1));
  CHECK((!denied.allowed && denied.retry_at == at(kept_as + 40 * day_ms)));
  CHECK(pv::consume(forty_days, exact, at(45 * day_ms + 1)).allowed);
}

namespace custom {
// A limit of the user's own: at most `max` units ever, the state a counter.
// admit_all reaches its charge() by argument-dependent lookup.
struct lifetime_cap {
  std::uint32_t max;
};
struct lifetime_used {
  std::uint32_t used = 0;
  friend constexpr bool operator==(const lifetime_used&, const lifetime_used&) = default;
};
constexpr pv::decision charge(const lifetime_cap& cap, lifetime_used& state, pv::timestamp now, std::uint32_t n) {
  if (state.used + n > cap.max) return {false, cap.max - state.used, pv::timestamp::max()};
  state.used += n;
  return {true, cap.max - state.used, now};
}
}  // namespace custom

TEST_CASE("admit_all takes a limit of the user's own through charge() and keeps it all or nothing", "[quota]") {
  STATIC_REQUIRE([] {
    pv::per_phone_state phone{};
    custom::lifetime_used used{};
    const custom::lifetime_cap cap{1};
    const auto a = pv::admit_all(at(0), pv::meter(pv::per_phone_windows, phone), pv::meter(cap, used));
    const auto b = pv::admit_all(at(10), pv::meter(pv::per_phone_windows, phone), pv::meter(cap, used));
    return a.result.allowed && a.result.remaining == 0 && used.used == 1 && !b.result.allowed && b.denied_by == 1;
  }());
  pv::per_phone_state phone{};
  custom::lifetime_used used{};
  const custom::lifetime_cap cap{3};
  // The phone's minute denies: the custom state is not charged.
  CHECK(pv::admit_all(at(0), pv::meter(pv::per_phone_windows, phone), pv::meter(cap, used)).result.allowed);
  const auto d = pv::admit_all(at(pv::test::opaque(5)), pv::meter(pv::per_phone_windows, phone), pv::meter(cap, used));
  CHECK((!d.result.allowed && d.denied_by == 0 && used.used == 1 && d.result.retry_at == at(60'000)));
  // The custom limit denies: the phone is not charged.
  used.used = 3;
  const pv::per_phone_state before = phone;
  const auto e = pv::admit_all(at(120'000), pv::meter(pv::per_phone_windows, phone), pv::meter(cap, used));
  CHECK((!e.result.allowed && e.denied_by == 1 && e.result.retry_at == pv::timestamp::max() && phone == before));
}

TEST_CASE("admit_all charges every limit or none and names the limit that denied", "[quota]") {
  STATIC_REQUIRE([] {
    pv::per_phone_state phone{};
    pv::daily_usage account{};
    const pv::daily_quota q{1, hours{8}};
    const auto a = pv::admit_all(at(0), pv::meter(pv::per_phone_windows, phone), pv::meter(q, account));
    // The phone's minute has passed but the account's day is spent: the phone is not charged.
    const pv::per_phone_state phone_before = phone;
    const auto b = pv::admit_all(at(60'000), pv::meter(pv::per_phone_windows, phone), pv::meter(q, account));
    return a.result.allowed && a.denied_by == pv::joint_decision::none && !b.result.allowed &&
           b.denied_by == 1 && b.result.retry_at == at(midnight1) && phone == phone_before;
  }());
  pv::per_phone_state phone{};
  pv::daily_usage account{};
  pv::rate_state user{};
  const pv::daily_quota q{3, hours{8}};
  const pv::rate_limit r{};
  auto all = [&](std::int64_t t) {
    return pv::admit_all(at(pv::test::opaque(t)), pv::meter(pv::per_phone_windows, phone), pv::meter(q, account),
                         pv::meter(r, user));
  };
  CHECK(all(0).result.allowed);
  // The phone window denies; the account and the user are not charged.
  const auto before_account = account;
  const auto before_user = user;
  const auto d = all(10);
  CHECK((!d.result.allowed && d.denied_by == 0 && d.result.retry_at == at(60'000)));
  CHECK(account == before_account);
  CHECK(user == before_user);
  CHECK(all(60'000).result.allowed);
  CHECK(all(120'000).result.allowed);
  CHECK(account.used() == 3);
  // Both the phone (1 per minute) and the day deny: the later retry wins, so a retry then succeeds.
  const auto both = all(130'000);
  CHECK((!both.result.allowed && both.denied_by == 1 && both.result.retry_at == at(midnight1)));
  CHECK(all(midnight1).result.allowed);
  // n at once: consume_all with a count over the daily limit is never.
  const auto over = pv::consume_all(at(midnight1 + 3'600'000), 4, pv::meter(q, account), pv::meter(r, user));
  CHECK((!over.result.allowed && over.result.retry_at == pv::timestamp::max() && over.denied_by == 0));
  // On a tie of retry times the first denying limit is named.
  pv::daily_usage first{}, second{};
  CHECK(pv::consume_all(at(0), 3, pv::meter(q, first), pv::meter(q, second)).result.allowed);
  const auto tie = pv::consume_all(at(pv::test::opaque(5)), 1, pv::meter(q, first), pv::meter(q, second));
  CHECK((!tie.result.allowed && tie.denied_by == 0 && tie.result.retry_at == at(midnight1)));
}

TEST_CASE("admit_all over seeded random traces: all-or-nothing, the max of the retry times, exact", "[quota]") {
  pv::test::splitmix64 rng{pv::test::test_seed("admit_all property", 0xA110)};
  for (int trace = 0; trace < 20; ++trace) {
    const pv::window_set<2> windows{{{static_cast<std::uint32_t>(1 + rng() % 2), milliseconds{1 + static_cast<std::int64_t>(rng() % 5000)}},
                                     {static_cast<std::uint32_t>(3 + rng() % 5), milliseconds{1 + static_cast<std::int64_t>(rng() % 60'000)}}}};
    const pv::daily_quota q{static_cast<std::uint32_t>(5 + rng() % 20), minutes{static_cast<std::int64_t>(rng() % 1561) - 720}};
    const pv::rate_limit r{static_cast<std::uint32_t>(1 + rng() % 5), milliseconds{1 + static_cast<std::int64_t>(rng() % 3000)}};
    const pv::rolling_quota rq{static_cast<std::uint32_t>(3 + rng() % 8), milliseconds{1 + static_cast<std::int64_t>(rng() % 30'000'000)}};
    pv::sliding_window_state<8> phone{};
    pv::daily_usage account{};
    pv::rate_state user{};
    pv::rolling_usage<8> rolling{};
    std::int64_t t = static_cast<std::int64_t>(rng() % (100 * day_ms));
    for (int i = 0; i < 600; ++i) {
      t += static_cast<std::int64_t>(rng() % 4'000'000) - (rng() % 10 == 0 ? static_cast<std::int64_t>(rng() % day_ms) : 0);
      const auto n = static_cast<std::uint32_t>(1 + rng() % 2);
      // Each limit alone, on copies.
      auto p1 = phone;
      auto a1 = account;
      auto u1 = user;
      auto r1 = rolling;
      const pv::decision dp = pv::admit(windows, p1, at(t), n);
      const pv::decision da = pv::consume(q, a1, at(t), n);
      const pv::decision du = pv::admit(r, u1, at(t), n);
      const pv::decision dr = pv::consume(rq, r1, at(t), n);
      const auto joint = pv::consume_all(at(t), n, pv::meter(windows, phone), pv::meter(q, account), pv::meter(r, user),
                                         pv::meter(rq, rolling));
      const bool every = dp.allowed && da.allowed && du.allowed && dr.allowed;
      REQUIRE(joint.result.allowed == every);
      REQUIRE(joint.result.remaining == std::min({dp.remaining, da.remaining, du.remaining, dr.remaining}));
      if (every) {
        // Every state charged exactly as alone.
        REQUIRE((phone == p1 && account == a1 && user == u1 && rolling == r1));
        REQUIRE(joint.denied_by == pv::joint_decision::none);
      } else {
        // None charged; the named limit denied with the latest retry time.
        const pv::decision parts[] = {dp, da, du, dr};
        pv::timestamp latest = pv::timestamp::min();
        for (const pv::decision& part : parts)
          if (!part.allowed) latest = std::max(latest, part.retry_at);
        REQUIRE(joint.denied_by < 4);
        REQUIRE(!parts[joint.denied_by].allowed);
        REQUIRE(parts[joint.denied_by].retry_at == latest);
        REQUIRE(joint.result.retry_at == latest);
        if (latest != pv::timestamp::max()) {
          auto p2 = phone;
          auto a2 = account;
          auto u2 = user;
          auto r2 = rolling;
          REQUIRE(pv::consume_all(latest, n, pv::meter(windows, p2), pv::meter(q, a2), pv::meter(r, u2),
                                  pv::meter(rq, r2)).result.allowed);
          auto p3 = phone;
          auto a3 = account;
          auto u3 = user;
          auto r3 = rolling;
          REQUIRE(!pv::consume_all(latest - milliseconds{1}, n, pv::meter(windows, p3), pv::meter(q, a3),
                                   pv::meter(r, u3), pv::meter(rq, r3)).result.allowed);
        }
      }
    }
  }
}
