// Prints each action's documented errors: what the catalog knows (RULES.md §6).
#include <phoneverify/errc.hpp>

#include <cstdio>
#include <string>

int main() {
  namespace pv = phoneverify;
  for (pv::action a : pv::all_actions) {
    std::printf("%s\n", std::string(pv::action_name(a)).c_str());
    for (const auto& row : pv::documented_errors(a))
      std::printf("  %d %-52s %s\n", row.http_status, std::string(pv::code_string(row.code)).c_str(),
                  std::string(row.message).c_str());
  }
  return 0;
}
