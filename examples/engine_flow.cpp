// The send/bind flow with the embedded engine: send a code to a member's
// phone, bind the phone with it, and log each outcome, a wrong code included.
#include <phoneverify/engine.hpp>

#include <cstdio>

namespace pv = phoneverify;

// What the wire gets (status and body) and what the logs get: describe() names
// the reason in words, the parameter at fault, the masked phone and the
// RequestId, never the code.
void log(const char* step, const pv::engine_response& response) {
  const std::string_view body = response.body();
  std::printf("%-5s %d %.*s\n      log: %s\n", step, response.http_status(), static_cast<int>(body.size()), body.data(),
              pv::describe(response).c_str());
}

int main() {
  pv::engine_config config;
  config.policy.sites = pv::international_site_policy;  // the deployment's site: here and nowhere else
  config.key.fill(std::byte{0x5e});                     // in production: 32 secret bytes from a secret store
  auto created = pv::engine::create(config);            // a misconfiguration fails here, not on the wire
  if (!created) {
    std::fprintf(stderr, "%s\n", pv::describe(created.error()).data());
    return 1;
  }
  pv::engine& engine = *created;

  // What the service knows. Each fact that would grant defaults to refusing,
  // so set the ones the actions read: a RAM user of the management account
  // binds a phone to a member of this directory that has its enterprise name
  // and real-name verification.
  const pv::facts facts{
      .caller = {.kind = pv::caller_kind::management_ram_identity, .account_id = "1234567890123456"},
      .account = {.membership = pv::directory_membership::this_directory,
                  .enterprise_name_set = true,
                  .real_name_verified = true},
  };
  const std::string_view phone = "44-7911123456";
  const std::string_view member = "1384512345678901";

  const auto sent =
      engine.send_verification_code_for_bind_secure_mobile_phone({.secure_mobile_phone = phone, .account_id = member}, facts);
  log("send", sent);
  if (!sent) return 1;
  // Deliver sent.code_to_deliver() by SMS here; never log it.

  const auto wrong = engine.bind_secure_mobile_phone(
      {.verification_code = "000000", .secure_mobile_phone = phone, .account_id = member}, facts);
  log("wrong", wrong);

  const auto bound = engine.bind_secure_mobile_phone(
      {.verification_code = sent.code_to_deliver(), .secure_mobile_phone = phone, .account_id = member}, facts);
  log("bind", bound);
  return bound ? 0 : 1;
}
