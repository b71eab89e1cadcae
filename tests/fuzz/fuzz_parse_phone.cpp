// Fuzz target for parse_phone (RULES.md §2), all three forms: the first byte
// picks the form (dashed, compact, e164), the rest is the text. Asserts the
// invariants, not only the absence of crashes (abort on violation):
//  * a rejection has a reason, the reason's wire errc, a position inside the text;
//  * an acceptance formats back to the input in the same form, and the other
//    two forms of the number parse to the same number;
//  * an accepted number is valid: assigned code, possible length, at most 15
//    digits, ASCII digits only; its mask keeps the length and hides the middle;
//  * the detailed and the plain parser agree.
#include <phoneverify/phone.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace pv = phoneverify;

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

constexpr pv::phone_format forms[] = {pv::phone_format::dashed, pv::phone_format::compact, pv::phone_format::e164};

void check_accepted(const pv::phone_number& number, std::string_view text, pv::phone_format form) {
  require(pv::format_phone(number, form).view() == text);
  require(pv::is_assigned_country_code(number.country_code()));
  const std::string_view national = number.national_number();
  require(!national.empty());
  require(pv::is_possible_length(number.country_code(), national.size()));
  require(!pv::starts_with_trunk_prefix(number.country_code(), national));  // one handset, one spelling
  require(number.digit_count() <= pv::max_phone_digits);
  for (char c : national) require(c >= '0' && c <= '9');
  for (auto other : forms) {
    const auto again = pv::parse_phone(pv::format_phone(number, other), other);
    require(again.has_value() && *again == number);
  }
  const auto masked = pv::mask_phone(number);
  const auto plain = pv::format_phone(number, pv::phone_format::dashed);
  require(masked.size() == plain.size());
  const std::size_t start = plain.size() - national.size();
  const std::size_t n = national.size();
  const std::size_t head = n >= 8 ? 3 : 0;
  const std::size_t tail = n >= 8 ? 4 : (n < 2 ? n : 2);
  for (std::size_t i = 0; i < n; ++i)
    require(masked[start + i] == (i < head || i >= n - tail ? national[i] : '*'));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const pv::phone_format form = forms[data[0] % 3];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto detailed = pv::parse_phone_detailed(text, form);
  const auto plain = pv::parse_phone(text, form);
  require(detailed.number == plain);
  require(detailed.number.error() == pv::to_errc(detailed.reason));
  if (plain) {
    require(detailed.reason == pv::phone_error::none);
    check_accepted(*plain, text, form);
  } else {
    require(detailed.reason != pv::phone_error::none);
    require(detailed.position <= text.size());
    require(plain.error() == pv::errc::invalid_parameter_phone_number ||
            plain.error() == pv::errc::invalid_parameter_mobile_country_code);
    require(!pv::describe(detailed.reason).empty());
  }
  return 0;
}
