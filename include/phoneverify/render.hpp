// SPDX-License-Identifier: MIT
// phoneverify: response bodies rendered into a caller-provided buffer, in JSON
// and in XML (RULES.md §1.1 "Responses", §6 "Error body on the wire").
//
// No heap, no exceptions, usable in constant expressions. A buffer too small
// is an error that says how many bytes the body needs (`required`; an empty span
// measures), and a failed render zeroes what it wrote: no part of a body is left.
//
// Everything a body carries is escaped, whether it came from the request or
// from the catalog:
// - JSON (RFC 8259): '"' and '\' as \" and \\, bytes below 0x20 as \u00XX.
// - XML 1.0: & < > " ' as entity references; tab, LF and CR as character
//   references (a parser would otherwise normalise CR); the other bytes below
//   0x20, and U+FFFE and U+FFFF, which XML 1.0 cannot carry at all, become
//   U+FFFD.
// - Both: valid UTF-8 is copied as it is; each maximal ill-formed subsequence
//   becomes one U+FFFD (Unicode §3.9), so the body is always valid UTF-8.
#ifndef PHONEVERIFY_RENDER_HPP
#define PHONEVERIFY_RENDER_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string_view>

#include "action.hpp"
#include "detail/saturating.hpp"
#include "errc.hpp"

namespace phoneverify {

// The two wire formats of Alibaba Cloud's RPC APIs.
enum class body_format : std::uint8_t { json, xml };

// "application/json" or "application/xml"; "" for a value that is no enumerator.
constexpr std::string_view content_type(body_format f) noexcept {
  switch (f) {
    case body_format::json: return "application/json";
    case body_format::xml: return "application/xml";
  }
  return "";
}

// Why a render failed.
enum class render_status : std::uint8_t {
  ok = 0,
  buffer_too_small,  // `required` says the size that would have worked
  invalid_argument,  // errc::ok or no enumerator as an error, an action or format that is no enumerator
};

// A short English phrase for logs; "" for a value that is no enumerator.
constexpr std::string_view describe(render_status s) noexcept {
  switch (s) {
    case render_status::ok: return "ok";
    case render_status::buffer_too_small: return "buffer too small";
    case render_status::invalid_argument: return "invalid argument";
  }
  return "";
}

// What a render did: on success `size` bytes of the buffer hold the body and
// `size == required`; on buffer_too_small `size` is 0 and `required` is the
// body's length; on invalid_argument both are 0.
struct render_result {
  std::size_t size = 0;
  std::size_t required = 0;
  render_status status = render_status::ok;

  constexpr bool ok() const noexcept { return status == render_status::ok; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  friend constexpr bool operator==(const render_result&, const render_result&) noexcept = default;
};

// The fields of an error body beyond the code and message (RULES.md §6). Views:
// keep the texts alive during the call.
struct error_fields {
  std::string_view request_id;  // RequestId
  std::string_view host_id;     // HostId, e.g. "resourcemanager.aliyuncs.com"
  std::string_view recommend;   // Recommend: JSON only, RULES.md §6 lists four XML elements
  std::string_view parameter;   // replaces the message's "%s" (MissingParameter, InvalidParameter)
};

// The fields of a success body (RULES.md §1.1 "Responses"). Each action renders
// the fields it documents (the comments below), always, in the documented order
// (an empty view is an empty value), and ignores the others; action 4 also
// renders Code "OK".
struct success_fields {
  std::string_view request_id;            // RequestId
  std::string_view expiration_date;       // ExpirationDate (action 1): format_iso8601's text
  std::string_view message;               // Message (action 4)
  std::string_view phone_number;          // Data.PhoneNumber (action 4)
  std::string_view id;                    // Data.Id (action 4)
  std::string_view access_denied_detail;  // AccessDeniedDetail (action 4)
};

namespace detail {

// Appends to the caller's buffer while it fits and counts every byte either
// way, so one pass both renders and measures. Never writes past `capacity`.
class body_writer {
 public:
  constexpr body_writer(char* out, std::size_t capacity) noexcept : out_(out), capacity_(capacity) {}

  constexpr void put(char c) noexcept {
    if (count_ < capacity_) out_[count_] = c;
    count_ = sat_add_size(count_, 1);
  }
  constexpr void raw(std::string_view s) noexcept {
    if (count_ < capacity_) {
      const std::size_t room = capacity_ - count_;
      const std::size_t n = s.size() < room ? s.size() : room;
      if (std::is_constant_evaluated()) {
        for (std::size_t i = 0; i < n; ++i) out_[count_ + i] = s[i];
      } else if (n != 0) {
        std::memcpy(out_ + count_, s.data(), n);
      }
    }
    count_ = sat_add_size(count_, s.size());
  }
  constexpr std::size_t count() const noexcept { return count_; }

  // Ends the render: on overflow the bytes written are zeroed, so no part of a
  // body is left in the buffer.
  constexpr render_result finish() noexcept {
    if (count_ <= capacity_) return {count_, count_, render_status::ok};
    for (std::size_t i = 0; i < capacity_; ++i) out_[i] = '\0';
    return {0, count_, render_status::buffer_too_small};
  }

 private:
  char* out_;
  std::size_t capacity_;
  std::size_t count_ = 0;
};

inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// The length of the well-formed UTF-8 sequence at the start of `s` (1 to 4), or
// 0 and in `bad` the length of its maximal ill-formed subpart (Unicode §3.9,
// Table 3-7). `s` is not empty and s[0] >= 0x80.
constexpr std::size_t utf8_sequence(std::string_view s, std::size_t& bad) noexcept {
  const auto b0 = static_cast<unsigned char>(s[0]);
  std::size_t length = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    bad = 1;
    return 0;
  }
  for (std::size_t i = 1; i < length; ++i) {
    if (i >= s.size()) {
      bad = i;
      return 0;
    }
    const auto b = static_cast<unsigned char>(s[i]);
    const bool in_range = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!in_range) {
      bad = i;
      return 0;
    }
  }
  return length;
}

constexpr char hex_digit(unsigned v) noexcept { return "0123456789abcdef"[v & 0xFu]; }

// Which bytes may be copied as they are (printable ASCII that needs no
// escape), one table per format: bit 0 JSON, bit 1 XML.
struct plain_table {
  unsigned char bits[256]{};
  constexpr plain_table() noexcept {
    for (unsigned u = 0x20; u < 0x80; ++u) {
      const bool json = u != '"' && u != '\\';
      const bool xml = u != '&' && u != '<' && u != '>' && u != '"' && u != '\'';
      bits[u] = static_cast<unsigned char>((json ? 1u : 0u) | (xml ? 2u : 0u));
    }
  }
};
inline constexpr plain_table plain_bytes{};

// Skips whole 8-byte words of plain bytes (run time only: it reads words with
// memcpy). A word has a byte below n (n <= 0x80) iff (x - n*ones) & ~x & highs,
// and a byte equal to c iff x ^ c*ones has a zero byte ("Bit Twiddling Hacks"):
// exact for "any byte"; the byte loop after it finds which.
inline std::size_t skip_plain_words(std::string_view s, std::size_t i, bool json) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
  while (s.size() - i >= 8) {
    std::uint64_t x = 0;
    std::memcpy(&x, s.data() + i, 8);
    std::uint64_t special = (x & highs) | ((x - 0x20 * ones) & ~x & highs) | has_zero(x ^ ('"' * ones));
    if (json) {
      special |= has_zero(x ^ ('\\' * ones));
    } else {
      special |= has_zero(x ^ ('&' * ones)) | has_zero(x ^ ('<' * ones)) | has_zero(x ^ ('>' * ones)) |
                 has_zero(x ^ ('\'' * ones));
    }
    if (special != 0) break;
    i += 8;
  }
  return i;
}

// Escapes `s` as the content of a JSON string or an XML element (see the header comment).
constexpr void write_escaped(body_writer& w, std::string_view s, body_format f) noexcept {
  const bool json = f == body_format::json;
  const unsigned mask = json ? 1u : 2u;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t run = std::is_constant_evaluated() ? i : skip_plain_words(s, i, json);
    while (run < s.size() && (plain_bytes.bits[static_cast<unsigned char>(s[run])] & mask) != 0) ++run;
    if (run > i) w.raw(s.substr(i, run - i));
    i = run;
    if (i == s.size()) break;
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x80) {
      std::size_t bad = 0;
      const std::size_t length = utf8_sequence(s.substr(i), bad);
      if (length == 0) {
        w.raw(replacement_character);
        i += bad;
        continue;
      }
      // U+FFFE and U+FFFF (EF BF BE, EF BF BF) are not XML 1.0 characters.
      const bool xml_nonchar = !json && length == 3 && u == 0xEF && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
                               static_cast<unsigned char>(s[i + 2]) >= 0xBE;
      w.raw(xml_nonchar ? replacement_character : s.substr(i, length));
      i += length;
      continue;
    }
    ++i;
    if (json) {
      if (u == '"') {
        w.raw("\\\"");
      } else if (u == '\\') {
        w.raw("\\\\");
      } else {  // a control byte
        w.raw("\\u00");
        w.put(hex_digit(u >> 4));
        w.put(hex_digit(u));
      }
      continue;
    }
    switch (u) {
      case '&': w.raw("&amp;"); break;
      case '<': w.raw("&lt;"); break;
      case '>': w.raw("&gt;"); break;
      case '"': w.raw("&quot;"); break;
      case '\'': w.raw("&apos;"); break;
      case '\t': w.raw("&#9;"); break;
      case '\n': w.raw("&#10;"); break;
      case '\r': w.raw("&#13;"); break;
      default: w.raw(replacement_character); break;  // control bytes XML 1.0 forbids
    }
  }
}

// Escapes `message` with its first "%s" replaced by `parameter`.
constexpr void write_message(body_writer& w, std::string_view message, std::string_view parameter,
                             body_format f) noexcept {
  const std::size_t at = message.find("%s");
  if (at == std::string_view::npos) {
    write_escaped(w, message, f);
    return;
  }
  write_escaped(w, message.substr(0, at), f);
  write_escaped(w, parameter, f);
  write_escaped(w, message.substr(at + 2), f);
}

inline constexpr std::string_view xml_declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

// Writes one member or element. `first` is for JSON's commas.
class body_builder {
 public:
  constexpr body_builder(body_writer& w, body_format f) noexcept : w_(w), f_(f) {}

  constexpr void open(std::string_view root) noexcept {
    if (f_ == body_format::json) {
      w_.put('{');
    } else {
      w_.raw(xml_declaration);
      start_tag(root);
    }
    first_ = true;
  }
  constexpr void close(std::string_view root) noexcept {
    if (f_ == body_format::json) {
      w_.put('}');
    } else {
      end_tag(root);
    }
    first_ = false;
  }
  constexpr void field(std::string_view name, std::string_view value) noexcept {
    key(name);
    quote();
    write_escaped(w_, value, f_);
    quote();
    if (f_ == body_format::xml) end_tag(name);
  }
  constexpr void message_field(std::string_view name, std::string_view message, std::string_view parameter) noexcept {
    key(name);
    quote();
    write_message(w_, message, parameter, f_);
    quote();
    if (f_ == body_format::xml) end_tag(name);
  }
  constexpr void open_object(std::string_view name) noexcept {
    key(name);
    if (f_ == body_format::json) w_.put('{');
    first_ = true;
  }
  constexpr void close_object(std::string_view name) noexcept { close(name); }

 private:
  constexpr void start_tag(std::string_view name) noexcept {
    w_.put('<');
    w_.raw(name);
    w_.put('>');
  }
  constexpr void end_tag(std::string_view name) noexcept {
    w_.raw("</");
    w_.raw(name);
    w_.put('>');
  }
  constexpr void key(std::string_view name) noexcept {
    if (f_ == body_format::xml) {
      start_tag(name);
      return;
    }
    if (!first_) w_.put(',');
    first_ = false;
    w_.put('"');
    w_.raw(name);
    w_.raw("\":");
  }
  constexpr void quote() noexcept {
    if (f_ == body_format::json) w_.put('"');
  }

  body_writer& w_;
  body_format f_;
  bool first_ = true;
};

constexpr bool valid_format(body_format f) noexcept { return f == body_format::json || f == body_format::xml; }

constexpr render_result render_error_body(std::span<char> out, body_format f, errc e, std::string_view message_text,
                                          const error_fields& fields) noexcept {
  const std::string_view code = code_string(e);
  if (e == errc::ok || code.empty() || !valid_format(f)) return {0, 0, render_status::invalid_argument};
  body_writer w(out.data(), out.size());
  body_builder b(w, f);
  b.open("Error");
  b.field("RequestId", fields.request_id);
  b.field("HostId", fields.host_id);
  b.field("Code", code);
  b.message_field("Message", message_text, fields.parameter);
  if (f == body_format::json) b.field("Recommend", fields.recommend);
  b.close("Error");
  return w.finish();
}

}  // namespace detail

// Renders the error body of `e` as action `a` documents it (RULES.md §6): JSON
// {"RequestId","HostId","Code","Message","Recommend"}, XML
// <?xml ...?><Error><RequestId/><HostId/><Code/><Message/></Error>. The code is
// code_string(e), the message message(e, a) with its "%s" replaced by
// fields.parameter. Errors: buffer_too_small (with `required`),
// invalid_argument (e is ok or no enumerator, a or f no enumerator).
constexpr render_result render_error(std::span<char> out, body_format f, action a, errc e,
                                     const error_fields& fields) noexcept {
  if (action_name(a).empty()) return {0, 0, render_status::invalid_argument};
  return detail::render_error_body(out, f, e, message(e, a), fields);
}

// The same with the canonical message, for an error raised before the action is
// known (an unknown Action is the gateway's InvalidParameter).
constexpr render_result render_error(std::span<char> out, body_format f, errc e, const error_fields& fields) noexcept {
  return detail::render_error_body(out, f, e, message(e), fields);
}

// Renders action `a`'s success body (RULES.md §1.1 "Responses"): JSON an object,
// XML <?xml ...?><ActionNameResponse>...</ActionNameResponse>. Errors:
// buffer_too_small (with `required`), invalid_argument (a or f no enumerator).
constexpr render_result render_success(std::span<char> out, body_format f, action a,
                                       const success_fields& fields) noexcept {
  const std::string_view name = action_name(a);
  if (name.empty() || !detail::valid_format(f)) return {0, 0, render_status::invalid_argument};
  // The XML root is "<ActionName>Response": at most 44 + 8 bytes.
  char root_buffer[64]{};
  std::size_t root_size = 0;
  for (char c : name) root_buffer[root_size++] = c;
  for (char c : std::string_view("Response")) root_buffer[root_size++] = c;
  const std::string_view root(root_buffer, root_size);

  detail::body_writer w(out.data(), out.size());
  detail::body_builder b(w, f);
  b.open(root);
  b.field("RequestId", fields.request_id);
  // The fields the action's row names (RULES.md §1.1).
  if (info(a).returns_expiration_date) b.field("ExpirationDate", fields.expiration_date);
  if (info(a).returns_phone_number) {
    b.field("Code", "OK");
    b.field("Message", fields.message);
    b.open_object("Data");
    b.field("PhoneNumber", fields.phone_number);
    b.field("Id", fields.id);
    b.close_object("Data");
    b.field("AccessDeniedDetail", fields.access_denied_detail);
  }
  b.close(root);
  return w.finish();
}

// A buffer of this many bytes holds any body whose caller-supplied texts total
// `value_bytes` bytes: a fixed part for names, markup and the longest catalog
// message, plus 6 bytes per input byte (the longest escape, "\u001f" or
// "&quot;"). Saturates instead of overflowing.
constexpr std::size_t max_body_size(std::size_t value_bytes) noexcept {
  constexpr std::size_t fixed = 1024;
  constexpr std::size_t per_byte = 6;
  if (value_bytes > (std::numeric_limits<std::size_t>::max() - fixed) / per_byte)
    return std::numeric_limits<std::size_t>::max();
  return fixed + per_byte * value_bytes;
}

}  // namespace phoneverify

#endif  // PHONEVERIFY_RENDER_HPP
