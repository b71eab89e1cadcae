// random.hpp and detail/chacha20.hpp: the engine's cryptographically secure
// random source (RULES.md §5: codes are drawn from an approved random bit
// generator, NIST SP 800-63B; never a Mersenne Twister).
#include <catch2/catch.hpp>
#include <phoneverify/random.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "support.hpp"

#ifdef PHONEVERIFY_HAVE_OPENSSL
#include <openssl/evp.h>
#endif

namespace pv = phoneverify;
namespace d = phoneverify::detail;

namespace {

template <std::size_t N>
constexpr std::array<std::byte, N> bytes_from(const std::array<unsigned, N>& v) {
  std::array<std::byte, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<std::byte>(v[i]);
  return out;
}

// RFC 8439 §2.3.2 and §2.4.2: the key 00:01:02:...:1f.
constexpr pv::chacha20_generator::key_type rfc_key() {
  pv::chacha20_generator::key_type k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::byte>(i);
  return k;
}

// RFC 8439 §2.3.2: nonce 00:00:00:09:00:00:00:4a:00:00:00:00, block count 1,
// and the block function's output state (the 16 words after the final
// addition, as printed in the RFC).
constexpr std::array<unsigned, 12> rfc_232_nonce{0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x4a, 0x00, 0x00, 0x00, 0x00};
constexpr d::chacha20_block_t rfc_232_output{0xe4e7f110, 0x15593bd1, 0x1fdd0f50, 0xc47120a3,  //
                                             0xc7f4d1c7, 0x0368c033, 0x9aaa2204, 0x4e6cd4c3,  //
                                             0x466482d2, 0x09aa9f07, 0x05d7c214, 0xa2028bd9,  //
                                             0xd19c12b5, 0xb94e16de, 0xe883d0cb, 0x4e3c50a2};

constexpr bool block_matches_rfc_232(std::uint32_t counter) {
  d::chacha20_block_t out{};
  d::chacha20_block(d::chacha20_key_from_bytes(rfc_key()), counter, d::chacha20_nonce_from_bytes(bytes_from(rfc_232_nonce)),
                    out);
  return out == rfc_232_output;
}

// RFC 8439 §2.4.2: nonce 00:00:00:00:00:00:00:4a:00:00:00:00, initial counter
// 1, the "sunscreen" plaintext and its ciphertext (plaintext XOR keystream).
constexpr std::string_view rfc_242_plaintext =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be "
    "it.";
constexpr std::array<unsigned, 12> rfc_242_nonce{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4a, 0x00, 0x00, 0x00, 0x00};
constexpr std::array<unsigned, 114> rfc_242_ciphertext{
    0x6e, 0x2e, 0x35, 0x9a, 0x25, 0x68, 0xf9, 0x80, 0x41, 0xba, 0x07, 0x28, 0xdd, 0x0d, 0x69, 0x81, 0xe9, 0x7e, 0x7a,
    0xec, 0x1d, 0x43, 0x60, 0xc2, 0x0a, 0x27, 0xaf, 0xcc, 0xfd, 0x9f, 0xae, 0x0b, 0xf9, 0x1b, 0x65, 0xc5, 0x52, 0x47,
    0x33, 0xab, 0x8f, 0x59, 0x3d, 0xab, 0xcd, 0x62, 0xb3, 0x57, 0x16, 0x39, 0xd6, 0x24, 0xe6, 0x51, 0x52, 0xab, 0x8f,
    0x53, 0x0c, 0x35, 0x9f, 0x08, 0x61, 0xd8, 0x07, 0xca, 0x0d, 0xbf, 0x50, 0x0d, 0x6a, 0x61, 0x56, 0xa3, 0x8e, 0x08,
    0x8a, 0x22, 0xb6, 0x5e, 0x52, 0xbc, 0x51, 0x4d, 0x16, 0xcc, 0xf8, 0x06, 0x81, 0x8c, 0xe9, 0x1a, 0xb7, 0x79, 0x37,
    0x36, 0x5a, 0xf9, 0x0b, 0xbf, 0x74, 0xa3, 0x5b, 0xe6, 0xb4, 0x0b, 0x8e, 0xed, 0xf2, 0x78, 0x5e, 0x42, 0x87, 0x4d};

constexpr bool keystream_matches_rfc_242(std::uint32_t counter) {
  static_assert(rfc_242_plaintext.size() == rfc_242_ciphertext.size());
  std::array<std::byte, 114> data{};
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(rfc_242_plaintext[i]);
  d::chacha20_xor(d::chacha20_key_from_bytes(rfc_key()), counter, d::chacha20_nonce_from_bytes(bytes_from(rfc_242_nonce)),
                  data);
  return data == bytes_from(rfc_242_ciphertext);
}

// RFC 8439 §2.1.1: the quarter-round test vector.
constexpr bool quarter_round_matches_rfc_211() {
  d::chacha20_block_t s{};
  s[0] = 0x11111111;
  s[1] = 0x01020304;
  s[2] = 0x9b8d6f43;
  s[3] = 0x01234567;
  d::chacha20_quarter_round(s, 0, 1, 2, 3);
  return s[0] == 0xea2a92f4 && s[1] == 0xcb1cf8ce && s[2] == 0x4581472e && s[3] == 0x5881c4bb;
}

// The generator's documented stream, computed independently from the block
// function: batch b is blocks 0..3 under key K_b; K_{b+1} is its first 32
// bytes; outputs are its bytes 32..255 read as little-endian 64-bit words.
constexpr std::array<std::uint64_t, 2 * pv::chacha20_generator::outputs_per_batch> expected_two_batches(
    const pv::chacha20_generator::key_type& key) {
  std::array<std::uint64_t, 2 * pv::chacha20_generator::outputs_per_batch> out{};
  d::chacha20_key_words k = d::chacha20_key_from_bytes(key);
  const d::chacha20_nonce_words nonce{};
  std::size_t n = 0;
  for (int batch = 0; batch < 2; ++batch) {
    std::array<std::byte, 256> bytes{};
    for (std::uint32_t b = 0; b < 4; ++b) {
      d::chacha20_block_t block{};
      d::chacha20_block(k, b, nonce, block);
      const auto ser = d::chacha20_serialize(block);
      for (std::size_t i = 0; i < 64; ++i) bytes[64 * b + i] = ser[i];
    }
    for (std::size_t i = 0; i < 8; ++i) k[i] = d::chacha20_load_le(bytes.data() + 4 * i);
    for (std::size_t off = 32; off < 256; off += 8) {
      std::uint64_t v = 0;
      for (std::size_t j = 0; j < 8; ++j) v |= static_cast<std::uint64_t>(bytes[off + j]) << (8 * j);
      out[n++] = v;
    }
  }
  return out;
}

constexpr pv::chacha20_generator::key_type key_with(std::byte first) {
  pv::chacha20_generator::key_type k = rfc_key();
  k[0] = first;
  return k;
}

constexpr bool generator_follows_documented_stream(const pv::chacha20_generator::key_type& key) {
  pv::chacha20_generator g(key);
  const auto expected = expected_two_batches(key);
  for (const auto e : expected)
    if (g() != e) return false;
  return true;
}

}  // namespace

TEST_CASE("chacha20 quarter round matches RFC 8439 §2.1.1", "[random]") {
  STATIC_REQUIRE(quarter_round_matches_rfc_211());
  CHECK(quarter_round_matches_rfc_211());
}

TEST_CASE("chacha20 block function matches the RFC 8439 §2.3.2 test vector", "[random]") {
  STATIC_REQUIRE(block_matches_rfc_232(1));
  CHECK(block_matches_rfc_232(pv::test::opaque(std::uint32_t{1})));
  CHECK_FALSE(block_matches_rfc_232(pv::test::opaque(std::uint32_t{2})));  // the counter matters
  // §2.3.2 serialised output begins 10 f1 e7 e4 d1 3b 59 15: words are little-endian.
  const auto ser = d::chacha20_serialize(rfc_232_output);
  CHECK(ser[0] == std::byte{0x10});
  CHECK(ser[3] == std::byte{0xe4});
  CHECK(ser[4] == std::byte{0xd1});
}

TEST_CASE("chacha20 keystream matches the RFC 8439 §2.4.2 test vector", "[random]") {
  STATIC_REQUIRE(keystream_matches_rfc_242(1));
  CHECK(keystream_matches_rfc_242(pv::test::opaque(std::uint32_t{1})));
  CHECK_FALSE(keystream_matches_rfc_242(pv::test::opaque(std::uint32_t{0})));
}

#ifdef PHONEVERIFY_HAVE_OPENSSL
TEST_CASE("chacha20 keystream equals OpenSSL's ChaCha20 for random keys, nonces and lengths", "[random]") {
  pv::test::splitmix64 rng{pv::test::test_seed("chacha20 vs OpenSSL", 0x8439)};
  for (int round = 0; round < 200; ++round) {
    std::array<std::byte, 32> key{};
    std::array<std::byte, 12> nonce{};
    for (auto& b : key) b = static_cast<std::byte>(rng() & 0xFF);
    for (auto& b : nonce) b = static_cast<std::byte>(rng() & 0xFF);
    const auto counter = static_cast<std::uint32_t>(rng() & 0xFFFF);
    std::vector<std::byte> ours(static_cast<std::size_t>(rng() % 700));
    d::chacha20_xor(d::chacha20_key_from_bytes(key), counter, d::chacha20_nonce_from_bytes(nonce), ours);

    // OpenSSL's 16-byte IV is the 32-bit little-endian counter, then the nonce.
    std::array<unsigned char, 16> iv{};
    for (std::size_t j = 0; j < 4; ++j) iv[j] = static_cast<unsigned char>((counter >> (8 * j)) & 0xFF);
    for (std::size_t j = 0; j < 12; ++j) iv[4 + j] = static_cast<unsigned char>(nonce[j]);
    std::vector<unsigned char> zeros(ours.size() + 1), theirs(ours.size() + 16);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    REQUIRE(ctx != nullptr);
    REQUIRE(EVP_EncryptInit_ex(ctx, EVP_chacha20(), nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                               iv.data()) == 1);
    int len = 0;
    REQUIRE(EVP_EncryptUpdate(ctx, theirs.data(), &len, zeros.data(), static_cast<int>(ours.size())) == 1);
    EVP_CIPHER_CTX_free(ctx);
    REQUIRE(static_cast<std::size_t>(len) == ours.size());
    bool same = true;
    for (std::size_t j = 0; j < ours.size(); ++j) same = same && static_cast<unsigned char>(ours[j]) == theirs[j];
    CHECK(same);
  }
}
#endif

TEST_CASE("chacha20_blocks4 (SSE2 where built with it) equals four chacha20_block calls also across the counter's wrap",
          "[random]") {
  // The generator's batch: the four blocks of counters c .. c + 3 at once.
  // Against the portable block function of the RFC 8439 vectors above, for
  // random keys, nonces and counters, and every counter whose four blocks
  // wrap past 2^32 - 1 (the lanes wrap as the 32-bit counter does).
  pv::test::splitmix64 rng{pv::test::test_seed("chacha20 blocks4", 0x4B10C)};
  const auto matches = [](const d::chacha20_key_words& key, std::uint32_t counter, const d::chacha20_nonce_words& nonce) {
    d::chacha20_blocks4_t four{};
    d::chacha20_blocks4(key, counter, nonce, four);
    for (std::uint32_t b = 0; b < 4; ++b) {
      d::chacha20_block_t one{};
      d::chacha20_block(key, static_cast<std::uint32_t>(counter + b), nonce, one);
      if (one != four[b]) return false;
    }
    return true;
  };
  std::size_t checked = 0;
  for (int round = 0; round < 2000; ++round) {
    d::chacha20_key_words key{};
    d::chacha20_nonce_words nonce{};
    for (auto& w : key) w = static_cast<std::uint32_t>(rng());
    for (auto& w : nonce) w = static_cast<std::uint32_t>(rng());
    const std::uint32_t counters[] = {static_cast<std::uint32_t>(rng()), 0u, 0xFFFFFFFDu, 0xFFFFFFFEu, 0xFFFFFFFFu};
    for (const std::uint32_t c : counters) {
      REQUIRE(matches(key, c, nonce));
      ++checked;
    }
  }
  CHECK(checked == 10000);
  // RFC 8439 §2.3.2's block is the first of the four from its counter, and the second of the four from one before.
  d::chacha20_blocks4_t four{};
  d::chacha20_blocks4(d::chacha20_key_from_bytes(rfc_key()), 1, d::chacha20_nonce_from_bytes(bytes_from(rfc_232_nonce)), four);
  CHECK(four[0] == rfc_232_output);
  d::chacha20_blocks4(d::chacha20_key_from_bytes(rfc_key()), 0, d::chacha20_nonce_from_bytes(bytes_from(rfc_232_nonce)), four);
  CHECK(four[1] == rfc_232_output);
  CHECK(four[0] != rfc_232_output);
  // And in a constant expression (the portable path).
  STATIC_REQUIRE([] {
    d::chacha20_blocks4_t c{};
    d::chacha20_blocks4(d::chacha20_key_from_bytes(rfc_key()), 1, d::chacha20_nonce_from_bytes(bytes_from(rfc_232_nonce)), c);
    return c[0] == rfc_232_output;
  }());
}

TEST_CASE("chacha20_generator returns the documented fast-key-erasure stream", "[random]") {
  // Proves the layout: first 32 bytes of each 4-block batch re-key, the rest
  // is output; the second batch is computed under the new key.
  STATIC_REQUIRE(generator_follows_documented_stream(rfc_key()));
  CHECK(generator_follows_documented_stream(key_with(pv::test::opaque(std::byte{0x42}))));
}

TEST_CASE("chacha20_generator is deterministic for a given key and nonce", "[random]") {
  STATIC_REQUIRE([] {
    pv::chacha20_generator a(rfc_key()), b(rfc_key());
    for (int i = 0; i < 100; ++i)
      if (a() != b()) return false;
    return true;
  }());
  const auto key = key_with(pv::test::opaque(std::byte{7}));
  pv::chacha20_generator::nonce_type nonce{};
  nonce[11] = std::byte{1};
  pv::chacha20_generator a(key, nonce), b(key, nonce);
  for (int i = 0; i < 10000; ++i) REQUIRE(a() == b());
}

TEST_CASE("chacha20_generator gives different streams for different keys or nonces", "[random]") {
  const auto key = rfc_key();
  auto flipped = key;
  flipped[31] ^= std::byte{0x80};  // one bit of the key
  pv::chacha20_generator::nonce_type nonce{};
  nonce[0] = std::byte{1};  // one bit of the nonce
  pv::chacha20_generator base(key), other_key(flipped), other_nonce(key, nonce);
  int same_key = 0, same_nonce = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto v = base();
    same_key += v == other_key() ? 1 : 0;
    same_nonce += v == other_nonce() ? 1 : 0;
  }
  CHECK(same_key == 0);
  CHECK(same_nonce == 0);
  STATIC_REQUIRE([] {
    pv::chacha20_generator a(key_with(std::byte{1})), b(key_with(std::byte{2}));
    return a() != b();
  }());
}

TEST_CASE("chacha20_generator bytes pass a chi-squared uniformity check on a fixed key", "[random]") {
  // 2^20 bytes in 256 bins, 255 degrees of freedom: mean 255, sd 22.6. 400 is
  // beyond the 1e-9 upper tail, so a correct generator on this fixed key
  // passes and a biased one (zeros left from erasure, a stuck byte lane) fails.
  // Each of the 8 byte lanes of an output is checked too (2^17 bytes each).
  pv::chacha20_generator g(key_with(pv::test::opaque(std::byte{0x5a})));
  std::array<std::array<std::uint32_t, 256>, 8> lane{};
  constexpr std::size_t outputs = (std::size_t{1} << 20) / 8;
  for (std::size_t i = 0; i < outputs; ++i) {
    auto v = g();
    for (std::size_t j = 0; j < 8; ++j, v >>= 8) ++lane[j][v & 0xFF];
  }
  auto chi2 = [](const std::array<std::uint32_t, 256>& counts, double expected) {
    double sum = 0;
    for (auto c : counts) sum += (c - expected) * (c - expected) / expected;
    return sum;
  };
  std::array<std::uint32_t, 256> all{};
  for (const auto& l : lane) {
    CHECK(chi2(l, static_cast<double>(outputs) / 256.0) < 400.0);
    for (std::size_t b = 0; b < 256; ++b) all[b] += l[b];
  }
  CHECK(chi2(all, static_cast<double>(outputs) * 8 / 256.0) < 400.0);
}

TEST_CASE("chacha20_generator re-keys every batch and never repeats an output", "[random]") {
  const auto key = key_with(pv::test::opaque(std::byte{9}));
  // After one batch the key has changed: the second batch is not the
  // keystream of the original key at any of the next counters.
  pv::chacha20_generator g(key);
  for (std::size_t i = 0; i < pv::chacha20_generator::outputs_per_batch; ++i) g();
  const auto second = g();
  const auto k0 = d::chacha20_key_from_bytes(key);
  for (std::uint32_t counter = 0; counter < 64; ++counter) {
    d::chacha20_block_t block{};
    d::chacha20_block(k0, counter, d::chacha20_nonce_words{}, block);
    for (std::size_t w = 0; w + 1 < block.size(); ++w)
      CHECK(second != (static_cast<std::uint64_t>(block[w]) | (static_cast<std::uint64_t>(block[w + 1]) << 32)));
  }
  // 2^17 outputs, thousands of re-keyings: all distinct (a repeat of a 64-bit
  // value here has probability about 2^-30 for a random stream).
  std::vector<std::uint64_t> seen(std::size_t{1} << 17);
  for (auto& v : seen) v = g();
  std::sort(seen.begin(), seen.end());
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
}

TEST_CASE("chacha20_generator reseed mixes new entropy into the stream", "[random]") {
  const auto key = key_with(pv::test::opaque(std::byte{3}));
  pv::chacha20_generator a(key), b(key);
  CHECK(a() == b());
  pv::chacha20_generator::key_type entropy{};
  entropy[5] = std::byte{1};
  a.reseed(entropy);
  int same = 0;
  for (int i = 0; i < 200; ++i) same += a() == b() ? 1 : 0;
  CHECK(same == 0);
}

TEST_CASE("a moved chacha20_generator continues the same stream in its new owner", "[random]") {
  const auto key = key_with(pv::test::opaque(std::byte{4}));
  pv::chacha20_generator twin(key), original(key);
  for (int i = 0; i < 5; ++i) REQUIRE(original() == twin());
  pv::chacha20_generator moved(std::move(original));
  for (int i = 0; i < 100; ++i) REQUIRE(moved() == twin());
  pv::chacha20_generator assigned(key_with(std::byte{0}));
  assigned = std::move(moved);
  for (int i = 0; i < 100; ++i) REQUIRE(assigned() == twin());
}

TEST_CASE("chacha20_generator fill writes every byte from the stream", "[random]") {
  const auto key = key_with(pv::test::opaque(std::byte{6}));
  pv::chacha20_generator a(key), b(key);
  std::array<std::byte, 13> out{};
  a.fill(out);
  const auto first = b(), second = b();
  for (std::size_t i = 0; i < 8; ++i) CHECK(out[i] == static_cast<std::byte>((first >> (8 * i)) & 0xFF));
  for (std::size_t i = 8; i < 13; ++i) CHECK(out[i] == static_cast<std::byte>((second >> (8 * (i - 8))) & 0xFF));
  CHECK(a() == b());  // the rest of the second output was discarded, not reused
}

TEST_CASE("system_random is keyed from the system and works with std distributions", "[random]") {
  pv::system_random a, b(3);  // b mixes in fresh entropy every 3 outputs
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 64; ++i) {
    values.push_back(a());
    values.push_back(b());
  }
  std::sort(values.begin(), values.end());
  CHECK(std::adjacent_find(values.begin(), values.end()) == values.end());
  std::uniform_int_distribution<int> digit(0, 9);
  int counts[10] = {};
  for (int i = 0; i < 10000; ++i) ++counts[digit(a)];
  for (int c : counts) CHECK(c > 800);  // 1000 expected; 800 is beyond 6 sd
  std::array<std::byte, 32> key{};
  b.fill(key);
  CHECK(std::any_of(key.begin(), key.end(), [](std::byte x) { return x != std::byte{0}; }));
}

// Entropy sources for the failure tests: the system's, or one that fails
// from its `fail_from`-th call on.
namespace failing_entropy {
inline int calls = 0;
inline int fail_from = 0;
inline bool source(std::span<std::byte> out) noexcept {
  if (++calls >= fail_from) return false;
  return pv::system_entropy(out);
}
}  // namespace failing_entropy

TEST_CASE("system_random fails closed, never throws, when the system's entropy fails", "[random]") {
  failing_entropy::calls = 0;
  failing_entropy::fail_from = 1;  // the keying itself fails
  pv::system_random dead(pv::system_random::default_reseed_interval, failing_entropy::source);
  CHECK_FALSE(dead.healthy());
  CHECK_FALSE(dead.try_next().has_value());
  CHECK(dead.entropy_failures() >= 2);  // the keying and the retry of try_next
  std::array<std::byte, 16> out{};
  out.fill(std::byte{0xAA});
  CHECK_FALSE(dead.fill(out));
  CHECK(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == std::byte{0}; }));

  // The entropy comes back: the generator keys itself and answers again.
  failing_entropy::fail_from = 1 << 30;
  REQUIRE(dead.try_next().has_value());
  CHECK(dead.healthy());

  // A failed periodic reseed keeps the (secret) current key and is counted.
  failing_entropy::calls = 0;
  failing_entropy::fail_from = 2;  // keying works, every reseed fails
  pv::system_random reseeding(3, failing_entropy::source);
  for (int i = 0; i < 10; ++i) CHECK(reseeding.try_next().has_value());
  CHECK(reseeding.healthy());
  CHECK(reseeding.entropy_failures() == 3);  // reseeds at outputs 3, 6 and 9
}

TEST_CASE("system_entropy fills from the operating system, different every call", "[random]") {
  std::array<std::byte, 32> a{}, b{};
  REQUIRE(pv::system_entropy(a));
  REQUIRE(pv::system_entropy(b));
  CHECK(a != b);
  CHECK(std::any_of(a.begin(), a.end(), [](std::byte x) { return x != std::byte{0}; }));
  std::array<std::byte, 1000> big{};  // longer than one getrandom guarantee of 256 bytes
  REQUIRE(pv::system_entropy(big));
  CHECK(std::count(big.begin(), big.end(), std::byte{0}) < 20);  // about 4 expected
}

namespace {
// Runs `draw` in `workers` forked children (and once in the parent) and
// returns every process's 4 outputs, the parent's first.
template <class Draw>
std::vector<std::array<std::uint64_t, 4>> outputs_of_forked_workers(int workers, Draw draw) {
  std::vector<std::array<std::uint64_t, 4>> all;
  std::vector<std::pair<pid_t, int>> children;
  for (int w = 0; w < workers; ++w) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      std::array<std::uint64_t, 4> mine{};
      for (auto& v : mine) v = draw();
      const auto written = ::write(fds[1], mine.data(), sizeof mine);
      ::_exit(written == static_cast<ssize_t>(sizeof mine) ? 0 : 1);
    }
    ::close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  std::array<std::uint64_t, 4> parent{};
  for (auto& v : parent) v = draw();
  all.push_back(parent);
  for (auto [pid, fd] : children) {
    std::array<std::uint64_t, 4> theirs{};
    CHECK(::read(fd, theirs.data(), sizeof theirs) == static_cast<ssize_t>(sizeof theirs));
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    all.push_back(theirs);
  }
  return all;
}
}  // namespace

TEST_CASE("system_random gives every forked worker its own stream", "[random]") {
  pv::system_random shared;  // keyed before the fork, as a pre-forking server does
  static_cast<void>(shared());
  const auto outputs = outputs_of_forked_workers(3, [&] { return shared(); });
  std::vector<std::uint64_t> every;
  for (const auto& process : outputs) every.insert(every.end(), process.begin(), process.end());
  std::sort(every.begin(), every.end());
  CHECK(std::adjacent_find(every.begin(), every.end()) == every.end());

  // A generator that lives in thread-local storage, as the engine's default does.
  const auto draw_thread_local = [] {
    thread_local pv::system_random generator;
    return generator();
  };
  static_cast<void>(draw_thread_local());  // keyed in the parent, before the fork
  const auto thread_local_outputs = outputs_of_forked_workers(3, draw_thread_local);
  every.clear();
  for (const auto& process : thread_local_outputs) every.insert(every.end(), process.begin(), process.end());
  std::sort(every.begin(), every.end());
  CHECK(std::adjacent_find(every.begin(), every.end()) == every.end());
}

// The public types: generators, not values.
static_assert(std::uniform_random_bit_generator<pv::chacha20_generator>);
static_assert(std::uniform_random_bit_generator<pv::system_random>);
static_assert(!std::is_copy_constructible_v<pv::chacha20_generator>);
static_assert(!std::is_copy_assignable_v<pv::chacha20_generator>);
static_assert(std::is_nothrow_move_constructible_v<pv::chacha20_generator>);
static_assert(std::is_nothrow_invocable_v<pv::chacha20_generator&>);
static_assert(sizeof(pv::chacha20_generator) <= 320);
static_assert(sizeof(pv::system_random) <= 368);
static_assert(std::is_nothrow_constructible_v<pv::system_random>);
static_assert(std::is_nothrow_invocable_v<pv::system_random&>);
static_assert(!std::is_copy_constructible_v<pv::system_random>);
static_assert(pv::chacha20_generator::outputs_per_batch == 28);
static_assert(pv::chacha20_generator::min() == 0 && pv::chacha20_generator::max() == ~std::uint64_t{0});
