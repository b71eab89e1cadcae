// The embedded engine (engine.hpp): the flows end to end with rendered
// bodies, capacity that never forgets spent budget, and concurrency.
#include <catch2/catch.hpp>
#include <phoneverify/engine.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "manual_clock.hpp"
#include "support.hpp"

namespace pv = phoneverify;
using pv::errc;
using namespace std::chrono_literals;

namespace {

using pv::test::manual_clock;

pv::engine_config test_config() {
  pv::engine_config config;
  for (std::size_t i = 0; i < config.key.size(); ++i) config.key[i] = static_cast<std::byte>(i + 11);
  config.capacity = 4096;
  config.shards = 16;
  return config;
}

pv::facts facts_for(std::string_view caller = "9999888877776666") {
  return pv::test::granting_facts_with_phone(caller, "86-13900001234");
}

// Whether `text` contains `part`.
bool has(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace

TEST_CASE("the engine sends a code and binds the phone with it, rendering both bodies", "[engine]") {
  manual_clock clock;
  pv::engine engine(test_config(), clock.function(), std::make_shared<pv::seeded_random_source>(1));
  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", "1234567890123456"},
                                                                                facts_for());
  REQUIRE(sent.ok());
  CHECK(sent.code_to_deliver().size() == 6);
  CHECK(sent.request_id().size() == 36);
  CHECK(sent.body().find("\"ExpirationDate\"") != std::string_view::npos);
  CHECK(sent.body().find(pv::format_iso8601(clock.now() + 5min).view()) != std::string_view::npos);
  CHECK(sent.body().find(sent.code_to_deliver()) == std::string_view::npos);  // the code never goes on the wire

  clock.advance(10s);
  const auto bound =
      engine.bind_secure_mobile_phone({sent.code_to_deliver(), "86-13900001234", "1234567890123456"}, facts_for());
  CHECK(bound.ok());
  CHECK(bound.body().find(bound.request_id()) != std::string_view::npos);

  const auto again =
      engine.bind_secure_mobile_phone({sent.code_to_deliver(), "86-13900001234", "1234567890123456"}, facts_for());
  CHECK(again.error() == errc::invalid_verification_code);
  CHECK(again.body().find("\"Code\":\"Invalid.VerificationCode\"") != std::string_view::npos);
}

TEST_CASE("the engine renders XML when configured and names the parameter of a common error", "[engine]") {
  auto config = test_config();
  config.format = pv::body_format::xml;
  pv::engine engine(config, manual_clock{}.function(), std::make_shared<pv::seeded_random_source>(2));
  const auto out = engine.send_verification_code_for_bind_secure_mobile_phone({"", "1234567890123456"}, facts_for());
  CHECK(out.error() == errc::missing_parameter);
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
  CHECK(limited.error() == errc::system_limit_control);
  CHECK(limited.verdict().step() == pv::check_step::flow_control);
  // Resend interval on a binding.
  REQUIRE(engine.send_verification_code_for_enable_rd({}, facts_for()).ok());
  const auto resend = engine.send_verification_code_for_enable_rd({}, facts_for());
  CHECK(resend.error() == errc::send_validate_code_exceeds_limit_for_account);
  CHECK(resend.reason() == pv::verdict_reason::resend_too_soon);
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
  CHECK(fifth.error() == errc::send_validate_code_exceeds_limit_for_account);
  CHECK(fifth.reason() == pv::verdict_reason::state_unavailable);
  // The four that spent their quota are still refused: nothing was forgotten.
  for (int i = 0; i < 4; ++i) {
    clock.advance(2min);  // past the 1-per-minute phone window
    const auto again = send_for(i);
    CHECK(again.error() == errc::send_validate_code_exceeds_limit_for_account);
    CHECK(again.reason() == pv::verdict_reason::daily_quota_exceeded);
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
  REQUIRE(sent.code_to_deliver() != "000000");  // seeded: the drawn code is fixed
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
          sends_per_phone[phone].push_back(sent.code_expires_at().time_since_epoch().count() - 300'000);
        }
        if (sent.ok()) {
          // Two binds race with the same code: at most one wins.
          for (int k = 0; k < 2; ++k) {
            const auto bound = engine.bind_secure_mobile_phone({sent.code_to_deliver(), number, id}, facts_for());
            if (bound.ok()) {
              accepted_binds.fetch_add(1);
              std::lock_guard<std::mutex> lock(log_mutex);
              ++accepted_per_code[id + ":" + std::string(sent.code_to_deliver()) + ":" +
                                  std::to_string(sent.code_expires_at().time_since_epoch().count())];
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

// --- RULES.md §9: misconfiguration fails at start-up, not on the wire -----------

TEST_CASE("validate(engine_config) names each misconfiguration and create refuses it at start-up", "[engine][config]") {
  using pv::config_error;
  struct row {
    const char* name;
    void (*mutate)(pv::engine_config&);
    config_error expected;
  };
  const row rows[] = {
      {"all-zero key", [](pv::engine_config& c) { c.key = {}; }, config_error::key_all_zero},
      {"5 digits", [](pv::engine_config& c) { c.policy.code.digits = 5; }, config_error::code_policy_out_of_limits},
      {"validity 0", [](pv::engine_config& c) { c.policy.code.validity = 0s; }, config_error::code_policy_out_of_limits},
      {"daily limit 0", [](pv::engine_config& c) { c.policy.daily.limit = 0; }, config_error::daily_limit_zero},
      {"UTC+14:01", [](pv::engine_config& c) { c.policy.daily.utc_offset = 14h + 1min; }, config_error::utc_offset_out_of_range},
      {"UTC-12:01", [](pv::engine_config& c) { c.policy.daily.utc_offset = -12h - 1min; }, config_error::utc_offset_out_of_range},
      {"offset in seconds", [](pv::engine_config& c) { c.policy.daily.utc_offset = std::chrono::minutes{8 * 3600}; }, config_error::utc_offset_out_of_range},
      {"CAMS count 0", [](pv::engine_config& c) { c.policy.cams_rate.count = 0; }, config_error::cams_rate_count_zero},
      {"CAMS period 0", [](pv::engine_config& c) { c.policy.cams_rate.period = 0ms; }, config_error::cams_rate_period_not_positive},
      {"CAMS period < 0", [](pv::engine_config& c) { c.policy.cams_rate.period = -1ms; }, config_error::cams_rate_period_not_positive},
      {"per-phone count 0", [](pv::engine_config& c) { c.policy.per_phone.windows[1].count = 0; }, config_error::per_phone_count_zero},
      {"per-phone count 11", [](pv::engine_config& c) { c.policy.per_phone.windows[2].count = 11; }, config_error::per_phone_count_too_large},
      {"per-phone window 0", [](pv::engine_config& c) { c.policy.per_phone.windows[0].window = 0ms; }, config_error::per_phone_window_not_positive},
      {"empty site tables", [](pv::engine_config& c) { c.policy.sites = {}; }, config_error::sites_empty},
      {"capacity 0", [](pv::engine_config& c) { c.capacity = 0; c.shards = 0; }, config_error::capacity_zero},
      {"capacity too large", [](pv::engine_config& c) { c.capacity = pv::engine_max_capacity + 1; c.shards = 0; }, config_error::capacity_too_large},
      {"more shards than capacity", [](pv::engine_config& c) { c.capacity = 8; c.shards = 9; }, config_error::shards_out_of_range},
      {"shards above 2^20", [](pv::engine_config& c) { c.capacity = std::size_t{1} << 22; c.shards = (std::size_t{1} << 20) + 1; }, config_error::shards_out_of_range},
      {"format 7", [](pv::engine_config& c) { c.format = static_cast<pv::body_format>(7); }, config_error::format_invalid},
      {"host_id of 65 bytes", [](pv::engine_config& c) { c.host_id = "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"; }, config_error::host_id_too_long},
      {"recommend of 129 bytes", [](pv::engine_config& c) { static const std::string long_text(129, 'r'); c.recommend = long_text; }, config_error::recommend_too_long},
  };
  std::set<std::string_view> sentences;
  for (const row& r : rows) {
    INFO(r.name);
    pv::engine_config config = test_config();
    r.mutate(config);
    CHECK(pv::validate(config) == r.expected);
    const auto created = pv::engine::create(config, manual_clock{}.function(), std::make_shared<pv::seeded_random_source>(7));
    CHECK_FALSE(created.has_value());
    CHECK_FALSE(static_cast<bool>(created));
    CHECK(created.error() == r.expected);
    const std::string_view sentence = pv::describe(created.error());
    CHECK(sentence.starts_with("engine_config."));
    sentences.insert(sentence);
  }
  // One sentence per misconfiguration (some have several rows): 16 kinds here.
  CHECK(sentences.size() == 16);
  // The limits themselves are accepted.
  pv::engine_config edge = test_config();
  edge.policy.daily.utc_offset = 14h;
  edge.policy.daily.limit = 1;
  edge.policy.cams_rate = {1, 1ms};
  edge.policy.per_phone = {{{1, 1ms}, {10, 1ms}, {10, 24h}}};
  edge.capacity = 16;
  edge.shards = 16;
  edge.host_id = std::string_view("hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh", 64);
  static const std::string recommend(128, 'r');
  edge.recommend = recommend;
  CHECK(pv::validate(edge) == config_error::ok);
  edge.policy.daily.utc_offset = -12h;
  edge.shards = 0;  // automatic
  CHECK(pv::validate(edge) == config_error::ok);
}

TEST_CASE("create refuses an empty clock and a null random source and builds a working engine otherwise", "[engine][config]") {
  const auto no_clock = pv::engine::create(test_config(), pv::clock_function{}, std::make_shared<pv::seeded_random_source>(8));
  CHECK(no_clock.error() == pv::config_error::no_clock);
  CHECK(pv::describe(no_clock.error()).starts_with("engine::create"));
  const auto no_random = pv::engine::create(test_config(), manual_clock{}.function(), nullptr);
  CHECK(no_random.error() == pv::config_error::no_random_source);
  // Today's symptom: a default engine_config (all-zero key) used to build an
  // engine whose every send answered 400 InvalidParameter; now it builds none.
  CHECK(pv::engine::create(pv::engine_config{}).error() == pv::config_error::key_all_zero);

  auto created = pv::engine::create(test_config(), manual_clock{}.function(), std::make_shared<pv::seeded_random_source>(9));
  REQUIRE(created.has_value());
  CHECK(created.error() == pv::config_error::ok);
  CHECK(created->send_verification_code_for_enable_rd({}, facts_for()).ok());
  CHECK((*created).stats().challenges == 1);
  std::unique_ptr<pv::engine> owned = created.release();
  REQUIRE(owned != nullptr);
  CHECK_FALSE(created.has_value());
  CHECK(owned->stats().challenges == 1);
}

TEST_CASE("the engine owns its host_id and recommend and renders them whole", "[engine][config]") {
  auto config = test_config();
  std::string host(64, 'h');
  std::string advice(128, 'a');
  config.host_id = host;
  config.recommend = advice;
  pv::engine engine(config, manual_clock{}.function(), std::make_shared<pv::seeded_random_source>(10));
  const std::string expected_host = host;
  const std::string expected_advice = advice;
  host.assign(64, 'x');  // the caller's texts may change or go: the engine copied them
  advice.assign(128, 'x');
  const auto out = engine.send_verification_code_for_bind_secure_mobile_phone({"", "1234567890123456"}, facts_for());
  CHECK(out.body().find(expected_host) != std::string_view::npos);
  CHECK(out.body().find(expected_advice) != std::string_view::npos);
}

// validate is a constant expression.
static_assert(pv::validate(pv::engine_config{}) == pv::config_error::key_all_zero);
static_assert([] {
  pv::engine_config config;
  config.key[31] = std::byte{1};
  if (pv::validate(config) != pv::config_error::ok) return false;
  config.policy.code.digits = 11;
  return pv::validate(config) == pv::config_error::code_policy_out_of_limits;
}());
static_assert(pv::describe(pv::config_error::key_all_zero) ==
              "engine_config.key is all zero: load 32 secret bytes from your secret store");
static_assert(noexcept(pv::validate(std::declval<const pv::engine_config&>())));
static_assert(std::is_same_v<decltype(pv::engine::create(pv::engine_config{})), pv::engine_or_error>);

// --- RULES.md §9: a fact that keys state must be given, through the engine -------

TEST_CASE("the engine refuses an unnamed caller before keying any state", "[engine][facts]") {
  manual_clock clock;
  pv::engine engine(test_config(), clock.function(), std::make_shared<pv::seeded_random_source>(11));
  pv::facts unnamed = facts_for();
  unnamed.caller.account_id = {};
  auto expect_refused = [&](const pv::engine_response& out, errc code) {
    CHECK(out.error() == code);
    CHECK(out.reason() == pv::verdict_reason::missing_fact);
    CHECK(!out.body().empty());
    const auto stats = engine.stats();
    CHECK(stats.quotas == 0);
    CHECK(stats.rates == 0);
    CHECK(stats.windows == 0);
    CHECK(stats.challenges == 0);
  };
  // Many unnamed CAMS callers never share one rate: none is ever System.LimitControl.
  for (int i = 0; i < 12; ++i)
    expect_refused(engine.get_migration_verify_code({"293483938841234", "8613800001234", "en", "sms"}, unnamed),
                   errc::ram_permission_deny);
  for (int i = 0; i < 12; ++i)
    expect_refused(engine.chatapp_migration_verified({"293483938841234", "8613800001234", "123456"}, unnamed),
                   errc::ram_permission_deny);
  expect_refused(engine.send_verification_code_for_enable_rd({}, unnamed), errc::missing_parameter);
  const auto contact = engine.send_phone_verification_for_message_contact({"c-abc123", "86-13900001234"}, unnamed);
  expect_refused(contact, errc::missing_parameter);
  CHECK(contact.body().find("AccessKeyId") != std::string_view::npos);
  expect_refused(engine.enable_resource_directory(
                     {"NewManagementAccount", "admin@rdadmin.aliyunid.com", "86-13900001234", "123456"}, unnamed),
                 errc::missing_parameter);
  // Named callers are served as before.
  CHECK(engine.send_verification_code_for_enable_rd({}, facts_for("1111")).ok());
  CHECK(engine.send_verification_code_for_enable_rd({"86-13900004321"}, facts_for("2222")).ok());
}

TEST_CASE("the engine refuses an unnamed caller of action 1 when the sender's quota counts", "[engine][facts]") {
  auto config = test_config();
  config.policy.bind_quota_counts = pv::quota_subject::sending_account;
  pv::engine engine(config, manual_clock{}.function(), std::make_shared<pv::seeded_random_source>(12));
  pv::facts unnamed = facts_for();
  unnamed.caller.account_id = {};
  const auto out = engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", "1234567890123456"},
                                                                               unnamed);
  CHECK(out.error() == errc::caller_identity_error);
  CHECK(out.reason() == pv::verdict_reason::missing_fact);
  CHECK(engine.stats().quotas == 0);
  CHECK(engine.stats().challenges == 0);
}

TEST_CASE("a caller account longer than the engine's keys is refused instead of cut to a shared key", "[engine][facts]") {
  pv::engine engine(test_config(), manual_clock{}.function(), std::make_shared<pv::seeded_random_source>(13));
  const std::string prefix(pv::detail::engine_key_size, '7');
  const std::string first = prefix + "1";
  const std::string second = prefix + "2";
  for (const std::string* caller : {&first, &second}) {
    const auto out = engine.send_verification_code_for_enable_rd({}, facts_for(*caller));
    CHECK(out.error() == errc::invalid_parameter);
    CHECK(out.reason() == pv::verdict_reason::invalid_fact);
    CHECK(out.verdict().at_fault() == pv::parameter::access_key_id);
  }
  CHECK(engine.stats().challenges == 0);
  // An AccountId of 20 digits, the longest, is served.
  CHECK(engine.send_verification_code_for_enable_rd({}, facts_for(prefix.substr(0, 20))).ok());
}

// --- RULES.md §3, §9: the site is config.policy.sites, held by value ---------------

namespace {
// Builds an engine from a site_policy that lives on this function's stack
// only (made at run time from a list, as a start-up configuration would).
std::unique_ptr<pv::engine> engine_from_a_local_site(const manual_clock& clock) {
  const std::uint16_t codes[] = {44, 33};
  pv::site_policy local{};
  local.secure_phone = pv::country_code_set::from_codes(codes).value();
  local.message_contact = pv::country_code_set::from_codes(std::span<const std::uint16_t>(codes, 1)).value();
  local.cams = pv::country_code_set::all_assigned();
  auto config = test_config();
  config.policy.sites = local;
  auto created = pv::engine::create(config, clock.function(), std::make_shared<pv::seeded_random_source>(14));
  REQUIRE(created.has_value());
  return created.release();
}
[[gnu::noinline]] std::uint64_t overwrite_stack() {
  volatile std::uint64_t junk[512];
  for (std::size_t i = 0; i < 512; ++i) junk[i] = ~std::uint64_t{0} - i;
  return junk[3];
}
}  // namespace

TEST_CASE("an engine built in a function from a local site_policy keeps working after that function returns", "[engine][site]") {
  manual_clock clock;
  const std::unique_ptr<pv::engine> engine = engine_from_a_local_site(clock);
  CHECK(overwrite_stack() != 0);
  pv::facts f = facts_for();
  CHECK(engine->send_verification_code_for_enable_rd({"44-7911123456"}, f).ok());
  CHECK(engine->send_verification_code_for_enable_rd({"33-612345678"}, facts_for("1111")).ok());
  const auto china = engine->send_verification_code_for_enable_rd({"86-13900001234"}, facts_for("2222"));
  CHECK(china.error() == errc::invalid_parameter_mobile_country_code);
  CHECK(china.reason() == pv::verdict_reason::site_rejects_country_code);
  f.contact.phone = "33-612345678";
  CHECK(engine->send_phone_verification_for_message_contact({"c-abc123", "33-612345678"}, f).error() ==
        errc::invalid_parameter_mobile_country_code);
  CHECK(engine->config().policy.sites.secure_phone.size() == 2);
}

TEST_CASE("the engine decides on the site of config.policy.sites and nowhere else", "[engine][site]") {
  auto china_config = test_config();
  auto international_config = test_config();
  international_config.policy.sites = pv::international_site_policy;
  pv::engine china(china_config, manual_clock{}.function(), std::make_shared<pv::seeded_random_source>(15));
  pv::engine international(international_config, manual_clock{}.function(),
                           std::make_shared<pv::seeded_random_source>(16));
  const pv::send_verification_code_for_bind_secure_mobile_phone_request uk{"44-7911123456", "1234567890123456"};
  const pv::send_verification_code_for_bind_secure_mobile_phone_request cn{"86-13900001234", "1234567890123457"};
  CHECK(china.send_verification_code_for_bind_secure_mobile_phone(cn, facts_for()).ok());
  CHECK(china.send_verification_code_for_bind_secure_mobile_phone(uk, facts_for()).error() ==
        errc::invalid_parameter_mobile_country_code);
  CHECK(international.send_verification_code_for_bind_secure_mobile_phone(uk, facts_for()).ok());
  CHECK(international.send_verification_code_for_bind_secure_mobile_phone(cn, facts_for()).error() ==
        errc::invalid_parameter_mobile_country_code);
}

template <class C>
concept config_names_a_site = requires(C c) { c.on_site; };
static_assert(!config_names_a_site<pv::engine_config>);
static_assert(std::is_same_v<decltype(pv::engine_config{}.policy.sites), pv::site_policy>);

// --- The engine where services run: randomness, bytes, eviction, clocks, keys ---

namespace {

// A random source the test can make fail: it gives the seeded stream while
// `failing` is false and no value while it is true.
struct switchable_source final : pv::random_source {
  pv::seeded_random_source inner{77};
  std::atomic<bool> failing{false};
  std::optional<std::uint64_t> next() noexcept override {
    if (failing.load()) return std::nullopt;
    return inner.next();
  }
};

// A source that gives `good` values, then none for ever (for the keys of create()).
struct running_dry_source final : pv::random_source {
  explicit running_dry_source(int n) : good(n) {}
  std::atomic<int> good;
  std::optional<std::uint64_t> next() noexcept override {
    if (good.fetch_sub(1) <= 0) return std::nullopt;
    return 0x0123456789ABCDEFULL;
  }
};

// Where an engine response is returned into memory full of 0xAA, so a byte the
// engine did not write shows (the return slot is constructed in place).
struct poisoned_response {
  alignas(pv::engine_response) unsigned char bytes[sizeof(pv::engine_response)];
  template <class F>
  const pv::engine_response& take(F&& call) {
    std::memset(bytes, 0xAA, sizeof bytes);
    return *::new (static_cast<void*>(bytes)) pv::engine_response(call());
  }
};

// Whether [first, first + size) lies inside the object `r`.
bool inside(const pv::engine_response& r, const char* first, std::size_t size) {
  const auto begin = reinterpret_cast<std::uintptr_t>(&r);
  const auto at = reinterpret_cast<std::uintptr_t>(first);
  return at >= begin && size <= sizeof r && at - begin <= sizeof r - size;
}

// Every byte of `r`'s body storage after the body, and of a failed send's
// code, is zero. Read through the public views: body() starts the response's
// engine_body_capacity bytes of storage and code_to_deliver() the code's
// code_max_digits + 1 bytes (its text and terminator), both inside `r`.
void check_no_stale_bytes(const pv::engine_response& r) {
  const std::string_view body = r.body();
  REQUIRE(inside(r, body.data(), pv::engine_body_capacity));
  REQUIRE(body.size() <= pv::engine_body_capacity);
  std::size_t stale = 0;
  for (std::size_t i = body.size(); i < pv::engine_body_capacity; ++i) stale += body.data()[i] != '\0';
  CHECK(stale == 0);
  if (!r.ok()) {
    CHECK(r.code_to_deliver().empty());
    REQUIRE(inside(r, r.code_to_deliver().data(), pv::code_max_digits + 1u));
    std::size_t code_bytes = 0;
    for (std::size_t i = 0; i <= pv::code_max_digits; ++i) code_bytes += r.code_to_deliver().data()[i] != '\0';
    CHECK(code_bytes == 0);
  }
}

std::string account_number(int n) { return std::to_string(1000000000000000 + n); }

// Each admitted send's issue time: expires_at less the validity.
std::int64_t issued_ms(const pv::engine_response& r, const pv::engine_config& config) {
  return r.code_expires_at().time_since_epoch().count() -
         std::chrono::duration_cast<std::chrono::milliseconds>(config.policy.code.validity).count();
}

// The most times of `times` inside any window [t, t + width).
std::size_t most_in_window(std::vector<std::int64_t> times, std::int64_t width) {
  std::sort(times.begin(), times.end());
  std::size_t most = 0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    std::size_t n = 0;
    for (std::size_t j = i; j < times.size() && times[j] - times[i] < width; ++j) ++n;
    most = std::max(most, n);
  }
  return most;
}

}  // namespace

static_assert(noexcept(std::declval<pv::random_source&>().next()), "a random source reports failure as a value");
static_assert(std::is_same_v<decltype(std::declval<pv::random_source&>().next()), std::optional<std::uint64_t>>);

TEST_CASE("a random source that gives no value refuses the send closed with nothing charged and no code and counts it", "[engine][random]") {
  manual_clock clock;
  auto config = test_config();
  config.policy.daily.limit = 1;
  auto source = std::make_shared<switchable_source>();
  pv::engine engine(config, clock.function(), source);
  source->failing = true;
  const pv::send_verification_code_for_bind_secure_mobile_phone_request request{"86-13900001234", "1234567890123456"};
  const auto refused = engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for());
  CHECK(refused.error() == errc::send_validate_code_exceeds_limit_for_account);
  CHECK(refused.reason() == pv::verdict_reason::randomness_unavailable);
  CHECK(refused.http_status() == 409);
  CHECK(refused.retry_at() == clock.now() + 1s);
  CHECK(refused.code_to_deliver().empty());
  CHECK(refused.body().find("\"Code\":\"SendValidateCodeExceedsLimitForAccount\"") != std::string_view::npos);
  // The RequestId comes from the counter fallback: a version-8 UUID, unique.
  CHECK(refused.request_id().size() == 36);
  CHECK(refused.request_id()[14] == '8');
  CHECK(refused.body().find(refused.request_id()) != std::string_view::npos);
  const auto again = engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for());
  CHECK(again.reason() == pv::verdict_reason::randomness_unavailable);
  CHECK(again.request_id() != refused.request_id());
  CHECK(engine.stats().randomness_failures == 2);
  // CAMS answers its own limit error.
  const auto cams = engine.get_migration_verify_code({"293483938841234", "8613800001234", "en", "sms"}, facts_for());
  CHECK(cams.error() == errc::system_limit_control);
  CHECK(cams.reason() == pv::verdict_reason::randomness_unavailable);
  CHECK(cams.code_to_deliver().empty());
  CHECK(engine.stats().randomness_failures == 3);
  // Nothing was charged: once the source works, the daily quota of 1, the
  // phone's 1 per minute and the resend interval all still admit.
  source->failing = false;
  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for());
  REQUIRE(sent.ok());
  CHECK(sent.request_id()[14] == '4');
  CHECK(engine.stats().randomness_failures == 3);
  // A check needs no randomness: it is served, with a fallback RequestId.
  source->failing = true;
  const auto bound =
      engine.bind_secure_mobile_phone({sent.code_to_deliver(), "86-13900001234", "1234567890123456"}, facts_for());
  CHECK(bound.ok());
  CHECK(bound.request_id()[14] == '8');
  CHECK(engine.stats().randomness_failures == 4);
}

namespace {
// A source that counts its draws and gives the value of each draw's number
// spread over every byte: which word went where shows in the response.
struct numbered_source final : pv::random_source {
  std::atomic<std::uint64_t> draws{0};
  std::optional<std::uint64_t> next() noexcept override {
    return 0x0101010101010101ULL * (draws.fetch_add(1) + 1) ^ 0x0123456789ABCDEFULL;
  }
};
std::string uuid_of(std::uint64_t w0, std::uint64_t w1) {
  w0 = (w0 & ~0xF000ULL) | 0x4000;
  w1 = (w1 & ~(0xCULL << 60)) | (0x8ULL << 60);
  char text[40];
  std::snprintf(text, sizeof(text), "%08llX-%04llX-%04llX-%04llX-%012llX", static_cast<unsigned long long>(w0 >> 32),
                static_cast<unsigned long long>((w0 >> 16) & 0xFFFF), static_cast<unsigned long long>(w0 & 0xFFFF),
                static_cast<unsigned long long>(w1 >> 48), static_cast<unsigned long long>(w1 & 0xFFFFFFFFFFFFULL));
  return text;
}
}  // namespace

TEST_CASE("a RequestId is the request's first two draws as a version-4 UUID, drawn before a send's code",
          "[engine][random]") {
  manual_clock clock;
  auto source = std::make_shared<numbered_source>();
  pv::engine engine(test_config(), clock.function(), source);
  const auto word = [](std::uint64_t n) { return 0x0101010101010101ULL * n ^ 0x0123456789ABCDEFULL; };
  std::uint64_t n = source->draws.load();  // the stores' keys, drawn at construction
  // A check draws nothing but its RequestId; a refused request too.
  const auto checked = engine.bind_secure_mobile_phone({"123456", "86-13900001234", "1234567890123456"}, facts_for());
  CHECK(checked.request_id() == uuid_of(word(n + 1), word(n + 2)));
  CHECK(source->draws.load() == n + 2);
  n += 2;
  const auto refused = engine.send_verification_code_for_bind_secure_mobile_phone({"86-1390000", "1234567890123456"},
                                                                                   facts_for());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.request_id() == uuid_of(word(n + 1), word(n + 2)));
  CHECK(source->draws.load() == n + 2);
  n += 2;
  // A send: the RequestId first, then the code's draws.
  const auto sent =
      engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", "1234567890123456"}, facts_for());
  REQUIRE(sent.ok());
  CHECK(sent.request_id() == uuid_of(word(n + 1), word(n + 2)));
  CHECK(source->draws.load() > n + 2);
  CHECK(sent.body().find(sent.request_id()) != std::string_view::npos);
}

namespace {
// numbered_source's words from draw `n` + 1 on, as a generator: what the
// engine's code draw reads once the RequestId has taken its two words.
struct numbered_replay {
  using result_type = std::uint64_t;
  std::uint64_t n;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()() { return 0x0101010101010101ULL * ++n ^ 0x0123456789ABCDEFULL; }
};
}  // namespace

TEST_CASE("a send draws its code after its RequestId even when the limits refuse it, and drops it",
          "[engine][random]") {
  manual_clock clock;
  auto source = std::make_shared<numbered_source>();
  const pv::engine_config config = test_config();
  pv::engine engine(config, clock.function(), source);
  const pv::code_binding binding{pv::action::send_verification_code_for_bind_secure_mobile_phone, "1234567890123456",
                                 pv::parse_phone("86-13900001234", pv::phone_format::dashed).value()};
  const pv::send_verification_code_for_bind_secure_mobile_phone_request request{"86-13900001234", "1234567890123456"};
  // The code is draw_code's from the words after the RequestId's two.
  std::uint64_t n = source->draws.load();
  numbered_replay replay{n + 2};
  const auto expected = pv::draw_code(config.policy.code, config.key, binding, replay);
  REQUIRE(expected);
  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for());
  REQUIRE(sent.ok());
  CHECK(sent.code_to_deliver() == expected->code.view());
  CHECK(source->draws.load() == replay.n);
  // Refused by the resend interval: the code is drawn all the same (the
  // same words a send would take), then dropped; nothing is charged.
  n = source->draws.load();
  replay = numbered_replay{n + 2};
  REQUIRE(pv::draw_code(config.policy.code, config.key, binding, replay));
  clock.advance(1s);
  const auto refused = engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for());
  CHECK(refused.reason() == pv::verdict_reason::resend_too_soon);
  CHECK(refused.code_to_deliver().empty());
  CHECK(source->draws.load() == replay.n);
  CHECK(source->draws.load() > n + 2);
  check_no_stale_bytes(refused);
  // The first code still binds: the refused send left the challenge as it was.
  CHECK(engine.bind_secure_mobile_phone({sent.code_to_deliver(), "86-13900001234", "1234567890123456"}, facts_for())
            .ok());
  // A request refused before the stores (prepare) draws its RequestId only.
  n = source->draws.load();
  CHECK_FALSE(engine.send_verification_code_for_bind_secure_mobile_phone({"86-1390000", "1234567890123456"},
                                                                          facts_for())
                  .ok());
  CHECK(source->draws.load() == n + 2);
}

namespace {
// The seeded stream, but no value at draw numbers `fail_at` (counted from
// 1) to fail_at + fail_count - 1.
struct one_failure_source final : pv::random_source {
  pv::seeded_random_source inner{78};
  std::atomic<std::uint64_t> draws{0};
  std::atomic<std::uint64_t> fail_at{0};
  std::atomic<std::uint64_t> fail_count{1};
  std::optional<std::uint64_t> next() noexcept override {
    const std::uint64_t n = draws.fetch_add(1) + 1;
    if (n >= fail_at.load() && n < fail_at.load() + fail_count.load()) return std::nullopt;
    return inner.next();
  }
};
}  // namespace

TEST_CASE("a random source that fails a send the limits would refuse answers randomness_unavailable, counted once",
          "[engine][random]") {
  manual_clock clock;
  auto source = std::make_shared<one_failure_source>();
  pv::engine engine(test_config(), clock.function(), source);
  const pv::send_verification_code_for_bind_secure_mobile_phone_request request{"86-13900001234", "1234567890123456"};
  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for());
  REQUIRE(sent.ok());
  // Inside the resend interval, the RequestId drawn, the code's first word missing.
  clock.advance(1s);
  source->fail_at = source->draws.load() + 3;
  const auto refused = engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for());
  CHECK(refused.reason() == pv::verdict_reason::randomness_unavailable);
  CHECK(refused.error() == errc::send_validate_code_exceeds_limit_for_account);
  CHECK(refused.retry_at() == clock.now() + 1s);
  CHECK(refused.request_id()[14] == '4');
  CHECK(refused.code_to_deliver().empty());
  CHECK(engine.stats().randomness_failures == 1);
  check_no_stale_bytes(refused);
  // The RequestId's first word missing too (its fallback draws no second
  // word, the code's first is the next): one failure, counted once.
  source->fail_count = 2;
  source->fail_at = source->draws.load() + 1;
  const auto both = engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for());
  CHECK(both.reason() == pv::verdict_reason::randomness_unavailable);
  CHECK(both.request_id()[14] == '8');
  CHECK(engine.stats().randomness_failures == 2);
  source->fail_at = 0;
  // Nothing changed: the first code binds, and the resend interval still runs from it.
  CHECK(engine.bind_secure_mobile_phone({sent.code_to_deliver(), "86-13900001234", "1234567890123456"}, facts_for())
            .ok());
  clock.advance(58s);
  CHECK(engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for()).reason() ==
        pv::verdict_reason::resend_too_soon);
  clock.advance(1s);
  CHECK(engine.send_verification_code_for_bind_secure_mobile_phone(request, facts_for()).ok());
  CHECK(engine.stats().randomness_failures == 2);
}

TEST_CASE("create answers random_source_failed when the stores' hash keys cannot be drawn", "[engine][random][config]") {
  for (int good : {0, 1, 5, 9}) {
    INFO(good);
    const auto created = pv::engine::create(test_config(), manual_clock{}.function(),
                                            std::make_shared<running_dry_source>(good));
    CHECK(created.error() == pv::config_error::random_source_failed);
    CHECK(pv::describe(created.error()).starts_with("engine::create"));
  }
  // Ten words are the five keys: the engine is built, and its first send fails closed.
  auto created = pv::engine::create(test_config(), manual_clock{}.function(), std::make_shared<running_dry_source>(10));
  REQUIRE(created.has_value());
  const auto out = created->send_verification_code_for_enable_rd({}, facts_for());
  CHECK(out.reason() == pv::verdict_reason::randomness_unavailable);
  CHECK(out.code_to_deliver().empty());
}

TEST_CASE("an engine response carries no byte that was not written for it", "[engine][bytes]") {
  manual_clock clock;
  auto config = test_config();
  static const std::string advice(128, 'r');
  config.recommend = advice;
  config.policy.daily.limit = 1;
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(21));
  poisoned_response slot;
  // A long error body, then a shorter success, then a failed send and a short error.
  check_no_stale_bytes(slot.take([&] { return engine.send_verification_code_for_bind_secure_mobile_phone({"", "1"}, facts_for()); }));
  const pv::engine_response& ok = slot.take([&] { return engine.send_verification_code_for_enable_rd({}, facts_for()); });
  REQUIRE(ok.ok());
  check_no_stale_bytes(ok);
  const auto& denied = slot.take([&] { return engine.send_verification_code_for_enable_rd({}, facts_for()); });
  CHECK(denied.reason() == pv::verdict_reason::resend_too_soon);
  check_no_stale_bytes(denied);
  check_no_stale_bytes(slot.take([&] { return engine.bind_secure_mobile_phone({"1", "86-13900001234", "1"}, facts_for()); }));
  auto xml = config;
  xml.format = pv::body_format::xml;
  pv::engine xml_engine(xml, clock.function(), std::make_shared<pv::seeded_random_source>(22));
  check_no_stale_bytes(slot.take([&] { return xml_engine.get_migration_verify_code({"1", "x", "", ""}, facts_for()); }));
}

TEST_CASE("a short error body after a long success body in the same memory is exactly its own rendering", "[engine][bytes]") {
  manual_clock clock;
  auto config = test_config();
  config.host_id = "h";
  config.format = pv::body_format::xml;  // where action 4's success (every Data element named twice) is the longer
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(34));
  poisoned_response slot;
  const pv::get_migration_verify_code_request cams{.cust_space_id = "293483938841234",
                                                   .phone_number = "8613800001234",
                                                   .locale = "en",
                                                   .method = "sms"};
  const std::string long_body(slot.take([&] { return engine.get_migration_verify_code(cams, facts_for()); }).body());
  REQUIRE(has(long_body, "<PhoneNumber>8613800001234</PhoneNumber>"));
  // The same memory, now a short error: exactly the body render_error gives for it, then zeros.
  const pv::engine_response& short_error =
      slot.take([&] { return engine.send_verification_code_for_enable_rd({.secure_mobile_phone = "86-1"}, facts_for()); });
  REQUIRE(short_error.error() == errc::invalid_parameter);
  std::array<char, pv::engine_body_capacity> expected{};
  pv::error_fields fields;
  fields.request_id = short_error.request_id();
  fields.host_id = config.host_id;
  fields.recommend = config.recommend;
  fields.parameter = pv::parameter_name(short_error.verdict().at_fault());
  const pv::render_result rendered =
      pv::render_error(expected, config.format, short_error.verdict().action(), short_error.error(), fields);
  REQUIRE(rendered.ok());
  REQUIRE(rendered.size < long_body.size());
  CHECK(short_error.body() == std::string_view(expected.data(), rendered.size));
  CHECK_FALSE(has(short_error.body(), "8613800001234"));
  check_no_stale_bytes(short_error);
}

TEST_CASE("abandoned bindings with one wrong code fill the store until lockout has passed and new users are served then", "[engine][capacity]") {
  manual_clock clock;
  auto config = test_config();
  config.capacity = 4;
  config.shards = 1;
  config.policy.per_phone = {{{1, 1000ms}, {1, 1000ms}, {1, 1000ms}}};
  config.policy.code.lockout = 1h;
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(23));
  auto space = [](int n) { return std::to_string(293483938841000 + n); };
  auto phone = [](int n) { return "861380000" + std::to_string(1000 + n); };
  for (int i = 0; i < 4; ++i) {
    REQUIRE(engine.get_migration_verify_code({space(i), phone(i), "en", "sms"}, facts_for()).ok());
    const auto wrong = engine.chatapp_migration_verified({space(i), phone(i), "0000000"}, facts_for());
    REQUIRE(wrong.error() == errc::invalid_verification_code);
    clock.advance(1s);
  }
  const pv::timestamp last_failure = clock.now() - 1s;
  clock.advance(10min);  // every code expired; the rates and windows are long dead
  const auto refused = engine.get_migration_verify_code({space(4), phone(4), "en", "sms"}, facts_for());
  CHECK(refused.error() == errc::system_limit_control);
  CHECK(refused.reason() == pv::verdict_reason::state_unavailable);
  // The first binding's failure is forgotten lockout after it: a slot frees then.
  CHECK(refused.retry_at() == last_failure - 3s + 1h);
  *clock.ms = (refused.retry_at() - 1ms).time_since_epoch().count();
  CHECK(engine.get_migration_verify_code({space(4), phone(4), "en", "sms"}, facts_for()).reason() ==
        pv::verdict_reason::state_unavailable);
  *clock.ms = refused.retry_at().time_since_epoch().count();
  CHECK(engine.get_migration_verify_code({space(4), phone(4), "en", "sms"}, facts_for()).ok());
  clock.advance(1h);  // every binding, the new one too, has nothing left to remember
  CHECK(engine.evict_dead() >= 4);
  CHECK(engine.stats().challenges == 0);
}

TEST_CASE("a binding that spent its failure budget then succeeded is not forgotten by a sweep", "[engine][capacity]") {
  manual_clock clock;
  auto config = test_config();
  config.policy.code.failure_budget = 3;
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(24));
  const pv::send_verification_code_for_bind_secure_mobile_phone_request send{"86-13900001234", "1234567890123456"};
  auto check = [&](std::string_view code) {
    return engine.bind_secure_mobile_phone({code, "86-13900001234", "1234567890123456"}, facts_for());
  };
  auto sent = engine.send_verification_code_for_bind_secure_mobile_phone(send, facts_for());
  REQUIRE(sent.ok());
  const std::string wrong = sent.code_to_deliver() == "000000" ? "111111" : "000000";
  for (int i = 0; i < 3; ++i) CHECK(check(wrong).verdict().code_status() == pv::check_status::wrong_code);
  CHECK(check(sent.code_to_deliver()).verdict().code_status() == pv::check_status::budget_spent);
  clock.advance(8h);  // one failed check drains (24 h / 3)
  sent = engine.send_verification_code_for_bind_secure_mobile_phone(send, facts_for());
  REQUIRE(sent.ok());
  CHECK(check(sent.code_to_deliver()).ok());  // consecutive failures reset; the budget keeps 2 charged
  clock.advance(2min);
  engine.evict_dead();
  CHECK(engine.stats().challenges == 1);
  sent = engine.send_verification_code_for_bind_secure_mobile_phone(send, facts_for());
  REQUIRE(sent.ok());
  CHECK(check(wrong).verdict().code_status() == pv::check_status::wrong_code);
  CHECK(check(wrong).verdict().code_status() == pv::check_status::budget_spent);
}

TEST_CASE("a clock stepped back after a sweep never grants the daily quota or the phone windows again", "[engine][clock]") {
  manual_clock clock;
  auto config = test_config();
  config.policy.daily.limit = 1;
  config.policy.code.resend_interval = 0s;
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(25));
  // Daily quota 1, day D at UTC+8: 12:00 of D, a sweep just after midnight,
  // then the clock steps back into D.
  const std::int64_t day = pv::day_index(clock.now(), config.policy.daily.utc_offset);
  *clock.ms = (pv::day_start(day, 8h) + 12h).time_since_epoch().count();
  std::map<std::int64_t, int> per_day;
  int n = 0;
  auto send_enable_rd = [&] {
    const auto r = engine.send_verification_code_for_enable_rd({"86-1390000" + std::to_string(2000 + n++)}, facts_for());
    if (r.ok()) ++per_day[pv::day_index(pv::timestamp{std::chrono::milliseconds{issued_ms(r, config)}}, 8h)];
    return r;
  };
  REQUIRE(send_enable_rd().ok());
  *clock.ms = (pv::day_start(day + 1, 8h) + 1s).time_since_epoch().count();
  engine.evict_dead();
  *clock.ms = (pv::day_start(day, 8h) + 13h).time_since_epoch().count();
  send_enable_rd();  // decided at the engine's time, day D + 1
  *clock.ms = (pv::day_start(day + 1, 8h) + 2s).time_since_epoch().count();
  const auto next_day = send_enable_rd();
  CHECK(next_day.reason() == pv::verdict_reason::daily_quota_exceeded);
  for (const auto& [d, count] : per_day) CHECK(count <= 1);

  // The phone's 10 per 24 h: ten sends 13 minutes apart, a sweep when the
  // windows have emptied, the clock back an hour after the tenth, five more.
  std::vector<std::int64_t> times;
  int account = 0;
  auto send_bind = [&] {
    const auto r = engine.send_verification_code_for_bind_secure_mobile_phone(
        {"86-13900005555", account_number(account++)}, facts_for());
    if (r.ok()) times.push_back(issued_ms(r, config));
    return r;
  };
  for (int i = 0; i < 10; ++i) {
    REQUIRE(send_bind().ok());
    clock.advance(13min);
  }
  const std::int64_t tenth = times.back();
  *clock.ms = tenth + 24 * 3'600'000;
  engine.evict_dead();
  *clock.ms = tenth + 3'600'000;
  for (int i = 0; i < 5; ++i) {
    send_bind();
    clock.advance(13min);
  }
  CHECK(most_in_window(times, 60'000) <= 1);
  CHECK(most_in_window(times, 3'600'000) <= 5);
  CHECK(most_in_window(times, 24 * 3'600'000) <= 10);
  CHECK(engine.now().time_since_epoch().count() == tenth + 24 * 3'600'000);  // the high-water mark
}

TEST_CASE("the engine's death tests saturate at the ends of the time range and keep live windows", "[engine][clock]") {
  for (const std::int64_t start : {pv::timestamp::max().time_since_epoch().count() - 3'600'000,
                                   pv::timestamp::min().time_since_epoch().count() + 1}) {
    INFO(start);
    manual_clock clock;
    *clock.ms = start;
    pv::engine engine(test_config(), clock.function(), std::make_shared<pv::seeded_random_source>(26));
    int account = 0;
    auto send = [&] {
      return engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", account_number(account++)},
                                                                        facts_for());
    };
    for (int i = 0; i < 5; ++i) {
      REQUIRE(send().ok());
      clock.advance(2min);
      engine.evict_dead();
      CHECK(engine.stats().windows == 1);
    }
    const auto sixth = send();  // 5 per hour: the windows were kept
    CHECK(sixth.reason() == pv::verdict_reason::phone_window_exceeded);
    CHECK(!sixth.body().empty());
  }
  // At timestamp::max() itself: a send there blocks the next one there.
  manual_clock end;
  *end.ms = pv::timestamp::max().time_since_epoch().count();
  pv::engine engine(test_config(), end.function(), std::make_shared<pv::seeded_random_source>(27));
  REQUIRE(engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", account_number(1)}, facts_for()).ok());
  engine.evict_dead();
  CHECK(engine.stats().windows == 1);
  CHECK(engine.stats().quotas == 1);
  CHECK(engine.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", account_number(2)}, facts_for())
            .reason() == pv::verdict_reason::phone_window_exceeded);
}

TEST_CASE("a store-full refusal says when a slot frees and the same request succeeds then", "[engine][capacity]") {
  manual_clock clock;
  auto config = test_config();
  config.capacity = 2;
  config.shards = 1;
  config.policy.per_phone = {{{1, 1ms}, {1, 1ms}, {1, 1ms}}};
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(28));
  const pv::timestamp first = clock.now();
  REQUIRE(engine.get_migration_verify_code({"293483938841001", "8613800001001", "en", "sms"}, facts_for()).ok());
  clock.advance(1s);
  REQUIRE(engine.get_migration_verify_code({"293483938841002", "8613800001002", "en", "sms"}, facts_for()).ok());
  clock.advance(1s);
  const pv::get_migration_verify_code_request third{"293483938841003", "8613800001003", "en", "sms"};
  const auto refused = engine.get_migration_verify_code(third, facts_for());
  CHECK(refused.reason() == pv::verdict_reason::state_unavailable);
  CHECK(refused.retry_at() != pv::timestamp::max());
  CHECK(refused.retry_at() == first + 5min);  // the first code expires: its challenge can go
  *clock.ms = (refused.retry_at() - 1ms).time_since_epoch().count();
  CHECK(engine.get_migration_verify_code(third, facts_for()).reason() == pv::verdict_reason::state_unavailable);
  *clock.ms = refused.retry_at().time_since_epoch().count();
  CHECK(engine.get_migration_verify_code(third, facts_for()).ok());
}

TEST_CASE("engine ids of every length 0 to 200 get their own state or a defined refusal", "[engine][facts][keys]") {
  manual_clock clock;
  pv::engine engine(test_config(), clock.function(), std::make_shared<pv::seeded_random_source>(29));
  std::size_t served = 0;
  int phones = 0;
  auto phone = [&] {  // a phone of its own for each send: the per-phone windows stay out of the way
    const std::string digits = std::to_string(100'000'000 + phones++);
    return "86-139" + digits.substr(1);
  };
  for (std::size_t n = 0; n <= 200; ++n) {
    INFO(n);
    // Two callers of length n that differ in their last digit, and the AccountId parameter.
    for (const char last : {'1', '2'}) {
      std::string id(n, '1');
      if (n > 0) id.back() = last;
      if (n == 0 && last == '2') continue;
      const auto out = engine.send_verification_code_for_enable_rd({phone()}, facts_for(id));
      if (n == 0) {
        CHECK(out.reason() == pv::verdict_reason::missing_fact);
      } else if (n <= pv::account_id_max_digits) {
        CHECK(out.ok());  // never resend_too_soon: no two ids share a challenge
        ++served;
      } else {
        CHECK(out.error() == errc::invalid_parameter);
        CHECK(out.reason() == pv::verdict_reason::invalid_fact);
      }
      const auto bind = engine.send_verification_code_for_bind_secure_mobile_phone({phone(), id}, facts_for());
      if (n == 0) CHECK(bind.error() == errc::missing_parameter);
      else if (n <= pv::account_id_max_digits) CHECK(bind.ok());
      else CHECK(bind.error() == errc::invalid_parameter);
      // Every key either fits the stores exactly or is one byte too long (refused, never cut).
      const auto key = pv::detail::make_key('3', id);
      if (n < pv::detail::engine_key_size) CHECK(key.view() == "3" + id);
      else CHECK(key.size() == pv::detail::engine_key_size + 1);
    }
  }
  CHECK(served == 40);
  CHECK(engine.stats().challenges == 2 * 40);  // one per id and action: no two ids met
  // Spellings that check_account_id refuses never key a caller's state.
  int extra = 0;
  for (const std::string_view bad : {"01234", "1234 ", " 1234", "12a4", "１２３４", "1234\n"}) {
    INFO(bad);
    const auto out = engine.send_verification_code_for_enable_rd({phone()}, facts_for(bad));
    CHECK(out.reason() == pv::verdict_reason::invalid_fact);
    CHECK(engine.get_migration_verify_code({"293483938841234", "8613800001234", "en", "sms"}, facts_for(bad)).reason() ==
          pv::verdict_reason::invalid_fact);
    auto sender_counts = test_config();
    sender_counts.policy.bind_quota_counts = pv::quota_subject::sending_account;
    pv::engine strict(sender_counts, clock.function(), std::make_shared<pv::seeded_random_source>(30));
    CHECK(strict.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", "1234567890123456"}, facts_for(bad))
              .error() == errc::caller_identity_error);
    // Where the caller keys nothing (action 1 counting the member), its spelling does not matter.
    CHECK(engine.send_verification_code_for_bind_secure_mobile_phone({phone(), account_number(5000 + extra++)}, facts_for(bad)).ok());
  }
}

namespace {
// Reads exactly `size` bytes from `fd`.
bool read_all(int fd, char* out, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::read(fd, out, size);
    if (n <= 0) return false;
    out += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// One child's code and RequestId, written to `fd` as 10 + 36 bytes.
[[noreturn]] void send_and_report(pv::engine& engine, int fd) {
  const auto sent = engine.send_verification_code_for_enable_rd({}, facts_for());
  char line[46] = {};
  if (sent.ok() && sent.code_to_deliver().size() == 10) {
    std::memcpy(line, sent.code_to_deliver().data(), 10);
    std::memcpy(line + 10, sent.request_id().data(), 36);
  }
  const ssize_t written = ::write(fd, line, sizeof line);
  ::_exit(written == static_cast<ssize_t>(sizeof line) ? 0 : 1);
}
}  // namespace

TEST_CASE("children forked from an engine's process issue pairwise different codes and RequestIds", "[engine][random][fork]") {
  auto config = test_config();
  config.policy.code.digits = 10;  // so that two equal codes mean a shared stream, not chance
  pv::engine parent(config, manual_clock{}.function());  // the default source: system_random_source
  const auto own = parent.send_verification_code_for_enable_rd({"86-13900009999"}, facts_for("4444"));
  REQUIRE(own.ok());  // the parent's generator is keyed before the forks
  std::set<std::string> codes{std::string(own.code_to_deliver())};
  std::set<std::string> request_ids{std::string(own.request_id())};
  std::vector<std::pair<pid_t, int>> children;
  for (int i = 0; i < 6; ++i) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      if (i < 3) send_and_report(parent, fds[1]);  // the engine built before the fork
      pv::engine mine(config, manual_clock{}.function());  // one built after it
      send_and_report(mine, fds[1]);
    }
    ::close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  for (const auto& [pid, fd] : children) {
    char line[46] = {};
    CHECK(read_all(fd, line, sizeof line));
    ::close(fd);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(line[0] != '\0');
    codes.insert(std::string(line, 10));
    request_ids.insert(std::string(line + 10, 36));
  }
  CHECK(codes.size() == 7);
  CHECK(request_ids.size() == 7);
}

// --- Results with one meaning per field: engine_response and its log line ----------

TEST_CASE("describe(engine_response) logs the RequestId, the masked phone and the reason in words, never the code",
          "[engine][log]") {
  manual_clock clock;
  pv::engine engine(test_config(), clock.function(), std::make_shared<pv::seeded_random_source>(31));
  const pv::send_verification_code_for_bind_secure_mobile_phone_request send{.secure_mobile_phone = "86-13900001234",
                                                                             .account_id = "1234567890123456"};
  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone(send, facts_for());
  REQUIRE(sent.ok());
  REQUIRE(sent.phone().has_value());
  CHECK(*sent.phone() == pv::parse_phone("86-13900001234", pv::phone_format::dashed).value());
  const std::string masked(pv::mask_phone(*sent.phone()).view());
  CHECK(masked == "86-139****1234");
  const std::string code(sent.code_to_deliver());
  REQUIRE(code.size() == 6);

  const auto sent_line = pv::describe(sent);
  CHECK(sent_line.view().starts_with(pv::describe(sent.verdict(), sent.phone()).view()));
  CHECK(sent_line.view().ends_with("; RequestId " + std::string(sent.request_id())));
  CHECK(has(sent_line, "SendVerificationCodeForBindSecureMobilePhone 200 ok"));
  CHECK(has(sent_line, "phone " + masked));
  CHECK_FALSE(has(sent_line, "13900001234"));  // the phone only masked
  CHECK_FALSE(has(sent_line, code));           // never the code

  // A wrong code: the reason and its detail in words, the parameter at fault.
  const std::string wrong_code = code == "000000" ? "111111" : "000000";
  const auto wrong = engine.bind_secure_mobile_phone(
      {.verification_code = wrong_code, .secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"},
      facts_for());
  REQUIRE(wrong.error() == errc::invalid_verification_code);
  const auto wrong_line = pv::describe(wrong);
  CHECK(has(wrong_line, "BindSecureMobilePhone 409 Invalid.VerificationCode: "));
  CHECK(has(wrong_line, pv::describe(pv::verdict_reason::code_rejected)));
  CHECK(has(wrong_line, "(wrong_code)"));
  CHECK(has(wrong_line, "parameter VerificationCode"));
  CHECK(has(wrong_line, "phone " + masked));
  CHECK(has(wrong_line, "RequestId " + std::string(wrong.request_id())));
  CHECK_FALSE(has(wrong_line, code));

  // A limit: the retry time; still the masked phone, never the live code.
  const auto resend = engine.send_verification_code_for_bind_secure_mobile_phone(send, facts_for());
  REQUIRE(resend.reason() == pv::verdict_reason::resend_too_soon);
  const auto resend_line = pv::describe(resend);
  CHECK(has(resend_line, pv::describe(pv::verdict_reason::resend_too_soon)));
  CHECK(has(resend_line, "retry at " + std::string(pv::format_iso8601(resend.retry_at()).view())));
  CHECK(has(resend_line, "phone " + masked));
  CHECK(has(resend_line, "RequestId " + std::string(resend.request_id())));
  CHECK_FALSE(has(resend_line, code));

  // A phone that does not parse: no phone to mask; the byte at fault.
  const auto bad = engine.send_verification_code_for_bind_secure_mobile_phone(
      {.secure_mobile_phone = "86-1390000x234", .account_id = "1234567890123456"}, facts_for());
  REQUIRE(bad.error() == errc::invalid_parameter);
  CHECK_FALSE(bad.phone().has_value());
  const auto bad_line = pv::describe(bad);
  CHECK(has(bad_line, pv::describe(pv::verdict_reason::bad_syntax)));
  CHECK(has(bad_line, "parameter SecureMobilePhone at byte " + std::to_string(bad.verdict().position())));
  CHECK_FALSE(has(bad_line, "; phone "));
  CHECK(has(bad_line, "RequestId " + std::string(bad.request_id())));
}

TEST_CASE("engine_response accessors agree with its verdict", "[engine]") {
  manual_clock clock;
  auto config = test_config();
  config.policy.cams_rate = {1, 1000ms};
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(32));
  std::vector<pv::engine_response> responses;
  responses.push_back(engine.send_verification_code_for_bind_secure_mobile_phone(
      {.secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"}, facts_for()));
  const std::string code(responses.back().code_to_deliver());
  responses.push_back(engine.send_verification_code_for_bind_secure_mobile_phone(
      {.secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"}, facts_for()));  // too soon
  responses.push_back(engine.bind_secure_mobile_phone(
      {.verification_code = "12ab", .secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"},
      facts_for()));  // malformed
  responses.push_back(engine.bind_secure_mobile_phone(
      {.verification_code = code, .secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"},
      facts_for()));  // ok
  responses.push_back(engine.send_verification_code_for_bind_secure_mobile_phone({}, facts_for()));  // missing
  const pv::get_migration_verify_code_request cams{.cust_space_id = "293483938841234",
                                                   .phone_number = "8613800001234",
                                                   .locale = "en",
                                                   .method = "sms"};
  responses.push_back(engine.get_migration_verify_code(cams, facts_for()));  // ok
  responses.push_back(engine.get_migration_verify_code(cams, facts_for()));  // over 1 per second
  responses.push_back(engine.enable_resource_directory({.enable_mode = "CurrentAccount"}, facts_for()));  // no code

  std::set<errc> errors;
  for (const pv::engine_response& r : responses) {
    const pv::verdict& v = r.verdict();
    INFO(pv::describe(r).c_str());
    CHECK(r.ok() == v.ok());
    CHECK(static_cast<bool>(r) == v.ok());
    CHECK(r.error() == v.error());
    CHECK(r.http_status() == v.http_status());
    CHECK(r.http_status() == pv::http_status(v.error(), v.action()));
    CHECK(r.reason() == v.reason());
    CHECK(r.retry_at() == v.retry_at());
    CHECK(r.request_id().size() == 36);
    CHECK(has(r.body(), r.request_id()));
    CHECK(v.ok() == (v.error() == errc::ok));
    CHECK(v.ok() == (v.reason() == pv::verdict_reason::ok));
    if (v.ok()) {
      CHECK(v.http_status() == 200);
      CHECK(v.message().empty());
      CHECK(v.code_string().empty());
    } else {
      CHECK(has(r.body(), v.code_string()));
      CHECK(v.message() == pv::message(v.error(), v.action()));
    }
    const bool delivers = r.ok() && pv::info(v.action()).sends;
    CHECK(r.code_to_deliver().empty() == !delivers);
    CHECK((r.code_expires_at() == pv::timestamp{}) == !delivers);
    if (delivers) CHECK(r.code_expires_at() == clock.now() + config.policy.code.validity);
    errors.insert(r.error());
  }
  CHECK(responses[1].reason() == pv::verdict_reason::resend_too_soon);
  CHECK(responses[1].retry_at() == clock.now() + config.policy.code.resend_interval);
  CHECK(responses[2].verdict().code_status() == pv::check_status::malformed);
  CHECK(responses[3].ok());
  CHECK(responses[4].verdict().at_fault() == pv::parameter::secure_mobile_phone);
  CHECK(responses[6].verdict().step() == pv::check_step::flow_control);
  CHECK(responses[7].ok());
  CHECK(errors.size() == 5);  // ok and four different errors
}

TEST_CASE("success bodies carry the fields of the action's row: ExpirationDate for action 1, PhoneNumber for GetMigrationVerifyCode",
          "[engine][render]") {
  for (const pv::body_format format : {pv::body_format::json, pv::body_format::xml}) {
    INFO(static_cast<int>(format));
    manual_clock clock;
    auto config = test_config();
    config.format = format;
    pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(33));
    const bool json = format == pv::body_format::json;
    // The value of field `name` in a body, or none when the body has no such field.
    auto field = [json](std::string_view body, std::string_view name) -> std::optional<std::string> {
      std::string open(json ? "\"" : "<");
      open.append(name).append(json ? "\":\"" : ">");
      std::string close(json ? "\"" : "</");
      if (!json) close.append(name).append(">");
      const std::size_t at = body.find(open);
      if (at == std::string_view::npos) return std::nullopt;
      const std::size_t from = at + open.size();
      return std::string(body.substr(from, body.find(close, from) - from));
    };
    const pv::facts f = facts_for();
    const auto bind_send = engine.send_verification_code_for_bind_secure_mobile_phone(
        {.secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"}, f);
    const auto bind = engine.bind_secure_mobile_phone({.verification_code = bind_send.code_to_deliver(),
                                                       .secure_mobile_phone = "86-13900001234",
                                                       .account_id = "1234567890123456"},
                                                      f);
    const auto rd_send = engine.send_verification_code_for_enable_rd({.secure_mobile_phone = "86-13900002222"}, f);
    const auto rd = engine.enable_resource_directory({.enable_mode = "NewManagementAccount",
                                                      .ma_name = "admin@rdadmin.aliyunid.com",
                                                      .ma_secure_mobile_phone = "86-13900002222",
                                                      .verification_code = rd_send.code_to_deliver()},
                                                     f);
    const auto cams_send = engine.get_migration_verify_code(
        {.cust_space_id = "293483938841234", .phone_number = "8613800001234", .locale = "en", .method = "sms"}, f);
    const auto cams = engine.chatapp_migration_verified(
        {.cust_space_id = "293483938841234", .phone_number = "8613800001234", .verify_code = cams_send.code_to_deliver()},
        f);
    pv::facts with_contact = f;
    with_contact.contact.phone = "86-13900003333";  // a phone of its own: 1 code per minute per phone
    const auto contact = engine.send_phone_verification_for_message_contact(
        {.contact_id = "c-abc123", .phone_number = "86-13900003333"}, with_contact);
    const pv::engine_response* all[] = {&bind_send, &bind, &rd_send, &cams_send, &contact, &rd, &cams};
    std::set<pv::action> seen;
    for (const pv::engine_response* r : all) {
      const pv::action a = r->verdict().action();
      INFO(pv::action_name(a));
      REQUIRE(r->ok());
      seen.insert(a);
      const pv::action_info& row = pv::info(a);
      const auto expiration = field(r->body(), "ExpirationDate");
      const auto phone = field(r->body(), "PhoneNumber");
      CHECK(expiration.has_value() == row.returns_expiration_date);
      CHECK(phone.has_value() == row.returns_phone_number);
      if (row.returns_expiration_date)
        CHECK(expiration == std::string(pv::format_iso8601(r->code_expires_at()).view()));
      if (row.returns_phone_number) {
        REQUIRE(r->phone().has_value());
        CHECK(phone == std::string(pv::format_phone(*r->phone(), row.phone_form).view()));
      }
      CHECK(field(r->body(), "RequestId") == std::string(r->request_id()));
    }
    CHECK(seen.size() == pv::action_count);  // every row
    CHECK(field(bind_send.body(), "ExpirationDate") == std::string(pv::format_iso8601(clock.now() + 5min).view()));
    CHECK(field(cams_send.body(), "PhoneNumber") == "8613800001234");  // the compact form of action 4
  }
}

TEST_CASE("every body is byte for byte what render_error and render_success write for its verdict and fields",
          "[engine][render][bytes]") {
  // The engine copies bodies from pieces it rendered once (with texts that
  // need escaping in its HostId and Recommend here): the pieces around the
  // RequestId and the ExpirationDate must give the very bytes of a render.
  for (const pv::body_format format : {pv::body_format::json, pv::body_format::xml}) {
    for (const std::string_view host : {std::string_view("phoneverify"), std::string_view("h<\"&'\x01\\>\xff")}) {
      INFO(static_cast<int>(format) << " " << host);
      manual_clock clock;
      auto config = test_config();
      config.format = format;
      config.host_id = host;
      config.recommend = "see \"docs\" & <retry>\t\xe2\x82\xac";
      config.policy.cams_rate = {1, 1000ms};
      pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(35));
      std::vector<pv::engine_response> responses;
      const pv::send_verification_code_for_bind_secure_mobile_phone_request send{
          .secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"};
      responses.push_back(engine.send_verification_code_for_bind_secure_mobile_phone(send, facts_for()));
      const std::string code(responses.back().code_to_deliver());
      responses.push_back(engine.send_verification_code_for_bind_secure_mobile_phone(send, facts_for()));
      responses.push_back(engine.bind_secure_mobile_phone(
          {.verification_code = "000000", .secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"},
          facts_for()));
      responses.push_back(engine.bind_secure_mobile_phone(
          {.verification_code = "12ab", .secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"},
          facts_for()));
      responses.push_back(engine.bind_secure_mobile_phone(
          {.verification_code = code, .secure_mobile_phone = "86-13900001234", .account_id = "1234567890123456"},
          facts_for()));
      responses.push_back(engine.send_verification_code_for_bind_secure_mobile_phone({}, facts_for()));
      responses.push_back(engine.send_verification_code_for_enable_rd({.secure_mobile_phone = "86-1"}, facts_for()));
      responses.push_back(engine.send_verification_code_for_enable_rd({.secure_mobile_phone = "86-13900001234"},
                                                                      facts_for()));
      const pv::get_migration_verify_code_request cams{.cust_space_id = "293483938841234",
                                                       .phone_number = "8613800001234",
                                                       .locale = "en",
                                                       .method = "sms"};
      responses.push_back(engine.get_migration_verify_code(cams, facts_for()));
      responses.push_back(engine.get_migration_verify_code(cams, facts_for()));
      responses.push_back(engine.enable_resource_directory({.enable_mode = "CurrentAccount"}, facts_for()));
      responses.push_back(engine.chatapp_migration_verified({}, facts_for()));
      std::set<std::pair<bool, errc>> seen;
      for (const pv::engine_response& r : responses) {
        const pv::verdict& v = r.verdict();
        INFO(pv::describe(r).c_str());
        std::array<char, pv::engine_body_capacity> expected{};
        pv::render_result rendered;
        if (v.ok()) {
          pv::success_fields fields;
          fields.request_id = r.request_id();
          const auto expiration = pv::format_iso8601(r.code_expires_at());
          if (pv::info(v.action()).returns_expiration_date) fields.expiration_date = expiration.view();
          pv::inline_string<pv::max_phone_text> phone;
          if (pv::info(v.action()).returns_phone_number && r.phone()) {
            phone = pv::format_phone(*r.phone(), pv::info(v.action()).phone_form);
            fields.phone_number = phone.view();
          }
          rendered = pv::render_success(expected, format, v.action(), fields);
        } else {
          pv::error_fields fields;
          fields.request_id = r.request_id();
          fields.host_id = host;
          fields.recommend = config.recommend;
          fields.parameter = pv::parameter_name(v.at_fault());
          rendered = pv::render_error(expected, format, v.action(), v.error(), fields);
        }
        REQUIRE(rendered.ok());
        CHECK(r.body() == std::string_view(expected.data(), rendered.size));
        seen.insert({v.ok(), v.error()});
      }
      CHECK(seen.size() >= 6);
    }
  }
}

TEST_CASE("the RequestId's 32 hex digits (SSE2 where built with it) are both words' upper-case hex with the most significant first",
          "[engine]") {
  // Against a digit-by-digit reference on random words and on the edges of
  // every nibble (0, 9, A, F in each place), and the engine's own RequestIds
  // in the 8-4-4-4-12 shape of version 4.
  const auto reference = [](std::uint64_t high, std::uint64_t low) {
    std::string out;
    for (const std::uint64_t w : {high, low})
      for (int shift = 60; shift >= 0; shift -= 4) out.push_back("0123456789ABCDEF"[(w >> shift) & 0xFU]);
    return out;
  };
  const auto ours = [](std::uint64_t high, std::uint64_t low) {
    char digits[32];
    pv::detail::engine_front::uuid_digits(high, low, digits);
    return std::string(digits, 32);
  };
  pv::test::splitmix64 rng{pv::test::test_seed("uuid digits", 0x0D16)};
  std::size_t checked = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t high = rng(), low = rng();
    REQUIRE(ours(high, low) == reference(high, low));
    ++checked;
  }
  for (const std::uint64_t n : {0x0ULL, 0x9ULL, 0xAULL, 0xFULL})
    for (int place = 0; place < 16; ++place) {
      const std::uint64_t w = n << (4 * place);
      REQUIRE(ours(w, ~w) == reference(w, ~w));
      REQUIRE(ours(~w, w) == reference(~w, w));
      checked += 2;
    }
  CHECK(checked == 20128);
  CHECK(ours(0x0123456789ABCDEFULL, 0xFEDCBA9876543210ULL) == "0123456789ABCDEFFEDCBA9876543210");
  pv::engine_config config;
  config.key.fill(std::byte{0x3c});
  pv::engine e(config);
  const auto r = e.send_verification_code_for_bind_secure_mobile_phone({"86-13900001234", "1234567890123456"},
                                                                       pv::test::granting_facts("9999888877776666"));
  const std::string_view id = r.request_id();
  REQUIRE(id.size() == 36);
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) CHECK(id[i] == '-');
    else CHECK(((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')));
  }
  CHECK(id[14] == '4');
  CHECK((id[19] == '8' || id[19] == '9' || id[19] == 'A' || id[19] == 'B'));
}
