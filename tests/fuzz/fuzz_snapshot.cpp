// Fuzz target for loading an engine snapshot (engine.hpp, "Snapshots";
// RULES.md §4: a restart never hands out fresh budgets, and bad bytes get a
// defined error). Asserts the rules, not only "no crash":
//  - restore either refuses with a snapshot_error that describe() names and
//    hands out no engine, or gives an engine holding exactly the entries it
//    says it loaded, every record read either loaded or dropped as dead;
//  - a restored engine's own snapshot restores again, entry for entry, with
//    nothing dropped at the same time, and the engine still serves requests.
// Two ways in, by the first byte: the bytes as they are (header, magic and
// checksum included), or records sealed with a valid header and checksum, so
// that the fuzzer reaches the record checks and not only the checksum.
#include <phoneverify/engine.hpp>
#include "fuzz_input.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace pv = phoneverify;
using phoneverify::test::require;

namespace {

constexpr std::int64_t fuzz_now = 1'767'225'600'000;

pv::engine_config fuzz_config() {
  pv::engine_config config;
  config.key.fill(std::byte{0x33});
  config.capacity = 64;
  config.shards = 4;
  config.policy.sites = pv::international_site_policy;
  return config;
}

pv::restored_engine restore(const std::vector<std::byte>& bytes) {
  return pv::engine::restore(fuzz_config(), pv::snapshot_bytes_source{bytes},
                             [] { return pv::timestamp{std::chrono::milliseconds{fuzz_now}}; },
                             std::make_shared<pv::seeded_random_source>(7));
}

void put_be(std::vector<std::byte>& out, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<std::byte>((v >> (8 * (width - 1 - i))) & 0xFF));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool sealed = (data[0] & 1) != 0;
  std::vector<std::byte> bytes;
  if (!sealed) {
    for (std::size_t i = 1; i < size; ++i) bytes.push_back(static_cast<std::byte>(data[i]));
  } else {
    // A valid header (the written time from the input, up to a day either
    // way), the input as records and trailer, its last 8 bytes the checksum.
    phoneverify::test::fuzz_input in{data + 1, size - 1};
    const auto offset = static_cast<std::int64_t>(in.u64(4) % 172'800'000) - 86'400'000;
    bytes.assign(pv::detail::snapshot_magic.begin(), pv::detail::snapshot_magic.end());
    put_be(bytes, pv::snapshot_format_version, 4);
    put_be(bytes, 0, 4);
    put_be(bytes, pv::snapshot_fingerprint(fuzz_config()), 8);
    put_be(bytes, static_cast<std::uint64_t>(fuzz_now + offset), 8);
    while (in.more()) bytes.push_back(static_cast<std::byte>(in.byte()));
    if (bytes.size() >= pv::snapshot_header_size + 8) {
      pv::detail::crc64 crc;
      crc.update(std::span<const std::byte>(bytes.data(), bytes.size() - 8));
      bytes.resize(bytes.size() - 8);
      put_be(bytes, crc.value(), 8);
    }
  }

  pv::restored_engine restored = restore(bytes);
  if (!restored) {
    require(restored.error() != pv::snapshot_error::ok && restored.error() != pv::snapshot_error::config_refused);
    require(!pv::describe(restored.error()).empty());
    return 0;
  }
  const pv::snapshot_load_stats stats = restored.stats();
  require(stats.loaded + stats.dropped == stats.records);
  const pv::engine_stats held = restored->stats();
  require(held.quotas + held.rates + held.windows + held.challenges == stats.loaded);

  // Its own snapshot restores again, entry for entry.
  std::vector<std::byte> again;
  require(restored->write_snapshot([&](std::span<const std::byte> chunk) {
    again.insert(again.end(), chunk.begin(), chunk.end());
    return true;
  }) == pv::snapshot_error::ok);
  const pv::restored_engine twice = restore(again);
  require(twice.has_value());
  require(twice.stats().loaded == stats.loaded && twice.stats().dropped == 0);

  // And it serves: a send and a check on whatever state it loaded.
  pv::facts f;
  f.caller.kind = pv::caller_kind::management_ram_identity;
  f.account.membership = pv::directory_membership::this_directory;
  f.account.enterprise_name_set = true;
  f.account.real_name_verified = true;
  const auto sent = restored->send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1234567890123456"}, f);
  require(sent.body().size() > 0);
  const auto checked = restored->bind_secure_mobile_phone({"123456", "44-7911123456", "1234567890123456"}, f);
  require(checked.body().size() > 0);
  return 0;
}
