#include "cli/client_commands.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/fail.h"
#include "common/clock.h"
#include "common/cron.h"
#include "common/ids.h"
#include "common/json_depth.h"
#include "common/parse.h"
#include "eon/v1/admin.pb.h"
#include "temporal/api/operatorservice/v1/service.grpc.pb.h"
#include "temporal/api/workflowservice/v1/service.grpc.pb.h"
#include "visibility/query.h"

namespace eon::cli {
namespace {

namespace wfs = temporal::api::workflowservice::v1;
namespace enums = temporal::api::enums::v1;
namespace common = temporal::api::common::v1;

// Flags as the temporal CLI takes them: --name value, --name=value, repeatable; -n short forms.
class Args {
 public:
  Args(int argc, char** argv) {
    static const std::map<std::string, std::string> kShort = {
        {"-w", "--workflow-id"}, {"-r", "--run-id"},  {"-t", "--task-queue"}, {"-i", "--input"},
        {"-n", "--namespace"},   {"-q", "--query"},   {"-o", "--output"},     {"-h", "--help"},
        {"-s", "--schedule-id"}, {"-e", "--event-id"}};
    for (int i = 0; i < argc; ++i) {
      std::string arg = argv[i];
      if (auto it = kShort.find(arg); it != kShort.end()) arg = it->second;
      if (arg.rfind("--", 0) != 0) {
        positional_.push_back(arg);
        continue;
      }
      std::string name = arg.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (name == "help" || name == "yes" || name == "tls" || name == "pause" ||
                 name == "unpause" || name == "paused" || name == "pause-on-failure") {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        missing_ = "--" + name;
      }
      flags_[name].push_back(value);
    }
  }
  const std::string& missing_value() const { return missing_; }
  bool Has(const std::string& name) const { return flags_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = flags_.find(name);
    return it == flags_.end() ? fallback : it->second.back();
  }
  std::vector<std::string> All(const std::string& name) const {
    auto it = flags_.find(name);
    return it == flags_.end() ? std::vector<std::string>() : it->second;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> flags_;
  std::vector<std::string> positional_;
  std::string missing_;
};

// The --limit of a listing (default 100), or nullopt when it is not a whole number in 1..1000.
std::optional<int32_t> LimitFlag(const Args& args) {
  auto limit = ParseNumber<int32_t>(args.Get("limit", "100"));
  if (!limit || *limit < 1 || *limit > 1000) return std::nullopt;
  return limit;
}

class Client {
 public:
  explicit Client(const Args& args)
      : namespace_(args.Get("namespace", Env("TEMPORAL_NAMESPACE", "default"))),
        json_(args.Get("output", "text") == "json"),
        channel_(grpc::CreateCustomChannel(
            args.Get("address", Env("TEMPORAL_ADDRESS", "127.0.0.1:7233")), Credentials(args),
            ChannelArguments(args))),
        stub_(wfs::WorkflowService::NewStub(channel_)),
        operator_stub_(temporal::api::operatorservice::v1::OperatorService::NewStub(channel_)) {}

  const std::string& ns() const { return namespace_; }
  bool json() const { return json_; }
  wfs::WorkflowService::Stub& stub() { return *stub_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  temporal::api::operatorservice::v1::OperatorService::Stub& operator_stub() {
    return *operator_stub_;
  }

  // A context with a deadline (long waits pass their own) and the API key, if any.
  static std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds timeout) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + timeout);
    if (!ApiKey().empty()) context->AddMetadata("authorization", "Bearer " + ApiKey());
    return context;
  }

  // A connection problem worth reporting before any call (an unreadable TLS file).
  const std::string& setup_error() const { return setup_error_; }

  // Prints a response: its JSON with --output json, else `text`.
  void Print(const google::protobuf::Message& message, const std::string& text) const {
    if (json_) {
      std::string out;
      google::protobuf::util::JsonPrintOptions options;
      options.add_whitespace = true;
      (void)google::protobuf::util::MessageToJsonString(message, &out, options);
      std::fputs(out.c_str(), stdout);
    } else {
      std::fputs(text.c_str(), stdout);
    }
  }

 private:
  static std::string Env(const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return value && *value ? value : fallback;
  }
  // Set once, from the first Client's flags, before any call.
  static std::string& ApiKey() {
    static std::string key;
    return key;
  }
  static std::string ReadFile(const std::string& path, std::string* error) {
    std::ifstream in(path);
    if (!in) {
      *error = "cannot read " + path;
      return "";
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // The temporal CLI's connection flags and environment variables: --tls, --tls-ca-path,
  // --tls-cert-path, --tls-key-path, --tls-server-name, --api-key.
  std::shared_ptr<grpc::ChannelCredentials> Credentials(const Args& args) {
    ApiKey() = args.Get("api-key", Env("TEMPORAL_API_KEY", ""));
    std::string ca = args.Get("tls-ca-path", Env("TEMPORAL_TLS_CA", ""));
    std::string cert = args.Get("tls-cert-path", Env("TEMPORAL_TLS_CERT", ""));
    std::string key = args.Get("tls-key-path", Env("TEMPORAL_TLS_KEY", ""));
    std::string name = args.Get("tls-server-name", Env("TEMPORAL_TLS_SERVER_NAME", ""));
    bool tls = args.Has("tls") || Env("TEMPORAL_TLS", "") == "true" || !ca.empty() ||
               !cert.empty() || !name.empty();
    if (!tls) return grpc::InsecureChannelCredentials();
    grpc::SslCredentialsOptions options;
    if (!ca.empty()) options.pem_root_certs = ReadFile(ca, &setup_error_);
    if (!cert.empty()) options.pem_cert_chain = ReadFile(cert, &setup_error_);
    if (!key.empty()) options.pem_private_key = ReadFile(key, &setup_error_);
    return grpc::SslCredentials(options);
  }
  static grpc::ChannelArguments ChannelArguments(const Args& args) {
    grpc::ChannelArguments arguments;
    std::string name = args.Get("tls-server-name", Env("TEMPORAL_TLS_SERVER_NAME", ""));
    if (!name.empty()) arguments.SetSslTargetNameOverride(name);
    return arguments;
  }

  std::string setup_error_;  // declared first: Credentials fills it during construction
  std::string namespace_;
  bool json_;
  std::shared_ptr<grpc::Channel> channel_;  // shared: gRPC's type, held by both stubs too
  std::unique_ptr<wfs::WorkflowService::Stub> stub_;
  std::unique_ptr<temporal::api::operatorservice::v1::OperatorService::Stub> operator_stub_;
};

// --input values are JSON, one payload each (json/plain, as the SDKs encode them).
bool Inputs(const Args& args, common::Payloads* payloads, std::string* error) {
  for (const auto& text : args.All("input")) {
    if (JsonNestingDepth(text, kJsonNestingMax) > kJsonNestingMax) {
      *error = "--input nests deeper than " + std::to_string(kJsonNestingMax) + " levels";
      return false;
    }
    if (!nlohmann::json::accept(text)) {
      *error = "--input is not valid JSON: " + text;
      return false;
    }
    auto* payload = payloads->add_payloads();
    (*payload->mutable_metadata())["encoding"] = "json/plain";
    payload->set_data(nlohmann::json::parse(text).dump());
  }
  return true;
}

std::string Decode(const common::Payloads& payloads) {
  std::string out;
  for (const auto& payload : payloads.payloads()) {
    if (!out.empty()) out += ", ";
    out += payload.data();
  }
  return out;
}

std::string StatusName(enums::WorkflowExecutionStatus status) {
  std::string name = enums::WorkflowExecutionStatus_Name(status);
  const std::string prefix = "WORKFLOW_EXECUTION_STATUS_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "";
  std::time_t seconds = t.seconds();
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

constexpr const char* kWorkflowUsage = R"(Usage: eon workflow <command> [flags]

Commands:
  start      Start a workflow              (--type, --task-queue, --workflow-id, --input ...)
  execute    Start a workflow and wait for its result
  describe   Show a workflow's state       (--workflow-id, [--run-id])
  list       List workflows                ([--query], [--limit])
  count      Count workflows               ([--query])
  show       Show a workflow's history     (--workflow-id, [--run-id])
  result     Wait for a workflow's result  (--workflow-id, [--run-id])
  signal     Signal a workflow             (--workflow-id, --name, [--input ...])
  cancel     Ask a workflow to cancel      (--workflow-id, [--run-id], [--reason]; or --query
             and --yes for every workflow the query matches, as one batch operation)
  terminate  Terminate a workflow          (--workflow-id, [--run-id], [--reason]; or --query
             and --yes, as one batch operation)
  reset      Reset a workflow to a workflow task, as a new run (--workflow-id, [--run-id],
             --event-id N or --type FirstWorkflowTask|LastWorkflowTask, --reason,
             [--reapply-exclude Signal|All])
  delete     Delete a workflow             (--workflow-id, [--run-id])
  query      Query a workflow              (--workflow-id, --type, [--input ...])
  update     Update a workflow, wait for its result (--workflow-id, --name, [--input ...])

Global flags: --address (TEMPORAL_ADDRESS, default 127.0.0.1:7233), --namespace / -n
(TEMPORAL_NAMESPACE, default "default"), --output / -o text|json, and for a secured server
--tls, --tls-ca-path, --tls-cert-path, --tls-key-path, --tls-server-name, --api-key
(TEMPORAL_TLS, TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_SERVER_NAME,
TEMPORAL_API_KEY).
)";

int WaitForResult(Client& client, const std::string& workflow_id, std::string run_id) {
  for (;;) {
    wfs::GetWorkflowExecutionHistoryRequest request;
    request.set_namespace_(client.ns());
    request.mutable_execution()->set_workflow_id(workflow_id);
    request.mutable_execution()->set_run_id(run_id);
    request.set_wait_new_event(true);
    request.set_history_event_filter_type(enums::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT);
    std::string token;
    wfs::GetWorkflowExecutionHistoryResponse response;
    do {
      request.set_next_page_token(token);
      auto context = Client::Context(std::chrono::seconds(70));
      auto status = client.stub().GetWorkflowExecutionHistory(context.get(), request, &response);
      if (!status.ok()) return Fail(status);
      token = response.next_page_token();
    } while (response.history().events().empty());
    const auto& event = response.history().events(0);
    if (event.has_workflow_execution_completed_event_attributes()) {
      const auto& a = event.workflow_execution_completed_event_attributes();
      if (!a.new_execution_run_id().empty()) {
        run_id = a.new_execution_run_id();
        continue;
      }
      client.Print(event, "Result: " + Decode(a.result()) + "\n");
      return 0;
    }
    if (event.has_workflow_execution_continued_as_new_event_attributes()) {
      run_id = event.workflow_execution_continued_as_new_event_attributes().new_execution_run_id();
      continue;
    }
    std::string type = enums::EventType_Name(event.event_type());
    client.Print(event, "Workflow ended: " + type + "\n");
    return 1;
  }
}

// Every event of a run's history, page by page.
grpc::Status ReadWholeHistory(Client& client, const common::WorkflowExecution& execution,
                              temporal::api::history::v1::History* all) {
  wfs::GetWorkflowExecutionHistoryRequest request;
  request.set_namespace_(client.ns());
  *request.mutable_execution() = execution;
  std::string token;
  do {
    request.set_next_page_token(token);
    wfs::GetWorkflowExecutionHistoryResponse response;
    auto context = Client::Context(std::chrono::seconds(30));
    auto status = client.stub().GetWorkflowExecutionHistory(context.get(), request, &response);
    if (!status.ok()) return status;
    for (const auto& event : response.history().events()) *all->add_events() = event;
    token = response.next_page_token();
  } while (!token.empty());
  return grpc::Status::OK;
}

// `eon workflow reset`, as Temporal's CLI spells it: the reset point is --event-id, or found by
// --type in the run's history (FirstWorkflowTask: the first WorkflowTaskCompleted;
// LastWorkflowTask: the last one; either way, without one, the event after the first
// WorkflowTaskScheduled). The reason sent is "<user>: <reason>", as Temporal's CLI sends it.
int ResetWorkflow(Client& client, const common::WorkflowExecution& execution, const Args& args) {
  if (args.Get("reason").empty()) return Fail("--reason is required for \"eon workflow reset\"");
  const std::string type = args.Get("type");
  int64_t event_id = 0;
  if (args.Has("event-id")) {
    const std::string text = args.Get("event-id");
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), event_id);
    if (error != std::errc() || end != text.data() + text.size() || event_id <= 0) {
      return Fail("--event-id must be a positive event id, not \"" + text + "\"");
    }
    if (!type.empty()) return Fail("give either --event-id or --type, not both");
  } else if (type == "FirstWorkflowTask" || type == "LastWorkflowTask") {
    temporal::api::history::v1::History history;
    auto status = ReadWholeHistory(client, execution, &history);
    if (!status.ok()) return Fail(status);
    int64_t first_completed = 0, last_completed = 0, after_first_scheduled = 0;
    for (const auto& event : history.events()) {
      if (event.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED) {
        if (first_completed == 0) first_completed = event.event_id();
        last_completed = event.event_id();
      } else if (event.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED &&
                 after_first_scheduled == 0) {
        after_first_scheduled = event.event_id() + 1;
      }
    }
    event_id = type == "FirstWorkflowTask" ? first_completed : last_completed;
    if (event_id == 0) event_id = after_first_scheduled;
    if (event_id == 0) return Fail("unable to find any scheduled or completed task");
  } else if (!type.empty()) {
    return Fail("--type must be FirstWorkflowTask or LastWorkflowTask, not \"" + type + "\"");
  } else {
    return Fail("must specify either valid event id or reset type (--event-id or --type)");
  }
  wfs::ResetWorkflowExecutionRequest request;
  request.set_namespace_(client.ns());
  *request.mutable_workflow_execution() = execution;
  request.set_workflow_task_finish_event_id(event_id);
  request.set_request_id(NewUuid());
  const char* user = std::getenv("USER");
  request.set_reason(std::string(user && *user ? user : "eon-cli") + ": " + args.Get("reason"));
  const std::string exclude = args.Get("reapply-exclude");
  if (exclude == "Signal" || exclude == "All") {
    request.add_reset_reapply_exclude_types(enums::RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL);
    if (exclude == "All") {
      request.add_reset_reapply_exclude_types(enums::RESET_REAPPLY_EXCLUDE_TYPE_UPDATE);
    }
  } else if (!exclude.empty()) {
    return Fail("--reapply-exclude must be Signal or All, not \"" + exclude + "\"");
  }
  if (!client.json()) {
    std::printf("Resetting workflow %s to event ID %lld\n", execution.workflow_id().c_str(),
                static_cast<long long>(event_id));
  }
  wfs::ResetWorkflowExecutionResponse response;
  auto context = Client::Context(std::chrono::seconds(30));
  auto status = client.stub().ResetWorkflowExecution(context.get(), request, &response);
  if (!status.ok()) return Fail(status);
  client.Print(response, "New run " + response.run_id() + "\n");
  return 0;
}

// `eon workflow cancel|terminate --query`: one batch operation (StartBatchOperation) over every
// workflow the query matches; like Temporal's CLI, it wants --yes.
int BatchByQuery(Client& client, const std::string& verb, const Args& args) {
  if (args.Has("workflow-id")) return Fail("--query and --workflow-id cannot be used together");
  if (!args.Has("yes"))
    return Fail("\"eon workflow " + verb + " --query\" acts on every workflow the query matches; " +
                "add --yes to confirm");
  const bool terminate = verb == "terminate";
  wfs::StartBatchOperationRequest request;
  request.set_namespace_(client.ns());
  request.set_visibility_query(args.Get("query"));
  request.set_job_id(NewUuid());
  request.set_reason(args.Get(
      "reason", terminate ? "eon workflow terminate --query" : "eon workflow cancel --query"));
  if (terminate)
    request.mutable_termination_operation()->set_identity("eon-cli");
  else
    request.mutable_cancellation_operation()->set_identity("eon-cli");
  auto context = Client::Context(std::chrono::seconds(120));
  wfs::StartBatchOperationResponse started;
  auto status = client.stub().StartBatchOperation(context.get(), request, &started);
  if (!status.ok()) return Fail(status);
  wfs::DescribeBatchOperationRequest describe;
  describe.set_namespace_(client.ns());
  describe.set_job_id(request.job_id());
  wfs::DescribeBatchOperationResponse job;
  auto describe_context = Client::Context(std::chrono::seconds(30));
  status = client.stub().DescribeBatchOperation(describe_context.get(), describe, &job);
  if (!status.ok()) return Fail(status);
  client.Print(job, std::string(terminate ? "Terminated " : "Requested cancellation of ") +
                        std::to_string(job.complete_operation_count()) + " of " +
                        std::to_string(job.total_operation_count()) + " workflows (" +
                        std::to_string(job.failure_operation_count()) + " failed; batch job " +
                        job.job_id() + ")\n");
  return 0;
}

int Workflow(const std::string& verb, const Args& args) {
  if (verb.empty() || args.Has("help")) {
    std::fputs(kWorkflowUsage, verb.empty() && !args.Has("help") ? stderr : stdout);
    return verb.empty() && !args.Has("help") ? 1 : 0;
  }
  static const char* const kVerbs[] = {"start", "execute", "describe", "list",   "count",
                                       "show",  "result",  "signal",   "cancel", "terminate",
                                       "reset", "delete",  "query",    "update"};
  if (std::find(std::begin(kVerbs), std::end(kVerbs), verb) == std::end(kVerbs)) {
    return Fail("unknown command \"eon workflow " + verb + "\" (see eon workflow --help)");
  }
  Client client(args);
  if (!client.setup_error().empty()) return Fail(client.setup_error());
  const std::string workflow_id = args.Get("workflow-id");
  const std::string run_id = args.Get("run-id");
  auto need_id = [&]() -> bool { return !workflow_id.empty(); };
  auto context = Client::Context(std::chrono::seconds(30));

  if (verb == "start" || verb == "execute") {
    wfs::StartWorkflowExecutionRequest request;
    request.set_namespace_(client.ns());
    request.set_workflow_id(workflow_id.empty() ? NewUuid() : workflow_id);
    request.mutable_workflow_type()->set_name(args.Get("type"));
    request.mutable_task_queue()->set_name(args.Get("task-queue"));
    request.set_request_id(NewUuid());
    request.set_identity("eon-cli");
    std::string error;
    if (!Inputs(args, request.mutable_input(), &error)) return Fail(error);
    if (args.Has("cron")) request.set_cron_schedule(args.Get("cron"));
    wfs::StartWorkflowExecutionResponse response;
    auto status = client.stub().StartWorkflowExecution(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    if (verb == "start") {
      client.Print(response, "Started workflow " + request.workflow_id() + " (run " +
                                 response.run_id() + ")\n");
      return 0;
    }
    return WaitForResult(client, request.workflow_id(), response.run_id());
  }
  if (verb == "list" || verb == "count") {
    if (verb == "count") {
      wfs::CountWorkflowExecutionsRequest request;
      request.set_namespace_(client.ns());
      request.set_query(args.Get("query"));
      wfs::CountWorkflowExecutionsResponse response;
      auto status = client.stub().CountWorkflowExecutions(context.get(), request, &response);
      if (!status.ok()) return Fail(status);
      std::string text = "Total: " + std::to_string(response.count()) + "\n";
      for (const auto& group : response.groups()) {
        std::string values;
        for (const auto& value : group.group_values()) values += value.data() + " ";
        text += "  " + values + std::to_string(group.count()) + "\n";
      }
      client.Print(response, text);
      return 0;
    }
    wfs::ListWorkflowExecutionsRequest request;
    request.set_namespace_(client.ns());
    request.set_query(args.Get("query"));
    auto limit = LimitFlag(args);
    if (!limit) return Fail("--limit needs a whole number from 1 to 1000");
    request.set_page_size(*limit);
    wfs::ListWorkflowExecutionsResponse response;
    auto status = client.stub().ListWorkflowExecutions(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    char line[512];
    std::string text;
    std::snprintf(line, sizeof line, "%-12s %-40s %-24s %s\n", "STATUS", "WORKFLOW ID", "TYPE",
                  "START TIME");
    text += line;
    for (const auto& info : response.executions()) {
      std::snprintf(line, sizeof line, "%-12s %-40s %-24s %s\n", StatusName(info.status()).c_str(),
                    info.execution().workflow_id().c_str(), info.type().name().c_str(),
                    Time(info.start_time()).c_str());
      text += line;
    }
    client.Print(response, text);
    return 0;
  }
  if ((verb == "cancel" || verb == "terminate") && args.Has("query"))
    return BatchByQuery(client, verb, args);
  if (!need_id()) return Fail("--workflow-id is required for \"eon workflow " + verb + "\"");
  common::WorkflowExecution execution;
  execution.set_workflow_id(workflow_id);
  execution.set_run_id(run_id);

  if (verb == "describe") {
    wfs::DescribeWorkflowExecutionRequest request;
    request.set_namespace_(client.ns());
    *request.mutable_execution() = execution;
    wfs::DescribeWorkflowExecutionResponse response;
    auto status = client.stub().DescribeWorkflowExecution(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    const auto& info = response.workflow_execution_info();
    client.Print(response, "Workflow ID  " + info.execution().workflow_id() + "\nRun ID       " +
                               info.execution().run_id() + "\nType         " + info.type().name() +
                               "\nStatus       " + StatusName(info.status()) + "\nTask queue   " +
                               info.task_queue() + "\nStart time   " + Time(info.start_time()) +
                               "\nClose time   " + Time(info.close_time()) + "\nHistory      " +
                               std::to_string(info.history_length()) + " events\n");
    return 0;
  }
  if (verb == "show") {
    temporal::api::history::v1::History all;
    auto status = ReadWholeHistory(client, execution, &all);
    if (!status.ok()) return Fail(status);
    std::string text;
    for (const auto& event : all.events()) {
      std::string type = enums::EventType_Name(event.event_type());
      if (type.rfind("EVENT_TYPE_", 0) == 0) type = type.substr(11);
      text +=
          std::to_string(event.event_id()) + "  " + Time(event.event_time()) + "  " + type + "\n";
    }
    client.Print(all, text);
    return 0;
  }
  if (verb == "result") return WaitForResult(client, workflow_id, run_id);
  if (verb == "signal") {
    wfs::SignalWorkflowExecutionRequest request;
    request.set_namespace_(client.ns());
    *request.mutable_workflow_execution() = execution;
    request.set_signal_name(args.Get("name"));
    request.set_identity("eon-cli");
    request.set_request_id(NewUuid());
    std::string error;
    if (!Inputs(args, request.mutable_input(), &error)) return Fail(error);
    wfs::SignalWorkflowExecutionResponse response;
    auto status = client.stub().SignalWorkflowExecution(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Signal sent.\n");
    return 0;
  }
  if (verb == "cancel") {
    wfs::RequestCancelWorkflowExecutionRequest request;
    request.set_namespace_(client.ns());
    *request.mutable_workflow_execution() = execution;
    request.set_reason(args.Get("reason"));
    request.set_identity("eon-cli");
    request.set_request_id(NewUuid());
    wfs::RequestCancelWorkflowExecutionResponse response;
    auto status = client.stub().RequestCancelWorkflowExecution(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Cancellation requested.\n");
    return 0;
  }
  if (verb == "terminate") {
    wfs::TerminateWorkflowExecutionRequest request;
    request.set_namespace_(client.ns());
    *request.mutable_workflow_execution() = execution;
    request.set_reason(args.Get("reason"));
    request.set_identity("eon-cli");
    wfs::TerminateWorkflowExecutionResponse response;
    auto status = client.stub().TerminateWorkflowExecution(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Workflow terminated.\n");
    return 0;
  }
  if (verb == "reset") return ResetWorkflow(client, execution, args);
  if (verb == "query") {
    wfs::QueryWorkflowRequest request;
    request.set_namespace_(client.ns());
    *request.mutable_execution() = execution;
    request.mutable_query()->set_query_type(args.Get("type"));
    std::string error;
    if (!Inputs(args, request.mutable_query()->mutable_query_args(), &error)) return Fail(error);
    wfs::QueryWorkflowResponse response;
    auto status = client.stub().QueryWorkflow(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    if (response.has_query_rejected()) {
      return Fail("query rejected: the workflow is " +
                  StatusName(response.query_rejected().status()));
    }
    client.Print(response, "Query result: " + Decode(response.query_result()) + "\n");
    return 0;
  }
  if (verb == "update") {
    wfs::UpdateWorkflowExecutionRequest request;
    request.set_namespace_(client.ns());
    *request.mutable_workflow_execution() = execution;
    request.mutable_wait_policy()->set_lifecycle_stage(
        enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED);
    auto* update = request.mutable_request();
    update->mutable_meta()->set_update_id(args.Get("update-id", NewUuid()));
    update->mutable_meta()->set_identity("eon-cli");
    update->mutable_input()->set_name(args.Get("name"));
    std::string error;
    if (!Inputs(args, update->mutable_input()->mutable_args(), &error)) return Fail(error);
    wfs::UpdateWorkflowExecutionResponse response;
    // The server answers at its long-poll deadline if the update is not done; ask again.
    for (int round = 0; round < 10; ++round) {
      auto update_context = Client::Context(std::chrono::seconds(70));
      auto status = client.stub().UpdateWorkflowExecution(update_context.get(), request, &response);
      if (!status.ok()) return Fail(status);
      if (response.has_outcome()) break;
    }
    if (!response.has_outcome()) return Fail("the update did not complete");
    if (response.outcome().has_failure()) {
      return Fail("update failed: " + response.outcome().failure().message());
    }
    client.Print(response, "Update result: " + Decode(response.outcome().success()) + "\n");
    return 0;
  }
  if (verb == "delete") {
    wfs::DeleteWorkflowExecutionRequest request;
    request.set_namespace_(client.ns());
    *request.mutable_workflow_execution() = execution;
    wfs::DeleteWorkflowExecutionResponse response;
    auto status = client.stub().DeleteWorkflowExecution(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Workflow deleted.\n");
    return 0;
  }
  return Fail("unknown command \"eon workflow " + verb + "\" (see eon workflow --help)");
}

constexpr const char* kNamespaceUsage = R"(Usage: eon operator namespace <command> [flags]

Commands:
  create    Register a namespace    (--namespace / positional name, [--retention 72h],
                                     [--description])
  describe  Show a namespace        (--namespace / positional name)
  list      List namespaces
  update    Change a namespace      (--namespace, [--retention], [--description])
  delete    Delete a namespace and its workflows (--namespace, --yes)
)";

int Namespace(const std::string& verb, const Args& args) {
  if (verb.empty() || args.Has("help")) {
    std::fputs(kNamespaceUsage, verb.empty() && !args.Has("help") ? stderr : stdout);
    return verb.empty() && !args.Has("help") ? 1 : 0;
  }
  Client client(args);
  if (!client.setup_error().empty()) return Fail(client.setup_error());
  // The name may come as the first word after the verb, as with `temporal`.
  std::string name = args.positional().size() > 3 ? args.positional()[3] : client.ns();
  auto context = Client::Context(std::chrono::seconds(30));
  google::protobuf::Duration retention;
  if (args.Has("retention")) {
    auto parsed = ParseGoDuration(args.Get("retention"));
    if (!parsed.ok()) return Fail("--retention: " + parsed.status().message());
    retention = ToProtoDuration(*parsed);
  }
  if (verb == "create") {
    wfs::RegisterNamespaceRequest request;
    request.set_namespace_(name);
    request.set_description(args.Get("description"));
    if (args.Has("retention")) *request.mutable_workflow_execution_retention_period() = retention;
    wfs::RegisterNamespaceResponse response;
    auto status = client.stub().RegisterNamespace(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Namespace " + name + " registered.\n");
    return 0;
  }
  if (verb == "describe") {
    wfs::DescribeNamespaceRequest request;
    request.set_namespace_(name);
    wfs::DescribeNamespaceResponse response;
    auto status = client.stub().DescribeNamespace(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Name         " + response.namespace_info().name() + "\nId           " +
                               response.namespace_info().id() + "\nDescription  " +
                               response.namespace_info().description() + "\nRetention    " +
                               std::to_string(
                                   response.config().workflow_execution_retention_ttl().seconds()) +
                               " s\n");
    return 0;
  }
  if (verb == "list") {
    wfs::ListNamespacesRequest request;
    wfs::ListNamespacesResponse response;
    auto status = client.stub().ListNamespaces(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    std::string text;
    for (const auto& ns : response.namespaces()) text += ns.namespace_info().name() + "\n";
    client.Print(response, text);
    return 0;
  }
  if (verb == "update") {
    wfs::UpdateNamespaceRequest request;
    request.set_namespace_(name);
    request.mutable_update_info()->set_description(args.Get("description"));
    if (args.Has("retention")) {
      *request.mutable_config()->mutable_workflow_execution_retention_ttl() = retention;
    }
    wfs::UpdateNamespaceResponse response;
    auto status = client.stub().UpdateNamespace(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Namespace " + name + " updated.\n");
    return 0;
  }
  if (verb == "delete") {
    if (!args.Has("yes")) return Fail("deleting namespace " + name + " needs --yes");
    auto* stub = &client.operator_stub();
    temporal::api::operatorservice::v1::DeleteNamespaceRequest request;
    request.set_namespace_(name);
    temporal::api::operatorservice::v1::DeleteNamespaceResponse response;
    auto status = stub->DeleteNamespace(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Namespace " + name +
                               " deleted (its workflows are removed in the "
                               "background).\n");
    return 0;
  }
  return Fail("unknown command \"eon operator namespace " + verb + "\"");
}

int Activity(const std::string& verb, const Args& args) {
  if ((verb != "complete" && verb != "fail") || args.Has("help")) {
    std::fputs(
        "Usage: eon activity complete|fail --workflow-id ID --activity-id ID "
        "[--run-id ID] [--result JSON | --reason TEXT]\n",
        args.Has("help") ? stdout : stderr);
    return args.Has("help") ? 0 : 1;
  }
  Client client(args);
  if (!client.setup_error().empty()) return Fail(client.setup_error());
  if (args.Get("workflow-id").empty() || args.Get("activity-id").empty()) {
    return Fail("--workflow-id and --activity-id are required");
  }
  auto context = Client::Context(std::chrono::seconds(30));
  if (verb == "complete") {
    wfs::RespondActivityTaskCompletedByIdRequest request;
    request.set_namespace_(client.ns());
    request.set_workflow_id(args.Get("workflow-id"));
    request.set_run_id(args.Get("run-id"));
    request.set_activity_id(args.Get("activity-id"));
    request.set_identity("eon-cli");
    const std::string result = args.Get("result", "null");
    if (JsonNestingDepth(result, kJsonNestingMax) > kJsonNestingMax) {
      return Fail("--result nests deeper than " + std::to_string(kJsonNestingMax) + " levels");
    }
    if (!nlohmann::json::accept(result)) return Fail("--result is not valid JSON: " + result);
    auto* payload = request.mutable_result()->add_payloads();
    (*payload->mutable_metadata())["encoding"] = "json/plain";
    payload->set_data(nlohmann::json::parse(result).dump());
    wfs::RespondActivityTaskCompletedByIdResponse response;
    auto status = client.stub().RespondActivityTaskCompletedById(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Activity completed.\n");
    return 0;
  }
  wfs::RespondActivityTaskFailedByIdRequest request;
  request.set_namespace_(client.ns());
  request.set_workflow_id(args.Get("workflow-id"));
  request.set_run_id(args.Get("run-id"));
  request.set_activity_id(args.Get("activity-id"));
  request.set_identity("eon-cli");
  request.mutable_failure()->set_message(args.Get("reason", "failed from the command line"));
  request.mutable_failure()->set_source("eon-cli");
  request.mutable_failure()->mutable_application_failure_info()->set_non_retryable(true);
  wfs::RespondActivityTaskFailedByIdResponse response;
  auto status = client.stub().RespondActivityTaskFailedById(context.get(), request, &response);
  if (!status.ok()) return Fail(status);
  client.Print(response, "Activity failed.\n");
  return 0;
}

int SearchAttribute(const std::string& verb, const Args& args) {
  namespace ops = temporal::api::operatorservice::v1;
  if ((verb != "create" && verb != "list" && verb != "remove") || args.Has("help")) {
    std::fputs(
        "Usage: eon operator search-attribute create --name N --type "
        "Text|Keyword|Int|Double|Bool|Datetime|KeywordList\n"
        "       eon operator search-attribute list\n"
        "       eon operator search-attribute remove --name N\n",
        args.Has("help") ? stdout : stderr);
    return args.Has("help") ? 0 : 1;
  }
  Client client(args);
  if (!client.setup_error().empty()) return Fail(client.setup_error());
  auto* stub = &client.operator_stub();
  auto context = Client::Context(std::chrono::seconds(30));
  if (verb == "create") {
    static const std::map<std::string, enums::IndexedValueType> kTypes = {
        {"Text", enums::INDEXED_VALUE_TYPE_TEXT},
        {"Keyword", enums::INDEXED_VALUE_TYPE_KEYWORD},
        {"Int", enums::INDEXED_VALUE_TYPE_INT},
        {"Double", enums::INDEXED_VALUE_TYPE_DOUBLE},
        {"Bool", enums::INDEXED_VALUE_TYPE_BOOL},
        {"Datetime", enums::INDEXED_VALUE_TYPE_DATETIME},
        {"KeywordList", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST}};
    auto type = kTypes.find(args.Get("type"));
    if (type == kTypes.end()) {
      return Fail("--type must be one of Text, Keyword, Int, Double, Bool, Datetime, KeywordList");
    }
    ops::AddSearchAttributesRequest request;
    request.set_namespace_(client.ns());
    (*request.mutable_search_attributes())[args.Get("name")] = type->second;
    ops::AddSearchAttributesResponse response;
    auto status = stub->AddSearchAttributes(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Search attribute " + args.Get("name") + " created.\n");
    return 0;
  }
  if (verb == "remove") {
    ops::RemoveSearchAttributesRequest request;
    request.set_namespace_(client.ns());
    request.add_search_attributes(args.Get("name"));
    ops::RemoveSearchAttributesResponse response;
    auto status = stub->RemoveSearchAttributes(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Search attribute " + args.Get("name") + " removed.\n");
    return 0;
  }
  ops::ListSearchAttributesRequest request;
  request.set_namespace_(client.ns());
  ops::ListSearchAttributesResponse response;
  auto status = stub->ListSearchAttributes(context.get(), request, &response);
  if (!status.ok()) return Fail(status);
  std::string text;
  auto add = [&](const std::map<std::string, enums::IndexedValueType>& attributes,
                 const char* kind) {
    for (const auto& [name, type] : attributes) {
      std::string type_name = enums::IndexedValueType_Name(type);
      text += name + "  " + type_name.substr(std::string("INDEXED_VALUE_TYPE_").size()) + "  " +
              kind + "\n";
    }
  };
  add({response.custom_attributes().begin(), response.custom_attributes().end()}, "custom");
  add({response.system_attributes().begin(), response.system_attributes().end()}, "system");
  client.Print(response, text);
  return 0;
}

int TaskQueue(const std::string& verb, const Args& args) {
  if (verb != "describe" || args.Has("help")) {
    std::fputs(
        "Usage: eon task-queue describe --task-queue NAME [--task-queue-type workflow|activity]\n",
        args.Has("help") ? stdout : stderr);
    return args.Has("help") ? 0 : 1;
  }
  Client client(args);
  if (!client.setup_error().empty()) return Fail(client.setup_error());
  if (args.Get("task-queue").empty()) return Fail("--task-queue is required");
  wfs::DescribeTaskQueueRequest request;
  request.set_namespace_(client.ns());
  request.mutable_task_queue()->set_name(args.Get("task-queue"));
  request.set_task_queue_type(args.Get("task-queue-type") == "activity"
                                  ? enums::TASK_QUEUE_TYPE_ACTIVITY
                                  : enums::TASK_QUEUE_TYPE_WORKFLOW);
  wfs::DescribeTaskQueueResponse response;
  auto context = Client::Context(std::chrono::seconds(30));
  auto status = client.stub().DescribeTaskQueue(context.get(), request, &response);
  if (!status.ok()) return Fail(status);
  std::string text =
      "Backlog: " + std::to_string(response.stats().approximate_backlog_count()) + "\nPollers:\n";
  for (const auto& poller : response.pollers()) {
    text += "  " + poller.identity() + "  " + Time(poller.last_access_time()) + "\n";
  }
  client.Print(response, text);
  return 0;
}

// A unary call by method path (Eon's own services have no generated stub here).
grpc::Status CallByPath(Client& client, const std::string& path,
                        const google::protobuf::Message& request,
                        google::protobuf::Message* response) {
  grpc::GenericStub stub(client.channel());
  auto context = Client::Context(std::chrono::seconds(30));
  std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer in(&slice, 1);
  grpc::ByteBuffer out;
  std::promise<grpc::Status> done;
  stub.UnaryCall(context.get(), path, grpc::StubOptions(), &in, &out,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) return status;
  std::vector<grpc::Slice> slices;
  if (!out.Dump(&slices).ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "bad response");
  std::string received;
  for (const auto& s : slices) received.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!response->ParseFromString(received)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "the response does not parse");
  }
  return status;
}

// eon admin parked-tasks list|retry: outbox tasks that failed again and again.
int ParkedTasks(const std::string& verb, const Args& args) {
  if ((verb != "list" && verb != "retry") || args.Has("help")) {
    std::fputs(
        "Usage: eon admin parked-tasks list\n"
        "       eon admin parked-tasks retry [--task-id N]...   (all parked tasks if none named)\n",
        args.Has("help") ? stdout : stderr);
    return args.Has("help") ? 0 : 1;
  }
  Client client(args);
  if (verb == "list") {
    eon::v1::ListParkedTasksResponse response;
    auto status = CallByPath(client, "/eon.v1.AdminService/ListParkedTasks",
                             eon::v1::ListParkedTasksRequest(), &response);
    if (!status.ok()) return Fail(status);
    std::string text;
    for (const auto& task : response.tasks()) {
      text += std::to_string(task.task_id()) + "  " + task.category() + "  " + task.task_type() +
              "  " + task.workflow_id() + "  " + task.run_id() + "  failures=" +
              std::to_string(task.failures()) + "  " + task.last_error() + "\n";
    }
    if (response.tasks().empty()) text = "No parked tasks.\n";
    client.Print(response, text);
    return 0;
  }
  eon::v1::RetryParkedTasksRequest request;
  for (const auto& id : args.All("task-id")) {
    auto parsed = ParseNumber<int64_t>(id);
    if (!parsed) return Fail("--task-id must be a number: " + id);
    request.add_task_ids(*parsed);
  }
  eon::v1::RetryParkedTasksResponse response;
  auto status = CallByPath(client, "/eon.v1.AdminService/RetryParkedTasks", request, &response);
  if (!status.ok()) return Fail(status);
  client.Print(response, "Retrying " + std::to_string(response.retried()) + " parked tasks.\n");
  return 0;
}

constexpr const char* kScheduleUsage = R"(Usage: eon schedule <command> [flags]

Commands:
  create     Create a schedule    (--schedule-id, --interval/--cron/--calendar, --workflow-id,
                                   --type/--workflow-type, --task-queue, [--input ...],
                                   [--overlap-policy], [--paused], [--notes], [--time-zone],
                                   [--start-time], [--end-time], [--jitter], [--catchup-window],
                                   [--remaining-actions], [--pause-on-failure])
  update     Replace a schedule's spec and action (the flags of create)
  describe   Show a schedule      (--schedule-id)
  list       List schedules       ([--query])
  toggle     Pause or unpause     (--schedule-id, --pause|--unpause, [--reason])
  trigger    Take the action now  (--schedule-id, [--overlap-policy])
  backfill   Take the actions of a past time range
                                  (--schedule-id, --start-time, --end-time, [--overlap-policy])
  delete     Delete a schedule    (--schedule-id)

--interval takes a duration with an optional phase (5m, 1h/15m); --cron a cron string
("0 12 * * MON-FRI", "CRON_TZ=Europe/Berlin 30 9 * * *", "@daily"); --calendar a JSON calendar
({"dayOfWeek":"Fri","hour":"17"}). Each may be repeated. --overlap-policy: Skip, BufferOne,
BufferAll, CancelOther, TerminateOther, AllowAll. Times are RFC 3339.
)";

// "BufferOne", "buffer_one", "SCHEDULE_OVERLAP_POLICY_BUFFER_ONE" -> the enum.
bool OverlapPolicy(const std::string& text, enums::ScheduleOverlapPolicy* out) {
  std::string key;
  for (char c : text) {
    if (c != '_' && c != '-') key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::string prefix = "scheduleoverlappolicy";
  if (key.rfind(prefix, 0) == 0) key = key.substr(prefix.size());
  static const std::map<std::string, enums::ScheduleOverlapPolicy> kPolicies = {
      {"", enums::SCHEDULE_OVERLAP_POLICY_UNSPECIFIED},
      {"unspecified", enums::SCHEDULE_OVERLAP_POLICY_UNSPECIFIED},
      {"skip", enums::SCHEDULE_OVERLAP_POLICY_SKIP},
      {"bufferone", enums::SCHEDULE_OVERLAP_POLICY_BUFFER_ONE},
      {"bufferall", enums::SCHEDULE_OVERLAP_POLICY_BUFFER_ALL},
      {"cancelother", enums::SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER},
      {"terminateother", enums::SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER},
      {"allowall", enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}};
  auto it = kPolicies.find(key);
  if (it == kPolicies.end()) return false;
  *out = it->second;
  return true;
}

bool TimeFlag(const Args& args, const std::string& name, google::protobuf::Timestamp* out,
              std::string* error) {
  auto nanos = visibility::ParseRfc3339Nanos(args.Get(name));
  if (!nanos.ok()) {
    *error = "--" + name + " is not an RFC 3339 time: " + nanos.status().message();
    return false;
  }
  *out = ToTimestamp(FromUnixNanos(*nanos));
  return true;
}

bool DurationFlag(const Args& args, const std::string& name, google::protobuf::Duration* out,
                  std::string* error) {
  auto parsed = ParseGoDuration(args.Get(name));
  if (!parsed.ok()) {
    *error = "--" + name + ": " + parsed.status().message();
    return false;
  }
  *out = ToProtoDuration(*parsed);
  return true;
}

// The schedule that create and update send, from the flags.
bool ScheduleFromFlags(const Args& args, temporal::api::schedule::v1::Schedule* schedule,
                       std::string* error) {
  auto* spec = schedule->mutable_spec();
  for (const auto& text : args.All("interval")) {
    auto* interval = spec->add_interval();
    std::string every = text, phase;
    if (auto slash = text.find('/'); slash != std::string::npos) {
      every = text.substr(0, slash);
      phase = text.substr(slash + 1);
    }
    auto parsed = ParseGoDuration(every);
    if (!parsed.ok()) {
      *error = "--interval: " + parsed.status().message();
      return false;
    }
    *interval->mutable_interval() = ToProtoDuration(*parsed);
    if (!phase.empty()) {
      auto parsed_phase = ParseGoDuration(phase);
      if (!parsed_phase.ok()) {
        *error = "--interval phase: " + parsed_phase.status().message();
        return false;
      }
      *interval->mutable_phase() = ToProtoDuration(*parsed_phase);
    }
  }
  for (const auto& text : args.All("cron")) spec->add_cron_string(text);
  for (const auto& text : args.All("calendar")) {
    auto status = google::protobuf::util::JsonStringToMessage(text, spec->add_calendar());
    if (!status.ok()) {
      *error = "--calendar is not a calendar in JSON: " + std::string(status.message());
      return false;
    }
  }
  if (args.Has("time-zone")) spec->set_timezone_name(args.Get("time-zone"));
  if (args.Has("start-time") && !TimeFlag(args, "start-time", spec->mutable_start_time(), error))
    return false;
  if (args.Has("end-time") && !TimeFlag(args, "end-time", spec->mutable_end_time(), error))
    return false;
  if (args.Has("jitter") && !DurationFlag(args, "jitter", spec->mutable_jitter(), error))
    return false;
  auto* action = schedule->mutable_action()->mutable_start_workflow();
  action->set_workflow_id(args.Get("workflow-id"));
  action->mutable_workflow_type()->set_name(args.Get("workflow-type", args.Get("type")));
  action->mutable_task_queue()->set_name(args.Get("task-queue"));
  if (!Inputs(args, action->mutable_input(), error)) return false;
  auto* policies = schedule->mutable_policies();
  enums::ScheduleOverlapPolicy policy{};
  if (!OverlapPolicy(args.Get("overlap-policy"), &policy)) {
    *error = "--overlap-policy \"" + args.Get("overlap-policy") +
             "\" is not a policy (Skip, "
             "BufferOne, BufferAll, CancelOther, TerminateOther, AllowAll)";
    return false;
  }
  policies->set_overlap_policy(policy);
  if (args.Has("catchup-window") &&
      !DurationFlag(args, "catchup-window", policies->mutable_catchup_window(), error))
    return false;
  policies->set_pause_on_failure(args.Has("pause-on-failure"));
  auto* state = schedule->mutable_state();
  state->set_paused(args.Has("paused") || args.Has("pause"));
  state->set_notes(args.Get("notes", args.Get("note")));
  if (args.Has("remaining-actions")) {
    int64_t remaining = 0;
    const std::string text = args.Get("remaining-actions");
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), remaining);
    if (ec != std::errc() || end != text.data() + text.size() || remaining < 0) {
      *error = "--remaining-actions must be a number of actions";
      return false;
    }
    state->set_limited_actions(true);
    state->set_remaining_actions(remaining);
  }
  return true;
}

std::string PolicyName(enums::ScheduleOverlapPolicy policy) {
  std::string name = enums::ScheduleOverlapPolicy_Name(policy);
  const std::string prefix = "SCHEDULE_OVERLAP_POLICY_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

int Schedule(const std::string& verb, const Args& args) {
  if (verb.empty() || args.Has("help")) {
    std::fputs(kScheduleUsage, verb.empty() && !args.Has("help") ? stderr : stdout);
    return verb.empty() && !args.Has("help") ? 1 : 0;
  }
  static const char* const kVerbs[] = {"create", "update",  "describe", "list",
                                       "toggle", "trigger", "backfill", "delete"};
  if (std::find(std::begin(kVerbs), std::end(kVerbs), verb) == std::end(kVerbs)) {
    return Fail("unknown command \"eon schedule " + verb + "\" (see eon schedule --help)");
  }
  Client client(args);
  auto context = Client::Context(std::chrono::seconds(30));
  const std::string id = args.Get("schedule-id");
  if (verb == "list") {
    wfs::ListSchedulesRequest request;
    request.set_namespace_(client.ns());
    request.set_query(args.Get("query"));
    auto limit = LimitFlag(args);
    if (!limit) return Fail("--limit needs a whole number from 1 to 1000");
    request.set_maximum_page_size(*limit);
    wfs::ListSchedulesResponse response;
    auto status = client.stub().ListSchedules(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    char line[512];
    std::snprintf(line, sizeof line, "%-40s %-24s %-7s %s\n", "SCHEDULE ID", "WORKFLOW TYPE",
                  "PAUSED", "NEXT RUN");
    std::string text = line;
    for (const auto& entry : response.schedules()) {
      const auto& info = entry.info();
      std::snprintf(
          line, sizeof line, "%-40s %-24s %-7s %s\n", entry.schedule_id().c_str(),
          info.workflow_type().name().c_str(), info.paused() ? "yes" : "no",
          info.future_action_times().empty() ? "" : Time(info.future_action_times(0)).c_str());
      text += line;
    }
    client.Print(response, text);
    return 0;
  }
  if (id.empty()) return Fail("--schedule-id is required for \"eon schedule " + verb + "\"");
  std::string error;
  if (verb == "create" || verb == "update") {
    temporal::api::schedule::v1::Schedule schedule;
    if (!ScheduleFromFlags(args, &schedule, &error)) return Fail(error);
    if (verb == "create") {
      wfs::CreateScheduleRequest request;
      request.set_namespace_(client.ns());
      request.set_schedule_id(id);
      *request.mutable_schedule() = schedule;
      request.set_identity("eon-cli");
      request.set_request_id(NewUuid());
      wfs::CreateScheduleResponse response;
      auto status = client.stub().CreateSchedule(context.get(), request, &response);
      if (!status.ok()) return Fail(status);
      client.Print(response, "Created schedule " + id + "\n");
      return 0;
    }
    wfs::UpdateScheduleRequest request;
    request.set_namespace_(client.ns());
    request.set_schedule_id(id);
    *request.mutable_schedule() = schedule;
    request.set_identity("eon-cli");
    request.set_request_id(NewUuid());
    wfs::UpdateScheduleResponse response;
    auto status = client.stub().UpdateSchedule(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Updated schedule " + id + "\n");
    return 0;
  }
  if (verb == "describe") {
    wfs::DescribeScheduleRequest request;
    request.set_namespace_(client.ns());
    request.set_schedule_id(id);
    wfs::DescribeScheduleResponse response;
    auto status = client.stub().DescribeSchedule(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    const auto& s = response.schedule();
    const auto& info = response.info();
    std::string text = "Schedule ID     " + id + "\nWorkflow type   " +
                       s.action().start_workflow().workflow_type().name() + "\nPaused          " +
                       (s.state().paused() ? "yes" : "no") + "\nNotes           " +
                       s.state().notes() + "\nOverlap policy  " +
                       PolicyName(s.policies().overlap_policy()) + "\nActions taken   " +
                       std::to_string(info.action_count()) + "\nRunning         " +
                       std::to_string(info.running_workflows_size()) + "\n";
    for (const auto& t : info.future_action_times()) text += "Next run        " + Time(t) + "\n";
    for (const auto& a : info.recent_actions()) {
      text += "Recent action   " + Time(a.schedule_time()) + " " +
              a.start_workflow_result().workflow_id() + "\n";
    }
    client.Print(response, text);
    return 0;
  }
  if (verb == "delete") {
    wfs::DeleteScheduleRequest request;
    request.set_namespace_(client.ns());
    request.set_schedule_id(id);
    request.set_identity("eon-cli");
    wfs::DeleteScheduleResponse response;
    auto status = client.stub().DeleteSchedule(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    client.Print(response, "Deleted schedule " + id + "\n");
    return 0;
  }
  wfs::PatchScheduleRequest request;
  request.set_namespace_(client.ns());
  request.set_schedule_id(id);
  request.set_identity("eon-cli");
  request.set_request_id(NewUuid());
  auto* patch = request.mutable_patch();
  enums::ScheduleOverlapPolicy policy{};
  if (!OverlapPolicy(args.Get("overlap-policy"), &policy)) {
    return Fail("--overlap-policy \"" + args.Get("overlap-policy") + "\" is not a policy");
  }
  std::string done;
  if (verb == "toggle") {
    if (args.Has("pause") == args.Has("unpause")) return Fail("give one of --pause or --unpause");
    std::string reason = args.Get("reason", args.Get("note", "(no reason provided)"));
    if (args.Has("pause")) {
      patch->set_pause(reason);
      done = "Paused schedule " + id + "\n";
    } else {
      patch->set_unpause(reason);
      done = "Unpaused schedule " + id + "\n";
    }
  } else if (verb == "trigger") {
    patch->mutable_trigger_immediately()->set_overlap_policy(policy);
    done = "Triggered schedule " + id + "\n";
  } else {  // backfill
    if (!args.Has("start-time") || !args.Has("end-time")) {
      return Fail("--start-time and --end-time are required for \"eon schedule backfill\"");
    }
    auto* backfill = patch->add_backfill_request();
    if (!TimeFlag(args, "start-time", backfill->mutable_start_time(), &error) ||
        !TimeFlag(args, "end-time", backfill->mutable_end_time(), &error)) {
      return Fail(error);
    }
    backfill->set_overlap_policy(policy);
    done = "Backfilled schedule " + id + "\n";
  }
  wfs::PatchScheduleResponse response;
  auto status = client.stub().PatchSchedule(context.get(), request, &response);
  if (!status.ok()) return Fail(status);
  client.Print(response, done);
  return 0;
}

}  // namespace

int RunClientCommand(int argc, char** argv) {
  Args args(argc, argv);
  if (!args.missing_value().empty()) return Fail(args.missing_value() + " needs a value");
  const auto& words = args.positional();
  const std::string noun = words.empty() ? "" : words[0];
  const std::string verb = words.size() > 1 ? words[1] : "";
  if (noun == "workflow") return Workflow(verb, args);
  if (noun == "task-queue") return TaskQueue(verb, args);
  if (noun == "schedule") return Schedule(verb, args);
  if (noun == "activity") return Activity(verb, args);
  if (noun == "operator" && verb == "search-attribute") {
    return SearchAttribute(words.size() > 2 ? words[2] : "", args);
  }
  if (noun == "admin" && verb == "parked-tasks") {
    return ParkedTasks(words.size() > 2 ? words[2] : "", args);
  }
  if (noun == "operator" && verb == "namespace") {
    return Namespace(words.size() > 2 ? words[2] : "", args);
  }
  return Fail("unknown command \"eon " + noun + (verb.empty() ? "" : " " + verb) +
              "\" (see eon --help)");
}

}  // namespace eon::cli
