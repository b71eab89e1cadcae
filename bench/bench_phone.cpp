// Benchmark of the hot path of every request: parse + validate a
// phone number and check the site's country codes, per form, against
// libphonenumber (Parse + IsPossibleNumber, when found), a std::regex
// implementation as many services write it, and a plain hand-written
// dashed parser (the baseline).
//
// The headline (BM_traffic_*): the traffic corpus, as hard as real
// traffic. 10,000 numbers from a fixed seed, built from libphonenumber's
// example numbers (mobile and fixed line) of every supported region when
// libphonenumber is found, each written as country code + national
// significant number, then: 70% with their last 3 digits redrawn, 10% with a
// digit dropped, 10% with one inserted, 10% behind an unassigned 3-digit code;
// mean about 12 characters, dashed form (44-7911123456). Without
// libphonenumber the base numbers are drawn from the library's own
// country_code_table (random code, random possible length) with the same
// shares, and every BM_traffic_* row says so: counter from_libphonenumber=0
// and the label "corpus: country_code_table".
//   BM_traffic_phoneverify/dashed  parse_phone + site_accepts.
//   BM_traffic_baseline/dashed     a plain dashed parser: a 1-3 digit code
//       without leading zero, '-', 1..14 national digits, at most 15 digits in
//       all, then a 1000-bit bitset of the codes the site accepts (built from
//       the same site policy). It does less work than phoneverify: it checks
//       neither the code's possible national lengths nor its trunk prefix, so
//       its accept_rate is higher (it takes the numbers with a dropped or an
//       inserted digit whose length the plan does not allow); it gives no
//       reason and no position, and builds no phone_number.
//       Its accept_rate is therefore about 0.89 against phoneverify's 0.76
//       on the libphonenumber corpus: the 13 points are the numbers
//       phoneverify refuses for their length or trunk prefix.
//   BM_traffic_read_bytes/dashed   reads every byte of the corpus, number by
//       number, and sums them: the memory floor of any parser.
//   BM_traffic_phoneverify_over_baseline/dashed  both passes back to back in
//       every iteration, each timed on its own (steady_clock): counters
//       phoneverify_ns, baseline_ns per number and ratio (phoneverify over
//       baseline). On a shared machine separate rows drift by 20% from one
//       repetition to the next; this ratio moves by a few points.
//
// The project's own corpus (BM_parse_phone_*): 10,000 numbers from a fixed
// seed: valid numbers of random assigned
// codes and possible lengths (60%), one-character mutations of them (digit
// dropped, added, changed, or a mask, space, letter or full-width digit put
// in: 30%) and numbers with unassigned codes (10%).
//
// Every corpus is read through a pointer the optimizer cannot see through.
// Every implementation reports accept_rate (share of numbers that pass
// parse, validation and the site check) so the work compared is visible;
// per_number is the time per number ("12.3n": 12.3 ns).
//
// Run: cmake -DCMAKE_BUILD_TYPE=Release -DPHONEVERIFY_BUILD_BENCHMARKS=ON ...;
//      ./bench/bench_phone --benchmark_min_time=1
//   phoneverify beside the baseline, interleaved:
//      ./bench/bench_phone --benchmark_filter=BM_traffic --benchmark_repetitions=5
//        --benchmark_enable_random_interleaving=true   (one command line)
#include <benchmark/benchmark.h>
#include <phoneverify/phone.hpp>
#include <phoneverify/site.hpp>

#include <cstddef>
#include <cstdint>
#include <bitset>
#include <chrono>
#include <regex>
#include <set>
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

// ---- The traffic corpus and the hand-written baseline ----

// A base number: country code and national significant number, both digits.
struct base_number {
  std::string cc;
  std::string national;
};

// Whether the base numbers come from libphonenumber's example numbers.
#ifdef PHONEVERIFY_HAVE_LIBPHONENUMBER
constexpr bool traffic_from_libphonenumber = true;

// The example mobile and fixed-line numbers of every region libphonenumber
// supports, regions in their sorted order (a fixed list for a fixed release).
std::vector<base_number> traffic_bases() {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  std::set<std::string> regions;
  util.GetSupportedRegions(&regions);
  std::vector<base_number> out;
  for (const std::string& region : regions)
    for (const auto type : {PhoneNumberUtil::MOBILE, PhoneNumberUtil::FIXED_LINE}) {
      PhoneNumber number;
      if (!util.GetExampleNumberForType(region, type, &number)) continue;
      std::string national;
      util.GetNationalSignificantNumber(number, &national);
      if (national.empty()) continue;
      out.push_back({std::to_string(number.country_code()), national});
    }
  return out;
}
#else
constexpr bool traffic_from_libphonenumber = false;

// Without libphonenumber: one number per assigned code and possible length
// of the library's own table, random digits with a non-zero first.
std::vector<base_number> traffic_bases() {
  splitmix64 rng{20261201};
  std::vector<base_number> out;
  for (const auto& entry : pv::country_code_table) {
    const std::string cc = std::to_string(entry.code);
    for (std::size_t n = 1; n <= pv::max_national_length; ++n) {
      if (!pv::is_possible_length(entry.code, n) || n + cc.size() > 15) continue;
      std::string national(n, '0');
      national[0] = static_cast<char>('1' + rng() % 9);
      for (std::size_t i = 1; i < n; ++i) national[i] = static_cast<char>('0' + rng() % 10);
      out.push_back({cc, national});
    }
  }
  return out;
}
#endif

// The traffic corpus in the dashed form: each number a base number drawn at
// random, mutated with the shares above (70/10/10/10).
std::vector<std::string> traffic_corpus() {
  const std::vector<base_number> bases = traffic_bases();
  std::vector<std::string> unassigned;  // the unassigned 3-digit codes
  for (std::uint16_t cc = 100; cc <= 999; ++cc)
    if (!pv::is_assigned_country_code(cc)) unassigned.push_back(std::to_string(cc));
  splitmix64 rng{20261119};
  const auto digit = [&rng] { return static_cast<char>('0' + rng() % 10); };
  std::vector<std::string> out;
  out.reserve(corpus_size);
  while (out.size() < corpus_size) {
    base_number p = bases[rng() % bases.size()];
    const std::uint64_t kind = rng() % 10;
    if (kind < 7) {  // the last 3 digits redrawn
      for (std::size_t i = p.national.size() >= 3 ? p.national.size() - 3 : 0; i < p.national.size(); ++i)
        p.national[i] = digit();
    } else if (kind == 7) {  // a digit dropped
      if (p.national.size() < 2) continue;
      p.national.erase(rng() % p.national.size(), 1);
    } else if (kind == 8) {  // a digit inserted
      const std::size_t at = rng() % (p.national.size() + 1);  // drawn before the digit: the order of
      p.national.insert(at, 1, digit());                        // arguments differs between compilers
    } else {  // behind an unassigned 3-digit code
      p.cc = unassigned[rng() % unassigned.size()];
    }
    out.push_back(p.cc + "-" + p.national);
  }
  return out;
}

struct traffic_view {
  std::vector<std::string> storage = traffic_corpus();
  std::vector<std::string_view> views;
  traffic_view() {
    for (const auto& s : storage) views.emplace_back(s);
  }
  const std::string_view* data() const {
    const std::string_view* p = views.data();
    benchmark::DoNotOptimize(p);
    return p;
  }
};

void report_traffic(benchmark::State& state, const traffic_view& corpus, std::size_t accepted, std::size_t total) {
  report(state, accepted, total);
  std::size_t bytes = 0;
  for (const auto& s : corpus.storage) bytes += s.size();
  state.counters["mean_chars"] = static_cast<double>(bytes) / static_cast<double>(corpus.storage.size());
  state.counters["from_libphonenumber"] = traffic_from_libphonenumber ? 1.0 : 0.0;
  state.SetLabel(traffic_from_libphonenumber ? "corpus: libphonenumber examples" : "corpus: country_code_table");
}

// One pass of phoneverify over the corpus: how many numbers it accepts.
__attribute__((noinline)) std::size_t phoneverify_pass(const traffic_view& corpus) {
  const std::string_view* texts = corpus.data();
  std::size_t ok = 0;
  for (std::size_t i = 0; i < corpus_size; ++i) {
    const auto number = pv::parse_phone(texts[i], pv::phone_format::dashed);
    ok += number && pv::site_accepts(checked_site, checked_action, *number);
  }
  return ok;
}

void BM_traffic_phoneverify(benchmark::State& state) {
  const traffic_view corpus;
  std::size_t accepted = 0, total = 0;
  for (auto _ : state) {
    std::size_t ok = phoneverify_pass(corpus);
    benchmark::DoNotOptimize(ok);
    accepted += ok;
    total += corpus_size;
  }
  report_traffic(state, corpus, accepted, total);
}
BENCHMARK(BM_traffic_phoneverify)->Name("BM_traffic_phoneverify/dashed");

// The hand-written baseline: syntax and the site's code set only (no
// possible lengths, no trunk prefix, no reason), as a service writes it by hand.
bool baseline_dashed_accepts(std::string_view text, const std::bitset<1000>& accepted_codes) {
  const std::size_t n = text.size();
  if (n < 3 || n > 16) return false;  // at least "1-2"; at most 15 digits and the '-'
  if (text[0] < '1' || text[0] > '9') return false;
  unsigned cc = static_cast<unsigned>(text[0] - '0');
  std::size_t i = 1;
  for (; i < 3 && text[i] >= '0' && text[i] <= '9'; ++i) cc = cc * 10 + static_cast<unsigned>(text[i] - '0');
  if (text[i] != '-' || i + 1 == n) return false;
  if (n - i - 1 > 14) return false;
  for (std::size_t j = i + 1; j < n; ++j)
    if (text[j] < '0' || text[j] > '9') return false;
  return accepted_codes[cc];
}

// The codes the site accepts for the checked action, from the same site policy.
std::bitset<1000> baseline_codes() {
  std::bitset<1000> accepted_codes;
  for (std::uint16_t cc = 1; cc < 1000; ++cc) accepted_codes[cc] = pv::site_accepts(checked_site, checked_action, cc);
  return accepted_codes;
}

__attribute__((noinline)) std::size_t baseline_pass(const traffic_view& corpus, const std::bitset<1000>& codes) {
  const std::string_view* texts = corpus.data();
  std::size_t ok = 0;
  for (std::size_t i = 0; i < corpus_size; ++i) ok += baseline_dashed_accepts(texts[i], codes);
  return ok;
}

void BM_traffic_baseline(benchmark::State& state) {
  const traffic_view corpus;
  const std::bitset<1000> codes = baseline_codes();
  std::size_t accepted = 0, total = 0;
  for (auto _ : state) {
    std::size_t ok = baseline_pass(corpus, codes);
    benchmark::DoNotOptimize(ok);
    accepted += ok;
    total += corpus_size;
  }
  report_traffic(state, corpus, accepted, total);
}
BENCHMARK(BM_traffic_baseline)->Name("BM_traffic_baseline/dashed");

// phoneverify and the baseline back to back in every iteration, each pass
// timed on its own: on a shared machine both see the same load, so the
// ratio (phoneverify's time over the baseline's) is steadier than two rows.
void BM_traffic_phoneverify_over_baseline(benchmark::State& state) {
  const traffic_view corpus;
  const std::bitset<1000> codes = baseline_codes();
  std::chrono::steady_clock::duration ours{}, theirs{};
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t a = phoneverify_pass(corpus);
    benchmark::DoNotOptimize(a);
    const auto t1 = std::chrono::steady_clock::now();
    std::size_t b = baseline_pass(corpus, codes);
    benchmark::DoNotOptimize(b);
    const auto t2 = std::chrono::steady_clock::now();
    ours += t1 - t0;
    theirs += t2 - t1;
  }
  state.counters["ratio"] = std::chrono::duration<double>(ours) / std::chrono::duration<double>(theirs);
  const double numbers = static_cast<double>(state.iterations()) * static_cast<double>(corpus_size);
  state.counters["phoneverify_ns"] = std::chrono::duration<double, std::nano>(ours).count() / numbers;
  state.counters["baseline_ns"] = std::chrono::duration<double, std::nano>(theirs).count() / numbers;
}
BENCHMARK(BM_traffic_phoneverify_over_baseline)->Name("BM_traffic_phoneverify_over_baseline/dashed");

// The memory floor: every byte of every number read and summed.
void BM_traffic_read_bytes(benchmark::State& state) {
  const traffic_view corpus;
  std::size_t total = 0;
  for (auto _ : state) {
    const std::string_view* texts = corpus.data();
    unsigned sum = 0;
    for (std::size_t i = 0; i < corpus_size; ++i)
      for (char c : texts[i]) sum += static_cast<unsigned char>(c);
    benchmark::DoNotOptimize(sum);
    total += corpus_size;
  }
  report_traffic(state, corpus, 0, total);
}
BENCHMARK(BM_traffic_read_bytes)->Name("BM_traffic_read_bytes/dashed");

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
