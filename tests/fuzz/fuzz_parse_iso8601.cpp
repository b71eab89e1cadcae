// Fuzz target for parse_iso8601 (time.hpp, RULES.md §1.1 ExpirationDate).
// Invariants, each aborting when broken:
// - accepted => format_iso8601 of the value gives the input back, byte for
//   byte, and the detailed parser agrees with the plain one;
// - rejected => errc::invalid_parameter with a named reason, never `none`;
// - the first 8 bytes read as a timestamp format to 24 characters that parse
//   back to that timestamp clamped to 1970-01-01..9999-12-31.
#include <phoneverify/time.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace pv = phoneverify;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const pv::result<pv::timestamp> parsed = pv::parse_iso8601(text);
  const pv::iso8601_parse_result detailed = pv::parse_iso8601_detailed(text);
  if (parsed.has_value()) {
    if (detailed.error != pv::iso8601_error::none || detailed.value != *parsed) std::abort();
    if (pv::format_iso8601(*parsed).view() != text) std::abort();
    if (*parsed < pv::iso8601_min || *parsed > pv::iso8601_max) std::abort();
  } else {
    if (parsed.error() != pv::errc::invalid_parameter) std::abort();
    if (detailed.error == pv::iso8601_error::none) std::abort();
    if (pv::iso8601_error_name(detailed.error).empty()) std::abort();
  }

  if (size >= 8) {
    std::int64_t ms = 0;
    std::memcpy(&ms, data, sizeof ms);
    const pv::timestamp t{std::chrono::milliseconds{ms}};
    const pv::timestamp clamped = t < pv::iso8601_min ? pv::iso8601_min : (t > pv::iso8601_max ? pv::iso8601_max : t);
    const auto formatted = pv::format_iso8601(t);
    const pv::result<pv::timestamp> back = pv::parse_iso8601(formatted);
    if (formatted.size() != 24 || !back || *back != clamped) std::abort();
  }
  return 0;
}
