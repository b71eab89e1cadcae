// SPDX-License-Identifier: MIT
// phoneverify: SipHash-2-4, a keyed hash for the engine's in-memory tables.
//
// Written from J.-P. Aumasson and D. J. Bernstein, "SipHash: a fast
// short-input PRF" (2012), §2. store.hpp hashes keys that clients choose: under
// a secret key, a client cannot aim many keys at one bucket (hash flooding).
// Not part of the public contract.
#ifndef PHONEVERIFY_DETAIL_SIPHASH_HPP
#define PHONEVERIFY_DETAIL_SIPHASH_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace phoneverify::detail {

// The 128-bit SipHash key as the two little-endian words k0, k1 (§2).
struct siphash_key {
  std::uint64_t k0;
  std::uint64_t k1;
};

constexpr std::uint64_t siphash_load_le(const std::array<std::byte, 16>& bytes, std::size_t offset) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(bytes[offset + i]) << (8 * i);
  return v;
}

constexpr siphash_key siphash_key_from_bytes(const std::array<std::byte, 16>& bytes) noexcept {
  return {siphash_load_le(bytes, 0), siphash_load_le(bytes, 8)};
}

constexpr std::uint64_t siphash_rotl(std::uint64_t v, int n) noexcept { return (v << n) | (v >> (64 - n)); }

struct siphash_state {
  std::uint64_t v0, v1, v2, v3;

  // §2: one SipRound.
  constexpr void round() noexcept {
    v0 += v1; v1 = siphash_rotl(v1, 13); v1 ^= v0; v0 = siphash_rotl(v0, 32);
    v2 += v3; v3 = siphash_rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = siphash_rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = siphash_rotl(v1, 17); v1 ^= v2; v2 = siphash_rotl(v2, 32);
  }
  // §2 compression: c = 2 rounds per message word.
  constexpr void compress(std::uint64_t m) noexcept {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

// SipHash-2-4 of the bytes of `message` under `key` (§2): little-endian words,
// the last carrying the length mod 256 in its top byte.
constexpr std::uint64_t siphash24(const siphash_key& key, std::string_view message) noexcept {
  // §2 initialisation: "somepseudorandomlygeneratedbytes".
  siphash_state s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL, key.k0 ^ 0x6c7967656e657261ULL,
                  key.k1 ^ 0x7465646279746573ULL};
  const std::size_t n = message.size();
  const std::size_t whole = n - n % 8;
  for (std::size_t off = 0; off < whole; off += 8) {
    std::uint64_t m = 0;
    for (std::size_t i = 0; i < 8; ++i) m |= static_cast<std::uint64_t>(static_cast<unsigned char>(message[off + i])) << (8 * i);
    s.compress(m);
  }
  std::uint64_t last = static_cast<std::uint64_t>(n & 0xFFu) << 56;
  for (std::size_t i = whole; i < n; ++i)
    last |= static_cast<std::uint64_t>(static_cast<unsigned char>(message[i])) << (8 * (i - whole));
  s.compress(last);
  s.v2 ^= 0xFFu;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

}  // namespace phoneverify::detail

#endif  // PHONEVERIFY_DETAIL_SIPHASH_HPP
