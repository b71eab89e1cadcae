// SPDX-License-Identifier: MIT
// phoneverify: the umbrella header (everything but an optional transport). It only
// includes: the whole pure core (core.hpp), the std::error_code glue, the
// lock-free shared daily counter and the embedded engine with its random
// source and store. Include core.hpp instead where compile time matters
// (README, "Compile time").
#ifndef PHONEVERIFY_PHONEVERIFY_HPP
#define PHONEVERIFY_PHONEVERIFY_HPP

#include "core.hpp"
#include "error_code.hpp"
#include "atomic_quota.hpp"
#include "random.hpp"
#include "store.hpp"
#include "engine.hpp"

#endif  // PHONEVERIFY_PHONEVERIFY_HPP
