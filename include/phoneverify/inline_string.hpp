// SPDX-License-Identifier: MIT
// phoneverify: inline_string<N>, a fixed-capacity string held by value.
//
// What the formatting functions return: no heap, trivially copyable, usable in
// constant expressions. Converts implicitly to std::string_view; keep the
// inline_string alive while a view of it is used.
#ifndef PHONEVERIFY_INLINE_STRING_HPP
#define PHONEVERIFY_INLINE_STRING_HPP

#include <cstddef>
#include <string_view>

#include "detail/config.hpp"

namespace phoneverify {

template <std::size_t Capacity>
class inline_string {
 public:
  static constexpr std::size_t capacity() noexcept { return Capacity; }

  constexpr inline_string() noexcept = default;
  // Copies `text`; text longer than Capacity is a precondition violation.
  constexpr explicit inline_string(std::string_view text) noexcept { append(text); }

  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr const char* data() const noexcept { return data_; }
  // Always NUL-terminated, for C APIs.
  constexpr const char* c_str() const noexcept { return data_; }
  constexpr std::string_view view() const noexcept { return {data_, size_}; }
  constexpr operator std::string_view() const noexcept { return view(); }  // NOLINT: implicit by design
  constexpr char operator[](std::size_t i) const noexcept { return data_[i]; }
  constexpr const char* begin() const noexcept { return data_; }
  constexpr const char* end() const noexcept { return data_ + size_; }

  constexpr void push_back(char c) noexcept {
    PHONEVERIFY_ASSERT(size_ < Capacity, "inline_string: capacity exceeded");
    data_[size_++] = c;
    data_[size_] = '\0';
  }
  constexpr void append(std::string_view text) noexcept {
    PHONEVERIFY_ASSERT(text.size() <= Capacity - size_, "inline_string: capacity exceeded");
    for (char c : text) data_[size_++] = c;
    data_[size_] = '\0';
  }
  constexpr void clear() noexcept {
    size_ = 0;
    data_[0] = '\0';
  }

  friend constexpr bool operator==(const inline_string& a, const inline_string& b) noexcept {
    return a.view() == b.view();
  }
  friend constexpr bool operator==(const inline_string& a, std::string_view b) noexcept {
    return a.view() == b;
  }

 private:
  char data_[Capacity + 1]{};
  std::size_t size_ = 0;
};

}  // namespace phoneverify

#endif  // PHONEVERIFY_INLINE_STRING_HPP
