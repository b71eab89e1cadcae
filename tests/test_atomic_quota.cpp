// atomic_quota.hpp: the lock-free shared daily counter (RULES.md §4).
// The [concurrency] cases also run in the ThreadSanitizer build.
#include <catch2/catch.hpp>
#include <phoneverify/atomic_quota.hpp>

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "support.hpp"

namespace pv = phoneverify;
using std::chrono::hours;
using std::chrono::milliseconds;

namespace {

constexpr pv::timestamp at(std::int64_t ms) { return pv::timestamp{milliseconds{ms}}; }

static_assert(!std::is_copy_constructible_v<pv::atomic_daily_usage>);
static_assert(std::is_nothrow_default_constructible_v<pv::atomic_daily_usage>);
static_assert(noexcept(std::declval<pv::atomic_daily_usage&>().consume(std::declval<const pv::daily_quota&>(),
                                                                   std::declval<pv::timestamp>())));
static_assert(sizeof(pv::atomic_daily_usage) == 8);

}  // namespace

TEST_CASE("atomic_daily_usage gives the same answers as consume on a daily_usage", "[quota]") {
  pv::test::splitmix64 rng{pv::test::test_seed("atomic vs plain", 0xA70)};
  const pv::daily_quota q{7, hours{8}};
  pv::atomic_daily_usage shared;
  pv::daily_usage plain{};
  std::int64_t t = 0;
  for (int i = 0; i < 20'000; ++i) {
    t += static_cast<std::int64_t>(rng() % 3'600'000) - (rng() % 9 == 0 ? 50'000'000 : 0);
    const auto n = static_cast<std::uint32_t>(rng() % 9);
    const pv::decision a = pv::consume(q, shared, at(t), n);
    const pv::decision b = pv::consume(q, plain, at(t), n);
    REQUIRE((a.allowed == b.allowed && a.remaining == b.remaining && a.retry_at == b.retry_at));
    REQUIRE(shared.load() == plain);
  }
  CHECK(pv::atomic_daily_usage(plain).load() == plain);
}

TEST_CASE("atomic_daily_usage under several threads never admits more than the limit in a day",
          "[quota][concurrency]") {
  constexpr int threads = 4;
  constexpr int attempts = 20'000;
  const pv::daily_quota q{1000, hours{8}};
  for (int round = 0; round < 3; ++round) {
    pv::atomic_daily_usage shared;
    std::atomic<int> ready{0};
    std::vector<std::uint32_t> admitted(threads, 0);
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
      pool.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < threads) std::this_thread::yield();  // start together
        std::uint32_t units = 0;
        for (int k = 0; k < attempts; ++k) {
          const std::uint32_t n = 1 + static_cast<std::uint32_t>((k + i) % 3);
          if (shared.consume(q, at(1000 + k), n).allowed) units += n;
        }
        admitted[static_cast<std::size_t>(i)] = units;
      });
    }
    for (std::thread& th : pool) th.join();
    std::uint32_t total = 0;
    for (std::uint32_t units : admitted) total += units;
    // Never over the limit, and the word agrees with what the threads were told.
    CHECK(total <= q.limit);
    CHECK(total == shared.load().used());
    CHECK(total == q.limit);  // and never under it: single units fill the last gap
  }
}

TEST_CASE("atomic_daily_usage under several threads across day boundaries never over-admits a day",
          "[quota][concurrency]") {
  constexpr int threads = 4;
  constexpr int attempts = 20'000;
  constexpr std::int64_t day_ms = 86'400'000;
  const pv::daily_quota q{500, hours{0}};
  pv::atomic_daily_usage shared;
  std::atomic<int> ready{0};
  // Each thread walks through 5 days at its own pace, so the word is moved to
  // a new day while others still send with older times (charged to the newer day).
  std::vector<std::uint32_t> admitted(threads, 0);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < threads) std::this_thread::yield();
      std::uint32_t units = 0;
      for (int k = 0; k < attempts; ++k) {
        const std::int64_t t = (k * 5 / attempts) * day_ms + (k * (i + 1)) % 1000;
        if (shared.consume(q, at(t)).allowed) ++units;
      }
      admitted[static_cast<std::size_t>(i)] = units;
    });
  }
  for (std::thread& th : pool) th.join();
  std::uint32_t total = 0;
  for (std::uint32_t units : admitted) total += units;
  CHECK(total <= 5 * q.limit);                      // at most the limit on each of the 5 days
  CHECK(shared.load().day() == 4);                  // the word never moved back
  CHECK(shared.load().used() <= q.limit);
}
