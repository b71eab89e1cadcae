// crypto.hpp: SHA-256 against FIPS 180-4's examples, HMAC-SHA-256 against
// every case of RFC 4231, at compile time and at run time on every compression
// engine the CPU can run (portable, x86 SHA extensions); the engines against
// each other on random inputs, and against OpenSSL when it is found.
#include <catch2/catch.hpp>
#include <phoneverify/crypto.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "support.hpp"

#ifdef PHONEVERIFY_HAVE_OPENSSL
#include <openssl/evp.h>
#include <openssl/hmac.h>
#endif

namespace pv = phoneverify;

namespace {

using engine = pv::detail::sha256_engine;

const char* engine_name(engine e) { return e == engine::x86_sha ? "x86 SHA extensions" : "portable"; }

// The engines this build can run on this CPU: the portable one always, the x86
// SHA one where it is available.
std::vector<engine> runnable_engines() {
  std::vector<engine> out{engine::portable};
  if (pv::detail::sha256_engine_available(engine::x86_sha)) out.push_back(engine::x86_sha);
  return out;
}

// Forces an engine for a scope, then puts back the one in force before.
class forced_engine {
 public:
  explicit forced_engine(engine e) : previous_(pv::detail::sha256_engine_in_use()) {
    REQUIRE(pv::detail::force_sha256_engine(e));
    REQUIRE(pv::detail::sha256_engine_in_use() == e);
  }
  ~forced_engine() { pv::detail::force_sha256_engine(previous_); }
  forced_engine(const forced_engine&) = delete;
  forced_engine& operator=(const forced_engine&) = delete;

 private:
  engine previous_;
};

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
  for (const engine e : runnable_engines()) {
    INFO("engine: " << engine_name(e));
    const forced_engine scope(e);
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
}

TEST_CASE("sha256 gives the digests of FIPS 180-4's examples", "[crypto]") {
  for (const engine e : runnable_engines()) {
    INFO("engine: " << engine_name(e));
    const forced_engine scope(e);
    for (const auto& c : sha_cases) {
      INFO("message: " << c.message);
      const std::string_view message(pv::test::opaque(c.message.data()), pv::test::opaque(c.message.size()));
      CHECK(pv::sha256(message) == from_hex<32>(c.digest_hex));
    }
  }
}

TEST_CASE("sha256 of one million 'a' is FIPS 180-2's long-message digest", "[crypto]") {
  const std::vector<char> a(pv::test::opaque<std::size_t>(1000000), 'a');
  const auto expected = from_hex<32>("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  for (const engine e : runnable_engines()) {
    INFO("engine: " << engine_name(e));
    const forced_engine scope(e);
    CHECK(pv::sha256(std::string_view(a.data(), a.size())) == expected);  // whole blocks straight from the input
    pv::sha256_hasher h;  // and through the block buffer, 1000 bytes at a time
    for (std::size_t at = 0; at < a.size(); at += 1000) h.update(std::string_view(a.data() + at, 1000));
    CHECK(h.finish() == expected);
  }
}

TEST_CASE("hmac_sha256 gives every HMAC-SHA-256 tag of RFC 4231", "[crypto]") {
  for (const engine e : runnable_engines()) {
    INFO("engine: " << engine_name(e));
    const forced_engine scope(e);
    for (int n = 1; n <= 7; ++n) {
      INFO("RFC 4231 test case " << n);
      CHECK(rfc4231_case(pv::test::opaque(n)));
    }
    CHECK_FALSE(rfc4231_case(pv::test::opaque(8)));
  }
}

TEST_CASE("the x86 SHA engine is available and chosen exactly when the CPU has the SHA extensions", "[crypto]") {
  // The library asks CPUID; this asks the kernel (the sha_ni flag of
  // /proc/cpuinfo), so a detection that misses the hardware fails here
  // instead of silently testing the portable engine twice.
  const bool available = pv::detail::sha256_engine_available(engine::x86_sha);
  CHECK(pv::detail::sha256_engine_available(engine::portable));
#if PHONEVERIFY_SHA256_X86
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool listed = false, has_sha_ni = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    listed = true;
    has_sha_ni = (line + ' ').find(" sha_ni ") != std::string::npos;
    break;
  }
  if (listed) {
    INFO("/proc/cpuinfo lists sha_ni: " << has_sha_ni);
    CHECK(available == has_sha_ni);
  } else {
    WARN("no /proc/cpuinfo flags line: the detection is not compared with the kernel's");
  }
  // A first run-time hash picks the fastest engine the CPU has.
  const engine before = pv::detail::sha256_engine_in_use();
  __atomic_store_n(&pv::detail::sha256_engine_cell, static_cast<unsigned char>(0), __ATOMIC_RELAXED);
  CHECK(pv::sha256(std::string_view(pv::test::opaque("abc"), 3)) == from_hex<32>(sha_cases[0].digest_hex));
  CHECK(pv::detail::sha256_engine_in_use() == (available ? engine::x86_sha : engine::portable));
  pv::detail::force_sha256_engine(before);
#else
  CHECK_FALSE(available);  // compiled out (another CPU or compiler, or PHONEVERIFY_NO_SHA_NI)
  CHECK(pv::detail::sha256_engine_in_use() == engine::portable);
#endif
  CHECK(pv::detail::force_sha256_engine(engine::x86_sha) == available);
  CHECK(pv::detail::sha256_engine_in_use() == (available ? engine::x86_sha : engine::portable));
  CHECK(pv::detail::force_sha256_engine(engine::portable));
  CHECK(pv::detail::sha256_engine_in_use() == engine::portable);
  CHECK_FALSE(pv::detail::force_sha256_engine(static_cast<engine>(0)));  // no such engine: nothing changes
  CHECK(pv::detail::sha256_engine_in_use() == engine::portable);
  pv::detail::force_sha256_engine(available ? engine::x86_sha : engine::portable);
}

namespace {
std::span<const std::byte> as_bytes(const std::vector<unsigned char>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}
// The digest of `message` in random pieces (sizes 0 to 200), the engine
// switched at random between them when `switch_engines`.
pv::sha256_digest in_random_pieces(std::span<const std::byte> message, pv::test::splitmix64& rng,
                                   bool switch_engines) {
  const auto engines = runnable_engines();
  pv::sha256_hasher h;
  std::size_t at = 0;
  while (at < message.size()) {
    const std::size_t piece = std::min<std::size_t>(rng() % 201, message.size() - at);
    if (switch_engines) pv::detail::force_sha256_engine(engines[rng() % engines.size()]);
    h.update(message.subspan(at, piece));
    at += piece;
  }
  return h.finish();
}
}  // namespace

TEST_CASE("the portable and the x86 SHA engines give the same digests and tags on random inputs", "[crypto]") {
  const auto engines = runnable_engines();
  if (engines.size() < 2) WARN("this CPU or build has no x86 SHA engine: only the portable one is compared");
  const engine before = pv::detail::sha256_engine_in_use();
  pv::test::splitmix64 rng{pv::test::test_seed("sha256 engines", 0x5eed'c0de'0002ULL)};
  std::vector<unsigned char> message, key;
  for (std::size_t size = 0; size <= 300; ++size) {  // every length: every padding edge, up to 5 blocks
    INFO("message size " << size);
    message.resize(size);
    for (auto& b : message) b = static_cast<unsigned char>(rng());
    key.resize(rng() % 160);  // below, at and above the 64-byte block
    for (auto& b : key) b = static_cast<unsigned char>(rng());
    std::vector<pv::sha256_digest> digests, tags, keyed_tags;
    // authenticate_pair with this message and a random one of another
    // length (either side of the 55 bytes its x86 path takes): each tag
    // equals the one-message HMAC of its message.
    const std::size_t other_size = static_cast<std::size_t>(rng() % 80);
    std::vector<unsigned char> other(other_size);
    for (auto& b : other) b = static_cast<unsigned char>(rng());
    std::vector<std::array<pv::sha256_digest, 2>> pairs;
    std::vector<pv::sha256_digest> other_tags;
    for (const engine e : engines) {
      pv::detail::force_sha256_engine(e);
      digests.push_back(pv::sha256(as_bytes(message)));
      tags.push_back(pv::hmac_sha256(as_bytes(key), as_bytes(message)));
      pv::hmac_sha256_hasher keyed{as_bytes(key)};
      keyed_tags.push_back(pv::hmac_sha256_hasher(keyed).update(as_bytes(message)).finish());
      pairs.push_back(keyed.authenticate_pair(as_bytes(message), as_bytes(other)));
      other_tags.push_back(pv::hmac_sha256(as_bytes(key), as_bytes(other)));
    }
    for (std::size_t i = 0; i < engines.size(); ++i) {
      INFO("engine " << engine_name(engines[i]) << ", other message size " << other_size);
      CHECK(digests[i] == digests[0]);
      CHECK(tags[i] == tags[0]);
      CHECK(keyed_tags[i] == tags[0]);
      CHECK(pairs[i][0] == tags[0]);
      CHECK(pairs[i][1] == other_tags[0]);
      CHECK(other_tags[i] == other_tags[0]);
    }
    // Split at random points, on one engine and switching engines between pieces.
    for (const engine e : engines) {
      pv::detail::force_sha256_engine(e);
      CHECK(in_random_pieces(as_bytes(message), rng, false) == digests[0]);
    }
    CHECK(in_random_pieces(as_bytes(message), rng, true) == digests[0]);
  }
  pv::detail::force_sha256_engine(before);
  // The comparison can fail: one bit changed changes the digest on every engine.
  const auto original = pv::sha256(as_bytes(message));
  message[150] ^= 0x01;
  for (const engine e : engines) {
    const forced_engine scope(e);
    CHECK(pv::sha256(as_bytes(message)) != original);
  }
}

TEST_CASE("sha256 from several threads at once, the engine decided by whichever hashes first, gives one digest",
          "[crypto][concurrency]") {
  // The engine cell is read by every hash and written by the first one (and by
  // force_sha256_engine): under ThreadSanitizer this shows those accesses race-free.
  std::vector<unsigned char> message(1000);
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<unsigned char>(i * 131 + 7);
  const forced_engine portable(engine::portable);  // puts back the engine in force when done
  const auto expected = pv::sha256(as_bytes(message));
  const auto expected_tag = pv::hmac_sha256(as_bytes(message), "m");
#if PHONEVERIFY_SHA256_X86
  __atomic_store_n(&pv::detail::sha256_engine_cell, static_cast<unsigned char>(0), __ATOMIC_RELAXED);
#endif
  constexpr int threads = 3;
  std::vector<int> wrong(threads + 1, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) wrong[static_cast<std::size_t>(t)] += pv::sha256(as_bytes(message)) != expected;
    });
  pool.emplace_back([&] {  // one more thread switches the engine back and forth meanwhile
    const auto engines = runnable_engines();
    for (int i = 0; i < 300; ++i) {
      pv::detail::force_sha256_engine(engines[static_cast<std::size_t>(i) % engines.size()]);
      wrong[threads] += pv::hmac_sha256(as_bytes(message), "m") != expected_tag;
    }
  });
  for (auto& th : pool) th.join();
  for (int t = 0; t <= threads; ++t) CHECK(wrong[static_cast<std::size_t>(t)] == 0);
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
  for (const engine e : runnable_engines()) {
    INFO("engine: " << engine_name(e));
    const forced_engine scope(e);
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
      // Both tags of authenticate_pair, this message first and last.
      const std::span<const std::byte> short_m = m.first(std::min<std::size_t>(m.size(), rng() % 64));
      const auto pair = pv::hmac_sha256_hasher(k).authenticate_pair(m, short_m);
      const auto swapped = pv::hmac_sha256_hasher(k).authenticate_pair(short_m, m);
      CHECK(std::equal(pair[0].begin(), pair[0].end(), reinterpret_cast<const std::byte*>(expected)));
      CHECK(std::equal(swapped[1].begin(), swapped[1].end(), reinterpret_cast<const std::byte*>(expected)));
      CHECK(pair[1] == pv::hmac_sha256(k, short_m));
      CHECK(swapped[0] == pair[1]);
  }
  }
}
#endif
