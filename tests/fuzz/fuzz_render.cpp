// Fuzz target for render.hpp: random field values, action, error, format and
// buffer size. Invariants (abort on violation):
// - ok => size == required <= buffer size, and the body parses with the strict
//   checker below (only the escapes render.hpp documents, valid UTF-8, the
//   documented members/elements in order) and every field gives back the
//   value, sanitised by an independent UTF-8 decoder written here;
// - buffer_too_small => required > buffer size, size == 0, the buffer zeroed,
//   and a buffer of exactly `required` bytes then succeeds;
// - invalid_argument only for errc::ok; required <= max_body_size(value bytes).
#include <phoneverify/render.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pv = phoneverify;

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

using code_points = std::vector<std::uint32_t>;

// Independent UTF-8 decoding with one U+FFFD per maximal ill-formed subpart:
// a prefix is kept as long as some valid scalar value of that length starts
// with it (its completions span an interval that meets the valid range and is
// not all surrogates).
code_points decode_replacing(std::string_view s) {
  code_points out;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t lead_bits = 0;
    if ((b0 & 0xE0) == 0xC0) length = 2, lead_bits = b0 & 0x1Fu;
    else if ((b0 & 0xF0) == 0xE0) length = 3, lead_bits = b0 & 0x0Fu;
    else if ((b0 & 0xF8) == 0xF0) length = 4, lead_bits = b0 & 0x07u;
    const std::uint32_t min_cp = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
    const std::uint32_t max_cp = length == 2 ? 0x7FF : length == 3 ? 0xFFFF : 0x10FFFF;
    auto prefix_ok = [&](std::size_t taken, std::uint32_t bits) {
      // completions: remaining continuation bytes all 0x80 (low) or 0xBF (high)
      const unsigned shift = static_cast<unsigned>(6 * (length - taken));
      const std::uint32_t lo = bits << shift;
      const std::uint32_t hi = (bits << shift) | ((1u << shift) - 1);
      if (hi < min_cp || lo > max_cp) return false;
      return !(lo >= 0xD800 && hi <= 0xDFFF);
    };
    std::size_t taken = 1;
    std::uint32_t bits = lead_bits;
    bool valid = length != 0 && prefix_ok(1, bits);
    while (valid && taken < length) {
      if (i + taken >= s.size()) {
        valid = false;
        break;
      }
      const auto b = static_cast<unsigned char>(s[i + taken]);
      if ((b & 0xC0) != 0x80 || !prefix_ok(taken + 1, (bits << 6) | (b & 0x3Fu))) {
        valid = false;
        break;
      }
      bits = (bits << 6) | (b & 0x3Fu);
      ++taken;
    }
    out.push_back(valid ? bits : 0xFFFD);
    i += taken;
  }
  return out;
}

code_points xml_sanitised(code_points cps) {
  for (auto& c : cps)
    if ((c < 0x20 && c != 0x9 && c != 0xA && c != 0xD) || c == 0xFFFE || c == 0xFFFF) c = 0xFFFD;
  return cps;
}

// Strict decoding of the UTF-8 a body carries: anything ill-formed aborts.
void append_utf8_strict(std::string_view s, std::size_t& i, code_points& out) {
  const code_points one = decode_replacing(s.substr(i, 4));
  require(!one.empty());
  std::uint32_t cp = one[0];
  // decode_replacing maps a bad subpart to U+FFFD: accept U+FFFD only when it is literally EF BF BD.
  std::size_t length = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  if (cp == 0xFFFD) require(s.substr(i, 3) == "\xEF\xBF\xBD");
  out.push_back(cp);
  i += length;
}

struct parsed_field {
  std::string path;
  code_points value;
};

class json_checker {
 public:
  explicit json_checker(std::string_view s) : s_(s) {}
  std::vector<parsed_field> parse() {
    object("");
    require(i_ == s_.size());
    return std::move(fields_);
  }

 private:
  void expect(char c) {
    require(i_ < s_.size() && s_[i_] == c);
    ++i_;
  }
  void object(const std::string& prefix) {
    expect('{');
    bool first = true;
    while (true) {
      require(i_ < s_.size());
      if (s_[i_] == '}') {
        ++i_;
        return;
      }
      if (!first) expect(',');
      first = false;
      const code_points key = string();
      std::string name;
      for (auto c : key) {
        require(c < 0x80);
        name += static_cast<char>(c);
      }
      expect(':');
      require(i_ < s_.size());
      if (s_[i_] == '{') {
        object(prefix + name + ".");
      } else {
        fields_.push_back({prefix + name, string()});
      }
    }
  }
  code_points string() {
    expect('"');
    code_points out;
    while (true) {
      require(i_ < s_.size());
      const auto u = static_cast<unsigned char>(s_[i_]);
      if (u == '"') {
        ++i_;
        return out;
      }
      require(u >= 0x20);  // raw control characters are not JSON
      if (u == '\\') {
        require(i_ + 1 < s_.size());
        const char e = s_[i_ + 1];
        if (e == '"' || e == '\\') {
          out.push_back(static_cast<unsigned char>(e));
          i_ += 2;
          continue;
        }
        // Only \u00XX for control characters: the escapes render.hpp documents.
        require(e == 'u' && i_ + 6 <= s_.size() && s_.substr(i_ + 2, 2) == "00");
        std::uint32_t v = 0;
        for (std::size_t k = 4; k < 6; ++k) {
          const char h = s_[i_ + k];
          require((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f'));
          v = v * 16 + static_cast<std::uint32_t>(h <= '9' ? h - '0' : h - 'a' + 10);
        }
        require(v < 0x20);
        out.push_back(v);
        i_ += 6;
        continue;
      }
      append_utf8_strict(s_, i_, out);
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::vector<parsed_field> fields_;
};

class xml_checker {
 public:
  explicit xml_checker(std::string_view s) : s_(s) {}
  std::vector<parsed_field> parse(std::string& root) {
    constexpr std::string_view decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    require(s_.substr(0, decl.size()) == decl);
    i_ = decl.size();
    root = open_tag();
    children(root, "");
    require(i_ == s_.size());
    return std::move(fields_);
  }

 private:
  std::string name() {
    std::string n;
    while (i_ < s_.size() && ((s_[i_] >= 'A' && s_[i_] <= 'Z') || (s_[i_] >= 'a' && s_[i_] <= 'z'))) n += s_[i_++];
    require(!n.empty());
    return n;
  }
  std::string open_tag() {
    require(i_ < s_.size() && s_[i_] == '<');
    ++i_;
    std::string n = name();
    require(i_ < s_.size() && s_[i_] == '>');
    ++i_;
    return n;
  }
  void close_tag(const std::string& n) {
    require(s_.substr(i_, 2) == "</");
    i_ += 2;
    require(name() == n);
    require(i_ < s_.size() && s_[i_] == '>');
    ++i_;
  }
  // Children of an element that holds elements, up to its end tag.
  void children(const std::string& parent, const std::string& prefix) {
    while (s_.substr(i_, 2) != "</") {
      const std::string n = open_tag();
      if (i_ < s_.size() && s_[i_] == '<' && s_.substr(i_, 2) != "</") {
        children(n, prefix + n + ".");
      } else {
        fields_.push_back({prefix + n, text()});
        close_tag(n);
      }
    }
    close_tag(parent);
  }
  code_points text() {
    code_points out;
    while (true) {
      require(i_ < s_.size());
      const auto u = static_cast<unsigned char>(s_[i_]);
      if (u == '<') return out;
      require(u != '>' && u != '"' && u != '\'' && u >= 0x20);  // always escaped by render.hpp
      if (u == '&') {
        const std::size_t semi = s_.find(';', i_);
        require(semi != std::string_view::npos);
        const std::string_view ref = s_.substr(i_ + 1, semi - i_ - 1);
        if (ref == "amp") out.push_back('&');
        else if (ref == "lt") out.push_back('<');
        else if (ref == "gt") out.push_back('>');
        else if (ref == "quot") out.push_back('"');
        else if (ref == "apos") out.push_back('\'');
        else if (ref == "#9") out.push_back(9);
        else if (ref == "#10") out.push_back(10);
        else if (ref == "#13") out.push_back(13);
        else require(false);
        i_ = semi + 1;
        continue;
      }
      append_utf8_strict(s_, i_, out);
      require(out.back() != 0xFFFE && out.back() != 0xFFFF);
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::vector<parsed_field> fields_;
};

std::string_view take(const std::uint8_t*& data, std::size_t& size) {
  if (size == 0) return {};
  std::size_t n = data[0];
  ++data;
  --size;
  if (n > size) n = size;
  const std::string_view out(reinterpret_cast<const char*>(data), n);
  data += n;
  size -= n;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const auto f = (data[0] & 1) ? pv::body_format::xml : pv::body_format::json;
  const bool success = (data[0] & 2) != 0;
  const auto a = pv::all_actions[data[1] % pv::action_count];
  const auto e = static_cast<pv::errc>(data[2] % pv::errc_count);
  const std::size_t buffer_size = static_cast<std::size_t>(data[3]) * 4;
  data += 4;
  size -= 4;
  std::string_view v[6];
  std::size_t value_bytes = 0;
  for (auto& x : v) {
    x = take(data, size);
    value_bytes += x.size();
  }

  auto render = [&](std::span<char> out) {
    return success ? pv::render_success(out, f, a, {v[0], v[1], v[2], v[3], v[4], v[5]})
                   : pv::render_error(out, f, a, e, {v[0], v[1], v[2], v[3]});
  };
  std::vector<char> buffer(buffer_size, 'x');
  const pv::render_result r = render(std::span<char>(buffer.data(), buffer.size()));

  if (r.status == pv::render_status::invalid_argument) {
    require(!success && e == pv::errc::ok && r.size == 0 && r.required == 0);
    return 0;
  }
  require(success || e != pv::errc::ok);
  require(r.required <= pv::max_body_size(value_bytes));
  if (!r.ok()) {
    require(r.status == pv::render_status::buffer_too_small);
    require(r.size == 0 && r.required > buffer_size);
    for (char c : buffer) require(c == '\0');
    buffer.assign(r.required, 'x');
    const pv::render_result again = render(std::span<char>(buffer.data(), buffer.size()));
    require(again.ok() && again.required == r.required);
  } else {
    require(r.size == r.required && r.size <= buffer_size);
  }
  const std::string_view body(buffer.data(), r.required);

  auto sanitise = [&](std::string_view s) {
    return f == pv::body_format::xml ? xml_sanitised(decode_replacing(s)) : decode_replacing(s);
  };
  std::vector<std::pair<std::string, code_points>> want;
  std::string root;
  std::vector<parsed_field> got;
  if (f == pv::body_format::json) {
    got = json_checker(body).parse();
  } else {
    got = xml_checker(body).parse(root);
  }
  if (success) {
    require(f == pv::body_format::json || root == std::string(pv::action_name(a)) + "Response");
    want.emplace_back("RequestId", sanitise(v[0]));
    if (a == pv::action::send_verification_code_for_bind_secure_mobile_phone)
      want.emplace_back("ExpirationDate", sanitise(v[1]));
    if (a == pv::action::get_migration_verify_code) {
      want.emplace_back("Code", sanitise("OK"));
      want.emplace_back("Message", sanitise(v[2]));
      want.emplace_back("Data.PhoneNumber", sanitise(v[3]));
      want.emplace_back("Data.Id", sanitise(v[4]));
      want.emplace_back("AccessDeniedDetail", sanitise(v[5]));
    }
  } else {
    require(f == pv::body_format::json || root == "Error");
    std::string message(pv::message(e, a));
    const auto at = message.find("%s");
    if (at != std::string::npos) message.replace(at, 2, v[3]);
    want.emplace_back("RequestId", sanitise(v[0]));
    want.emplace_back("HostId", sanitise(v[1]));
    want.emplace_back("Code", sanitise(pv::code_string(e)));
    want.emplace_back("Message", sanitise(message));
    if (f == pv::body_format::json) want.emplace_back("Recommend", sanitise(v[2]));
  }
  require(got.size() == want.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    require(got[k].path == want[k].first);
    require(got[k].value == want[k].second);
  }
  return 0;
}
