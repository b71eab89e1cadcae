// Benchmarks of actions.hpp: the pure check of a valid request for
// each action (goal: at most 100 ns), a full send (checks, limits and
// issue_code; goal: at most 2.5 us) and rendering a response (goal: at most
// 150 ns). Requests come from a fixed-seed corpus read through an opaque
// pointer; each benchmark reports its accept rate so the work is known.
#include <benchmark/benchmark.h>
#include <phoneverify/core.hpp>

#include <array>
#include <string>
#include <vector>

#include "../tests/support.hpp"

namespace pv = phoneverify;

namespace {

constexpr std::size_t corpus_size = 1024;

// Valid requests that differ in their digits, so nothing is folded.
struct corpus {
  std::vector<std::string> accounts, china_phones, uk_phones, compact_phones, contacts, spaces;
  corpus() {
    std::uint64_t x = 0x9E3779B97F4A7C15ULL;
    auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    for (std::size_t i = 0; i < corpus_size; ++i) {
      accounts.push_back(std::to_string(1'000'000'000'000'000ULL + next() % 8'999'999'999'999'999ULL));
      const std::string eight = std::to_string(10'000'000 + next() % 89'999'999);
      china_phones.push_back("86-139" + eight);
      uk_phones.push_back("44-79" + eight);
      compact_phones.push_back("4479" + eight);
      contacts.push_back("c-" + std::to_string(next()));
      spaces.push_back(std::to_string(next() % 1'000'000'000'000'000ULL + 1));
    }
  }
};
const corpus& the_corpus() {
  static const corpus c;
  return c;
}

pv::facts china_facts() { return phoneverify::test::granting_facts("9999888877776666"); }

template <class MakeRequest>
void run_check(benchmark::State& state, pv::facts f, MakeRequest make) {
  const corpus* c = &the_corpus();
  benchmark::DoNotOptimize(c);
  std::size_t i = 0;
  std::int64_t accepted = 0;
  for (auto _ : state) {
    const auto request = make(*c, i++ % corpus_size);
    const pv::verdict v = pv::check(request, f);
    accepted += v.ok();
    benchmark::DoNotOptimize(v);
  }
  state.counters["accept_rate"] = benchmark::Counter(static_cast<double>(accepted), benchmark::Counter::kAvgIterations);
}

void BM_check_send_bind_phoneverify(benchmark::State& state) {
  run_check(state, china_facts(), [](const corpus& c, std::size_t i) {
    return pv::send_verification_code_for_bind_secure_mobile_phone_request{c.china_phones[i], c.accounts[i]};
  });
}
void BM_check_bind_phoneverify(benchmark::State& state) {
  run_check(state, china_facts(), [](const corpus& c, std::size_t i) {
    return pv::bind_secure_mobile_phone_request{"123456", c.china_phones[i], c.accounts[i]};
  });
}
void BM_check_send_enable_rd_phoneverify(benchmark::State& state) {
  run_check(state, china_facts(), [](const corpus& c, std::size_t i) {
    return pv::send_verification_code_for_enable_rd_request{c.china_phones[i]};
  });
}
void BM_check_get_migration_verify_code_phoneverify(benchmark::State& state) {
  run_check(state, china_facts(), [](const corpus& c, std::size_t i) {
    return pv::get_migration_verify_code_request{c.spaces[i], c.compact_phones[i], "zh_CN", "sms"};
  });
}
void BM_check_message_contact_phoneverify(benchmark::State& state) {
  pv::facts f = china_facts();
  f.contact.phone = the_corpus().china_phones[0];
  run_check(state, f, [](const corpus& c, std::size_t i) {
    return pv::send_phone_verification_for_message_contact_request{c.contacts[i], c.china_phones[0]};
  });
}
void BM_check_enable_resource_directory_phoneverify(benchmark::State& state) {
  run_check(state, china_facts(), [](const corpus& c, std::size_t i) {
    return pv::enable_resource_directory_request{"NewManagementAccount", "admin@rdadmin.aliyunid.com",
                                                 c.china_phones[i], "123456"};
  });
}
void BM_check_chatapp_migration_verified_phoneverify(benchmark::State& state) {
  run_check(state, china_facts(), [](const corpus& c, std::size_t i) {
    return pv::chatapp_migration_verified_request{c.spaces[i], c.compact_phones[i], "123456"};
  });
}
BENCHMARK(BM_check_send_bind_phoneverify);
BENCHMARK(BM_check_bind_phoneverify);
BENCHMARK(BM_check_send_enable_rd_phoneverify);
BENCHMARK(BM_check_get_migration_verify_code_phoneverify);
BENCHMARK(BM_check_message_contact_phoneverify);
BENCHMARK(BM_check_enable_resource_directory_phoneverify);
BENCHMARK(BM_check_chatapp_migration_verified_phoneverify);

// A whole send of action 1 on fresh state per corpus entry (the accepted path:
// checks, resend interval, per-phone windows, daily quota, issue_code).
void BM_send_full_phoneverify(benchmark::State& state) {
  const corpus* c = &the_corpus();
  benchmark::DoNotOptimize(c);
  const pv::action_policy policy;
  pv::secret_key key;
  key.fill(std::byte{0x3c});
  const pv::facts f = china_facts();
  std::vector<pv::daily_usage> quotas(corpus_size);
  std::vector<pv::per_phone_state> windows(corpus_size);
  std::vector<pv::challenge> codes(corpus_size);
  phoneverify::test::splitmix64 rng{7};  // fast; production uses a CSPRNG
  // Each pass over the corpus is a day later, so every send is admitted.
  pv::timestamp now{std::chrono::milliseconds{1'700'000'000'000}};
  std::size_t i = 0;
  std::int64_t accepted = 0;
  for (auto _ : state) {
    const std::size_t k = i++ % corpus_size;
    if (k == 0) now += std::chrono::hours{25};
    const pv::send_verification_code_for_bind_secure_mobile_phone_request r{c->china_phones[k], c->accounts[k]};
    const auto out = pv::send(policy, key, r, f, {&quotas[k], &windows[k], &codes[k], nullptr}, now, rng);
    accepted += out.has_value();
    benchmark::DoNotOptimize(out);
    benchmark::DoNotOptimize(codes[k]);
  }
  state.counters["accept_rate"] = benchmark::Counter(static_cast<double>(accepted), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_send_full_phoneverify);

// Rendering: a verdict's error body and action 1's success body, JSON and XML.
void render_bench(benchmark::State& state, pv::body_format format, bool error) {
  std::array<char, 2048> buffer{};
  const pv::error_fields ef{"DCD43660-75DD-5D15-B342-1B83FCA5B913", "resourcemanager.aliyuncs.com", "", ""};
  const pv::success_fields sf{"DCD43660-75DD-5D15-B342-1B83FCA5B913", "2021-12-17T07:38:41.747Z", "", "", "", ""};
  std::int64_t ok = 0;
  for (auto _ : state) {
    const auto r = error ? pv::render_error(buffer, format, pv::action::bind_secure_mobile_phone,
                                            pv::errc::invalid_verification_code, ef)
                         : pv::render_success(buffer, format,
                                              pv::action::send_verification_code_for_bind_secure_mobile_phone, sf);
    ok += r.ok();
    benchmark::DoNotOptimize(buffer);
  }
  state.counters["accept_rate"] = benchmark::Counter(static_cast<double>(ok), benchmark::Counter::kAvgIterations);
}
void BM_render_error_json_phoneverify(benchmark::State& s) { render_bench(s, pv::body_format::json, true); }
void BM_render_error_xml_phoneverify(benchmark::State& s) { render_bench(s, pv::body_format::xml, true); }
void BM_render_success_json_phoneverify(benchmark::State& s) { render_bench(s, pv::body_format::json, false); }
void BM_render_success_xml_phoneverify(benchmark::State& s) { render_bench(s, pv::body_format::xml, false); }
BENCHMARK(BM_render_error_json_phoneverify);
BENCHMARK(BM_render_error_xml_phoneverify);
BENCHMARK(BM_render_success_json_phoneverify);
BENCHMARK(BM_render_success_xml_phoneverify);

}  // namespace

BENCHMARK_MAIN();
