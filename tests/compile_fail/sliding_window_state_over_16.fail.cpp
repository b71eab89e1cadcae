// expect: a rolling quota of more keeps rolling_usage
// sliding_window_state holds at most 16 times (RULES.md §4): a larger N does
// not compile, and the message names the state that holds more.
#include <phoneverify/quota.hpp>

#ifdef PHONEVERIFY_COMPILE_FAIL_CONTROL
phoneverify::sliding_window_state<16> state;
#else
phoneverify::sliding_window_state<17> state;
#endif

int main() { return static_cast<int>(state.size()); }
