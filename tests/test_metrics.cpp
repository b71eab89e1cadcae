// metrics.hpp and the engine's counters: every response counted once by
// action, wire code and reason; the figures operators read (sends, checks,
// refusals by limit, lockouts, store-full refusals, randomness failures, store
// occupancy); the Prometheus text in a caller buffer, and its size when the
// buffer is too small; exact counts under threads.
#include <catch2/catch.hpp>
#include <phoneverify/engine.hpp>
#include <phoneverify/metrics.hpp>

#include <atomic>
#include <bit>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "manual_clock.hpp"
#include "support.hpp"

namespace pv = phoneverify;
using pv::action;
using pv::errc;
using pv::verdict_reason;
using namespace std::chrono_literals;

namespace {

using metrics_clock = pv::test::manual_clock;

pv::engine_config metrics_config() {
  pv::engine_config config;
  for (std::size_t i = 0; i < config.key.size(); ++i) config.key[i] = static_cast<std::byte>(i + 29);
  config.capacity = 4096;
  config.shards = 16;
  return config;
}

pv::facts metrics_facts() { return pv::test::granting_facts_with_phone("9999888877776666", "86-13900001234"); }

struct failing_source final : pv::random_source {
  pv::seeded_random_source inner{91};
  std::atomic<bool> failing{false};
  std::optional<std::uint64_t> next() noexcept override {
    if (failing.load()) return std::nullopt;
    return inner.next();
  }
};

std::unique_ptr<pv::metrics_snapshot> metrics_of(const pv::engine& engine) {
  auto m = std::make_unique<pv::metrics_snapshot>();
  engine.metrics(*m);
  return m;
}

std::string rendered(const pv::metrics_snapshot& m) {
  std::string text(1 << 16, '\0');
  const pv::metrics_render_result r = pv::render_metrics(text, m);
  REQUIRE(r.ok());
  text.resize(r.size);
  return text;
}

bool has(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

constexpr action bind_send = action::send_verification_code_for_bind_secure_mobile_phone;
constexpr action bind = action::bind_secure_mobile_phone;
constexpr action cams_send = action::get_migration_verify_code;

}  // namespace

TEST_CASE("reason_name gives every verdict_reason a distinct identifier and nothing to a value that is no enumerator",
          "[metrics]") {
  std::set<std::string_view> names;
  for (std::size_t r = 0; r < pv::verdict_reason_count; ++r) {
    const std::string_view name = pv::reason_name(static_cast<verdict_reason>(r));
    CHECK(!name.empty());
    for (char c : name) CHECK(((c >= 'a' && c <= 'z') || c == '_'));
    names.insert(name);
  }
  CHECK(names.size() == pv::verdict_reason_count);
  CHECK(pv::reason_name(verdict_reason::daily_quota_exceeded) == "daily_quota_exceeded");
  CHECK(pv::reason_name(static_cast<verdict_reason>(pv::verdict_reason_count)).empty());
  static_assert(pv::reason_name(verdict_reason::invalid_fact) == "invalid_fact");
}

TEST_CASE("the engine counts every response once by action, wire code and reason", "[metrics][engine]") {
  metrics_clock clock;
  pv::engine engine(metrics_config(), clock.function(), std::make_shared<pv::seeded_random_source>(17));
  const pv::facts f = metrics_facts();
  const pv::send_verification_code_for_bind_secure_mobile_phone_request send{"86-13900001234", "1234567890123456"};
  std::uint64_t calls = 0;

  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone(send, f);
  ++calls;
  REQUIRE(sent.ok());
  REQUIRE(sent.code_to_deliver() != "000000");
  CHECK(engine.send_verification_code_for_bind_secure_mobile_phone(send, f).reason() ==
        verdict_reason::resend_too_soon);
  ++calls;
  CHECK(engine.bind_secure_mobile_phone({"000000", send.secure_mobile_phone, send.account_id}, f).reason() ==
        verdict_reason::code_rejected);
  ++calls;
  CHECK(engine.bind_secure_mobile_phone({sent.code_to_deliver(), send.secure_mobile_phone, send.account_id}, f).ok());
  ++calls;
  CHECK(engine.bind_secure_mobile_phone({sent.code_to_deliver(), send.secure_mobile_phone, send.account_id}, f)
            .verdict().code_status() == pv::check_status::used);
  ++calls;
  // A syntax error, and 11 CAMS requests in one second: the 11th is flow control.
  CHECK(engine.send_verification_code_for_bind_secure_mobile_phone({"86-1390000123x", "1234567890123456"}, f).error() ==
        errc::invalid_parameter);
  ++calls;
  for (int i = 0; i < 11; ++i, ++calls)
    engine.get_migration_verify_code({std::to_string(293483938841000 + i), "86138000" + std::to_string(10000 + i),
                                      "en", "sms"},
                                     f);

  const auto m = metrics_of(engine);
  CHECK(m->total() == calls);
  CHECK(m->response(bind_send, errc::ok, verdict_reason::ok) == 1);
  CHECK(m->response(bind_send, errc::send_validate_code_exceeds_limit_for_account, verdict_reason::resend_too_soon) == 1);
  CHECK(m->response(bind_send, errc::invalid_parameter, verdict_reason::bad_syntax) == 1);
  CHECK(m->response(bind, errc::invalid_verification_code, verdict_reason::code_rejected) == 2);
  CHECK(m->response(bind, errc::ok, verdict_reason::ok) == 1);
  CHECK(m->rejection(bind, pv::check_status::wrong_code) == 1);
  CHECK(m->rejection(bind, pv::check_status::used) == 1);
  CHECK(m->response(cams_send, errc::system_limit_control, verdict_reason::flow_control) == 1);
  CHECK(m->sends(bind_send) == 3);
  CHECK(m->codes_issued(bind_send) == 1);
  CHECK(m->sends(bind) == 0);
  CHECK(m->checks(bind) == 3);
  CHECK(m->checks(bind_send) == 0);
  CHECK(m->limit_refusals(bind_send, verdict_reason::resend_too_soon) == 1);
  CHECK(m->limit_refusals(cams_send, verdict_reason::flow_control) == 1);
  CHECK(m->limit_refusals() == 2);
  CHECK(m->randomness_failures == 0);
  // Occupancy: the engine's own stores, as engine_stats says.
  const pv::engine_stats stats = engine.stats();
  CHECK(m->has_stores);
  CHECK(m->stores[static_cast<std::size_t>(pv::store_kind::quota)].entries == stats.quotas);
  CHECK(m->stores[static_cast<std::size_t>(pv::store_kind::rate)].entries == stats.rates);
  CHECK(m->stores[static_cast<std::size_t>(pv::store_kind::windows)].entries == stats.windows);
  CHECK(m->stores[static_cast<std::size_t>(pv::store_kind::challenge)].entries == stats.challenges);
  for (const pv::store_occupancy& s : m->stores) CHECK(s.capacity == 4096);
  // Every other series is zero.
  std::uint64_t named = 0;
  for (auto [a, e, r] : {std::tuple{bind_send, errc::ok, verdict_reason::ok},
                         {bind_send, errc::send_validate_code_exceeds_limit_for_account, verdict_reason::resend_too_soon},
                         {bind_send, errc::invalid_parameter, verdict_reason::bad_syntax},
                         {bind, errc::invalid_verification_code, verdict_reason::code_rejected},
                         {bind, errc::ok, verdict_reason::ok},
                         {cams_send, errc::system_limit_control, verdict_reason::flow_control},
                         {cams_send, errc::ok, verdict_reason::ok}})
    named += m->response(a, e, r);
  CHECK(named == m->total());
}

TEST_CASE("metrics count lockouts, store-full refusals and randomness failures", "[metrics][engine]") {
  metrics_clock clock;
  auto config = metrics_config();
  config.capacity = 2;
  config.shards = 1;
  config.policy.code.max_consecutive_failures = 1;
  auto source = std::make_shared<failing_source>();
  pv::engine engine(config, clock.function(), source);
  const pv::facts f = metrics_facts();
  const pv::send_verification_code_for_bind_secure_mobile_phone_request send{"86-13900001234", "1234567890123456"};
  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone(send, f);
  REQUIRE(sent.ok());
  REQUIRE(sent.code_to_deliver() != "000000");
  // One wrong code locks the binding (max_consecutive_failures 1): the next
  // check answers locked, a send after the resend interval binding_locked.
  engine.bind_secure_mobile_phone({"000000", send.secure_mobile_phone, send.account_id}, f);
  CHECK(engine.bind_secure_mobile_phone({sent.code_to_deliver(), send.secure_mobile_phone, send.account_id}, f)
            .verdict().code_status() == pv::check_status::locked);
  clock.advance(2min);
  CHECK(engine.send_verification_code_for_bind_secure_mobile_phone(send, f).reason() == verdict_reason::binding_locked);
  // A failing source: a refused send, counted once.
  source->failing = true;
  CHECK(engine.send_verification_code_for_enable_rd({}, f).reason() == verdict_reason::randomness_unavailable);
  source->failing = false;
  // Capacity 2: a third live challenge finds the store full of live state.
  CHECK(engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001235", "1234567890123457"}, f).ok());
  const auto full = engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001236", "1234567890123458"}, f);
  CHECK(full.reason() == verdict_reason::state_unavailable);

  const auto m = metrics_of(engine);
  CHECK(m->lockouts(bind) == 1);
  CHECK(m->lockouts(bind_send) == 1);
  CHECK(m->rejection(bind, pv::check_status::locked) == 1);
  CHECK(m->store_full_refusals(bind_send) == 1);
  CHECK(m->response(bind_send, errc::send_validate_code_exceeds_limit_for_account, verdict_reason::state_unavailable) == 1);
  CHECK(m->randomness_failures == engine.stats().randomness_failures);
  CHECK(m->randomness_failures == 1);
  CHECK(m->with_reason(verdict_reason::randomness_unavailable) == 1);
  CHECK(m->stores[static_cast<std::size_t>(pv::store_kind::challenge)].entries == 2);

  const std::string text = rendered(*m);
  CHECK(has(text, "phoneverify_lockouts_total{action=\"BindSecureMobilePhone\"} 1\n"));
  CHECK(has(text, "phoneverify_store_full_refusals_total{action=\"SendVerificationCodeForBindSecureMobilePhone\"} 1\n"));
  CHECK(has(text, "phoneverify_randomness_failures_total 1\n"));
  CHECK(has(text, "phoneverify_code_rejections_total{action=\"BindSecureMobilePhone\",status=\"locked\"} 1\n"));
  CHECK(has(text, "phoneverify_store_entries{kind=\"challenge\"} 2\n"));
  CHECK(has(text, "phoneverify_store_capacity{kind=\"quota\"} 2\n"));
}

TEST_CASE("render_metrics writes the Prometheus text format and says the size a small buffer needs", "[metrics][render]") {
  auto m = std::make_unique<pv::metrics_snapshot>();
  m->responses[pv::detail::response_index(bind_send, errc::ok, verdict_reason::ok)] = 12;
  m->responses[pv::detail::response_index(bind, errc::invalid_verification_code, verdict_reason::code_rejected)] = 3;
  m->rejections[pv::detail::rejection_index(bind, pv::check_status::wrong_code)] = 3;
  m->randomness_failures = 18446744073709551615ULL;
  const std::string text = rendered(*m);
  CHECK(has(text, "# HELP phoneverify_responses_total "));
  CHECK(has(text, "# TYPE phoneverify_responses_total counter\n"));
  CHECK(has(text, "phoneverify_responses_total{action=\"SendVerificationCodeForBindSecureMobilePhone\",code=\"OK\","
                  "reason=\"ok\"} 12\n"));
  CHECK(has(text, "phoneverify_responses_total{action=\"BindSecureMobilePhone\",code=\"Invalid.VerificationCode\","
                  "reason=\"code_rejected\"} 3\n"));
  CHECK(has(text, "phoneverify_randomness_failures_total 18446744073709551615\n"));
  CHECK(has(text, "phoneverify_sends_total{action=\"GetMigrationVerifyCode\"} 0\n"));
  CHECK(has(text, "phoneverify_checks_total{action=\"BindSecureMobilePhone\"} 3\n"));
  CHECK(!has(text, "phoneverify_store_entries"));  // no stores: an engine without local state renders none
  // Only the two non-zero series of the sparse family.
  std::size_t series = 0;
  for (std::size_t at = text.find("\nphoneverify_responses_total{"); at != std::string::npos;
       at = text.find("\nphoneverify_responses_total{", at + 1))
    ++series;
  CHECK(series == 2);
  // Every line is a comment or `name{labels} value`, and the text ends with a newline.
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  // A buffer of every size below the text's is too small and says the size needed; the exact size fits.
  std::string buffer(text.size(), '\0');
  for (std::size_t n = 0; n < text.size(); ++n) {
    const pv::metrics_render_result r = pv::render_metrics(std::span<char>(buffer.data(), n), *m);
    CHECK(r.status == pv::metrics_render_status::buffer_too_small);
    CHECK(r.size == text.size());
  }
  const pv::metrics_render_result exact = pv::render_metrics(buffer, *m);
  CHECK(exact.ok());
  CHECK(buffer == text);
}

TEST_CASE("the engine's counters stay exact under 4 threads", "[metrics][concurrency]") {
  metrics_clock clock;
  auto config = metrics_config();
  config.policy.code.resend_interval = 0s;
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(23));
  constexpr int per_thread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      const pv::facts f = metrics_facts();
      for (int i = 0; i < per_thread; ++i) {
        const std::string account = std::to_string(1234567890000000 + t * 1000 + i);
        const std::string phone = "86-139" + std::to_string(10000000 + t * 1000 + i);
        const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone({phone, account}, f);
        engine.bind_secure_mobile_phone({sent.code_to_deliver(), phone, account}, f);
      }
    });
  for (auto& th : threads) th.join();
  const auto m = metrics_of(engine);
  CHECK(m->total() == 4 * 2 * per_thread);
  CHECK(m->codes_issued(bind_send) == 4 * per_thread);
  CHECK(m->response(bind, errc::ok, verdict_reason::ok) == 4 * per_thread);
}

TEST_CASE("metrics_counters adds up its stripes: counts from more threads than stripes are read exactly",
          "[metrics][concurrency]") {
  pv::metrics_counters counters;
  const std::size_t stripes = counters.stripes();
  CHECK(std::has_single_bit(stripes));
  CHECK(stripes <= 16);
  const int threads = static_cast<int>(stripes) * 2 + 1;  // some threads share a stripe, some CPUs too
  constexpr std::uint64_t per_thread = 3000;
  const pv::verdict issued{bind_send};
  const pv::verdict rejected =
      pv::detail::make_verdict(bind, errc::invalid_verification_code, pv::check_step::code, verdict_reason::code_rejected,
                               pv::info(bind).code_parameter, static_cast<std::uint8_t>(pv::check_status::wrong_code));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        counters.count(issued);
        counters.count(rejected);
      }
    });
  for (auto& th : pool) th.join();
  const auto n = static_cast<std::uint64_t>(threads) * per_thread;
  auto m = std::make_unique<pv::metrics_snapshot>();
  m->responses.fill(7);  // read() overwrites what was there
  counters.read(*m);
  CHECK(m->codes_issued(bind_send) == n);
  CHECK(m->rejection(bind, pv::check_status::wrong_code) == n);
  CHECK(m->response(bind, errc::invalid_verification_code, verdict_reason::code_rejected) == n);
  CHECK(m->total() == 2 * n);
  counters.read(*m);  // reading again gives the same figures, not their double
  CHECK(m->total() == 2 * n);
  CHECK(m->rejection(bind, pv::check_status::wrong_code) == n);
}
