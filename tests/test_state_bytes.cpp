// quota.hpp's stored forms: to_bytes / from_bytes of daily_usage, rate_state,
// sliding_window_state<N> and rolling_usage<N> (RULES.md §4: the states a
// service keeps, in its own database or a shared store).
#include <catch2/catch.hpp>
#include <phoneverify/code.hpp>
#include <phoneverify/quota.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
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

using phoneverify::test::model_of;
using phoneverify::test::model_times;

constexpr pv::timestamp at(std::int64_t ms) { return pv::timestamp{milliseconds{ms}}; }
constexpr std::int64_t ms_of(pv::timestamp t) { return t.time_since_epoch().count(); }
constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t earliest = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t day_ms = 86'400'000;

// ---- compile-time contract: sizes, distinct types, unambiguous overloads ----
static_assert(pv::daily_usage_bytes_size == 16 && sizeof(pv::daily_usage_bytes) == 16);
static_assert(pv::rate_state_bytes_size == 16 && sizeof(pv::rate_state_bytes) == 16);
static_assert(pv::sliding_window_state_bytes_size<10> == 96 && sizeof(pv::sliding_window_state_bytes<10>) == 96);
static_assert(pv::rolling_usage_bytes_size<100> == 424 && sizeof(pv::rolling_usage_bytes<100>) == 424);
static_assert(std::is_trivially_copyable_v<pv::daily_usage_bytes> && std::is_trivially_copyable_v<pv::rate_state_bytes>);
static_assert(std::is_trivially_copyable_v<pv::sliding_window_state_bytes<10>>);
static_assert(std::is_trivially_copyable_v<pv::rolling_usage_bytes<100>>);
// Same sizes, different types: 16 bytes twice, 32 bytes (sliding 2, rolling
// 2) and 64 bytes (sliding 6, rolling 10, a challenge).
static_assert(!std::is_convertible_v<const pv::daily_usage_bytes&, pv::rate_state_bytes>);
static_assert(!std::is_convertible_v<const pv::rate_state_bytes&, pv::daily_usage_bytes>);
static_assert(pv::sliding_window_state_bytes_size<2> == pv::rolling_usage_bytes_size<2>);
static_assert(!std::is_convertible_v<const pv::sliding_window_state_bytes<2>&, pv::rolling_usage_bytes<2>>);
static_assert(pv::sliding_window_state_bytes_size<6> == pv::challenge_bytes_size &&
              pv::rolling_usage_bytes_size<10> == pv::challenge_bytes_size);
static_assert(!std::is_convertible_v<const pv::challenge_bytes&, pv::sliding_window_state_bytes<6>>);
static_assert(!std::is_convertible_v<const pv::challenge_bytes&, pv::rolling_usage_bytes<10>>);
template <class Bytes>
using decoded_t = decltype(pv::from_bytes(std::declval<const Bytes&>()));
static_assert(std::is_same_v<decoded_t<pv::challenge_bytes>, pv::result<pv::challenge>>);
static_assert(std::is_same_v<decoded_t<pv::daily_usage_bytes>, pv::result<pv::daily_usage>>);
static_assert(std::is_same_v<decoded_t<pv::rate_state_bytes>, pv::result<pv::rate_state>>);
static_assert(std::is_same_v<decoded_t<pv::sliding_window_state_bytes<6>>, pv::result<pv::sliding_window_state<6>>>);
static_assert(std::is_same_v<decoded_t<pv::rolling_usage_bytes<10>>, pv::result<pv::rolling_usage<10>>>);
static_assert(std::is_same_v<decltype(pv::to_bytes(std::declval<const pv::per_phone_state&>())),
                             pv::sliding_window_state_bytes<10>>);
static_assert(noexcept(pv::to_bytes(std::declval<const pv::rolling_usage<>&>())));
static_assert(noexcept(pv::from_bytes(std::declval<const pv::rolling_usage_bytes<100>&>())));
static_assert(noexcept(pv::from_bytes(std::declval<const pv::daily_usage_bytes&>())));

// ---- helpers ----

template <class Bytes>
Bytes bytes_of(std::initializer_list<unsigned> values) {
  Bytes b{};
  std::size_t i = 0;
  for (unsigned v : values) b[i++] = static_cast<std::byte>(v);
  return b;
}

template <class Bytes>
bool all_zero(const Bytes& b) {
  return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

void saturating_add(std::int64_t& t, std::int64_t d) {
  if (__builtin_add_overflow(t, d, &t)) t = d > 0 ? never : earliest;
}

// The next time of a trace: mostly forward by up to `step`, sometimes back,
// sometimes a long pause (past 2^32 ms: a rolling_usage's origin moves), and
// now and then at an end of time.
std::int64_t next_time(pv::test::splitmix64& rng, std::int64_t t, std::uint64_t step) {
  const std::uint64_t r = rng() % 200;
  if (r == 0) return earliest + static_cast<std::int64_t>(rng() % 1000);
  if (r == 1) return never - static_cast<std::int64_t>(rng() % 1000);
  if (r < 120) saturating_add(t, static_cast<std::int64_t>(rng() % step));
  else if (r < 150) saturating_add(t, -static_cast<std::int64_t>(rng() % (step * 8)));
  else if (r < 160) saturating_add(t, static_cast<std::int64_t>(rng() % 6'000'000'000u));
  return t;
}

std::uint32_t next_units(pv::test::splitmix64& rng, std::size_t capacity) {
  const std::uint64_t r = rng() % 16;
  if (r < 11) return 1;
  if (r < 15) return static_cast<std::uint32_t>(rng() % 4);
  return static_cast<std::uint32_t>(capacity + 1);  // more than any limit holds
}

bool same(const pv::decision& a, const pv::decision& b) {
  return a.allowed == b.allowed && a.remaining == b.remaining && a.retry_at == b.retry_at;
}

// ---- the limits each kind of state is traced under ----

struct daily_kind {
  using state = pv::daily_usage;
  static constexpr std::size_t capacity = 8;
  static constexpr std::uint64_t step = 4 * 3'600'000;
  static pv::decision apply(state& s, std::size_t which, pv::timestamp now, std::uint32_t n) {
    constexpr pv::daily_quota quotas[] = {{100, hours{8}}, {3, hours{0}}, {1, hours{-5}}, {0, hours{14}},
                                          {5, minutes{330}}};
    return pv::consume(quotas[which % 5], s, now, n);
  }
};

struct rate_kind {
  using state = pv::rate_state;
  static constexpr std::size_t capacity = 12;
  static constexpr std::uint64_t step = 400;
  static pv::decision apply(state& s, std::size_t which, pv::timestamp now, std::uint32_t n) {
    // Small counts (scaled by the count), a count over 2^15 (scaled by
    // count / gcd), a period of 0 (never limits) and a count of 0.
    constexpr pv::rate_limit limits[] = {{10, milliseconds{1000}}, {3, milliseconds{1000}}, {1, milliseconds{60'000}},
                                         {40'000, milliseconds{999}}, {7, milliseconds{0}}, {0, milliseconds{1000}}};
    return pv::admit(limits[which % 6], s, now, n);
  }
};

template <std::size_t N>
struct sliding_kind {
  using state = pv::sliding_window_state<N>;
  static constexpr std::size_t capacity = N;
  static constexpr std::uint64_t step = 300'000;
  static pv::decision apply(state& s, std::size_t which, pv::timestamp now, std::uint32_t n) {
    constexpr auto c = static_cast<std::uint32_t>(N);
    switch (which % 6) {
      case 0: return pv::admit(pv::per_phone_windows, s, now, n);
      case 1: return pv::admit(pv::sliding_window{c / 2 + 1, hours{1}}, s, now, n);
      case 2: return pv::consume(pv::rolling_quota{c, hours{24}}, s, now, n);
      case 3: return pv::admit(pv::sliding_window{c + 5, std::chrono::seconds{10}}, s, now, n);
      case 4: return pv::admit(pv::sliding_window{2, milliseconds{0}}, s, now, n);  // holds nothing
      default: return pv::admit(std::span<const pv::sliding_window>{}, s, now, n);   // no windows
    }
  }
};

template <std::size_t N>
struct rolling_kind {
  using state = pv::rolling_usage<N>;
  static constexpr std::size_t capacity = N;
  static constexpr std::uint64_t step = 300'000;
  static pv::rolling_quota quota(std::size_t which) {
    constexpr auto c = static_cast<std::uint32_t>(N);
    constexpr std::int64_t widest = 2'147'483'647;  // 2^31 - 1: the widest exact window
    const pv::rolling_quota quotas[] = {{c, hours{24}},          {c / 2 + 1, hours{1}},      {c + 3, std::chrono::seconds{10}},
                                        {c, milliseconds{widest}}, {c, hours{40 * 24}},       {c, milliseconds{0}},
                                        {c, milliseconds{-5}},     {c, milliseconds{1}}};
    return quotas[which % 8];
  }
  static pv::decision apply(state& s, std::size_t which, pv::timestamp now, std::uint32_t n) {
    return pv::consume(quota(which), s, now, n);
  }
};

// Seeded random traces of the real operations under `Kind`'s limits (one
// limit per trace, now and then another on the same state). Every few steps
// the state is stored and read back: it must come back equal, re-encode to
// the same bytes, and answer a continuation of the trace exactly as the
// original does. Returns a few of the encodings seen, for the corruption test.
template <class Kind>
std::vector<decltype(pv::to_bytes(typename Kind::state{}))> trace_round_trips(pv::test::splitmix64& rng, int traces,
                                                                              int steps) {
  using state_t = typename Kind::state;
  std::vector<decltype(pv::to_bytes(state_t{}))> kept{pv::to_bytes(state_t{})};
  for (int trace = 0; trace < traces; ++trace) {
    state_t s{};
    std::size_t which = static_cast<std::size_t>(rng() % 16);
    // Mostly today's times (a rolling_usage's origin moves at once), also
    // 1970's first 49 days (its origin stays 0) and the start of time (its
    // origin is then -2^63).
    std::int64_t t = static_cast<std::int64_t>(rng() % 4'000'000'000'000u);
    if (trace % 4 == 1) t = static_cast<std::int64_t>(rng() % 1'000'000'000u);
    if (trace % 8 == 3) t = earliest + static_cast<std::int64_t>(rng() % 1'000'000'000u);
    for (int i = 0; i < steps; ++i) {
      if (rng() % 16 == 0) which = static_cast<std::size_t>(rng() % 16);
      t = next_time(rng, t, Kind::step);
      Kind::apply(s, which, at(t), next_units(rng, Kind::capacity));
      if (rng() % 8 != 0 && i + 1 != steps) continue;
      const auto bytes = pv::to_bytes(s);
      const auto back = pv::from_bytes(bytes);
      INFO("trace " << trace << " step " << i);
      REQUIRE(back.has_value());
      REQUIRE(*back == s);
      REQUIRE(pv::to_bytes(*back) == bytes);
      if (rng() % 4 == 0 && kept.size() < 12) kept.push_back(bytes);
      // The continuation, on both.
      state_t original = s;
      state_t decoded = *back;
      pv::test::splitmix64 fork{rng()};
      std::size_t w = which;
      std::int64_t u = t;
      for (int j = 0; j < 24; ++j) {
        if (fork() % 8 == 0) w = static_cast<std::size_t>(fork() % 16);
        u = next_time(fork, u, Kind::step);
        const std::uint32_t n = next_units(fork, Kind::capacity);
        const pv::decision a = Kind::apply(original, w, at(u), n);
        const pv::decision b = Kind::apply(decoded, w, at(u), n);
        REQUIRE(same(a, b));
        REQUIRE(original == decoded);
      }
    }
    kept.push_back(pv::to_bytes(s));
  }
  return kept;
}

// Every single-byte change of every encoding in `valid`: refused with
// invalid_parameter, or read as a state that writes exactly those bytes
// (a valid state in its own right). Returns how many were accepted.
template <class Bytes>
std::size_t check_corruptions(const std::vector<Bytes>& valid) {
  std::size_t accepted = 0;
  std::size_t broken = 0;
  for (const Bytes& original : valid) {
    REQUIRE(pv::from_bytes(original).has_value());
    for (std::size_t i = 0; i < original.size(); ++i) {
      for (unsigned v = 0; v < 256; ++v) {
        Bytes changed = original;
        changed[i] = static_cast<std::byte>(v);
        if (changed == original) continue;
        const auto read = pv::from_bytes(changed);
        if (!read) {
          broken += read.error() != pv::errc::invalid_parameter ? 1u : 0u;
          continue;
        }
        ++accepted;
        if (pv::to_bytes(*read) != changed && !all_zero(changed)) {
          ++broken;
          if (broken == 1) FAIL_CHECK("byte " << i << " set to " << v << " reads as a state that writes other bytes");
        }
      }
    }
  }
  REQUIRE(broken == 0);
  return accepted;
}

// The exact answers of sliding windows from the times alone (newest first,
// at most `capacity`): the reference for states read from bytes.

// Requests on a state read from bytes against the model of its times: the
// same answers, so nothing read from bytes admits more than its windows allow.
template <class State, class Admit>
void check_against_model(State s, pv::test::splitmix64& rng, int steps, Admit admit_both) {
  model_times model = model_of(s);
  std::int64_t t = s.size() == 0 ? 0 : ms_of(s.recent(0));
  for (int i = 0; i < steps; ++i) {
    t = next_time(rng, t, 300'000);
    admit_both(s, model, static_cast<std::size_t>(rng() % 4), t, next_units(rng, State::capacity()));
  }
}

}  // namespace

// ---- round trips and differential continuations ----

TEST_CASE("every quota state read back from its bytes equals the original and answers a continuation alike",
          "[quota][bytes]") {
  pv::test::splitmix64 rng{pv::test::test_seed("state bytes round trip", 0xB17E5)};
  trace_round_trips<daily_kind>(rng, 60, 200);
  trace_round_trips<rate_kind>(rng, 60, 200);
  trace_round_trips<sliding_kind<1>>(rng, 30, 200);
  trace_round_trips<sliding_kind<3>>(rng, 30, 200);
  trace_round_trips<sliding_kind<10>>(rng, 40, 200);
  trace_round_trips<sliding_kind<16>>(rng, 40, 300);  // the largest
  trace_round_trips<rolling_kind<1>>(rng, 30, 200);
  trace_round_trips<rolling_kind<3>>(rng, 30, 200);
  trace_round_trips<rolling_kind<4>>(rng, 30, 200);  // as many slots as a block of the count
  trace_round_trips<rolling_kind<5>>(rng, 30, 200);
  trace_round_trips<rolling_kind<8>>(rng, 30, 300);
  trace_round_trips<rolling_kind<100>>(rng, 10, 400);
}

TEST_CASE("all-zero bytes read as the value-initialised state of every kind, which writes its header and zeros",
          "[quota][bytes]") {
  CHECK(pv::from_bytes(pv::daily_usage_bytes{}).value() == pv::daily_usage{});
  CHECK(pv::from_bytes(pv::rate_state_bytes{}).value() == pv::rate_state{});
  CHECK(pv::from_bytes(pv::sliding_window_state_bytes<10>{}).value() == pv::per_phone_state{});
  CHECK(pv::from_bytes(pv::sliding_window_state_bytes<16>{}).value() == pv::sliding_window_state<16>{});
  CHECK(pv::from_bytes(pv::rolling_usage_bytes<100>{}).value() == pv::rolling_usage<100>{});
  CHECK(pv::to_bytes(pv::daily_usage{}) == bytes_of<pv::daily_usage_bytes>({1, 0x10}));
  CHECK(pv::to_bytes(pv::rate_state{}) == bytes_of<pv::rate_state_bytes>({1, 0x11}));
  CHECK(pv::to_bytes(pv::per_phone_state{}) == bytes_of<pv::sliding_window_state_bytes<10>>({1, 0x12, 0, 10}));
  CHECK(pv::to_bytes(pv::rolling_usage<100>{}) == bytes_of<pv::rolling_usage_bytes<100>>({1, 0x13, 0, 100}));
  CHECK(pv::from_bytes(pv::to_bytes(pv::rolling_usage<100>{})).value() == pv::rolling_usage<100>{});
  // A daily_usage with a count but no day (from_bits only; consume ignores
  // the count) is written as the unused state.
  const pv::daily_usage odd = pv::daily_usage::from_bits(5);
  CHECK(pv::to_bytes(odd) == pv::to_bytes(pv::daily_usage{}));
  pv::daily_usage fresh{};
  pv::daily_usage copy = odd;
  const pv::daily_quota q{};
  CHECK(same(pv::consume(q, copy, at(0)), pv::consume(q, fresh, at(0))));
  CHECK(copy == fresh);
}

// ---- the documented layouts, byte by byte ----

TEST_CASE("daily_usage_bytes and rate_state_bytes follow their documented layouts byte by byte", "[quota][bytes]") {
  // 3 units at 2023-11-14T22:13:20Z, local day 19676 at UTC+8: key 19676 + 2^31.
  pv::daily_usage u{};
  REQUIRE(pv::consume(pv::daily_quota{100, hours{8}}, u, at(1'700'000'000'000), 3).allowed);
  const auto daily = bytes_of<pv::daily_usage_bytes>({1, 0x10, 0, 0, 0x80, 0x00, 0x4C, 0xDC, 0, 0, 0, 3, 0, 0, 0, 0});
  CHECK(pv::to_bytes(u) == daily);
  CHECK(pv::from_bytes(daily).value() == u);
  // GCRA 10 per second, one request at t = 1000 ms: scale 10, T = 1000 in
  // 1/10 ms, so the TAT is 10000 + 1000 = 11000 (0x2AF8).
  pv::rate_state r{};
  REQUIRE(pv::admit(pv::rate_limit{10, milliseconds{1000}}, r, at(1000)).allowed);
  const auto rate = bytes_of<pv::rate_state_bytes>({1, 0x11, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2A, 0xF8});
  CHECK(pv::to_bytes(r) == rate);
  CHECK(pv::from_bytes(rate).value() == r);
  // Before 1970 a TAT is negative, in two's complement: 1 per 5 ms (scale
  // 1, T = 5), one request at -10 ms: TAT -10 + 5 = -5.
  pv::rate_state early{};
  REQUIRE(pv::admit(pv::rate_limit{1, milliseconds{5}}, early, at(-10)).allowed);
  CHECK(pv::to_bytes(early) ==
        bytes_of<pv::rate_state_bytes>({1, 0x11, 1, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFB}));
}

TEST_CASE("sliding_window_state_bytes follows its documented layout byte by byte, before and after it is full",
          "[quota][bytes]") {
  // N = 3 (ordered): times -1 ms, 0 and 1000 (two units at 1000), newest first.
  pv::sliding_window_state<3> s{};
  const pv::sliding_window w{3, hours{1}};
  REQUIRE(pv::admit(w, s, at(-1)).allowed);
  REQUIRE(pv::admit(w, s, at(1000), 2).allowed);
  const auto small = bytes_of<pv::sliding_window_state_bytes<3>>({
      1, 0x12, 0, 3, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     // header: N 3, size 3, no ring
      0, 0, 0, 0, 0, 0, 0x03, 0xE8,                          // 1000
      0, 0, 0, 0, 0, 0, 0x03, 0xE8,                          // 1000
      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,        // -1
  });
  CHECK(pv::to_bytes(s) == small);
  CHECK(pv::from_bytes(small).value() == s);
  // N = 16, three times at 1000, 2000, 3000 under one window of 16 per hour.
  pv::sliding_window_state<16> some{};
  const pv::sliding_window sixteen{16, hours{1}};
  for (std::int64_t t : {1000, 2000, 3000}) REQUIRE(pv::admit(sixteen, some, at(t)).allowed);
  const auto expected = bytes_of<pv::sliding_window_state_bytes<16>>(
      {1, 0x12, 0, 16, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // header: N 16, size 3
       0, 0, 0, 0, 0, 0, 0x0B, 0xB8,                         // 3000
       0, 0, 0, 0, 0, 0, 0x07, 0xD0,                         // 2000
       0, 0, 0, 0, 0, 0, 0x03, 0xE8});                       // 1000
  CHECK(pv::to_bytes(some) == expected);
  CHECK(pv::from_bytes(expected).value() == some);
  // Full and past it: 18 times 1..18 s in windows of 1.5 s keep the 16 newest, newest first.
  pv::sliding_window_state<16> full{};
  const pv::sliding_window many{16, milliseconds{1500}};
  for (std::int64_t t = 1; t <= 18; ++t) REQUIRE(pv::admit(many, full, at(t * 1000)).allowed);
  const auto bytes = pv::to_bytes(full);
  CHECK(pv::detail::load_be(bytes, 4, 2) == 16);  // size
  CHECK(pv::detail::load_be(bytes, 6, 8) == 0);   // reserved
  CHECK(pv::detail::load_be(bytes, 14, 2) == 0);
  for (std::size_t k = 0; k < 16; ++k) CHECK(pv::detail::load_be(bytes, 16 + 8 * k, 8) == (18 - k) * 1000);
  CHECK(pv::from_bytes(bytes).value() == full);
}

TEST_CASE("rolling_usage_bytes follows its documented layout byte by byte, before and after its origin moves",
          "[quota][bytes]") {
  // N = 4, 4 per 10 s, times 1000 and 2500 (in 1970's first 49 days: origin 0).
  pv::rolling_usage<4> u{};
  const pv::rolling_quota q{4, std::chrono::seconds{10}};
  REQUIRE(pv::consume(q, u, at(1000)).allowed);
  REQUIRE(pv::consume(q, u, at(2500)).allowed);
  const auto expected = bytes_of<pv::rolling_usage_bytes<4>>({
      1, 0x13, 0, 4, 0, 2, 0, 2, 0, 2, 0, 0,  // N 4, size 2, next 2, hint 2
      0, 0, 0x27, 0x10,                       // the hint's window: 10000 ms
      0, 0, 0, 0, 0, 0, 0, 0,                 // origin 0
      0, 0, 0x09, 0xC4,                       // 2500
      0, 0, 0x03, 0xE8,                       // 1000
      0, 0, 0, 0, 0, 0, 0, 0,                 // empty
  });
  CHECK(pv::to_bytes(u) == expected);
  CHECK(pv::from_bytes(expected).value() == u);
  // N = 2, one request at 2023-11-14T22:13:20Z: too far from the origin 0,
  // so the origin moves to 2^31 ms before it (0x18B4FE56800) and the offset is 2^31.
  pv::rolling_usage<2> moved{};
  REQUIRE(pv::consume(pv::rolling_quota{2, hours{1}}, moved, at(1'700'000'000'000)).allowed);
  const auto expected_moved = bytes_of<pv::rolling_usage_bytes<2>>({
      1, 0x13, 0, 2, 0, 1, 0, 1, 0, 1, 0, 0,  // N 2, size 1, next 1, hint 1
      0, 0x36, 0xEE, 0x80,                    // 3,600,000 ms
      0, 0, 0x01, 0x8B, 0x4F, 0xE5, 0x68, 0,  // origin
      0x80, 0, 0, 0,                          // 2^31
      0, 0, 0, 0,
  });
  CHECK(pv::to_bytes(moved) == expected_moved);
  CHECK(pv::from_bytes(expected_moved).value() == moved);
  CHECK(moved.recent(0) == at(1'700'000'000'000));
}

// ---- what from_bytes refuses ----

TEST_CASE("from_bytes refuses another kind's, another N's and another version's bytes", "[quota][bytes]") {
  pv::daily_usage d{};
  pv::consume(pv::daily_quota{}, d, at(1'700'000'000'000));
  pv::rate_state r{};
  pv::admit(pv::rate_limit{}, r, at(1'700'000'000'000));
  // Same size, other kind: daily <-> rate (16 bytes).
  CHECK(pv::from_bytes(pv::rate_state_bytes{pv::to_bytes(d)}) == pv::errc::invalid_parameter);
  CHECK(pv::from_bytes(pv::daily_usage_bytes{pv::to_bytes(r)}) == pv::errc::invalid_parameter);
  CHECK(pv::from_bytes(pv::rate_state_bytes{pv::to_bytes(pv::daily_usage{})}) == pv::errc::invalid_parameter);
  // sliding_window_state<2> <-> rolling_usage<2> (32 bytes).
  pv::sliding_window_state<2> s2{};
  pv::admit(pv::sliding_window{2, hours{1}}, s2, at(5000));
  pv::rolling_usage<2> u2{};
  pv::consume(pv::rolling_quota{2, hours{1}}, u2, at(5000));
  CHECK(pv::from_bytes(pv::rolling_usage_bytes<2>{pv::to_bytes(s2)}) == pv::errc::invalid_parameter);
  CHECK(pv::from_bytes(pv::sliding_window_state_bytes<2>{pv::to_bytes(u2)}) == pv::errc::invalid_parameter);
  // 64 bytes: a challenge, a sliding_window_state<6>, a rolling_usage<10>.
  pv::secret_key key{};
  key[0] = std::byte{7};
  const pv::code_binding binding{pv::action::send_verification_code_for_bind_secure_mobile_phone, "1234567890123456",
                                 pv::parse_phone("86-13900001234", pv::phone_format::dashed).value()};
  pv::challenge c{};
  pv::test::splitmix64 rng{42};
  REQUIRE(pv::issue_code(pv::code_policy{}, key, binding, c, at(1'700'000'000'000), rng).has_value());
  pv::sliding_window_state<6> s6{};
  pv::admit(pv::sliding_window{6, hours{1}}, s6, at(5000));
  pv::rolling_usage<10> u10{};
  pv::consume(pv::rolling_quota{10, hours{1}}, u10, at(5000));
  for (const pv::challenge& ch : {c, pv::challenge{}}) {
    CHECK(pv::from_bytes(pv::sliding_window_state_bytes<6>{pv::to_bytes(ch)}) == pv::errc::invalid_parameter);
    CHECK(pv::from_bytes(pv::rolling_usage_bytes<10>{pv::to_bytes(ch)}) == pv::errc::invalid_parameter);
  }
  CHECK(pv::from_bytes(pv::challenge_bytes{pv::to_bytes(s6)}) == pv::errc::invalid_parameter);
  CHECK(pv::from_bytes(pv::challenge_bytes{pv::to_bytes(u10)}) == pv::errc::invalid_parameter);
  CHECK(pv::from_bytes(pv::to_bytes(c)).value() == c);  // the challenge's own overload still reads it
  // Another N: the first bytes of a sliding_window_state<16> read into 8
  // slots, and an <8> padded with zeros to 16.
  pv::sliding_window_state<16> s16{};
  pv::sliding_window_state<8> s8{};
  for (std::int64_t t = 0; t < 30; ++t) {
    pv::admit(pv::sliding_window{16, hours{1}}, s16, at(t * 1000));
    pv::admit(pv::sliding_window{8, hours{1}}, s8, at(t * 1000));
  }
  const auto b16 = pv::to_bytes(s16);
  const auto b8 = pv::to_bytes(s8);
  pv::sliding_window_state_bytes<8> cut{};
  std::copy_n(b16.begin(), cut.size(), cut.begin());
  pv::sliding_window_state_bytes<16> padded{};
  std::copy(b8.begin(), b8.end(), padded.begin());
  CHECK(pv::from_bytes(cut) == pv::errc::invalid_parameter);
  CHECK(pv::from_bytes(padded) == pv::errc::invalid_parameter);
  pv::rolling_usage<100> u100{};
  pv::consume(pv::rolling_quota{}, u100, at(1000));
  pv::rolling_usage_bytes<50> rcut{};
  const auto rb100 = pv::to_bytes(u100);
  std::copy_n(rb100.begin(), rcut.size(), rcut.begin());
  CHECK(pv::from_bytes(rcut) == pv::errc::invalid_parameter);
  // Another version (0, 2, 255) of each.
  for (unsigned version : {0u, 2u, 255u}) {
    auto bd = pv::to_bytes(d);
    auto br = pv::to_bytes(r);
    auto bs = pv::to_bytes(s16);
    auto bu = pv::to_bytes(u100);
    bd[0] = br[0] = bs[0] = bu[0] = static_cast<std::byte>(version);
    CHECK(pv::from_bytes(bd) == pv::errc::invalid_parameter);
    CHECK(pv::from_bytes(br) == pv::errc::invalid_parameter);
    CHECK(pv::from_bytes(bs) == pv::errc::invalid_parameter);
    CHECK(pv::from_bytes(bu) == pv::errc::invalid_parameter);
  }
}

TEST_CASE("from_bytes refuses reserved bytes and every broken invariant of each state", "[quota][bytes]") {
  using D = pv::daily_usage_bytes;
  using R = pv::rate_state_bytes;
  CHECK(pv::from_bytes(bytes_of<D>({1, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5})) == pv::errc::invalid_parameter);  // a count, no day
  CHECK(pv::from_bytes(bytes_of<D>({1, 0x10, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 5})) == pv::errc::invalid_parameter);  // reserved
  CHECK(pv::from_bytes(bytes_of<D>({1, 0x10, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1})) == pv::errc::invalid_parameter);
  CHECK(pv::from_bytes(bytes_of<D>({1, 0x10, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 5})).value().used() == 5);
  CHECK(pv::from_bytes(bytes_of<D>({1, 0x10, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})).has_value());  // the last day, full
  CHECK(pv::from_bytes(bytes_of<R>({1, 0x11, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})) == pv::errc::invalid_parameter);  // flag 2
  CHECK(pv::from_bytes(bytes_of<R>({1, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})) == pv::errc::invalid_parameter);  // idle, a TAT
  CHECK(pv::from_bytes(bytes_of<R>({1, 0x11, 1, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0})) == pv::errc::invalid_parameter);  // -2^63
  CHECK(pv::from_bytes(bytes_of<R>({1, 0x11, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})) == pv::errc::invalid_parameter);  // reserved
  CHECK(pv::from_bytes(bytes_of<R>({1, 0x11, 1})).value().to_bits() == pv::detail::sign_bit);  // TAT 0 is a time
  CHECK(pv::from_bytes(bytes_of<R>({1, 0x11, 1, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 1})).value().to_bits() == 1);

  // sliding_window_state (N = 3).
  using S3 = pv::sliding_window_state_bytes<3>;
  const auto s3 = [](std::initializer_list<unsigned> header, std::int64_t a, std::int64_t b, std::int64_t c) {
    S3 out = bytes_of<S3>(header);
    pv::detail::store_be(out, 16, 8, static_cast<std::uint64_t>(a));
    pv::detail::store_be(out, 24, 8, static_cast<std::uint64_t>(b));
    pv::detail::store_be(out, 32, 8, static_cast<std::uint64_t>(c));
    return out;
  };
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3, 0, 3}, 30, 20, 10)).has_value());
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3, 0, 3}, 30, 20, 20)).has_value());  // n > 1 at one instant
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3, 0, 3}, 20, 30, 10)) == pv::errc::invalid_parameter);  // out of order
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3, 0, 2}, 30, 20, 10)) == pv::errc::invalid_parameter);  // a time past size
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3, 0, 4}, 30, 20, 10)) == pv::errc::invalid_parameter);  // size > N
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3, 0, 2}, 30, earliest, 0)) == pv::errc::invalid_parameter);  // -2^63 never kept
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3, 0, 2, 0, 2}, 30, 20, 0)) == pv::errc::invalid_parameter);  // reserved
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3, 0, 2, 0, 0, 0, 1}, 30, 20, 0)) == pv::errc::invalid_parameter);
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 30, 20, 0)) == pv::errc::invalid_parameter);
  CHECK(pv::from_bytes(s3({1, 0x12, 0, 3}, 0, 0, 0)).value() == pv::sliding_window_state<3>{});

  // rolling_usage<8>: offsets newest first.
  using U8 = pv::rolling_usage_bytes<8>;
  struct rolling_fields {
    std::size_t size = 3, next = 3, inside = 3;
    std::uint32_t width = 10'000;
    std::int64_t origin = 0;
    std::vector<std::uint32_t> offsets{19'000, 15'000, 1000};
    unsigned reserved = 0;
  };
  const auto u8 = [](const rolling_fields& f) {
    U8 out = bytes_of<U8>({1, 0x13, 0, 8});
    pv::detail::store_be(out, 4, 2, f.size);
    pv::detail::store_be(out, 6, 2, f.next);
    pv::detail::store_be(out, 8, 2, f.inside);
    pv::detail::store_be(out, 10, 2, f.reserved);
    pv::detail::store_be(out, 12, 4, f.width);
    pv::detail::store_be(out, 16, 8, static_cast<std::uint64_t>(f.origin));
    for (std::size_t k = 0; k < f.offsets.size(); ++k) pv::detail::store_be(out, 24 + 4 * k, 4, f.offsets[k]);
    return out;
  };
  const auto refused = [&u8](const rolling_fields& f) { return pv::from_bytes(u8(f)) == pv::errc::invalid_parameter; };
  rolling_fields f;
  CHECK(pv::from_bytes(u8(f)).has_value());
  f = {};  f.reserved = 1;                     CHECK(refused(f));
  f = {};  f.next = 2;                         CHECK(refused(f));  // not full: the position is the size
  f = {};  f.size = 9;                         CHECK(refused(f));
  f = {};  f.offsets = {19'000, 15'000, 1000, 7};  CHECK(refused(f));  // an offset past size
  f = {};  f.offsets = {15'000, 19'000, 1000};  CHECK(refused(f));  // out of order
  f = {};  f.offsets = {19'000, 15'000, 0};     CHECK(refused(f));  // 0 is an empty slot
  f = {};  f.offsets = {0xFFFF'FFFFu, 15'000, 1000};  CHECK(refused(f));  // past the last offset
  f = {};  f.inside = 0;                       CHECK(refused(f));  // an admission leaves at least itself
  f = {};  f.inside = 4;                       CHECK(refused(f));  // more than are kept
  // A low hint: 19000 and 15000 lie within 10 s of the newest, so a hint of
  // 1 would let the next request count one time where there are two.
  f = {};  f.inside = 1;                       CHECK(refused(f));
  f = {};  f.inside = 2;                       CHECK(pv::from_bytes(u8(f)).has_value());
  f = {};  f.inside = 1;  f.width = 3000;      CHECK(pv::from_bytes(u8(f)).has_value());  // a narrower window's hint
  f = {};  f.inside = 1;  f.width = 0xFFFF'FFFFu;  CHECK(refused(f));
  f = {};  f.origin = 12345;                   CHECK(refused(f));  // a moved origin lies 2^31 ms before a time
  f = {};  f.origin = 12345;  f.offsets = {0x8000'0000u, 5000, 1000};  f.inside = 1;  CHECK(pv::from_bytes(u8(f)).has_value());
  f = {};  f.origin = earliest;                CHECK(pv::from_bytes(u8(f)).has_value());  // a move at the start of time
  f = {};  f.origin = never - 0x7FFF'FFFF;  f.offsets = {0x8000'0000u, 5000, 1000};  f.inside = 1;
  CHECK(refused(f));  // origin + newest past the end of time
  f.origin = never - 0x8000'0000;  CHECK(pv::from_bytes(u8(f)).has_value());
  f = {};  f.size = 0;  f.next = 0;  f.inside = 0;  f.offsets = {};  CHECK(refused(f));  // no times, a width
  f.width = 0;  CHECK(pv::from_bytes(u8(f)).value() == pv::rolling_usage<8>{});
  f.origin = 1;  CHECK(refused(f));
  // Full: all eight kept, any write position; the mirror slots and the copies
  // of the newest and oldest offsets are rebuilt, so it answers as the original.
  pv::rolling_usage<8> full{};
  const pv::rolling_quota eight{8, std::chrono::seconds{10}};
  for (std::int64_t t = 1; t <= 11; ++t) REQUIRE(pv::consume(eight, full, at(t * 2000)).allowed);
  pv::rolling_usage<8> read = pv::from_bytes(pv::to_bytes(full)).value();
  REQUIRE(read == full);
  for (std::int64_t t = 12; t < 40; ++t) REQUIRE(same(pv::consume(eight, read, at(t * 700)), pv::consume(eight, full, at(t * 700))));
}

// ---- corruption ----

TEST_CASE("every single-byte change of a valid encoding is refused or reads as a state that writes those bytes",
          "[quota][bytes]") {
  pv::test::splitmix64 rng{pv::test::test_seed("state bytes corruption", 0xC0229)};
  CHECK(check_corruptions(trace_round_trips<daily_kind>(rng, 4, 100)) > 0);
  CHECK(check_corruptions(trace_round_trips<rate_kind>(rng, 4, 100)) > 0);
  check_corruptions(trace_round_trips<sliding_kind<3>>(rng, 3, 100));
  check_corruptions(trace_round_trips<sliding_kind<10>>(rng, 3, 100));
  check_corruptions(trace_round_trips<sliding_kind<16>>(rng, 2, 100));
  check_corruptions(trace_round_trips<rolling_kind<3>>(rng, 3, 100));
  check_corruptions(trace_round_trips<rolling_kind<8>>(rng, 3, 100));
  check_corruptions(trace_round_trips<rolling_kind<20>>(rng, 2, 100));
  const auto big = trace_round_trips<rolling_kind<100>>(rng, 1, 300);
  check_corruptions(std::vector<pv::rolling_usage_bytes<100>>{big.back()});
}

// Corrupted bytes that are accepted are states of their own: from each, the
// requests get the exact answers of their kept times, so a state read from
// bytes never admits more than its windows allow (in particular no count hint
// that is accepted makes a rolling_usage count low).
TEST_CASE("states read from changed bytes answer exactly as their kept times say, never over the limit",
          "[quota][bytes]") {
  pv::test::splitmix64 rng{pv::test::test_seed("state bytes changed states", 0x5AFE)};
  const auto admit_sliding = [](auto& s, model_times& m, std::size_t which, std::int64_t t, std::uint32_t n) {
    const pv::sliding_window sets[4][2] = {{{1, minutes{1}}, {5, hours{1}}},
                                           {{3, std::chrono::seconds{10}}, {3, std::chrono::seconds{10}}},
                                           {{100, hours{24}}, {2, milliseconds{0}}},
                                           {{8, milliseconds{2'147'483'647}}, {8, milliseconds{1}}}};
    const std::span<const pv::sliding_window> windows(sets[which], which == 1 ? 1 : 2);
    const pv::decision a = pv::admit(windows, s, at(t), n);
    const pv::decision b = m.admit(windows, t, n);
    INFO("which " << which << " t " << t << " n " << n);
    REQUIRE(same(a, b));
  };
  const auto consume_rolling = [](auto& u, model_times& m, std::size_t which, std::int64_t t, std::uint32_t n) {
    const pv::rolling_quota quotas[4] = {{3, std::chrono::seconds{10}}, {8, hours{1}},
                                         {100, milliseconds{2'147'483'647}}, {2, milliseconds{0}}};
    const pv::sliding_window w{quotas[which].limit, quotas[which].window};
    const pv::decision a = pv::consume(quotas[which], u, at(t), n);
    const pv::decision b = m.admit(std::span<const pv::sliding_window>(&w, 1), t, n);
    INFO("which " << which << " t " << t << " n " << n);
    REQUIRE(same(a, b));
  };
  const auto from_changed = [&rng](const auto& valid, auto check) {
    int checked = 0;
    for (const auto& original : valid) {
      for (std::size_t i = 0; i < original.size(); ++i) {
        for (unsigned v = 0; v < 256; v += 1 + static_cast<unsigned>(rng() % 8)) {
          auto changed = original;
          changed[i] = static_cast<std::byte>(v);
          const auto read = pv::from_bytes(changed);
          if (!read) continue;
          check(*read);
          ++checked;
        }
      }
    }
    return checked;
  };
  CHECK(from_changed(trace_round_trips<sliding_kind<10>>(rng, 2, 100),
                     [&](const pv::sliding_window_state<10>& s) { check_against_model(s, rng, 12, admit_sliding); }) > 0);
  CHECK(from_changed(trace_round_trips<sliding_kind<16>>(rng, 2, 100),
                     [&](const pv::sliding_window_state<16>& s) { check_against_model(s, rng, 12, admit_sliding); }) > 0);
  CHECK(from_changed(trace_round_trips<rolling_kind<3>>(rng, 3, 100),
                     [&](const pv::rolling_usage<3>& u) { check_against_model(u, rng, 12, consume_rolling); }) > 0);
  CHECK(from_changed(trace_round_trips<rolling_kind<8>>(rng, 3, 100),
                     [&](const pv::rolling_usage<8>& u) { check_against_model(u, rng, 12, consume_rolling); }) > 0);
  // And a hint made low by hand, were it accepted, would be wrong: the
  // check is needed. (rolling_usage<8>, 8 times 1 s apart, all inside 10 s.)
  pv::rolling_usage<8> full{};
  const pv::rolling_quota eight{8, std::chrono::seconds{10}};
  for (std::int64_t t = 1; t <= 8; ++t) REQUIRE(pv::consume(eight, full, at(t * 1000)).allowed);
  auto low = pv::to_bytes(full);
  REQUIRE(pv::detail::load_be(low, 8, 2) == 8);
  low[9] = std::byte{1};
  CHECK(pv::from_bytes(low) == pv::errc::invalid_parameter);
}

// ---- constant expressions ----

TEST_CASE("to_bytes and from_bytes of every quota state are usable in constant expressions", "[quota][bytes]") {
  STATIC_REQUIRE([] {
    pv::daily_usage u{};
    pv::consume(pv::daily_quota{}, u, at(1'700'000'000'000), 2);
    const auto back = pv::from_bytes(pv::to_bytes(u));
    return back.has_value() && *back == u && pv::to_bytes(u)[7] == std::byte{0xDC} &&
           pv::from_bytes(pv::daily_usage_bytes{}).value() == pv::daily_usage{};
  }());
  STATIC_REQUIRE([] {
    pv::rate_state r{};
    pv::admit(pv::rate_limit{}, r, at(1000));
    const auto back = pv::from_bytes(pv::to_bytes(r));
    pv::rate_state_bytes bad = pv::to_bytes(r);
    bad[2] = std::byte{2};
    return back.has_value() && *back == r && pv::from_bytes(bad) == pv::errc::invalid_parameter;
  }());
  STATIC_REQUIRE([] {
    pv::per_phone_state s{};
    pv::admit(pv::per_phone_windows, s, at(0));
    pv::admit(pv::per_phone_windows, s, at(60'000));
    const auto back = pv::from_bytes(pv::to_bytes(s));
    pv::per_phone_state copy = back.value();
    return *back == s && pv::admit(pv::per_phone_windows, copy, at(61'000)).retry_at == at(120'000);
  }());
  STATIC_REQUIRE([] {
    pv::sliding_window_state<16> s{};
    for (std::int64_t t = 0; t < 25; ++t) pv::admit(pv::sliding_window{16, hours{1}}, s, at(t));
    const auto back = pv::from_bytes(pv::to_bytes(s));
    return back.has_value() && *back == s;
  }());
  STATIC_REQUIRE([] {
    pv::rolling_usage<8> u{};
    for (std::int64_t t = 0; t < 12; ++t) pv::consume(pv::rolling_quota{8, std::chrono::seconds{10}}, u, at(t * 1000));
    pv::consume(pv::rolling_quota{8, std::chrono::seconds{10}}, u, at(60 * day_ms));  // the origin moves
    const auto bytes = pv::to_bytes(u);
    const auto back = pv::from_bytes(bytes);
    auto low = bytes;
    low[9] = std::byte{0};  // a hint of 0 for a state with times
    return back.has_value() && *back == u && pv::from_bytes(low) == pv::errc::invalid_parameter &&
           pv::from_bytes(pv::rolling_usage_bytes<8>{}).value() == pv::rolling_usage<8>{};
  }());
  // And the challenge's from_bytes, beside these overloads.
  STATIC_REQUIRE(pv::from_bytes(pv::challenge_bytes{}).value() == pv::challenge{});
}
