// The sharded fleet (fleet.hpp key_scheme::sharded, run_sharded_send,
// redis::cluster_pool) on a real 3-master Redis Cluster of redis-server
// processes (redis_cluster.hpp), never a mock:
// - each owner's states share a slot of their own: a binding's challenge
//   is in its account's quota slot, the phone's windows elsewhere;
// - the sharded engine gives the embedded engine's verdicts, retry_at,
//   codes and bodies over a seeded workload (the steps decide at one time
//   as the one-slot script does);
// - a send the account refuses undoes the phone's charge exactly
//   (compare-and-undo), and a charge a later send built on stands;
// - a master killed under load: only closed verdicts (state_unavailable)
//   or the limits' own refusals, never an admission beyond the limits;
//   after its replica takes over, decisions continue;
// - the durable mode waits for a replica after every step of a send;
// - cluster_pool follows MOVED after a slot changed masters, and ASK
//   (ASKING, then the script on the importing master) for a key migrated
//   mid-resharding, keeping its slot map.
#include <catch2/catch.hpp>

#include <phoneverify/engine.hpp>
#include <phoneverify/fleet_engine.hpp>
#include <phoneverify/redis.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
using pv::test::base_config;
using pv::test::digits;
using pv::test::granting_facts;
using pv::test::reseedable_source;
using pv::test::redis_cluster;
using pv::test::splitmix64;


fleet::fleet_config sharded_config(const pv::engine_config& engine) {
  fleet::fleet_config config;
  config.engine = engine;
  config.deployment = "s";
  config.sharded = true;
  for (std::size_t i = 0; i < config.key_name_key.size(); ++i)
    config.key_name_key[i] = static_cast<std::byte>(0x40 + i);
  return config;
}

std::shared_ptr<rd::cluster_pool> pool_of(const redis_cluster& cluster, std::chrono::milliseconds timeout = 2000ms) {
  rd::cluster_options o;
  for (std::size_t i = 0; i < cluster.size(); ++i) o.seeds.emplace_back("127.0.0.1", cluster.port(i));
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  return std::make_shared<rd::cluster_pool>(o);
}



constexpr std::int64_t base_ms = 1'700'000'000'000;

fleet::key_scheme sharded_scheme() {
  fleet::id_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(0x11 + i);
  auto s = fleet::make_key_scheme("s", key, true);
  REQUIRE(s.has_value());
  return *s;
}

fleet::key_name key_of(const fleet::key_scheme& scheme, fleet::key_kind kind, std::string_view id,
                       pv::action purpose = pv::action::send_verification_code_for_bind_secure_mobile_phone) {
  auto key = fleet::make_key(scheme, kind, id, purpose);
  REQUIRE(key.has_value());
  return *key;
}

std::optional<std::string> get(fleet::transport& link, std::string_view key) {
  const fleet::key_name k(key);
  // A one-key script routes by its key: GET through EVAL on the key's master.
  static constexpr fleet::script get_script = fleet::make_script("test_get", "return redis.call('GET', KEYS[1])");
  fleet::script_call<1, 0> call = fleet::detail::start_call<1, 0>(get_script);
  call.keys[0] = k;
  const fleet::transport_result r = fleet::run_script(link, call);
  REQUIRE(r.ok());
  if (r.value.view().kind == fleet::reply_view::type::nil) return std::nullopt;
  REQUIRE(r.value.complete);
  return std::string(r.value.view().text);
}

}  // namespace

TEST_CASE("sharded keys: each owner's states share a slot of their own, a challenge its account's quota slot",
          "[fleet][sharded]") {
  const fleet::key_scheme scheme = sharded_scheme();
  const fleet::key_name challenge = key_of(scheme, fleet::key_kind::challenge, "1000000000000001");
  const fleet::key_name quota = key_of(scheme, fleet::key_kind::quota, "1000000000000001");
  const fleet::key_name other = key_of(scheme, fleet::key_kind::quota, "1000000000000002");
  const fleet::key_name phone = key_of(scheme, fleet::key_kind::phone, "+447911000001");
  CHECK(fleet::key_slot(challenge.view()) == fleet::key_slot(quota.view()));
  CHECK(challenge.view().substr(0, challenge.view().find('}')) == quota.view().substr(0, quota.view().find('}')));
  CHECK(quota.view().substr(0, quota.view().find('}')) != other.view().substr(0, other.view().find('}')));
  CHECK(phone.view().substr(0, phone.view().find('}')) != quota.view().substr(0, quota.view().find('}')));
  CHECK(challenge.view().find("1000000000000001") == std::string_view::npos);  // no plain id
  CHECK(fleet::key_slot("123456789") == (0x31C3 & 16383));
}

TEST_CASE("the sharded fleet engine on a 3-master cluster gives the embedded engine's verdicts, bodies and codes",
          "[fleet][sharded][differential]") {
  redis_cluster cluster;
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  // The account pays (challenge and quota in its slot), or the sending
  // caller pays with a small quota (challenge, quota and phone in three
  // slots, the quota's refusals undone on the phone).
  const bool sender_pays = GENERATE(false, true);
  pv::engine_config config = base_config();
  if (sender_pays) {
    config.policy.bind_quota_counts = pv::quota_subject::sending_account;
    config.policy.daily.limit = 6;
  }
  auto now = std::make_shared<std::atomic<std::int64_t>>(base_ms);
  pv::clock_function clock = [now] { return pv::timestamp{std::chrono::milliseconds{now->load()}}; };
  auto embedded_random = std::make_shared<reseedable_source>();
  auto fleet_random = std::make_shared<reseedable_source>();
  auto e = pv::engine::create(config, clock, embedded_random);
  REQUIRE(e.has_value());
  std::unique_ptr<pv::engine> embedded = e.release();
  fleet::fleet_config fc = sharded_config(config);
  if (sender_pays) fc.deployment = "s2";  // keys of their own: the cluster is shared by both runs
  auto built = fleet::fleet_engine::create(fc, pool_of(cluster), fleet_random, clock);
  INFO(fleet::describe(built.error()).view());
  REQUIRE(built.has_value());
  std::unique_ptr<fleet::fleet_engine> shared = built.release();

  splitmix64 rng{pv::test::test_seed("sharded differential", 0x5AAD'ED00u)};
  std::vector<std::string> members, phones;
  for (int i = 0; i < 4; ++i) members.push_back(std::to_string(1'000'000'000'000'000ULL + static_cast<unsigned>(i)));
  for (int i = 0; i < 3; ++i) phones.push_back("44-7911" + digits(static_cast<unsigned>(i), 6));
  const std::array<pv::facts, 2> callers{granting_facts("2000000000000001"), granting_facts("2000000000000002")};
  std::map<std::string, std::string> codes;
  std::map<pv::verdict_reason, std::uint64_t> reasons;
  std::uint64_t decisions = 0, issued = 0;
  for (std::uint64_t i = 0; i < 1500; ++i) {
    std::int64_t t = now->load();
    switch (rng() % 8) {
      case 0: t += 60'000; break;
      case 1: t += 3'600'000; break;
      case 2: t += static_cast<std::int64_t>(rng() % 86'400'000); break;
      case 3: break;
      default: t += static_cast<std::int64_t>(rng() % 3000); break;
    }
    now->store(t);
    const std::string& member = members[rng() % members.size()];
    const std::string& phone = phones[rng() % phones.size()];
    const pv::facts& f = callers[rng() % callers.size()];
    const std::uint64_t seed = rng();
    embedded_random->reseed(seed);
    fleet_random->reseed(seed);
    embedded->evict_dead();
    const bool send = rng() % 3 != 0;
    const auto decide = [&](auto& engine) {
      if (send) return engine.send_verification_code_for_bind_secure_mobile_phone({phone, member}, f);
      const std::string& right = codes[member + phone];
      const std::string code = rng() % 2 == 0 && !right.empty() ? right : std::string("000000");
      return engine.bind_secure_mobile_phone({code, phone, member}, f);
    };
    splitmix64 saved = rng;
    const pv::engine_response a = decide(*embedded);
    rng = saved;
    const pv::engine_response b = decide(*shared);
    ++decisions;
    INFO("decision " << decisions << " at " << t << ": embedded " << pv::describe(a).view() << " / fleet "
                     << pv::describe(b).view() << " fault "
                     << fleet::fault_name(fleet::fleet_engine::last_failure().what));
    REQUIRE(a.verdict() == b.verdict());
    REQUIRE(a.retry_at() == b.retry_at());
    REQUIRE(a.code_to_deliver() == b.code_to_deliver());
    REQUIRE(a.code_expires_at() == b.code_expires_at());
    REQUIRE(a.body() == b.body());
    ++reasons[a.reason()];
    if (send && a.ok()) {
      codes[member + phone] = std::string(a.code_to_deliver());
      ++issued;
    }
  }
  std::printf("[sharded differential%s] %llu decisions identical, %llu codes issued, %zu distinct reasons\n",
              sender_pays ? ", sender pays" : "", static_cast<unsigned long long>(decisions),
              static_cast<unsigned long long>(issued), reasons.size());
  CHECK(issued > 50);
  CHECK(reasons.count(pv::verdict_reason::resend_too_soon) == 1);  // the account refused: the phone undone
  CHECK(reasons.count(pv::verdict_reason::phone_window_exceeded) == 1);
  if (sender_pays) CHECK(reasons.count(pv::verdict_reason::daily_quota_exceeded) == 1);
}

TEST_CASE("a sharded send the account refuses undoes the phone's charge exactly, and a later charge stands",
          "[fleet][sharded]") {
  redis_cluster cluster;
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  auto link = pool_of(cluster);
  const fleet::key_scheme scheme = sharded_scheme();
  const pv::code_policy policy{};
  const pv::window_set<3> windows = pv::per_phone_windows;
  const pv::daily_quota daily{100, std::chrono::minutes{0}};
  pv::secret_key secret{};
  for (std::size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<std::byte>(i + 1);
  const std::string account = "1000000000000042";
  const fleet::send_keys first{key_of(scheme, fleet::key_kind::challenge, account),
                               key_of(scheme, fleet::key_kind::phone, "+447911000001"),
                               key_of(scheme, fleet::key_kind::quota, account)};
  fleet::send_keys second = first;
  second.phone = key_of(scheme, fleet::key_kind::phone, "+447911000002");
  REQUIRE(fleet::key_slot(first.phone.view()) != fleet::key_slot(first.challenge.view()));
  splitmix64 rng{7};
  const auto send = [&](const fleet::send_keys& keys, std::int64_t at) {
    const pv::code_binding binding{pv::action::send_verification_code_for_bind_secure_mobile_phone, account,
                                   *pv::parse_phone("44-7911000001", pv::phone_format::dashed)};
    auto drawn = fleet::draw_code(policy, secret, binding, rng);
    REQUIRE(drawn.has_value());
    return fleet::run_sharded_send(*link, policy, windows, daily, keys, *drawn,
                                   pv::timestamp{std::chrono::milliseconds{at}}, fleet::default_expiry_margin);
  };
  // Issued: the phone, the quota and the challenge are charged.
  const fleet::sharded_send issued = send(first, base_ms);
  REQUIRE(issued.result.error == fleet::fault::none);
  REQUIRE(issued.result.outcome == fleet::send_outcome::issued);
  CHECK(issued.scripts == 3);
  CHECK(issued.undone == 0);
  const std::optional<std::string> quota_after_issue = get(*link, first.quota->view());
  REQUIRE(quota_after_issue.has_value());
  // The same account to another phone 1 ms later: the account's resend
  // interval refuses; that phone's windows were charged, then undone: no key.
  const fleet::sharded_send refused = send(second, base_ms + 1);
  REQUIRE(refused.result.error == fleet::fault::none);
  CHECK(refused.result.outcome == fleet::send_outcome::resend_too_soon);
  CHECK(refused.undone == 2);  // the phone and the quota
  CHECK(refused.scripts == 5);
  CHECK_FALSE(get(*link, second.phone.view()).has_value());
  CHECK(get(*link, first.quota->view()) == quota_after_issue);
  // A phone that held a state gets exactly its bytes back.
  const std::optional<std::string> phone_before = get(*link, first.phone.view());
  REQUIRE(phone_before.has_value());
  const fleet::sharded_send again = send(first, base_ms + 2);
  CHECK(again.result.outcome == fleet::send_outcome::resend_too_soon);
  CHECK(get(*link, first.phone.view()) == phone_before);
  CHECK(get(*link, first.quota->view()) == quota_after_issue);
  // Compare-and-undo: once another charge has built on this one, the undo
  // leaves the key as it is (stricter, never a blind decrement).
  auto plan = fleet::plan_windows_step(windows, second.phone, pv::timestamp{std::chrono::milliseconds{base_ms + 10}});
  REQUIRE(plan.has_value());
  const fleet::step_result mine = fleet::decode_step(fleet::run_script(*link, *plan).value.view());
  REQUIRE(mine.error == fleet::fault::none);
  REQUIRE_FALSE(mine.after.empty());
  plan = fleet::plan_windows_step(windows, second.phone, pv::timestamp{std::chrono::milliseconds{base_ms + 120'000}});
  REQUIRE(plan.has_value());
  const fleet::step_result later = fleet::decode_step(fleet::run_script(*link, *plan).value.view());
  REQUIRE(later.error == fleet::fault::none);
  REQUIRE(later.before.view() == mine.after.view());
  auto undo = fleet::plan_undo(second.phone, mine);
  REQUIRE(undo.has_value());
  const fleet::undo_result u = fleet::decode_undo(fleet::run_script(*link, *undo).value.view());
  CHECK(u.error == fleet::fault::none);
  CHECK_FALSE(u.undone);
  CHECK(get(*link, second.phone.view()) == std::optional<std::string>(std::string(later.after.view())));
}

TEST_CASE(
    "a master killed under sharded load: only closed verdicts, never beyond the limits; after failover decisions "
    "continue",
    "[fleet][sharded]") {
  pv::test::redis_cluster_options options;
  options.replicas = 1;
  redis_cluster cluster(options);
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  const pv::engine_config config = base_config();
  auto built = fleet::fleet_engine::create(sharded_config(config), pool_of(cluster, 200ms),
                                           std::make_shared<reseedable_source>());
  INFO(fleet::describe(built.error()).view());
  REQUIRE(built.has_value());
  std::unique_ptr<fleet::fleet_engine> engine = built.release();
  const pv::facts f = granting_facts("2000000000000001");
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> ok{0}, unavailable{0}, limited{0}, other{0};
  std::mutex mutex;
  std::map<std::string, int> per_member, per_phone;
  const auto load = [&](std::uint64_t thread) {
    for (std::uint64_t i = 0; !stop.load(); ++i) {
      // One send in 4 on 5 hot members and phones (their limits bind), the
      // others on fresh ones (admitted unless the store fails).
      const bool hot = i % 4 == 0;
      const std::uint64_t fresh = 100 + thread * 1'000'000 + i;
      const std::string member = std::to_string(1'500'000'000'000'000ULL + (hot ? (thread + i) % 5 : fresh));
      const std::string phone = "44-7911" + digits(hot ? (thread * 3 + i) % 5 : fresh, 6);
      const auto r = engine->send_verification_code_for_bind_secure_mobile_phone({phone, member}, f);
      if (r.ok()) {
        ok.fetch_add(1);
        const std::lock_guard<std::mutex> held(mutex);
        ++per_member[member];
        ++per_phone[phone];
      } else if (r.reason() == pv::verdict_reason::state_unavailable) {
        unavailable.fetch_add(1);
      } else if (r.reason() == pv::verdict_reason::resend_too_soon ||
                 r.reason() == pv::verdict_reason::phone_window_exceeded ||
                 r.reason() == pv::verdict_reason::daily_quota_exceeded ||
                 r.reason() == pv::verdict_reason::binding_locked) {
        limited.fetch_add(1);
      } else {
        other.fetch_add(1);
      }
    }
  };
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (std::uint64_t t = 0; t < 3; ++t) threads.emplace_back(load, t);
  std::this_thread::sleep_for(500ms);
  // Kill a master (node 0 is a master: redis-cli --cluster create lists masters first).
  const std::uint64_t before_kill = ok.load();
  cluster.kill(0);
  std::this_thread::sleep_for(1500ms);
  const auto until = std::chrono::steady_clock::now() + 20s;
  bool recovered = false;
  while (std::chrono::steady_clock::now() < until && !recovered) {
    recovered = true;
    for (std::size_t i = 1; i < cluster.size() && recovered; ++i) recovered = cluster.state(i) == "ok";
    if (!recovered) std::this_thread::sleep_for(100ms);
  }
  REQUIRE(recovered);
  const std::uint64_t at_failover = ok.load();
  std::this_thread::sleep_for(1500ms);
  stop.store(true);
  for (std::thread& t : threads) t.join();
  std::printf("[sharded kill -9] %llu issued (%llu before the kill), %llu state_unavailable, %llu limits\n",
              static_cast<unsigned long long>(ok.load()), static_cast<unsigned long long>(before_kill),
              static_cast<unsigned long long>(unavailable.load()), static_cast<unsigned long long>(limited.load()));
  CHECK(other.load() == 0);            // every refusal is closed or a limit's own
  CHECK(unavailable.load() > 0);       // the dead master's slots refused closed
  CHECK(ok.load() > at_failover);      // the promoted replica decides
  // The run is shorter than a minute: a hot member (its resend interval)
  // and a hot phone (1 a minute) got at most one code each, whatever failed
  // between the steps of a send.
  REQUIRE(std::chrono::steady_clock::now() - started < 60s);
  for (const auto& [member, n] : per_member) CHECK(n <= 1);
  for (const auto& [phone, n] : per_phone) CHECK(n <= 1);
}

TEST_CASE("the sharded durable mode sends WAIT after each step: issued with a replica per master, refused without",
          "[fleet][sharded]") {
  const bool replicas = GENERATE(false, true);
  pv::test::redis_cluster_options options;
  options.replicas = replicas ? 1 : 0;
  redis_cluster cluster(options);
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  fleet::fleet_config config = sharded_config(base_config());
  config.wait_replicas = 1;
  // With replicas WAIT answers as soon as one acknowledges, so a generous
  // timeout costs nothing and a loaded machine's slow replica is not a
  // refusal; without, every WAIT runs to its timeout (kept short). Both stay
  // below the transport's command timeout (2 s).
  config.wait_timeout = replicas ? 1000ms : 200ms;
  auto built = fleet::fleet_engine::create(config, pool_of(cluster), std::make_shared<reseedable_source>());
  INFO(fleet::describe(built.error()).view());
  REQUIRE(built.has_value());
  std::unique_ptr<fleet::fleet_engine> engine = built.release();
  const pv::facts f = granting_facts("2000000000000001");
  int ok = 0, unavailable = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string phone = "44-7911" + digits(static_cast<unsigned>(500 + i), 6);
    const std::string member = std::to_string(1'600'000'000'000'000ULL + static_cast<unsigned>(i));
    const auto r = engine->send_verification_code_for_bind_secure_mobile_phone({phone, member}, f);
    if (r.ok()) ++ok;
    else if (r.reason() == pv::verdict_reason::state_unavailable) ++unavailable;
  }
  if (replicas) {
    CHECK(ok == 10);
  } else {
    CHECK(unavailable == 10);  // no replica acknowledged: the code is not delivered, the charge stands
    CHECK(engine->stats().unacknowledged_sends == 10);
  }
}

namespace {
// One flow-control admission (10 per second) of `key` at base_ms through
// `link`, which must be admitted; the count it leaves (which state the script read).
std::uint32_t admit_once(fleet::transport& link, const fleet::key_name& key) {
  const pv::rate_limit limit{10, std::chrono::seconds{1}};
  auto call = fleet::plan_flow(limit, key, pv::timestamp{std::chrono::milliseconds{base_ms}});
  REQUIRE(call.has_value());
  const fleet::transport_result r = fleet::run_script(link, *call);
  INFO(fleet::transport_error_name(r.err) << " " << r.message.view());
  REQUIRE(r.ok());
  const fleet::flow_result d = fleet::decode_flow(r.value.view());
  REQUIRE(d.error == fleet::fault::none);
  CHECK(d.verdict.allowed);
  return d.verdict.remaining;
}
}  // namespace

TEST_CASE("cluster_pool follows MOVED: a slot moved to another master after the map was read is decided there",
          "[fleet][sharded]") {
  redis_cluster cluster;
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  auto link = pool_of(cluster);
  const fleet::key_scheme scheme = sharded_scheme();
  const auto decide = [&](const fleet::key_name& key) { admit_once(*link, key); };
  // Two callers in slots of two masters: the first call reads the map.
  const fleet::key_name moved = key_of(scheme, fleet::key_kind::rate, "caller-moved");
  const std::uint16_t slot = fleet::key_slot(moved.view());
  const std::size_t from = cluster.master_of_slot(slot);
  REQUIRE(from < cluster.size());
  fleet::key_name first;
  for (int i = 0; i < 100 && first.empty(); ++i) {
    const fleet::key_name k = key_of(scheme, fleet::key_kind::rate, "caller-" + std::to_string(i));
    if (cluster.master_of_slot(fleet::key_slot(k.view())) != from) first = k;
  }
  REQUIRE_FALSE(first.empty());
  decide(first);
  const std::size_t to = cluster.master_of_slot(fleet::key_slot(first.view()));
  // The empty slot of `moved` is given to `to` on every node (CLUSTER SETSLOT ... NODE).
  const std::string to_id = cluster.raw(to, "CLUSTER MYID");
  REQUIRE(to_id.size() == 40);
  const std::string setslot = "CLUSTER SETSLOT " + std::to_string(slot) + " NODE " + to_id;
  CHECK(cluster.raw(to, setslot) == "+OK");
  for (std::size_t i = 0; i < cluster.size(); ++i)
    if (i != to) CHECK(cluster.raw(i, setslot) == "+OK");
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (cluster.master_of_slot(slot, from) != to && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  REQUIRE(cluster.master_of_slot(slot, from) == to);
  // The pool's map still names `from`: MOVED, the map read again, the script sent once to `to`.
  decide(moved);
  CHECK(cluster.raw(to, std::string("EXISTS ") + std::string(moved.view())) == ":1");
  decide(moved);  // and routed there directly from now on
}

TEST_CASE("cluster_pool follows ASK: a key migrated mid-resharding is decided on the importing master, the map kept",
          "[fleet][sharded]") {
  redis_cluster cluster;
  INFO(cluster.error());
  REQUIRE(cluster.ok());
  auto link = pool_of(cluster);
  const fleet::key_scheme scheme = sharded_scheme();
  // One admission at base_ms each time: the remaining count says which state the script read.
  const auto decide = [&](const fleet::key_name& key) { return admit_once(*link, key); };
  // Two keys of one owner share its slot: `migrated` moves to another
  // master during the test, `stays` does not.
  const fleet::key_name migrated = key_of(scheme, fleet::key_kind::rate, "caller-ask");
  const fleet::key_name stays = key_of(scheme, fleet::key_kind::quota, "caller-ask");
  const std::uint16_t slot = fleet::key_slot(migrated.view());
  REQUIRE(fleet::key_slot(stays.view()) == slot);
  const std::size_t from = cluster.master_of_slot(slot);
  REQUIRE(from < cluster.size());
  const std::size_t to = (from + 1) % cluster.size();
  CHECK(decide(migrated) == 9);  // the pool reads the map: the slot is `from`'s
  CHECK(decide(stays) == 9);
  // A resharding as redis-cli --cluster reshard does it, stopped after one key:
  // the slot IMPORTING on `to`, MIGRATING on `from`, then MIGRATE of `migrated`.
  const std::string from_id = cluster.raw(from, "CLUSTER MYID"), to_id = cluster.raw(to, "CLUSTER MYID");
  REQUIRE(from_id.size() == 40);
  REQUIRE(to_id.size() == 40);
  const std::string slot_text = std::to_string(slot);
  REQUIRE(cluster.raw(to, "CLUSTER SETSLOT " + slot_text + " IMPORTING " + from_id) == "+OK");
  REQUIRE(cluster.raw(from, "CLUSTER SETSLOT " + slot_text + " MIGRATING " + to_id) == "+OK");
  REQUIRE(cluster.raw(from, "MIGRATE 127.0.0.1 " + std::to_string(cluster.port(to)) + " " +
                                std::string(migrated.view()) + " 0 5000") == "+OK");
  // `from` no longer has the key and answers ASK for it (the raw command
  // shows it); the pool sends ASKING and the
  // script to `to` (whose script cache is empty: NOSCRIPT, then ASKING and
  // EVAL), which decides on the migrated state (8 left, not a fresh 9).
  REQUIRE(cluster.raw(from, "EXISTS " + std::string(migrated.view())) ==
          "-ASK " + slot_text + " 127.0.0.1:" + std::to_string(cluster.port(to)));
  CHECK(decide(migrated) == 8);
  // Without ASKING `to` does not serve the slot it is only importing: MOVED back to `from`.
  CHECK(cluster.raw(to, "GET " + std::string(migrated.view())).substr(0, 7) == "-MOVED ");
  // The map still names `from`: the key that stayed is decided there, as before.
  CHECK(decide(stays) == 8);
  CHECK(cluster.raw(from, "EXISTS " + std::string(stays.view())) == ":1");
  CHECK(decide(migrated) == 7);  // ASK again: still on `to`
}
