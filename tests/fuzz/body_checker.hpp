// SPDX-License-Identifier: MIT
// Strict checkers of the bodies render.hpp writes, shared by the fuzzers that
// read bodies (fuzz_render, fuzz_engine): JSON with only the escapes
// render.hpp documents, XML with only its entities, valid UTF-8 throughout
// (RULES.md §6). Each collects the leaf fields as "a.b" paths, decoded to code
// points by an independent UTF-8 decoder written here; anything ill-formed
// aborts through require().
#ifndef PHONEVERIFY_TESTS_FUZZ_BODY_CHECKER_HPP
#define PHONEVERIFY_TESTS_FUZZ_BODY_CHECKER_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_input.hpp"

namespace phoneverify::test {

using code_points = std::vector<std::uint32_t>;

// Independent UTF-8 decoding with one U+FFFD per maximal ill-formed subpart:
// a prefix is kept as long as some valid scalar value of that length starts
// with it (its completions span an interval that meets the valid range and is
// not all surrogates).
inline code_points decode_replacing(std::string_view s) {
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


// Strict decoding of the UTF-8 a body carries: anything ill-formed aborts.
inline void append_utf8_strict(std::string_view s, std::size_t& i, code_points& out) {
  if (static_cast<unsigned char>(s[i]) < 0x80) {  // ASCII, most of every body: no decoding to do
    out.push_back(static_cast<unsigned char>(s[i++]));
    return;
  }
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

// The fields as ASCII strings (a code point above 0x7F becomes '?'), for
// checks of the ASCII members: RequestId, Code.
inline std::string ascii_of(const code_points& cps) {
  std::string out;
  for (auto c : cps) out += c < 0x80 ? static_cast<char>(c) : '?';
  return out;
}

}  // namespace phoneverify::test

#endif  // PHONEVERIFY_TESTS_FUZZ_BODY_CHECKER_HPP
