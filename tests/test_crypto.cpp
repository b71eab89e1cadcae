// crypto.hpp: SHA-256 against FIPS 180-4's examples, HMAC-SHA-256 against
// every case of RFC 4231, at compile time and at run time; against OpenSSL on
// random inputs when it is found.
#include <catch2/catch.hpp>
#include <phoneverify/crypto.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "support.hpp"

#ifdef PHONEVERIFY_HAVE_OPENSSL
#include <openssl/evp.h>
#include <openssl/hmac.h>
#endif

namespace pv = phoneverify;

namespace {

constexpr std::byte hex_nibble(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::byte>(c - '0');
  return static_cast<std::byte>(c - 'a' + 10);
}

// Parses lowercase hex of exactly 2*N digits.
template <std::size_t N>
constexpr std::array<std::byte, N> from_hex(std::string_view hex) {
  std::array<std::byte, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = (hex_nibble(hex[2 * i]) << 4) | hex_nibble(hex[2 * i + 1]);
  return out;
}

template <std::size_t N>
constexpr std::array<std::byte, N> filled(std::uint8_t value) {
  std::array<std::byte, N> out{};
  for (auto& b : out) b = static_cast<std::byte>(value);
  return out;
}

template <std::size_t N>
constexpr std::array<std::byte, N> counting_from(std::uint8_t first) {
  std::array<std::byte, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<std::byte>(first + i);
  return out;
}

// Whether the first `prefix` bytes of a digest equal `expected_hex` (RFC 4231 case 5 truncates to 128 bits).
constexpr bool digest_starts_with(const pv::sha256_digest& digest, std::string_view expected_hex) {
  const std::size_t n = expected_hex.size() / 2;
  for (std::size_t i = 0; i < n; ++i)
    if (digest[i] != ((hex_nibble(expected_hex[2 * i]) << 4) | hex_nibble(expected_hex[2 * i + 1]))) return false;
  return n <= digest.size();
}

// FIPS 180-4 examples (NIST CSRC "Examples with Intermediate Values",
// SHA256.pdf and SHA2_Additional), plus the empty message.
struct sha_case {
  std::string_view message;
  std::string_view digest_hex;
};
constexpr sha_case sha_cases[] = {
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    // 448 bits: the padding needs a second block.
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
};

constexpr bool sha_case_holds(const sha_case& c) { return pv::sha256(c.message) == from_hex<32>(c.digest_hex); }

// RFC 4231 §4.2-§4.8, HMAC-SHA-256 column.
constexpr auto rfc4231_key_1 = filled<20>(0x0b);
constexpr auto rfc4231_key_3 = filled<20>(0xaa);
constexpr auto rfc4231_data_3 = filled<50>(0xdd);
constexpr auto rfc4231_key_4 = counting_from<25>(0x01);
constexpr auto rfc4231_data_4 = filled<50>(0xcd);
constexpr auto rfc4231_key_5 = filled<20>(0x0c);
constexpr auto rfc4231_key_6 = filled<131>(0xaa);
constexpr std::string_view rfc4231_data_7 =
    "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
    "hashed before being used by the HMAC algorithm.";

constexpr bool rfc4231_case(int n) {
  switch (n) {
    case 1:
      return pv::hmac_sha256(rfc4231_key_1, "Hi There") ==
             from_hex<32>("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    case 2: {
      constexpr std::array<std::byte, 4> jefe{std::byte{'J'}, std::byte{'e'}, std::byte{'f'}, std::byte{'e'}};
      return pv::hmac_sha256(jefe, "what do ya want for nothing?") ==
             from_hex<32>("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
    case 3:
      return pv::hmac_sha256(rfc4231_key_3, rfc4231_data_3) ==
             from_hex<32>("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    case 4:
      return pv::hmac_sha256(rfc4231_key_4, rfc4231_data_4) ==
             from_hex<32>("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    case 5:  // the RFC gives only the first 128 bits
      return digest_starts_with(pv::hmac_sha256(rfc4231_key_5, "Test With Truncation"),
                                "a3b6167473100ee06e0c796c2955552b");
    case 6:
      return pv::hmac_sha256(rfc4231_key_6, "Test Using Larger Than Block-Size Key - Hash Key First") ==
             from_hex<32>("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    case 7:
      return pv::hmac_sha256(rfc4231_key_6, rfc4231_data_7) ==
             from_hex<32>("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    default:
      return false;
  }
}

}  // namespace

// Compile time: every FIPS 180-4 example and every RFC 4231 case.
static_assert(sha_case_holds(sha_cases[0]));
static_assert(sha_case_holds(sha_cases[1]));
static_assert(sha_case_holds(sha_cases[2]));
static_assert(sha_case_holds(sha_cases[3]));
static_assert(rfc4231_case(1));
static_assert(rfc4231_case(2));
static_assert(rfc4231_case(3));
static_assert(rfc4231_case(4));
static_assert(rfc4231_case(5));
static_assert(rfc4231_case(6));
static_assert(rfc4231_case(7));
static_assert(!rfc4231_case(8));  // the table's guard: an unknown case never "passes"
// Incremental hashing in pieces equals one-shot hashing.
static_assert([] {
  pv::sha256_hasher h;
  h.update("abcdbcdecdefdefgefghfghighijhijk").update(std::byte{'i'}).update("jkljklmklmnlmnomnopnopq");
  return h.finish() == pv::sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
}());
static_assert(pv::constant_time_equal(pv::sha256("abc"), pv::sha256("abc")));
static_assert(!pv::constant_time_equal(pv::sha256("abc"), pv::sha256("abd")));

// Public types: trivially copyable, a bounded footprint (the keyed HMAC state is copied per message).
static_assert(std::is_trivially_copyable_v<pv::sha256_hasher>);
static_assert(std::is_trivially_copyable_v<pv::hmac_sha256_hasher>);
static_assert(sizeof(pv::sha256_hasher) <= 128);
static_assert(sizeof(pv::hmac_sha256_hasher) <= 256);
static_assert(sizeof(pv::sha256_digest) == 32);
static_assert(std::is_nothrow_default_constructible_v<pv::sha256_hasher>);

namespace {
// The object representation of `object`, copied out (reading a live object's bytes is defined).
template <class T>
std::array<unsigned char, sizeof(T)> bytes_of(const T& object) {
  std::array<unsigned char, sizeof(T)> out{};
  std::memcpy(out.data(), &object, sizeof(T));
  return out;
}
template <std::size_t N>
bool all_zero(const std::array<unsigned char, N>& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](unsigned char b) { return b == 0; });
}
}  // namespace

TEST_CASE("a finished or wiped hasher keeps nothing of its key or message", "[crypto]") {
  // A keyed state is as good as the key: none may stay behind in memory that
  // a later response or a core dump could carry (the engine's key, RULES.md §5).
  const auto key = filled<32>(pv::test::opaque(std::uint8_t{0x5e}));
  pv::hmac_sha256_hasher mac{std::span<const std::byte>(key)};
  REQUIRE_FALSE(all_zero(bytes_of(mac)));
  pv::hmac_sha256_hasher copy = mac;
  mac.update("message");
  const auto tag = mac.finish();
  CHECK(all_zero(bytes_of(mac)));
  CHECK(tag == pv::hmac_sha256(key, "message"));  // the wipe comes after the tag
  copy.wipe();
  CHECK(all_zero(bytes_of(copy)));

  pv::sha256_hasher plain;
  plain.update("a secret code: 123456");
  const auto digest = plain.finish();
  CHECK(all_zero(bytes_of(plain)));
  CHECK(digest == pv::sha256("a secret code: 123456"));
}

TEST_CASE("sha256 gives the digests of FIPS 180-4's examples", "[crypto]") {
  for (const auto& c : sha_cases) {
    INFO("message: " << c.message);
    const std::string_view message(pv::test::opaque(c.message.data()), pv::test::opaque(c.message.size()));
    CHECK(pv::sha256(message) == from_hex<32>(c.digest_hex));
  }
}

TEST_CASE("sha256 of one million 'a' is FIPS 180-2's long-message digest", "[crypto]") {
  const std::vector<char> a(pv::test::opaque<std::size_t>(1000000), 'a');
  CHECK(pv::sha256(std::string_view(a.data(), a.size())) ==
        from_hex<32>("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

TEST_CASE("hmac_sha256 gives every HMAC-SHA-256 tag of RFC 4231", "[crypto]") {
  for (int n = 1; n <= 7; ++n) {
    INFO("RFC 4231 test case " << n);
    CHECK(rfc4231_case(pv::test::opaque(n)));
  }
  CHECK_FALSE(rfc4231_case(pv::test::opaque(8)));
}

TEST_CASE("sha256 in pieces split at every position equals sha256 in one piece", "[crypto]") {
  // 130 bytes crosses two block boundaries; every split covers the 55/56/64-byte padding edges.
  std::array<std::byte, 130> message{};
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<std::byte>(pv::test::opaque(i * 7 + 3));
  const std::span<const std::byte> all(message);
  const auto whole = pv::sha256(all);
  for (std::size_t split = 0; split <= message.size(); ++split) {
    pv::sha256_hasher h;
    h.update(all.first(split)).update(all.subspan(split));
    CHECK(h.finish() == whole);
  }
  message[129] ^= std::byte{1};
  CHECK(pv::sha256(all) != whole);  // the last byte takes part
}

TEST_CASE("constant_time_equal compares every byte and treats sizes as unequal", "[crypto]") {
  std::array<std::byte, 16> a{}, b{};
  CHECK(pv::constant_time_equal(a, b));
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (unsigned bit = 0; bit < 8; ++bit) {
      b = a;
      b[i] ^= static_cast<std::byte>(1U << pv::test::opaque(bit));
      CHECK_FALSE(pv::constant_time_equal(a, b));
    }
  }
  CHECK_FALSE(pv::constant_time_equal(std::span<const std::byte>(a).first(15), b));
  CHECK(pv::constant_time_equal(std::span<const std::byte>{}, std::span<const std::byte>{}));
}

#ifdef PHONEVERIFY_HAVE_OPENSSL
TEST_CASE("sha256 and hmac_sha256 agree with OpenSSL on random keys and messages", "[crypto][openssl]") {
  pv::test::splitmix64 rng{pv::test::test_seed("crypto vs OpenSSL", 0x5eed'c0de'0001ULL)};
  std::vector<unsigned char> key, message;
  for (int round = 0; round < 400; ++round) {
    key.resize(rng() % 160);       // below, at and above the 64-byte block
    message.resize(rng() % 300);   // several blocks, every padding edge
    for (auto& b : key) b = static_cast<unsigned char>(rng());
    for (auto& b : message) b = static_cast<unsigned char>(rng());
    const std::span<const std::byte> k(reinterpret_cast<const std::byte*>(key.data()), key.size());
    const std::span<const std::byte> m(reinterpret_cast<const std::byte*>(message.data()), message.size());

    unsigned char expected[EVP_MAX_MD_SIZE];
    unsigned int expected_size = 0;
    REQUIRE(EVP_Digest(message.data(), message.size(), expected, &expected_size, EVP_sha256(), nullptr) == 1);
    REQUIRE(expected_size == 32);
    const auto ours = pv::sha256(m);
    CHECK(std::equal(ours.begin(), ours.end(), reinterpret_cast<const std::byte*>(expected)));

    REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), message.data(), message.size(), expected,
                 &expected_size) != nullptr);
    REQUIRE(expected_size == 32);
    const auto tag = pv::hmac_sha256(k, m);
    CHECK(std::equal(tag.begin(), tag.end(), reinterpret_cast<const std::byte*>(expected)));
  }
}
#endif
