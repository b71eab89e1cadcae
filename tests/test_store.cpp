// store.hpp and detail/siphash.hpp: the engine's sharded, thread-safe state
// table (RULES.md §4: a key that is forgotten never comes back with a
// fresh budget it had spent).
#include <catch2/catch.hpp>
#include <phoneverify/store.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "support.hpp"

#ifdef PHONEVERIFY_HAVE_OPENSSL
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#endif

namespace pv = phoneverify;
namespace d = phoneverify::detail;
using namespace std::chrono_literals;

namespace {

constexpr pv::store_hash_key sequential_hash_key() {
  pv::store_hash_key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(i);
  return k;
}

// SipHash paper (Aumasson, Bernstein 2012), Appendix A: key 00..0f, message
// 00..0e (15 bytes) gives a129ca6149be45e5; and the reference implementation's
// first vector, the empty message under the same key, 726fdb47dd0e0e31.
constexpr std::uint64_t siphash_of_sequential_bytes(std::size_t length) {
  std::array<char, 64> msg{};
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>(i);
  return d::siphash24(d::siphash_key_from_bytes(sequential_hash_key()), std::string_view(msg.data(), length));
}

constexpr pv::timestamp at(std::int64_t ms) { return pv::timestamp{std::chrono::milliseconds{ms}}; }

// A state that dies at a known instant, like an expired window or challenge.
struct expiring {
  std::int64_t counter;
  pv::timestamp expires_at;
};
struct expired_at_now {
  bool operator()(const expiring& v, pv::timestamp now) const noexcept { return now >= v.expires_at; }
};
using expiring_store = pv::sharded_store<expiring, expired_at_now>;

std::string key_of(std::uint64_t n) { return "acct-" + std::to_string(n); }

}  // namespace

TEST_CASE("siphash24 matches the SipHash paper's Appendix A vector", "[store]") {
  STATIC_REQUIRE(siphash_of_sequential_bytes(15) == 0xa129ca6149be45e5ULL);
  STATIC_REQUIRE(siphash_of_sequential_bytes(0) == 0x726fdb47dd0e0e31ULL);
  CHECK(siphash_of_sequential_bytes(pv::test::opaque(std::size_t{15})) == 0xa129ca6149be45e5ULL);
  CHECK(siphash_of_sequential_bytes(pv::test::opaque(std::size_t{0})) == 0x726fdb47dd0e0e31ULL);
  CHECK(siphash_of_sequential_bytes(pv::test::opaque(std::size_t{14})) != 0xa129ca6149be45e5ULL);
}

#ifdef PHONEVERIFY_HAVE_OPENSSL
TEST_CASE("siphash24 equals OpenSSL's SipHash-2-4 for random keys and messages of every length", "[store]") {
  pv::test::splitmix64 rng{pv::test::test_seed("siphash vs OpenSSL", 0x5195)};
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  REQUIRE(mac != nullptr);
  for (std::size_t length = 0; length < 130; ++length) {
    pv::store_hash_key key{};
    for (auto& b : key) b = static_cast<std::byte>(rng() & 0xFF);
    std::string msg(length, '\0');
    for (auto& c : msg) c = static_cast<char>(rng() & 0xFF);
    const std::uint64_t ours = d::siphash24(d::siphash_key_from_bytes(key), msg);

    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
    REQUIRE(ctx != nullptr);
    std::size_t out_size = 8;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &out_size), OSSL_PARAM_construct_end()};
    REQUIRE(EVP_MAC_CTX_set_params(ctx, params) == 1);
    REQUIRE(EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), nullptr) == 1);
    REQUIRE(EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1);
    unsigned char out[8] = {};
    std::size_t written = 0;
    REQUIRE(EVP_MAC_final(ctx, out, &written, sizeof out) == 1);
    EVP_MAC_CTX_free(ctx);
    REQUIRE(written == 8);
    std::uint64_t theirs = 0;
    for (std::size_t i = 0; i < 8; ++i) theirs |= static_cast<std::uint64_t>(out[i]) << (8 * i);
    CHECK(ours == theirs);
  }
  EVP_MAC_free(mac);
}
#endif

TEST_CASE("the store's word-at-a-time SipHash-2-4 is siphash24 for random keys and messages of every length", "[store]") {
  pv::test::splitmix64 rng{pv::test::test_seed("store siphash vs siphash24", 0x5196)};
  for (std::size_t length = 0; length < 130; ++length) {
    for (int round = 0; round < 8; ++round) {
      pv::store_hash_key key{};
      for (auto& b : key) b = static_cast<std::byte>(rng() & 0xFF);
      std::string msg(length + 8, '\0');
      for (auto& c : msg) c = static_cast<char>(rng() & 0xFF);
      // At an unaligned offset too: the words are loaded with memcpy.
      const std::string_view m = std::string_view(msg).substr(static_cast<std::size_t>(round), length);
      const d::siphash_key k = d::siphash_key_from_bytes(key);
      CHECK(d::store_siphash24(k, m) == d::siphash24(k, m));
    }
  }
  const d::siphash_key k = d::siphash_key_from_bytes(pv::store_hash_key{});
  CHECK(d::store_siphash24(k, {}) == d::siphash24(k, {}));
}

TEST_CASE("sharded_store picks one lock stripe per 256 entries, 1 to 1024, when not told", "[store]") {
  STATIC_REQUIRE(pv::store_shards_for(0) == 1);
  STATIC_REQUIRE(pv::store_shards_for(511) == 1);
  STATIC_REQUIRE(pv::store_shards_for(1000) == 2);
  STATIC_REQUIRE(pv::store_shards_for(1u << 16) == 256);
  STATIC_REQUIRE(pv::store_shards_for(1u << 18) == 1024);
  STATIC_REQUIRE(pv::store_shards_for(~std::size_t{0} / 8) == 1024);
  const pv::sharded_store<std::uint32_t> automatic(1u << 16, sequential_hash_key());
  CHECK(automatic.shard_count() == 256);
  const pv::sharded_store<std::uint32_t> told(1u << 16, sequential_hash_key(), 7);
  CHECK(told.shard_count() == 7);
  // The automatic stripes still hold the whole capacity, each its share.
  pv::sharded_store<std::uint32_t> filled(2048, sequential_hash_key(), pv::default_store_shards);
  CHECK(filled.shard_count() == 8);
  std::size_t admitted = 0;
  for (int i = 0; i < 20'000 && admitted < filled.capacity(); ++i) {
    std::string key = "k";
    key += std::to_string(i);  // (not "k" + ...: g++ 12's -Wrestrict false positive)
    admitted += filled.update(key, at(0), [](std::uint32_t& v) { v = 1; }).status == pv::store_status::ok;
  }
  CHECK(admitted == 2048);
  CHECK(filled.size() == 2048);
}

TEST_CASE("sharded_store update creates a value-initialised entry and runs the function on it", "[store]") {
  pv::sharded_store<std::uint32_t> store(100, sequential_hash_key(), 4);
  CHECK(store.size() == 0);
  CHECK(store.capacity() == 100);
  CHECK(store.shard_count() == 4);
  CHECK_FALSE(store.contains("alice"));
  CHECK(store.visit("alice", [](std::uint32_t v) { return v; }).status == pv::store_status::not_found);

  auto first = store.update("alice", at(0), [](std::uint32_t& v) { return v++; });
  CHECK(first.ok());
  CHECK(first.value == 0);  // value-initialised
  auto second = store.update("alice", at(0), [](std::uint32_t& v) { return v++; });
  CHECK(second.value == 1);  // the same entry, not a new one
  CHECK(store.size() == 1);
  CHECK(store.visit("alice", [](std::uint32_t v) { return v; }).value == 2);
  CHECK(store.update("bob", at(0), [](std::uint32_t& v) { v = 7; }).ok());  // void functions too
  CHECK(store.size() == 2);

  CHECK(store.erase("alice") == pv::store_status::ok);
  CHECK(store.erase("alice") == pv::store_status::not_found);
  CHECK_FALSE(store.contains("alice"));
  CHECK(store.update("alice", at(0), [](std::uint32_t& v) { return v; }).value == 0);  // erased means fresh
  CHECK(store.visit("bob", [](std::uint32_t v) { return v; }).value == 7);
}

TEST_CASE("sharded_store update through a hashed key is the same entry as through the key, prefetch changes nothing",
          "[store]") {
  pv::sharded_store<std::uint32_t, pv::never_dead, 16> store(100, sequential_hash_key(), 4);
  const auto alice = store.hashed("alice");
  CHECK(alice.key() == "alice");
  store.prefetch(alice);
  CHECK(store.size() == 0);  // a prefetch creates nothing
  CHECK(store.update(alice, at(0), [](std::uint32_t& v) { return v++; }).value == 0);
  CHECK(store.update("alice", at(0), [](std::uint32_t& v) { return v++; }).value == 1);
  CHECK(store.update(alice, at(0), [](std::uint32_t& v) { return v++; }).value == 2);
  CHECK(store.size() == 1);
  // Many keys through both paths: each lands on the entry its plain key names.
  for (std::uint64_t n = 0; n < 60; ++n) {
    const std::string key = key_of(n);
    const auto h = store.hashed(key);
    store.prefetch(h);
    REQUIRE(store.update(h, at(0), [n](std::uint32_t& v) { v = static_cast<std::uint32_t>(n + 1); }).ok());
  }
  for (std::uint64_t n = 0; n < 60; ++n)
    CHECK(store.visit(key_of(n), [](std::uint32_t v) { return v; }).value == n + 1);
  // A key too long hashes to nothing: refused, and a prefetch of it is harmless.
  const std::string too_long(17, 'x');
  const auto refused = store.hashed(too_long);
  store.prefetch(refused);
  CHECK(store.update(refused, at(0), [](std::uint32_t& v) { return ++v; }).status == pv::store_status::key_too_long);
  CHECK(store.size() == 61);
}

TEST_CASE("sharded_store with one block of 2 MiB or more for its slots holds and finds every key of every shard",
          "[store]") {
  // Capacity 40000 with 64-byte keys over 64 shards: 64 tables of 1024 slots
  // (about 5.6 MiB) in one huge-page-aligned block, each shard at its offset.
  pv::sharded_store<std::uint64_t, pv::never_dead, 64> store(40000, sequential_hash_key(), 64);
  constexpr std::uint64_t keys = 20000;  // half the capacity: no shard fills
  for (std::uint64_t n = 0; n < keys; ++n) REQUIRE(store.update(key_of(n), at(0), [n](std::uint64_t& v) { v = n; }).ok());
  CHECK(store.size() == keys);
  std::uint64_t found = 0;
  for (std::uint64_t n = 0; n < keys; ++n) found += store.visit(key_of(n), [](std::uint64_t v) { return v; }).value == n;
  CHECK(found == keys);
  std::uint64_t visited = 0;
  store.for_each([&](std::string_view key, std::uint64_t v) { visited += key == key_of(v); });
  CHECK(visited == keys);
  for (std::uint64_t n = 0; n < keys; n += 2) REQUIRE(store.erase(key_of(n)) == pv::store_status::ok);
  CHECK(store.size() == keys / 2);
}

TEST_CASE("sharded_store refuses keys longer than MaxKeySize and accepts every length up to it", "[store]") {
  pv::sharded_store<std::uint32_t, pv::never_dead, 16> store(100, sequential_hash_key(), 1);
  const std::string longest(16, 'x'), too_long(17, 'x');
  CHECK(store.update(longest, at(0), [](std::uint32_t& v) { return ++v; }).value == 1);
  CHECK(store.update("", at(0), [](std::uint32_t& v) { return ++v; }).value == 1);  // empty key: a key like any
  const auto refused = store.update(too_long, at(0), [](std::uint32_t& v) { return ++v; });
  CHECK(refused.status == pv::store_status::key_too_long);
  CHECK(store.visit(too_long, [](std::uint32_t) {}).status == pv::store_status::key_too_long);
  CHECK(store.erase(too_long) == pv::store_status::key_too_long);
  CHECK(store.size() == 2);
}

TEST_CASE("sharded_store keys compare exactly: lengths, prefixes and NUL bytes never share an entry", "[store]") {
  using namespace std::string_view_literals;
  // Capacity 40 in one shard of 64 slots: home slots collide constantly, so
  // the probe and the exact compare decide every lookup.
  const std::vector<std::string_view> keys = {
      ""sv,      "a"sv,     "a\0"sv,    "\0a"sv,    "\0"sv,     "\0\0"sv,   "ab"sv,     "ba"sv,     "b"sv,
      "aa"sv,    "A"sv,     "86-1"sv,   "86-13"sv,  "8613"sv,   "86-13900001234"sv,       "86-13900001235"sv,
      "1-2"sv,   "12"sv,    "\xff"sv,   "\xff\xff"sv,           "acct-1"sv, "acct-10"sv, "acct-100"sv,
      "0123456789012345678901234567890123456789012345678901234567890123"sv,
      "0123456789012345678901234567890123456789012345678901234567890124"sv,
      "012345678901234567890123456789012345678901234567890123456789012"sv};
  pv::sharded_store<std::uint64_t> store(40, sequential_hash_key(), 1);
  for (std::size_t i = 0; i < keys.size(); ++i)
    REQUIRE(store.update(keys[i], at(0), [&](std::uint64_t& v) { v = i + 1; }).ok());
  CHECK(store.size() == keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i)
    CHECK(store.visit(keys[i], [](std::uint64_t v) { return v; }).value == i + 1);
  // Erase half; the others are still found with their own values (the
  // backward shift after erase keeps every probe whole).
  for (std::size_t i = 0; i < keys.size(); i += 2) REQUIRE(store.erase(keys[i]) == pv::store_status::ok);
  for (std::size_t i = 0; i < keys.size(); ++i)
    CHECK(store.visit(keys[i], [](std::uint64_t v) { return v; }).value == (i % 2 == 0 ? 0 : i + 1));
}

TEST_CASE("sharded_store holds exactly its capacity and refuses the next key with full", "[store]") {
  SECTION("one shard") {
    pv::sharded_store<std::uint32_t> store(10, sequential_hash_key(), 1);
    for (std::uint64_t n = 0; n < 10; ++n) REQUIRE(store.update(key_of(n), at(0), [](std::uint32_t& v) { ++v; }).ok());
    const auto refused = store.update("one-more", at(0), [](std::uint32_t& v) { return ++v; });
    CHECK(refused.status == pv::store_status::full);
    CHECK(refused.value == 0);
    CHECK_FALSE(store.contains("one-more"));
    CHECK(store.size() == 10);
    // Existing keys are still served when the store is full.
    CHECK(store.update(key_of(3), at(0), [](std::uint32_t& v) { return ++v; }).value == 2);
  }
  SECTION("many shards: every shard fills to its share and the total is the capacity") {
    const std::size_t capacity = 1000;
    pv::sharded_store<std::uint32_t> store(capacity, sequential_hash_key(), 8);
    std::size_t accepted = 0;
    for (std::uint64_t n = 0; n < 20 * capacity; ++n) {
      const auto r = store.update(key_of(n), at(0), [](std::uint32_t& v) { ++v; });
      REQUIRE((r.status == pv::store_status::ok || r.status == pv::store_status::full));
      accepted += r.ok() ? 1u : 0u;
      REQUIRE(store.size() <= capacity);
    }
    CHECK(accepted == capacity);
    CHECK(store.size() == capacity);
  }
  SECTION("capacity zero refuses every key, capacity below the shard count still holds it") {
    pv::sharded_store<std::uint32_t> empty(0, sequential_hash_key());
    CHECK(empty.update("a", at(0), [](std::uint32_t&) {}).status == pv::store_status::full);
    pv::sharded_store<std::uint32_t> small(3, sequential_hash_key(), 64);
    CHECK(small.shard_count() == 3);
    std::size_t accepted = 0;
    for (std::uint64_t n = 0; n < 200; ++n) accepted += small.update(key_of(n), at(0), [](std::uint32_t&) {}).ok() ? 1u : 0u;
    CHECK(accepted == 3);
  }
}

TEST_CASE("sharded_store evicts only dead entries to admit a new key, never a live one", "[store]") {
  expiring_store store(8, sequential_hash_key(), 1);
  // 8 entries: keys 0..3 expire at t=100, keys 4..7 at t=1000.
  for (std::uint64_t n = 0; n < 8; ++n)
    REQUIRE(store.update(key_of(n), at(0), [&](expiring& v) {
                   v.counter = static_cast<std::int64_t>(n) + 1;
                   v.expires_at = at(n < 4 ? 100 : 1000);
                 }).ok());
  // At t=99 every entry is live: the new key is refused, nothing is dropped.
  CHECK(store.update("new", at(99), [](expiring& v) { v.expires_at = at(5000); }).status == pv::store_status::full);
  CHECK(store.size() == 8);
  // At t=100 the four dead ones make room; the live ones keep their state.
  CHECK(store.update("new", at(100), [](expiring& v) { v.expires_at = at(5000); }).ok());
  CHECK(store.size() == 5);
  for (std::uint64_t n = 0; n < 8; ++n) {
    const auto seen = store.visit(key_of(n), [](const expiring& v) { return v.counter; });
    if (n < 4) {
      CHECK(seen.status == pv::store_status::not_found);
    } else {
      CHECK(seen.value == static_cast<std::int64_t>(n) + 1);
    }
  }
  CHECK(store.evict_dead(at(999)) == 0);
  CHECK(store.evict_dead(at(1000)) == 4);
  CHECK(store.size() == 1);
  CHECK(store.contains("new"));
}

TEST_CASE("sharded_store admits a refused key once entries have died", "[store]") {
  expiring_store store(4, sequential_hash_key(), 1);
  for (std::uint64_t n = 0; n < 4; ++n)
    REQUIRE(store.update(key_of(n), at(0), [](expiring& v) { v.expires_at = at(60'000); }).ok());
  CHECK(store.update("late", at(59'999), [](expiring& v) { v.counter = 1; }).status == pv::store_status::full);
  CHECK(store.update("late", at(59'999), [](expiring& v) { v.counter = 1; }).status == pv::store_status::full);
  // Time going backwards never makes a live entry dead.
  CHECK(store.update("late", at(10), [](expiring& v) { v.counter = 1; }).status == pv::store_status::full);
  CHECK(store.size() == 4);
  const auto retry = store.update("late", at(60'000), [](expiring& v) {
    ++v.counter;
    v.expires_at = at(120'000);
    return v.counter;
  });
  CHECK(retry.ok());
  CHECK(retry.value == 1);  // a new entry: the refused attempts left no trace
}

TEST_CASE("sharded_store notices an entry that the caller's function made dead", "[store]") {
  // After a refusal at t, an update that makes an entry dead (a service
  // resetting a challenge) lets a new key in at the same t.
  expiring_store store(2, sequential_hash_key(), 1);
  REQUIRE(store.update("a", at(0), [](expiring& v) { v.expires_at = at(1000); }).ok());
  REQUIRE(store.update("b", at(0), [](expiring& v) { v.expires_at = at(1000); }).ok());
  CHECK(store.update("c", at(500), [](expiring&) {}).status == pv::store_status::full);
  REQUIRE(store.update("a", at(500), [](expiring& v) { v.expires_at = at(400); }).ok());
  CHECK(store.update("c", at(500), [](expiring& v) { v.expires_at = at(1000); }).ok());
  CHECK_FALSE(store.contains("a"));
  CHECK(store.contains("b"));
}

TEST_CASE("sharded_store agrees with a model map: live entries always kept with their exact state", "[store]") {
  // One shard, so "full" is exactly "capacity live entries": a store that
  // refuses with room, or admits by dropping a live entry, fails here.
  pv::test::splitmix64 rng{pv::test::test_seed("store vs model", 0x57013)};
  constexpr std::size_t capacity = 48;
  expiring_store store(capacity, sequential_hash_key(), 1);
  std::map<std::string, expiring> model;
  std::int64_t now = 0;
  std::size_t refused = 0, forgotten = 0;
  for (int step = 0; step < 20000; ++step) {
    now += static_cast<std::int64_t>(rng() % 3);  // mostly forward
    if (rng() % 16 == 0) now -= static_cast<std::int64_t>(rng() % 50);  // sometimes backwards
    const std::string key = key_of(rng() % 120);
    const std::int64_t life = static_cast<std::int64_t>(rng() % 400);
    if (rng() % 10 == 0) {
      const auto status = store.erase(key);
      CHECK(status == (model.erase(key) == 1 ? pv::store_status::ok : pv::store_status::not_found));
      continue;
    }
    const auto r = store.update(key, at(now), [&](expiring& v) {
      ++v.counter;
      v.expires_at = at(now + life);
      return v.counter;
    });
    const auto found = model.find(key);
    if (found != model.end()) {
      // Present in the model: either still held (state continues) or it was
      // dead and dropped by a sweep (then it restarts from zero).
      REQUIRE(r.ok());
      if (r.value == found->second.counter + 1) {
        found->second.counter = r.value;
      } else {
        REQUIRE(r.value == 1);
        REQUIRE(found->second.expires_at <= at(now));  // only a dead entry may have been forgotten
        found->second.counter = 1;
      }
      found->second.expires_at = at(now + life);
    } else if (r.ok()) {
      REQUIRE(r.value == 1);
      model[key] = expiring{1, at(now + life)};
    } else {
      REQUIRE(r.status == pv::store_status::full);
      std::size_t live = 0;
      for (const auto& [k, v] : model) live += v.expires_at > at(now) ? 1u : 0u;
      REQUIRE(live == capacity);  // refused only when full of live state
      ++refused;
    }
    // Model entries the store dropped must have been dead; drop them too.
    for (auto it = model.begin(); it != model.end();) {
      if (!store.contains(it->first)) {
        REQUIRE(it->second.expires_at <= at(now));
        it = model.erase(it);
        ++forgotten;
      } else {
        ++it;
      }
    }
    REQUIRE(store.size() == model.size());
    REQUIRE(store.size() <= capacity);
  }
  // The workload reaches both regimes: refusals and evictions.
  CHECK(refused > 100);
  CHECK(forgotten > 100);
}

TEST_CASE("sharded_store keeps keys longer than its inline size in records that erase and eviction hand back",
          "[store]") {
  // Keys of 1..64 bytes, half of them past inline_key_size (held in a record
  // of their own), in one shard of capacity 32 churned 30000 times by
  // inserts, erases and expiry: every entry keeps its own key bytes and value
  // (for_each against a model), and the records never run out nor overlap
  // (a leaked record would overrun the shard's 32 after a few cycles; ASan's
  // build reads past no block).
  using store_t = pv::sharded_store<expiring, expired_at_now, 64>;
  static_assert(store_t::inline_key_size == 24);
  pv::test::splitmix64 rng{pv::test::test_seed("store long keys", 0x10A6)};
  constexpr std::size_t capacity = 32;
  store_t store(capacity, sequential_hash_key(), 1);
  const auto key_for = [](std::uint64_t n) {
    const std::size_t size = 1 + static_cast<std::size_t>((n * 37) % 64);
    std::string k(size, static_cast<char>('a' + n % 26));
    const std::string id = std::to_string(n);
    k.replace(size > id.size() ? size - id.size() : 0, std::string::npos, id.substr(0, size));
    return k;
  };
  std::map<std::string, std::int64_t> model;  // the live entries: key -> counter
  std::int64_t now = 0;
  std::size_t long_inserts = 0;
  for (int step = 0; step < 30000; ++step) {
    ++now;
    const std::string key = key_for(rng() % 80);
    if (rng() % 4 == 0) {
      CHECK(store.erase(key) == (model.erase(key) == 1 ? pv::store_status::ok : pv::store_status::not_found));
      continue;
    }
    // Every entry lives 40 ms after its last update, so most die and free their records.
    const auto r = store.update(key, at(now), [&](expiring& v) {
      if (v.expires_at <= at(now)) v.counter = 0;  // dead but not yet swept: starts afresh
      v.expires_at = at(now + 40);
      return ++v.counter;
    });
    for (auto it = model.begin(); it != model.end();)  // what the store may have dropped
      it = store.contains(it->first) ? std::next(it) : model.erase(it);
    if (!r.ok()) {
      REQUIRE(r.status == pv::store_status::full);
      continue;
    }
    if (!model.count(key) && key.size() > store_t::inline_key_size) ++long_inserts;
    model[key] = r.value;
  }
  std::map<std::string, std::int64_t> held;
  store.for_each([&](std::string_view k, const expiring& v) { held[std::string(k)] = v.counter; });
  CHECK(held == model);
  CHECK(long_inserts > 10 * capacity);  // records were handed back and out again many times
}

TEST_CASE("sharded_store for_each visits every entry with its key and state", "[store]") {
  pv::sharded_store<std::uint32_t> store(100, sequential_hash_key(), 7);
  for (std::uint32_t n = 0; n < 50; ++n)
    REQUIRE(store.update(key_of(n), at(0), [&](std::uint32_t& v) { v = n; }).ok());
  std::map<std::string, std::uint32_t> seen;
  store.for_each([&](std::string_view key, const std::uint32_t& v) { seen[std::string(key)] = v; });
  REQUIRE(seen.size() == 50);
  for (std::uint32_t n = 0; n < 50; ++n) CHECK(seen[key_of(n)] == n);
}

TEST_CASE("sharded_store with different hash keys places keys differently but answers the same", "[store]") {
  pv::store_hash_key other = sequential_hash_key();
  other[0] = std::byte{0xAA};
  pv::sharded_store<std::uint32_t> a(64, sequential_hash_key(), 1), b(64, other, 1);
  std::vector<std::string> order_a, order_b;
  for (std::uint32_t n = 0; n < 40; ++n) {
    REQUIRE(a.update(key_of(n), at(0), [&](std::uint32_t& v) { v = n; }).ok());
    REQUIRE(b.update(key_of(n), at(0), [&](std::uint32_t& v) { v = n; }).ok());
  }
  a.for_each([&](std::string_view k, std::uint32_t) { order_a.emplace_back(k); });
  b.for_each([&](std::string_view k, std::uint32_t) { order_b.emplace_back(k); });
  CHECK(order_a != order_b);  // the secret key decides placement
  std::sort(order_a.begin(), order_a.end());
  std::sort(order_b.begin(), order_b.end());
  CHECK(order_a == order_b);
}

TEST_CASE("sharded_store counts every update exactly under 4 threads", "[store][concurrency]") {
  constexpr int threads = 4;
  constexpr int updates_per_thread = 40000;
  constexpr std::uint64_t keys = 500;
  pv::sharded_store<std::uint64_t> store(4 * keys, sequential_hash_key(), 16);  // headroom: every key fits
  std::vector<std::vector<std::uint64_t>> done(threads, std::vector<std::uint64_t>(keys));
  const std::uint64_t seed = pv::test::test_seed("store concurrency", 0xC0C0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      pv::test::splitmix64 rng{seed + static_cast<std::uint64_t>(t)};
      for (int i = 0; i < updates_per_thread; ++i) {
        // Half the updates hit 4 hot keys, so threads really meet on a lock.
        const std::uint64_t r64 = rng();
        const std::uint64_t k = (r64 & 1) ? (r64 >> 1) % 4 : (r64 >> 1) % keys;
        const auto r = store.update(key_of(k), at(i), [](std::uint64_t& v) { return ++v; });
        if (r.ok()) ++done[static_cast<std::size_t>(t)][k];
      }
    });
  for (auto& th : pool) th.join();
  std::uint64_t total = 0;
  for (std::uint64_t k = 0; k < keys; ++k) {
    std::uint64_t expected = 0;
    for (const auto& per_thread : done) expected += per_thread[k];
    total += expected;
    const auto held = store.visit(key_of(k), [](std::uint64_t v) { return v; });
    CHECK(held.value == expected);
  }
  CHECK(total == std::uint64_t{threads} * updates_per_thread);  // no update was refused or lost
  CHECK(store.size() == keys);
}

TEST_CASE("sharded_store never exceeds its capacity nor drops live state under 4 threads", "[store][concurrency]") {
  // 4 threads race to insert 8000 distinct keys into 600 places while
  // evicting the entries that die; every admitted key's state is checked.
  constexpr int threads = 4;
  constexpr std::uint64_t per_thread = 2000;
  constexpr std::size_t capacity = 600;
  expiring_store store(capacity, sequential_hash_key(), 8);
  std::vector<std::vector<std::uint64_t>> admitted(threads);
  std::vector<std::size_t> anomalies(threads);  // Catch2 assertions are not thread-safe: count, check after join
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        const std::uint64_t id = static_cast<std::uint64_t>(t) * per_thread + i;
        const auto now = at(static_cast<std::int64_t>(i));
        // Odd ids stay live forever; even ids die 10 ms after their insertion.
        const auto r = store.update(key_of(id), now, [&](expiring& v) {
          ++v.counter;
          v.expires_at = id % 2 == 1 ? at(1'000'000) : at(static_cast<std::int64_t>(i) + 10);
          return v.counter;
        });
        const auto me = static_cast<std::size_t>(t);
        if (r.status != pv::store_status::ok && r.status != pv::store_status::full) ++anomalies[me];
        if (r.ok()) {
          if (r.value != 1) ++anomalies[me];  // a distinct key is always new
          admitted[me].push_back(id);
        }
      }
    });
  for (auto& th : pool) th.join();
  for (auto a : anomalies) CHECK(a == 0);
  CHECK(store.size() <= capacity);
  // Every live (odd) key that was admitted is still there with its state.
  std::size_t total_admitted = 0, live_admitted = 0;
  for (const auto& ids : admitted) {
    total_admitted += ids.size();
    for (const auto id : ids) {
      if (id % 2 == 0) continue;
      ++live_admitted;
      CHECK(store.visit(key_of(id), [](const expiring& v) { return v.counter; }).value == 1);
    }
  }
  std::size_t live_held = 0;
  store.for_each([&](std::string_view, const expiring& v) { live_held += v.expires_at == at(1'000'000) ? 1u : 0u; });
  CHECK(live_held == live_admitted);
  CHECK(total_admitted > capacity);  // dead entries made room for more than the capacity over time
}

// The public types.
static_assert(sizeof(pv::store_status) == 1);
static_assert(std::is_trivially_copyable_v<pv::store_result<std::uint32_t>>);
static_assert(std::is_trivially_copyable_v<pv::store_result<void>>);
static_assert(sizeof(pv::store_result<std::uint32_t>) <= 16);  // status, value and retry_at: two registers
static_assert(!std::is_copy_constructible_v<pv::sharded_store<std::uint32_t>>);
static_assert(sizeof(pv::sharded_store<std::uint32_t>) <= 64);
static_assert(pv::to_string(pv::store_status::full) == "full");
static_assert(pv::to_string(pv::store_status::key_too_long) == "key_too_long");
static_assert(pv::store_result<int>{pv::store_status::ok, 3}.ok() && !pv::store_result<void>{pv::store_status::full});
static_assert(!pv::never_dead{}(0, pv::timestamp::max()));

namespace {
// The same state with a predicate that also says when a value dies.
struct expires_with_time {
  pv::timestamp dies_at(const expiring& v) const noexcept { return v.expires_at; }
  bool operator()(const expiring& v, pv::timestamp now) const noexcept { return now >= v.expires_at; }
};
using timed_store = pv::sharded_store<expiring, expires_with_time>;
static_assert(pv::reports_death_time<expires_with_time, expiring>);
static_assert(!pv::reports_death_time<expired_at_now, expiring>);
}  // namespace

TEST_CASE("sharded_store says when a full shard can next free a slot and the refused key gets in then", "[store]") {
  timed_store store(3, sequential_hash_key(), 1);
  REQUIRE(store.update("a", at(0), [](expiring& v) { v.expires_at = at(90'000); }).ok());
  REQUIRE(store.update("b", at(0), [](expiring& v) { v.expires_at = at(60'000); }).ok());
  REQUIRE(store.update("c", at(0), [](expiring& v) { v.expires_at = at(75'000); }).ok());
  const auto refused = store.update("late", at(1'000), [](expiring&) {});
  CHECK(refused.status == pv::store_status::full);
  CHECK(refused.retry_at == at(60'000));  // the earliest death, never timestamp::max()
  // A refusal from the cached sweep says the same, and a change that brings a
  // death forward lowers it (a retry_at never lies later than a slot frees).
  CHECK(store.update("late", at(500), [](expiring&) {}).retry_at == at(60'000));
  REQUIRE(store.update("a", at(1'000), [](expiring& v) { v.expires_at = at(30'000); }).ok());
  CHECK(store.update("late", at(1'000), [](expiring&) {}).retry_at == at(30'000));
  CHECK(store.update("late", at(29'999), [](expiring&) {}).status == pv::store_status::full);
  CHECK(store.update("late", at(30'000), [](expiring& v) { v.expires_at = at(99'000); }).ok());
  // A predicate without dies_at cannot say: timestamp::max(), as for every status but full.
  expiring_store plain(1, sequential_hash_key(), 1);
  REQUIRE(plain.update("a", at(0), [](expiring& v) { v.expires_at = at(1'000); }).ok());
  CHECK(plain.update("b", at(0), [](expiring&) {}).retry_at == pv::timestamp::max());
  CHECK(store.update("b", at(30'000), [](expiring&) {}).retry_at == pv::timestamp::max());
}

TEST_CASE("sharded_store with_shard_lock runs under the key's shard lock and reads or creates nothing", "[store][concurrency]") {
  expiring_store store(64, sequential_hash_key(), 1);  // one shard: every key's lock is the same
  const auto k = store.hashed("held");
  CHECK(store.with_shard_lock(k, [] { return 42; }) == 42);
  CHECK_FALSE(store.contains("held"));
  CHECK(store.size() == 0);
  // An update of another key of the shard waits until f returns.
  std::atomic<bool> updated{false};
  bool update_ok = false;  // Catch's macros only on this thread
  std::thread other;
  store.with_shard_lock(k, [&] {
    other = std::thread([&] {
      update_ok = store.update("other", at(0), [](expiring& v) { v.counter = 1; }).ok();
      updated.store(true);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
    CHECK_FALSE(updated.load());
  });
  other.join();
  CHECK(updated.load());
  CHECK(update_ok);
  CHECK(store.size() == 1);
  // A key too long for the store still names a shard's lock.
  const std::string long_key(300, 'x');
  CHECK(store.with_shard_lock(store.hashed(long_key), [] { return 7; }) == 7);
}
