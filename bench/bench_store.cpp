// bench_store: the engine's building blocks.
//   - sharded_store::update() latency and throughput at 1 and 2 threads (the
//     engine must scale to >= 1.6x at 2 threads), against one std::mutex
//     around a std::unordered_map, the obvious alternative;
//   - the keyed hash (SipHash-2-4) of a phone-number-sized key;
//   - the random source: chacha20_generator and system_random per 64-bit output.
// The key corpus is fixed-seed; items_per_second is the figure to compare.
#include <benchmark/benchmark.h>
#include <phoneverify/random.hpp>
#include <phoneverify/store.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pv = phoneverify;

namespace {

// A state the size of the library's challenge (64 bytes).
struct state64 {
  std::uint64_t counter;
  std::array<std::uint64_t, 7> rest;
};

constexpr std::size_t corpus_size = 1 << 16;

// Phone-number-like keys ("86-139xxxxxxxx", 14 bytes), fixed seed.
const std::vector<std::string>& corpus() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    out.reserve(corpus_size);
    std::uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (std::size_t i = 0; i < corpus_size; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      char buf[32];
      std::snprintf(buf, sizeof buf, "86-139%08llu", static_cast<unsigned long long>(x % 100000000ULL));
      out.emplace_back(buf);
    }
    return out;
  }();
  return keys;
}

// A fixed-seed permutation of the corpus: requests arrive in an order
// unrelated to insertion, so neither container gets a prefetch-friendly walk.
const std::vector<std::uint32_t>& request_order() {
  static const std::vector<std::uint32_t> order = [] {
    std::vector<std::uint32_t> out(corpus_size);
    for (std::size_t i = 0; i < corpus_size; ++i) out[i] = static_cast<std::uint32_t>(i);
    std::uint64_t x = 0x2545F4914F6CDD1DULL;
    for (std::size_t i = corpus_size - 1; i > 0; --i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      std::swap(out[i], out[static_cast<std::size_t>(x % (i + 1))]);
    }
    return out;
  }();
  return order;
}

constexpr pv::store_hash_key bench_hash_key{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                                            std::byte{5}, std::byte{6}, std::byte{7}, std::byte{8},
                                            std::byte{9}, std::byte{10}, std::byte{11}, std::byte{12},
                                            std::byte{13}, std::byte{14}, std::byte{15}, std::byte{16}};

pv::sharded_store<state64>& shared_store() {
  // 25% headroom over the live keys, as an engine would be configured.
  static pv::sharded_store<state64> store(corpus_size + corpus_size / 4, bench_hash_key, pv::default_store_shards);
  return store;
}

// update() on keys that already exist (the steady state of an engine).
void BM_update_sharded_store(benchmark::State& state) {
  auto& store = shared_store();
  const auto& keys = corpus();
  const auto& order = request_order();
  if (state.thread_index() == 0)
    for (const auto& k : keys) store.update(k, pv::timestamp{}, [](state64& v) { ++v.counter; });
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  std::uint64_t accepted = 0;
  for (auto _ : state) {
    const auto r = store.update(keys[order[i & (corpus_size - 1)]], pv::timestamp{}, [](state64& v) { return ++v.counter; });
    accepted += r.ok() ? 1u : 0u;
    benchmark::DoNotOptimize(r);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["accept_rate"] = benchmark::Counter(
      static_cast<double>(accepted) / static_cast<double>(state.iterations()), benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_update_sharded_store)->Threads(1)->Threads(2)->UseRealTime();

// The same work under one lock: what sharding buys.
struct single_lock_map {
  std::mutex mutex;
  std::unordered_map<std::string, state64> map;
};
single_lock_map& shared_single() {
  static single_lock_map m;
  return m;
}

void BM_update_single_mutex_unordered_map(benchmark::State& state) {
  auto& m = shared_single();
  const auto& keys = corpus();
  const auto& order = request_order();
  if (state.thread_index() == 0) {
    std::lock_guard<std::mutex> lock(m.mutex);
    for (const auto& k : keys) ++m.map[k].counter;
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    std::uint64_t v = 0;
    {
      std::lock_guard<std::mutex> lock(m.mutex);
      // The corpus holds std::string keys: no allocation per lookup.
      v = ++m.map[keys[order[i & (corpus_size - 1)]]].counter;
    }
    benchmark::DoNotOptimize(v);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["accept_rate"] = benchmark::Counter(1.0, benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_update_single_mutex_unordered_map)->Threads(1)->Threads(2)->UseRealTime();

void BM_siphash24_phone_key(benchmark::State& state) {
  const auto& keys = corpus();
  const auto key = pv::detail::siphash_key_from_bytes(bench_hash_key);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(pv::detail::siphash24(key, keys[i & (corpus_size - 1)]));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
// Also at 2 threads: pure computation, no shared state, so its 2-thread
// speed-up is what the machine gives; compare the store's speed-up with it.
BENCHMARK(BM_siphash24_phone_key)->Threads(1)->Threads(2)->UseRealTime();

void BM_random_chacha20_generator(benchmark::State& state) {
  pv::chacha20_generator g(pv::chacha20_generator::key_type{std::byte{1}});
  for (auto _ : state) benchmark::DoNotOptimize(g());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 8);
}
BENCHMARK(BM_random_chacha20_generator);

void BM_random_system_random(benchmark::State& state) {
  pv::system_random g;
  for (auto _ : state) benchmark::DoNotOptimize(g());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 8);
}
BENCHMARK(BM_random_system_random);

}  // namespace

BENCHMARK_MAIN();
