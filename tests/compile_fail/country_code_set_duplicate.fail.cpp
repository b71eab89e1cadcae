// expect: country_code_set_duplicate_code
// A country_code_set built at compile time refuses a code listed twice
// (site.hpp, RULES.md §3: the site tables are data a user writes by hand).
#include <phoneverify/site.hpp>

#include <cstdint>

#ifdef PHONEVERIFY_COMPILE_FAIL_CONTROL
constexpr std::uint16_t codes[] = {86, 852, 853};
#else
constexpr std::uint16_t codes[] = {86, 852, 86};
#endif
constexpr phoneverify::country_code_set set = phoneverify::make_country_code_set(codes);
static_assert(set.contains(852));

int main() { return 0; }
