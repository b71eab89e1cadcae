// Differential test of phone.hpp and country_codes.hpp against Debian's
// libphonenumber (RULES.md §2: the assigned codes and possible lengths are
// libphonenumber's). Built only when libphonenumber is found.
#include <catch2/catch.hpp>

#ifdef PHONEVERIFY_HAVE_LIBPHONENUMBER

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>
#include <phoneverify/phone.hpp>

#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace pv = phoneverify;
using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

namespace {

const PhoneNumberUtil& util() { return *PhoneNumberUtil::GetInstance(); }

struct sample {
  int cc;
  std::string national;  // national significant number
};

// libphonenumber's example numbers of every region and type, and of every
// non-geographic code.
std::vector<sample> example_numbers() {
  std::vector<sample> out;
  const auto add = [&out](const PhoneNumber& number) {
    std::string national;
    util().GetNationalSignificantNumber(number, &national);
    out.push_back({number.country_code(), national});
  };
  std::set<std::string> regions;
  util().GetSupportedRegions(&regions);
  for (const auto& region : regions) {
    std::set<PhoneNumberUtil::PhoneNumberType> types;
    util().GetSupportedTypesForRegion(region, &types);
    for (auto type : types) {
      PhoneNumber number;
      if (util().GetExampleNumberForType(region, type, &number)) add(number);
    }
  }
  std::set<int> global;
  util().GetSupportedGlobalNetworkCallingCodes(&global);
  for (int cc : global) {
    PhoneNumber number;
    if (util().GetExampleNumberForNonGeoEntity(cc, &number)) add(number);
  }
  return out;
}

// The examples and their one-digit mutations: a digit dropped, added or
// changed, and a digit added at the end.
std::vector<sample> mutated_corpus() {
  std::vector<sample> out;
  for (const auto& s : example_numbers()) {
    out.push_back(s);
    const std::string& n = s.national;
    // Each position gets one of the three mutations, in turn (keeps the test
    // near a second under sanitizers while every kind covers every length).
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (i % 3 == 0) out.push_back({s.cc, n.substr(0, i) + n.substr(i + 1)});
      if (i % 3 == 1) out.push_back({s.cc, n.substr(0, i) + static_cast<char>('0' + (i * 3 + 5) % 10) + n.substr(i)});
      if (i % 3 == 2) {
        std::string changed = n;
        changed[i] = static_cast<char>('0' + (n[i] - '0' + 1) % 10);
        out.push_back({s.cc, changed});
      }
    }
    out.push_back({s.cc, n + '7'});
  }
  return out;
}

// The PhoneNumber of a code and a national significant number, leading zeros
// recorded the way libphonenumber keeps them; false when it cannot hold it.
bool to_libphonenumber(const sample& s, PhoneNumber* number) {
  if (s.national.empty() || s.national.size() > 17) return false;
  std::size_t zeros = 0;
  while (zeros < s.national.size() && s.national[zeros] == '0') ++zeros;
  number->set_country_code(s.cc);
  number->set_national_number(std::stoull(s.national));
  if (zeros > 0) {
    number->set_italian_leading_zero(true);
    number->set_number_of_leading_zeros(static_cast<std::int32_t>(zeros));
  }
  std::string back;
  util().GetNationalSignificantNumber(*number, &back);
  return back == s.national;
}

}  // namespace

TEST_CASE("the assigned country codes are exactly libphonenumber's supported calling codes",
          "[phone][differential]") {
  std::set<int> supported;
  util().GetSupportedCallingCodes(&supported);
  CHECK(supported.size() == pv::assigned_country_code_count);
  for (int cc : supported) {
    CAPTURE(cc);
    CHECK(pv::is_assigned_country_code(static_cast<std::uint16_t>(cc)));
  }
  for (const auto& entry : pv::country_code_table) {
    CAPTURE(entry.code);
    CHECK(supported.count(entry.code) == 1);
  }
}

TEST_CASE("every national length libphonenumber calls possible, not local-only, is a possible length",
          "[phone][differential]") {
  for (const auto& entry : pv::country_code_table)
    for (int length = 1; length <= 17; ++length) {
      PhoneNumber number;
      number.set_country_code(entry.code);
      std::uint64_t national = 0;
      for (int i = 0; i < length; ++i) national = national * 10 + 5;
      number.set_national_number(national);
      const auto reason = util().IsPossibleNumberWithReason(number);
      CAPTURE(entry.code, length, static_cast<int>(reason));
      if (reason == PhoneNumberUtil::IS_POSSIBLE) CHECK(pv::is_possible_length(entry.code, static_cast<std::size_t>(length)));
    }
}

TEST_CASE("parse_phone never rejects a number libphonenumber's IsPossibleNumber accepts, except by a RULES.md rule",
          "[phone][differential]") {
  // The exceptions, each a rule of RULES.md §2:
  //  * local-only lengths (IS_POSSIBLE_LOCAL_ONLY) are not possible lengths;
  //  * more than 15 digits in all is refused (ITU-T E.164);
  //  * a national number that begins with its code's trunk prefix, which no
  //    national number of the code can begin with, is refused (one handset,
  //    one spelling: libphonenumber's Parse strips such a prefix).
  // The other way round is reported, not failed: parse_phone takes the union
  // of the lengths over the regions of a code, libphonenumber the main region.
  const auto corpus = mutated_corpus();
  REQUIRE(corpus.size() > 10000);  // a corpus of examples and mutations
  std::size_t both = 0, neither = 0, local_only = 0, over_15 = 0, trunk_prefixed = 0, only_ours = 0, compared = 0;
  std::map<int, std::size_t> only_ours_by_code;
  for (const auto& s : corpus) {
    PhoneNumber number;
    if (!to_libphonenumber(s, &number)) continue;
    ++compared;
    const auto reason = util().IsPossibleNumberWithReason(number);
    const bool theirs = util().IsPossibleNumber(number);
    const std::string dashed = std::to_string(s.cc) + "-" + s.national;
    const auto ours = pv::parse_phone(dashed, pv::phone_format::dashed);
    // The three forms agree on every sample.
    const std::string compact = std::to_string(s.cc) + s.national;
    std::string e164 = "+";  // built by appending: g++ 12 -O3 warns falsely (-Wrestrict) on "+" + string&&
    e164 += compact;
    CHECK(pv::parse_phone(compact, pv::phone_format::compact) == ours);
    CHECK(pv::parse_phone(e164, pv::phone_format::e164) == ours);
    CAPTURE(dashed, static_cast<int>(reason));
    if (theirs && ours) {
      ++both;
    } else if (!theirs && !ours) {
      ++neither;
    } else if (theirs) {
      const bool too_long = std::to_string(s.cc).size() + s.national.size() > 15;
      const bool local = reason == PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY;
      const bool trunk = pv::starts_with_trunk_prefix(static_cast<std::uint16_t>(s.cc), s.national);
      CHECK((too_long || local || trunk));  // otherwise parse_phone is wrong
      if (too_long) ++over_15;
      else if (local) ++local_only;
      else if (trunk) ++trunk_prefixed;
      CHECK(ours.error() == pv::errc::invalid_parameter_phone_number);
    } else {
      ++only_ours;
      ++only_ours_by_code[s.cc];
    }
  }
  std::printf("[differential] %zu numbers compared: both accept %zu, both reject %zu; parse_phone rejects %zu "
              "local-only, %zu over 15 digits and %zu behind a trunk prefix (RULES.md §2); parse_phone accepts %zu "
              "that libphonenumber calls impossible (union of regions' lengths):",
              compared, both, neither, local_only, over_15, trunk_prefixed, only_ours);
  for (const auto& [cc, count] : only_ours_by_code) std::printf(" %d:%zu", cc, count);
  std::printf("\n");
  CHECK(compared > 10000);
  CHECK(both > 1000);
}

TEST_CASE("every spelling of a handset that parse_phone refuses for its trunk prefix is one libphonenumber number",
          "[phone][differential]") {
  // 49-15112345678 and 49-015112345678 are one German handset to
  // libphonenumber; parse_phone accepts only the first spelling.
  const struct {
    std::uint16_t cc;
    const char* national;
    const char* trunk_spelling;
  } handsets[] = {{49, "15112345678", "015112345678"},
                  {86, "13800001234", "013800001234"}, {44, "7911123456", "07911123456"},
                  {1, "2025550123", "12025550123"},    {33, "612345678", "0612345678"}};
  for (const auto& h : handsets) {
    CAPTURE(h.cc, h.trunk_spelling);
    PhoneNumber plain, prefixed;
    const std::string cc = std::to_string(h.cc);
    REQUIRE(util().Parse("+" + cc + h.national, "ZZ", &plain) == PhoneNumberUtil::NO_PARSING_ERROR);
    REQUIRE(util().Parse("+" + cc + h.trunk_spelling, "ZZ", &prefixed) == PhoneNumberUtil::NO_PARSING_ERROR);
    CHECK(util().IsNumberMatch(plain, prefixed) == PhoneNumberUtil::EXACT_MATCH);
    CHECK(pv::parse_phone(cc + "-" + h.national, pv::phone_format::dashed).has_value());
    CHECK(pv::parse_phone(cc + "-" + h.trunk_spelling, pv::phone_format::dashed).error() ==
          pv::errc::invalid_parameter_phone_number);
  }
}

#endif  // PHONEVERIFY_HAVE_LIBPHONENUMBER
