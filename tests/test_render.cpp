// Response bodies (RULES.md §1.1 "Responses", §6 "Error body on the wire"):
// exact bodies for the documented examples, escaping of hostile values, a real JSON
// parser over the output (nlohmann_json when found; the XML parser check is the
// render_xml_python ctest of tests/cmake/render.cmake), every buffer size.
#include <catch2/catch.hpp>
#include <phoneverify/render.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#ifdef PHONEVERIFY_HAVE_NLOHMANN_JSON
#include <nlohmann/json.hpp>
#endif

#include "support.hpp"

namespace pv = phoneverify;
using pv::action;
using pv::body_format;
using pv::errc;
using namespace std::string_view_literals;

namespace {

constexpr std::string_view decl = R"(<?xml version="1.0" encoding="UTF-8"?>)";

// Rendered into a big enough buffer at run time (inputs through opaque).
std::string render_success_text(body_format f, action a, const pv::success_fields& fields) {
  std::vector<char> buffer(pv::max_body_size(4096));
  const auto r = pv::render_success(buffer, phoneverify::test::opaque(f), phoneverify::test::opaque(a), fields);
  REQUIRE(r.ok());
  REQUIRE(r.size == r.required);
  return std::string(buffer.data(), r.size);
}

std::string render_error_text(body_format f, action a, errc e, const pv::error_fields& fields) {
  std::vector<char> buffer(pv::max_body_size(4096));
  const auto r = pv::render_error(buffer, phoneverify::test::opaque(f), phoneverify::test::opaque(a),
                                  phoneverify::test::opaque(e), fields);
  REQUIRE(r.ok());
  REQUIRE(r.size == r.required);
  return std::string(buffer.data(), r.size);
}

// The documented examples are pretty-printed: drop the whitespace between JSON
// tokens (outside strings) and between XML tags, which carries no data.
std::string minify_json(std::string_view pretty) {
  std::string out;
  bool in_string = false;
  for (std::size_t i = 0; i < pretty.size(); ++i) {
    const char c = pretty[i];
    if (in_string) {
      out += c;
      if (c == '\\') out += pretty[++i];
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
      out += c;
    } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
      out += c;
    }
  }
  return out;
}

std::string minify_xml(std::string_view pretty) {
  std::string out;
  std::size_t i = 0;
  while (i < pretty.size()) {
    const std::size_t lt = pretty.find('<', i);
    const std::string_view text = pretty.substr(i, lt == std::string_view::npos ? std::string_view::npos : lt - i);
    if (text.find_first_not_of(" \n\t\r") != std::string_view::npos) out += text;
    if (lt == std::string_view::npos) break;
    const std::size_t gt = pretty.find('>', lt);
    out += pretty.substr(lt, gt - lt + 1);
    i = gt + 1;
  }
  return out;
}

// A constexpr render compared with an expected body.
template <std::size_t N>
constexpr bool renders_as(std::string_view expected, body_format f, action a, const pv::success_fields& fields) {
  std::array<char, N> buffer{};
  const auto r = pv::render_success(buffer, f, a, fields);
  return r.ok() && std::string_view(buffer.data(), r.size) == expected;
}

// The rows of actions 1, 2 and 4, verbatim.
constexpr std::string_view seed000_xml = R"(<SendVerificationCodeForBindSecureMobilePhoneResponse>
    <RequestId>DCD43660-75DD-5D15-B342-1B83FCA5B913</RequestId>
    <ExpirationDate>2021-12-17T07:38:41.747Z</ExpirationDate>
</SendVerificationCodeForBindSecureMobilePhoneResponse>)";
constexpr std::string_view seed000_json = R"({
  "RequestId" : "DCD43660-75DD-5D15-B342-1B83FCA5B913",
  "ExpirationDate" : "2021-12-17T07:38:41.747Z"
})";
constexpr std::string_view seed001_xml = R"(<BindSecureMobilePhoneResponse>
<RequestId>0217AFEB-5318-56D4-B167-1933D83EDF3F</RequestId>
</BindSecureMobilePhoneResponse>)";
constexpr std::string_view seed001_json = R"({
"RequestId" : "0217AFEB-5318-56D4-B167-1933D83EDF3F"
})";
constexpr std::string_view seed003_json = R"({
  "RequestId": "90E63D28-E31D-1EB2-8939-A94866411B2O",
  "Code": "OK",
  "Message": "None",
  "Data": {
    "PhoneNumber": "861380000****",
    "Id": "8282889****"
  },
  "AccessDeniedDetail": "None"
})";

constexpr pv::success_fields seed000_fields{"DCD43660-75DD-5D15-B342-1B83FCA5B913", "2021-12-17T07:38:41.747Z", {}, {},
                                            {}, {}};
constexpr pv::success_fields seed001_fields{"0217AFEB-5318-56D4-B167-1933D83EDF3F", {}, {}, {}, {}, {}};
constexpr pv::success_fields seed003_fields{"90E63D28-E31D-1EB2-8939-A94866411B2O", {}, "None", "861380000****",
                                            "8282889****", "None"};

// One escaping rule per row: the value, its JSON and XML escapes, and what a
// JSON and an XML parser give back.
struct escape_case {
  std::string_view value;
  std::string_view json;
  std::string_view xml;
  std::string_view json_decoded;
  std::string_view xml_decoded;
};
constexpr std::string_view fffd = "\xEF\xBF\xBD";
constexpr escape_case escape_cases[] = {
    {"plain-ID-123", "plain-ID-123", "plain-ID-123", "plain-ID-123", "plain-ID-123"},
    {"a\"b", "a\\\"b", "a&quot;b", "a\"b", "a\"b"},
    {"a\\b", "a\\\\b", "a\\b", "a\\b", "a\\b"},
    {"<tag>&amp;", "<tag>&amp;", "&lt;tag&gt;&amp;amp;", "<tag>&amp;", "<tag>&amp;"},
    {"]]>", "]]>", "]]&gt;", "]]>", "]]>"},
    {"it's", "it's", "it&apos;s", "it's", "it's"},
    {"%s", "%s", "%s", "%s", "%s"},
    {"/", "/", "/", "/", "/"},
    {"\x01", "\\u0001", fffd, "\x01", fffd},
    {"\0"sv, "\\u0000", fffd, "\0"sv, fffd},
    {"\t\n\r", "\\u0009\\u000a\\u000d", "&#9;&#10;&#13;", "\t\n\r", "\t\n\r"},
    {"\x1f\x7f", "\\u001f\x7f", "\xEF\xBF\xBD\x7f", "\x1f\x7f", "\xEF\xBF\xBD\x7f"},
    // Valid UTF-8 of 2, 3 and 4 bytes, U+FFFD itself, U+10000 and U+10FFFF: copied.
    {"\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80", "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80",
     "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80", "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80",
     "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"},
    {"\xEF\xBF\xBD", fffd, fffd, fffd, fffd},
    {"\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
     "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"},
    // U+FFFE and U+FFFF: valid UTF-8, JSON keeps them, XML 1.0 cannot carry them.
    {"\xEF\xBF\xBE\xEF\xBF\xBF", "\xEF\xBF\xBE\xEF\xBF\xBF", "\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBE\xEF\xBF\xBF",
     "\xEF\xBF\xBD\xEF\xBF\xBD"},
    // Ill-formed UTF-8: one U+FFFD per maximal subpart (Unicode §3.9).
    {"\xC0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBD\xEF\xBF\xBD",
     "\xEF\xBF\xBD\xEF\xBF\xBD"},                                          // overlong NUL
    {"\xE2\x82", fffd, fffd, fffd, fffd},                                  // truncated 3-byte
    {"\xE2\x82x", "\xEF\xBF\xBDx", "\xEF\xBF\xBDx", "\xEF\xBF\xBDx", "\xEF\xBF\xBDx"},
    {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD",
     "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // a surrogate
    {"\xE0\x9F\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD",
     "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // overlong 3-byte
    {"\xF0\x9F\x98", fffd, fffd, fffd, fffd},                                         // truncated 4-byte
    {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD",
     "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // > U+10FFFF
    {"\xFF", fffd, fffd, fffd, fffd},
    {"\x80", fffd, fffd, fffd, fffd},
    {"a\xC2", "a\xEF\xBF\xBD", "a\xEF\xBF\xBD", "a\xEF\xBF\xBD", "a\xEF\xBF\xBD"},
};

// Whether `body` is `head` + `middle` + `tail`.
constexpr bool is_concatenation(std::string_view body, std::string_view head, std::string_view middle,
                                std::string_view tail) {
  return body.size() == head.size() + middle.size() + tail.size() && body.substr(0, head.size()) == head &&
         body.substr(head.size(), middle.size()) == middle && body.substr(head.size() + middle.size()) == tail;
}

constexpr std::string_view bind_xml_head =
    R"(<?xml version="1.0" encoding="UTF-8"?><BindSecureMobilePhoneResponse><RequestId>)";
constexpr std::string_view bind_xml_tail = "</RequestId></BindSecureMobilePhoneResponse>";

constexpr bool escape_case_holds(const escape_case& c) {
  std::array<char, 512> buffer{};
  const pv::success_fields fields{c.value, {}, {}, {}, {}, {}};
  const auto j = pv::render_success(buffer, body_format::json, action::bind_secure_mobile_phone, fields);
  if (!j.ok() || !is_concatenation({buffer.data(), j.size}, R"({"RequestId":")", c.json, R"("})")) return false;
  const auto x = pv::render_success(buffer, body_format::xml, action::bind_secure_mobile_phone, fields);
  return x.ok() && is_concatenation({buffer.data(), x.size}, bind_xml_head, c.xml, bind_xml_tail);
}

constexpr bool all_escape_cases_hold() {
  for (const auto& c : escape_cases)
    if (!escape_case_holds(c)) return false;
  return true;
}

// JSON-quote a catalog text (ASCII; only '"' needs escaping in the catalog).
std::string json_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}
std::string xml_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

}  // namespace

TEST_CASE("render_success gives action 1's documented bodies for SendVerificationCodeForBindSecureMobilePhone", "[render]") {
  const action a = action::send_verification_code_for_bind_secure_mobile_phone;
  CHECK(render_success_text(body_format::json, a, seed000_fields) == minify_json(seed000_json));
  CHECK(render_success_text(body_format::xml, a, seed000_fields) == std::string(decl) + minify_xml(seed000_xml));
  STATIC_REQUIRE(renders_as<256>(
      R"({"RequestId":"DCD43660-75DD-5D15-B342-1B83FCA5B913","ExpirationDate":"2021-12-17T07:38:41.747Z"})",
      body_format::json, a, seed000_fields));
}

TEST_CASE("render_success gives action 2's documented bodies for BindSecureMobilePhone", "[render]") {
  const action a = action::bind_secure_mobile_phone;
  CHECK(render_success_text(body_format::json, a, seed001_fields) == minify_json(seed001_json));
  CHECK(render_success_text(body_format::xml, a, seed001_fields) == std::string(decl) + minify_xml(seed001_xml));
  STATIC_REQUIRE(renders_as<256>(
      R"(<?xml version="1.0" encoding="UTF-8"?><BindSecureMobilePhoneResponse><RequestId>0217AFEB-5318-56D4-B167-1933D83EDF3F</RequestId></BindSecureMobilePhoneResponse>)",
      body_format::xml, a, seed001_fields));
}

TEST_CASE("render_success gives action 4's documented CAMS envelope for GetMigrationVerifyCode", "[render]") {
  const action a = action::get_migration_verify_code;
  CHECK(render_success_text(body_format::json, a, seed003_fields) == minify_json(seed003_json));
  // Action 4's page shows no XML: the same members as elements, Data nested.
  CHECK(render_success_text(body_format::xml, a, seed003_fields) ==
        std::string(decl) +
            "<GetMigrationVerifyCodeResponse><RequestId>90E63D28-E31D-1EB2-8939-A94866411B2O</RequestId>"
            "<Code>OK</Code><Message>None</Message><Data><PhoneNumber>861380000****</PhoneNumber>"
            "<Id>8282889****</Id></Data><AccessDeniedDetail>None</AccessDeniedDetail>"
            "</GetMigrationVerifyCodeResponse>");
  STATIC_REQUIRE(renders_as<512>(
      R"({"RequestId":"90E63D28-E31D-1EB2-8939-A94866411B2O","Code":"OK","Message":"None",)"
      R"("Data":{"PhoneNumber":"861380000****","Id":"8282889****"},"AccessDeniedDetail":"None"})",
      body_format::json, a, seed003_fields));
}

TEST_CASE("render_success gives the other actions a body with RequestId only", "[render]") {
  // RULES.md §1.1: every action returns RequestId; only actions 1 and 4 add fields.
  const pv::success_fields all{"REQ-1", "2021-12-17T07:38:41.747Z", "m", "p", "i", "d"};
  for (action a : {action::bind_secure_mobile_phone, action::send_verification_code_for_enable_rd,
                   action::send_phone_verification_for_message_contact, action::enable_resource_directory,
                   action::chatapp_migration_verified}) {
    const std::string name(pv::action_name(a));
    CHECK(render_success_text(body_format::json, a, all) == R"({"RequestId":"REQ-1"})");
    CHECK(render_success_text(body_format::xml, a, all) ==
          std::string(decl) + "<" + name + "Response><RequestId>REQ-1</RequestId></" + name + "Response>");
  }
  // An empty documented field is rendered empty, never dropped: the schema is fixed.
  CHECK(render_success_text(body_format::json, action::send_verification_code_for_bind_secure_mobile_phone, {}) ==
        R"({"RequestId":"","ExpirationDate":""})");
}

TEST_CASE("render_error renders the five JSON members and the four XML elements of RULES.md §6", "[render]") {
  const pv::error_fields fields{"0217AFEB-5318-56D4-B167-1933D83EDF3F", "resourcemanager.aliyuncs.com",
                                "https://api.aliyun.com/troubleshoot?q=Invalid.VerificationCode", {}};
  const action a = action::bind_secure_mobile_phone;
  CHECK(render_error_text(body_format::json, a, errc::invalid_verification_code, fields) ==
        R"({"RequestId":"0217AFEB-5318-56D4-B167-1933D83EDF3F","HostId":"resourcemanager.aliyuncs.com",)"
        R"("Code":"Invalid.VerificationCode","Message":"The verification code is invalid.",)"
        R"("Recommend":"https://api.aliyun.com/troubleshoot?q=Invalid.VerificationCode"})");
  CHECK(render_error_text(body_format::xml, a, errc::invalid_verification_code, fields) ==
        std::string(decl) +
            "<Error><RequestId>0217AFEB-5318-56D4-B167-1933D83EDF3F</RequestId>"
            "<HostId>resourcemanager.aliyuncs.com</HostId><Code>Invalid.VerificationCode</Code>"
            "<Message>The verification code is invalid.</Message></Error>");
  STATIC_REQUIRE([] {
    std::array<char, 256> buffer{};
    const auto r = pv::render_error(buffer, body_format::json, action::get_migration_verify_code,
                                    errc::system_limit_control, {"R", "H", "X", {}});
    return r.ok() && std::string_view(buffer.data(), r.size) ==
                         R"({"RequestId":"R","HostId":"H","Code":"System.LimitControl",)"
                         R"("Message":"The system is under flow control.","Recommend":"X"})";
  }());
}

TEST_CASE("render_error takes the code and the message that the action documents", "[render]") {
  // NotSupport.AccountInAnotherResourceDirectory has one message in actions 1
  // and 2 and another in 3 (RULES.md §6): each body carries its action's row.
  std::size_t rows = 0;
  for (action a : pv::all_actions) {
    for (const auto& row : pv::documented_errors(a)) {
      ++rows;
      const std::string json = render_error_text(body_format::json, a, row.code, {"R", "H", "X", {}});
      CHECK(json == R"({"RequestId":"R","HostId":"H","Code":")" + std::string(pv::code_string(row.code)) +
                        R"(","Message":")" + json_text(row.message) + R"(","Recommend":"X"})");
      const std::string xml = render_error_text(body_format::xml, a, row.code, {"R", "H", "X", {}});
      CHECK(xml == std::string(decl) + "<Error><RequestId>R</RequestId><HostId>H</HostId><Code>" +
                       std::string(pv::code_string(row.code)) + "</Code><Message>" + xml_text(row.message) +
                       "</Message></Error>");
    }
  }
  CHECK(rows == 43);
  const auto in1 = render_error_text(body_format::json, action::send_verification_code_for_bind_secure_mobile_phone,
                                     errc::not_support_account_in_another_resource_directory, {});
  const auto in3 = render_error_text(body_format::json, action::send_verification_code_for_enable_rd,
                                     errc::not_support_account_in_another_resource_directory, {});
  CHECK(in1.find("Your account is a management account") != std::string::npos);
  CHECK(in3.find("The specified account is an Alibaba Cloud account") != std::string::npos);
  // Without an action: the canonical message.
  std::array<char, 512> buffer{};
  const auto r = pv::render_error(buffer, body_format::json, errc::invalid_parameter_mobile_country_code, {});
  REQUIRE(r.ok());
  CHECK(std::string_view(buffer.data(), r.size).find(pv::message(errc::invalid_parameter_mobile_country_code)) !=
        std::string_view::npos);
}

TEST_CASE("render_error replaces %s with the parameter name in MissingParameter and InvalidParameter", "[render]") {
  const action a = action::get_migration_verify_code;
  CHECK(render_error_text(body_format::json, a, errc::missing_parameter, {"R", "H", "", "Locale"}) ==
        R"({"RequestId":"R","HostId":"H","Code":"MissingParameter","Message":"The input parameter \"Locale\" )"
        R"(that is mandatory for processing this request is not supplied.","Recommend":""})");
  CHECK(render_error_text(body_format::xml, a, errc::invalid_parameter, {"R", "H", "", "Method"}) ==
        std::string(decl) +
            "<Error><RequestId>R</RequestId><HostId>H</HostId><Code>InvalidParameter</Code>"
            "<Message>The specified parameter &quot;Method&quot; is not valid.</Message></Error>");
  // The name is escaped like any other value; a message without %s ignores it.
  CHECK(render_error_text(body_format::json, a, errc::invalid_parameter, {"", "", "", "a\"b"})
            .find(R"(parameter \"a\"b\" is)") != std::string::npos);
  CHECK(render_error_text(body_format::json, a, errc::system_limit_control, {"", "", "", "Locale"})
            .find("Locale") == std::string::npos);
}

TEST_CASE("render escapes JSON and XML and replaces ill-formed UTF-8 by U+FFFD", "[render]") {
  STATIC_REQUIRE(all_escape_cases_hold());
  for (const auto& c : escape_cases) {
    const std::string value(phoneverify::test::opaque(c.value.data()), phoneverify::test::opaque(c.value.size()));
    const pv::success_fields fields{value, {}, {}, {}, {}, {}};
    INFO("case " << (&c - escape_cases));
    CHECK(render_success_text(body_format::json, action::bind_secure_mobile_phone, fields) ==
          R"({"RequestId":")" + std::string(c.json) + R"("})");
    CHECK(render_success_text(body_format::xml, action::bind_secure_mobile_phone, fields) ==
          std::string(bind_xml_head) + std::string(c.xml) + std::string(bind_xml_tail));
  }
}

TEST_CASE("render escapes a special byte at every offset of a long value", "[render]") {
  // The run-time path skips plain bytes 8 at a time: put each case at every
  // offset of a word, with plain text on both sides.
  for (const auto& c : escape_cases) {
    for (std::size_t before = 0; before < 10; ++before) {
      for (std::size_t after : {std::size_t{0}, std::size_t{7}, std::size_t{17}}) {
        const std::string head(before, 'h'), tail(after, 't');
        const std::string value = head + std::string(c.value) + tail;
        const pv::success_fields fields{value, {}, {}, {}, {}, {}};
        INFO("case " << (&c - escape_cases) << " at " << before);
        CHECK(render_success_text(body_format::json, action::bind_secure_mobile_phone, fields) ==
              R"({"RequestId":")" + head + std::string(c.json) + tail + R"("})");
        CHECK(render_success_text(body_format::xml, action::bind_secure_mobile_phone, fields) ==
              std::string(bind_xml_head) + head + std::string(c.xml) + tail + std::string(bind_xml_tail));
      }
    }
  }
}

#ifdef PHONEVERIFY_HAVE_NLOHMANN_JSON
TEST_CASE("rendered JSON parses with nlohmann_json and gives back every hostile value", "[render]") {
  using json = nlohmann::json;
  for (const auto& c : escape_cases) {
    INFO("case " << (&c - escape_cases));
    const std::string want(c.json_decoded);
    for (action a : pv::all_actions) {
      const std::string body = render_success_text(
          body_format::json, a, {c.value, c.value, c.value, c.value, c.value, c.value});
      const json j = json::parse(body, nullptr, false);
      REQUIRE_FALSE(j.is_discarded());
      CHECK(j.at("RequestId").get<std::string>() == want);
      if (a == action::send_verification_code_for_bind_secure_mobile_phone)
        CHECK(j.at("ExpirationDate").get<std::string>() == want);
      if (a == action::get_migration_verify_code) {
        CHECK(j.at("Code").get<std::string>() == "OK");
        CHECK(j.at("Message").get<std::string>() == want);
        CHECK(j.at("Data").at("PhoneNumber").get<std::string>() == want);
        CHECK(j.at("Data").at("Id").get<std::string>() == want);
        CHECK(j.at("AccessDeniedDetail").get<std::string>() == want);
        CHECK(j.size() == 5);
      }
      for (const auto& row : pv::documented_errors(a)) {
        const std::string error = render_error_text(body_format::json, a, row.code,
                                                    {c.value, c.value, c.value, c.value});
        const json e = json::parse(error, nullptr, false);
        REQUIRE_FALSE(e.is_discarded());
        CHECK(e.size() == 5);
        CHECK(e.at("RequestId").get<std::string>() == want);
        CHECK(e.at("HostId").get<std::string>() == want);
        CHECK(e.at("Recommend").get<std::string>() == want);
        CHECK(e.at("Code").get<std::string>() == pv::code_string(row.code));
        CHECK(e.at("Message").get<std::string>() == row.message);
      }
    }
    const std::string missing = render_error_text(body_format::json, action::get_migration_verify_code,
                                                  errc::missing_parameter, {{}, {}, {}, c.value});
    const json m = json::parse(missing, nullptr, false);
    REQUIRE_FALSE(m.is_discarded());
    CHECK(m.at("Message").get<std::string>() ==
          "The input parameter \"" + want + "\" that is mandatory for processing this request is not supplied.");
  }
}
#endif

TEST_CASE("a buffer of every size below the body fails cleanly and says the size it needs", "[render]") {
  // Hostile values so that escapes straddle every cut.
  const std::string hostile = "\"<&>]]>\x01\t\xC3\xA9\xF0\x9F\x98\x80\xFF\\'";
  for (body_format f : {body_format::json, body_format::xml}) {
    for (int kind = 0; kind < 3; ++kind) {
      auto render = [&](std::span<char> out) {
        if (kind == 0)
          return pv::render_error(out, f, action::bind_secure_mobile_phone, errc::missing_parameter,
                                  {hostile, hostile, hostile, hostile});
        if (kind == 1)
          return pv::render_success(out, f, action::get_migration_verify_code,
                                    {hostile, hostile, hostile, hostile, hostile, hostile});
        return pv::render_success(out, f, action::send_verification_code_for_bind_secure_mobile_phone,
                                  {hostile, "2021-12-17T07:38:41.747Z", {}, {}, {}, {}});
      };
      std::vector<char> big(4096);
      const auto full = render(big);
      REQUIRE(full.ok());
      const std::string body(big.data(), full.size);
      for (std::size_t n = 0; n <= full.required; ++n) {
        // Exactly n bytes on the heap, so ASan sees any write past them.
        std::vector<char> buffer(n, 'x');
        const auto r = render(std::span<char>(buffer.data(), phoneverify::test::opaque(n)));
        CHECK(r.required == full.required);
        if (n < full.required) {
          REQUIRE(r.status == pv::render_status::buffer_too_small);
          CHECK(r.size == 0);
          CHECK_FALSE(r.ok());
          // No part of the body is left behind.
          CHECK(std::all_of(buffer.begin(), buffer.end(), [](char c) { return c == '\0'; }));
        } else {
          REQUIRE(r.ok());
          CHECK(std::string(buffer.data(), r.size) == body);
        }
      }
    }
  }
}

TEST_CASE("an empty buffer measures the body without writing", "[render]") {
  const auto r = pv::render_success({}, body_format::json, action::bind_secure_mobile_phone, seed001_fields);
  CHECK(r.status == pv::render_status::buffer_too_small);
  CHECK(r.required == minify_json(seed001_json).size());
  STATIC_REQUIRE(pv::render_success({}, body_format::json, action::bind_secure_mobile_phone, seed001_fields).required ==
                 52);
}

TEST_CASE("render refuses errc ok and values that are no enumerator", "[render]") {
  std::array<char, 512> buffer{};
  const auto bad = pv::render_result{0, 0, pv::render_status::invalid_argument};
  using phoneverify::test::opaque;
  CHECK(pv::render_error(buffer, body_format::json, action::bind_secure_mobile_phone, opaque(errc::ok), {}) == bad);
  CHECK(pv::render_error(buffer, body_format::json, errc::ok, {}) == bad);
  CHECK(pv::render_error(buffer, body_format::xml, action::bind_secure_mobile_phone,
                         static_cast<errc>(opaque<std::uint8_t>(200)), {}) == bad);
  CHECK(pv::render_error(buffer, body_format::xml, static_cast<action>(opaque<std::uint8_t>(7)),
                         errc::invalid_parameter, {}) == bad);
  CHECK(pv::render_error(buffer, static_cast<body_format>(opaque<std::uint8_t>(2)), action::bind_secure_mobile_phone,
                         errc::invalid_parameter, {}) == bad);
  CHECK(pv::render_success(buffer, body_format::json, static_cast<action>(opaque<std::uint8_t>(7)), {}) == bad);
  CHECK(pv::render_success(buffer, static_cast<body_format>(opaque<std::uint8_t>(2)), action::bind_secure_mobile_phone,
                           {}) == bad);
  STATIC_REQUIRE(pv::render_success({}, body_format::json, static_cast<action>(9), {}).status ==
                 pv::render_status::invalid_argument);
}

TEST_CASE("max_body_size bounds every body of every action, code and format", "[render]") {
  // The worst escapes (6 bytes per input byte) in every field.
  const std::string worst(40, '"');
  const std::string worst_xml(40, '\'');
  std::vector<char> buffer(1 << 16);
  for (body_format f : {body_format::json, body_format::xml}) {
    const std::string& v = f == body_format::json ? worst : worst_xml;
    for (action a : pv::all_actions) {
      const auto s = pv::render_success(buffer, f, a, {v, v, v, v, v, v});
      REQUIRE(s.ok());
      CHECK(s.required <= pv::max_body_size(6 * v.size()));
      CHECK(pv::render_success(buffer, f, a, {}).required <= pv::max_body_size(0));
      for (std::size_t e = 1; e < pv::errc_count; ++e) {
        const auto r = pv::render_error(buffer, f, a, static_cast<errc>(e), {v, v, v, v});
        REQUIRE(r.ok());
        CHECK(r.required <= pv::max_body_size(4 * v.size()));
        CHECK(pv::render_error(buffer, f, a, static_cast<errc>(e), {}).required <= pv::max_body_size(0));
      }
    }
  }
  STATIC_REQUIRE(pv::max_body_size(0) == 1024);
  STATIC_REQUIRE(pv::max_body_size(~std::size_t{0}) == ~std::size_t{0});  // saturates
  CHECK(pv::max_body_size(phoneverify::test::opaque(~std::size_t{0} / 6)) == ~std::size_t{0});
}

TEST_CASE("content_type and describe name the formats and statuses", "[render]") {
  STATIC_REQUIRE(pv::content_type(body_format::json) == "application/json");
  STATIC_REQUIRE(pv::content_type(body_format::xml) == "application/xml");
  CHECK(pv::content_type(static_cast<body_format>(phoneverify::test::opaque<std::uint8_t>(5))).empty());
  for (auto s : {pv::render_status::ok, pv::render_status::buffer_too_small, pv::render_status::invalid_argument})
    CHECK_FALSE(pv::describe(phoneverify::test::opaque(s)).empty());
  CHECK(pv::describe(static_cast<pv::render_status>(phoneverify::test::opaque<std::uint8_t>(9))).empty());
}

// The value types: trivially copyable and small.
static_assert(std::is_trivially_copyable_v<pv::render_result>);
static_assert(sizeof(pv::render_result) <= 3 * sizeof(std::size_t));
static_assert(std::is_trivially_copyable_v<pv::error_fields>);
static_assert(sizeof(pv::error_fields) == 4 * sizeof(std::string_view));
static_assert(std::is_trivially_copyable_v<pv::success_fields>);
static_assert(sizeof(pv::success_fields) == 6 * sizeof(std::string_view));
static_assert(pv::render_result{}.ok());
