// expect: precondition_failed
// A moved-from chacha20_generator is wiped and unusable: drawing from it is a
// precondition violation, so in a constant expression it does not compile
// (random.hpp: a second user of one key would repeat the stream).
#include <phoneverify/random.hpp>

#include <utility>

constexpr bool draw_after_move() {
  phoneverify::chacha20_generator a(phoneverify::chacha20_generator::key_type{});
  phoneverify::chacha20_generator b(std::move(a));
#ifdef PHONEVERIFY_COMPILE_FAIL_CONTROL
  return b() != b();
#else
  return a() != b();
#endif
}
static_assert(draw_after_move());

int main() { return 0; }
