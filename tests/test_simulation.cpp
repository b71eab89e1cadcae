// The main job's simulation (examples/simulation.hpp): the engine, driven from
// two threads, gives the same verdict totals as an independent single-threaded
// replay of the same seed on the pure core (std::map state, actions.hpp).
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "../examples/simulation.hpp"
#include "support.hpp"

namespace pv = phoneverify;

TEST_CASE("the simulation's totals from 2 threads equal a single-threaded replay of the same seed", "[engine][simulation]") {
  const std::uint64_t seed = phoneverify::test::test_seed("simulation", 2026);
  constexpr std::uint32_t count = 1500;
  const auto scenarios = simulation::make_scenarios(seed, count);
  pv::engine engine(simulation::simulation_config(8 * count), [] { return simulation::thread_time(); },
                    std::make_shared<pv::seeded_random_source>(seed));
  simulation::tally per_thread[2];
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < 2; ++t) {
    pool.emplace_back([&, t] {
      simulation::engine_backend backend{engine};
      for (std::size_t i = t; i < scenarios.size(); i += 2) simulation::run_scenario(backend, scenarios[i], per_thread[t]);
    });
  }
  for (auto& th : pool) th.join();
  simulation::tally totals;
  simulation::merge(totals, per_thread[0]);
  simulation::merge(totals, per_thread[1]);
  const simulation::tally expected = simulation::replay(seed, count);
  CHECK(totals == expected);
  // The workload exercises what the issue lists: each of these verdicts occurs.
  using pv::action;
  using pv::errc;
  CHECK(totals[{action::bind_secure_mobile_phone, errc::ok}] > 0);
  CHECK(totals[{action::bind_secure_mobile_phone, errc::invalid_verification_code}] > 0);  // typos, expiry, guessing
  CHECK(totals[{action::send_verification_code_for_bind_secure_mobile_phone,
                errc::send_validate_code_exceeds_limit_for_account}] > 0);                  // SMS pumping
  CHECK(totals[{action::send_verification_code_for_bind_secure_mobile_phone,
                errc::invalid_parameter_mobile_country_code}] > 0);                         // 86 abroad
  CHECK(totals[{action::get_migration_verify_code, errc::system_limit_control}] > 0);       // bursts
  CHECK(totals[{action::enable_resource_directory, errc::ok}] > 0);
  CHECK(totals[{action::chatapp_migration_verified, errc::ok}] > 0);
  CHECK(totals[{action::send_phone_verification_for_message_contact, errc::entity_not_exists_contact}] > 0);
}

TEST_CASE("each simulated scenario gives the verdicts its story says", "[engine][simulation]") {
  // One scenario of each kind through the replay: the story, verdict by verdict.
  using pv::action;
  using pv::errc;
  auto run = [](simulation::scenario_kind kind) {
    simulation::replay_backend backend(simulation::simulation_config(0));
    simulation::tally t;
    simulation::run_scenario(backend, {kind, 7}, t);
    return t;
  };
  auto brute = run(simulation::scenario_kind::brute_force);
  CHECK(brute[{action::bind_secure_mobile_phone, errc::invalid_verification_code}] == 7);
  auto typo = run(simulation::scenario_kind::typo_then_right);
  CHECK(typo[{action::bind_secure_mobile_phone, errc::invalid_verification_code}] == 1);
  CHECK(typo[{action::bind_secure_mobile_phone, errc::ok}] == 1);
  auto expired = run(simulation::scenario_kind::expired_then_resend);
  CHECK(expired[{action::bind_secure_mobile_phone, errc::invalid_verification_code}] == 1);
  CHECK(expired[{action::send_verification_code_for_bind_secure_mobile_phone, errc::ok}] == 2);
  auto pumping = run(simulation::scenario_kind::sms_pumping);
  // 1 per minute at one phone: of the sends every 20 s for 220 s, those at 0, 60, 120 and 180 s pass.
  CHECK(pumping[{action::send_verification_code_for_bind_secure_mobile_phone, errc::ok}] == 4);
  CHECK(pumping[{action::send_verification_code_for_bind_secure_mobile_phone,
                 errc::send_validate_code_exceeds_limit_for_account}] == 8);
  auto burst = run(simulation::scenario_kind::cams_burst);
  CHECK(burst[{action::get_migration_verify_code, errc::ok}] == 11);
  CHECK(burst[{action::get_migration_verify_code, errc::system_limit_control}] == 3);
  CHECK(burst[{action::chatapp_migration_verified, errc::ok}] == 1);
}
