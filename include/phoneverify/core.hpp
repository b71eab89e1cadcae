// phoneverify: the light umbrella. Every rule of the library (layers 0-3 of
// DESIGN.md) without <system_error> and without the engine's threads and
// locks. Prefer it in translation units that only decide requests.
#ifndef PHONEVERIFY_CORE_HPP
#define PHONEVERIFY_CORE_HPP

#include "version.hpp"
#include "errc.hpp"
#include "result.hpp"
#include "inline_string.hpp"
#include "country_codes.hpp"
#include "phone.hpp"
#include "site.hpp"

#endif  // PHONEVERIFY_CORE_HPP
