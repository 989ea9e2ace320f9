// A structure-aware libFuzzer target over Eon's request handlers.
//
// The server runs in this process (real gRPC on loopback, a temporary SQLite file), so a crash,
// a sanitizer report or a hang in any handler is the fuzzer's finding. An input is one request:
// a method index byte followed by the serialized request message. The custom mutator decodes
// it and mutates the message through reflection: fields are set from dictionaries of the
// strings the server parses (cron specs, durations, list queries, JSON search attribute values
// and memos, failures with long cause chains, task and page tokens), numbers from edge values,
// and sometimes the bytes are mutated raw or the method changed. Every kRestartEvery inputs the
// server is stopped and started again on the same database, and every workflow in it must still
// describe and read back: a request that was acknowledged and then poisoned the database (issue
// 11's inputs 5 and 6) is a finding too. Answers of INTERNAL or UNKNOWN are findings.
//
// Run: eon_request_fuzzer -max_total_time=60 [corpus_dir]. EON_FUZZ_VERBOSE=1 prints answers.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "eon/v1/state.pb.h"
#include "server/server.h"
#include "temporal/api/operatorservice/v1/service.grpc.pb.h"
#include "temporal/api/testservice/v1/service.grpc.pb.h"
#include "temporal/api/workflowservice/v1/service.grpc.pb.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
namespace wfs = temporal::api::workflowservice::v1;
namespace ops = temporal::api::operatorservice::v1;

constexpr auto kCallDeadline = std::chrono::milliseconds(300);
constexpr int kRestartEvery = 2'000;
constexpr int kReadBackWorkflowsMax = 200;
constexpr int kMutationDepthMax = 6;

struct Method {
  std::string path;
  const Descriptor* input;
};

// ---- dictionaries: the strings the server parses ------------------------------------------

const std::vector<std::string> kCronSpecs = {
    "@every .s", "@every 1s", "@every 0s", "@every -1h", "@every 1e308s", "@every 99999999999h",
    "@every 1h30m", "@every 1.5m", "@hourly", "@daily", "@weekly", "@monthly", "@yearly",
    "* * * * *", "*/0 * * * *", "*/5 * * * *", "0 0 31 2 *", "60 24 32 13 8", "1-0 * * * *",
    "0-59/7 * * * MON-FRI", "* * * JAN-DEC SUN", "CRON_TZ=Mars/Base * * * * *",
    "TZ=America/New_York 0 9 * * *", "* * * * * *", "", "@", "@every", "* * *",
    "99999 * * * *", "-1 * * * *", "1,2,,3 * * * *", "L W # ? *"};

const std::vector<std::string> kQueries = {
    "", "WorkflowId = 'x'", "WorkflowType = 'A' AND ExecutionStatus = 'Running'",
    "StartTime > '2020-01-01T00:00:00Z'", "StartTime BETWEEN '2020' AND '2030'",
    "CustomKeywordField = 'gold' ORDER BY StartTime DESC", "CustomIntField > 99999999999999999999",
    "CustomIntField IN (1, 2, 3)", "ExecutionDuration > '1h'", "CloseTime IS NULL",
    "WorkflowId STARTS_WITH 'a'", "(((((((((((((((((((((x", "'", "\"", "WorkflowId = 'it''s'",
    "NOT NOT NOT WorkflowId = 'a'", "Unknown = 1", "ExecutionStatus = 99", "HistoryLength >= -1",
    "TemporalChangeVersion = 'x' OR BuildIds IN ('a')", "CustomDoubleField = 1e999",
    "ExecutionTime < '9999-12-31T23:59:59.999999999Z'", "ORDER BY", "LIMIT 1; DROP TABLE x"};

const std::vector<std::string> kDurationsText = {"0s", "1s", ".s", "1e9s", "-1s", "1h", "P1D"};

// ScheduleSpec's CalendarSpec fields (second, minute, hour, day_of_month, month, year,
// day_of_week) are range expressions.
const std::vector<std::string> kCalendarFields = {
    "*", "0", "59", "60", "-1", "*/0", "*/15", "1-5", "5-1", "1-5/2", "1,2,3", "1,,2", ",",
    "MON-FRI", "jan", "Sunday", "L", "99999999999999999999", "0-99999/1", "/", "-", "1-", "*/"};

const std::vector<std::string> kTimeZoneNames = {
    "", "UTC", "America/New_York", "Europe/Berlin", "Mars/Base", "../../etc/passwd", "/etc/localtime",
    "Etc/GMT+14", "Australia/Lord_Howe", std::string(300, 'Z'), std::string("America/New_York\0x", 18)};

// GetWorkflowExecutionHistory's page token is an eon.v1.HistoryPageToken; the visibility lists'
// is a decimal offset.
std::string PageToken(std::mt19937_64& rng) {
  static const std::vector<std::string> kOffsets = {"0", "1", "100", "-1", "99999999999999999999",
                                                    "1x", "", " 1", std::string("5\0junk", 6), "9223372036854775807"};
  if (rng() % 2) return kOffsets[rng() % kOffsets.size()];
  eon::v1::HistoryPageToken token;
  token.set_run_id(rng() % 2 ? "" : "00000000-0000-0000-0000-000000000000");
  static const int64_t kEventIds[] = {0, 1, 2, -1, 1'000'000, INT64_MAX, INT64_MIN};
  token.set_next_event_id(kEventIds[rng() % std::size(kEventIds)]);
  return token.SerializeAsString();
}

// A real TZif file (ScheduleSpec.timezone_data), cut short or with a few bytes changed.
std::string TzifData(std::mt19937_64& rng) {
  static const std::string kTzif = [] {
    std::string data;
    if (FILE* f = std::fopen("/usr/share/zoneinfo/America/New_York", "rb")) {
      char buffer[4096];
      size_t n;
      while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) data.append(buffer, n);
      std::fclose(f);
    }
    return data.empty() ? std::string("TZif2") : data;
  }();
  std::string data = kTzif;
  switch (rng() % 4) {
    case 0:
      return data;
    case 1:
      data.resize(rng() % data.size());
      return data;
    default:
      for (int i = 1 + static_cast<int>(rng() % 8); i > 0; --i) {
        data[rng() % data.size()] = static_cast<char>(rng() % 4 ? rng() : 0xff);
      }
      return data;
  }
}

std::string Nested(int depth, char open, char close, const std::string& inside) {
  return std::string(depth, open) + inside + std::string(depth, close);
}

std::string JsonValue(std::mt19937_64& rng) {
  static const std::vector<std::string> kValues = {
      "\"gold\"", "[\"gold\"]", "7", "[7]", "1.5", "true", "null", "[]", "{}", "\"\"",
      "\"2024-01-02T03:04:05Z\"", "\"yesterday\"", "99999999999999999999999", "-0", "1e400",
      "\"\\ud800\"", "[\"a\",[\"b\"]]", "{\"a\":{\"b\":1}}", "not json", "\"\xff\xfe\""};
  switch (rng() % 6) {
    case 0:
      return Nested(static_cast<int>(rng() % 100'000) + 1, '[', ']', "");
    case 1:
      return Nested(static_cast<int>(rng() % 200) + 1, '[', ']', "\"x\"");
    case 2: {
      std::string out;
      int depth = static_cast<int>(rng() % 5'000) + 1;
      for (int i = 0; i < depth; ++i) out += "{\"a\":";
      out += "1" + std::string(depth, '}');
      return out;
    }
    default:
      return kValues[rng() % kValues.size()];
  }
}

temporal::api::failure::v1::Failure FailureChain(int depth) {
  temporal::api::failure::v1::Failure root;
  auto* f = &root;
  for (int i = 1; i < depth; ++i) {
    f->set_message("level " + std::to_string(i));
    f->mutable_application_failure_info()->set_type("Fuzz");
    f = f->mutable_cause();
  }
  f->set_message("root");
  return root;
}

std::string TaskToken(std::mt19937_64& rng) {
  eon::v1::TaskToken token;
  token.set_namespace_id(rng() % 2 ? "" : std::string("ns"));
  token.set_workflow_id(rng() % 2 ? "fuzz-wf" : "wf-" + std::to_string(rng() % 4));
  token.set_run_id(rng() % 3 ? "" : "00000000-0000-0000-0000-000000000000");
  token.set_scheduled_event_id(static_cast<int64_t>(rng() % 8) - 1);
  token.set_started_event_id(static_cast<int64_t>(rng() % 8));
  token.set_attempt(static_cast<int32_t>(rng() % 3));
  token.set_activity_id(rng() % 2 ? "1" : "");
  token.set_kind(static_cast<eon::v1::TaskQueueKind>(rng() % 4));
  return token.SerializeAsString();
}

// ---- the mutator ------------------------------------------------------------------------------

class Mutator {
 public:
  explicit Mutator(unsigned seed) : rng_(seed) {}

  // Sets one field somewhere in `message` (a random path) to a dictionary or edge value.
  void MutateOne(Message* message, int depth) {
    const Descriptor* d = message->GetDescriptor();
    if (d->field_count() == 0) return;
    const auto* r = message->GetReflection();
    const FieldDescriptor* f = d->field(static_cast<int>(rng_() % d->field_count()));
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->message_type()->full_name() == "temporal.api.failure.v1.Failure" && rng_() % 3 == 0) {
        auto chain = FailureChain(static_cast<int>(rng_() % 120) + 1);
        Message* target = f->is_repeated() ? r->AddMessage(message, f) : r->MutableMessage(message, f);
        target->CopyFrom(chain);
        return;
      }
      if (f->message_type()->full_name() == "temporal.api.common.v1.Payload") {
        Message* target = f->is_repeated() ? r->AddMessage(message, f) : r->MutableMessage(message, f);
        auto* payload = static_cast<temporal::api::common::v1::Payload*>(target);
        (*payload->mutable_metadata())["encoding"] = rng_() % 4 ? "json/plain" : "binary/null";
        payload->set_data(JsonValue(rng_));
        return;
      }
      if (f->is_map() && rng_() % 2 == 0) {
        // Search attributes, memo fields, headers: a known or unknown key with a JSON value.
        Message* entry = r->AddMessage(message, f);
        const auto* key = entry->GetDescriptor()->FindFieldByName("key");
        const auto* value = entry->GetDescriptor()->FindFieldByName("value");
        static const std::vector<std::string> kKeys = {"CustomKeywordField", "CustomIntField",
                                                       "WorkflowId", "Unregistered",
                                                       "TemporalChangeVersion", "BuildIds"};
        if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          entry->GetReflection()->SetString(entry, key, kKeys[rng_() % kKeys.size()]);
        }
        if (value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
            value->message_type()->full_name() == "temporal.api.common.v1.Payload") {
          auto* payload = static_cast<temporal::api::common::v1::Payload*>(
              entry->GetReflection()->MutableMessage(entry, value));
          (*payload->mutable_metadata())["encoding"] = "json/plain";
          payload->set_data(JsonValue(rng_));
        }
        return;
      }
      if (depth >= kMutationDepthMax) return;
      Message* child = nullptr;
      if (f->is_repeated()) {
        int size = r->FieldSize(*message, f);
        child = size > 0 && rng_() % 2 ? r->MutableRepeatedMessage(message, f, rng_() % size)
                                       : r->AddMessage(message, f);
      } else {
        child = r->MutableMessage(message, f);
      }
      if (f->message_type()->full_name() == "google.protobuf.Duration" ||
          f->message_type()->full_name() == "google.protobuf.Timestamp") {
        static const int64_t kSeconds[] = {0, 1, -1, 60, 315'576'000'000LL, INT64_MAX, INT64_MIN,
                                           9'223'372'036LL, 3'600 * 24 * 365 * 200LL};
        static const int32_t kNanos[] = {0, 1, -1, 999'999'999, 1'000'000'000, INT32_MAX, INT32_MIN};
        const auto* cd = child->GetDescriptor();
        child->GetReflection()->SetInt64(child, cd->FindFieldByName("seconds"),
                                         kSeconds[rng_() % std::size(kSeconds)]);
        child->GetReflection()->SetInt32(child, cd->FindFieldByName("nanos"),
                                         kNanos[rng_() % std::size(kNanos)]);
        return;
      }
      MutateOne(child, depth + 1);
      return;
    }
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        SetString(message, f, StringFor(f));
        break;
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_UINT64: {
        static const int64_t kEdges[] = {0, 1, -1, 2, 3, 5, 100, 1'000'000, INT32_MAX,
                                         INT32_MIN, INT64_MAX, INT64_MIN};
        int64_t v = rng_() % 2 ? kEdges[rng_() % std::size(kEdges)] : static_cast<int64_t>(rng_());
        if (f->is_repeated()) {
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT32) r->AddInt32(message, f, static_cast<int32_t>(v));
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT64) r->AddInt64(message, f, v);
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) r->AddUInt32(message, f, static_cast<uint32_t>(v));
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) r->AddUInt64(message, f, static_cast<uint64_t>(v));
        } else {
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT32) r->SetInt32(message, f, static_cast<int32_t>(v));
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT64) r->SetInt64(message, f, v);
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT32) r->SetUInt32(message, f, static_cast<uint32_t>(v));
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) r->SetUInt64(message, f, static_cast<uint64_t>(v));
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        static const double kEdges[] = {0, -1, 0.5, 1e300, -1e300, 1e-320, INFINITY, NAN};
        double v = kEdges[rng_() % std::size(kEdges)];
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
          f->is_repeated() ? r->AddDouble(message, f, v) : r->SetDouble(message, f, v);
        } else {
          f->is_repeated() ? r->AddFloat(message, f, static_cast<float>(v))
                           : r->SetFloat(message, f, static_cast<float>(v));
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_BOOL:
        f->is_repeated() ? r->AddBool(message, f, rng_() % 2) : r->SetBool(message, f, rng_() % 2);
        break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        int v = static_cast<int>(rng_() % (f->enum_type()->value_count() + 2)) - 1;
        f->is_repeated() ? r->AddEnumValue(message, f, v) : r->SetEnumValue(message, f, v);
        break;
      }
      default:
        break;
    }
  }

  uint64_t Next() { return rng_(); }

 private:
  std::string StringFor(const FieldDescriptor* f) {
    const std::string& name = f->name();
    if (name == "namespace") return rng_() % 8 ? "default" : "missing-namespace";
    if (name.find("cron") != std::string::npos) return kCronSpecs[rng_() % kCronSpecs.size()];
    if (name == "query") return kQueries[rng_() % kQueries.size()];
    if (name == "next_page_token") return PageToken(rng_);
    if (name == "timezone_data") return TzifData(rng_);
    if (name == "timezone_name") return kTimeZoneNames[rng_() % kTimeZoneNames.size()];
    if (name == "second" || name == "minute" || name == "hour" || name == "day_of_month" ||
        name == "month" || name == "year" || name == "day_of_week") {
      return kCalendarFields[rng_() % kCalendarFields.size()];
    }
    if (name.find("token") != std::string::npos) {
      return rng_() % 4 ? TaskToken(rng_) : std::string(rng_() % 64, static_cast<char>(rng_()));
    }
    if (name == "workflow_id" || name == "run_id" || name == "activity_id") {
      static const std::vector<std::string> kIds = {"fuzz-wf", "wf-0", "wf-1", "", "1",
                                                    std::string(1'001, 'w')};
      return kIds[rng_() % kIds.size()];
    }
    if (name == "name" || name.find("queue") != std::string::npos) {
      static const std::vector<std::string> kNames = {"fuzz-tq", "Fuzz", "", "sticky",
                                                      "/_sys/x", "\xc3\xa9"};
      return kNames[rng_() % kNames.size()];
    }
    switch (rng_() % 6) {
      case 0:
        return JsonValue(rng_);
      case 1:
        return kDurationsText[rng_() % kDurationsText.size()];
      case 2:
        return std::string(static_cast<size_t>(rng_() % 3'000), 'x');
      default: {
        std::string out(static_cast<size_t>(rng_() % 16), 'a');
        for (char& c : out) c = static_cast<char>('a' + rng_() % 26);
        return out;
      }
    }
  }

  void SetString(Message* message, const FieldDescriptor* f, const std::string& value) {
    const auto* r = message->GetReflection();
    f->is_repeated() ? r->AddString(message, f, value) : r->SetString(message, f, value);
  }

  std::mt19937_64 rng_;
};

// ---- the server under test ---------------------------------------------------------------------

struct Harness {
  std::string db_path;
  std::unique_ptr<eon::server::Server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  std::vector<Method> methods;
  int inputs = 0;
  bool verbose = std::getenv("EON_FUZZ_VERBOSE") != nullptr;
};

Harness* harness = nullptr;

void StartServer() {
  eon::server::ServerOptions options;
  options.port = 0;
  options.db_path = harness->db_path;
  options.synchronous_full = false;
  options.request_threads = 4;
  options.task_threads = 2;
  auto started = eon::server::Server::Start(options);
  if (!started.ok()) {
    std::fprintf(stderr, "[fuzz] FINDING: the server does not start on its database: %s\n",
                 started.status().message().c_str());
    std::abort();
  }
  harness->server = std::move(*started);
  harness->channel =
      grpc::CreateChannel(harness->server->address(), grpc::InsecureChannelCredentials());
  harness->stub = std::make_unique<grpc::GenericStub>(harness->channel);
}

grpc::Status Call(const std::string& path, const std::string& bytes, grpc::ByteBuffer* response,
                  std::chrono::milliseconds deadline) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  std::promise<grpc::Status> done;
  harness->stub->UnaryCall(&context, path, grpc::StubOptions(), &request, response,
                           [&done](grpc::Status status) { done.set_value(status); });
  return done.get_future().get();
}

bool Finding(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::INTERNAL ||
         status.error_code() == grpc::StatusCode::UNKNOWN;
}

// Every workflow in the database still describes and reads back after a restart.
void RestartAndReadBack() {
  harness->server->Shutdown();
  harness->server.reset();
  StartServer();
  wfs::ListWorkflowExecutionsRequest list;
  list.set_namespace_("default");
  list.set_page_size(kReadBackWorkflowsMax);
  grpc::ByteBuffer buffer;
  auto listed = Call("/temporal.api.workflowservice.v1.WorkflowService/ListWorkflowExecutions",
                     list.SerializeAsString(), &buffer, std::chrono::seconds(10));
  if (!listed.ok()) {
    std::fprintf(stderr, "[fuzz] FINDING: list after restart: %s\n", listed.error_message().c_str());
    std::abort();
  }
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  wfs::ListWorkflowExecutionsResponse response;
  response.ParseFromString(bytes);
  for (const auto& info : response.executions()) {
    wfs::DescribeWorkflowExecutionRequest describe;
    describe.set_namespace_("default");
    *describe.mutable_execution() = info.execution();
    grpc::ByteBuffer out;
    auto described = Call("/temporal.api.workflowservice.v1.WorkflowService/DescribeWorkflowExecution",
                          describe.SerializeAsString(), &out, std::chrono::seconds(10));
    wfs::GetWorkflowExecutionHistoryRequest history;
    history.set_namespace_("default");
    *history.mutable_execution() = info.execution();
    auto read = Call("/temporal.api.workflowservice.v1.WorkflowService/GetWorkflowExecutionHistory",
                     history.SerializeAsString(), &out, std::chrono::seconds(10));
    if (Finding(described) || Finding(read)) {
      std::fprintf(stderr, "[fuzz] FINDING: workflow %s unreadable after restart: %s / %s\n",
                   info.execution().workflow_id().c_str(), described.error_message().c_str(),
                   read.error_message().c_str());
      std::abort();
    }
  }
}

const Method& MethodOf(uint8_t selector) {
  return harness->methods[selector % harness->methods.size()];
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  harness = new Harness;
  auto dir = std::filesystem::temp_directory_path() /
             ("eon-request-fuzzer-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  harness->db_path = (dir / "fuzz.db").string();
  StartServer();
  // Registered attributes, so valid values get past validation into the visibility rows.
  ops::AddSearchAttributesRequest add;
  add.set_namespace_("default");
  (*add.mutable_search_attributes())["CustomKeywordField"] =
      temporal::api::enums::v1::INDEXED_VALUE_TYPE_KEYWORD;
  (*add.mutable_search_attributes())["CustomIntField"] =
      temporal::api::enums::v1::INDEXED_VALUE_TYPE_INT;
  grpc::ByteBuffer ignored;
  Call("/temporal.api.operatorservice.v1.OperatorService/AddSearchAttributes",
       add.SerializeAsString(), &ignored, std::chrono::seconds(10));

  static const void* volatile linked[] = {
      &descriptor_table_temporal_2fapi_2fworkflowservice_2fv1_2fservice_2eproto,
      &descriptor_table_temporal_2fapi_2foperatorservice_2fv1_2fservice_2eproto,
      &descriptor_table_temporal_2fapi_2ftestservice_2fv1_2fservice_2eproto};
  // Read, so the references (and the service descriptors they pull in) are not dropped.
  for (const void* volatile const& table : linked) {
    if (table == nullptr) std::abort();
  }
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* name : {"temporal.api.workflowservice.v1.WorkflowService",
                           "temporal.api.operatorservice.v1.OperatorService"}) {
    const auto* service = pool->FindServiceByName(name);
    if (service == nullptr) {
      std::fprintf(stderr, "[fuzz] the generated pool has no service %s\n", name);
      std::abort();
    }
    for (int m = 0; m < service->method_count(); ++m) {
      const auto* method = service->method(m);
      if (method->client_streaming() || method->server_streaming()) continue;
      // Deleting the namespace under the fuzzer only ends the run early.
      if (method->name() == "DeleteNamespace") continue;
      harness->methods.push_back(
          {"/" + service->full_name() + "/" + method->name(), method->input_type()});
    }
  }
  std::fprintf(stderr, "[fuzz] %zu methods, database %s\n", harness->methods.size(),
               harness->db_path.c_str());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Method& method = MethodOf(data[0]);
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  grpc::ByteBuffer response;
  grpc::Status status = Call(method.path, bytes, &response, kCallDeadline);
  if (harness->verbose) {
    std::fprintf(stderr, "[fuzz] %s -> %d %s\n", method.path.c_str(), status.error_code(),
                 status.error_message().substr(0, 200).c_str());
  }
  if (Finding(status)) {
    std::fprintf(stderr, "[fuzz] FINDING: %s answered %d: %s\n", method.path.c_str(),
                 status.error_code(), status.error_message().c_str());
    std::abort();
  }
  if (++harness->inputs % kRestartEvery == 0) RestartAndReadBack();
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  Mutator mutator(seed);
  uint8_t selector = size > 0 ? data[0] : static_cast<uint8_t>(mutator.Next());
  if (size == 0 || mutator.Next() % 16 == 0) selector = static_cast<uint8_t>(mutator.Next());
  const Method& method = MethodOf(selector);
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<Message> message(factory->GetPrototype(method.input)->New());
  if (size > 1) message->ParseFromArray(data + 1, static_cast<int>(size - 1));
  std::string bytes;
  if (mutator.Next() % 10 == 0 && size > 1) {
    // Raw byte mutation: malformed messages reach the parser.
    bytes.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    bytes.resize(std::max<size_t>(bytes.size() * 2, 64));
    size_t n = LLVMFuzzerMutate(reinterpret_cast<uint8_t*>(bytes.data()), size - 1, bytes.size());
    bytes.resize(n);
  } else {
    int steps = 1 + static_cast<int>(mutator.Next() % 4);
    for (int i = 0; i < steps; ++i) mutator.MutateOne(message.get(), 0);
    bytes = message->SerializeAsString();
  }
  if (bytes.size() + 1 > max_size) {
    return LLVMFuzzerMutate(data, size, max_size);
  }
  data[0] = selector;
  std::memcpy(data + 1, bytes.data(), bytes.size());
  return bytes.size() + 1;
}
