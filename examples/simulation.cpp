// The main job: replays a seeded synthetic workload (examples/simulation.hpp)
// through the embedded engine from several threads, shows a progress line,
// then prints the verdicts per action and error, the throughput and the
// p50/p99 latency per decision, the engine's metrics in the Prometheus text
// format, and checks the totals against an independent single-threaded replay
// on the pure core. With --fleet (built where phoneverify::redis exists) it
// then starts its own redis-server on a unix socket in a temporary directory
// and runs the same workload through the fleet engine (fleet_engine.hpp),
// printing the same table and its throughput; its totals must equal the
// embedded run's (RULES.md, "Beyond the rules: the fleet").
//
// Usage: example_simulation [--scenarios N] [--seed S] [--threads T] [--fleet]
#include "simulation.hpp"

#if PHONEVERIFY_SIMULATION_FLEET
#include <phoneverify/fleet_engine.hpp>
#include <phoneverify/redis.hpp>

#include "../tests/fleet/redis_server.hpp"
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace pv = phoneverify;

namespace {

struct options {
  std::uint32_t scenarios = 40'000;
  std::uint64_t seed = 2026;
  unsigned threads = 2;
  bool fleet = false;
};

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--fleet") == 0) o.fleet = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--scenarios") == 0) o.scenarios = static_cast<std::uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    else if (std::strcmp(argv[i], "--seed") == 0) o.seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--threads") == 0) o.threads = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
  }
  if (o.threads == 0) o.threads = 1;
  return o;
}

// An engine backend, timing each decision.
template <class Engine>
struct timed_backend : simulation::basic_engine_backend<Engine> {
  using base = simulation::basic_engine_backend<Engine>;
  std::vector<std::uint32_t>* latencies;
  template <class F>
  simulation::answer timed(F&& f) {
    const auto start = std::chrono::steady_clock::now();
    simulation::answer a = f();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
    latencies->push_back(static_cast<std::uint32_t>(std::min<long long>(ns.count(), 0xFFFFFFFFLL)));
    return a;
  }
  simulation::answer send_bind(const pv::send_verification_code_for_bind_secure_mobile_phone_request& r, const pv::facts& f) {
    return timed([&] { return base::send_bind(r, f); });
  }
  simulation::answer bind(const pv::bind_secure_mobile_phone_request& r, const pv::facts& f) {
    return timed([&] { return base::bind(r, f); });
  }
  simulation::answer send_enable_rd(const pv::send_verification_code_for_enable_rd_request& r, const pv::facts& f) {
    return timed([&] { return base::send_enable_rd(r, f); });
  }
  simulation::answer enable_rd(const pv::enable_resource_directory_request& r, const pv::facts& f) {
    return timed([&] { return base::enable_rd(r, f); });
  }
  simulation::answer cams_send(const pv::get_migration_verify_code_request& r, const pv::facts& f) {
    return timed([&] { return base::cams_send(r, f); });
  }
  simulation::answer cams_verify(const pv::chatapp_migration_verified_request& r, const pv::facts& f) {
    return timed([&] { return base::cams_verify(r, f); });
  }
  simulation::answer send_contact(const pv::send_phone_verification_for_message_contact_request& r, const pv::facts& f) {
    return timed([&] { return base::send_contact(r, f); });
  }
};

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}


struct run_result {
  simulation::tally totals;
  bool ok = true;
};

// Runs every scenario through `engine` from opt.threads threads and prints
// the verdict table, the throughput and the latency.
template <class Engine>
run_result run_workload(Engine& engine, const options& opt, const std::vector<simulation::scenario>& scenarios,
                        const char* what) {
  std::printf("phoneverify simulation on %s: %u scenarios, seed %llu, %u threads, international site\n", what,
              opt.scenarios, static_cast<unsigned long long>(opt.seed), opt.threads);
  std::vector<simulation::tally> tallies(opt.threads);
  std::vector<std::vector<std::uint32_t>> latencies(opt.threads);
  std::atomic<std::uint32_t> done{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < opt.threads; ++t) {
    pool.emplace_back([&, t] {
      latencies[t].reserve(opt.scenarios * 6 / opt.threads + 16);
      timed_backend<Engine> backend{{engine}, &latencies[t]};
      for (std::size_t i = t; i < scenarios.size(); i += opt.threads) {
        simulation::run_scenario(backend, scenarios[i], tallies[t]);
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // The progress line, until every thread is done.
  std::thread progress([&] {
    while (done.load() < opt.scenarios) {
      const unsigned pct = static_cast<unsigned>(100ull * done.load() / std::max(1u, opt.scenarios));
      std::printf("\r  running: %3u%% [%-40.*s] %u/%u scenarios", pct, static_cast<int>(pct * 40 / 100),
                  "########################################", done.load(), opt.scenarios);
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::printf("\r  running: 100%% [########################################] %u/%u scenarios\n", opt.scenarios,
                opt.scenarios);
  });
  for (auto& th : pool) th.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.join();

  run_result out;
  std::vector<std::uint32_t> all;
  for (unsigned t = 0; t < opt.threads; ++t) {
    simulation::merge(out.totals, tallies[t]);
    all.insert(all.end(), latencies[t].begin(), latencies[t].end());
  }
  std::uint64_t decisions = 0;
  for (const auto& [key, count] : out.totals) decisions += count;

  std::printf("\nverdicts per action and error:\n");
  std::printf("  %-46s %-46s %6s %9s\n", "action", "verdict", "status", "count");
  for (const auto& [key, count] : out.totals) {
    const auto [a, e] = key;
    const auto name = pv::action_name(a);
    const auto code = e == pv::errc::ok ? std::string_view("ok") : pv::code_string(e);
    std::printf("  %-46.*s %-46.*s %6d %9llu\n", static_cast<int>(name.size()), name.data(), static_cast<int>(code.size()),
                code.data(), pv::http_status(e, a), static_cast<unsigned long long>(count));
  }
  const double p50 = percentile(all, 0.50), p99 = percentile(all, 0.99);
  std::printf("\n%llu decisions in %.3f s from %u threads: %.0f decisions/s\n",
              static_cast<unsigned long long>(decisions), seconds, opt.threads, static_cast<double>(decisions) / seconds);
  std::printf("latency per decision (engine call, rendering included): p50 %.0f ns, p99 %.0f ns\n", p50, p99);
  return out;
}

#if PHONEVERIFY_SIMULATION_FLEET
// The same workload on the fleet engine, against a redis-server this program
// starts (and stops) itself; its totals must equal the embedded run's.
bool run_fleet(const options& opt, const std::vector<simulation::scenario>& scenarios,
               const simulation::tally& embedded) {
  pv::test::redis_server server;
  if (!server.ok()) {
    std::printf("fleet: redis-server did not start: %s\n", server.error().c_str());
    return false;
  }
  namespace fleet = pv::fleet;
  fleet::fleet_config config;
  config.engine = simulation::simulation_config(std::max<std::size_t>(8 * opt.scenarios, 4096));
  config.deployment = "simulation";
  for (std::size_t i = 0; i < config.key_name_key.size(); ++i) config.key_name_key[i] = static_cast<std::byte>(0x3C ^ i);
  pv::redis::options where;
  where.unix_socket = server.socket_path();
  auto built = fleet::fleet_engine::create(config, std::make_shared<pv::redis::pool>(where),
                                           std::make_shared<pv::system_random_source>(),
                                           [] { return simulation::thread_time(); });
  if (!built) {
    std::printf("fleet: %s\n", describe(built.error()).c_str());
    return false;
  }
  const run_result fleet_run = run_workload(*built, opt, scenarios, "the fleet engine (a local redis-server)");
  const bool match = fleet_run.totals == embedded;
  std::printf("fleet engine against the embedded engine, same seed: totals %s\n", match ? "match" : "DIFFER");
  return match;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  const auto scenarios = simulation::make_scenarios(opt.seed, opt.scenarios);
  // Room for every key of the run: eviction never has to decide between two
  // threads' simulated clocks, so the totals are the replay's exactly.
  pv::engine engine(simulation::simulation_config(std::max<std::size_t>(8 * opt.scenarios, 4096)),
                    [] { return simulation::thread_time(); });
  const run_result embedded = run_workload(engine, opt, scenarios, "the embedded engine");
  const auto stats = engine.stats();
  std::printf("engine state: %zu quotas, %zu rates, %zu phone windows, %zu challenges (capacity %zu each)\n",
              stats.quotas, stats.rates, stats.windows, stats.challenges, engine.config().capacity);

  // The engine's own counters (metrics.hpp) in the Prometheus text format, as
  // a service would serve them on /metrics; tests/metrics/check_metrics.py
  // parses this block and checks it against the verdict table above.
  simulation::print_metrics(engine);

  const simulation::tally expected = simulation::replay(opt.seed, opt.scenarios);
  bool match = expected == embedded.totals;
  std::printf("independent single-threaded replay on the pure core: totals %s\n", match ? "match" : "DIFFER");
  if (opt.fleet) {
#if PHONEVERIFY_SIMULATION_FLEET
    std::printf("\n");
    match = run_fleet(opt, scenarios, embedded.totals) && match;
#else
    std::printf("--fleet: this build has no phoneverify::redis (hiredis not found)\n");
    match = false;
#endif
  }
  return match ? 0 : 1;
}
