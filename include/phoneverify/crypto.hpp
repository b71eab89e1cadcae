// SPDX-License-Identifier: MIT
// phoneverify: constexpr SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104).
//
// What code.hpp uses to store a verification code only as a keyed digest
// (RULES.md §5). Portable: no intrinsics, no I/O, no heap, usable in constant
// expressions. Nothing here branches on or indexes by the bytes hashed, so
// every secret of one length takes the same path.
#ifndef PHONEVERIFY_CRYPTO_HPP
#define PHONEVERIFY_CRYPTO_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

namespace phoneverify {

// Bytes in a SHA-256 digest (FIPS 180-4 §1: 256 bits).
inline constexpr std::size_t sha256_digest_size = 32;
// Bytes in a SHA-256 message block (FIPS 180-4 §1: 512 bits).
inline constexpr std::size_t sha256_block_size = 64;

// A SHA-256 or HMAC-SHA-256 digest.
using sha256_digest = std::array<std::byte, sha256_digest_size>;

namespace detail {

// Zeroes `count` objects at `p` in a way the optimiser cannot drop as dead
// stores (memset and an asm that may read the memory; elsewhere volatile
// stores): how keys, pads and schedules are erased once used, so no later
// response carries them out. Nothing to erase during constant evaluation.
template <class T>
constexpr void secure_zero(T* p, std::size_t count) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  if (std::is_constant_evaluated()) return;
#if defined(__GNUC__) || defined(__clang__)
  __builtin_memset(static_cast<void*>(p), 0, count * sizeof(T));
  __asm__ __volatile__("" : : "r"(p) : "memory");
#else
  volatile T* v = p;
  for (std::size_t i = 0; i < count; ++i) v[i] = T{};
#endif
}

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube
// roots of the first 64 primes.
inline constexpr std::uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

// FIPS 180-4 §5.3.3: the initial hash value.
inline constexpr std::uint32_t sha256_h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

constexpr std::uint32_t rotr32(std::uint32_t x, unsigned n) noexcept { return (x >> n) | (x << (32U - n)); }

}  // namespace detail

// Incremental SHA-256 (FIPS 180-4 §6.2): update() any number of times, then
// finish(); messages under 2^61 bytes (the standard's length field). Trivially
// copyable, so a prefix can be hashed once and the state copied.
class sha256_hasher {
 public:
  constexpr sha256_hasher() noexcept = default;

 private:
  // Copies whole runs into the block and compresses each full block; the
  // path depends only on the length, never on the bytes.
  template <class Byte>
  constexpr void absorb(const Byte* data, std::size_t size) noexcept {
    length_ += size;
    while (size > 0) {
      const std::size_t take = run_size(size);
      for (std::size_t i = 0; i < take; ++i) block_[used_ + i] = static_cast<std::uint8_t>(data[i]);
      data += take;
      size -= take;
      advance(take);
    }
  }
  // How many of `size` pending bytes fit in the block.
  constexpr std::size_t run_size(std::size_t size) const noexcept {
    const std::size_t room = sha256_block_size - used_;
    return size < room ? size : room;
  }
  // Accounts for `taken` bytes copied into the block; compresses a full block.
  constexpr void advance(std::size_t taken) noexcept {
    used_ += taken;
    if (used_ == sha256_block_size) {
      compress();
      used_ = 0;
    }
  }

 public:

  // Appends `data` to the message.
  constexpr sha256_hasher& update(std::span<const std::byte> data) noexcept {
    absorb(data.data(), data.size());
    return *this;
  }
  // Appends the bytes of `text` (its chars as unsigned bytes).
  constexpr sha256_hasher& update(std::string_view text) noexcept {
    absorb(text.data(), text.size());
    return *this;
  }
  // Appends one byte.
  constexpr sha256_hasher& update(std::byte b) noexcept {
    absorb(&b, 1);
    return *this;
  }

  // Pads the message (FIPS 180-4 §5.1.1) and returns its digest. The hasher
  // is spent afterwards: assign a fresh one to hash another message.
  constexpr sha256_digest finish() noexcept {
    const std::uint64_t bit_length = length_ * 8U;
    block_[used_++] = 0x80;
    if (used_ > 56) {  // no room for the length: pad this block out and start another
      while (used_ < sha256_block_size) block_[used_++] = 0x00;
      compress();
      used_ = 0;
    }
    while (used_ < 56) block_[used_++] = 0x00;
    for (std::size_t i = 0; i < 8; ++i) block_[56 + i] = static_cast<std::uint8_t>(bit_length >> (56U - 8U * i));
    compress();
    used_ = 0;
    sha256_digest out{};
    for (std::size_t i = 0; i < 8; ++i)
      for (std::size_t j = 0; j < 4; ++j)
        out[4 * i + j] = static_cast<std::byte>(state_[i] >> (24U - 8U * j));
    wipe();  // spent: what it hashed may have been a secret
    return out;
  }

  // Erases the state and the buffered bytes (secure_zero); the hasher is
  // spent afterwards.
  constexpr void wipe() noexcept {
    detail::secure_zero(state_, 8);
    detail::secure_zero(block_, sha256_block_size);
    length_ = 0;
    used_ = 0;
  }

 private:
  // One round of FIPS 180-4 §6.2.2 step 3; d and h become the new e and a once
  // the caller rotates the names.
  static constexpr void round(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t& d,
                              std::uint32_t e, std::uint32_t f, std::uint32_t g, std::uint32_t& h,
                              std::uint32_t k_plus_w) noexcept {
    const std::uint32_t t1 = h + (detail::rotr32(e, 6) ^ detail::rotr32(e, 11) ^ detail::rotr32(e, 25)) +
                             ((e & f) ^ (~e & g)) + k_plus_w;
    const std::uint32_t t2 = (detail::rotr32(a, 2) ^ detail::rotr32(a, 13) ^ detail::rotr32(a, 22)) +
                             ((a & b) ^ (a & c) ^ (b & c));
    d += t1;
    h = t1 + t2;
  }

  // FIPS 180-4 §6.2.2: one block into the state.
  constexpr void compress() noexcept {
    std::uint32_t w[64];  // every entry is written before it is read
    for (std::size_t t = 0; t < 16; ++t)
      w[t] = (std::uint32_t{block_[4 * t]} << 24) | (std::uint32_t{block_[4 * t + 1]} << 16) |
             (std::uint32_t{block_[4 * t + 2]} << 8) | std::uint32_t{block_[4 * t + 3]};
    for (std::size_t t = 16; t < 64; ++t) {
      const std::uint32_t s0 = detail::rotr32(w[t - 15], 7) ^ detail::rotr32(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const std::uint32_t s1 = detail::rotr32(w[t - 2], 17) ^ detail::rotr32(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    std::uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    // Eight rounds per iteration, rotating the variables' roles instead of
    // moving their values: seven fewer copies per round.
    for (std::size_t t = 0; t < 64; t += 8) {
      round(a, b, c, d, e, f, g, h, w[t + 0] + detail::sha256_k[t + 0]);
      round(h, a, b, c, d, e, f, g, w[t + 1] + detail::sha256_k[t + 1]);
      round(g, h, a, b, c, d, e, f, w[t + 2] + detail::sha256_k[t + 2]);
      round(f, g, h, a, b, c, d, e, w[t + 3] + detail::sha256_k[t + 3]);
      round(e, f, g, h, a, b, c, d, w[t + 4] + detail::sha256_k[t + 4]);
      round(d, e, f, g, h, a, b, c, w[t + 5] + detail::sha256_k[t + 5]);
      round(c, d, e, f, g, h, a, b, w[t + 6] + detail::sha256_k[t + 6]);
      round(b, c, d, e, f, g, h, a, w[t + 7] + detail::sha256_k[t + 7]);
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
    state_[4] += e;
    state_[5] += f;
    state_[6] += g;
    state_[7] += h;
    detail::secure_zero(w, 64);  // the schedule of a key block is the key
  }

  std::uint32_t state_[8] = {detail::sha256_h0[0], detail::sha256_h0[1], detail::sha256_h0[2],
                             detail::sha256_h0[3], detail::sha256_h0[4], detail::sha256_h0[5],
                             detail::sha256_h0[6], detail::sha256_h0[7]};
  std::uint8_t block_[sha256_block_size]{};
  std::uint64_t length_ = 0;  // bytes so far; unsigned, so it wraps, never overflows
  std::size_t used_ = 0;      // bytes in block_, always < 64 between calls
};

// The SHA-256 digest of `data` (FIPS 180-4).
constexpr sha256_digest sha256(std::span<const std::byte> data) noexcept {
  return sha256_hasher{}.update(data).finish();
}
// The SHA-256 digest of the bytes of `text`.
constexpr sha256_digest sha256(std::string_view text) noexcept { return sha256_hasher{}.update(text).finish(); }

// Incremental HMAC-SHA-256 (RFC 2104, RFC 4231) under a key of any length, then
// update() and finish() like sha256_hasher. Copy the keyed state to
// authenticate several messages without redoing the key schedule.
class hmac_sha256_hasher {
 public:
  constexpr explicit hmac_sha256_hasher(std::span<const std::byte> key) noexcept {
    std::uint8_t k[sha256_block_size]{};
    if (key.size() > sha256_block_size) {
      const sha256_digest hashed = sha256(key);
      for (std::size_t i = 0; i < hashed.size(); ++i) k[i] = static_cast<std::uint8_t>(hashed[i]);
    } else {
      for (std::size_t i = 0; i < key.size(); ++i) k[i] = static_cast<std::uint8_t>(key[i]);
    }
    std::byte ipad[sha256_block_size]{};
    std::byte opad[sha256_block_size]{};
    for (std::size_t i = 0; i < sha256_block_size; ++i) {
      ipad[i] = static_cast<std::byte>(k[i] ^ 0x36U);
      opad[i] = static_cast<std::byte>(k[i] ^ 0x5cU);
    }
    inner_.update(std::span<const std::byte>(ipad));
    outer_.update(std::span<const std::byte>(opad));
    detail::secure_zero(k, sha256_block_size);
    detail::secure_zero(ipad, sha256_block_size);
    detail::secure_zero(opad, sha256_block_size);
  }

  // Appends `data` to the authenticated message.
  constexpr hmac_sha256_hasher& update(std::span<const std::byte> data) noexcept {
    inner_.update(data);
    return *this;
  }
  // Appends the bytes of `text`.
  constexpr hmac_sha256_hasher& update(std::string_view text) noexcept {
    inner_.update(text);
    return *this;
  }
  // Appends one byte.
  constexpr hmac_sha256_hasher& update(std::byte b) noexcept {
    inner_.update(b);
    return *this;
  }

  // The tag H((K ^ opad) || H((K ^ ipad) || message)). The hasher is spent
  // (wiped) afterwards.
  constexpr sha256_digest finish() noexcept {
    sha256_digest inner_digest = inner_.finish();
    const sha256_digest tag = outer_.update(std::span<const std::byte>(inner_digest)).finish();
    detail::secure_zero(inner_digest.data(), inner_digest.size());
    return tag;
  }

  // Erases the keyed state (a copy of it can authenticate under the key).
  constexpr void wipe() noexcept {
    inner_.wipe();
    outer_.wipe();
  }

 private:
  sha256_hasher inner_;
  sha256_hasher outer_;
};

// The HMAC-SHA-256 tag of `message` under `key` (RFC 2104, RFC 4231).
constexpr sha256_digest hmac_sha256(std::span<const std::byte> key, std::span<const std::byte> message) noexcept {
  return hmac_sha256_hasher(key).update(message).finish();
}
// The HMAC-SHA-256 tag of the bytes of `message` under `key`.
constexpr sha256_digest hmac_sha256(std::span<const std::byte> key, std::string_view message) noexcept {
  return hmac_sha256_hasher(key).update(message).finish();
}

// Whether `a` and `b` hold the same bytes, in time that depends only on their
// (public) sizes: no early exit, no branch on the contents (how a stored digest
// is compared, RULES.md §5). Unequal sizes compare unequal.
constexpr bool constant_time_equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned>(a[i] ^ b[i]);
  // (diff - 1) >> 8 has bit 0 set exactly when diff == 0 (diff < 256), computed without a comparison.
  return static_cast<bool>(((diff - 1U) >> 8U) & 1U);
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_CRYPTO_HPP
