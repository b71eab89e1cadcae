// Speed of issue_code and check_code (each at most 2 us with the
// portable SHA-256), beside the HMAC-SHA-256 they are built on, OpenSSL's
// HMAC-SHA256 with a reused context and liboath's oath_hotp_generate (each
// compiled in when found). Every function reports `codes` (items per second)
// and, where it decides, an accept-rate counter so equal work is compared.
// HMAC-SHA-256 of a 32-byte message and SHA-256 of 4 KiB are timed on each
// compression engine (portable, x86 SHA extensions) beside OpenSSL in the same
// run; an engine the CPU lacks is reported as an error, not timed.
#include <benchmark/benchmark.h>
#include <phoneverify/code.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#ifdef PHONEVERIFY_HAVE_OPENSSL
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#endif
#ifdef PHONEVERIFY_HAVE_LIBOATH
#include <liboath/oath.h>
#endif

#include "../tests/support.hpp"

namespace pv = phoneverify;

namespace {

// The seeded test generator of tests/support.hpp (a CSPRNG in production).
using splitmix = phoneverify::test::splitmix64;

pv::secret_key make_key() {
  pv::secret_key key{};
  splitmix rng{0x5EED};
  for (auto& b : key) b = static_cast<std::byte>(rng());
  return key;
}

const pv::secret_key key = make_key();
// The same key in a ring (id 0): its HMAC hasher is keyed once, when it joins,
// so each tag copies the prepared hasher instead of absorbing the pads again.
const pv::key_ring ring{key};
const pv::code_binding binding{pv::action::send_verification_code_for_bind_secure_mobile_phone, "1234567890123456",
                               pv::parse_phone("86-13900001234", pv::phone_format::dashed).value()};
// No resend interval, so every iteration issues.
constexpr pv::code_policy policy{.resend_interval = std::chrono::seconds{0}};
constexpr pv::timestamp t0{std::chrono::milliseconds{1639726421747}};

// The message issue_code and check_code authenticate, to compare the raw MACs on it:
// domain, purpose, account length and id, country code, national length and digits, code.
std::vector<unsigned char> mac_message() {
  std::vector<unsigned char> m = {'C', 0, 0, 0, 0, 0, 0, 0, 0, 16};
  for (char c : std::string_view("1234567890123456")) m.push_back(static_cast<unsigned char>(c));
  m.insert(m.end(), {0, 86, 11});
  for (char c : std::string_view("13900001234")) m.push_back(static_cast<unsigned char>(c));
  m.push_back(6);
  for (char c : std::string_view("123456")) m.push_back(static_cast<unsigned char>(c));
  return m;
}

// Under a lone secret_key (keyed on every call) and under a key_ring (keyed once).
template <class Keys>
void BM_issue_code_phoneverify(benchmark::State& state, const Keys& keys) {
  splitmix rng{42};
  pv::challenge c{};
  std::int64_t ms = 0;
  std::int64_t issued = 0;
  for (auto _ : state) {
    const auto r = pv::issue_code(policy, keys, binding, c, t0 + std::chrono::milliseconds{ms++}, rng);
    issued += r.has_value();
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(c);  // the stored tags are the work: keep them observable
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["accept_rate"] =
      benchmark::Counter(static_cast<double>(issued) / static_cast<double>(state.iterations()));
}
BENCHMARK_CAPTURE(BM_issue_code_phoneverify, secret_key, key);
BENCHMARK_CAPTURE(BM_issue_code_phoneverify, key_ring, ring);

// A wrong code on a fresh copy of the challenge each time (a right one would be consumed).
template <class Keys>
void BM_check_code_phoneverify(benchmark::State& state, const Keys& keys) {
  splitmix rng{43};
  pv::challenge live{};
  const auto issued = pv::issue_code(policy, keys, binding, live, t0, rng);
  if (!issued) {
    state.SkipWithError("issue_code failed");
    return;
  }
  // Half right, half wrong: both paths cost the same by design.
  std::array<pv::inline_string<10>, 2> submissions{issued->code, issued->code};
  pv::inline_string<10> wrong;
  for (std::size_t i = 0; i + 1 < issued->code.size(); ++i) wrong.push_back(issued->code[i]);
  wrong.push_back(issued->code[issued->code.size() - 1] == '0' ? '1' : '0');
  submissions[1] = wrong;
  const auto* volatile corpus = submissions.data();
  std::int64_t ok = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    pv::challenge c = live;
    const auto s = pv::check_code(policy, keys, binding, c, corpus[i++ & 1], t0 + std::chrono::seconds{1});
    ok += s == pv::check_status::ok;
    benchmark::DoNotOptimize(c);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["accept_rate"] =
      benchmark::Counter(static_cast<double>(ok) / static_cast<double>(state.iterations()));
}
BENCHMARK_CAPTURE(BM_check_code_phoneverify, secret_key, key);
BENCHMARK_CAPTURE(BM_check_code_phoneverify, key_ring, ring);

void BM_hmac_sha256_phoneverify(benchmark::State& state) {
  const auto message = mac_message();
  const std::span<const std::byte> m(reinterpret_cast<const std::byte*>(message.data()), message.size());
  for (auto _ : state) {
    const auto tag = pv::hmac_sha256(key, m);
    benchmark::DoNotOptimize(tag);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_hmac_sha256_phoneverify);

#ifdef PHONEVERIFY_HAVE_OPENSSL
// OpenSSL 3's HMAC through EVP_MAC, the context keyed once and re-initialised
// with the same key per message (what a server holding one key would do).
void openssl_hmac_reused(benchmark::State& state, std::span<const unsigned char> message) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                               OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
    state.SkipWithError("EVP_MAC setup failed");
  } else {
    unsigned char out[32];
    std::size_t out_size = 0;
    for (auto _ : state) {
      EVP_MAC_init(ctx, nullptr, 0, nullptr);  // same key, fresh message
      EVP_MAC_update(ctx, message.data(), message.size());
      EVP_MAC_final(ctx, out, &out_size, sizeof out);
      benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  }
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
}

void BM_hmac_sha256_openssl(benchmark::State& state) {
  const auto message = mac_message();
  openssl_hmac_reused(state, message);
}
BENCHMARK(BM_hmac_sha256_openssl);
#endif

// Forces a SHA-256 engine for one benchmark, then puts back the one in force.
class engine_scope {
 public:
  engine_scope(benchmark::State& state, pv::detail::sha256_engine engine)
      : previous_(pv::detail::sha256_engine_in_use()), ok_(pv::detail::force_sha256_engine(engine)) {
    if (!ok_) state.SkipWithError("this CPU or build lacks the engine");
  }
  ~engine_scope() { pv::detail::force_sha256_engine(previous_); }
  engine_scope(const engine_scope&) = delete;
  engine_scope& operator=(const engine_scope&) = delete;
  bool ok() const { return ok_; }

 private:
  pv::detail::sha256_engine previous_;
  bool ok_;
};

// 32 bytes, the size the HMAC speed goal names: one block with its padding.
std::array<unsigned char, 32> message_32() {
  std::array<unsigned char, 32> m{};
  splitmix rng{0x32};
  for (auto& b : m) b = static_cast<unsigned char>(rng());
  return m;
}

// HMAC-SHA-256 under the key from scratch: the pads are hashed on every call (four compressions).
void BM_hmac_sha256_32B(benchmark::State& state, pv::detail::sha256_engine engine) {
  const engine_scope scope(state, engine);
  if (!scope.ok()) return;
  const auto message = message_32();
  const std::span<const std::byte> m(reinterpret_cast<const std::byte*>(message.data()), message.size());
  for (auto _ : state) {
    const auto tag = pv::hmac_sha256(key, m);
    benchmark::DoNotOptimize(tag);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK_CAPTURE(BM_hmac_sha256_32B, portable, pv::detail::sha256_engine::portable);
BENCHMARK_CAPTURE(BM_hmac_sha256_32B, x86_sha, pv::detail::sha256_engine::x86_sha);

// HMAC-SHA-256 from a keyed hasher prepared once and copied per message (the
// pads' compressions done once, like OpenSSL's reused context): two compressions.
void BM_hmac_sha256_32B_keyed(benchmark::State& state, pv::detail::sha256_engine engine) {
  const engine_scope scope(state, engine);
  if (!scope.ok()) return;
  const auto message = message_32();
  const std::span<const std::byte> m(reinterpret_cast<const std::byte*>(message.data()), message.size());
  const pv::hmac_sha256_hasher keyed{std::span<const std::byte>(key)};
  for (auto _ : state) {
    pv::hmac_sha256_hasher mac = keyed;
    const auto tag = mac.update(m).finish();
    benchmark::DoNotOptimize(tag);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK_CAPTURE(BM_hmac_sha256_32B_keyed, portable, pv::detail::sha256_engine::portable);
BENCHMARK_CAPTURE(BM_hmac_sha256_32B_keyed, x86_sha, pv::detail::sha256_engine::x86_sha);

// SHA-256 of 4 KiB: the compression's throughput (bytes per second).
void BM_sha256_4KiB(benchmark::State& state, pv::detail::sha256_engine engine) {
  const engine_scope scope(state, engine);
  if (!scope.ok()) return;
  std::vector<std::byte> data(4096);
  splitmix rng{0x4096};
  for (auto& b : data) b = static_cast<std::byte>(rng());
  for (auto _ : state) {
    const auto digest = pv::sha256(data);
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
}
BENCHMARK_CAPTURE(BM_sha256_4KiB, portable, pv::detail::sha256_engine::portable);
BENCHMARK_CAPTURE(BM_sha256_4KiB, x86_sha, pv::detail::sha256_engine::x86_sha);

#ifdef PHONEVERIFY_HAVE_OPENSSL
// OpenSSL's HMAC through EVP_MAC with a reused keyed context, on the same 32 bytes.
void BM_hmac_sha256_32B_openssl_reused(benchmark::State& state) {
  const auto message = message_32();
  openssl_hmac_reused(state, message);
}
BENCHMARK(BM_hmac_sha256_32B_openssl_reused);

// OpenSSL's one-shot HMAC(): keyed from scratch on every call, like pv::hmac_sha256.
void BM_hmac_sha256_32B_openssl_oneshot(benchmark::State& state) {
  const auto message = message_32();
  unsigned char out[32];
  unsigned int out_size = 0;
  for (auto _ : state) {
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), message.data(), message.size(), out, &out_size);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_hmac_sha256_32B_openssl_oneshot);

// OpenSSL's SHA-256 (EVP_Digest) of the same 4 KiB.
void BM_sha256_4KiB_openssl(benchmark::State& state) {
  std::vector<unsigned char> data(4096);
  splitmix rng{0x4096};
  for (auto& b : data) b = static_cast<unsigned char>(rng());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_size = 0;
  for (auto _ : state) {
    EVP_Digest(data.data(), data.size(), out, &out_size, EVP_sha256(), nullptr);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(data.size()));
}
BENCHMARK(BM_sha256_4KiB_openssl);
#endif

#ifdef PHONEVERIFY_HAVE_LIBOATH
// liboath's HOTP (RFC 4226, HMAC-SHA-1 and dynamic truncation): one 6-digit
// code per counter value, the usual alternative way to make codes.
void BM_hotp_liboath(benchmark::State& state) {
  oath_init();
  std::uint64_t counter = 0;
  char otp[16];
  std::int64_t ok = 0;
  for (auto _ : state) {
    ok += oath_hotp_generate(reinterpret_cast<const char*>(key.data()), key.size(), counter++, 6, false,
                             OATH_HOTP_DYNAMIC_TRUNCATION, otp) == OATH_OK;
    benchmark::DoNotOptimize(otp);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["accept_rate"] =
      benchmark::Counter(static_cast<double>(ok) / static_cast<double>(state.iterations()));
  oath_done();
}
BENCHMARK(BM_hotp_liboath);
#endif

}  // namespace

BENCHMARK_MAIN();
