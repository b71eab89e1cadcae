// Parse a phone number in each wire form, check it for an action and a site,
// and print it the only way logs may show it: masked (RULES.md §2, §3).
#include <phoneverify/core.hpp>

#include <cstdio>

int main() {
  namespace pv = phoneverify;
  const struct {
    const char* text;
    pv::phone_format form;
  } inputs[] = {{"86-13900001234", pv::phone_format::dashed}, {"447911123456", pv::phone_format::compact},
                {"+12015550123", pv::phone_format::e164},     {"86-139****1234", pv::phone_format::dashed},
                {"999-1234567", pv::phone_format::dashed}};
  for (const auto& in : inputs) {
    const auto parsed = pv::parse_phone_detailed(in.text, in.form);
    if (!parsed.number) {
      const auto code = pv::code_string(parsed.number.error());
      const auto why = pv::describe(parsed.reason);
      std::printf("%-16s rejected: %.*s (%.*s at byte %zu)\n", in.text, static_cast<int>(code.size()), code.data(),
                  static_cast<int>(why.size()), why.data(), parsed.position);
      continue;
    }
    const pv::phone_number& phone = *parsed.number;
    const auto masked = pv::mask_phone(phone);
    const auto e164 = pv::format_phone(phone, pv::phone_format::e164);
    const bool china = pv::site_accepts(pv::site::china, pv::action::bind_secure_mobile_phone, phone.country_code());
    const bool abroad =
        pv::site_accepts(pv::site::international, pv::action::bind_secure_mobile_phone, phone.country_code());
    std::printf("%-16s -> %-16s masked %-16s secure phone on China site: %-3s international: %s\n", in.text,
                e164.c_str(), masked.c_str(), china ? "yes" : "no", abroad ? "yes" : "no");
  }
  return 0;
}
