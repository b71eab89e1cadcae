// SPDX-License-Identifier: MIT
// phoneverify: what an engine decided, counted (layer 4 of the README's table,
// beside engine.hpp, which owns one block of these counters per engine).
//
// metrics_counters counts every response once, by (action, wire error,
// reason) and, for a rejected code, by check_status. It is updated with
// relaxed atomic increments and no lock (one per response): a counter is a tally read by
// monitoring, never a decision, so no ordering with the state it describes is
// needed. metrics_snapshot is the plain copy monitoring reads, with the
// figures operators ask for (sends, checks, refusals by limit, lockouts,
// store-full refusals, randomness failures, store occupancy); render_metrics
// writes it into the caller's buffer in the Prometheus text exposition format
// (version 0.0.4): no server, no I/O, no heap.
//
// Metric names (every label value is a fixed identifier, never request data,
// so the label set is bounded by the enumerations):
//   phoneverify_responses_total{action,code,reason}  counter, non-zero series only
//   phoneverify_code_rejections_total{action,status} counter, non-zero series only
//   phoneverify_sends_total{action}                  counter, every sending action
//   phoneverify_codes_issued_total{action}           counter, every sending action
//   phoneverify_checks_total{action}                 counter, every consumer action
//   phoneverify_limit_refusals_total{action,limit}   counter, every action x limit of its row
//   phoneverify_lockouts_total{action}               counter, every action with a code
//   phoneverify_store_full_refusals_total{action}    counter, every action
//   phoneverify_randomness_failures_total            counter
//   phoneverify_store_entries{kind}                  gauge (engines with local stores)
//   phoneverify_store_capacity{kind}                 gauge (engines with local stores)
// The three labels of phoneverify_responses_total span 7 x 29 x 33 series, of
// which the rules produce about a hundred: rendering only the non-zero ones
// keeps the page to what happened, and PromQL's sum by() gives any
// per-dimension total. The families with one or two small labels are
// rendered whole, zeros included, so that rate() has a first sample.
#ifndef PHONEVERIFY_METRICS_HPP
#define PHONEVERIFY_METRICS_HPP

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>
#include <thread>
#include <utility>

#if defined(__linux__) && defined(__GLIBC__)
#include <sched.h>
#endif

#include "action.hpp"
#include "actions.hpp"
#include "code.hpp"
#include "errc.hpp"

namespace phoneverify {

// How many enumerators check_status has (verdict_reason_count: actions.hpp).
inline constexpr std::size_t check_status_count = static_cast<std::size_t>(check_status::budget_spent) + 1;

// The enumerator's name of a reason ("daily_quota_exceeded"), the label value
// of the metrics; "" for a value that is no enumerator.
constexpr std::string_view reason_name(verdict_reason r) noexcept {
  constexpr std::string_view names[] = {
      "ok",
      "flow_control",
      "missing_parameter",
      "bad_syntax",
      "unassigned_country_code",
      "site_rejects_country_code",
      "not_a_mobile_number",
      "no_phone_bound",
      "caller_not_management_identity",
      "permission_denied",
      "product_not_subscribed",
      "resource_not_owned",
      "account_not_found",
      "account_in_another_directory",
      "directory_already_enabled",
      "account_type_mismatch",
      "secure_phone_already_bound",
      "enterprise_name_missing",
      "real_name_not_verified",
      "management_account_name_used",
      "contact_not_found",
      "contact_phone_mismatch",
      "no_pending_verification",
      "resend_too_soon",
      "binding_locked",
      "phone_window_exceeded",
      "daily_quota_exceeded",
      "code_rejected",
      "invalid_policy",
      "state_unavailable",
      "missing_fact",
      "randomness_unavailable",
      "invalid_fact",
      "state_damaged",
  };
  static_assert(std::size(names) == verdict_reason_count, "reason_name names every verdict_reason");
  const auto i = static_cast<std::size_t>(r);
  return i < std::size(names) ? names[i] : std::string_view{};
}

// The kinds of state an engine keeps in local stores, in the order of
// metrics_snapshot::stores (label values of phoneverify_store_*).
enum class store_kind : std::uint8_t { quota, rate, windows, challenge };
inline constexpr std::size_t store_kind_count = 4;
constexpr std::string_view store_kind_name(store_kind k) noexcept {
  switch (k) {
    case store_kind::quota: return "quota";
    case store_kind::rate: return "rate";
    case store_kind::windows: return "windows";
    case store_kind::challenge: return "challenge";
  }
  return {};
}

// The reasons that are refusals by a limit of RULES.md §4 and §5, the label
// `limit` of phoneverify_limit_refusals_total.
inline constexpr std::array<verdict_reason, 5> limit_reasons = {
    verdict_reason::flow_control, verdict_reason::resend_too_soon, verdict_reason::binding_locked,
    verdict_reason::phone_window_exceeded, verdict_reason::daily_quota_exceeded};

namespace detail {
inline constexpr std::size_t response_series = action_count * errc_count * verdict_reason_count;
inline constexpr std::size_t rejection_series = action_count * check_status_count;
constexpr std::size_t response_index(action a, errc e, verdict_reason r) noexcept {
  return (static_cast<std::size_t>(a) * errc_count + static_cast<std::size_t>(e)) * verdict_reason_count +
         static_cast<std::size_t>(r);
}
constexpr std::size_t rejection_index(action a, check_status s) noexcept {
  return static_cast<std::size_t>(a) * check_status_count + static_cast<std::size_t>(s);
}
constexpr bool countable(const verdict& v) noexcept {
  return is_action(v.action()) && static_cast<std::size_t>(v.error()) < errc_count &&
         static_cast<std::size_t>(v.reason()) < verdict_reason_count &&
         static_cast<std::size_t>(v.code_status()) < check_status_count;
}
// Whether an action checks a code (its row names whose code it consumes).
constexpr bool checks_code(action a) noexcept { return !info(a).sends; }
}  // namespace detail

// How many entries a store holds, and may hold.
struct store_occupancy {
  std::size_t entries = 0;
  std::size_t capacity = 0;
};

// A plain copy of an engine's counters (engine::metrics()). Every counter
// counts since the engine was built: a restarted engine, even one restored
// from a snapshot, starts at zero (Prometheus reads that as a counter reset).
struct metrics_snapshot {
  // Responses by [action][errc][reason] (response() reads it).
  std::array<std::uint64_t, detail::response_series> responses{};
  // Rejected codes (reason code_rejected) by [action][check_status].
  std::array<std::uint64_t, detail::rejection_series> rejections{};
  // Requests whose random source failed (engine_stats::randomness_failures).
  std::uint64_t randomness_failures = 0;
  // Store occupancy by store_kind, for an engine with local stores.
  bool has_stores = false;
  std::array<store_occupancy, store_kind_count> stores{};

  constexpr std::uint64_t response(action a, errc e, verdict_reason r) const noexcept {
    return responses[detail::response_index(a, e, r)];
  }
  constexpr std::uint64_t rejection(action a, check_status s) const noexcept {
    return rejections[detail::rejection_index(a, s)];
  }
  // Responses of one action, whatever their outcome.
  constexpr std::uint64_t responses_of(action a) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t e = 0; e < errc_count; ++e)
      for (std::size_t r = 0; r < verdict_reason_count; ++r)
        n += response(a, static_cast<errc>(e), static_cast<verdict_reason>(r));
    return n;
  }
  // Responses with one reason, over every action and error.
  constexpr std::uint64_t with_reason(action a, verdict_reason r) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t e = 0; e < errc_count; ++e) n += response(a, static_cast<errc>(e), r);
    return n;
  }
  constexpr std::uint64_t with_reason(verdict_reason r) const noexcept {
    std::uint64_t n = 0;
    for (action a : all_actions) n += with_reason(a, r);
    return n;
  }
  // Every response.
  constexpr std::uint64_t total() const noexcept {
    std::uint64_t n = 0;
    for (std::uint64_t c : responses) n += c;
    return n;
  }
  // Requests of a sending action (RULES.md §1: 1, 3, 4, 5) / the codes they issued.
  constexpr std::uint64_t sends(action a) const noexcept { return info(a).sends ? responses_of(a) : 0; }
  constexpr std::uint64_t codes_issued(action a) const noexcept {
    return info(a).sends ? response(a, errc::ok, verdict_reason::ok) : 0;
  }
  // Requests of a consumer action (2, 6, 7).
  constexpr std::uint64_t checks(action a) const noexcept { return detail::checks_code(a) ? responses_of(a) : 0; }
  // Refusals by the limit whose reason is `r` (one of limit_reasons).
  constexpr std::uint64_t limit_refusals(action a, verdict_reason r) const noexcept { return with_reason(a, r); }
  constexpr std::uint64_t limit_refusals() const noexcept {
    std::uint64_t n = 0;
    for (verdict_reason r : limit_reasons) n += with_reason(r);
    return n;
  }
  // Requests refused because a binding is locked (RULES.md §4: a send while
  // locked, reason binding_locked; a check answered check_status::locked).
  constexpr std::uint64_t lockouts(action a) const noexcept {
    return with_reason(a, verdict_reason::binding_locked) + rejection(a, check_status::locked);
  }
  // Keys a full store refused (reason state_unavailable, RULES.md §4).
  constexpr std::uint64_t store_full_refusals(action a) const noexcept {
    return with_reason(a, verdict_reason::state_unavailable);
  }
};

// The counters an engine owns (detail::engine_front, so that every engine
// counts alike, in the one place every response is finished). count() is one
// relaxed increment, two for a rejected code. The counters are kept in a few
// stripes, each a whole copy on cache lines of its own, and a response is
// counted in the stripe of the CPU it runs on (sched_getcpu on Linux; else a
// stripe per thread, dealt round-robin): threads on different cores that
// count the same outcome do not pass one cache line back and forth on every
// response. read() adds the stripes up.
class metrics_counters {
 public:
  // One stripe per hardware thread, rounded up to a power of two, at most 16.
  metrics_counters() noexcept
      : stripe_mask_(stripe_count() - 1), stripes_(std::make_unique<stripe[]>(stripe_mask_ + 1)) {}
  metrics_counters(const metrics_counters&) = delete;
  metrics_counters& operator=(const metrics_counters&) = delete;

  // Counts one response: one relaxed increment. A rejected code (reason
  // code_rejected, always Invalid.VerificationCode, RULES.md §5) is counted
  // by its check_status alone and read() adds those up into its response
  // series, so a check that fails costs one cache line, not two.
  // A verdict holding a value no enumerator names (only a caller's own
  // broken verdict can) is not counted rather than indexed out of bounds.
  void count(const verdict& v) noexcept {
    if (!detail::countable(v)) return;
    stripe& s = stripes_[current_stripe() & stripe_mask_];
    if (v.reason() == verdict_reason::code_rejected && v.error() == errc::invalid_verification_code)
      s.rejections[detail::rejection_index(v.action(), v.code_status())].fetch_add(1, std::memory_order_relaxed);
    else
      s.responses[detail::response_index(v.action(), v.error(), v.reason())].fetch_add(1, std::memory_order_relaxed);
  }

  // Copies the counters into `out` (each read relaxed: a moving figure under
  // concurrency, exact once the engine is idle). Leaves the other fields of
  // `out` as they are.
  void read(metrics_snapshot& out) const noexcept {
    out.responses.fill(0);
    out.rejections.fill(0);
    for (std::size_t n = 0; n <= stripe_mask_; ++n) {
      const stripe& s = stripes_[n];
      for (std::size_t i = 0; i < s.responses.size(); ++i)
        out.responses[i] += s.responses[i].load(std::memory_order_relaxed);
      for (std::size_t i = 0; i < s.rejections.size(); ++i)
        out.rejections[i] += s.rejections[i].load(std::memory_order_relaxed);
    }
    for (action a : all_actions) {
      std::uint64_t rejected = 0;
      for (std::size_t s = 0; s < check_status_count; ++s) rejected += out.rejection(a, static_cast<check_status>(s));
      out.responses[detail::response_index(a, errc::invalid_verification_code, verdict_reason::code_rejected)] +=
          rejected;
    }
  }

  // How many stripes this block has (a power of two, 1 to 16).
  std::size_t stripes() const noexcept { return stripe_mask_ + 1; }

 private:
  struct alignas(64) stripe {
    std::array<std::atomic<std::uint64_t>, detail::response_series> responses{};
    std::array<std::atomic<std::uint64_t>, detail::rejection_series> rejections{};
  };

  static std::size_t stripe_count() noexcept {
    const unsigned hardware = std::thread::hardware_concurrency();
    const std::size_t wanted = hardware == 0 ? 1 : std::bit_ceil(static_cast<std::size_t>(hardware));
    return wanted > 16 ? 16 : wanted;
  }

  // The stripe the calling thread counts in (masked by the caller): its CPU
  // where the system says it cheaply, else the thread's own number.
  static std::size_t current_stripe() noexcept {
#if defined(__linux__) && defined(__GLIBC__)
    const int cpu = ::sched_getcpu();
    if (cpu >= 0) return static_cast<std::size_t>(cpu);
#endif
    static std::atomic<std::size_t> next_thread{0};
    thread_local const std::size_t mine = next_thread.fetch_add(1, std::memory_order_relaxed);
    return mine;
  }

  std::size_t stripe_mask_;
  std::unique_ptr<stripe[]> stripes_;
};

// ---------------------------------------------------------------------------
// The Prometheus text exposition format

enum class metrics_render_status : std::uint8_t {
  ok,
  buffer_too_small,  // nothing usable was written; `size` is the size needed
};

// What render_metrics answers: ok and the bytes written, or buffer_too_small
// and the bytes the text needs (render again into a buffer that large).
struct metrics_render_result {
  metrics_render_status status = metrics_render_status::ok;
  std::size_t size = 0;
  constexpr bool ok() const noexcept { return status == metrics_render_status::ok; }
  constexpr explicit operator bool() const noexcept { return ok(); }
};

namespace detail {

// Writes while the text fits and counts every byte, so an overflow still
// yields the size needed.
class metrics_writer {
 public:
  constexpr explicit metrics_writer(std::span<char> out) noexcept : out_(out) {}
  constexpr void put(std::string_view s) noexcept {
    for (char c : s) {
      if (size_ < out_.size()) out_[size_] = c;
      ++size_;
    }
  }
  constexpr void put(std::uint64_t v) noexcept {
    char digits[20];
    std::size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0) put(std::string_view(&digits[--n], 1));
  }
  constexpr std::size_t size() const noexcept { return size_; }

 private:
  std::span<char> out_;
  std::size_t size_ = 0;
};

constexpr void metrics_header(metrics_writer& w, std::string_view name, std::string_view type,
                              std::string_view help) noexcept {
  w.put("# HELP ");
  w.put(name);
  w.put(" ");
  w.put(help);
  w.put("\n# TYPE ");
  w.put(name);
  w.put(" ");
  w.put(type);
  w.put("\n");
}

// One sample: name{k1="v1",k2="v2"} value. Label values are the library's
// identifiers and wire codes (letters, digits, '.' and '_'): nothing to escape.
constexpr void metrics_sample(metrics_writer& w, std::string_view name,
                              std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                              std::uint64_t value) noexcept {
  w.put(name);
  if (labels.size() != 0) {
    w.put("{");
    bool first = true;
    for (const auto& [key, label] : labels) {
      if (!first) w.put(",");
      first = false;
      w.put(key);
      w.put("=\"");
      w.put(label);
      w.put("\"");
    }
    w.put("}");
  }
  w.put(" ");
  w.put(value);
  w.put("\n");
}

// The label value of a wire error: its wire code, "OK" for ok.
constexpr std::string_view code_label(errc e) noexcept { return e == errc::ok ? std::string_view("OK") : code_string(e); }

}  // namespace detail

// Renders `m` into `out` in the Prometheus text exposition format (the
// families of the file comment, each with its HELP and TYPE lines). No heap,
// no I/O; a buffer too small gives buffer_too_small with the size needed.
constexpr metrics_render_result render_metrics(std::span<char> out, const metrics_snapshot& m) noexcept {
  detail::metrics_writer w(out);
  using detail::metrics_header;
  using detail::metrics_sample;

  metrics_header(w, "phoneverify_responses_total", "counter",
                 "Engine responses by action, wire error code (OK for success) and precise reason.");
  for (action a : all_actions)
    for (std::size_t e = 0; e < errc_count; ++e)
      for (std::size_t r = 0; r < verdict_reason_count; ++r) {
        const std::uint64_t n = m.response(a, static_cast<errc>(e), static_cast<verdict_reason>(r));
        if (n == 0) continue;
        metrics_sample(w, "phoneverify_responses_total",
                       {{"action", action_name(a)},
                        {"code", detail::code_label(static_cast<errc>(e))},
                        {"reason", reason_name(static_cast<verdict_reason>(r))}},
                       n);
      }

  metrics_header(w, "phoneverify_code_rejections_total", "counter",
                 "Verification codes not accepted (Invalid.VerificationCode), by action and check status.");
  for (action a : all_actions)
    for (std::size_t s = 1; s < check_status_count; ++s) {
      const std::uint64_t n = m.rejection(a, static_cast<check_status>(s));
      if (n != 0)
        metrics_sample(w, "phoneverify_code_rejections_total",
                       {{"action", action_name(a)}, {"status", status_name(static_cast<check_status>(s))}}, n);
    }

  metrics_header(w, "phoneverify_sends_total", "counter", "Requests of the sending actions, whatever the outcome.");
  for (action a : all_actions)
    if (info(a).sends) metrics_sample(w, "phoneverify_sends_total", {{"action", action_name(a)}}, m.sends(a));

  metrics_header(w, "phoneverify_codes_issued_total", "counter", "Codes issued (successful sends).");
  for (action a : all_actions)
    if (info(a).sends)
      metrics_sample(w, "phoneverify_codes_issued_total", {{"action", action_name(a)}}, m.codes_issued(a));

  metrics_header(w, "phoneverify_checks_total", "counter", "Requests of the actions that consume a code.");
  for (action a : all_actions)
    if (detail::checks_code(a)) metrics_sample(w, "phoneverify_checks_total", {{"action", action_name(a)}}, m.checks(a));

  metrics_header(w, "phoneverify_limit_refusals_total", "counter",
                 "Requests refused by a limit (flow control, resend interval, lockout, phone windows, daily quota).");
  for (action a : all_actions)
    for (verdict_reason r : limit_reasons) {
      const bool applies = r == verdict_reason::flow_control ? info(a).flow_control
                           : r == verdict_reason::daily_quota_exceeded ? info(a).daily_quota
                           : r == verdict_reason::binding_locked || r == verdict_reason::resend_too_soon ||
                                     r == verdict_reason::phone_window_exceeded
                               ? info(a).sends
                               : true;
      if (applies || m.limit_refusals(a, r) != 0)
        metrics_sample(w, "phoneverify_limit_refusals_total", {{"action", action_name(a)}, {"limit", reason_name(r)}},
                       m.limit_refusals(a, r));
    }

  metrics_header(w, "phoneverify_lockouts_total", "counter",
                 "Requests refused because their binding is locked after consecutive failures.");
  for (action a : all_actions)
    if (info(a).sends || detail::checks_code(a))
      metrics_sample(w, "phoneverify_lockouts_total", {{"action", action_name(a)}}, m.lockouts(a));

  metrics_header(w, "phoneverify_store_full_refusals_total", "counter",
                 "Requests refused because a store full of live state could not take their key.");
  for (action a : all_actions)
    metrics_sample(w, "phoneverify_store_full_refusals_total", {{"action", action_name(a)}}, m.store_full_refusals(a));

  metrics_header(w, "phoneverify_randomness_failures_total", "counter",
                 "Requests whose random source gave no value (fallback RequestId or no code drawn).");
  metrics_sample(w, "phoneverify_randomness_failures_total", {}, m.randomness_failures);

  if (m.has_stores) {
    metrics_header(w, "phoneverify_store_entries", "gauge", "Entries held per kind of state.");
    for (std::size_t k = 0; k < store_kind_count; ++k)
      metrics_sample(w, "phoneverify_store_entries", {{"kind", store_kind_name(static_cast<store_kind>(k))}},
                     m.stores[k].entries);
    metrics_header(w, "phoneverify_store_capacity", "gauge", "Capacity per kind of state.");
    for (std::size_t k = 0; k < store_kind_count; ++k)
      metrics_sample(w, "phoneverify_store_capacity", {{"kind", store_kind_name(static_cast<store_kind>(k))}},
                     m.stores[k].capacity);
  }

  if (w.size() > out.size()) return {metrics_render_status::buffer_too_small, w.size()};
  return {metrics_render_status::ok, w.size()};
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_METRICS_HPP
