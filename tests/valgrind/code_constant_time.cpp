// Constant-time check of check_code (RULES.md §5: "compared in constant
// time"), run under valgrind memcheck by the ctest code_constant_time.
//
// The submitted code and the stored tags are marked undefined with
// memcheck's client requests; memcheck then reports every conditional
// branch and every memory address that depends on them. check_code
// declassifies only the one-bit outcomes of its comparisons (through
// PHONEVERIFY_CT_DECLASSIFY, defined here to VALGRIND_MAKE_MEM_DEFINED), so a
// clean run shows that nothing else about the secrets steers the code.
// With --leaky-control the program also compares the secret code with an
// early exit, which memcheck must report: the ctest that runs it is expected
// to fail, proving the check can fail.
//
// SHA-256 runs on its portable engine here: valgrind 3.19 (Debian 12) cannot
// execute the x86 SHA extensions (SHA256RNDS2 is an illegal opcode to it,
// SIGILL) and its virtual CPU clears the CPUID bit (leaf 7 EBX bit 29), so
// crypto.hpp's detection picks the portable engine by itself. The x86 engine
// has no branch and no memory address that depends on the data (its only
// branches count blocks and rounds), which memcheck cannot show on it.
#include <valgrind/memcheck.h>

#define PHONEVERIFY_CT_DECLASSIFY(ptr, size) VALGRIND_MAKE_MEM_DEFINED((ptr), (size))
#include <phoneverify/code.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <type_traits>

namespace pv = phoneverify;

namespace {

struct counter_rng {
  using result_type = std::uint64_t;
  std::uint64_t state = 0x243F6A8885A308D3ULL;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state ^ (state >> 29);
  }
};

// The tags are the first 32 bytes of a challenge (binding tag, then code tag):
// check that assumption through the public byte layout before relying on it.
bool tags_lead_the_object(const pv::challenge& c) {
  const auto bytes = pv::to_bytes(c);
  return std::memcmp(&c, bytes.data() + 32, 32) == 0;
}

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

// One check with the secret code and the stored tags marked undefined.
pv::check_status secret_check(const pv::code_policy& policy, const pv::secret_key& key,
                              const pv::code_binding& binding, pv::challenge state, std::string_view code,
                              bool leaky_control) {
  char submitted[16] = {};
  std::memcpy(submitted, code.data(), code.size());
  VALGRIND_MAKE_MEM_UNDEFINED(submitted, code.size());
  VALGRIND_MAKE_MEM_UNDEFINED(&state, 2 * pv::code_tag_size);
  if (leaky_control) {
    // What check_code must not do: an early-exit comparison on the secret.
    volatile int differs = 0;
    for (std::size_t i = 0; i < code.size(); ++i)
      if (submitted[i] != '0') {
        differs = 1;
        break;
      }
    static_cast<void>(differs);
  }
  return pv::check_code(policy, key, binding, state, std::string_view(submitted, code.size()),
                        pv::timestamp{std::chrono::milliseconds{1000}});
}

}  // namespace

int main(int argc, char** argv) {
  const bool leaky_control = argc > 1 && std::strcmp(argv[1], "--leaky-control") == 0;
  if (!RUNNING_ON_VALGRIND) {
    std::printf("run me under valgrind: valgrind --error-exitcode=1 %s\n", argv[0]);
    return 2;
  }
  static_assert(std::is_standard_layout_v<pv::challenge>);
  // Which SHA-256 engine the checks below run on (see the top of this file).
  const bool portable = pv::detail::sha256_engine_in_use() == pv::detail::sha256_engine::portable;
  std::printf("sha256 engine: %s\n", portable ? "portable" : "x86 SHA extensions");

  pv::secret_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(i * 37 + 11);
  const pv::code_binding binding{pv::action::send_verification_code_for_bind_secure_mobile_phone,
                                 "1234567890123456",
                                 pv::parse_phone("86-13900001234", pv::phone_format::dashed).value()};
  const pv::code_binding other{pv::action::send_verification_code_for_bind_secure_mobile_phone,
                               "1234567890123456",
                               pv::parse_phone("86-13900005678", pv::phone_format::dashed).value()};

  for (std::uint8_t digits = 6; digits <= 10; digits += 4) {
    const pv::code_policy policy{.digits = digits};
    counter_rng rng;
    pv::challenge live{};
    const auto issued = pv::issue_code(policy, key, binding, live, pv::timestamp{}, rng);
    expect(issued.has_value(), "issue_code");
    if (!issued) break;
    expect(tags_lead_the_object(live), "the tags are the first 32 bytes of a challenge");
    const std::string_view code = issued->code.view();

    char wrong[16] = {};
    std::memcpy(wrong, code.data(), code.size());
    wrong[code.size() - 1] = static_cast<char>('0' + (wrong[code.size() - 1] - '0' + 1) % 10);
    char malformed[16] = {};
    std::memcpy(malformed, code.data(), code.size());
    malformed[0] = 'x';

    expect(secret_check(policy, key, binding, live, code, leaky_control) == pv::check_status::ok, "right code");
    expect(secret_check(policy, key, binding, live, std::string_view(wrong, code.size()), leaky_control) ==
               pv::check_status::wrong_code,
           "wrong code");
    expect(secret_check(policy, key, binding, live, std::string_view(malformed, code.size()), leaky_control) ==
               pv::check_status::malformed,
           "malformed code");
    expect(secret_check(policy, key, other, live, code, leaky_control) == pv::check_status::other_binding,
           "other binding");
  }
  std::printf("check_code: %s\n", failures == 0 ? "all outcomes as expected" : "unexpected outcomes");
  return failures == 0 ? 0 : 1;
}
