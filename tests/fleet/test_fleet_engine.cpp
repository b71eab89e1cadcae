// The fleet engine (fleet_engine.hpp) over the hiredis pool (redis.hpp)
// against real redis-server processes (redis_server.hpp), never a mock:
// - differential: seeded workloads through the embedded engine and the
//   fleet engine, on one caller clock and the same random draws, give the
//   same verdicts, bodies and codes (RULES.md §4, §5, §7);
// - start-up: an evicting maxmemory-policy is refused, CONFIG disabled
//   needs the explicit opt-out (RULES.md §4, §9);
// - bad state and failures fail closed with their fault, never an
//   admission, within the timeout (RULES.md §4, §9).
#include <catch2/catch.hpp>

#include <phoneverify/engine.hpp>
#include <phoneverify/fleet_engine.hpp>
#include <phoneverify/redis.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fleet/redis_server.hpp"
#include "fleet/fleet_support.hpp"
#include "support.hpp"

namespace {

namespace pv = phoneverify;
namespace fleet = phoneverify::fleet;
namespace rd = phoneverify::redis;
using namespace std::chrono_literals;
using pv::test::cmd;
using pv::test::text_of;
using pv::test::base_config;
using pv::test::digits;
using pv::test::fleet_config_of;
using pv::test::granting_facts;
using pv::test::make_fleet;
using pv::test::options_of;
using pv::test::reseedable_source;
using pv::test::redis_server;
using pv::test::redis_server_options;
using pv::test::splitmix64;



constexpr std::int64_t base_ms = 1'700'000'000'000;  // 2023-11-14, before the server's clock


// The two engines side by side on one clock.
struct pair_of_engines {
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(base_ms);
  std::shared_ptr<reseedable_source> embedded_random = std::make_shared<reseedable_source>();
  std::shared_ptr<reseedable_source> fleet_random = std::make_shared<reseedable_source>();
  std::unique_ptr<pv::engine> embedded;
  std::unique_ptr<fleet::fleet_engine> shared;
  std::uint64_t decisions = 0, issued = 0, accepted = 0, refused = 0;
  std::map<pv::verdict_reason, std::uint64_t> reasons;

  pair_of_engines(const pv::engine_config& config, const redis_server& server) {
    const auto t = now;
    pv::clock_function clock = [t] { return pv::timestamp{std::chrono::milliseconds{t->load()}}; };
    auto e = pv::engine::create(config, clock, embedded_random);
    REQUIRE(e.has_value());
    embedded = e.release();
    shared = make_fleet(fleet_config_of(config), server, fleet_random, clock);
  }

  // Runs one decision on both and compares everything a caller sees.
  template <class Call>
  std::string decide(std::uint64_t seed, Call&& call) {
    embedded_random->reseed(seed);
    fleet_random->reseed(seed);
    // The scripts read a state past its death time as absent, as the
    // embedded engine does once a sweep has dropped it (before, a dead
    // challenge still answers expired or used rather than no_code: the same
    // error, another detail). The embedded engine sweeps before each
    // decision here, so both answer as a swept store.
    embedded->evict_dead();
    const pv::engine_response a = call(*embedded);
    const pv::engine_response b = call(*shared);
    ++decisions;
    INFO("decision " << decisions << " at " << now->load() << ": embedded " << pv::describe(a).view()
                     << " / fleet " << pv::describe(b).view() << " fault "
                     << fleet::fault_name(fleet::fleet_engine::last_failure().what));
    REQUIRE(a.verdict() == b.verdict());
    REQUIRE(a.retry_at() == b.retry_at());
    REQUIRE(a.code_to_deliver() == b.code_to_deliver());
    REQUIRE(a.code_expires_at() == b.code_expires_at());
    REQUIRE(a.request_id() == b.request_id());
    REQUIRE(a.body() == b.body());
    ++reasons[a.reason()];
    if (a.ok() && !a.code_to_deliver().empty()) ++issued;
    else if (a.ok()) ++accepted;
    else ++refused;
    return std::string(a.code_to_deliver());
  }
};

// A seeded workload of every action: normal flows, typos, malformed codes,
// expiries, brute force, pumping at one number, CAMS bursts, clock jumps
// back and forward, day boundaries (UTC+8), and retries exactly at and one
// millisecond before the last retry_at.
void run_workload(pair_of_engines& pair, std::uint64_t seed, std::uint64_t count, std::uint64_t right_in_6 = 3) {
  splitmix64 rng{seed};
  const auto pick = [&rng](std::uint64_t n) { return rng() % n; };
  std::vector<std::string> members, callers, phones, spaces, cams_phones, contacts, contact_phones;
  for (int i = 0; i < 5; ++i) members.push_back(std::to_string(1'000'000'000'000'000ULL + static_cast<unsigned>(i)));
  for (int i = 0; i < 3; ++i) callers.push_back(std::to_string(2'000'000'000'000'000ULL + static_cast<unsigned>(i)));
  for (int i = 0; i < 4; ++i) phones.push_back("44-7911" + digits(static_cast<unsigned>(i), 6));
  for (int i = 0; i < 3; ++i) spaces.push_back(std::to_string(4'000'000'000'000ULL + static_cast<unsigned>(i)));
  for (int i = 0; i < 3; ++i) cams_phones.push_back("4479" + digits(static_cast<unsigned>(i), 8));
  for (int i = 0; i < 2; ++i) {
    contacts.push_back("c-" + std::to_string(i));
    contact_phones.push_back("86-139" + digits(static_cast<unsigned>(i), 8));
  }
  std::map<std::string, std::string> codes;  // binding -> last code issued
  pv::timestamp last_retry{};
  std::uint64_t step_seed = seed * 1000003;
  for (std::uint64_t i = 0; i < count; ++i) {
    // The clock.
    std::int64_t t = pair.now->load();
    switch (pick(20)) {
      case 0: t += 60'000; break;
      case 1: t += 5 * 60'000 + static_cast<std::int64_t>(pick(2000)); break;
      case 2: t += 3'600'000; break;
      case 3: t += static_cast<std::int64_t>(pick(86'400'000)); break;
      case 4: t -= static_cast<std::int64_t>(pick(600'000)); break;  // a clock that steps back
      case 5: {  // to one millisecond before, or exactly at, the next local midnight (UTC+8)
        const std::int64_t day = 86'400'000, off = 8 * 3'600'000;
        t = ((t + off) / day + 1) * day - off - static_cast<std::int64_t>(pick(2));
        break;
      }
      case 6:
        if (last_retry != pv::timestamp::max() && last_retry.time_since_epoch().count() > t)
          t = last_retry.time_since_epoch().count() - static_cast<std::int64_t>(pick(2));
        break;
      case 7: break;  // the same millisecond (bursts)
      default: t += static_cast<std::int64_t>(pick(3000)); break;
    }
    pair.now->store(t);
    const std::string& member = members[pick(members.size())];
    const std::string& caller = callers[pick(callers.size())];
    const std::string& phone = phones[pick(4) == 0 ? 0 : pick(phones.size())];  // phone 0 is pumped
    const pv::facts f = [&] {
      pv::facts g = granting_facts(caller);
      g.account.secure_phone = phones[pick(phones.size())];
      return g;
    }();
    const auto guess = [&](const std::string& right) -> std::string {
      const std::uint64_t roll = pick(6);
      if (roll < right_in_6) return right.empty() ? "123456" : right;
      switch (roll) {
        case 3: return right.empty() ? "654321" : right.substr(0, 5) + static_cast<char>('0' + (right[5] - '0' + 1) % 10);
        case 4: return "12a456";
        default: return digits(rng() % 1'000'000, 6);
      }
    };
    const std::uint64_t s = ++step_seed;
    std::string code;
    pv::timestamp retry{};
    const auto record = [&retry](const pv::engine_response& r) { retry = r.retry_at(); };
    switch (pick(9)) {
      case 8: {  // brute force across resends, up to the lockout
        for (int round = 0; round < 3; ++round) {
          const std::string& on = phones[pick(phones.size())];
          code = pair.decide(s + 31 * static_cast<std::uint64_t>(round), [&](auto& e) {
            auto r = e.send_verification_code_for_bind_secure_mobile_phone({on, member}, f);
            record(r);
            return r;
          });
          if (!code.empty()) codes["1" + member] = code;
          for (int k = 0; k < 4; ++k) {
            const std::string wrong = digits(rng() % 1'000'000, 6);
            pair.decide(s + 31 * static_cast<std::uint64_t>(round) + 1 + static_cast<std::uint64_t>(k),
                        [&](auto& e) { return e.bind_secure_mobile_phone({wrong, on, member}, f); });
          }
          pair.now->store(pair.now->load() + 61'000);
        }
        break;
      }
      case 0:
      case 1: {
        code = pair.decide(s, [&](auto& e) {
          auto r = e.send_verification_code_for_bind_secure_mobile_phone({phone, member}, f);
          record(r);
          return r;
        });
        if (!code.empty()) codes["1" + member] = code;
        break;
      }
      case 2: {
        const std::string submitted = guess(codes["1" + member]);
        const std::string& on_phone = pick(8) == 0 ? phones[pick(phones.size())] : phone;
        pair.decide(s, [&](auto& e) {
          auto r = e.bind_secure_mobile_phone({submitted, on_phone, member}, f);
          record(r);
          return r;
        });
        break;
      }
      case 3: {
        code = pair.decide(s, [&](auto& e) {
          auto r = e.send_verification_code_for_enable_rd({}, f);
          record(r);
          return r;
        });
        if (!code.empty()) codes["3" + caller + std::string(f.account.secure_phone)] = code;
        break;
      }
      case 4: {
        const std::string submitted = guess(codes["3" + caller + std::string(f.account.secure_phone)]);
        const std::string name = "ops" + caller.substr(caller.size() - 1) + "@rdadmin.aliyunid.com";
        pair.decide(s, [&](auto& e) {
          auto r = e.enable_resource_directory({"NewManagementAccount", name, {}, submitted}, f);
          record(r);
          return r;
        });
        break;
      }
      case 5: {  // CAMS: sometimes a burst of 12 at one instant
        const std::size_t n = pick(4) == 0 ? 12 : 1;
        for (std::size_t k = 0; k < n; ++k) {
          const std::string& space = spaces[pick(spaces.size())];
          const std::string& cp = cams_phones[pick(cams_phones.size())];
          code = pair.decide(s + 7919 * k, [&](auto& e) {
            auto r = e.get_migration_verify_code({space, cp, "en_US", "sms"}, f);
            record(r);
            return r;
          });
          if (!code.empty()) codes["4" + space] = code;
        }
        break;
      }
      case 6: {
        const std::string& space = spaces[pick(spaces.size())];
        const std::string& cp = cams_phones[pick(cams_phones.size())];
        const std::string submitted = guess(codes["4" + space]);
        pair.decide(s, [&](auto& e) {
          auto r = e.chatapp_migration_verified({space, cp, submitted}, f);
          record(r);
          return r;
        });
        break;
      }
      default: {
        const std::size_t k = pick(contacts.size());
        pv::facts g = f;
        g.contact.phone = contact_phones[k];
        pair.decide(s, [&](auto& e) {
          auto r = e.send_phone_verification_for_message_contact({contacts[k], contact_phones[k]}, g);
          record(r);
          return r;
        });
        break;
      }
    }
    last_retry = retry;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// The same verdicts as the embedded engine

TEST_CASE("the fleet engine gives the embedded engine's verdicts, bodies and codes over seeded workloads",
          "[fleet][differential]") {
  redis_server server;
  REQUIRE(server.ok());
  const std::uint64_t seed = pv::test::test_seed("fleet_engine_differential", 2026);
  INFO("seed " << seed);
  std::uint64_t decisions = 0;
  std::map<pv::verdict_reason, std::uint64_t> reasons;
  std::uint64_t issued = 0, accepted = 0;
  SECTION("the default policy and a tight one (small quota, rate, attempts, lockout and failure budget)") {
    for (int round = 0; round < 2; ++round) {
      pv::engine_config config = base_config();
      if (round == 1) {
        config.policy.daily.limit = 3;
        config.policy.cams_rate = {3, 1000ms};
        config.policy.code.max_attempts = 3;
        config.policy.code.max_consecutive_failures = 5;
        config.policy.code.lockout = 10min;
        config.policy.code.failure_budget = 30;
        config.policy.code.failure_budget_window = 1h;
        config.policy.code.resend_interval = 20s;
      }
      config.capacity = 1024;  // small, so that the sweep before each decision is cheap
      REQUIRE(pv::validate(config) == pv::config_error::ok);
      pair_of_engines pair(config, server);
      run_workload(pair, seed + static_cast<std::uint64_t>(round), 5500, round == 0 ? 3 : 1);
      decisions += pair.decisions;
      issued += pair.issued;
      accepted += pair.accepted;
      for (const auto& [reason, n] : pair.reasons) reasons[reason] += n;
      rd::connection c(options_of(server));
      REQUIRE(cmd(c, {"FLUSHALL"}).ok());
    }
  }
  std::printf("fleet differential: %llu decisions identical (%llu codes issued, %llu accepted)\n",
              static_cast<unsigned long long>(decisions), static_cast<unsigned long long>(issued),
              static_cast<unsigned long long>(accepted));
  CHECK(decisions >= 11'000);
  // The workload reaches every limit it is meant to.
  for (pv::verdict_reason r : {pv::verdict_reason::flow_control, pv::verdict_reason::resend_too_soon,
                               pv::verdict_reason::phone_window_exceeded, pv::verdict_reason::daily_quota_exceeded,
                               pv::verdict_reason::binding_locked, pv::verdict_reason::code_rejected}) {
    INFO("reason " << static_cast<int>(r));
    CHECK(reasons[r] > 0);
  }
  CHECK(issued > 100);
  CHECK(accepted > 50);
  CHECK(reasons[pv::verdict_reason::state_unavailable] == 0);
}

TEST_CASE("the fleet engine on the server's clock sends a code and binds it once", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  auto engine = make_fleet(fleet_config_of(base_config()), server, std::make_shared<pv::system_random_source>(), {});
  const pv::facts f = granting_facts("2000000000000001");
  const auto sent = engine->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1384512345678901"}, f);
  INFO(pv::describe(sent).view());
  REQUIRE(sent.ok());
  const std::int64_t now = pv::system_now().time_since_epoch().count();
  CHECK(std::abs(sent.code_expires_at().time_since_epoch().count() - (now + 300'000)) < 5'000);
  const std::string code(sent.code_to_deliver());
  const auto again = engine->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1384512345678901"}, f);
  CHECK(again.reason() == pv::verdict_reason::resend_too_soon);
  CHECK(engine->bind_secure_mobile_phone({code, "44-7911123456", "1384512345678901"}, f).ok());
  const auto twice = engine->bind_secure_mobile_phone({code, "44-7911123456", "1384512345678901"}, f);
  CHECK(twice.error() == pv::errc::invalid_verification_code);
  CHECK(engine->stats().failures == 0);
}

// ---------------------------------------------------------------------------
// Start-up

TEST_CASE("the fleet engine refuses at start-up a server that can evict keys, and names the policy", "[fleet]") {
  for (const char* policy : {"allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"}) {
    redis_server_options o;
    o.maxmemory_policy = policy;
    redis_server server(o);
    REQUIRE(server.ok());
    auto built = fleet::fleet_engine::create(fleet_config_of(base_config()),
                                             std::make_shared<rd::pool>(options_of(server)));
    REQUIRE_FALSE(built.has_value());
    CHECK(built.error().error == fleet::start_error::eviction_policy);
    CHECK(built.error().detail.view() == policy);
    CHECK(fleet::describe(built.error()).view().find(policy) != std::string_view::npos);
  }
}

TEST_CASE("where CONFIG is disabled the fleet engine starts only with the explicit assume_noeviction", "[fleet]") {
  redis_server_options o;
  o.extra = {"--rename-command", "CONFIG", ""};
  redis_server server(o);
  REQUIRE(server.ok());
  fleet::fleet_config config = fleet_config_of(base_config());
  auto refused = fleet::fleet_engine::create(config, std::make_shared<rd::pool>(options_of(server)));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().error == fleet::start_error::config_unreadable);
  config.assume_noeviction = true;
  auto started = fleet::fleet_engine::create(config, std::make_shared<rd::pool>(options_of(server)));
  REQUIRE(started.has_value());
  CHECK(started->get_migration_verify_code({"4000000000001", "447911123456", "en_US", "sms"},
                                           granting_facts("2000000000000001"))
            .ok());
}

TEST_CASE("the fleet engine's start-up refuses each misconfiguration with its error and loads the scripts",
          "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  const auto start = [&](const fleet::fleet_config& c) {
    return fleet::fleet_engine::create(c, std::make_shared<rd::pool>(options_of(server)));
  };
  fleet::fleet_config config = fleet_config_of(base_config());
  {
    fleet::fleet_config c = config;
    c.engine.key = {};
    auto r = start(c);
    CHECK(r.error().error == fleet::start_error::engine_config_invalid);
    CHECK(r.error().config == pv::config_error::key_all_zero);
  }
  {
    fleet::fleet_config c = config;
    c.deployment = "a{b}";
    CHECK(start(c).error().error == fleet::start_error::deployment_invalid);
    c.deployment = "";
    CHECK(start(c).error().error == fleet::start_error::deployment_invalid);
  }
  {
    fleet::fleet_config c = config;
    c.key_name_key = {};
    CHECK(start(c).error().error == fleet::start_error::key_name_key_all_zero);
  }
  {
    fleet::fleet_config c = config;
    c.expiry_margin = -1ms;
    CHECK(start(c).error().error == fleet::start_error::expiry_margin_out_of_range);
  }
  {
    fleet::fleet_config c = config;
    c.wait_replicas = 1;
    c.wait_timeout = 0ms;
    CHECK(start(c).error().error == fleet::start_error::wait_invalid);
    c.wait_replicas = -1;
    CHECK(start(c).error().error == fleet::start_error::wait_invalid);
  }
  {
    fleet::fleet_config c = config;
    c.engine.policy.per_phone.windows[2].window = std::chrono::milliseconds{std::int64_t{1} << 41};
    CHECK(start(c).error().error == fleet::start_error::limits_not_exact);
  }
  CHECK(fleet::fleet_engine::create(config, nullptr).error().error == fleet::start_error::no_transport);
  CHECK(fleet::fleet_engine::create(config, std::make_shared<rd::pool>(options_of(server)), nullptr).error().error ==
        fleet::start_error::no_random_source);
  {
    rd::options nowhere;
    nowhere.unix_socket = "/nonexistent/redis.sock";
    auto r = fleet::fleet_engine::create(config, std::make_shared<rd::pool>(nowhere));
    CHECK(r.error().error == fleet::start_error::server_unavailable);
    CHECK(r.error().transport == fleet::transport_error::connection_refused);
  }
  rd::connection c(options_of(server));
  REQUIRE(cmd(c, {"SCRIPT", "FLUSH"}).ok());
  REQUIRE(start(config).has_value());
  rd::call_result exists = cmd(c, {"SCRIPT", "EXISTS", fleet::flow_script.sha1_view(), fleet::check_script.sha1_view(),
                                   fleet::send_script.sha1_view()});
  REQUIRE(exists.ok());
  const fleet::reply_view v = exists.value.view();
  REQUIRE(v.elements.size() == 3);
  for (const auto& e : v.elements) CHECK(e.integer == 1);
}

// ---------------------------------------------------------------------------
// Bad state and failures: closed, with their fault, nothing overwritten

TEST_CASE("a damaged key fails the engine's decision closed with its fault and is not overwritten", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  auto engine = make_fleet(fleet_config_of(base_config()), server, std::make_shared<pv::system_random_source>(), {});
  rd::connection c(options_of(server));
  const pv::facts f = granting_facts("2000000000000001");
  const std::string member = "1384512345678901", phone = "44-7911123456";
  const auto key = fleet::make_key(engine->keys(), fleet::key_kind::challenge, member,
                                   pv::action::send_verification_code_for_bind_secure_mobile_phone);
  REQUIRE(key.has_value());
  const auto phone_key = fleet::make_key(engine->keys(), fleet::key_kind::phone, "+447911123456");
  const auto quota_key = fleet::make_key(engine->keys(), fleet::key_kind::quota, member);
  REQUIRE(phone_key.has_value());
  REQUIRE(quota_key.has_value());
  std::string other_version(64, '\0');
  other_version[0] = '\x09';
  other_version[1] = '\x01';
  struct damage {
    const char* name;
    std::vector<std::string> write;
    fleet::fault expected;
  };
  const std::vector<damage> cases = {
      {"garbage", {"SET", std::string(key->view()), "not a challenge"}, fleet::fault::state_wrong_size},
      {"a list", {"RPUSH", std::string(key->view()), "a", "b"}, fleet::fault::state_wrong_type},
      {"a hash", {"HSET", std::string(key->view()), "f", "v"}, fleet::fault::state_wrong_type},
      {"another version", {"SET", std::string(key->view()), other_version}, fleet::fault::state_wrong_version},
  };
  for (const damage& d : cases) {
    INFO(d.name);
    REQUIRE(cmd(c, {"FLUSHALL"}).ok());
    std::vector<std::string_view> words(d.write.begin(), d.write.end());
    REQUIRE(c.command(words).ok());
    const std::string type_before = text_of(c, {"TYPE", key->view()});
    const std::string dump_before = text_of(c, {"DUMP", key->view()});
    const auto before = engine->stats();
    const auto sent = engine->send_verification_code_for_bind_secure_mobile_phone({phone, member}, f);
    CHECK_FALSE(sent.ok());
    CHECK(sent.error() == pv::info(pv::action::send_verification_code_for_bind_secure_mobile_phone).limit_error);
    CHECK(sent.reason() == pv::verdict_reason::state_damaged);
    CHECK(sent.code_to_deliver().empty());
    CHECK(sent.retry_at() != pv::timestamp::max());
    CHECK(fleet::fleet_engine::last_failure().what == d.expected);
    const auto bound = engine->bind_secure_mobile_phone({"123456", phone, member}, f);
    CHECK(bound.error() == pv::info(pv::action::bind_secure_mobile_phone).limit_error);
    CHECK(bound.reason() == pv::verdict_reason::state_damaged);
    CHECK(fleet::fleet_engine::last_failure().what == d.expected);
    const auto after = engine->stats();
    CHECK(after.faults[static_cast<std::size_t>(d.expected)] == before.faults[static_cast<std::size_t>(d.expected)] + 2);
    CHECK(after.failures == before.failures + 2);
    // Left as it was, and no other key of the send written.
    CHECK(text_of(c, {"TYPE", key->view()}) == type_before);
    CHECK(text_of(c, {"DUMP", key->view()}) == dump_before);
    CHECK(text_of(c, {"EXISTS", phone_key->view()}) == "0");
    CHECK(text_of(c, {"EXISTS", quota_key->view()}) == "0");
  }
  // A damaged rate key refuses CAMS flow control the same way.
  REQUIRE(cmd(c, {"FLUSHALL"}).ok());
  const auto rate_key = fleet::make_key(engine->keys(), fleet::key_kind::rate, "2000000000000001");
  REQUIRE(cmd(c, {"SET", rate_key->view(), "xx"}).ok());
  const auto cams = engine->get_migration_verify_code({"4000000000001", "447911123456", "en_US", "sms"}, f);
  CHECK(cams.error() == pv::errc::system_limit_control);
  CHECK(cams.reason() == pv::verdict_reason::state_damaged);
  CHECK(fleet::fleet_engine::last_failure().what == fleet::fault::state_wrong_size);
  CHECK(text_of(c, {"GET", rate_key->view()}) == "xx");
}

TEST_CASE("a server out of memory under noeviction refuses sends closed and nothing is half-written", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  auto engine = make_fleet(fleet_config_of(base_config()), server, std::make_shared<pv::system_random_source>(), {});
  rd::connection c(options_of(server));
  REQUIRE(cmd(c, {"CONFIG", "SET", "maxmemory", "1"}).ok());
  const pv::facts f = granting_facts("2000000000000001");
  for (int i = 0; i < 20; ++i) {
    const std::string member = std::to_string(1'384'512'345'678'900ULL + static_cast<unsigned>(i));
    const auto sent = engine->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", member}, f);
    CHECK(sent.reason() == pv::verdict_reason::state_unavailable);
    CHECK(sent.code_to_deliver().empty());
    CHECK(fleet::fleet_engine::last_failure().transport == fleet::transport_error::server_out_of_memory);
  }
  CHECK(text_of(c, {"DBSIZE"}) == "0");
  REQUIRE(cmd(c, {"CONFIG", "SET", "maxmemory", "0"}).ok());
  CHECK(engine->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1384512345678900"}, f).ok());
}

TEST_CASE("a stalled server (DEBUG SLEEP) gets verdicts within the timeout, closed, and then recovers", "[fleet]") {
  redis_server_options o;
  o.enable_debug_command = true;
  redis_server server(o);
  REQUIRE(server.ok());
  auto engine = make_fleet(fleet_config_of(base_config()), server, std::make_shared<pv::system_random_source>(), {},
                           50ms);
  const pv::facts f = granting_facts("2000000000000001");
  REQUIRE(engine->get_migration_verify_code({"4000000000001", "447911123456", "en_US", "sms"}, f).ok());
  std::thread sleeper([&server] {
    rd::connection c(options_of(server));
    cmd(c, {"DEBUG", "SLEEP", "1.5"});
  });
  std::this_thread::sleep_for(100ms);
  std::chrono::milliseconds worst{0};
  int refused = 0;
  for (int i = 0; i < 8; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = engine->send_verification_code_for_bind_secure_mobile_phone(
        {"44-7911123456", std::to_string(1'384'512'345'678'900ULL + static_cast<unsigned>(i))}, f);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    worst = std::max(worst, took);
    CHECK_FALSE(r.ok());
    CHECK(r.reason() == pv::verdict_reason::state_unavailable);
    refused += r.ok() ? 0 : 1;
  }
  sleeper.join();
  INFO("slowest verdict " << worst.count() << " ms");
  CHECK(refused == 8);
  // One command timeout (50 ms) and, after a dropped connection, one connect (at most 50 ms more).
  CHECK(worst < 140ms);
  CHECK(engine->stats().transport_errors[static_cast<std::size_t>(fleet::transport_error::timeout)] >= 1);
  std::this_thread::sleep_for(100ms);
  // The timed-out sends reached the server and ran after its sleep: their
  // outcome was unknown to the engine, which refused them all; the charge
  // stands (stricter, never looser): the phone's window is spent.
  const auto same_phone =
      engine->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1384512345678999"}, f);
  CHECK(same_phone.reason() == pv::verdict_reason::phone_window_exceeded);
  CHECK(engine->send_verification_code_for_bind_secure_mobile_phone({"44-7911123457", "1384512345678999"}, f).ok());
}

TEST_CASE("a server that is down gets closed verdicts within the timeout and the engine reconnects after", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  auto engine = make_fleet(fleet_config_of(base_config()), server, std::make_shared<pv::system_random_source>(), {},
                           50ms);
  const pv::facts f = granting_facts("2000000000000001");
  REQUIRE(engine->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1384512345678901"}, f).ok());
  server.stop();
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = engine->bind_secure_mobile_phone({"123456", "44-7911123456", "1384512345678901"}, f);
    CHECK(std::chrono::steady_clock::now() - t0 < 120ms);
    CHECK(r.reason() == pv::verdict_reason::state_unavailable);
    CHECK(r.error() == pv::info(pv::action::bind_secure_mobile_phone).limit_error);
  }
  REQUIRE(server.start());
  CHECK(engine->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1384512345678902"}, f).ok());
}

TEST_CASE("SCRIPT FLUSH under load costs no verdict: EVAL after NOSCRIPT", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  auto link = std::make_shared<rd::pool>(options_of(server), 4);
  auto built = fleet::fleet_engine::create(fleet_config_of(base_config()), link);
  REQUIRE(built.has_value());
  auto engine = built.release();
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    rd::connection c(options_of(server));
    while (!done.load()) {
      cmd(c, {"SCRIPT", "FLUSH"});
      std::this_thread::sleep_for(2ms);
    }
  });
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t)
    workers.emplace_back([&, t] {
      const pv::facts f = granting_facts("200000000000000" + std::to_string(t));
      for (int i = 0; i < 400; ++i) {
        const std::string member = std::to_string(1'384'512'345'000'000ULL + static_cast<unsigned>(t * 1000 + i));
        const auto r = engine->send_verification_code_for_bind_secure_mobile_phone(
            {"44-7911" + digits(static_cast<unsigned>(t * 1000 + i), 6), member}, f);
        (r.ok() ? ok : failed).fetch_add(1);
      }
    });
  for (auto& w : workers) w.join();
  done.store(true);
  flusher.join();
  CHECK(ok.load() == 800);
  CHECK(failed.load() == 0);
  CHECK(link->stats().noscript_fallbacks > 0);
}

// ---------------------------------------------------------------------------
// Across processes: 4 processes x 2 threads on the same accounts and phones

namespace {

constexpr std::size_t max_records = 8192;
struct send_record {
  std::uint32_t member, phone;
  std::int64_t issued_ms;
  char code[8];
};
struct accept_record {
  std::uint32_t member;
  char code[8];
};
// What every process writes, in memory shared by fork (lock-free atomics
// work across processes).
struct shared_log {
  std::atomic<std::uint32_t> sends{0}, accepts{0}, failures{0}, cams_admitted{0}, children_failed{0};
  std::atomic<std::int64_t> cams_first{INT64_MAX}, cams_last{0};
  std::atomic<std::uint32_t> guess_wrong[4]{}, guess_passed[4]{}, guess_locked[4]{};
  std::atomic<std::uint64_t> published[6]{};  // per member: code * 8 + phone + 1 of its latest code
  send_record send[max_records];
  accept_record accept[max_records];
};

pv::engine_config process_config() {
  pv::engine_config config = base_config();
  config.policy.per_phone = {{{1, 400ms}, {3, 2000ms}, {5, 10'000ms}}};
  config.policy.code.resend_interval = 1s;
  config.policy.code.validity = 5s;
  config.policy.code.max_attempts = 3;
  config.policy.code.max_consecutive_failures = 3;
  config.policy.code.lockout = 1h;
  config.policy.daily.limit = 3;
  return config;
}

const std::vector<std::string> process_members = {"1000000000000001", "1000000000000002", "1000000000000003",
                                                  "1000000000000004", "1000000000000005", "1000000000000006"};
const std::vector<std::string> process_phones = {"44-7911000001", "44-7911000002", "44-7911000003",
                                                 "44-7911000004"};
const std::vector<std::string> guessed_members = {"1100000000000001", "1100000000000002", "1100000000000003",
                                                  "1100000000000004"};

void atomic_min(std::atomic<std::int64_t>& a, std::int64_t v) {
  std::int64_t seen = a.load();
  while (v < seen && !a.compare_exchange_weak(seen, v)) {
  }
}
void atomic_max(std::atomic<std::int64_t>& a, std::int64_t v) {
  std::int64_t seen = a.load();
  while (v > seen && !a.compare_exchange_weak(seen, v)) {
  }
}

// One child process: its own pool and engine (nothing shared with the
// parent but the server and the log), two threads.
int child_main(const redis_server& server, shared_log& log, std::uint64_t seed,
               const std::vector<std::string>& guessed_codes) {
  auto built = fleet::fleet_engine::create(fleet_config_of(process_config()),
                                           std::make_shared<rd::pool>(options_of(server, 2000ms), 2));
  if (!built) return 2;
  auto engine = built.release();
  const pv::facts f = granting_facts("2000000000000009");
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      splitmix64 rng{seed * 7 + static_cast<std::uint64_t>(t)};
      // Phase 1: every thread guesses wrong on the pre-issued codes, then tries the right one.
      for (std::size_t b = 0; b < guessed_members.size(); ++b) {
        for (int k = 0; k < 6; ++k) {
          const std::string submitted = k == 5 ? guessed_codes[b] : digits(rng() % 1'000'000, 6);
          if (submitted == guessed_codes[b] && k != 5) continue;
          const auto r = engine->bind_secure_mobile_phone({submitted, process_phones[b], guessed_members[b]}, f);
          if (r.ok()) log.guess_passed[b].fetch_add(1);
          else if (r.reason() == pv::verdict_reason::state_unavailable) log.failures.fetch_add(1);
          else if (r.verdict().code_status() == pv::check_status::wrong_code) log.guess_wrong[b].fetch_add(1);
          else if (r.verdict().code_status() == pv::check_status::locked) log.guess_locked[b].fetch_add(1);
        }
      }
      // Phase 2: sends, binds and CAMS requests for 2 s.
      const auto end = std::chrono::steady_clock::now() + 2s;
      while (std::chrono::steady_clock::now() < end) {
        const std::uint32_t m = static_cast<std::uint32_t>(rng() % process_members.size());
        const std::uint32_t p = static_cast<std::uint32_t>(rng() % process_phones.size());
        switch (rng() % 3) {
          case 0: {
            const auto r = engine->send_verification_code_for_bind_secure_mobile_phone(
                {process_phones[p], process_members[m]}, f);
            if (r.reason() == pv::verdict_reason::state_unavailable) log.failures.fetch_add(1);
            if (!r.ok()) break;
            const std::uint32_t i = log.sends.fetch_add(1);
            if (i >= max_records) break;
            send_record& rec = log.send[i];
            rec.member = m;
            rec.phone = p;
            rec.issued_ms = r.code_expires_at().time_since_epoch().count() - 5000;
            std::memcpy(rec.code, r.code_to_deliver().data(), 6);
            std::uint64_t value = 0;
            for (char c : r.code_to_deliver()) value = value * 10 + static_cast<std::uint64_t>(c - '0');
            log.published[m].store(value * 8 + p + 1);
            break;
          }
          case 1: {
            const std::uint64_t packed = log.published[m].load();
            if (packed == 0) break;
            const std::string code = digits((packed - 1) / 8, 6);
            const auto r = engine->bind_secure_mobile_phone({code, process_phones[(packed - 1) % 8], process_members[m]}, f);
            if (r.reason() == pv::verdict_reason::state_unavailable) log.failures.fetch_add(1);
            if (!r.ok()) break;
            const std::uint32_t i = log.accepts.fetch_add(1);
            if (i >= max_records) break;
            log.accept[i].member = m;
            std::memcpy(log.accept[i].code, code.data(), 6);
            break;
          }
          default: {
            const std::int64_t t0 = pv::system_now().time_since_epoch().count();
            const auto r = engine->get_migration_verify_code(
                {"4000000000009", "4479" + digits(rng() % 1000, 8), "en_US", "sms"}, f);
            const std::int64_t t1 = pv::system_now().time_since_epoch().count();
            if (r.reason() == pv::verdict_reason::state_unavailable) log.failures.fetch_add(1);
            if (r.reason() != pv::verdict_reason::flow_control) {
              log.cams_admitted.fetch_add(1);
              atomic_min(log.cams_first, t0);
              atomic_max(log.cams_last, t1);
            }
            break;
          }
        }
      }
    });
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace

TEST_CASE("4 processes x 2 threads never exceed the quota, the windows, the attempts or the lockout, and never "
          "accept a code twice",
          "[fleet][concurrency]") {
  redis_server server;
  REQUIRE(server.ok());
  void* memory = ::mmap(nullptr, sizeof(shared_log), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(memory != MAP_FAILED);
  shared_log& log = *new (memory) shared_log;
  // The guessed bindings' codes, issued before the fork.
  std::vector<std::string> guessed_codes;
  {
    auto parent = make_fleet(fleet_config_of(process_config()), server, std::make_shared<pv::system_random_source>(),
                             {});
    const pv::facts f = granting_facts("2000000000000009");
    for (std::size_t b = 0; b < guessed_members.size(); ++b) {
      const auto r =
          parent->send_verification_code_for_bind_secure_mobile_phone({process_phones[b], guessed_members[b]}, f);
      REQUIRE(r.ok());
      guessed_codes.emplace_back(r.code_to_deliver());
    }
    std::this_thread::sleep_for(450ms);  // the per-phone window of 1 per 400 ms
  }
  std::vector<pid_t> children;
  for (int c = 0; c < 4; ++c) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(child_main(server, log, 1000 + static_cast<std::uint64_t>(c), guessed_codes));
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(log.failures.load() == 0);
  // Attempts and lockout: 3 failures per binding in all, then locked; the right code never passes after.
  for (std::size_t b = 0; b < guessed_members.size(); ++b) {
    INFO("guessed binding " << b);
    CHECK(log.guess_wrong[b].load() == 3);
    CHECK(log.guess_passed[b].load() == 0);
    CHECK(log.guess_locked[b].load() == 4 * 2 * 6 - 3);
  }
  const std::uint32_t sends = std::min<std::uint32_t>(log.sends.load(), max_records);
  const std::uint32_t accepts = std::min<std::uint32_t>(log.accepts.load(), max_records);
  std::map<std::uint32_t, std::vector<std::int64_t>> by_member, by_phone;
  std::set<std::string> issued;
  for (std::uint32_t i = 0; i < sends; ++i) {
    by_member[log.send[i].member].push_back(log.send[i].issued_ms);
    by_phone[log.send[i].phone].push_back(log.send[i].issued_ms);
    issued.insert(std::to_string(log.send[i].member) + ":" + std::string(log.send[i].code, 6));
  }
  for (auto& [m, times] : by_member) {
    std::sort(times.begin(), times.end());
    CHECK(times.size() <= 3);  // the daily quota
    for (std::size_t i = 1; i < times.size(); ++i) CHECK(times[i] - times[i - 1] >= 1000);  // the resend interval
  }
  for (auto& [p, times] : by_phone) {
    std::sort(times.begin(), times.end());
    for (std::size_t i = 0; i < times.size(); ++i) {
      if (i + 1 < times.size()) CHECK(times[i + 1] - times[i] >= 400);
      if (i + 3 < times.size()) CHECK(times[i + 3] - times[i] >= 2000);
      if (i + 5 < times.size()) CHECK(times[i + 5] - times[i] >= 10'000);
    }
  }
  std::set<std::string> accepted;
  for (std::uint32_t i = 0; i < accepts; ++i) {
    const std::string id = std::to_string(log.accept[i].member) + ":" + std::string(log.accept[i].code, 6);
    CHECK(accepted.insert(id).second);  // no code accepted twice
    CHECK(issued.count(id) == 1);
  }
  // CAMS flow control (10 per second, a burst of 10) over the whole span, with 1 s of slack for clock reads.
  const std::int64_t span = log.cams_last.load() - log.cams_first.load();
  CHECK(log.cams_admitted.load() <= 10 + static_cast<std::uint32_t>((span + 1000) / 100));
  std::printf("fleet processes: %u sends, %u accepted codes, %u CAMS requests admitted over %lld ms\n", sends,
              accepts, log.cams_admitted.load(), static_cast<long long>(span));
  CHECK(sends >= 2);
  CHECK(accepts >= 1);
  ::munmap(memory, sizeof(shared_log));
}

// ---------------------------------------------------------------------------
// Persistence, failover and the durable mode

namespace {

struct acknowledged_send {
  std::string member, phone, code;
};

// Sends on fresh members and phones from one thread until `stop`, keeping
// every acknowledged (issued) code.
void send_until(fleet::fleet_engine& engine, std::atomic<bool>& stop, std::vector<acknowledged_send>& acked,
                std::atomic<int>& refused, std::uint64_t first) {
  const pv::facts f = granting_facts("2000000000000001");
  for (std::uint64_t i = first; !stop.load(); ++i) {
    const std::string member = std::to_string(1'300'000'000'000'000ULL + i);
    const std::string phone = "44-7911" + digits(i % 1'000'000, 6);
    const auto r = engine.send_verification_code_for_bind_secure_mobile_phone({phone, member}, f);
    if (r.ok()) acked.push_back({member, phone, std::string(r.code_to_deliver())});
    else refused.fetch_add(1);
  }
}

// Every acknowledged code still binds, once: nothing acknowledged was lost.
void all_bind(fleet::fleet_engine& engine, const std::vector<acknowledged_send>& acked) {
  const pv::facts f = granting_facts("2000000000000001");
  std::size_t bound = 0;
  for (const acknowledged_send& a : acked) {
    auto r = engine.bind_secure_mobile_phone({a.code, a.phone, a.member}, f);
    // A pooled connection opened before the crash fails its first command
    // (connection_lost: refused closed) and reconnects: the caller's retry.
    if (r.reason() == pv::verdict_reason::state_unavailable)
      r = engine.bind_secure_mobile_phone({a.code, a.phone, a.member}, f);
    if (r.ok()) ++bound;
    else
      std::printf("not bound: %s (%s)\n", pv::describe(r).c_str(),
                  std::string(fleet::transport_error_name(fleet::fleet_engine::last_failure().transport)).c_str());
  }
  CHECK(bound == acked.size());
}

}  // namespace

TEST_CASE("kill -9 of a server with appendfsync always under load loses nothing acknowledged", "[fleet][faults]") {
  redis_server_options o;
  o.appendonly = true;
  o.appendfsync = "always";
  redis_server server(o);
  REQUIRE(server.ok());
  auto engine = make_fleet(fleet_config_of(base_config()), server, std::make_shared<pv::system_random_source>(), {},
                           50ms);
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::vector<acknowledged_send> acked;
  std::thread load([&] { send_until(*engine, stop, acked, refused, 0); });
  std::this_thread::sleep_for(300ms);
  server.kill();
  std::this_thread::sleep_for(200ms);
  REQUIRE(server.start());
  std::this_thread::sleep_for(300ms);
  stop.store(true);
  load.join();
  std::printf("fleet kill -9: %zu sends acknowledged, %d refused while the server was down\n", acked.size(),
              refused.load());
  CHECK(refused.load() > 0);
  CHECK(acked.size() > 50);
  all_bind(*engine, acked);
}

TEST_CASE("failover to a replica (REPLICAOF NO ONE) keeps what the durable mode acknowledged, and the durable mode "
          "refuses a send no replica has",
          "[fleet][faults]") {
  const std::string port = std::to_string(20000 + ::getpid() % 20000);
  redis_server_options primary_options;
  primary_options.extra = {"--port", port, "--bind", "127.0.0.1", "--repl-diskless-sync-delay", "0"};
  redis_server primary(primary_options);
  REQUIRE(primary.ok());
  redis_server_options replica_options;
  replica_options.extra = {"--replicaof", "127.0.0.1", port};
  redis_server replica(replica_options);
  REQUIRE(replica.ok());
  rd::connection to_replica(options_of(replica));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (text_of(to_replica, {"INFO", "replication"}).find("master_link_status:up") == std::string::npos) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(20ms);
  }
  fleet::fleet_config durable = fleet_config_of(base_config());
  durable.wait_replicas = 1;
  durable.wait_timeout = 200ms;
  auto engine = make_fleet(durable, primary, std::make_shared<pv::system_random_source>(), {}, 1000ms);
  // The replica acknowledges once its first sync is applied: wait for one acknowledged send.
  const auto synced = std::chrono::steady_clock::now() + 10s;
  for (std::uint64_t i = 900'000;; ++i) {
    REQUIRE(std::chrono::steady_clock::now() < synced);
    if (engine->send_verification_code_for_bind_secure_mobile_phone(
                  {"44-7933" + digits(i, 6), std::to_string(1'400'000'000'000'000ULL + i)},
                  granting_facts("2000000000000001"))
            .ok())
      break;
  }
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::vector<acknowledged_send> acked;
  std::thread load([&] { send_until(*engine, stop, acked, refused, 0); });
  std::this_thread::sleep_for(300ms);
  stop.store(true);
  load.join();
  CHECK(refused.load() == 0);
  REQUIRE(acked.size() > 20);
  // The primary dies; the replica is promoted and the engine pointed at it.
  primary.kill();
  REQUIRE(text_of(to_replica, {"REPLICAOF", "NO", "ONE"}) == "OK");
  auto promoted = make_fleet(durable, replica, std::make_shared<pv::system_random_source>(), {}, 1000ms);
  // A resend inside the interval is refused: the challenge survived.
  const auto resend = promoted->send_verification_code_for_bind_secure_mobile_phone(
      {acked.front().phone, acked.front().member}, granting_facts("2000000000000001"));
  CHECK(resend.reason() == pv::verdict_reason::resend_too_soon);
  all_bind(*promoted, acked);
  // Now no replica: the durable mode refuses the send (the code is not delivered).
  const auto t0 = std::chrono::steady_clock::now();
  const auto lonely = promoted->send_verification_code_for_bind_secure_mobile_phone(
      {"44-7922000001", "1390000000000001"}, granting_facts("2000000000000001"));
  CHECK(std::chrono::steady_clock::now() - t0 < 400ms);
  CHECK_FALSE(lonely.ok());
  CHECK(lonely.code_to_deliver().empty());
  CHECK(lonely.reason() == pv::verdict_reason::state_unavailable);
  CHECK(promoted->stats().unacknowledged_sends == 1);
}
