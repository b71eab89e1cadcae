// SPDX-License-Identifier: MIT
// A random source the fleet tests set to a seed before each decision, on the
// embedded and the fleet engine alike: the same draws give the same RequestId
// and the same code, so their answers can be compared byte for byte.
#ifndef PHONEVERIFY_TESTS_FLEET_RESEEDABLE_SOURCE_HPP
#define PHONEVERIFY_TESTS_FLEET_RESEEDABLE_SOURCE_HPP

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>

#include <phoneverify/engine.hpp>

namespace phoneverify::test {

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

#endif  // PHONEVERIFY_TESTS_FLEET_RESEEDABLE_SOURCE_HPP
