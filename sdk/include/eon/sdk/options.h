// Options shared by the client and workflow code: retry policies and workflow start settings.
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

// Temporal's retry policy. Zero values mean "the server's default" (1 s initial interval,
// coefficient 2.0, maximum 100 x initial, unlimited attempts).
struct RetryPolicy {
  milliseconds initial_interval{0};
  double backoff_coefficient = 0;
  milliseconds maximum_interval{0};
  int32_t maximum_attempts = 0;  // 0: unlimited; 1: no retries
  std::vector<std::string> non_retryable_error_types{};

  temporal::api::common::v1::RetryPolicy ToProto() const;
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
