# Verification codes (RULES.md §5): check_code's constant-time comparison under
# valgrind memcheck (RULES.md §5). Registered only when valgrind and its
# client-request header are found, and not in sanitizer builds (valgrind
# cannot run ASan binaries).
find_program(PHONEVERIFY_VALGRIND valgrind)
find_path(PHONEVERIFY_VALGRIND_INCLUDE valgrind/memcheck.h)
if(PHONEVERIFY_VALGRIND AND PHONEVERIFY_VALGRIND_INCLUDE AND NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize")
  add_executable(code_constant_time "${CMAKE_CURRENT_SOURCE_DIR}/valgrind/code_constant_time.cpp")
  phoneverify_strict(code_constant_time)
  target_include_directories(code_constant_time SYSTEM PRIVATE "${PHONEVERIFY_VALGRIND_INCLUDE}")
  # valgrind 3.19 cannot read all of clang 14's default DWARF 5.
  target_compile_options(code_constant_time PRIVATE $<$<CXX_COMPILER_ID:Clang>:-gdwarf-4>)
  add_test(NAME code_constant_time
           COMMAND "${PHONEVERIFY_VALGRIND}" --error-exitcode=1 --track-origins=yes -q
                   $<TARGET_FILE:code_constant_time>)
  # The control compares the secret with an early exit: memcheck must flag it.
  add_test(NAME code_constant_time_control
           COMMAND "${PHONEVERIFY_VALGRIND}" --error-exitcode=1 -q
                   $<TARGET_FILE:code_constant_time> --leaky-control)
  set_tests_properties(code_constant_time_control PROPERTIES WILL_FAIL TRUE)
else()
  message(STATUS "phoneverify: valgrind not found (or a sanitizer build): code_constant_time not registered")
endif()
