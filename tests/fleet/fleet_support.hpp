// SPDX-License-Identifier: MIT
// What the fleet's test files share: a raw command on a connection, its
// reply as text, the engine configuration the differential tests start
// from, a fleet engine on a test's own server, and a
// random source they reseed before each decision.
#ifndef PHONEVERIFY_TESTS_FLEET_FLEET_SUPPORT_HPP
#define PHONEVERIFY_TESTS_FLEET_FLEET_SUPPORT_HPP

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <catch2/catch.hpp>

#include <phoneverify/engine.hpp>
#include <phoneverify/fleet_engine.hpp>
#include <phoneverify/redis.hpp>

#include "fleet/redis_server.hpp"
#include "support.hpp"

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

// `value` in `width` decimal digits (account ids and phones of the workloads).
inline std::string digits(std::uint64_t value, int width) {
  std::string s(static_cast<std::size_t>(width), '0');
  for (int i = width - 1; i >= 0; --i, value /= 10) s[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
  return s;
}

// The hiredis options of a test's own server: its unix socket, `timeout` for
// connecting and for each command.
inline redis::options options_of(const redis_server& server,
                                 std::chrono::milliseconds timeout = std::chrono::milliseconds{5000}) {
  redis::options o;
  o.unix_socket = server.socket_path();
  o.connect_timeout = timeout;
  o.command_timeout = timeout;
  return o;
}

// The fleet configuration of the one-slot tests: deployment "t", a fixed id key.
inline fleet::fleet_config fleet_config_of(const engine_config& engine) {
  fleet::fleet_config config;
  config.engine = engine;
  config.deployment = "t";
  for (std::size_t i = 0; i < config.key_name_key.size(); ++i)
    config.key_name_key[i] = static_cast<std::byte>(0x40 + i);
  return config;
}

// A fleet engine on `server` through a pool of 4 connections; the test fails
// (with describe()'s sentence) when it cannot start.
inline std::unique_ptr<fleet::fleet_engine> make_fleet(const fleet::fleet_config& config, const redis_server& server,
                                                       std::shared_ptr<random_source> random, clock_function clock,
                                                       std::chrono::milliseconds timeout = std::chrono::milliseconds{5000}) {
  auto built = fleet::fleet_engine::create(config, std::make_shared<redis::pool>(options_of(server, timeout), 4),
                                           std::move(random), std::move(clock));
  INFO(fleet::describe(built.error()).view());
  REQUIRE(built.has_value());
  return built.release();
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
