// Fuzz target for render.hpp: random field values, action, error, format and
// buffer size. Invariants (abort on violation):
// - ok => size == required <= buffer size, and the body parses with the strict
//   checker below (only the escapes render.hpp documents, valid UTF-8, the
//   documented members/elements in order) and every field gives back the
//   value, sanitised by an independent UTF-8 decoder written here;
// - buffer_too_small => required > buffer size, size == 0, the buffer zeroed,
//   and a buffer of exactly `required` bytes then succeeds;
// - invalid_argument only for errc::ok; required <= max_body_size(value bytes).
#include <phoneverify/render.hpp>
#include "body_checker.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pv = phoneverify;

namespace {

using phoneverify::test::require;

using phoneverify::test::code_points;
using phoneverify::test::decode_replacing;
using phoneverify::test::json_checker;
using phoneverify::test::parsed_field;
using phoneverify::test::xml_checker;

code_points xml_sanitised(code_points cps) {
  for (auto& c : cps)
    if ((c < 0x20 && c != 0x9 && c != 0xA && c != 0xD) || c == 0xFFFE || c == 0xFFFF) c = 0xFFFD;
  return cps;
}

std::string_view take(const std::uint8_t*& data, std::size_t& size) {
  if (size == 0) return {};
  std::size_t n = data[0];
  ++data;
  --size;
  if (n > size) n = size;
  const std::string_view out(reinterpret_cast<const char*>(data), n);
  data += n;
  size -= n;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const auto f = (data[0] & 1) ? pv::body_format::xml : pv::body_format::json;
  const bool success = (data[0] & 2) != 0;
  const auto a = pv::all_actions[data[1] % pv::action_count];
  const auto e = static_cast<pv::errc>(data[2] % pv::errc_count);
  const std::size_t buffer_size = static_cast<std::size_t>(data[3]) * 4;
  data += 4;
  size -= 4;
  std::string_view v[6];
  std::size_t value_bytes = 0;
  for (auto& x : v) {
    x = take(data, size);
    value_bytes += x.size();
  }

  auto render = [&](std::span<char> out) {
    return success ? pv::render_success(out, f, a, {v[0], v[1], v[2], v[3], v[4], v[5]})
                   : pv::render_error(out, f, a, e, {v[0], v[1], v[2], v[3]});
  };
  std::vector<char> buffer(buffer_size, 'x');
  const pv::render_result r = render(std::span<char>(buffer.data(), buffer.size()));

  if (r.status == pv::render_status::invalid_argument) {
    require(!success && e == pv::errc::ok && r.size == 0 && r.required == 0);
    return 0;
  }
  require(success || e != pv::errc::ok);
  require(r.required <= pv::max_body_size(value_bytes));
  if (!r.ok()) {
    require(r.status == pv::render_status::buffer_too_small);
    require(r.size == 0 && r.required > buffer_size);
    for (char c : buffer) require(c == '\0');
    buffer.assign(r.required, 'x');
    const pv::render_result again = render(std::span<char>(buffer.data(), buffer.size()));
    require(again.ok() && again.required == r.required);
  } else {
    require(r.size == r.required && r.size <= buffer_size);
  }
  const std::string_view body(buffer.data(), r.required);

  auto sanitise = [&](std::string_view s) {
    return f == pv::body_format::xml ? xml_sanitised(decode_replacing(s)) : decode_replacing(s);
  };
  std::vector<std::pair<std::string, code_points>> want;
  std::string root;
  std::vector<parsed_field> got;
  if (f == pv::body_format::json) {
    got = json_checker(body).parse();
  } else {
    got = xml_checker(body).parse(root);
  }
  if (success) {
    require(f == pv::body_format::json || root == std::string(pv::action_name(a)) + "Response");
    want.emplace_back("RequestId", sanitise(v[0]));
    if (a == pv::action::send_verification_code_for_bind_secure_mobile_phone)
      want.emplace_back("ExpirationDate", sanitise(v[1]));
    if (a == pv::action::get_migration_verify_code) {
      want.emplace_back("Code", sanitise("OK"));
      want.emplace_back("Message", sanitise(v[2]));
      want.emplace_back("Data.PhoneNumber", sanitise(v[3]));
      want.emplace_back("Data.Id", sanitise(v[4]));
      want.emplace_back("AccessDeniedDetail", sanitise(v[5]));
    }
  } else {
    require(f == pv::body_format::json || root == "Error");
    std::string message(pv::message(e, a));
    const auto at = message.find("%s");
    if (at != std::string::npos) message.replace(at, 2, v[3]);
    want.emplace_back("RequestId", sanitise(v[0]));
    want.emplace_back("HostId", sanitise(v[1]));
    want.emplace_back("Code", sanitise(pv::code_string(e)));
    want.emplace_back("Message", sanitise(message));
    if (f == pv::body_format::json) want.emplace_back("Recommend", sanitise(v[2]));
  }
  require(got.size() == want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    require(got[k].path == want[k].first);
    require(got[k].value == want[k].second);
  }
  return 0;
}
