# The repository itself (RULES.md, "How to read this file"):
# - repository_self_contained: no file points outside the repository (the
#   external rule file, the page copies, a path of one machine, a relative path
#   above the root): a clone holds every source the product cites.
# - rules_cite_existing_tests: every Catch2 test case RULES.md cites exists in
#   phoneverify_tests and in the test file the citation names.
# Both are bash scripts under tools/.
find_program(PHONEVERIFY_BASH bash)
if(PHONEVERIFY_BASH)
  add_test(NAME repository_self_contained
           COMMAND "${PHONEVERIFY_BASH}" "${PROJECT_SOURCE_DIR}/tools/check-self-contained" --strict "${PROJECT_SOURCE_DIR}")
  if(TARGET phoneverify_tests)
    add_test(NAME rules_cite_existing_tests
             COMMAND "${PHONEVERIFY_BASH}" "${PROJECT_SOURCE_DIR}/tools/check-rules-citations"
                     $<TARGET_FILE:phoneverify_tests> "${PROJECT_SOURCE_DIR}/RULES.md")
  endif()
else()
  message(STATUS "phoneverify: bash not found: repository_self_contained and rules_cite_existing_tests not registered")
endif()
