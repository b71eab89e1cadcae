// Fuzz target for the stored forms of quota.hpp's states (RULES.md §4):
// daily_usage, rate_state, sliding_window_state<N> and rolling_usage<N>, each
// read from bytes with from_bytes. Asserts the rules, not only "no crash":
//  - from_bytes either fails with invalid_parameter or gives a state whose
//    to_bytes is exactly the bytes read (all-zero bytes: the empty state);
//  - requests on a state read from bytes get the exact answers of its kept
//    times (windows, rolling quotas: an independent model of them) or of its
//    day and count (daily quota): so nothing read from bytes admits more than
//    its limit, a state at the limit in particular; a GCRA state never
//    passes more than `count` requests at one instant;
//  - after every request the state is still storable: to_bytes, from_bytes
//    gives it back.
// Two ways in, by the first byte: bytes straight from the input, or the
// bytes of a state built by requests from the input, then changed at a few
// places (so that the fuzzer meets mostly valid layouts too).
#include <phoneverify/quota.hpp>
#include "fuzz_input.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <vector>

#include "../window_model.hpp"

namespace pv = phoneverify;

namespace {

using phoneverify::test::model_of;
using phoneverify::test::model_times;

using phoneverify::test::require;

constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t earliest = std::numeric_limits<std::int64_t>::min();

pv::timestamp at(std::int64_t ms) { return pv::timestamp{std::chrono::milliseconds{ms}}; }

using input = phoneverify::test::fuzz_input;

bool same(const pv::decision& a, const pv::decision& b) {
  return a.allowed == b.allowed && a.remaining == b.remaining && a.retry_at == b.retry_at;
}

// The next request time: forward, back, a long pause (a rolling_usage's
// origin moves) or an end of time, all from the input.
std::int64_t next_time(input& in, std::int64_t t) {
  const std::uint8_t how = in.byte();
  const std::int64_t step = static_cast<std::int64_t>(in.u64(2)) * (how & 0x40 ? 60'000 : 1);
  std::int64_t next = t;
  switch (how & 7) {
    case 0: return earliest + (how >> 3);
    case 1: return never - (how >> 3);
    case 2: if (__builtin_sub_overflow(t, step, &next)) next = earliest; return next;
    case 3: if (__builtin_add_overflow(t, step * 100'000, &next)) next = never; return next;
    default: if (__builtin_add_overflow(t, step, &next)) next = never; return next;
  }
}

std::uint32_t next_units(input& in) {
  const std::uint8_t n = in.byte();
  return n < 200 ? 1 : static_cast<std::uint32_t>(n - 200);  // mostly one, up to 55
}

std::chrono::milliseconds next_width(input& in, bool exact_only) {
  constexpr std::int64_t widths[] = {0, 1, 1000, 10'000, 60'000, 3'600'000, 86'400'000, 2'147'483'647, -5,
                                     40 * 86'400'000LL};
  const std::uint8_t w = in.byte();
  if (w >= 240) return std::chrono::milliseconds{static_cast<std::int64_t>(in.u64(4)) & (exact_only ? 0x7FFF'FFFF : -1)};
  return std::chrono::milliseconds{widths[w % (exact_only ? 9 : 10)]};
}

// The exact answers of sliding windows from the kept times alone (newest
// first, at most `capacity`).

template <class State>
void require_storable(const State& s) {
  const auto back = pv::from_bytes(pv::to_bytes(s));
  require(back.has_value() && *back == s);
}

// ---- requests on a state, checked ----

void run(pv::daily_usage u, input& in, std::int64_t t) {
  while (in.size > 0) {
    const pv::daily_quota q{static_cast<std::uint32_t>(in.byte() % 8 == 0 ? in.u64(4) : in.byte() % 12),
                            std::chrono::minutes{static_cast<std::int64_t>(in.byte()) * 7 - 12 * 60}};
    t = next_time(in, t);
    const std::uint32_t n = next_units(in);
    // The model: the later of the request's day and the kept one; a new day from zero.
    const std::uint32_t now_key = pv::detail::day_key(pv::day_index(at(t), q.utc_offset));
    const auto kept_key = static_cast<std::uint32_t>(u.to_bits() >> 32);
    const std::uint32_t key = std::max(now_key, kept_key);
    const std::uint32_t used = key == kept_key ? u.used() : 0;
    const std::uint32_t left = used < q.limit ? q.limit - used : 0;
    const pv::decision d = pv::consume(q, u, at(t), n);
    require(d.allowed == (n <= left));
    require(d.remaining == (d.allowed ? left - n : left));
    if (d.allowed) require(u.used() == used + n && static_cast<std::uint32_t>(u.to_bits() >> 32) == key);
    require_storable(u);
  }
}

void run(pv::rate_state s, input& in, std::int64_t t) {
  while (in.size > 0) {
    const pv::rate_limit limit{static_cast<std::uint32_t>(in.byte() % 8 == 0 ? in.u64(3) : in.byte() % 12),
                               std::chrono::milliseconds{static_cast<std::int64_t>(in.u64(2)) + 1}};
    t = next_time(in, t);
    // A burst at one instant: never more than count, whatever was read.
    std::uint64_t passed = 0;
    const std::uint8_t burst = in.byte() % 16;
    for (std::uint8_t i = 0; i < burst; ++i) {
      const std::uint32_t n = next_units(in);
      const pv::decision d = pv::admit(limit, s, at(t), n);
      if (d.allowed) passed += n;
      require(!d.allowed || d.remaining <= limit.count - n);
      require(d.allowed || d.retry_at > at(t) || d.retry_at == pv::timestamp::max());  // max: never
    }
    require(passed <= limit.count);
    require_storable(s);
  }
}

template <std::size_t N>
void run(pv::sliding_window_state<N> s, input& in, std::int64_t t) {
  model_times model = model_of(s);
  while (in.size > 0) {
    pv::sliding_window windows[3];
    const std::size_t k = in.byte() % 4;
    for (std::size_t i = 0; i < k; ++i) windows[i] = {static_cast<std::uint32_t>(in.byte() % (N + 3)), next_width(in, false)};
    t = next_time(in, t);
    const std::uint32_t n = next_units(in);
    const std::span<const pv::sliding_window> used(windows, k);
    require(same(pv::admit(used, s, at(t), n), model.admit(used, t, n)));
    require_storable(s);
  }
}

template <std::size_t N>
void run(pv::rolling_usage<N> u, input& in, std::int64_t t) {
  model_times model = model_of(u);
  while (in.size > 0) {
    // Windows up to 2^31 - 1 ms, where rolling_usage is exact.
    const pv::rolling_quota q{static_cast<std::uint32_t>(in.byte() % (N + 3)), next_width(in, true)};
    t = next_time(in, t);
    const std::uint32_t n = next_units(in);
    const pv::sliding_window w{q.limit, q.window};
    require(same(pv::consume(q, u, at(t), n), model.admit(std::span<const pv::sliding_window>(&w, 1), t, n)));
    require_storable(u);
  }
}

// A state built by requests from the input (any limits), for the second way in.
void build(pv::daily_usage& u, input& in, std::int64_t& t, std::size_t steps) {
  for (std::size_t i = 0; i < steps; ++i) {
    t = next_time(in, t);
    pv::consume(pv::daily_quota{in.byte() % 6u, std::chrono::hours{8}}, u, at(t), next_units(in));
  }
}
void build(pv::rate_state& s, input& in, std::int64_t& t, std::size_t steps) {
  for (std::size_t i = 0; i < steps; ++i) {
    t = next_time(in, t);
    pv::admit(pv::rate_limit{in.byte() % 12u, std::chrono::milliseconds{1000}}, s, at(t), next_units(in));
  }
}
template <std::size_t N>
void build(pv::sliding_window_state<N>& s, input& in, std::int64_t& t, std::size_t steps) {
  for (std::size_t i = 0; i < steps; ++i) {
    t = next_time(in, t);
    pv::admit(pv::sliding_window{static_cast<std::uint32_t>(N), next_width(in, false)}, s, at(t), next_units(in));
  }
}
template <std::size_t N>
void build(pv::rolling_usage<N>& u, input& in, std::int64_t& t, std::size_t steps) {
  for (std::size_t i = 0; i < steps; ++i) {
    t = next_time(in, t);
    pv::consume(pv::rolling_quota{static_cast<std::uint32_t>(N), next_width(in, false)}, u, at(t), next_units(in));
  }
}

template <class State>
void fuzz(input& in, bool built) {
  using bytes_t = decltype(pv::to_bytes(State{}));
  bytes_t bytes{};
  std::int64_t t = static_cast<std::int64_t>(in.u64(6));
  if (built) {
    State s{};
    build(s, in, t, in.byte() % 64);
    bytes = pv::to_bytes(s);
    const std::size_t changes = in.byte() % 4;
    for (std::size_t i = 0; i < changes; ++i) {
      const std::size_t where = static_cast<std::size_t>(in.u64(2)) % bytes.size();
      bytes[where] = static_cast<std::byte>(in.byte());
    }
  } else {
    for (std::byte& b : bytes) b = static_cast<std::byte>(in.byte());
  }
  const auto read = pv::from_bytes(bytes);
  if (!read) {
    require(read.error() == pv::errc::invalid_parameter);
    return;
  }
  require(pv::to_bytes(*read) == bytes || bytes == bytes_t{});
  run(*read, in, t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input in{data, size};
  const std::uint8_t mode = in.byte();
  const bool built = (mode & 0x80) != 0;
  switch ((mode & 0x7F) % 13) {
    case 0: fuzz<pv::daily_usage>(in, built); break;
    case 1: fuzz<pv::rate_state>(in, built); break;
    case 2: fuzz<pv::sliding_window_state<1>>(in, built); break;
    case 3: fuzz<pv::sliding_window_state<3>>(in, built); break;
    case 4: fuzz<pv::sliding_window_state<10>>(in, built); break;
    case 5: fuzz<pv::sliding_window_state<16>>(in, built); break;
    case 6: fuzz<pv::sliding_window_state<2>>(in, built); break;
    case 7: fuzz<pv::sliding_window_state<7>>(in, built); break;
    case 8: fuzz<pv::rolling_usage<1>>(in, built); break;
    case 9: fuzz<pv::rolling_usage<3>>(in, built); break;
    case 10: fuzz<pv::rolling_usage<4>>(in, built); break;
    case 11: fuzz<pv::rolling_usage<8>>(in, built); break;
    default: fuzz<pv::rolling_usage<40>>(in, built); break;
  }
  return 0;
}
