// Fuzz target for params.hpp. Every check runs on the input; invariants:
// - accepted exactly when an independent, straightforward reference of the
//   rule (written here from RULES.md §1.1, §5 and appendix A) accepts;
// - a refusal names a reason other than ok, a position within the text (or at
//   its end), and a byte-class reason (non_ascii, control_character,
//   invalid_character) points at a byte of that class;
// - Method/EnableMode values agree with the text.
// Aborts on any violation.
#include <phoneverify/params.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace pv = phoneverify;

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

bool digit(char c) { return c >= '0' && c <= '9'; }
bool lower(char c) { return c >= 'a' && c <= 'z'; }
bool upper(char c) { return c >= 'A' && c <= 'Z'; }
bool alnum(char c) { return digit(c) || lower(c) || upper(c); }
bool special(char c) { return c == '_' || c == '.' || c == '-'; }

bool all_of(std::string_view s, bool (*pred)(char)) {
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}

bool ref_numeric_id(std::string_view s) { return !s.empty() && s.size() <= 20 && s[0] != '0' && all_of(s, digit); }

bool ref_contact_id(std::string_view s) {
  return s.size() >= 3 && s.size() <= 66 && s.substr(0, 2) == "c-" && all_of(s.substr(2), alnum);
}

bool ref_locale(std::string_view s) {
  const auto us = s.find('_');
  const std::string_view lang = s.substr(0, us);
  if (lang.size() < 2 || lang.size() > 3 || !all_of(lang, lower)) return false;
  if (us == std::string_view::npos) return true;
  const std::string_view region = s.substr(us + 1);
  return region.size() == 2 && all_of(region, upper);
}

bool ref_ma_name(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos) return false;
  const std::string_view prefix = s.substr(0, at);
  if (s.substr(at + 1) != "rdadmin.aliyunid.com") return false;
  if (prefix.size() < 2 || prefix.size() > 50) return false;
  if (!alnum(prefix.front()) || !alnum(prefix.back())) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (!alnum(prefix[i]) && !special(prefix[i])) return false;
    if (i > 0 && special(prefix[i]) && special(prefix[i - 1])) return false;
  }
  return true;
}

bool ref_code(std::string_view s, std::size_t n) { return s.size() == n && all_of(s, digit); }

bool ref_request_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!alnum(c) && c != '-') return false;
  return true;
}

char lower_ascii(char c) { return upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
  return true;
}

// The invariants every refusal and acceptance share.
void check_verdict(std::string_view s, pv::param_check c, bool reference) {
  require(c.ok() == reference);
  require(static_cast<bool>(c) == c.ok());
  if (c.ok()) {
    require(c.position == 0);
    return;
  }
  require(!pv::describe(c.reason).empty());
  require(c.position <= s.size());
  if (s.empty()) require(c.reason == pv::param_reason::empty);
  if (c.reason == pv::param_reason::empty) require(s.empty());
  const bool byte_reason = c.reason == pv::param_reason::non_ascii ||
                           c.reason == pv::param_reason::control_character ||
                           c.reason == pv::param_reason::invalid_character;
  if (byte_reason) {
    require(c.position < s.size());
    const auto u = static_cast<unsigned char>(s[c.position]);
    if (c.reason == pv::param_reason::non_ascii) require(u >= 0x80);
    if (c.reason == pv::param_reason::control_character) require(u < 0x20 || u == 0x7F);
    if (c.reason == pv::param_reason::invalid_character) require(u >= 0x20 && u < 0x7F);
  }
  // Everything before the reported byte is printable ASCII or the rule would
  // have stopped earlier on it.
  for (std::size_t i = 0; i < c.position && i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    require(u >= 0x20 && u < 0x7F);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the code length (6..10); the rest is the text.
  const std::size_t digits = 6 + data[0] % 5;
  const std::string_view s(reinterpret_cast<const char*>(data + 1), size - 1);

  check_verdict(s, pv::check_account_id(s), ref_numeric_id(s));
  check_verdict(s, pv::check_cust_space_id(s), ref_numeric_id(s));
  check_verdict(s, pv::check_contact_id(s), ref_contact_id(s));
  check_verdict(s, pv::check_locale(s), ref_locale(s));
  check_verdict(s, pv::check_ma_name(s), ref_ma_name(s));
  check_verdict(s, pv::check_verification_code(s, digits), ref_code(s, digits));
  check_verdict(s, pv::check_request_id(s), ref_request_id(s));

  const auto method = pv::parse_method(s);
  check_verdict(s, method.check, iequals(s, "sms") || iequals(s, "voice"));
  if (method.ok()) require(iequals(s, pv::method_name(method.value)));

  const auto mode = pv::parse_enable_mode(s);
  check_verdict(s, mode.check, s == "CurrentAccount" || s == "NewManagementAccount");
  if (mode.ok()) require(s == pv::enable_mode_name(mode.value));
  return 0;
}
