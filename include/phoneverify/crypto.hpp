// SPDX-License-Identifier: MIT
// phoneverify: constexpr SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104).
//
// What code.hpp uses to store a verification code only as a keyed digest
// (RULES.md §5). No I/O, no heap, usable in constant expressions. Nothing here
// branches on or indexes by the bytes hashed, so every secret of one length
// takes the same path.
//
// Two compression functions, one result. The portable one (plain C++,
// constexpr) runs during constant evaluation, on other CPUs and with other
// compilers. On x86-64 with g++ >= 12 or clang, run-time calls use the CPU's
// SHA extensions (SHA256RNDS2, SHA256MSG1, SHA256MSG2) when CPUID says it has
// them (leaf 7 EBX bit 29, with SSSE3 and SSE4.1): that function is compiled
// with a function-level target attribute, so no -m flag is needed, and the
// CPU is asked once per process. Define PHONEVERIFY_NO_SHA_NI (for the whole
// program) to compile the hardware path out; detail::force_sha256_engine picks
// one at run time (tests, benchmarks). Valgrind 3.19 cannot execute these
// instructions and clears their CPUID bit, so under it the portable path runs.
#ifndef PHONEVERIFY_CRYPTO_HPP
#define PHONEVERIFY_CRYPTO_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

// The x86 SHA path needs GCC's generic vector shuffles (__builtin_shufflevector,
// g++ 12) and the sha256 builtins of both compilers; it uses them directly, not
// through <immintrin.h>, which alone costs a translation unit about 0.45 s in g++.
#if !defined(PHONEVERIFY_NO_SHA_NI) && defined(__x86_64__) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define PHONEVERIFY_SHA256_X86 1
#include <cpuid.h>
#else
#define PHONEVERIFY_SHA256_X86 0
#endif

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

// One round of FIPS 180-4 §6.2.2 step 3; d and h become the new e and a once
// the caller rotates the names.
constexpr void sha256_round(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t& d, std::uint32_t e,
                            std::uint32_t f, std::uint32_t g, std::uint32_t& h, std::uint32_t k_plus_w) noexcept {
  const std::uint32_t t1 =
      h + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) + ((e & f) ^ (~e & g)) + k_plus_w;
  const std::uint32_t t2 = (rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
  d += t1;
  h = t1 + t2;
}

// FIPS 180-4 §6.2.2 in plain C++: `blocks` 64-byte blocks at `p` into `state`.
// Byte is any byte-like type (char, unsigned char, std::byte).
template <class Byte>
constexpr void sha256_compress_portable(std::uint32_t* state, const Byte* p, std::size_t blocks) noexcept {
  std::uint32_t w[64];  // every entry is written before it is read
  for (; blocks > 0; --blocks, p += sha256_block_size) {
    for (std::size_t t = 0; t < 16; ++t)
      w[t] = (std::uint32_t{static_cast<std::uint8_t>(p[4 * t])} << 24) |
             (std::uint32_t{static_cast<std::uint8_t>(p[4 * t + 1])} << 16) |
             (std::uint32_t{static_cast<std::uint8_t>(p[4 * t + 2])} << 8) |
             std::uint32_t{static_cast<std::uint8_t>(p[4 * t + 3])};
    for (std::size_t t = 16; t < 64; ++t) {
      const std::uint32_t s0 = rotr32(w[t - 15], 7) ^ rotr32(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const std::uint32_t s1 = rotr32(w[t - 2], 17) ^ rotr32(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    std::uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    std::uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    // Eight rounds per iteration, rotating the variables' roles instead of
    // moving their values: seven fewer copies per round.
    for (std::size_t t = 0; t < 64; t += 8) {
      sha256_round(a, b, c, d, e, f, g, h, w[t + 0] + sha256_k[t + 0]);
      sha256_round(h, a, b, c, d, e, f, g, w[t + 1] + sha256_k[t + 1]);
      sha256_round(g, h, a, b, c, d, e, f, w[t + 2] + sha256_k[t + 2]);
      sha256_round(f, g, h, a, b, c, d, e, w[t + 3] + sha256_k[t + 3]);
      sha256_round(e, f, g, h, a, b, c, d, w[t + 4] + sha256_k[t + 4]);
      sha256_round(d, e, f, g, h, a, b, c, w[t + 5] + sha256_k[t + 5]);
      sha256_round(c, d, e, f, g, h, a, b, w[t + 6] + sha256_k[t + 6]);
      sha256_round(b, c, d, e, f, g, h, a, w[t + 7] + sha256_k[t + 7]);
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }
  secure_zero(w, 64);  // the schedule of a key block is the key
}

// The compression functions run-time calls can use.
enum class sha256_engine : unsigned char {
  portable = 1,  // sha256_compress_portable
  x86_sha = 2,   // sha256_compress_x86: the x86 SHA extensions
};

#if PHONEVERIFY_SHA256_X86
// Four 32-bit lanes, lane 0 at the lowest address; arithmetic wraps (unsigned).
typedef std::uint32_t sha256_u32x4 __attribute__((vector_size(16)));
// The lane type the compilers' sha256 builtins take and return.
typedef int sha256_i32x4 __attribute__((vector_size(16)));
typedef std::uint8_t sha256_u8x16 __attribute__((vector_size(16)));

#define PHONEVERIFY_SHA256_X86_TARGET __attribute__((target("sha,sse4.1")))

// Intel SDM, SHA256RNDS2 xmm1, xmm2, <XMM0> (_mm_sha256rnds2_epu32): two
// rounds. `cdgh` holds C, D, G, H in lanes 3, 2, 1, 0 and `abef` A, B, E, F in
// lanes 3, 2, 1, 0; lanes 0 and 1 of `wk` are W+K of the two rounds. Returns
// the new A, B, E, F; the new C, D, G, H are the old A, B, E, F.
PHONEVERIFY_SHA256_X86_TARGET __attribute__((always_inline)) inline sha256_u32x4 sha256_x86_rounds2(
    sha256_u32x4 cdgh, sha256_u32x4 abef, sha256_u32x4 wk) noexcept {
  return (sha256_u32x4)__builtin_ia32_sha256rnds2((sha256_i32x4)cdgh, (sha256_i32x4)abef, (sha256_i32x4)wk);
}

// Four rounds with the schedule words W[4q..4q+3] in `w0` (lane i is
// W[4q+i]), `w1`, `w2`, `w3` the next three groups. While `next`, w0 then
// becomes W[4q+16..4q+19]: SHA256MSG1 (_mm_sha256msg1_epu32) gives
// W[t] + s0(W[t+1]) for t = 4q..4q+3, the shuffle adds W[t+9], SHA256MSG2
// (_mm_sha256msg2_epu32) adds s1(W[t+14]), the later two lanes from the
// earlier two.
PHONEVERIFY_SHA256_X86_TARGET __attribute__((always_inline)) inline void sha256_x86_quad(
    sha256_u32x4& abef, sha256_u32x4& cdgh, sha256_u32x4& w0, sha256_u32x4 w1, sha256_u32x4 w2, sha256_u32x4 w3,
    const std::uint32_t* k, bool next) noexcept {
  sha256_u32x4 kq;
  __builtin_memcpy(&kq, k, sizeof kq);
  const sha256_u32x4 wk = w0 + kq;
  sha256_u32x4 t = sha256_x86_rounds2(cdgh, abef, wk);
  cdgh = abef;
  abef = t;
  t = sha256_x86_rounds2(cdgh, abef, __builtin_shufflevector(wk, wk, 2, 3, 2, 3));
  cdgh = abef;
  abef = t;
  if (next) {
    const sha256_u32x4 partial = (sha256_u32x4)__builtin_ia32_sha256msg1((sha256_i32x4)w0, (sha256_i32x4)w1) +
                                 __builtin_shufflevector(w2, w3, 1, 2, 3, 4);
    w0 = (sha256_u32x4)__builtin_ia32_sha256msg2((sha256_i32x4)partial, (sha256_i32x4)w3);
  }
}

// Sixteen big-endian 32-bit words at `p`, as four lanes each.
PHONEVERIFY_SHA256_X86_TARGET __attribute__((always_inline)) inline sha256_u32x4 sha256_x86_load(
    const unsigned char* p) noexcept {
  sha256_u8x16 bytes;
  __builtin_memcpy(&bytes, p, sizeof bytes);
  return (sha256_u32x4)__builtin_shufflevector(bytes, bytes, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
}

// FIPS 180-4 §6.2.2 with the x86 SHA extensions: `blocks` 64-byte blocks at
// `p` into `state`, the same result as sha256_compress_portable. Only for a CPU
// that has them (sha256_x86_supported). No branch or address depends on the
// bytes; the schedule is erased like the portable one's.
PHONEVERIFY_SHA256_X86_TARGET inline void sha256_compress_x86(std::uint32_t* state, const unsigned char* p,
                                                              std::size_t blocks) noexcept {
  sha256_u32x4 s0, s1;  // A B C D, E F G H
  __builtin_memcpy(&s0, state, sizeof s0);
  __builtin_memcpy(&s1, state + 4, sizeof s1);
  sha256_u32x4 abef = __builtin_shufflevector(s0, s1, 5, 4, 1, 0);  // lanes F E B A
  sha256_u32x4 cdgh = __builtin_shufflevector(s0, s1, 7, 6, 3, 2);  // lanes H G D C
  sha256_u32x4 w[4];  // the schedule, four words a vector; erased below
  for (; blocks > 0; --blocks, p += sha256_block_size) {
    const sha256_u32x4 abef_in = abef, cdgh_in = cdgh;
    for (std::size_t i = 0; i < 4; ++i) w[i] = sha256_x86_load(p + 16 * i);
    for (std::size_t q = 0; q < 16; q += 4) {
      const bool next = q < 12;  // the last 16 words need no successors
      sha256_x86_quad(abef, cdgh, w[0], w[1], w[2], w[3], sha256_k + 4 * q, next);
      sha256_x86_quad(abef, cdgh, w[1], w[2], w[3], w[0], sha256_k + 4 * q + 4, next);
      sha256_x86_quad(abef, cdgh, w[2], w[3], w[0], w[1], sha256_k + 4 * q + 8, next);
      sha256_x86_quad(abef, cdgh, w[3], w[0], w[1], w[2], sha256_k + 4 * q + 12, next);
    }
    abef += abef_in;
    cdgh += cdgh_in;
  }
  s0 = __builtin_shufflevector(abef, cdgh, 3, 2, 7, 6);
  s1 = __builtin_shufflevector(abef, cdgh, 1, 0, 5, 4);
  __builtin_memcpy(state, &s0, sizeof s0);
  __builtin_memcpy(state + 4, &s1, sizeof s1);
  secure_zero(w, 4);  // the schedule of a key block is the key
}

// One block into each of two states, the two compressions interleaved: each
// is one long chain of dependent SHA256RNDS2, so two independent chains run
// in about the time of one (the HMAC tags of a binding are two such pairs,
// code.hpp's compute_tags). The same results as two sha256_compress_x86 calls.
PHONEVERIFY_SHA256_X86_TARGET inline void sha256_compress_x86_pair(std::uint32_t* state_a, const unsigned char* block_a,
                                                                   std::uint32_t* state_b,
                                                                   const unsigned char* block_b) noexcept {
  sha256_u32x4 a0, a1, b0, b1;
  __builtin_memcpy(&a0, state_a, sizeof a0);
  __builtin_memcpy(&a1, state_a + 4, sizeof a1);
  __builtin_memcpy(&b0, state_b, sizeof b0);
  __builtin_memcpy(&b1, state_b + 4, sizeof b1);
  sha256_u32x4 abef_a = __builtin_shufflevector(a0, a1, 5, 4, 1, 0), cdgh_a = __builtin_shufflevector(a0, a1, 7, 6, 3, 2);
  sha256_u32x4 abef_b = __builtin_shufflevector(b0, b1, 5, 4, 1, 0), cdgh_b = __builtin_shufflevector(b0, b1, 7, 6, 3, 2);
  const sha256_u32x4 abef_a_in = abef_a, cdgh_a_in = cdgh_a, abef_b_in = abef_b, cdgh_b_in = cdgh_b;
  sha256_u32x4 wa[4], wb[4];  // the schedules; erased below
  for (std::size_t i = 0; i < 4; ++i) {
    wa[i] = sha256_x86_load(block_a + 16 * i);
    wb[i] = sha256_x86_load(block_b + 16 * i);
  }
  for (std::size_t q = 0; q < 16; q += 4) {
    const bool next = q < 12;
    sha256_x86_quad(abef_a, cdgh_a, wa[0], wa[1], wa[2], wa[3], sha256_k + 4 * q, next);
    sha256_x86_quad(abef_b, cdgh_b, wb[0], wb[1], wb[2], wb[3], sha256_k + 4 * q, next);
    sha256_x86_quad(abef_a, cdgh_a, wa[1], wa[2], wa[3], wa[0], sha256_k + 4 * q + 4, next);
    sha256_x86_quad(abef_b, cdgh_b, wb[1], wb[2], wb[3], wb[0], sha256_k + 4 * q + 4, next);
    sha256_x86_quad(abef_a, cdgh_a, wa[2], wa[3], wa[0], wa[1], sha256_k + 4 * q + 8, next);
    sha256_x86_quad(abef_b, cdgh_b, wb[2], wb[3], wb[0], wb[1], sha256_k + 4 * q + 8, next);
    sha256_x86_quad(abef_a, cdgh_a, wa[3], wa[0], wa[1], wa[2], sha256_k + 4 * q + 12, next);
    sha256_x86_quad(abef_b, cdgh_b, wb[3], wb[0], wb[1], wb[2], sha256_k + 4 * q + 12, next);
  }
  abef_a += abef_a_in;
  cdgh_a += cdgh_a_in;
  abef_b += abef_b_in;
  cdgh_b += cdgh_b_in;
  a0 = __builtin_shufflevector(abef_a, cdgh_a, 3, 2, 7, 6);
  a1 = __builtin_shufflevector(abef_a, cdgh_a, 1, 0, 5, 4);
  b0 = __builtin_shufflevector(abef_b, cdgh_b, 3, 2, 7, 6);
  b1 = __builtin_shufflevector(abef_b, cdgh_b, 1, 0, 5, 4);
  __builtin_memcpy(state_a, &a0, sizeof a0);
  __builtin_memcpy(state_a + 4, &a1, sizeof a1);
  __builtin_memcpy(state_b, &b0, sizeof b0);
  __builtin_memcpy(state_b + 4, &b1, sizeof b1);
  secure_zero(wa, 4);
  secure_zero(wb, 4);
}
#undef PHONEVERIFY_SHA256_X86_TARGET

// Whether this CPU has the SHA extensions and the SSSE3 and SSE4.1 shuffles
// the x86 path is compiled for (CPUID leaf 1 ECX bits 9 and 19, leaf 7
// subleaf 0 EBX bit 29). Asks the CPU each time: see sha256_engine_in_use.
inline bool sha256_x86_supported() noexcept {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  const bool shuffles = (c & (1U << 9)) != 0 && (c & (1U << 19)) != 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  return shuffles && (b & (1U << 29)) != 0;
}

// The engine in force: 0 until the first run-time hash decides it, then a
// sha256_engine. Read and written only atomically (relaxed: it publishes
// nothing but itself), so any number of threads may hash at once.
inline unsigned char sha256_engine_cell = 0;

// The first call: the fastest engine this CPU has, unless another thread or
// force_sha256_engine decided first (then that one stays).
[[gnu::noinline, gnu::cold]] inline unsigned char sha256_decide_engine() noexcept {
  const auto best = static_cast<unsigned char>(sha256_x86_supported() ? sha256_engine::x86_sha : sha256_engine::portable);
  unsigned char expected = 0;
  if (__atomic_compare_exchange_n(&sha256_engine_cell, &expected, best, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    return best;
  return expected;
}
#endif

// Whether `engine` can run on this CPU with this build.
inline bool sha256_engine_available(sha256_engine engine) noexcept {
  if (engine == sha256_engine::portable) return true;
#if PHONEVERIFY_SHA256_X86
  if (engine == sha256_engine::x86_sha) return sha256_x86_supported();
#endif
  return false;
}

// The engine run-time hashing uses: the fastest available (CPUID, asked once
// per process), or the one forced last.
inline sha256_engine sha256_engine_in_use() noexcept {
#if PHONEVERIFY_SHA256_X86
  unsigned char engine = __atomic_load_n(&sha256_engine_cell, __ATOMIC_RELAXED);
  if (engine == 0) [[unlikely]]
    engine = sha256_decide_engine();
  return static_cast<sha256_engine>(engine);
#else
  return sha256_engine::portable;
#endif
}

// Makes run-time hashing use `engine` from now on, in every thread (tests
// compare the engines; benchmarks time each). Returns false and changes nothing
// when it is not available. Both engines give the same digests.
inline bool force_sha256_engine(sha256_engine engine) noexcept {
  if (!sha256_engine_available(engine)) return false;
#if PHONEVERIFY_SHA256_X86
  __atomic_store_n(&sha256_engine_cell, static_cast<unsigned char>(engine), __ATOMIC_RELAXED);
#endif
  return true;
}

// `blocks` blocks at run time, through the engine in force.
inline void sha256_compress_runtime(std::uint32_t* state, const void* p, std::size_t blocks) noexcept {
  const auto* bytes = static_cast<const unsigned char*>(p);
#if PHONEVERIFY_SHA256_X86
  if (sha256_engine_in_use() == sha256_engine::x86_sha) {
    sha256_compress_x86(state, bytes, blocks);
    return;
  }
#endif
  sha256_compress_portable(state, bytes, blocks);
}

// `blocks` 64-byte blocks at `p` into `state`: the portable function during
// constant evaluation, the engine in force at run time.
template <class Byte>
constexpr void sha256_compress(std::uint32_t* state, const Byte* p, std::size_t blocks) noexcept {
  if (std::is_constant_evaluated()) {
    sha256_compress_portable(state, p, blocks);
  } else {
    sha256_compress_runtime(state, p, blocks);
  }
}

}  // namespace detail

// Incremental SHA-256 (FIPS 180-4 §6.2): update() any number of times, then
// finish(); messages under 2^61 bytes (the standard's length field). Trivially
// copyable, so a prefix can be hashed once and the state copied.
class hmac_sha256_hasher;

class sha256_hasher {
 public:
  constexpr sha256_hasher() noexcept = default;

 private:
  // Tops up a partly filled block, compresses whole blocks straight from
  // `data`, keeps the rest; the path depends only on the lengths, never on
  // the bytes.
  template <class Byte>
  constexpr void absorb(const Byte* data, std::size_t size) noexcept {
    length_ += size;
    if (const std::size_t used = used_; used > 0) {  // a local count, as in finish
      const std::size_t room = sha256_block_size - used;
      const std::size_t take = size < room ? size : room;
      for (std::size_t i = 0; i < take; ++i) block_[used + i] = static_cast<std::uint8_t>(data[i]);
      used_ = used + take;
      data += take;
      size -= take;
      if (used_ < sha256_block_size) return;
      detail::sha256_compress(state_, block_, 1);
      used_ = 0;
    }
    const std::size_t blocks = size / sha256_block_size;
    if (blocks > 0) {
      detail::sha256_compress(state_, data, blocks);
      data += blocks * sha256_block_size;
      size -= blocks * sha256_block_size;
    }
    for (std::size_t i = 0; i < size; ++i) block_[i] = static_cast<std::uint8_t>(data[i]);
    used_ = size;
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
    // A local count: a store to block_ (bytes) could alias the member, so
    // the loops would reload and store it byte by byte.
    const std::uint64_t bit_length = length_ * 8U;
    std::size_t used = used_;
    block_[used++] = 0x80;
    if (used > 56) {  // no room for the length: pad this block out and start another
      for (; used < sha256_block_size; ++used) block_[used] = 0x00;
      compress();
      used = 0;
    }
    for (; used < 56; ++used) block_[used] = 0x00;
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
  constexpr void compress() noexcept { detail::sha256_compress(state_, block_, 1); }

  std::uint32_t state_[8] = {detail::sha256_h0[0], detail::sha256_h0[1], detail::sha256_h0[2],
                             detail::sha256_h0[3], detail::sha256_h0[4], detail::sha256_h0[5],
                             detail::sha256_h0[6], detail::sha256_h0[7]};
  std::uint8_t block_[sha256_block_size]{};
  std::uint64_t length_ = 0;  // bytes so far; unsigned, so it wraps, never overflows
  std::size_t used_ = 0;      // bytes in block_, always < 64 between calls

  friend class hmac_sha256_hasher;  // its authenticate_pair continues from state_
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

  // The tags of two messages under this hasher's key, this hasher unchanged
  // (it must hold the key only: nothing update()d yet). The tags of a
  // binding need two at once (code.hpp, compute_tags).
  //
  // On the x86 SHA path, two messages of at most 55 bytes (a padded inner
  // block each: the tags of every binding an action admits) take two
  // interleaved pairs of compressions, inner then outer, in about the time
  // of two compressions rather than four. Only the lengths choose the path.
  constexpr std::array<sha256_digest, 2> authenticate_pair(std::span<const std::byte> first,
                                                           std::span<const std::byte> second) const noexcept {
#if PHONEVERIFY_SHA256_X86
    if (!std::is_constant_evaluated() && first.size() <= one_block_message && second.size() <= one_block_message &&
        inner_.used_ == 0 && inner_.length_ == sha256_block_size &&
        detail::sha256_engine_in_use() == detail::sha256_engine::x86_sha)
      return authenticate_pair_x86(first, second);
#endif
    hmac_sha256_hasher a = *this;
    hmac_sha256_hasher b = *this;
    a.update(first);
    b.update(second);
    return {a.finish(), b.finish()};  // finish wipes a and b
  }

  // Erases the keyed state (a copy of it can authenticate under the key).
  constexpr void wipe() noexcept {
    inner_.wipe();
    outer_.wipe();
  }

 private:
  // The longest message whose padding (0x80 and the 8-byte length) fits in its one block.
  static constexpr std::size_t one_block_message = sha256_block_size - 9;

#if PHONEVERIFY_SHA256_X86
  // `message` padded as the final block of a hash that already absorbed
  // `before` bytes (FIPS 180-4 §5.1.1).
  static void pad_block(unsigned char* block, std::span<const std::byte> message, std::uint64_t before) noexcept {
    __builtin_memset(block, 0, sha256_block_size);
    if (!message.empty()) __builtin_memcpy(block, message.data(), message.size());
    block[message.size()] = 0x80;
    const std::uint64_t bits = (before + message.size()) * 8U;
    for (std::size_t i = 0; i < 8; ++i) block[56 + i] = static_cast<unsigned char>(bits >> (56U - 8U * i));
  }
  // The big-endian bytes of a state.
  static void state_bytes(const std::uint32_t* state, unsigned char* out) noexcept {
    for (std::size_t i = 0; i < 8; ++i)
      for (std::size_t j = 0; j < 4; ++j) out[4 * i + j] = static_cast<unsigned char>(state[i] >> (24U - 8U * j));
  }
  std::array<sha256_digest, 2> authenticate_pair_x86(std::span<const std::byte> first,
                                                     std::span<const std::byte> second) const noexcept {
    alignas(16) unsigned char block_a[sha256_block_size], block_b[sha256_block_size];
    std::uint32_t a[8], b[8];
    // H((K ^ ipad) || m): the pad's block is already in inner_.state_.
    __builtin_memcpy(a, inner_.state_, sizeof a);
    __builtin_memcpy(b, inner_.state_, sizeof b);
    pad_block(block_a, first, sha256_block_size);
    pad_block(block_b, second, sha256_block_size);
    detail::sha256_compress_x86_pair(a, block_a, b, block_b);
    // H((K ^ opad) || inner digest).
    unsigned char inner_a[32], inner_b[32];
    state_bytes(a, inner_a);
    state_bytes(b, inner_b);
    pad_block(block_a, std::as_bytes(std::span<const unsigned char>(inner_a)), sha256_block_size);
    pad_block(block_b, std::as_bytes(std::span<const unsigned char>(inner_b)), sha256_block_size);
    __builtin_memcpy(a, outer_.state_, sizeof a);
    __builtin_memcpy(b, outer_.state_, sizeof b);
    detail::sha256_compress_x86_pair(a, block_a, b, block_b);
    std::array<sha256_digest, 2> out{};
    unsigned char digest[32];
    state_bytes(a, digest);
    for (std::size_t i = 0; i < 32; ++i) out[0][i] = static_cast<std::byte>(digest[i]);
    state_bytes(b, digest);
    for (std::size_t i = 0; i < 32; ++i) out[1][i] = static_cast<std::byte>(digest[i]);
    // Nothing keyed or secret stays behind on the stack (as finish() wipes).
    detail::secure_zero(block_a, sha256_block_size);
    detail::secure_zero(block_b, sha256_block_size);
    detail::secure_zero(inner_a, 32);
    detail::secure_zero(inner_b, 32);
    detail::secure_zero(a, 8);
    detail::secure_zero(b, 8);
    detail::secure_zero(digest, 32);
    return out;
  }
#endif

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
