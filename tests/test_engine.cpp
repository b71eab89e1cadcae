// The embedded engine (engine.hpp): the flows end to end with rendered
// bodies, capacity that never forgets spent budget, and concurrency.
#include <catch2/catch.hpp>
#include <phoneverify/engine.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace pv = phoneverify;
using pv::errc;
using namespace std::chrono_literals;

namespace {

// A clock the test moves by hand; safe from several threads.
struct manual_clock {
  std::shared_ptr<std::atomic<std::int64_t>> ms = std::make_shared<std::atomic<std::int64_t>>(1'700'000'000'000);
  pv::timestamp now() const { return pv::timestamp{std::chrono::milliseconds{ms->load()}}; }
  void advance(std::chrono::milliseconds d) const { ms->fetch_add(d.count()); }
  pv::clock_function function() const {
    auto shared = ms;
    return [shared] { return pv::timestamp{std::chrono::milliseconds{shared->load()}}; };
  }
};

pv::engine_config test_config() {
  pv::engine_config config;
  for (std::size_t i = 0; i < config.key.size(); ++i) config.key[i] = static_cast<std::byte>(i + 11);
  config.capacity = 4096;
  config.shards = 16;
  return config;
}

pv::facts facts_for(std::string_view caller = "9999888877776666") {
  pv::facts f;
  f.caller.account_id = caller;
  f.account.secure_phone = "86-13900001234";
  f.contact.phone = "86-13900001234";
  return f;
}

}  // namespace

TEST_CASE("the engine sends a code and binds the phone with it, rendering both bodies", "[engine]") {
  manual_clock clock;
  pv::engine engine(test_config(), clock.function(), std::make_shared<pv::seeded_random_source>(1));
  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", "1234567890123456"},
                                                                                facts_for());
  REQUIRE(sent.ok());
  CHECK(sent.code.code.size() == 6);
  CHECK(sent.request_id.size() == 36);
  CHECK(sent.body().find("\"ExpirationDate\"") != std::string_view::npos);
  CHECK(sent.body().find(pv::format_iso8601(clock.now() + 5min).view()) != std::string_view::npos);
  CHECK(sent.body().find(sent.code.code.view()) == std::string_view::npos);  // the code never goes on the wire

  clock.advance(10s);
  const auto bound =
      engine.bind_secure_mobile_phone({sent.code.code.view(), "86-13900001234", "1234567890123456"}, facts_for());
  CHECK(bound.ok());
  CHECK(bound.body().find(bound.request_id.view()) != std::string_view::npos);

  const auto again =
      engine.bind_secure_mobile_phone({sent.code.code.view(), "86-13900001234", "1234567890123456"}, facts_for());
  CHECK(again.v.code == errc::invalid_verification_code);
  CHECK(again.body().find("\"Code\":\"Invalid.VerificationCode\"") != std::string_view::npos);
}

TEST_CASE("the engine renders XML when configured and names the parameter of a common error", "[engine]") {
  auto config = test_config();
  config.format = pv::body_format::xml;
  pv::engine engine(config, manual_clock{}.function(), std::make_shared<pv::seeded_random_source>(2));
  const auto out = engine.send_verification_code_for_bind_secure_mobile_phone({"", "1234567890123456"}, facts_for());
  CHECK(out.v.code == errc::missing_parameter);
  CHECK(out.body().starts_with("<?xml"));
  CHECK(out.body().find("<Code>MissingParameter</Code>") != std::string_view::npos);
  CHECK(out.body().find("SecureMobilePhone") != std::string_view::npos);
}

TEST_CASE("the engine keeps every state kind: quota, flow control, windows and challenges", "[engine]") {
  manual_clock clock;
  pv::engine engine(test_config(), clock.function(), std::make_shared<pv::seeded_random_source>(3));
  // CAMS: 10 per second per user, then System.LimitControl.
  for (int i = 0; i < 10; ++i) engine.get_migration_verify_code({"1", "x", "", ""}, facts_for());
  const auto limited = engine.get_migration_verify_code({"293483938841234", "8613800001234", "en", "sms"}, facts_for());
  CHECK(limited.v.code == errc::system_limit_control);
  CHECK(limited.v.step == pv::check_step::flow_control);
  // Resend interval on a binding.
  REQUIRE(engine.send_verification_code_for_enable_rd({}, facts_for()).ok());
  const auto resend = engine.send_verification_code_for_enable_rd({}, facts_for());
  CHECK(resend.v.code == errc::send_validate_code_exceeds_limit_for_account);
  CHECK(resend.v.reason == pv::verdict_reason::resend_too_soon);
  const auto stats = engine.stats();
  CHECK(stats.rates == 1);
  CHECK(stats.challenges == 1);
  CHECK(stats.windows == 1);
  CHECK(stats.quotas == 1);
}

TEST_CASE("a full engine refuses new keys instead of forgetting spent budget", "[engine][capacity]") {
  manual_clock clock;
  auto config = test_config();
  config.capacity = 4;
  config.shards = 1;
  config.policy.daily.limit = 1;
  config.policy.code.resend_interval = 0s;
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(4));
  auto send_for = [&](int account) {
    const std::string id = std::to_string(1000000000000000 + account);
    const std::string phone = "86-1390000" + std::to_string(1000 + account);
    return engine.send_verification_code_for_bind_secure_mobile_phone({phone, id}, facts_for());
  };
  for (int i = 0; i < 4; ++i) REQUIRE(send_for(i).ok());
  // The fifth account finds every store full of live state: refused, fail closed.
  const auto fifth = send_for(4);
  CHECK(fifth.v.code == errc::send_validate_code_exceeds_limit_for_account);
  CHECK(fifth.v.reason == pv::verdict_reason::state_unavailable);
  // The four that spent their quota are still refused: nothing was forgotten.
  for (int i = 0; i < 4; ++i) {
    clock.advance(2min);  // past the 1-per-minute phone window
    const auto again = send_for(i);
    CHECK(again.v.code == errc::send_validate_code_exceeds_limit_for_account);
    CHECK(again.v.reason == pv::verdict_reason::daily_quota_exceeded);
  }
  // The next day at UTC+8 every entry is dead: new keys get in, evicting them.
  clock.advance(24h);
  CHECK(send_for(4).ok());
  CHECK(send_for(5).ok());
  CHECK(engine.stats().quotas <= 4);
}

TEST_CASE("a challenge with failures is never evicted, so the lockout count survives a full store", "[engine][capacity]") {
  manual_clock clock;
  auto config = test_config();
  config.capacity = 2;
  config.shards = 1;
  config.policy.code.max_consecutive_failures = 3;
  config.policy.code.resend_interval = 0s;
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(5));
  const pv::bind_secure_mobile_phone_request wrong{"000000", "86-13900001234", "1234567890123456"};
  auto sent = engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", "1234567890123456"},
                                                                          facts_for());
  REQUIRE(sent.ok());
  REQUIRE(sent.code.code.view() != "000000");  // seeded: the drawn code is fixed
  engine.bind_secure_mobile_phone(wrong, facts_for());
  clock.advance(1h);  // the code expired; one consecutive failure remains
  engine.evict_dead();
  CHECK(engine.stats().challenges == 1);
}

TEST_CASE("4 threads never exceed the daily quota or the phone windows and never accept a code twice",
          "[engine][concurrency]") {
  manual_clock clock;
  auto config = test_config();
  config.policy.daily.limit = 7;
  config.policy.code.resend_interval = 0s;
  config.policy.per_phone = {{{2, 1000ms}, {4, 60'000ms}, {6, 3'600'000ms}}};
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(6));
  constexpr int accounts = 24;
  constexpr int threads = 4;
  constexpr int rounds = 150;
  std::mutex log_mutex;
  std::map<int, int> sends_per_account;
  std::map<int, std::vector<std::int64_t>> sends_per_phone;
  std::atomic<int> accepted_binds{0};
  std::map<std::string, int> accepted_per_code;
  // The threads race within a round; the clock moves only between rounds, so
  // the time a send was issued is the time its limits were charged at (a
  // request that read the clock before another moved it is charged at the
  // later time, RULES.md §4, which the log could not see).
  pv::test::splitmix64 clock_rng{99};
  std::barrier round_end(threads, [&]() noexcept {
    clock.advance(std::chrono::milliseconds{static_cast<std::int64_t>(clock_rng() % 700)});
  });
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      pv::test::splitmix64 rng{static_cast<std::uint64_t>(t) + 100};
      for (int i = 0; i < rounds; ++i) {
        const int account = static_cast<int>(rng() % accounts);
        const int phone = account % 6;  // several accounts share a phone
        const std::string id = std::to_string(1000000000000000 + account);
        const std::string number = "86-1390000" + std::to_string(1000 + phone);
        const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone({number, id}, facts_for());
        if (sent.ok()) {
          std::lock_guard<std::mutex> lock(log_mutex);
          ++sends_per_account[account];
          sends_per_phone[phone].push_back(sent.code.expires_at.time_since_epoch().count() - 300'000);
        }
        if (sent.ok()) {
          // Two binds race with the same code: at most one wins.
          for (int k = 0; k < 2; ++k) {
            const auto bound = engine.bind_secure_mobile_phone({sent.code.code.view(), number, id}, facts_for());
            if (bound.ok()) {
              accepted_binds.fetch_add(1);
              std::lock_guard<std::mutex> lock(log_mutex);
              ++accepted_per_code[id + ":" + std::string(sent.code.code.view()) + ":" +
                                  std::to_string(sent.code.expires_at.time_since_epoch().count())];
            }
          }
        }
        round_end.arrive_and_wait();
      }
    });
  }
  for (auto& th : pool) th.join();
  // Daily quota: the whole run is within one day.
  for (const auto& [account, count] : sends_per_account) CHECK(count <= 7);
  // Windows: at most 2 per second, 4 per minute, 6 per hour for each phone.
  for (auto& entry : sends_per_phone) {
    std::vector<std::int64_t>& times = entry.second;
    std::sort(times.begin(), times.end());
    for (std::size_t i = 0; i < times.size(); ++i) {
      auto in_window = [&](std::int64_t w) {
        return std::count_if(times.begin(), times.end(), [&](std::int64_t x) { return x >= times[i] && x < times[i] + w; });
      };
      CHECK(in_window(1000) <= 2);
      CHECK(in_window(60'000) <= 4);
      CHECK(in_window(3'600'000) <= 6);
    }
  }
  for (const auto& [code, count] : accepted_per_code) CHECK(count == 1);
  CHECK(accepted_binds.load() > 0);
}
