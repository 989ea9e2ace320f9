// For tests: waiting, bounded, for something another thread brings about.
#pragma once

#include <chrono>
#include <thread>

namespace eon::test_support {

// Polls `done` every 5 ms until it holds or `limit` has passed; returns done()'s last answer.
template <typename Pred>
bool WaitFor(Pred done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace eon::test_support
