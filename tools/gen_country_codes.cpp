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
//     IS_POSSIBLE (not IS_POSSIBLE_LOCAL_ONLY) for a code must be in its set.
// The program fails (exit 1) if the two sources disagree.
//
// How to run it (Debian 12: apt-get install libphonenumber-dev), from the
// repository root:
//   g++ -std=c++17 -O1 tools/gen_country_codes.cpp -o /tmp/gen_country_codes \
//       -lphonenumber -lprotobuf
//   /tmp/gen_country_codes > include/phoneverify/detail/country_code_table.hpp
// then run the tests ([country_codes], [phone][differential]) and commit the
// header together with the libphonenumber version printed in its banner.
// Set PHONEVERIFY_LIBPHONENUMBER_VERSION to the installed version (dpkg -s
// libphonenumber-dev) to record it; it defaults to the version of Debian 12.
#include <phonenumbers/phonemetadata.pb.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

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
};


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
  if (!ok) return 1;

  std::string table;
  for (const auto& [cc, facts] : codes) {
    char line[160];
    std::string regions;
    std::vector<std::string> sorted = facts.regions;
    std::sort(sorted.begin(), sorted.end());
    for (const auto& region : sorted) regions += (regions.empty() ? "" : " ") + (region == "001" ? std::string("non-geographic") : region);
    std::snprintf(line, sizeof line, "    {%d, 0x%05xu},  // %s: %s\n", cc, static_cast<unsigned>(facts.mask),
                  lengths_text(facts.mask).c_str(), regions.c_str());
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
      "// that share a code (44: 7, 9, 10). The functions over this table are in\n"
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
      "// One assigned code: bit n of length_mask set when n national digits are possible.\n"
      "struct country_code_entry {\n"
      "  std::uint16_t code;\n"
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
