// SPDX-License-Identifier: MIT
// What the fleet's test files share: a raw command on a connection, its
// reply as text, the engine configuration the differential tests start
// from, and a random source they reseed before each decision.
#ifndef PHONEVERIFY_TESTS_FLEET_FLEET_SUPPORT_HPP
#define PHONEVERIFY_TESTS_FLEET_FLEET_SUPPORT_HPP

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <phoneverify/engine.hpp>
#include <phoneverify/redis.hpp>

namespace phoneverify::test {

// A command of the test itself (not of the code under test), its words as given.
inline redis::call_result cmd(redis::connection& c, std::initializer_list<std::string_view> args) {
  return c.command(std::span<const std::string_view>(args.begin(), args.size()));
}

// A command's reply as text: an integer in decimal, "(nil)", else the string.
inline std::string text_of(redis::connection& c, std::initializer_list<std::string_view> args) {
  redis::call_result r = cmd(c, args);
  const fleet::reply_view v = r.value.view();
  if (v.kind == fleet::reply_view::type::integer) return std::to_string(v.integer);
  if (v.kind == fleet::reply_view::type::nil) return "(nil)";
  return std::string(v.text);
}

// The engine configuration of the differential tests: the international
// site and a fixed, non-zero key.
inline engine_config base_config() {
  engine_config config;
  config.policy.sites = international_site_policy;
  for (std::size_t i = 0; i < config.key.size(); ++i) config.key[i] = static_cast<std::byte>(0xA5 ^ i);
  return config;
}

// A random source the tests set to a seed before each decision, on the
// embedded and the fleet engine alike: the same draws give the same RequestId
// and the same code, so their answers can be compared byte for byte.

class reseedable_source final : public random_source {
 public:
  void reseed(std::uint64_t seed) {
    std::lock_guard<std::mutex> lock(mutex_);
    chacha20_generator::key_type key{};
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>((seed >> ((i % 8) * 8)) ^ (i * 29));
    generator_ = chacha20_generator(key);
  }
  std::optional<std::uint64_t> next() noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    return generator_();
  }

 private:
  std::mutex mutex_;
  chacha20_generator generator_{chacha20_generator::key_type{}};
};

}  // namespace phoneverify::test

#endif  // PHONEVERIFY_TESTS_FLEET_FLEET_SUPPORT_HPP
