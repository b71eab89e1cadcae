# The fleet on a real Redis Cluster (tests/fleet/test_cluster.cpp, the
# redis-server processes of tests/fleet/redis_cluster.hpp): with the hiredis
# transport only, in an executable of its own beside phoneverify_fleet_tests,
# registered as the ctest `fleet_cluster`. A cluster that cannot start fails
# the tests rather than skipping them.
if(TARGET phoneverify::redis AND PHONEVERIFY_BUILD_FLEET_TESTS)
  add_executable(phoneverify_cluster_tests fleet/test_cluster.cpp $<TARGET_OBJECTS:phoneverify_catch_main>)
  phoneverify_strict(phoneverify_cluster_tests)
  target_include_directories(phoneverify_cluster_tests PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
  target_link_libraries(phoneverify_cluster_tests PRIVATE phoneverify::redis Catch2::Catch2 Threads::Threads)
  add_test(NAME fleet_cluster COMMAND phoneverify_cluster_tests)
endif()
