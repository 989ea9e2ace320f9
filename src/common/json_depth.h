// The nesting depth of JSON text, measured without parsing it and without recursion, so a value
// nested 100,000 deep can be refused before anything recursive (nlohmann's dump, a destructor)
// walks it.
#pragma once

#include <string_view>

namespace eon {

// The deepest nesting of arrays and objects in `text` (0 for a scalar), counting brackets
// outside strings. Stops early and returns a value > `stop_above` once that depth is passed.
// Malformed text is measured as far as it goes; parse it afterwards to know it is JSON.
inline int JsonNestingDepth(std::string_view text, int stop_above) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > stop_above) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// JSON values Eon parses itself (search attribute values, CLI input) nest at most this deep.
constexpr int kJsonNestingMax = 64;

}  // namespace eon
