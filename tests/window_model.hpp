// SPDX-License-Identifier: MIT
// A model of sliding-window limits over plain times (newest first), as the
// state-bytes tests and their fuzzer compare decoded states with it: what
// admit answers for `windows` given only the times a state keeps
// (RULES.md §4: at most count in any window, exact retry_at, time that goes
// back charged as the newest time).
#ifndef PHONEVERIFY_TESTS_WINDOW_MODEL_HPP
#define PHONEVERIFY_TESTS_WINDOW_MODEL_HPP

#include <phoneverify/quota.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace phoneverify::test {

struct model_times {
  static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
  static constexpr std::int64_t earliest = std::numeric_limits<std::int64_t>::min();
  static constexpr timestamp at(std::int64_t ms) { return timestamp{std::chrono::milliseconds{ms}}; }
  static constexpr std::int64_t ms_of(timestamp t) { return t.time_since_epoch().count(); }

  std::size_t capacity;
  std::vector<std::int64_t> times;  // newest first

  decision admit(std::span<const sliding_window> windows, std::int64_t now, std::uint32_t n) {
    std::int64_t eff = times.empty() ? now : std::max(now, times.front());
    if (eff == earliest) eff = earliest + 1;
    bool allowed = true;
    std::uint32_t least = 0xFFFF'FFFFu;
    std::int64_t retry = earliest;
    for (const sliding_window& w : windows) {
      const auto c = static_cast<std::uint32_t>(std::min<std::size_t>(w.count, capacity));
      const std::uint64_t width = w.window.count() > 0 ? static_cast<std::uint64_t>(w.window.count()) : 0;
      std::uint32_t inside = 0;
      for (std::size_t k = 0; k < times.size() && k < c; ++k)
        inside += static_cast<std::uint64_t>(eff) - static_cast<std::uint64_t>(times[k]) < width ? 1u : 0u;
      least = std::min(least, c - inside);
      if (n > c) {
        allowed = false;
        retry = never;
      } else if (n != 0 && inside + n > c) {
        allowed = false;
        std::int64_t leaves = 0;
        if (__builtin_add_overflow(times[c - n], static_cast<std::int64_t>(width), &leaves)) leaves = never;
        retry = std::max(retry, leaves);
      }
    }
    if (!allowed) return {false, n == 1 ? 0 : least, at(retry)};
    for (std::uint32_t i = 0; i < n && i < capacity; ++i) times.insert(times.begin(), eff);
    if (times.size() > capacity) times.resize(capacity);
    return {true, least - n, at(now)};
  }
};

template <class State>
model_times model_of(const State& s) {
  model_times m{State::capacity(), {}};
  for (std::size_t k = 0; k < s.size(); ++k) m.times.push_back(model_times::ms_of(s.recent(k)));
  return m;
}

}  // namespace phoneverify::test

#endif  // PHONEVERIFY_TESTS_WINDOW_MODEL_HPP
