// SPDX-License-Identifier: MIT
// phoneverify: the library's version. The CMake project version is read from
// this file, so the two always agree (tests/test_version.cpp checks it).
#ifndef PHONEVERIFY_VERSION_HPP
#define PHONEVERIFY_VERSION_HPP

#define PHONEVERIFY_VERSION_MAJOR 0
#define PHONEVERIFY_VERSION_MINOR 1
#define PHONEVERIFY_VERSION_PATCH 0
#define PHONEVERIFY_VERSION_STRING "0.1.0"
// One integer that orders versions: major * 10000 + minor * 100 + patch.
#define PHONEVERIFY_VERSION \
  (PHONEVERIFY_VERSION_MAJOR * 10000 + PHONEVERIFY_VERSION_MINOR * 100 + PHONEVERIFY_VERSION_PATCH)

#endif  // PHONEVERIFY_VERSION_HPP
