// Number parsing that never throws and never accepts trailing garbage: std::from_chars over the
// whole text. (std::stoi and friends throw on bad input; one such call in a request path let a
// single request end the process.)
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace eon {

// The value of `text` if all of it is a number of type T that fits, else nullopt.
template <typename T>
std::optional<T> ParseNumber(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

}  // namespace eon
