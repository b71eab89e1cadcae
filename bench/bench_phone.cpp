// Benchmark of the hot path of every request: parse + validate a
// phone number and check the site's country codes, per form, against
// libphonenumber (Parse + IsPossibleNumber, when found) and a std::regex
// implementation as many services write it.
//
// Corpus: 10,000 numbers from a fixed seed: valid numbers of random assigned
// codes and possible lengths (60%), one-character mutations of them (digit
// dropped, added, changed, or a mask, space, letter or full-width digit put
// in: 30%) and numbers with unassigned codes (10%). It is read through a
// pointer the optimizer cannot see through. Every implementation reports
// accept_rate (share of numbers that pass parse, validation and the site
// check) so the work compared is equal; per_number is the time per number
// ("12.3n": 12.3 ns).
//
// Run: cmake -DCMAKE_BUILD_TYPE=Release -DPHONEVERIFY_BUILD_BENCHMARKS=ON ...;
//      ./bench/bench_phone --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <phoneverify/phone.hpp>
#include <phoneverify/site.hpp>

#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#ifdef PHONEVERIFY_HAVE_LIBPHONENUMBER
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>
#endif

namespace pv = phoneverify;

#include "../tests/support.hpp"

namespace {

// splitmix64 (tests/support.hpp): fixed seed, so every run measures the same corpus.
using phoneverify::test::splitmix64;

constexpr std::size_t corpus_size = 10000;

struct number_parts {
  std::string cc;
  std::string national;
};

std::vector<number_parts> make_parts() {
  splitmix64 rng{20240603};
  std::vector<number_parts> out;
  out.reserve(corpus_size);
  while (out.size() < corpus_size) {
    const auto& entry = pv::country_code_table[rng() % pv::assigned_country_code_count];
    std::size_t length = 0;
    for (int tries = 0; tries < 100 && length == 0; ++tries) {
      const std::size_t n = 1 + rng() % 14;
      if (pv::is_possible_length(entry.code, n) && n + std::to_string(entry.code).size() <= 15) length = n;
    }
    if (length == 0) continue;
    number_parts p{std::to_string(entry.code), std::string(length, '0')};
    p.national[0] = static_cast<char>('1' + rng() % 9);
    for (std::size_t i = 1; i < length; ++i) p.national[i] = static_cast<char>('0' + rng() % 10);
    const std::uint64_t kind = rng() % 10;
    if (kind == 9) {
      static const char* const unassigned[] = {"388", "991", "999", "28", "80", "42", "969", "801"};
      p.cc = unassigned[rng() % 8];
    } else if (kind >= 6) {
      const std::size_t at = rng() % p.national.size();
      switch (rng() % 5) {
        case 0: p.national.erase(at, 1); break;
        case 1: p.national.insert(at, 1, static_cast<char>('0' + rng() % 10)); break;
        case 2: p.national[at] = static_cast<char>('0' + (p.national[at] - '0' + 1) % 10); break;
        case 3: p.national[at] = "* x"[rng() % 3]; break;
        default: p.national.replace(at, 1, "\xEF\xBC\x91"); break;  // full-width one
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> corpus_in(pv::phone_format form) {
  std::vector<std::string> out;
  for (const auto& p : make_parts()) {
    if (form == pv::phone_format::dashed) out.push_back(p.cc + "-" + p.national);
    if (form == pv::phone_format::compact) out.push_back(p.cc + p.national);
    if (form == pv::phone_format::e164) out.push_back("+" + p.cc + p.national);
  }
  return out;
}

// The corpus as string_views, behind a pointer the optimizer cannot follow.
struct view_corpus {
  std::vector<std::string> storage;
  std::vector<std::string_view> views;
  explicit view_corpus(pv::phone_format form) : storage(corpus_in(form)) {
    for (const auto& s : storage) views.emplace_back(s);
  }
  const std::string_view* data() const {
    const std::string_view* p = views.data();
    benchmark::DoNotOptimize(p);
    return p;
  }
};

constexpr pv::action checked_action = pv::action::send_verification_code_for_bind_secure_mobile_phone;
constexpr pv::site checked_site = pv::site::international;

void report(benchmark::State& state, std::size_t accepted, std::size_t total) {
  state.SetItemsProcessed(static_cast<std::int64_t>(total));
  state.counters["accept_rate"] = static_cast<double>(accepted) / static_cast<double>(total);
  // Seconds per number, printed with an SI prefix: "12.3n" is 12.3 ns.
  state.counters["per_number"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// phoneverify: parse_phone + site check (the site check decides on the code;
// parse_phone already validated code and length).
template <pv::phone_format Form>
void BM_parse_phone_phoneverify(benchmark::State& state) {
  const view_corpus corpus(Form);
  std::size_t accepted = 0, total = 0;
  for (auto _ : state) {
    const std::string_view* texts = corpus.data();
    std::size_t ok = 0;
    for (std::size_t i = 0; i < corpus_size; ++i) {
      const auto number = pv::parse_phone(texts[i], Form);
      ok += number && pv::site_accepts(checked_site, checked_action, number->country_code());
    }
    benchmark::DoNotOptimize(ok);
    accepted += ok;
    total += corpus_size;
  }
  report(state, accepted, total);
}
BENCHMARK_TEMPLATE(BM_parse_phone_phoneverify, pv::phone_format::dashed)->Name("BM_parse_phone_phoneverify/dashed");
BENCHMARK_TEMPLATE(BM_parse_phone_phoneverify, pv::phone_format::compact)->Name("BM_parse_phone_phoneverify/compact");
BENCHMARK_TEMPLATE(BM_parse_phone_phoneverify, pv::phone_format::e164)->Name("BM_parse_phone_phoneverify/e164");

// std::regex for the syntax, as services often do, then the same table for the
// code and the length (so the accept rate equals phoneverify's).
template <pv::phone_format Form>
void BM_parse_phone_regex(benchmark::State& state) {
  const view_corpus corpus(Form);
  const std::regex pattern(Form == pv::phone_format::dashed    ? "([1-9][0-9]{0,2})-([0-9]{1,14})"
                           : Form == pv::phone_format::compact ? "([1-9][0-9]{1,14})"
                                                               : "\\+([1-9][0-9]{1,14})");
  std::size_t accepted = 0, total = 0;
  for (auto _ : state) {
    const std::string_view* texts = corpus.data();
    std::size_t ok = 0;
    for (std::size_t i = 0; i < corpus_size; ++i) {
      const std::string_view text = texts[i];
      std::match_results<std::string_view::const_iterator> m;
      if (!std::regex_match(text.begin(), text.end(), m, pattern)) continue;
      std::string cc_text, national;
      if (Form == pv::phone_format::dashed) {
        cc_text = m[1].str();
        national = m[2].str();
        if (cc_text.size() + national.size() > 15) continue;
      } else {
        const std::string digits = m[1].str();
        std::size_t n = 1;
        while (n <= 3 && n < digits.size() && !pv::is_assigned_country_code(static_cast<std::uint16_t>(std::stoi(digits.substr(0, n))))) ++n;
        cc_text = digits.substr(0, n);
        national = digits.substr(n);
        if (national.empty()) continue;
      }
      const auto cc = static_cast<std::uint16_t>(std::stoi(cc_text));
      if (!pv::is_assigned_country_code(cc) || !pv::is_possible_length(cc, national.size())) continue;
      ok += pv::site_accepts(checked_site, checked_action, cc);
    }
    benchmark::DoNotOptimize(ok);
    accepted += ok;
    total += corpus_size;
  }
  report(state, accepted, total);
}
BENCHMARK_TEMPLATE(BM_parse_phone_regex, pv::phone_format::dashed)->Name("BM_parse_phone_regex/dashed");
BENCHMARK_TEMPLATE(BM_parse_phone_regex, pv::phone_format::compact)->Name("BM_parse_phone_regex/compact");
BENCHMARK_TEMPLATE(BM_parse_phone_regex, pv::phone_format::e164)->Name("BM_parse_phone_regex/e164");

#ifdef PHONEVERIFY_HAVE_LIBPHONENUMBER
// libphonenumber: Parse (region "ZZ": the number carries its code) +
// IsPossibleNumber + the same site check. It reads the e164 form, the only
// one it parses without a region. Its accept rate differs a little: it also
// takes local-only lengths and longer numbers, and tolerates punctuation.
void BM_parse_phone_libphonenumber_e164(benchmark::State& state) {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  const view_corpus corpus(pv::phone_format::e164);
  std::size_t accepted = 0, total = 0;
  for (auto _ : state) {
    const std::string_view* texts = corpus.data();
    std::size_t ok = 0;
    for (std::size_t i = 0; i < corpus_size; ++i) {
      PhoneNumber number;
      if (util.Parse(std::string(texts[i]), "ZZ", &number) != PhoneNumberUtil::NO_PARSING_ERROR) continue;
      if (!util.IsPossibleNumber(number)) continue;
      ok += pv::site_accepts(checked_site, checked_action, static_cast<std::uint16_t>(number.country_code()));
    }
    benchmark::DoNotOptimize(ok);
    accepted += ok;
    total += corpus_size;
  }
  report(state, accepted, total);
}
BENCHMARK(BM_parse_phone_libphonenumber_e164);
#endif

}  // namespace

BENCHMARK_MAIN();
