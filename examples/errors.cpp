// Prints each action's documented errors: what the catalog knows.
#include <cstdio>
#include <phoneverify/phoneverify.hpp>

int main() {
  namespace pv = phoneverify;
  for (pv::action a : pv::all_actions) {
    std::printf("%.*s\n", static_cast<int>(pv::action_name(a).size()), pv::action_name(a).data());
    for (const auto& row : pv::documented_errors(a)) {
      const auto code = pv::code_string(row.code);
      std::printf("  %d %-52.*s %.*s\n", row.http_status, static_cast<int>(code.size()), code.data(),
                  static_cast<int>(row.message.size()), row.message.data());
    }
  }
  return 0;
}
