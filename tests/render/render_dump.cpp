// Writes rendered bodies to files for tests/render/check_bodies.py, which parses
// them with Python's own XML (expat) and JSON parsers: a real parser over the
// output, hostile request values included (RULES.md §6).
//
// Usage: phoneverify_render_dump <directory>. For each value i it writes
// i.value (the raw bytes) and, for each action, i.<action>.success.{json,xml}
// and, for each error the action documents plus MissingParameter,
// i.<action>.<code>.{json,xml} and i.<action>.<code>.message (the catalog
// message the body must carry, "%s" already replaced by the value).
#include <phoneverify/render.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace pv = phoneverify;
using namespace std::string_view_literals;

namespace {

constexpr std::string_view values[] = {
    "DCD43660-75DD-5D15-B342-1B83FCA5B913",
    "",
    "a\"b\\c'd",
    "<tag attr=\"x\">&amp;</tag>",
    "]]>",
    "<![CDATA[x]]>",
    "<!-- c -->",
    "&#0;&#x1;",
    "%s%s",
    "\t\n\r",
    "\r\n",
    "\0\x01\x08\x0b\x0c\x0e\x1f\x7f"sv,
    "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80",
    "\xEF\xBF\xBD\xEF\xBF\xBE\xEF\xBF\xBF",
    "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
    "\xC0\x80",
    "\xE2\x82x",
    "\xED\xA0\x80",
    "\xE0\x9F\x80",
    "\xF0\x9F\x98",
    "\xF4\x90\x80\x80",
    "\xFF\xFE\x80",
    "a\xC2",
};

bool write(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

template <class Render>
bool render_to(const std::filesystem::path& path, Render render) {
  std::vector<char> buffer(pv::max_body_size(8 * 64));
  const pv::render_result r = render(std::span<char>(buffer));
  if (!r.ok()) {
    std::fprintf(stderr, "render failed for %s\n", path.string().c_str());
    return false;
  }
  return write(path, std::string_view(buffer.data(), r.size));
}

std::string substituted(std::string_view message, std::string_view value) {
  std::string out(message);
  const auto at = out.find("%s");
  if (at != std::string::npos) out.replace(at, 2, value);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <directory>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir(argv[1]);
  std::filesystem::create_directories(dir);
  bool ok = true;
  for (std::size_t i = 0; i < std::size(values); ++i) {
    const std::string_view v = values[i];
    const std::string stem = std::to_string(i);
    ok = write(dir / (stem + ".value"), v) && ok;
    for (pv::action a : pv::all_actions) {
      const std::string name(pv::action_name(a));
      for (pv::body_format f : {pv::body_format::json, pv::body_format::xml}) {
        const std::string ext = f == pv::body_format::json ? ".json" : ".xml";
        ok = render_to(dir / (stem + "." + name + ".success" + ext),
                       [&](std::span<char> out) { return pv::render_success(out, f, a, {v, v, v, v, v, v}); }) &&
             ok;
        std::vector<pv::errc> codes;
        for (const auto& row : pv::documented_errors(a)) codes.push_back(row.code);
        codes.push_back(pv::errc::missing_parameter);
        for (pv::errc e : codes) {
          const std::string base = stem + "." + name + "." + std::string(pv::code_string(e));
          ok = render_to(dir / (base + ext),
                         [&](std::span<char> out) { return pv::render_error(out, f, a, e, {v, v, v, v}); }) &&
               ok;
          ok = write(dir / (base + ".message"), substituted(pv::message(e, a), v)) && ok;
        }
      }
    }
  }
  std::printf("wrote %zu values to %s\n", std::size(values), dir.string().c_str());
  return ok ? 0 : 1;
}
