// SPDX-License-Identifier: MIT
// phoneverify: daily quotas, smooth rate limits and exact sliding windows.
//
// The limits of RULES.md §4: 100 codes per account per calendar day at UTC+8
// (`daily_quota`, or the rolling-24-hour `rolling_quota`), 10 requests per
// second per CAMS user (`rate_limit`, GCRA), and the per-phone windows
// 1 per minute, 5 per hour, 10 per 24 hours (`per_phone_windows`), checked
// together and charged all or nothing (`admit_all`). Rules every function
// here keeps (RULES.md §4):
// - integer arithmetic only, saturating: no input overflows;
// - time that goes backwards never grants budget: an earlier request is
//   charged as if at the latest time or day a state remembers;
// - a denied request changes nothing;
// - states are trivially copyable, small, and value-initialised = fresh.
// Everything is constexpr and noexcept, never allocates, takes no lock; the
// lock-free shared counter is in atomic_quota.hpp.
#ifndef PHONEVERIFY_QUOTA_HPP
#define PHONEVERIFY_QUOTA_HPP

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

#include "detail/saturating.hpp"
#include "errc.hpp"
#include "result.hpp"
#include "time.hpp"

namespace phoneverify {

// The answer of every limit (RULES.md §4): whether the request is allowed,
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
struct state_codec;  // to_bytes / from_bytes of the states (see "Stored forms")
}  // namespace detail

// ---------------------------------------------------------------------------
// Calendar-day quota

// At most `limit` units per calendar day at `utc_offset` (RULES.md §4: 100
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
  static constexpr void record(State& s, std::uint64_t t, std::uint32_t n) noexcept {
    s.record(t, n);
  }
  template <class State>
  static constexpr const std::uint64_t* slots(const State& s) noexcept {
    return s.slots_;
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
// nothing (RULES.md §4): allowed while the day's units plus n stay within the
// limit; a new local day starts from zero, an earlier one is charged to the
// remembered day. Denied: retry_at is the first instant of the remembered
// day's successor, timestamp::max() when n > limit. n = 0 is always allowed.
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
// requests pass at one instant and then one every T (RULES.md §4: 10 per
// second per CAMS user). count 0 never admits; a period <= 0 never limits.
struct rate_limit {
  std::uint32_t count = 10;
  std::chrono::milliseconds period{1000};
};

// The GCRA state of one key: the theoretical arrival time (TAT) in units of
// 1/s ms, where the scale s makes the emission interval T = period / count an
// integer, so no rounding drifts (RULES.md §4): s = count while count <= 32768
// (then T = period: no division), otherwise s = count / gcd(count, period).
// 8 bytes; value-initialised = idle. Exact while |time| * s < 2^63 ms (for
// counts up to 32768, all of 1970-9999); beyond, a request fails closed
// (denied, retry_at = timestamp::max()). A state belongs to one rate_limit.
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

// The counts up to which GCRA time is scaled by the count itself (see rate_state).
inline constexpr std::uint32_t gcra_small_count = 1u << 15;

struct gcra_scaling {
  std::int64_t scale;   // s: time is counted in 1/s ms
  std::uint64_t step;   // T = period / count, in 1/s ms
};

// The scale of rate_state for count c >= 1 and period p >= 1 (see there).
constexpr gcra_scaling gcra_scale(std::uint32_t c, std::uint64_t p) noexcept {
  if (c <= gcra_small_count && p <= (std::uint64_t{1} << 47)) return {static_cast<std::int64_t>(c), p};
  const std::uint64_t rest = p % c;
  if (rest == 0) return {1, p / c};
  const std::uint64_t g = gcd_u(c, rest);
  return {static_cast<std::int64_t>(c / g), p / g};
}

constexpr std::uint64_t sign_bit = std::uint64_t{1} << 63;
constexpr std::int64_t unbias(std::uint64_t bits) noexcept { return static_cast<std::int64_t>(bits ^ sign_bit); }
constexpr std::uint64_t bias(std::int64_t value) noexcept { return static_cast<std::uint64_t>(value) ^ sign_bit; }

}  // namespace detail

// Admits `n` requests (default 1) at `now` under `limit` or none (GCRA,
// RULES.md §4): allowed when the TAT moved by n*T stays within count*T of
// now. Denied: retry_at is the exact first millisecond at which the same n
// requests conform, timestamp::max() when n > count. n = 0 and a period <= 0
// always pass. An earlier request meets a TAT further ahead, so time going
// back never grants budget.
constexpr decision admit(const rate_limit& limit, rate_state& state, timestamp now,
                         std::uint32_t n = 1) noexcept {
  const std::uint32_t c = limit.count;
  const std::int64_t period = limit.period.count();
  if (period <= 0 && n <= c) return {true, c - n, now};
  if (n > c) return {false, 0, timestamp::max()};
  if (c == 0) return {true, 0, now};  // n = 0 of nothing
  // The scale s and T = period / count in 1/s ms (see rate_state).
  const auto p = static_cast<std::uint64_t>(period);
  const auto [s, t_step] = detail::gcra_scale(c, p);
  const std::uint64_t window = detail::sat_mul_u(c, t_step);  // count * T = period, scaled
  std::int64_t t = 0;                                          // now, scaled
  if (__builtin_mul_overflow(now.time_since_epoch().count(), s, &t)) return {false, 0, timestamp::max()};
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
  // Fewer than n pass now: none when n = 1, the common case, with no division.
  const std::uint64_t free_now = n == 1 || ahead >= window ? 0 : (window - ahead) / t_step;
  const auto due = static_cast<std::int64_t>(static_cast<std::uint64_t>(tat) - (window - step));
  const std::int64_t retry = s == 1 ? due : detail::ceil_div(due, s);
  return {false, static_cast<std::uint32_t>(free_now), timestamp{std::chrono::milliseconds{retry}}};
}

// ---------------------------------------------------------------------------
// Exact sliding windows

// At most `count` events in any window of length `window` (half-open: an
// event at t blocks until t + window). Used for the per-phone limits of
// RULES.md §4. A window <= 0 holds nothing (only n <= count is checked).
struct sliding_window {
  std::uint32_t count;
  std::chrono::milliseconds window;
};

// Several windows checked together over one state (1/min + 5/h + 10/24h).
template <std::size_t K>
struct window_set {
  sliding_window windows[K];
};

// The per-phone defaults of RULES.md §4 [L]: 1 per minute, 5 per hour, 10 per
// 24 hours; one sliding_window_state<10> serves all three.
inline constexpr window_set<3> per_phone_windows{{{1, std::chrono::minutes{1}},
                                                  {5, std::chrono::hours{1}},
                                                  {10, std::chrono::hours{24}}}};

// The last N <= 16 admitted times of one key, newest first, 8 * N bytes,
// exact for any window and shared by several windows; value-initialised =
// nothing admitted. A window of count c needs N >= c: a larger count is
// treated as N (stricter, never looser). A rolling quota of more than 16
// keeps rolling_usage<N>.
//
// Layout (private): the times in order, newest in slot 0, each biased by
// 2^63, so that a fresh state's zero bytes read as "before any time" and an
// empty slot is never inside a window: counting is a straight loop with no
// size check, and a record shifts the slots (cheaper, at this size, than a
// ring's index arithmetic).
template <std::size_t N>
struct sliding_window_state {
  static_assert(N >= 1 && N <= 16,
                "sliding_window_state holds 1 to 16 times; a rolling quota of more keeps rolling_usage<N>");

 public:
  constexpr sliding_window_state() noexcept = default;
  static constexpr std::size_t capacity() noexcept { return N; }
  // How many times are remembered (at most N).
  constexpr std::size_t size() const noexcept {
    std::size_t used = 0;
    for (std::size_t k = 0; k < N; ++k) used += slots_[k] != 0 ? 1 : 0;
    return used;
  }
  // The k-th most recent admitted time (k = 0 is the latest); k < size().
  constexpr timestamp recent(std::size_t k) const noexcept {
    PHONEVERIFY_ASSERT(k < size(), "sliding_window_state::recent: k out of range");
    return timestamp{std::chrono::milliseconds{detail::unbias(slots_[k])}};
  }
  friend constexpr bool operator==(const sliding_window_state&, const sliding_window_state&) noexcept = default;

 private:
  friend struct detail::limit_access;
  friend struct detail::state_codec;
  // Records n events at biased time `t` (>= every remembered time).
  constexpr void record(std::uint64_t t, std::uint32_t n) noexcept {
    if (n == 1) {  // the common case: one send, a fixed-size shift
      // Through a copy, so the compiler moves the N - 1 slots in registers
      // instead of calling memmove.
      std::uint64_t kept[N] = {};
      for (std::size_t k = 0; k + 1 < N; ++k) kept[k] = slots_[k];
      slots_[0] = t;
      for (std::size_t k = 0; k + 1 < N; ++k) slots_[k + 1] = kept[k];
    } else {
      const std::size_t shift = n < N ? n : N;
      for (std::size_t k = N; k-- > shift;) slots_[k] = slots_[k - shift];
      for (std::size_t k = 0; k < shift; ++k) slots_[k] = t;
    }
  }
  std::uint64_t slots_[N] = {};  // time + 2^63; 0 = empty
};

// The per-phone state for per_phone_windows (80 bytes).
using per_phone_state = sliding_window_state<10>;

namespace detail {

// The running answer over the windows, in the biased domain of the slots
// (time + 2^63 as unsigned: the order of times is the unsigned order).
struct window_check {
  std::uint64_t at;         // effective time: max(now, latest admitted)
  bool allowed = true;
  std::uint64_t retry = 0;  // latest instant a denying window frees up (0: none)
};

// How many of the c most recent times of `state` (c <= N) lie after the
// biased instant `floor`. The loop runs to the fixed bound N with k < c as a
// mask, so that it unrolls without branches.
template <std::size_t N>
constexpr std::uint32_t count_after(const sliding_window_state<N>& state, std::size_t c,
                                    std::uint64_t floor) noexcept {
  const std::uint64_t* slots = limit_access::slots(state);
  std::uint32_t count = 0;
  for (std::size_t k = 0; k < N; ++k) count += static_cast<std::uint32_t>((k < c) & (slots[k] > floor));
  return count;
}

// One window as the state sees it, at the biased time `at`: its count (at
// most N), its width (0 for a width <= 0), and the floor: a time t is inside
// while at - t < width, that is t > floor = at - width (0 when that passes
// the start of the range).
struct window_bounds {
  std::uint32_t count;
  std::uint64_t width;
  std::uint64_t floor;
};
template <std::size_t N>
constexpr window_bounds bounds_of(const sliding_window& w, std::uint64_t at) noexcept {
  const std::uint32_t c = w.count < N ? w.count : static_cast<std::uint32_t>(N);
  const std::uint64_t width = w.window.count() > 0 ? static_cast<std::uint64_t>(w.window.count()) : 0;
  return {c, width, at > width ? at - width : 0};
}

// Applies one window to `check` (records nothing).
template <std::size_t N>
constexpr void check_window(const sliding_window& w, const sliding_window_state<N>& state, std::uint32_t n,
                            window_check& check) noexcept {
  const window_bounds b = bounds_of<N>(w, check.at);
  const std::uint32_t c = b.count;
  // Whether this window denies, from the one slot that decides it: n more
  // fit unless the (c - n + 1)-th most recent is still inside. One
  // comparison rather than the exact count keeps the branch on the outcome
  // short, which is what a mispredicted outcome costs. That slot plus the
  // width is when the window frees up.
  const std::size_t blocker = n > c ? 0 : (c - n < N ? c - n : N - 1);
  const std::uint64_t blocking = limit_access::slots(state)[blocker];
  const bool denies = n > c || (n != 0 && blocking > b.floor);
  check.allowed = check.allowed && !denies;
  const std::uint64_t until = n > c || blocking > u64_max - b.width ? u64_max : blocking + b.width;
  const std::uint64_t candidate = denies ? until : 0;
  check.retry = candidate > check.retry ? candidate : check.retry;
}

// The biased effective time of a request at `now`: never before the latest
// admitted time (RULES.md §4), and never the empty-slot value 0 (an event at
// the very first millisecond of the range is kept 1 ms later: stricter).
template <std::size_t N>
constexpr std::uint64_t effective_time(const sliding_window_state<N>& state, timestamp now) noexcept {
  const std::uint64_t t = bias(now.time_since_epoch().count());
  const std::uint64_t latest = limit_access::slots(state)[0];
  const std::uint64_t at = t > latest ? t : latest;
  return at == 0 ? 1 : at;
}

// The answer of a sliding-window admission before anything is recorded, and
// what to record on commit: the events at the biased time `at`.
template <std::size_t N>
struct pending_events {
  decision result;
  std::uint64_t at;
  constexpr void commit(sliding_window_state<N>& state, std::uint32_t n) const noexcept {
    limit_access::record(state, at, n);
  }
};

template <std::size_t N, std::size_t Extent>
constexpr pending_events<N> evaluate(std::span<const sliding_window, Extent> windows,
                                  const sliding_window_state<N>& state, timestamp now, std::uint32_t n) noexcept {
  const std::uint64_t at = effective_time(state, now);  // never back (RULES.md §4)
  window_check check{at};
  for (const sliding_window& w : windows) check_window(w, state, n, check);
  // The headroom is counted only where it is not already known: a window
  // that denies one event has none, so the least headroom is then 0.
  std::uint32_t least_headroom = 0xFFFF'FFFFu;
  const auto count_headroom = [&] {
    for (const sliding_window& w : windows) {
      const window_bounds b = bounds_of<N>(w, at);
      const std::uint32_t left = b.count - count_after(state, b.count, b.floor);
      least_headroom = left < least_headroom ? left : least_headroom;
    }
  };
  if (!check.allowed) {
    const timestamp retry{std::chrono::milliseconds{unbias(check.retry)}};
    if (n == 1) return {{false, 0, retry}, at};
    count_headroom();
    return {{false, least_headroom, retry}, at};
  }
  count_headroom();
  return {{true, least_headroom - n, now}, at};
}

}  // namespace detail

// Admits `n` events (default 1) at `now` if every window of `windows` stays
// within its count, recording them all in `state`, or none (RULES.md §4). An
// event timed before the latest admitted one is recorded at that time.
// remaining: the least headroom over the windows after this request (before
// it, when denied). Denied: retry_at is the latest instant over the windows
// at which the blocking events leave them, timestamp::max() when n exceeds a
// count. With no windows everything passes.
template <std::size_t N, std::size_t Extent>
constexpr decision admit(std::span<const sliding_window, Extent> windows, sliding_window_state<N>& state,
                         timestamp now, std::uint32_t n = 1) noexcept {
  const detail::pending_events<N> pending = detail::evaluate(windows, state, now, n);
  if (pending.result.allowed) pending.commit(state, n);
  return pending.result;
}

// Any contiguous range of windows (an array, a std::vector): see above.
template <std::size_t N>
constexpr decision admit(std::span<const sliding_window> windows, sliding_window_state<N>& state, timestamp now,
                         std::uint32_t n = 1) noexcept {
  return admit<N, std::dynamic_extent>(windows, state, now, n);
}

// One window: see the overload above.
template <std::size_t N>
constexpr decision admit(const sliding_window& window, sliding_window_state<N>& state, timestamp now,
                         std::uint32_t n = 1) noexcept {
  return admit(std::span<const sliding_window, 1>(&window, 1), state, now, n);
}

// A window_set: see above (a fixed number of windows: the loop unrolls).
template <std::size_t K, std::size_t N>
constexpr decision admit(const window_set<K>& set, sliding_window_state<N>& state, timestamp now,
                         std::uint32_t n = 1) noexcept {
  return admit(std::span<const sliding_window, K>(set.windows), state, now, n);
}

// ---------------------------------------------------------------------------
// Rolling-24-hour quota

// The rolling alternative to daily_quota (RULES.md §4, "a rolling 24 h is the
// other choice"): at most `limit` units in any `window` (24 hours by
// default), exact. An exact rolling count must remember each admitted time,
// so its state holds N >= limit times: rolling_usage<N> (4 * N + 40 bytes,
// 440 for the default 100; exact for windows up to 2^31 - 1 ms, about 24.8
// days), or, for limits up to 16, sliding_window_state<N> (8 * N bytes; exact
// for any window).
struct rolling_quota {
  std::uint32_t limit = 100;
  std::chrono::milliseconds window{std::chrono::hours{24}};
};

// Charges `n` units (default 1) at `now` under a rolling quota, all or none,
// as the sliding-window admit does.
template <std::size_t N>
constexpr decision consume(const rolling_quota& quota, sliding_window_state<N>& usage, timestamp now,
                           std::uint32_t n = 1) noexcept {
  return admit(sliding_window{quota.limit, quota.window}, usage, now, n);
}

namespace detail {
template <std::size_t N>
struct rolling_ops;
// The slots a rolling_usage repeats past the end of its ring, so that the
// few slots its count looks at from any position are read without a wrap.
inline constexpr std::size_t rolling_mirror = 4;
// x mod N for x < 2N: every wrap of a ring position, with a mask rather than
// a ?:, so that the loads of a count stay free of branches.
template <std::size_t N>
constexpr std::size_t ring_index(std::size_t x) noexcept {
  return x - (N & (std::size_t{0} - static_cast<std::size_t>(x >= N)));
}
}  // namespace detail

// The usage of one key under a rolling_quota: its last N admitted times,
// newest first, each kept as a 32-bit millisecond offset from a per-key
// origin: 4 * N + 40 bytes, rounded up to 8 (440 for the default N = 100).
// Value-initialised = never used. A limit above N is treated as N (stricter,
// never looser).
//
// Exact for windows up to 2^31 - 1 ms (about 24.8 days): when a time no
// longer fits its offset (2^32 - 2 ms past the origin), the origin moves to
// 2^31 ms before it, and older times are kept (and reported by recent()) as
// if 1 ms after it: outside every window up to 2^31 - 1 ms, and later than
// they were for a longer one (stricter, never looser).
//
// Layout (private): a ring of N offsets in ascending time from the write
// position (the oldest, which a full quota waits on), its first slots
// repeated after the end; an offset of 0 is an empty slot. Before it, in 24
// bytes: the origin, the newest offset (the effective time needs no ring
// arithmetic), the write position, a copy of the oldest offset (a denial
// reads nothing else), and the count inside the window just after the last
// admission, with that window's width, which the next count starts from
// (rolling_ops::count).
template <std::size_t N = 100>
struct rolling_usage {
  static_assert(N >= 1 && N <= 0xFFFF, "rolling_usage holds 1 to 65535 times");

 public:
  constexpr rolling_usage() noexcept = default;
  static constexpr std::size_t capacity() noexcept { return N; }
  // True when nothing was ever charged.
  constexpr bool unused() const noexcept { return newest_ == 0; }
  // How many times are remembered (at most N): the write position until the ring wraps.
  constexpr std::size_t size() const noexcept { return slots_[next_] == 0 ? next_ : N; }
  // The k-th most recent admitted time (k = 0 is the latest); k < size().
  constexpr timestamp recent(std::size_t k) const noexcept {
    PHONEVERIFY_ASSERT(k < size(), "rolling_usage::recent: k out of range");
    const std::uint32_t offset = slots_[detail::ring_index<N>(next_ + (N - 1) - (k < N ? k : 0))];
    return timestamp{std::chrono::milliseconds{origin_ + offset}};
  }
  friend constexpr bool operator==(const rolling_usage&, const rolling_usage&) noexcept = default;

 private:
  friend struct detail::rolling_ops<N>;
  friend struct detail::state_codec;
  std::int64_t origin_ = 0;     // the time an offset counts from
  std::uint32_t newest_ = 0;    // offset of the latest admitted time; 0 = unused
  std::uint16_t next_ = 0;      // where the next time goes: the oldest slot
  std::uint16_t inside_ = 0;    // times inside just after the last admission: see rolling_ops::count
  std::uint32_t inside_width_ = 0;  // of that window, in ms (saturated); 0: no count to start from
  std::uint32_t oldest_ = 0;    // slots_[next_] (kept here: a denial then reads the header alone)
  std::uint32_t slots_[N + detail::rolling_mirror] = {};  // offsets; slots_[N + k] repeats slots_[k]
};

namespace detail {

// What a rolling_usage admission would do, before anything is recorded: the
// answer, the effective time and the count of times inside just after it.
template <std::size_t N>
struct pending_rolling {
  decision result;
  std::int64_t at;
  std::uint32_t offset = 0;  // at as an offset from the state's origin; 0 when it does not fit one
  std::uint32_t inside_after = 0;
  std::uint32_t inside_width = 0;  // the window inside_after is for
  [[gnu::always_inline]] constexpr void commit(rolling_usage<N>& usage, std::uint32_t n) const noexcept {
    rolling_ops<N>::record(usage, *this, n);
  }
};

template <std::size_t N>
struct rolling_ops {
  using usage_type = rolling_usage<N>;
  static constexpr std::size_t mirror = rolling_mirror;
  // Offsets of recorded times lie in [1, max_offset].
  static constexpr std::uint64_t max_offset = 0xFFFF'FFFEu;
  // The longest window with exact answers, and how far before a time the
  // origin moves to make room for it (see rolling_usage).
  static constexpr std::uint64_t exact_window = (std::uint64_t{1} << 31) - 1;
  static constexpr std::uint64_t origin_lead = std::uint64_t{1} << 31;

  // The offset of `time` when it fits one (1 to max_offset after the
  // origin), else 0; a time nearly 2^64 ms before the origin must not wrap
  // into the range.
  [[gnu::always_inline]] static constexpr std::uint32_t offset_of(const usage_type& u, std::int64_t time) noexcept {
    std::int64_t since_origin = 0;
    const bool overflow = __builtin_sub_overflow(time, u.origin_, &since_origin);
    return !overflow && static_cast<std::uint64_t>(since_origin) - 1 < max_offset
               ? static_cast<std::uint32_t>(since_origin)
               : 0;
  }

  // The offset of recency k (0 = newest), k < N.
  static constexpr std::uint32_t slot(const usage_type& u, std::size_t k) noexcept {
    return u.slots_[ring_index<N>(u.next_ + (N - 1) - k)];
  }

  // When the time at `offset` leaves a window of `width` ms (0 to
  // 2^63 - 1): origin + offset + width, or timestamp::max() beyond it
  // (origin + offset was a recorded time: it does not overflow).
  [[gnu::always_inline]] static constexpr timestamp leaves_at(const usage_type& u, std::uint32_t offset,
                                                              std::int64_t width) noexcept {
    std::int64_t leaves = 0;
    if (__builtin_add_overflow(u.origin_ + offset, width, &leaves)) return timestamp::max();
    return timestamp{std::chrono::milliseconds{leaves}};
  }

  // How many of the N slots hold a time after `floor` (an offset), with no
  // hint: the ring is ascending from the write position, so a branch-free
  // binary search over that order counts those at or before it.
  static constexpr std::uint32_t count_all(const usage_type& u, std::uint32_t floor) noexcept {
    const std::size_t next = u.next_;
    std::size_t at_or_before = 0;
    std::size_t len = N;
    while (len > 1) {
      const std::size_t half = len / 2;
      // (Masked, not ?:, which may become a branch mispredicted half the time.)
      at_or_before += half & (std::size_t{0} - static_cast<std::size_t>(
                                                   u.slots_[ring_index<N>(next + at_or_before + half - 1)] <= floor));
      len -= half;
    }
    at_or_before += static_cast<std::size_t>(u.slots_[ring_index<N>(next + at_or_before)] <= floor);
    return static_cast<std::uint32_t>(N - at_or_before);
  }

  // How many of the `left` times from ring position `pos` on (ascending)
  // are at or before `floor`, looking at up to `mirror` of them: those come
  // first. (Reads past the end land on the repeated slots.)
  template <bool all_left>
  [[gnu::always_inline]] static constexpr std::size_t aged_in_block(const usage_type& u, std::size_t pos,
                                                                     std::size_t left, std::uint32_t floor) noexcept {
    std::size_t aged = 0;
    for (std::size_t k = 0; k < mirror; ++k) {
      const bool out = u.slots_[pos + k] <= floor;
      if constexpr (all_left) {
        aged += static_cast<std::size_t>(out);
      } else {  // fewer than `mirror` left: the slots after them are the oldest, not theirs
        aged += static_cast<std::size_t>((k < left) & out);
      }
    }
    return aged;
  }

  // count_all for a window of `width` ms, from the hint: `inside` times, the
  // newest of the ring (from position `first`), were after the floor just
  // after the last admission, for a window of inside_width_. The effective
  // time never goes back, so for a window no wider the floor has only moved
  // forward: of those `inside`, the ones aged out since come first, usually
  // few. Counted `mirror` slots at a time (independent loads), the next
  // block only when the whole block aged out. With no usable hint, the search.
  [[gnu::always_inline]] static constexpr std::uint32_t count(const usage_type& u, std::uint32_t floor,
                                                               std::uint32_t width) noexcept {
    if (width > u.inside_width_) return count_all(u, floor);
    const std::size_t inside = u.inside_;
    const std::size_t first = ring_index<N>(u.next_ + N - inside);
    std::size_t aged;
    if constexpr (N >= mirror) {
      // The first block, unmasked: when fewer than `mirror` are inside, the
      // slots read after them are the oldest of the ring, out then and now,
      // so each counts as aged, and the count is taken from `mirror` rather
      // than `inside` (N >= mirror: those slots are not inside ones again).
      aged = aged_in_block<true>(u, first, mirror, floor);
      const std::size_t looked = inside > mirror ? inside : mirror;
      if (aged < mirror || inside <= mirror) return static_cast<std::uint32_t>(looked - aged);
    } else {
      aged = aged_in_block<false>(u, first, inside, floor);
      if (aged < mirror || aged == inside) return static_cast<std::uint32_t>(inside - aged);
    }
    // More aged out (a longer pause): the next blocks.
    for (;;) {
      const std::size_t left = inside - aged;
      const std::size_t pos = ring_index<N>(first + aged);
      const std::size_t block = left >= mirror ? aged_in_block<true>(u, pos, left, floor)
                                               : aged_in_block<false>(u, pos, left, floor);
      aged += block;
      if (block < mirror || aged == inside) return static_cast<std::uint32_t>(inside - aged);
    }
  }

  // Every request that is not the common one below (n != 1, a limit below
  // N, a window over exact_window or <= 0, a time beyond the offsets' range,
  // a fresh state): the same answers, from 64-bit times, out of line so that
  // the common request's code stays small.
  [[gnu::noinline]] static constexpr pending_rolling<N> evaluate_general(const rolling_quota& quota,
                                                                         const usage_type& u, timestamp now,
                                                                         std::uint32_t n) noexcept {
    const std::uint32_t c = quota.limit < N ? quota.limit : static_cast<std::uint32_t>(N);
    const std::int64_t window = quota.window.count();
    const std::uint64_t width = window > 0 ? static_cast<std::uint64_t>(window) : 0;
    // The effective time: never before the latest admitted (RULES.md §4); the
    // first millisecond of the range is kept 1 ms later, as the sliding window does.
    const std::int64_t newest = u.unused() ? i64_min : u.origin_ + u.newest_;
    const std::int64_t requested = now.time_since_epoch().count();
    std::int64_t at = requested > newest ? requested : newest;
    if (at == i64_min) at = i64_min + 1;
    // The floor as an offset (at is after every kept time: at - origin is exact).
    std::uint32_t floor = 0;  // a fresh state: every slot is empty (0)
    if (!u.unused()) {
      const std::uint64_t since_origin = static_cast<std::uint64_t>(at) - static_cast<std::uint64_t>(u.origin_);
      const std::uint64_t f = since_origin > width ? since_origin - width : 0;
      floor = f > 0xFFFF'FFFFu ? 0xFFFF'FFFFu : static_cast<std::uint32_t>(f);
    }
    const std::uint32_t all = count_all(u, floor);
    const std::uint32_t inside = all < c ? all : c;  // the c most recent are the ones that count
    if (n > c) return {{false, c - inside, timestamp::max()}, at};
    const auto hint_width = static_cast<std::uint32_t>(width < 0xFFFF'FFFFu ? width : 0xFFFF'FFFFu);
    const std::uint32_t offset = offset_of(u, at);
    if (n == 0) return {{true, c - inside, now}, at, offset, all, hint_width};
    const std::uint32_t blocking = slot(u, c - n);  // n more fit unless it is still inside
    if (blocking > floor)
      return {{false, n == 1 ? 0 : c - inside, leaves_at(u, blocking, static_cast<std::int64_t>(width))}, at};
    const std::uint32_t after = all + n;
    return {{true, c - inside - n, now}, at, offset, after < N ? after : static_cast<std::uint32_t>(N), hint_width};
  }

  // (The common request's functions are always inlined: not every compiler does it unasked.)
  [[gnu::always_inline]] static constexpr pending_rolling<N> evaluate(const rolling_quota& quota, const usage_type& u,
                                                                      timestamp now, std::uint32_t n) noexcept {
    const std::int64_t window = quota.window.count();
    const std::uint32_t t = offset_of(u, now.time_since_epoch().count());
    // The common request: one unit, every kept time counts (limit >= N), a
    // window of 1 ms to exact_window, and a time within the offsets' range
    // (not after a pause of 49 days, nor on a fresh state but in 1970).
    // Everything is then 32-bit, and the only loads are the header and, when
    // admitted, the few slots count() confirms.
    if (n == 1 && quota.limit >= N && static_cast<std::uint64_t>(window) - 1 < exact_window && t != 0) {
      const std::uint32_t newest = u.newest_;
      const std::uint32_t at = t > newest ? t : newest;  // never back (RULES.md §4)
      const auto width = static_cast<std::uint32_t>(window);
      // A full quota waits on its oldest time (0 while the ring is not
      // full): denied while at < oldest + width, compared with t and the
      // newest rather than with at, one step fewer before the answer.
      const std::uint32_t oldest = u.oldest_;
      const std::uint64_t oldest_leaves = std::uint64_t{oldest} + width;
      const std::int64_t at_time = u.origin_ + at;
      if (oldest != 0 && oldest_leaves > t && oldest_leaves > newest)
        return {{false, 0, leaves_at(u, oldest, width)}, at_time};
      const std::uint32_t floor = at > width ? at - width : 0;  // inside: offsets above it
      const std::uint32_t inside = count(u, floor, width);
      return {{true, static_cast<std::uint32_t>(N - 1) - inside, now}, at_time, at, inside + 1, width};
    }
    return evaluate_general(quota, u, now, n);
  }

  // Moves the origin to origin_lead ms before `at`, which no longer fits an
  // offset (see rolling_usage): forward when times are kept, as at is after
  // all of them. Then at fits (at least 1 ms after the origin, as at > i64_min).
  [[gnu::noinline]] static constexpr void move_origin(usage_type& u, std::int64_t at) noexcept {
    const std::int64_t origin =
        at > i64_min + static_cast<std::int64_t>(origin_lead) ? at - static_cast<std::int64_t>(origin_lead) : i64_min;
    if (!u.unused()) {
      const std::uint64_t shift = static_cast<std::uint64_t>(origin) - static_cast<std::uint64_t>(u.origin_);
      const auto moved = [shift](std::uint32_t offset) -> std::uint32_t {
        if (offset == 0) return 0;  // empty stays empty
        return offset > shift ? static_cast<std::uint32_t>(offset - shift) : 1;
      };
      for (std::uint32_t& offset : u.slots_) offset = moved(offset);
      u.newest_ = moved(u.newest_);  // (and oldest_ is set by record, the caller, after its write)
    }
    u.origin_ = origin;
  }

  // Records n times at the pending effective time, and the count it leaves.
  // n = 0 records not even the count: taken at a time that is not kept, it
  // would be too low for a later request timed earlier.
  [[gnu::always_inline]] static constexpr void record(usage_type& u, const pending_rolling<N>& p,
                                                      std::uint32_t n) noexcept {
    if (n == 0) return;
    u.inside_ = static_cast<std::uint16_t>(p.inside_after < N ? p.inside_after : N);
    u.inside_width_ = p.inside_width;
    std::uint32_t t = p.offset;
    if (t == 0) {
      move_origin(u, p.at);
      t = offset_of(u, p.at);
    }
    const std::size_t writes = n < N ? n : N;
    std::size_t next = u.next_;
    for (std::size_t i = 0; i < writes; ++i) {
      u.slots_[next] = t;
      if (next < mirror) u.slots_[N + next] = t;
      next = ring_index<N>(next + 1);
    }
    u.next_ = static_cast<std::uint16_t>(next);
    u.newest_ = t;
    u.oldest_ = u.slots_[next];
  }
};

}  // namespace detail

// Charges `n` units (default 1) at `now` to a rolling_usage, all or none
// (RULES.md §4): allowed while the times inside the window (at - window, at]
// plus n stay within the limit, at being now or the latest admitted time if
// later. For windows up to 2^31 - 1 ms the answers of an exact sliding
// window: remaining after the request (before it when denied; 0 for a
// denied single unit), retry_at the instant the blocking time leaves the
// window, timestamp::max() when n > limit. n = 0 is allowed.
template <std::size_t N>
[[gnu::always_inline]] constexpr decision consume(const rolling_quota& quota, rolling_usage<N>& usage, timestamp now,
                                                  std::uint32_t n = 1) noexcept {
  const detail::pending_rolling<N> pending = detail::rolling_ops<N>::evaluate(quota, usage, now, n);
  if (pending.result.allowed) pending.commit(usage, n);
  return pending.result;
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
template <std::size_t N>
constexpr decision charge(const rolling_quota& l, rolling_usage<N>& s, timestamp now, std::uint32_t n) noexcept {
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

// What a limit would answer, and how to apply it afterwards. For any limit,
// by default: charge() a copy of the state, and copy it back on commit.
template <class State>
struct pending_charge {
  decision result;
  State next;
  constexpr void commit(State& state, std::uint32_t) const noexcept { state = next; }
};
template <class L, class S>
constexpr pending_charge<S> preview(const L& limit, const S& state, timestamp now, std::uint32_t n) noexcept {
  S next = state;
  const decision result = charge(limit, next, now, n);
  return {result, next};
}

// For sliding windows, no copy of the (larger) state: evaluate it in place
// and record the events on commit.
template <std::size_t N>
constexpr pending_events<N> preview(const sliding_window& w, const sliding_window_state<N>& state, timestamp now,
                                    std::uint32_t n) noexcept {
  return evaluate(std::span<const sliding_window, 1>(&w, 1), state, now, n);
}
template <std::size_t K, std::size_t N>
constexpr pending_events<N> preview(const window_set<K>& set, const sliding_window_state<N>& state, timestamp now,
                                    std::uint32_t n) noexcept {
  return evaluate(std::span<const sliding_window, K>(set.windows), state, now, n);
}
template <std::size_t N>
constexpr pending_events<N> preview(const rolling_quota& q, const sliding_window_state<N>& state, timestamp now,
                                    std::uint32_t n) noexcept {
  const sliding_window w{q.limit, q.window};
  return evaluate(std::span<const sliding_window, 1>(&w, 1), state, now, n);
}
template <std::size_t N>
constexpr pending_rolling<N> preview(const rolling_quota& q, const rolling_usage<N>& usage, timestamp now,
                                     std::uint32_t n) noexcept {
  return rolling_ops<N>::evaluate(q, usage, now, n);
}

template <class L, class S>
using pending_of = decltype(preview(std::declval<const L&>(), std::declval<const S&>(), timestamp{}, std::uint32_t{}));

// The pending answers of all the limits of admit_all, previewed before any
// outcome is acted on, and committed only if every limit admitted. The later
// limits are previewed first (`rest` is declared, so built, before
// `pending`): their work then starts before a mispredicted outcome of an
// earlier limit can discard it.
template <class... M>
struct pending_chain;
template <>
struct pending_chain<> {
  constexpr pending_chain(timestamp, std::uint32_t) noexcept {}
  constexpr void accumulate(joint_accumulator&, std::uint8_t) const noexcept {}
  constexpr void commit(std::uint32_t) const noexcept {}
};
template <class L, class S, class... Rest>
struct pending_chain<metered<L, S>, Rest...> {
  pending_chain<Rest...> rest;
  S& state;
  pending_of<L, S> pending;
  constexpr pending_chain(timestamp now, std::uint32_t n, metered<L, S> first, Rest... others) noexcept
      : rest(now, n, others...), state(first.state), pending(preview(first.limit, std::as_const(first.state), now, n)) {}
  // The least remaining; the denial with the latest retry_at, the first on a tie.
  constexpr void accumulate(joint_accumulator& acc, std::uint8_t index) const noexcept {
    const decision& d = pending.result;
    if (d.remaining < acc.remaining) acc.remaining = d.remaining;
    if (!d.allowed) {
      if (acc.allowed || d.retry_at > acc.retry) {
        acc.retry = d.retry_at;
        acc.denied_by = index;
      }
      acc.allowed = false;
    }
    rest.accumulate(acc, static_cast<std::uint8_t>(index + 1));
  }
  constexpr void commit(std::uint32_t n) const noexcept {
    pending.commit(state, n);
    rest.commit(n);
  }
};
}  // namespace detail

// Charges `n` units at `now` to every limit or to none (RULES.md §4: a
// denied send consumes nothing). Allowed: remaining is the least over the
// limits. Denied: denied_by names the limit with the latest retry_at and
// retry_at is that instant, at which every limit admits again (each limit's
// answer only improves with time). Up to 254 limits.
template <class... L, class... S>
constexpr joint_decision consume_all(timestamp now, std::uint32_t n, metered<L, S>... limits) noexcept {
  static_assert(sizeof...(L) < joint_decision::none, "admit_all: at most 254 limits");
  detail::joint_accumulator acc{now, n};
  const detail::pending_chain<metered<L, S>...> chain(now, n, limits...);
  chain.accumulate(acc, std::uint8_t{0});
  if (!acc.allowed) return {{false, acc.remaining, acc.retry}, acc.denied_by};
  chain.commit(n);
  return {{true, acc.remaining, now}, joint_decision::none};
}

// consume_all for one unit (one send).
template <class... L, class... S>
constexpr joint_decision admit_all(timestamp now, metered<L, S>... limits) noexcept {
  return consume_all(now, 1, limits...);
}

// ---------------------------------------------------------------------------
// Stored forms

// Every state above has a fixed, documented byte layout (RULES.md §9), like
// challenge's (code.hpp), for a service's own database and any other reader
// (a Redis script, say): to_bytes(state) writes it, from_bytes(bytes) reads
// it back, overloaded on a byte type of its own for each state and N (never
// a bare std::array, so that no overload takes another state's bytes).
// Rules every layout keeps:
// - big-endian, a signed field in two's complement;
// - byte 0 is the format version, 1; byte 1 the kind of state: 0x10
//   daily_usage, 0x11 rate_state, 0x12 sliding_window_state<N>, 0x13
//   rolling_usage<N> (never a challenge's state byte, 0 to 4); the templated
//   states also hold their N;
// - all-zero bytes (an empty column) read as the value-initialised state;
// - from_bytes refuses with errc::invalid_parameter whatever to_bytes cannot
//   write (another version, kind or N, a reserved byte that is not 0, a
//   broken invariant), so a decoded state answers every request exactly as
//   the state that was written;
// - what is derived is not stored (rolling_usage's copies of its newest and
//   oldest offsets, its repeated slots): from_bytes recomputes it;
// - integers stay below 2^53 in magnitude where the state allows, so that
//   doubles (Lua 5.1's numbers) read them exactly: each layout says which may not.

namespace detail {

inline constexpr std::byte state_format_version{1};
enum class state_kind : std::uint8_t {
  daily_usage = 0x10,
  rate_state = 0x11,
  sliding_window_state = 0x12,
  rolling_usage = 0x13,
};

// `width` bytes of `v` at `at`, big-endian (width <= 8).
template <std::size_t Size>
constexpr void store_be(std::array<std::byte, Size>& out, std::size_t at, std::size_t width,
                        std::uint64_t v) noexcept {
  for (std::size_t i = 0; i < width; ++i) out[at + i] = static_cast<std::byte>((v >> (8 * (width - 1 - i))) & 0xFFu);
}
template <std::size_t Size>
constexpr std::uint64_t load_be(const std::array<std::byte, Size>& in, std::size_t at, std::size_t width) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<std::uint64_t>(in[at + i]);
  return v;
}
template <std::size_t Size>
constexpr bool all_zero(const std::array<std::byte, Size>& in) noexcept {
  bool zero = true;
  for (std::byte b : in) zero = zero && b == std::byte{0};
  return zero;
}
// The version and kind bytes that open every layout.
template <std::size_t Size>
constexpr void store_header(std::array<std::byte, Size>& out, state_kind kind) noexcept {
  out[0] = state_format_version;
  out[1] = static_cast<std::byte>(kind);
}
template <std::size_t Size>
constexpr bool header_is(const std::array<std::byte, Size>& in, state_kind kind) noexcept {
  return in[0] == state_format_version && in[1] == static_cast<std::byte>(kind);
}

}  // namespace detail

// daily_usage_bytes, 16 bytes (every field below 2^53):
//   0  u8   format version, 1
//   1  u8   kind, 0x10
//   2  u16  reserved, 0
//   4  u32  day key: the day index of the latest charge (at the quota's UTC
//           offset, days since 1970-01-01) + 2^31, clamped to 1 .. 2^32 - 1;
//           0 = never charged
//   8  u32  units charged that day; 0 when the day key is 0
//   12 u32  reserved, 0
// A daily_usage with no day (only from_bits makes one with a count, which
// consume ignores) is written as the unused state.
inline constexpr std::size_t daily_usage_bytes_size = 16;
struct daily_usage_bytes : std::array<std::byte, daily_usage_bytes_size> {};

// rate_state_bytes, 16 bytes:
//   0  u8   format version, 1
//   1  u8   kind, 0x11
//   2  u8   1 when a request was admitted, 0 when idle
//   3  5 B  reserved, 0
//   8  i64  the theoretical arrival time (TAT) in 1/s ms since 1970-01-01,
//           s being the rate_limit's scale (see rate_state: the count, for
//           counts up to 32768); 0 when idle, never -2^63. Below 2^53 in
//           magnitude while |time| * s is: for a count of 10, any time
//           within 28,000 years of 1970.
// Every TAT is valid: the state does not know its rate_limit.
inline constexpr std::size_t rate_state_bytes_size = 16;
struct rate_state_bytes : std::array<std::byte, rate_state_bytes_size> {};

// sliding_window_state_bytes<N>, 16 + 8 * N bytes:
//   0  u8   format version, 1
//   1  u8   kind, 0x12
//   2  u16  N
//   4  u16  size: how many times are kept, 0 .. N
//   6  10 B reserved, 0
//   16 + 8 * k, k < N: i64 the k-th most recent admitted time (k = 0 is the
//           latest), ms since 1970-01-01; never -2^63; times never increase
//           with k; 0 for k >= size. Below 2^53 in magnitude for any time
//           within 285,000 years of 1970.
template <std::size_t N>
inline constexpr std::size_t sliding_window_state_bytes_size = 16 + 8 * N;
template <std::size_t N>
struct sliding_window_state_bytes : std::array<std::byte, sliding_window_state_bytes_size<N>> {};

// rolling_usage_bytes<N>, 24 + 4 * N bytes (every field but the origin
// below 2^32; the origin below 2^53 in magnitude for any time within 285,000
// years of 1970):
//   0  u8   format version, 1
//   1  u8   kind, 0x13
//   2  u16  N
//   4  u16  size: how many times are kept, 0 .. N
//   6  u16  write position of the ring: size while size < N, else 0 .. N - 1
//   8  u16  the count hint: how many times were inside the window just after
//           the last admission; 1 .. size (0 when size is 0)
//   10 u16  reserved, 0
//   12 u32  the width in ms of the hint's window (saturated at 2^32 - 1)
//   16 i64  origin: the time, ms since 1970-01-01, the offsets count from
//   24 + 4 * k, k < N: u32 offset from the origin of the k-th most recent
//           admitted time (k = 0 is the latest), 1 .. 2^32 - 2; offsets
//           never increase with k; 0 for k >= size
// Checked on reading besides: a state with no times is all zero after its
// header; the origin is 0 (never moved), -2^63, or at least 2^31 ms before
// the latest time (where a move puts it); origin + latest offset is a time
// (<= 2^63 - 1); and the hint is never low: the times after the latest less
// the hint's width (at most 2^31 - 1 ms, the widest window it serves) are at
// most the hint, since the hint is trusted, not checked, when it is used.
template <std::size_t N>
inline constexpr std::size_t rolling_usage_bytes_size = 24 + 4 * N;
template <std::size_t N>
struct rolling_usage_bytes : std::array<std::byte, rolling_usage_bytes_size<N>> {};

namespace detail {

// The stored forms of the states with private layouts (a friend of each).
struct state_codec {
  // The fields that open the bytes of a state that holds up to N times.
  template <class Bytes>
  static constexpr Bytes opening(state_kind kind, std::size_t n, std::size_t size) noexcept {
    Bytes out{};
    store_header(out, kind);
    store_be(out, 2, 2, n);
    store_be(out, 4, 2, size);
    return out;
  }

  template <std::size_t N>
  static constexpr sliding_window_state_bytes<N> encode(const sliding_window_state<N>& s) noexcept {
    const std::size_t size = s.size();
    auto out = opening<sliding_window_state_bytes<N>>(state_kind::sliding_window_state, N, size);
    for (std::size_t k = 0; k < size; ++k) store_be(out, 16 + 8 * k, 8, s.slots_[k] ^ sign_bit);  // unbiased
    return out;
  }

  template <std::size_t N>
  static constexpr result<sliding_window_state<N>> decode(const sliding_window_state_bytes<N>& in) noexcept {
    if (all_zero(in)) return sliding_window_state<N>{};
    if (!header_is(in, state_kind::sliding_window_state) || load_be(in, 2, 2) != N || load_be(in, 6, 2) != 0 ||
        load_be(in, 8, 8) != 0)
      return errc::invalid_parameter;
    const auto size = static_cast<std::size_t>(load_be(in, 4, 2));
    if (size > N) return errc::invalid_parameter;
    sliding_window_state<N> s{};
    std::uint64_t later = u64_max;  // the biased time of recency k - 1
    for (std::size_t k = 0; k < N; ++k) {
      const std::uint64_t time = load_be(in, 16 + 8 * k, 8);
      if (k >= size) {
        if (time != 0) return errc::invalid_parameter;
        continue;
      }
      const std::uint64_t biased = time ^ sign_bit;  // 0 is an empty slot: -2^63 is never kept
      if (biased == 0 || biased > later) return errc::invalid_parameter;
      later = biased;
      s.slots_[k] = biased;
    }
    return s;
  }

  template <std::size_t N>
  static constexpr rolling_usage_bytes<N> encode(const rolling_usage<N>& u) noexcept {
    const std::size_t size = u.size();
    auto out = opening<rolling_usage_bytes<N>>(state_kind::rolling_usage, N, size);
    store_be(out, 6, 2, u.next_);
    store_be(out, 8, 2, u.inside_);
    store_be(out, 12, 4, u.inside_width_);
    store_be(out, 16, 8, static_cast<std::uint64_t>(u.origin_));
    for (std::size_t k = 0; k < size; ++k) store_be(out, 24 + 4 * k, 4, rolling_ops<N>::slot(u, k));
    return out;
  }

  template <std::size_t N>
  static constexpr result<rolling_usage<N>> decode(const rolling_usage_bytes<N>& in) noexcept {
    using ops = rolling_ops<N>;
    if (all_zero(in)) return rolling_usage<N>{};
    if (!header_is(in, state_kind::rolling_usage) || load_be(in, 2, 2) != N || load_be(in, 10, 2) != 0)
      return errc::invalid_parameter;
    const auto size = static_cast<std::size_t>(load_be(in, 4, 2));
    const auto next = static_cast<std::size_t>(load_be(in, 6, 2));
    const auto inside = static_cast<std::size_t>(load_be(in, 8, 2));
    const auto width = static_cast<std::uint32_t>(load_be(in, 12, 4));
    const auto origin = static_cast<std::int64_t>(load_be(in, 16, 8));
    if (size > N || (size < N ? next != size : next >= N)) return errc::invalid_parameter;
    if (size == 0 && (inside != 0 || width != 0 || origin != 0)) return errc::invalid_parameter;
    if (size != 0 && (inside == 0 || inside > size)) return errc::invalid_parameter;
    rolling_usage<N> u{};
    u.next_ = static_cast<std::uint16_t>(next);  // (first: slot(u, k) reads the ring from it)
    std::uint32_t later = 0xFFFF'FFFFu;  // the offset of recency k - 1
    for (std::size_t k = 0; k < N; ++k) {
      const auto offset = static_cast<std::uint32_t>(load_be(in, 24 + 4 * k, 4));
      if (k >= size) {
        if (offset != 0) return errc::invalid_parameter;
        continue;
      }
      if (offset == 0 || offset > ops::max_offset || offset > later) return errc::invalid_parameter;
      later = offset;
      u.slots_[ring_index<N>(next + (N - 1) - k)] = offset;  // newest just before next
    }
    if (size != 0) {
      const std::uint32_t newest = u.slots_[ring_index<N>(next + (N - 1))];
      if (origin != 0 && origin != i64_min && newest < ops::origin_lead) return errc::invalid_parameter;
      if (origin > i64_max - static_cast<std::int64_t>(newest)) return errc::invalid_parameter;
      // The hint is never low (see rolling_usage_bytes): the times after the
      // floor of its window, as narrowed to the widest it serves, are at most `inside`.
      const auto served = static_cast<std::uint32_t>(width < ops::exact_window ? width : ops::exact_window);
      const std::uint32_t floor = newest > served ? newest - served : 0;
      std::size_t after = 0;
      for (std::size_t k = 0; k < size; ++k) after += static_cast<std::size_t>(ops::slot(u, k) > floor);
      if (after > inside) return errc::invalid_parameter;
      u.newest_ = newest;
    }
    for (std::size_t k = 0; k < ops::mirror && k < N; ++k) u.slots_[N + k] = u.slots_[k];
    u.origin_ = origin;
    u.inside_ = static_cast<std::uint16_t>(inside);
    u.inside_width_ = width;
    u.oldest_ = u.slots_[next];
    return u;
  }
};

}  // namespace detail

// The stored form of `usage` (layout on daily_usage_bytes).
constexpr daily_usage_bytes to_bytes(const daily_usage& usage) noexcept {
  daily_usage_bytes out{};
  detail::store_header(out, detail::state_kind::daily_usage);
  if (!usage.unused()) {
    const std::uint64_t bits = usage.to_bits();
    detail::store_be(out, 4, 4, bits >> 32);
    detail::store_be(out, 8, 4, bits & 0xFFFF'FFFFu);
  }
  return out;
}

// The daily_usage stored as `bytes` by to_bytes; all-zero bytes read as
// daily_usage{}. Anything else is invalid_parameter.
constexpr result<daily_usage> from_bytes(const daily_usage_bytes& bytes) noexcept {
  if (detail::all_zero(bytes)) return daily_usage{};
  if (!detail::header_is(bytes, detail::state_kind::daily_usage) || detail::load_be(bytes, 2, 2) != 0 ||
      detail::load_be(bytes, 12, 4) != 0)
    return errc::invalid_parameter;
  const std::uint64_t key = detail::load_be(bytes, 4, 4);
  const std::uint64_t used = detail::load_be(bytes, 8, 4);
  if (key == 0 && used != 0) return errc::invalid_parameter;
  return daily_usage::from_bits((key << 32) | used);
}

// The stored form of `state` (layout on rate_state_bytes).
constexpr rate_state_bytes to_bytes(const rate_state& state) noexcept {
  rate_state_bytes out{};
  detail::store_header(out, detail::state_kind::rate_state);
  if (!state.idle()) {
    out[2] = std::byte{1};
    detail::store_be(out, 8, 8, state.to_bits() ^ detail::sign_bit);  // the TAT, unbiased
  }
  return out;
}

// The rate_state stored as `bytes` by to_bytes; all-zero bytes read as
// rate_state{} (idle). Anything else is invalid_parameter.
constexpr result<rate_state> from_bytes(const rate_state_bytes& bytes) noexcept {
  if (detail::all_zero(bytes)) return rate_state{};
  if (!detail::header_is(bytes, detail::state_kind::rate_state) || detail::load_be(bytes, 3, 5) != 0)
    return errc::invalid_parameter;
  const std::uint64_t tat = detail::load_be(bytes, 8, 8);
  if (bytes[2] == std::byte{0}) {
    if (tat != 0) return errc::invalid_parameter;
    return rate_state{};
  }
  if (bytes[2] != std::byte{1} || tat == detail::sign_bit) return errc::invalid_parameter;  // -2^63 is idle's
  return rate_state::from_bits(tat ^ detail::sign_bit);
}

// The stored forms of sliding_window_state<N> and rolling_usage<N> (layouts
// on sliding_window_state_bytes and rolling_usage_bytes), and the states
// they store; all-zero bytes read as the empty state, anything else to_bytes
// cannot write is invalid_parameter.
template <std::size_t N>
constexpr sliding_window_state_bytes<N> to_bytes(const sliding_window_state<N>& state) noexcept {
  return detail::state_codec::encode(state);
}
template <std::size_t N>
constexpr rolling_usage_bytes<N> to_bytes(const rolling_usage<N>& usage) noexcept {
  return detail::state_codec::encode(usage);
}
template <std::size_t N>
constexpr result<sliding_window_state<N>> from_bytes(const sliding_window_state_bytes<N>& bytes) noexcept {
  return detail::state_codec::decode(bytes);
}
template <std::size_t N>
constexpr result<rolling_usage<N>> from_bytes(const rolling_usage_bytes<N>& bytes) noexcept {
  return detail::state_codec::decode(bytes);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_QUOTA_HPP
