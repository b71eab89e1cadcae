// SPDX-License-Identifier: MIT
// phoneverify: verification codes: issue, store as a keyed digest, check,
// expire, lock (RULES.md §5 and the attempt limits of §4).
//
// A `challenge` is the whole state of one (sending action, account), kept by the
// service (in memory, or in a database through to_bytes/from_bytes) and updated
// in place by issue_code and check_code. The code itself is never stored, only
// truncated HMAC-SHA-256 tags under the caller's key. The caller supplies the
// time, the key and a cryptographically secure generator (a seeded one is for
// tests only). Everything is constexpr, noexcept and heap-free.
#ifndef PHONEVERIFY_CODE_HPP
#define PHONEVERIFY_CODE_HPP

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "crypto.hpp"
#include "detail/config.hpp"
#include "detail/digits.hpp"
#include "detail/saturating.hpp"
#include "action.hpp"
#include "errc.hpp"
#include "inline_string.hpp"
#include "phone.hpp"
#include "result.hpp"
#include "time.hpp"

// PHONEVERIFY_CT_DECLASSIFY(ptr, size): marks `size` bytes at `ptr` as
// public. check_code applies it only to the one-bit outcomes of its
// constant-time comparisons, just before it branches on them. Empty by
// default; the valgrind constant-time test defines it to
// VALGRIND_MAKE_MEM_DEFINED so that memcheck reports any other branch or
// index that depends on the secret code or the stored digest.
#ifndef PHONEVERIFY_CT_DECLASSIFY
#define PHONEVERIFY_CT_DECLASSIFY(ptr, size) (static_cast<void>(ptr), static_cast<void>(size))
#endif

namespace phoneverify {

// How verification codes are made and checked (RULES.md §4, §5); the defaults
// are the library's [L] choices. Limits (validate()): digits 6..10; validity
// 1 s..10 min; max_attempts, max_consecutive_failures and failure_budget at
// least 1; resend_interval 0..24 h; lockout and failure_budget_window 1 s..366 days.
struct code_policy {
  std::uint8_t digits = 6;
  std::chrono::seconds validity{300};
  std::uint8_t max_attempts = 5;
  std::chrono::seconds resend_interval{60};
  std::uint16_t max_consecutive_failures = 100;
  std::chrono::seconds lockout{24 * 3600};
  // Failed checks a binding may spend, refilled one every
  // failure_budget_window / failure_budget and never by a success, so an account
  // with phones of its own cannot reset its way to more guesses (RULES.md §4).
  std::uint16_t failure_budget = 100;
  std::chrono::seconds failure_budget_window{24 * 3600};
};

// The bounds validate() enforces (RULES.md §5).
inline constexpr std::uint8_t code_min_digits = detail::min_code_digits;
inline constexpr std::uint8_t code_max_digits = detail::max_code_digits;
inline constexpr std::chrono::seconds code_min_validity{1};
inline constexpr std::chrono::seconds code_max_validity{600};
inline constexpr std::chrono::seconds code_max_resend_interval{24 * 3600};
inline constexpr std::chrono::seconds code_max_lockout{366 * 24 * 3600};

// errc::ok when `policy` is inside the limits documented on code_policy,
// errc::invalid_parameter otherwise. Check a run-time policy once at start-up.
constexpr errc validate(const code_policy& policy) noexcept {
  const bool ok = policy.digits >= code_min_digits && policy.digits <= code_max_digits &&
                  policy.validity >= code_min_validity && policy.validity <= code_max_validity &&
                  policy.max_attempts >= 1 && policy.max_consecutive_failures >= 1 &&
                  policy.resend_interval >= std::chrono::seconds{0} &&
                  policy.resend_interval <= code_max_resend_interval &&
                  policy.lockout >= std::chrono::seconds{1} && policy.lockout <= code_max_lockout &&
                  policy.failure_budget >= 1 && policy.failure_budget_window >= std::chrono::seconds{1} &&
                  policy.failure_budget_window <= code_max_lockout;
  return ok ? errc::ok : errc::invalid_parameter;
}

// `policy` itself when it is inside its limits; a policy outside them does not
// compile (consteval, PHONEVERIFY_ASSERT): `constexpr auto p = checked_policy({.digits = 8});`.
consteval code_policy checked_policy(code_policy policy) noexcept {
  PHONEVERIFY_ASSERT(validate(policy) == errc::ok, "code_policy outside its limits (RULES.md §5)");
  return policy;
}

// The caller's secret HMAC key (32 bytes, from a secure random source; the
// same key must check the codes it issued). An all-zero key is refused.
using secret_key = std::array<std::byte, 32>;

namespace detail {
constexpr bool is_zero_key(const secret_key& key) noexcept {
  unsigned any = 0;
  for (std::byte b : key) any |= static_cast<unsigned>(b);
  return any == 0;
}
}  // namespace detail

// The id of a key in a key_ring, recorded in byte 3 of every challenge issued
// under it (RULES.md §5, key rotation). A lone secret_key has id 0, so the
// challenges written before key rings existed (byte 3 was 0) read as issued
// under it.
using key_id = std::uint8_t;

// Keys a ring holds at once: the primary, the one before it whose codes are
// still live, and room for a staged next key on every instance.
inline constexpr std::size_t key_ring_capacity = 8;

// What issue_code and check_code take as keys: one secret_key (id 0) or a key_ring.
class key_ring;
template <class K>
concept code_keys = std::same_as<K, secret_key> || std::same_as<K, key_ring>;

// Why a key ring refused a change (RULES.md §5, key rotation).
enum class key_ring_error : std::uint8_t {
  ok,
  zero_key,          // 32 zero bytes: refused, as issue_code refuses it
  duplicate_id,      // the ring already holds a key with this id
  full,              // key_ring_capacity keys already
  unknown_id,        // no key with this id
  retiring_primary,  // the primary key cannot leave the ring: make another key primary first
  empty,             // no key at all: nothing can issue a code
};

// The enumerator's name ("duplicate_id"), for logs; "" for a value that is no enumerator.
constexpr std::string_view key_ring_error_name(key_ring_error e) noexcept {
  switch (e) {
    case key_ring_error::ok: return "ok";
    case key_ring_error::zero_key: return "zero_key";
    case key_ring_error::duplicate_id: return "duplicate_id";
    case key_ring_error::full: return "full";
    case key_ring_error::unknown_id: return "unknown_id";
    case key_ring_error::retiring_primary: return "retiring_primary";
    case key_ring_error::empty: return "empty";
  }
  return {};
}

// Several HMAC keys, each with its id (RULES.md §5, key rotation): new codes
// are issued under the primary key and record its id; a check uses the key
// whose id the challenge records, and a challenge whose key is not in the ring
// reads as having no code (never as a match). A rotation adds the new key,
// makes it primary, and removes the old one once every code it issued has
// expired (code_policy::validity after it stopped being primary).
// Trivially copyable; value-initialised is empty (validate() says so).
class key_ring {
 public:
  constexpr key_ring() noexcept = default;
  // The ring of `key` alone, under `id`, primary. An all-zero key makes a ring
  // that validate() refuses.
  constexpr explicit key_ring(const secret_key& key, key_id id = 0) noexcept : size_(1) {
    keys_[0] = key;
    ids_[0] = id;
    prepared_[0].emplace(std::span<const std::byte>(key));
  }

  // Adds `key` under `id` (not primary unless the ring was empty): zero_key,
  // duplicate_id or full leave the ring unchanged.
  [[nodiscard]] constexpr key_ring_error add(key_id id, const secret_key& key) noexcept {
    if (detail::is_zero_key(key)) return key_ring_error::zero_key;
    if (index_of(id) != npos) return key_ring_error::duplicate_id;
    if (size_ == key_ring_capacity) return key_ring_error::full;
    keys_[size_] = key;
    ids_[size_] = id;
    prepared_[size_].emplace(std::span<const std::byte>(key));
    ++size_;
    return key_ring_error::ok;
  }

  // New codes are issued under the key `id` from now on (unknown_id if absent).
  [[nodiscard]] constexpr key_ring_error make_primary(key_id id) noexcept {
    const std::size_t i = index_of(id);
    if (i == npos) return key_ring_error::unknown_id;
    primary_ = static_cast<std::uint8_t>(i);
    return key_ring_error::ok;
  }

  // Takes the key `id` out of the ring and wipes it: unknown_id, or
  // retiring_primary for the primary key. The codes it issued read as having
  // no code from now on: the engines refuse a removal while any is live.
  [[nodiscard]] constexpr key_ring_error remove(key_id id) noexcept {
    const std::size_t i = index_of(id);
    if (i == npos) return key_ring_error::unknown_id;
    if (i == primary_) return key_ring_error::retiring_primary;
    prepared_[i]->wipe();
    for (std::size_t j = i; j + 1 < size_; ++j) {
      keys_[j] = keys_[j + 1];
      ids_[j] = ids_[j + 1];
      prepared_[j] = prepared_[j + 1];
    }
    --size_;
    if (primary_ > i) --primary_;
    // The last slot held a copy; the ring lives on, so these stores stay.
    keys_[size_] = secret_key{};
    ids_[size_] = 0;
    if (size_ != i) prepared_[size_]->wipe();
    prepared_[size_].reset();
    return key_ring_error::ok;
  }

  // ok for a ring that can issue and check: at least one key, none all zero,
  // no id twice (add() keeps the last two true; the constructor may not).
  constexpr key_ring_error validate() const noexcept {
    if (size_ == 0) return key_ring_error::empty;
    for (std::size_t i = 0; i < size_; ++i) {
      if (detail::is_zero_key(keys_[i])) return key_ring_error::zero_key;
      for (std::size_t j = 0; j < i; ++j)
        if (ids_[j] == ids_[i]) return key_ring_error::duplicate_id;
    }
    return key_ring_error::ok;
  }

  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  // The id of the i-th key (0 <= i < size()), in the order they were added.
  constexpr key_id id_at(std::size_t i) const noexcept { return i < size_ ? ids_[i] : key_id{0}; }
  constexpr bool contains(key_id id) const noexcept { return index_of(id) != npos; }
  // The key new codes are issued under, and its id (an empty ring: id 0, null).
  constexpr key_id primary_id() const noexcept { return ids_[primary_]; }
  constexpr const secret_key* primary() const noexcept { return size_ == 0 ? nullptr : &keys_[primary_]; }
  // The key with `id`, or null when the ring has none.
  constexpr const secret_key* find(key_id id) const noexcept {
    const std::size_t i = index_of(id);
    return i == npos ? nullptr : &keys_[i];
  }
  // The HMAC hasher keyed with the key `id` (its pads absorbed once, when the
  // key joined the ring), or null: what issue_code and check_code copy for a tag.
  constexpr const hmac_sha256_hasher* prepared(key_id id) const noexcept {
    const std::size_t i = index_of(id);
    return i == npos ? nullptr : &*prepared_[i];
  }

  // Wipes every key (secure_zero); the ring is empty afterwards.
  constexpr void wipe() noexcept {
    for (secret_key& k : keys_) detail::secure_zero(k.data(), k.size());
    for (std::optional<hmac_sha256_hasher>& h : prepared_) {
      if (h) h->wipe();
      h.reset();
    }
    ids_ = {};
    size_ = 0;
    primary_ = 0;
  }

 private:
  static constexpr std::size_t npos = key_ring_capacity;
  constexpr std::size_t index_of(key_id id) const noexcept {
    for (std::size_t i = 0; i < size_; ++i)
      if (ids_[i] == id) return i;
    return npos;
  }

  std::array<secret_key, key_ring_capacity> keys_{};
  std::array<key_id, key_ring_capacity> ids_{};
  std::array<std::optional<hmac_sha256_hasher>, key_ring_capacity> prepared_{};
  std::uint8_t size_ = 0;
  std::uint8_t primary_ = 0;
};

// What a code is bound to (RULES.md §5): the *sending* action (1, 3, 4 or 5 of
// RULES.md §1; its consumer checks with the same purpose), the account the
// challenge belongs to, and the phone the code was sent to. The account id
// is borrowed: keep it alive during the call.
struct code_binding {
  action purpose;
  std::string_view account_id;
  phone_number phone;
};

// Where a challenge stands. Stored as one byte (see challenge_bytes).
enum class challenge_state : std::uint8_t {
  none = 0,       // no code was ever issued (value-initialised)
  live = 1,       // a code was issued and can still be checked until it expires
  used = 2,       // the code was checked successfully (single use)
  exhausted = 3,  // max_attempts failed checks of this code
  expired = 4,    // a check found the code expired; a clock that goes back cannot revive it
};

// The serialised form of a challenge: 64 bytes, fixed layout, big-endian
// (network order), the same on every machine. Offsets:
//   0  u8   format version, 2
//   1  u8   challenge_state
//   2  u8   attempts: failed checks of the current code
//   3  u8   key id: the key_ring id of the key that issued the code (0 for
//           a lone secret_key; versions 1 and 2 before key rings had 0 here)
//   4  u16  consecutive failures of the binding (NIST SP 800-63B-4 §3.2.2)
//   6  u16  failed checks charged to the budget as of last_failure_at (version 2;
//           version 1 had 0 here and reads as none charged)
//   8  i64  issued_at, milliseconds since 1970-01-01T00:00:00Z
//   16 i64  expires_at, same unit
//   24 i64  last_failure_at, same unit (0 if none)
//   32 16 B binding tag: HMAC-SHA-256 of the binding alone, first 128 bits
//   48 16 B code tag: HMAC-SHA-256 of the binding and the code, first 128 bits
// Sixty-four zero bytes (an empty database column) also read as "none sent".
inline constexpr std::size_t challenge_bytes_size = 64;
using challenge_bytes = std::array<std::byte, challenge_bytes_size>;

// Bytes of each stored tag: HMAC-SHA-256 truncated to 128 bits (RFC 2104 §5
// allows truncation to half the output or more).
inline constexpr std::size_t code_tag_size = 16;
using code_tag = std::array<std::byte, code_tag_size>;

struct challenge;

namespace detail {
struct challenge_access;

// std::uniform_random_bit_generator restated (C++20 [rand.req.urng]), so
// that this header need not include <random>.
template <class G>
concept uniform_random_bit_generator =
    std::invocable<G&> && std::unsigned_integral<std::invoke_result_t<G&>> && requires {
      { G::min() } -> std::same_as<std::invoke_result_t<G&>>;
      { G::max() } -> std::same_as<std::invoke_result_t<G&>>;
      requires std::bool_constant<(G::min() < G::max())>::value;
    };
}  // namespace detail

// The state of one (sending action, account): the tags of its current code
// (never the code), its times and its counters. Trivially copyable;
// value-initialised means no code was sent. A service resets a binding (ends a
// lockout) by assigning `challenge{}`.
struct challenge {
 public:
  constexpr challenge() noexcept = default;

  constexpr challenge_state state() const noexcept { return state_; }
  // When the current code was issued (the epoch if none).
  constexpr timestamp issued_at() const noexcept { return timestamp{std::chrono::milliseconds{issued_ms_}}; }
  // The current code is valid while now < expires_at() (RULES.md §5).
  constexpr timestamp expires_at() const noexcept { return timestamp{std::chrono::milliseconds{expires_ms_}}; }
  // When the last failed check happened (the epoch if none); a lock lasts `lockout` from it.
  constexpr timestamp last_failure_at() const noexcept {
    return timestamp{std::chrono::milliseconds{last_failure_ms_}};
  }
  // Failed checks of the current code.
  constexpr std::uint8_t attempts() const noexcept { return attempts_; }
  // Failed checks since the last success, across codes (NIST SP 800-63B-4 §3.2.2).
  constexpr std::uint16_t consecutive_failures() const noexcept { return failures_; }
  // Failed checks charged to the binding's failure budget as of
  // last_failure_at(); they drain one per failure_budget_window /
  // failure_budget after it (failure_budget_used says how many are left at a time).
  constexpr std::uint16_t budget_charged() const noexcept { return budget_; }
  // The id of the key that issued the current code (RULES.md §5, key rotation).
  constexpr key_id issuing_key() const noexcept { return key_id_; }

  friend constexpr bool operator==(const challenge&, const challenge&) noexcept = default;

 private:
  friend struct detail::challenge_access;

  code_tag binding_tag_{};
  code_tag code_tag_{};
  std::int64_t issued_ms_ = 0;
  std::int64_t expires_ms_ = 0;
  std::int64_t last_failure_ms_ = 0;
  std::uint16_t failures_ = 0;
  std::uint16_t budget_ = 0;
  std::uint8_t attempts_ = 0;
  challenge_state state_ = challenge_state::none;
  key_id key_id_ = 0;
};

// A code to send and when it stops being valid (action 1's ExpirationDate is
// format_iso8601(expires_at)). `code` holds `digits` ASCII digits; never log it.
struct issued_code {
  inline_string<code_max_digits> code;
  timestamp expires_at;
};

// The outcome of check_code (RULES.md §5). Every value but ok is
// Invalid.VerificationCode on the wire (to_errc); the value is for logs.
enum class check_status : std::uint8_t {
  ok,             // the code matched: it is now used, and the consecutive failures are reset
  wrong_code,     // a live code, another code submitted (a failure)
  expired,        // now >= expires_at (uses nothing)
  used,           // the code was already accepted once (uses nothing)
  exhausted,      // max_attempts failed checks of this code happened before (uses nothing)
  locked,         // max_consecutive_failures reached, within `lockout` of the last failure (uses nothing)
  other_binding,  // a live code, checked for another account or phone (a failure)
  no_code,        // no code was issued (uses nothing)
  malformed,      // a live code, the submission is not exactly `digits` ASCII digits (a failure)
  budget_spent,   // failure_budget failed checks within the budget window, success or not between (uses nothing)
};

// Invalid.VerificationCode for every failure, ok for ok (RULES.md §5: every
// failure of a check is Invalid.VerificationCode on the wire).
constexpr errc to_errc(check_status status) noexcept {
  return status == check_status::ok ? errc::ok : errc::invalid_verification_code;
}

// The enumerator's name ("wrong_code"), for logs; "" for a value that is no enumerator.
constexpr std::string_view status_name(check_status status) noexcept {
  switch (status) {
    case check_status::ok: return "ok";
    case check_status::wrong_code: return "wrong_code";
    case check_status::expired: return "expired";
    case check_status::used: return "used";
    case check_status::exhausted: return "exhausted";
    case check_status::locked: return "locked";
    case check_status::other_binding: return "other_binding";
    case check_status::no_code: return "no_code";
    case check_status::malformed: return "malformed";
    case check_status::budget_spent: return "budget_spent";
  }
  return {};
}

namespace detail {

constexpr std::int64_t to_ms(std::chrono::seconds s) noexcept {
  // validate() bounds every duration of a policy far below the int64 limit of milliseconds.
  return static_cast<std::int64_t>(s.count()) * 1000;
}

constexpr std::int64_t ms_of(timestamp t) noexcept { return static_cast<std::int64_t>(t.time_since_epoch().count()); }

// 10^digits for digits 0..19.
constexpr std::uint64_t pow10_u64(unsigned digits) noexcept {
  std::uint64_t p = 1;
  for (unsigned i = 0; i < digits; ++i) p *= 10U;
  return p;
}

// A uniform integer in [0, bound) drawn from `rng` by rejection sampling, for
// any generator range and 1 <= bound <= 2^62: whole bits of each draw (one
// outside the largest power-of-two sub-range is rejected) are concatenated to
// the width of bound - 1, and a value >= bound is rejected. Each rejection has
// probability below 1/2, so 512 draws bound the loop: a broken generator gives
// false rather than a hang.
template <uniform_random_bit_generator G>
constexpr bool draw_below(G& rng, std::uint64_t bound, std::uint64_t& out) noexcept {
  using word = std::invoke_result_t<G&>;
  static_assert(std::numeric_limits<word>::digits <= 64, "generators of more than 64 bits are not supported");
  if (bound <= 1) {
    out = 0;
    return bound == 1;
  }
  const std::uint64_t gmin = static_cast<std::uint64_t>(G::min());
  const std::uint64_t span = static_cast<std::uint64_t>(G::max()) - gmin;  // the generator gives span + 1 values
  unsigned bits_per_draw = 64;  // floor(log2(span + 1)), 1..64
  if (span != ~std::uint64_t{0}) {
    const std::uint64_t values = span + 1U;  // >= 2, since min() < max()
    bits_per_draw = 0;
    while (bits_per_draw < 63 && (values >> (bits_per_draw + 1U)) != 0U) ++bits_per_draw;
  }
  const std::uint64_t draw_mask = bits_per_draw >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits_per_draw) - 1U;
  unsigned need = 0;  // bits of bound - 1
  while (need < 64 && ((bound - 1U) >> need) != 0U) ++need;
  const std::uint64_t value_mask = need >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << need) - 1U;

  for (int draws = 0; draws < 512;) {
    std::uint64_t acc = 0;
    unsigned have = 0;
    while (have < need && draws < 512) {
      const std::uint64_t x = static_cast<std::uint64_t>(rng()) - gmin;
      ++draws;
      if (x > draw_mask) continue;  // outside the power-of-two sub-range: reject this draw
      acc = bits_per_draw >= 64 ? x : (acc << bits_per_draw) | x;
      have += bits_per_draw;
    }
    if (have < need) break;
    acc &= value_mask;
    if (acc < bound) {
      out = acc;
      return true;
    }
  }
  return false;
}

// One byte of the HMAC input that separates the two tags.
inline constexpr std::byte binding_domain{0x42};  // 'B'
inline constexpr std::byte code_domain{0x43};     // 'C'

// Feeds the binding into `mac` unambiguously: purpose (1 byte), account id
// length (8 bytes, big-endian) and bytes, country code (2 bytes), national
// number length (1 byte) and digits.
constexpr void feed_binding(hmac_sha256_hasher& mac, const code_binding& binding) noexcept {
  mac.update(static_cast<std::byte>(binding.purpose));
  const std::uint64_t account_size = binding.account_id.size();
  for (int shift = 56; shift >= 0; shift -= 8) mac.update(static_cast<std::byte>(account_size >> shift));
  mac.update(binding.account_id);
  const std::uint16_t cc = binding.phone.country_code();
  mac.update(static_cast<std::byte>(cc >> 8)).update(static_cast<std::byte>(cc & 0xFFU));
  const std::string_view national = binding.phone.national_number();
  mac.update(static_cast<std::byte>(national.size())).update(national);
}

constexpr code_tag truncate_tag(const sha256_digest& digest) noexcept {
  code_tag out{};
  for (std::size_t i = 0; i < code_tag_size; ++i) out[i] = digest[i];
  return out;
}

// The two tags of a binding and a code: HMAC-SHA-256 under `key` of
// 'B' || binding and of 'C' || binding || length || code, truncated.
struct binding_tags {
  code_tag binding;
  code_tag code;
};
// `keyed` is the HMAC hasher already keyed (its pads absorbed): a key ring
// prepares one per key once, so a tag costs no key schedule.
//
// The two messages differ only in their first byte and the code's tail, so
// they are written once into one buffer and each fed in one update: fed a
// field (often a byte) at a time, the hasher's bookkeeping cost about as
// much as the compressions (perf on bench_code's issue_code). The bytes are
// those of feed_binding's order; a binding too long for the buffer (an
// account id of over 100 bytes, which no action admits) is fed field by field.
inline constexpr std::size_t tag_message_room = 144;
constexpr binding_tags compute_tags(const hmac_sha256_hasher& keyed, const code_binding& binding,
                                    std::string_view code) noexcept {
  const std::string_view account = binding.account_id;
  const std::string_view national = binding.phone.national_number();
  const std::size_t binding_size = 1 + 1 + 8 + account.size() + 2 + 1 + national.size();
  const std::size_t total = binding_size + 1 + code.size();
  if (total > tag_message_room) {
    hmac_sha256_hasher b = keyed;
    hmac_sha256_hasher c = keyed;
    b.update(binding_domain);
    feed_binding(b, binding);
    c.update(code_domain);
    feed_binding(c, binding);
    c.update(static_cast<std::byte>(code.size() & 0xFFU)).update(code);
    return {truncate_tag(b.finish()), truncate_tag(c.finish())};  // finish wipes b and c
  }
  std::byte message[tag_message_room]{};
  std::size_t at = 1;  // message[0]: the domain byte, set per tag below
  const auto put = [&](std::uint64_t byte) { message[at++] = static_cast<std::byte>(byte & 0xFFU); };
  const auto put_text = [&](std::string_view text) {
    for (char ch : text) message[at++] = static_cast<std::byte>(ch);
  };
  put(static_cast<std::uint64_t>(binding.purpose));
  for (int shift = 56; shift >= 0; shift -= 8) put(std::uint64_t{account.size()} >> shift);
  put_text(account);
  const std::uint16_t cc = binding.phone.country_code();
  put(std::uint64_t{cc} >> 8U);
  put(std::uint64_t{cc});
  put(national.size());
  put_text(national);
  put(code.size());
  put_text(code);
  // The binding's message is the code's but for its first byte and its tail.
  std::byte binding_message[tag_message_room]{};
  for (std::size_t i = 0; i < binding_size; ++i) binding_message[i] = message[i];
  binding_message[0] = binding_domain;
  message[0] = code_domain;
  const std::array<sha256_digest, 2> tags = keyed.authenticate_pair(std::span<const std::byte>(binding_message, binding_size),
                                                                    std::span<const std::byte>(message, total));
  secure_zero(message, tag_message_room);  // it held the code
  return {truncate_tag(tags[0]), truncate_tag(tags[1])};
}
constexpr binding_tags compute_tags(const secret_key& key, const code_binding& binding,
                                    std::string_view code) noexcept {
  hmac_sha256_hasher keyed{std::span<const std::byte>(key)};  // the key schedule, done once for both tags
  const binding_tags tags = compute_tags(keyed, binding, code);
  keyed.wipe();  // no keyed state stays behind on the stack
  return tags;
}


// Publishes a secret-derived bit before the code branches on it (see PHONEVERIFY_CT_DECLASSIFY).
constexpr bool declassify(bool bit) noexcept {
  if (!std::is_constant_evaluated()) {
    volatile bool published = bit;
    PHONEVERIFY_CT_DECLASSIFY(const_cast<const bool*>(&published), sizeof published);
    return published;
  }
  return bit;
}

// 1 when every char of `text` is an ASCII digit, computed without a branch on the chars.
constexpr unsigned all_ascii_digits(std::string_view text) noexcept {
  unsigned bad = 0;
  for (char ch : text) {
    const int c = static_cast<unsigned char>(ch);
    bad |= static_cast<unsigned>((c - '0') | ('9' - c)) >> 31U;  // sign bit set when c < '0' or c > '9'
  }
  return (bad ^ 1U) & 1U;
}

struct challenge_access {
  static constexpr code_tag& binding_tag(challenge& c) noexcept { return c.binding_tag_; }
  static constexpr code_tag& code_tag_of(challenge& c) noexcept { return c.code_tag_; }
  static constexpr const code_tag& binding_tag(const challenge& c) noexcept { return c.binding_tag_; }
  static constexpr const code_tag& code_tag_of(const challenge& c) noexcept { return c.code_tag_; }
  static constexpr std::int64_t& issued_ms(challenge& c) noexcept { return c.issued_ms_; }
  static constexpr std::int64_t& expires_ms(challenge& c) noexcept { return c.expires_ms_; }
  static constexpr std::int64_t& last_failure_ms(challenge& c) noexcept { return c.last_failure_ms_; }
  static constexpr std::uint16_t& failures(challenge& c) noexcept { return c.failures_; }
  static constexpr std::uint16_t& budget(challenge& c) noexcept { return c.budget_; }
  static constexpr std::uint8_t& attempts(challenge& c) noexcept { return c.attempts_; }
  static constexpr challenge_state& state(challenge& c) noexcept { return c.state_; }
  static constexpr key_id& issuing_key(challenge& c) noexcept { return c.key_id_; }
};

// Whether the binding is locked at `now`: max_consecutive_failures reached
// and now < last failure + lockout (RULES.md §5).
constexpr bool is_locked(const code_policy& policy, const challenge& c, timestamp now) noexcept {
  return c.consecutive_failures() >= policy.max_consecutive_failures &&
         ms_of(now) < sat_add(ms_of(c.last_failure_at()), to_ms(policy.lockout));
}

// Milliseconds of the budget window: one failed check drains from the budget
// every window / failure_budget.
constexpr std::int64_t budget_window_ms(const code_policy& policy) noexcept { return to_ms(policy.failure_budget_window); }

// The failed checks still charged to the budget at `now`: those charged as of
// the last failure, less one per window / budget since then (integer, so a
// fraction of a refill is never granted early). A clock that goes back
// drains nothing (RULES.md §4).
constexpr std::uint32_t budget_used_at(const code_policy& policy, const challenge& c, timestamp now) noexcept {
  if (c.budget_charged() == 0 || ms_of(now) <= ms_of(c.last_failure_at())) return c.budget_charged();
  // now > last failure, so the difference of the two's-complement values is exact in 64 bits.
  const std::uint64_t elapsed =
      static_cast<std::uint64_t>(ms_of(now)) - static_cast<std::uint64_t>(ms_of(c.last_failure_at()));
  const auto window = static_cast<std::uint64_t>(budget_window_ms(policy));
  if (elapsed >= window) return 0;
  const std::uint64_t drained = elapsed * policy.failure_budget / window;  // < 2^35 * 2^16
  return drained >= c.budget_charged() ? 0u : c.budget_charged() - static_cast<std::uint32_t>(drained);
}

// When at most `left_charged` failed checks remain charged: the last failure
// plus ceil((charged - left_charged) * window / budget).
constexpr std::int64_t budget_drains_to(const code_policy& policy, const challenge& c, std::uint32_t left_charged) noexcept {
  if (c.budget_charged() <= left_charged) return std::numeric_limits<std::int64_t>::min();
  const std::uint64_t need = c.budget_charged() - left_charged;
  const std::uint64_t window = static_cast<std::uint64_t>(budget_window_ms(policy));
  const std::uint64_t wait = (need * window + policy.failure_budget - 1) / policy.failure_budget;
  return sat_add(ms_of(c.last_failure_at()), static_cast<std::int64_t>(wait));
}

// Consecutive failures are forgotten `lockout` after the last one (RULES.md
// §4): a lock that has run out and a count below the limit alike, so a
// binding someone mistyped once and abandoned does not stay for ever.
constexpr void forget_old_failures(const code_policy& policy, challenge& c, timestamp now) noexcept {
  if (c.consecutive_failures() != 0 &&
      ms_of(now) >= sat_add(ms_of(c.last_failure_at()), to_ms(policy.lockout)))
    challenge_access::failures(c) = 0;
}

constexpr void put_u64(challenge_bytes& out, std::size_t at, std::uint64_t v) noexcept {
  for (std::size_t i = 0; i < 8; ++i) out[at + i] = static_cast<std::byte>(v >> (56U - 8U * i));
}
constexpr std::uint64_t get_u64(const challenge_bytes& in, std::size_t at) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8U) | static_cast<std::uint64_t>(in[at + i]);
  return v;
}
constexpr std::int64_t u64_to_i64(std::uint64_t v) noexcept {
  // Two's complement without implementation-defined conversion.
  return v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
             ? static_cast<std::int64_t>(v)
             : -static_cast<std::int64_t>(~v) - 1;
}

inline constexpr std::byte challenge_format_version{2};
// Version 1 had no failure budget (bytes 6-7 zero); it still reads.
inline constexpr std::byte challenge_format_version_1{1};

}  // namespace detail

// When issue_code can next succeed for this challenge: the latest of the end
// of the resend interval of the last code, the end of a lock and the refill
// of one failed check of a spent failure budget;
// timestamp::min() when nothing stands in the way; timestamp::max() for a
// policy outside its limits (issue_code never succeeds with it).
constexpr timestamp next_issue_at(const code_policy& policy, const challenge& state) noexcept {
  if (validate(policy) != errc::ok) return timestamp::max();
  std::int64_t at = std::numeric_limits<std::int64_t>::min();
  if (state.state() != challenge_state::none)
    at = detail::sat_add(detail::ms_of(state.issued_at()), detail::to_ms(policy.resend_interval));
  if (state.consecutive_failures() >= policy.max_consecutive_failures) {
    const std::int64_t unlock = detail::sat_add(detail::ms_of(state.last_failure_at()), detail::to_ms(policy.lockout));
    if (unlock > at) at = unlock;
  }
  // A spent failure budget: no code until one failed check has drained.
  const std::int64_t refill = detail::budget_drains_to(policy, state, policy.failure_budget - 1u);
  if (refill > at) at = refill;
  return timestamp{std::chrono::milliseconds{at}};
}

// The first instant from which `state` remembers nothing that could change a
// verdict (RULES.md §4), so a store may drop it: the latest of the end of the
// resend interval, the expiry of a live code, the forgetting of its consecutive
// failures and the draining of its failure budget. timestamp::min() for a
// challenge that holds nothing, timestamp::max() for a policy outside its limits.
constexpr timestamp forgettable_at(const code_policy& policy, const challenge& state) noexcept {
  if (validate(policy) != errc::ok) return timestamp::max();
  std::int64_t at = std::numeric_limits<std::int64_t>::min();
  const auto later = [&at](std::int64_t t) { at = t > at ? t : at; };
  if (state.state() != challenge_state::none)
    later(detail::sat_add(detail::ms_of(state.issued_at()), detail::to_ms(policy.resend_interval)));
  if (state.state() == challenge_state::live) later(detail::ms_of(state.expires_at()));
  if (state.consecutive_failures() != 0)
    later(detail::sat_add(detail::ms_of(state.last_failure_at()), detail::to_ms(policy.lockout)));
  if (state.budget_charged() != 0) later(detail::budget_drains_to(policy, state, 0));
  return timestamp{std::chrono::milliseconds{at}};
}

// A code drawn and tagged before it is issued, and its keyed tags
// (draw_code): a caller that holds locks while it decides (the embedded
// engine) or runs the decision elsewhere (a fleet's script) draws it first,
// outside, then issues it with issue_drawn_code or drops it. `code` is
// secret: send it by SMS, never log it; wipe it (detail::secure_zero) once
// rendered or dropped.
struct drawn_code {
  inline_string<code_max_digits> code;
  detail::binding_tags tags;
  key_id key = 0;  // the id of the key that made `tags` (0 for a lone secret_key)
};

namespace detail {
// The checks issue_code makes before it draws: ok, or its error (RULES.md
// §5). `next` is the challenge the issue would write: `state` with its old
// failures forgotten. `usable` is false for an all-zero key or a code that
// is not policy.digits digits.
constexpr errc issue_refusal(const code_policy& policy, bool usable, const code_binding& binding, challenge& next,
                             timestamp now) noexcept {
  if (std::is_constant_evaluated())
    PHONEVERIFY_ASSERT(validate(policy) == errc::ok, "issue_code: code_policy outside its limits (RULES.md §5)");
  if (validate(policy) != errc::ok || !is_action(binding.purpose) || !info(binding.purpose).sends || !usable)
    return errc::invalid_parameter;
  detail::forget_old_failures(policy, next, now);
  if (now < next_issue_at(policy, next)) return info(binding.purpose).limit_error;
  return errc::ok;
}

// Records `drawn` in `next` (issued at `now`, attempts 0, live, its key's
// id), then `next` in `state`; the code to send, which holds drawn's digits.
constexpr issued_code record_issue(const code_policy& policy, const drawn_code& drawn, challenge& next,
                                   challenge& state, timestamp now) noexcept {
  using access = detail::challenge_access;
  access::binding_tag(next) = drawn.tags.binding;
  access::code_tag_of(next) = drawn.tags.code;
  access::issued_ms(next) = detail::ms_of(now);
  access::expires_ms(next) = detail::sat_add(detail::ms_of(now), detail::to_ms(policy.validity));
  access::attempts(next) = 0;
  access::state(next) = challenge_state::live;
  access::issuing_key(next) = drawn.key;
  state = next;
  return {drawn.code, next.expires_at()};
}

// Draws policy.digits decimal digits uniformly from `rng` (rejection
// sampling, no modulo bias) into `out` with their tags under `key` (a
// secret_key or a keyed hmac_sha256_hasher, compute_tags takes both),
// recorded as `id`; false when the generator gave no acceptable value in 512
// draws. The caller has checked the policy.
template <class Key, uniform_random_bit_generator G>
constexpr bool draw_digits(const code_policy& policy, const Key& key, key_id id, const code_binding& binding, G& rng,
                           drawn_code& out) noexcept {
  std::uint64_t value = 0;
  if (!detail::draw_below(rng, detail::pow10_u64(policy.digits), value)) return false;
  char digits[code_max_digits]{};
  for (std::size_t i = policy.digits; i-- > 0;) {
    digits[i] = static_cast<char>('0' + value % 10U);
    value /= 10U;
  }
  out.code.append(std::string_view(digits, policy.digits));
  detail::secure_zero(digits, code_max_digits);  // the code leaves only in `out`
  out.tags = detail::compute_tags(key, binding, out.code.view());
  out.key = id;
  return true;
}
}  // namespace detail

// Issues a new code for `binding` at `now` and records it in `state` (RULES.md §5):
// draws policy.digits decimal digits uniformly from `rng` (rejection
// sampling, no modulo bias), stores only their keyed tags, sets the expiry
// to now + validity and the attempts of the code to 0, and keeps the
// consecutive failures (NIST SP 800-63B-4 §3.1.3.2: a new code does not
// reset them). Issuing for another phone of the same account rebinds the
// challenge and keeps its counters. A newer code replaces the older one.
// Errors: inside the resend interval of the last code or while locked, the
// sending action's limit error (system_limit_control for
// get_migration_verify_code, send_validate_code_exceeds_limit_for_account
// otherwise), with next_issue_at() saying when a retry succeeds;
// invalid_parameter for a policy outside its limits (a compile error in a
// constant expression), a purpose that is not a sending action, an all-zero
// key, or a generator that gave no acceptable value in 512 draws. `state` is
// unchanged on error.
namespace detail {
// `key` is a secret_key or a keyed hmac_sha256_hasher (compute_tags takes
// both); `usable` is false for an all-zero key.
template <class Key, uniform_random_bit_generator G>
constexpr result<issued_code> issue_under(const code_policy& policy, const Key& key, bool usable, key_id id,
                                          const code_binding& binding, challenge& state, timestamp now,
                                          G& rng) noexcept {
  challenge next = state;
  if (const errc e = issue_refusal(policy, usable, binding, next, now); e != errc::ok) return e;
  drawn_code drawn{};
  if (!draw_digits(policy, key, id, binding, rng, drawn)) return errc::invalid_parameter;
  const issued_code out = record_issue(policy, drawn, next, state, now);
  detail::secure_zero(&drawn, 1);  // the code leaves only in `out`
  return out;
}

// draw_code under `keyed` (a secret_key, or a keyed hasher of a ring), recorded as `id`.
template <class Key, uniform_random_bit_generator G>
constexpr result<drawn_code> draw_under(const code_policy& policy, const Key& keyed, bool usable, key_id id,
                                        const code_binding& binding, G& rng) noexcept {
  if (validate(policy) != errc::ok || !is_action(binding.purpose) || !info(binding.purpose).sends || !usable)
    return errc::invalid_parameter;
  drawn_code out{};
  if (!draw_digits(policy, keyed, id, binding, rng, out)) return errc::invalid_parameter;
  return out;
}
}  // namespace detail

template <detail::uniform_random_bit_generator G>
constexpr result<issued_code> issue_code(const code_policy& policy, const secret_key& key, const code_binding& binding,
                                         challenge& state, timestamp now, G& rng) noexcept {
  return detail::issue_under(policy, key, !detail::is_zero_key(key), key_id{0}, binding, state, now, rng);
}

// The same under `keys`: the code is issued under the primary key and the
// challenge records its id (RULES.md §5, key rotation). An empty ring, or one
// whose primary key is all zero, is invalid_parameter.
template <detail::uniform_random_bit_generator G>
constexpr result<issued_code> issue_code(const code_policy& policy, const key_ring& keys, const code_binding& binding,
                                         challenge& state, timestamp now, G& rng) noexcept {
  const hmac_sha256_hasher* keyed = keys.prepared(keys.primary_id());
  if (keyed == nullptr) return errc::invalid_parameter;
  return detail::issue_under(policy, *keyed, !detail::is_zero_key(*keys.primary()), keys.primary_id(), binding, state,
                             now, rng);
}

// Draws policy.digits digits from `rng` as issue_code does (the same
// rejection sampling, so a generator in the same state gives the same code)
// and computes their tags for `binding`, changing no state: the draw of
// issue_code without its checks of the challenge. invalid_parameter for a
// policy outside its limits, a purpose that is no sending action, an
// all-zero key, or a generator that gave no acceptable value.
template <detail::uniform_random_bit_generator G>
constexpr result<drawn_code> draw_code(const code_policy& policy, const secret_key& secret,
                                       const code_binding& binding, G& rng) noexcept {
  return detail::draw_under(policy, secret, !detail::is_zero_key(secret), key_id{0}, binding, rng);
}

// The same under the primary key of `keys`, whose id the tags carry (RULES.md
// §5, key rotation); an empty ring or a zero primary is invalid_parameter.
template <detail::uniform_random_bit_generator G>
constexpr result<drawn_code> draw_code(const code_policy& policy, const key_ring& keys, const code_binding& binding,
                                       G& rng) noexcept {
  const hmac_sha256_hasher* keyed = keys.prepared(keys.primary_id());
  if (keyed == nullptr) return errc::invalid_parameter;
  return detail::draw_under(policy, *keyed, !detail::is_zero_key(*keys.primary()), keys.primary_id(), binding, rng);
}

// Issues `drawn` (draw_code for this binding) at `now` as issue_code issues
// the code it draws: the same checks in the same order (the policy, the
// purpose, the resend interval and the lock, with the same errors, `state`
// unchanged on error) and the same record, without drawing. A code that is
// not policy.digits digits (not drawn under this policy) is
// invalid_parameter. The caller must have drawn it for this binding under a
// key the challenge's checks will find (the ring's primary at the write):
// the tags are recorded as they are.
constexpr result<issued_code> issue_drawn_code(const code_policy& policy, const drawn_code& drawn,
                                               const code_binding& binding, challenge& state, timestamp now) noexcept {
  challenge next = state;
  if (const errc e = detail::issue_refusal(policy, drawn.code.size() == policy.digits, binding, next, now);
      e != errc::ok)
    return e;
  return detail::record_issue(policy, drawn, next, state, now);
}

// Checks `submitted` against the live code of `state` for `binding` at
// `now` and updates `state` (RULES.md §5). In order: locked, budget_spent
// (failure_budget failed checks still charged, RULES.md §4), then no_code,
// used, exhausted, expired (now >= expires_at) for a challenge with no live
// code (these use nothing); then, against a live code, other_binding
// (another account, phone or purpose), malformed (not exactly
// policy.digits ASCII digits) or wrong_code: each uses one attempt of the
// code and adds one consecutive failure; the check that reaches
// max_attempts or max_consecutive_failures returns its own status, and
// the next returns exhausted or locked. Each failure is also charged to the
// failure budget, which a success does not refill. ok consumes the code and
// resets the consecutive failures. The tags are compared in constant time: no
// branch or index depends on the submitted digits or the stored tags. A policy
// outside its limits is a compile error in a constant expression and gives
// no_code (nothing checked, nothing changed) at run time.
namespace detail {
// check_code's transition with the key of the challenge's issuing key id (a
// secret_key or a keyed hmac_sha256_hasher), or null when the caller's keys
// have none under that id.
template <class Key>
constexpr check_status check_under(const code_policy& policy, const Key* key, const code_binding& binding,
                                   challenge& state, std::string_view submitted, timestamp now) noexcept {
  if (std::is_constant_evaluated())
    PHONEVERIFY_ASSERT(validate(policy) == errc::ok, "check_code: code_policy outside its limits (RULES.md §5)");
  if (validate(policy) != errc::ok) return check_status::no_code;
  using access = detail::challenge_access;
  detail::forget_old_failures(policy, state, now);
  if (detail::is_locked(policy, state, now)) return check_status::locked;
  if (detail::budget_used_at(policy, state, now) >= policy.failure_budget) return check_status::budget_spent;
  switch (state.state()) {
    case challenge_state::live: break;
    case challenge_state::used: return check_status::used;
    case challenge_state::exhausted: return check_status::exhausted;
    case challenge_state::expired: return check_status::expired;
    case challenge_state::none:
    default: return check_status::no_code;
  }
  if (now >= state.expires_at()) {
    access::state(state) = challenge_state::expired;
    return check_status::expired;
  }
  if (state.attempts() >= policy.max_attempts) {  // e.g. a stricter policy than the one the code was issued under
    access::state(state) = challenge_state::exhausted;
    return check_status::exhausted;
  }
  // Its key left the ring (RULES.md §5, key rotation): nothing can match, so
  // there is no code to check, and no attempt is charged for it.
  if (key == nullptr) return check_status::no_code;

  // The length is public; the digits and the tags are not.
  const bool right_length = submitted.size() == policy.digits;
  const detail::binding_tags tags =
      detail::compute_tags(*key, binding, right_length ? submitted : std::string_view{});
  const bool binding_ok =
      detail::declassify(constant_time_equal(tags.binding, access::binding_tag(std::as_const(state))));
  const bool digits_ok = detail::declassify(detail::all_ascii_digits(submitted) != 0U);
  const bool code_ok = detail::declassify(constant_time_equal(tags.code, access::code_tag_of(std::as_const(state))));

  if (binding_ok && right_length && digits_ok && code_ok) {
    access::state(state) = challenge_state::used;
    access::failures(state) = 0;
    return check_status::ok;
  }
  if (state.attempts() < std::numeric_limits<std::uint8_t>::max()) ++access::attempts(state);
  if (state.consecutive_failures() < std::numeric_limits<std::uint16_t>::max()) ++access::failures(state);
  // Charged at now (the drain so far is settled first; below the budget, so +1 fits).
  access::budget(state) = static_cast<std::uint16_t>(detail::budget_used_at(policy, state, now) + 1u);
  // The latest failure time seen: a clock that goes back cannot shorten a lock (RULES.md §4).
  if (detail::ms_of(now) > detail::ms_of(state.last_failure_at())) access::last_failure_ms(state) = detail::ms_of(now);
  if (state.attempts() >= policy.max_attempts) access::state(state) = challenge_state::exhausted;
  if (!binding_ok) return check_status::other_binding;
  if (!right_length || !digits_ok) return check_status::malformed;
  return check_status::wrong_code;
}
}  // namespace detail

constexpr check_status check_code(const code_policy& policy, const secret_key& key, const code_binding& binding,
                                  challenge& state, std::string_view submitted, timestamp now) noexcept {
  // A lone key is the ring of id 0: a challenge issued under another id has no code for it.
  return detail::check_under(policy, state.issuing_key() == 0 ? &key : nullptr, binding, state, submitted, now);
}

// The same under `keys`: the key whose id the challenge records checks it; a
// challenge whose key is not in the ring reads as no_code (RULES.md §5, key rotation).
constexpr check_status check_code(const code_policy& policy, const key_ring& keys, const code_binding& binding,
                                  challenge& state, std::string_view submitted, timestamp now) noexcept {
  return detail::check_under(policy, keys.prepared(state.issuing_key()), binding, state, submitted, now);
}

// The 64-byte stored form of `state` (layout on challenge_bytes).
constexpr challenge_bytes to_bytes(const challenge& state) noexcept {
  using access = detail::challenge_access;
  challenge_bytes out{};
  out[0] = detail::challenge_format_version;
  out[1] = static_cast<std::byte>(state.state());
  out[2] = static_cast<std::byte>(state.attempts());
  out[3] = static_cast<std::byte>(state.issuing_key());
  out[4] = static_cast<std::byte>(state.consecutive_failures() >> 8);
  out[5] = static_cast<std::byte>(state.consecutive_failures() & 0xFFU);
  out[6] = static_cast<std::byte>(state.budget_charged() >> 8);
  out[7] = static_cast<std::byte>(state.budget_charged() & 0xFFU);
  detail::put_u64(out, 8, static_cast<std::uint64_t>(detail::ms_of(state.issued_at())));
  detail::put_u64(out, 16, static_cast<std::uint64_t>(detail::ms_of(state.expires_at())));
  detail::put_u64(out, 24, static_cast<std::uint64_t>(detail::ms_of(state.last_failure_at())));
  for (std::size_t i = 0; i < code_tag_size; ++i) {
    out[32 + i] = access::binding_tag(state)[i];
    out[48 + i] = access::code_tag_of(state)[i];
  }
  return out;
}

// The challenge stored as `bytes` by to_bytes; 64 zero bytes read as
// `challenge{}`; version 1 bytes (no failure budget, no key id) read with none
// charged, issued under key id 0. Anything to_bytes cannot produce is
// invalid_parameter: an unknown version or state, a non-zero reserved byte,
// a "none" challenge with any other field set, or a code whose expiry is not
// 0..10 min after its issue.
constexpr result<challenge> from_bytes(const challenge_bytes& bytes) noexcept {
  using access = detail::challenge_access;
  bool all_zero = true;
  for (std::byte b : bytes) all_zero = all_zero && b == std::byte{0};
  if (all_zero) return challenge{};
  const bool version_1 = bytes[0] == detail::challenge_format_version_1;
  if ((bytes[0] != detail::challenge_format_version && !version_1) ||
      (version_1 && (bytes[3] != std::byte{0} || bytes[6] != std::byte{0} || bytes[7] != std::byte{0})))
    return errc::invalid_parameter;
  const auto state_value = static_cast<std::uint8_t>(bytes[1]);
  if (state_value > static_cast<std::uint8_t>(challenge_state::expired)) return errc::invalid_parameter;
  challenge c{};
  access::state(c) = static_cast<challenge_state>(state_value);
  access::attempts(c) = static_cast<std::uint8_t>(bytes[2]);
  access::failures(c) = static_cast<std::uint16_t>((static_cast<unsigned>(bytes[4]) << 8) | static_cast<unsigned>(bytes[5]));
  access::budget(c) = static_cast<std::uint16_t>((static_cast<unsigned>(bytes[6]) << 8) | static_cast<unsigned>(bytes[7]));
  access::issuing_key(c) = static_cast<key_id>(bytes[3]);
  access::issued_ms(c) = detail::u64_to_i64(detail::get_u64(bytes, 8));
  access::expires_ms(c) = detail::u64_to_i64(detail::get_u64(bytes, 16));
  access::last_failure_ms(c) = detail::u64_to_i64(detail::get_u64(bytes, 24));
  for (std::size_t i = 0; i < code_tag_size; ++i) {
    access::binding_tag(c)[i] = bytes[32 + i];
    access::code_tag_of(c)[i] = bytes[48 + i];
  }
  if (c.state() == challenge_state::none) {
    for (std::size_t i = 2; i < bytes.size(); ++i)
      if (bytes[i] != std::byte{0}) return errc::invalid_parameter;
    return c;
  }
  const std::int64_t issued = detail::ms_of(c.issued_at());
  const std::int64_t expires = detail::ms_of(c.expires_at());
  if (expires < issued) return errc::invalid_parameter;
  // The difference of two int64 in uint64 is exact when expires >= issued.
  if (static_cast<std::uint64_t>(expires) - static_cast<std::uint64_t>(issued) >
      static_cast<std::uint64_t>(detail::to_ms(code_max_validity)))
    return errc::invalid_parameter;
  return c;
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_CODE_HPP
