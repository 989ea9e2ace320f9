// Options shared by the client and workflow code: retry policies and workflow start settings.
//
// The option style: types used in workflow code (RetryPolicy here, the option builders in
// workflow.h) are builders, safe to write inside a co_await on every compiler. The client-side
// settings (StartWorkflowOptions, ClientOptions, WorkerOptions) are aggregates for designated
// initializers; they are used outside workflow code, where no co_await is involved.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "temporal/api/common/v1/message.pb.h"
#include "temporal/api/enums/v1/workflow.pb.h"

namespace eon::sdk {

using std::chrono::milliseconds;

// Temporal's retry policy, a builder like the workflow option types (see workflow.h: GCC 12
// mishandles aggregates written inside a co_await, classes with a constructor are safe):
//
//   RetryPolicy().initial_interval(200ms).maximum_attempts(5).non_retryable("CardDeclined")
//
// Zero values mean "the server's default" (1 s initial interval, coefficient 2.0, maximum
// 100 x initial, unlimited attempts).
class RetryPolicy {
 public:
  RetryPolicy() {}
  RetryPolicy& initial_interval(milliseconds value) {
    initial_interval_ = value;
    return *this;
  }
  RetryPolicy& backoff_coefficient(double value) {
    backoff_coefficient_ = value;
    return *this;
  }
  RetryPolicy& maximum_interval(milliseconds value) {
    maximum_interval_ = value;
    return *this;
  }
  // 0: unlimited; 1: no retries.
  RetryPolicy& maximum_attempts(int32_t value) {
    maximum_attempts_ = value;
    return *this;
  }
  // Adds an error type that is not retried (one per call, so no braced list is needed).
  RetryPolicy& non_retryable(std::string error_type) {
    non_retryable_error_types_.push_back(std::move(error_type));
    return *this;
  }

  temporal::api::common::v1::RetryPolicy ToProto() const;

  // Read by the SDK.
  milliseconds initial_interval_{0};
  double backoff_coefficient_ = 0;
  milliseconds maximum_interval_{0};
  int32_t maximum_attempts_ = 0;
  std::vector<std::string> non_retryable_error_types_;
};

// Search attribute values are JSON (string, number, bool, array of strings, or an RFC 3339
// time as a string); they are sent as json/plain payloads, never through the codec.
using SearchAttributes = std::map<std::string, nlohmann::json>;
// Memo values are any JSON; they go through the payload codec.
using Memo = std::map<std::string, nlohmann::json>;

struct StartWorkflowOptions {
  std::string id{};                   // required
  std::string task_queue{};           // required
  milliseconds execution_timeout{0};  // 0: unlimited
  milliseconds run_timeout{0};        // 0: unlimited
  milliseconds task_timeout{0};       // 0: 10 s
  std::optional<RetryPolicy> retry_policy{};
  std::string cron_schedule{};
  temporal::api::enums::v1::WorkflowIdReusePolicy id_reuse_policy =
      temporal::api::enums::v1::WORKFLOW_ID_REUSE_POLICY_UNSPECIFIED;
  temporal::api::enums::v1::WorkflowIdConflictPolicy id_conflict_policy =
      temporal::api::enums::v1::WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED;
  Memo memo{};
  SearchAttributes search_attributes{};
  milliseconds start_delay{0};
};

}  // namespace eon::sdk
