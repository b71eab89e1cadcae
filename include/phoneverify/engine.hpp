// SPDX-License-Identifier: MIT
// phoneverify: the embedded engine. A thread-safe, in-memory keeper of the
// state the pure core needs (layer 4 of the README's table), for a service that runs in
// one process: daily usage per counted account, request rate per CAMS user,
// per-phone windows, one challenge per binding. It is the only part of the
// library with locks, heap and a clock; a fleet keeps the same state structs
// (daily_usage, rate_state, per_phone_state, challenge) in a shared store
// instead and calls actions.hpp directly.
//
// One method per action: it takes the request and the facts, decides with
// actions.hpp (RULES.md §7), renders the response body (render.hpp) and, for a
// send, hands back the code to deliver (the engine sends no SMS).
//
// Capacity: each kind of state lives in a sharded_store (store.hpp) of the
// configured capacity. Eviction drops only state that can no longer deny
// (past days, windows that have emptied, challenges past forgettable_at,
// RULES.md §4); when a store is full of live state the engine refuses the new
// key with the action's limit error (reason state_unavailable, retry_at the
// earliest instant an entry of the full shard dies): it never forgets budget a
// key has spent, so a key never comes back fresh.
//
// Time: the engine decides and evicts at its own time, the latest the clock
// has ever shown it (a high-water mark kept on every call), so a clock that
// steps back never meets state a sweep dropped at a later time: time going
// back never grants budget (RULES.md §4).
//
// Randomness: the random source answers a value or none (never throws). A
// send draws its RequestId, then its code (and tags it) before it takes any
// store lock, and drops the code when the limits refuse the send. A send
// whose code cannot be drawn is refused with the action's limit error
// (reason randomness_unavailable) whatever the limits would have said,
// charges nothing and issues no code; a
// RequestId that cannot be drawn comes from a counter instead (a version-8
// UUID: RequestIds are not secrets, codes are and never come from a fallback).
// Either is counted in engine_stats::randomness_failures.
#ifndef PHONEVERIFY_ENGINE_HPP
#define PHONEVERIFY_ENGINE_HPP

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "actions.hpp"
#include "inline_string.hpp"
#include "metrics.hpp"
#include "random.hpp"
#include "render.hpp"
#include "store.hpp"

namespace phoneverify {

// ---------------------------------------------------------------------------
// The engine's sources of time and randomness (injectable for tests).

// Where the engine reads the time: the default is std::chrono::system_clock
// floored to milliseconds. Must be safe to call from several threads.
using clock_function = std::function<timestamp()>;

inline timestamp system_now() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// A source of uniformly random 64-bit words, called from several threads at
// once: implementations are thread-safe. Codes, RequestIds and the stores'
// hash keys are drawn from it. next() never throws: a source that cannot give
// a value it trusts (its entropy failed) answers none, and the engine fails
// the request closed (see the file comment).
class random_source {
 public:
  virtual ~random_source() = default;
  virtual std::optional<std::uint64_t> next() noexcept = 0;
};

// The default: a cryptographically secure ChaCha20 generator per thread,
// keyed from the operating system's entropy and re-keyed as random.hpp
// describes, also in a forked child (never a Mersenne Twister, whose future
// outputs follow from 624 observed ones). No value when the entropy failed.
class system_random_source final : public random_source {
 public:
  std::optional<std::uint64_t> next() noexcept override {
    thread_local system_random generator;
    return generator.try_next();
  }
};

// A deterministic source for tests and simulations: ChaCha20 under a key made
// from `seed`, behind a mutex. Never for production codes: whoever knows the
// seed knows every code.
class seeded_random_source final : public random_source {
 public:
  explicit seeded_random_source(std::uint64_t seed) : generator_(key_from_seed(seed)) {}
  std::optional<std::uint64_t> next() noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    return generator_();
  }

 private:
  static chacha20_generator::key_type key_from_seed(std::uint64_t seed) {
    chacha20_generator::key_type key{};
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>((seed >> ((i % 8) * 8)) ^ (i * 37));
    return key;
  }
  std::mutex mutex_;
  chacha20_generator generator_;
};

namespace detail {
// Adapts a random_source to the uniform random bit generator issue_code takes.
// Once the source gives no value it is `failed` and answers 0 for ever: the
// caller must then throw away whatever it drew (a code of zeros is no code).
struct source_generator {
  using result_type = std::uint64_t;
  random_source* source;
  bool failed = false;
  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return ~result_type{0}; }
  result_type operator()() noexcept {
    if (failed) return 0;
    const std::optional<std::uint64_t> v = source->next();
    if (!v) {
      failed = true;
      return 0;
    }
    return *v;
  }
};
}  // namespace detail

// ---------------------------------------------------------------------------
// Configuration and responses

// How the engine is set up. `key` is the HMAC key of the code digests: 32
// secret bytes from the service's secret store (an all-zero key is refused);
// `keys` is a key ring instead, for rotation (RULES.md §5, key rotation): set
// one of the two. engine::config() keeps them as configured; the ring in force
// is the engine's own copy, which engine::rotate_keys replaces.
// The site the service runs is policy.sites (RULES.md §3), and only there.
// validate() says whether an engine can be built from it.
struct engine_config {
  action_policy policy{};             // every [L] default of RULES.md and the site tables (actions.hpp)
  secret_key key{};
  key_ring keys{};                    // empty: the ring of `key` alone, id 0
  std::size_t capacity = 1u << 16;    // entries per kind of state (quota, rate, windows, challenges)
  std::size_t shards = default_store_shards;  // lock stripes: 0 = automatic (store_shards_for), else 1..capacity
  body_format format = body_format::json;
  std::string_view host_id = "phoneverify";  // HostId of error bodies (copied, at most 64 bytes)
  std::string_view recommend = "";           // Recommend of JSON error bodies (copied, at most 128 bytes)
  // The engine decides and evicts at the latest time its clock has shown it
  // (engine::now(), RULES.md §4: a clock that steps back never grants budget).
  // false takes each clock reading as it is: only for a simulation whose
  // threads each run their own simulated clock forward (one thread's time
  // must not move another's), never for a real clock.
  bool high_water_time = true;
};

// The limits of engine_config that validate() enforces.
inline constexpr std::size_t engine_max_host_id = 64;
inline constexpr std::size_t engine_max_recommend = 128;
// Each store's own limit (store.hpp: a precondition of sharded_store).
inline constexpr std::size_t engine_max_capacity = ~std::size_t{0} / 8;
// store.hpp clamps a larger stripe count to this one.
inline constexpr std::size_t engine_max_shards = std::size_t{1} << 20;
// The widest UTC offsets in use: -12:00 to +14:00 (RULES.md §4).
inline constexpr std::chrono::minutes engine_min_utc_offset{-12 * 60};
inline constexpr std::chrono::minutes engine_max_utc_offset{14 * 60};

// What is wrong with an engine configuration (RULES.md §9): one value per
// misconfiguration that would otherwise build an engine that asserts,
// answers every request with an error that blames the client, or silently
// works with another value than the one configured. describe() says which
// field and what it allows.
enum class config_error : std::uint8_t {
  ok,
  key_all_zero,                   // key (or a key of keys): 32 zero bytes (issue_code refuses it: every send would fail)
  key_and_key_ring,               // both key and keys set: which one issues codes would be a guess
  code_policy_out_of_limits,      // policy.code: validate(code_policy) is not ok (code.hpp)
  daily_limit_zero,               // policy.daily.limit 0: no send would ever pass
  utc_offset_out_of_range,        // policy.daily.utc_offset outside -12:00..+14:00
  cams_rate_count_zero,           // policy.cams_rate.count 0: no CAMS request would ever pass
  cams_rate_period_not_positive,  // policy.cams_rate.period <= 0: the rate would never limit
  per_phone_count_zero,           // a policy.per_phone window with count 0: no send would ever pass
  per_phone_count_too_large,      // a count above what per_phone_state holds (it would act as that size)
  per_phone_window_not_positive,  // a window <= 0 ms: it would hold nothing, never limit
  sites_empty,                    // policy.sites accepts no country code for any action
  capacity_zero,                  // capacity 0: every key refused
  capacity_too_large,             // capacity above engine_max_capacity (a store precondition)
  shards_out_of_range,            // shards above capacity or above engine_max_shards (would be clamped)
  format_invalid,                 // format is neither json nor xml
  host_id_too_long,               // host_id above 64 bytes (it would be cut)
  recommend_too_long,             // recommend above 128 bytes (it would be cut)
  no_clock,                       // create(): an empty clock_function
  no_random_source,               // create(): a null random_source
  random_source_failed,           // create(): the random_source gave no value for the stores' hash keys
};

static_assert(per_phone_state::capacity() == 10, "describe(config_error) names per_phone_state's 10 times");

// A sentence naming the field, what is wrong and what is allowed, for the
// start-up log. "" for a value that is no enumerator.
constexpr std::string_view describe(config_error e) noexcept {
  switch (e) {
    case config_error::ok: return "ok";
    case config_error::key_all_zero:
      return "engine_config.key is all zero: load 32 secret bytes from your secret store";
    case config_error::key_and_key_ring:
      return "engine_config.key and engine_config.keys are both set: set key for one key, or keys for a key ring "
             "(RULES.md §5, key rotation), not both";
    case config_error::code_policy_out_of_limits:
      return "engine_config.policy.code is outside its limits: digits 6-10, validity 1 s-10 min, max_attempts and "
             "max_consecutive_failures 1 or more, resend_interval 0-24 h, lockout 1 s-366 days (RULES.md §5)";
    case config_error::daily_limit_zero:
      return "engine_config.policy.daily.limit is 0: no code could ever be sent; give 1 or more (RULES.md §4: 100)";
    case config_error::utc_offset_out_of_range:
      return "engine_config.policy.daily.utc_offset is outside -12:00..+14:00: give minutes, e.g. 480 for UTC+8";
    case config_error::cams_rate_count_zero:
      return "engine_config.policy.cams_rate.count is 0: no CAMS request could pass; give 1 or more (default 10)";
    case config_error::cams_rate_period_not_positive:
      return "engine_config.policy.cams_rate.period is not positive: give 1 ms or more (default 1000 ms)";
    case config_error::per_phone_count_zero:
      return "engine_config.policy.per_phone has a window with count 0: no code could be sent; give 1 to 10";
    case config_error::per_phone_count_too_large:
      return "engine_config.policy.per_phone has a window with count above 10, what per_phone_state holds: give 1 "
             "to 10";
    case config_error::per_phone_window_not_positive:
      return "engine_config.policy.per_phone has a window of 0 ms or less: give 1 ms or more";
    case config_error::sites_empty:
      return "engine_config.policy.sites accepts no country code: use china_site_policy, "
             "international_site_policy or your own tables (RULES.md §3)";
    case config_error::capacity_zero:
      return "engine_config.capacity is 0: every key would be refused; give 1 or more entries (default 65536)";
    case config_error::capacity_too_large:
      return "engine_config.capacity is above engine_max_capacity (SIZE_MAX / 8)";
    case config_error::shards_out_of_range:
      return "engine_config.shards is above capacity or above 2^20: give 0 (automatic) or 1 to min(capacity, 2^20)";
    case config_error::format_invalid:
      return "engine_config.format is neither body_format::json nor body_format::xml";
    case config_error::host_id_too_long:
      return "engine_config.host_id is longer than 64 bytes";
    case config_error::recommend_too_long:
      return "engine_config.recommend is longer than 128 bytes";
    case config_error::no_clock:
      return "engine::create: the clock_function is empty: pass system_now or your own clock";
    case config_error::no_random_source:
      return "engine::create: the random_source is null: pass std::make_shared<system_random_source>()";
    case config_error::random_source_failed:
      return "engine::create: the random_source gave no value for the stores' hash keys: the system's entropy "
             "failed; retry, or check getrandom(2) and /dev/urandom";
  }
  return "";
}

// Whether an engine can be built from `config` (RULES.md §9): the first
// problem in the order of config_error, or config_error::ok. Refuses exactly
// what would assert (store.hpp: capacity), never let a request pass or never
// limit it (a zero key, code policy, limits and windows), or be silently
// changed (shards, host_id, recommend, per-phone counts above the state).
// Usable in constant expressions.
constexpr config_error validate(const engine_config& config) noexcept {
  const bool zero = detail::is_zero_key(config.key);
  if (config.keys.empty() && zero) return config_error::key_all_zero;
  if (!config.keys.empty() && !zero) return config_error::key_and_key_ring;
  // A ring built by its constructor and add() can only hold a zero key (the
  // constructor takes any key; add refuses it, and duplicate ids).
  if (!config.keys.empty() && config.keys.validate() != key_ring_error::ok) return config_error::key_all_zero;
  const action_policy& p = config.policy;
  if (validate(p.code) != errc::ok) return config_error::code_policy_out_of_limits;
  if (p.daily.limit == 0) return config_error::daily_limit_zero;
  if (p.daily.utc_offset < engine_min_utc_offset || p.daily.utc_offset > engine_max_utc_offset)
    return config_error::utc_offset_out_of_range;
  if (p.cams_rate.count == 0) return config_error::cams_rate_count_zero;
  if (p.cams_rate.period <= std::chrono::milliseconds{0}) return config_error::cams_rate_period_not_positive;
  for (const sliding_window& w : p.per_phone.windows) {
    if (w.count == 0) return config_error::per_phone_count_zero;
    if (w.count > per_phone_state::capacity()) return config_error::per_phone_count_too_large;
    if (w.window <= std::chrono::milliseconds{0}) return config_error::per_phone_window_not_positive;
  }
  if (p.sites.secure_phone.empty() && p.sites.message_contact.empty() && p.sites.cams.empty())
    return config_error::sites_empty;
  if (config.capacity == 0) return config_error::capacity_zero;
  if (config.capacity > engine_max_capacity) return config_error::capacity_too_large;
  if (config.shards > config.capacity || config.shards > engine_max_shards) return config_error::shards_out_of_range;
  if (config.format != body_format::json && config.format != body_format::xml) return config_error::format_invalid;
  if (config.host_id.size() > engine_max_host_id) return config_error::host_id_too_long;
  if (config.recommend.size() > engine_max_recommend) return config_error::recommend_too_long;
  return config_error::ok;
}

// The key ring an engine built from `config` starts with: `keys`, or the
// ring of `key` alone under id 0.
constexpr key_ring starting_keys(const engine_config& config) noexcept {
  return config.keys.empty() ? key_ring{config.key} : config.keys;
}

namespace detail {
// Whether `id` names the same key in both rings (an id whose key changed is
// a key that left): what both engines' rotate_keys ask of every key.
inline bool same_key(const key_ring& a, const key_ring& b, key_id id) noexcept {
  const secret_key* x = a.find(id);
  const secret_key* y = b.find(id);
  return x != nullptr && y != nullptr && constant_time_equal(*x, *y);
}
}  // namespace detail

// How rotate_keys treats a code still live under a key that leaves the ring
// (RULES.md §5, key rotation).
enum class live_codes : std::uint8_t {
  refuse,  // refuse the rotation while any is live (the default: no pending code dies)
  drop,    // rotate now; those codes read as having no code (a leaked key)
};

// Why rotate_keys refused.
enum class rotation_error : std::uint8_t {
  ok,
  ring_invalid,         // the new ring fails key_ring::validate() (ring_problem says why)
  retiring_primary,     // the new ring lacks the primary key in force: make another key primary first,
                        // and retire this one in a later rotation (a send in flight may still issue under it)
  key_has_live_codes,   // a leaving key (absent, or another key under its id) still has live codes
  state_unavailable,    // the fleet engine could not read the key-use ledger (fleet.hpp): nothing changed
};

// What rotate_keys did: ok, or why not; the leaving keys that still have
// live codes, those codes (the embedded engine counts them; the fleet
// engine knows only which keys, from its ledger, and leaves 0), and when
// the last of them expires (a refused rotation succeeds from then).
struct rotation_report {
  rotation_error error = rotation_error::ok;
  key_ring_error ring_problem = key_ring_error::ok;
  std::size_t leaving_keys_in_use = 0;
  std::size_t live_codes_of_leaving_keys = 0;
  timestamp last_expiry{};
};

// The largest body the engine renders: every request-supplied value it puts in
// a body is bounded (RequestId 36, HostId 64, Recommend 128, phone 16,
// ExpirationDate 24, a parameter name 19), so render.hpp's bound holds.
inline constexpr std::size_t engine_body_capacity = max_body_size(36 + 64 + 128 + 16 + 24 + 19);

// What one engine call answers: the verdict (read through the accessors
// below: the status and error the action documents, the reason, the retry
// time), the RequestId it generated, the rendered body in the configured
// format, for an ok send the code to deliver, and the request's phone as
// parsed (for logs, masked by describe). Every byte of the body storage, the
// code and the RequestId is written for this response: the body, then zeros
// to the end of the storage; the code is empty (all zeros) unless the send is
// ok; so no earlier code or key on the stack leaves in it.
namespace detail {
// The deleter of an engine's key ring: the keys are wiped before the memory goes.
struct ring_wiper {
  void operator()(key_ring* ring) const noexcept {
    ring->wipe();
    delete ring;
  }
};

class engine_front;
}  // namespace detail

class engine_response {
 public:
  const phoneverify::verdict& verdict() const noexcept { return verdict_; }
  bool ok() const noexcept { return verdict_.ok(); }
  explicit operator bool() const noexcept { return ok(); }
  errc error() const noexcept { return verdict_.error(); }
  int http_status() const noexcept { return verdict_.http_status(); }
  verdict_reason reason() const noexcept { return verdict_.reason(); }
  timestamp retry_at() const noexcept { return verdict_.retry_at(); }
  // An ok send: the code to deliver to the phone, and when it expires; "" and
  // the epoch otherwise. Never log the code.
  std::string_view code_to_deliver() const noexcept { return issued_.code.view(); }
  timestamp code_expires_at() const noexcept { return issued_.expires_at; }
  // A UUID drawn from the random source (version 8: its fallback).
  std::string_view request_id() const noexcept { return {request_id_.data(), request_id_size_}; }
  std::string_view body() const noexcept { return {body_storage_.data(), body_size_}; }
  // The request's phone as parsed, once a request got past its phone check.
  const std::optional<phone_number>& phone() const noexcept { return phone_; }

 private:
  friend class detail::engine_front;
  phoneverify::verdict verdict_;
  issued_code issued_{};
  std::optional<phone_number> phone_;
  std::array<char, 36> request_id_{};
  std::size_t request_id_size_ = 0;
  std::array<char, engine_body_capacity> body_storage_;
  std::size_t body_size_ = 0;
};

// One log line for a response: describe(verdict) with the request's phone
// masked, then its RequestId. Never the code.
inline inline_string<detail::verdict_description_capacity + 48> describe(const engine_response& response) noexcept {
  inline_string<detail::verdict_description_capacity + 48> out;
  out.append(describe(response.verdict(), response.phone()).view());
  out.append("; RequestId ");
  out.append(response.request_id());
  return out;
}

// What the engine holds, for monitoring and capacity tests, and how often its
// random source failed (requests that got a fallback RequestId or were
// refused for want of a code, each request counted once): anything above 0
// deserves an alert.
struct engine_stats {
  std::size_t quotas, rates, windows, challenges;
  std::uint64_t randomness_failures;
};

namespace detail {

// When each kind of state can no longer deny, so eviction may drop it: each
// predicate says the instant a value dies (dies_at, which store.hpp reports as
// the retry_at of a full shard) and a value is dead from then on (monotone in
// time, as the store requires). Every sum saturates (detail/saturating.hpp);
// a death time that saturated at timestamp::max() means never, so state at
// the end of the range is kept, never dropped by a wrapped sum.
constexpr bool dead_from(timestamp dies_at, timestamp now) noexcept {
  return dies_at != timestamp::max() && dies_at <= now;
}
struct daily_usage_is_dead {
  std::chrono::minutes utc_offset;
  // The first instant of the local day after the one charged; never for the
  // last representable day, which never resets (quota.hpp).
  timestamp dies_at(const daily_usage& u) const noexcept {
    if (u.unused()) return timestamp::min();
    if ((u.to_bits() >> 32) == 0xFFFF'FFFFu) return timestamp::max();
    return day_start(sat_add(u.day(), 1), utc_offset);
  }
  bool operator()(const daily_usage& u, timestamp now) const noexcept { return dead_from(dies_at(u), now); }
};
struct rate_state_is_dead {
  rate_limit limit;
  // When a full burst would be admitted (GCRA: the theoretical arrival time
  // is reached), from then on the state answers as an idle one.
  timestamp dies_at(const rate_state& s) const noexcept {
    if (s.idle() || limit.count == 0 || limit.period.count() <= 0) return timestamp::min();
    const gcra_scaling scaling = gcra_scale(limit.count, static_cast<std::uint64_t>(limit.period.count()));
    return timestamp{std::chrono::milliseconds{ceil_div(unbias(s.to_bits()), scaling.scale)}};
  }
  bool operator()(const rate_state& s, timestamp now) const noexcept { return dead_from(dies_at(s), now); }
};
struct windows_are_dead {
  std::chrono::milliseconds longest;
  // When the latest send leaves the longest window (saturating: RULES.md §4).
  timestamp dies_at(const per_phone_state& s) const noexcept {
    if (s.size() == 0) return timestamp::min();
    return timestamp{std::chrono::milliseconds{sat_add(ms_of(s.recent(0)), longest.count())}};
  }
  bool operator()(const per_phone_state& s, timestamp now) const noexcept { return dead_from(dies_at(s), now); }
};
struct challenge_is_dead {
  code_policy policy;
  // forgettable_at (code.hpp, RULES.md §4): no resend interval, live code,
  // consecutive failures or charged failure budget left to remember.
  timestamp dies_at(const challenge& c) const noexcept { return forgettable_at(policy, c); }
  bool operator()(const challenge& c, timestamp now) const noexcept { return dead_from(dies_at(c), now); }
};

template <std::size_t K>
constexpr std::chrono::milliseconds longest_window(const window_set<K>& set) noexcept {
  std::chrono::milliseconds longest{0};
  for (const auto& w : set.windows)
    if (w.window > longest) longest = w.window;
  return longest;
}

// Store keys: a kind prefix and the id's exact bytes, so no two kinds of
// state can meet and two ids never share a key. Every id the engine keys is
// checked first: AccountId and CustSpaceId 1-20 digits, ContactId at most 66
// bytes (params.hpp), a phone's E.164 form at most 16, and caller.account_id
// as strictly as an AccountId (check_caller_account). The stores still take keys
// of at most engine_key_size bytes: a key is built one byte longer than that
// when the id does not fit, so the store refuses it (key_too_long, the request
// fails closed as state_unavailable) instead of two long ids sharing a cut key
// (RULES.md §9).
inline constexpr std::size_t engine_key_size = 80;
// The kind byte and the id's bytes, copied at once (only view() is read:
// the bytes past size are never looked at).
struct engine_key {
  std::array<char, engine_key_size + 1> bytes;
  std::size_t length = 0;
  std::string_view view() const noexcept { return {bytes.data(), length}; }
  std::size_t size() const noexcept { return length; }
};

inline engine_key make_key(char kind, std::string_view id) noexcept {
  engine_key key;
  const std::size_t n = id.size() < engine_key_size ? id.size() : engine_key_size;
  key.bytes[0] = kind;
  // Fixed-size pieces that overlap at the end instead of one memcpy of n
  // bytes, which g++ inlines as `rep movsq`: its start-up alone costs more
  // than copying an account id or a phone number (a third of a send's key
  // building, measured with perf on bench_engine's send).
  char* const to = key.bytes.data() + 1;
  const char* const from = id.data();
  if (n >= 16) {
    for (std::size_t i = 0; i + 16 < n; i += 16) std::memcpy(to + i, from + i, 16);
    std::memcpy(to + n - 16, from + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(to, from, 8);
    std::memcpy(to + n - 8, from + n - 8, 8);
  } else {
    for (std::size_t i = 0; i < n; ++i) to[i] = from[i];
  }
  key.length = n + 1;
  return key;
}

// Whether facts.caller.account_id keys a state of this request past flow
// control (prepare() has passed): the quota of 1 and 5 when the sender's
// counts, the challenge and quota of 3, EnableRD's challenge when it checks a
// code. The CAMS user's rate (4, 7) is keyed at flow control (admit_flow).
inline bool caller_keys_state(const prepared_request& p, const action_policy& policy) noexcept {
  switch (p.action) {
    case action::send_verification_code_for_bind_secure_mobile_phone:
      return policy.bind_quota_counts == quota_subject::sending_account;
    case action::send_verification_code_for_enable_rd: return true;
    case action::send_phone_verification_for_message_contact:
      return policy.message_contact_quota_counts == quota_subject::sending_account;
    case action::enable_resource_directory: return p.needs_code();
    default: return false;
  }
}

// A caller.account_id that keys state must be an AccountId (check_account_id:
// 1-20 digits, no leading zero), like the AccountId parameters that key the
// same stores: a fact is the service's, but a spelling the check would refuse
// ("01234", "1234 ", an 81-byte text) would give one account a second quota
// and a second challenge, or a key the stores refuse. The refusal is the
// action's identity error where it documents one (CallerIdentityError for 1,
// Ram.PermissionDeny for CAMS), else InvalidParameter naming AccessKeyId
// (RULES.md §9); reason invalid_fact, detail the param_reason, position the byte.
inline verdict check_caller_account(action a, std::string_view account_id) noexcept {
  const param_check c = check_account_id(account_id);
  if (c.ok()) return passed(a);
  const verdict v = missing_caller_account(a);
  const bool common = v.error() == errc::missing_parameter;
  return make_verdict(a, common ? errc::invalid_parameter : v.error(), common ? check_step::syntax : v.step(),
                      verdict_reason::invalid_fact, v.at_fault(), static_cast<std::uint8_t>(c.reason), c.position);
}

// Step 1's subject (RULES.md §9): a caller of an action with flow control
// must be named, by an AccountId, before any rate is keyed on it.
inline verdict check_flow_caller(action a, const facts& f) noexcept {
  const verdict v = check_flow_subject(a, f);
  return v.ok() ? check_caller_account(a, f.caller.account_id) : v;
}

}  // namespace detail

namespace detail {

// What every engine shares, whatever keeps its state (in memory here, on
// Redis in the fleet engine): the configuration with its texts owned, the
// random source, the RequestIds, steps 2-6 with the caller checks of
// RULES.md §9, the refusals of unavailable state and randomness, and the
// rendering of every response. Thread-safe: only counters change.
class engine_front {
 public:
  engine_front(const engine_config& config, std::shared_ptr<random_source>&& random,
               const store_hash_key& request_id_key) noexcept
      : config_(config), random_(std::move(random)), request_id_key_(siphash_key_from_bytes(request_id_key)) {
    // The engine owns its texts: the caller's views may die after this.
    host_id_.append(config.host_id);
    recommend_.append(config.recommend);
    config_.host_id = host_id_.view();
    config_.recommend = recommend_.view();
    build_body_templates();
  }
  engine_front(const engine_front&) = delete;
  engine_front& operator=(const engine_front&) = delete;

  const engine_config& config() const noexcept { return config_; }
  random_source& random() const noexcept { return *random_; }
  std::uint64_t randomness_failures() const noexcept { return randomness_failures_.load(std::memory_order_relaxed); }
  void count_randomness_failure() noexcept { randomness_failures_.fetch_add(1, std::memory_order_relaxed); }

  // The counters of every response finished here, and the randomness
  // failures, copied into `out` (its store fields are the engine's to fill).
  void read_metrics(metrics_snapshot& out) const noexcept {
    counters_.read(out);
    out.randomness_failures = randomness_failures();
  }

  // Starts a response: its RequestId (a failure of the random source counted once, `fell_back`).
  void start(engine_response& out, bool& fell_back) noexcept {
    out.request_id_ = new_request_id(fell_back);
    out.request_id_size_ = out.request_id_.size();
    if (fell_back) count_randomness_failure();
  }

  // A UUID in upper case, the RequestId shape of the documented examples:
  // version 4 from the random source; when it gives no value, version 8
  // (RFC 9562's custom layout) from SipHash-2-4 under the engine's own key of
  // a per-engine counter and the process id, so RequestIds stay unique (also
  // between forked workers) and the failure shows in the logs.
  std::array<char, 36> new_request_id(bool& fell_back) noexcept {
    std::uint64_t words[2] = {0, 0};
    std::uint64_t version = 0x4000;
    const std::optional<std::uint64_t> first = random_->next();
    const std::optional<std::uint64_t> second = first ? random_->next() : std::nullopt;
    if (first && second) {
      words[0] = *first;
      words[1] = *second;
    } else {
      fell_back = true;
      version = 0x8000;
      std::array<std::byte, 17> input{};
      const std::uint64_t n = request_id_counter_.fetch_add(1, std::memory_order_relaxed);
#if PHONEVERIFY_HAS_POSIX
      const auto pid = static_cast<std::uint64_t>(::getpid());
#else
      const std::uint64_t pid = 0;
#endif
      for (std::size_t i = 0; i < 8; ++i) {
        input[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
        input[8 + i] = static_cast<std::byte>((pid >> (8 * i)) & 0xFF);
      }
      for (std::size_t w = 0; w < 2; ++w) {
        input[16] = static_cast<std::byte>(w);
        words[w] = siphash24(request_id_key_,
                                     std::string_view(reinterpret_cast<const char*>(input.data()), input.size()));
      }
    }
    words[0] = (words[0] & ~0xF000ULL) | version;
    words[1] = (words[1] & ~(0xCULL << 60)) | (0x8ULL << 60);
    // 8-4-4-4-12 hex digits: the 32 digits of both words, most significant
    // first, then cut into the groups.
    char digits[32];
    uuid_digits(words[0], words[1], digits);
    std::array<char, 36> text;
    std::memcpy(text.data(), digits, 8);
    text[8] = '-';
    std::memcpy(text.data() + 9, digits + 8, 4);
    text[13] = '-';
    std::memcpy(text.data() + 14, digits + 12, 4);
    text[18] = '-';
    std::memcpy(text.data() + 19, digits + 16, 4);
    text[23] = '-';
    std::memcpy(text.data() + 24, digits + 20, 12);
    return text;
  }

  // The 32 upper-case hex digits of `high` then `low`, most significant
  // first: what hex_digits gives for their four 32-bit halves, with SSE2 all
  // 32 at once (each byte's two nibbles spread into two bytes, then '0' + n,
  // plus 7 for n > 9).
  static void uuid_digits(std::uint64_t high, std::uint64_t low, char* out) noexcept {
#if PHONEVERIFY_CHACHA20_SSE2 && defined(__GNUC__)
    if constexpr (std::endian::native == std::endian::little) {
      // Byte-reversed, so the most significant byte comes first in memory.
      const auto h = static_cast<long long>(__builtin_bswap64(high)), l = static_cast<long long>(__builtin_bswap64(low));
      const __m128i bytes = _mm_set_epi64x(l, h);
      const __m128i nibble = _mm_set1_epi8(0x0F);
      const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), nibble), lo = _mm_and_si128(bytes, nibble);
      const auto digit = [](__m128i n) {
        const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(n, _mm_set1_epi8(9)), _mm_set1_epi8(7));
        return _mm_add_epi8(_mm_add_epi8(n, _mm_set1_epi8('0')), letter);
      };
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), digit(_mm_unpacklo_epi8(hi, lo)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), digit(_mm_unpackhi_epi8(hi, lo)));
      return;
    }
#endif
    const std::uint64_t words[2] = {high, low};
    for (std::size_t half = 0; half < 4; ++half) {
      const std::uint64_t eight = hex_digits(static_cast<std::uint32_t>(words[half / 2] >> (half % 2 == 0 ? 32 : 0)));
      std::memcpy(out + 8 * half, &eight, 8);
    }
  }

  // The eight upper-case hex digits of `x`, most significant first, as the
  // bytes of a word in memory order: each nibble spread into a byte of its
  // own, then '0' + n, plus 7 for n >= 10 (n + 6 carries into bit 4 exactly then).
  static std::uint64_t hex_digits(std::uint32_t x) noexcept {
    std::uint64_t v = x;
    v = (v | (v << 16)) & 0x0000'FFFF'0000'FFFFULL;
    v = (v | (v << 8)) & 0x00FF'00FF'00FF'00FFULL;
    v = (v | (v << 4)) & 0x0F0F'0F0F'0F0F'0F0FULL;  // nibble k of x in byte k
    const std::uint64_t letters = ((v + 0x0606'0606'0606'0606ULL) >> 4) & 0x0101'0101'0101'0101ULL;
    v += 0x3030'3030'3030'3030ULL + letters * 7;
    if constexpr (std::endian::native == std::endian::little) {
      // Byte 7 (the most significant nibble) must come first in memory.
      v = ((v & 0x00FF'00FF'00FF'00FFULL) << 8) | ((v >> 8) & 0x00FF'00FF'00FF'00FFULL);
      v = ((v & 0x0000'FFFF'0000'FFFFULL) << 16) | ((v >> 16) & 0x0000'FFFF'0000'FFFFULL);
      v = (v << 32) | (v >> 32);
    }
    return v;
  }

  // The refusal of a key a store would not take (RULES.md §4: fail closed,
  // nothing forgotten): the action's limit error, reason state_unavailable,
  // retry_at the store's (the earliest instant a slot of the full shard can
  // free; timestamp::max() for a key that never fits).
  static verdict unavailable(action a, check_step step, timestamp retry_at = timestamp::max()) noexcept {
    return {a, info(a).limit_error, step, verdict_reason::state_unavailable, parameter::none, 0, 0, retry_at};
  }

  // A send whose code could not be drawn: the action's limit error (RULES.md
  // §5), nothing charged, no code; a retry in a second may find the entropy back.
  static verdict no_randomness(action a, timestamp now) noexcept {
    return {a, info(a).limit_error, check_step::quota, verdict_reason::randomness_unavailable, parameter::none, 0, 0,
            timestamp{std::chrono::milliseconds{sat_add(ms_of(now), 1000)}}};
  }

  // Sets the verdict of `out`, renders its body and zeroes the rest of its
  // storage, so that no byte of an earlier response or of the stack leaves
  // with this one. The success fields are the ones the action's row names.
  // Every response of every engine ends here, so this is where it is counted
  // (metrics.hpp): one relaxed increment, no lock.
  engine_response& finish(engine_response& out, const verdict& v) const noexcept {
    out.verdict_ = v;
    counters_.count(v);
    if (finish_from_template(out, v)) return out;
    const std::span<char> buffer(out.body_storage_.data(), out.body_storage_.size());
    render_result r;
    if (v.ok()) {
      success_fields fields;
      fields.request_id = out.request_id();
      inline_string<24> expiration;
      inline_string<max_phone_text> phone;
      if (info(v.action()).returns_expiration_date) {
        expiration = format_iso8601(out.issued_.expires_at);
        fields.expiration_date = expiration.view();
      }
      if (info(v.action()).returns_phone_number && out.phone_) {
        phone = format_phone(*out.phone_, info(v.action()).phone_form);
        fields.phone_number = phone.view();
      }
      r = render_success(buffer, config_.format, v.action(), fields);
    } else {
      error_fields fields;
      fields.request_id = out.request_id();
      fields.host_id = config_.host_id;
      fields.recommend = config_.recommend;
      fields.parameter = parameter_name(v.at_fault());
      r = render_error(buffer, config_.format, v.action(), v.error(), fields);
    }
    // Never dropped: the configuration's format is validated and every value a
    // body carries is bounded (engine_body_capacity), so a failure here is a
    // broken invariant of the library, not a request to answer with no body.
    PHONEVERIFY_ASSERT(r.ok(), "engine: a response body did not render (format or capacity invariant broken)");
    out.body_size_ = r.ok() ? r.size : 0;
    std::memset(out.body_storage_.data() + out.body_size_, 0, out.body_storage_.size() - out.body_size_);
    return out;
  }

  // A body rendered once per engine with placeholders in its holes: the
  // RequestId and, for a success that carries one, the ExpirationDate. Every
  // other byte of such a body depends only on the engine's configuration and
  // on the verdict's action and error, and both holes hold texts that need no
  // escaping in either format (hex digits and '-'; format_iso8601's digits
  // and separators), so copying the pieces around the response's own texts
  // gives the very bytes render_error / render_success would write, without
  // walking and escaping every field again on each response.
  struct body_template {
    std::uint32_t offset = 0;       // of the first piece in template_text_
    std::uint16_t before_id = 0;    // bytes before the RequestId
    std::uint16_t after_id = 0;     // bytes after it, up to the ExpirationDate or the end
    std::uint16_t after_date = 0;   // bytes after the ExpirationDate (with_date)
    bool with_date = false;
    bool valid = false;
  };
  static constexpr std::size_t id_hole = 36;
  static constexpr std::size_t date_hole = 24;

  // The template of a verdict, or null where the body is rendered field by
  // field: a message with a parameter ("%s"), the success of an action that
  // returns a phone number, a value no enumerator names.
  const body_template* template_of(const verdict& v) const noexcept {
    const auto a = static_cast<std::size_t>(v.action());
    if (a >= action_count) return nullptr;
    const body_template* t = nullptr;
    if (v.ok()) {
      t = &success_templates_[a];
    } else {
      const auto e = static_cast<std::size_t>(v.error());
      if (e >= errc_count) return nullptr;
      t = &error_templates_[a * errc_count + e];
    }
    return t->valid ? t : nullptr;
  }

  // Writes the body of `v` from its template and zeroes the rest of the
  // storage, as finish() does; false (nothing written) without a template.
  bool finish_from_template(engine_response& out, const verdict& v) const noexcept {
    const body_template* t = template_of(v);
    if (t == nullptr || out.request_id_size_ != id_hole) return false;
    char* body = out.body_storage_.data();
    const char* text = template_text_.get() + t->offset;
    std::size_t at = 0;
    std::memcpy(body, text, t->before_id);
    at += t->before_id;
    std::memcpy(body + at, out.request_id_.data(), id_hole);
    at += id_hole;
    std::memcpy(body + at, text + t->before_id, t->after_id);
    at += t->after_id;
    if (t->with_date) {
      const inline_string<24> expiration = format_iso8601(out.issued_.expires_at);
      if (expiration.size() != date_hole) return false;  // never: its shape is fixed; the render below rewrites it all
      std::memcpy(body + at, expiration.data(), date_hole);
      at += date_hole;
      std::memcpy(body + at, text + t->before_id + t->after_id, t->after_date);
      at += t->after_date;
    }
    out.body_size_ = at;
    std::memset(body + at, 0, out.body_storage_.size() - at);
    return true;
  }

  // Renders every error body (each action with each error) and the success
  // body of every action that returns no phone number, each twice with other
  // placeholder texts in its holes, and keeps those whose bytes outside the
  // holes are the same in both: the pieces around the holes. Without the
  // memory (or should a render fail), every body is rendered field by field.
  void build_body_templates() noexcept {
    struct scratch {
      std::array<char, engine_body_capacity> first, second, third;
    };
    const std::unique_ptr<scratch> s(new (std::nothrow) scratch);
    if (s == nullptr) return;
    constexpr std::string_view id0 = "000000000000000000000000000000000000";
    constexpr std::string_view id1 = "111111111111111111111111111111111111";
    constexpr std::string_view date0 = "0000-00-00T00:00:00.000Z";
    constexpr std::string_view date1 = "1111-11-11T11:11:11.111Z";
    static_assert(id0.size() == id_hole && id1.size() == id_hole && date0.size() == date_hole &&
                  date1.size() == date_hole);
    const auto render = [&](std::array<char, engine_body_capacity>& into, std::size_t a, std::size_t e,
                            std::string_view id, std::string_view date) -> std::string_view {
      const std::span<char> buffer(into.data(), into.size());
      render_result r;
      if (e == errc_count) {
        success_fields fields;
        fields.request_id = id;
        if (info(static_cast<action>(a)).returns_expiration_date) fields.expiration_date = date;
        r = render_success(buffer, config_.format, static_cast<action>(a), fields);
      } else {
        error_fields fields;
        fields.request_id = id;
        fields.host_id = config_.host_id;
        fields.recommend = config_.recommend;
        r = render_error(buffer, config_.format, static_cast<action>(a), static_cast<errc>(e), fields);
      }
      return r.ok() ? std::string_view(into.data(), r.size) : std::string_view{};
    };
    // Where `x` and `y` first differ (their common size when they do not).
    const auto mismatch = [](std::string_view x, std::string_view y) {
      std::size_t i = 0;
      while (i < x.size() && i < y.size() && x[i] == y[i]) ++i;
      return i;
    };
    // One pass measures the text, the next writes it.
    std::size_t total = 0;
    for (int pass = 0; pass < 2; ++pass) {
      std::size_t at = 0;
      for (std::size_t a = 0; a < action_count; ++a) {
        for (std::size_t e = 0; e <= errc_count; ++e) {  // errc_count: the success body
          body_template t;
          const bool success = e == errc_count;
          if (success ? info(static_cast<action>(a)).returns_phone_number
                      : (e == 0 || message(static_cast<errc>(e), static_cast<action>(a)).find("%s") != std::string_view::npos))
            continue;
          const bool dated = success && info(static_cast<action>(a)).returns_expiration_date;
          const std::string_view x = render(s->first, a, e, id0, date0);
          const std::string_view y = render(s->second, a, e, id1, date0);
          if (x.empty() || x.size() != y.size()) continue;
          const std::size_t id_at = mismatch(x, y);
          if (id_at + id_hole > x.size() || x.substr(id_at, id_hole) != id0 || y.substr(id_at, id_hole) != id1 ||
              x.substr(id_at + id_hole) != y.substr(id_at + id_hole))
            continue;
          std::size_t date_at = x.size();
          if (dated) {
            const std::string_view z = render(s->third, a, e, id0, date1);
            if (z.size() != x.size()) continue;
            date_at = mismatch(x, z);
            if (date_at < id_at + id_hole || date_at + date_hole > x.size() || x.substr(date_at, date_hole) != date0 ||
                z.substr(date_at, date_hole) != date1 || x.substr(date_at + date_hole) != z.substr(date_at + date_hole) ||
                x.substr(0, date_at) != z.substr(0, date_at))
              continue;
          }
          const std::size_t pieces = x.size() - id_hole - (dated ? date_hole : 0);
          if (x.size() > 0xFFFF || at + pieces > 0xFFFF'FFFFu) continue;
          t.offset = static_cast<std::uint32_t>(at);
          t.before_id = static_cast<std::uint16_t>(id_at);
          t.after_id = static_cast<std::uint16_t>(date_at - id_at - id_hole);
          t.after_date = static_cast<std::uint16_t>(dated ? x.size() - date_at - date_hole : 0);
          t.with_date = dated;
          t.valid = true;
          if (pass == 1) {
            char* to = template_text_.get() + at;
            std::memcpy(to, x.data(), id_at);
            std::memcpy(to + id_at, x.data() + id_at + id_hole, t.after_id);
            if (dated) std::memcpy(to + id_at + t.after_id, x.data() + date_at + date_hole, t.after_date);
            (success ? success_templates_[a] : error_templates_[a * errc_count + e]) = t;
          }
          at += pieces;
        }
      }
      if (pass == 0) {
        total = at;
        template_text_.reset(new (std::nothrow) char[total == 0 ? 1 : total]);
        if (template_text_ == nullptr) return;
      }
    }
  }

  // An ok send: the code to deliver, then the success body.
  engine_response& finish_issued(engine_response& out, action a, const issued_code& issued) const noexcept {
    out.issued_ = issued;
    return finish(out, verdict{a});
  }

  // Steps 2-6 and the caller account that keys state (RULES.md §9): the
  // prepared request, or the verdict `out` is finished with.
  template <class Request>
  preparation prepare_request(const Request& request, const facts& f, engine_response& out) const noexcept {
    const preparation prepared = prepare(request, f, config_.policy);
    if (!prepared) return prepared;
    if (prepared->binding) out.phone_ = prepared->binding->phone;
    if (caller_keys_state(*prepared, config_.policy))
      if (const verdict v = check_caller_account(Request::id, f.caller.account_id); !v) return v;
    return prepared;
  }

 private:
  engine_config config_;
  inline_string<engine_max_host_id> host_id_;
  inline_string<engine_max_recommend> recommend_;
  std::shared_ptr<random_source> random_;
  siphash_key request_id_key_;
  std::atomic<std::uint64_t> request_id_counter_{0};
  std::atomic<std::uint64_t> randomness_failures_{0};
  // The body templates (build_body_templates): the pieces of every template
  // in one block, and where each one's are.
  std::unique_ptr<char[]> template_text_;
  std::array<body_template, action_count * errc_count> error_templates_{};
  std::array<body_template, action_count> success_templates_{};
  // Written by every response, in stripes of their own on the heap
  // (metrics_counters), so counting never invalidates config_, which every
  // call reads, nor the line another core counts on.
  mutable metrics_counters counters_;
};

}  // namespace detail

// ---------------------------------------------------------------------------
// The engine

class engine;

namespace detail {

// Whether `e` is a failure: an enumerator other than the first (ok), or a
// value whose ok() is false.
template <class E>
constexpr bool is_error(const E& e) noexcept {
  if constexpr (std::is_enum_v<E>) {
    return e != E{};
  } else {
    return !e.ok();
  }
}

// An engine built at start-up, or why there is none, shaped like result:
// has_value(), explicit operator bool, error() (ok when it holds the
// engine, also after release()), and *, -> reach it. Asking a failure for
// its value stops with describe(error())'s sentence, so a misconfiguration
// still names its field. Every engine's create() answers one.
template <class T, class E>
class owned_or_error {
 public:
  // A success; `built` must not be null.
  owned_or_error(std::unique_ptr<T> built) noexcept : value_(std::move(built)) {  // NOLINT: implicit like expected
    PHONEVERIFY_ASSERT(value_ != nullptr, "a start-up result: a success needs an engine");
  }
  // A failure; `error` must not be ok.
  owned_or_error(const E& error) noexcept : error_(error) {  // NOLINT: implicit like unexpected
    PHONEVERIFY_ASSERT(is_error(error), "a start-up result: a failure needs an error other than ok");
  }

  bool has_value() const noexcept { return value_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  const E& error() const noexcept { return error_; }

  T& value() const noexcept {
    PHONEVERIFY_ASSERT(has_value(), is_error(error_) ? describe(error_).data() : "a start-up result: value() after release()");
    return *value_;
  }
  T& operator*() const noexcept { return value(); }
  T* operator->() const noexcept { return &value(); }

  // Hands the engine over (null for a failure): keep it for the service's life.
  std::unique_ptr<T> release() noexcept { return std::move(value_); }

 private:
  std::unique_ptr<T> value_;
  E error_{};
};

}  // namespace detail

// What engine::create answers: the engine, or the config_error that kept it
// from being built (describe() it in the start-up log).
using engine_or_error = detail::owned_or_error<engine, config_error>;

// ---------------------------------------------------------------------------
// Snapshots: a restart without fresh budgets (RULES.md §4: a forgotten key
// never comes back with a fresh budget, across a restart too)
//
// engine::write_snapshot(sink) writes every entry alive at the engine's time
// through the caller's sink; engine::restore(config, source) builds a new
// engine and loads it through the caller's source. The library opens no
// file: a sink is `bool(std::span<const std::byte>)` (false: stop, the
// snapshot is incomplete), a source `std::optional<std::size_t>(std::span<std::byte>
// into)` (how many bytes it wrote into `into`, 0 at the end, none on a read
// error). The format, big-endian, version 1:
//   header, 32 bytes:
//     0  8   magic "PVSNAP\r\n" (a text-mode transfer that rewrites line ends breaks it)
//     8  u32 format version, 1
//     12 u32 reserved, 0
//     16 u64 fingerprint of the configuration the state means something under
//            (snapshot_fingerprint: the policy's limits, UTC offset, code
//            policy, whose quota counts, and the capacity)
//     24 i64 the engine's time when it was written (ms since 1970, UTC)
//   records, one per live entry:
//     u8 kind (1 quota, 2 rate, 3 per-phone windows, 4 challenge)
//     u8 key size (1 to 80), the key (the engine's store key), then the
//     state's own layout (to_bytes: 16, 16, 96 or 64 bytes, RULES.md §9)
//   trailer, 17 bytes: u8 0, u64 the number of records, u64 CRC-64/XZ of
//     every byte before it (an integrity check, not a signature).
// Loading refuses (snapshot_error) bytes that are truncated, corrupt, of
// another version or written under another configuration, and loads into an
// engine of its own that is thrown away on any refusal: nothing is loaded
// partially. An entry that died since it was written (the stores' death
// tests below, at the new engine's time) is dropped, nothing else; and the new
// engine's time starts at the snapshot's, so a clock behind the old one
// grants nothing (RULES.md §4).

enum class snapshot_error : std::uint8_t {
  ok,
  write_failed,         // the sink refused bytes: what it holds is incomplete, never load it
  read_failed,          // the source reported an error
  truncated,            // the bytes end before the snapshot does
  not_a_snapshot,       // the bytes do not start with the magic
  unsupported_version,  // a format version this library does not read
  config_mismatch,      // written by an engine whose limits, offset, code policy or capacity differ
  corrupt,              // checksum, record count, kind, key or state bytes that the writer cannot produce
  capacity_exceeded,    // the live entries do not fit the new engine's stores
  config_refused,       // restore(): the configuration builds no engine (restored_engine::config_problem())
};

// A sentence for the start-up log. "" for a value that is no enumerator.
constexpr std::string_view describe(snapshot_error e) noexcept {
  switch (e) {
    case snapshot_error::ok: return "ok";
    case snapshot_error::write_failed: return "snapshot: the sink refused bytes: the snapshot is incomplete";
    case snapshot_error::read_failed: return "snapshot: the source reported a read error: nothing was loaded";
    case snapshot_error::truncated: return "snapshot: the bytes end before the snapshot does: nothing was loaded";
    case snapshot_error::not_a_snapshot: return "snapshot: the bytes are not a phoneverify snapshot: nothing was loaded";
    case snapshot_error::unsupported_version:
      return "snapshot: written in a format version this library does not read: nothing was loaded";
    case snapshot_error::config_mismatch:
      return "snapshot: written under other limits, UTC offset, code policy or capacity: nothing was loaded";
    case snapshot_error::corrupt:
      return "snapshot: the checksum, record count or a record is wrong (corrupt bytes): nothing was loaded";
    case snapshot_error::capacity_exceeded:
      return "snapshot: its live entries do not fit the engine's stores: nothing was loaded; give more capacity "
             "headroom";
    case snapshot_error::config_refused:
      return "snapshot: the configuration builds no engine: see restored_engine::config_problem()";
  }
  return "";
}

// What write_snapshot calls with each chunk of bytes, in order (false: stop).
// It runs under one store lock at a time: keep it quick and never call the
// engine from it (that deadlocks).
template <class S>
concept snapshot_sink = std::invocable<S&, std::span<const std::byte>> &&
                        std::convertible_to<std::invoke_result_t<S&, std::span<const std::byte>>, bool>;

// What restore reads from: fills a prefix of `into` and says how many bytes
// (0 at the end), or none on a read error.
template <class S>
concept snapshot_source = std::invocable<S&, std::span<std::byte>> &&
                          std::convertible_to<std::invoke_result_t<S&, std::span<std::byte>>, std::optional<std::size_t>>;

// A source over bytes in memory (a file read whole, a test, a fuzzer).
struct snapshot_bytes_source {
  std::span<const std::byte> bytes;
  std::size_t at = 0;
  std::optional<std::size_t> operator()(std::span<std::byte> into) noexcept {
    const std::size_t n = std::min(into.size(), bytes.size() - at);
    if (n != 0) std::memcpy(into.data(), bytes.data() + at, n);
    at += n;
    return n;
  }
};

inline constexpr std::uint32_t snapshot_format_version = 1;
inline constexpr std::size_t snapshot_header_size = 32;
inline constexpr std::size_t snapshot_trailer_size = 17;

namespace detail {

// CRC-64/XZ (reflected polynomial 0xC96C5795D7870F42, initial value and final
// xor all ones; check value of "123456789": 0x995DC9BBDF1939FA), table-driven.
inline constexpr std::array<std::uint64_t, 256> crc64_table = [] {
  std::array<std::uint64_t, 256> table{};
  for (std::uint64_t i = 0; i < 256; ++i) {
    std::uint64_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? (c >> 1) ^ 0xC96C5795D7870F42ULL : c >> 1;
    table[i] = c;
  }
  return table;
}();

struct crc64 {
  std::uint64_t state = ~std::uint64_t{0};
  constexpr void update(std::span<const std::byte> bytes) noexcept {
    for (std::byte b : bytes) state = crc64_table[(state ^ static_cast<std::uint64_t>(b)) & 0xFFu] ^ (state >> 8);
  }
  constexpr std::uint64_t value() const noexcept { return ~state; }
};

inline constexpr std::array<std::byte, 8> snapshot_magic = {std::byte{'P'}, std::byte{'V'}, std::byte{'S'},
                                                            std::byte{'N'}, std::byte{'A'}, std::byte{'P'},
                                                            std::byte{'\r'}, std::byte{'\n'}};

enum class snapshot_record : std::uint8_t { end = 0, quota = 1, rate = 2, windows = 3, challenge = 4 };

// The record's state size by kind.
constexpr std::size_t snapshot_state_size(snapshot_record kind) noexcept {
  switch (kind) {
    case snapshot_record::quota: return daily_usage_bytes_size;
    case snapshot_record::rate: return rate_state_bytes_size;
    case snapshot_record::windows: return sliding_window_state_bytes_size<per_phone_state::capacity()>;
    case snapshot_record::challenge: return challenge_bytes_size;
    case snapshot_record::end: break;
  }
  return 0;
}

constexpr void put_be(std::span<std::byte> out, std::size_t at, std::size_t width, std::uint64_t v) noexcept {
  for (std::size_t i = 0; i < width; ++i) out[at + i] = static_cast<std::byte>((v >> (8 * (width - 1 - i))) & 0xFFu);
}
constexpr std::uint64_t get_be(std::span<const std::byte> in, std::size_t at, std::size_t width) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<std::uint64_t>(in[at + i]);
  return v;
}

}  // namespace detail

// The fingerprint a snapshot carries of the configuration its state means
// something under: a daily count is of a day at one UTC offset and against
// one limit, a window's times against its windows, a challenge's counts
// against one code policy, the keys against whose quota counts, and the
// capacity bounds what fits. The site, body format and texts change no
// stored state and are not in it. (The HMAC key is not either: a challenge
// written under another key holds codes that no longer match.)
constexpr std::uint64_t snapshot_fingerprint(const engine_config& config) noexcept {
  detail::crc64 crc;
  const auto put = [&crc](std::uint64_t v) {
    std::array<std::byte, 8> bytes{};
    detail::put_be(bytes, 0, 8, v);
    crc.update(bytes);
  };
  const auto put_signed = [&put](std::int64_t v) { put(static_cast<std::uint64_t>(v)); };
  const action_policy& p = config.policy;
  put(snapshot_format_version);
  put(p.daily.limit);
  put_signed(p.daily.utc_offset.count());
  put(static_cast<std::uint64_t>(p.bind_quota_counts));
  put(static_cast<std::uint64_t>(p.message_contact_quota_counts));
  put(p.cams_rate.count);
  put_signed(p.cams_rate.period.count());
  for (const sliding_window& w : p.per_phone.windows) {
    put(w.count);
    put_signed(w.window.count());
  }
  put(p.code.digits);
  put_signed(p.code.validity.count());
  put(p.code.max_attempts);
  put_signed(p.code.resend_interval.count());
  put(p.code.max_consecutive_failures);
  put_signed(p.code.lockout.count());
  put(p.code.failure_budget);
  put_signed(p.code.failure_budget_window.count());
  put(config.capacity);
  return crc.value();
}

// What a load kept: the records read, the entries loaded and those dropped
// because they died between the snapshot's time and the new engine's.
struct snapshot_load_stats {
  std::size_t records = 0;
  std::size_t loaded = 0;
  std::size_t dropped = 0;
  timestamp written_at{};
  // Loaded live codes whose issuing key the engine's ring lacks: they read as
  // having no code (RULES.md §5, key rotation). Not 0 when a restart dropped a key early.
  std::size_t live_codes_without_key = 0;
};

// What engine::restore answers: the engine with the snapshot loaded, or why
// there is none (snapshot_error; for config_refused, config_problem() names
// the field). Shaped like engine_or_error.
class restored_engine : public detail::owned_or_error<engine, snapshot_error> {
  using base = detail::owned_or_error<engine, snapshot_error>;

 public:
  restored_engine(std::unique_ptr<engine> built, const snapshot_load_stats& stats) noexcept
      : base(std::move(built)), stats_(stats) {}
  restored_engine(snapshot_error error) noexcept : base(error) {  // NOLINT: implicit like unexpected
    PHONEVERIFY_ASSERT(error != snapshot_error::config_refused,
                       "restored_engine: config_refused comes with its config_error");
  }
  restored_engine(config_error error) noexcept  // NOLINT: implicit like unexpected
      : base(snapshot_error::config_refused), config_error_(error) {
    PHONEVERIFY_ASSERT(error != config_error::ok, "restored_engine: a failure needs an error other than ok");
  }

  config_error config_problem() const noexcept { return config_error_; }
  const snapshot_load_stats& stats() const noexcept { return stats_; }

 private:
  config_error config_error_ = config_error::ok;
  snapshot_load_stats stats_{};
};

namespace detail {

// Buffers a snapshot's bytes in chunks of 4 KiB for the sink and keeps the
// running checksum; after the sink refuses once, writes nothing more.
template <class Sink>
class snapshot_writer {
 public:
  explicit snapshot_writer(Sink& sink) noexcept : sink_(sink) {}
  void put(std::span<const std::byte> bytes, bool checksummed = true) {
    if (checksummed) crc_.update(bytes);
    while (!bytes.empty() && !failed_) {
      const std::size_t n = std::min(bytes.size(), buffer_.size() - size_);
      std::memcpy(buffer_.data() + size_, bytes.data(), n);
      size_ += n;
      bytes = bytes.subspan(n);
      if (size_ == buffer_.size()) flush();
    }
  }
  void put_be(std::uint64_t v, std::size_t width, bool checksummed = true) {
    std::array<std::byte, 8> bytes{};
    detail::put_be(bytes, 0, width, v);
    put(std::span<const std::byte>(bytes.data(), width), checksummed);
  }
  void flush() {
    if (failed_ || size_ == 0) return;
    if (!static_cast<bool>(std::invoke(sink_, std::span<const std::byte>(buffer_.data(), size_)))) failed_ = true;
    size_ = 0;
  }
  std::uint64_t checksum() const noexcept { return crc_.value(); }
  bool failed() const noexcept { return failed_; }

 private:
  Sink& sink_;
  std::array<std::byte, 4096> buffer_{};
  std::size_t size_ = 0;
  bool failed_ = false;
  crc64 crc_;
};

// Reads a snapshot through the source in chunks of 4 KiB, keeping the
// running checksum of what it hands out. A source that answers more bytes
// than it was given room for is broken: a read error.
template <class Source>
class snapshot_reader {
 public:
  explicit snapshot_reader(Source& source) noexcept : source_(source) {}
  // Copies up to out.size() bytes; fewer only at the end or on an error (failed()).
  std::size_t read(std::span<std::byte> out, bool checksummed = true) {
    std::size_t done = 0;
    while (done < out.size()) {
      if (at_ == size_ && !fill()) break;
      const std::size_t n = std::min(out.size() - done, size_ - at_);
      std::memcpy(out.data() + done, buffer_.data() + at_, n);
      at_ += n;
      done += n;
    }
    if (checksummed) crc_.update(out.first(done));
    return done;
  }
  // Whether the source holds nothing more.
  bool at_end() { return at_ == size_ && !fill(); }
  bool failed() const noexcept { return failed_; }
  std::uint64_t checksum() const noexcept { return crc_.value(); }

 private:
  bool fill() {
    if (ended_ || failed_) return false;
    const std::optional<std::size_t> n = std::invoke(source_, std::span<std::byte>(buffer_.data(), buffer_.size()));
    if (!n || *n > buffer_.size()) {
      failed_ = true;
      return false;
    }
    if (*n == 0) {
      ended_ = true;
      return false;
    }
    at_ = 0;
    size_ = *n;
    return true;
  }
  Source& source_;
  std::array<std::byte, 4096> buffer_{};
  std::size_t at_ = 0;
  std::size_t size_ = 0;
  bool ended_ = false;
  bool failed_ = false;
  crc64 crc_;
};

}  // namespace detail

namespace detail {

// The seven per-action methods of an engine (RULES.md §1), each one line into
// its Engine's do_send or do_verify, so that every engine (this one, the
// fleet engine) has exactly the same methods and answers.
template <class Engine>
class action_methods {
 public:
  engine_response send_verification_code_for_bind_secure_mobile_phone(
      const send_verification_code_for_bind_secure_mobile_phone_request& r, const facts& f) {
    return self().do_send(r, f);
  }
  engine_response bind_secure_mobile_phone(const bind_secure_mobile_phone_request& r, const facts& f) {
    return self().do_verify(r, f);
  }
  engine_response send_verification_code_for_enable_rd(const send_verification_code_for_enable_rd_request& r,
                                                       const facts& f) {
    return self().do_send(r, f);
  }
  engine_response get_migration_verify_code(const get_migration_verify_code_request& r, const facts& f) {
    return self().do_send(r, f);
  }
  engine_response send_phone_verification_for_message_contact(
      const send_phone_verification_for_message_contact_request& r, const facts& f) {
    return self().do_send(r, f);
  }
  engine_response enable_resource_directory(const enable_resource_directory_request& r, const facts& f) {
    return self().do_verify(r, f);
  }
  engine_response chatapp_migration_verified(const chatapp_migration_verified_request& r, const facts& f) {
    return self().do_verify(r, f);
  }
 protected:
  action_methods() = default;

 private:
  Engine& self() noexcept { return static_cast<Engine&>(*this); }
};

}  // namespace detail

class engine : public detail::action_methods<engine> {
  friend class detail::action_methods<engine>;

 public:
  // An engine with the configuration's site, policies and key, reading time
  // from `clock` and randomness from `random` (defaults: the system clock and
  // a per-thread ChaCha20 keyed from the operating system's entropy). Draws
  // its stores' hash keys and allocates all its stores here. A configuration
  // that validate() refuses, an empty clock, a null random source or one that
  // gives no value for the keys is a precondition violation
  // (PHONEVERIFY_ASSERT with describe()'s sentence): it never builds a
  // half-working engine. create() answers the config_error instead.
  explicit engine(const engine_config& config, clock_function clock = system_now,
                  std::shared_ptr<random_source> random = std::make_shared<system_random_source>())
      : engine(checked_keys(config, clock, random), config, std::move(clock), std::move(random)) {}

  // The engine of `config`, or why there is none (validate(config), then
  // no_clock, no_random_source, random_source_failed): a misconfiguration or a
  // failing entropy source fails at start-up, never on the wire (RULES.md §9).
  static engine_or_error create(const engine_config& config, clock_function clock = system_now,
                                std::shared_ptr<random_source> random = std::make_shared<system_random_source>());

  // The problem of the engine's arguments: validate(config), then the clock
  // and the random source.
  static config_error validate_arguments(const engine_config& config, const clock_function& clock,
                                         const std::shared_ptr<random_source>& random) noexcept {
    if (const config_error e = validate(config); e != config_error::ok) return e;
    if (!clock) return config_error::no_clock;
    if (random == nullptr) return config_error::no_random_source;
    return config_error::ok;
  }

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // The configuration the engine was built from (after rotate_keys, its key
  // or keys are no longer the ring in force: see primary_key_id, holds_key).
  const engine_config& config() const noexcept { return front_.config(); }

  // One method per action (RULES.md §1), on the site of config().policy.sites:
  // inherited from detail::action_methods.

  // Drops every entry that can no longer deny at the engine's time (now()),
  // as the stores also do on demand when a shard fills; returns how many went.
  std::size_t evict_dead() {
    const timestamp t = now();
    return quotas_.evict_dead(t) + rates_.evict_dead(t) + windows_.evict_dead(t) + challenges_.evict_dead(t);
  }

  // The engine's time: the latest instant its clock has shown it, read from
  // the clock now (RULES.md §4: time going back never grants budget). Every
  // decision and every eviction happens at this time, so a clock that steps
  // back after a sweep never meets a day or a window the sweep dropped.
  // (The clock's reading itself when config().high_water_time is false.)
  timestamp now() {
    const std::int64_t t = detail::ms_of(clock_());
    if (!config().high_water_time) return timestamp{std::chrono::milliseconds{t}};
    std::int64_t seen = high_water_.ms.load(std::memory_order_relaxed);
    while (t > seen && !high_water_.ms.compare_exchange_weak(seen, t, std::memory_order_relaxed)) {
    }
    return timestamp{std::chrono::milliseconds{t > seen ? t : seen}};
  }

  // Replaces the HMAC key ring (RULES.md §5, key rotation). The codes already
  // sent keep being checked under the key that issued them while that key is
  // in `next`; new codes are issued under next's primary from the return on.
  // Refused (nothing changes): a ring that fails validate(); one without
  // the primary key in force (demote it first: make the new key primary in one
  // rotation, retire the old one in a later one); and, with live_codes::refuse,
  // a key leaving (absent from `next`, or another key under its id) while
  // codes it issued are live, with their count and last expiry. With
  // live_codes::drop those codes read as having no code from then on.
  // Costs one pass over the challenge store; requests are served meanwhile.
  rotation_report rotate_keys(const key_ring& next, live_codes leaving = live_codes::refuse) {
    std::lock_guard<std::mutex> serial(rotation_mutex_);
    rotation_report report;
    if (const key_ring_error e = next.validate(); e != key_ring_error::ok) {
      report.error = rotation_error::ring_invalid;
      report.ring_problem = e;
      return report;
    }
    const key_ring& current = *keys_;  // only this function replaces it, under rotation_mutex_
    if (!detail::same_key(current, next, current.primary_id())) {
      report.error = rotation_error::retiring_primary;
      return report;
    }
    const timestamp t = now();
    std::array<bool, 256> in_use{};
    challenges_.for_each_live(t, [&](std::string_view, const challenge& c) {
      if (c.state() != challenge_state::live || t >= c.expires_at()) return;
      if (!current.contains(c.issuing_key()) || detail::same_key(current, next, c.issuing_key())) return;
      ++report.live_codes_of_leaving_keys;
      in_use[c.issuing_key()] = true;
      if (c.expires_at() > report.last_expiry) report.last_expiry = c.expires_at();
    });
    for (bool used : in_use) report.leaving_keys_in_use += used ? 1 : 0;
    if (report.live_codes_of_leaving_keys != 0 && leaving == live_codes::refuse) {
      report.error = rotation_error::key_has_live_codes;
      return report;
    }
    std::unique_ptr<key_ring, detail::ring_wiper> fresh(new key_ring(next));
    keys_in_force_.store(fresh.get(), std::memory_order_release);
    challenges_.lock_each_shard_once();  // every request that read the old ring has finished
    keys_.swap(fresh);                   // `fresh` now holds the old ring: wiped and freed here
    return report;
  }

  // The id new codes are issued under, and whether the ring in force holds `id`.
  key_id primary_key_id() const {
    std::lock_guard<std::mutex> serial(rotation_mutex_);
    return keys_->primary_id();
  }
  bool holds_key(key_id id) const {
    std::lock_guard<std::mutex> serial(rotation_mutex_);
    return keys_->contains(id);
  }

  // Ends a binding's lockout or pending code (a support action, RULES.md §5:
  // "or until the service resets the challenge").
  void reset_challenge(action sending_action, std::string_view account_id) {
    challenges_.erase(challenge_key(sending_action, account_id).view());
  }

  // The counters of every response since the engine was built and the
  // occupancy of its stores (metrics.hpp; render_metrics writes them in the
  // Prometheus text format). Reading takes each shard lock once for the
  // sizes; the counters are read without a lock.
  void metrics(metrics_snapshot& out) const {
    front_.read_metrics(out);
    out.has_stores = true;
    out.stores[static_cast<std::size_t>(store_kind::quota)] = {quotas_.size(), quotas_.capacity()};
    out.stores[static_cast<std::size_t>(store_kind::rate)] = {rates_.size(), rates_.capacity()};
    out.stores[static_cast<std::size_t>(store_kind::windows)] = {windows_.size(), windows_.capacity()};
    out.stores[static_cast<std::size_t>(store_kind::challenge)] = {challenges_.size(), challenges_.capacity()};
  }
  // The same as a value (about 54 KB: keep it off small stacks).
  metrics_snapshot metrics() const {
    metrics_snapshot out;
    metrics(out);
    return out;
  }

  engine_stats stats() const {
    return {quotas_.size(), rates_.size(), windows_.size(), challenges_.size(),
            front_.randomness_failures()};
  }

  // Writes every entry alive at the engine's time through `sink` (the format
  // above), one store lock at a time, so requests keep being served. Each
  // entry is written whole; a send that completes while the snapshot is
  // being written may be in some of its entries and not in others (challenges
  // are written first, the charges after, so such a send is at worst charged
  // with no code). Taken when requests are drained (before a planned
  // restart), it is exact. write_failed when the sink refused bytes.
  template <snapshot_sink Sink>
  snapshot_error write_snapshot(Sink&& sink) {
    detail::snapshot_writer<std::remove_reference_t<Sink>> out(sink);
    const timestamp t = now();
    out.put(detail::snapshot_magic);
    out.put_be(snapshot_format_version, 4);
    out.put_be(0, 4);
    out.put_be(snapshot_fingerprint(config()), 8);
    out.put_be(static_cast<std::uint64_t>(detail::ms_of(t)), 8);
    std::uint64_t records = 0;
    const auto record = [&](detail::snapshot_record kind, std::string_view key, std::span<const std::byte> state) {
      out.put_be(static_cast<std::uint8_t>(kind), 1);
      out.put_be(key.size(), 1);
      out.put(std::as_bytes(std::span<const char>(key.data(), key.size())));
      out.put(state);
      ++records;
    };
    challenges_.for_each_live(t, [&](std::string_view key, const challenge& c) {
      record(detail::snapshot_record::challenge, key, to_bytes(c));
    });
    windows_.for_each_live(t, [&](std::string_view key, const per_phone_state& w) {
      record(detail::snapshot_record::windows, key, to_bytes(w));
    });
    quotas_.for_each_live(t, [&](std::string_view key, const daily_usage& u) {
      record(detail::snapshot_record::quota, key, to_bytes(u));
    });
    rates_.for_each_live(t, [&](std::string_view key, const rate_state& r) {
      record(detail::snapshot_record::rate, key, to_bytes(r));
    });
    out.put_be(static_cast<std::uint8_t>(detail::snapshot_record::end), 1);
    out.put_be(records, 8);
    out.put_be(out.checksum(), 8, false);
    out.flush();
    return out.failed() ? snapshot_error::write_failed : snapshot_error::ok;
  }

  // A new engine of `config` (as create() builds it) with the snapshot that
  // `source` reads loaded, or the snapshot_error that refused it (for a
  // configuration create() refuses, config_refused and config_problem()).
  // Every check runs before the engine is handed out and a refused snapshot
  // throws the engine away, so nothing is ever loaded partially. Entries dead
  // at the new engine's time are dropped (stats().dropped); its time starts
  // at the snapshot's (RULES.md §4: a clock behind the old engine's grants
  // nothing). The metrics start at zero.
  template <snapshot_source Source>
  static restored_engine restore(const engine_config& config, Source&& source, clock_function clock = system_now,
                                 std::shared_ptr<random_source> random = std::make_shared<system_random_source>()) {
    engine_or_error built = create(config, std::move(clock), std::move(random));
    if (!built) return built.error();
    std::unique_ptr<engine> fresh = built.release();
    snapshot_load_stats stats;
    const snapshot_error e = fresh->load_snapshot(source, stats);
    if (e != snapshot_error::ok) return e;  // `fresh` and whatever it loaded go here
    const timestamp t = fresh->now();
    const key_ring& ring = *fresh->keys_;
    fresh->challenges_.for_each_live(t, [&](std::string_view, const challenge& c) {
      if (c.state() == challenge_state::live && t < c.expires_at() && !ring.contains(c.issuing_key()))
        ++stats.live_codes_without_key;
    });
    return {std::move(fresh), stats};
  }

 private:
  using quota_store = sharded_store<daily_usage, detail::daily_usage_is_dead, detail::engine_key_size>;
  using rate_store = sharded_store<rate_state, detail::rate_state_is_dead, detail::engine_key_size>;
  using window_store = sharded_store<per_phone_state, detail::windows_are_dead, detail::engine_key_size>;
  using challenge_store = sharded_store<challenge, detail::challenge_is_dead, detail::engine_key_size>;

  // The secrets of one engine: a SipHash key per store (so that clients
  // cannot aim their keys at one shard) and the key of fallback RequestIds.
  struct keys {
    store_hash_key quotas, rates, windows, challenges, request_ids;
  };

  // Every key from `random`, or none when it gives no value.
  static std::optional<keys> draw_keys(random_source& random) noexcept {
    keys out{};
    for (store_hash_key* k : {&out.quotas, &out.rates, &out.windows, &out.challenges, &out.request_ids}) {
      for (std::size_t i = 0; i < k->size(); i += 8) {
        std::optional<std::uint64_t> v = random.next();
        if (!v) return std::nullopt;
        for (std::size_t j = 0; j < 8; ++j, *v >>= 8) (*k)[i + j] = static_cast<std::byte>(*v & 0xFF);
      }
    }
    return out;
  }

  // The keys of the public constructor: validate_arguments first, then the
  // draw; either failing is a precondition violation.
  static keys checked_keys(const engine_config& config, const clock_function& clock,
                           const std::shared_ptr<random_source>& random) noexcept {
    const config_error e = validate_arguments(config, clock, random);
    PHONEVERIFY_ASSERT(e == config_error::ok, describe(e).data());
    std::optional<keys> drawn = draw_keys(*random);
    PHONEVERIFY_ASSERT(drawn.has_value(), describe(config_error::random_source_failed).data());
    return drawn.value_or(keys{});
  }

  // An engine from keys already drawn (the clock and the source are moved
  // in the member initialisers, after the caller has read them).
  engine(const keys& k, const engine_config& config, clock_function&& clock, std::shared_ptr<random_source>&& random)
      : front_(config, std::move(random), k.request_ids),
        clock_(std::move(clock)),
        quotas_(config.capacity, k.quotas, config.shards, {config.policy.daily.utc_offset}),
        rates_(config.capacity, k.rates, config.shards, {config.policy.cams_rate}),
        windows_(config.capacity, k.windows, config.shards, {detail::longest_window(config.policy.per_phone)}),
        challenges_(config.capacity, k.challenges, config.shards, {config.policy.code}),
        keys_(new key_ring(starting_keys(config))),
        keys_in_force_(keys_.get()) {}

  // The ring in force; call only under a challenge shard lock (see keys_).
  const key_ring& keys_in_force() const noexcept { return *keys_in_force_.load(std::memory_order_acquire); }

  static detail::engine_key challenge_key(action sending_action, std::string_view account) noexcept {
    return detail::make_key(static_cast<char>('1' + static_cast<int>(sending_action)), account);
  }

  // Raises the engine's time to `t` (restore: the snapshot's time).
  void raise_time(std::int64_t t) noexcept {
    std::int64_t seen = high_water_.ms.load(std::memory_order_relaxed);
    while (t > seen && !high_water_.ms.compare_exchange_weak(seen, t, std::memory_order_relaxed)) {
    }
  }

  // Whether a snapshot key belongs to a kind: the prefix make_key gives it.
  static bool key_of_kind(detail::snapshot_record kind, std::string_view key) noexcept {
    switch (kind) {
      case detail::snapshot_record::quota: return key[0] == 'q';
      case detail::snapshot_record::rate: return key[0] == 'r';
      case detail::snapshot_record::windows: return key[0] == 'p';
      case detail::snapshot_record::challenge:
        for (action a : all_actions)
          if (info(a).sends && key[0] == challenge_key(a, {}).view()[0]) return true;
        return false;
      case detail::snapshot_record::end: break;
    }
    return false;
  }

  // One record's state into `store`, unless it died (dropped) or a key
  // repeats (corrupt: the writer writes each key once) or its shard is full.
  template <class Store, class IsDead>
  static snapshot_error load_entry(Store& store, const IsDead& is_dead, std::string_view key,
                                   const typename Store::value_type& value, timestamp t, snapshot_load_stats& stats) {
    if (is_dead(value, t)) {
      ++stats.dropped;
      return snapshot_error::ok;
    }
    if (store.contains(key)) return snapshot_error::corrupt;
    const auto held = store.update(key, t, [&](typename Store::value_type& v) { v = value; });
    if (!held) return snapshot_error::capacity_exceeded;
    ++stats.loaded;
    return snapshot_error::ok;
  }

  // Reads a whole snapshot into this fresh engine (restore discards it on
  // any error). A full store does not stop the reading: a corrupt snapshot
  // is reported as corrupt, not as too large.
  template <class Source>
  snapshot_error load_snapshot(Source& source, snapshot_load_stats& stats) {
    detail::snapshot_reader<Source> in(source);
    std::array<std::byte, snapshot_header_size> header{};
    const std::size_t got = in.read(header);
    if (in.failed()) return snapshot_error::read_failed;
    for (std::size_t i = 0; i < detail::snapshot_magic.size() && i < got; ++i)
      if (header[i] != detail::snapshot_magic[i]) return snapshot_error::not_a_snapshot;
    if (got < header.size()) return snapshot_error::truncated;
    if (detail::get_be(header, 8, 4) != snapshot_format_version) return snapshot_error::unsupported_version;
    if (detail::get_be(header, 12, 4) != 0) return snapshot_error::corrupt;
    if (detail::get_be(header, 16, 8) != snapshot_fingerprint(config())) return snapshot_error::config_mismatch;
    const auto written_ms = static_cast<std::int64_t>(detail::get_be(header, 24, 8));
    stats.written_at = timestamp{std::chrono::milliseconds{written_ms}};
    if (config().high_water_time) raise_time(written_ms);
    const timestamp t = now();
    const auto end_of_bytes = [&in] { return in.failed() ? snapshot_error::read_failed : snapshot_error::truncated; };

    const detail::daily_usage_is_dead quota_dead{config().policy.daily.utc_offset};
    const detail::rate_state_is_dead rate_dead{config().policy.cams_rate};
    const detail::windows_are_dead windows_dead{detail::longest_window(config().policy.per_phone)};
    const detail::challenge_is_dead challenge_dead{config().policy.code};
    snapshot_error kept = snapshot_error::ok;  // capacity_exceeded, once a store is full
    std::uint64_t records = 0;
    for (;;) {
      std::array<std::byte, 2> head{};
      if (in.read(std::span<std::byte>(head.data(), 1)) != 1) return end_of_bytes();
      const auto kind = static_cast<detail::snapshot_record>(head[0]);
      if (kind == detail::snapshot_record::end) break;
      if (static_cast<std::uint8_t>(head[0]) > static_cast<std::uint8_t>(detail::snapshot_record::challenge))
        return snapshot_error::corrupt;
      if (in.read(std::span<std::byte>(head.data() + 1, 1)) != 1) return end_of_bytes();
      const auto key_size = static_cast<std::size_t>(head[1]);
      if (key_size == 0 || key_size > detail::engine_key_size) return snapshot_error::corrupt;
      std::array<char, detail::engine_key_size> key_bytes{};
      if (in.read(std::as_writable_bytes(std::span<char>(key_bytes.data(), key_size))) != key_size)
        return end_of_bytes();
      const std::string_view key(key_bytes.data(), key_size);
      if (!key_of_kind(kind, key)) return snapshot_error::corrupt;
      std::array<std::byte, challenge_bytes_size + 32> state{};
      const std::size_t state_size = detail::snapshot_state_size(kind);
      static_assert(sizeof(state) >= sliding_window_state_bytes_size<per_phone_state::capacity()>);
      if (in.read(std::span<std::byte>(state.data(), state_size)) != state_size) return end_of_bytes();
      ++records;
      snapshot_error e = snapshot_error::ok;
      const auto load = [&](auto bytes, auto& store, const auto& is_dead) {
        std::memcpy(bytes.data(), state.data(), bytes.size());
        const auto decoded = from_bytes(bytes);
        if (!decoded) {
          e = snapshot_error::corrupt;
        } else if (kept == snapshot_error::ok) {
          e = load_entry(store, is_dead, key, decoded.value(), t, stats);
        }
      };
      switch (kind) {
        case detail::snapshot_record::quota: load(daily_usage_bytes{}, quotas_, quota_dead); break;
        case detail::snapshot_record::rate: load(rate_state_bytes{}, rates_, rate_dead); break;
        case detail::snapshot_record::windows:
          load(sliding_window_state_bytes<per_phone_state::capacity()>{}, windows_, windows_dead);
          break;
        case detail::snapshot_record::challenge: load(challenge_bytes{}, challenges_, challenge_dead); break;
        case detail::snapshot_record::end: break;
      }
      if (e == snapshot_error::capacity_exceeded) kept = e;
      else if (e != snapshot_error::ok) return e;
    }
    std::array<std::byte, 8> count{};
    if (in.read(count) != count.size()) return end_of_bytes();
    const std::uint64_t expected_checksum = in.checksum();
    std::array<std::byte, 8> checksum{};
    if (in.read(checksum, false) != checksum.size()) return end_of_bytes();
    if (detail::get_be(checksum, 0, 8) != expected_checksum) return snapshot_error::corrupt;
    if (detail::get_be(count, 0, 8) != records) return snapshot_error::corrupt;
    if (!in.at_end()) return in.failed() ? snapshot_error::read_failed : snapshot_error::corrupt;
    stats.records = static_cast<std::size_t>(records);
    return kept;
  }

  template <class Request>
  engine_response do_send(const Request& request, const facts& f) {
    constexpr action a = Request::id;
    engine_response out;  // every path finishes and returns this object itself (no copy of its body storage)
    const timestamp now = this->now();
    if (!admit_flow(a, f, now, out)) return out;
    const preparation prepared = front_.prepare_request(request, f, out);
    if (!prepared) {
      refuse(out, prepared.error());
      return out;
    }
    // Locks nest in one fixed order everywhere (challenge, then phone, then
    // account quota), so two sends can never wait on each other in a cycle.
    const code_binding& binding = *prepared->binding;
    const auto code_key = challenge_key(a, binding.account_id);
    const auto phone_key = detail::make_key('p', format_phone(binding.phone, phone_format::e164).view());
    const auto quota_key = detail::make_key('q', prepared->quota_account);
    // Each key hashed once, and the memory of all three lookups requested
    // before the first lock: their cache misses overlap, and the code's
    // draw and HMAC below (some hundreds of ns) hide them.
    const auto code_at = challenges_.hashed(code_key.view());
    const auto phone_at = windows_.hashed(phone_key.view());
    const auto quota_at = quotas_.hashed(quota_key.view());
    challenges_.prefetch(code_at);
    windows_.prefetch(phone_at);
    if constexpr (info(a).daily_quota) quotas_.prefetch(quota_at);
    // The RequestId is drawn while those loads are under way. Nothing else
    // draws between the start of the request and here, so the random source
    // still gives the RequestId its words first and the code its words next.
    bool fell_back = false;
    front_.start(out, fell_back);
    // The code is drawn and tagged now, before any store lock: the loads of
    // the three lookups complete meanwhile instead of stalling the first
    // probe, and the critical sections hold no HMAC. It is drawn for every
    // send that passed prepare and dropped when the limits refuse it (as the
    // fleet engine does), so a failure of the random source answers
    // randomness_unavailable whatever the limits would have said, and
    // touches no state. Under a copy of the primary key of the ring in force,
    // taken under the challenge's shard lock (the ring may be read only
    // there, see keys_); the write checks that the ring in force still has
    // that primary, so a code is always recorded under the primary in force.
    // (The policy was validated at create and the purpose is a prepared
    // send's: draw_code's own checks would only repeat those.)
    primary_copy key = copy_primary(code_at);
    detail::source_generator rng{&front_.random()};
    drawn_code drawn_digits{};
    const bool drawn = key.usable &&
                       detail::draw_digits(config().policy.code, *key.keyed, key.id, binding, rng, drawn_digits);
    if (key.keyed) key.keyed->wipe();
    if (rng.failed) {
      detail::secure_zero(&drawn_digits, 1);
      detail::secure_zero(key.secret.data(), key.secret.size());
      if (!fell_back) front_.count_randomness_failure();  // once per request
      front_.finish(out, detail::engine_front::no_randomness(a, now));
      return out;
    }
    send_result outcome{detail::engine_front::unavailable(a, check_step::quota)};
    const auto decide = [&](daily_usage* usage, per_phone_state& windows, challenge& code) {
      // The usual case: the code drawn above, still under the primary in
      // force. Nothing can fail at random here, so finish_send (all or
      // nothing by itself) works on the store's state directly.
      if (drawn && still_primary(key)) {
        outcome = finish_send(config().policy, drawn_digits, *prepared, {usage, &windows, &code, nullptr}, now);
        return;
      }
      // The keys rotated since the copy (rare), or the draw gave no code
      // (a source whose every value was rejected):
      // drawn again under the ring in force, on copies written back only
      // when the random source gave every value.
      challenge code_copy = code;
      per_phone_state windows_copy = windows;
      daily_usage usage_copy = usage != nullptr ? *usage : daily_usage{};
      outcome = finish_send(config().policy, keys_in_force(), *prepared,
                            {usage != nullptr ? &usage_copy : nullptr, &windows_copy, &code_copy, nullptr}, now, rng);
      if (rng.failed) {
        outcome = detail::engine_front::no_randomness(a, now);  // whatever was drawn is dropped with the copies
        return;
      }
      code = code_copy;
      windows = windows_copy;
      if (usage != nullptr) *usage = usage_copy;
    };
    const auto held = challenges_.update(code_at, now, [&](challenge& code) {
      const auto phone_held = windows_.update(phone_at, now, [&](per_phone_state& windows) {
        if constexpr (info(a).daily_quota) {
          const auto quota_held = quotas_.update(quota_at, now, [&](daily_usage& usage) {
            decide(&usage, windows, code);
          });
          if (!quota_held) outcome = detail::engine_front::unavailable(a, check_step::quota, quota_held.retry_at);
        } else {
          decide(nullptr, windows, code);
        }
      });
      if (!phone_held) outcome = detail::engine_front::unavailable(a, check_step::quota, phone_held.retry_at);
    });
    if (!held) outcome = detail::engine_front::unavailable(a, check_step::quota, held.retry_at);
    detail::secure_zero(key.secret.data(), key.secret.size());
    detail::secure_zero(&drawn_digits, 1);  // issued or dropped: its digits stay only in `outcome`
    if (!outcome) {
      if (outcome.error().reason() == verdict_reason::randomness_unavailable && !fell_back)
        front_.count_randomness_failure();  // once per request
      front_.finish(out, outcome.error());
      return out;
    }
    front_.finish_issued(out, a, *outcome);
    detail::secure_zero(&*outcome, 1);  // rendered into `out`
    return out;
  }

  // The primary key of the ring in force as a send found it: its prepared
  // hasher (to tag the code outside every lock), its id, its secret bytes
  // (to check, at the write, that it is still the primary in force) and
  // whether it is usable (not all zero). Wiped by do_send once used.
  struct primary_copy {
    std::optional<hmac_sha256_hasher> keyed;
    secret_key secret{};
    key_id id = 0;
    bool usable = false;
  };

  // Copies the primary of the ring in force under the shard lock of `code_at`
  // (the ring may be read only under a challenge shard lock, see keys_).
  primary_copy copy_primary(const challenge_store::hashed_key& code_at) const {
    primary_copy copy;
    challenges_.with_shard_lock(code_at, [&] {
      const key_ring& ring = keys_in_force();
      const hmac_sha256_hasher* keyed = ring.prepared(ring.primary_id());
      if (keyed == nullptr) return;
      copy.keyed.emplace(*keyed);
      copy.secret = *ring.primary();
      copy.id = ring.primary_id();
      copy.usable = !detail::is_zero_key(copy.secret);
    });
    return copy;
  }

  // Whether the ring in force still has `key` as its primary, the same id and
  // the same bytes (compared in constant time). Only under a challenge shard lock.
  bool still_primary(const primary_copy& key) const noexcept {
    const key_ring& ring = keys_in_force();
    return ring.primary() != nullptr && ring.primary_id() == key.id && constant_time_equal(*ring.primary(), key.secret);
  }

  template <class Request>
  engine_response do_verify(const Request& request, const facts& f) {
    constexpr action a = Request::id;
    engine_response out;  // every path finishes and returns this object itself (no copy of its body storage)
    const timestamp now = this->now();
    if (!admit_flow(a, f, now, out)) return out;
    const preparation prepared = front_.prepare_request(request, f, out);
    if (!prepared) {
      refuse(out, prepared.error());
      return out;
    }
    if (!prepared->needs_code()) {
      refuse(out, verdict{a});
      return out;
    }
    const code_binding& binding = *prepared->binding;
    const auto code_key = challenge_key(binding.purpose, binding.account_id);
    // The challenge's memory is requested, then the RequestId drawn while it loads.
    const auto code_at = challenges_.hashed(code_key.view());
    challenges_.prefetch(code_at);
    bool fell_back = false;
    front_.start(out, fell_back);
    // A binding the store has never seen gets an empty challenge (no code,
    // dead at once, so the next sweep drops it). If the store is full of
    // live state and refuses it, there is no code either: check against an
    // empty challenge, which answers no_code.
    verdict v = detail::engine_front::unavailable(a, check_step::code);
    const auto found = challenges_.update(code_at, now, [&](challenge& code) {
      v = finish_verify(config().policy, keys_in_force(), *prepared, code, now);
    });
    if (!found) {
      // Outside every challenge lock, so not the ring in force (rotate_keys
      // may free it): a challenge without a code needs no key.
      static constexpr key_ring no_keys{};
      challenge none{};
      v = finish_verify(config().policy, no_keys, *prepared, none, now);
    }
    front_.finish(out, v);
    return out;
  }

  // A response decided before the stores are reached: its RequestId (a
  // failure of the random source counted, once), then its body. Every call
  // starts with the engine's time and step 1 (admit_flow), and draws its
  // RequestId before anything else it draws (a send's code).
  void refuse(engine_response& out, const verdict& v) {
    bool fell_back = false;
    front_.start(out, fell_back);
    front_.finish(out, v);
  }

  // Step 1 for the actions with flow control; false (and `out` finished) when refused.
  bool admit_flow(action a, const facts& f, timestamp t, engine_response& out) {
    if (!info(a).flow_control) return true;
    // An unnamed user, or one named by no AccountId, is refused before any
    // rate is keyed on it (RULES.md §9).
    verdict v = detail::check_flow_caller(a, f);
    if (!v.ok()) {
      refuse(out, v);
      return false;
    }
    const auto key = detail::make_key('r', f.caller.account_id);
    v = detail::engine_front::unavailable(a, check_step::flow_control);
    const auto held = rates_.update(key.view(), t, [&](rate_state& s) { v = admit_request(config().policy, a, s, t); });
    if (!held) v = detail::engine_front::unavailable(a, check_step::flow_control, held.retry_at);
    if (v.ok()) return true;
    refuse(out, v);
    return false;
  }

  detail::engine_front front_;
  clock_function clock_;
  // The latest clock reading (milliseconds), see now(): written by every
  // call that sees a later clock, so it has a cache line of its own and
  // never invalidates the fields every call reads.
  struct alignas(64) high_water_mark {
    std::atomic<std::int64_t> ms{detail::i64_min};
  };
  high_water_mark high_water_;
  quota_store quotas_;
  rate_store rates_;
  window_store windows_;
  challenge_store challenges_;
  // The HMAC keys in force (RULES.md §5, key rotation). Read only inside a
  // challenge shard lock (keys_in_force); rotate_keys publishes a new ring,
  // then takes every challenge shard lock once before it wipes and frees the
  // old one, so no request still reads it. keys_ owns *keys_in_force_.
  std::unique_ptr<key_ring, detail::ring_wiper> keys_;
  std::atomic<const key_ring*> keys_in_force_;
  mutable std::mutex rotation_mutex_;

};

inline engine_or_error engine::create(const engine_config& config, clock_function clock,
                                     std::shared_ptr<random_source> random) {
  if (const config_error e = validate_arguments(config, clock, random); e != config_error::ok) return e;
  const std::optional<keys> drawn = draw_keys(*random);
  if (!drawn) return config_error::random_source_failed;
  return std::unique_ptr<engine>(new engine(*drawn, config, std::move(clock), std::move(random)));
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_ENGINE_HPP
