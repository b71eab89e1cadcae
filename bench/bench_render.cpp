// Rendering response bodies (render.hpp): an error and a success body, JSON and
// XML, into a reused caller buffer. Goal: at most 150 ns per response.
// Field values are read through an opaque pointer so the compiler cannot fold
// the render; the bytes counter shows equal work across formats.
#include <benchmark/benchmark.h>
#include <phoneverify/params.hpp>
#include <phoneverify/render.hpp>

#include <array>
#include <string_view>

namespace pv = phoneverify;

namespace {

// Realistic values: a UUID RequestId, a host, a recommend URL, a timestamp.
const pv::error_fields* volatile error_input = nullptr;
const pv::success_fields* volatile success_input = nullptr;
const pv::error_fields error_values{"0217AFEB-5318-56D4-B167-1933D83EDF3F", "resourcemanager.aliyuncs.com",
                                    "https://api.aliyun.com/troubleshoot?q=Invalid.VerificationCode", ""};
const pv::success_fields success_values{"DCD43660-75DD-5D15-B342-1B83FCA5B913", "2021-12-17T07:38:41.747Z", "", "", "",
                                        ""};
const pv::success_fields cams_values{"90E63D28-E31D-1EB2-8939-A94866411B2O", "", "None", "861380000****",
                                     "8282889****", "None"};
const pv::error_fields hostile_values{"\"<&>]]>\x01\xC3\xA9\xF0\x9F\x98\x80\xFF", "host\t\n", "it's", "Param\"Name"};

void BM_render_error(benchmark::State& state, pv::body_format f, const pv::error_fields& values, pv::errc e) {
  error_input = &values;
  std::array<char, 1024> buffer{};
  std::size_t bytes = 0;
  for (auto _ : state) {
    const auto r = pv::render_error(buffer, f, pv::action::bind_secure_mobile_phone, e, *error_input);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(buffer.data());
    bytes += r.size;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void BM_render_success(benchmark::State& state, pv::body_format f, pv::action a, const pv::success_fields& values) {
  success_input = &values;
  std::array<char, 1024> buffer{};
  std::size_t bytes = 0;
  for (auto _ : state) {
    const auto r = pv::render_success(buffer, f, a, *success_input);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(buffer.data());
    bytes += r.size;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void BM_render_measure_only(benchmark::State& state) {
  success_input = &success_values;
  for (auto _ : state) {
    const auto r = pv::render_success({}, pv::body_format::json,
                                      pv::action::send_verification_code_for_bind_secure_mobile_phone, *success_input);
    benchmark::DoNotOptimize(r);
  }
}

// The parameter checks the actions layer runs per request.
const std::string_view* volatile param_input = nullptr;
void BM_check_params(benchmark::State& state) {
  static const std::string_view texts[] = {"1386606283481234", "c-qL4HqKONzOM7abcd", "zh_CN", "voice",
                                           "NewManagementAccount", "admin.ops-01@rdadmin.aliyunid.com", "123456"};
  param_input = texts;
  std::int64_t accepted = 0;
  for (auto _ : state) {
    const std::string_view* t = param_input;
    accepted += pv::check_account_id(t[0]).ok() + pv::check_contact_id(t[1]).ok() + pv::check_locale(t[2]).ok() +
                pv::parse_method(t[3]).ok() + pv::parse_enable_mode(t[4]).ok() + pv::check_ma_name(t[5]).ok() +
                pv::check_verification_code(t[6], 6).ok();
  }
  state.counters["accept_rate"] =
      benchmark::Counter(static_cast<double>(accepted) / 7.0 / static_cast<double>(state.iterations()));
}

}  // namespace

BENCHMARK_CAPTURE(BM_render_error, json, pv::body_format::json, error_values, pv::errc::invalid_verification_code);
BENCHMARK_CAPTURE(BM_render_error, xml, pv::body_format::xml, error_values, pv::errc::invalid_verification_code);
BENCHMARK_CAPTURE(BM_render_error, json_missing_parameter, pv::body_format::json, error_values,
                  pv::errc::missing_parameter);
BENCHMARK_CAPTURE(BM_render_error, json_hostile, pv::body_format::json, hostile_values, pv::errc::invalid_parameter);
BENCHMARK_CAPTURE(BM_render_error, xml_hostile, pv::body_format::xml, hostile_values, pv::errc::invalid_parameter);
BENCHMARK_CAPTURE(BM_render_success, json_send_bind, pv::body_format::json,
                  pv::action::send_verification_code_for_bind_secure_mobile_phone, success_values);
BENCHMARK_CAPTURE(BM_render_success, xml_send_bind, pv::body_format::xml,
                  pv::action::send_verification_code_for_bind_secure_mobile_phone, success_values);
BENCHMARK_CAPTURE(BM_render_success, json_cams, pv::body_format::json, pv::action::get_migration_verify_code,
                  cams_values);
BENCHMARK_CAPTURE(BM_render_success, xml_cams, pv::body_format::xml, pv::action::get_migration_verify_code,
                  cams_values);
BENCHMARK(BM_render_measure_only);
BENCHMARK(BM_check_params);

BENCHMARK_MAIN();
