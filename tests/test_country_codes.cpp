// country_codes.hpp: the assigned E.164 calling codes and their possible
// national lengths (RULES.md §2), generated from libphonenumber 8.12.57.
#include <catch2/catch.hpp>
#include <phoneverify/country_codes.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string_view>
#include <type_traits>

#include "support.hpp"

namespace pv = phoneverify;
using pv::test::opaque;

namespace {

// The reference: a linear search of the generated list (the dense index must agree).
constexpr const pv::country_code_entry* find_entry(std::uint16_t cc) {
  for (const auto& entry : pv::country_code_table)
    if (entry.code == cc) return &entry;
  return nullptr;
}

constexpr std::uint32_t lengths_mask(std::initializer_list<int> lengths) {
  std::uint32_t mask = 0;
  for (int n : lengths) mask |= 1u << n;
  return mask;
}

// Facts checked against libphonenumber's metadata by hand (ITU-T E.164
// assignments; lengths from the metadata's general descriptions).
struct code_case {
  std::uint16_t cc;
  bool assigned;
  std::uint32_t lengths;  // exact set of possible national lengths
};
constexpr code_case code_cases[] = {
    {0, false, 0},
    {1, true, lengths_mask({7, 10})},  // NANP: 10, and 7 from Canada's plan
    {7, true, lengths_mask({10, 14})},
    {44, true, lengths_mask({7, 9, 10})},  // the gap of RULES.md §2
    {86, true, lengths_mask({7, 8, 9, 10, 11, 12})},
    {800, true, lengths_mask({8})},
    {808, true, lengths_mask({8})},
    {870, true, lengths_mask({9, 12})},
    {388, false, 0},  // ITU group code without a plan (RULES.md §2)
    {991, false, 0},  // ITU trial code without a plan (RULES.md §2)
    {999, false, 0},
    {1000, false, 0},
    {65535, false, 0},
};

constexpr bool code_case_holds(const code_case& c) {
  if (pv::is_assigned_country_code(c.cc) != c.assigned) return false;
  for (std::size_t n = 0; n <= 20; ++n)
    if (pv::is_possible_length(c.cc, n) != ((n < 32 && (c.lengths >> n & 1u) != 0))) return false;
  return pv::national_length_mask(c.cc) == c.lengths;
}

constexpr std::size_t decimal_digits(std::uint16_t cc) { return cc >= 100 ? 3 : cc >= 10 ? 2 : 1; }

}  // namespace

TEST_CASE("the table holds libphonenumber's 215 assigned codes, sorted, with the non-geographic ones",
          "[country_codes]") {
  STATIC_REQUIRE(pv::assigned_country_code_count == 215);
  STATIC_REQUIRE(std::size(pv::country_code_table) == 215);
  STATIC_REQUIRE([] {
    for (std::size_t i = 1; i < std::size(pv::country_code_table); ++i)
      if (pv::country_code_table[i - 1].code >= pv::country_code_table[i].code) return false;
    return true;
  }());
  constexpr std::uint16_t non_geographic[] = {800, 808, 870, 878, 881, 882, 883, 888, 979};
  for (std::uint16_t cc : non_geographic) {
    CAPTURE(cc);
    CHECK(pv::is_assigned_country_code(opaque(cc)));
  }
  STATIC_REQUIRE(pv::is_assigned_country_code(979));
  STATIC_REQUIRE(std::string_view(pv::country_codes_source).find("8.12.57") != std::string_view::npos);
}

TEST_CASE("country code facts: 388 and 991 are not assigned, 44 allows 7, 9 or 10 digits", "[country_codes]") {
  STATIC_REQUIRE([] {
    for (const auto& c : code_cases)
      if (!code_case_holds(c)) return false;
    return true;
  }());
  for (const auto& c : code_cases) {
    CAPTURE(c.cc);
    const std::uint16_t cc = opaque(c.cc);
    CHECK(pv::is_assigned_country_code(cc) == c.assigned);
    CHECK(pv::national_length_mask(cc) == c.lengths);
    for (std::size_t n = 0; n <= 20; ++n) CHECK(pv::is_possible_length(cc, opaque(n)) == ((c.lengths >> n & 1u) != 0));
  }
}

TEST_CASE("every integer 0..1000 is assigned exactly when the generated list has it", "[country_codes]") {
  for (std::uint32_t i = 0; i <= 1000; ++i) {
    const auto cc = opaque(static_cast<std::uint16_t>(i));
    const auto* entry = find_entry(cc);
    CAPTURE(cc);
    REQUIRE(pv::is_assigned_country_code(cc) == (entry != nullptr));
    const pv::length_range range = pv::national_number_lengths(cc);
    if (entry == nullptr) {
      CHECK(range == pv::length_range{0, 0});
      CHECK(pv::national_length_mask(cc) == 0);
      for (std::size_t n = 0; n <= 20; ++n) CHECK_FALSE(pv::is_possible_length(cc, n));
      continue;
    }
    // Bounds are the lowest and highest possible length; lengths 1..17 follow
    // the generated mask exactly, nothing outside 1..17 is ever possible.
    CHECK(range.min >= 1);
    CHECK(range.max <= pv::max_national_length);
    CHECK(pv::is_possible_length(cc, range.min));
    CHECK(pv::is_possible_length(cc, range.max));
    for (std::size_t n = 0; n <= 20; ++n) {
      CAPTURE(n);
      CHECK(pv::is_possible_length(cc, n) == (n >= 1 && n <= 17 && (entry->length_mask >> n & 1u) != 0));
      if (n < range.min || n > range.max) CHECK_FALSE(pv::is_possible_length(cc, n));
    }
  }
  CHECK_FALSE(pv::is_possible_length(1, ~std::size_t{0}));
}

TEST_CASE("assigned country codes are prefix-free, so a compact number splits one way", "[country_codes]") {
  // ITU-T E.164: no calling code is a prefix of another (RULES.md §2, compact form).
  STATIC_REQUIRE([] {
    for (const auto& a : pv::country_code_table)
      for (const auto& b : pv::country_code_table) {
        if (a.code == b.code) continue;
        std::uint16_t prefix = b.code;
        while (prefix > 0) {
          prefix = static_cast<std::uint16_t>(prefix / 10);
          if (prefix == a.code) return false;
        }
      }
    return true;
  }());
  for (const auto& entry : pv::country_code_table)
    for (std::uint16_t prefix = static_cast<std::uint16_t>(opaque(entry.code) / 10); prefix > 0;
         prefix = static_cast<std::uint16_t>(prefix / 10))
      CHECK_FALSE(pv::is_assigned_country_code(prefix));
}

TEST_CASE("every assigned code allows a number of at most 15 digits in all", "[country_codes]") {
  // Otherwise a code would be assigned yet never parse (ITU-T E.164: 15 digits).
  STATIC_REQUIRE([] {
    for (const auto& entry : pv::country_code_table)
      if (pv::national_number_lengths(entry.code).min + decimal_digits(entry.code) > 15) return false;
    return true;
  }());
  for (const auto& entry : pv::country_code_table) {
    CAPTURE(entry.code);
    CHECK(pv::national_number_lengths(opaque(entry.code)).min + decimal_digits(entry.code) <= 15);
    CHECK((entry.length_mask & ~lengths_mask({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})) == 0);
  }
}

static_assert(std::is_trivially_copyable_v<pv::length_range>);
static_assert(sizeof(pv::length_range) == 2);
static_assert(std::is_trivially_copyable_v<pv::country_code_entry>);
static_assert(sizeof(pv::country_code_entry) <= 8);
static_assert(noexcept(pv::is_assigned_country_code(1)));
static_assert(noexcept(pv::is_possible_length(1, 10)));
static_assert(noexcept(pv::national_number_lengths(1)));
static_assert(pv::national_number_lengths(44) == pv::length_range{7, 10});
static_assert(sizeof(pv::detail::country_code_masks) <= 4096);
