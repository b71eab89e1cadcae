// Fuzz target for engine.hpp: the input is a program of sends and checks of
// every action for a few accounts, callers, spaces, contacts and phones
// (which share quotas and windows across actions, as in a service), clock
// jumps forward, back and to the ends of the time range, sweeps
// (evict_dead) and random-source failures, on a small-capacity engine with
// an injected clock and a seeded_random_source. After every step
// (abort on violation), from RULES.md §4 and §5:
// - the engine decides at its high-water time (the latest clock reading):
//   every admitted send's code expires validity after it;
// - the daily quota of each account is never exceeded in any day, nor the
//   per-phone windows in any window, counted at that engine time;
// - no code is accepted twice, and only the latest live code of its binding;
// - no binding fails more checks than its failure budget allows (a model of
//   the budget's drain, so a sweep that forgot a charged budget shows);
// - every body is well-formed JSON or XML with the response's RequestId and,
//   for an error, its Code; every byte after the body is zero; a failed send
//   carries no code; a send refused for want of randomness or of room says so.
// One execution is at most 96 steps (well under a millisecond).
#include <phoneverify/engine.hpp>
#include "fuzz_input.hpp"
#include "body_checker.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pv = phoneverify;

namespace {

using phoneverify::test::require;

using reader = phoneverify::test::fuzz_input;

// A seeded source that the program can make fail.
struct switchable_source final : pv::random_source {
  explicit switchable_source(std::uint64_t seed) : inner(seed) {}
  pv::seeded_random_source inner;
  std::atomic<bool> failing{false};
  std::optional<std::uint64_t> next() noexcept override {
    if (failing.load(std::memory_order_relaxed)) return std::nullopt;
    return inner.next();
  }
};

// Bodies are checked by the strict checkers fuzz_render uses (body_checker.hpp).
std::map<std::string, std::string> fields_of(const std::vector<pv::test::parsed_field>& parsed) {
  std::map<std::string, std::string> fields;
  for (const auto& f : parsed) require(fields.emplace(f.path, pv::test::ascii_of(f.value)).second);
  return fields;
}

// --- The program ------------------------------------------------------------

// Ids shared across actions: an account can be a member (action 1), a caller
// (3, 5, CAMS) and so share one daily quota; phones are shared by everyone.
constexpr std::string_view accounts[] = {"1001", "1002", "1003"};
constexpr std::string_view spaces[] = {"501", "502"};
constexpr std::string_view contacts[] = {"c-a1", "c-b2"};
constexpr std::string_view dashed[] = {"86-13800001000", "86-13800001001", "86-13800001002"};
constexpr std::string_view compact[] = {"8613800001000", "8613800001001", "8613800001002"};

constexpr std::int64_t ms_max = pv::detail::i64_max;
constexpr std::int64_t ms_min = pv::detail::i64_min;

struct binding_model {
  std::string code;     // the latest issued code ("" none)
  std::size_t phone = 0;
  std::int64_t expires = 0;
  bool used = false;
};

// The failure budget of one binding: `charged` failed checks as of `last`,
// draining one per window / budget after it (RULES.md §4).
struct budget_model {
  std::uint64_t charged = 0;
  std::int64_t last = ms_min;
};

struct world {
  pv::engine_config config;
  std::int64_t clock = 1'700'000'000'000;
  std::int64_t high_water = ms_min;
  std::map<std::pair<std::string, std::int64_t>, std::uint32_t> per_day;  // (quota account, day) -> admitted
  std::map<std::size_t, std::vector<std::int64_t>> per_phone;            // phone -> admitted engine times
  std::map<std::pair<int, std::string>, binding_model> bindings;         // (sending action, account) -> code
  std::map<std::pair<int, std::string>, budget_model> budgets;           // (sending action, account) -> failures
};

std::int64_t tick(world& w) {
  if (w.clock > w.high_water) w.high_water = w.clock;
  return w.high_water;
}

// Whether [first, first + size) lies inside the object `r`.
bool inside(const pv::engine_response& r, const char* first, std::size_t size) {
  const auto begin = reinterpret_cast<std::uintptr_t>(&r);
  const auto at = reinterpret_cast<std::uintptr_t>(first);
  return at >= begin && size <= sizeof r && at - begin <= sizeof r - size;
}

// The body, then zeros to the end of the response's engine_body_capacity
// bytes of storage (body() starts them); a failed send's code all zeros.
void check_body(const world& w, const pv::engine_response& r) {
  const std::string_view body = r.body();
  require(!body.empty() && body.size() <= pv::engine_body_capacity);
  require(inside(r, body.data(), pv::engine_body_capacity));
  for (std::size_t i = body.size(); i < pv::engine_body_capacity; ++i) require(body.data()[i] == '\0');
  require(r.request_id().size() == 36);
  std::map<std::string, std::string> fields;
  std::string root;
  if (w.config.format == pv::body_format::json) {
    fields = fields_of(pv::test::json_checker(r.body()).parse());
  } else {
    fields = fields_of(pv::test::xml_checker(r.body()).parse(root));
    require(root == (r.ok() ? std::string(pv::action_name(r.verdict().action())) + "Response" : std::string("Error")));
  }
  require(fields["RequestId"] == r.request_id());
  if (!r.ok()) {
    require(fields["Code"] == r.verdict().code_string());
    require(r.code_to_deliver().empty() && inside(r, r.code_to_deliver().data(), pv::code_max_digits + 1u));
    for (std::size_t i = 0; i <= pv::code_max_digits; ++i) require(r.code_to_deliver().data()[i] == '\0');
  }
}

// The windows of the config, counted at engine times (half-open: t blocks
// until t + window).
void check_windows(const world& w, std::size_t phone) {
  const auto it = w.per_phone.find(phone);
  if (it == w.per_phone.end()) return;
  const std::vector<std::int64_t>& times = it->second;  // non-decreasing
  const std::int64_t newest = times.back();
  for (const pv::sliding_window& win : w.config.policy.per_phone.windows) {
    std::uint32_t inside = 0;
    for (std::int64_t t : times)  // newest >= t: the difference is exact as unsigned
      if (static_cast<std::uint64_t>(newest) - static_cast<std::uint64_t>(t) < static_cast<std::uint64_t>(win.window.count()))
        ++inside;
    require(inside <= win.count);
  }
}

// A send the engine admitted at engine time `now`: its code expires validity
// later, the quota and the windows hold.
void admitted(world& w, const pv::engine_response& r, pv::action a, std::string_view quota_account, std::size_t phone,
              std::string_view binding_account, std::int64_t now) {
  const std::int64_t validity = static_cast<std::int64_t>(w.config.policy.code.validity.count()) * 1000;
  require(r.code_to_deliver().size() == w.config.policy.code.digits);
  require(r.code_expires_at().time_since_epoch().count() == pv::detail::sat_add(now, validity));
  if (pv::info(a).daily_quota) {
    const std::int64_t day = pv::day_index(pv::timestamp{std::chrono::milliseconds{now}}, w.config.policy.daily.utc_offset);
    require(++w.per_day[{std::string(quota_account), day}] <= w.config.policy.daily.limit);
  }
  w.per_phone[phone].push_back(now);
  check_windows(w, phone);
  binding_model& b = w.bindings[{static_cast<int>(a), std::string(binding_account)}];
  b = {std::string(r.code_to_deliver()), phone, r.code_expires_at().time_since_epoch().count(), false};
}

// A check the engine accepted at `now` for (sending action, account) and phone.
void accepted(world& w, pv::action sending, std::string_view account, std::size_t phone, std::string_view code,
              std::int64_t now) {
  const auto it = w.bindings.find({static_cast<int>(sending), std::string(account)});
  require(it != w.bindings.end());
  binding_model& b = it->second;
  require(!b.used && b.code == code && b.phone == phone && now < b.expires);
  b.used = true;
}

// A check of (sending action, account) at `now`: a failure that uses an
// attempt must find the modelled budget not spent, and charges it.
void checked(world& w, const pv::engine_response& r, pv::action sending, std::string_view account, std::int64_t now) {
  if (r.reason() != pv::verdict_reason::code_rejected) return;
  const pv::check_status status = r.verdict().code_status();
  if (status != pv::check_status::wrong_code && status != pv::check_status::other_binding &&
      status != pv::check_status::malformed)
    return;
  budget_model& b = w.budgets[{static_cast<int>(sending), std::string(account)}];
  const std::uint64_t budget = w.config.policy.code.failure_budget;
  const auto window = static_cast<std::uint64_t>(w.config.policy.code.failure_budget_window.count()) * 1000;
  std::uint64_t used = b.charged;
  if (b.charged != 0 && now > b.last) {
    const std::uint64_t elapsed = static_cast<std::uint64_t>(now) - static_cast<std::uint64_t>(b.last);
    const std::uint64_t drained = elapsed >= window ? b.charged : elapsed * budget / window;
    used = drained >= b.charged ? 0 : b.charged - drained;
  }
  require(used < budget);
  b.charged = used + 1;
  if (now > b.last) b.last = now;
}

void refused_send(const pv::engine_response& r) {
  require(r.code_to_deliver().empty());
  if (r.reason() == pv::verdict_reason::state_unavailable || r.reason() == pv::verdict_reason::randomness_unavailable)
    require(r.error() == pv::info(r.verdict().action()).limit_error);
}

std::string code_for(const world& w, pv::action sending, std::string_view account, std::uint8_t how) {
  const auto it = w.bindings.find({static_cast<int>(sending), std::string(account)});
  const std::string right = it == w.bindings.end() ? std::string("123456") : it->second.code;
  switch (how % 4) {
    case 0:
    case 1: return right;
    case 2: {
      std::string wrong = right;
      if (!wrong.empty()) wrong[0] = wrong[0] == '9' ? '0' : static_cast<char>(wrong[0] + 1);
      return wrong;
    }
    default: return "12ab";
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in{data, size};
  world w;
  for (std::size_t i = 0; i < w.config.key.size(); ++i) w.config.key[i] = static_cast<std::byte>(i * 7 + 1);
  const std::uint8_t setup = in.byte();
  w.config.capacity = 2 + (setup & 7u);
  w.config.shards = (setup & 8u) != 0 ? 2 : 1;
  w.config.format = (setup & 16u) != 0 ? pv::body_format::xml : pv::body_format::json;
  const std::uint8_t limits = in.byte();
  w.config.policy.daily.limit = 1 + (limits & 3u);
  w.config.policy.daily.utc_offset = std::chrono::minutes{(limits & 4u) != 0 ? -12 * 60 : 8 * 60};
  w.config.policy.per_phone = {{{1, std::chrono::milliseconds{60'000}},
                                {static_cast<std::uint32_t>(2 + ((limits >> 3) & 1u)), std::chrono::milliseconds{3'600'000}},
                                {4, std::chrono::milliseconds{86'400'000}}}};
  const std::uint8_t code = in.byte();
  w.config.policy.code.resend_interval = std::chrono::seconds{(code & 1u) != 0 ? 0 : 60};
  w.config.policy.code.max_attempts = static_cast<std::uint8_t>(1 + ((code >> 1) & 3u));
  w.config.policy.code.max_consecutive_failures = static_cast<std::uint16_t>(1 + ((code >> 3) & 3u));
  w.config.policy.code.lockout = std::chrono::seconds{(code & 32u) != 0 ? 600 : 86'400};
  w.config.policy.code.failure_budget = static_cast<std::uint16_t>(2 + ((code >> 6) & 3u));
  w.config.policy.cams_rate = {3, std::chrono::milliseconds{1000}};

  auto clock = std::make_shared<std::int64_t>(w.clock);
  auto source = std::make_shared<switchable_source>(in.word());
  auto created = pv::engine::create(
      w.config, [clock] { return pv::timestamp{std::chrono::milliseconds{*clock}}; }, source);
  require(created.has_value());
  pv::engine& engine = *created;

  pv::facts f;
  f.caller.kind = pv::caller_kind::management_ram_identity;
  f.caller.permitted = f.caller.product_subscribed = true;
  f.space.owned_by_caller = true;
  f.account.membership = pv::directory_membership::this_directory;
  f.account.enterprise_name_set = f.account.real_name_verified = true;

  for (int step = 0; step < 96 && in.more(); ++step) {
    const std::uint8_t op = in.byte();
    const std::uint8_t arg = in.byte();
    const std::size_t who = arg % 3;
    const std::size_t phone = (arg >> 2) % 3;
    const std::size_t two = (arg >> 4) & 1u;
    f.caller.account_id = accounts[(arg >> 5) % 3];
    f.account.secure_phone = dashed[phone];
    f.contact.phone = dashed[phone];
    *clock = w.clock;
    switch (op % 13) {
      case 0: {  // action 1: the member's quota, binding (1, member)
        const std::int64_t now = tick(w);
        const auto r = engine.send_verification_code_for_bind_secure_mobile_phone({dashed[phone], accounts[who]}, f);
        check_body(w, r);
        if (r.ok()) admitted(w, r, r.verdict().action(), accounts[who], phone, accounts[who], now);
        else refused_send(r);
        break;
      }
      case 1: {  // action 3: the caller's quota and binding
        const std::int64_t now = tick(w);
        const auto r = engine.send_verification_code_for_enable_rd({dashed[phone]}, f);
        check_body(w, r);
        if (r.ok()) admitted(w, r, r.verdict().action(), f.caller.account_id, phone, f.caller.account_id, now);
        else refused_send(r);
        break;
      }
      case 2: {  // action 4: the caller's rate, binding (4, space)
        const std::int64_t now = tick(w);
        const auto r = engine.get_migration_verify_code({spaces[two], compact[phone], "en", "sms"}, f);
        check_body(w, r);
        if (r.ok()) admitted(w, r, r.verdict().action(), {}, phone, spaces[two], now);
        else refused_send(r);
        break;
      }
      case 3: {  // action 5: the caller's quota, binding (5, contact)
        const std::int64_t now = tick(w);
        const auto r = engine.send_phone_verification_for_message_contact({contacts[two], dashed[phone]}, f);
        check_body(w, r);
        if (r.ok()) admitted(w, r, r.verdict().action(), f.caller.account_id, phone, contacts[two], now);
        else refused_send(r);
        break;
      }
      case 4:
      case 5: {  // action 2 checks action 1's code
        const pv::action sending = pv::action::send_verification_code_for_bind_secure_mobile_phone;
        const std::string c = code_for(w, sending, accounts[who], in.byte());
        const std::int64_t now = tick(w);
        const auto r = engine.bind_secure_mobile_phone({c, dashed[phone], accounts[who]}, f);
        check_body(w, r);
        if (r.ok()) accepted(w, sending, accounts[who], phone, c, now);
        checked(w, r, sending, accounts[who], now);
        break;
      }
      case 6: {  // EnableResourceDirectory checks action 3's code
        const pv::action sending = pv::action::send_verification_code_for_enable_rd;
        const std::string c = code_for(w, sending, f.caller.account_id, in.byte());
        const std::int64_t now = tick(w);
        const auto r = engine.enable_resource_directory(
            {"NewManagementAccount", "admin@rdadmin.aliyunid.com", dashed[phone], c}, f);
        check_body(w, r);
        if (r.ok()) accepted(w, sending, f.caller.account_id, phone, c, now);
        checked(w, r, sending, f.caller.account_id, now);
        break;
      }
      case 7: {  // ChatappMigrationVerified checks action 4's code
        const pv::action sending = pv::action::get_migration_verify_code;
        const std::string c = code_for(w, sending, spaces[two], in.byte());
        const std::int64_t now = tick(w);
        const auto r = engine.chatapp_migration_verified({spaces[two], compact[phone], c}, f);
        check_body(w, r);
        if (r.ok()) accepted(w, sending, spaces[two], phone, c, now);
        checked(w, r, sending, spaces[two], now);
        break;
      }
      case 8:  // forward: seconds to days
        w.clock = pv::detail::sat_add(w.clock, static_cast<std::int64_t>(arg) * (in.byte() % 2 ? 1'000 : 3'600'000));
        break;
      case 9:  // back: minutes to days
        w.clock = pv::detail::sat_sub(w.clock, static_cast<std::int64_t>(arg) * (in.byte() % 2 ? 60'000 : 86'400'000));
        break;
      case 10:  // to the ends of the range, or back to now
        w.clock = arg % 3 == 0 ? ms_max - static_cast<std::int64_t>(in.byte()) * 60'000
                  : arg % 3 == 1 ? ms_min + static_cast<std::int64_t>(in.byte()) * 60'000
                                 : 1'700'000'000'000;
        break;
      case 11:  // a sweep, at the engine's time
        tick(w);
        engine.evict_dead();
        break;
      default:  // the random source fails or comes back
        source->failing = (arg & 1u) != 0;
        break;
    }
    const pv::engine_stats stats = engine.stats();
    require(stats.quotas <= w.config.capacity && stats.rates <= w.config.capacity &&
            stats.windows <= w.config.capacity && stats.challenges <= w.config.capacity);
  }
  return 0;
}
