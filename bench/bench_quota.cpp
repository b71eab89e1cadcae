// Benchmarks of time.hpp, quota.hpp and atomic_quota.hpp (targets:
// consume, admit, the sliding window and the all-or-nothing check at most
// 10 ns per decision; the atomic counter within 1.5x a bare CAS loop at 1 and
// 2 threads, compared with std::unordered_map + std::mutex; format_iso8601 at
// most 20 ns).
//
// Each decision benchmark walks a fixed-seed corpus of (key, time) requests
// over 1024 keys through an opaque pointer, and reports `allowed` (the share
// of requests admitted) so implementations are compared on equal work.
#include <benchmark/benchmark.h>
#include <phoneverify/atomic_quota.hpp>
#include <phoneverify/quota.hpp>
#include <phoneverify/time.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace pv = phoneverify;
using std::chrono::milliseconds;

#include "../tests/support.hpp"

namespace {

constexpr std::size_t corpus_size = 1 << 16;  // requests

struct request {
  std::uint32_t key;
  pv::timestamp at;
};

// The next value of tests/support.hpp's splitmix64 from `state`.
std::uint64_t splitmix(std::uint64_t& state) {
  phoneverify::test::splitmix64 generator{state};
  const std::uint64_t value = generator();
  state = generator.state;
  return value;
}

// Requests over `key_count` keys, time advancing `mean_gap_ms` on average per request.
std::vector<request> make_corpus(std::int64_t mean_gap_ms, std::size_t key_count) {
  std::uint64_t seed = 0x0B0A;
  std::vector<request> out(corpus_size);
  std::int64_t t = 1'639'726'721'747;
  for (request& r : out) {
    t += static_cast<std::int64_t>(splitmix(seed) % static_cast<std::uint64_t>(2 * mean_gap_ms + 1));
    r = {static_cast<std::uint32_t>(splitmix(seed) % key_count), pv::timestamp{milliseconds{t}}};
  }
  return out;
}

// Runs `decide(state_of_key, time)` over the corpus, again and again, each
// pass later than the one before (so time keeps moving forward); reports the
// admit rate. The mean gap and key count set a realistic mix of admissions
// and denials.
template <class State, class Decide>
void run_corpus(benchmark::State& bench, std::int64_t mean_gap_ms, std::size_t key_count, Decide decide) {
  const std::vector<request> corpus = make_corpus(mean_gap_ms, key_count);
  const milliseconds pass_length =
      corpus.back().at - corpus.front().at + milliseconds{mean_gap_ms};
  std::vector<State> states(key_count);
  const request* data = corpus.data();
  benchmark::DoNotOptimize(data);
  std::size_t i = 0;
  milliseconds shift{0};
  std::int64_t allowed = 0;
  for (auto _ : bench) {
    const request& r = data[i];
    const pv::decision d = decide(states[r.key], r.at + shift);
    allowed += d.allowed ? 1 : 0;
    benchmark::DoNotOptimize(d);
    i = (i + 1) & (corpus_size - 1);
    if (i == 0) shift += pass_length;
  }
  bench.SetItemsProcessed(bench.iterations());
  bench.counters["allowed"] = benchmark::Counter(static_cast<double>(allowed) / static_cast<double>(bench.iterations()));
}

void BM_consume_daily_quota(benchmark::State& bench) {
  // 100 a day per key, 1024 keys, about 200 requests per key and day: about half denied.
  const pv::daily_quota q{};
  run_corpus<pv::daily_usage>(bench, 420, 1024, [&q](pv::daily_usage& u, pv::timestamp t) { return pv::consume(q, u, t); });
}
BENCHMARK(BM_consume_daily_quota);

void BM_admit_gcra(benchmark::State& bench) {
  const pv::rate_limit l{};  // 10 per second, 16 keys, about 20 requests per key and second
  run_corpus<pv::rate_state>(bench, 3, 16, [&l](pv::rate_state& s, pv::timestamp t) { return pv::admit(l, s, t); });
}
BENCHMARK(BM_admit_gcra);

void BM_admit_gcra_scaled(benchmark::State& bench) {
  const pv::rate_limit l{7, milliseconds{1000}};  // T = 142 6/7 ms: time scaled by 7
  run_corpus<pv::rate_state>(bench, 4, 16, [&l](pv::rate_state& s, pv::timestamp t) { return pv::admit(l, s, t); });
}
BENCHMARK(BM_admit_gcra_scaled);

void BM_admit_sliding_window_per_phone(benchmark::State& bench) {
  // 1024 phones, one request per phone every ~30 minutes on average.
  run_corpus<pv::per_phone_state>(bench, 1700, 1024, [](pv::per_phone_state& s, pv::timestamp t) {
    return pv::admit(pv::per_phone_windows, s, t);
  });
}
BENCHMARK(BM_admit_sliding_window_per_phone);

void BM_admit_sliding_window_per_phone_mostly_allowed(benchmark::State& bench) {
  // The same windows, one request per phone every ~3.4 hours: most are
  // admitted, so each pays for the exact headroom and the record.
  run_corpus<pv::per_phone_state>(bench, 12'000, 1024, [](pv::per_phone_state& s, pv::timestamp t) {
    return pv::admit(pv::per_phone_windows, s, t);
  });
}
BENCHMARK(BM_admit_sliding_window_per_phone_mostly_allowed);

// 100 in any 24 hours per key (the default rolling quota) on rolling_usage<100>,
// 1024 keys, requests `mean_gap_ms` apart on average.
void run_rolling_quota(benchmark::State& bench, std::int64_t mean_gap_ms) {
  const pv::rolling_quota q{};
  run_corpus<pv::rolling_usage<100>>(bench, mean_gap_ms, 1024,
                                     [&q](pv::rolling_usage<100>& u, pv::timestamp t) { return pv::consume(q, u, t); });
}

// About 200 requests per key and day, so about half are denied.
void BM_consume_rolling_quota(benchmark::State& bench) { run_rolling_quota(bench, 420); }
BENCHMARK(BM_consume_rolling_quota);

// About 70 requests per key and day: nearly all admitted, so each counts the
// times still inside (from the count the last admission left) and records.
void BM_consume_rolling_quota_mostly_allowed(benchmark::State& bench) { run_rolling_quota(bench, 1200); }
BENCHMARK(BM_consume_rolling_quota_mostly_allowed);

struct phone_and_account {
  pv::per_phone_state phone;
  pv::daily_usage account;
};

void BM_admit_all_per_phone_and_daily(benchmark::State& bench) {
  const pv::daily_quota q{};
  run_corpus<phone_and_account>(bench, 1700, 1024, [&q](phone_and_account& s, pv::timestamp t) {
    return pv::admit_all(t, pv::meter(pv::per_phone_windows, s.phone), pv::meter(q, s.account)).result;
  });
}
BENCHMARK(BM_admit_all_per_phone_and_daily);

void BM_admit_all_per_phone_and_daily_mostly_allowed(benchmark::State& bench) {
  const pv::daily_quota q{};
  run_corpus<phone_and_account>(bench, 12'000, 1024, [&q](phone_and_account& s, pv::timestamp t) {
    return pv::admit_all(t, pv::meter(pv::per_phone_windows, s.phone), pv::meter(q, s.account)).result;
  });
}
BENCHMARK(BM_admit_all_per_phone_and_daily_mostly_allowed);

// ---- the shared counter, 1 and 2 threads, one hot key ----

const pv::daily_quota unlimited_day{0xFFFF'FFFFu, std::chrono::hours{8}};
const pv::timestamp bench_now{milliseconds{1'639'726'721'747}};

pv::atomic_daily_usage shared_usage;
std::atomic<std::uint64_t> shared_word{0};
std::mutex table_mutex;
std::unordered_map<std::uint64_t, pv::daily_usage> table;

void BM_atomic_daily_usage(benchmark::State& bench) {
  std::int64_t allowed = 0;
  for (auto _ : bench) {
    const pv::decision d = shared_usage.consume(unlimited_day, bench_now);
    allowed += d.allowed ? 1 : 0;
    benchmark::DoNotOptimize(d);
  }
  bench.SetItemsProcessed(bench.iterations());
  bench.counters["allowed"] = benchmark::Counter(static_cast<double>(allowed) / static_cast<double>(bench.iterations()),
                                                 benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_atomic_daily_usage)->Threads(1)->Threads(2)->UseRealTime();

// The floor: a bare compare-and-swap increment of one word.
void BM_cas_loop_bare(benchmark::State& bench) {
  for (auto _ : bench) {
    std::uint64_t seen = shared_word.load(std::memory_order_relaxed);
    while (!shared_word.compare_exchange_weak(seen, seen + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) {
    }
    benchmark::DoNotOptimize(seen);
  }
  bench.SetItemsProcessed(bench.iterations());
  bench.counters["allowed"] = benchmark::Counter(1.0, benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_cas_loop_bare)->Threads(1)->Threads(2)->UseRealTime();

// The way services often write it: a hash map of counters under one mutex.
void BM_unordered_map_mutex(benchmark::State& bench) {
  std::int64_t allowed = 0;
  for (auto _ : bench) {
    pv::decision d;
    {
      const std::lock_guard<std::mutex> lock(table_mutex);
      d = pv::consume(unlimited_day, table[42], bench_now);
    }
    allowed += d.allowed ? 1 : 0;
    benchmark::DoNotOptimize(d);
  }
  bench.SetItemsProcessed(bench.iterations());
  bench.counters["allowed"] = benchmark::Counter(static_cast<double>(allowed) / static_cast<double>(bench.iterations()),
                                                 benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_unordered_map_mutex)->Threads(1)->Threads(2)->UseRealTime();

// ---- ISO-8601 ----

std::vector<pv::timestamp> make_times() {
  std::uint64_t seed = 0x1508;
  std::vector<pv::timestamp> out(corpus_size);
  const auto span = static_cast<std::uint64_t>(pv::iso8601_max.time_since_epoch().count()) + 1;
  for (pv::timestamp& t : out) t = pv::timestamp{milliseconds{static_cast<std::int64_t>(splitmix(seed) % span)}};
  return out;
}

void BM_format_iso8601(benchmark::State& bench) {
  const std::vector<pv::timestamp> times = make_times();
  const pv::timestamp* data = times.data();
  benchmark::DoNotOptimize(data);
  std::size_t i = 0;
  for (auto _ : bench) {
    auto text = pv::format_iso8601(data[i]);
    benchmark::DoNotOptimize(text);
    i = (i + 1) & (corpus_size - 1);
  }
  bench.SetItemsProcessed(bench.iterations());
}
BENCHMARK(BM_format_iso8601);

void BM_parse_iso8601(benchmark::State& bench) {
  const std::vector<pv::timestamp> times = make_times();
  std::vector<pv::inline_string<24>> texts;
  texts.reserve(times.size());
  for (pv::timestamp t : times) texts.push_back(pv::format_iso8601(t));
  const pv::inline_string<24>* data = texts.data();
  benchmark::DoNotOptimize(data);
  std::size_t i = 0;
  std::int64_t accepted = 0;
  for (auto _ : bench) {
    const pv::result<pv::timestamp> r = pv::parse_iso8601(data[i].view());
    accepted += r.has_value() ? 1 : 0;
    benchmark::DoNotOptimize(r);
    i = (i + 1) & (corpus_size - 1);
  }
  bench.SetItemsProcessed(bench.iterations());
  bench.counters["accepted"] = benchmark::Counter(static_cast<double>(accepted) / static_cast<double>(bench.iterations()));
}
BENCHMARK(BM_parse_iso8601);

}  // namespace

BENCHMARK_MAIN();
