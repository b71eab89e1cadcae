// SPDX-License-Identifier: MIT
// phoneverify: the fleet's pure layer: the state of many service instances
// shared on one Redis (or Valkey), one Lua script and one round trip per
// decision, with the embedded core's verdicts.
//
// No I/O and no client library: this header names the keys, holds the Lua
// scripts, builds each call's arguments and decodes its reply, so any Redis
// client can run them (redis.hpp is the optional hiredis transport). What
// does not depend on stored state stays in C++ (the policy constants, the
// keyed tags of a submitted code: the HMAC key never leaves the process);
// the scripts only decode, compare, update and encode.
//
// Rules every script keeps (RULES.md §4, §5, §9):
// - one decision, one script: it reads every key, decides, then writes.
//   Redis has no rollback and out-of-memory can refuse only a script's first
//   write, so nothing that can fail follows a write;
// - exact: Lua numbers are doubles, so every stored and intermediate integer
//   stays below 2^53 in magnitude: times and stored values are refused
//   beyond 2^52 ms (fault::out_of_exact_range, failing closed) and a limit
//   whose arithmetic could leave that range is refused when planned;
// - the core's own bytes: a value is the to_bytes layout of its state
//   (quota.hpp, code.hpp), the same bytes in the embedded and the fleet
//   world. A value that is not such a state (another type, length, version
//   or kind, a broken invariant) fails the decision closed with a fault of
//   its own and is neither read as fresh nor overwritten (RULES.md §9);
// - only dead state disappears: a state is dead from the instant it answers
//   as an absent one (the engine's death times, RULES.md §4); a script reads
//   a dead state as absent, deletes a state it leaves dead, and writes every
//   other one to expire (PX) a margin after its death time on the clock
//   that decided (never earlier: a key that outlives its death is read as
//   absent anyway);
// - one clock: the server's TIME unless the caller passes its own time.
//   The expiry counts from the decision's time, so a clock that lags the
//   server's never loses live state, and one ahead by less than the margin
//   neither.
// Everything here is constexpr and noexcept and never allocates.
#ifndef PHONEVERIFY_FLEET_HPP
#define PHONEVERIFY_FLEET_HPP

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "code.hpp"
#include "detail/siphash.hpp"
#include "errc.hpp"
#include "inline_string.hpp"
#include "quota.hpp"
#include "result.hpp"
#include "time.hpp"

namespace phoneverify::fleet {

// ---------------------------------------------------------------------------
// Why a decision could not be made. Every fault fails the request closed
// (RULES.md §4: a Redis failure never admits); each has its own name for logs.

enum class fault : std::uint8_t {
  none = 0,
  state_wrong_type = 1,     // the key holds a list, a hash, a set...: another application's value
  state_wrong_size = 2,     // a string of another length than the state's layout
  state_wrong_version = 3,  // the layout's version byte is one this library does not read
  state_wrong_kind = 4,     // another state's bytes (a daily_usage where a rate_state belongs)
  state_invalid = 5,        // reserved bytes or invariants that to_bytes never writes
  out_of_exact_range = 6,   // a time or stored value beyond 2^52 ms: Lua's doubles would round it
  bad_arguments = 7,        // the script could not read its arguments (a caller bug)
  bad_reply = 8,            // the reply is not the script's (another script under that name?)
  unavailable = 9,          // no reply: the transport's error (redis.hpp says which)
};

constexpr std::string_view fault_name(fault f) noexcept {
  switch (f) {
    case fault::none: return "none";
    case fault::state_wrong_type: return "state_wrong_type";
    case fault::state_wrong_size: return "state_wrong_size";
    case fault::state_wrong_version: return "state_wrong_version";
    case fault::state_wrong_kind: return "state_wrong_kind";
    case fault::state_invalid: return "state_invalid";
    case fault::out_of_exact_range: return "out_of_exact_range";
    case fault::bad_arguments: return "bad_arguments";
    case fault::bad_reply: return "bad_reply";
    case fault::unavailable: return "unavailable";
  }
  return {};
}

// The largest magnitude a time or stored integer may have: 2^52, so that
// every sum or difference of two of them stays below 2^53, where doubles
// are exact integers.
inline constexpr std::int64_t exact_limit = std::int64_t{1} << 52;

// ---------------------------------------------------------------------------
// Replies, whatever the client: a view of one RESP value.

struct reply_view {
  enum class type : std::uint8_t { nil, integer, string, status, error, array };
  type kind = type::nil;
  long long integer = 0;
  std::string_view text;                  // string, status and error
  std::span<const reply_view> elements;   // array
};

// True when a reply says the server has no script of that SHA-1 (empty
// cache after a restart, a failover or SCRIPT FLUSH; per node in a cluster):
// the caller sends EVAL with the source instead.
constexpr bool is_noscript(const reply_view& r) noexcept {
  return r.kind == reply_view::type::error && r.text.substr(0, 8) == "NOSCRIPT";
}

// ---------------------------------------------------------------------------
// SHA-1 (FIPS 180-4 §6.1), only to name scripts as EVALSHA does: it is no
// security boundary here.

namespace detail {

constexpr std::uint32_t sha1_rotl(std::uint32_t v, unsigned n) noexcept { return (v << n) | (v >> (32U - n)); }

constexpr std::array<char, 40> sha1_hex(std::string_view message) noexcept {
  std::uint32_t h[5] = {0x67452301U, 0xEFCDAB89U, 0x98BADCFEU, 0x10325476U, 0xC3D2E1F0U};
  const std::uint64_t bit_length = static_cast<std::uint64_t>(message.size()) * 8U;
  // The padded message: the bytes, 0x80, zeros, the 64-bit length (§5.1.1).
  const std::size_t total = ((message.size() + 8U) / 64U + 1U) * 64U;
  for (std::size_t block = 0; block < total; block += 64) {
    std::uint32_t w[80]{};
    for (std::size_t i = 0; i < 64; ++i) {
      const std::size_t at = block + i;
      std::uint32_t byte = 0;
      if (at < message.size()) {
        byte = static_cast<unsigned char>(message[at]);
      } else if (at == message.size()) {
        byte = 0x80U;
      } else if (at >= total - 8U) {
        byte = static_cast<std::uint32_t>((bit_length >> (8U * (total - 1U - at))) & 0xFFU);
      }
      w[i / 4] |= byte << (8U * (3U - i % 4U));
    }
    for (std::size_t t = 16; t < 80; ++t) w[t] = sha1_rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (std::size_t t = 0; t < 80; ++t) {
      std::uint32_t f = 0, k = 0;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999U;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1U;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDCU;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6U;
      }
      const std::uint32_t temp = sha1_rotl(a, 5) + f + e + k + w[t];
      e = d;
      d = c;
      c = sha1_rotl(b, 30);
      b = a;
      a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  constexpr char digits[] = "0123456789abcdef";
  std::array<char, 40> out{};
  for (std::size_t i = 0; i < 40; ++i) out[i] = digits[(h[i / 8] >> (28U - 4U * (i % 8U))) & 0xFU];
  return out;
}

}  // namespace detail

// One Lua script: its source and the SHA-1 EVALSHA names it by.
struct script {
  std::string_view name;
  std::string_view source;
  std::array<char, 40> sha1;
  constexpr std::string_view sha1_view() const noexcept { return {sha1.data(), sha1.size()}; }
};

constexpr script make_script(std::string_view name, std::string_view source) noexcept {
  return {name, source, detail::sha1_hex(source)};
}

// ---------------------------------------------------------------------------
// Key names (RULES.md §9: nothing readable in Redis).
//
// {pv:<deployment>}:<kind>[:<action>]:<32 hex digits>
//
// The braces are the hash tag: every key of a deployment hashes to one slot
// of a Redis Cluster, so each decision is one script on one node and truly
// all or nothing. The 32 hex digits are a keyed hash (two SipHash-2-4 lanes,
// 128 bits, under the caller's secret id key) of the kind and the id: phone
// numbers and account ids never appear in key names (which MONITOR, SCAN,
// RDB and AOF files show), ids of two kinds never share a key, and no id can
// carry a brace into the hash tag.

using id_key = std::array<std::byte, 16>;
inline constexpr std::size_t max_deployment_size = 32;
inline constexpr std::size_t max_id_size = 256;
// "{pv:" + deployment [+ ":" + 16 hex, sharded] + "}:" + kind + ":" + action digit + ":" + 32 hex.
inline constexpr std::size_t max_key_size = 4 + max_deployment_size + 17 + 2 + 1 + 2 + 1 + 32;
using key_name = inline_string<max_key_size>;

// What a key names: each kind of state has its own letter.
enum class key_kind : char {
  rate = 'r',       // rate_state of a caller (flow control, RULES.md §4)
  challenge = 'c',  // challenge of a (sending action, account) (RULES.md §5)
  quota = 'q',      // daily_usage of an account (RULES.md §4)
  phone = 'w',      // the per-phone windows of a phone number (RULES.md §4)
};


// A deployment's key names: its name (1 to 32 of A-Z a-z 0-9 . _ -, so no
// brace can end the hash tag early) and the secret key of the id hashes
// (16 bytes from a secure random source, the same on every instance; an
// all-zero key is refused).
//
// Sharded (for a Redis Cluster whose load one slot cannot carry): the hash
// tag is {pv:<deployment>:<16 hex>}, a keyed hash of the state's owner (the
// account of a challenge or a quota, the phone of its windows, the caller
// of a rate state), so each owner's states share a slot of their own and a
// binding's challenge shares its account's quota slot. A send then spans
// up to three slots and is no longer one script: see plan_send_steps.
struct key_scheme {
  inline_string<max_deployment_size> deployment;
  ::phoneverify::detail::siphash_key hash_key{0, 0};
  bool sharded = false;
};

constexpr result<key_scheme> make_key_scheme(std::string_view deployment, const id_key& key,
                                             bool sharded = false) noexcept {
  if (deployment.empty() || deployment.size() > max_deployment_size) return errc::invalid_parameter;
  for (char ch : deployment) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                    ch == '_' || ch == '-';
    if (!ok) return errc::invalid_parameter;
  }
  unsigned any = 0;
  for (std::byte b : key) any |= static_cast<unsigned>(b);
  if (any == 0) return errc::invalid_parameter;
  key_scheme scheme;
  scheme.sharded = sharded;
  scheme.deployment.append(deployment);
  scheme.hash_key = ::phoneverify::detail::siphash_key_from_bytes(key);
  return scheme;
}

namespace detail {

inline constexpr char hex_digits[] = "0123456789abcdef";

// One 64-bit lane of the id hash: SipHash-2-4 of lane, kind, action and id.
constexpr std::uint64_t id_lane(const ::phoneverify::detail::siphash_key& key, char lane, char kind, char action_digit,
                                std::string_view id) noexcept {
  char message[3 + max_id_size]{};
  message[0] = lane;
  message[1] = kind;
  message[2] = action_digit;
  for (std::size_t i = 0; i < id.size(); ++i) message[3 + i] = id[i];
  return ::phoneverify::detail::siphash24(key, std::string_view(message, 3 + id.size()));
}

}  // namespace detail

// The key of one state: `id` is the caller (rate), the account (challenge,
// quota) or the E.164 phone (phone windows); `purpose` the sending action of
// a challenge (RULES.md §5: one challenge per sending action and account),
// ignored for the other kinds. An empty id or one above 256 bytes is
// invalid_parameter (RULES.md §9: an unnamed caller keys no state).
constexpr result<key_name> make_key(const key_scheme& scheme, key_kind kind, std::string_view id,
                                    action purpose = action::get_migration_verify_code) noexcept {
  if (id.empty() || id.size() > max_id_size || scheme.deployment.empty()) return errc::invalid_parameter;
  const char action_digit = kind == key_kind::challenge ? static_cast<char>('1' + static_cast<int>(purpose)) : '-';
  const char k = static_cast<char>(kind);
  key_name out;
  out.append("{pv:");
  out.append(scheme.deployment);
  if (scheme.sharded) {
    // The owner's tag: the same for every kind and action of one id.
    const std::uint64_t owner = detail::id_lane(scheme.hash_key, '\x03', 'o', '-', id);
    out.push_back(':');
    for (int shift = 60; shift >= 0; shift -= 4) out.push_back(detail::hex_digits[(owner >> shift) & 0xFU]);
  }
  out.append("}:");
  out.push_back(k);
  out.push_back(':');
  if (kind == key_kind::challenge) {
    out.push_back(action_digit);
    out.push_back(':');
  }
  const std::uint64_t lanes[2] = {detail::id_lane(scheme.hash_key, '\x01', k, action_digit, id),
                                  detail::id_lane(scheme.hash_key, '\x02', k, action_digit, id)};
  for (std::uint64_t lane : lanes)
    for (int shift = 60; shift >= 0; shift -= 4) out.push_back(detail::hex_digits[(lane >> shift) & 0xFU]);
  return out;
}

// The key-use ledger of HMAC key `id` (RULES.md §5, key rotation):
// {pv:<deployment>}:k:<id in decimal>, holding the latest instant (ms) until
// which a code issued under that key may be live, and expiring then. Its tag
// is the deployment's alone, in the sharded mode too, so every ledger key
// shares one slot and one script reads them all. Written by key_use_lease
// before an instance issues under the key, read before a key may leave the ring.
constexpr key_name key_use_key(const key_scheme& scheme, key_id id) noexcept {
  key_name out;
  if (scheme.deployment.empty()) return out;
  out.append("{pv:");
  out.append(scheme.deployment);
  out.append("}:k:");
  if (id >= 100) out.push_back(static_cast<char>('0' + id / 100));
  if (id >= 10) out.push_back(static_cast<char>('0' + id / 10 % 10));
  out.push_back(static_cast<char>('0' + id % 10));
  return out;
}

// ---------------------------------------------------------------------------
// Calls: a script and its KEYS and ARGV, as the strings any client sends.

inline constexpr std::size_t max_arg_size = 24;  // a 16-byte tag, or an int64 in decimal (20)
using arg_string = inline_string<max_arg_size>;

template <std::size_t Keys, std::size_t Args, std::size_t ArgSize = max_arg_size>
struct script_call {
  const script* code = nullptr;
  std::array<key_name, Keys> keys{};
  std::array<inline_string<ArgSize>, Args> args{};
  inline_string<4> numkeys{};
  std::size_t key_count = Keys;  // the keys this call sends (a send without a quota sends 2 of 3)
  std::size_t arg_count = Args;  // the args it sends (a ledger read sends one per ledger asked)

  static constexpr std::size_t max_argc = 3 + Keys + Args;
  constexpr std::size_t argc() const noexcept { return 3 + key_count + arg_count; }
  // EVALSHA <sha1> <numkeys> <keys...> <args...>, or with `with_source`
  // EVAL <source> ... (after NOSCRIPT): the first argc() entries. The views
  // point into this call and its script: keep both alive while they are used.
  constexpr std::array<std::string_view, max_argc> argv(bool with_source = false) const noexcept {
    std::array<std::string_view, max_argc> out{};
    out[0] = with_source ? std::string_view("EVAL") : std::string_view("EVALSHA");
    out[1] = with_source ? code->source : code->sha1_view();
    out[2] = numkeys.view();
    for (std::size_t i = 0; i < key_count; ++i) out[3 + i] = keys[i].view();
    for (std::size_t i = 0; i < arg_count; ++i) out[3 + key_count + i] = args[i].view();
    return out;
  }
};

namespace detail {

constexpr arg_string decimal(std::int64_t value) noexcept {
  char digits[20]{};
  std::size_t n = 0;
  // Negative values are formatted from their magnitude as unsigned, so
  // INT64_MIN needs no special case.
  std::uint64_t magnitude = value < 0 ? ~static_cast<std::uint64_t>(value) + 1U : static_cast<std::uint64_t>(value);
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10U);
    magnitude /= 10U;
  } while (magnitude != 0);
  arg_string out;
  if (value < 0) out.push_back('-');
  while (n > 0) out.push_back(digits[--n]);
  return out;
}

// A policy argument: integers as big-endian int64 one after the other, which
// a script reads with one struct.unpack (a decimal argument each cost a
// tonumber and a range check per call). Every value written is below 2^52
// in magnitude (the plan functions refuse larger ones), so Lua reads each
// exactly; a script packs what it read again and refuses a blob whose
// bytes differ (a value Lua would have rounded).
template <std::size_t N>
constexpr void put_i64(inline_string<N>& out, std::int64_t value) noexcept {
  const auto u = static_cast<std::uint64_t>(value);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((u >> shift) & 0xFFU));
}

template <std::size_t Keys, std::size_t Args, std::size_t ArgSize = max_arg_size>
constexpr script_call<Keys, Args, ArgSize> start_call(const script& s) noexcept {
  script_call<Keys, Args, ArgSize> call;
  call.code = &s;
  const arg_string count = decimal(static_cast<std::int64_t>(Keys));
  call.numkeys.append(count.view());
  return call;
}

// The time argument: empty for the server's TIME.
constexpr arg_string time_arg(std::optional<timestamp> now) noexcept {
  return now ? decimal(static_cast<std::int64_t>(now->time_since_epoch().count())) : arg_string{};
}

// The reply's elements as integers (every script answers an array of them),
// or false when it is not such an array of exactly `n`.
template <std::size_t N>
constexpr bool integers(const reply_view& r, std::array<long long, N>& out, std::size_t& got) noexcept {
  if (r.kind != reply_view::type::array || r.elements.empty() || r.elements.size() > N) return false;
  for (std::size_t i = 0; i < r.elements.size(); ++i) {
    if (r.elements[i].kind != reply_view::type::integer) return false;
    out[i] = r.elements[i].integer;
  }
  got = r.elements.size();
  return true;
}

// The fault a script answered in its first element (0 = none), or bad_reply.
constexpr fault fault_of(long long code) noexcept {
  return code >= 0 && code <= static_cast<long long>(fault::bad_arguments) ? static_cast<fault>(code)
                                                                          : fault::bad_reply;
}

// The opening of every decoder: the reply's integers into `v` (`got` of
// them) when it is a script's answer without a fault (true); else false with
// `error` the fault it answered alone, or bad_reply.
template <std::size_t N>
constexpr bool open_reply(const reply_view& reply, std::array<long long, N>& v, std::size_t& got,
                          fault& error) noexcept {
  error = fault::bad_reply;
  if (!integers(reply, v, got)) return false;
  const fault f = fault_of(v[0]);
  if (f != fault::none) {
    if (got == 1) error = f;
    return false;
  }
  return true;
}

}  // namespace detail

// How long past its death time a key is kept (PX death + margin - now): at
// least the clock skew the fleet accepts. A state past its death time reads
// as absent anyway, so the margin costs memory, never a verdict.
inline constexpr std::chrono::milliseconds default_expiry_margin{60'000};
inline constexpr std::chrono::milliseconds max_expiry_margin{std::int64_t{1} << 40};

// ---------------------------------------------------------------------------
// The Lua of every script: helpers, then one decision each.
//
// Redis runs Lua 5.1: numbers are doubles and `bit` is 32-bit, so every
// value stays below 2^53 (times and stored values are refused at 2^52:
// fault 6). A layout is read with one struct.unpack call and written with
// one struct.pack call (Redis's struct library converts 8-byte integers
// through a 64-bit integer, so any value below 2^53 is exact both ways): a
// call per byte was most of a script's Redis time. The windows after a
// charge are their header, the new time and the old times' bytes.
// A value that is all zeros, or of another version, is told apart from
// its first byte before any all-zero string is built.

namespace detail {

// Every script starts with lua_base: LIMIT, the library aliases and DAY;
// then lua_clock, now from ARGV[1] (or the server's TIME when it is empty:
// TIME is asked only then), except the send and the issue step, whose one
// argument carries the clock (blob_clock_lua).
inline constexpr char lua_base[] = R"lua(local LIMIT = 4503599627370496
local up, pk, floor, tonumber, format, rep = struct.unpack, struct.pack, math.floor, tonumber, string.format, string.rep
local DAY = 86400000
local now
)lua";
inline constexpr char lua_clock[] = R"lua(if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end
)lua";

// The helpers of the scripts off the send's path (the flow, the windows and
// quota steps, the key-use ledger), after lua_clock: fdiv, cdiv, exact and put
// (SET ... PX death + margin - now, at least 1 ms). PX counts from `now`,
// the clock that decided: the key outlives the state's death by the margin
// on that clock. On the server's clock that is the same as PXAT death +
// margin for a caller whose clock lags it (the lag is added), and for a
// caller ahead of it by less than the margin (the margin is the skew the
// fleet accepts) still after the death: no live state is dropped (RULES.md
// §4: a state disappears only once dead).
//
// The send is straight-line code instead: a Lua function is a closure made
// on every call, and a table or a string a heap allocation the collector
// then sweeps; with helpers they made most of a send's Redis time. The
// send and the sharded send's steps share fragments over named locals;
// each fragment says which locals it reads and which it sets, and returns
// a fault ({n}) itself.
inline constexpr char lua_helpers[] = R"lua(local function fdiv(a, b)
  local q = floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function cdiv(a, b) local q = fdiv(a, b) if q * b < a then q = q + 1 end return q end
local function exact(x) return x ~= nil and x == floor(x) and x < LIMIT and x >= -LIMIT end
local function put(key, bytes, dead_at, margin)
  local ttl = dead_at + margin - now
  if ttl < 1 then ttl = 1 end
  redis.call('SET', key, bytes, 'PX', format('%d', ttl))
end
)lua";

// One key's value: GET, fault 1 for a value of another type (every script
// but the send, which reads its keys with read_all).
inline constexpr char read_lua[] = R"lua(local function read(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' then return nil, 1 end
  return v, 0
end
)lua";

// The parts one after the other, as one NUL-terminated array (a script's source).
template <std::size_t... N>
constexpr std::array<char, (N + ...) - sizeof...(N) + 1> concat(const char (&... parts)[N]) noexcept {
  std::array<char, (N + ...) - sizeof...(N) + 1> out{};
  std::size_t at = 0;
  const auto add = [&out, &at](const char* part, std::size_t size) {
    for (std::size_t i = 0; i + 1 < size; ++i) out[at++] = part[i];
  };
  (add(parts, N), ...);
  return out;
}
template <std::size_t N>
constexpr std::string_view text_of(const std::array<char, N>& text) noexcept {
  return {text.data(), N - 1};
}

}  // namespace detail

namespace detail {

// Flow control: admit (GCRA, quota.hpp) on a rate_state_bytes value.
// KEYS[1] the rate_state. ARGV: now, count, n, scale s, step T and window
// count * T (both in 1/s ms), unlimited (1 when period <= 0), margin.
// Reply: {fault} or {0, allowed, remaining, never, retry_at}.
inline constexpr char flow_body[] = R"lua(
local function i64(x) if x >= LIMIT or x < -LIMIT then return nil end return x end
local c, n, s, T, W, unlimited, margin = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
if not (exact(now) and exact(c) and exact(n) and exact(s) and exact(T) and exact(W) and exact(margin) and unlimited) then
  return {7}
end
local v, f = read(KEYS[1])
if f ~= 0 then return {f} end
local tat = nil
if v then
  if #v ~= 16 then return {2} end
  local ver, kind, flag, pad, x = up('>BBBc5i8', v)
  if ver ~= 0 or v ~= rep('\0', 16) then
    if ver ~= 1 then return {3} end
    if kind ~= 17 then return {4} end
    if pad ~= '\0\0\0\0\0' then return {5} end
    if flag == 0 then
      if x ~= 0 then return {5} end
    elseif flag == 1 then
      if x == -9223372036854775808 then return {5} end
      tat = i64(x)
      if tat == nil then return {6} end
    else
      return {5}
    end
  end
end
if unlimited == 1 and n <= c then return {0, 1, c - n, 0, now} end
if n > c then return {0, 0, 0, 1, 0} end
if c == 0 then return {0, 1, 0, 0, now} end
local t = now * s
if not exact(t) then return {6} end
local ahead = 0
if tat and tat > t then ahead = tat - t end
local step = n * T
if n == 0 then
  local left = 0
  if ahead < W then left = fdiv(W - ahead, T) end
  return {0, 1, left, 0, now}
end
if ahead <= W and step <= W - ahead then
  local new_ahead = ahead + step
  local new_tat = t + new_ahead
  if not exact(new_tat) then return {6} end
  put(KEYS[1], '\1\17\1\0\0\0\0\0' .. pk('>i8', new_tat), cdiv(new_tat, s), margin)
  local remaining = c - n
  if ahead ~= 0 then remaining = fdiv(W - new_ahead, T) end
  return {0, 1, remaining, 0, now}
end
local free = 0
if n ~= 1 and ahead < W then free = fdiv(W - ahead, T) end
local due = tat - (W - step)
local retry = due
if s ~= 1 then retry = cdiv(due, s) end
return {0, 0, free, 0, retry}
)lua";

// The code check: check_code's transition (code.hpp) on a challenge_bytes
// value. KEYS[1] the challenge. ARGV: now; the submission's tags under each
// key of the ring, computed in C++ (1 to 8 entries of 33 bytes: the key id,
// the binding tag, the code tag); one blob of big-endian int64 (put_i64):
// well-formed (1 when the submission is exactly `digits` ASCII digits),
// max_attempts, max_consecutive_failures, lockout ms, failure_budget, budget
// window ms, resend interval ms, margin. The tags of the key the challenge
// names are compared; a live code whose key is not among them is no_code,
// charged nothing (RULES.md §5, key rotation). Straight-line code over the
// challenge's fields (challenge_fields_lua), as the send. The challenge is
// written only when the transition changed it: deleted when it can no
// longer deny (forgettable_at), else kept until then plus the margin.
// Reply: {fault} or {0, check_status}.
inline constexpr char check_head[] = R"lua(local TAGS, PB = ARGV[2], ARGV[3]
if not (now and now == floor(now) and now < LIMIT and now >= -LIMIT and #TAGS >= 33 and #TAGS <= 264 and
        #TAGS % 33 == 0 and #PB == 64) then
  return {7}
end
local WELL, MAXATT, MAXCF, LOCKOUT, FB, BW, RESEND, margin = up('>i8i8i8i8i8i8i8i8', PB)
if FB < 1 or BW < 1 then return {7} end
local cv = redis.pcall('GET', KEYS[1])
if type(cv) == 'table' then return {1} end
)lua";

// forgettable_at of the challenge's fields as they are, into `at` (nil:
// nothing to remember): written out where it is used, twice (before the
// transition and after it), not a function, as budget_used_at below: a
// function is a closure made on every call, and each local it reads an
// upvalue, heap allocations the collector then sweeps.
inline constexpr char check_dies_lua[] = R"lua(at = nil
if st ~= 0 then at = iss + RESEND end
if st == 1 and (at == nil or exp > at) then at = exp end
if fail ~= 0 then local t = lf + LOCKOUT if at == nil or t > at then at = t end end
if bud ~= 0 then
  local a = bud * BW
  local q = floor(a / FB)
  if q * FB > a then q = q - 1 elseif (q + 1) * FB <= a then q = q + 1 end
  if q * FB < a then q = q + 1 end
  local t = lf + q
  if at == nil or t > at then at = t end
end
)lua";
// A challenge that can no longer deny reads as none (the engine's eviction).
inline constexpr char check_evict_lua[] = R"lua(local at
if st ~= 0 or fail ~= 0 or bud ~= 0 then
)lua";
// Then budget_used_at (the failure budget drains linearly over its window),
// once: nothing it reads changes before its two uses; and the transition.
inline constexpr char check_body[] = R"lua(  if at == nil or at <= now then st, att, kid, fail, bud, iss, exp, lf = 0, 0, 0, 0, 0, 0, 0, 0 end
end
local used = bud
if bud ~= 0 and now > lf then
  local elapsed = now - lf
  if elapsed >= BW then
    used = 0
  else
    local a = elapsed * FB
    local drained = floor(a / BW)
    if drained * BW > a then drained = drained - 1 elseif (drained + 1) * BW <= a then drained = drained + 1 end
    if drained >= bud then used = 0 else used = bud - drained end
  end
end
local status, changed = 7, false
if fail ~= 0 and now >= lf + LOCKOUT then fail, changed = 0, true end
if fail >= MAXCF and now < lf + LOCKOUT then
  status = 5
elseif bud ~= 0 and used >= FB then
  status = 9
elseif st == 2 then
  status = 3
elseif st == 3 then
  status = 4
elseif st == 4 then
  status = 2
elseif st == 1 then
  if now >= exp then
    st, status, changed = 4, 2, true
  elseif att >= MAXATT then
    st, status, changed = 3, 4, true
  else
    local tags = nil
    for i = 1, #TAGS, 33 do
      if string.byte(TAGS, i) == kid then
        tags = i
        break
      end
    end
    if tags then
      local binding_ok = string.sub(TAGS, tags + 1, tags + 16) == string.sub(cv, 33, 48)
      if binding_ok and WELL == 1 and string.sub(TAGS, tags + 17, tags + 32) == string.sub(cv, 49, 64) then
        st, fail, status, changed = 2, 0, 0, true
      else
        local natt, nfail, nbud, nlf = att, fail, used + 1, lf
        if natt < 255 then natt = natt + 1 end
        if nfail < 65535 then nfail = nfail + 1 end
        if now > nlf then nlf = now end
        local nst = st
        if natt >= MAXATT then nst = 3 end
        if natt ~= att or nfail ~= fail or nbud ~= bud or nlf ~= lf or nst ~= st then changed = true end
        att, fail, bud, lf, st = natt, nfail, nbud, nlf, nst
        if not binding_ok then status = 6 elseif WELL ~= 1 then status = 8 else status = 1 end
      end
    end
  end
end
if not changed then return {0, status} end
)lua";
// The changed challenge: deleted when it can no longer deny, else kept
// until then plus the margin.
inline constexpr char check_tail[] = R"lua(if at == nil or at <= now then
  redis.call('DEL', KEYS[1])
else
  local ttl = at + margin - now
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[1], pk('>BBBBHHi8i8i8', 2, st, att, kid, fail, bud, iss, exp, lf) .. string.sub(cv, 33, 64),
    'PX', format('%d', ttl))
end
return {0, status}
)lua";


// The challenge (code.hpp's challenge_bytes, versions 1 and 2) as locals:
// reads cv (the value, false when absent); sets st, att, kid, fail, bud,
// iss, exp, lf, all 0 for no challenge. The checks are from_bytes's
// (code.hpp); the tags are not decoded (a send replaces them).
inline constexpr char challenge_fields_lua[] = R"lua(local st, att, kid, fail, bud, iss, exp, lf = 0, 0, 0, 0, 0, 0, 0, 0
if cv then
  if #cv ~= 64 then return {2} end
  local ver
  ver, st, att, kid, fail, bud, iss, exp, lf = up('>BBBBHHi8i8i8', cv)
  if ver == 0 then
    if cv ~= rep('\0', 64) then return {3} end
  elseif ver ~= 1 and ver ~= 2 then
    return {3}
  end
  if ver == 1 and (bud ~= 0 or kid ~= 0) then return {5} end
  if st > 4 then return {5} end
  if st == 0 then
    if att ~= 0 or kid ~= 0 or fail ~= 0 or bud ~= 0 or iss ~= 0 or exp ~= 0 or lf ~= 0 or
       string.sub(cv, 33) ~= rep('\0', 32) then
      return {5}
    end
  else
    if iss >= LIMIT or iss < -LIMIT or exp >= LIMIT or exp < -LIMIT or lf >= LIMIT or lf < -LIMIT then return {6} end
    if exp < iss or exp - iss > 600000 then return {5} end
  end
end
)lua";

// issue_code's rule (code.hpp) on those locals and the code policy RESEND,
// LOCKOUT, MAXCF, FB, BW (ms and counts): a challenge past its death time
// (forgettable_at) reads as absent, the engine's eviction; sets fail_now,
// the failures a new code keeps (those older than the lockout forgotten),
// next_at, next_issue_at but for the lock (the resend interval and the
// failure budget), and issued, whether next_issue_at allows a code at
// `now`. cdiv, exact ceil(a / b) for b > 0, is made only when a failure
// budget is in use, the one case that divides.
inline constexpr char issue_rule_lua[] = R"lua(local cdiv = nil
if bud ~= 0 then
  cdiv = function(a, b)
    local q = floor(a / b)
    if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
    if q * b < a then q = q + 1 end
    return q
  end
end
if st ~= 0 or fail ~= 0 or bud ~= 0 then
  local dies = nil
  if st ~= 0 then dies = iss + RESEND end
  if st == 1 and (dies == nil or exp > dies) then dies = exp end
  if fail ~= 0 then local t = lf + LOCKOUT if dies == nil or t > dies then dies = t end end
  if bud ~= 0 then local t = lf + cdiv(bud * BW, FB) if dies == nil or t > dies then dies = t end end
  if dies == nil or dies <= now then st, att, kid, fail, bud, iss, exp, lf = 0, 0, 0, 0, 0, 0, 0, 0 end
end
local fail_now = fail
if fail_now ~= 0 and now >= lf + LOCKOUT then fail_now = 0 end
local next_at = nil
if st ~= 0 then next_at = iss + RESEND end
if bud > FB - 1 then
  local t = lf + cdiv((bud - (FB - 1)) * BW, FB)
  if next_at == nil or t > next_at then next_at = t end
end
local issued = true
do
  local at = next_at
  if fail_now >= MAXCF then local t = lf + LOCKOUT if at == nil or t > at then at = t end end
  issued = at == nil or now >= at
end
)lua";

// The per-phone windows (sliding_window_state_bytes<10>) as locals: reads
// wv (false when absent); sets size, 0 for none, and w1 .. w10, the times,
// newest first (0 past size). The checks are
// sliding_window_state<10>::from_bytes's (RULES.md §9), in its order: each
// time exact and none newer than the one before, zeros after `size`. The
// fields are unpacked into locals and the times checked one by one, not
// into a table and a loop: a table is a heap allocation on every call that
// the collector then sweeps. The header is read as four fields, not eight
// (struct.unpack's cost is per field): version, kind and capacity as one
// big-endian I4 (1, 18, 10: 17956874), size, and the ten zero bytes as an
// H and an i8; only a header that is not the expected one is taken apart,
// to answer from_bytes's fault (another version 3, another kind 4, else 5).
inline constexpr char windows_fields_lua[] = R"lua(local size, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10 = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
if wv then
  if #wv ~= 96 then return {2} end
  local head, z1, z2
  head, size, z1, z2, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10 = up('>I4HHi8i8i8i8i8i8i8i8i8i8i8', wv)
  if head ~= 17956874 or z1 ~= 0 or z2 ~= 0 or size > 10 then
    if head < 16777216 then
      if wv ~= rep('\0', 96) then return {3} end
    else
      if head >= 33554432 then return {3} end
      if head - head % 65536 ~= 17956864 then return {4} end
      return {5}
    end
  end
  if size >= 1 then
    if w1 == -9223372036854775808 then return {5} end
    if w1 >= LIMIT or w1 < -LIMIT then return {6} end
  elseif w1 ~= 0 then return {5} end
  if size >= 2 then
    if w2 == -9223372036854775808 then return {5} end
    if w2 >= LIMIT or w2 < -LIMIT then return {6} end
    if w2 > w1 then return {5} end
  elseif w2 ~= 0 then return {5} end
  if size >= 3 then
    if w3 == -9223372036854775808 then return {5} end
    if w3 >= LIMIT or w3 < -LIMIT then return {6} end
    if w3 > w2 then return {5} end
  elseif w3 ~= 0 then return {5} end
  if size >= 4 then
    if w4 == -9223372036854775808 then return {5} end
    if w4 >= LIMIT or w4 < -LIMIT then return {6} end
    if w4 > w3 then return {5} end
  elseif w4 ~= 0 then return {5} end
  if size >= 5 then
    if w5 == -9223372036854775808 then return {5} end
    if w5 >= LIMIT or w5 < -LIMIT then return {6} end
    if w5 > w4 then return {5} end
  elseif w5 ~= 0 then return {5} end
  if size >= 6 then
    if w6 == -9223372036854775808 then return {5} end
    if w6 >= LIMIT or w6 < -LIMIT then return {6} end
    if w6 > w5 then return {5} end
  elseif w6 ~= 0 then return {5} end
  if size >= 7 then
    if w7 == -9223372036854775808 then return {5} end
    if w7 >= LIMIT or w7 < -LIMIT then return {6} end
    if w7 > w6 then return {5} end
  elseif w7 ~= 0 then return {5} end
  if size >= 8 then
    if w8 == -9223372036854775808 then return {5} end
    if w8 >= LIMIT or w8 < -LIMIT then return {6} end
    if w8 > w7 then return {5} end
  elseif w8 ~= 0 then return {5} end
  if size >= 9 then
    if w9 == -9223372036854775808 then return {5} end
    if w9 >= LIMIT or w9 < -LIMIT then return {6} end
    if w9 > w8 then return {5} end
  elseif w9 ~= 0 then return {5} end
  if size >= 10 then
    if w10 == -9223372036854775808 then return {5} end
    if w10 >= LIMIT or w10 < -LIMIT then return {6} end
    if w10 > w9 then return {5} end
  elseif w10 ~= 0 then return {5} end
end
)lua";

// The windows' verdict on one more send (n = 1) with the windows WC1..WC3
// (counts) and WW1..WW3 (widths, ms): sets longest, at (the time the send
// is recorded at: now, or the newest time when the clock went back),
// wallow, wnever and wretry; each window denies while its count-th most
// recent time is inside it. Windows that can no longer deny read as none.
// Then wbytes, the windows after recording `at` (nil when they could no
// longer deny at once: the key is deleted).
inline constexpr char windows_verdict_lua[] = R"lua(local longest = 0
if WW1 > longest then longest = WW1 end
if WW2 > longest then longest = WW2 end
if WW3 > longest then longest = WW3 end
if size ~= 0 and w1 + longest <= now then size = 0 end
local at = now
if size ~= 0 and w1 > at then at = w1 end
local wallow, wnever, wretry = true, false, nil
for i = 1, 3 do
  local cnt, width = WC1, WW1
  if i == 2 then cnt, width = WC2, WW2 elseif i == 3 then cnt, width = WC3, WW3 end
  if cnt > 10 then cnt = 10 end
  if width < 0 then width = 0 end
  if cnt < 1 then
    wallow, wnever = false, true
  elseif cnt <= size then
    local b = w1
    if cnt > 1 then
      if cnt == 2 then b = w2 elseif cnt == 3 then b = w3 elseif cnt == 4 then b = w4 elseif cnt == 5 then b = w5
      elseif cnt == 6 then b = w6 elseif cnt == 7 then b = w7 elseif cnt == 8 then b = w8 elseif cnt == 9 then b = w9
      else b = w10 end
    end
    if b > at - width then
      wallow = false
      if wretry == nil or b + width > wretry then wretry = b + width end
    end
  end
end
local wbytes = nil
if at + longest > now then
  if size == 0 then
    wbytes = '\1\18\0\10\0\1\0\0\0\0\0\0\0\0\0\0' .. pk('>i8', at) ..
      '\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0'
  else
    local n = size + 1
    if n > 10 then n = 10 end
    wbytes = '\1\18\0\10\0' .. string.char(n) .. '\0\0\0\0\0\0\0\0\0\0' .. pk('>i8', at) .. string.sub(wv, 17, 88)
  end
end
)lua";

// The daily quota (daily_usage_bytes) as locals: reads dv (false when
// absent) and OFF (the UTC offset, ms); sets dkey and dused, the day key and
// the count used on it (0 and 0 for none; a usage of a past day reads as
// none, the engine's eviction). The checks are from_bytes's (RULES.md §9).
// The header is read as one big-endian I4 (version 1, kind 16 and the zero
// H: 17825792), as the windows' is; only another header is taken apart,
// for its fault.
inline constexpr char quota_fields_lua[] = R"lua(local dkey, dused = 0, 0
if dv then
  if #dv ~= 16 then return {2} end
  local head, k, used, z = up('>I4I4I4I4', dv)
  if head ~= 17825792 or z ~= 0 then
    if head < 16777216 then
      if dv ~= rep('\0', 16) then return {3} end
    else
      if head >= 33554432 then return {3} end
      if head - head % 65536 ~= 17825792 then return {4} end
      return {5}
    end
  end
  dkey, dused = k, used
  if dkey == 0 and dused ~= 0 then return {5} end
end
if dkey ~= 0 and dkey ~= 4294967295 and (dkey - 2147483648 + 1) * DAY - OFF <= now then dkey, dused = 0, 0 end
)lua";

// The quota's verdict on one more send (RULES.md §4) with the daily limit
// DL, when counts_quota: sets dallow, dnever, dretry and nkey, nused, the
// day and count after the charge (the day a charge at `now` counts in).
inline constexpr char quota_verdict_lua[] = R"lua(local dallow, dnever, dretry, nkey, nused = true, false, nil, dkey, dused
if counts_quota then
  local day = floor((now + OFF) / DAY)
  if day * DAY > now + OFF then day = day - 1 elseif (day + 1) * DAY <= now + OFF then day = day + 1 end
  if day < -2147483647 then day = -2147483647 elseif day > 2147483647 then day = 2147483647 end
  local key = dkey
  if day + 2147483648 > key then key = day + 2147483648 end
  local used = 0
  if key == dkey then used = dused end
  if used < DL then
    nkey, nused = key, used + 1
  else
    dallow = false
    if DL < 1 or key == 4294967295 then dnever = true else dretry = (key - 2147483648 + 1) * DAY - OFF end
  end
end
)lua";

// The send's verdict, all or nothing (RULES.md §4): unless issued and both
// limits allow, returns the denial {0, outcome, never, retry_at, 0}: the
// limits' with the latest retry_at (the windows on a tie), later than
// next_issue_at on the failures as stored when the code itself is refused.
inline constexpr char send_verdict_lua[] = R"lua(if not (issued and wallow and dallow) then
  local lallow, lnever, lretry, lby = wallow and dallow, false, nil, 0
  if not wallow then lnever, lretry, lby = wnever, wretry, 3 end
  if not dallow and (wallow or (dnever and not lnever) or (not lnever and not dnever and dretry > lretry)) then
    lnever, lretry, lby = dnever, dretry, 4
  end
  local retry, never = now, false
  if not issued then
    retry = next_at
    if fail >= MAXCF then local t = lf + LOCKOUT if retry == nil or t > retry then retry = t end end
  end
  if not lallow then
    if lnever then never = true elseif lretry > retry then retry = lretry end
  end
  local outcome = lby
  if not issued then
    outcome = 1
    if fail >= MAXCF and now < lf + LOCKOUT then outcome = 2 end
  end
  if never then return {0, outcome, 1, 0, 0} end
  return {0, outcome, 0, retry, 0}
end
)lua";

// The new code's challenge (version 2, the tags the first 32 bytes of A,
// the argument; issued by key KID, valid VALID ms) written to KEYS[1] until it is forgettable plus the
// margin (SET ... PX, at least 1 ms: PX counts from `now`, the clock that
// decided; see lua_helpers' put); sets nexp, its expiry.
inline constexpr char issue_write_lua[] = R"lua(local nexp = now + VALID
do
  local dies = now + RESEND
  if nexp > dies then dies = nexp end
  if fail_now ~= 0 then local t = lf + LOCKOUT if t > dies then dies = t end end
  if bud ~= 0 then local t = lf + cdiv(bud * BW, FB) if t > dies then dies = t end end
  local ttl = dies + margin - now
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[1], pk('>BBBBHHi8i8i8c32', 2, 1, 0, KID, fail_now, bud, now, nexp, lf, A), 'PX',
    format('%d', ttl))
end
)lua";

// A send: issue_code (code.hpp) with the per-phone windows and, for the
// actions that count one, the daily quota, all charged or none, as the
// core's admit_all. KEYS: the challenge, the windows [, the quota]. ARGV:
// one argument (each argument is a string Redis makes for the script):
// put_issue_args' new code's tags (drawn in C++), clock and code policy,
// then, as big-endian int64 (put_i64), three windows as count and
// width (ms), the daily limit and UTC offset (ms), margin. Every key's
// value comes from one MGET (false when absent); MGET answers nil for a
// value of another type too, so EXISTS, asked only when a value is absent,
// tells another type (fault 1) from an absent key. Every state is read and checked before anything is
// decided or written, and the challenge is written first (the write
// out-of-memory can refuse).
// Reply: {fault} or {0, outcome, never, retry_at, expires_at}; outcome 0
// issued, 1 resend too soon, 2 binding locked, 3 a phone window, 4 the
// daily quota.
inline constexpr char send_head[] = R"lua(local A = ARGV[1]
local nkeys = #KEYS
if #A ~= 176 or (nkeys ~= 2 and nkeys ~= 3) then return {7} end
local CLOCK, VALID, RESEND, MAXCF, LOCKOUT, FB, BW, KID, WC1, WW1, WC2, WW2, WC3, WW3, DL, OFF, margin
CLOCK, now, VALID, RESEND, MAXCF, LOCKOUT, FB, BW, KID, WC1, WW1, WC2, WW2, WC3, WW3, DL, OFF, margin =
  up('>i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8', A, 33)
)lua";

// The clock of the send and the issue step, from their argument: CLOCK 1
// and now the caller's time, or CLOCK 0 and the server's TIME (asked only
// then); anything else, a time outside the exact range or a policy the
// scripts cannot count with is fault 7.
inline constexpr char blob_clock_lua[] = R"lua(if CLOCK ~= 1 then
  if CLOCK ~= 0 or now ~= 0 then return {7} end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end
if now >= LIMIT or now < -LIMIT or FB < 1 or BW < 1 or KID < 0 or KID > 255 then return {7} end
)lua";

inline constexpr char send_reads[] = R"lua(local counts_quota = nkeys == 3
local vals
if counts_quota then
  vals = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3])
else
  vals = redis.call('MGET', KEYS[1], KEYS[2])
end
local cv, wv, dv = vals[1], vals[2], vals[3]
if not (cv and wv and (dv or not counts_quota)) then
  local present, e = 0, 0
  if cv then present = present + 1 end
  if wv then present = present + 1 end
  if dv then present = present + 1 end
  if counts_quota then e = redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) else e = redis.call('EXISTS', KEYS[1], KEYS[2]) end
  if e ~= present then return {1} end
end
)lua";

inline constexpr char send_tail[] = R"lua(if wbytes then
  local ttl = at + longest + margin - now
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[2], wbytes, 'PX', format('%d', ttl))
else
  redis.call('DEL', KEYS[2])
end
if counts_quota then
  local ttl = (nkey - 2147483648 + 1) * DAY - OFF + margin - now
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[3], pk('>BBHI4I4I4', 1, 16, 0, nkey, nused, 0), 'PX', format('%d', ttl))
end
return {0, 0, 0, now, nexp}
)lua";

inline constexpr auto flow_source = concat(lua_base, lua_clock, lua_helpers, read_lua, flow_body);
inline constexpr auto check_source = concat(lua_base, lua_clock, check_head, challenge_fields_lua, check_evict_lua,
                                             check_dies_lua, check_body, check_dies_lua, check_tail);
inline constexpr auto send_source =
    concat(lua_base, send_head, blob_clock_lua, send_reads, challenge_fields_lua, windows_fields_lua, quota_fields_lua, issue_rule_lua,
           windows_verdict_lua, quota_verdict_lua, send_verdict_lua, issue_write_lua, send_tail);

}  // namespace detail

inline constexpr script flow_script = make_script("phoneverify_flow_v1", detail::text_of(detail::flow_source));
inline constexpr script check_script = make_script("phoneverify_check_v4", detail::text_of(detail::check_source));
inline constexpr script send_script = make_script("phoneverify_send_v4", detail::text_of(detail::send_source));

// ---------------------------------------------------------------------------
// Flow control (RULES.md §4: 10 requests per second per CAMS user, GCRA).

using flow_call = script_call<1, 8>;

// The call that admits `n` requests of the caller whose rate_state is at
// `key`, at `now` (std::nullopt: the server's TIME), under `limit`, exactly
// as admit(limit, state, now, n) does (quota.hpp). invalid_parameter for a
// limit whose scaled window (count * T) reaches 2^52, which Lua could not
// count exactly, or a margin outside 0 .. 2^40 ms.
constexpr result<flow_call> plan_flow(const rate_limit& limit, const key_name& key, std::optional<timestamp> now,
                                      std::uint32_t n = 1,
                                      std::chrono::milliseconds margin = default_expiry_margin) noexcept {
  if (margin.count() < 0 || margin > max_expiry_margin || key.empty()) return errc::invalid_parameter;
  std::int64_t scale = 1;
  std::uint64_t step = 1, window = 0;
  const bool unlimited = limit.period.count() <= 0;
  if (!unlimited && limit.count != 0) {
    const auto scaling =
        ::phoneverify::detail::gcra_scale(limit.count, static_cast<std::uint64_t>(limit.period.count()));
    scale = scaling.scale;
    step = scaling.step;
    window = ::phoneverify::detail::sat_mul_u(limit.count, step);
    if (window >= static_cast<std::uint64_t>(exact_limit)) return errc::invalid_parameter;
  }
  flow_call call = detail::start_call<1, 8>(flow_script);
  call.keys[0] = key;
  call.args[0] = detail::time_arg(now);
  call.args[1] = detail::decimal(limit.count);
  call.args[2] = detail::decimal(n);
  call.args[3] = detail::decimal(scale);
  call.args[4] = detail::decimal(static_cast<std::int64_t>(step));
  call.args[5] = detail::decimal(static_cast<std::int64_t>(window));
  call.args[6] = detail::decimal(unlimited ? 1 : 0);
  call.args[7] = detail::decimal(margin.count());
  return call;
}

struct flow_result {
  fault error = fault::none;  // none: `verdict` is admit's decision
  decision verdict{false, 0, timestamp::max()};
};

// The decision of a flow call's reply; a reply that is not the script's is
// bad_reply. Any fault leaves `verdict` denied with retry_at max: closed.
constexpr flow_result decode_flow(const reply_view& reply) noexcept {
  flow_result out;  // denied, retry_at max: what every fault answers
  std::array<long long, 5> v{};
  std::size_t got = 0;
  if (!detail::open_reply(reply, v, got, out.error)) return out;
  if (got != 5 || (v[1] != 0 && v[1] != 1) || v[2] < 0 || v[2] > 0xFFFF'FFFFLL || (v[3] != 0 && v[3] != 1) ||
      v[4] >= exact_limit || v[4] < -exact_limit)
    return out;
  out.error = fault::none;
  out.verdict.allowed = v[1] == 1;
  out.verdict.remaining = static_cast<std::uint32_t>(v[2]);
  out.verdict.retry_at = v[3] == 1 ? timestamp::max() : timestamp{std::chrono::milliseconds{v[4]}};
  return out;
}

// ---------------------------------------------------------------------------
// The code check (RULES.md §5: check_code's transition).

// ARGV: now, the tags under each key (33 bytes per key), the policy blob (put_i64 of 8).
inline constexpr std::size_t check_policy_size = 8 * 8;
inline constexpr std::size_t check_tags_size = key_ring_capacity * (1 + 2 * code_tag_size);
using check_call = script_call<1, 3, check_tags_size>;

// The call that checks `submitted` for `binding` against the challenge at
// `key`, at `now` (std::nullopt: the server's TIME), exactly as
// check_code(policy, keys, binding, state, submitted, now) does (code.hpp)
// on a state the engine would keep (one past forgettable_at reads as
// none). The keyed tags of the submission are computed here, under every
// key of the ring (the script does not know which key issued the code until
// it reads the challenge, and one round trip is all it gets): the secret
// keys never leave the process, and the script compares tags only (a plain
// comparison: the submitted tag is a MAC under a key the submitter does not
// hold, so its timing tells nothing about the stored one). invalid_parameter
// for a policy outside its limits, an invalid ring (empty, an all-zero key),
// or a margin outside 0 .. 2^40 ms.
constexpr result<check_call> plan_check(const code_policy& policy, const key_ring& keys,
                                        const code_binding& binding, std::string_view submitted,
                                        const key_name& key, std::optional<timestamp> now,
                                        std::chrono::milliseconds margin = default_expiry_margin) noexcept {
  if (validate(policy) != errc::ok || keys.validate() != key_ring_error::ok || margin.count() < 0 ||
      margin > max_expiry_margin || key.empty())
    return errc::invalid_parameter;
  const bool right_length = submitted.size() == policy.digits;
  const bool well_formed = right_length && ::phoneverify::detail::all_ascii_digits(submitted) != 0U;
  namespace core = ::phoneverify::detail;
  check_call call = detail::start_call<1, 3, check_tags_size>(check_script);
  call.keys[0] = key;
  call.args[0].append(detail::time_arg(now).view());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const key_id id = keys.id_at(i);
    const core::binding_tags tags =
        core::compute_tags(*keys.prepared(id), binding, right_length ? submitted : std::string_view{});
    call.args[1].push_back(static_cast<char>(id));
    for (std::byte b : tags.binding) call.args[1].push_back(static_cast<char>(b));
    for (std::byte b : tags.code) call.args[1].push_back(static_cast<char>(b));
  }
  auto& blob = call.args[2];
  detail::put_i64(blob, well_formed ? 1 : 0);
  detail::put_i64(blob, policy.max_attempts);
  detail::put_i64(blob, policy.max_consecutive_failures);
  detail::put_i64(blob, core::to_ms(policy.lockout));
  detail::put_i64(blob, policy.failure_budget);
  detail::put_i64(blob, core::to_ms(policy.failure_budget_window));
  detail::put_i64(blob, core::to_ms(policy.resend_interval));
  detail::put_i64(blob, margin.count());
  return call;
}

// The same with one key: the ring of `secret` alone, id 0.
constexpr result<check_call> plan_check(const code_policy& policy, const secret_key& secret,
                                        const code_binding& binding, std::string_view submitted,
                                        const key_name& key, std::optional<timestamp> now,
                                        std::chrono::milliseconds margin = default_expiry_margin) noexcept {
  return plan_check(policy, key_ring{secret}, binding, submitted, key, now, margin);
}

struct check_result {
  fault error = fault::none;  // none: `status` is check_code's
  check_status status = check_status::no_code;
};

constexpr check_result decode_check(const reply_view& reply) noexcept {
  std::array<long long, 2> v{};
  std::size_t got = 0;
  if (!detail::integers(reply, v, got)) return {fault::bad_reply, check_status::no_code};
  const fault f = detail::fault_of(v[0]);
  if (f != fault::none) return {got == 1 ? f : fault::bad_reply, check_status::no_code};
  if (got != 2 || v[1] < 0 || v[1] > static_cast<long long>(check_status::budget_spent))
    return {fault::bad_reply, check_status::no_code};
  return {fault::none, static_cast<check_status>(v[1])};
}

// ---------------------------------------------------------------------------
// The send (RULES.md §4, §5): the code, the per-phone windows and the daily
// quota, all charged or none.

// A code drawn before the send's round trip, and its keyed tags (code.hpp's
// drawn_code and draw_code): the script cannot draw it (the HMAC key never
// leaves the process), so it is drawn for every send and dropped when the
// send is refused. `code` is secret: send it by SMS, never log it.
using ::phoneverify::drawn_code;
using ::phoneverify::draw_code;

namespace detail {

// The one argument of the send and of the sharded issue step, which decide
// a new code alike, starts with the new code's two tags (16 bytes each,
// computed in C++: the HMAC key never leaves the process, the scripts store
// the tags and never derive them), then the clock (1 and the caller's time
// in ms, or 0 and 0 for the server's TIME), the code policy's limits in
// milliseconds and counts (validity, resend, max_consecutive_failures,
// lockout, failure_budget, budget window) and the id of the key that made
// the tags, as big-endian int64; each script appends its own after them.
// One argument, not four: Redis makes a Lua string of each argument on
// every call. The tags first: the scripts unpack the numbers from byte 33
// and pack the new challenge's tags straight from the argument (struct's
// c32 takes the first 32 bytes of a longer string), so no Lua string is
// made of them.
inline constexpr std::size_t issue_args_size = 2 * 8 + 32 + 7 * 8;
template <class Blob>
constexpr void put_issue_args(Blob& blob, std::optional<timestamp> now, const drawn_code& code,
                              const code_policy& policy) noexcept {
  namespace core = ::phoneverify::detail;
  for (std::byte b : code.tags.binding) blob.push_back(static_cast<char>(b));
  for (std::byte b : code.tags.code) blob.push_back(static_cast<char>(b));
  put_i64(blob, now ? 1 : 0);
  put_i64(blob, now ? static_cast<std::int64_t>(now->time_since_epoch().count()) : 0);
  put_i64(blob, core::to_ms(policy.validity));
  put_i64(blob, core::to_ms(policy.resend_interval));
  put_i64(blob, policy.max_consecutive_failures);
  put_i64(blob, core::to_ms(policy.lockout));
  put_i64(blob, policy.failure_budget);
  put_i64(blob, core::to_ms(policy.failure_budget_window));
  put_i64(blob, code.key);  // the id the new challenge records (RULES.md §5, key rotation)
}

}  // namespace detail

// ARGV: one argument, put_issue_args' then the three windows' count and
// width, the daily limit, its UTC offset and the margin.
inline constexpr std::size_t send_args_size = detail::issue_args_size + 9 * 8;
using send_call = script_call<3, 1, send_args_size>;

// The keys of a send: the binding's challenge, the phone's windows, and the
// account's daily_usage for the actions that count one (none for CAMS).
struct send_keys {
  key_name challenge;
  key_name phone;
  std::optional<key_name> quota;
};

// The call that issues `code` at `now` (std::nullopt: the server's TIME)
// if the resend interval, the lock, the failure budget, every window of
// `per_phone` and (when keys.quota is set) `daily` all allow it, and then
// charges them all, exactly as issue_code and admit_all (quota.hpp) do on
// the states the engine keeps. invalid_parameter for a policy outside its
// limits, a window or limit the script cannot count exactly (a width or a
// day offset beyond 2^40 ms), or a margin outside 0 .. 2^40 ms.
constexpr result<send_call> plan_send(const code_policy& policy, const window_set<3>& per_phone,
                                      const daily_quota& daily, const send_keys& keys, const drawn_code& code,
                                      std::optional<timestamp> now,
                                      std::chrono::milliseconds margin = default_expiry_margin) noexcept {
  namespace core = ::phoneverify::detail;
  if (validate(policy) != errc::ok || margin.count() < 0 || margin > max_expiry_margin || keys.challenge.empty() ||
      keys.phone.empty() || (keys.quota && keys.quota->empty()))
    return errc::invalid_parameter;
  for (const sliding_window& w : per_phone.windows)
    if (w.window > max_expiry_margin) return errc::invalid_parameter;
  const std::int64_t offset_ms = static_cast<std::int64_t>(daily.utc_offset.count()) * 60'000;
  if (offset_ms > max_expiry_margin.count() || offset_ms < -max_expiry_margin.count()) return errc::invalid_parameter;
  send_call call = detail::start_call<3, 1, send_args_size>(send_script);
  call.keys[0] = keys.challenge;
  call.keys[1] = keys.phone;
  if (keys.quota) {
    call.keys[2] = *keys.quota;
  } else {
    call.key_count = 2;
    call.numkeys.clear();
    call.numkeys.append("2");
  }
  detail::put_issue_args(call.args[0], now, code, policy);
  for (const sliding_window& w : per_phone.windows) {
    detail::put_i64(call.args[0], w.count);
    detail::put_i64(call.args[0], w.window.count());
  }
  detail::put_i64(call.args[0], daily.limit);
  detail::put_i64(call.args[0], offset_ms);
  detail::put_i64(call.args[0], margin.count());
  return call;
}

// Why a send was refused, in finish_send's terms.
enum class send_outcome : std::uint8_t {
  issued = 0,
  resend_too_soon = 1,   // the resend interval or a spent failure budget (next_issue_at)
  binding_locked = 2,    // max_consecutive_failures, within lockout
  phone_window = 3,      // a per-phone window denied (the latest retry_at of the limits)
  daily_quota = 4,       // the daily quota denied (the latest retry_at of the limits)
};

struct send_result {
  fault error = fault::none;  // none: `outcome` and the times are the script's
  send_outcome outcome = send_outcome::resend_too_soon;
  timestamp retry_at = timestamp::max();  // a refusal's: when the same send succeeds; an issue's: now
  timestamp expires_at{};                 // an issued code's expiry (now + validity, on the script's clock)
};

constexpr send_result decode_send(const reply_view& reply) noexcept {
  send_result out;
  std::array<long long, 5> v{};
  std::size_t got = 0;
  if (!detail::open_reply(reply, v, got, out.error)) return out;
  if (got != 5 || v[1] < 0 || v[1] > 4 || (v[2] != 0 && v[2] != 1) || v[3] >= exact_limit ||
      v[3] < -exact_limit || v[4] >= exact_limit || v[4] < -exact_limit)
    return out;
  out.error = fault::none;
  out.outcome = static_cast<send_outcome>(v[1]);
  out.retry_at = v[2] == 1 ? timestamp::max() : timestamp{std::chrono::milliseconds{v[3]}};
  out.expires_at = timestamp{std::chrono::milliseconds{v[4]}};
  return out;
}


// ---------------------------------------------------------------------------
// The sharded send (key_scheme::sharded): the phone's windows, the paying
// account's daily quota and the binding's challenge in up to three slots,
// so three scripts, each all or nothing on its own slot:
//
//   1. the windows step charges the phone when its windows allow;
//   2. the quota step (actions that count one) charges the account when its
//      quota allows and step 1 allowed;
//   3. the issue step reads the challenge (the resend interval, the lock and
//      the failure budget live with it, in the binding account's slot,
//      because a check finds the challenge by the binding alone and
//      RULES.md §5 keeps one challenge per sending action and account),
//      takes steps 1 and 2's verdicts and decides exactly as the one-slot
//      send script (the same outcome and retry_at), then issues the code
//      when everything allowed;
//   4. a refused send undoes each charge it made with the undo script:
//      compare-and-undo, the key set back to the bytes it held only while it
//      still holds exactly the bytes the charge wrote (a send in between
//      has built on the charge, which then stands: never a blind decrement).
//
// Why this order: the phone is charged first and undone last, so a crash
// or a lost connection between the steps leaves a charge without a code
// (stricter, never looser: RULES.md §4's all or nothing becomes "never
// looser" across slots); a concurrent send that saw a charge later undone
// was refused for a budget it would have had (stricter too). Every step is
// decided at the `now` of step 1 (the caller's clock, or step 1's TIME).

namespace detail {

// The windows (sliding_window_state_bytes<10>) and the daily quota
// (daily_usage_bytes) in Lua, as the send script reads, decides and writes
// them; a step's reply: {fault} or {0, allowed, never, retry_at, now,
// bytes before ('' when absent), bytes written ('' when none)}.
inline constexpr char windows_step_head[] = R"lua(local PRIOR, margin = tonumber(ARGV[2]), tonumber(ARGV[9])
local WC1, WW1, WC2, WW2 = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local WC3, WW3 = tonumber(ARGV[7]), tonumber(ARGV[8])
if not (exact(now) and exact(margin) and (PRIOR == 0 or PRIOR == 1) and exact(WC1) and exact(WW1) and exact(WC2) and
        exact(WW2) and exact(WC3) and exact(WW3)) then
  return {7}
end
local wv, f = read(KEYS[1])
if f ~= 0 then return {f} end
)lua";
inline constexpr char windows_step_tail[] = R"lua(local after = ''
if wallow and PRIOR == 1 then
  if wbytes then
    after = wbytes
    put(KEYS[1], after, at + longest, margin)
  elseif wv then
    redis.call('DEL', KEYS[1])
  end
end
return {0, wallow and 1 or 0, wnever and 1 or 0, wretry or 0, now, wv or '', after}
)lua";

inline constexpr char quota_step_head[] = R"lua(local PRIOR, DL, OFF, margin = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if not (exact(now) and exact(DL) and exact(OFF) and exact(margin) and (PRIOR == 0 or PRIOR == 1)) then return {7} end
local dv, f = read(KEYS[1])
if f ~= 0 then return {f} end
local counts_quota = true
)lua";
inline constexpr char quota_step_tail[] = R"lua(if dallow then
  local after = ''
  if PRIOR == 1 then
    after = pk('>BBHI4I4I4', 1, 16, 0, nkey, nused, 0)
    put(KEYS[1], after, (nkey - 2147483648 + 1) * DAY - OFF, margin)
  end
  return {0, 1, 0, 0, now, dv or '', after}
end
if dnever then return {0, 0, 1, 0, now, dv or '', ''} end
return {0, 0, 0, dretry, now, dv or '', ''}
)lua";

// The issue step: the send script's decision with the windows' and the
// quota's verdicts given (ARGV as the send's; its blob after the code
// policy's six and the key id: margin, windows allowed, never, retry_at; 1
// when a quota counts; its allowed, never, retry_at). Reply: the send
// script's.
inline constexpr char issue_step_head[] = R"lua(local A = ARGV[1]
if #A ~= 168 then return {7} end
local CLOCK, VALID, RESEND, MAXCF, LOCKOUT, FB, BW, KID, margin, WA, WN, WR, HQ, DA, DN, DR
CLOCK, now, VALID, RESEND, MAXCF, LOCKOUT, FB, BW, KID, margin, WA, WN, WR, HQ, DA, DN, DR =
  up('>i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8i8', A, 33)
)lua";
inline constexpr char issue_step_read[] = R"lua(local cv = redis.pcall('GET', KEYS[1])
if type(cv) == 'table' then return {1} end
)lua";
inline constexpr char issue_step_verdicts[] = R"lua(local wallow, wnever, wretry = WA == 1, WN == 1, WR
local dallow, dnever, dretry = true, false, nil
if HQ == 1 then dallow, dnever, dretry = DA == 1, DN == 1, DR end
)lua";
inline constexpr char issue_step_tail[] = R"lua(return {0, 0, 0, now, nexp}
)lua";

// Compare-and-undo: KEYS[1] back to ARGV[2] ('' = no key; the expiry the
// charge set is kept, a little longer than the old state needs, which
// costs memory only) when it holds exactly ARGV[1], the bytes the charge
// wrote. Reply: {fault} or {0, 1 undone | 0 left as it is}.
inline constexpr char undo_source[] = R"lua(local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return {1} end
if v ~= ARGV[1] or #ARGV[1] == 0 then return {0, 0} end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
return {0, 1}
)lua";

inline constexpr auto windows_step_source = concat(lua_base, lua_clock, lua_helpers, read_lua, windows_step_head,
                                                  windows_fields_lua, windows_verdict_lua, windows_step_tail);
inline constexpr auto quota_step_source =
    concat(lua_base, lua_clock, lua_helpers, read_lua, quota_step_head, quota_fields_lua, quota_verdict_lua, quota_step_tail);
inline constexpr auto issue_step_source =
    concat(lua_base, issue_step_head, blob_clock_lua, issue_step_read, challenge_fields_lua, issue_rule_lua,
           issue_step_verdicts, send_verdict_lua, issue_write_lua, issue_step_tail);

}  // namespace detail

inline constexpr script windows_step_script =
    make_script("phoneverify_send_windows_v2", detail::text_of(detail::windows_step_source));
inline constexpr script quota_step_script =
    make_script("phoneverify_send_quota_v2", detail::text_of(detail::quota_step_source));
inline constexpr script issue_step_script =
    make_script("phoneverify_send_issue_v4", detail::text_of(detail::issue_step_source));
inline constexpr script undo_script = make_script("phoneverify_undo_v1", std::string_view(detail::undo_source));

// ---------------------------------------------------------------------------
// The key-use ledger (RULES.md §5, key rotation): how a fleet knows that no
// code of a key is live before the key leaves the ring. Before an instance
// issues under a key it leases the key's ledger (key_use_key) for
// code_policy::validity and two lease periods from now, at most once a lease
// period; the ledger index (key_use_index) lists the ids ever leased. Every
// ledger key expires when no code of its key can be live, so a key whose
// ledger is gone has no live code anywhere in the fleet.

// The index of the ledgers: {pv:<deployment>}:k:ids, the set of ids (decimal).
constexpr key_name key_use_index(const key_scheme& scheme) noexcept {
  key_name out;
  if (scheme.deployment.empty()) return out;
  out.append("{pv:");
  out.append(scheme.deployment);
  out.append("}:k:ids");
  return out;
}

namespace detail {
// Lease: KEYS[1] a key_use_key, KEYS[2] the index; ARGV: now ('' = the
// server's TIME), the ms from now during which codes of the key may be
// live, the key id. Keeps the later of the stored instant and now + ms,
// expiring then, and the id in the index, which lives as long as its
// longest ledger. Reply {0, until} or {fault}.
inline constexpr char key_use_lease_body[] = R"lua(
local FOR, ID = tonumber(ARGV[2]), ARGV[3]
if not (exact(now) and FOR ~= nil and exact(FOR) and FOR >= 1) then return {7} end
local v, f = read(KEYS[1])
if f ~= 0 then return {f} end
local last = now + FOR
if v then
  local old = tonumber(v)
  if old == nil or not exact(old) or format('%d', old) ~= v then return {5} end
  if old > last then last = old end
end
local kind = redis.call('TYPE', KEYS[2]).ok
if kind ~= 'set' and kind ~= 'none' then return {1} end
redis.call('SADD', KEYS[2], ID)
redis.call('SET', KEYS[1], format('%d', last), 'PX', format('%d', last - now))
local ttl = redis.call('PTTL', KEYS[2])
if ttl < last - now then redis.call('PEXPIRE', KEYS[2], format('%d', last - now)) end
return {0, last}
)lua";
// The ids: KEYS[1] the index. Reply {0, id...} or {fault}.
inline constexpr char key_use_ids_body[] = R"lua(
local ids = redis.pcall('SMEMBERS', KEYS[1])
if ids.err then return {1} end
local out = {0}
for i = 1, #ids do
  local id = tonumber(ids[i])
  if id == nil or id < 0 or id > 255 or string.format('%d', id) ~= ids[i] then return {5} end
  out[#out + 1] = id
end
return out
)lua";
// Read: KEYS[1] the index, KEYS[2..] the ledgers asked about; ARGV: now,
// then each ledger's id. Reply {0, now, until or -1 per ledger (-1: no code
// of it can be live)} or {fault}; a dead ledger's id leaves the index.
inline constexpr char key_use_read_body[] = R"lua(
if not exact(now) or #ARGV ~= #KEYS then return {7} end
local out = {0, now}
for i = 2, #KEYS do
  local v, f = read(KEYS[i])
  if f ~= 0 then return {f} end
  local last = -1
  if v then
    last = tonumber(v)
    if last == nil or not exact(last) or format('%d', last) ~= v then return {5} end
    if last <= now then last = -1 end
  end
  if last == -1 and redis.call('TYPE', KEYS[1]).ok == 'set' then redis.call('SREM', KEYS[1], ARGV[i]) end
  out[#out + 1] = last
end
return out
)lua";
inline constexpr auto key_use_lease_source = concat(lua_base, lua_clock, lua_helpers, read_lua, key_use_lease_body);
inline constexpr auto key_use_read_source = concat(lua_base, lua_clock, lua_helpers, read_lua, key_use_read_body);
}  // namespace detail

inline constexpr script key_use_lease_script =
    make_script("phoneverify_key_use_lease_v1", detail::text_of(detail::key_use_lease_source));
inline constexpr script key_use_ids_script =
    make_script("phoneverify_key_use_ids_v1", std::string_view(detail::key_use_ids_body));
inline constexpr script key_use_read_script =
    make_script("phoneverify_key_use_read_v1", detail::text_of(detail::key_use_read_source));

using key_use_lease_call = script_call<2, 3>;
using key_use_ids_call = script_call<1, 0>;
// The ledgers one read asks about at most (a caller with more asks in batches).
inline constexpr std::size_t max_key_use_read = 2 * key_ring_capacity;
using key_use_read_call = script_call<1 + max_key_use_read, 1 + max_key_use_read>;

// The lease of key `id` for `live_for` from `now` (std::nullopt: the server's TIME).
constexpr result<key_use_lease_call> plan_key_use_lease(const key_scheme& scheme, key_id id,
                                                         std::optional<timestamp> now,
                                                         std::chrono::milliseconds live_for) noexcept {
  if (scheme.deployment.empty() || live_for.count() < 1 || live_for > max_expiry_margin) return errc::invalid_parameter;
  key_use_lease_call call = detail::start_call<2, 3>(key_use_lease_script);
  call.keys[0] = key_use_key(scheme, id);
  call.keys[1] = key_use_index(scheme);
  call.args[0].append(detail::time_arg(now).view());
  call.args[1].append(detail::decimal(live_for.count()).view());
  call.args[2].append(detail::decimal(id).view());
  return call;
}

constexpr result<key_use_ids_call> plan_key_use_ids(const key_scheme& scheme) noexcept {
  if (scheme.deployment.empty()) return errc::invalid_parameter;
  key_use_ids_call call = detail::start_call<1, 0>(key_use_ids_script);
  call.keys[0] = key_use_index(scheme);
  return call;
}

// The read of the ledgers of `ids` (1 to max_key_use_read of them).
constexpr result<key_use_read_call> plan_key_use_read(const key_scheme& scheme, std::span<const key_id> ids,
                                                       std::optional<timestamp> now) noexcept {
  if (scheme.deployment.empty() || ids.empty() || ids.size() > max_key_use_read) return errc::invalid_parameter;
  key_use_read_call call = detail::start_call<1 + max_key_use_read, 1 + max_key_use_read>(key_use_read_script);
  call.key_count = 1 + ids.size();
  call.arg_count = 1 + ids.size();
  call.numkeys.clear();
  call.numkeys.append(detail::decimal(static_cast<std::int64_t>(call.key_count)).view());
  call.keys[0] = key_use_index(scheme);
  call.args[0].append(detail::time_arg(now).view());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    call.keys[1 + i] = key_use_key(scheme, ids[i]);
    call.args[1 + i].append(detail::decimal(ids[i]).view());
  }
  return call;
}

// The ids a key_use_ids call answered (fault none), at most 256.
struct key_use_ids_result {
  fault error = fault::none;
  std::array<key_id, 256> ids{};
  std::size_t count = 0;
};

constexpr key_use_ids_result decode_key_use_ids(const reply_view& reply) noexcept {
  key_use_ids_result out;
  std::array<long long, 257> v{};
  std::size_t got = 0;
  if (!detail::open_reply(reply, v, got, out.error)) return out;
  for (std::size_t i = 1; i < got; ++i) {
    if (v[i] < 0 || v[i] > 255) return out;
    out.ids[out.count++] = static_cast<key_id>(v[i]);
  }
  out.error = fault::none;
  return out;
}

// A ledger read's answer: the time it was read at, and per id asked the
// instant until which a code of that key may be live (nullopt: none can be).
struct key_use_result {
  fault error = fault::none;
  timestamp now{};
  std::array<std::optional<timestamp>, max_key_use_read> live_until{};
};

constexpr key_use_result decode_key_use_read(const reply_view& reply, std::size_t asked) noexcept {
  key_use_result out;
  std::array<long long, 2 + max_key_use_read> v{};
  std::size_t got = 0;
  if (!detail::open_reply(reply, v, got, out.error)) return out;
  if (got != 2 + asked || v[1] >= exact_limit || v[1] < -exact_limit) return out;
  for (std::size_t i = 0; i < asked; ++i)
    if (v[2 + i] < -1 || v[2 + i] >= exact_limit) return out;
  out.error = fault::none;
  out.now = timestamp{std::chrono::milliseconds{v[1]}};
  for (std::size_t i = 0; i < asked; ++i)
    if (v[2 + i] != -1) out.live_until[i] = timestamp{std::chrono::milliseconds{v[2 + i]}};
  return out;
}

// A lease's answer: ok, or the fault.
constexpr fault decode_key_use_lease(const reply_view& reply) noexcept {
  std::array<long long, 2> v{};
  std::size_t got = 0;
  if (!detail::integers(reply, v, got)) return fault::bad_reply;
  const fault f = detail::fault_of(v[0]);
  if (f != fault::none) return got == 1 ? f : fault::bad_reply;
  return got == 2 ? fault::none : fault::bad_reply;
}

using windows_step_call = script_call<1, 9>;
using quota_step_call = script_call<1, 5>;
// ARGV: one argument, put_issue_args' then the margin and the verdicts.
inline constexpr std::size_t issue_step_args_size = detail::issue_args_size + 8 * 8;
using issue_step_call = script_call<1, 1, issue_step_args_size>;
inline constexpr std::size_t max_state_size = 96;  // sliding_window_state_bytes<10>
using undo_call = script_call<1, 2, max_state_size>;

// Step 1: the windows of `per_phone` on `phone` at `now` (std::nullopt:
// the script's TIME, which it answers), charged when they allow.
constexpr result<windows_step_call> plan_windows_step(
    const window_set<3>& per_phone, const key_name& phone, std::optional<timestamp> now,
    std::chrono::milliseconds margin = default_expiry_margin) noexcept {
  if (phone.empty() || margin.count() < 0 || margin > max_expiry_margin) return errc::invalid_parameter;
  for (const sliding_window& w : per_phone.windows)
    if (w.window > max_expiry_margin) return errc::invalid_parameter;
  windows_step_call call = detail::start_call<1, 9>(windows_step_script);
  call.keys[0] = phone;
  call.args[0] = detail::time_arg(now);
  call.args[1] = detail::decimal(1);
  for (std::size_t i = 0; i < 3; ++i) {
    call.args[2 + 2 * i] = detail::decimal(per_phone.windows[i].count);
    call.args[3 + 2 * i] = detail::decimal(per_phone.windows[i].window.count());
  }
  call.args[8] = detail::decimal(margin.count());
  return call;
}

// Step 2: the daily quota on `quota` at step 1's `now`, charged when it
// allows and `prior_allowed` (step 1 allowed).
constexpr result<quota_step_call> plan_quota_step(const daily_quota& daily, const key_name& quota, timestamp now,
                                                  bool prior_allowed,
                                                  std::chrono::milliseconds margin = default_expiry_margin) noexcept {
  const std::int64_t offset_ms = static_cast<std::int64_t>(daily.utc_offset.count()) * 60'000;
  if (quota.empty() || margin.count() < 0 || margin > max_expiry_margin || offset_ms > max_expiry_margin.count() ||
      offset_ms < -max_expiry_margin.count())
    return errc::invalid_parameter;
  quota_step_call call = detail::start_call<1, 5>(quota_step_script);
  call.keys[0] = quota;
  call.args[0] = detail::time_arg(now);
  call.args[1] = detail::decimal(prior_allowed ? 1 : 0);
  call.args[2] = detail::decimal(daily.limit);
  call.args[3] = detail::decimal(offset_ms);
  call.args[4] = detail::decimal(margin.count());
  return call;
}

// A windows or quota step's answer: its limit's verdict (retry_at
// timestamp::max() when never), the `now` it decided at, and the bytes
// before and after its charge (after empty: nothing charged).
struct step_result {
  fault error = fault::none;
  bool allowed = false;
  timestamp retry_at = timestamp::max();
  timestamp now{};
  inline_string<max_state_size> before;
  inline_string<max_state_size> after;
};

constexpr step_result decode_step(const reply_view& reply) noexcept {
  step_result out;
  out.error = fault::bad_reply;
  if (reply.kind != reply_view::type::array || reply.elements.empty()) return out;
  const auto& e = reply.elements;
  if (e[0].kind != reply_view::type::integer) return out;
  const fault f = detail::fault_of(e[0].integer);
  if (f != fault::none) {
    if (e.size() == 1) out.error = f;
    return out;
  }
  if (e.size() != 7) return out;
  for (std::size_t i = 1; i < 5; ++i)
    if (e[i].kind != reply_view::type::integer || e[i].integer >= exact_limit || e[i].integer < -exact_limit)
      return out;
  if ((e[1].integer != 0 && e[1].integer != 1) || (e[2].integer != 0 && e[2].integer != 1)) return out;
  if (e[5].kind != reply_view::type::string || e[6].kind != reply_view::type::string ||
      e[5].text.size() > max_state_size || e[6].text.size() > max_state_size)
    return out;
  out.error = fault::none;
  out.allowed = e[1].integer == 1;
  out.retry_at = e[2].integer == 1 ? timestamp::max() : timestamp{std::chrono::milliseconds{e[3].integer}};
  out.now = timestamp{std::chrono::milliseconds{e[4].integer}};
  out.before.append(e[5].text);
  out.after.append(e[6].text);
  return out;
}

// Step 3: the send script's decision on the challenge with the windows'
// verdict and, when the action counts one, the quota's; issues `code` when
// all allow. Its reply decodes with decode_send.
constexpr result<issue_step_call> plan_issue_step(const code_policy& policy, const key_name& challenge,
                                                  const drawn_code& code, timestamp now, const step_result& windows,
                                                  const step_result* quota,
                                                  std::chrono::milliseconds margin = default_expiry_margin) noexcept {
  namespace core = ::phoneverify::detail;
  if (validate(policy) != errc::ok || challenge.empty() || margin.count() < 0 || margin > max_expiry_margin ||
      windows.error != fault::none || (quota != nullptr && quota->error != fault::none))
    return errc::invalid_parameter;
  issue_step_call call = detail::start_call<1, 1, issue_step_args_size>(issue_step_script);
  call.keys[0] = challenge;
  auto& blob = call.args[0];
  detail::put_issue_args(blob, now, code, policy);
  detail::put_i64(blob, margin.count());
  const auto verdict = [&blob](const step_result& s) {
    const bool never = !s.allowed && s.retry_at == timestamp::max();
    detail::put_i64(blob, s.allowed ? 1 : 0);
    detail::put_i64(blob, never ? 1 : 0);
    detail::put_i64(blob, s.allowed || never ? 0 : core::ms_of(s.retry_at));
  };
  verdict(windows);
  detail::put_i64(blob, quota != nullptr ? 1 : 0);
  if (quota != nullptr) {
    verdict(*quota);
  } else {
    for (int i = 0; i < 3; ++i) detail::put_i64(blob, 0);
  }
  return call;
}

// Step 4: undo a step's charge on `key` (empty `after`: there is none).
constexpr result<undo_call> plan_undo(const key_name& key, const step_result& charged) noexcept {
  if (key.empty() || charged.error != fault::none || charged.after.empty()) return errc::invalid_parameter;
  undo_call call = detail::start_call<1, 2, max_state_size>(undo_script);
  call.keys[0] = key;
  call.args[0].append(charged.after.view());
  call.args[1].append(charged.before.view());
  return call;
}

// The undo's answer: fault, and whether the key was set back (false: a
// later charge had built on this one, which then stands).
struct undo_result {
  fault error = fault::none;
  bool undone = false;
};

constexpr undo_result decode_undo(const reply_view& reply) noexcept {
  std::array<long long, 2> v{};
  std::size_t got = 0;
  if (!detail::integers(reply, v, got)) return {fault::bad_reply, false};
  const fault f = detail::fault_of(v[0]);
  if (f != fault::none) return {got == 1 ? f : fault::bad_reply, false};
  if (got != 2 || (v[1] != 0 && v[1] != 1)) return {fault::bad_reply, false};
  return {fault::none, v[1] == 1};
}

// The Redis Cluster slot of a key (CRC16/XMODEM of its hash tag, the text
// between the first '{' and the next '}' when not empty, else of the whole
// key; modulo 16384): how a cluster transport routes a script by its first
// key.
constexpr std::uint16_t key_slot(std::string_view key) noexcept {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  unsigned crc = 0;
  for (char ch : key) {
    crc ^= static_cast<unsigned>(static_cast<unsigned char>(ch)) << 8U;
    for (int bit = 0; bit < 8; ++bit) crc = ((crc & 0x8000U) != 0 ? (crc << 1U) ^ 0x1021U : crc << 1U) & 0xFFFFU;
  }
  return static_cast<std::uint16_t>(crc & 16383U);
}

// ---------------------------------------------------------------------------
// The transport: what a fleet engine needs of a Redis client, so that the
// engine never includes one (redis.hpp is the hiredis implementation; a
// service with its own client implements `transport` on it).

// What went wrong with a command. Each fails the decision closed (RULES.md
// §4: a Redis failure never admits); the name is for logs and metrics.
enum class transport_error : std::uint8_t {
  none,
  connection_refused,    // nothing listens there (ECONNREFUSED, no such socket file)
  timeout,               // no connection or no reply within the timeout: the outcome is unknown
  connection_lost,       // the server closed the connection or the socket failed
  protocol,              // a reply the client could not parse, or one too large to view
  client_out_of_memory,  // the client could not allocate
  server_out_of_memory,  // OOM: the server refused the write (noeviction at maxmemory)
  cluster_down,          // CLUSTERDOWN: the cluster cannot serve the slot
  redirected,            // MOVED / ASK: the key's slot lives on another node
  busy,                  // BUSY: a script is running too long on the server
  loading,               // LOADING: the server is loading its dataset
  read_only,             // READONLY: a replica was asked to write
  noscript,              // NOSCRIPT: only from a plain command; run() answers it with EVAL
  error_reply,           // any other error reply (its text is the message)
  bad_argument,          // more arguments than a command may have here
};
inline constexpr std::size_t transport_error_count = 15;

constexpr std::string_view transport_error_name(transport_error e) noexcept {
  switch (e) {
    case transport_error::none: return "none";
    case transport_error::connection_refused: return "connection_refused";
    case transport_error::timeout: return "timeout";
    case transport_error::connection_lost: return "connection_lost";
    case transport_error::protocol: return "protocol";
    case transport_error::client_out_of_memory: return "client_out_of_memory";
    case transport_error::server_out_of_memory: return "server_out_of_memory";
    case transport_error::cluster_down: return "cluster_down";
    case transport_error::redirected: return "redirected";
    case transport_error::busy: return "busy";
    case transport_error::loading: return "loading";
    case transport_error::read_only: return "read_only";
    case transport_error::noscript: return "noscript";
    case transport_error::error_reply: return "error_reply";
    case transport_error::bad_argument: return "bad_argument";
  }
  return {};
}

// The error of a server's error reply, from its first word.
constexpr transport_error classify_error_reply(std::string_view text) noexcept {
  const auto starts = [text](std::string_view word) {
    return text.substr(0, word.size()) == word && (text.size() == word.size() || text[word.size()] == ' ');
  };
  if (starts("NOSCRIPT")) return transport_error::noscript;
  if (starts("OOM")) return transport_error::server_out_of_memory;
  if (starts("CLUSTERDOWN")) return transport_error::cluster_down;
  if (starts("MOVED") || starts("ASK")) return transport_error::redirected;
  if (starts("BUSY")) return transport_error::busy;
  if (starts("LOADING")) return transport_error::loading;
  if (starts("READONLY")) return transport_error::read_only;
  return transport_error::error_reply;
}

// A reply copied out of the client, small enough for the stack: the fleet
// engine reads only script replies (arrays of at most 5 integers), CONFIG
// GET's pair, SCRIPT LOAD's SHA-1 and WAIT's count. A longer text is cut,
// more elements are dropped (`complete` false): the engine then answers
// bad_reply, failing closed.
class owned_reply {
 public:
  static constexpr std::size_t max_elements = 8;
  static constexpr std::size_t max_text = 96;  // the largest state layout (the windows), for the sharded send

  reply_view::type kind = reply_view::type::nil;
  long long integer = 0;
  inline_string<max_text> text;
  bool complete = true;

  // Copies `r`: its top level and one level of elements.
  constexpr void assign(const reply_view& r) noexcept {
    kind = r.kind;
    integer = r.integer;
    text.clear();
    text.append(r.text.substr(0, max_text));
    complete = r.text.size() <= max_text;
    count_ = 0;
    if (r.kind != reply_view::type::array) return;
    for (const reply_view& e : r.elements) {
      if (count_ == max_elements || e.kind == reply_view::type::array) {
        complete = false;
        break;
      }
      element& to = elements_[count_++];
      to.kind = e.kind;
      to.integer = e.integer;
      to.text.clear();
      to.text.append(e.text.substr(0, max_text));
      if (e.text.size() > max_text) complete = false;
    }
  }

  // The reply as a view into this object (valid while it lives, unmoved).
  constexpr reply_view view() const noexcept {
    reply_view out{kind, integer, text.view(), {}};
    if (kind != reply_view::type::array) return out;
    for (std::size_t i = 0; i < count_; ++i)
      views_[i] = {elements_[i].kind, elements_[i].integer, elements_[i].text.view(), {}};
    out.elements = std::span<const reply_view>(views_.data(), count_);
    return out;
  }

 private:
  struct element {
    reply_view::type kind = reply_view::type::nil;
    long long integer = 0;
    inline_string<max_text> text;
  };
  std::array<element, max_elements> elements_{};
  std::size_t count_ = 0;
  mutable std::array<reply_view, max_elements> views_{};
};

// One command's outcome through a transport: `err` none and the reply, or
// the error and a message (the server's error text, or the client's). For
// a script run with a WAIT, `acknowledged` is WAIT's count of replicas
// (-1 when no WAIT was asked).
struct transport_result {
  transport_error err = transport_error::none;
  inline_string<160> message;
  owned_reply value;
  long long acknowledged = -1;
  constexpr bool ok() const noexcept { return err == transport_error::none; }
};

// A script call as a transport runs it: the EVALSHA words, the EVAL words
// (after NOSCRIPT), and for the durable mode the WAIT to send after it on the
// same connection (WAIT counts the replicas that acknowledged the writes of
// that connection only).
struct script_run {
  std::span<const std::string_view> by_sha;
  std::span<const std::string_view> by_source;
  std::int64_t wait_replicas = 0;                 // 0: no WAIT
  std::chrono::milliseconds wait_timeout{0};      // WAIT's timeout (0 would block for ever: refused)
};

// The connection of a fleet engine to its Redis. Called from many threads
// at once: an implementation is thread-safe (a connection per thread or a
// pool) and answers every failure as a transport_result within its
// timeouts, never an exception, never a reply it did not receive.
class transport {
 public:
  virtual ~transport() = default;
  // One command (binary-safe words), e.g. CONFIG GET or SCRIPT LOAD.
  virtual transport_result command(std::span<const std::string_view> argv) noexcept = 0;
  // One script: EVALSHA, then EVAL with the source when the server answers
  // NOSCRIPT; then WAIT when the call asks for it, on the same connection.
  virtual transport_result run(const script_run& c) noexcept = 0;
};

}  // namespace phoneverify::fleet

#endif  // PHONEVERIFY_FLEET_HPP
