// Fuzz target for store.hpp: the input is a program of updates, erases,
// visits and sweeps on short byte keys with a clock that mostly moves forward
// and sometimes back, run against two stores (1 shard and 4 shards) and a
// model map. Invariants (abort on violation), from RULES.md §4:
// - a live entry (expires_at > now) is never forgotten and its state is exact;
// - the store holds nothing the model does not, with the same state;
// - size() <= capacity();
// - one shard: a new key is refused with `full` iff the shard holds
//   `capacity` live entries; a refused or too-long key leaves no trace;
// - keys compare exactly (prefixes, NUL bytes and lengths never merge).
#include <phoneverify/store.hpp>
#include "fuzz_input.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace pv = phoneverify;

namespace {

using phoneverify::test::require;

struct expiring {
  std::uint32_t counter;
  pv::timestamp expires_at;
};
struct dead_when_expired {
  bool operator()(const expiring& v, pv::timestamp now) const noexcept { return now >= v.expires_at; }
};

constexpr std::size_t max_key = 6;
using store_t = pv::sharded_store<expiring, dead_when_expired, max_key>;
using model_t = std::map<std::string, expiring>;

pv::timestamp at(std::int64_t ms) { return pv::timestamp{std::chrono::milliseconds{ms}}; }

using reader = phoneverify::test::fuzz_input;

bool live(const expiring& v, std::int64_t now) { return v.expires_at > at(now); }

// Drops from the model what the store dropped; each must have been dead.
void reconcile(const store_t& store, model_t& model, std::int64_t now) {
  for (auto it = model.begin(); it != model.end();) {
    const auto seen = store.visit(it->first, [](const expiring& v) { return v; });
    if (seen.status == pv::store_status::not_found) {
      require(!live(it->second, now));
      it = model.erase(it);
    } else {
      require(seen.ok());
      require(seen.value.counter == it->second.counter && seen.value.expires_at == it->second.expires_at);
      ++it;
    }
  }
  std::size_t held = 0;
  store.for_each([&](std::string_view key, const expiring& v) {
    ++held;
    const auto m = model.find(std::string(key));
    require(m != model.end() && m->second.counter == v.counter && m->second.expires_at == v.expires_at);
  });
  require(held == model.size() && store.size() == held && held <= store.capacity());
}

void run(store_t& store, model_t& model, bool exact_full, reader in) {
  std::int64_t now = 1000;
  while (in.more()) {
    const std::uint8_t op = in.byte();
    const std::uint8_t delta = in.byte();
    now += (delta & 0x80) ? -static_cast<std::int64_t>(delta & 0x0F) : static_cast<std::int64_t>(delta & 0x3F);
    const std::size_t len = in.byte() % (max_key + 2);  // one past the maximum: too long
    std::string key;
    for (std::size_t i = 0; i < len; ++i) key.push_back(static_cast<char>(in.byte() % 4));  // tiny alphabet: near keys
    const bool too_long = key.size() > max_key;
    switch (op % 4) {
      case 0:
      case 1: {  // update: count and set a new expiry
        const std::int64_t life = static_cast<std::int64_t>(in.byte() % 64);
        std::size_t live_count = 0;
        for (const auto& [k, v] : model) live_count += live(v, now) ? 1u : 0u;
        const bool existed = model.count(key) == 1;
        const auto r = store.update(key, at(now), [&](expiring& v) {
          ++v.counter;
          v.expires_at = at(now + life);
          return v.counter;
        });
        if (too_long) {
          require(r.status == pv::store_status::key_too_long);
        } else if (existed) {
          require(r.ok() && r.value == model[key].counter + 1);
          model[key] = expiring{r.value, at(now + life)};
        } else if (r.ok()) {
          require(r.value == 1);
          if (exact_full) require(live_count < store.capacity());
          model[key] = expiring{1, at(now + life)};
        } else {
          require(r.status == pv::store_status::full);
          if (exact_full) require(live_count == store.capacity());
        }
        break;
      }
      case 2: {  // erase
        const auto status = store.erase(key);
        if (too_long) {
          require(status == pv::store_status::key_too_long);
        } else {
          require(status == (model.erase(key) == 1 ? pv::store_status::ok : pv::store_status::not_found));
        }
        break;
      }
      default: {  // housekeeping sweep
        const std::size_t before = store.size();
        const std::size_t dropped = store.evict_dead(at(now));
        require(store.size() + dropped == before);
        break;
      }
    }
    reconcile(store, model, now);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t capacity = 1 + data[0] % 12;
  constexpr pv::store_hash_key hash_key{std::byte{0x11}, std::byte{0x22}};
  {
    store_t one(capacity, hash_key, 1);
    model_t model;
    run(one, model, true, reader{data + 1, size - 1});
  }
  {
    store_t four(capacity, hash_key, 4);
    model_t model;
    run(four, model, false, reader{data + 1, size - 1});
  }
  return 0;
}
