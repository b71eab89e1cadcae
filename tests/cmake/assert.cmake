# PHONEVERIFY_ASSERT (detail/config.hpp): a broken precondition prints
# "file:line: assertion failed: message" to stderr and aborts; a user's own
# PHONEVERIFY_ASSERT, defined before the headers, replaces it (RULES.md §9).
# Each case runs tests/assert/assert_message.cpp through expect_abort.cmake.
find_package(Threads REQUIRED)
foreach(_pv_mode default custom)
  add_executable(assert_message_${_pv_mode} "${CMAKE_CURRENT_SOURCE_DIR}/assert/assert_message.cpp")
  phoneverify_strict(assert_message_${_pv_mode})
  target_link_libraries(assert_message_${_pv_mode} PRIVATE Threads::Threads)
  if(_pv_mode STREQUAL "custom")
    target_compile_definitions(assert_message_${_pv_mode} PRIVATE PHONEVERIFY_ASSERT_CUSTOM=1)
  endif()
  foreach(_pv_case result engine_config)
    add_test(NAME assert_message_${_pv_mode}_${_pv_case}
             COMMAND "${CMAKE_COMMAND}" -DPROGRAM=$<TARGET_FILE:assert_message_${_pv_mode}> -DCASE=${_pv_case}
                     -DMODE=${_pv_mode} -P "${CMAKE_CURRENT_SOURCE_DIR}/assert/expect_abort.cmake")
  endforeach()
endforeach()
