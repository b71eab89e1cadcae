# render.hpp: the bodies parsed by real parsers. phoneverify_render_dump writes
# JSON and XML bodies for hostile values; check_bodies.py parses them with
# Python's expat-based ElementTree and json and compares every field with a
# value it computes itself. Registered only when python3 is found.
add_executable(phoneverify_render_dump "${CMAKE_CURRENT_SOURCE_DIR}/render/render_dump.cpp")
phoneverify_strict(phoneverify_render_dump)
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  add_test(NAME render_bodies_python
           COMMAND "${Python3_EXECUTABLE}" "${CMAKE_CURRENT_SOURCE_DIR}/render/check_bodies.py"
                   "$<TARGET_FILE:phoneverify_render_dump>" "${CMAKE_CURRENT_BINARY_DIR}/render_bodies")
endif()
