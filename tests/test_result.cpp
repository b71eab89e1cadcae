// result<T, E>: a value or an error (an errc by default), constexpr, never throwing.
#include <catch2/catch.hpp>
#include <phoneverify/actions.hpp>
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

// An error type other than errc, without ok(): any value is a failure.
struct failure {
  int byte;
  friend constexpr bool operator==(const failure&, const failure&) = default;
};
constexpr pv::result<int, failure> digit(char c) {
  if (c < '0' || c > '9') return failure{c};
  return c - '0';
}

// An error type with ok(), the library's verdict (actions.hpp): result<T, verdict>.
constexpr pv::action a2 = pv::action::bind_secure_mobile_phone;
constexpr pv::verdict wrong_code{a2, errc::invalid_verification_code, pv::check_step::code,
                                 pv::verdict_reason::code_rejected};
constexpr pv::result<int, pv::verdict> checked(bool pass) {
  if (!pass) return wrong_code;
  return 42;
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

TEST_CASE("result<T, E> with an error type other than errc holds a value or that error", "[result]") {
  const auto good = digit(phoneverify::test::opaque<char>('7'));
  REQUIRE(good.has_value());
  CHECK(*good == 7);
  CHECK(good.value_or(-1) == 7);
  CHECK(good.error_or(failure{0}) == failure{0});  // a success: the fallback
  CHECK_FALSE(good == failure{'7'});
  const auto bad = digit(phoneverify::test::opaque<char>('x'));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error() == failure{'x'});
  CHECK(bad.error_or(failure{0}) == failure{'x'});
  CHECK(bad.value_or(-1) == -1);
  CHECK(bad == failure{'x'});
  CHECK_FALSE(bad == failure{'y'});
  CHECK(bad == digit('x'));
  CHECK_FALSE(bad == good);
  CHECK(good == digit('7'));
  CHECK_FALSE(good == digit('8'));

  const auto refused = checked(phoneverify::test::opaque<bool>(false));
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == wrong_code);
  CHECK(refused.error().error() == errc::invalid_verification_code);
  CHECK(refused == wrong_code);
  CHECK(refused.error_or(pv::verdict{a2}) == wrong_code);
  const auto passed = checked(phoneverify::test::opaque<bool>(true));
  REQUIRE(passed);
  CHECK(*passed == 42);
  CHECK(passed.error_or(pv::verdict{a2}).ok());  // the ok verdict of the action, as check() answers
  CHECK_FALSE(passed == wrong_code);
}

// result<T, E> for E other than errc, at compile time.
static_assert(digit('3').has_value() && *digit('3') == 3);
static_assert(!digit('a').has_value());
static_assert(digit('a').error() == failure{'a'});
static_assert(digit('a').error_or(failure{1}) == failure{'a'});
static_assert(digit('4').error_or(failure{1}) == failure{1});
static_assert(digit('a').value_or(9) == 9 && digit('2').value_or(9) == 2);
static_assert(digit('a') == failure{'a'} && !(digit('a') == failure{'b'}) && !(digit('1') == failure{'1'}));
static_assert(digit('5') == digit('5') && !(digit('5') == digit('a')) && digit('a') == digit('a'));
static_assert(!checked(false).has_value() && checked(false).error() == wrong_code);
static_assert(checked(false).error().http_status() == 409);
static_assert(checked(false) == wrong_code && !(checked(true) == wrong_code));
static_assert(checked(true).error_or(pv::verdict{a2}) == pv::verdict{a2});
static_assert(checked(true).value_or(0) == 42 && checked(false).value_or(0) == 0);
static_assert(std::is_same_v<pv::result<int>::error_type, errc>);
static_assert(std::is_same_v<pv::result<int, failure>::error_type, failure>);
static_assert(std::is_trivially_copyable_v<pv::result<int, pv::verdict>>);
// A successful result<T, errc> reports errc::ok as its error (the one E for which error() of a success is allowed).
static_assert(half(4).error() == errc::ok && half(4) == errc::ok);

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
