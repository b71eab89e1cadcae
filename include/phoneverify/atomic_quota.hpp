// SPDX-License-Identifier: MIT
// phoneverify: a lock-free daily counter shared by the threads of a process.
//
// A `daily_usage` is 8 bytes, so it fits one std::atomic<std::uint64_t> and is
// charged by compare-and-swap with exactly consume()'s rule (RULES.md §4): never
// more than the limit per day, whatever the interleaving. Apart from quota.hpp,
// which stays free of <atomic>.
#ifndef PHONEVERIFY_ATOMIC_QUOTA_HPP
#define PHONEVERIFY_ATOMIC_QUOTA_HPP

#include <atomic>
#include <cstdint>

#include "quota.hpp"

namespace phoneverify {

// A daily_usage shared between threads, starting unused. Not copyable.
class atomic_daily_usage {
 public:
  atomic_daily_usage() noexcept = default;
  explicit atomic_daily_usage(daily_usage initial) noexcept : bits_(initial.to_bits()) {}
  atomic_daily_usage(const atomic_daily_usage&) = delete;
  atomic_daily_usage& operator=(const atomic_daily_usage&) = delete;

  // Charges `n` units at `now`, all or nothing, with consume()'s answer: decided
  // on a snapshot and published by compare-and-swap, retried if another thread
  // changed the word, so two threads never both spend the last unit. A denial
  // writes nothing. Never blocks (lock-free on 64-bit targets).
  decision consume(const daily_quota& quota, timestamp now, std::uint32_t n = 1) noexcept {
    std::uint64_t seen = bits_.load(std::memory_order_relaxed);
    for (;;) {
      daily_usage next = daily_usage::from_bits(seen);
      const decision d = phoneverify::consume(quota, next, now, n);
      const std::uint64_t want = next.to_bits();
      if (!d.allowed || want == seen) return d;
      // The word's modification order alone decides who gets the last unit;
      // acq_rel keeps a charge ordered with the caller's work around it.
      if (bits_.compare_exchange_weak(seen, want, std::memory_order_acq_rel, std::memory_order_relaxed))
        return d;
    }
  }

  // A snapshot of the usage (for shared stores, logs and tests).
  daily_usage load() const noexcept { return daily_usage::from_bits(bits_.load(std::memory_order_acquire)); }

  // True when the platform's 64-bit atomic needs no lock.
  static constexpr bool is_always_lock_free = std::atomic<std::uint64_t>::is_always_lock_free;

 private:
  std::atomic<std::uint64_t> bits_{0};
};

// consume() for a shared counter: the same rule and answer (see above).
inline decision consume(const daily_quota& quota, atomic_daily_usage& usage, timestamp now,
                        std::uint32_t n = 1) noexcept {
  return usage.consume(quota, now, n);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_ATOMIC_QUOTA_HPP
