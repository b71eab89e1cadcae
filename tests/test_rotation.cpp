// HMAC key rotation in the embedded engine (RULES.md §5, key rotation): a key
// ring in the configuration, rotate_keys mid-flow, retiring a key only once
// its codes expired (or dropping them on purpose), refusals of bad rings, a
// restart that lost a key, and rotation under concurrent load.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <phoneverify/engine.hpp>

#include "manual_clock.hpp"
#include "support.hpp"

namespace pv = phoneverify;
using pv::errc;
using pv::rotation_error;
using namespace std::chrono_literals;

namespace {

using rotation_clock = pv::test::manual_clock;

pv::secret_key key_of(std::uint8_t seed) {
  pv::secret_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(seed ^ (i * 13));
  return key;
}
const pv::secret_key old_key = key_of(0x21);
const pv::secret_key new_key = key_of(0x42);

// A ring holding `ids` (each with its own key), `primary` primary.
pv::key_ring ring_of(std::initializer_list<pv::key_id> ids, pv::key_id primary) {
  pv::key_ring ring;
  for (pv::key_id id : ids) REQUIRE(ring.add(id, id == 1 ? old_key : id == 2 ? new_key : key_of(id)) == pv::key_ring_error::ok);
  REQUIRE(ring.make_primary(primary) == pv::key_ring_error::ok);
  return ring;
}

pv::engine_config ring_config(const pv::key_ring& ring) {
  pv::engine_config config;
  config.keys = ring;
  config.capacity = 4096;
  config.shards = 16;
  return config;
}

pv::facts facts_for(std::string_view caller = "9999888877776666") {
  return pv::test::granting_facts_with_phone(caller, "86-13900001234");
}

// The phone of `account` (one per account, so the per-phone windows of one
// never refuse another's send): 86-1390000 and the account's last 4 digits.
std::string phone_of(std::string_view account) { return "86-1390000" + std::string(account.substr(account.size() - 4)); }

// A send of action 1 for `account`, and the bind that consumes `code`.
pv::engine_response send_code(pv::engine& e, std::string_view account) {
  return e.send_verification_code_for_bind_secure_mobile_phone({phone_of(account), account}, facts_for());
}
pv::engine_response bind_code(pv::engine& e, std::string_view code, std::string_view account) {
  return e.bind_secure_mobile_phone({code, phone_of(account), account}, facts_for());
}

}  // namespace

TEST_CASE("rotating the engine's keys mid-flow: the pending code still binds, the next send uses the new key",
          "[engine][rotation]") {
  rotation_clock clock;
  pv::engine engine(ring_config(ring_of({1}, 1)), clock.function(), std::make_shared<pv::seeded_random_source>(1));
  CHECK(engine.primary_key_id() == 1);
  const auto before = send_code(engine, "1234567890123456");
  REQUIRE(before.ok());
  // The new key joins as primary; the old one stays for the code in flight.
  const pv::rotation_report added = engine.rotate_keys(ring_of({1, 2}, 2));
  REQUIRE(added.error == rotation_error::ok);
  CHECK(engine.primary_key_id() == 2);
  clock.advance(10s);
  CHECK(bind_code(engine, before.code_to_deliver(), "1234567890123456").ok());
  // The next code: issued under key 2, so it binds only while key 2 is in the ring.
  clock.advance(60s);
  const auto after = send_code(engine, "1234567890123456");
  REQUIRE(after.ok());
  REQUIRE(engine.rotate_keys(ring_of({1, 2}, 1)).error == rotation_error::ok);  // back to key 1 as primary
  CHECK(bind_code(engine, after.code_to_deliver(), "1234567890123456").ok());
  // A key the ring lacks: a third account's code under key 1, then key 1
  // dropped on purpose: that code is gone, and says so only as no code.
  const auto third = send_code(engine, "1234567890123458");
  REQUIRE(third.ok());
  REQUIRE(engine.rotate_keys(ring_of({1, 2}, 2)).error == rotation_error::ok);
  const pv::rotation_report dropped = engine.rotate_keys(ring_of({2}, 2), pv::live_codes::drop);
  CHECK(dropped.error == rotation_error::ok);
  CHECK(dropped.live_codes_of_leaving_keys == 1);
  CHECK(!engine.holds_key(1));
  const auto orphan = bind_code(engine, third.code_to_deliver(), "1234567890123458");
  CHECK(orphan.error() == errc::invalid_verification_code);
  CHECK(orphan.verdict().code_status() == pv::check_status::no_code);
}

TEST_CASE("retiring a key with live codes is refused with their count and last expiry, and allowed once they expired",
          "[engine][rotation]") {
  rotation_clock clock;
  pv::engine engine(ring_config(ring_of({1}, 1)), clock.function(), std::make_shared<pv::seeded_random_source>(2));
  const pv::timestamp first_sent = clock.now();
  REQUIRE(send_code(engine, "1234567890123456").ok());
  clock.advance(30s);
  REQUIRE(send_code(engine, "1234567890123457").ok());
  const pv::timestamp last_sent = clock.now();
  REQUIRE(engine.rotate_keys(ring_of({1, 2}, 2)).error == rotation_error::ok);
  REQUIRE(send_code(engine, "1234567890123459").ok());  // under key 2: not counted against key 1
  const pv::rotation_report refused = engine.rotate_keys(ring_of({2}, 2));
  CHECK(refused.error == rotation_error::key_has_live_codes);
  CHECK(refused.live_codes_of_leaving_keys == 2);
  CHECK(refused.last_expiry == last_sent + 5min);
  CHECK(engine.holds_key(1));  // nothing changed
  // Another key under id 1 is key 1 leaving too.
  pv::key_ring replaced;
  REQUIRE(replaced.add(1, key_of(0x77)) == pv::key_ring_error::ok);
  REQUIRE(replaced.add(2, new_key) == pv::key_ring_error::ok);
  REQUIRE(replaced.make_primary(2) == pv::key_ring_error::ok);
  CHECK(engine.rotate_keys(replaced).error == rotation_error::key_has_live_codes);
  // The first code expires: one left.
  clock.advance(first_sent + 5min - clock.now());
  CHECK(engine.rotate_keys(ring_of({2}, 2)).live_codes_of_leaving_keys == 1);
  clock.advance(last_sent + 5min - clock.now() - 1ms);
  CHECK(engine.rotate_keys(ring_of({2}, 2)).error == rotation_error::key_has_live_codes);
  clock.advance(1ms);  // valid while now < expires_at: this is the first instant it is not
  const pv::rotation_report retired = engine.rotate_keys(ring_of({2}, 2));
  CHECK(retired.error == rotation_error::ok);
  CHECK(retired.live_codes_of_leaving_keys == 0);
  CHECK(!engine.holds_key(1));
  CHECK(engine.primary_key_id() == 2);
}

TEST_CASE("rotate_keys refuses an invalid ring and retiring the primary in force, changing nothing",
          "[engine][rotation]") {
  rotation_clock clock;
  pv::engine engine(ring_config(ring_of({1}, 1)), clock.function(), std::make_shared<pv::seeded_random_source>(3));
  const auto sent = send_code(engine, "1234567890123456");
  REQUIRE(sent.ok());
  const pv::rotation_report empty = engine.rotate_keys(pv::key_ring{});
  CHECK(empty.error == rotation_error::ring_invalid);
  CHECK(empty.ring_problem == pv::key_ring_error::empty);
  const pv::rotation_report zero = engine.rotate_keys(pv::key_ring{pv::secret_key{}, 5});
  CHECK(zero.error == rotation_error::ring_invalid);
  CHECK(zero.ring_problem == pv::key_ring_error::zero_key);
  // Straight to a ring without the primary in force, even with nothing live under it.
  CHECK(engine.rotate_keys(ring_of({2}, 2), pv::live_codes::drop).error == rotation_error::retiring_primary);
  CHECK(engine.rotate_keys(ring_of({1, 2}, 2)).error == rotation_error::ok);
  CHECK(engine.primary_key_id() == 2);
  clock.advance(5s);
  CHECK(bind_code(engine, sent.code_to_deliver(), "1234567890123456").ok());
}

TEST_CASE("an engine refuses a configuration with both a key and a key ring, or a zero key in the ring",
          "[engine][rotation][config]") {
  pv::engine_config both = ring_config(ring_of({1}, 1));
  both.key = new_key;
  CHECK(pv::validate(both) == pv::config_error::key_and_key_ring);
  CHECK(pv::describe(pv::config_error::key_and_key_ring).find("engine_config.keys") != std::string_view::npos);
  CHECK(pv::engine::create(both).error() == pv::config_error::key_and_key_ring);
  CHECK(pv::validate(ring_config(pv::key_ring{pv::secret_key{}, 3})) == pv::config_error::key_all_zero);
  CHECK(pv::validate(ring_config(pv::key_ring{})) == pv::config_error::key_all_zero);  // neither set
  STATIC_REQUIRE(pv::starting_keys(pv::engine_config{}).size() == 1);
  STATIC_REQUIRE(pv::starting_keys(pv::engine_config{}).primary_id() == 0);
  // A lone key is the ring of id 0; config() keeps the keys as configured,
  // the ring in force is the engine's own.
  rotation_clock clock;
  pv::engine_config single;
  single.key = old_key;
  pv::engine engine(single, clock.function(), std::make_shared<pv::seeded_random_source>(4));
  CHECK(engine.primary_key_id() == 0);
  REQUIRE(engine.rotate_keys(ring_of({0, 2}, 2)).error == rotation_error::retiring_primary);  // id 0 here is another key
  pv::key_ring with_lone_key{old_key, 0};
  REQUIRE(with_lone_key.add(2, new_key) == pv::key_ring_error::ok);
  REQUIRE(with_lone_key.make_primary(2) == pv::key_ring_error::ok);
  REQUIRE(engine.rotate_keys(with_lone_key).error == rotation_error::ok);
  CHECK(engine.config().key == old_key);
  CHECK(engine.config().keys.empty());
  CHECK(engine.primary_key_id() == 2);
  const auto sent = send_code(engine, "1234567890123456");
  REQUIRE(sent.ok());
  CHECK(bind_code(engine, sent.code_to_deliver(), "1234567890123456").ok());
}

TEST_CASE("a restart whose ring lost a key reports the live codes it orphaned, and they read as no code",
          "[engine][rotation][snapshot]") {
  rotation_clock clock;
  std::vector<std::byte> snapshot;
  std::string code;
  {
    pv::engine engine(ring_config(ring_of({1}, 1)), clock.function(), std::make_shared<pv::seeded_random_source>(5));
    const auto sent = send_code(engine, "1234567890123456");
    REQUIRE(sent.ok());
    code = std::string(sent.code_to_deliver());
    REQUIRE(engine.write_snapshot([&](std::span<const std::byte> chunk) {
      snapshot.insert(snapshot.end(), chunk.begin(), chunk.end());
      return true;
    }) == pv::snapshot_error::ok);
  }
  clock.advance(5s);
  // The ring keeps key 1: nothing orphaned, the code binds.
  {
    pv::restored_engine kept = pv::engine::restore(ring_config(ring_of({1, 2}, 2)), pv::snapshot_bytes_source{snapshot},
                                                   clock.function(), std::make_shared<pv::seeded_random_source>(6));
    REQUIRE(kept);
    CHECK(kept.stats().live_codes_without_key == 0);
    CHECK(bind_code(*kept, code, "1234567890123456").ok());
  }
  pv::restored_engine lost = pv::engine::restore(ring_config(ring_of({2}, 2)), pv::snapshot_bytes_source{snapshot},
                                                 clock.function(), std::make_shared<pv::seeded_random_source>(7));
  REQUIRE(lost);
  CHECK(lost.stats().live_codes_without_key == 1);
  const auto orphan = bind_code(*lost, code, "1234567890123456");
  CHECK(orphan.verdict().code_status() == pv::check_status::no_code);
}

TEST_CASE("codes sent while the keys rotate over and over all bind (2 threads and a rotator)",
          "[engine][rotation][concurrency]") {
  rotation_clock clock;
  pv::engine_config config = ring_config(ring_of({1, 2}, 1));
  config.policy.code.resend_interval = 0s;
  config.policy.daily.limit = 100'000;
  config.policy.per_phone = {{{10, 1ms}, {10, 1ms}, {10, 1ms}}};  // the clock moves 2 ms per send below
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(8));
  std::atomic<bool> stop{false};
  std::atomic<int> rotations{0};
  const pv::key_ring rings[2] = {ring_of({1, 2}, 2), ring_of({1, 2}, 1)};  // built here: REQUIRE is not thread-safe
  std::thread rotator([&] {
    for (std::size_t i = 0; !stop.load(); i ^= 1) {
      if (engine.rotate_keys(rings[i]).error == rotation_error::ok) rotations.fetch_add(1);
    }
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&, w] {
      const std::string account = "12345678901234" + std::to_string(50 + w);
      // At least 300 sends, and on until the rotator has swapped the ring 20
      // times, so sends and rotations interleave however the threads are scheduled.
      for (int i = 0; i < 300 || (rotations.load() < 20 && i < 20'000); ++i) {
        clock.advance(2ms);
        const auto sent = send_code(engine, account);
        if (!sent.ok() || !bind_code(engine, sent.code_to_deliver(), account).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : workers) t.join();
  stop.store(true);
  rotator.join();
  CHECK(failures.load() == 0);
  CHECK(rotations.load() >= 20);
}

namespace {
// The seeded stream, counting its draws; at draw number `rotate_at` (from 1)
// it first rotates `engine`'s keys to `ring`, once: a rotation that lands
// between a send's copy of the primary key and its write, deterministically
// (the send draws its RequestId's two words, then its code outside every lock).
struct rotating_source final : pv::random_source {
  pv::seeded_random_source inner{31};
  std::atomic<std::uint64_t> draws{0};
  std::uint64_t rotate_at = 0;
  pv::engine* engine = nullptr;
  pv::key_ring ring;
  pv::rotation_report report;
  bool rotated = false;
  std::optional<std::uint64_t> next() noexcept override {
    if (draws.fetch_add(1) + 1 == rotate_at && engine != nullptr && !rotated) {
      rotated = true;
      report = engine->rotate_keys(ring);
    }
    return inner.next();
  }
};
}  // namespace

TEST_CASE("a rotation between a send's draw of its code and its write issues under the new primary, and the code binds",
          "[engine][rotation]") {
  rotation_clock clock;
  auto source = std::make_shared<rotating_source>();
  pv::engine engine(ring_config(ring_of({1}, 1)), clock.function(), source);
  source->engine = &engine;
  const std::string account = "1234567890123456";
  SECTION("a new primary: the code drawn under the old one is dropped and drawn again under the new one") {
    source->ring = ring_of({1, 2}, 2);
    const std::uint64_t before = source->draws.load();
    source->rotate_at = before + 3;  // the code's first word
    const auto sent = send_code(engine, account);
    REQUIRE(source->rotated);
    CHECK(source->report.error == rotation_error::ok);
    REQUIRE(sent.ok());
    CHECK(engine.primary_key_id() == 2);
    CHECK(source->draws.load() >= before + 4);  // the code's words twice over
    // Recorded under key 2: key 1 leaves with no live code of its own.
    const pv::rotation_report retired = engine.rotate_keys(ring_of({2}, 2));
    CHECK(retired.error == rotation_error::ok);
    CHECK(retired.live_codes_of_leaving_keys == 0);
    CHECK(bind_code(engine, sent.code_to_deliver(), account).ok());
  }
  SECTION("another id for the primary's own bytes: drawn again, recorded under the new id") {
    pv::key_ring same_bytes;
    REQUIRE(same_bytes.add(1, old_key) == pv::key_ring_error::ok);
    REQUIRE(same_bytes.add(7, old_key) == pv::key_ring_error::ok);
    REQUIRE(same_bytes.make_primary(7) == pv::key_ring_error::ok);
    source->ring = same_bytes;
    source->rotate_at = source->draws.load() + 3;
    const auto sent = send_code(engine, account);
    REQUIRE(source->rotated);
    CHECK(source->report.error == rotation_error::ok);
    REQUIRE(sent.ok());
    pv::key_ring only_7;
    REQUIRE(only_7.add(7, old_key) == pv::key_ring_error::ok);
    const pv::rotation_report retired = engine.rotate_keys(only_7);
    CHECK(retired.error == rotation_error::ok);
    CHECK(retired.live_codes_of_leaving_keys == 0);
    CHECK(bind_code(engine, sent.code_to_deliver(), account).ok());
  }
  SECTION("the primary unchanged (a key added beside it): the code drawn before the rotation is issued") {
    source->ring = ring_of({1, 2}, 1);
    const std::uint64_t before = source->draws.load();
    source->rotate_at = before + 3;
    const auto sent = send_code(engine, account);
    REQUIRE(source->rotated);
    CHECK(source->report.error == rotation_error::ok);
    REQUIRE(sent.ok());
    CHECK(engine.primary_key_id() == 1);
    CHECK(bind_code(engine, sent.code_to_deliver(), account).ok());
  }
}
