// One of two translation units that include the umbrella: inline variables,
// inline functions and the error category must be one object per program.
#include <phoneverify/phoneverify.hpp>

const void* odr_category_a() { return &phoneverify::error_category(); }
const void* odr_errc_table_a() { return &phoneverify::detail::errc_table[0]; }
