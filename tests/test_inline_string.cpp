// inline_string<N>: the fixed-capacity string the formatters return.
#include <catch2/catch.hpp>
#include <phoneverify/inline_string.hpp>

#include <cstring>
#include <type_traits>

namespace pv = phoneverify;

TEST_CASE("inline_string appends, views and stays NUL-terminated", "[inline_string]") {
  pv::inline_string<8> s;
  CHECK(s.empty());
  s.append("86-");
  s.push_back('1');
  CHECK(s.size() == 4);
  CHECK(s.view() == "86-1");
  CHECK(std::strcmp(s.c_str(), "86-1") == 0);
  std::string_view v = s;
  CHECK(v == "86-1");
  CHECK(s == std::string_view("86-1"));
  s.append("2345");
  CHECK(s.size() == 8);  // exactly at capacity
  CHECK(s == pv::inline_string<8>("86-12345"));
  s.clear();
  CHECK(s.empty());
  CHECK(std::strlen(s.c_str()) == 0);
}

static_assert(std::is_trivially_copyable_v<pv::inline_string<24>>);
static_assert(pv::inline_string<4>("abcd").view() == "abcd");
static_assert(pv::inline_string<4>("ab").size() == 2);
static_assert(pv::inline_string<4>::capacity() == 4);
static_assert([] {
  pv::inline_string<3> s;
  s.push_back('x');
  s.append("yz");
  return s == std::string_view("xyz") && s[1] == 'y' && *s.c_str() == 'x' && s.end() - s.begin() == 3;
}());
