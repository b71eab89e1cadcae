// The main job's workload: a seeded synthetic mix of verification scenarios
// (normal flows, typos, expired codes, brute-force guessing, SMS pumping at
// one number, CAMS bursts above 10 requests per second, 86 numbers on the
// international site, resource-directory and message-contact flows), driven
// through a "backend" that decides each request.
//
// Two backends share the driver: the embedded engine (engine.hpp, from
// several threads) and an independent single-threaded replay that keeps the
// state structs in std::map and calls actions.hpp directly. Each scenario
// owns its accounts, phones and users, so the verdict totals do not depend on
// how threads interleave: tests/test_simulation.cpp checks that both backends
// give the same totals for the same seed.
#ifndef PHONEVERIFY_EXAMPLES_SIMULATION_HPP
#define PHONEVERIFY_EXAMPLES_SIMULATION_HPP

#include <phoneverify/engine.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace simulation {

namespace pv = phoneverify;
using namespace std::chrono_literals;

enum class scenario_kind : std::uint8_t {
  normal_bind,          // send, then bind with the right code
  typo_then_right,      // a mistyped code, then the right one
  expired_then_resend,  // the code expires, a new one is sent and used
  brute_force,          // seven wrong guesses: five wrong, then exhausted
  sms_pumping,          // twelve accounts send to one phone within four minutes
  cams_burst,           // fourteen CAMS requests in one second, then the migration check
  china_number_abroad,  // an 86 number for a secure phone on the international site
  enable_rd_flow,       // SendVerificationCodeForEnableRD, then EnableResourceDirectory
  message_contact,      // SendPhoneVerificationForMessageContact (one in four contacts missing)
};
inline constexpr int scenario_kinds = 9;

inline const char* scenario_name(scenario_kind k) {
  static const char* names[] = {"normal bind", "typo then right", "expired then resend", "brute force", "SMS pumping",
                                "CAMS burst", "86 number abroad", "enable RD flow", "message contact"};
  return names[static_cast<int>(k)];
}

struct scenario {
  scenario_kind kind;
  std::uint32_t index;  // makes its accounts, phones and users unique
};

// splitmix64, for the workload only (the engine's codes come from its own source).
struct workload_rng {
  std::uint64_t state;
  std::uint64_t operator()() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
};

// The scenarios of a run: `count` of them, kinds drawn with fixed weights.
inline std::vector<scenario> make_scenarios(std::uint64_t seed, std::uint32_t count) {
  static constexpr int weights[scenario_kinds] = {40, 15, 8, 5, 3, 10, 5, 8, 6};
  workload_rng rng{seed};
  std::vector<scenario> out;
  out.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    int pick = static_cast<int>(rng() % 100);
    int kind = 0;
    while (pick >= weights[kind]) pick -= weights[kind++];
    out.push_back({static_cast<scenario_kind>(kind), i});
  }
  return out;
}

// What a backend answers for one decision.
struct answer {
  pv::verdict verdict;
  std::string code_to_deliver;  // an ok send's code ("" otherwise)
};

// Verdict totals per (action, errc).
using tally = std::map<std::pair<pv::action, pv::errc>, std::uint64_t>;

inline void merge(tally& into, const tally& from) {
  for (const auto& [key, count] : from) into[key] += count;
}

// The simulated start of scenario i: scenarios are 10 minutes apart, so the
// time each thread sees only moves forward.
inline pv::timestamp scenario_start(std::uint32_t index) {
  return pv::timestamp{std::chrono::milliseconds{1'767'225'600'000LL}} + std::chrono::minutes{10} * index;
}

inline std::string digits(std::uint64_t value, int width) {
  std::string s(static_cast<std::size_t>(width), '0');
  for (int i = width - 1; i >= 0 && value > 0; --i, value /= 10) s[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
  return s;
}

// A code with one digit changed: never the code itself.
inline std::string typo(std::string code) {
  if (!code.empty()) code[2] = static_cast<char>('0' + (code[2] - '0' + 1) % 10);
  return code;
}

// The k-th guess of a brute-force attacker: never the code itself (k >= 1).
inline std::string guess(const std::string& code, std::uint32_t k) {
  std::uint64_t value = 0;
  for (char c : code) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  return digits((value + k) % 1'000'000, 6);
}

// Runs one scenario through `backend`, counting every verdict. The backend
// provides set_time(timestamp) and one method per action returning `answer`.
template <class Backend>
void run_scenario(Backend& backend, const scenario& s, tally& out) {
  const pv::timestamp start = scenario_start(s.index);
  const std::string member = std::to_string(1'000'000'000'000'000ULL + s.index);
  const std::string caller = std::to_string(2'000'000'000'000'000ULL + s.index);
  const std::string uk_phone = "44-7911" + digits(s.index, 6);
  // The facts every scenario grants; each one is set because its default
  // refuses (a service that forgets a fact gets the documented error).
  pv::facts f;
  f.caller.kind = pv::caller_kind::management_ram_identity;  // actions 1 and 2
  f.caller.account_id = caller;                              // keys 3's challenge and quota, 5's quota, the CAMS rate
  f.caller.permitted = true;                                 // CAMS: Ram.PermissionDeny otherwise
  f.caller.product_subscribed = true;                        // CAMS: Product.Unsubscript otherwise
  f.space.owned_by_caller = true;                            // CAMS: Unknown.ResourceOwnerId otherwise
  f.account.membership = pv::directory_membership::this_directory;
  f.account.enterprise_name_set = true;                      // action 2, EnableRD: Invalid.EnterpriseName otherwise
  f.account.real_name_verified = true;                       // EnterpriseRealNameVerificationError otherwise
  f.account.secure_phone = uk_phone;
  auto at = [&](std::chrono::milliseconds offset) { backend.set_time(start + offset); };
  auto count = [&](const answer& a) -> const answer& {
    ++out[{a.verdict.action(), a.verdict.error()}];
    return a;
  };

  switch (s.kind) {
    case scenario_kind::normal_bind: {
      at(0ms);
      const answer sent = count(backend.send_bind({uk_phone, member}, f));
      at(30s);
      count(backend.bind({sent.code_to_deliver, uk_phone, member}, f));
      break;
    }
    case scenario_kind::typo_then_right: {
      at(0ms);
      const answer sent = count(backend.send_bind({uk_phone, member}, f));
      at(20s);
      const std::string wrong = typo(sent.code_to_deliver);
      count(backend.bind({wrong, uk_phone, member}, f));
      at(40s);
      count(backend.bind({sent.code_to_deliver, uk_phone, member}, f));
      break;
    }
    case scenario_kind::expired_then_resend: {
      at(0ms);
      const answer first = count(backend.send_bind({uk_phone, member}, f));
      at(6min);
      count(backend.bind({first.code_to_deliver, uk_phone, member}, f));
      at(6min + 1s);
      const answer second = count(backend.send_bind({uk_phone, member}, f));
      at(6min + 30s);
      count(backend.bind({second.code_to_deliver, uk_phone, member}, f));
      break;
    }
    case scenario_kind::brute_force: {
      at(0ms);
      const answer sent = count(backend.send_bind({uk_phone, member}, f));
      for (std::uint32_t k = 1; k <= 7; ++k) {
        at(std::chrono::seconds{k});
        const std::string attempt = guess(sent.code_to_deliver, k);
        count(backend.bind({attempt, uk_phone, member}, f));
      }
      break;
    }
    case scenario_kind::sms_pumping: {
      // Twelve different member accounts, one phone, one request every 20 s.
      for (std::uint32_t k = 0; k < 12; ++k) {
        at(std::chrono::seconds{20 * k});
        const std::string account = std::to_string(3'000'000'000'000'000ULL + s.index * 16 + k);
        count(backend.send_bind({uk_phone, account}, f));
      }
      break;
    }
    case scenario_kind::cams_burst: {
      const std::string space = std::to_string(4'000'000'000'000ULL + s.index);
      std::string first_code;
      for (std::uint32_t k = 0; k < 14; ++k) {
        at(std::chrono::milliseconds{k * 10});
        const std::string phone = "4479" + digits(s.index * 16 + k, 8);
        const std::string own_space = space + digits(k, 2);
        const answer a = count(backend.cams_send({own_space, phone, "en_US", "sms"}, f));
        if (k == 0) first_code = a.code_to_deliver;
      }
      at(3s);
      count(backend.cams_verify({space + "00", "4479" + digits(s.index * 16, 8), first_code}, f));
      break;
    }
    case scenario_kind::china_number_abroad: {
      at(0ms);
      count(backend.send_bind({"86-139" + digits(s.index, 8), member}, f));
      break;
    }
    case scenario_kind::enable_rd_flow: {
      at(0ms);
      const answer sent = count(backend.send_enable_rd({}, f));
      at(45s);
      count(backend.enable_rd({"NewManagementAccount", "ops" + std::to_string(s.index) + "@rdadmin.aliyunid.com", {},
                               sent.code_to_deliver},
                              f));
      break;
    }
    case scenario_kind::message_contact: {
      at(0ms);
      const std::string phone = "86-139" + digits(s.index, 8);
      pv::facts contact = f;
      contact.contact.phone = phone;
      contact.contact.exists = s.index % 4 != 0;
      count(backend.send_contact({"c-sim" + std::to_string(s.index), phone}, contact));
      break;
    }
  }
}

// --- Backend 1: the embedded engine ----------------------------------------

inline pv::engine_config simulation_config(std::size_t capacity) {
  pv::engine_config config;
  config.policy.sites = pv::international_site_policy;  // the site, set once for both backends
  for (std::size_t i = 0; i < config.key.size(); ++i) config.key[i] = static_cast<std::byte>(0xA5 ^ i);
  config.capacity = capacity;
  // Each thread runs its own simulated clock (thread_time): the engine's
  // high-water time would let one thread's scenarios move another's clock,
  // so the simulation takes each reading as it is (never with a real clock).
  config.high_water_time = false;
  return config;
}

// Each thread has its own simulated time (its scenarios own their keys).
inline pv::timestamp& thread_time() {
  thread_local pv::timestamp now{};
  return now;
}

// The engine of an engine_backend: pv::engine, or any engine with the same
// seven methods and engine_response (the fleet engine, fleet_engine.hpp).
template <class Engine>
struct basic_engine_backend {
  Engine& engine;
  static answer of(const pv::engine_response& r) { return {r.verdict(), std::string(r.code_to_deliver())}; }
  void set_time(pv::timestamp t) { thread_time() = t; }
  answer send_bind(const pv::send_verification_code_for_bind_secure_mobile_phone_request& r, const pv::facts& f) {
    return of(engine.send_verification_code_for_bind_secure_mobile_phone(r, f));
  }
  answer bind(const pv::bind_secure_mobile_phone_request& r, const pv::facts& f) {
    return of(engine.bind_secure_mobile_phone(r, f));
  }
  answer send_enable_rd(const pv::send_verification_code_for_enable_rd_request& r, const pv::facts& f) {
    return of(engine.send_verification_code_for_enable_rd(r, f));
  }
  answer enable_rd(const pv::enable_resource_directory_request& r, const pv::facts& f) {
    return of(engine.enable_resource_directory(r, f));
  }
  answer cams_send(const pv::get_migration_verify_code_request& r, const pv::facts& f) {
    return of(engine.get_migration_verify_code(r, f));
  }
  answer cams_verify(const pv::chatapp_migration_verified_request& r, const pv::facts& f) {
    return of(engine.chatapp_migration_verified(r, f));
  }
  answer send_contact(const pv::send_phone_verification_for_message_contact_request& r, const pv::facts& f) {
    return of(engine.send_phone_verification_for_message_contact(r, f));
  }
};
using engine_backend = basic_engine_backend<pv::engine>;

// Prints the engine's metrics (metrics.hpp) in the Prometheus text exposition
// format between two marker lines. The library renders into the caller's
// buffer: it grows here until the text fits (render_metrics says the size).
inline void print_metrics(const pv::engine& engine) {
  const auto snapshot = std::make_unique<pv::metrics_snapshot>();  // about 54 KB: not on the stack
  engine.metrics(*snapshot);
  std::vector<char> text(4096);
  pv::metrics_render_result r = pv::render_metrics(text, *snapshot);
  if (!r) {
    text.resize(r.size);
    r = pv::render_metrics(text, *snapshot);
  }
  std::printf("\nmetrics (Prometheus text exposition format, %zu bytes):\n", r.size);
  std::printf("-- begin metrics --\n%.*s-- end metrics --\n", static_cast<int>(r.size), text.data());
}

// --- Backend 2: the independent replay on the pure core ---------------------

struct replay_backend {
  pv::action_policy policy{};
  pv::secret_key key{};
  pv::timestamp now{};
  workload_rng rng{12345};
  std::map<std::string, pv::daily_usage> quotas;
  std::map<std::string, pv::rate_state> rates;
  std::map<std::string, pv::per_phone_state> windows;
  std::map<std::pair<pv::action, std::string>, pv::challenge> challenges;

  struct generator {
    workload_rng* r;
    using result_type = std::uint64_t;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }
    result_type operator()() { return (*r)(); }
  };

  explicit replay_backend(const pv::engine_config& config) : policy(config.policy), key(config.key) {}
  void set_time(pv::timestamp t) { now = t; }

  // Step 1 of the rows with flow control: the user must be named, then its
  // rate admits the request (an ok verdict when it does).
  template <class Request>
  pv::verdict admit(const pv::facts& f) {
    constexpr pv::action a = Request::id;
    if constexpr (pv::info(a).flow_control) {
      if (const pv::verdict named = pv::check_flow_subject(a, f); !named) return named;
      return pv::admit_request(policy, a, rates[std::string(f.caller.account_id)], now);
    }
    return pv::verdict{a};
  }

  template <class Request>
  answer send(const Request& r, const pv::facts& f) {
    constexpr pv::action a = Request::id;
    if (const pv::verdict flow = admit<Request>(f); !flow) return {flow, {}};
    const pv::preparation prepared = pv::prepare(r, f, policy);
    if (!prepared) return {prepared.error(), {}};
    const pv::code_binding& binding = *prepared->binding;
    pv::challenge& code = challenges[{a, std::string(binding.account_id)}];
    pv::per_phone_state& phone_windows = windows[std::string(pv::format_phone(binding.phone, pv::phone_format::e164).view())];
    pv::daily_usage* account_quota = pv::info(a).daily_quota ? &quotas[std::string(prepared->quota_account)] : nullptr;
    generator g{&rng};
    const pv::send_result sent = pv::finish_send(policy, key, *prepared, {account_quota, &phone_windows, &code, nullptr}, now, g);
    if (!sent) return {sent.error(), {}};
    return {pv::verdict{a}, std::string(sent->code.view())};
  }
  template <class Request>
  answer verify(const Request& r, const pv::facts& f) {
    constexpr pv::action a = Request::id;
    if (const pv::verdict flow = admit<Request>(f); !flow) return {flow, {}};
    const pv::preparation prepared = pv::prepare(r, f, policy);
    if (!prepared) return {prepared.error(), {}};
    if (!prepared->needs_code()) return {pv::verdict{a}, {}};
    const pv::code_binding& binding = *prepared->binding;
    pv::challenge& code = challenges[{binding.purpose, std::string(binding.account_id)}];
    return {pv::finish_verify(policy, key, *prepared, code, now), {}};
  }

  answer send_bind(const pv::send_verification_code_for_bind_secure_mobile_phone_request& r, const pv::facts& f) {
    return send(r, f);
  }
  answer bind(const pv::bind_secure_mobile_phone_request& r, const pv::facts& f) { return verify(r, f); }
  answer send_enable_rd(const pv::send_verification_code_for_enable_rd_request& r, const pv::facts& f) {
    return send(r, f);
  }
  answer enable_rd(const pv::enable_resource_directory_request& r, const pv::facts& f) { return verify(r, f); }
  answer cams_send(const pv::get_migration_verify_code_request& r, const pv::facts& f) { return send(r, f); }
  answer cams_verify(const pv::chatapp_migration_verified_request& r, const pv::facts& f) { return verify(r, f); }
  answer send_contact(const pv::send_phone_verification_for_message_contact_request& r, const pv::facts& f) {
    return send(r, f);
  }
};

// The totals of a whole run on the replay backend.
inline tally replay(std::uint64_t seed, std::uint32_t count) {
  replay_backend backend(simulation_config(0));
  tally totals;
  for (const scenario& s : make_scenarios(seed, count)) run_scenario(backend, s, totals);
  return totals;
}

}  // namespace simulation

#endif  // PHONEVERIFY_EXAMPLES_SIMULATION_HPP
