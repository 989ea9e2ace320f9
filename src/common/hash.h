// FNV-1a, 64 bits: a stable hash (the same bytes give the same value in every process and every
// release), for what must agree across restarts and nodes: history shards and execution locks,
// rendezvous weights, schedule jitter. Not a defence against chosen keys.
#pragma once

#include <cstdint>
#include <string_view>

namespace eon {

class Fnv1a {
 public:
  Fnv1a& Add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      hash_ ^= c;
      hash_ *= 1099511628211ULL;
    }
    return *this;
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 14695981039346656037ULL;
};

}  // namespace eon
