// SPDX-License-Identifier: MIT
// phoneverify: the fleet engine. The embedded engine's seven methods and
// responses (engine.hpp), with the state of every service instance shared
// on one Redis: the daily quota, the CAMS request rates, the per-phone
// windows and the challenges are Redis keys, each decision one script and
// one round trip (fleet.hpp). A service switches between the two by
// configuration and gets the same verdicts, bodies and codes.
//
// What runs where, and why:
// - in C++, in every instance: steps 2-6 and the caller checks
//   (detail::engine_front, shared with the embedded engine, so both answer
//   alike), drawing the code and computing its keyed tags (the HMAC key
//   never leaves the process, RULES.md §5), the RequestIds and the bodies;
// - in Redis, one script each: flow control (RULES.md §4), the send (resend
//   interval, lock, failure budget, per-phone windows and daily quota, all
//   or nothing) and the check (the challenge's transition, RULES.md §5).
//   A send draws its code before the round trip and drops it when refused.
//
// Failures fail closed (RULES.md §4): an unreachable, slow, out-of-memory or
// clustered-down server, or a key that holds no state of the expected layout
// (another application's value, another version: RULES.md §9, never read as
// fresh nor overwritten), answers the action's limit error with reason
// state_unavailable and retry_at one second later, within the transport's
// timeouts; never an admission. last_failure() and stats() say which fault.
//
// Time: the Redis server's TIME by default, one clock for the whole fleet.
// A caller's clock is the option for tests and simulations; the engine then
// decides at the latest time that clock has shown it, as the embedded engine
// does, so a clock that steps back never grants budget (RULES.md §4). With
// the server's clock the stored states refuse to go back (each remembers its
// latest time) and keys outlive their death by the expiry margin.
//
// Start-up (create) refuses a server whose maxmemory-policy can evict keys
// (an evicted key is a fresh budget: RULES.md §4), unless CONFIG is disabled
// there and the configuration says the operator guarantees noeviction
// (fleet_config::assume_noeviction), and loads the scripts once.
//
// This header includes no Redis client: the engine talks through
// fleet::transport (fleet.hpp); redis.hpp's redis::pool is the hiredis one.
#ifndef PHONEVERIFY_FLEET_ENGINE_HPP
#define PHONEVERIFY_FLEET_ENGINE_HPP

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string_view>
#include <utility>

#include "engine.hpp"
#include "fleet.hpp"

namespace phoneverify::fleet {

// How a fleet engine is set up: the embedded engine's configuration (its
// capacity and shards are not used: Redis holds the state) and the fleet's.
struct fleet_config {
  engine_config engine{};
  // The key prefix of this deployment ({pv:<deployment>}): 1 to 32 of
  // A-Z a-z 0-9 . _ - (fleet.hpp make_key_scheme).
  std::string_view deployment = "phoneverify";
  // The secret key of the keyed hashes in key names: 16 bytes from a secure
  // source, the same on every instance of the deployment; not all zero.
  id_key key_name_key{};
  // How long a key outlives its state's death: at least the clock skew the
  // fleet accepts (0 to 2^40 ms).
  std::chrono::milliseconds expiry_margin = default_expiry_margin;
  // Where CONFIG is disabled or renamed (some managed services), the
  // eviction policy cannot be read at start-up: true says the operator has
  // set maxmemory-policy noeviction and answers for it. Ignored where CONFIG
  // answers: then only noeviction starts.
  bool assume_noeviction = false;
  // Sharded keys (fleet.hpp key_scheme::sharded) for a Redis Cluster whose
  // load one slot cannot carry, through a transport that routes by slot
  // (redis::cluster_pool): each account's and each phone's states in slots
  // of their own, a send in up to four scripts (run_sharded_send), stricter
  // but never looser than one script when a step fails. false: one hash
  // tag, one slot, every decision one script, all or nothing.
  bool sharded = false;
  // The durable mode: after an issued code, WAIT for this many replicas for
  // at most wait_timeout (1 ms or more, below the transport's command
  // timeout) and refuse the send, the code undelivered, when fewer
  // acknowledged. 0: off.
  std::int64_t wait_replicas = 0;
  std::chrono::milliseconds wait_timeout{20};
  // At start-up, a key the ledger says still has live codes somewhere in the
  // fleet but that engine.keys (or engine.key) lacks refuses the start
  // (start_error::key_in_use_missing): its codes would read as having none.
  // true starts anyway and lets them die (a leaked key). RULES.md §5, key rotation.
  bool drop_codes_of_missing_keys = false;
};

// Why a fleet engine was not built.
enum class start_error : std::uint8_t {
  ok,
  engine_config_invalid,      // validate(fleet_config::engine) answered `config` (engine.hpp)
  deployment_invalid,         // deployment empty, above 32 bytes, or a byte outside A-Z a-z 0-9 . _ -
  key_name_key_all_zero,      // key_name_key is 16 zero bytes
  expiry_margin_out_of_range, // expiry_margin outside 0 .. 2^40 ms
  wait_invalid,               // wait_replicas below 0, or above 0 with a wait_timeout under 1 ms
  limits_not_exact,           // a limit the scripts cannot count exactly (a window or offset beyond 2^40 ms)
  no_transport,               // a null transport
  no_random_source,           // a null random source
  random_source_failed,       // the random source gave no value for the RequestId key
  server_unavailable,         // CONFIG GET or SCRIPT LOAD failed in transport (`transport` says how)
  config_unreadable,          // the server refused CONFIG GET and assume_noeviction is false
  eviction_policy,            // maxmemory-policy is `detail`, not noeviction: live keys could be evicted
  script_load_failed,         // SCRIPT LOAD failed or named another SHA-1 (`detail`)
  key_in_use_missing,         // the ledger says key `detail` has live codes, and the ring lacks it
};

struct start_failure {
  start_error error = start_error::ok;
  config_error config = config_error::ok;                // for engine_config_invalid
  transport_error transport = transport_error::none;     // for server_unavailable
  inline_string<64> detail;                              // the server's policy or error text

  constexpr bool ok() const noexcept { return error == start_error::ok; }
};

// The sentence for the start-up log: the field or the server setting, what
// is wrong and what to do.
inline inline_string<320> describe(const start_failure& f) noexcept {
  inline_string<320> out;
  switch (f.error) {
    case start_error::ok: out.append("ok"); break;
    case start_error::engine_config_invalid: out.append(describe(f.config)); break;
    case start_error::deployment_invalid:
      out.append("fleet_config.deployment must be 1 to 32 of A-Z a-z 0-9 . _ -");
      break;
    case start_error::key_name_key_all_zero:
      out.append("fleet_config.key_name_key is all zero: load 16 secret bytes, the same on every instance");
      break;
    case start_error::expiry_margin_out_of_range:
      out.append("fleet_config.expiry_margin must be 0 to 2^40 ms (default 60 s)");
      break;
    case start_error::wait_invalid:
      out.append("fleet_config.wait_replicas must be 0 or more, and wait_timeout 1 ms or more when it is above 0");
      break;
    case start_error::limits_not_exact:
      out.append("fleet_config.engine.policy has a per-phone window, a UTC offset or a CAMS rate the Redis scripts "
                 "cannot count exactly (beyond 2^40 ms)");
      break;
    case start_error::no_transport: out.append("fleet_engine::create: the transport is null"); break;
    case start_error::no_random_source: out.append("fleet_engine::create: the random_source is null"); break;
    case start_error::random_source_failed:
      out.append("fleet_engine::create: the random_source gave no value: the system's entropy failed");
      break;
    case start_error::server_unavailable:
      out.append("Redis did not answer at start-up (");
      out.append(transport_error_name(f.transport));
      out.append("): ");
      out.append(f.detail.view());
      break;
    case start_error::config_unreadable:
      out.append("Redis refused CONFIG GET maxmemory-policy (");
      out.append(f.detail.view());
      out.append("): set maxmemory-policy noeviction there and fleet_config.assume_noeviction = true");
      break;
    case start_error::eviction_policy:
      out.append("Redis maxmemory-policy is ");
      out.append(f.detail.view());
      out.append(": an evicted key would be a fresh budget; set maxmemory-policy noeviction (RULES.md §4)");
      break;
    case start_error::script_load_failed:
      out.append("Redis SCRIPT LOAD failed: ");
      out.append(f.detail.view());
      break;
    case start_error::key_in_use_missing:
      out.append("HMAC key ");
      out.append(f.detail.view());
      out.append(": keep it in fleet_config.engine.keys until then (RULES.md §5, key rotation), or set "
                 "drop_codes_of_missing_keys for a leaked key");
      break;
  }
  return out;
}

// Why the last decision of a thread could not be made (fault::none when it
// was): the script's fault (damaged state, RULES.md §9) or fault::unavailable
// with the transport's error.
struct failure {
  fault what = fault::none;
  transport_error transport = transport_error::none;
};

inline constexpr std::size_t fault_count = 10;

// The engine's counters, for monitoring: anything in `faults` or
// `transport_errors` is a request refused closed.
struct fleet_stats {
  std::uint64_t scripts = 0;               // script round trips
  std::uint64_t failures = 0;              // decisions refused for a fault
  std::uint64_t randomness_failures = 0;   // as engine_stats::randomness_failures
  std::uint64_t unacknowledged_sends = 0;  // durable mode: issued, refused for want of a replica
  std::array<std::uint64_t, fault_count> faults{};
  std::array<std::uint64_t, transport_error_count> transport_errors{};
};

// One script call through a transport: EVALSHA, EVAL after NOSCRIPT, and
// the durable mode's WAIT when `wait_replicas` is above 0.
template <std::size_t K, std::size_t A, std::size_t S>
transport_result run_script(transport& link, const script_call<K, A, S>& c, std::int64_t wait_replicas = 0,
                            std::chrono::milliseconds wait_timeout = {}) noexcept {
  const auto by_sha = c.argv(false);
  const auto by_source = c.argv(true);
  const script_run r{std::span<const std::string_view>(by_sha.data(), c.argc()),
                     std::span<const std::string_view>(by_source.data(), c.argc()), wait_replicas, wait_timeout};
  return link.run(r);
}

// What a sharded send did: the send script's result (error unavailable
// with `transport` set when a step's transport failed), the scripts it ran,
// the charges it set back, and WAIT's count after the issue step.
struct sharded_send {
  send_result result{fault::unavailable};
  transport_error transport = transport_error::none;
  std::uint32_t scripts = 0;
  std::uint32_t undone = 0;
  long long acknowledged = -1;
};

// A send on a sharded key scheme (fleet.hpp, "The sharded send"): the
// windows step, the quota step when keys.quota is set, the issue step, and
// the undo of each charge when the send is refused or a later step answers
// a fault. In the durable mode every step sends its WAIT (a charge lives on
// its own master, which WAIT on another does not cover) and `acknowledged`
// is the least count of the charged steps and the issue step. A step
// whose transport failed may have run (its outcome is unknown): the
// charges made stand and the send is refused (stricter, never looser,
// RULES.md §4), as a crash between the steps leaves them.
inline sharded_send run_sharded_send(transport& link, const code_policy& policy, const window_set<3>& per_phone,
                                     const daily_quota& daily, const send_keys& keys, const drawn_code& code,
                                     std::optional<timestamp> now, std::chrono::milliseconds margin,
                                     std::int64_t wait_replicas = 0,
                                     std::chrono::milliseconds wait_timeout = {}) noexcept {
  sharded_send out;
  const auto failed = [&out](const transport_result& r) {
    out.transport = r.err;
    out.result = send_result{fault::unavailable};
    return out;
  };
  const auto refused = [&out](fault f) {
    out.result = send_result{f};
    return out;
  };
  const auto undo = [&link, &out](const key_name& key, const step_result& charged) {
    if (charged.after.empty()) return;
    const result<undo_call> u = plan_undo(key, charged);
    if (!u) return;
    ++out.scripts;
    const transport_result r = run_script(link, *u);
    // An undo that failed or found later bytes leaves the charge (stricter).
    if (r.ok() && decode_undo(r.value.view()).undone) ++out.undone;
  };
  const result<windows_step_call> wc = plan_windows_step(per_phone, keys.phone, now, margin);
  if (!wc) return refused(fault::bad_arguments);
  ++out.scripts;
  // The least WAIT count of the steps that wrote (the durable mode).
  const auto note = [&out](const transport_result& r, bool wrote) {
    if (wrote && (out.acknowledged < 0 || r.acknowledged < out.acknowledged)) out.acknowledged = r.acknowledged;
  };
  const transport_result wr = run_script(link, *wc, wait_replicas, wait_timeout);
  if (!wr.ok()) return failed(wr);
  const step_result windows = decode_step(wr.value.view());
  if (windows.error != fault::none) return refused(windows.error);
  note(wr, !windows.after.empty());
  step_result quota;
  if (keys.quota) {
    const result<quota_step_call> qc = plan_quota_step(daily, *keys.quota, windows.now, windows.allowed, margin);
    if (!qc) {
      undo(keys.phone, windows);
      return refused(fault::bad_arguments);
    }
    ++out.scripts;
    const transport_result qr = run_script(link, *qc, wait_replicas, wait_timeout);
    if (!qr.ok()) return failed(qr);
    quota = decode_step(qr.value.view());
    if (quota.error != fault::none) {
      undo(keys.phone, windows);
      return refused(quota.error);
    }
    note(qr, !quota.after.empty());
  }
  const result<issue_step_call> ic =
      plan_issue_step(policy, keys.challenge, code, windows.now, windows, keys.quota ? &quota : nullptr, margin);
  if (!ic) {
    if (keys.quota) undo(*keys.quota, quota);
    undo(keys.phone, windows);
    return refused(fault::bad_arguments);
  }
  ++out.scripts;
  const transport_result ir = run_script(link, *ic, wait_replicas, wait_timeout);
  if (!ir.ok()) return failed(ir);
  out.result = decode_send(ir.value.view());
  note(ir, out.result.error == fault::none && out.result.outcome == send_outcome::issued);
  if (out.result.error != fault::none || out.result.outcome != send_outcome::issued) {
    if (keys.quota) undo(*keys.quota, quota);
    undo(keys.phone, windows);
  }
  return out;
}

class fleet_engine;

// What fleet_engine::create answers: the engine or the start_failure.
using fleet_engine_or_error = ::phoneverify::detail::owned_or_error<fleet_engine, start_failure>;

class fleet_engine : public ::phoneverify::detail::action_methods<fleet_engine> {
  friend class ::phoneverify::detail::action_methods<fleet_engine>;

 public:
  // The engine of `config` on the Redis behind `link`, or why there is none.
  // `clock` empty (the default): the server's TIME; else the caller's clock
  // (tests, simulations). Reads the eviction policy and loads the scripts.
  static fleet_engine_or_error create(const fleet_config& config, std::shared_ptr<transport> link,
                                      std::shared_ptr<random_source> random =
                                          std::make_shared<system_random_source>(),
                                      clock_function clock = {});

  fleet_engine(const fleet_engine&) = delete;
  fleet_engine& operator=(const fleet_engine&) = delete;

  const engine_config& config() const noexcept { return front_.config(); }
  const key_scheme& keys() const noexcept { return scheme_; }

  // The embedded engine's seven methods (RULES.md §1), with its verdicts:
  // inherited from detail::action_methods, as the embedded engine's are.

  // Why this thread's last call on a fleet engine was refused closed, if it
  // was for a fault (for the log line next to describe(response)).
  static failure last_failure() noexcept { return last_failure_slot(); }

  fleet_stats stats() const noexcept {
    fleet_stats out;
    out.scripts = scripts_.load(std::memory_order_relaxed);
    out.failures = failures_.load(std::memory_order_relaxed);
    out.randomness_failures = front_.randomness_failures();
    out.unacknowledged_sends = unacknowledged_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < fault_count; ++i) out.faults[i] = faults_[i].load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < transport_error_count; ++i)
      out.transport_errors[i] = transport_errors_[i].load(std::memory_order_relaxed);
    return out;
  }

  // Replaces this instance's HMAC key ring, as engine::rotate_keys does
  // (RULES.md §5, key rotation): refused for an invalid ring, one without the
  // primary in force, and, with live_codes::refuse, a leaving key whose
  // ledger in Redis says a code of it may be live on any instance
  // (leaving_keys_in_use, last_expiry: the fleet cannot count the codes).
  // state_unavailable when the ledger cannot be read. Every instance must
  // make the new key primary before any removes the old one: the ledger
  // tells codes already issued, not what a lagging instance issues next.
  rotation_report rotate_keys(const key_ring& next, live_codes leaving = live_codes::refuse) {
    const std::lock_guard<std::mutex> serial(rotation_mutex_);
    rotation_report report;
    if (const key_ring_error e = next.validate(); e != key_ring_error::ok) {
      report.error = rotation_error::ring_invalid;
      report.ring_problem = e;
      return report;
    }
    key_ring current;
    {
      const std::shared_lock<std::shared_mutex> read(keys_mutex_);
      current = keys_;
    }
    if (!::phoneverify::detail::same_key(current, next, current.primary_id())) {
      current.wipe();
      report.error = rotation_error::retiring_primary;
      return report;
    }
    std::array<key_id, key_ring_capacity> gone{};
    std::size_t count = 0;
    for (std::size_t i = 0; i < current.size(); ++i)
      if (!::phoneverify::detail::same_key(current, next, current.id_at(i))) gone[count++] = current.id_at(i);
    current.wipe();
    if (count != 0) {
      const key_use_result used = read_key_use(std::span<const key_id>(gone.data(), count));
      if (used.error != fault::none) {
        report.error = rotation_error::state_unavailable;
        return report;
      }
      for (std::size_t i = 0; i < count; ++i) {
        if (!used.live_until[i]) continue;
        ++report.leaving_keys_in_use;
        if (*used.live_until[i] > report.last_expiry) report.last_expiry = *used.live_until[i];
      }
      if (report.leaving_keys_in_use != 0 && leaving == live_codes::refuse) {
        report.error = rotation_error::key_has_live_codes;
        return report;
      }
    }
    const std::unique_lock<std::shared_mutex> write(keys_mutex_);
    keys_.wipe();
    keys_ = next;
    return report;
  }

  // The id new codes are issued under, and whether the ring in force holds `id`.
  key_id primary_key_id() const {
    const std::shared_lock<std::shared_mutex> read(keys_mutex_);
    return keys_.primary_id();
  }
  bool holds_key(key_id id) const {
    const std::shared_lock<std::shared_mutex> read(keys_mutex_);
    return keys_.contains(id);
  }

  ~fleet_engine() { keys_.wipe(); }

 private:
  fleet_engine(const fleet_config& config, const key_scheme& scheme, std::shared_ptr<transport>&& link,
               std::shared_ptr<random_source>&& random, clock_function&& clock,
               const store_hash_key& request_id_key) noexcept
      : front_(config.engine, std::move(random), request_id_key),
        scheme_(scheme),
        link_(std::move(link)),
        clock_(std::move(clock)),
        margin_(config.expiry_margin),
        wait_replicas_(config.wait_replicas),
        wait_timeout_(config.wait_timeout),
        keys_(starting_keys(config.engine)) {}

  // How long a lease of a key's ledger covers this instance's sends under
  // it, and how long the ledger then lives: a code issued within the lease
  // expires before validity + 2 leases (one more lease of slack for the
  // rates of this host's clock and the server's).
  static constexpr std::int64_t lease_ms = 60'000;
  std::chrono::milliseconds ledger_life() const noexcept {
    return std::chrono::milliseconds{::phoneverify::detail::to_ms(config().policy.code.validity) + 2 * lease_ms};
  }

  // Makes sure the ledger of key `id` covers a code issued now (RULES.md §5,
  // key rotation), writing it at most once a lease: false (the send fails
  // closed, `why` set) when it could not be written.
  bool lease_key(key_id id, std::optional<timestamp> now, failure& why) noexcept {
    const std::int64_t t = ::phoneverify::detail::ms_of(local_time(now));
    std::atomic<std::int64_t>& until = leased_until_[id];
    if (t < until.load(std::memory_order_acquire)) return true;
    const result<key_use_lease_call> c = plan_key_use_lease(scheme_, id, now, ledger_life());
    if (!c) {
      why = {fault::bad_arguments, transport_error::none};
      return false;
    }
    const transport_result r = run(*c);
    if (!r.ok()) {
      why = transport_failure(r);
      return false;
    }
    if (const fault f = decode_key_use_lease(r.value.view()); f != fault::none) {
      why = {f, transport_error::none};
      return false;
    }
    std::int64_t seen = until.load(std::memory_order_relaxed);
    while (t + lease_ms > seen && !until.compare_exchange_weak(seen, t + lease_ms, std::memory_order_release)) {
    }
    return true;
  }

  // The ledgers of `ids` (1 to max_key_use_read of them), in one script.
  key_use_result read_key_use(std::span<const key_id> ids) noexcept {
    const result<key_use_read_call> c = plan_key_use_read(scheme_, ids, decision_time());
    if (!c) return {fault::bad_arguments, {}, {}};
    const transport_result r = run(*c);
    if (!r.ok()) return {fault::unavailable, {}, {}};
    return decode_key_use_read(r.value.view(), ids.size());
  }

  // At start-up: every key the ledger says is in use must be in the ring
  // (unless drop_codes_of_missing_keys); `detail` names the first that is not.
  start_failure check_keys_in_use(const fleet_config& config) noexcept {
    start_failure out;
    const result<key_use_ids_call> c = plan_key_use_ids(scheme_);
    if (!c) return out;
    const transport_result r = run(*c);
    if (!r.ok()) {
      out.error = start_error::server_unavailable;
      out.transport = r.err;
      out.detail.append("the key-use ledger's index");
      return out;
    }
    const key_use_ids_result listed = decode_key_use_ids(r.value.view());
    if (listed.error != fault::none) {
      out.error = start_error::server_unavailable;
      out.detail.append("the key-use ledger's index is damaged");
      return out;
    }
    std::array<key_id, 256> missing{};
    std::size_t count = 0;
    for (std::size_t i = 0; i < listed.count; ++i)
      if (!keys_.contains(listed.ids[i])) missing[count++] = listed.ids[i];
    for (std::size_t from = 0; from < count; from += max_key_use_read) {
      const std::size_t n = count - from < max_key_use_read ? count - from : max_key_use_read;
      const key_use_result used = read_key_use(std::span<const key_id>(missing.data() + from, n));
      if (used.error != fault::none) {
        out.error = start_error::server_unavailable;
        out.detail.append("the key-use ledger");
        return out;
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (!used.live_until[i] || config.drop_codes_of_missing_keys) continue;
        out.error = start_error::key_in_use_missing;
        out.detail.append(detail::decimal(missing[from + i]).view());
        out.detail.append(" has codes live until ");
        out.detail.append(format_iso8601(*used.live_until[i]).view());
        return out;
      }
    }
    return out;
  }

  static failure& last_failure_slot() noexcept {
    thread_local failure last{};
    return last;
  }

  // The decision's time: the caller's clock at its high-water mark (its
  // reading itself when config().high_water_time is false, as in the
  // embedded engine), or none (the script reads the server's TIME).
  std::optional<timestamp> decision_time() {
    if (!clock_) return std::nullopt;
    const std::int64_t t = ::phoneverify::detail::ms_of(clock_());
    if (!config().high_water_time) return timestamp{std::chrono::milliseconds{t}};
    std::int64_t seen = high_water_.load(std::memory_order_relaxed);
    while (t > seen && !high_water_.compare_exchange_weak(seen, t, std::memory_order_relaxed)) {
    }
    return timestamp{std::chrono::milliseconds{t > seen ? t : seen}};
  }

  // A time for a refusal made without the server (its TIME is unknown):
  // the decision's time, else this host's clock.
  static timestamp local_time(std::optional<timestamp> now) noexcept {
    return now ? *now : system_now();
  }

  // A decision the state could not give (RULES.md §4: fail closed): the
  // action's limit error, state_unavailable (state_damaged for a value of
  // another layout), a retry a second later (the
  // failure is temporary: never timestamp::max()), the fault counted.
  verdict refuse(action a, check_step step, failure why, std::optional<timestamp> now) noexcept {
    last_failure_slot() = why;
    failures_.fetch_add(1, std::memory_order_relaxed);
    faults_[static_cast<std::size_t>(why.what) % fault_count].fetch_add(1, std::memory_order_relaxed);
    if (why.transport != transport_error::none)
      transport_errors_[static_cast<std::size_t>(why.transport) % transport_error_count].fetch_add(
          1, std::memory_order_relaxed);
    const timestamp retry{std::chrono::milliseconds{::phoneverify::detail::sat_add(
        ::phoneverify::detail::ms_of(local_time(now)), 1000)}};
    // A value that is no state of its layout is a reason of its own (RULES.md §9): the
    // operator must look at that key; every other failure is the store's unavailability.
    const bool damaged = why.what >= fault::state_wrong_type && why.what <= fault::state_invalid;
    return {a, info(a).limit_error, step, damaged ? verdict_reason::state_damaged : verdict_reason::state_unavailable,
            parameter::none, 0, 0, retry};
  }

  // One script call through the transport, the durable WAIT when asked.
  template <std::size_t K, std::size_t A, std::size_t S>
  transport_result run(const script_call<K, A, S>& c, bool wait = false) noexcept {
    const auto by_sha = c.argv(false);
    const auto by_source = c.argv(true);
    script_run r{std::span<const std::string_view>(by_sha.data(), c.argc()),
                 std::span<const std::string_view>(by_source.data(), c.argc()), wait ? wait_replicas_ : 0,
                 wait_timeout_};
    scripts_.fetch_add(1, std::memory_order_relaxed);
    return link_->run(r);
  }

  // The failure of a transport result, or of a reply the decoder refused.
  static failure transport_failure(const transport_result& r) noexcept {
    return {fault::unavailable, r.err};
  }

  // Step 1 for the actions with flow control (RULES.md §4, §7): false, with
  // `out` finished, when refused.
  bool admit_flow(action a, const facts& f, std::optional<timestamp> now, engine_response& out) {
    if (!info(a).flow_control) return true;
    verdict v = ::phoneverify::detail::check_flow_caller(a, f);
    if (!v.ok()) {
      front_.finish(out, v);
      return false;
    }
    const result<key_name> key = make_key(scheme_, key_kind::rate, f.caller.account_id);
    const result<flow_call> c =
        key ? plan_flow(config().policy.cams_rate, *key, now, 1, margin_) : result<flow_call>(key.error());
    if (!c) {
      front_.finish(out, refuse(a, check_step::flow_control, {fault::bad_arguments, transport_error::none}, now));
      return false;
    }
    const transport_result r = run(*c);
    if (!r.ok()) {
      front_.finish(out, refuse(a, check_step::flow_control, transport_failure(r), now));
      return false;
    }
    const flow_result d = decode_flow(r.value.view());
    if (d.error != fault::none) {
      front_.finish(out, refuse(a, check_step::flow_control, {d.error, transport_error::none}, now));
      return false;
    }
    if (d.verdict.allowed) return true;
    front_.finish(out, verdict{a, errc::system_limit_control, check_step::flow_control, verdict_reason::flow_control,
                               parameter::none, 0, 0, d.verdict.retry_at});
    return false;
  }

  bool begin(action a, const facts& f, std::optional<timestamp>& now, engine_response& out, bool& fell_back) {
    last_failure_slot() = {};
    now = decision_time();
    front_.start(out, fell_back);
    return admit_flow(a, f, now, out);
  }

  template <class Request>
  engine_response do_send(const Request& request, const facts& f) {
    constexpr action a = Request::id;
    engine_response out;
    std::optional<timestamp> now;
    bool fell_back = false;
    if (!begin(a, f, now, out, fell_back)) return out;
    const preparation prepared = front_.prepare_request(request, f, out);
    if (!prepared) return front_.finish(out, prepared.error());
    const code_binding& binding = *prepared->binding;
    const result<key_name> code_key = make_key(scheme_, key_kind::challenge, binding.account_id, a);
    const result<key_name> phone_key =
        make_key(scheme_, key_kind::phone, format_phone(binding.phone, phone_format::e164).view());
    std::optional<result<key_name>> quota_key;
    if constexpr (info(a).daily_quota) quota_key = make_key(scheme_, key_kind::quota, prepared->quota_account);
    if (!code_key || !phone_key || (quota_key && !*quota_key))
      return front_.finish(out, refuse(a, check_step::quota, {fault::bad_arguments, transport_error::none}, now));
    // The code is drawn here, before the round trip, from the same source
    // and by the same rejection sampling as issue_code: the embedded engine
    // and this one issue the same code for the same draws.
    ::phoneverify::detail::source_generator rng{&front_.random()};
    result<drawn_code> drawn = errc::invalid_parameter;
    {
      const std::shared_lock<std::shared_mutex> read(keys_mutex_);
      drawn = draw_code(config().policy.code, keys_, binding, rng);
    }
    if (rng.failed || !drawn) {
      if (!fell_back) front_.count_randomness_failure();
      return front_.finish(out, ::phoneverify::detail::engine_front::no_randomness(a, local_time(now)));
    }
    if (failure why{}; !lease_key(drawn->key, now, why)) {
      ::phoneverify::detail::secure_zero(&*drawn, 1);
      return front_.finish(out, refuse(a, check_step::quota, why, now));
    }
    send_keys keys{*code_key, *phone_key, std::nullopt};
    if (quota_key) keys.quota = **quota_key;
    const result<send_call> c =
        plan_send(config().policy.code, config().policy.per_phone, config().policy.daily, keys, *drawn, now, margin_);
    verdict refused{a};
    bool issued = false;
    timestamp expires_at{};
    if (!c) {
      refused = refuse(a, check_step::quota, {fault::bad_arguments, transport_error::none}, now);
    } else {
      transport_result r;
      send_result s{fault::unavailable};
      if (scheme_.sharded) {
        const sharded_send sent = run_sharded_send(*link_, config().policy.code, config().policy.per_phone,
                                                   config().policy.daily, keys, *drawn, now, margin_,
                                                   wait_replicas_, wait_timeout_);
        scripts_.fetch_add(sent.scripts, std::memory_order_relaxed);
        r.err = sent.transport;
        r.acknowledged = sent.acknowledged;
        s = sent.result;
      } else {
        r = run(*c, wait_replicas_ > 0);
        if (r.ok()) s = decode_send(r.value.view());
      }
      if (!r.ok()) {
        refused = refuse(a, check_step::quota, transport_failure(r), now);
      } else if (s.error != fault::none) {
        refused = refuse(a, check_step::quota, {s.error, transport_error::none}, now);
      } else if (s.outcome != send_outcome::issued) {
        refused = ::phoneverify::detail::limit_denial(a, reason_of(s.outcome), s.retry_at);
      } else if (wait_replicas_ > 0 && r.acknowledged < wait_replicas_) {
        // Durable mode: the charge stands (stricter), the code is not
        // delivered: a failover now could lose it.
        unacknowledged_.fetch_add(1, std::memory_order_relaxed);
        refused = refuse(a, check_step::quota, {fault::unavailable, transport_error::none}, now);
      } else {
        issued = true;
        expires_at = s.expires_at;
      }
    }
    if (!issued) {
      ::phoneverify::detail::secure_zero(&*drawn, 1);
      return front_.finish(out, refused);
    }
    const issued_code code{drawn->code, expires_at};
    ::phoneverify::detail::secure_zero(&*drawn, 1);
    return front_.finish_issued(out, a, code);
  }

  static verdict_reason reason_of(send_outcome o) noexcept {
    switch (o) {
      case send_outcome::binding_locked: return verdict_reason::binding_locked;
      case send_outcome::phone_window: return verdict_reason::phone_window_exceeded;
      case send_outcome::daily_quota: return verdict_reason::daily_quota_exceeded;
      default: return verdict_reason::resend_too_soon;
    }
  }

  template <class Request>
  engine_response do_verify(const Request& request, const facts& f) {
    constexpr action a = Request::id;
    engine_response out;
    std::optional<timestamp> now;
    bool fell_back = false;
    if (!begin(a, f, now, out, fell_back)) return out;
    const preparation prepared = front_.prepare_request(request, f, out);
    if (!prepared) return front_.finish(out, prepared.error());
    if (!prepared->needs_code()) return front_.finish(out, verdict{a});
    const code_binding& binding = *prepared->binding;
    const result<key_name> key = make_key(scheme_, key_kind::challenge, binding.account_id, binding.purpose);
    result<check_call> c = errc::invalid_parameter;
    if (key) {
      const std::shared_lock<std::shared_mutex> read(keys_mutex_);
      c = plan_check(config().policy.code, keys_, binding, prepared->submitted_code, *key, now, margin_);
    }
    if (!c) return front_.finish(out, refuse(a, check_step::code, {fault::bad_arguments, transport_error::none}, now));
    const transport_result r = run(*c);
    if (!r.ok()) return front_.finish(out, refuse(a, check_step::code, transport_failure(r), now));
    const check_result checked = decode_check(r.value.view());
    if (checked.error != fault::none)
      return front_.finish(out, refuse(a, check_step::code, {checked.error, transport_error::none}, now));
    if (checked.status == check_status::ok) return front_.finish(out, verdict{a});
    return front_.finish(out, ::phoneverify::detail::make_verdict(a, to_errc(checked.status), check_step::code,
                                                                  verdict_reason::code_rejected,
                                                                  info(a).code_parameter,
                                                                  static_cast<std::uint8_t>(checked.status)));
  }

  // Start-up against the server: the eviction policy, then the scripts.
  static start_failure check_server(const fleet_config& config, transport& link) noexcept;

  ::phoneverify::detail::engine_front front_;
  key_scheme scheme_;
  std::shared_ptr<transport> link_;
  clock_function clock_;
  std::chrono::milliseconds margin_;
  std::int64_t wait_replicas_;
  std::chrono::milliseconds wait_timeout_;
  std::atomic<std::int64_t> high_water_{::phoneverify::detail::i64_min};
  std::atomic<std::uint64_t> scripts_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> unacknowledged_{0};
  std::array<std::atomic<std::uint64_t>, fault_count> faults_{};
  std::array<std::atomic<std::uint64_t>, transport_error_count> transport_errors_{};
  // The HMAC key ring in force (RULES.md §5, key rotation): read under the
  // shared lock to draw a code's tags or a check's, replaced by rotate_keys.
  mutable std::shared_mutex keys_mutex_;
  key_ring keys_;
  std::mutex rotation_mutex_;
  // Per key id, the instant (ms, local_time) until which this instance's
  // last lease of the key's ledger covers its sends (lease_key).
  std::array<std::atomic<std::int64_t>, 256> leased_until_{};
};

inline start_failure fleet_engine::check_server(const fleet_config& config, transport& link) noexcept {
  start_failure out;
  const auto failed = [&out](start_error e, const transport_result& r) {
    out.error = e;
    out.transport = r.err;
    out.detail.append(r.message.view().substr(0, out.detail.capacity()));
    return out;
  };
  // The eviction policy (RULES.md §4: only dead state disappears).
  const std::string_view get[3] = {"CONFIG", "GET", "maxmemory-policy"};
  const transport_result policy = link.command(std::span<const std::string_view>(get, 3));
  const bool refused = policy.err == transport_error::error_reply;
  if (!policy.ok() && !refused) return failed(start_error::server_unavailable, policy);
  if (refused && !config.assume_noeviction) return failed(start_error::config_unreadable, policy);
  if (!refused) {
    const reply_view v = policy.value.view();
    const bool pair = v.kind == reply_view::type::array && v.elements.size() == 2 &&
                      v.elements[1].kind == reply_view::type::string && policy.value.complete;
    if (!pair || v.elements[1].text != "noeviction") {
      out.error = start_error::eviction_policy;
      out.detail.append(pair ? v.elements[1].text : std::string_view("(no answer)"));
      return out;
    }
  }
  // The scripts, once (a restart or failover empties the cache: run() then
  // sends EVAL after NOSCRIPT).
  for (const script* s : {&flow_script, &check_script, &send_script, &windows_step_script, &quota_step_script,
                          &issue_step_script, &undo_script, &key_use_lease_script, &key_use_ids_script,
                          &key_use_read_script}) {
    const std::string_view load[3] = {"SCRIPT", "LOAD", s->source};
    const transport_result r = link.command(std::span<const std::string_view>(load, 3));
    if (!r.ok()) return failed(r.err == transport_error::error_reply ? start_error::script_load_failed
                                                                      : start_error::server_unavailable,
                               r);
    const reply_view v = r.value.view();
    if (v.kind != reply_view::type::string || v.text != s->sha1_view()) {
      out.error = start_error::script_load_failed;
      out.detail.append(s->name);
      out.detail.append(": another SHA-1");
      return out;
    }
  }
  return out;
}

inline fleet_engine_or_error fleet_engine::create(const fleet_config& config, std::shared_ptr<transport> link,
                                                  std::shared_ptr<random_source> random, clock_function clock) {
  start_failure out;
  const auto fail = [&out](start_error e) {
    out.error = e;
    return fleet_engine_or_error(out);
  };
  if (const config_error e = validate(config.engine); e != config_error::ok) {
    out.config = e;
    return fail(start_error::engine_config_invalid);
  }
  unsigned any = 0;
  for (std::byte b : config.key_name_key) any |= static_cast<unsigned>(b);
  if (any == 0) return fail(start_error::key_name_key_all_zero);
  const result<key_scheme> scheme = make_key_scheme(config.deployment, config.key_name_key, config.sharded);
  if (!scheme) return fail(start_error::deployment_invalid);
  if (config.expiry_margin.count() < 0 || config.expiry_margin > max_expiry_margin)
    return fail(start_error::expiry_margin_out_of_range);
  if (config.wait_replicas < 0 || (config.wait_replicas > 0 && config.wait_timeout.count() < 1))
    return fail(start_error::wait_invalid);
  // Every limit must plan: one the scripts could not count exactly is
  // refused here rather than on every request.
  {
    const key_name probe(std::string_view("{pv:probe}:x"));
    const action_policy& p = config.engine.policy;
    const drawn_code none{};
    const bool exact = plan_flow(p.cams_rate, probe, std::nullopt).has_value() &&
                       plan_send(p.code, p.per_phone, p.daily, {probe, probe, probe}, none, std::nullopt,
                                 config.expiry_margin)
                           .has_value();
    if (!exact) return fail(start_error::limits_not_exact);
  }
  if (link == nullptr) return fail(start_error::no_transport);
  if (random == nullptr) return fail(start_error::no_random_source);
  store_hash_key request_id_key{};
  for (std::size_t i = 0; i < request_id_key.size(); i += 8) {
    std::optional<std::uint64_t> v = random->next();
    if (!v) return fail(start_error::random_source_failed);
    for (std::size_t j = 0; j < 8 && i + j < request_id_key.size(); ++j, *v >>= 8)
      request_id_key[i + j] = static_cast<std::byte>(*v & 0xFF);
  }
  if (const start_failure server = check_server(config, *link); server.error != start_error::ok) return server;
  std::unique_ptr<fleet_engine> built(
      new fleet_engine(config, *scheme, std::move(link), std::move(random), std::move(clock), request_id_key));
  if (const start_failure keys = built->check_keys_in_use(config); keys.error != start_error::ok) return keys;
  return built;
}

}  // namespace phoneverify::fleet

#endif  // PHONEVERIFY_FLEET_ENGINE_HPP
