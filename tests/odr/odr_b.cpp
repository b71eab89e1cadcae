// The second translation unit of the ODR check (see odr_a.cpp).
#include <phoneverify/phoneverify.hpp>

const void* odr_category_b() { return &phoneverify::error_category(); }
const void* odr_errc_table_b() { return &phoneverify::detail::errc_table[0]; }
