// SPDX-License-Identifier: MIT
// phoneverify: the engine's random source, ChaCha20 with fast key erasure.
//
// Layer 4, not the core: system_random reads the operating system's entropy.
// The core takes any std::uniform_random_bit_generator (RULES.md §5); this is
// the cryptographically secure default, never a Mersenne Twister (whose future
// outputs follow from 624 observed ones). chacha20_generator replays a stream
// for tests. Neither is thread-safe: one per thread or shard, or a lock.
#ifndef PHONEVERIFY_RANDOM_HPP
#define PHONEVERIFY_RANDOM_HPP

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <type_traits>

#if defined(__unix__) || defined(__APPLE__)
#define PHONEVERIFY_HAS_POSIX 1
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#else
#define PHONEVERIFY_HAS_POSIX 0
#endif
#if defined(__linux__) && __has_include(<sys/random.h>)
#define PHONEVERIFY_HAS_GETRANDOM 1
#include <sys/random.h>
#else
#define PHONEVERIFY_HAS_GETRANDOM 0
#endif

#include "detail/chacha20.hpp"
#include "detail/config.hpp"

namespace phoneverify {

// The ChaCha20 keystream (RFC 8439 §2.3) as a fast-key-erasure generator
// (D. J. Bernstein, 2017), with an exactly defined, replayable stream: each
// batch is the 4 blocks of counters 0..3 under the current key and the fixed
// nonce; its bytes 0..31 replace the key at once and bytes 32..255 are 28
// little-endian 64-bit outputs, each wiped as it is returned. A copy of the
// state taken later reveals no output already returned.
//
// Keyed by 32 bytes (and a 12-byte nonce) for tests; production uses
// system_random. Usable in constant expressions. Copying is deleted (a copy
// would issue the same codes twice); calling a moved-from one is a
// precondition violation.
class chacha20_generator {
 public:
  using result_type = std::uint64_t;
  using key_type = std::array<std::byte, detail::chacha20_key_bytes>;
  using nonce_type = std::array<std::byte, detail::chacha20_nonce_bytes>;

  // Blocks per batch and 64-bit outputs per batch (the first 32 bytes of a
  // batch are the next key).
  static constexpr std::size_t batch_blocks = 4;
  static constexpr std::size_t outputs_per_batch =
      (batch_blocks * detail::chacha20_block_bytes - detail::chacha20_key_bytes) / 8;

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return ~result_type{0}; }

  // A generator keyed with `key` (and `nonce`, zero by default).
  constexpr explicit chacha20_generator(const key_type& key, const nonce_type& nonce = {}) noexcept
      : key_(detail::chacha20_key_from_bytes(key)), nonce_(detail::chacha20_nonce_from_bytes(nonce)) {}

  chacha20_generator(const chacha20_generator&) = delete;
  chacha20_generator& operator=(const chacha20_generator&) = delete;

  // Takes over `other`'s state; `other` is wiped and becomes unusable.
  constexpr chacha20_generator(chacha20_generator&& other) noexcept
      : key_(other.key_), nonce_(other.nonce_), buffer_(other.buffer_), next_(other.next_), keyed_(other.keyed_) {
    other.disable();
  }
  constexpr chacha20_generator& operator=(chacha20_generator&& other) noexcept {
    if (this != &other) {
      key_ = other.key_;
      nonce_ = other.nonce_;
      buffer_ = other.buffer_;
      next_ = other.next_;
      keyed_ = other.keyed_;
      other.disable();
    }
    return *this;
  }

  // Wipes the key and buffered output.
  constexpr ~chacha20_generator() { disable(); }

  // The next 64 random bits.
  constexpr result_type operator()() noexcept {
    if (next_ == outputs_per_batch) refill();
    const std::size_t w = key_words + 2 * next_;  // even: a pair never straddles two blocks
    auto& block = buffer_[w / detail::chacha20_block_words];
    const std::size_t i = w % detail::chacha20_block_words;
    const result_type out = static_cast<result_type>(block[i]) | (static_cast<result_type>(block[i + 1]) << 32);
    block[i] = 0;  // erase each output once returned (fast key erasure)
    block[i + 1] = 0;
    ++next_;
    return out;
  }

  // Fills `out` with random bytes (for keys and nonces), least significant
  // byte of each output first.
  constexpr void fill(std::span<std::byte> out) noexcept {
    std::size_t i = 0;
    while (i < out.size()) {
      result_type v = (*this)();
      for (int j = 0; j < 8 && i < out.size(); ++j, ++i, v >>= 8) out[i] = static_cast<std::byte>(v & 0xFFu);
    }
  }

  // XORs `entropy` into the key and drops the buffered output: fresh entropy
  // heals a compromised state, and chosen entropy cannot weaken a secret key.
  constexpr void reseed(const key_type& entropy) noexcept {
    PHONEVERIFY_ASSERT(keyed_, "chacha20_generator: used after move");
    const auto mix = detail::chacha20_key_from_bytes(entropy);
    for (std::size_t i = 0; i < key_.size(); ++i) key_[i] ^= mix[i];
    wipe_buffer();
    next_ = outputs_per_batch;
  }

 private:
  static constexpr std::size_t key_words = 8;

  constexpr void refill() noexcept {
    PHONEVERIFY_ASSERT(keyed_, "chacha20_generator: used after move");
    static_assert(batch_blocks == 4, "a batch is the four blocks chacha20_blocks4 computes together");
    detail::chacha20_blocks4(key_, 0, nonce_, buffer_);
    for (std::size_t i = 0; i < key_words; ++i) {
      key_[i] = buffer_[0][i];  // the next key: the old one is gone
      buffer_[0][i] = 0;
    }
    next_ = 0;
  }

  constexpr void wipe_buffer() noexcept {
    if (std::is_constant_evaluated()) {
      buffer_ = {};
      return;
    }
    // Through a volatile pointer so the stores are not removed as dead.
    for (auto& block : buffer_) {
      volatile std::uint32_t* p = block.data();
      for (std::size_t i = 0; i < block.size(); ++i) p[i] = 0;
    }
  }

  constexpr void disable() noexcept {
    if (std::is_constant_evaluated()) {
      key_ = {};
    } else {
      volatile std::uint32_t* k = key_.data();
      for (std::size_t i = 0; i < key_words; ++i) k[i] = 0;
    }
    wipe_buffer();
    next_ = outputs_per_batch;
    keyed_ = false;
  }

  detail::chacha20_key_words key_;
  detail::chacha20_nonce_words nonce_;
  detail::chacha20_blocks4_t buffer_{};
  std::size_t next_ = outputs_per_batch;  // index of the next 64-bit output; a full batch means "refill"
  bool keyed_ = true;
};

// Where system_random draws its keys: fills `out` with secret bytes, false when
// it cannot. Injectable so tests can make the entropy fail.
using entropy_function = bool (*)(std::span<std::byte> out) noexcept;

namespace detail {

// The operating system's entropy: getrandom(2) where the C library has it,
// /dev/urandom elsewhere. Retries interrupted and short reads; false on any
// other failure (never throws: a failure fails the request closed, RULES.md §5).
inline bool os_entropy(std::span<std::byte> out) noexcept {
  std::size_t done = 0;
#if PHONEVERIFY_HAS_GETRANDOM
  while (done < out.size()) {
    const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSYS) break;  // a kernel before 3.17: fall back to the device
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  if (done == out.size()) return true;
#endif
#if PHONEVERIFY_HAS_POSIX
  const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
#endif
  return done == out.size();
}

// XORs std::random_device's entropy into `out` where it works. It only adds to
// the OS entropy, so its failure (a throw, or no exceptions) is ignored.
inline void mix_device_entropy(std::span<std::byte> out) noexcept {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
  try {
    std::random_device device;
    for (std::size_t i = 0; i < out.size(); i += 4) {
      const auto v = static_cast<std::uint32_t>(device());
      for (std::size_t j = 0; j < 4 && i + j < out.size(); ++j)
        out[i + j] ^= static_cast<std::byte>((v >> (8 * j)) & 0xFFu);
    }
  } catch (...) {
  }
#else
  static_cast<void>(out);
#endif
}

// How many fork()s this process descends from (a pthread_atfork handler counts
// them), so a generator keyed before a fork rekeys: two workers sharing a
// stream would issue the same codes (RULES.md §5).
inline std::atomic<std::uint64_t> fork_generation{0};

inline void note_fork_in_child() noexcept { fork_generation.fetch_add(1, std::memory_order_relaxed); }

inline void watch_forks() noexcept {
#if PHONEVERIFY_HAS_POSIX
  static const bool registered = ::pthread_atfork(nullptr, nullptr, note_fork_in_child) == 0;
  static_cast<void>(registered);
#endif
}

}  // namespace detail

// The default entropy: the operating system's, with std::random_device's mixed
// in. False when the operating system's fails: the other is never trusted alone.
inline bool system_entropy(std::span<std::byte> out) noexcept {
  if (!detail::os_entropy(out)) return false;
  detail::mix_device_entropy(out);
  return true;
}

// The engine's default random source: a chacha20_generator keyed from the
// system's entropy, mixing 32 fresh bytes into its key every `reseed_interval`
// outputs and rekeying from scratch after a fork. When the entropy fails it
// answers no value (try_next) and counts it, so the caller fails closed.
// Not thread-safe, not copyable.
class system_random {
 public:
  using result_type = chacha20_generator::result_type;
  static constexpr std::uint64_t default_reseed_interval = std::uint64_t{1} << 16;

  static constexpr result_type min() noexcept { return chacha20_generator::min(); }
  static constexpr result_type max() noexcept { return chacha20_generator::max(); }

  // Keys the generator from `entropy`; `reseed_interval` 0 means never mix in
  // fresh entropy after keying (a fork still rekeys).
  explicit system_random(std::uint64_t reseed_interval = default_reseed_interval,
                         entropy_function entropy = system_entropy) noexcept
      : generator_(chacha20_generator::key_type{}), entropy_(entropy), interval_(reseed_interval) {
    detail::watch_forks();
    rekey();
  }

  // The next 64 random bits, or no value when the generator has no key it can
  // trust (the entropy failed at keying or after a fork): fail closed.
  std::optional<result_type> try_next() noexcept {
    if (generation_ != detail::fork_generation.load(std::memory_order_relaxed)) rekey();
    if (!keyed_) {
      rekey();  // the entropy may have come back
      if (!keyed_) return std::nullopt;
    }
    if (interval_ != 0 && --left_ == 0) {
      chacha20_generator::key_type fresh{};
      // A failed reseed keeps the current key, which is still secret: count it and go on.
      if (entropy_(fresh)) generator_.reseed(fresh);
      else ++failures_;
      wipe(fresh);
      left_ = interval_;
    }
    return generator_();
  }

  // The next 64 random bits; a precondition that the entropy works. Services
  // that must not abort call try_next (the engine does).
  result_type operator()() noexcept {
    const auto v = try_next();
    PHONEVERIFY_ASSERT(v.has_value(), "system_random: the system's entropy source failed");
    return v.value_or(0);
  }

  // Fills `out` with random bytes; false (and `out` zeroed) when the entropy failed.
  bool fill(std::span<std::byte> out) noexcept {
    std::size_t i = 0;
    while (i < out.size()) {
      auto v = try_next();
      if (!v) {
        wipe(out);
        return false;
      }
      for (int j = 0; j < 8 && i < out.size(); ++j, ++i, *v >>= 8) out[i] = static_cast<std::byte>(*v & 0xFFu);
    }
    return true;
  }

  // Whether the generator holds a key it trusts.
  bool healthy() const noexcept { return keyed_; }
  // How many times the entropy source failed (keying, rekeying after a fork, reseeding).
  std::uint64_t entropy_failures() const noexcept { return failures_; }

 private:
  static void wipe(std::span<std::byte> bytes) noexcept {
    volatile std::byte* p = bytes.data();
    for (std::size_t i = 0; i < bytes.size(); ++i) p[i] = std::byte{0};
  }

  // A whole new key from the entropy (not mixed into the old one: after a
  // fork the old key is the parent's).
  void rekey() noexcept {
    generation_ = detail::fork_generation.load(std::memory_order_relaxed);
    chacha20_generator::key_type key{};
    keyed_ = entropy_(key);
    if (keyed_) {
      generator_ = chacha20_generator(key);
    } else {
      ++failures_;
      generator_ = chacha20_generator(chacha20_generator::key_type{});
    }
    wipe(key);
    left_ = interval_;
  }

  chacha20_generator generator_;
  entropy_function entropy_;
  std::uint64_t interval_;
  std::uint64_t left_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t failures_ = 0;
  bool keyed_ = false;
};

static_assert(std::uniform_random_bit_generator<chacha20_generator>);
static_assert(std::uniform_random_bit_generator<system_random>);

}  // namespace phoneverify

#endif  // PHONEVERIFY_RANDOM_HPP
