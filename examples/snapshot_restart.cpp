// A service that survives its restarts without handing out fresh budgets:
// at start-up it loads the engine's last snapshot from a file, and while it
// serves it writes a new snapshot every few requests (to a temporary file,
// then renamed over the old one, so a crash mid-write leaves the previous
// snapshot whole). The library opens no file: this program does, through the
// sink and source it gives write_snapshot and restore.
//
// The run plays two lives of the service on a simulated clock: the first
// sends codes, spends an account's daily quota and locks a binding with wrong
// codes, and stops; the second starts from the snapshot 30 s later, binds
// with a code sent before the restart, and still refuses the spent quota and
// the locked binding. A damaged copy of the file is then refused whole.
//
// Usage: example_snapshot_restart [--file PATH]   (default ./snapshot_restart.pvsnap)
#include <phoneverify/engine.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace pv = phoneverify;
using namespace std::chrono_literals;

namespace {

// The simulated time of both lives (a real service passes system_now).
std::atomic<std::int64_t> now_ms{1'767'225'600'000};
pv::timestamp simulated_now() { return pv::timestamp{std::chrono::milliseconds{now_ms.load()}}; }
void advance(std::chrono::milliseconds d) { now_ms += d.count(); }

pv::engine_config service_config() {
  pv::engine_config config;
  config.policy.sites = pv::international_site_policy;
  config.key.fill(std::byte{0x5e});  // 32 secret bytes from a secret store in production
  config.policy.daily.limit = 3;     // small, so the example spends it
  config.policy.code.max_consecutive_failures = 3;
  config.capacity = 1024;
  return config;
}

pv::facts service_facts() {
  pv::facts f;
  f.caller.kind = pv::caller_kind::management_ram_identity;
  f.account.membership = pv::directory_membership::this_directory;
  f.account.enterprise_name_set = true;
  f.account.real_name_verified = true;
  return f;
}

// Writes the engine's snapshot to `path` through a temporary file renamed
// over it: the old snapshot stays whole until the new one is complete.
bool save_snapshot(pv::engine& engine, const std::string& path) {
  const std::string temporary = path + ".tmp";
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) return false;
  const pv::snapshot_error e = engine.write_snapshot([file](std::span<const std::byte> chunk) {
    return std::fwrite(chunk.data(), 1, chunk.size(), file) == chunk.size();
  });
  const bool closed = std::fclose(file) == 0;
  if (e != pv::snapshot_error::ok || !closed) {
    std::printf("  snapshot not written: %s\n", pv::describe(e).data());
    std::remove(temporary.c_str());
    return false;
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;
}

// The engine of a service starting up: from the snapshot at `path` when one
// loads, else a fresh one (and the log says what a fresh start gives away).
std::unique_ptr<pv::engine> start(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file != nullptr) {
    pv::restored_engine restored = pv::engine::restore(
        service_config(),
        [file](std::span<std::byte> into) -> std::optional<std::size_t> {
          const std::size_t n = std::fread(into.data(), 1, into.size(), file);
          if (n == 0 && std::ferror(file) != 0) return std::nullopt;
          return n;
        },
        simulated_now);
    std::fclose(file);
    if (restored) {
      std::printf("  start-up: snapshot loaded: %zu entries, %zu dropped (died since it was written)\n",
                  restored.stats().loaded, restored.stats().dropped);
      return restored.release();
    }
    std::printf("  start-up: %s\n", pv::describe(restored.error()).data());
  }
  std::printf("  start-up: a fresh engine (every daily quota, window, lockout and pending code is forgotten)\n");
  return std::move(pv::engine::create(service_config(), simulated_now)).release();
}

int failures = 0;
void expect(bool ok, const char* what) {
  std::printf("  %-66s %s\n", what, ok ? "yes" : "NO");
  if (!ok) ++failures;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = "snapshot_restart.pvsnap";
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--file") == 0) path = argv[i + 1];
  std::remove(path.c_str());  // the example starts from nothing
  const pv::facts f = service_facts();
  const pv::send_verification_code_for_bind_secure_mobile_phone_request alice{"44-7911123456", "1384512345678901"};
  const pv::send_verification_code_for_bind_secure_mobile_phone_request mallory{"44-7911654321", "1384512345678902"};
  std::string alice_code;

  std::printf("first life:\n");
  {
    std::unique_ptr<pv::engine> engine = start(path);
    int served = 0;
    const auto serve = [&](const pv::engine_response& r) {
      // Every 4 requests a snapshot; a real service would rather use a timer (every few seconds).
      if (++served % 4 == 0 && !save_snapshot(*engine, path)) ++failures;
      return r;
    };
    // Alice spends her daily quota of 3 on three codes, 2 minutes apart.
    for (int i = 0; i < 3; ++i) {
      const auto sent = serve(engine->send_verification_code_for_bind_secure_mobile_phone(alice, f));
      if (sent.ok()) alice_code = std::string(sent.code_to_deliver());
      advance(2min);
    }
    // Mallory gets a code and guesses three times: the binding locks.
    serve(engine->send_verification_code_for_bind_secure_mobile_phone(mallory, f));
    for (const char* guess : {"111111", "222222", "333333"})
      serve(engine->bind_secure_mobile_phone({guess, mallory.secure_mobile_phone, mallory.account_id}, f));
    expect(engine->send_verification_code_for_bind_secure_mobile_phone(alice, f).reason() ==
               pv::verdict_reason::daily_quota_exceeded,
           "Alice's daily quota is spent");
    // The process stops after its last periodic snapshot (a planned stop
    // writes one more, as here, so nothing served since is lost).
    if (!save_snapshot(*engine, path)) ++failures;
  }

  advance(30s);
  std::printf("second life, 30 s later:\n");
  {
    std::unique_ptr<pv::engine> engine = start(path);
    expect(engine->bind_secure_mobile_phone({alice_code, alice.secure_mobile_phone, alice.account_id}, f).ok(),
           "Alice's code, sent before the restart, binds after it");
    advance(2min);
    expect(engine->send_verification_code_for_bind_secure_mobile_phone(alice, f).reason() ==
               pv::verdict_reason::daily_quota_exceeded,
           "Alice's spent daily quota is still spent");
    expect(engine->send_verification_code_for_bind_secure_mobile_phone(mallory, f).reason() ==
               pv::verdict_reason::binding_locked,
           "Mallory's binding is still locked");
  }

  // A damaged file is refused whole: the service starts fresh (or, if it
  // prefers, refuses to start), never with half a snapshot.
  std::printf("a damaged snapshot:\n");
  {
    std::FILE* file = std::fopen(path.c_str(), "r+b");
    if (file == nullptr || std::fseek(file, 40, SEEK_SET) != 0) return 1;
    const int byte = std::fgetc(file);
    std::fseek(file, 40, SEEK_SET);
    std::fputc(byte ^ 0x20, file);
    std::fclose(file);
    std::unique_ptr<pv::engine> engine = start(path);
    expect(engine->send_verification_code_for_bind_secure_mobile_phone(mallory, f).ok(),
           "the fresh engine has forgotten Mallory's lock (what a restart gives away)");
  }
  std::remove(path.c_str());
  std::printf("%s\n", failures == 0 ? "snapshot_restart: ok" : "snapshot_restart: FAILED");
  return failures == 0 ? 0 : 1;
}
