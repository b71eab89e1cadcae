// Links odr_a.cpp and odr_b.cpp: fails (exit 1) when the two translation units
// see different category objects or different copies of an inline table.
#include <cstdio>

const void* odr_category_a();
const void* odr_category_b();
const void* odr_errc_table_a();
const void* odr_errc_table_b();

int main() {
  const bool same_category = odr_category_a() == odr_category_b();
  const bool same_table = odr_errc_table_a() == odr_errc_table_b();
  std::printf("error category shared: %s, errc table shared: %s\n", same_category ? "yes" : "no",
              same_table ? "yes" : "no");
  return same_category && same_table ? 0 : 1;
}
