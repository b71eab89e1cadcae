// gen_country_codes: generates include/phoneverify/detail/country_code_table.hpp
// (the data of country_codes.hpp, which holds the functions) from the
// numbering-plan metadata of libphonenumber (RULES.md §2: the assigned codes are
// the calling codes that have a plan in libphonenumber's metadata, and a code's
// possible national lengths are the union over its regions, local-only lengths
// excluded).
//
// The facts come from the library itself, never from a copy of its sources:
//   * PhoneNumberUtil::GetSupportedCallingCodes and
//     GetRegionCodesForCountryCallingCode (public API) give the codes and regions;
//   * the possible lengths come from the metadata compiled into the library
//     (i18n::phonenumbers::metadata_get / metadata_size, exported by
//     libphonenumber.so, decoded with the installed phonemetadata.pb.h), because
//     PhoneNumberUtil::GetMetadataForRegion is private in 8.12;
//   * as a cross-check, every length the public IsPossibleNumberWithReason calls
//     IS_POSSIBLE (not IS_POSSIBLE_LOCAL_ONLY) for a code must be in its set;
//   * the trunk (national) prefix of a code (RULES.md §2, one handset, one
//     spelling): a region's national_prefix, kept only when no national
//     significant number of ANY region of the code can begin with it, decided
//     by matching the prefix against each region's general national-number
//     pattern with ICU's regex (a failed match that never hit the end of the
//     input means no longer input can match either); as a cross-check,
//     libphonenumber's Parse must strip that prefix from the region's example.
// The program fails (exit 1) if the sources disagree.
//
// How to run it (Debian 12: apt-get install libphonenumber-dev), from the
// repository root:
//   g++ -std=c++17 -O1 tools/gen_country_codes.cpp -o /tmp/gen_country_codes \
//       -lphonenumber -lprotobuf -licui18n -licuuc
//   /tmp/gen_country_codes > include/phoneverify/detail/country_code_table.hpp
// then run the tests ([country_codes], [phone][differential]) and commit the
// header together with the libphonenumber version printed in its banner.
// Set PHONEVERIFY_LIBPHONENUMBER_VERSION to the installed version (dpkg -s
// libphonenumber-dev) to record it; it defaults to the version of Debian 12.
#include <phonenumbers/phonemetadata.pb.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>
#include <unicode/regex.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace i18n::phonenumbers {
// Exported by libphonenumber.so; declared in its metadata.h, which Debian does
// not install.
int metadata_size();
const void* metadata_get();
}  // namespace i18n::phonenumbers

namespace {

using i18n::phonenumbers::PhoneMetadataCollection;
using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

constexpr int max_length = 17;  // the longest national length the metadata may use

struct code_facts {
  std::uint32_t mask = 0;  // bit n: national length n is possible
  std::vector<std::string> regions;
  std::vector<std::string> patterns;         // each region's general national-number pattern
  std::set<std::string> national_prefixes;   // each region's national_prefix, when it has one
  std::string trunk_prefix;                  // the one no national number can begin with, or ""
};

// Whether some string that begins with `prefix` matches `pattern` entirely
// (ICU: a match that failed without reading to the end of the input cannot
// succeed on any longer input).
bool can_begin_with(const std::string& pattern, const std::string& prefix) {
  UErrorCode status = U_ZERO_ERROR;
  icu::RegexMatcher matcher(icu::UnicodeString::fromUTF8(pattern), 0, status);
  if (U_FAILURE(status)) {
    std::fprintf(stderr, "gen_country_codes: ICU cannot compile the pattern %s\n", pattern.c_str());
    std::exit(1);
  }
  matcher.reset(icu::UnicodeString::fromUTF8(prefix));
  const bool whole = matcher.matches(status);
  return whole || matcher.hitEnd();
}


std::string lengths_text(std::uint32_t mask) {
  std::string text;
  for (int n = 0; n <= max_length; ++n)
    if (mask >> n & 1u) text += (text.empty() ? "" : ", ") + std::to_string(n);
  return text;
}

}  // namespace

int main() {
  const char* version = std::getenv("PHONEVERIFY_LIBPHONENUMBER_VERSION");
  if (version == nullptr || *version == '\0') version = "8.12.57 (Debian 12, libphonenumber-dev 8.12.57+ds-3)";

  PhoneMetadataCollection collection;
  if (!collection.ParseFromArray(i18n::phonenumbers::metadata_get(), i18n::phonenumbers::metadata_size())) {
    std::fprintf(stderr, "gen_country_codes: cannot decode libphonenumber's metadata\n");
    return 1;
  }

  std::map<int, code_facts> codes;
  for (const auto& metadata : collection.metadata()) {
    const auto& general = metadata.general_desc();
    std::set<int> local_only(general.possible_length_local_only().begin(),
                             general.possible_length_local_only().end());
    auto& facts = codes[metadata.country_code()];
    facts.regions.push_back(metadata.id());
    facts.patterns.push_back(general.national_number_pattern());
    if (!metadata.national_prefix().empty()) facts.national_prefixes.insert(metadata.national_prefix());
    for (int length : general.possible_length()) {
      if (length < 1 || length > max_length || local_only.count(length) != 0) continue;
      facts.mask |= 1u << length;
    }
  }

  // Cross-check with the public API: the same codes, and every length the
  // library calls possible (main region) is in the union.
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  std::set<int> supported;
  util.GetSupportedCallingCodes(&supported);
  bool ok = true;
  for (int cc : supported)
    if (codes.count(cc) == 0 || codes[cc].mask == 0) {
      std::fprintf(stderr, "gen_country_codes: %d supported but without lengths in the metadata\n", cc);
      ok = false;
    }
  for (const auto& [cc, facts] : codes) {
    if (supported.count(cc) == 0) {
      std::fprintf(stderr, "gen_country_codes: %d in the metadata but not supported\n", cc);
      ok = false;
    }
    for (int length = 1; length <= max_length; ++length) {
      PhoneNumber number;
      number.set_country_code(cc);
      std::uint64_t national = 0;
      for (int i = 0; i < length; ++i) national = national * 10 + 5;
      number.set_national_number(national);
      if (util.IsPossibleNumberWithReason(number) == PhoneNumberUtil::IS_POSSIBLE && (facts.mask >> length & 1u) == 0) {
        std::fprintf(stderr, "gen_country_codes: %d: length %d possible for the API, not in the metadata union\n", cc,
                     length);
        ok = false;
      }
    }
  }
  // Trunk prefixes: kept only when no national number of the code can begin
  // with one; at most one per code, of 1 or 2 digits (the table's encoding).
  for (auto& [cc, facts] : codes) {
    for (const auto& prefix : facts.national_prefixes) {
      bool any_can = false;
      for (const auto& pattern : facts.patterns) any_can = any_can || can_begin_with(pattern, prefix);
      if (any_can) continue;
      if (!facts.trunk_prefix.empty() || prefix.size() > 2 ||
          prefix.find_first_not_of("0123456789") != std::string::npos) {
        std::fprintf(stderr, "gen_country_codes: %d: trunk prefix %s does not fit the table\n", cc, prefix.c_str());
        ok = false;
        continue;
      }
      facts.trunk_prefix = prefix;
      // Cross-check: libphonenumber reads "+<cc><prefix><example>" as the example.
      std::string region;
      util.GetRegionCodeForCountryCode(cc, &region);
      PhoneNumber example;
      if (!util.GetExampleNumber(region, &example)) continue;
      std::string example_nsn, parsed_nsn;
      util.GetNationalSignificantNumber(example, &example_nsn);
      PhoneNumber parsed;
      if (util.Parse("+" + std::to_string(cc) + prefix + example_nsn, "ZZ", &parsed) != PhoneNumberUtil::NO_PARSING_ERROR)
        parsed.Clear();
      util.GetNationalSignificantNumber(parsed, &parsed_nsn);
      if (parsed_nsn != example_nsn) {
        std::fprintf(stderr, "gen_country_codes: %d: libphonenumber does not strip trunk prefix %s from %s\n", cc,
                     prefix.c_str(), example_nsn.c_str());
        ok = false;
      }
    }
  }
  if (!ok) return 1;

  std::string table;
  for (const auto& [cc, facts] : codes) {
    char line[160];
    std::string regions;
    std::vector<std::string> sorted = facts.regions;
    std::sort(sorted.begin(), sorted.end());
    for (const auto& region : sorted) regions += (regions.empty() ? "" : " ") + (region == "001" ? std::string("non-geographic") : region);
    const unsigned trunk_length = static_cast<unsigned>(facts.trunk_prefix.size());
    const unsigned trunk_value = facts.trunk_prefix.empty() ? 0u : static_cast<unsigned>(std::stoi(facts.trunk_prefix));
    std::snprintf(line, sizeof line, "    {%d, %u, %u, 0x%05xu},  // %s; trunk %s: %s\n", cc, trunk_length, trunk_value,
                  static_cast<unsigned>(facts.mask), lengths_text(facts.mask).c_str(),
                  facts.trunk_prefix.empty() ? "-" : facts.trunk_prefix.c_str(), regions.c_str());
    table += line;
  }

  std::printf(
      "// SPDX-License-Identifier: MIT\n"
      "// phoneverify: the data of country_codes.hpp, the assigned ITU-T E.164\n"
      "// country calling codes and the possible lengths of their national\n"
      "// significant numbers (RULES.md §2).\n"
      "//\n"
      "// GENERATED by tools/gen_country_codes.cpp from libphonenumber %s:\n"
      "// do not edit; rerun the generator when numbering plans change (its header\n"
      "// comment says how). These are facts of the metadata, not copied code;\n"
      "// libphonenumber is Apache-2.0, credited in NOTICE.\n"
      "// %zu codes, local-only lengths excluded, lengths the union over the regions\n"
      "// that share a code (44: 7, 9, 10), and the trunk prefixes no national\n"
      "// number can begin with (49: 0, 1: 1). The functions over this table are in\n"
      "// country_codes.hpp.\n"
      "#ifndef PHONEVERIFY_DETAIL_COUNTRY_CODE_TABLE_HPP\n"
      "#define PHONEVERIFY_DETAIL_COUNTRY_CODE_TABLE_HPP\n"
      "\n"
      "#include <cstddef>\n"
      "#include <cstdint>\n"
      "\n"
      "namespace phoneverify {\n"
      "\n"
      "// The libphonenumber release the table was generated from.\n"
      "inline constexpr const char* country_codes_source = \"libphonenumber %s\";\n"
      "\n"
      "// How many calling codes are assigned (have a numbering plan).\n"
      "inline constexpr std::size_t assigned_country_code_count = %zu;\n"
      "\n"
      "// The longest national length any plan allows; is_possible_length is false above it.\n"
      "inline constexpr std::size_t max_national_length = %d;\n"
      "\n"
      "// One assigned code: bit n of length_mask set when n national digits are\n"
      "// possible; its trunk (national) prefix, of trunk_prefix_length digits (0:\n"
      "// none) with the value trunk_prefix_value, when no national significant\n"
      "// number of the code can begin with it (RULES.md §2).\n"
      "struct country_code_entry {\n"
      "  std::uint16_t code;\n"
      "  std::uint8_t trunk_prefix_length;\n"
      "  std::uint8_t trunk_prefix_value;\n"
      "  std::uint32_t length_mask;\n"
      "};\n"
      "\n"
      "// The assigned codes, sorted, with their possible national lengths.\n"
      "inline constexpr country_code_entry country_code_table[assigned_country_code_count] = {\n"
      "%s};\n"
      "\n"
      "}  // namespace phoneverify\n"
      "\n"
      "#endif  // PHONEVERIFY_DETAIL_COUNTRY_CODE_TABLE_HPP\n",
      version, codes.size(), version, codes.size(), max_length, table.c_str());
  return 0;
}
