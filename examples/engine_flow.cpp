// The send/bind flow with the embedded engine: send a code to a member's
// phone, bind the phone with it, and see what the wire gets for a wrong code.
#include <phoneverify/engine.hpp>

#include <cstdio>

int main() {
  namespace pv = phoneverify;
  pv::engine_config config;
  config.policy.sites = pv::international_site_policy;  // the deployment's site: here and nowhere else
  config.key.fill(std::byte{0x5e});  // in production: 32 secret bytes from a secret store
  auto created = pv::engine::create(config);  // a misconfiguration fails here, not on the wire
  if (!created) {
    std::fprintf(stderr, "%s\n", pv::describe(created.error()).data());
    return 1;
  }
  pv::engine& engine = *created;

  // What the service knows. Each fact that would grant defaults to refusing,
  // so set the ones the actions read: here a RAM user of the management
  // account, binding a phone to a member of this directory that has its
  // enterprise name and real-name verification.
  pv::facts facts;
  facts.caller.kind = pv::caller_kind::management_ram_identity;
  facts.caller.account_id = "1234567890123456";
  facts.account.membership = pv::directory_membership::this_directory;
  facts.account.enterprise_name_set = true;
  facts.account.real_name_verified = true;

  const auto sent = engine.send_verification_code_for_bind_secure_mobile_phone({"44-7911123456", "1384512345678901"}, facts);
  std::printf("send:  %d %.*s\n", sent.v.http_status, static_cast<int>(sent.body().size()), sent.body().data());
  if (!sent.ok()) return 1;
  // Deliver sent.code.code by SMS here; never log it.

  const auto wrong = engine.bind_secure_mobile_phone({"000000", "44-7911123456", "1384512345678901"}, facts);
  const auto reason = pv::describe(wrong.v.reason);
  std::printf("wrong: %d %.*s\n       (for the logs: %.*s)\n", wrong.v.http_status, static_cast<int>(wrong.body().size()),
              wrong.body().data(), static_cast<int>(reason.size()), reason.data());

  const auto bound = engine.bind_secure_mobile_phone({sent.code.code, "44-7911123456", "1384512345678901"}, facts);
  std::printf("bind:  %d %.*s\n", bound.v.http_status, static_cast<int>(bound.body().size()), bound.body().data());
  return bound.ok() ? 0 : 1;
}
