// The fleet's pure layer (fleet.hpp) and hiredis transport (redis.hpp)
// against real redis-server processes (redis_server.hpp), never a mock:
// - differential: the same seeded sequences through the core (admit,
//   check_code) and through the scripts on a server give the same decisions
//   and leave the same bytes (RULES.md §4, §5, §9);
// - bad state: a value that is not the state's layout fails closed with its
//   fault and is left as it was (RULES.md §9);
// - the transport: NOSCRIPT after SCRIPT FLUSH, a server that is not
//   running, stopped, paused or out of memory: a defined error within the
//   timeout, never an admission (RULES.md §4).
#include <catch2/catch.hpp>

#include <phoneverify/code.hpp>
#include <phoneverify/fleet.hpp>
#include <phoneverify/quota.hpp>
#include <phoneverify/redis.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fleet/redis_server.hpp"
#include "fleet/fleet_support.hpp"
#include "support.hpp"

namespace {

namespace pv = phoneverify;
namespace fleet = phoneverify::fleet;
namespace rd = phoneverify::redis;
using namespace std::chrono_literals;
using pv::test::cmd;
using pv::test::redis_server;
using pv::test::splitmix64;

// Commands of the tests themselves get a generous timeout (a loaded CI
// machine); the timeout tests set their own.
rd::connection connect_to(const redis_server& server, std::chrono::milliseconds timeout = 5000ms) {
  rd::options options;
  options.unix_socket = server.socket_path();
  options.connect_timeout = timeout;
  options.command_timeout = timeout;
  return rd::connection(options);
}

// GET's value, std::nullopt for a missing key.
std::optional<std::string> get(rd::connection& c, std::string_view key) {
  rd::call_result r = cmd(c, {"GET", key});
  REQUIRE(r.ok());
  const fleet::reply_view v = r.value.view();
  if (v.kind == fleet::reply_view::type::nil) return std::nullopt;
  REQUIRE(v.kind == fleet::reply_view::type::string);
  return std::string(v.text);
}

long long integer(rd::connection& c, std::initializer_list<std::string_view> args) {
  rd::call_result r = cmd(c, args);
  REQUIRE(r.ok());
  const fleet::reply_view v = r.value.view();
  REQUIRE(v.kind == fleet::reply_view::type::integer);
  return v.integer;
}

template <std::size_t N>
std::string as_string(const std::array<std::byte, N>& bytes) {
  std::string out(N, '\0');
  for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<char>(bytes[i]);
  return out;
}

fleet::key_scheme test_scheme(std::string_view deployment = "test") {
  fleet::id_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(0x30 + i);
  auto scheme = fleet::make_key_scheme(deployment, key);
  REQUIRE(scheme.has_value());
  return *scheme;
}

fleet::key_name key_of(fleet::key_kind kind, std::string_view id,
                       pv::action purpose = pv::action::get_migration_verify_code) {
  auto key = fleet::make_key(test_scheme(), kind, id, purpose);
  REQUIRE(key.has_value());
  return *key;
}

constexpr pv::timestamp at_ms(std::int64_t ms) { return pv::timestamp{std::chrono::milliseconds{ms}}; }

// A time of the tests: 2023-11-14, before the server's clock, so every
// expiry also exercises the lag correction of the scripts' PXAT.
constexpr std::int64_t base_ms = 1'700'000'000'000;

fleet::flow_result run_flow(rd::connection& c, const pv::rate_limit& limit, const fleet::key_name& key,
                            std::optional<pv::timestamp> now, std::uint32_t n = 1,
                            std::chrono::milliseconds margin = fleet::default_expiry_margin) {
  auto call = fleet::plan_flow(limit, key, now, n, margin);
  REQUIRE(call.has_value());
  rd::call_result r = c.run(*call);
  if (!r.ok()) {
    INFO("transport error " << rd::error_name(r.err) << ": " << r.message.view());
    return {fleet::fault::unavailable, {}};
  }
  return fleet::decode_flow(r.value.view());
}

}  // namespace

// ---------------------------------------------------------------------------
// The fixture and the pure layer

TEST_CASE("the fixture starts a real redis-server on a unix socket and stops it", "[fleet]") {
  pid_t pid = -1;
  std::string dir;
  {
    redis_server server;
    REQUIRE(server.ok());
    INFO(server.error());
    pid = server.pid();
    dir = server.directory();
    rd::connection c = connect_to(server);
    rd::call_result info = cmd(c, {"CONFIG", "GET", "maxmemory-policy"});
    REQUIRE(info.ok());
    const fleet::reply_view v = info.value.view();
    REQUIRE(v.kind == fleet::reply_view::type::array);
    REQUIRE(v.elements.size() == 2);
    CHECK(v.elements[1].text == "noeviction");
    rd::call_result port = cmd(c, {"CONFIG", "GET", "port"});
    REQUIRE(port.ok());
    CHECK(port.value.view().elements[1].text == "0");  // no TCP listener
  }
  CHECK(::kill(pid, 0) == -1);  // stopped and reaped
  CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("a fixture whose server cannot start says so instead of skipping", "[fleet]") {
  pv::test::redis_server_options options;
  options.extra = {"--no-such-option", "1"};
  options.start_deadline = 3000ms;
  redis_server server(options);
  CHECK_FALSE(server.ok());
  CHECK_FALSE(server.error().empty());
}

TEST_CASE("fleet key names share one hash tag per deployment and hold no plain id", "[fleet]") {
  const fleet::key_scheme scheme = test_scheme("prod-eu");
  const auto phone = fleet::make_key(scheme, fleet::key_kind::phone, "+8613812345678");
  const auto quota = fleet::make_key(scheme, fleet::key_kind::quota, "1384512345678901");
  const auto challenge = fleet::make_key(scheme, fleet::key_kind::challenge, "1384512345678901",
                                         pv::action::send_verification_code_for_enable_rd);
  const auto rate = fleet::make_key(scheme, fleet::key_kind::rate, "1384512345678901");
  REQUIRE(phone.has_value());
  REQUIRE(quota.has_value());
  REQUIRE(challenge.has_value());
  REQUIRE(rate.has_value());
  for (std::string_view key : {phone->view(), quota->view(), challenge->view(), rate->view()}) {
    CHECK(key.substr(0, 11) == "{pv:prod-eu");
    CHECK(key.find('}') == 11);
    CHECK(key.find("13812345678") == std::string_view::npos);
    CHECK(key.find("1384512345678901") == std::string_view::npos);
  }
  CHECK(challenge->view().substr(12, 5) == ":c:3:");
  // The same id of two kinds gets two unrelated hashes; another key, others again.
  CHECK(quota->view().substr(15) != rate->view().substr(15));
  fleet::id_key other{};
  other[0] = std::byte{1};
  const auto other_scheme = fleet::make_key_scheme("prod-eu", other);
  REQUIRE(other_scheme.has_value());
  CHECK(fleet::make_key(*other_scheme, fleet::key_kind::quota, "1384512345678901")->view() != quota->view());
  CHECK(fleet::make_key(scheme, fleet::key_kind::quota, "1384512345678901")->view() == quota->view());
  CHECK(quota->size() == 4 + 7 + 2 + 2 + 32);

  CHECK(fleet::make_key_scheme("", fleet::id_key{std::byte{1}}).error() == pv::errc::invalid_parameter);
  CHECK(fleet::make_key_scheme("a}b", fleet::id_key{std::byte{1}}).error() == pv::errc::invalid_parameter);
  CHECK(fleet::make_key_scheme(std::string(33, 'a'), fleet::id_key{std::byte{1}}).error() ==
        pv::errc::invalid_parameter);
  CHECK(fleet::make_key_scheme("ok", fleet::id_key{}).error() == pv::errc::invalid_parameter);  // all-zero key
  CHECK(fleet::make_key(scheme, fleet::key_kind::quota, "").error() == pv::errc::invalid_parameter);
  CHECK(fleet::make_key(scheme, fleet::key_kind::quota, std::string(257, '1')).error() ==
        pv::errc::invalid_parameter);
  CHECK(fleet::make_key(scheme, fleet::key_kind::quota, std::string(256, '1')).has_value());
}

TEST_CASE("the fleet's pure layer is usable in constant expressions", "[fleet]") {
  constexpr auto sha = fleet::detail::sha1_hex("abc");  // FIPS 180-4's example
  static_assert(std::string_view(sha.data(), sha.size()) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  static_assert(std::string_view(fleet::detail::sha1_hex("").data(), 40) ==
                "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  static constexpr auto scheme = fleet::make_key_scheme("c", fleet::id_key{std::byte{7}});
  static_assert(scheme.has_value());
  static constexpr auto key = fleet::make_key(*scheme, fleet::key_kind::rate, "42");
  static_assert(key.has_value() && key->size() == 4 + 1 + 2 + 2 + 32);
  static constexpr auto call = fleet::plan_flow(pv::rate_limit{}, *key, at_ms(5), 1);
  static_assert(call.has_value());
  static constexpr auto argv = call->argv();
  static_assert(argv[0] == "EVALSHA" && argv[2] == "1" && argv[4] == "5" && argv[5] == "10" && argv[7] == "10" &&
                argv[8] == "1000" && argv[9] == "10000");
  static_assert(call->argv(true)[0] == "EVAL");
  static_assert(fleet::detail::decimal(std::numeric_limits<std::int64_t>::min()) == "-9223372036854775808");
  static_assert(!fleet::plan_flow(pv::rate_limit{1, std::chrono::milliseconds{std::int64_t{1} << 52}}, *key, {}));
}

TEST_CASE("decode_flow and decode_check refuse replies that are not their script's", "[fleet]") {
  using type = fleet::reply_view::type;
  const auto integer_reply = [](long long v) {
    fleet::reply_view r;
    r.kind = type::integer;
    r.integer = v;
    return r;
  };
  fleet::reply_view nil;
  CHECK(fleet::decode_flow(nil).error == fleet::fault::bad_reply);
  CHECK(fleet::decode_check(nil).error == fleet::fault::bad_reply);
  fleet::reply_view error;
  error.kind = type::error;
  error.text = "NOSCRIPT No matching script.";
  CHECK(fleet::is_noscript(error));
  CHECK(fleet::decode_flow(error).error == fleet::fault::bad_reply);

  const std::array<fleet::reply_view, 5> ok{integer_reply(0), integer_reply(1), integer_reply(9), integer_reply(0),
                                            integer_reply(1234)};
  fleet::reply_view array;
  array.kind = type::array;
  array.elements = ok;
  const fleet::flow_result decoded = fleet::decode_flow(array);
  CHECK(decoded.error == fleet::fault::none);
  CHECK(decoded.verdict.allowed);
  CHECK(decoded.verdict.remaining == 9);
  CHECK(decoded.verdict.retry_at == at_ms(1234));

  const std::array<fleet::reply_view, 5> bad_allowed{integer_reply(0), integer_reply(2), integer_reply(9),
                                                     integer_reply(0), integer_reply(1)};
  array.elements = bad_allowed;
  CHECK(fleet::decode_flow(array).error == fleet::fault::bad_reply);
  const std::array<fleet::reply_view, 1> faulted{integer_reply(3)};
  array.elements = faulted;
  CHECK(fleet::decode_flow(array).error == fleet::fault::state_wrong_version);
  CHECK(fleet::decode_check(array).error == fleet::fault::state_wrong_version);
  const std::array<fleet::reply_view, 1> unknown{integer_reply(42)};
  array.elements = unknown;
  CHECK(fleet::decode_flow(array).error == fleet::fault::bad_reply);
  const std::array<fleet::reply_view, 2> status{integer_reply(0), integer_reply(10)};
  array.elements = status;
  CHECK(fleet::decode_check(array).error == fleet::fault::bad_reply);
  const std::array<fleet::reply_view, 2> spent{integer_reply(0), integer_reply(9)};
  array.elements = spent;
  CHECK(fleet::decode_check(array).status == pv::check_status::budget_spent);

  CHECK(rd::classify_error_reply("OOM command not allowed when used memory > 'maxmemory'.") ==
        rd::error::server_out_of_memory);
  CHECK(rd::classify_error_reply("CLUSTERDOWN The cluster is down") == rd::error::cluster_down);
  CHECK(rd::classify_error_reply("MOVED 3999 127.0.0.1:6381") == rd::error::redirected);
  CHECK(rd::classify_error_reply("NOSCRIPT No matching script. Please use EVAL.") == rd::error::noscript);
  CHECK(rd::classify_error_reply("BUSY Redis is busy running a script.") == rd::error::busy);
  CHECK(rd::classify_error_reply("OOMPH") == rd::error::error_reply);
  CHECK(rd::classify_error_reply("ERR unknown command") == rd::error::error_reply);
}

TEST_CASE("the scripts' SHA-1 are the ones the server computes", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  for (const fleet::script* s : {&fleet::flow_script, &fleet::check_script, &fleet::send_script}) {
    rd::call_result r = cmd(c, {"SCRIPT", "LOAD", s->source});
    REQUIRE(r.ok());
    CHECK(r.value.view().text == s->sha1_view());
  }
}

// ---------------------------------------------------------------------------
// Flow control: admit (GCRA) in the core and in the script

TEST_CASE("the flow script gives admit's decisions and bytes over seeded sequences", "[fleet][differential]") {
  redis_server server;
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  splitmix64 rng{pv::test::test_seed("flow differential", 0x5EED'F10Eu)};
  const std::array<pv::rate_limit, 7> limits{{
      {10, 1000ms},            // the CAMS default (RULES.md §4)
      {3, 1000ms},             //
      {7, 3000ms},             // T = 3000/7: scaled by the count
      {1, 60000ms},            //
      {40000, 1000ms},         // above 32768: scale count / gcd
      {0, 1000ms},             // never admits
      {5, 0ms},                // never limits
  }};
  std::size_t decisions = 0, admitted = 0, denied = 0;
  for (std::size_t li = 0; li < limits.size(); ++li) {
    const pv::rate_limit limit = limits[li];
    const fleet::key_name key = key_of(fleet::key_kind::rate, "caller-" + std::to_string(li));
    pv::rate_state state{};
    std::int64_t now = base_ms + static_cast<std::int64_t>(rng() % 1'000'000);
    pv::timestamp last_retry = at_ms(now);
    std::int64_t written_at = now;  // the time of the last write, whose PXAT the key carries
    for (int i = 0; i < 1500; ++i) {
      // Steps: at once, a few ms, exactly at the last retry_at or 1 ms before,
      // a pause, or back in time.
      const std::uint64_t pick = rng() % 16;
      if (pick < 4) {
      } else if (pick < 9) {
        now += static_cast<std::int64_t>(rng() % 150);
      } else if (pick < 11 && last_retry != pv::timestamp::max()) {
        now = last_retry.time_since_epoch().count() - static_cast<std::int64_t>(rng() % 2);
      } else if (pick < 13) {
        now += static_cast<std::int64_t>(rng() % 120'000);
      } else {
        now -= static_cast<std::int64_t>(rng() % 3000);
      }
      const std::uint32_t n = rng() % 8 == 0 ? static_cast<std::uint32_t>(rng() % (limit.count + 2)) : 1u;
      const pv::rate_state before = state;
      const pv::decision expected = pv::admit(limit, state, at_ms(now), n);
      if (state != before) written_at = now;
      const fleet::flow_result got = run_flow(c, limit, key, at_ms(now), n);
      INFO("limit " << limit.count << "/" << limit.period.count() << " step " << i << " now " << now << " n " << n);
      REQUIRE(got.error == fleet::fault::none);
      REQUIRE(got.verdict.allowed == expected.allowed);
      REQUIRE(got.verdict.remaining == expected.remaining);
      REQUIRE(got.verdict.retry_at == expected.retry_at);
      if (!expected.allowed) last_retry = expected.retry_at;
      ++decisions;
      (expected.allowed ? admitted : denied) += 1;
      // The same bytes as the core's to_bytes, or no key before the first charge.
      const std::optional<std::string> stored = get(c, key);
      if (state.idle()) {
        REQUIRE_FALSE(stored.has_value());
      } else {
        REQUIRE(stored.has_value());
        REQUIRE(*stored == as_string(pv::to_bytes(state)));
        // Kept at least until its death time plus the margin (in server time).
        const long long pttl = integer(c, {"PTTL", key});
        const auto scaling = pv::detail::gcra_scale(limit.count, static_cast<std::uint64_t>(limit.period.count()));
        const std::int64_t dies = pv::detail::ceil_div(pv::detail::unbias(state.to_bits()), scaling.scale);
        REQUIRE(pttl >= dies - written_at + fleet::default_expiry_margin.count() - 2000);
      }
    }
  }
  std::printf("[flow differential] %zu decisions (%zu admitted, %zu denied), identical\n", decisions, admitted,
              denied);
  CHECK(decisions == limits.size() * 1500);
  CHECK(admitted > 1000);
  CHECK(denied > 1000);
}

TEST_CASE("the flow script on the server's clock passes a burst of 10 then refuses until one interval", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  const fleet::key_name key = key_of(fleet::key_kind::rate, "server-clock");
  const pv::rate_limit limit{10, 3'600'000ms};  // slow enough that the burst is not refilled during the test
  for (std::uint32_t i = 0; i < 10; ++i) {
    const fleet::flow_result r = run_flow(c, limit, key, std::nullopt);
    REQUIRE(r.error == fleet::fault::none);
    CHECK(r.verdict.allowed);
    CHECK(r.verdict.remaining == 9 - i);
  }
  const fleet::flow_result refused = run_flow(c, limit, key, std::nullopt);
  REQUIRE(refused.error == fleet::fault::none);
  CHECK_FALSE(refused.verdict.allowed);
  const auto wall = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  CHECK(refused.verdict.retry_at > wall + 359'000ms);
  CHECK(refused.verdict.retry_at < wall + 361'000ms);
}

// ---------------------------------------------------------------------------
// The code check: check_code in the core and in the script

namespace {

struct check_world {
  pv::code_policy policy;
  pv::secret_key secret{};
  std::string account = "1384512345678901";
  pv::challenge state{};  // the core's challenge, as the engine keeps it
  std::string code;       // the last issued code

  bool dead(const pv::challenge& c, pv::timestamp now) const {
    const pv::timestamp dies = pv::forgettable_at(policy, c);
    return dies != pv::timestamp::max() && dies <= now;
  }
};

pv::phone_number phone_of(std::string_view dashed) {
  auto p = pv::parse_phone(dashed, pv::phone_format::dashed);
  REQUIRE(p.has_value());
  return *p;
}

}  // namespace

TEST_CASE("the check script gives check_code's statuses and bytes over seeded sequences", "[fleet][differential]") {
  redis_server server;
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  splitmix64 rng{pv::test::test_seed("check differential", 0xC0DE'5EEDu)};
  pv::code_policy strict;  // small limits, so lockouts and spent budgets happen often
  strict.max_attempts = 3;
  strict.max_consecutive_failures = 4;
  strict.lockout = std::chrono::seconds{20};
  strict.failure_budget = 6;
  strict.failure_budget_window = std::chrono::seconds{120};
  strict.resend_interval = std::chrono::seconds{2};
  strict.validity = std::chrono::seconds{30};
  pv::code_policy wide;  // the defaults, with 8 digits
  wide.digits = 8;
  pv::code_policy budget;  // a failure budget spent long before any lockout
  budget.max_consecutive_failures = 50;
  budget.failure_budget = 4;
  budget.failure_budget_window = std::chrono::seconds{600};
  budget.resend_interval = std::chrono::seconds{1};
  const std::array<pv::code_policy, 4> policies{pv::code_policy{}, strict, wide, budget};
  const pv::phone_number phone = phone_of("86-13812345678");
  const pv::phone_number other_phone = phone_of("86-13912345678");
  std::size_t decisions = 0;
  std::array<std::size_t, 10> by_status{};
  for (std::size_t pi = 0; pi < policies.size(); ++pi) {
    check_world w;
    w.policy = policies[pi];
    w.account += std::to_string(pi);  // a challenge of its own per policy
    for (std::size_t i = 0; i < w.secret.size(); ++i) w.secret[i] = static_cast<std::byte>(rng());
    const pv::action purpose = pi == 1 ? pv::action::get_migration_verify_code
                                       : pv::action::send_verification_code_for_bind_secure_mobile_phone;
    const fleet::key_name key = key_of(fleet::key_kind::challenge, w.account, purpose);
    const pv::code_binding binding{purpose, w.account, phone};
    std::int64_t now = base_ms + static_cast<std::int64_t>(rng() % 1'000'000);
    const std::int64_t lockout_ms = pv::detail::to_ms(w.policy.lockout);
    for (int i = 0; i < 2500; ++i) {
      const std::uint64_t step = rng() % 20;
      if (step < 8) {
        now += static_cast<std::int64_t>(rng() % 3000);
      } else if (step < 11) {
        now += static_cast<std::int64_t>(rng() % 90'000);
      } else if (step < 12) {
        now += lockout_ms - 1 + static_cast<std::int64_t>(rng() % 3);  // a lock's end, or 1 ms before
      } else if (step < 13 && w.state.consecutive_failures() != 0) {
        // Exactly the stored lock's end, or 1 ms either side: the failures are
        // forgotten from last_failure_at + lockout on (check_code), not after.
        now = w.state.last_failure_at().time_since_epoch().count() + lockout_ms - 1 + static_cast<std::int64_t>(rng() % 3);
      } else if (step < 13) {
        now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(2 * lockout_ms));
      } else if (step < 15) {
        now -= static_cast<std::int64_t>(rng() % 5000);
      }
      const pv::timestamp t = at_ms(now);
      pv::challenge effective = w.dead(w.state, t) ? pv::challenge{} : w.state;
      if (rng() % 6 == 0) {
        // A send: issued by the core, stored as its bytes (the send script is
        // not part of this test).
        pv::challenge next = effective;
        auto issued = pv::issue_code(w.policy, w.secret, binding, next, t, rng);
        if (issued) {
          w.state = next;
          w.code = std::string(issued->code.view());
          REQUIRE(cmd(c, {"SET", key, as_string(pv::to_bytes(w.state))}).ok());
        }
        continue;
      }
      // A check: the right code, a wrong one, a malformed one, another binding.
      std::string submitted = w.code;
      pv::code_binding checked = binding;
      const std::uint64_t kind = rng() % 10;
      if (kind < 3 || submitted.empty()) {
        submitted = std::to_string(rng() % pv::detail::pow10_u64(w.policy.digits));
        submitted.insert(0, w.policy.digits - submitted.size(), '0');
      } else if (kind < 4) {
        submitted = rng() % 2 == 0 ? submitted.substr(1) : submitted + "0";
      } else if (kind < 5) {
        submitted[rng() % submitted.size()] = 'x';
      } else if (kind < 6) {
        checked.phone = other_phone;
      } else if (kind < 7) {
        checked.account_id = "1384512345678999";
      }
      pv::challenge after = effective;
      const pv::check_status expected = pv::check_code(w.policy, w.secret, checked, after, submitted, t);
      if (pv::to_bytes(after) != pv::to_bytes(effective)) w.state = w.dead(after, t) ? pv::challenge{} : after;

      auto call = fleet::plan_check(w.policy, w.secret, checked, submitted, key, t);
      REQUIRE(call.has_value());
      rd::call_result r = c.run(*call);
      REQUIRE(r.ok());
      const fleet::check_result got = fleet::decode_check(r.value.view());
      INFO("policy " << pi << " step " << i << " now " << now << " submitted '" << submitted << "' expected "
                     << pv::status_name(expected));
      REQUIRE(got.error == fleet::fault::none);
      REQUIRE(pv::status_name(got.status) == pv::status_name(expected));
      ++decisions;
      ++by_status[static_cast<std::size_t>(expected)];
      const std::optional<std::string> stored = get(c, key);
      if (w.state == pv::challenge{}) {
        REQUIRE_FALSE(stored.has_value());
      } else {
        REQUIRE(stored.has_value());
        REQUIRE(*stored == as_string(pv::to_bytes(w.state)));
      }
    }
  }
  std::printf("[check differential] %zu decisions, identical; by status:", decisions);
  for (std::size_t s = 0; s < by_status.size(); ++s)
    std::printf(" %s %zu", std::string(pv::status_name(static_cast<pv::check_status>(s))).c_str(), by_status[s]);
  std::printf("\n");
  CHECK(decisions > 5000);
  for (std::size_t s = 0; s < by_status.size(); ++s) {
    INFO("status " << pv::status_name(static_cast<pv::check_status>(s)));
    CHECK(by_status[s] > 0);  // every status was reached
  }
}

// ---------------------------------------------------------------------------
// Bad state: fail closed with a fault of its own, change nothing

namespace {

// The key's type, value (as text, whatever its type) and time to live.
struct snapshot {
  std::string type;
  std::string dump;
  long long pttl = 0;
  friend bool operator==(const snapshot&, const snapshot&) = default;
};

snapshot snap(rd::connection& c, std::string_view key) {
  snapshot s;
  rd::call_result type = cmd(c, {"TYPE", key});
  REQUIRE(type.ok());
  s.type = std::string(type.value.view().text);
  rd::call_result dump = cmd(c, {"DUMP", key});  // the serialised value, any type
  REQUIRE(dump.ok());
  s.dump = std::string(dump.value.view().text);
  s.pttl = integer(c, {"PTTL", key});
  return s;
}

}  // namespace

TEST_CASE("a value that is not the state's layout fails closed with its fault and is not overwritten", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  pv::secret_key secret{};
  secret.fill(std::byte{0x5e});
  const std::string account = "1384512345678901";
  const pv::code_binding binding{pv::action::send_verification_code_for_enable_rd, account,
                                 phone_of("86-13812345678")};

  pv::daily_usage usage{};
  (void)pv::consume(pv::daily_quota{}, usage, at_ms(base_ms));
  std::string rate_bad_version = as_string(pv::to_bytes(pv::rate_state{}));
  rate_bad_version[0] = '\x02';
  std::string rate_reserved = as_string(pv::to_bytes(pv::rate_state{}));
  rate_reserved[5] = '\x01';
  std::string rate_far = as_string(pv::to_bytes(pv::rate_state{}));
  rate_far[2] = '\x01';
  rate_far[8] = '\x7f';  // a TAT near 2^63: valid for the core, beyond what Lua counts exactly
  pv::challenge live{};
  splitmix64 rng{1};
  REQUIRE(pv::issue_code(pv::code_policy{}, secret, binding, live, at_ms(base_ms), rng).has_value());
  std::string challenge_version = as_string(pv::to_bytes(live));
  challenge_version[0] = '\x03';
  std::string challenge_state = as_string(pv::to_bytes(live));
  challenge_state[1] = '\x05';
  std::string challenge_expiry = as_string(pv::to_bytes(live));
  challenge_expiry[17] = '\x01';  // expires far more than 10 minutes after its issue
  std::string challenge_far = as_string(pv::to_bytes(live));
  challenge_far[8] = '\x40';  // issued beyond 2^52 ms

  struct bad {
    const char* name;
    std::vector<std::string> write;  // the command that plants the value ({} for SET key value)
    std::string value;
    fleet::fault flow, check;
  };
  const std::vector<bad> cases{
      {"a string of garbage", {}, "garbage, not a state", fleet::fault::state_wrong_size,
       fleet::fault::state_wrong_size},
      {"an empty string", {}, "", fleet::fault::state_wrong_size, fleet::fault::state_wrong_size},
      {"a list", {"RPUSH", "", "a", "b"}, "", fleet::fault::state_wrong_type, fleet::fault::state_wrong_type},
      {"a hash", {"HSET", "", "field", "value"}, "", fleet::fault::state_wrong_type, fleet::fault::state_wrong_type},
      {"a set", {"SADD", "", "member"}, "", fleet::fault::state_wrong_type, fleet::fault::state_wrong_type},
      {"a rate_state of another version", {}, rate_bad_version, fleet::fault::state_wrong_version,
       fleet::fault::state_wrong_size},
      {"a daily_usage where a rate_state belongs", {}, as_string(pv::to_bytes(usage)), fleet::fault::state_wrong_kind,
       fleet::fault::state_wrong_size},
      {"a rate_state with a reserved byte set", {}, rate_reserved, fleet::fault::state_invalid,
       fleet::fault::state_wrong_size},
      {"a rate_state beyond 2^52", {}, rate_far, fleet::fault::out_of_exact_range, fleet::fault::state_wrong_size},
      {"a challenge of another version", {}, challenge_version, fleet::fault::state_wrong_size,
       fleet::fault::state_wrong_version},
      {"a challenge in no known state", {}, challenge_state, fleet::fault::state_wrong_size,
       fleet::fault::state_invalid},
      {"a challenge whose expiry is too late", {}, challenge_expiry, fleet::fault::state_wrong_size,
       fleet::fault::state_invalid},
      {"a challenge beyond 2^52", {}, challenge_far, fleet::fault::state_wrong_size,
       fleet::fault::out_of_exact_range},
  };
  for (const bad& b : cases) {
    INFO(b.name);
    for (bool flow : {true, false}) {
      const fleet::key_name key = key_of(flow ? fleet::key_kind::rate : fleet::key_kind::challenge, account,
                                         pv::action::send_verification_code_for_enable_rd);
      REQUIRE(cmd(c, {"DEL", key}).ok());
      if (b.write.empty()) {
        REQUIRE(cmd(c, {"SET", key, b.value}).ok());
      } else {
        std::vector<std::string_view> args(b.write.begin(), b.write.end());
        args[1] = key.view();
        REQUIRE(c.command(args).ok());
      }
      const snapshot before = snap(c, key);
      if (flow) {
        const fleet::flow_result r = run_flow(c, pv::rate_limit{}, key, at_ms(base_ms));
        CHECK(r.error == b.flow);
        CHECK_FALSE(r.verdict.allowed);
        CHECK(r.verdict.retry_at == pv::timestamp::max());
      } else {
        auto call = fleet::plan_check(pv::code_policy{}, secret, binding, "123456", key, at_ms(base_ms + 1000));
        REQUIRE(call.has_value());
        rd::call_result reply = c.run(*call);
        REQUIRE(reply.ok());
        CHECK(fleet::decode_check(reply.value.view()).error == b.check);
      }
      CHECK(snap(c, key) == before);
    }
  }
  // All-zero bytes are the empty state in both worlds (an empty column).
  const fleet::key_name zero_key = key_of(fleet::key_kind::rate, "zero");
  REQUIRE(cmd(c, {"SET", zero_key, std::string(16, '\0')}).ok());
  const fleet::flow_result from_zero = run_flow(c, pv::rate_limit{}, zero_key, at_ms(base_ms));
  CHECK(from_zero.error == fleet::fault::none);
  CHECK(from_zero.verdict.allowed);
  CHECK(from_zero.verdict.remaining == 9);
  // A version 1 challenge (no failure budget) still reads, and is written as version 2.
  std::string version_1 = as_string(pv::to_bytes(live));
  version_1[0] = '\x01';
  const fleet::key_name v1_key = key_of(fleet::key_kind::challenge, account, binding.purpose);
  REQUIRE(cmd(c, {"SET", v1_key, version_1}).ok());
  auto call = fleet::plan_check(pv::code_policy{}, secret, binding, "12345", v1_key, at_ms(base_ms + 1000));
  REQUIRE(call.has_value());
  rd::call_result reply = c.run(*call);
  REQUIRE(reply.ok());
  const fleet::check_result malformed = fleet::decode_check(reply.value.view());
  CHECK(malformed.error == fleet::fault::none);
  CHECK(malformed.status == pv::check_status::malformed);
  const std::optional<std::string> rewritten = get(c, v1_key);
  REQUIRE(rewritten.has_value());
  CHECK((*rewritten)[0] == '\x02');
}

// ---------------------------------------------------------------------------
// The transport

TEST_CASE("run() answers NOSCRIPT with EVAL, after start-up and after SCRIPT FLUSH", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  const fleet::key_name key = key_of(fleet::key_kind::rate, "noscript");
  const pv::rate_limit limit{10, 1000ms};
  pv::rate_state state{};
  std::int64_t now = base_ms;
  const auto same = [&](std::uint64_t fallbacks) {
    const pv::decision expected = pv::admit(limit, state, at_ms(now));
    const fleet::flow_result got = run_flow(c, limit, key, at_ms(now));
    REQUIRE(got.error == fleet::fault::none);
    CHECK(got.verdict.allowed == expected.allowed);
    CHECK(got.verdict.retry_at == expected.retry_at);
    CHECK(c.stats().noscript_fallbacks == fallbacks);
    now += 30;
  };
  same(1);  // a fresh server has no script cached
  same(1);
  same(1);
  REQUIRE(cmd(c, {"SCRIPT", "FLUSH"}).ok());
  same(2);
  same(2);
  CHECK(c.stats().connects == 1);
}

TEST_CASE("a server that is not running gives a defined error within the timeout", "[fleet]") {
  const auto elapsed_ms = [](auto start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  };
  const fleet::key_name key = key_of(fleet::key_kind::rate, "nobody");
  auto call = fleet::plan_flow(pv::rate_limit{}, key, std::nullopt);
  REQUIRE(call.has_value());

  SECTION("no socket file at all") {
    rd::options options;
    options.unix_socket = "/tmp/phoneverify-no-such-dir/redis.sock";
    rd::connection c(options);
    const auto start = std::chrono::steady_clock::now();
    rd::call_result r = c.run(*call);
    CHECK(r.err == rd::error::connection_refused);
    CHECK_FALSE(r.message.empty());
    CHECK(elapsed_ms(start) < 50);
    CHECK_FALSE(c.connected());
  }
  SECTION("nothing listening on a TCP port") {
    rd::options options;
    options.host = "127.0.0.1";
    options.port = 1;
    rd::connection c(options);
    rd::call_result r = c.run(*call);
    CHECK(r.err == rd::error::connection_refused);
  }
  SECTION("a server stopped under a live connection, then started again") {
    redis_server server;
    REQUIRE(server.ok());
    rd::connection c = connect_to(server, 50ms);
    REQUIRE(c.run(*call).ok());
    server.stop();
    const auto start = std::chrono::steady_clock::now();
    rd::call_result lost = c.run(*call);
    CHECK_FALSE(lost.ok());
    CHECK((lost.err == rd::error::connection_lost || lost.err == rd::error::connection_refused));
    CHECK(elapsed_ms(start) < 100);
    rd::call_result refused = c.run(*call);
    CHECK(refused.err == rd::error::connection_refused);
    REQUIRE(server.start());
    rd::call_result back = c.run(*call);
    CHECK(back.ok());  // a fresh connection, and EVAL for the fresh script cache
    CHECK(fleet::decode_flow(back.value.view()).error == fleet::fault::none);
  }
  SECTION("a server that stalls: the command times out at 50 ms") {
    redis_server server;
    REQUIRE(server.ok());
    rd::connection c = connect_to(server, 50ms);
    REQUIRE(c.run(*call).ok());
    server.pause();
    const auto start = std::chrono::steady_clock::now();
    rd::call_result r = c.run(*call);
    const auto took = elapsed_ms(start);
    server.resume();
    CHECK(r.err == rd::error::timeout);
    CHECK(took >= 45);
    CHECK(took < 250);
    CHECK_FALSE(c.connected());  // the reply may still come: the context is dropped
    CHECK(c.run(*call).ok());
  }
}

TEST_CASE("a server out of memory refuses the decision and nothing is written", "[fleet]") {
  pv::test::redis_server_options options;
  options.maxmemory = "1";
  redis_server server(options);
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  const fleet::key_name key = key_of(fleet::key_kind::rate, "oom");
  auto call = fleet::plan_flow(pv::rate_limit{}, key, at_ms(base_ms));
  REQUIRE(call.has_value());
  rd::call_result r = c.run(*call);
  CHECK(r.err == rd::error::server_out_of_memory);
  CHECK(integer(c, {"EXISTS", key}) == 0);
  CHECK(c.connected());  // an error reply leaves the connection usable
}

// ---------------------------------------------------------------------------
// The send: issue_code and admit_all in the core, one script on the server

namespace {

struct send_world {
  pv::code_policy policy;
  pv::window_set<3> windows = pv::per_phone_windows;
  pv::daily_quota daily;
  bool with_quota = true;
  pv::challenge code{};
  std::array<pv::per_phone_state, 2> phones{};
  pv::daily_usage usage{};

  std::int64_t longest() const {
    std::int64_t l = 0;
    for (const pv::sliding_window& w : windows.windows) l = w.window.count() > l ? w.window.count() : l;
    return l;
  }
  // The engine's death times (RULES.md §4): from then on a state reads as absent.
  bool dead(const pv::challenge& c, pv::timestamp now) const {
    const pv::timestamp dies = pv::forgettable_at(policy, c);
    return dies != pv::timestamp::max() && dies <= now;
  }
  bool dead(const pv::per_phone_state& s, pv::timestamp now) const {
    return s.size() == 0 || s.recent(0).time_since_epoch().count() + longest() <= now.time_since_epoch().count();
  }
  bool dead(const pv::daily_usage& u, pv::timestamp now) const {
    return u.unused() || ((u.to_bits() >> 32) != 0xFFFF'FFFFu && pv::day_start(u.day() + 1, daily.utc_offset) <= now);
  }
};

}  // namespace

TEST_CASE("the send script gives issue_code and admit_all's outcomes and bytes over seeded sequences",
          "[fleet][differential]") {
  redis_server server;
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  splitmix64 rng{pv::test::test_seed("send differential", 0x5E4D'5EEDu)};
  std::vector<send_world> worlds(3);
  worlds[0].daily = {7, std::chrono::minutes{8 * 60}};
  worlds[1].policy.resend_interval = std::chrono::seconds{2};
  worlds[1].policy.lockout = std::chrono::seconds{20};
  worlds[1].policy.max_consecutive_failures = 4;
  worlds[1].policy.failure_budget = 6;
  worlds[1].policy.failure_budget_window = std::chrono::seconds{120};
  worlds[1].windows = {{{1, 5000ms}, {3, 60'000ms}, {5, 600'000ms}}};
  worlds[1].with_quota = false;  // as CAMS: no daily quota
  worlds[2].policy.resend_interval = std::chrono::seconds{0};
  worlds[2].windows = {{{2, 10'000ms}, {12, 3'600'000ms}, {4, 0ms}}};  // a count above 10, a width of 0
  worlds[2].daily = {3, std::chrono::minutes{-(5 * 60 + 30)}};
  const std::array<pv::phone_number, 2> phones{phone_of("86-13812345678"), phone_of("86-13912345678")};
  std::size_t sends = 0, checks = 0;
  std::array<std::size_t, 5> by_outcome{};
  for (std::size_t wi = 0; wi < worlds.size(); ++wi) {
    send_world& w = worlds[wi];
    pv::secret_key secret{};
    for (std::byte& b : secret) b = static_cast<std::byte>(rng());
    const std::string account = "77" + std::to_string(wi);
    const pv::action purpose = wi == 1 ? pv::action::get_migration_verify_code
                                       : pv::action::send_verification_code_for_enable_rd;
    fleet::send_keys keys{key_of(fleet::key_kind::challenge, account, purpose), {}, std::nullopt};
    if (w.with_quota) keys.quota = key_of(fleet::key_kind::quota, account);
    const std::array<fleet::key_name, 2> phone_keys{key_of(fleet::key_kind::phone, "+8613812345678" + account),
                                                    key_of(fleet::key_kind::phone, "+8613912345678" + account)};
    std::string last_code;
    std::int64_t now = base_ms + static_cast<std::int64_t>(rng() % 86'400'000);
    for (int i = 0; i < 2500; ++i) {
      const std::uint64_t step = rng() % 24;
      if (step < 8) {
        now += static_cast<std::int64_t>(rng() % 8000);
      } else if (step < 13) {
        now += static_cast<std::int64_t>(rng() % 200'000);
      } else if (step < 15) {
        now += static_cast<std::int64_t>(rng() % 7'200'000);
      } else if (step < 16) {  // a local midnight, or 1 ms either side
        const std::int64_t day = pv::day_index(at_ms(now), w.daily.utc_offset);
        now = pv::day_start(day + 1, w.daily.utc_offset).time_since_epoch().count() - 1 +
              static_cast<std::int64_t>(rng() % 3);
      } else if (step < 18) {
        now -= static_cast<std::int64_t>(rng() % 10'000);
      }
      const pv::timestamp t = at_ms(now);
      const std::size_t pi = rng() % 2;
      const pv::code_binding binding{purpose, account, phones[pi]};
      if (rng() % 3 == 0) {
        // A check (the check script), mostly wrong, to reach locks and spent budgets.
        std::string submitted = rng() % 4 == 0 ? last_code : std::string("000000");
        pv::challenge effective = w.dead(w.code, t) ? pv::challenge{} : w.code;
        pv::challenge after = effective;
        const pv::check_status expected = pv::check_code(w.policy, secret, binding, after, submitted, t);
        if (pv::to_bytes(after) != pv::to_bytes(effective)) w.code = w.dead(after, t) ? pv::challenge{} : after;
        auto call = fleet::plan_check(w.policy, secret, binding, submitted, keys.challenge, t);
        REQUIRE(call.has_value());
        rd::call_result r = c.run(*call);
        REQUIRE(r.ok());
        REQUIRE(fleet::decode_check(r.value.view()).status == expected);
        ++checks;
        continue;
      }
      // A send: the model on the states the engine keeps, finish_send's way.
      pv::challenge code = w.dead(w.code, t) ? pv::challenge{} : w.code;
      const pv::challenge original = code;
      pv::per_phone_state windows = w.dead(w.phones[pi], t) ? pv::per_phone_state{} : w.phones[pi];
      pv::daily_usage usage = w.dead(w.usage, t) ? pv::daily_usage{} : w.usage;
      splitmix64 model_rng = rng;
      const pv::result<pv::issued_code> issued = pv::issue_code(w.policy, secret, binding, code, t, model_rng);
      const pv::joint_decision limits = w.with_quota ? pv::admit_all(t, pv::meter(w.windows, windows),
                                                                     pv::meter(w.daily, usage))
                                                     : pv::admit_all(t, pv::meter(w.windows, windows));
      fleet::send_outcome expected = fleet::send_outcome::issued;
      pv::timestamp retry = t;
      if (!issued || !limits.result.allowed) {
        retry = issued ? t : pv::next_issue_at(w.policy, original);
        if (!limits.result.allowed && limits.result.retry_at > retry) retry = limits.result.retry_at;
        if (!issued) {
          expected = pv::detail::is_locked(w.policy, original, t) ? fleet::send_outcome::binding_locked
                                                                  : fleet::send_outcome::resend_too_soon;
        } else {
          expected = limits.denied_by == 0 ? fleet::send_outcome::phone_window : fleet::send_outcome::daily_quota;
        }
      } else {
        w.code = code;
        w.phones[pi] = w.dead(windows, t) ? pv::per_phone_state{} : windows;
        w.usage = usage;
        last_code = std::string(issued->code.view());
      }
      // The fleet: the code drawn first, from the same generator state.
      keys.phone = phone_keys[pi];
      const auto drawn = fleet::draw_code(w.policy, secret, binding, rng);
      REQUIRE(drawn.has_value());
      auto call = fleet::plan_send(w.policy, w.windows, w.daily, keys, *drawn, t);
      REQUIRE(call.has_value());
      rd::call_result r = c.run(*call);
      REQUIRE(r.ok());
      const fleet::send_result got = fleet::decode_send(r.value.view());
      INFO("world " << wi << " step " << i << " now " << now << " phone " << pi);
      REQUIRE(got.error == fleet::fault::none);
      REQUIRE(static_cast<int>(got.outcome) == static_cast<int>(expected));
      REQUIRE(got.retry_at == retry);
      if (expected == fleet::send_outcome::issued) {
        REQUIRE(drawn->code.view() == issued->code.view());
        REQUIRE(got.expires_at == issued->expires_at);
      }
      ++sends;
      ++by_outcome[static_cast<std::size_t>(expected)];
      // Every state holds the core's bytes, or no key.
      const auto same = [&](std::string_view key, bool empty, const std::string& bytes) {
        const std::optional<std::string> stored = get(c, key);
        if (empty) {
          REQUIRE_FALSE(stored.has_value());
        } else {
          REQUIRE(stored.has_value());
          REQUIRE(*stored == bytes);
        }
      };
      same(keys.challenge, w.code == pv::challenge{}, as_string(pv::to_bytes(w.code)));
      for (std::size_t k = 0; k < 2; ++k)
        same(phone_keys[k], w.phones[k].size() == 0, as_string(pv::to_bytes(w.phones[k])));
      if (keys.quota) same(*keys.quota, w.usage.unused(), as_string(pv::to_bytes(w.usage)));
      // An issued send's keys outlive their states' deaths by the margin,
      // counted on the clock that decided (this test's, behind the
      // server's): never earlier (RULES.md §4), 2 s of slack for
      // the time the calls take.
      if (expected == fleet::send_outcome::issued) {
        const std::int64_t margin = fleet::default_expiry_margin.count() - 2000;
        const pv::timestamp code_dies = pv::forgettable_at(w.policy, w.code);
        if (code_dies != pv::timestamp::max())
          REQUIRE(integer(c, {"PTTL", keys.challenge}) >= code_dies.time_since_epoch().count() - now + margin);
        if (w.phones[pi].size() != 0)
          REQUIRE(integer(c, {"PTTL", keys.phone}) >=
                  w.phones[pi].recent(0).time_since_epoch().count() + w.longest() - now + margin);
        if (keys.quota && !w.usage.unused() && (w.usage.to_bits() >> 32) != 0xFFFF'FFFFu)
          REQUIRE(integer(c, {"PTTL", *keys.quota}) >=
                  pv::day_start(w.usage.day() + 1, w.daily.utc_offset).time_since_epoch().count() - now + margin);
      }
    }
  }
  std::printf("[send differential] %zu sends and %zu checks, identical; issued %zu, resend %zu, locked %zu, "
              "phone window %zu, daily quota %zu\n",
              sends, checks, by_outcome[0], by_outcome[1], by_outcome[2], by_outcome[3], by_outcome[4]);
  for (std::size_t o = 0; o < by_outcome.size(); ++o) {
    INFO("outcome " << o);
    CHECK(by_outcome[o] > 0);
  }
}

TEST_CASE("a send with one damaged key refuses closed and writes none of its keys", "[fleet]") {
  redis_server server;
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  pv::secret_key secret{};
  secret.fill(std::byte{0x11});
  const std::string account = "1384512345678901";
  const pv::code_binding binding{pv::action::send_verification_code_for_enable_rd, account,
                                 phone_of("86-13812345678")};
  fleet::send_keys keys{key_of(fleet::key_kind::challenge, account, binding.purpose),
                        key_of(fleet::key_kind::phone, "+8613812345678"), key_of(fleet::key_kind::quota, account)};
  splitmix64 rng{7};
  const auto drawn = fleet::draw_code(pv::code_policy{}, secret, binding, rng);
  REQUIRE(drawn.has_value());
  const auto send = [&] {
    auto call = fleet::plan_send(pv::code_policy{}, pv::per_phone_windows, pv::daily_quota{}, keys, *drawn,
                                 at_ms(base_ms));
    REQUIRE(call.has_value());
    rd::call_result r = c.run(*call);
    REQUIRE(r.ok());
    return fleet::decode_send(r.value.view());
  };
  struct damage {
    int key;  // 0 challenge, 1 windows, 2 quota
    std::vector<std::string> write;
    fleet::fault expected;
  };
  // The windows' layout (sliding_window_state_bytes<10>) by hand: version,
  // kind, capacity 10, size, zeros, then ten big-endian times.
  const auto windows_bytes = [](char kind, char size, std::initializer_list<std::int64_t> times) {
    std::string b(96, '\0');
    b[0] = 1;
    b[1] = kind;
    b[3] = 10;
    b[5] = size;
    std::size_t at = 16;
    for (std::int64_t t : times)
      for (int shift = 56; shift >= 0; shift -= 8)
        b[at++] = static_cast<char>((static_cast<std::uint64_t>(t) >> static_cast<unsigned>(shift)) & 0xFFU);
    return b;
  };
  {  // the hand-made layout is the core's own
    pv::per_phone_state ws{};
    pv::daily_usage usage{};
    REQUIRE(pv::admit_all(at_ms(base_ms - 1000), pv::meter(pv::per_phone_windows, ws),
                          pv::meter(pv::daily_quota{}, usage))
                .result.allowed);
    REQUIRE(as_string(pv::to_bytes(ws)) == windows_bytes(18, 1, {base_ms - 1000}));
  }
  const std::vector<damage> cases{
      {1, {"SET", "", "not 96 bytes"}, fleet::fault::state_wrong_size},
      {1, {"SET", "", windows_bytes(17, 1, {base_ms - 1000})}, fleet::fault::state_wrong_kind},
      {1, {"SET", "", windows_bytes(18, 2, {base_ms - 2000, base_ms - 1000})}, fleet::fault::state_invalid},
      {1, {"SET", "", windows_bytes(18, 1, {base_ms - 1000, 5})}, fleet::fault::state_invalid},
      {1, {"SET", "", windows_bytes(18, 11, {})}, fleet::fault::state_invalid},
      {1, {"SET", "", windows_bytes(18, 1, {std::int64_t{1} << 53})}, fleet::fault::out_of_exact_range},
      {1, {"SET", "", windows_bytes(18, 1, {INT64_MIN})}, fleet::fault::state_invalid},
      // Deep in a full state (the script checks each of the ten times on its own):
      // the seventh newer than the sixth, the tenth beyond the exact range, a
      // time after size that is not zero.
      {1,
       {"SET", "",
        windows_bytes(18, 10,
                      {base_ms - 1000, base_ms - 2000, base_ms - 3000, base_ms - 4000, base_ms - 5000, base_ms - 6000,
                       base_ms - 5500, base_ms - 8000, base_ms - 9000, base_ms - 10000})},
       fleet::fault::state_invalid},
      {1,
       {"SET", "",
        windows_bytes(18, 10,
                      {base_ms - 1000, base_ms - 2000, base_ms - 3000, base_ms - 4000, base_ms - 5000, base_ms - 6000,
                       base_ms - 7000, base_ms - 8000, base_ms - 9000, -(std::int64_t{1} << 53)})},
       fleet::fault::out_of_exact_range},
      {1,
       {"SET", "",
        windows_bytes(18, 9,
                      {base_ms - 1000, base_ms - 2000, base_ms - 3000, base_ms - 4000, base_ms - 5000, base_ms - 6000,
                       base_ms - 7000, base_ms - 8000, base_ms - 9000, 1})},
       fleet::fault::state_invalid},
      {1, {"RPUSH", "", "x"}, fleet::fault::state_wrong_type},
      {2, {"HSET", "", "f", "v"}, fleet::fault::state_wrong_type},
      {2, {"SET", "", std::string(16, '\x07')}, fleet::fault::state_wrong_version},
      // Each field of the headers the script reads as one number.
      {1, {"SET", "", std::string("\x02") + windows_bytes(18, 1, {base_ms - 1000}).substr(1)},
       fleet::fault::state_wrong_version},
      {1, {"SET", "", windows_bytes(18, 1, {base_ms - 1000}).replace(3, 1, 1, '\x09')}, fleet::fault::state_invalid},
      {1, {"SET", "", windows_bytes(18, 1, {base_ms - 1000}).replace(7, 1, 1, '\x01')}, fleet::fault::state_invalid},
      {1, {"SET", "", windows_bytes(18, 1, {base_ms - 1000}).replace(15, 1, 1, '\x01')}, fleet::fault::state_invalid},
      {2, {"SET", "", std::string("\x01\x11\0\0\x80\0\0\0\0\0\0\x01\0\0\0\0", 16)}, fleet::fault::state_wrong_kind},
      {2, {"SET", "", std::string("\x01\x10\0\x01\x80\0\0\0\0\0\0\x01\0\0\0\0", 16)}, fleet::fault::state_invalid},
      {2, {"SET", "", std::string("\x01\x10\0\0\x80\0\0\0\0\0\0\x01\0\0\0\x01", 16)}, fleet::fault::state_invalid},
      {2, {"SET", "", std::string("\0\0\0\0\0\0\0\0\0\0\0\x01\0\0\0\0", 16)}, fleet::fault::state_wrong_version},
      {0, {"SET", "", std::string(64, '\x09')}, fleet::fault::state_wrong_version},
  };
  const std::array<std::string_view, 3> names{keys.challenge.view(), keys.phone.view(), keys.quota->view()};
  for (const damage& d : cases) {
    INFO("key " << d.key << " " << d.write[0]);
    for (std::string_view k : names) REQUIRE(cmd(c, {"DEL", k}).ok());
    std::vector<std::string_view> args(d.write.begin(), d.write.end());
    args[1] = names[static_cast<std::size_t>(d.key)];
    REQUIRE(c.command(args).ok());
    const fleet::send_result r = send();
    CHECK(r.error == d.expected);
    CHECK(r.retry_at == pv::timestamp::max());
    for (std::size_t k = 0; k < 3; ++k)
      if (k != static_cast<std::size_t>(d.key)) CHECK(integer(c, {"EXISTS", names[k]}) == 0);
  }
  // Undamaged: the send issues and writes all three.
  for (std::string_view k : names) REQUIRE(cmd(c, {"DEL", k}).ok());
  const fleet::send_result ok = send();
  CHECK(ok.error == fleet::fault::none);
  CHECK(ok.outcome == fleet::send_outcome::issued);
  for (std::string_view k : names) CHECK(integer(c, {"EXISTS", k}) == 1);
}

TEST_CASE("a send refused for want of memory leaves none of its three keys", "[fleet]") {
  pv::test::redis_server_options options;
  options.maxmemory = "1";
  redis_server server(options);
  REQUIRE(server.ok());
  rd::connection c = connect_to(server);
  pv::secret_key secret{};
  secret.fill(std::byte{0x22});
  const std::string account = "1384512345678901";
  const pv::code_binding binding{pv::action::send_verification_code_for_enable_rd, account,
                                 phone_of("86-13812345678")};
  fleet::send_keys keys{key_of(fleet::key_kind::challenge, account, binding.purpose),
                        key_of(fleet::key_kind::phone, "+8613812345678"), key_of(fleet::key_kind::quota, account)};
  splitmix64 rng{9};
  const auto drawn = fleet::draw_code(pv::code_policy{}, secret, binding, rng);
  REQUIRE(drawn.has_value());
  auto call = fleet::plan_send(pv::code_policy{}, pv::per_phone_windows, pv::daily_quota{}, keys, *drawn, std::nullopt);
  REQUIRE(call.has_value());
  rd::call_result r = c.run(*call);
  CHECK(r.err == rd::error::server_out_of_memory);
  for (std::string_view k : {keys.challenge.view(), keys.phone.view(), keys.quota->view()})
    CHECK(integer(c, {"EXISTS", k}) == 0);
}
