// SPDX-License-Identifier: MIT
// phoneverify: sharded_store, the engine's thread-safe in-memory state table
// (layer 4: it holds std::mutex, so the core does not include it).
//
// It maps a byte-string key to a trivially copyable state struct (daily_usage,
// rate_state, sliding_window_state, challenge) and runs the caller's function on
// it under a lock, so the rules stay in the core's pure functions. Lock stripes,
// each an open-addressing table allocated once; keys hashed with SipHash-2-4
// under a secret key, so clients cannot aim their keys at one stripe.
//
// The capacity is a hard bound. A full shard first drops the entries that
// `is_dead(value, now)` says can deny nothing; if it is still full, the new key
// is refused (store_status::full). A live entry is never evicted: a forgotten
// key would come back with a budget it had spent (RULES.md §4).
#ifndef PHONEVERIFY_STORE_HPP
#define PHONEVERIFY_STORE_HPP

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <type_traits>
#include <new>
#include <utility>

#if defined(__linux__) && __has_include(<sys/mman.h>)
#include <sys/mman.h>
#define PHONEVERIFY_STORE_HUGE_PAGES 1
#else
#define PHONEVERIFY_STORE_HUGE_PAGES 0
#endif

#include "detail/config.hpp"
#include "detail/siphash.hpp"
#include "time.hpp"

namespace phoneverify {

namespace detail {

// SipHash-2-4, the very function of detail::siphash24 (same key, same
// value), reading the message a word at a time: every call of the store
// hashes its key, so the bytes are loaded with one memcpy per word, and the
// last partial word with one overlapping load, instead of one byte at a time.
inline std::uint64_t store_siphash24(const siphash_key& key, std::string_view message) noexcept {
  if constexpr (std::endian::native != std::endian::little) {
    return siphash24(key, message);
  } else {
    siphash_state s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL, key.k0 ^ 0x6c7967656e657261ULL,
                    key.k1 ^ 0x7465646279746573ULL};
    const std::size_t n = message.size();
    const char* p = message.data();
    const std::size_t whole = n - n % 8;
    for (std::size_t off = 0; off < whole; off += 8) {
      std::uint64_t m = 0;
      std::memcpy(&m, p + off, 8);
      s.compress(m);
    }
    std::uint64_t last = 0;
    const std::size_t rest = n % 8;
    if (rest != 0) {
      if (n >= 8) {
        // The last 8 bytes of the message, shifted down to its last `rest`.
        std::memcpy(&last, p + n - 8, 8);
        last >>= 8 * (8 - rest);
      } else {
        for (std::size_t i = 0; i < rest; ++i)
          last |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
      }
    }
    last |= static_cast<std::uint64_t>(n & 0xFFu) << 56;
    s.compress(last);
    s.v2 ^= 0xFFu;
    for (int i = 0; i < 4; ++i) s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
  }
}

}  // namespace detail

// The outcome of a store operation.
enum class store_status : std::uint8_t {
  ok,            // the function ran on the entry (found or created)
  not_found,     // visit or erase: no entry for the key
  full,          // the key's shard is full of live state: the new key is refused, nothing changed
  key_too_long,  // the key has more bytes than the store's MaxKeySize: refused, nothing changed
};

// A short English name for logs ("ok", "not_found", "full", "key_too_long").
constexpr std::string_view to_string(store_status s) noexcept {
  switch (s) {
    case store_status::ok: return "ok";
    case store_status::not_found: return "not_found";
    case store_status::full: return "full";
    case store_status::key_too_long: return "key_too_long";
  }
  return "unknown";
}

// What update() and visit() return: the status and, when it is ok, what the
// caller's function returned. For `full`, retry_at is the earliest instant an
// entry of the key's shard can die (a lower bound: an erase() frees a slot at
// once); timestamp::max() without dies_at, when none ever dies, and otherwise.
template <class R>
struct store_result {
  store_status status = store_status::ok;
  R value{};
  timestamp retry_at = timestamp::max();
  constexpr bool ok() const noexcept { return status == store_status::ok; }
  constexpr explicit operator bool() const noexcept { return ok(); }
};

// The same for a function that returns nothing.
template <>
struct store_result<void> {
  store_status status = store_status::ok;
  timestamp retry_at = timestamp::max();
  constexpr bool ok() const noexcept { return status == store_status::ok; }
  constexpr explicit operator bool() const noexcept { return ok(); }
};

// An IsDead that also says when a value dies: `dies_at(value)` is the first
// instant at which `is_dead(value, t)` holds for every t from then on
// (timestamp::max() for never or unknown). The store then reports retry_at.
template <class IsDead, class V>
concept reports_death_time = requires(const IsDead& d, const V& v) {
  { d.dies_at(v) } -> std::same_as<timestamp>;
};

// The default eviction predicate: nothing dies, so a full store refuses new
// keys until entries are erased.
struct never_dead {
  template <class V>
  constexpr bool operator()(const V&, timestamp) const noexcept {
    return false;
  }
};

// 16 secret bytes (from system_random, say): a known key lets clients flood one shard.
using store_hash_key = std::array<std::byte, 16>;

// Let the constructor choose the shards: store_shards_for(capacity).
inline constexpr std::size_t default_store_shards = 0;

// The automatic number of lock stripes for `capacity`: one per 256 entries,
// rounded down to a power of two, 1 to 1024. Many, because the engine holds a
// stripe while it computes a code's HMAC and threads that meet on one wait; no
// more than one per 256 entries, because each stripe gets an equal share of the
// capacity, a key is refused when its own is full, and small stripes fill unevenly.
constexpr std::size_t store_shards_for(std::size_t capacity) noexcept {
  const std::size_t stripes = std::bit_floor(capacity / 256);
  return stripes < 1 ? 1 : (stripes > 1024 ? 1024 : stripes);
}

// A thread-safe map from keys of at most MaxKeySize bytes to values V, of fixed
// capacity, evicting dead entries only. IsDead, `bool(const V&, timestamp now)`,
// must be monotone (dead at t, dead at every later time). IsDead and the
// caller's functions run under a shard lock: keep them short and never call the
// store from them (that deadlocks).
template <class V, class IsDead = never_dead, std::size_t MaxKeySize = 64>
class sharded_store {
  static_assert(std::is_trivially_copyable_v<V>, "sharded_store holds trivially copyable state structs");
  static_assert(std::is_default_constructible_v<V>, "sharded_store value-initialises new entries");
  static_assert(MaxKeySize >= 1 && MaxKeySize <= 255, "sharded_store keys are 1..255 bytes long at most");
  static_assert(std::is_invocable_r_v<bool, const IsDead&, const V&, timestamp>,
                "IsDead must be callable as bool(const V&, timestamp)");

 public:
  using value_type = V;
  static constexpr std::size_t max_key_size = MaxKeySize;
  // Keys of at most this many bytes are held in their slot; longer ones (up
  // to MaxKeySize) in a record of their own that the slot names. Slots stay
  // small, so a lookup reads few cache lines, and a store sized for long keys
  // holds the usual short ones in a fraction of the memory.
  static constexpr std::size_t inline_key_size = MaxKeySize < 24 ? MaxKeySize : 24;
  // The largest capacity (a precondition): table sizes stay far from overflow.
  static constexpr std::size_t max_capacity = ~std::size_t{0} / 8;

  // At most `capacity` (<= max_capacity) entries split evenly over `shards`
  // stripes (clamped to 1..capacity; 0: store_shards_for), keys hashed under
  // `hash_key`. A key is refused when its own shard is full, so leave headroom
  // over the expected live keys. All memory is allocated here: a slot of
  // (16 + min(MaxKeySize, inline_key_size) + sizeof(V)) bytes, rounded up to
  // V's alignment, 1.5 to 3 times per entry of capacity, all written at once;
  // and, when MaxKeySize > inline_key_size, MaxKeySize bytes per entry of
  // capacity for the longer keys, reserved here and touched only as such
  // keys arrive.
  sharded_store(std::size_t capacity, const store_hash_key& hash_key, std::size_t shards = default_store_shards,
                IsDead is_dead = IsDead{})
      : hash_key_(detail::siphash_key_from_bytes(hash_key)),
        is_dead_(std::move(is_dead)),
        capacity_(capacity),
        shard_count_(clamp_shards(capacity, shards)),
        shards_(std::make_unique<shard[]>(shard_count_)) {
    PHONEVERIFY_ASSERT(capacity <= max_capacity, "sharded_store: capacity beyond max_capacity");
    // Every shard's table has the size the largest share needs (the shares
    // differ by one entry at most): load factor at most 2/3 keeps probe
    // sequences short, and at least one slot always stays empty, which ends
    // every probe. One size lets a prefetch find a home slot from the hash
    // alone, without waiting for the shard's own fields.
    const std::size_t largest = capacity / shard_count_ + (capacity % shard_count_ != 0 ? 1 : 0);
    slot_mask_ = std::bit_ceil(largest + largest / 2 + 1) - 1;
    // Every shard's table in one block: a large store is one run of memory
    // the kernel can back with huge pages (one TLB entry per 2 MiB instead of
    // 512, so a lookup at a random key misses the TLB far less often).
    block_ = allocate_slots(slot_total());
    // A long key's record per entry a shard may hold (count <= limit), so a
    // shard never runs out of them; only the records in use are ever written.
    // (One block, shard 0's records first: the store keeps no other pointer to it.)
    char* const long_keys =
        has_long_keys ? static_cast<char*>(::operator new(shard_count_ * largest * MaxKeySize)) : nullptr;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      shard& s = shards_[i];
      s.limit = capacity / shard_count_ + (i < capacity % shard_count_ ? 1 : 0);
      s.mask = slot_mask_;
      s.slots = block_ + i * (slot_mask_ + 1);
      if constexpr (has_long_keys) s.long_keys = long_keys + i * largest * MaxKeySize;
    }
  }

  ~sharded_store() {
    free_slots(block_, slot_total());
    if constexpr (has_long_keys) ::operator delete(shards_[0].long_keys);
  }

  sharded_store(const sharded_store&) = delete;
  sharded_store& operator=(const sharded_store&) = delete;

  // A key with its hash under this store's hash key computed once
  // (hashed()): for prefetch() and the update() that takes it. The key's
  // bytes are not copied: they must outlive it. Only for the store that made it.
  class hashed_key {
   public:
    std::string_view key() const noexcept { return key_; }

   private:
    friend class sharded_store;
    hashed_key(const sharded_store* owner, std::string_view key, std::uint64_t hash) noexcept
        : owner_(owner), key_(key), hash_(hash) {}
    const sharded_store* owner_;
    std::string_view key_;
    std::uint64_t hash_;  // 0 for a key longer than MaxKeySize (never a slot's tag)
  };

  hashed_key hashed(std::string_view key) const noexcept {
    return {this, key, key.size() > MaxKeySize ? 0 : hash(key)};
  }

  // Asks the processor to start loading the memory a lookup of `k` reads
  // first (its shard and its home slot), without waiting for it: a caller
  // about to look keys up in several stores prefetches them all first, so
  // their cache misses overlap instead of following one another. Changes
  // nothing; a hint the processor may drop.
  void prefetch(const hashed_key& k) const noexcept {
    PHONEVERIFY_ASSERT(k.owner_ == this, "sharded_store: a hashed_key of another store");
    if (k.hash_ == 0) return;
#if defined(__GNUC__) || defined(__clang__)
    // The home slot from the store's own fields (every shard's table has one
    // size), so these loads start together instead of after the shard's.
    const std::size_t n = shard_index(k.hash_);
    __builtin_prefetch(&shards_[n], 1, 3);
    const char* home =
        reinterpret_cast<const char*>(block_ + n * (slot_mask_ + 1) + (static_cast<std::size_t>(k.hash_) & slot_mask_));
    for (std::size_t line = 0; line < sizeof(slot) + 63; line += 64) __builtin_prefetch(home + line, 1, 3);
#endif
  }

  // Runs `f(V&)` on the entry of `key` under its shard lock, creating it
  // value-initialised if absent, and returns f's result. Errors, where f does
  // not run and nothing changes: key_too_long, full (a new key, and its shard is
  // full of live state once the entries dead at `now` are dropped).
  template <class F>
  auto update(std::string_view key, timestamp now, F&& f) -> store_result<std::invoke_result_t<F&, V&>> {
    return update(hashed(key), now, std::forward<F>(f));
  }

  // The same for a key hashed by this store (hashed()).
  template <class F>
  auto update(const hashed_key& k, timestamp now, F&& f) -> store_result<std::invoke_result_t<F&, V&>> {
    using R = std::invoke_result_t<F&, V&>;
    PHONEVERIFY_ASSERT(k.owner_ == this, "sharded_store: a hashed_key of another store");
    const std::string_view key = k.key_;
    if (key.size() > MaxKeySize) return {store_status::key_too_long};
    const std::uint64_t h = k.hash_;
    shard& s = shard_of(h);
    std::lock_guard<std::mutex> lock(s.mutex);
    std::size_t i = 0;
    if (!s.find(h, key, i)) {
      if (s.count == s.limit) {
        // Full of live state at t means full for every now <= t until an entry
        // changes (IsDead is monotone): a flood costs one sweep per shard per ms.
        if (!s.futile_valid || now > s.futile_at) sweep(s, now);
        if (s.count == s.limit) {
          s.futile_valid = true;
          s.futile_at = now;
          store_result<R> full{};
          full.status = store_status::full;
          full.retry_at = s.next_death;
          return full;
        }
        s.find(h, key, i);  // the sweep moved entries: find the insertion slot again
      }
      s.insert_at(i, h, key);
    }
    V& value = s.slots[i].value;
    if constexpr (std::is_void_v<R>) {
      std::invoke(f, value);
      s.note_change(value, is_dead_);
      return {store_status::ok};
    } else {
      store_result<R> out{store_status::ok, std::invoke(f, value)};
      s.note_change(value, is_dead_);
      return out;
    }
  }

  // Runs `f(const V&)` on the entry of `key` under its shard lock without
  // creating it. Errors: not_found, key_too_long.
  template <class F>
  auto visit(std::string_view key, F&& f) const -> store_result<std::invoke_result_t<F&, const V&>> {
    using R = std::invoke_result_t<F&, const V&>;
    if (key.size() > MaxKeySize) return {store_status::key_too_long};
    const std::uint64_t h = hash(key);
    shard& s = shard_of(h);
    std::lock_guard<std::mutex> lock(s.mutex);
    std::size_t i = 0;
    if (!s.find(h, key, i)) return {store_status::not_found};
    const V& value = s.slots[i].value;
    if constexpr (std::is_void_v<R>) {
      std::invoke(f, value);
      return {store_status::ok};
    } else {
      return {store_status::ok, std::invoke(f, value)};
    }
  }

  // Whether `key` has an entry.
  bool contains(std::string_view key) const {
    return visit(key, [](const V&) {}).status == store_status::ok;
  }

  // Removes the entry of `key` (for a service that resets a challenge, say).
  // Returns ok, not_found or key_too_long.
  store_status erase(std::string_view key) {
    if (key.size() > MaxKeySize) return store_status::key_too_long;
    const std::uint64_t h = hash(key);
    shard& s = shard_of(h);
    std::lock_guard<std::mutex> lock(s.mutex);
    std::size_t i = 0;
    if (!s.find(h, key, i)) return store_status::not_found;
    s.remove_at(i);
    return store_status::ok;
  }

  // Drops every entry dead at `now` in every shard, one shard lock at a time;
  // returns how many. Optional housekeeping: update() also does it on demand.
  std::size_t evict_dead(timestamp now) {
    std::size_t dropped = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      shard& s = shards_[i];
      std::lock_guard<std::mutex> lock(s.mutex);
      const std::size_t before = s.count;
      sweep(s, now);
      dropped += before - s.count;
    }
    return dropped;
  }

  // Runs `f()` under the shard lock of `k` and returns its result, without
  // looking the key up (nothing is read, created or changed): for a caller
  // that reads, under a shard lock, what lock_each_shard_once's grace period
  // guards (the engine's key ring), briefly, before its update() of `k`.
  template <class F>
  auto with_shard_lock(const hashed_key& k, F&& f) const -> std::invoke_result_t<F&> {
    PHONEVERIFY_ASSERT(k.owner_ == this, "sharded_store: a hashed_key of another store");
    std::lock_guard<std::mutex> lock(shard_of(k.hash_).mutex);
    return std::invoke(f);
  }

  // Takes and releases every shard lock once: when it returns, every update()
  // that was running when it was called has finished (a grace period, e.g.
  // before freeing what such updates may read).
  void lock_each_shard_once() const {
    for (std::size_t n = 0; n < shard_count_; ++n) std::lock_guard<std::mutex> lock(shards_[n].mutex);
  }

  // Calls `f(std::string_view key, const V&)` for every entry, one shard lock
  // at a time: consistent per shard, not across the store.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t n = 0; n < shard_count_; ++n) {
      shard& s = shards_[n];
      std::lock_guard<std::mutex> lock(s.mutex);
      for (std::size_t i = 0; i <= s.mask; ++i)
        if (s.slots[i].tag != 0) std::invoke(f, s.key_view(i), static_cast<const V&>(s.slots[i].value));
    }
  }

  // Calls `f(std::string_view key, const V&)` for every entry alive at `now`
  // (is_dead false), one shard lock at a time: what a snapshot of the live
  // state writes. f runs under the shard's lock, like update()'s function.
  template <class F>
  void for_each_live(timestamp now, F&& f) const {
    for (std::size_t n = 0; n < shard_count_; ++n) {
      shard& s = shards_[n];
      std::lock_guard<std::mutex> lock(s.mutex);
      for (std::size_t i = 0; i <= s.mask; ++i) {
        if (s.slots[i].tag == 0) continue;
        const V& value = s.slots[i].value;
        if (!std::invoke(is_dead_, value, now)) std::invoke(f, s.key_view(i), value);
      }
    }
  }

  // Entries now held (summed shard by shard; a moving figure under concurrency).
  std::size_t size() const {
    std::size_t total = 0;
    for (std::size_t n = 0; n < shard_count_; ++n) {
      std::lock_guard<std::mutex> lock(shards_[n].mutex);
      total += shards_[n].count;
    }
    return total;
  }

  // The configured capacity: size() never exceeds it.
  std::size_t capacity() const noexcept { return capacity_; }

  // The number of lock stripes.
  std::size_t shard_count() const noexcept { return shard_count_; }

 private:
  static constexpr bool has_long_keys = MaxKeySize > inline_key_size;
  static constexpr std::size_t no_record = ~std::size_t{0};

  // The tag, the key (or the index of its record) and the value side by
  // side: a lookup reads the line of the tag and the key, and the value follows it.
  struct slot {
    std::uint64_t tag;   // 0: empty; else the key's hash (top bit set)
    std::uint64_t meta;  // the key's size in the low byte; above it, the index of its record (a long key)
    std::array<char, inline_key_size> key;
    V value;
    std::size_t key_size() const noexcept { return static_cast<std::size_t>(meta & 0xFFu); }
    std::size_t record() const noexcept { return static_cast<std::size_t>(meta >> 8); }
  };

  static_assert(std::is_trivially_destructible_v<slot>, "slots are freed without running destructors");

  // The slots of every shard, value-initialised (every tag 0: empty), come
  // from one allocation. Blocks of 2 MiB or more are aligned to 2 MiB and, on
  // Linux, advised as huge-page memory before their first touch (madvise
  // MADV_HUGEPAGE: only a hint; the kernel may decline it, the store works either way).
  static constexpr std::size_t huge_page = std::size_t{2} << 20;
  static constexpr bool huge_block(std::size_t count) noexcept { return count * sizeof(slot) >= huge_page; }
  static_assert(alignof(slot) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "slots need no over-aligned allocation");

  static slot* allocate_slots(std::size_t count) {
    const std::size_t bytes = count * sizeof(slot);
    slot* slots = nullptr;
    if (huge_block(count)) {
      slots = static_cast<slot*>(::operator new(bytes, std::align_val_t{huge_page}));
#if PHONEVERIFY_STORE_HUGE_PAGES
      (void)::madvise(slots, bytes, MADV_HUGEPAGE);
#endif
    } else {
      slots = static_cast<slot*>(::operator new(bytes));
    }
    for (std::size_t i = 0; i < count; ++i) ::new (static_cast<void*>(slots + i)) slot();
    return slots;
  }
  static void free_slots(slot* slots, std::size_t count) noexcept {
    if (slots == nullptr) return;
    if (huge_block(count)) ::operator delete(slots, std::align_val_t{huge_page});
    else ::operator delete(slots);
  }

  // One lock stripe, on its own cache lines (no false sharing between stripes).
  struct alignas(64) shard {
    mutable std::mutex mutex;
    std::size_t count = 0;
    std::size_t limit = 0;
    std::size_t mask = 0;
    slot* slots = nullptr;  // mask + 1 slots of the store's one block
    // The records of keys longer than inline_key_size, MaxKeySize bytes each
    // (limit of them): the first `records_used` were handed out at least
    // once; the freed ones form a list through their first bytes from `free_record`.
    char* long_keys = nullptr;
    std::size_t records_used = 0;
    std::size_t free_record = no_record;

    const char* key_data(const slot& e) const noexcept {
      if constexpr (has_long_keys) {
        if (e.key_size() > inline_key_size) return long_keys + e.record() * MaxKeySize;
      }
      return e.key.data();
    }
    std::string_view key_view(std::size_t i) const noexcept { return {key_data(slots[i]), slots[i].key_size()}; }

    // Hands the record of a long key back (the entry at `i` is leaving).
    void release_key(std::size_t i) noexcept {
      if constexpr (has_long_keys) {
        if (slots[i].key_size() <= inline_key_size) return;
        const std::size_t r = slots[i].record();
        std::memcpy(long_keys + r * MaxKeySize, &free_record, sizeof free_record);
        free_record = r;
      } else {
        static_cast<void>(i);
      }
    }
    bool futile_valid = false;  // every entry was alive at futile_at when the shard was last found full
    timestamp futile_at{};
    // While futile_valid: no entry dies before it (the earliest dies_at at the
    // last sweep, lowered by every change since); timestamp::max() without dies_at.
    timestamp next_death = timestamp::max();

    // Finds `key` (hash h); on failure `at` is the first empty slot of its probe.
    bool find(std::uint64_t h, std::string_view key, std::size_t& at) const noexcept {
      std::size_t i = static_cast<std::size_t>(h) & mask;
      for (;;) {
        const std::uint64_t t = slots[i].tag;
        if (t == 0) {
          at = i;
          return false;
        }
        if (t == h && slots[i].key_size() == key.size() &&
            (key.empty() || std::memcmp(key_data(slots[i]), key.data(), key.size()) == 0)) {
          at = i;
          return true;
        }
        i = (i + 1) & mask;
      }
    }

    void insert_at(std::size_t i, std::uint64_t h, std::string_view key) noexcept {
      slots[i].tag = h;
      slots[i].value = V{};
      slots[i].meta = key.size();
      char* to = slots[i].key.data();
      if constexpr (has_long_keys) {
        if (key.size() > inline_key_size) {
          // count < limit here, so a record is free or never handed out.
          std::size_t r = free_record;
          if (r != no_record) std::memcpy(&free_record, long_keys + r * MaxKeySize, sizeof free_record);
          else r = records_used++;
          slots[i].meta |= static_cast<std::uint64_t>(r) << 8;
          to = long_keys + r * MaxKeySize;
        }
      }
      if (!key.empty()) std::memcpy(to, key.data(), key.size());
      ++count;
    }

    // Re-inserts the entry at `i` at the first empty slot from its home; with
    // linear probing this lands at or before `i` within its cluster.
    void reseat(std::size_t i) noexcept {
      const std::uint64_t h = slots[i].tag;
      slots[i].tag = 0;
      std::size_t j = static_cast<std::size_t>(h) & mask;
      while (slots[j].tag != 0) j = (j + 1) & mask;
      if (j != i) slots[j] = slots[i];
      slots[j].tag = h;
    }

    // Removes the entry at `i` and closes the gap: every later entry of the
    // cluster is re-seated, so no probe is cut short (no tombstones).
    void remove_at(std::size_t i) noexcept {
      release_key(i);
      slots[i].tag = 0;
      --count;
      for (std::size_t j = (i + 1) & mask; slots[j].tag != 0; j = (j + 1) & mask) reseat(j);
    }

    // An entry changed: if it is dead at futile_at, the last "full of live
    // state" verdict no longer holds; otherwise it may die sooner than the
    // others (a success forgets failures), so next_death stays a lower bound.
    void note_change(const V& value, const IsDead& is_dead) {
      if (!futile_valid) return;
      if (std::invoke(is_dead, value, futile_at)) {
        futile_valid = false;
      } else if constexpr (reports_death_time<IsDead, V>) {
        const timestamp d = is_dead.dies_at(value);
        if (d < next_death) next_death = d;
      }
    }
  };

  static std::size_t clamp_shards(std::size_t capacity, std::size_t shards) noexcept {
    if (shards == 0) return store_shards_for(capacity);
    if (shards > capacity) shards = capacity;
    if (shards > (std::size_t{1} << 20)) shards = std::size_t{1} << 20;  // keeps shard selection in 64 bits
    return shards == 0 ? 1 : shards;
  }

  // The key's SipHash with the top bit set, so that 0 marks an empty slot.
  std::uint64_t hash(std::string_view key) const noexcept {
    return detail::store_siphash24(hash_key_, key) | (std::uint64_t{1} << 63);
  }

  // Bits 32..62 choose the shard, the low bits the slot: independent bits.
  std::size_t shard_index(std::uint64_t h) const noexcept {
    const std::uint64_t high = (h >> 32) & 0x7FFF'FFFFu;
    return static_cast<std::size_t>((high * shard_count_) >> 31);
  }
  shard& shard_of(std::uint64_t h) const noexcept { return shards_[shard_index(h)]; }
  std::size_t slot_total() const noexcept { return shard_count_ * (slot_mask_ + 1); }

  // Drops the entries of `s` dead at `now` in one pass from an empty slot, so
  // each cluster is visited from its start: a dead entry is emptied, a live one
  // re-seated (still reachable). Notes the survivors' earliest death.
  void sweep(shard& s, timestamp now) {
    std::size_t start = 0;
    while (s.slots[start].tag != 0) ++start;  // exists: the table is never full
    timestamp earliest = timestamp::max();
    for (std::size_t n = 1; n <= s.mask; ++n) {
      const std::size_t i = (start + n) & s.mask;
      if (s.slots[i].tag == 0) continue;
      const V& value = s.slots[i].value;
      if (std::invoke(is_dead_, value, now)) {
        s.release_key(i);
        s.slots[i].tag = 0;
        --s.count;
      } else {
        if constexpr (reports_death_time<IsDead, V>) {
          const timestamp d = is_dead_.dies_at(value);
          if (d < earliest) earliest = d;
        }
        s.reseat(i);
      }
    }
    s.next_death = earliest;
    s.futile_valid = false;
  }

  detail::siphash_key hash_key_;
  IsDead is_dead_;
  std::size_t capacity_;
  std::size_t shard_count_;
  std::unique_ptr<shard[]> shards_;
  slot* block_ = nullptr;     // every shard's slots (allocate_slots), slot_mask_ + 1 per shard
  std::size_t slot_mask_ = 0;  // each shard's table size - 1
};

}  // namespace phoneverify

#endif  // PHONEVERIFY_STORE_HPP
