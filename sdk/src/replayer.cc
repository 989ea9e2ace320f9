// The replayer: a worker's replay path without a server.
#include "eon/sdk/replayer.h"

#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "workflow_instance.h"

namespace eon::sdk {

namespace enums = temporal::api::enums::v1;

Result<void> Replayer::replay(const History& history, const std::string& workflow_id) const {
  WorkflowHistory target;
  target.workflow_id = workflow_id;
  target.history = history;
  return replay(target);
}

std::vector<ReplayReport> Replayer::replay_all(
    const std::vector<WorkflowHistory>& histories) const {
  std::vector<ReplayReport> reports;
  reports.reserve(histories.size());
  for (const auto& h : histories) {
    ReplayReport report{h.workflow_id, "", replay(h)};
    if (h.history.events_size() > 0) {
      const auto& started = h.history.events(0).workflow_execution_started_event_attributes();
      if (report.workflow_id.empty()) report.workflow_id = started.workflow_id();
      report.run_id = started.original_execution_run_id();
    }
    reports.push_back(std::move(report));
  }
  return reports;
}

Result<WorkflowHistory> Replayer::Fetch(const Client& client, const std::string& workflow_id,
                                        const std::string& run_id) {
  auto history = client.get_handle(workflow_id, run_id).fetch_history();
  if (!history.ok()) return history.error();
  WorkflowHistory out;
  out.workflow_id = workflow_id;
  out.ns = client.options().ns;
  out.history = std::move(history).value();
  return out;
}

Result<void> Replayer::replay(const WorkflowHistory& target) const {
  const History& history = target.history;
  if (history.events_size() == 0 ||
      history.events(0).event_type() != enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED) {
    return Error{grpc::StatusCode::INVALID_ARGUMENT,
                 "replay: the history must start with WorkflowExecutionStarted",
                 {}};
  }
  const auto& started = history.events(0).workflow_execution_started_event_attributes();
  const auto* fn = registry_.workflow(started.workflow_type().name());
  if (fn == nullptr) {
    return Error{grpc::StatusCode::INVALID_ARGUMENT,
                 "replay: workflow type " + started.workflow_type().name() +
                     " is not registered (registered: " + registry_.workflow_names() + ")",
                 {}};
  }
  std::string workflow_id = target.workflow_id.empty() ? started.workflow_id() : target.workflow_id;
  if (workflow_id.empty()) {
    return Error{grpc::StatusCode::INVALID_ARGUMENT,
                 "replay: the history does not record its workflow id (servers before Temporal "
                 "1.21); pass it (WorkflowHistory::workflow_id)",
                 {}};
  }
  std::vector<temporal::api::history::v1::HistoryEvent> events(history.events().begin(),
                                                               history.events().end());
  try {
    internal::WorkflowInstance instance(*fn, converter_, target.ns, workflow_id,
                                        started.original_execution_run_id());
    (void)instance.Activate(events, {}, 0, nullptr);
    instance.CheckAllMatched();
  } catch (const internal::NonDeterminismError& e) {
    return Error{grpc::StatusCode::FAILED_PRECONDITION, e.what(), {}};
  } catch (...) {
    Failure failure = ExceptionToFailure(std::current_exception());
    return Error{grpc::StatusCode::INTERNAL, "replay: the workflow failed: " + failure.message(),
                 failure};
  }
  return Result<void>();
}

namespace {

// "WorkflowExecutionStarted" -> "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED" (older JSON exports use
// the short names).
std::string LongEventType(const std::string& name) {
  if (name.rfind("EVENT_TYPE_", 0) == 0) return name;
  std::string out = "EVENT_TYPE_";
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (std::isupper(static_cast<unsigned char>(c)) && i > 0) out += '_';
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

Result<History> Replayer::HistoryFromJson(const std::string& json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return Error{grpc::StatusCode::INVALID_ARGUMENT, "history: not valid JSON", {}};
  }
  if (doc.is_object() && doc.contains("history")) doc = doc["history"];
  if (doc.is_array()) doc = nlohmann::json{{"events", doc}};
  if (!doc.is_object() || !doc.contains("events") || !doc["events"].is_array()) {
    return Error{
        grpc::StatusCode::INVALID_ARGUMENT, "history: expected an object with \"events\"", {}};
  }
  for (auto& event : doc["events"]) {
    if (event.is_object() && event.contains("eventType") && event["eventType"].is_string()) {
      event["eventType"] = LongEventType(event["eventType"].get<std::string>());
    }
  }
  History history;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(doc.dump(), &history, options);
  if (!status.ok()) {
    return Error{
        grpc::StatusCode::INVALID_ARGUMENT, "history: " + std::string(status.message()), {}};
  }
  return history;
}

}  // namespace eon::sdk
