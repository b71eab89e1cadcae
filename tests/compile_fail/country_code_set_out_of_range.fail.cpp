// expect: country_code_set_code_out_of_range
// A country_code_set built at compile time refuses a code outside 1..999
// (ITU-T E.164 calling codes have 1 to 3 digits).
#include <phoneverify/site.hpp>

#include <cstdint>

#ifdef PHONEVERIFY_COMPILE_FAIL_CONTROL
constexpr std::uint16_t codes[] = {1, 86, 999};
#else
constexpr std::uint16_t codes[] = {86, 1000};
#endif
constexpr phoneverify::country_code_set set = phoneverify::make_country_code_set(codes);
static_assert(set.contains(86));

int main() { return 0; }
