// SPDX-License-Identifier: MIT
// A clock the test moves by hand, for the engines' clock_function: copies
// share one reading, safe from several threads.
#ifndef PHONEVERIFY_TESTS_MANUAL_CLOCK_HPP
#define PHONEVERIFY_TESTS_MANUAL_CLOCK_HPP

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include <phoneverify/engine.hpp>

namespace phoneverify::test {

struct manual_clock {
  // 2023-11-14T22:13:20Z by default.
  explicit manual_clock(std::int64_t start_ms = 1'700'000'000'000)
      : ms(std::make_shared<std::atomic<std::int64_t>>(start_ms)) {}

  std::shared_ptr<std::atomic<std::int64_t>> ms;

  timestamp now() const { return timestamp{std::chrono::milliseconds{ms->load()}}; }
  void advance(std::chrono::milliseconds d) const { ms->fetch_add(d.count()); }
  void set(std::int64_t t) const { ms->store(t); }
  clock_function function() const {
    auto shared = ms;
    return [shared] { return timestamp{std::chrono::milliseconds{shared->load()}}; };
  }
};

}  // namespace phoneverify::test

#endif  // PHONEVERIFY_TESTS_MANUAL_CLOCK_HPP
