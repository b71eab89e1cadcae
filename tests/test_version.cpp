// version.hpp agrees with the build system's project version.
#include <catch2/catch.hpp>
#include <phoneverify/version.hpp>

#include <string_view>

TEST_CASE("version.hpp agrees with the project version of the build", "[version]") {
  CHECK(std::string_view(PHONEVERIFY_VERSION_STRING) == std::string_view(PHONEVERIFY_EXPECTED_VERSION));
  STATIC_REQUIRE(PHONEVERIFY_VERSION ==
                 PHONEVERIFY_VERSION_MAJOR * 10000 + PHONEVERIFY_VERSION_MINOR * 100 + PHONEVERIFY_VERSION_PATCH);
}
