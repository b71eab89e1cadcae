// Keeping the state in your own store: a service that runs on several
// machines keeps each binding's challenge and each account's daily_usage in a
// shared database and calls the pure core (actions.hpp) itself. Here the
// "database" is a map of byte strings; challenge::to_bytes / from_bytes give
// the documented 64-byte layout and daily_usage::to_bits the 8-byte one.
#include <phoneverify/core.hpp>

#include <array>
#include <cstdio>
#include <map>
#include <random>
#include <string>

namespace pv = phoneverify;

struct database {  // stand-in for Redis, PostgreSQL, ...
  std::map<std::string, pv::challenge_bytes> challenges;
  std::map<std::string, std::uint64_t> quotas;
  std::map<std::string, pv::per_phone_state> windows;
};

int main() {
  database db;
  const pv::action_policy policy;  // RULES.md defaults, the China site (policy.sites = china_site_policy)
  pv::secret_key key{};
  key.fill(std::byte{0x42});  // in production: 32 bytes from a secret store
  std::random_device entropy;  // a CSPRNG in production (random.hpp's system_random)
  // What the service knows. Every fact that would grant defaults to refusing:
  // action 1 needs a RAM identity of the management account, and the member
  // in this directory (its other facts are checked by action 2).
  const pv::facts facts{
      .caller = {.kind = pv::caller_kind::management_ram_identity, .account_id = "1234567890123456"},
      .account = {.membership = pv::directory_membership::this_directory},
  };
  const pv::send_verification_code_for_bind_secure_mobile_phone_request request{
      .secure_mobile_phone = "86-13900001234", .account_id = "1384512345678901"};
  const pv::timestamp now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());

  // 1. The pure steps say which keys the stateful steps need, or refuse.
  const pv::preparation prepared = pv::prepare(request, facts, policy);
  if (!prepared) {
    std::printf("refused: %s\n", pv::describe(prepared.error()).c_str());
    return 1;
  }
  const pv::code_binding& binding = *prepared->binding;  // every send has one
  const std::string challenge_key = "challenge:1:" + std::string(binding.account_id);
  const std::string quota_key = "quota:" + std::string(prepared->quota_account);
  const std::string phone_key = "phone:" + std::string(pv::format_phone(binding.phone, pv::phone_format::e164));

  // 2. Read the state (a missing row reads as fresh state), decide, write back.
  //    A real service does this in one transaction (or with compare-and-set).
  pv::challenge challenge = db.challenges.count(challenge_key)
                                ? pv::from_bytes(db.challenges[challenge_key]).value_or(pv::challenge{})
                                : pv::challenge{};
  pv::daily_usage usage = pv::daily_usage::from_bits(db.quotas[quota_key]);
  pv::per_phone_state& windows = db.windows[phone_key];
  const pv::send_state state{.account_quota = &usage, .phone_windows = &windows, .code = &challenge};
  const pv::send_result sent = pv::finish_send(policy, key, *prepared, state, now, entropy);
  db.challenges[challenge_key] = pv::to_bytes(challenge);
  db.quotas[quota_key] = usage.to_bits();

  if (!sent) {
    std::printf("send refused: %s\n", pv::describe(sent.error(), binding.phone).c_str());
    return 1;
  }
  // Deliver sent->code by SMS here; never log it.
  std::printf("send: ok, expires %s, %u codes sent today by this account\n", pv::format_iso8601(sent->expires_at).c_str(),
              usage.used());
  std::printf("stored challenge row: %zu bytes (never the code itself)\n", db.challenges[challenge_key].size());
  return 0;
}
