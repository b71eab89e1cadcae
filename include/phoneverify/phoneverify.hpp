// phoneverify: the umbrella header. It only includes: the whole core
// (core.hpp), the std::error_code glue and the embedded engine. Include
// core.hpp instead where compile time matters (README, "Compile time").
#ifndef PHONEVERIFY_PHONEVERIFY_HPP
#define PHONEVERIFY_PHONEVERIFY_HPP

#include "core.hpp"
#include "error_code.hpp"

#endif  // PHONEVERIFY_PHONEVERIFY_HPP
