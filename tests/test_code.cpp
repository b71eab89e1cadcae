// code.hpp: verification codes (RULES.md §5 and the attempt limits of §4):
// uniform drawing, keyed storage, every check_status at its boundary, the
// resend interval, the lockout, the byte layout of a challenge.
#include <catch2/catch.hpp>
#include <phoneverify/code.hpp>
#include <phoneverify/time.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <random>
#include <string_view>
#include <type_traits>
#include <vector>

#include "support.hpp"

namespace pv = phoneverify;
using pv::check_status;
using pv::errc;
using namespace std::chrono_literals;

namespace {

constexpr pv::secret_key make_key(std::uint8_t seed) {
  pv::secret_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::byte>(seed + 31 * i);
  return key;
}
constexpr pv::secret_key key_a = make_key(7);
constexpr pv::secret_key key_b = make_key(8);

constexpr pv::phone_number phone(std::string_view dashed) {
  return pv::parse_phone(dashed, pv::phone_format::dashed).value();
}
constexpr pv::action send_bind = pv::action::send_verification_code_for_bind_secure_mobile_phone;
constexpr pv::code_binding binding_a{send_bind, "1234567890123456", phone("86-13900001234")};
constexpr pv::code_binding other_phone{send_bind, "1234567890123456", phone("86-13900005678")};
constexpr pv::code_binding other_account{send_bind, "1234567890123457", phone("86-13900001234")};
constexpr pv::code_binding other_purpose{pv::action::send_verification_code_for_enable_rd, "1234567890123456",
                                         phone("86-13900001234")};
constexpr pv::code_binding cams{pv::action::get_migration_verify_code, "9876543210", phone("44-7911123456")};

// 2021-12-17T07:33:41.747Z: five minutes before action 1's documented ExpirationDate.
constexpr pv::timestamp t0{std::chrono::milliseconds{1639726421747}};
constexpr pv::timestamp at(std::int64_t ms_after_t0) { return t0 + std::chrono::milliseconds{ms_after_t0}; }

// A code that differs from `code` in its last digit only.
template <std::size_t N>
constexpr pv::inline_string<N> neighbour(const pv::inline_string<N>& code) {
  pv::inline_string<N> out;
  for (std::size_t i = 0; i + 1 < code.size(); ++i) out.push_back(code[i]);
  out.push_back(static_cast<char>('0' + (code[code.size() - 1] - '0' + 1) % 10));
  return out;
}

// --- Scenario tables: each step issues or checks at a time and states the
// expected outcome; run at compile time (STATIC_REQUIRE) and at run time.
enum class op : std::uint8_t { issue, right, wrong, old, malformed, phone2, account2, purpose2 };
struct step {
  op what;
  std::int64_t ms;       // time after t0
  check_status status;   // expected for a check
  errc issue = errc::ok; // expected for an issue
};
constexpr std::size_t max_steps = 16;
struct scenario {
  std::string_view rule;
  pv::code_policy policy;
  std::array<step, max_steps> steps;
  std::size_t count;
  // Expected counters after the last step.
  std::uint8_t attempts;
  std::uint16_t failures;
};

// The index of the first step whose outcome differs, or -1 when all match.
constexpr int run(const scenario& s, std::uint64_t seed = 42) {
  pv::test::splitmix64 rng{seed};
  pv::challenge state{};
  pv::inline_string<10> code, previous;
  for (std::size_t i = 0; i < s.count; ++i) {
    const step& st = s.steps[i];
    const pv::timestamp now = at(st.ms);
    if (st.what == op::issue) {
      const auto issued = pv::issue_code(s.policy, key_a, binding_a, state, now, rng);
      if (issued.error() != st.issue) return static_cast<int>(i);
      if (issued) {
        previous = code;
        code = issued->code;
      }
      continue;
    }
    pv::code_binding b = binding_a;
    pv::inline_string<12> submitted;
    switch (st.what) {
      case op::right: submitted.append(code); break;
      case op::wrong: submitted.append(neighbour(code)); break;
      case op::old: submitted.append(previous); break;
      case op::malformed: submitted.append(code.view().substr(1)); submitted.push_back('x'); break;
      case op::phone2: b = other_phone; submitted.append(code); break;
      case op::account2: b = other_account; submitted.append(code); break;
      case op::purpose2: b = other_purpose; submitted.append(code); break;
      case op::issue: break;
    }
    if (pv::check_code(s.policy, key_a, b, state, submitted, now) != st.status) return static_cast<int>(i);
  }
  if (state.attempts() != s.attempts || state.consecutive_failures() != s.failures) return static_cast<int>(s.count);
  return -1;
}

constexpr pv::code_policy defaults{};
constexpr pv::code_policy three_to_lock{.max_consecutive_failures = 3};
constexpr errc limit = errc::send_validate_code_exceeds_limit_for_account;

constexpr scenario scenarios[] = {
    {"a code is accepted once and then is used",
     defaults, {{{op::issue, 0, {}}, {op::right, 1000, check_status::ok}, {op::right, 2000, check_status::used}}}, 3, 0, 0},
    {"a code is valid while now < expires_at: ok one millisecond before",
     defaults, {{{op::issue, 0, {}}, {op::right, 300'000 - 1, check_status::ok}}}, 2, 0, 0},
    {"a code is expired exactly at expires_at and stays expired",
     defaults,
     {{{op::issue, 0, {}}, {op::right, 300'000, check_status::expired}, {op::right, 299'000, check_status::expired}}},
     3, 0, 0},
    {"the 5th wrong attempt returns wrong_code and the 6th returns exhausted",
     defaults,
     {{{op::issue, 0, {}},
       {op::wrong, 1, check_status::wrong_code},
       {op::wrong, 2, check_status::wrong_code},
       {op::wrong, 3, check_status::wrong_code},
       {op::wrong, 4, check_status::wrong_code},
       {op::wrong, 5, check_status::wrong_code},
       {op::right, 6, check_status::exhausted},
       {op::wrong, 7, check_status::exhausted}}},
     8, 5, 5},
    {"the 4th wrong attempt leaves the code usable",
     defaults,
     {{{op::issue, 0, {}},
       {op::wrong, 1, check_status::wrong_code},
       {op::malformed, 2, check_status::malformed},
       {op::phone2, 3, check_status::other_binding},
       {op::account2, 4, check_status::other_binding},
       {op::right, 5, check_status::ok}}},
     6, 4, 0},
    {"a code for one phone, account or purpose is other_binding for another",
     defaults,
     {{{op::issue, 0, {}},
       {op::phone2, 1, check_status::other_binding},
       {op::account2, 2, check_status::other_binding},
       {op::purpose2, 3, check_status::other_binding}}},
     4, 3, 3},
    {"an old code after a resend is wrong_code and the new one is ok",
     defaults,
     {{{op::issue, 0, {}}, {op::issue, 60'000, {}}, {op::old, 60'001, check_status::wrong_code},
       {op::right, 60'002, check_status::ok}}},
     4, 1, 0},
    {"a resend just inside the interval is refused and just outside succeeds",
     defaults,
     {{{op::issue, 0, {}},
       {op::issue, 59'999, {}, limit},
       {op::right, 59'999, check_status::ok},  // the refused issue left the first code live
       {op::issue, 60'000, {}}}},
     4, 0, 0},
    {"checks with no live code use nothing",
     defaults,
     {{{op::right, 0, check_status::no_code},
       {op::issue, 1, {}},
       {op::right, 2, check_status::ok},
       {op::wrong, 3, check_status::used},
       {op::issue, 60'001, {}},
       {op::wrong, 60'001 + 300'000, check_status::expired}}},
     6, 0, 0},
    {"the check reaching max_consecutive_failures returns its own status, the next returns locked",
     three_to_lock,
     {{{op::issue, 0, {}},
       {op::wrong, 1, check_status::wrong_code},
       {op::issue, 60'000, {}},  // a new code keeps the count
       {op::wrong, 60'001, check_status::wrong_code},
       {op::malformed, 60'002, check_status::malformed},  // the 3rd failure
       {op::right, 60'003, check_status::locked},
       {op::issue, 60'002 + 86'400'000 - 1, {}, limit},  // no code while locked
       {op::right, 60'002 + 86'400'000 - 1, check_status::locked},
       {op::issue, 60'002 + 86'400'000, {}},  // the lock ends `lockout` after the last failure
       {op::right, 60'003 + 86'400'000, check_status::ok}}},
     10, 0, 0},
    {"success resets the consecutive failures",
     three_to_lock,
     {{{op::issue, 0, {}},
       {op::wrong, 1, check_status::wrong_code},
       {op::wrong, 2, check_status::wrong_code},
       {op::right, 3, check_status::ok},
       {op::issue, 60'000, {}},
       {op::wrong, 60'001, check_status::wrong_code},
       {op::wrong, 60'002, check_status::wrong_code}}},
     7, 2, 2},
};
constexpr std::size_t scenario_count = sizeof(scenarios) / sizeof(scenarios[0]);

// A generator with a 3-bit range that does not start at 0 (values 5..12).
struct octal_dice {
  using result_type = std::uint8_t;
  pv::test::splitmix64 inner;
  static constexpr result_type min() { return 5; }
  static constexpr result_type max() { return 12; }
  constexpr result_type operator()() { return static_cast<result_type>(5 + inner() % 8); }
};
// Values 1..6: not a power of two, so draws are rejected too.
struct dice {
  using result_type = std::uint32_t;
  pv::test::splitmix64 inner;
  static constexpr result_type min() { return 1; }
  static constexpr result_type max() { return 6; }
  constexpr result_type operator()() {
    for (;;) {  // a uniform 1..6 from 3 bits
      const auto v = static_cast<result_type>(inner() & 7U);
      if (v < 6) return v + 1;
    }
  }
};
// The whole 64-bit range except 0..2.
struct high_range {
  using result_type = std::uint64_t;
  pv::test::splitmix64 inner;
  static constexpr result_type min() { return 3; }
  static constexpr result_type max() { return ~result_type{0}; }
  constexpr result_type operator()() {
    for (;;) {
      const auto v = inner();
      if (v >= 3) return v;
    }
  }
};
// A broken generator: always the same value.
struct stuck {
  using result_type = std::uint32_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return 999; }
  constexpr result_type operator()() { return 999; }
};

// Pearson's chi-square statistic of observed counts against a uniform expectation.
double chi_square(const std::vector<std::uint64_t>& counts, double expected) {
  double sum = 0;
  for (auto c : counts) sum += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  return sum;
}
// Upper critical values at p = 1e-6 (fixed thresholds; a correct drawing fails
// them about once in a million runs, a modulo bias fails them always).
constexpr double chi2_crit_df9 = 44.81;    // chi-square, 9 degrees of freedom, p = 1e-6
constexpr double chi2_crit_df999 = 1226.05;  // 999 degrees of freedom, p = 1e-6

}  // namespace

// --- Compile time: the public constexpr functions and the scenario table.
static_assert(pv::validate(pv::code_policy{}) == errc::ok);
static_assert(pv::validate(pv::code_policy{.digits = 5}) == errc::invalid_parameter);
static_assert(pv::validate(pv::code_policy{.digits = 10, .validity = 600s}) == errc::ok);
static_assert(pv::checked_policy({.digits = 8}).digits == 8);
static_assert(pv::to_errc(check_status::ok) == errc::ok);
static_assert(pv::to_errc(check_status::wrong_code) == errc::invalid_verification_code);
static_assert(pv::status_name(check_status::other_binding) == "other_binding");
static_assert(pv::next_issue_at(defaults, pv::challenge{}) == pv::timestamp::min());
static_assert(pv::from_bytes(pv::to_bytes(pv::challenge{})).value() == pv::challenge{});
static_assert(pv::detail::uniform_random_bit_generator<pv::test::splitmix64>);
static_assert(pv::detail::uniform_random_bit_generator<std::mt19937>);
static_assert(pv::detail::uniform_random_bit_generator<dice>);
static_assert(!pv::detail::uniform_random_bit_generator<int>);
static_assert([] {
  pv::test::splitmix64 rng{1};
  pv::challenge c{};
  const auto issued = pv::issue_code(defaults, key_a, binding_a, c, t0, rng);
  return issued && issued->code.size() == 6 && issued->expires_at == at(300'000) &&
         pv::from_bytes(pv::to_bytes(c)).value() == c;
}());

// Public types: trivially copyable, within their size budget.
static_assert(std::is_trivially_copyable_v<pv::challenge>);
static_assert(sizeof(pv::challenge) <= 64);
static_assert(std::is_trivially_copyable_v<pv::code_policy>);
static_assert(std::is_trivially_copyable_v<pv::issued_code>);
static_assert(sizeof(pv::issued_code) <= 32);
static_assert(std::is_trivially_copyable_v<pv::code_binding>);
static_assert(sizeof(pv::challenge_bytes) == 64);
static_assert(sizeof(pv::check_status) == 1);

TEST_CASE("check_code follows RULES.md §5 step by step at compile time", "[code]") {
  STATIC_REQUIRE(run(scenarios[0]) == -1);
  STATIC_REQUIRE(run(scenarios[1]) == -1);
  STATIC_REQUIRE(run(scenarios[2]) == -1);
  STATIC_REQUIRE(run(scenarios[3]) == -1);
  STATIC_REQUIRE(run(scenarios[4]) == -1);
  STATIC_REQUIRE(run(scenarios[5]) == -1);
  STATIC_REQUIRE(run(scenarios[6]) == -1);
  STATIC_REQUIRE(run(scenarios[7]) == -1);
  STATIC_REQUIRE(run(scenarios[8]) == -1);
  STATIC_REQUIRE(run(scenarios[9]) == -1);
  STATIC_REQUIRE(run(scenarios[10]) == -1);
  STATIC_REQUIRE(scenario_count == 11);
}

TEST_CASE("check_code follows RULES.md §5 step by step at run time", "[code]") {
  for (std::size_t i = 0; i < scenario_count; ++i) {
    INFO(scenarios[i].rule);
    CHECK(run(pv::test::opaque(&scenarios[i])[0], pv::test::opaque<std::uint64_t>(42)) == -1);
    CHECK(run(scenarios[i], pv::test::opaque<std::uint64_t>(7 + i)) == -1);  // another code, same outcome
  }
}

TEST_CASE("issue_code returns digits ASCII digits and expires_at = now + validity", "[code]") {
  pv::test::splitmix64 rng{pv::test::test_seed("issue_code digits", 11)};
  for (std::uint8_t digits = 6; digits <= 10; ++digits) {
    for (std::int64_t validity : {1, 300, 600}) {
      const pv::code_policy policy{.digits = pv::test::opaque(digits), .validity = std::chrono::seconds{validity}};
      pv::challenge c{};
      const auto issued = pv::issue_code(policy, key_a, binding_a, c, t0, rng);
      REQUIRE(issued);
      CHECK(issued->code.size() == digits);
      for (char ch : issued->code.view()) CHECK((ch >= '0' && ch <= '9'));
      CHECK(issued->expires_at == t0 + std::chrono::seconds{validity});
      CHECK(c.expires_at() == issued->expires_at);
      CHECK(c.issued_at() == t0);
      CHECK(c.state() == pv::challenge_state::live);
      CHECK(c.attempts() == 0);
    }
  }
}

TEST_CASE("issue_code's expires_at formats as action 1's documented ExpirationDate", "[code]") {
  pv::test::splitmix64 rng{3};
  pv::challenge c{};
  const auto issued = pv::issue_code(defaults, key_a, binding_a, c, at(pv::test::opaque<std::int64_t>(0)), rng);
  REQUIRE(issued);
  CHECK(pv::format_iso8601(issued->expires_at).view() == "2021-12-17T07:38:41.747Z");
}

TEST_CASE("issue_code stores a keyed digest and never the code", "[code]") {
  pv::challenge with_a{}, with_b{};
  pv::test::splitmix64 rng_a{5}, rng_b{5};
  const auto a = pv::issue_code(defaults, key_a, binding_a, with_a, t0, rng_a);
  const auto b = pv::issue_code(defaults, key_b, binding_a, with_b, t0, rng_b);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->code == b->code);  // same generator state, same code
  const auto bytes_a = pv::to_bytes(with_a);
  const auto bytes_b = pv::to_bytes(with_b);
  CHECK(bytes_a != bytes_b);  // the digest depends on the key
  // Neither the ASCII text nor the integer value of the code appears in the stored bytes.
  const std::string_view stored(reinterpret_cast<const char*>(bytes_a.data()), bytes_a.size());
  CHECK(stored.find(a->code.view()) == std::string_view::npos);
  std::uint64_t value = 0;
  for (char ch : a->code.view()) value = value * 10 + static_cast<std::uint64_t>(ch - '0');
  for (std::size_t at_byte = 0; at_byte + 4 <= bytes_a.size(); ++at_byte) {
    std::uint32_t be = 0, le = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      be = (be << 8) | static_cast<std::uint32_t>(bytes_a[at_byte + k]);
      le |= static_cast<std::uint32_t>(bytes_a[at_byte + k]) << (8 * k);
    }
    CHECK(be != value);
    CHECK(le != value);
  }
  // A code checked under another key does not match.
  pv::challenge copy = with_a;
  CHECK(pv::check_code(defaults, key_b, binding_a, copy, a->code, at(1)) == check_status::other_binding);
}

TEST_CASE("check_code answers malformed for anything but exactly digits ASCII digits", "[code]") {
  constexpr std::string_view bad[] = {"", "12345", "1234567", "12345a", " 12345", "12345 ", "+12345", "-12345",
                                      "１２３４５６", std::string_view("12\0" "456", 6), "٠١٢٣٤٥", "123 456"};
  pv::test::splitmix64 rng{9};
  for (std::string_view text : bad) {
    INFO("submitted: " << text);
    pv::challenge c{};
    REQUIRE(pv::issue_code(defaults, key_a, binding_a, c, t0, rng));
    const std::string_view submitted(pv::test::opaque(text.data()), pv::test::opaque(text.size()));
    CHECK(pv::check_code(defaults, key_a, binding_a, c, submitted, at(1)) == check_status::malformed);
    CHECK(c.attempts() == 1);  // a failure against a live code uses one attempt
    CHECK(c.consecutive_failures() == 1);
    CHECK(c.last_failure_at() == at(1));
  }
}

TEST_CASE("the 100th consecutive failure across resends returns its own status and the 101st is locked",
          "[code]") {
  pv::test::splitmix64 rng{pv::test::test_seed("100 failures", 100)};
  pv::challenge c{};
  std::int64_t now = 0;
  int failures = 0;
  pv::inline_string<10> code;
  while (failures < 100) {
    const auto issued = pv::issue_code(defaults, key_a, binding_a, c, at(now), rng);
    REQUIRE(issued);
    code = issued->code;
    CHECK(c.consecutive_failures() == failures);  // a new code keeps the count
    for (int k = 0; k < 5 && failures < 100; ++k) {
      ++now;
      const check_status s = pv::check_code(defaults, key_a, binding_a, c, neighbour(code), at(now));
      ++failures;
      CHECK(s == check_status::wrong_code);  // the 100th too: its own status
      CHECK(c.consecutive_failures() == failures);
    }
    now += 60'000;
  }
  const std::int64_t last_failure = now - 60'000;
  CHECK(pv::check_code(defaults, key_a, binding_a, c, code, at(last_failure + 1)) == check_status::locked);
  CHECK(c.consecutive_failures() == 100);  // a locked check uses nothing
  // No code while locked; next_issue_at names the end of the lock, exactly.
  const pv::timestamp unlock = at(last_failure) + 24h;
  CHECK(pv::next_issue_at(defaults, c) == unlock);
  const pv::challenge before = c;
  CHECK(pv::issue_code(defaults, key_a, binding_a, c, unlock - 1ms, rng).error() == limit);
  CHECK(c == before);  // a refusal changes nothing
  CHECK(pv::issue_code(defaults, key_a, other_phone, c, unlock - 1ms, rng).error() == limit);  // per account
  const auto fresh = pv::issue_code(defaults, key_a, binding_a, c, unlock, rng);
  REQUIRE(fresh);
  CHECK(c.consecutive_failures() == 0);  // the lock ran out: the count starts again
  CHECK(pv::check_code(defaults, key_a, binding_a, c, fresh->code, unlock + 1ms) == check_status::ok);
}

TEST_CASE("consecutive failures below the limit are forgotten lockout after the last one", "[code]") {
  // A binding someone mistyped and abandoned must die (RULES.md §4): 99
  // failures, then a day of silence, then one more failure is 1, not 100.
  pv::test::splitmix64 rng{pv::test::test_seed("forgotten failures", 99)};
  pv::challenge c{};
  std::int64_t now = 0;
  int failures = 0;
  while (failures < 99) {
    const auto issued = pv::issue_code(defaults, key_a, binding_a, c, at(now), rng);
    REQUIRE(issued);
    for (int k = 0; k < 5 && failures < 99; ++k, ++failures)
      CHECK(pv::check_code(defaults, key_a, binding_a, c, neighbour(issued->code), at(++now)) ==
            check_status::wrong_code);
    now += 60'000;
  }
  const std::int64_t last_failure = now - 60'000;
  REQUIRE(c.consecutive_failures() == 99);
  // Until lockout has passed the count stands; from then on nothing remains.
  CHECK(pv::forgettable_at(defaults, c) == at(last_failure) + 24h);
  const pv::challenge kept = [&] {
    pv::challenge copy = c;
    const auto issued = pv::issue_code(defaults, key_a, binding_a, copy, at(last_failure) + 24h - 1ms, rng);
    REQUIRE(issued);
    return copy;
  }();
  CHECK(kept.consecutive_failures() == 99);
  const auto issued = pv::issue_code(defaults, key_a, binding_a, c, at(last_failure) + 24h, rng);
  REQUIRE(issued);
  CHECK(c.consecutive_failures() == 0);
  CHECK(pv::check_code(defaults, key_a, binding_a, c, neighbour(issued->code), at(last_failure) + 24h + 1ms) ==
        check_status::wrong_code);
  CHECK(c.consecutive_failures() == 1);  // not 100: no lock
  CHECK(pv::check_code(defaults, key_a, binding_a, c, issued->code, at(last_failure) + 24h + 2ms) == check_status::ok);
}

TEST_CASE("the failure budget bounds a binding's failed checks per 24 h whatever succeeds between", "[code]") {
  // An attacker who owns a phone resets the consecutive count with a right
  // code after every 99 wrong ones; the budget stops that at 100 failed
  // checks, then refills one per 14.4 minutes (RULES.md §4).
  pv::test::splitmix64 rng{pv::test::test_seed("failure budget", 100)};
  pv::challenge c{};
  std::int64_t now = 0;
  int failed = 0;
  check_status last = check_status::ok;
  while (failed < 100) {
    const auto issued = pv::issue_code(defaults, key_a, binding_a, c, at(now), rng);
    REQUIRE(issued);
    for (int k = 0; k < 4 && failed < 100; ++k, ++failed) {
      last = pv::check_code(defaults, key_a, binding_a, c, neighbour(issued->code), at(++now));
      CHECK(last == check_status::wrong_code);
    }
    if (failed < 100) {
      CHECK(pv::check_code(defaults, key_a, binding_a, c, issued->code, at(++now)) == check_status::ok);
      CHECK(c.consecutive_failures() == 0);  // success resets the consecutive count...
      CHECK(c.budget_charged() == failed);   // ...not the budget (no refill yet: < 14.4 min passed)
    }
    now += 60'000;
  }
  REQUIRE(c.budget_charged() == 100);
  const std::int64_t last_failure = now - 60'000;
  // Spent: no code is issued and no check is made until one failed check drains.
  const pv::timestamp refill = at(last_failure) + std::chrono::milliseconds{864'000};
  CHECK(pv::next_issue_at(defaults, c) == refill);
  CHECK(pv::issue_code(defaults, key_a, binding_a, c, refill - 1ms, rng).error() == limit);
  const auto issued = pv::issue_code(defaults, key_a, binding_a, c, refill, rng);
  REQUIRE(issued);
  CHECK(pv::check_code(defaults, key_a, binding_a, c, neighbour(issued->code), refill + 1ms) ==
        check_status::wrong_code);  // the one refilled failure
  CHECK(pv::check_code(defaults, key_a, binding_a, c, issued->code, refill + 2ms) == check_status::budget_spent);
  CHECK(c.state() == pv::challenge_state::live);  // a refused check uses nothing, not even the code
  CHECK(pv::to_errc(check_status::budget_spent) == errc::invalid_verification_code);
  // After a whole window without failures the budget is full again.
  const pv::timestamp full = refill + 1ms + 24h;
  CHECK(pv::forgettable_at(defaults, c) == full);
  CHECK(pv::check_code(defaults, key_a, binding_a, c, issued->code, refill + 3ms) == check_status::budget_spent);
}

TEST_CASE("the failure budget drains one per window / budget, exactly, and never on a clock that goes back",
          "[code]") {
  pv::code_policy policy = defaults;
  policy.failure_budget = 3;
  policy.failure_budget_window = std::chrono::seconds{30};  // one refill per 10 s
  policy.resend_interval = std::chrono::seconds{0};
  pv::test::splitmix64 rng{pv::test::test_seed("budget drain", 3)};
  pv::challenge c{};
  auto code = pv::issue_code(policy, key_a, binding_a, c, at(0), rng);
  REQUIRE(code);
  for (int k = 1; k <= 3; ++k)
    REQUIRE(pv::check_code(policy, key_a, binding_a, c, neighbour(code->code), at(k)) == check_status::wrong_code);
  CHECK(pv::check_code(policy, key_a, binding_a, c, code->code, at(10'002)) == check_status::budget_spent);
  CHECK(pv::check_code(policy, key_a, binding_a, c, code->code, at(-50'000)) == check_status::budget_spent);
  CHECK(pv::next_issue_at(policy, c) == at(10'003));
  code = pv::issue_code(policy, key_a, binding_a, c, at(10'003), rng);
  REQUIRE(code);
  CHECK(pv::check_code(policy, key_a, binding_a, c, code->code, at(10'004)) == check_status::ok);
  CHECK(c.budget_charged() == 3);  // charged as of the last failure; 1 has drained by now
  pv::code_policy off = policy;
  off.failure_budget = 0;
  CHECK(pv::validate(off) == errc::invalid_parameter);
  off = policy;
  off.failure_budget_window = std::chrono::seconds{0};
  CHECK(pv::validate(off) == errc::invalid_parameter);
}

TEST_CASE("forgettable_at is the latest of resend interval, live code and forgotten failures", "[code]") {
  STATIC_REQUIRE(pv::forgettable_at(defaults, pv::challenge{}) == pv::timestamp::min());
  pv::test::splitmix64 rng{pv::test::test_seed("forgettable", 5)};
  pv::challenge c{};
  const auto issued = pv::issue_code(defaults, key_a, binding_a, c, at(0), rng);
  REQUIRE(issued);
  CHECK(pv::forgettable_at(defaults, c) == at(0) + 5min);  // the code lives longer than the 60 s resend interval
  REQUIRE(pv::check_code(defaults, key_a, binding_a, c, issued->code, at(1000)) == check_status::ok);
  CHECK(pv::forgettable_at(defaults, c) == at(0) + 60s);  // used: only the resend interval remains
  const auto second = pv::issue_code(defaults, key_a, binding_a, c, at(60'000), rng);
  REQUIRE(second);
  REQUIRE(pv::check_code(defaults, key_a, binding_a, c, neighbour(second->code), at(70'000)) ==
          check_status::wrong_code);
  CHECK(pv::forgettable_at(defaults, c) == at(70'000) + 24h);
  pv::code_policy broken = defaults;
  broken.digits = 2;
  CHECK(pv::forgettable_at(broken, c) == pv::timestamp::max());
}

TEST_CASE("issue_code refuses inside the resend interval with the sending action's limit error", "[code]") {
  struct row {
    pv::code_binding binding;
    errc refusal;
  };
  const row rows[] = {{binding_a, errc::send_validate_code_exceeds_limit_for_account},
                      {other_purpose, errc::send_validate_code_exceeds_limit_for_account},
                      {{pv::action::send_phone_verification_for_message_contact, "1", phone("86-13900001234")},
                       errc::send_validate_code_exceeds_limit_for_account},
                      {cams, errc::system_limit_control}};
  for (const row& r : rows) {
    INFO(pv::action_name(r.binding.purpose));
    pv::test::splitmix64 rng{1};
    pv::challenge c{};
    REQUIRE(pv::issue_code(defaults, key_a, r.binding, c, t0, rng));
    CHECK(pv::next_issue_at(defaults, c) == t0 + 60s);
    CHECK(pv::issue_code(defaults, key_a, r.binding, c, at(pv::test::opaque<std::int64_t>(59'999)), rng).error() == r.refusal);
    CHECK(pv::issue_code(defaults, key_a, r.binding, c, t0 - 1h, rng).error() == r.refusal);  // clock went back
    CHECK(pv::issue_code(defaults, key_a, r.binding, c, at(pv::test::opaque<std::int64_t>(60'000)), rng));
  }
}

TEST_CASE("a clock that goes back neither shortens a lock nor revives an expired code", "[code]") {
  pv::test::splitmix64 rng{31};
  pv::challenge c{};
  const auto issued = pv::issue_code(three_to_lock, key_a, binding_a, c, t0, rng);
  REQUIRE(issued);
  CHECK(pv::check_code(three_to_lock, key_a, binding_a, c, neighbour(issued->code), at(10'000)) ==
        check_status::wrong_code);
  CHECK(pv::check_code(three_to_lock, key_a, binding_a, c, neighbour(issued->code), at(pv::test::opaque(5'000))) ==
        check_status::wrong_code);
  CHECK(c.last_failure_at() == at(10'000));  // the latest failure is kept
  CHECK(pv::check_code(three_to_lock, key_a, binding_a, c, "12345x", at(1'000)) == check_status::malformed);
  CHECK(pv::check_code(three_to_lock, key_a, binding_a, c, issued->code, at(2'000)) == check_status::locked);
  CHECK(pv::next_issue_at(three_to_lock, c) == at(10'000) + 24h);
  pv::challenge d{};
  const auto other = pv::issue_code(defaults, key_a, binding_a, d, t0, rng);
  REQUIRE(other);
  CHECK(pv::check_code(defaults, key_a, binding_a, d, other->code, at(300'000)) == check_status::expired);
  CHECK(pv::check_code(defaults, key_a, binding_a, d, other->code, at(pv::test::opaque(1))) == check_status::expired);
}

TEST_CASE("issuing for another phone rebinds the challenge and keeps its counters", "[code]") {
  pv::test::splitmix64 rng{17};
  pv::challenge c{};
  const auto first = pv::issue_code(defaults, key_a, binding_a, c, t0, rng);
  REQUIRE(first);
  CHECK(pv::check_code(defaults, key_a, binding_a, c, neighbour(first->code), at(1)) == check_status::wrong_code);
  CHECK(pv::check_code(defaults, key_a, binding_a, c, neighbour(first->code), at(2)) == check_status::wrong_code);
  const auto second = pv::issue_code(defaults, key_a, other_phone, c, at(60'000), rng);
  REQUIRE(second);
  CHECK(c.consecutive_failures() == 2);
  CHECK(c.attempts() == 0);  // attempts are per code
  CHECK(pv::check_code(defaults, key_a, binding_a, c, second->code, at(60'001)) == check_status::other_binding);
  CHECK(pv::check_code(defaults, key_a, other_phone, c, second->code, at(60'002)) == check_status::ok);
  CHECK(c.consecutive_failures() == 0);
}

TEST_CASE("a policy outside its limits gives invalid_parameter at run time and changes nothing", "[code]") {
  const pv::code_policy bad[] = {{.digits = 5},
                                 {.digits = 11},
                                 {.validity = 0s},
                                 {.validity = 601s},
                                 {.validity = -1s},
                                 {.max_attempts = 0},
                                 {.resend_interval = -1s},
                                 {.resend_interval = 86'401s},
                                 {.max_consecutive_failures = 0},
                                 {.lockout = 0s},
                                 {.lockout = std::chrono::seconds{366 * 86'400 + 1}}};
  const pv::code_policy good[] = {{.digits = 6},   {.digits = 10},           {.validity = 1s},
                                  {.validity = 600s}, {.max_attempts = 1},   {.resend_interval = 0s},
                                  {.resend_interval = 86'400s}, {.max_consecutive_failures = 1},
                                  {.lockout = 1s}, {.lockout = std::chrono::seconds{366 * 86'400}}};
  pv::test::splitmix64 rng{2};
  for (const auto& policy : bad) {
    CHECK(pv::validate(pv::test::opaque(&policy)[0]) == errc::invalid_parameter);
    pv::challenge c{};
    CHECK(pv::issue_code(policy, key_a, binding_a, c, t0, rng).error() == errc::invalid_parameter);
    CHECK(c == pv::challenge{});
    CHECK(pv::next_issue_at(policy, c) == pv::timestamp::max());
    REQUIRE(pv::issue_code(defaults, key_a, binding_a, c, t0, rng));
    const pv::challenge before = c;
    CHECK(pv::check_code(policy, key_a, binding_a, c, "123456", at(1)) == check_status::no_code);
    CHECK(c == before);
  }
  for (const auto& policy : good) {
    CHECK(pv::validate(pv::test::opaque(&policy)[0]) == errc::ok);
    pv::challenge c{};
    CHECK(pv::issue_code(policy, key_a, binding_a, c, t0, rng));
  }
}

TEST_CASE("issue_code refuses a consumer purpose and an all-zero key and a stuck generator", "[code]") {
  pv::test::splitmix64 rng{4};
  pv::challenge c{};
  pv::code_binding consumer = binding_a;
  consumer.purpose = pv::action::bind_secure_mobile_phone;
  CHECK(pv::issue_code(defaults, key_a, consumer, c, t0, rng).error() == errc::invalid_parameter);
  consumer.purpose = static_cast<pv::action>(pv::test::opaque(200));
  CHECK(pv::issue_code(defaults, key_a, consumer, c, t0, rng).error() == errc::invalid_parameter);
  CHECK(pv::issue_code(defaults, pv::secret_key{}, binding_a, c, t0, rng).error() == errc::invalid_parameter);
  stuck broken;
  CHECK(pv::issue_code(defaults, key_a, binding_a, c, t0, broken).error() == errc::invalid_parameter);
  CHECK(c == pv::challenge{});
}

TEST_CASE("to_errc is invalid_verification_code for every failure", "[code]") {
  for (int s = 0; s <= static_cast<int>(check_status::malformed); ++s) {
    const auto status = static_cast<check_status>(pv::test::opaque(s));
    INFO(pv::status_name(status));
    CHECK(!pv::status_name(status).empty());
    CHECK(pv::to_errc(status) == (status == check_status::ok ? errc::ok : errc::invalid_verification_code));
  }
  CHECK(pv::code_string(pv::to_errc(check_status::expired)) == "Invalid.VerificationCode");
}

TEST_CASE("to_bytes writes the documented big-endian layout and from_bytes reads it back", "[code]") {
  pv::test::splitmix64 rng{21};
  pv::challenge c{};
  REQUIRE(pv::issue_code(defaults, key_a, binding_a, c, t0, rng));
  for (int k = 1; k <= 3; ++k) pv::check_code(defaults, key_a, binding_a, c, "00000x", at(k));
  const auto bytes = pv::to_bytes(c);
  CHECK(bytes[0] == std::byte{2});                                                   // version
  CHECK(bytes[1] == static_cast<std::byte>(pv::challenge_state::live));            // state
  CHECK(bytes[2] == std::byte{3});                                                   // attempts
  CHECK(bytes[4] == std::byte{0});                                                   // failures, high byte
  CHECK(bytes[5] == std::byte{3});                                                   // failures, low byte
  CHECK(bytes[6] == std::byte{0});                                                   // budget charged, high byte
  CHECK(bytes[7] == std::byte{3});                                                   // budget charged, low byte
  std::uint64_t issued = 0;
  for (std::size_t i = 8; i < 16; ++i) issued = (issued << 8) | static_cast<std::uint64_t>(bytes[i]);
  CHECK(issued == 1639726421747ULL);
  std::uint64_t expires = 0;
  for (std::size_t i = 16; i < 24; ++i) expires = (expires << 8) | static_cast<std::uint64_t>(bytes[i]);
  CHECK(expires == 1639726421747ULL + 300'000);
  std::uint64_t failed = 0;
  for (std::size_t i = 24; i < 32; ++i) failed = (failed << 8) | static_cast<std::uint64_t>(bytes[i]);
  CHECK(failed == 1639726421747ULL + 3);
  const auto back = pv::from_bytes(pv::test::opaque(&bytes)[0]);
  REQUIRE(back);
  CHECK(*back == c);
  // The restored challenge behaves the same: the issued code is still checked correctly.
  pv::challenge restored = *back;
  CHECK(pv::check_code(defaults, key_a, binding_a, restored, "000000", at(4)) != check_status::malformed);
  // Negative times (before 1970) survive the two's complement round trip.
  pv::challenge early{};
  REQUIRE(pv::issue_code(defaults, key_a, binding_a, early, pv::timestamp{-5000ms}, rng));
  CHECK(pv::from_bytes(pv::to_bytes(early)).value() == early);
}

TEST_CASE("from_bytes rejects bytes that to_bytes cannot produce", "[code]") {
  pv::test::splitmix64 rng{22};
  pv::challenge live{};
  REQUIRE(pv::issue_code(defaults, key_a, binding_a, live, t0, rng));
  const auto good = pv::to_bytes(live);
  CHECK(pv::from_bytes(pv::challenge_bytes{}).value() == pv::challenge{});  // an all-zero column
  struct edit {
    std::size_t at;
    std::uint8_t value;
  };
  // Each edit flips bits of one byte of a valid encoding.
  const edit edits[] = {{0, 0x02},   // version 0
                        {0, 0x01},   // version 3
                        {0, 0x06},   // version 4
                        {1, 0x04},   // state 5
                        {1, 0xfe},   // state 255
                        {16, 0x80},  // expires_at's sign: before issued_at, or far after
                        {20, 0x01}};  // expires_at moved by 2^24 ms: before issue or beyond 10 minutes
  for (const edit& e : edits) {
    INFO("byte " << e.at << " ^= " << int{e.value});
    auto bytes = good;
    bytes[e.at] ^= static_cast<std::byte>(e.value);
    CHECK(pv::from_bytes(pv::test::opaque(&bytes)[0]).error() == errc::invalid_parameter);
  }
  auto none_with_counter = pv::to_bytes(pv::challenge{});
  none_with_counter[5] = std::byte{1};
  CHECK(pv::from_bytes(none_with_counter).error() == errc::invalid_parameter);
  none_with_counter[5] = std::byte{0};
  none_with_counter[7] = std::byte{1};  // a budget charge with no code ever issued
  CHECK(pv::from_bytes(none_with_counter).error() == errc::invalid_parameter);
  // Version 1 (no failure budget) still reads, with nothing charged; a version 1
  // encoding with bytes 6-7 set is not one version 1 could write.
  auto version_1 = good;
  version_1[0] = std::byte{1};
  const auto old = pv::from_bytes(version_1);
  REQUIRE(old);
  CHECK(*old == live);
  CHECK(old->budget_charged() == 0);
  version_1[7] = std::byte{1};
  CHECK(pv::from_bytes(version_1).error() == errc::invalid_parameter);
  version_1[7] = std::byte{0};
  version_1[3] = std::byte{1};  // version 1 had no key id: byte 3 was reserved, 0
  CHECK(pv::from_bytes(version_1).error() == errc::invalid_parameter);
  // A "none" challenge names no key.
  auto none_with_key = pv::to_bytes(pv::challenge{});
  none_with_key[3] = std::byte{4};
  CHECK(pv::from_bytes(none_with_key).error() == errc::invalid_parameter);
  // Random bytes: a defined answer, and whatever is accepted round-trips.
  pv::test::splitmix64 noise{pv::test::test_seed("from_bytes noise", 23)};
  for (int round = 0; round < 20000; ++round) {
    pv::challenge_bytes bytes{};
    for (auto& b : bytes) b = static_cast<std::byte>(noise());
    if (round % 2 == 0) {  // keep the header plausible half of the time so the time checks are reached
      bytes[0] = static_cast<std::byte>(1 + noise() % 2);
      bytes[1] = static_cast<std::byte>(noise() % 5);
      bytes[3] = std::byte{0};
      if (bytes[0] == std::byte{1}) bytes[6] = bytes[7] = std::byte{0};
      for (std::size_t i = 8; i < 24; ++i) bytes[i] = good[i];
      bytes[22] = static_cast<std::byte>(noise());
      bytes[23] = static_cast<std::byte>(noise());
    }
    const auto c = pv::from_bytes(bytes);
    if (c) {
      auto expected = bytes;
      if (expected[0] == std::byte{1}) expected[0] = std::byte{2};  // read as version 1, written as 2
      CHECK(pv::to_bytes(*c) == expected);
    } else {
      CHECK(c.error() == errc::invalid_parameter);
    }
  }
}

TEST_CASE("draw_below is uniform over 10^6 six-digit values and per digit position (chi-square)", "[code][uniformity]") {
  pv::test::splitmix64 rng{pv::test::test_seed("draw_below chi-square", 0xC0DE)};
  constexpr std::uint64_t n = 1'000'000;
  std::vector<std::uint64_t> bins(1000, 0);
  std::vector<std::vector<std::uint64_t>> positions(6, std::vector<std::uint64_t>(10, 0));
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t v = 0;
    REQUIRE(pv::detail::draw_below(rng, 1'000'000, v));
    ++bins[v / 1000];
    for (std::size_t p = 0; p < 6; ++p, v /= 10) ++positions[p][v % 10];
  }
  CHECK(chi_square(bins, n / 1000.0) < chi2_crit_df999);
  for (const auto& digit_counts : positions) CHECK(chi_square(digit_counts, n / 10.0) < chi2_crit_df9);

  // The same statistic catches a modulo bias: 20 random bits mod 10^6 favour values below 48576.
  std::vector<std::uint64_t> biased(1000, 0);
  for (std::uint64_t i = 0; i < n; ++i) ++biased[((rng() & 0xFFFFF) % 1'000'000) / 1000];
  CHECK(chi_square(biased, n / 1000.0) > chi2_crit_df999);
}

TEST_CASE("issue_code draws every digit position uniformly (chi-square)", "[code][uniformity]") {
  pv::test::splitmix64 rng{pv::test::test_seed("issue_code chi-square", 0xC0DF)};
  constexpr int n = 20'000;
  const pv::code_policy policy{.digits = 10, .resend_interval = 0s};
  std::vector<std::vector<std::uint64_t>> positions(10, std::vector<std::uint64_t>(10, 0));
  pv::challenge c{};
  for (int i = 0; i < n; ++i) {
    const auto issued = pv::issue_code(policy, key_a, binding_a, c, at(i), rng);
    REQUIRE(issued);
    for (std::size_t p = 0; p < 10; ++p) ++positions[p][static_cast<std::size_t>(issued->code[p] - '0')];
  }
  for (const auto& digit_counts : positions) CHECK(chi_square(digit_counts, n / 10.0) < chi2_crit_df9);
}

TEST_CASE("draw_below is uniform for 3-bit 32-bit and 64-bit generators and ranges not starting at 0",
          "[code][uniformity]") {
  const std::uint64_t seed = pv::test::test_seed("generator ranges", 0xD1CE);
  constexpr int n = 100'000;
  const auto check_uniform = [&](auto rng, std::uint64_t bound) {
    std::vector<std::uint64_t> counts(10, 0);
    for (int i = 0; i < n; ++i) {
      std::uint64_t v = 0;
      REQUIRE(pv::detail::draw_below(rng, bound, v));
      REQUIRE(v < bound);
      ++counts[v % 10];  // bound is a power of ten: the last digit is uniform too
    }
    CHECK(chi_square(counts, n / 10.0) < chi2_crit_df9);
  };
  for (std::uint64_t bound : {10ULL, 1'000'000ULL, 10'000'000'000ULL}) {
    INFO("bound " << bound);
    check_uniform(octal_dice{{seed}}, bound);
    check_uniform(dice{{seed + 1}}, bound);
    check_uniform(high_range{{seed + 2}}, bound);
    check_uniform(std::mt19937{static_cast<std::uint32_t>(seed)}, bound);
    check_uniform(pv::test::splitmix64{seed + 3}, bound);
  }
  // Through issue_code with a 32-bit standard engine and 10 digits (two draws per code).
  std::mt19937 engine{static_cast<std::uint32_t>(seed)};
  pv::challenge c{};
  const auto issued = pv::issue_code(pv::code_policy{.digits = 10}, key_a, binding_a, c, t0, engine);
  REQUIRE(issued);
  CHECK(issued->code.size() == 10);
}

// --- Key rotation (RULES.md §5, key rotation) --------------------------------

namespace {
constexpr pv::secret_key key_c = make_key(9);

// A ring of key_a under id 1, primary, and key_b under id 2.
constexpr pv::key_ring ring_ab() {
  pv::key_ring ring{key_a, 1};
  if (ring.add(2, key_b) != pv::key_ring_error::ok) return {};
  return ring;
}

// Rotation in the middle of a live flow: the code issued under id 1 still
// binds after id 2 became primary; the next code is issued under id 2; once
// id 1 has left, its code reads as no_code and nothing is charged. 0 when all
// of it holds, else the number of the first step that did not.
constexpr int rotate_mid_flow() {
  pv::test::splitmix64 rng{77};
  pv::key_ring ring{key_a, 1};
  pv::challenge first{};
  const auto old_code = pv::issue_code(defaults, ring, binding_a, first, t0, rng);
  if (!old_code || first.issuing_key() != 1) return 1;
  if (ring.add(2, key_b) != pv::key_ring_error::ok || ring.make_primary(2) != pv::key_ring_error::ok) return 2;
  pv::challenge old_pending = first;
  if (pv::check_code(defaults, ring, binding_a, old_pending, old_code->code, at(1000)) != check_status::ok) return 3;
  pv::challenge next = first;
  const auto new_code = pv::issue_code(defaults, ring, binding_a, next, at(61'000), rng);
  if (!new_code || next.issuing_key() != 2) return 4;
  if (pv::check_code(defaults, ring, binding_a, next, new_code->code, at(62'000)) != check_status::ok) return 5;
  // The old key leaves while a code it issued is still live: that code is gone.
  if (ring.remove(1) != pv::key_ring_error::ok) return 6;
  pv::challenge orphan = first;
  if (pv::check_code(defaults, ring, binding_a, orphan, old_code->code, at(2000)) != check_status::no_code) return 7;
  if (orphan != first) return 8;  // no attempt, no failure charged for it
  return 0;
}
}  // namespace

TEST_CASE("a key ring refuses a zero key, a duplicate id, a full ring, an unknown id and retiring its primary",
          "[code][rotation]") {
  STATIC_REQUIRE(std::is_trivially_copyable_v<pv::key_ring>);
  STATIC_REQUIRE(pv::key_ring{}.validate() == pv::key_ring_error::empty);
  STATIC_REQUIRE(pv::key_ring{pv::secret_key{}}.validate() == pv::key_ring_error::zero_key);
  STATIC_REQUIRE(pv::key_ring{key_a}.validate() == pv::key_ring_error::ok);
  STATIC_REQUIRE(ring_ab().size() == 2);
  STATIC_REQUIRE(ring_ab().primary_id() == 1);
  STATIC_REQUIRE([] {
    pv::key_ring ring = ring_ab();
    return ring.add(3, pv::secret_key{}) == pv::key_ring_error::zero_key &&
           ring.add(2, key_c) == pv::key_ring_error::duplicate_id &&
           ring.make_primary(9) == pv::key_ring_error::unknown_id &&
           ring.remove(9) == pv::key_ring_error::unknown_id &&
           ring.remove(1) == pv::key_ring_error::retiring_primary && ring.size() == 2 &&
           ring.find(2) != nullptr && *ring.find(2) == key_b;
  }());
  pv::key_ring ring{key_a, 0};
  for (pv::key_id id = 1; ring.size() < pv::key_ring_capacity; ++id)
    REQUIRE(ring.add(id, make_key(static_cast<std::uint8_t>(40 + id))) == pv::key_ring_error::ok);
  CHECK(ring.add(200, key_c) == pv::key_ring_error::full);
  CHECK(ring.size() == pv::key_ring_capacity);
  // Removing from the middle keeps the others and the primary.
  REQUIRE(ring.make_primary(5) == pv::key_ring_error::ok);
  REQUIRE(ring.remove(3) == pv::key_ring_error::ok);
  CHECK(!ring.contains(3));
  CHECK(ring.primary_id() == 5);
  CHECK(*ring.primary() == make_key(45));
  CHECK(ring.add(3, key_c) == pv::key_ring_error::ok);  // the freed id and slot can be used again
  for (auto e : {pv::key_ring_error::ok, pv::key_ring_error::zero_key, pv::key_ring_error::duplicate_id,
                 pv::key_ring_error::full, pv::key_ring_error::unknown_id, pv::key_ring_error::retiring_primary,
                 pv::key_ring_error::empty})
    CHECK(!pv::key_ring_error_name(e).empty());
  CHECK(pv::key_ring_error_name(static_cast<pv::key_ring_error>(pv::test::opaque(99))).empty());
  STATIC_REQUIRE(pv::key_ring_error_name(pv::key_ring_error::retiring_primary) == "retiring_primary");
  STATIC_REQUIRE([] {
    pv::key_ring r = ring_ab();
    const bool before = !r.empty() && r.id_at(0) == 1 && r.id_at(1) == 2 && r.id_at(5) == 0 &&
                        *r.primary() == key_a && r.contains(2) && !r.contains(3);
    r.wipe();
    return before && r.empty() && r.primary() == nullptr && r.find(1) == nullptr;
  }());
  ring.wipe();
  CHECK(ring.empty());
  CHECK(ring.validate() == pv::key_ring_error::empty);
}

TEST_CASE("rotating in the middle of a live flow: the old code still binds and the next one uses the new key",
          "[code][rotation]") {
  STATIC_REQUIRE(rotate_mid_flow() == 0);
  CHECK(rotate_mid_flow() == 0);
}

TEST_CASE("a challenge under an unknown key id reads as no_code, never as a match", "[code][rotation]") {
  pv::test::splitmix64 rng{78};
  const pv::key_ring ring = ring_ab();
  pv::challenge c{};
  const auto issued = pv::issue_code(defaults, ring, binding_a, c, t0, rng);
  REQUIRE(issued);
  // The stored id is rewritten to one the ring lacks: the right code does not match.
  auto bytes = pv::to_bytes(c);
  CHECK(bytes[3] == std::byte{1});
  bytes[3] = std::byte{7};
  pv::challenge unknown = pv::from_bytes(bytes).value();
  CHECK(unknown.issuing_key() == 7);
  const pv::challenge before = unknown;
  for (int k = 0; k < 10; ++k)
    CHECK(pv::check_code(defaults, ring, binding_a, unknown, issued->code, at(k)) == check_status::no_code);
  CHECK(unknown == before);
  // Expired, used and exhausted codes keep their own status: they need no key.
  CHECK(pv::check_code(defaults, ring, binding_a, unknown, issued->code, at(300'000)) == check_status::expired);
  // Another key under the same id is another key: not even the binding's tag
  // matches (a failure, charged: the engines refuse such a rotation while codes are live).
  pv::key_ring replaced{key_c, 1};
  pv::challenge same_id = c;
  CHECK(pv::check_code(defaults, replaced, binding_a, same_id, issued->code, at(1)) == check_status::other_binding);
  CHECK(same_id.attempts() == 1);
  // The issuing key itself checks it.
  CHECK(pv::check_code(defaults, ring, binding_a, c, issued->code, at(2)) == check_status::ok);
}

TEST_CASE("a lone secret_key is the ring of id 0 and an empty ring issues nothing", "[code][rotation]") {
  pv::test::splitmix64 rng{79};
  pv::challenge c{};
  const auto issued = pv::issue_code(defaults, key_a, binding_a, c, t0, rng);
  REQUIRE(issued);
  CHECK(c.issuing_key() == 0);
  CHECK(pv::to_bytes(c)[3] == std::byte{0});
  pv::challenge via_ring = c;
  CHECK(pv::check_code(defaults, pv::key_ring{key_a}, binding_a, via_ring, issued->code, at(1)) == check_status::ok);
  // A code issued under id 1 has no code for a lone key.
  pv::challenge under_1{};
  const auto code_1 = pv::issue_code(defaults, pv::key_ring{key_a, 1}, binding_a, under_1, t0, rng);
  REQUIRE(code_1);
  CHECK(pv::check_code(defaults, key_a, binding_a, under_1, code_1->code, at(1)) == check_status::no_code);
  // An empty ring, or one whose only key is zero, issues nothing and changes nothing.
  pv::challenge untouched{};
  CHECK(pv::issue_code(defaults, pv::key_ring{}, binding_a, untouched, t0, rng).error() == errc::invalid_parameter);
  CHECK(pv::issue_code(defaults, pv::key_ring{pv::secret_key{}}, binding_a, untouched, t0, rng).error() ==
        errc::invalid_parameter);
  CHECK(untouched == pv::challenge{});
  // The id survives the stored form.
  CHECK(pv::from_bytes(pv::to_bytes(under_1)).value().issuing_key() == 1);
}

namespace {
// The tags as RULES.md §5 defines them, built from hmac_sha256 over the
// message written out field by field: 'B' || purpose || account id length
// (8 bytes, big-endian) || account id || country code (2 bytes) || national
// number length (1 byte) || national number, and 'C' || the same || code
// length (1 byte) || code; each truncated to 16 bytes. compute_tags must give
// exactly these bytes whatever path it takes (challenges in snapshots and in
// Redis were tagged so and must keep binding).
struct reference_tags {
  pv::code_tag binding{}, code{};
};
constexpr reference_tags tags_by_definition(const pv::secret_key& key, const pv::code_binding& b, std::string_view code) {
  std::vector<std::byte> m;
  const auto put = [&](std::uint64_t v) { m.push_back(static_cast<std::byte>(v & 0xFFU)); };
  put(0x42);
  put(static_cast<std::uint64_t>(b.purpose));
  for (int shift = 56; shift >= 0; shift -= 8) put(std::uint64_t{b.account_id.size()} >> shift);
  for (char c : b.account_id) put(static_cast<unsigned char>(c));
  put(std::uint64_t{b.phone.country_code()} >> 8U);
  put(b.phone.country_code());
  put(b.phone.national_number().size());
  for (char c : b.phone.national_number()) put(static_cast<unsigned char>(c));
  reference_tags out;
  const auto digest_b = pv::hmac_sha256(std::span<const std::byte>(key), std::span<const std::byte>(m));
  m[0] = std::byte{0x43};
  put(code.size());
  for (char c : code) put(static_cast<unsigned char>(c));
  const auto digest_c = pv::hmac_sha256(std::span<const std::byte>(key), std::span<const std::byte>(m));
  for (std::size_t i = 0; i < pv::code_tag_size; ++i) {
    out.binding[i] = digest_b[i];
    out.code[i] = digest_c[i];
  }
  return out;
}
constexpr bool tags_match_definition(const pv::code_binding& b, std::string_view code) {
  const pv::detail::binding_tags got = pv::detail::compute_tags(key_a, b, code);
  const reference_tags want = tags_by_definition(key_a, b, code);
  return got.binding == want.binding && got.code == want.code;
}
// 150 digits: with the other fields past compute_tags' 144-byte buffer, so
// it takes its field-by-field path.
constexpr std::string_view long_account =
    "123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
    "123456789012345678901234567890123456789012345678901234567890";
}  // namespace

TEST_CASE("the tags are HMAC-SHA-256 of the documented message layout, on the buffered and the field-by-field path",
          "[code][crypto]") {
  STATIC_REQUIRE(tags_match_definition(binding_a, "123456"));
  STATIC_REQUIRE(tags_match_definition(cams, "0000000000"));
  STATIC_REQUIRE(long_account.size() == 150);
  constexpr pv::code_binding long_binding{send_bind, long_account, phone("86-13900001234")};
  STATIC_REQUIRE(tags_match_definition(long_binding, "987654"));
  // Every account id length from empty to past the buffer, and codes of every
  // length: the buffer's edge (144 bytes) lies inside this range.
  for (std::size_t n = 0; n <= long_account.size(); ++n) {
    for (std::string_view code : {std::string_view{}, std::string_view{"7"}, std::string_view{"0123456789"}}) {
      INFO("account id length " << n << ", code " << code);
      const pv::code_binding b{send_bind, long_account.substr(0, n), phone("44-7911123456")};
      CHECK(tags_match_definition(b, code));
    }
  }
}

// --- A code drawn before it is issued (draw_code, then issue_drawn_code):
// how a caller that decides under locks (the embedded engine) draws outside
// them. The same generator state gives the same code, errors and state as
// issue_code.

namespace {

enum class drawn_op : std::uint8_t { issue, wrong, right };
struct drawn_step {
  drawn_op what;
  std::int64_t ms;  // after t0
  errc issue;       // expected of an issue, on both paths
};

// Runs `steps` on two challenges: one issued by issue_code from a generator,
// the other by draw_code from a copy of that generator (in its state before
// the issue) then issue_drawn_code. -1 when every step gives both the same
// error, code, expiry, challenge and (after an issue) generator state, else
// the index of the first step that differs.
template <std::size_t N>
constexpr int drawn_matches_issue(const pv::code_policy& policy, const std::array<drawn_step, N>& steps,
                                  std::uint64_t seed = 9) {
  pv::test::splitmix64 rng{seed};
  pv::challenge by_issue{}, by_drawn{};
  pv::inline_string<10> code;
  for (std::size_t i = 0; i < N; ++i) {
    const drawn_step& st = steps[i];
    const pv::timestamp now = at(st.ms);
    if (st.what == drawn_op::issue) {
      pv::test::splitmix64 copy = rng;
      const auto issued = pv::issue_code(policy, key_a, binding_a, by_issue, now, rng);
      const auto drawn = pv::draw_code(policy, key_a, binding_a, copy);
      if (!drawn) return static_cast<int>(i);
      const auto from_drawn = pv::issue_drawn_code(policy, *drawn, binding_a, by_drawn, now);
      if (issued.error() != st.issue || from_drawn.error() != st.issue) return static_cast<int>(i);
      if (issued) {
        if (issued->code != from_drawn->code || issued->code != drawn->code ||
            issued->expires_at != from_drawn->expires_at || copy() != rng())
          return static_cast<int>(i);
        code = issued->code;
      }
    } else {
      const pv::inline_string<10> submitted = st.what == drawn_op::right ? code : neighbour(code);
      if (pv::check_code(policy, key_a, binding_a, by_issue, submitted, now) !=
          pv::check_code(policy, key_a, binding_a, by_drawn, submitted, now))
        return static_cast<int>(i);
    }
    if (!(by_issue == by_drawn) || pv::to_bytes(by_issue) != pv::to_bytes(by_drawn)) return static_cast<int>(i);
  }
  return -1;
}

// Issue, resend too soon, issue, three wrong checks (locked at the third),
// a refused issue while locked, an issue once the lock ran out, a right check.
constexpr std::array<drawn_step, 10> drawn_flow{{{drawn_op::issue, 0, errc::ok},
                                                 {drawn_op::issue, 59'999, limit},
                                                 {drawn_op::issue, 60'000, errc::ok},
                                                 {drawn_op::wrong, 61'000, errc::ok},
                                                 {drawn_op::wrong, 62'000, errc::ok},
                                                 {drawn_op::wrong, 63'000, errc::ok},
                                                 {drawn_op::issue, 200'000, limit},
                                                 {drawn_op::issue, 63'000 + 86'400'000 - 1, limit},
                                                 {drawn_op::issue, 63'000 + 86'400'000, errc::ok},
                                                 {drawn_op::right, 63'000 + 86'401'000, errc::ok}}};

}  // namespace

TEST_CASE("issue_drawn_code with draw_code's code equals issue_code from the same generator state at compile time",
          "[code][drawn]") {
  STATIC_REQUIRE(drawn_matches_issue(three_to_lock, drawn_flow) == -1);
  STATIC_REQUIRE(drawn_matches_issue(pv::code_policy{.digits = 10, .max_consecutive_failures = 3}, drawn_flow, 3) == -1);
  // draw_code changes nothing but the generator: the code is issue_code's.
  STATIC_REQUIRE([] {
    pv::test::splitmix64 a{5}, b{5};
    pv::challenge c{};
    const auto issued = pv::issue_code(defaults, key_a, cams, c, t0, a);
    const auto drawn = pv::draw_code(defaults, key_a, cams, b);
    return issued && drawn && issued->code == drawn->code && drawn->key == 0 && a() == b();
  }());
}

TEST_CASE("issue_drawn_code with draw_code's code equals issue_code from the same generator state at run time",
          "[code][drawn]") {
  for (std::uint64_t seed : {1u, 2u, 3u, 77u}) {
    INFO(seed);
    CHECK(drawn_matches_issue(three_to_lock, drawn_flow, pv::test::opaque(seed)) == -1);
    CHECK(drawn_matches_issue(pv::code_policy{.digits = 8, .max_consecutive_failures = 3}, drawn_flow,
                              pv::test::opaque(seed)) == -1);
  }
  // Under a ring: the primary's id is recorded, as issue_code records it.
  pv::key_ring ring{key_a};
  REQUIRE(ring.add(5, key_b) == pv::key_ring_error::ok);
  REQUIRE(ring.make_primary(5) == pv::key_ring_error::ok);
  pv::test::splitmix64 a{8}, b{8};
  pv::challenge by_issue{}, by_drawn{};
  const auto issued = pv::issue_code(defaults, ring, binding_a, by_issue, t0, a);
  const auto drawn = pv::draw_code(defaults, ring, binding_a, b);
  REQUIRE(drawn);
  CHECK(drawn->key == 5);
  const auto from_drawn = pv::issue_drawn_code(defaults, *drawn, binding_a, by_drawn, t0);
  REQUIRE(issued);
  REQUIRE(from_drawn);
  CHECK(issued->code == from_drawn->code);
  CHECK(by_issue == by_drawn);
  CHECK(by_drawn.issuing_key() == 5);
  CHECK(pv::check_code(defaults, ring, binding_a, by_drawn, from_drawn->code.view(), at(1)) == check_status::ok);
}

TEST_CASE("issue_drawn_code refuses as issue_code does and changes nothing on error", "[code][drawn]") {
  pv::test::splitmix64 rng{6};
  const auto drawn = pv::draw_code(defaults, key_a, binding_a, rng);
  REQUIRE(drawn);
  // A policy outside its limits, a consumer purpose, a purpose that is no action.
  for (const pv::code_policy& bad : {pv::code_policy{.digits = 5}, pv::code_policy{.validity = 0s},
                                     pv::code_policy{.max_attempts = 0}}) {
    pv::challenge c{};
    CHECK(pv::issue_drawn_code(pv::test::opaque(&bad)[0], *drawn, binding_a, c, t0).error() ==
          errc::invalid_parameter);
    CHECK(c == pv::challenge{});
    pv::test::splitmix64 copy = rng;
    CHECK(pv::draw_code(pv::test::opaque(&bad)[0], key_a, binding_a, copy).error() == errc::invalid_parameter);
  }
  pv::code_binding consumer = binding_a;
  consumer.purpose = pv::action::bind_secure_mobile_phone;
  pv::challenge c{};
  CHECK(pv::issue_drawn_code(defaults, *drawn, consumer, c, t0).error() == errc::invalid_parameter);
  consumer.purpose = static_cast<pv::action>(pv::test::opaque(200));
  CHECK(pv::issue_drawn_code(defaults, *drawn, consumer, c, t0).error() == errc::invalid_parameter);
  CHECK(c == pv::challenge{});
  // A code of other digits than the policy's (drawn under another policy), or none.
  CHECK(pv::issue_drawn_code(pv::code_policy{.digits = 8}, *drawn, binding_a, c, t0).error() ==
        errc::invalid_parameter);
  CHECK(pv::issue_drawn_code(defaults, pv::drawn_code{}, binding_a, c, t0).error() == errc::invalid_parameter);
  CHECK(c == pv::challenge{});
  // draw_code: a zero key, an empty ring and a stuck generator give no code.
  CHECK(pv::draw_code(defaults, pv::secret_key{}, binding_a, rng).error() == errc::invalid_parameter);
  CHECK(pv::draw_code(defaults, pv::key_ring{}, binding_a, rng).error() == errc::invalid_parameter);
  stuck broken;
  CHECK(pv::draw_code(defaults, key_a, binding_a, broken).error() == errc::invalid_parameter);
  // The resend interval and the lock: the sending action's limit error, as issue_code.
  REQUIRE(pv::issue_drawn_code(defaults, *drawn, binding_a, c, t0));
  const pv::challenge issued = c;
  CHECK(pv::issue_drawn_code(defaults, *drawn, binding_a, c, at(59'999)).error() == limit);
  CHECK(c == issued);
  pv::challenge cams_state{};
  const auto cams_drawn = pv::draw_code(defaults, key_a, cams, rng);
  REQUIRE(cams_drawn);
  REQUIRE(pv::issue_drawn_code(defaults, *cams_drawn, cams, cams_state, t0));
  CHECK(pv::issue_drawn_code(defaults, *cams_drawn, cams, cams_state, at(1)).error() == errc::system_limit_control);
}
