// SPDX-License-Identifier: MIT
// phoneverify: the ChaCha20 block function and keystream (RFC 8439 §2.1-§2.4).
//
// The core of chacha20_generator (random.hpp), written from RFC 8439:
// constexpr, no heap, no <random>. Four consecutive blocks at once
// (chacha20_blocks4) use SSE2 where the compiler targets it, outside
// constant evaluation; the portable code is the reference it must equal.
// Not part of the public contract.
#ifndef PHONEVERIFY_DETAIL_CHACHA20_HPP
#define PHONEVERIFY_DETAIL_CHACHA20_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#if defined(__SSE2__) && !defined(PHONEVERIFY_NO_SIMD)
#include <emmintrin.h>
#define PHONEVERIFY_CHACHA20_SSE2 1
#else
#define PHONEVERIFY_CHACHA20_SSE2 0
#endif

namespace phoneverify::detail {

// RFC 8439 §2.3: a block is sixteen 32-bit words; the key is eight, the nonce
// three, the block counter one.
inline constexpr std::size_t chacha20_block_words = 16;
inline constexpr std::size_t chacha20_block_bytes = 64;
inline constexpr std::size_t chacha20_key_bytes = 32;
inline constexpr std::size_t chacha20_nonce_bytes = 12;

using chacha20_block_t = std::array<std::uint32_t, chacha20_block_words>;
using chacha20_key_words = std::array<std::uint32_t, 8>;
using chacha20_nonce_words = std::array<std::uint32_t, 3>;

constexpr std::uint32_t chacha20_rotl(std::uint32_t v, int n) noexcept {
  return static_cast<std::uint32_t>((v << n) | (v >> (32 - n)));
}

// RFC 8439 §2.1: the quarter round on four words of the state.
constexpr void chacha20_quarter_round(chacha20_block_t& s, std::size_t a, std::size_t b, std::size_t c,
                                      std::size_t d) noexcept {
  s[a] += s[b]; s[d] ^= s[a]; s[d] = chacha20_rotl(s[d], 16);
  s[c] += s[d]; s[b] ^= s[c]; s[b] = chacha20_rotl(s[b], 12);
  s[a] += s[b]; s[d] ^= s[a]; s[d] = chacha20_rotl(s[d], 8);
  s[c] += s[d]; s[b] ^= s[c]; s[b] = chacha20_rotl(s[b], 7);
}

// RFC 8439 §2.3: the block function, the 16 words of the state after 20 rounds
// plus the input state, before serialisation.
constexpr void chacha20_block(const chacha20_key_words& key, std::uint32_t counter,
                              const chacha20_nonce_words& nonce, chacha20_block_t& out) noexcept {
  // §2.3: the constants are "expand 32-byte k" read as four little-endian words.
  const chacha20_block_t input{0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u,
                               key[0],      key[1],      key[2],      key[3],
                               key[4],      key[5],      key[6],      key[7],
                               counter,     nonce[0],    nonce[1],    nonce[2]};
  chacha20_block_t s = input;
  for (int i = 0; i < 10; ++i) {  // 20 rounds: 10 column + diagonal pairs (§2.3)
    chacha20_quarter_round(s, 0, 4, 8, 12);
    chacha20_quarter_round(s, 1, 5, 9, 13);
    chacha20_quarter_round(s, 2, 6, 10, 14);
    chacha20_quarter_round(s, 3, 7, 11, 15);
    chacha20_quarter_round(s, 0, 5, 10, 15);
    chacha20_quarter_round(s, 1, 6, 11, 12);
    chacha20_quarter_round(s, 2, 7, 8, 13);
    chacha20_quarter_round(s, 3, 4, 9, 14);
  }
  for (std::size_t i = 0; i < chacha20_block_words; ++i) out[i] = s[i] + input[i];
}

using chacha20_blocks4_t = std::array<chacha20_block_t, 4>;

// The four blocks of counters counter .. counter + 3 (mod 2^32), one at a time.
constexpr void chacha20_blocks4_portable(const chacha20_key_words& key, std::uint32_t counter,
                                         const chacha20_nonce_words& nonce, chacha20_blocks4_t& out) noexcept {
  for (std::uint32_t b = 0; b < 4; ++b) chacha20_block(key, static_cast<std::uint32_t>(counter + b), nonce, out[b]);
}

#if PHONEVERIFY_CHACHA20_SSE2
// The same four blocks side by side: lane b of vector i is word i of block
// b, so every step of a quarter round is one SSE2 instruction for all four
// (a rotation three), then each group of four words is transposed back into
// the blocks' order.
inline void chacha20_blocks4_sse2(const chacha20_key_words& key, std::uint32_t counter,
                                  const chacha20_nonce_words& nonce, chacha20_blocks4_t& out) noexcept {
  const auto splat = [](std::uint32_t w) { return _mm_set1_epi32(static_cast<int>(w)); };
  // The input words, made again for the final addition rather than kept
  // live through the rounds (the 16 state vectors fill the registers).
  const auto input = [&](std::size_t i) {
    switch (i) {
      case 0: return splat(0x61707865u);
      case 1: return splat(0x3320646eu);
      case 2: return splat(0x79622d32u);
      case 3: return splat(0x6b206574u);
      case 12: return _mm_add_epi32(splat(counter), _mm_set_epi32(3, 2, 1, 0));
      case 13: case 14: case 15: return splat(nonce[i - 13]);
      default: return splat(key[i - 4]);
    }
  };
  __m128i v[16];
  for (std::size_t i = 0; i < 16; ++i) v[i] = input(i);
#define PHONEVERIFY_CHACHA20_ROTL(x, n) _mm_or_si128(_mm_slli_epi32((x), (n)), _mm_srli_epi32((x), 32 - (n)))
  // By 16: the two halves of each word swapped, two shuffles.
#define PHONEVERIFY_CHACHA20_ROTL16(x) _mm_shufflehi_epi16(_mm_shufflelo_epi16((x), 0xB1), 0xB1)
#define PHONEVERIFY_CHACHA20_QR(a, b, c, d)                                                      \
  v[a] = _mm_add_epi32(v[a], v[b]); v[d] = PHONEVERIFY_CHACHA20_ROTL16(_mm_xor_si128(v[d], v[a])); \
  v[c] = _mm_add_epi32(v[c], v[d]); v[b] = PHONEVERIFY_CHACHA20_ROTL(_mm_xor_si128(v[b], v[c]), 12); \
  v[a] = _mm_add_epi32(v[a], v[b]); v[d] = PHONEVERIFY_CHACHA20_ROTL(_mm_xor_si128(v[d], v[a]), 8);  \
  v[c] = _mm_add_epi32(v[c], v[d]); v[b] = PHONEVERIFY_CHACHA20_ROTL(_mm_xor_si128(v[b], v[c]), 7)
  for (int i = 0; i < 10; ++i) {  // 20 rounds, as chacha20_block
    PHONEVERIFY_CHACHA20_QR(0, 4, 8, 12);
    PHONEVERIFY_CHACHA20_QR(1, 5, 9, 13);
    PHONEVERIFY_CHACHA20_QR(2, 6, 10, 14);
    PHONEVERIFY_CHACHA20_QR(3, 7, 11, 15);
    PHONEVERIFY_CHACHA20_QR(0, 5, 10, 15);
    PHONEVERIFY_CHACHA20_QR(1, 6, 11, 12);
    PHONEVERIFY_CHACHA20_QR(2, 7, 8, 13);
    PHONEVERIFY_CHACHA20_QR(3, 4, 9, 14);
  }
#undef PHONEVERIFY_CHACHA20_QR
#undef PHONEVERIFY_CHACHA20_ROTL16
#undef PHONEVERIFY_CHACHA20_ROTL
  for (std::size_t g = 0; g < 16; g += 4) {
    const __m128i a = _mm_add_epi32(v[g], input(g)), b = _mm_add_epi32(v[g + 1], input(g + 1));
    const __m128i c = _mm_add_epi32(v[g + 2], input(g + 2)), d = _mm_add_epi32(v[g + 3], input(g + 3));
    const __m128i ab_lo = _mm_unpacklo_epi32(a, b), ab_hi = _mm_unpackhi_epi32(a, b);  // blocks 0,1 / 2,3
    const __m128i cd_lo = _mm_unpacklo_epi32(c, d), cd_hi = _mm_unpackhi_epi32(c, d);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[0].data() + g), _mm_unpacklo_epi64(ab_lo, cd_lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[1].data() + g), _mm_unpackhi_epi64(ab_lo, cd_lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[2].data() + g), _mm_unpacklo_epi64(ab_hi, cd_hi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[3].data() + g), _mm_unpackhi_epi64(ab_hi, cd_hi));
  }
}
#endif

// The four blocks of counters counter .. counter + 3 (mod 2^32): what
// chacha20_blocks4_portable writes, with SSE2 when it is there.
constexpr void chacha20_blocks4(const chacha20_key_words& key, std::uint32_t counter,
                                const chacha20_nonce_words& nonce, chacha20_blocks4_t& out) noexcept {
#if PHONEVERIFY_CHACHA20_SSE2
  if (!std::is_constant_evaluated()) {
    chacha20_blocks4_sse2(key, counter, nonce, out);
    return;
  }
#endif
  chacha20_blocks4_portable(key, counter, nonce, out);
}

// Little-endian word from four bytes (RFC 8439 §2.3 reads key and nonce so).
constexpr std::uint32_t chacha20_load_le(const std::byte* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

constexpr chacha20_key_words chacha20_key_from_bytes(const std::array<std::byte, chacha20_key_bytes>& key) noexcept {
  chacha20_key_words w{};
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = chacha20_load_le(key.data() + 4 * i);
  return w;
}

constexpr chacha20_nonce_words chacha20_nonce_from_bytes(
    const std::array<std::byte, chacha20_nonce_bytes>& nonce) noexcept {
  chacha20_nonce_words w{};
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = chacha20_load_le(nonce.data() + 4 * i);
  return w;
}

// RFC 8439 §2.3: the serialised block, each word little-endian.
constexpr std::array<std::byte, chacha20_block_bytes> chacha20_serialize(const chacha20_block_t& block) noexcept {
  std::array<std::byte, chacha20_block_bytes> bytes{};
  for (std::size_t i = 0; i < chacha20_block_words; ++i)
    for (std::size_t j = 0; j < 4; ++j) bytes[4 * i + j] = static_cast<std::byte>((block[i] >> (8 * j)) & 0xFFu);
  return bytes;
}

// RFC 8439 §2.4: XORs `data` in place with the keystream of (key, nonce) from
// block `counter`. The 32-bit counter wraps after 256 GiB, which the RFC leaves
// to the caller.
constexpr void chacha20_xor(const chacha20_key_words& key, std::uint32_t counter, const chacha20_nonce_words& nonce,
                            std::span<std::byte> data) noexcept {
  chacha20_block_t block{};
  std::size_t done = 0;
  while (done < data.size()) {
    chacha20_block(key, counter++, nonce, block);
    const auto bytes = chacha20_serialize(block);
    for (std::size_t j = 0; j < chacha20_block_bytes && done < data.size(); ++j, ++done) data[done] ^= bytes[j];
  }
}

}  // namespace phoneverify::detail

#endif  // PHONEVERIFY_DETAIL_CHACHA20_HPP
