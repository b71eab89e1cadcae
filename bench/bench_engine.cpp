// Benchmarks of the embedded engine (engine.hpp), end to end: a send decision
// (checks, limits, issue_code, rendering) and a check (checks, check_code,
// rendering), at 1 and 2 threads, each beside the pure core doing the same
// decision on the same keys in the same run (BM_*_core: prepare and
// finish_send / finish_verify of actions.hpp on state held in plain arrays,
// one per thread's half of the corpus, codes drawn from the same per-thread
// ChaCha20 source). What the engine adds on top (reading its clock, the
// RequestId, SipHash and the shard locks of its stores, the store lookups,
// rendering the body, the metrics) is printed after the table as
// "engine - core" per call, per thread count, with the 2-thread throughput
// over the 1-thread one. Goals: the overhead at most 0.5 us per
// send and per check at 1 and 2 threads; 2 threads at least 1.7 times one.
//
// Time is real (wall) time per decision of the whole process (UseRealTime:
// Google Benchmark divides the wall time of the run by the iterations of all
// threads), so decisions_per_s is the process's throughput; CPU is the CPU
// time of all threads over those iterations, what one call costs on its
// thread, which the summary's engine - core figures use.
//
// Each iteration uses a fresh account and phone from a fixed-seed corpus so
// the limits admit (the work measured is the accepted path); the engine's
// clock advances 20 ms per call so windows and resend intervals hold.
// Each thread walks its own half of the corpus, the engine and the core in
// the same shuffled order: requests do not come in the order a service
// keeps its state, so the core's arrays are read where the requests land,
// as the engine's stores are (walked in index order, the core's would be
// streamed by the hardware prefetcher and only the engine would pay the
// memory misses of its states). The stores hash keys with
// SipHash onto 1024 lock stripes, so the two threads meet on a stripe about
// once in 1024 calls, as two independent clients would.
//
// The engine counts every response in its metrics (metrics.hpp; there is no
// switch): these figures are with metrics on, and the teardown checks that
// every decision measured was counted.
#include <benchmark/benchmark.h>
#include <phoneverify/engine.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

// 0 .. n-1 in a fixed shuffled order (the order a thread visits its half).
std::vector<std::size_t> shuffled(std::size_t n) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (std::size_t i = n; i > 1; --i) {  // Fisher-Yates with splitmix64
    x += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    std::swap(order[i - 1], order[static_cast<std::size_t>(z % i)]);
  }
  return order;
}

// Each thread has its own fake clock (a shared atomic would bounce its cache
// line between the cores on every call and measure that instead). The send
// benchmark moves it clock_step_ms per call on average; the check benchmark
// keeps it still so that the codes stay live. Like a real clock, whose
// millisecond lasts hundreds of decisions, it ticks once per clock_run
// calls (by clock_run * clock_step_ms): the engine's latest-time mark
// (engine.hpp's now(), RULES.md §4) is written once per tick, as in service,
// not on every call of whichever thread's clock is ahead. The calls of one
// tick are for distinct accounts and phones, so every send is still admitted.
constexpr std::int64_t clock_run = 64;
std::int64_t& thread_clock() {
  thread_local std::int64_t ms = 1'700'000'000'000;
  return ms;
}
std::atomic<std::int64_t> clock_step{clock_step_ms};
// The reading of this thread's clock for its next call.
std::int64_t tick_thread_clock() {
  thread_local std::int64_t calls = 0;
  std::int64_t& ms = thread_clock();
  if (++calls % clock_run == 0) ms += clock_run * clock_step.load(std::memory_order_relaxed);
  return ms;
}

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
      config, [] { return pv::timestamp{std::chrono::milliseconds{tick_thread_clock()}}; });
}

std::unique_ptr<pv::engine> shared_engine;
// Wrong guesses use one attempt each (255 per code here): 16384 live codes
// give 4 million full checks before any is exhausted.
constexpr std::size_t check_accounts = 16384;
const std::vector<std::size_t>& send_order() {
  static const std::vector<std::size_t> order = shuffled(corpus_size / 2);
  return order;
}
const std::vector<std::size_t>& check_order() {
  static const std::vector<std::size_t> order = shuffled(check_accounts / 2);
  return order;
}

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
  const std::vector<std::size_t>& order = send_order();
  const std::size_t base = static_cast<std::size_t>(state.thread_index()) * half;
  std::size_t i = 0;
  std::int64_t accepted = 0;
  for (auto _ : state) {
    const std::size_t k = base + order[i++ % half];
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
  const std::vector<std::size_t>& order = check_order();
  const std::size_t base = static_cast<std::size_t>(state.thread_index()) * half;
  std::size_t i = 0;
  std::int64_t rejected = 0;
  for (auto _ : state) {
    const std::size_t k = base + order[i++ % half];
    const auto r = shared_engine->bind_secure_mobile_phone({"000000", c.phones[k], c.accounts[k]}, f);
    rejected += !r.ok();
    std::size_t body_size = r.body().size();
    benchmark::DoNotOptimize(body_size);
  }
  state.counters["reject_rate"] = benchmark::Counter(static_cast<double>(rejected), benchmark::Counter::kAvgIterations);
  state.counters["decisions_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_check_engine)->Setup(setup_check)->Teardown(teardown)->Threads(1)->Threads(2)->UseRealTime();

// ---------------------------------------------------------------------------
// The pure core's equivalent of each engine call: the same steps 2-7 and the
// code (prepare, finish_send / finish_verify under a key ring of the same
// key), on state the benchmark holds in arrays indexed by the corpus entry,
// with the engine's default random source for the codes. No clock object,
// RequestId, store, lock or body: what the engine adds is the difference.

pv::engine_config core_config() {
  pv::engine_config config;
  config.policy.sites = pv::international_site_policy;
  config.key.fill(std::byte{0x3c});
  config.policy.code.max_attempts = 255;
  config.policy.code.max_consecutive_failures = 65535;
  return config;
}

struct core_state {
  pv::engine_config config = core_config();
  pv::key_ring keys{config.key};
  std::vector<pv::daily_usage> quotas;
  std::vector<pv::per_phone_state> windows;
  std::vector<pv::challenge> codes;
  std::atomic<std::uint64_t> decisions{0};
  core_state() : quotas(corpus_size), windows(corpus_size), codes(corpus_size) {}
};
std::unique_ptr<core_state> shared_core;

// One send of the core for corpus entry k at `now`; whether it issued a code.
bool core_send(core_state& s, std::size_t k, pv::timestamp now, pv::random_source& random) {
  const corpus& c = the_corpus();
  const pv::facts f = phoneverify::test::granting_facts("9999888877776666");
  const pv::send_verification_code_for_bind_secure_mobile_phone_request r{c.phones[k], c.accounts[k]};
  const pv::preparation prepared = pv::prepare(r, f, s.config.policy);
  if (!prepared) return false;
  pv::detail::source_generator rng{&random};
  const auto out = pv::finish_send(s.config.policy, s.keys, *prepared, {&s.quotas[k], &s.windows[k], &s.codes[k], nullptr},
                                   now, rng);
  return out.has_value() && !rng.failed;
}

pv::system_random_source core_random;

void setup_send_core(const benchmark::State&) {
  clock_step = clock_step_ms;
  shared_core = std::make_unique<core_state>();
}
void setup_check_core(const benchmark::State&) {
  clock_step = 0;
  shared_core = std::make_unique<core_state>();
  const pv::timestamp now{std::chrono::milliseconds{thread_clock()}};
  for (std::size_t k = 0; k < check_accounts; ++k)
    if (!core_send(*shared_core, k, now, core_random)) std::abort();
}
// Every decision measured was made and counted (no benchmark measured a refusal it did not expect).
void teardown_core(const benchmark::State&) {
  if (shared_core->decisions.load() == 0) std::abort();
  shared_core.reset();
}

void BM_send_core(benchmark::State& state) {
  core_state& s = *shared_core;
  const std::size_t half = corpus_size / 2;
  const std::vector<std::size_t>& order = send_order();
  const std::size_t base = static_cast<std::size_t>(state.thread_index()) * half;
  std::size_t i = 0;
  std::int64_t accepted = 0;
  for (auto _ : state) {
    const std::size_t k = base + order[i++ % half];
    accepted += core_send(s, k, pv::timestamp{std::chrono::milliseconds{tick_thread_clock()}}, core_random);
    benchmark::DoNotOptimize(s.codes[k]);
  }
  s.decisions += static_cast<std::uint64_t>(accepted);
  state.counters["accept_rate"] = benchmark::Counter(static_cast<double>(accepted), benchmark::Counter::kAvgIterations);
  state.counters["decisions_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_send_core)->Setup(setup_send_core)->Teardown(teardown_core)->Threads(1)->Threads(2)->UseRealTime();

void BM_check_core(benchmark::State& state) {
  core_state& s = *shared_core;
  const corpus& c = the_corpus();
  const pv::facts f = phoneverify::test::granting_facts("9999888877776666");
  const std::size_t half = check_accounts / 2;
  const std::vector<std::size_t>& order = check_order();
  const std::size_t base = static_cast<std::size_t>(state.thread_index()) * half;
  std::size_t i = 0;
  std::int64_t rejected = 0;
  for (auto _ : state) {
    const std::size_t k = base + order[i++ % half];
    const pv::timestamp now{std::chrono::milliseconds{thread_clock()}};
    const pv::bind_secure_mobile_phone_request r{"000000", c.phones[k], c.accounts[k]};
    const pv::preparation prepared = pv::prepare(r, f, s.config.policy);
    pv::verdict v{pv::action::bind_secure_mobile_phone};
    if (prepared) v = pv::finish_verify(s.config.policy, s.keys, *prepared, s.codes[k], now);
    rejected += v.reason() == pv::verdict_reason::code_rejected;
    benchmark::DoNotOptimize(v);
  }
  s.decisions += static_cast<std::uint64_t>(rejected);
  state.counters["reject_rate"] = benchmark::Counter(static_cast<double>(rejected), benchmark::Counter::kAvgIterations);
  state.counters["decisions_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_check_core)->Setup(setup_check_core)->Teardown(teardown_core)->Threads(1)->Threads(2)->UseRealTime();

// The console table as usual, and each repetition's wall and CPU time per
// decision kept (nanoseconds) for the summary, keyed by name and thread count.
class summary_reporter : public benchmark::ConsoleReporter {
 public:
  using benchmark::ConsoleReporter::ConsoleReporter;
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration || run.iterations == 0) continue;
      const double iterations = static_cast<double>(run.iterations);
      const std::pair<std::string, std::int64_t> key{run.run_name.function_name, run.threads};
      wall_ns[key].push_back(run.real_accumulated_time * 1e9 / iterations);
      cpu_ns[key].push_back(run.cpu_accumulated_time * 1e9 / iterations);
    }
  }
  // Wall time per decision of the process; CPU time per call on its thread
  // (the CPU of every thread over the decisions of every thread). One entry
  // per repetition.
  std::map<std::pair<std::string, std::int64_t>, std::vector<double>> wall_ns, cpu_ns;
};

// The median of a benchmark's repetitions (the upper one of an even count).
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// engine - core per call, in CPU time on the calling thread (a shared
// machine's other load lengthens wall time, not this), and the engine's
// 2-thread throughput over its 1-thread one (wall time: decisions per second
// of the process).
void print_summary(const summary_reporter& r) {
  std::printf("\nengine overhead over the pure core, same run, median of the repetitions"
              " (goal: <= 500 ns per call; 2 threads >= 1.7x)\n");
  const auto find = [](const auto& map, const std::string& name, std::int64_t threads) -> std::optional<double> {
    const auto it = map.find({name, threads});
    if (it == map.end() || it->second.empty()) return std::nullopt;
    return median(it->second);
  };
  for (const char* what : {"send", "check"}) {
    const std::string engine_name = std::string("BM_") + what + "_engine";
    const std::string core_name = std::string("BM_") + what + "_core";
    for (std::int64_t threads : {1, 2}) {
      const std::optional<double> e = find(r.cpu_ns, engine_name, threads), c = find(r.cpu_ns, core_name, threads);
      if (!e || !c) continue;
      std::printf("  %-5s threads:%lld  CPU per call: engine %6.0f ns, core %6.0f ns, engine - core %5.0f ns\n", what,
                  static_cast<long long>(threads), *e, *c, *e - *c);
    }
    const std::optional<double> one = find(r.wall_ns, engine_name, 1), two = find(r.wall_ns, engine_name, 2);
    const std::optional<double> core_one = find(r.wall_ns, core_name, 1), core_two = find(r.wall_ns, core_name, 2);
    if (one && two) std::printf("  %-5s 2-thread throughput / 1-thread: engine %.2fx", what, *one / *two);
    if (one && two && core_one && core_two) std::printf(", core %.2fx", *core_one / *core_two);
    if (one && two) std::printf("\n");
  }
}

}  // namespace

// Unless the command line says otherwise, each benchmark runs
// default_repetitions times, the repetitions of all of them interleaved in a
// random order: on a shared machine one run of each would compare two
// moments of the neighbours' load, the medians of interleaved repetitions
// compare the code.
constexpr const char* default_repetitions = "--benchmark_repetitions=5";
constexpr const char* default_interleaving = "--benchmark_enable_random_interleaving=true";

int main(int argc, char** argv) {
  bool tabular = false, repetitions = false, interleaving = false;
  std::vector<char*> args(argv, argv + argc);
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--benchmark_counters_tabular=true") tabular = true;
    if (arg.starts_with("--benchmark_repetitions")) repetitions = true;
    if (arg.starts_with("--benchmark_enable_random_interleaving")) interleaving = true;
  }
  std::string rep_flag = default_repetitions, interleave_flag = default_interleaving;
  if (!repetitions) args.push_back(rep_flag.data());
  if (!interleaving) args.push_back(interleave_flag.data());
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  summary_reporter reporter(tabular ? benchmark::ConsoleReporter::OO_ColorTabular : benchmark::ConsoleReporter::OO_Color);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter);
  benchmark::Shutdown();
  return 0;
}
