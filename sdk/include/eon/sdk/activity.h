// Activities: ordinary functions that do the work that touches the outside world.
//
//   std::string ComposeGreeting(eon::sdk::ActivityContext& ctx, std::string greeting,
//                               std::string name) {
//     return greeting + ", " + name + "!";
//   }
//
// The ActivityContext& parameter is optional. The return value is encoded as the result;
// throwing ApplicationError (or any std::exception) fails the attempt, and the server retries it
// under the activity's retry policy. An activity runs on one of the worker's activity threads
// and may block.
//
// Cancellation: the server's cancellation request reaches the activity through heartbeat()
// (so an activity that wants to be cancellable heartbeats); is_canceled() then turns true and
// throw_if_canceled() throws CanceledError, which reports the activity as canceled. A worker
// shutting down cancels its activities the same way, after its grace period.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "eon/sdk/failure.h"
#include "eon/sdk/payload.h"

namespace eon::sdk {

struct ActivityInfo {
  std::string ns;
  std::string activity_id;
  std::string activity_type;
  std::string task_queue;
  std::string workflow_id;
  std::string workflow_run_id;
  std::string workflow_type;
  int32_t attempt = 1;
  std::chrono::milliseconds heartbeat_timeout{0};
  std::chrono::system_clock::time_point scheduled_time;
  std::chrono::system_clock::time_point started_time;
  // When this attempt's start-to-close or schedule-to-close timeout ends.
  std::chrono::system_clock::time_point deadline;
};

namespace internal {
class ActivityRunner;
}
namespace testing {
class ActivityEnvironment;
}

class ActivityContext {
 public:
  const ActivityInfo& info() const { return info_; }
  // Opaque; lets a Client complete or fail this activity later (see complete_async()).
  const std::string& task_token() const { return task_token_; }
  const DataConverter& converter() const { return converter_; }

  // Records progress; the server times the activity out if heartbeats stop for longer than its
  // heartbeat timeout. Calls are throttled (at most one RPC per 80% of the heartbeat timeout,
  // 30 s at most); the latest details are always the ones kept.
  template <typename... A>
  void heartbeat(const A&... details) {
    heartbeat_payloads(converter_.EncodeAll(details...));
  }
  void heartbeat_payloads(const Payloads& details);

  // The details of the last heartbeat of an earlier attempt, decoded as T (index: which value).
  template <typename T>
  std::optional<T> heartbeat_details(int index = 0) const {
    if (index >= previous_details_.payloads_size()) return std::nullopt;
    return converter_.Decode<T>(previous_details_.payloads(index));
  }
  bool has_heartbeat_details() const { return previous_details_.payloads_size() > 0; }

  // True once cancellation was requested (seen on a heartbeat) or the worker is shutting down.
  bool is_canceled() const { return canceled_.load(); }
  void throw_if_canceled() const;
  // Sleeps up to `duration`, waking early on cancellation; returns is_canceled().
  bool wait_canceled(std::chrono::milliseconds duration) const;

  // The function's return value is ignored and nothing is reported: the activity stays open
  // until a Client completes it by task_token() (or it times out).
  void complete_async() { async_ = true; }

 private:
  friend class internal::ActivityRunner;
  friend class testing::ActivityEnvironment;
  ActivityContext() = default;
  void Cancel();

  ActivityInfo info_;
  std::string task_token_;
  DataConverter converter_;
  Payloads previous_details_;
  std::function<bool(const Payloads&)> send_heartbeat_;  // returns cancel_requested
  std::atomic<bool> canceled_{false};
  bool async_ = false;
  bool throttle_ = true;  // false in tests: every heartbeat is sent

  mutable std::mutex mu_;  // guards the heartbeat fields below and cancel waits
  mutable std::condition_variable cancel_cv_;
  std::chrono::steady_clock::time_point last_heartbeat_sent_{};
  std::optional<Payloads> pending_details_;  // throttled, not yet sent
};

}  // namespace eon::sdk
