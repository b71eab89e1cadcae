// SPDX-License-Identifier: MIT
// What every fuzz target shares: the invariant check that aborts (so libFuzzer
// records the input) and a reader that turns the fuzzer's bytes into choices.
// Reading past the end gives zeros, so every input is a whole program.
#ifndef PHONEVERIFY_TESTS_FUZZ_INPUT_HPP
#define PHONEVERIFY_TESTS_FUZZ_INPUT_HPP

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace phoneverify::test {

// An invariant: its breach is a finding, never a silent pass.
inline void require(bool condition) {
  if (!condition) std::abort();
}

struct fuzz_input {
  const std::uint8_t* data;
  std::size_t size;

  std::uint8_t byte() {
    if (size == 0) return 0;
    --size;
    return *data++;
  }
  bool more() const { return size > 0; }
  bool flag() { return (byte() & 1) != 0; }
  // The next two bytes, low byte first.
  std::uint16_t word() {
    const std::uint8_t low = byte();
    return static_cast<std::uint16_t>(low | (byte() << 8));
  }
  // The next `bytes` bytes, big-endian (8 at most).
  std::uint64_t u64(int bytes = 8) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | byte();
    return v;
  }
};

}  // namespace phoneverify::test

#endif  // PHONEVERIFY_TESTS_FUZZ_INPUT_HPP
