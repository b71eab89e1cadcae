// The send/bind flow with the embedded engine: send a code to a member's
// phone, bind the phone with it, and see what the wire gets for a wrong code.
#include <phoneverify/engine.hpp>

#include <cstdio>

int main() {
  namespace pv = phoneverify;
  pv::engine_config config;
  config.on_site = pv::site::international;
  config.key.fill(std::byte{0x5e});  // in production: 32 secret bytes from a secret store
  pv::engine engine(config);

  pv::facts facts;  // what the service knows: here a RAM user of the management account
  facts.caller.account_id = "1234567890123456";

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
