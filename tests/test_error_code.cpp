// std::error_code glue: category "phoneverify", messages, conversion.
#include <catch2/catch.hpp>
#include <phoneverify/error_code.hpp>

#include <system_error>

namespace pv = phoneverify;
using pv::errc;

TEST_CASE("errc converts to std::error_code in the phoneverify category", "[error_code]") {
  STATIC_REQUIRE(std::is_error_code_enum<errc>::value);
  const std::error_code ec = errc::invalid_verification_code;
  CHECK(ec);
  CHECK(ec.value() == static_cast<int>(errc::invalid_verification_code));
  CHECK(std::string(ec.category().name()) == "phoneverify");
  CHECK(ec.message() == "The verification code is invalid.");
  CHECK(ec == pv::make_error_code(errc::invalid_verification_code));
  CHECK(ec != pv::make_error_code(errc::invalid_parameter));
  CHECK(&ec.category() == &pv::error_category());
}

TEST_CASE("error_code of ok is falsy and every message is the documented one", "[error_code]") {
  const std::error_code ok = errc::ok;
  CHECK_FALSE(ok);
  CHECK(ok.message() == "success");
  for (std::size_t i = 1; i < pv::errc_count; ++i) {
    const auto e = static_cast<errc>(i);
    CHECK(std::error_code(e).message() == pv::message(e));
  }
  CHECK(pv::error_category().message(999) == "unknown phoneverify error");
  CHECK(pv::error_category().message(-1) == "unknown phoneverify error");
}
