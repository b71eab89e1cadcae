// SPDX-License-Identifier: MIT
// phoneverify: the light umbrella. Every rule of the library (layers 0-3 of
// the README's layer table) without <system_error> and without the engine's threads, locks
// and heap. Prefer it in translation units that only decide requests.
#ifndef PHONEVERIFY_CORE_HPP
#define PHONEVERIFY_CORE_HPP

// Layer 0: errors, results, strings
#include "version.hpp"
#include "errc.hpp"
#include "result.hpp"
#include "inline_string.hpp"
// Layer 1: phone numbers, sites, time, hashing
#include "country_codes.hpp"
#include "phone.hpp"
#include "site.hpp"
#include "time.hpp"
#include "crypto.hpp"
// Layer 2: limits and codes
#include "quota.hpp"
#include "code.hpp"
// Layer 3: parameters, bodies, actions
#include "params.hpp"
#include "render.hpp"
#include "actions.hpp"

#endif  // PHONEVERIFY_CORE_HPP
