// Test support shared by the unit tests: seeds for property tests, a volatile
// read so sanitizers see the run-time path of a constexpr function.
#ifndef PHONEVERIFY_TESTS_SUPPORT_HPP
#define PHONEVERIFY_TESTS_SUPPORT_HPP

#include <phoneverify/actions.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace phoneverify::test {

// The seed of seeded random and property tests: PHONEVERIFY_TEST_SEED from the
// environment when set, else `fallback`. Printed so a failure can be replayed.
inline std::uint64_t test_seed(const char* test_name, std::uint64_t fallback) {
  std::uint64_t seed = fallback;
  if (const char* text = std::getenv("PHONEVERIFY_TEST_SEED")) seed = std::strtoull(text, nullptr, 0);
  std::printf("[seed] %s: PHONEVERIFY_TEST_SEED=%llu\n", test_name, static_cast<unsigned long long>(seed));
  return seed;
}

// Returns `value` through a volatile, so the compiler cannot fold a call on it
// at compile time and the run-time path is what is tested.
template <class T>
T opaque(T value) {
  volatile T copy = value;
  return copy;
}

// Facts with every fact set to what lets a request through (RULES.md §9: a
// default-constructed facts refuses): a RAM identity of the management
// account, named `caller`, permitted and subscribed, owning its CAMS space; the
// account a member of this directory with its enterprise name and real-name
// verification. Phones (account.secure_phone, contact.phone) stay for the test
// to set.
constexpr facts granting_facts(std::string_view caller = "9999888877776666") noexcept {
  facts f;
  f.caller.kind = caller_kind::management_ram_identity;
  f.caller.account_id = caller;
  f.caller.permitted = true;
  f.caller.product_subscribed = true;
  f.space.owned_by_caller = true;
  f.account.membership = directory_membership::this_directory;
  f.account.enterprise_name_set = true;
  f.account.real_name_verified = true;
  return f;
}

// granting_facts with both phones the facts carry (the account's secure
// phone and the message contact's) set to `phone`.
constexpr facts granting_facts_with_phone(std::string_view caller, std::string_view phone) noexcept {
  facts f = granting_facts(caller);
  f.account.secure_phone = phone;
  f.contact.phone = phone;
  return f;
}

// splitmix64: a small seeded generator for tests (never for codes in production).
struct splitmix64 {
  using result_type = std::uint64_t;
  std::uint64_t state;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  constexpr result_type operator()() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
};

}  // namespace phoneverify::test

#endif  // PHONEVERIFY_TESTS_SUPPORT_HPP
