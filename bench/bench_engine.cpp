// Benchmarks of the embedded engine (engine.hpp), end to end: a send decision
// (checks, limits, issue_code, rendering) and a check (checks, check_code,
// rendering), at 1 and 2 threads. Goals: at most 3 us each per
// thread; 2-thread throughput at least 1.6 times one thread's.
//
// Each iteration uses a fresh account and phone from a fixed-seed corpus so
// the limits admit (the work measured is the accepted path); the engine's
// clock advances 1 ms per call so windows and resend intervals hold.
//
// The engine counts every response in its metrics (metrics.hpp; there is no
// switch): these figures are with metrics on, and the teardown checks that
// every decision measured was counted.
#include <benchmark/benchmark.h>
#include <phoneverify/engine.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "../tests/support.hpp"

namespace pv = phoneverify;

namespace {

// Sized so that no key comes back within its limits during a run: each
// thread walks its own half of the corpus, and the fake clock moves 20 ms per
// call, so a phone is seen again hours later (1/min, 5/h, 10/24h hold).
constexpr std::size_t corpus_size = 1 << 18;
constexpr std::int64_t clock_step_ms = 20;

struct corpus {
  std::vector<std::string> accounts, phones;
  corpus() {
    for (std::size_t i = 0; i < corpus_size; ++i) {
      accounts.push_back(std::to_string(1'000'000'000'000'000ULL + i * 7919));
      std::string digits = std::to_string(10'000'000 + i);
      phones.push_back("44-79" + digits.substr(digits.size() - 8));
    }
  }
};
const corpus& the_corpus() {
  static const corpus c;
  return c;
}

// Each thread has its own fake clock (a shared atomic would bounce its cache
// line between the cores on every call and measure that instead). The send
// benchmark moves it clock_step_ms per call; the check benchmark keeps it still
// so that the codes stay live.
std::int64_t& thread_clock() {
  thread_local std::int64_t ms = 1'700'000'000'000;
  return ms;
}
std::atomic<std::int64_t> clock_step{clock_step_ms};

std::unique_ptr<pv::engine> make_engine() {
  pv::engine_config config;
  config.policy.sites = pv::international_site_policy;
  config.key.fill(std::byte{0x3c});
  config.capacity = 2 * corpus_size;
  // The check benchmark guesses wrong many times per code: let every guess do
  // the full work (HMAC and constant-time compare) instead of stopping at
  // "exhausted" after 5 (RULES.md §4's default, which would measure the cheap path).
  config.policy.code.max_attempts = 255;
  config.policy.code.max_consecutive_failures = 65535;
  // The engine's default random source (a ChaCha20 per thread, no lock), as
  // a service runs it; a seeded source would add a global mutex.
  return std::make_unique<pv::engine>(
      config, [] {
        std::int64_t& ms = thread_clock();
        ms += clock_step.load(std::memory_order_relaxed);
        return pv::timestamp{std::chrono::milliseconds{ms}};
      });
}

std::unique_ptr<pv::engine> shared_engine;
// Wrong guesses use one attempt each (255 per code here): 16384 live codes
// give 4 million full checks before any is exhausted.
constexpr std::size_t check_accounts = 16384;

// Runs before the threads of a benchmark start, so no thread sees a half-built engine.
void setup_send(const benchmark::State&) {
  clock_step = clock_step_ms;
  shared_engine = make_engine();
}
void setup_check(const benchmark::State&) {
  clock_step = 0;
  shared_engine = make_engine();
  const corpus& c = the_corpus();
  const pv::facts f = phoneverify::test::granting_facts("9999888877776666");
  for (std::size_t k = 0; k < check_accounts; ++k)
    shared_engine->send_verification_code_for_bind_secure_mobile_phone({c.phones[k], c.accounts[k]}, f);
}
// Every decision of the run is in the engine's metrics (a send benchmark's
// are all issued codes, a check benchmark's all rejected codes), or the run fails.
void teardown(const benchmark::State&) {
  const auto metrics = std::make_unique<pv::metrics_snapshot>();
  shared_engine->metrics(*metrics);
  const pv::action send = pv::action::send_verification_code_for_bind_secure_mobile_phone;
  const std::uint64_t counted = clock_step.load() != 0
                                    ? metrics->codes_issued(send)
                                    : metrics->rejection(pv::action::bind_secure_mobile_phone, pv::check_status::wrong_code);
  if (counted == 0 || metrics->total() < counted) std::abort();
  shared_engine.reset();
}

void BM_send_engine(benchmark::State& state) {
  const corpus& c = the_corpus();
  const pv::facts f = phoneverify::test::granting_facts("9999888877776666");
  // Each thread cycles through its own half of the corpus.
  const std::size_t half = corpus_size / 2;
  const std::size_t base = static_cast<std::size_t>(state.thread_index()) * half;
  std::size_t i = 0;
  std::int64_t accepted = 0;
  for (auto _ : state) {
    const std::size_t k = base + (i++ % half);
    const auto r = shared_engine->send_verification_code_for_bind_secure_mobile_phone({c.phones[k], c.accounts[k]}, f);
    accepted += r.ok();
    std::size_t body_size = r.body().size();
    benchmark::DoNotOptimize(body_size);
  }
  state.counters["accept_rate"] = benchmark::Counter(static_cast<double>(accepted), benchmark::Counter::kAvgIterations);
  state.counters["decisions_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_send_engine)->Setup(setup_send)->Teardown(teardown)->Threads(1)->Threads(2)->UseRealTime();

void BM_check_engine(benchmark::State& state) {
  const corpus& c = the_corpus();
  const pv::facts f = phoneverify::test::granting_facts("9999888877776666");
  // Checks of wrong codes for accounts that have a live code: the full path
  // (HMAC, constant-time compare, attempt counting) without using codes up.
  const std::size_t half = check_accounts / 2;
  const std::size_t base = static_cast<std::size_t>(state.thread_index()) * half;
  std::size_t i = 0;
  std::int64_t rejected = 0;
  for (auto _ : state) {
    const std::size_t k = base + (i++ % half);
    const auto r = shared_engine->bind_secure_mobile_phone({"000000", c.phones[k], c.accounts[k]}, f);
    rejected += !r.ok();
    std::size_t body_size = r.body().size();
    benchmark::DoNotOptimize(body_size);
  }
  state.counters["reject_rate"] = benchmark::Counter(static_cast<double>(rejected), benchmark::Counter::kAvgIterations);
  state.counters["decisions_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_check_engine)->Setup(setup_check)->Teardown(teardown)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
