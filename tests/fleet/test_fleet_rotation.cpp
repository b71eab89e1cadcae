// HMAC key rotation on the fleet (fleet_engine.hpp, RULES.md §5 key
// rotation) against a real redis-server, never a mock: a code issued under
// the old key binds after the rotation on another instance; the challenge in
// Redis names its key; the key-use ledger refuses retiring a key whose codes
// may be live on any instance, at rotate_keys and at start-up, until they
// expired; a key that left reads as no code; a damaged ledger fails closed.
#include <catch2/catch.hpp>

#include <phoneverify/engine.hpp>
#include <phoneverify/fleet_engine.hpp>
#include <phoneverify/redis.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "manual_clock.hpp"
#include "fleet/fleet_support.hpp"
#include "fleet/redis_server.hpp"

namespace {

namespace pv = phoneverify;
namespace fleet = phoneverify::fleet;
namespace rd = phoneverify::redis;
using namespace std::chrono_literals;
using pv::rotation_error;
using pv::test::cmd;
using pv::test::fleet_config_of;
using pv::test::granting_facts;
using pv::test::make_fleet;
using pv::test::options_of;
using pv::test::redis_server;
using pv::test::text_of;

pv::secret_key key_of(std::uint8_t seed) {
  pv::secret_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(seed ^ (i * 7));
  return key;
}

// A ring of the ids given (id 1, 2 and 3 each with a key of its own), `primary` primary.
pv::key_ring ring_of(std::initializer_list<pv::key_id> ids, pv::key_id primary) {
  pv::key_ring ring;
  for (pv::key_id id : ids) REQUIRE(ring.add(id, key_of(static_cast<std::uint8_t>(0x30 + id))) == pv::key_ring_error::ok);
  REQUIRE(ring.make_primary(primary) == pv::key_ring_error::ok);
  return ring;
}

fleet::fleet_config ring_config(const pv::key_ring& ring) {
  pv::engine_config engine = pv::test::base_config();
  engine.key = {};
  engine.keys = ring;
  return fleet_config_of(engine);
}

// One caller clock for every instance of a test.
using shared_clock = pv::test::manual_clock;

const pv::facts granted = granting_facts("2000000000000001");

pv::engine_response send_code(fleet::fleet_engine& e, std::string_view member, std::string_view phone) {
  return e.send_verification_code_for_bind_secure_mobile_phone({phone, member}, granted);
}
pv::engine_response bind_code(fleet::fleet_engine& e, std::string_view code, std::string_view member,
                              std::string_view phone) {
  return e.bind_secure_mobile_phone({code, phone, member}, granted);
}

// Byte 3 of the challenge of action 1 for `member`, as Redis holds it (-1 when there is none).
int stored_key_id(rd::connection& c, const fleet::fleet_engine& e, std::string_view member) {
  const auto key = fleet::make_key(e.keys(), fleet::key_kind::challenge, member,
                                   pv::action::send_verification_code_for_bind_secure_mobile_phone);
  REQUIRE(key);
  const std::string value = text_of(c, {"GET", key->view()});
  if (value.size() != 64) return -1;
  return static_cast<unsigned char>(value[3]);
}

}  // namespace

TEST_CASE("fleet: a code issued under the old key binds after the rotation on another instance, the next uses the new key",
          "[fleet][rotation]") {
  redis_server server;
  REQUIRE(server.ok());
  shared_clock clock;
  auto a = make_fleet(ring_config(ring_of({1}, 1)), server, std::make_shared<pv::system_random_source>(), clock.function());
  auto b = make_fleet(ring_config(ring_of({1}, 1)), server, std::make_shared<pv::system_random_source>(), clock.function());
  rd::connection c(options_of(server));
  const auto before = send_code(*a, "1384512345678901", "44-7911123456");
  REQUIRE(before.ok());
  CHECK(stored_key_id(c, *a, "1384512345678901") == 1);
  // Every instance makes key 2 primary, keeping key 1 for the code in flight.
  for (auto* e : {a.get(), b.get()}) REQUIRE(e->rotate_keys(ring_of({1, 2}, 2)).error == rotation_error::ok);
  CHECK(b->primary_key_id() == 2);
  clock.advance(5s);
  CHECK(bind_code(*b, before.code_to_deliver(), "1384512345678901", "44-7911123456").ok());
  clock.advance(60s);
  const auto after = send_code(*b, "1384512345678901", "44-7911123456");
  REQUIRE(after.ok());
  CHECK(stored_key_id(c, *b, "1384512345678901") == 2);
  CHECK(bind_code(*a, after.code_to_deliver(), "1384512345678901", "44-7911123456").ok());
  // The ledger holds both keys: each was leased before a code was issued under it.
  CHECK(text_of(c, {"SCARD", "{pv:t}:k:ids"}) == "2");
  CHECK(text_of(c, {"EXISTS", "{pv:t}:k:1"}) == "1");
  CHECK(text_of(c, {"EXISTS", "{pv:t}:k:2"}) == "1");
}

TEST_CASE("fleet: retiring a key the ledger says is in use is refused on any instance, and at start-up, until its codes expired",
          "[fleet][rotation]") {
  redis_server server;
  REQUIRE(server.ok());
  shared_clock clock;
  auto a = make_fleet(ring_config(ring_of({1}, 1)), server, std::make_shared<pv::system_random_source>(), clock.function());
  auto b = make_fleet(ring_config(ring_of({1, 2}, 1)), server, std::make_shared<pv::system_random_source>(), clock.function());
  REQUIRE(send_code(*a, "1384512345678902", "44-7911123457").ok());  // a code of key 1, issued by instance a
  for (auto* e : {a.get(), b.get()}) REQUIRE(e->rotate_keys(ring_of({1, 2}, 2)).error == rotation_error::ok);
  // b never issued under key 1, yet the ledger knows a's code.
  const pv::rotation_report refused = b->rotate_keys(ring_of({2}, 2));
  CHECK(refused.error == rotation_error::key_has_live_codes);
  CHECK(refused.leaving_keys_in_use == 1);
  CHECK(b->holds_key(1));
  // A new instance without key 1 refuses to start while the ledger is live,
  // unless told to drop those codes.
  {
    auto built = fleet::fleet_engine::create(ring_config(ring_of({2}, 2)),
                                             std::make_shared<rd::pool>(options_of(server), 2),
                                             std::make_shared<pv::system_random_source>(), clock.function());
    REQUIRE(!built);
    CHECK(built.error().error == fleet::start_error::key_in_use_missing);
    CHECK(std::string(fleet::describe(built.error()).view()).find("HMAC key 1 has codes live until") == 0);
    fleet::fleet_config dropping = ring_config(ring_of({2}, 2));
    dropping.drop_codes_of_missing_keys = true;
    CHECK(fleet::fleet_engine::create(dropping, std::make_shared<rd::pool>(options_of(server), 2),
                                      std::make_shared<pv::system_random_source>(), clock.function())
              .has_value());
  }
  // The ledger lives validity + 2 leases (5 min + 2 min) past a's lease: retired after.
  clock.advance(7min + 1s);
  const pv::rotation_report retired = b->rotate_keys(ring_of({2}, 2));
  CHECK(retired.error == rotation_error::ok);
  CHECK(retired.leaving_keys_in_use == 0);
  CHECK(!b->holds_key(1));
  CHECK(fleet::fleet_engine::create(ring_config(ring_of({2}, 2)), std::make_shared<rd::pool>(options_of(server), 2),
                                    std::make_shared<pv::system_random_source>(), clock.function())
            .has_value());
  // What every rotation refuses before the ledger is read.
  CHECK(b->rotate_keys(pv::key_ring{}).error == rotation_error::ring_invalid);
  CHECK(b->rotate_keys(ring_of({3}, 3), pv::live_codes::drop).error == rotation_error::retiring_primary);
}

TEST_CASE("fleet: a code whose key left the ring reads as no code and is charged nothing", "[fleet][rotation]") {
  redis_server server;
  REQUIRE(server.ok());
  shared_clock clock;
  auto e = make_fleet(ring_config(ring_of({1}, 1)), server, std::make_shared<pv::system_random_source>(), clock.function());
  rd::connection c(options_of(server));
  const auto sent = send_code(*e, "1384512345678903", "44-7911123458");
  REQUIRE(sent.ok());
  REQUIRE(e->rotate_keys(ring_of({1, 2}, 2)).error == rotation_error::ok);
  const pv::rotation_report dropped = e->rotate_keys(ring_of({2}, 2), pv::live_codes::drop);
  CHECK(dropped.error == rotation_error::ok);
  CHECK(dropped.leaving_keys_in_use == 1);
  const auto key = fleet::make_key(e->keys(), fleet::key_kind::challenge, "1384512345678903",
                                   pv::action::send_verification_code_for_bind_secure_mobile_phone);
  const std::string stored = text_of(c, {"GET", key->view()});
  for (int i = 0; i < 3; ++i) {
    const auto orphan = bind_code(*e, sent.code_to_deliver(), "1384512345678903", "44-7911123458");
    CHECK(orphan.error() == pv::errc::invalid_verification_code);
    CHECK(orphan.verdict().code_status() == pv::check_status::no_code);
  }
  CHECK(text_of(c, {"GET", key->view()}) == stored);  // no attempt charged, nothing written
}

TEST_CASE("fleet: a damaged key-use ledger fails the send and the rotation closed, and is left as it was",
          "[fleet][rotation]") {
  redis_server server;
  REQUIRE(server.ok());
  shared_clock clock;
  rd::connection c(options_of(server));
  REQUIRE(cmd(c, {"SET", "{pv:t}:k:1", "not a time"}).ok());
  auto e = make_fleet(ring_config(ring_of({1}, 1)), server, std::make_shared<pv::system_random_source>(), clock.function());
  const auto sent = send_code(*e, "1384512345678904", "44-7911123459");
  CHECK(!sent.ok());
  CHECK(sent.reason() == pv::verdict_reason::state_damaged);
  CHECK(sent.code_to_deliver().empty());
  CHECK(fleet::fleet_engine::last_failure().what == fleet::fault::state_invalid);
  CHECK(text_of(c, {"GET", "{pv:t}:k:1"}) == "not a time");
  CHECK(stored_key_id(c, *e, "1384512345678904") == -1);  // no challenge written
  // The index of another type: start-up cannot read it.
  REQUIRE(cmd(c, {"DEL", "{pv:t}:k:1"}).ok());
  REQUIRE(cmd(c, {"RPUSH", "{pv:t}:k:ids", "1"}).ok());
  auto built = fleet::fleet_engine::create(ring_config(ring_of({1}, 1)), std::make_shared<rd::pool>(options_of(server), 2),
                                           std::make_shared<pv::system_random_source>(), clock.function());
  REQUIRE(!built);
  CHECK(built.error().error == fleet::start_error::server_unavailable);
  // A rotation whose ledger read fails changes nothing.
  REQUIRE(cmd(c, {"DEL", "{pv:t}:k:ids"}).ok());
  REQUIRE(e->rotate_keys(ring_of({1, 2}, 2)).error == rotation_error::ok);
  REQUIRE(cmd(c, {"RPUSH", "{pv:t}:k:1", "x"}).ok());
  const pv::rotation_report blind = e->rotate_keys(ring_of({2}, 2));
  CHECK(blind.error == rotation_error::state_unavailable);
  CHECK(e->holds_key(1));
}
