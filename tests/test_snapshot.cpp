// Snapshots of the embedded engine (engine.hpp, "Snapshots"): the documented
// format, a round trip, a restart that answers exactly as an engine that
// never stopped, entries that died meanwhile dropped and nothing else, and
// every refusal (truncated, corrupt, another version, another configuration,
// a full store, a failing sink or source) loading nothing.
#include <catch2/catch.hpp>
#include <phoneverify/engine.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "manual_clock.hpp"
#include "support.hpp"

namespace pv = phoneverify;
using pv::snapshot_error;
using pv::verdict_reason;
using namespace std::chrono_literals;

namespace {

using bytes = std::vector<std::byte>;

// 2026-01-01T00:00:00Z.
struct snapshot_clock : pv::test::manual_clock {
  snapshot_clock() : manual_clock(1'767'225'600'000) {}
};

pv::engine_config snapshot_config() {
  pv::engine_config config;
  for (std::size_t i = 0; i < config.key.size(); ++i) config.key[i] = static_cast<std::byte>(0x40 + i);
  config.capacity = 4096;
  config.shards = 16;
  config.policy.sites = pv::international_site_policy;
  return config;
}

pv::facts snapshot_facts(std::string_view caller = "9999888877776666") {
  return pv::test::granting_facts_with_phone(caller, "44-7911123456");
}

bytes snapshot_of(pv::engine& engine) {
  bytes out;
  const snapshot_error e = engine.write_snapshot([&](std::span<const std::byte> chunk) {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return true;
  });
  REQUIRE(e == snapshot_error::ok);
  return out;
}

pv::restored_engine restore(const pv::engine_config& config, const bytes& snapshot, const snapshot_clock& clock,
                            std::uint64_t seed = 99) {
  return pv::engine::restore(config, pv::snapshot_bytes_source{snapshot}, clock.function(),
                             std::make_shared<pv::seeded_random_source>(seed));
}

std::uint64_t be(const bytes& b, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<std::uint64_t>(b[at + i]);
  return v;
}
void put_be(bytes& b, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) b.push_back(static_cast<std::byte>((v >> (8 * (width - 1 - i))) & 0xFF));
}

// One record as the format documents it.
struct record {
  std::uint8_t kind;
  std::string key;
  bytes state;
  friend auto operator<=>(const record&, const record&) = default;
};

constexpr std::size_t state_size(std::uint8_t kind) {
  return kind == 1 ? 16 : kind == 2 ? 16 : kind == 3 ? 96 : 64;
}

// Reads a snapshot by the documented layout, independently of the engine.
std::multiset<record> records_of(const bytes& s) {
  std::multiset<record> out;
  std::size_t at = pv::snapshot_header_size;
  while (s.at(at) != std::byte{0}) {
    record r;
    r.kind = static_cast<std::uint8_t>(s.at(at));
    const auto key_size = static_cast<std::size_t>(s.at(at + 1));
    for (std::size_t i = 0; i < key_size; ++i) r.key.push_back(static_cast<char>(s.at(at + 2 + i)));
    at += 2 + key_size;
    r.state.assign(s.begin() + static_cast<std::ptrdiff_t>(at),
                   s.begin() + static_cast<std::ptrdiff_t>(at + state_size(r.kind)));
    at += state_size(r.kind);
    out.insert(r);
  }
  REQUIRE(be(s, at + 1, 8) == out.size());
  REQUIRE(at + pv::snapshot_trailer_size == s.size());
  return out;
}

// A snapshot made by hand: a header, the records, a trailer with `count`
// (the true count by default) and a correct checksum.
bytes craft(const pv::engine_config& config, std::int64_t written_ms, const std::vector<record>& records,
            std::uint32_t version = pv::snapshot_format_version, std::optional<std::uint64_t> count = {}) {
  bytes s(pv::detail::snapshot_magic.begin(), pv::detail::snapshot_magic.end());
  put_be(s, version, 4);
  put_be(s, 0, 4);
  put_be(s, pv::snapshot_fingerprint(config), 8);
  put_be(s, static_cast<std::uint64_t>(written_ms), 8);
  for (const record& r : records) {
    s.push_back(static_cast<std::byte>(r.kind));
    s.push_back(static_cast<std::byte>(r.key.size()));
    for (char c : r.key) s.push_back(static_cast<std::byte>(c));
    s.insert(s.end(), r.state.begin(), r.state.end());
  }
  s.push_back(std::byte{0});
  put_be(s, count.value_or(records.size()), 8);
  pv::detail::crc64 crc;
  crc.update(s);
  put_be(s, crc.value(), 8);
  return s;
}

// Rewrites the checksum of `s` after a change, so that only the change is judged.
void reseal(bytes& s) {
  pv::detail::crc64 crc;
  crc.update(std::span<const std::byte>(s.data(), s.size() - 8));
  s.resize(s.size() - 8);
  put_be(s, crc.value(), 8);
}

template <class State>
bytes state_bytes(const State& state) {
  const auto b = pv::to_bytes(state);
  return bytes(b.begin(), b.end());
}

// An engine with state of every kind: a send (challenge, phone windows,
// daily quota), a wrong check (a failure on the challenge) and a CAMS
// request (a rate).
void fill(pv::engine& engine, const snapshot_clock& clock) {
  const pv::facts f = snapshot_facts();
  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1234567890123456"}, f);
  REQUIRE(sent.ok());
  REQUIRE(engine.bind_secure_mobile_phone({"000000", "44-7911123456", "1234567890123456"}, f).reason() ==
          verdict_reason::code_rejected);
  REQUIRE(engine.get_migration_verify_code({"293483938841234", "447911123499", "en", "sms"}, f).ok());
  clock.advance(10ms);  // the rate lives 100 ms (one request of 10 per second)
}

}  // namespace

TEST_CASE("crc64 is CRC-64/XZ and the snapshot header is the documented one byte by byte", "[snapshot]") {
  constexpr std::string_view check = "123456789";
  pv::detail::crc64 crc;
  crc.update(std::as_bytes(std::span<const char>(check.data(), check.size())));
  CHECK(crc.value() == 0x995DC9BBDF1939FAULL);

  snapshot_clock clock;
  pv::engine engine(snapshot_config(), clock.function(), std::make_shared<pv::seeded_random_source>(1));
  fill(engine, clock);
  const bytes s = snapshot_of(engine);
  REQUIRE(s.size() >= pv::snapshot_header_size + pv::snapshot_trailer_size);
  CHECK(std::equal(s.begin(), s.begin() + 8, pv::detail::snapshot_magic.begin()));
  CHECK(std::string(reinterpret_cast<const char*>(s.data()), 6) == "PVSNAP");
  CHECK(be(s, 8, 4) == 1);
  CHECK(be(s, 12, 4) == 0);
  CHECK(be(s, 16, 8) == pv::snapshot_fingerprint(engine.config()));
  CHECK(static_cast<std::int64_t>(be(s, 24, 8)) == clock.ms->load());
  // Every live entry once, each with its state's own layout (RULES.md §9).
  const auto records = records_of(s);
  const pv::engine_stats stats = engine.stats();
  CHECK(records.size() == stats.quotas + stats.rates + stats.windows + stats.challenges);
  std::map<std::uint8_t, int> kinds;
  for (const record& r : records) {
    ++kinds[r.kind];
    CHECK(r.state[0] == std::byte{r.kind == 4 ? std::uint8_t{2} : std::uint8_t{1}});  // each layout's version byte
  }
  CHECK(kinds == std::map<std::uint8_t, int>{{1, 1}, {2, 1}, {3, 2}, {4, 2}});
  pv::detail::crc64 whole;
  whole.update(std::span<const std::byte>(s.data(), s.size() - 8));
  CHECK(be(s, s.size() - 8, 8) == whole.value());
}

TEST_CASE("a snapshot read back holds every live entry and the restored engine writes the same records", "[snapshot]") {
  snapshot_clock clock;
  const pv::engine_config config = snapshot_config();
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(2));
  fill(engine, clock);
  const bytes s = snapshot_of(engine);
  const pv::restored_engine restored = restore(config, s, clock);
  REQUIRE(restored);
  CHECK(restored.error() == snapshot_error::ok);
  CHECK(restored.stats().records == records_of(s).size());
  CHECK(restored.stats().loaded == records_of(s).size());
  CHECK(restored.stats().dropped == 0);
  CHECK(restored.stats().written_at == clock.now());
  const pv::engine_stats a = engine.stats(), b = restored->stats();
  CHECK(std::tie(a.quotas, a.rates, a.windows, a.challenges) == std::tie(b.quotas, b.rates, b.windows, b.challenges));
  // Its own snapshot holds the same records (their order follows each
  // engine's secret hash keys, so only the set is compared).
  CHECK(records_of(snapshot_of(*restored)) == records_of(s));
  // The metrics start at zero.
  CHECK(restored->metrics().total() == 0);
}

TEST_CASE("a restarted engine with a snapshot gives the same verdicts as one that never stopped", "[snapshot]") {
  const std::uint64_t seed = pv::test::test_seed("snapshot differential", 0x5eed'0018);
  snapshot_clock clock;
  pv::engine_config config = snapshot_config();
  config.policy.daily.limit = 4;
  config.policy.code.max_attempts = 3;
  config.policy.code.max_consecutive_failures = 6;
  config.policy.code.resend_interval = 20s;
  // The one that never stops, and the first life of the one that restarts: the same seeds.
  pv::engine never_stopped(config, clock.function(), std::make_shared<pv::seeded_random_source>(seed));
  auto first_life = std::make_unique<pv::engine>(config, clock.function(), std::make_shared<pv::seeded_random_source>(seed));
  pv::restored_engine second_life{snapshot_error::corrupt};

  struct driver {
    std::map<std::string, std::string> codes;  // the code each engine last delivered, per binding
  };
  driver steady, restarted;
  pv::test::splitmix64 rng{seed};
  const auto pick = [&](std::uint64_t n) { return rng() % n; };
  std::map<verdict_reason, int> reasons_after_cut;
  int oks_after_cut = 0;

  constexpr int steps = 1200, cut = 600;
  for (int step = 0; step < steps; ++step) {
    if (step == cut) {
      const bytes s = snapshot_of(*first_life);
      first_life.reset();  // the process stops
      clock.advance(7min);  // and restarts 7 minutes later: codes expired, rates idle meanwhile
      second_life = restore(config, s, clock, seed ^ 0xABCD);
      REQUIRE(second_life);
      CHECK(second_life.stats().loaded > 0);
      never_stopped.evict_dead();  // the same forgetting, at the same time, in the one that never stopped
    }
    pv::engine& a = never_stopped;
    pv::engine& b = step < cut ? *first_life : *second_life;
    const std::uint64_t op = pick(9);
    const std::string account = std::to_string(1'000'000'000'000'000ULL + pick(10));
    const std::string caller = std::to_string(2'000'000'000'000'000ULL + pick(3));
    const std::string digits = std::to_string(100000 + pick(6));
    const std::string dashed = "44-7911" + digits;
    const std::string compact = "447911" + digits;
    const std::string space = std::to_string(4'000'000'000'000ULL + pick(4));
    pv::facts f = snapshot_facts(caller);
    f.account.secure_phone = dashed;
    f.contact.phone = dashed;
    const bool wrong = pick(3) == 0;
    const auto code_for = [&](driver& d, const std::string& binding) {
      const auto found = d.codes.find(binding);
      std::string code = found == d.codes.end() ? std::string("123456") : found->second;
      if (wrong) code[2] = static_cast<char>('0' + (code[2] - '0' + 1) % 10);  // never the code
      return code;
    };
    // Runs one request on both engines; the verdicts must be equal.
    const auto both = [&](const std::string& binding, auto call) {
      const pv::engine_response ra = call(a, steady);
      const pv::engine_response rb = call(b, restarted);
      INFO("step " << step << ": " << pv::describe(ra).view() << " | " << pv::describe(rb).view());
      REQUIRE(ra.verdict() == rb.verdict());
      if (step < cut) CHECK(ra.code_to_deliver() == rb.code_to_deliver());  // the same seeds
      if (ra.ok() && !ra.code_to_deliver().empty()) {
        steady.codes[binding] = std::string(ra.code_to_deliver());
        restarted.codes[binding] = std::string(rb.code_to_deliver());
      }
      if (step >= cut) {
        ++reasons_after_cut[ra.reason()];
        oks_after_cut += ra.ok();
      }
    };
    switch (op) {
      case 0:
      case 1:
        both("1/" + account, [&](pv::engine& e, driver&) {
          return e.send_verification_code_for_bind_secure_mobile_phone({dashed, account}, f);
        });
        break;
      case 2:
      case 3:
        both("", [&](pv::engine& e, driver& d) {
          const std::string code = code_for(d, "1/" + account);
          return e.bind_secure_mobile_phone({code, dashed, account}, f);
        });
        break;
      case 4:
        both("4/" + space, [&](pv::engine& e, driver&) { return e.get_migration_verify_code({space, compact, "en", "sms"}, f); });
        break;
      case 5:
        both("", [&](pv::engine& e, driver& d) {
          const std::string code = code_for(d, "4/" + space);
          return e.chatapp_migration_verified({space, compact, code}, f);
        });
        break;
      case 6:
        both("3/" + caller, [&](pv::engine& e, driver&) { return e.send_verification_code_for_enable_rd({}, f); });
        break;
      case 7:
        both("", [&](pv::engine& e, driver& d) {
          const std::string code = code_for(d, "3/" + caller);
          return e.enable_resource_directory({"NewManagementAccount", "ops@rdadmin.aliyunid.com", {}, code}, f);
        });
        break;
      default:
        both("5/c-" + digits, [&](pv::engine& e, driver&) {
          return e.send_phone_verification_for_message_contact({"c-x" + digits, dashed}, f);
        });
        break;
    }
    // Mostly seconds apart, sometimes minutes, now and then hours.
    const std::uint64_t pace = pick(20);
    clock.advance(pace < 16 ? std::chrono::milliseconds{pick(30'000)} : pace < 19 ? 4min : 3h);
  }
  // The second half exercised the state the snapshot carried across.
  CHECK(oks_after_cut > 50);
  CHECK(reasons_after_cut[verdict_reason::code_rejected] > 20);
  CHECK(reasons_after_cut[verdict_reason::flow_control] + reasons_after_cut[verdict_reason::resend_too_soon] +
            reasons_after_cut[verdict_reason::phone_window_exceeded] + reasons_after_cut[verdict_reason::daily_quota_exceeded] >
        20);
  const pv::engine_stats x = never_stopped.stats(), y = second_life->stats();
  CHECK(std::tie(x.quotas, x.rates, x.windows, x.challenges) == std::tie(y.quotas, y.rates, y.windows, y.challenges));
}

TEST_CASE("a code sent before a restart binds after it and the spent budgets stay spent", "[snapshot]") {
  snapshot_clock clock;
  pv::engine_config config = snapshot_config();
  config.policy.daily.limit = 1;
  config.policy.code.max_consecutive_failures = 2;
  const pv::facts f = snapshot_facts();
  bytes s;
  std::string code;
  {
    pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(3));
    const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1234567890123456"}, f);
    REQUIRE(sent.ok());
    code = std::string(sent.code_to_deliver());
    // Another binding locked by two failures.
    REQUIRE(engine.send_verification_code_for_bind_secure_mobile_phone({"44-7911123457", "1234567890123457"}, f).ok());
    for (int i = 0; i < 2; ++i) engine.bind_secure_mobile_phone({"000000", "44-7911123457", "1234567890123457"}, f);
    clock.advance(10s);
    s = snapshot_of(engine);
  }
  clock.advance(20s);
  pv::restored_engine restored = restore(config, s, clock);
  REQUIRE(restored);
  CHECK(restored->bind_secure_mobile_phone({code, "44-7911123456", "1234567890123456"}, f).ok());
  clock.advance(2min);
  // Without the snapshot these three would pass: a fresh engine grants them.
  CHECK(restored->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1234567890123456"}, f).reason() ==
        verdict_reason::daily_quota_exceeded);
  CHECK(restored->send_verification_code_for_bind_secure_mobile_phone({"44-7911123457", "1234567890123457"}, f).reason() ==
        verdict_reason::binding_locked);
  pv::engine fresh(config, clock.function(), std::make_shared<pv::seeded_random_source>(4));
  CHECK(fresh.send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1234567890123456"}, f).ok());
  CHECK(fresh.send_verification_code_for_bind_secure_mobile_phone({"44-7911123457", "1234567890123457"}, f).ok());
}

TEST_CASE("a snapshot loaded after time has passed drops only what died meanwhile", "[snapshot]") {
  snapshot_clock clock;
  pv::engine_config config = snapshot_config();
  config.policy.daily.limit = 1;
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(5));
  const pv::facts f = snapshot_facts();
  REQUIRE(engine.send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1234567890123456"}, f).ok());
  REQUIRE(engine.get_migration_verify_code({"293483938841234", "447911123499", "en", "sms"}, f).ok());
  const bytes s = snapshot_of(engine);
  CHECK(records_of(s).size() == 6);  // challenge x2, windows x2, quota, rate

  SECTION("10 minutes later: the rate and the challenges have died, the windows and the quota live") {
    clock.advance(10min);
    const pv::restored_engine restored = restore(config, s, clock);
    REQUIRE(restored);
    CHECK(restored.stats().records == 6);
    CHECK(restored.stats().dropped == 3);
    CHECK(restored.stats().loaded == 3);
    const pv::engine_stats st = restored->stats();
    CHECK(std::tie(st.quotas, st.rates, st.windows, st.challenges) == std::tuple{1u, 0u, 2u, 0u});
    CHECK(restored->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1234567890123456"}, f).reason() ==
          verdict_reason::daily_quota_exceeded);
  }
  SECTION("a week later: everything has died and nothing is loaded") {
    clock.advance(7 * 24h);
    const pv::restored_engine restored = restore(config, s, clock);
    REQUIRE(restored);
    CHECK(restored.stats().dropped == 6);
    CHECK(restored.stats().loaded == 0);
  }
  SECTION("a clock behind the snapshot's time: the new engine decides at the snapshot's time and drops nothing") {
    const std::int64_t written = clock.ms->load();
    clock.set(written - 3'600'000);
    const pv::restored_engine restored = restore(config, s, clock);
    REQUIRE(restored);
    CHECK(restored.stats().dropped == 0);
    CHECK(restored->now() == pv::timestamp{std::chrono::milliseconds{written}});
  }
}

TEST_CASE("restore refuses a snapshot truncated at every length and loads nothing", "[snapshot][refusal]") {
  snapshot_clock clock;
  const pv::engine_config config = snapshot_config();
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(6));
  fill(engine, clock);
  const bytes s = snapshot_of(engine);
  for (std::size_t n = 0; n < s.size(); ++n) {
    const bytes cut(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
    const pv::restored_engine restored = restore(config, cut, clock);
    INFO("length " << n << " of " << s.size());
    CHECK(!restored);
    CHECK(restored.error() == snapshot_error::truncated);
  }
  // One byte more than the snapshot: refused too.
  bytes longer = s;
  longer.push_back(std::byte{0});
  CHECK(restore(config, longer, clock).error() == snapshot_error::corrupt);
  CHECK(restore(config, s, clock));
}

TEST_CASE("restore refuses every flipped byte of a snapshot and loads nothing", "[snapshot][refusal]") {
  snapshot_clock clock;
  const pv::engine_config config = snapshot_config();
  pv::engine engine(config, clock.function(), std::make_shared<pv::seeded_random_source>(7));
  fill(engine, clock);
  const bytes s = snapshot_of(engine);
  for (std::size_t i = 0; i < s.size(); ++i) {
    for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xFF}}) {
      bytes changed = s;
      changed[i] ^= std::byte{mask};
      const pv::restored_engine restored = restore(config, changed, clock);
      INFO("byte " << i << " xor " << int(mask) << ": " << pv::describe(restored.error()));
      CHECK(!restored);
      if (i < 8) CHECK(restored.error() == snapshot_error::not_a_snapshot);
      else if (i < 12) CHECK(restored.error() == snapshot_error::unsupported_version);
      else if (i >= 16 && i < 24) CHECK(restored.error() == snapshot_error::config_mismatch);
      else CHECK((restored.error() == snapshot_error::corrupt || restored.error() == snapshot_error::truncated));
    }
  }
}

TEST_CASE("restore refuses another format version, another configuration and records the writer cannot produce",
          "[snapshot][refusal]") {
  snapshot_clock clock;
  const pv::engine_config config = snapshot_config();
  const std::int64_t t = clock.ms->load();
  pv::daily_usage used{};
  REQUIRE(pv::consume(config.policy.daily, used, clock.now()).allowed);
  const record quota{1, "q1234567890123456", state_bytes(used)};
  REQUIRE(restore(config, craft(config, t, {quota}), clock));

  CHECK(restore(config, craft(config, t, {quota}, 2), clock).error() == snapshot_error::unsupported_version);
  CHECK(restore(config, craft(config, t, {quota}, 0), clock).error() == snapshot_error::unsupported_version);

  SECTION("another configuration: every field the state means something under") {
    std::vector<pv::engine_config> others(9, config);
    others[0].policy.daily.limit = 99;
    others[1].policy.daily.utc_offset = 0min;
    others[2].policy.cams_rate.count = 5;
    others[3].policy.per_phone.windows[1].count = 4;
    others[4].policy.code.validity = 120s;
    others[5].policy.code.max_consecutive_failures = 50;
    others[6].policy.code.failure_budget = 10;
    others[7].capacity = 8192;
    others[8].policy.bind_quota_counts = pv::quota_subject::sending_account;
    for (const pv::engine_config& other : others) {
      CHECK(pv::snapshot_fingerprint(other) != pv::snapshot_fingerprint(config));
      const pv::restored_engine restored = restore(other, craft(config, t, {quota}), clock);
      CHECK(restored.error() == snapshot_error::config_mismatch);
      CHECK(!restored);
    }
  }
  SECTION("what changes no stored state does not refuse: site, shards, body format, texts") {
    pv::engine_config other = config;
    other.policy.sites = pv::china_site_policy;
    other.shards = 4;
    other.format = pv::body_format::xml;
    other.host_id = "another-host";
    CHECK(restore(other, craft(config, t, {quota}), clock));
  }
  SECTION("records the writer cannot produce are corrupt, even with a correct checksum") {
    const auto refused = [&](const std::vector<record>& records) {
      return restore(config, craft(config, t, records), clock).error();
    };
    CHECK(refused({quota, quota}) == snapshot_error::corrupt);                                   // a key twice
    CHECK(refused({{1, "p1234567890123456", quota.state}}) == snapshot_error::corrupt);         // another kind's key
    CHECK(refused({{4, "2123", bytes(64)}}) == snapshot_error::corrupt);                         // a consumer's challenge
    CHECK(refused({{5, "q1", quota.state}}) == snapshot_error::corrupt);                         // an unknown kind
    CHECK(refused({{1, "", quota.state}}) == snapshot_error::corrupt);                           // an empty key
    CHECK(refused({{1, "q" + std::string(80, '1'), quota.state}}) == snapshot_error::corrupt);  // 81 bytes
    bytes bad = quota.state;
    bad[2] = std::byte{1};  // a reserved byte of daily_usage_bytes
    CHECK(refused({{1, quota.key, bad}}) == snapshot_error::corrupt);
    CHECK(restore(config, craft(config, t, {quota}, 1, 2), clock).error() == snapshot_error::corrupt);  // the count
    bytes reserved = craft(config, t, {quota});
    reserved[15] = std::byte{1};
    reseal(reserved);
    CHECK(restore(config, reserved, clock).error() == snapshot_error::corrupt);
  }
  SECTION("a snapshot of no entries loads an empty engine") {
    const pv::restored_engine restored = restore(config, craft(config, t, {}), clock);
    REQUIRE(restored);
    CHECK(restored.stats().records == 0);
    CHECK(restored->stats().quotas == 0);
  }
}

TEST_CASE("restore refuses live entries that do not fit, a failing source and a bad configuration", "[snapshot][refusal]") {
  snapshot_clock clock;
  pv::engine_config config = snapshot_config();
  config.capacity = 2;
  config.shards = 1;
  const std::int64_t t = clock.ms->load();
  pv::daily_usage used{};
  REQUIRE(pv::consume(config.policy.daily, used, clock.now()).allowed);
  std::vector<record> three;
  for (int i = 0; i < 3; ++i) three.push_back({1, "q123456789012345" + std::to_string(i), state_bytes(used)});
  CHECK(restore(config, craft(config, t, three), clock).error() == snapshot_error::capacity_exceeded);
  three.pop_back();
  CHECK(restore(config, craft(config, t, three), clock));
  const bytes s = craft(config, t, three);
  // A full store does not hide a corrupt snapshot.
  three.push_back({1, "q1234567890123459", state_bytes(used)});
  bytes corrupt = craft(config, t, three);
  corrupt[corrupt.size() - 1] ^= std::byte{1};
  CHECK(restore(config, corrupt, clock).error() == snapshot_error::corrupt);

  // A source that fails, at every point of a snapshot, and one that claims more bytes than it was given room for.
  for (std::size_t fail_at = 0; fail_at <= s.size(); fail_at += 5) {
    std::size_t at = 0;
    const auto failing = [&](std::span<std::byte> into) -> std::optional<std::size_t> {
      if (at >= fail_at) return std::nullopt;
      const std::size_t n = std::min({into.size(), s.size() - at, std::size_t{5}});
      std::memcpy(into.data(), s.data() + at, n);
      at += n;
      return n;
    };
    const pv::restored_engine restored = pv::engine::restore(config, failing, clock.function(),
                                                             std::make_shared<pv::seeded_random_source>(8));
    CHECK(restored.error() == snapshot_error::read_failed);
  }
  const auto lying = [](std::span<std::byte> into) -> std::optional<std::size_t> { return into.size() + 1; };
  CHECK(pv::engine::restore(config, lying, clock.function(), std::make_shared<pv::seeded_random_source>(8)).error() ==
        snapshot_error::read_failed);

  // A configuration create() refuses: config_refused, and the config_error says why.
  pv::engine_config bad = config;
  bad.key = {};
  const pv::restored_engine refused = restore(bad, s, clock);
  CHECK(refused.error() == snapshot_error::config_refused);
  CHECK(refused.config_problem() == pv::config_error::key_all_zero);
  for (std::size_t e = 0; e <= static_cast<std::size_t>(snapshot_error::config_refused); ++e)
    CHECK(!pv::describe(static_cast<snapshot_error>(e)).empty());
  CHECK(pv::describe(static_cast<snapshot_error>(200)).empty());
}

TEST_CASE("write_snapshot reports a sink that refuses and stops calling it", "[snapshot][refusal]") {
  snapshot_clock clock;
  pv::engine engine(snapshot_config(), clock.function(), std::make_shared<pv::seeded_random_source>(9));
  fill(engine, clock);
  int calls = 0;
  CHECK(engine.write_snapshot([&](std::span<const std::byte>) {
    ++calls;
    return false;
  }) == snapshot_error::write_failed);
  CHECK(calls == 1);
  // Many entries: the snapshot arrives in chunks of at most 4 KiB, and the same bytes in one piece.
  const pv::facts f = snapshot_facts();
  for (int i = 0; i < 200; ++i)
    engine.send_verification_code_for_bind_secure_mobile_phone(
        {"44-7911" + std::to_string(200000 + i), std::to_string(1234567890000000 + i)}, f);
  std::size_t largest = 0;
  bytes chunked;
  REQUIRE(engine.write_snapshot([&](std::span<const std::byte> chunk) {
    largest = std::max(largest, chunk.size());
    chunked.insert(chunked.end(), chunk.begin(), chunk.end());
    return true;
  }) == snapshot_error::ok);
  CHECK(largest == 4096);
  CHECK(records_of(chunked).size() == 200 * 3 + 6);
}

TEST_CASE("a snapshot written while 4 threads send holds no code without the charges of its send", "[snapshot][concurrency]") {
  snapshot_clock clock;
  pv::engine engine(snapshot_config(), clock.function(), std::make_shared<pv::seeded_random_source>(10));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      const pv::facts f = snapshot_facts();
      for (int i = 0; i < 300 && !stop.load(); ++i) {
        const std::string n = std::to_string(100000 + t * 1000 + i);
        engine.send_verification_code_for_bind_secure_mobile_phone({"44-7911" + n, "1234567890" + n}, f);
      }
    });
  std::vector<bytes> snapshots;
  for (int k = 0; k < 5; ++k) snapshots.push_back(snapshot_of(engine));
  stop = true;
  for (auto& th : threads) th.join();
  snapshots.push_back(snapshot_of(engine));
  for (const bytes& s : snapshots) {
    const auto records = records_of(s);
    std::set<std::string> keys;
    for (const record& r : records) keys.insert(r.key);
    for (const record& r : records) {
      if (r.kind != 4) continue;
      // Challenges are written first: the send that issued this one charged
      // its phone and its account before the windows and quotas were written.
      const std::string n = r.key.substr(11);
      CHECK(keys.count("p+447911" + n) == 1);
      CHECK(keys.count("q1234567890" + n) == 1);
    }
    CHECK(restore(engine.config(), s, clock));
  }
}
