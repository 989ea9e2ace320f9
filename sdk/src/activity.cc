// ActivityContext: heartbeats (throttled) and cancellation.
#include "eon/sdk/activity.h"

#include <algorithm>

namespace eon::sdk {

void ActivityContext::heartbeat_payloads(const Payloads& details) {
  std::unique_lock lock(mu_);
  pending_details_ = details;
  if (!send_heartbeat_) return;  // local activities do not heartbeat
  auto now = std::chrono::steady_clock::now();
  std::chrono::milliseconds interval(30'000);
  if (info_.heartbeat_timeout.count() > 0)
    interval = std::min(interval, info_.heartbeat_timeout * 4 / 5);
  if (throttle_ && last_heartbeat_sent_ != std::chrono::steady_clock::time_point{} &&
      now - last_heartbeat_sent_ < interval) {
    return;  // throttled: sent with the next heartbeat after the interval
  }
  Payloads to_send = std::move(*pending_details_);
  pending_details_.reset();
  last_heartbeat_sent_ = now;
  lock.unlock();
  if (send_heartbeat_(to_send)) Cancel();
}

void ActivityContext::throw_if_canceled() const {
  if (canceled_) throw CanceledError("activity canceled");
}

bool ActivityContext::wait_canceled(std::chrono::milliseconds duration) const {
  std::unique_lock lock(mu_);
  cancel_cv_.wait_for(lock, duration, [this] { return canceled_.load(); });
  return canceled_;
}

void ActivityContext::Cancel() {
  {
    std::lock_guard lock(mu_);
    canceled_ = true;
  }
  cancel_cv_.notify_all();
}

}  // namespace eon::sdk
