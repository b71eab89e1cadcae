// The fleet on a real Redis Cluster (redis_cluster.hpp: redis-server
// processes with cluster-enabled yes, joined by redis-cli --cluster create),
// never a mock:
// - the fixture: every node reports cluster_state:ok with all 16384 slots,
//   and nothing of it outlives the test;
// - one hash tag per deployment puts every key of a decision in one slot,
//   so the send script (three keys) runs whole on the node that owns it;
// - a node that does not own the slot answers MOVED, which redis.hpp
//   reports as error::redirected with the owner's address;
// - a master killed under load: every send either decides or fails with a
//   defined redis::error (RULES.md §4: a Redis failure never admits), and
//   the survivors answer CLUSTERDOWN (error::cluster_down) once the cluster
//   counts the master as failed;
// - with a replica per master, the replica takes the slot over: the state
//   written before the crash is still there (the resend interval holds) and
//   its empty script cache is answered by EVAL after NOSCRIPT.
#include <catch2/catch.hpp>

#include <phoneverify/code.hpp>
#include <phoneverify/fleet.hpp>
#include <phoneverify/phone.hpp>
#include <phoneverify/quota.hpp>
#include <phoneverify/redis.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fleet/redis_cluster.hpp"
#include "fleet/fleet_support.hpp"
#include "support.hpp"

namespace {

namespace pv = phoneverify;
namespace fleet = phoneverify::fleet;
namespace rd = phoneverify::redis;
using namespace std::chrono_literals;
using pv::test::cmd;
using pv::test::redis_cluster;

rd::connection connect_to(const redis_cluster& cluster, std::size_t node,
                          std::chrono::milliseconds timeout = 2000ms) {
  rd::options options;
  options.port = cluster.port(node);
  options.connect_timeout = timeout;
  options.command_timeout = timeout;
  return rd::connection(options);
}

fleet::key_scheme scheme_named(std::string_view deployment) {
  fleet::id_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(0x40 + i);
  auto scheme = fleet::make_key_scheme(deployment, key);
  REQUIRE(scheme.has_value());
  return *scheme;
}

// One binding of a send and its three keys, under one deployment.
struct send_fixture {
  pv::secret_key secret{};
  std::string account = "1384512345678901";
  pv::code_binding binding;
  fleet::send_keys keys;
  pv::test::splitmix64 rng{2026};

  explicit send_fixture(std::string_view deployment)
      : binding{pv::action::send_verification_code_for_bind_secure_mobile_phone, account, phone_of("86-13812345678")} {
    secret.fill(std::byte{0x6d});
    const fleet::key_scheme s = scheme_named(deployment);
    keys = {*fleet::make_key(s, fleet::key_kind::challenge, account, binding.purpose),
            *fleet::make_key(s, fleet::key_kind::phone, pv::format_phone(binding.phone, pv::phone_format::e164).view()),
            *fleet::make_key(s, fleet::key_kind::quota, account)};
  }
  send_fixture(const send_fixture&) = delete;  // binding views account
  send_fixture& operator=(const send_fixture&) = delete;
  static pv::phone_number phone_of(std::string_view dashed) {
    const auto phone = pv::parse_phone(dashed, pv::phone_format::dashed);
    REQUIRE(phone.has_value());
    return *phone;
  }
  std::uint16_t slot() const { return fleet::key_slot(keys.challenge.view()); }

  // One send at the server's clock through `c`: the transport's error, or
  // the script's decision. No Catch2 assertion in here: the load test calls
  // it from a thread of its own, and Catch2's assertions are not thread-safe
  // (a plan that cannot be made comes back as bad_argument instead).
  rd::call_result send(rd::connection& c, fleet::send_result& decided) {
    const auto drawn = fleet::draw_code(pv::code_policy{}, secret, binding, rng);
    const auto call = drawn ? fleet::plan_send(pv::code_policy{}, pv::per_phone_windows, pv::daily_quota{}, keys,
                                               *drawn, std::nullopt)
                            : pv::result<fleet::send_call>(pv::errc::invalid_parameter);
    if (!call) {
      decided = fleet::send_result{fleet::fault::bad_arguments};
      rd::call_result out;
      out.err = rd::error::bad_argument;
      return out;
    }
    rd::call_result r = c.run(*call);
    decided = r.ok() ? fleet::decode_send(r.value.view()) : fleet::send_result{fleet::fault::unavailable};
    return r;
  }
};

std::size_t some_node_other_than(const redis_cluster& cluster, std::size_t owner) {
  for (std::size_t i = 0; i < cluster.size(); ++i)
    if (i != owner && cluster.alive(i) && cluster.master_of_slot(0, i) < cluster.size()) return i;
  return cluster.size();
}

}  // namespace

TEST_CASE("the cluster fixture starts 3 masters that serve every slot, and stops them", "[fleet][cluster]") {
  std::vector<pid_t> pids;
  std::string dir;
  {
    redis_cluster cluster;
    INFO(cluster.error());
    REQUIRE(cluster.ok());
    REQUIRE(cluster.size() == 3);
    dir = cluster.directory();
    std::set<int> ports;
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      pids.push_back(cluster.pid(i));
      ports.insert(cluster.port(i));
      rd::connection c = connect_to(cluster, i);
      rd::call_result info = cmd(c, {"CLUSTER", "INFO"});
      REQUIRE(info.ok());
      const std::string_view text = info.value.view().text;
      CHECK(text.find("cluster_state:ok") != std::string_view::npos);
      CHECK(text.find("cluster_slots_assigned:16384") != std::string_view::npos);
      CHECK(text.find("cluster_known_nodes:3") != std::string_view::npos);
      CHECK(text.find("cluster_size:3") != std::string_view::npos);
    }
    CHECK(ports.size() == 3);
    // Every slot has a master among the nodes.
    for (std::uint16_t slot : {std::uint16_t{0}, std::uint16_t{5460}, std::uint16_t{5461}, std::uint16_t{16383}})
      CHECK(cluster.master_of_slot(slot) < cluster.size());
  }
  for (pid_t pid : pids) CHECK(::kill(pid, 0) == -1);  // stopped and reaped
  CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("fleet::key_slot gives the Redis Cluster specification's examples", "[fleet][cluster]") {
  // The examples of the Redis Cluster specification.
  CHECK(fleet::key_slot("123456789") == (0x31C3 & 16383));
  CHECK(fleet::key_slot("{user1000}.following") == fleet::key_slot("{user1000}.followers"));
  CHECK(fleet::key_slot("foo{{bar}}zap") == fleet::key_slot("{bar"));  // the tag is "{bar"
}

TEST_CASE("every key of a deployment is in one slot, and the send script runs whole on its owner",
          "[fleet][cluster]") {
  redis_cluster cluster;
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  send_fixture f("prod-eu");
  const fleet::key_scheme s = scheme_named("prod-eu");
  const std::vector<fleet::key_name> keys{
      f.keys.challenge, f.keys.phone, *f.keys.quota, *fleet::make_key(s, fleet::key_kind::rate, "9999888877776666"),
      *fleet::make_key(s, fleet::key_kind::quota, "1384512345678999"),
      *fleet::make_key(s, fleet::key_kind::challenge, f.account, pv::action::get_migration_verify_code)};
  rd::connection any = connect_to(cluster, 0);
  // fleet::key_slot against the server's CLUSTER KEYSLOT, hash tags empty, nested and absent.
  for (std::string_view key : {"foo{}{bar}", "foo{{bar}}zap", "{user1000}.following", "no tag", "{pv:prod-eu}:q:00"}) {
    rd::call_result slot = cmd(any, {"CLUSTER", "KEYSLOT", key});
    REQUIRE(slot.ok());
    CHECK(slot.value.view().integer == fleet::key_slot(key));
  }
  for (const fleet::key_name& key : keys) {
    INFO(key.view());
    rd::call_result slot = cmd(any, {"CLUSTER", "KEYSLOT", key.view()});
    REQUIRE(slot.ok());
    CHECK(slot.value.view().integer == f.slot());
    CHECK(fleet::key_slot(key.view()) == f.slot());
  }
  const std::size_t owner = cluster.master_of_slot(f.slot());
  REQUIRE(owner < cluster.size());
  rd::connection c = connect_to(cluster, owner);
  fleet::send_result decided;
  rd::call_result r = f.send(c, decided);
  INFO(rd::error_name(r.err) << " " << r.message.view());
  REQUIRE(r.ok());  // no CROSSSLOT: the three keys share the slot
  CHECK(decided.error == fleet::fault::none);
  CHECK(decided.outcome == fleet::send_outcome::issued);
  for (const auto& key : {f.keys.challenge, f.keys.phone, *f.keys.quota})
    CHECK(cmd(c, {"EXISTS", key.view()}).value.view().integer == 1);
  // Another send at once: the resend interval, from the state on that node.
  r = f.send(c, decided);
  REQUIRE(r.ok());
  CHECK(decided.outcome == fleet::send_outcome::resend_too_soon);
}

TEST_CASE("a node that does not own the slot answers MOVED, reported as error::redirected", "[fleet][cluster]") {
  redis_cluster cluster;
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  send_fixture f("prod-eu");
  const std::size_t owner = cluster.master_of_slot(f.slot());
  REQUIRE(owner < cluster.size());
  const std::size_t other = some_node_other_than(cluster, owner);
  REQUIRE(other < cluster.size());
  rd::connection c = connect_to(cluster, other);
  fleet::send_result decided;
  const rd::call_result r = f.send(c, decided);
  CHECK(r.err == rd::error::redirected);
  const std::string expected = "MOVED " + std::to_string(f.slot()) + " 127.0.0.1:" + std::to_string(cluster.port(owner));
  CHECK(std::string(r.message.view()) == expected);
  CHECK(decided.error == fleet::fault::unavailable);  // no decision: the caller fails it closed
  CHECK(c.connected());                              // an error reply leaves the connection usable
  rd::call_result get = cmd(c, {"GET", f.keys.challenge.view()});
  CHECK(get.err == rd::error::redirected);
  // Nothing was written anywhere: the owner has none of the keys.
  rd::connection at_owner = connect_to(cluster, owner);
  CHECK(cmd(at_owner, {"EXISTS", f.keys.challenge.view(), f.keys.phone.view(), f.keys.quota->view()})
            .value.view()
            .integer == 0);
}

TEST_CASE("a master killed under load: defined errors, never an admission, then CLUSTERDOWN", "[fleet][cluster]") {
  redis_cluster cluster;
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  send_fixture f("prod-eu");
  const std::size_t owner = cluster.master_of_slot(f.slot());
  REQUIRE(owner < cluster.size());
  const std::size_t survivor = some_node_other_than(cluster, owner);
  REQUIRE(survivor < cluster.size());

  // A client sends to the owner in a loop while the owner is killed.
  std::atomic<bool> stop{false};
  std::atomic<int> decisions{0}, issued{0}, undefined{0}, errors{0};
  std::thread load([&] {
    rd::connection c = connect_to(cluster, owner, 200ms);
    send_fixture mine("prod-eu");
    while (!stop) {
      fleet::send_result decided;
      const rd::call_result r = mine.send(c, decided);
      if (r.ok()) {
        ++decisions;
        issued += decided.outcome == fleet::send_outcome::issued;
      } else {
        ++errors;
        const bool defined = r.err == rd::error::connection_refused || r.err == rd::error::connection_lost ||
                             r.err == rd::error::timeout;
        if (!defined) ++undefined;
        if (decided.error != fleet::fault::unavailable) ++undefined;  // a transport error never decides
      }
    }
  });
  while (decisions.load() < 20) std::this_thread::sleep_for(1ms);
  cluster.kill(owner);
  std::this_thread::sleep_for(300ms);
  stop = true;
  load.join();
  CHECK(decisions.load() >= 20);
  CHECK(issued.load() == 1);  // one binding: the first send, then the resend interval
  CHECK(errors.load() > 0);
  CHECK(undefined.load() == 0);

  // A connection to the dead node: refused, a defined error, fast.
  rd::connection dead = connect_to(cluster, owner, 100ms);
  fleet::send_result decided;
  const auto before = std::chrono::steady_clock::now();
  rd::call_result r = f.send(dead, decided);
  CHECK(std::chrono::steady_clock::now() - before < 1s);
  CHECK(r.err == rd::error::connection_refused);
  CHECK(decided.error == fleet::fault::unavailable);

  // The others count the master as failed (node_timeout, a majority), then
  // refuse every slot while one is uncovered (cluster-require-full-coverage).
  REQUIRE(cluster.wait_for_state("fail", 15s));
  rd::connection c = connect_to(cluster, survivor);
  r = f.send(c, decided);
  INFO(r.message.view());
  CHECK(r.err == rd::error::cluster_down);
  CHECK(std::string_view(r.message.view()).substr(0, 11) == "CLUSTERDOWN");
  CHECK(decided.error == fleet::fault::unavailable);
  send_fixture elsewhere("other-deployment");  // a key of a slot the survivor may own: refused all the same
  r = elsewhere.send(c, decided);
  CHECK(r.err == rd::error::cluster_down);
}

TEST_CASE("with a replica per master, the replica takes over the slot with the state written before the crash",
          "[fleet][cluster]") {
  pv::test::redis_cluster_options options;
  options.replicas = 1;
  redis_cluster cluster(options);
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  REQUIRE(cluster.size() == 6);
  send_fixture f("prod-eu");
  const std::size_t owner = cluster.master_of_slot(f.slot());
  REQUIRE(owner < cluster.size());
  {
    rd::connection c = connect_to(cluster, owner);
    fleet::send_result decided;
    REQUIRE(f.send(c, decided).ok());
    REQUIRE(decided.outcome == fleet::send_outcome::issued);
    // The replica has the writes before the crash (WAIT: acknowledged by 1).
    rd::call_result wait = cmd(c, {"WAIT", "1", "1000"});
    INFO(rd::error_name(wait.err) << " " << wait.message.view());
    REQUIRE(wait.ok());
    REQUIRE(wait.value.view().integer == 1);
  }
  cluster.kill(owner);
  // The replica is elected once the master counts as failed; the cluster is ok again.
  std::size_t promoted = cluster.size();
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    const std::size_t asked = some_node_other_than(cluster, owner);
    promoted = asked < cluster.size() ? cluster.master_of_slot(f.slot(), asked) : cluster.size();
    if (promoted < cluster.size() && promoted != owner && cluster.state(promoted) == "ok") break;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(promoted < cluster.size());
  REQUIRE(promoted != owner);
  rd::connection c = connect_to(cluster, promoted);
  fleet::send_result decided;
  rd::call_result r = f.send(c, decided);
  INFO(rd::error_name(r.err) << " " << r.message.view());
  REQUIRE(r.ok());
  // The state came along: a send within the resend interval is refused, not
  // issued afresh (RULES.md §4: a key never comes back with a fresh budget).
  CHECK(decided.outcome == fleet::send_outcome::resend_too_soon);
  // The promoted replica had no script cached: EVAL after NOSCRIPT.
  CHECK(c.stats().noscript_fallbacks == 1);
}
