// result<T>: a value or an errc, constexpr, never throwing.
#include <catch2/catch.hpp>
#include <phoneverify/result.hpp>

#include <type_traits>

#include "support.hpp"

namespace pv = phoneverify;
using pv::errc;

namespace {
struct point {
  int x, y;
  friend constexpr bool operator==(const point&, const point&) = default;
};
constexpr pv::result<int> half(int n) {
  if (n % 2 != 0) return errc::invalid_parameter;
  return n / 2;
}
}  // namespace

TEST_CASE("result holds a value or an error, never both", "[result]") {
  const pv::result<int> good = half(phoneverify::test::opaque<int>(8));
  REQUIRE(good.has_value());
  REQUIRE(static_cast<bool>(good));
  CHECK(good.value() == 4);
  CHECK(*good == 4);
  CHECK(good.error() == errc::ok);

  const pv::result<int> bad = half(phoneverify::test::opaque<int>(7));
  REQUIRE_FALSE(bad.has_value());
  REQUIRE_FALSE(static_cast<bool>(bad));
  CHECK(bad.error() == errc::invalid_parameter);
  CHECK(bad.value_or(-1) == -1);
  CHECK(bad == errc::invalid_parameter);
}

TEST_CASE("result gives access to members through -> and compares by content", "[result]") {
  pv::result<point> p = point{1, 2};
  CHECK(p->x == 1);
  p->y = 5;
  CHECK((*p).y == 5);
  CHECK(p == pv::result<point>(point{1, 5}));
  CHECK_FALSE(p == pv::result<point>(point{1, 6}));
  CHECK_FALSE(p == pv::result<point>(errc::invalid_parameter));
  CHECK(pv::result<point>(errc::missing_parameter) == pv::result<point>(errc::missing_parameter));
  CHECK_FALSE(pv::result<point>(errc::missing_parameter) == pv::result<point>(errc::invalid_parameter));
}

// Compile-time: constexpr construction, access and copying; trivially copyable.
static_assert(half(6).value() == 3);
static_assert(!half(5).has_value());
static_assert(half(5).error() == errc::invalid_parameter);
static_assert(half(5).value_or(9) == 9);
static_assert([] {
  pv::result<point> a = point{3, 4};
  pv::result<point> b = errc::system_limit_control;
  b = a;  // copying a result in a constant expression
  return b->x + b->y;
}() == 7);
static_assert(std::is_trivially_copyable_v<pv::result<point>>);
static_assert(std::is_nothrow_copy_constructible_v<pv::result<point>>);
static_assert(sizeof(pv::result<int>) <= 2 * sizeof(int));
