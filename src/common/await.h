// Await: runs an asynchronous call and waits for its answer, for the synchronous forms of calls
// that answer through a callback. Only on a thread that may wait (never gRPC's, never the
// store's committer).
#pragma once

#include <atomic>
#include <future>
#include <memory>
#include <utility>

namespace eon {

// `start(answer)` begins the call; Await returns the first value passed to `answer`. A second
// answer (from a continuation's exception barrier) is ignored, even after Await returned.
template <typename T, typename Start>
T Await(Start&& start) {
  struct Pending {
    std::promise<T> promise;
    std::atomic<bool> answered{false};
  };
  auto pending = std::make_shared<Pending>();
  auto answer = pending->promise.get_future();
  start([pending](T value) {
    if (!pending->answered.exchange(true)) pending->promise.set_value(std::move(value));
  });
  return answer.get();
}

}  // namespace eon
