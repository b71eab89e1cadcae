// phoneverify: daily quotas, smooth rate limits and exact sliding windows.
//
// The limits of SPEC.md §4: 100 codes per account per calendar day at UTC+8
// (`daily_quota`, or the rolling-24-hour `rolling_quota`), 10 requests per
// second per CAMS user (`rate_limit`, GCRA), and the per-phone windows
// 1 per minute, 5 per hour, 10 per 24 hours (`per_phone_windows`, exact
// sliding windows over one ring of admitted times), checked together and
// charged all or nothing (`admit_all`). Every answer is a `decision`:
// `remaining` after this request, and `retry_at`, the earliest instant the
// same request would be allowed (exact to the millisecond), the request's own
// time for an admission, timestamp::max() when it can never be allowed.
//
// Rules every function here keeps (SPEC.md §4):
// - integer arithmetic only, saturating: no input overflows;
// - time that goes backwards never grants budget: a state remembers the
//   latest day or time it admitted, and an earlier request is charged as if
//   at that time;
// - a denied request changes nothing;
// - states are trivially copyable, small, and value-initialised = fresh.
// Everything is constexpr and noexcept, never allocates, takes no lock; the
// lock-free shared counter is in atomic_quota.hpp.
#ifndef PHONEVERIFY_QUOTA_HPP
#define PHONEVERIFY_QUOTA_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "detail/saturating.hpp"
#include "time.hpp"

namespace phoneverify {

// The answer of every limit (SPEC.md §4): whether the request is allowed,
// how many more units the limit would allow at that instant after it, and
// when to retry (the request's own time when allowed; the earliest instant
// the same request succeeds when denied; timestamp::max() for never).
struct decision {
  bool allowed;
  std::uint32_t remaining;
  timestamp retry_at;
};

namespace detail {
struct limit_access;
}  // namespace detail

// ---------------------------------------------------------------------------
// Calendar-day quota

// At most `limit` units per calendar day at `utc_offset` (SPEC.md §4: 100
// codes per account per day; the day of Alibaba Cloud, UTC+8, by default).
struct daily_quota {
  std::uint32_t limit = 100;
  std::chrono::minutes utc_offset{8 * 60};
};

// The usage of one key under a daily_quota: the latest day charged and the
// units used that day, packed in 8 bytes (a biased 32-bit day, 32-bit count)
// so that it fits one 64-bit word of a shared store or an atomic.
// Value-initialised = never used. Days beyond +-5.8 million years of 1970
// share the last representable day (conservative: they never reset).
struct daily_usage {
 public:
  constexpr daily_usage() noexcept = default;

  // True when nothing was ever charged.
  constexpr bool unused() const noexcept { return key_ == 0; }
  // The day index (at the quota's offset) of the latest charge; 0 when unused.
  constexpr std::int64_t day() const noexcept {
    return unused() ? 0 : static_cast<std::int64_t>(key_) - bias;
  }
  // Units charged on day().
  constexpr std::uint32_t used() const noexcept { return used_; }

  // The 64-bit form (day in the high half, so later days compare greater),
  // for std::atomic and shared stores; from_bits(to_bits()) is the identity.
  constexpr std::uint64_t to_bits() const noexcept {
    return (static_cast<std::uint64_t>(key_) << 32) | used_;
  }
  static constexpr daily_usage from_bits(std::uint64_t bits) noexcept {
    daily_usage u;
    u.key_ = static_cast<std::uint32_t>(bits >> 32);
    u.used_ = static_cast<std::uint32_t>(bits);
    return u;
  }

  friend constexpr bool operator==(const daily_usage&, const daily_usage&) noexcept = default;

 private:
  friend struct detail::limit_access;
  static constexpr std::int64_t bias = std::int64_t{1} << 31;
  std::uint32_t key_ = 0;   // day + 2^31, clamped to [1, 2^32 - 1]; 0 = unused
  std::uint32_t used_ = 0;  // units charged on that day
};

namespace detail {

struct limit_access {
  static constexpr std::uint32_t& key(daily_usage& u) noexcept { return u.key_; }
  static constexpr std::uint32_t& used(daily_usage& u) noexcept { return u.used_; }
  template <class State>
  static constexpr auto& bits(State& s) noexcept {
    return s.bits_;
  }
  template <class State>
  static constexpr void record(State& s, std::int64_t t, std::uint32_t n) noexcept {
    s.record(t, n);
  }
  template <class State>
  static constexpr const std::int64_t* times(const State& s) noexcept {
    return s.times_;
  }
  template <class State>
  static constexpr std::size_t size(const State& s) noexcept {
    return s.size_;
  }
  // Index of the latest time in the ring (meaningful when size > 0).
  template <class State>
  static constexpr std::size_t newest(const State& s) noexcept {
    return s.next_ == 0 ? State::capacity() - 1 : s.next_ - 1;
  }
};

// The stored key of a day: order-preserving, never 0 (0 means unused).
constexpr std::uint32_t day_key(std::int64_t day) noexcept {
  constexpr std::int64_t lo = -(std::int64_t{1} << 31) + 1;
  constexpr std::int64_t hi = (std::int64_t{1} << 31) - 1;
  const std::int64_t clamped = day < lo ? lo : (day > hi ? hi : day);
  return static_cast<std::uint32_t>(clamped + (std::int64_t{1} << 31));
}

}  // namespace detail

// Charges `n` units (default 1) at `now` to `usage` under `quota`, all or
// nothing (SPEC.md §4). Allowed while the day's units plus n stay within the
// limit; a new local day starts from zero. A request timed before the
// remembered day is charged to the remembered day. Denied: nothing is
// charged and retry_at is the first instant of the next local day (the
// remembered day's successor), or timestamp::max() when n > limit (also for
// limit 0). n = 0 is always allowed and charges nothing. Never throws, never
// allocates, usable in constant expressions.
constexpr decision consume(const daily_quota& quota, daily_usage& usage, timestamp now,
                           std::uint32_t n = 1) noexcept {
  using access = detail::limit_access;
  const std::uint32_t now_key = detail::day_key(day_index(now, quota.utc_offset));
  const std::uint32_t old_key = access::key(usage);
  const std::uint32_t key = now_key > old_key ? now_key : old_key;  // never back
  const std::uint32_t used = key == old_key ? access::used(usage) : 0;
  const std::uint32_t left = used < quota.limit ? quota.limit - used : 0;
  if (n <= left) {
    access::key(usage) = key;
    access::used(usage) = used + n;
    return {true, left - n, now};
  }
  if (n > quota.limit || key == 0xFFFF'FFFFu) return {false, left, timestamp::max()};
  const std::int64_t next_day = static_cast<std::int64_t>(key) - (std::int64_t{1} << 31) + 1;
  return {false, left, day_start(next_day, quota.utc_offset)};
}

// ---------------------------------------------------------------------------
// Smooth rate limit (GCRA)

// At most `count` requests per `period`, smoothly: GCRA with emission
// interval T = period / count and tolerance (count - 1) * T, so `count`
// requests pass at one instant and then one every T (SPEC.md §4: 10 per
// second per CAMS user). count 0 never admits; a period <= 0 never limits.
struct rate_limit {
  std::uint32_t count = 10;
  std::chrono::milliseconds period{1000};
};

// The GCRA state of one key: the theoretical arrival time (TAT) in units of
// 1/s ms, where s = count / gcd(count, period), so T = period / count is an
// integer and no rounding drifts (SPEC.md §4). 8 bytes; value-initialised =
// idle. Exact while |time| * s < 2^63 ms (any time when count divides the
// period, e.g. 10 per second; up to year 9999 for s <= 36'000); beyond that
// a request fails closed (denied, retry_at = timestamp::max()). A state
// belongs to one rate_limit: changing the limit restarts its meaning.
struct rate_state {
 public:
  constexpr rate_state() noexcept = default;
  // True when no request was ever admitted.
  constexpr bool idle() const noexcept { return bits_ == 0; }
  // The 64-bit form for shared stores; from_bits(to_bits()) is the identity.
  constexpr std::uint64_t to_bits() const noexcept { return bits_; }
  static constexpr rate_state from_bits(std::uint64_t bits) noexcept {
    rate_state s;
    s.bits_ = bits;
    return s;
  }
  friend constexpr bool operator==(const rate_state&, const rate_state&) noexcept = default;

 private:
  friend struct detail::limit_access;
  std::uint64_t bits_ = 0;  // scaled TAT + 2^63 (0 is "minus infinity": idle)
};

namespace detail {

constexpr std::uint64_t sign_bit = std::uint64_t{1} << 63;
constexpr std::int64_t unbias(std::uint64_t bits) noexcept { return static_cast<std::int64_t>(bits ^ sign_bit); }
constexpr std::uint64_t bias(std::int64_t value) noexcept { return static_cast<std::uint64_t>(value) ^ sign_bit; }

}  // namespace detail

// Admits `n` requests (default 1) at `now` under `limit` or none (GCRA,
// SPEC.md §4), integer arithmetic only. Allowed when the TAT moved by n*T
// stays within count*T of now; remaining is how many more requests would
// pass at that instant. Denied: nothing changes; retry_at is the exact
// first millisecond at which the same n requests conform, timestamp::max()
// when n > count (count 0). n = 0 and a period <= 0 always pass. A request
// timed before an earlier one meets a TAT further ahead, so time going back
// never grants budget. Never throws, never allocates, usable in constant
// expressions.
constexpr decision admit(const rate_limit& limit, rate_state& state, timestamp now,
                         std::uint32_t n = 1) noexcept {
  const std::uint32_t c = limit.count;
  const std::int64_t period = limit.period.count();
  if (period <= 0 && n <= c) return {true, c - n, now};
  if (n > c) return {false, 0, timestamp::max()};
  if (c == 0) return {true, 0, now};  // n = 0 of nothing
  // Scale s = count / gcd(count, period) and T = period / gcd in 1/s ms. When
  // count divides the period (10 per second) s = 1 and one division suffices.
  const auto p = static_cast<std::uint64_t>(period);
  std::uint64_t t_step = p / c;
  std::int64_t s = 1;
  if (const std::uint64_t rest = p % c; rest != 0) {
    const std::uint64_t g = detail::gcd_u(c, rest);
    s = static_cast<std::int64_t>(c / g);
    t_step = p / g;
  }
  const std::uint64_t window = detail::sat_mul_u(c, t_step);                  // count * T = period
  const std::int64_t t = s == 1 ? now.time_since_epoch().count()
                                : detail::sat_mul(now.time_since_epoch().count(), s);  // now, scaled
  std::uint64_t& bits = detail::limit_access::bits(state);
  const std::int64_t tat = detail::unbias(bits);
  // How far ahead of now the TAT already is (exact as unsigned: base >= t).
  const std::uint64_t ahead = tat > t ? static_cast<std::uint64_t>(tat) - static_cast<std::uint64_t>(t) : 0;
  const std::uint64_t step = detail::sat_mul_u(n, t_step);
  if (n == 0) return {true, static_cast<std::uint32_t>(ahead < window ? (window - ahead) / t_step : 0), now};
  if (ahead <= window && step <= window - ahead) {
    const std::uint64_t new_ahead = ahead + step;
    // Room left below INT64_MAX above now (exact as unsigned); beyond it, fail closed.
    const std::uint64_t room = static_cast<std::uint64_t>(detail::i64_max) - static_cast<std::uint64_t>(t);
    if (new_ahead > room) return {false, 0, timestamp::max()};
    bits = detail::bias(static_cast<std::int64_t>(static_cast<std::uint64_t>(t) + new_ahead));
    // From idle, exactly count - n remain; otherwise whole intervals left in the tolerance.
    const std::uint64_t remaining = ahead == 0 ? c - n : (window - new_ahead) / t_step;
    return {true, static_cast<std::uint32_t>(remaining), now};
  }
  // Conforms once scaled time reaches tat - (count - n) * T, which lies after
  // now (ahead > (count - n) * T); as a millisecond, rounded up.
  const std::uint64_t free_now = ahead < window ? (window - ahead) / t_step : 0;  // fewer than n
  const auto due = static_cast<std::int64_t>(static_cast<std::uint64_t>(tat) - (window - step));
  const std::int64_t retry = s == 1 ? due : detail::ceil_div(due, s);
  return {false, static_cast<std::uint32_t>(free_now), timestamp{std::chrono::milliseconds{retry}}};
}

// ---------------------------------------------------------------------------
// Exact sliding windows

// At most `count` events in any window of length `window` (half-open: an
// event at t blocks until t + window). Used for the per-phone limits of
// SPEC.md §4. A window <= 0 holds nothing (only n <= count is checked).
struct sliding_window {
  std::uint32_t count;
  std::chrono::milliseconds window;
};

// Several windows checked together over one ring (1/min + 5/h + 10/24h).
template <std::size_t K>
struct window_set {
  sliding_window windows[K];
};

// The per-phone defaults of SPEC.md §4 [L]: 1 per minute, 5 per hour, 10 per
// 24 hours; one sliding_window_state<10> serves all three.
inline constexpr window_set<3> per_phone_windows{{{1, std::chrono::minutes{1}},
                                                  {5, std::chrono::hours{1}},
                                                  {10, std::chrono::hours{24}}}};

// The last N admitted times of one key, a ring (newest last; times never
// decrease because an earlier request is recorded at the latest time).
// 8 * N + 8 bytes; value-initialised = nothing admitted. A window of count
// c needs N >= c: a larger count is treated as N (stricter, never looser).
template <std::size_t N>
struct sliding_window_state {
  static_assert(N >= 1 && N <= 0xFFFF, "sliding_window_state holds 1 to 65535 times");

 public:
  constexpr sliding_window_state() noexcept = default;
  static constexpr std::size_t capacity() noexcept { return N; }
  // How many times are remembered (at most N).
  constexpr std::size_t size() const noexcept { return size_; }
  // The k-th most recent admitted time (k = 0 is the latest); k < size().
  constexpr timestamp recent(std::size_t k) const noexcept {
    PHONEVERIFY_ASSERT(k < size_, "sliding_window_state::recent: k out of range");
    return timestamp{std::chrono::milliseconds{times_[(next_ + N - 1 - k) % N]}};
  }
  friend constexpr bool operator==(const sliding_window_state&, const sliding_window_state&) noexcept = default;

 private:
  friend struct detail::limit_access;
  constexpr void record(std::int64_t t, std::uint32_t n) noexcept {
    for (std::uint32_t i = 0; i < n; ++i) {
      times_[next_] = t;
      next_ = next_ + 1 == N ? 0 : next_ + 1;
    }
    size_ = static_cast<std::uint32_t>(size_ + n > N ? N : size_ + n);
  }
  std::int64_t times_[N] = {};
  std::uint32_t size_ = 0;
  std::uint32_t next_ = 0;
};

// The per-phone state for per_phone_windows (88 bytes).
using per_phone_state = sliding_window_state<10>;

namespace detail {

struct window_check {
  std::int64_t at;                   // effective time: max(now, latest admitted)
  bool allowed = true;
  std::uint32_t left = 0xFFFF'FFFFu;  // least headroom over the windows, before this request
  std::int64_t retry = i64_min;      // latest instant a denying window frees up
};

// Applies one window to `check` (records nothing). `times` is the ring,
// `newest` the index of the latest time, `size` how many are remembered.
template <std::size_t N>
constexpr void check_window(const sliding_window& w, const std::int64_t* times, std::size_t newest, std::size_t size,
                            std::uint32_t n, window_check& check) noexcept {
  const std::uint32_t c = w.count < N ? w.count : static_cast<std::uint32_t>(N);
  const std::int64_t width = w.window.count();
  const auto recent = [times, newest](std::size_t k) {  // k-th most recent, k < N
    return times[newest >= k ? newest - k : newest + N - k];
  };
  // recent(k) is in the window while at - recent(k) < width (exact as
  // unsigned: at >= recent(k)), and recent(k) does not increase with k, so the
  // in-window count is where that first fails among the c most recent.
  const auto inside = [&](std::size_t k) {
    return static_cast<std::uint64_t>(check.at) - static_cast<std::uint64_t>(recent(k)) <
           static_cast<std::uint64_t>(width);
  };
  const std::size_t limit = width <= 0 ? 0 : (size < c ? size : c);
  std::size_t count = 0;
  if constexpr (N <= 16) {
    // Short rings: count every remembered time in the window, without
    // branches. The ones inside are the most recent ones, so the count among
    // the c most recent is min(c, that count). Slots [0, size) are the used ones.
    // Short rings: count, without branches, the times inside the window among
    // the `limit` most recent ones, which occupy at most two runs of the ring:
    // [newest + 1 - limit, newest] or [0, newest] plus the tail of the array.
    const auto at_u = static_cast<std::uint64_t>(check.at);
    const auto width_u = static_cast<std::uint64_t>(width);
    const auto count_run = [&](std::size_t from, std::size_t to) {
      std::size_t k = 0;
      for (std::size_t i = from; i < to; ++i) k += at_u - static_cast<std::uint64_t>(times[i]) < width_u ? 1 : 0;
      return k;
    };
    if (limit <= newest + 1) {
      count = count_run(newest + 1 - limit, newest + 1);
    } else {
      count = count_run(0, newest + 1) + count_run(N - (limit - newest - 1), N);
    }
  } else {
    std::size_t hi = limit;
    while (count < hi) {
      const std::size_t mid = count + (hi - count) / 2;
      if (inside(mid)) count = mid + 1; else hi = mid;
    }
  }
  const std::uint32_t left = c - static_cast<std::uint32_t>(count);
  if (left < check.left) check.left = left;
  if (n <= left) return;
  check.allowed = false;
  if (n > c) {
    check.retry = i64_max;  // never
    return;
  }
  // The (c - n + 1)-th most recent must leave the window: it blocks until + width.
  const std::int64_t until = sat_add(recent(c - n), width);
  if (until > check.retry) check.retry = until;
}

}  // namespace detail

// Admits `n` events (default 1) at `now` if every window of `windows` stays
// within its count, recording them all in `state`, or none (SPEC.md §4: all
// windows checked together, a denied send consumes nothing). An event timed
// before the latest admitted one is recorded at that latest time. remaining:
// the least headroom over the windows after this request (before it, when denied).
// Denied: retry_at is the instant the blocking events leave their windows
// (the latest over the windows, exact), timestamp::max() when n exceeds a
// count. With no windows everything passes. Never throws, never allocates,
// usable in constant expressions.
template <std::size_t N>
constexpr decision admit(std::span<const sliding_window> windows, sliding_window_state<N>& state, timestamp now,
                         std::uint32_t n = 1) noexcept {
  using access = detail::limit_access;
  const std::int64_t* times = access::times(state);
  const std::size_t size = access::size(state);
  const std::size_t newest = access::newest(state);
  std::int64_t at = now.time_since_epoch().count();
  if (size > 0 && times[newest] > at) at = times[newest];  // never back (SPEC.md §4)
  detail::window_check check{at};
  for (const sliding_window& w : windows) detail::check_window<N>(w, times, newest, size, n, check);
  if (!check.allowed) return {false, check.left, timestamp{std::chrono::milliseconds{check.retry}}};
  access::record(state, at, n);
  return {true, check.left - n, now};
}

// One window: see the overload above.
template <std::size_t N>
constexpr decision admit(const sliding_window& window, sliding_window_state<N>& state, timestamp now,
                         std::uint32_t n = 1) noexcept {
  return admit(std::span<const sliding_window>(&window, 1), state, now, n);
}

// A window_set: see the overload above.
template <std::size_t K, std::size_t N>
constexpr decision admit(const window_set<K>& set, sliding_window_state<N>& state, timestamp now,
                         std::uint32_t n = 1) noexcept {
  return admit(std::span<const sliding_window>(set.windows), state, now, n);
}

// ---------------------------------------------------------------------------
// Rolling-24-hour quota

// The rolling alternative to daily_quota (SPEC.md §4, "a rolling 24 h is the
// other choice"): at most `limit` units in any `window` (24 hours by
// default), exact. Its state is a sliding_window_state<N> with N >= limit
// (8 * N + 8 bytes: 808 for the default 100), larger than daily_usage
// because an exact rolling count must remember each admitted time.
struct rolling_quota {
  std::uint32_t limit = 100;
  std::chrono::milliseconds window{std::chrono::hours{24}};
};

// Charges `n` units (default 1) at `now` under a rolling quota, all or none;
// same answers as the sliding-window admit. Never throws, never allocates,
// usable in constant expressions.
template <std::size_t N>
constexpr decision consume(const rolling_quota& quota, sliding_window_state<N>& usage, timestamp now,
                           std::uint32_t n = 1) noexcept {
  return admit(sliding_window{quota.limit, quota.window}, usage, now, n);
}

// ---------------------------------------------------------------------------
// All or nothing

// One limit and the state it charges, for admit_all. Build it with meter().
template <class Limit, class State>
struct metered {
  const Limit& limit;
  State& state;
};

// Pairs a limit with its state for admit_all.
template <class Limit, class State>
constexpr metered<Limit, State> meter(const Limit& limit, State& state) noexcept {
  return {limit, state};
}

// Charges one limit of any kind; admit_all calls it (the customisation point:
// overload charge() for a limit of your own, found by argument-dependent lookup).
constexpr decision charge(const daily_quota& l, daily_usage& s, timestamp now, std::uint32_t n) noexcept {
  return consume(l, s, now, n);
}
constexpr decision charge(const rate_limit& l, rate_state& s, timestamp now, std::uint32_t n) noexcept {
  return admit(l, s, now, n);
}
template <std::size_t N>
constexpr decision charge(const sliding_window& l, sliding_window_state<N>& s, timestamp now,
                          std::uint32_t n) noexcept {
  return admit(l, s, now, n);
}
template <std::size_t K, std::size_t N>
constexpr decision charge(const window_set<K>& l, sliding_window_state<N>& s, timestamp now,
                          std::uint32_t n) noexcept {
  return admit(l, s, now, n);
}
template <std::size_t N>
constexpr decision charge(const rolling_quota& l, sliding_window_state<N>& s, timestamp now,
                          std::uint32_t n) noexcept {
  return consume(l, s, now, n);
}

// The answer of admit_all: the joint decision and which limit denied (the
// position of its meter() argument, the one with the latest retry_at; the
// first such on a tie), or `none` when all admitted.
struct joint_decision {
  static constexpr std::uint8_t none = 0xFF;
  decision result;
  std::uint8_t denied_by;
};

namespace detail {

struct joint_accumulator {
  timestamp now;
  std::uint32_t n;
  bool allowed = true;
  std::uint32_t remaining = 0xFFFF'FFFFu;
  timestamp retry = timestamp::min();
  std::uint8_t denied_by = joint_decision::none;
};

constexpr void admit_all_step(joint_accumulator&, std::uint8_t) noexcept {}

// Tries each limit on a copy of its state; the copies live in the recursion's
// frames and are written back on the way out only if every limit admitted.
template <class L, class S, class... Rest>
constexpr void admit_all_step(joint_accumulator& acc, std::uint8_t index, metered<L, S> first,
                              Rest... rest) noexcept {
  S copy = first.state;
  const decision d = charge(first.limit, copy, acc.now, acc.n);
  if (d.remaining < acc.remaining) acc.remaining = d.remaining;
  if (!d.allowed) {
    if (acc.allowed || d.retry_at > acc.retry) {
      acc.retry = d.retry_at;
      acc.denied_by = index;
    }
    acc.allowed = false;
  }
  admit_all_step(acc, static_cast<std::uint8_t>(index + 1), rest...);
  if (acc.allowed) first.state = copy;
}

}  // namespace detail

// Charges `n` units at `now` to every limit or to none (SPEC.md §4: the
// per-phone windows and the daily quota are checked together; a denied send
// consumes nothing). Allowed: all states are charged, remaining is the least
// over the limits, retry_at is now. Denied: no state changes, denied_by names
// the limit with the latest retry_at and retry_at is that instant, at which
// every limit admits again (each limit's answer only improves with time),
// timestamp::max() if one can never admit. Up to 254 limits. Never throws,
// never allocates, usable in constant expressions.
template <class... L, class... S>
constexpr joint_decision consume_all(timestamp now, std::uint32_t n, metered<L, S>... limits) noexcept {
  static_assert(sizeof...(L) < joint_decision::none, "admit_all: at most 254 limits");
  detail::joint_accumulator acc{now, n};
  detail::admit_all_step(acc, std::uint8_t{0}, limits...);
  if (acc.allowed) return {{true, acc.remaining, now}, joint_decision::none};
  return {{false, acc.remaining, acc.retry}, acc.denied_by};
}

// consume_all for one unit (one send).
template <class... L, class... S>
constexpr joint_decision admit_all(timestamp now, metered<L, S>... limits) noexcept {
  return consume_all(now, 1, limits...);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_QUOTA_HPP
