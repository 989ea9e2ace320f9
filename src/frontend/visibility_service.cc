#include "frontend/visibility_service.h"

#include "common/clock.h"
#include "common/page_token.h"
#include "persistence/records.h"
#include "temporal/api/operatorservice/v1/request_response.pb.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"
#include "visibility/query.h"

namespace eon::frontend {
namespace {

namespace wfs = temporal::api::workflowservice::v1;
namespace ops = temporal::api::operatorservice::v1;
namespace enums = temporal::api::enums::v1;
using visibility::AttributeType;

constexpr const char* kWorkflowService = "temporal.api.workflowservice.v1.WorkflowService";
constexpr const char* kOperatorService = "temporal.api.operatorservice.v1.OperatorService";
constexpr int kPageSizeDefault = 1'000;
constexpr int kPageSizeMax = 1'000;

// The system attributes as GetSearchAttributes reports them.
const std::map<std::string, enums::IndexedValueType>& SystemAttributes() {
  static const auto* kSystem = new std::map<std::string, enums::IndexedValueType>{
      {"WorkflowId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"RunId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"WorkflowType", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"ExecutionStatus", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"StartTime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"CloseTime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"ExecutionTime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"ExecutionDuration", enums::INDEXED_VALUE_TYPE_INT},
      {"TaskQueue", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"HistoryLength", enums::INDEXED_VALUE_TYPE_INT},
      {"HistorySizeBytes", enums::INDEXED_VALUE_TYPE_INT},
      {"StateTransitionCount", enums::INDEXED_VALUE_TYPE_INT},
      {"ParentWorkflowId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"ParentRunId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"RootWorkflowId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"RootRunId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"TemporalChangeVersion", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
      {"BuildIds", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
      {"TemporalScheduledStartTime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"TemporalScheduledById", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"TemporalSchedulePaused", enums::INDEXED_VALUE_TYPE_BOOL},
  };
  return *kSystem;
}

Result<AttributeType> ToAttributeType(int type) {
  switch (type) {
    case enums::INDEXED_VALUE_TYPE_TEXT:
      return AttributeType::kText;
    case enums::INDEXED_VALUE_TYPE_KEYWORD:
      return AttributeType::kKeyword;
    case enums::INDEXED_VALUE_TYPE_INT:
      return AttributeType::kInt;
    case enums::INDEXED_VALUE_TYPE_DOUBLE:
      return AttributeType::kDouble;
    case enums::INDEXED_VALUE_TYPE_BOOL:
      return AttributeType::kBool;
    case enums::INDEXED_VALUE_TYPE_DATETIME:
      return AttributeType::kDatetime;
    case enums::INDEXED_VALUE_TYPE_KEYWORD_LIST:
      return AttributeType::kKeywordList;
    default:
      return InvalidArgument("unknown search attribute type " + std::to_string(type));
  }
}

class VisibilityService final : public ServiceHandle {
 public:
  VisibilityService(namespaces::Registry& namespaces, persistence::Store& store, Executor& executor)
      : namespaces_(namespaces), store_(store), executor_(executor) {}

  void Register(RpcRouter& router) {
    router.Unary<wfs::ListWorkflowExecutionsRequest, wfs::ListWorkflowExecutionsResponse>(
        kWorkflowService, "ListWorkflowExecutions",
        [this](CallContext&, const auto& r) -> Result<wfs::ListWorkflowExecutionsResponse> {
          wfs::ListWorkflowExecutionsResponse response;
          EON_RETURN_IF_ERROR(List(r.namespace_(), r.query(), r.page_size(), r.next_page_token(),
                                   response.mutable_executions(),
                                   response.mutable_next_page_token()));
          return response;
        });
    router.Unary<wfs::ScanWorkflowExecutionsRequest, wfs::ScanWorkflowExecutionsResponse>(
        kWorkflowService, "ScanWorkflowExecutions",
        [this](CallContext&, const auto& r) -> Result<wfs::ScanWorkflowExecutionsResponse> {
          wfs::ScanWorkflowExecutionsResponse response;
          EON_RETURN_IF_ERROR(List(r.namespace_(), r.query(), r.page_size(), r.next_page_token(),
                                   response.mutable_executions(),
                                   response.mutable_next_page_token()));
          return response;
        });
    // The older listing calls, as queries of the same language.
    router.Unary<wfs::ListOpenWorkflowExecutionsRequest, wfs::ListOpenWorkflowExecutionsResponse>(
        kWorkflowService, "ListOpenWorkflowExecutions",
        [this](CallContext&, const auto& r) -> Result<wfs::ListOpenWorkflowExecutionsResponse> {
          std::string query = "ExecutionStatus = 'Running'" + LegacyFilters(r);
          wfs::ListOpenWorkflowExecutionsResponse response;
          EON_RETURN_IF_ERROR(List(r.namespace_(), query, r.maximum_page_size(),
                                   r.next_page_token(), response.mutable_executions(),
                                   response.mutable_next_page_token()));
          return response;
        });
    router
        .Unary<wfs::ListClosedWorkflowExecutionsRequest, wfs::ListClosedWorkflowExecutionsResponse>(
            kWorkflowService, "ListClosedWorkflowExecutions",
            [this](CallContext&,
                   const auto& r) -> Result<wfs::ListClosedWorkflowExecutionsResponse> {
              std::string query = "ExecutionStatus != 'Running'" + LegacyFilters(r);
              if (r.has_status_filter()) {
                query += " AND ExecutionStatus = " + std::to_string(r.status_filter().status());
              }
              wfs::ListClosedWorkflowExecutionsResponse response;
              EON_RETURN_IF_ERROR(List(r.namespace_(), query, r.maximum_page_size(),
                                       r.next_page_token(), response.mutable_executions(),
                                       response.mutable_next_page_token()));
              return response;
            });
    router.Unary<wfs::ListSchedulesRequest, wfs::ListSchedulesResponse>(
        kWorkflowService, "ListSchedules",
        [this](CallContext&, const auto& r) -> Result<wfs::ListSchedulesResponse> {
          wfs::ListSchedulesResponse response;
          EON_RETURN_IF_ERROR(List(r.namespace_(), ScheduleQuery(r.query()), r.maximum_page_size(),
                                   r.next_page_token(), response.mutable_schedules(),
                                   response.mutable_next_page_token(),
                                   /*schedules=*/true));
          return response;
        });
    router.Unary<wfs::CountWorkflowExecutionsRequest, wfs::CountWorkflowExecutionsResponse>(
        kWorkflowService, "CountWorkflowExecutions",
        [this](CallContext&, const auto& r) { return Count(r.namespace_(), r.query()); });
    router.Unary<wfs::GetSearchAttributesRequest, wfs::GetSearchAttributesResponse>(
        kWorkflowService, "GetSearchAttributes",
        [this](CallContext&, const auto&) -> Result<wfs::GetSearchAttributesResponse> {
          // Without a namespace in the request: the system attributes and those of "default".
          wfs::GetSearchAttributesResponse response;
          for (const auto& [name, type] : SystemAttributes())
            (*response.mutable_keys())[name] = type;
          EON_ASSIGN_OR_RETURN(auto ns, namespaces_.ByName("default"));
          EON_ASSIGN_OR_RETURN(auto custom, store_.SearchAttributes(ns->info().id()));
          for (const auto& [name, type] : custom) {
            (*response.mutable_keys())[name] = static_cast<enums::IndexedValueType>(type);
          }
          return response;
        });
    router.Unary<ops::AddSearchAttributesRequest, ops::AddSearchAttributesResponse>(
        kOperatorService, "AddSearchAttributes",
        [this](CallContext&, const auto& r) -> Result<ops::AddSearchAttributesResponse> {
          EON_ASSIGN_OR_RETURN(auto ns, Namespace(r.namespace_()));
          if (r.search_attributes().empty()) {
            return InvalidArgument("SearchAttributes are not set on request.");
          }
          for (const auto& [name, type] : r.search_attributes()) {
            EON_RETURN_IF_ERROR(CheckName(name));
            if (SystemAttributes().count(name)) {
              return InvalidArgument("Search attribute " + name + " is reserved by the system.");
            }
            EON_RETURN_IF_ERROR(ToAttributeType(type).status());
            EON_RETURN_IF_ERROR(store_.AddSearchAttribute(ns->info().id(), name, type));
          }
          return ops::AddSearchAttributesResponse();
        });
    router.Unary<ops::RemoveSearchAttributesRequest, ops::RemoveSearchAttributesResponse>(
        kOperatorService, "RemoveSearchAttributes",
        [this](CallContext&, const auto& r) -> Result<ops::RemoveSearchAttributesResponse> {
          EON_ASSIGN_OR_RETURN(auto ns, Namespace(r.namespace_()));
          for (const auto& name : r.search_attributes()) {
            EON_RETURN_IF_ERROR(store_.RemoveSearchAttribute(ns->info().id(), name));
          }
          return ops::RemoveSearchAttributesResponse();
        });
    router.Unary<ops::DeleteNamespaceRequest, ops::DeleteNamespaceResponse>(
        kOperatorService, "DeleteNamespace",
        [this](CallContext&, const auto& r) -> Result<ops::DeleteNamespaceResponse> {
          std::string name = r.namespace_();
          if (name.empty() && !r.namespace_id().empty()) {
            EON_ASSIGN_OR_RETURN(auto by_id, namespaces_.ById(r.namespace_id()));
            name = by_id->info().name();
          }
          EON_ASSIGN_OR_RETURN(auto deleted, namespaces_.MarkDeleted(name));
          // The namespace is out of service at once; its workflows go in the background.
          const std::string id = deleted->info().id();
          executor_.Submit([this, id] {
            Status removed = store_.DeleteNamespaceData(id);
            if (removed.ok()) namespaces_.Forget(id);
          });
          ops::DeleteNamespaceResponse response;
          response.set_deleted_namespace(deleted->info().name());
          return response;
        });
    router.Unary<ops::ListSearchAttributesRequest, ops::ListSearchAttributesResponse>(
        kOperatorService, "ListSearchAttributes",
        [this](CallContext&, const auto& r) -> Result<ops::ListSearchAttributesResponse> {
          EON_ASSIGN_OR_RETURN(auto ns, Namespace(r.namespace_()));
          ops::ListSearchAttributesResponse response;
          for (const auto& [name, type] : SystemAttributes()) {
            (*response.mutable_system_attributes())[name] = type;
          }
          EON_ASSIGN_OR_RETURN(auto custom, store_.SearchAttributes(ns->info().id()));
          for (const auto& [name, type] : custom) {
            (*response.mutable_custom_attributes())[name] =
                static_cast<enums::IndexedValueType>(type);
          }
          return response;
        });
  }

 private:
  Result<namespaces::Namespace> Namespace(const std::string& name) {
    if (name.empty()) return InvalidArgument("Namespace not set on request.");
    return namespaces_.ByName(name);
  }

  // A quoted literal of the query language.
  static std::string Quote(const std::string& value) {
    std::string out = "'";
    for (char c : value) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    return out + "'";
  }

  template <typename Request>
  static std::string LegacyFilters(const Request& r) {
    std::string query;
    if (r.has_start_time_filter()) {
      const auto& f = r.start_time_filter();
      if (f.has_earliest_time()) {
        query +=
            " AND StartTime >= " + std::to_string(ToUnixNanos(FromTimestamp(f.earliest_time())));
      }
      if (f.has_latest_time()) {
        query += " AND StartTime <= " + std::to_string(ToUnixNanos(FromTimestamp(f.latest_time())));
      }
    }
    if (r.has_execution_filter()) {
      query += " AND WorkflowId = " + Quote(r.execution_filter().workflow_id());
      if (!r.execution_filter().run_id().empty()) {
        query += " AND RunId = " + Quote(r.execution_filter().run_id());
      }
    }
    if (r.has_type_filter()) query += " AND WorkflowType = " + Quote(r.type_filter().name());
    return query;
  }

  static Status CheckName(const std::string& name) {
    if (name.empty() || name.size() > 255) {
      return InvalidArgument("A search attribute name must have 1 to 255 characters.");
    }
    for (char c : name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
        return InvalidArgument("Search attribute name " + name +
                               " may contain only letters, digits, '_', '-' and '.'.");
      }
    }
    return Status::Ok();
  }

  Result<persistence::VisibilityFilter> Filter(const std::string& namespace_id,
                                               const std::string& query) {
    EON_ASSIGN_OR_RETURN(auto registered, store_.SearchAttributes(namespace_id));
    std::map<std::string, AttributeType> custom;
    for (const auto& [name, type] : registered) {
      auto attribute_type = ToAttributeType(type);
      if (attribute_type.ok()) custom[name] = *attribute_type;
    }
    return visibility::ParseQuery(query, custom);
  }

  // A schedule query names the schedule id `ScheduleId` (as Temporal's does); schedules' listings
  // keep it in the WorkflowId column. Renames the identifier outside quoted strings.
  static std::string ScheduleQuery(const std::string& query) {
    std::string out;
    char quote = 0;
    for (size_t i = 0; i < query.size(); ++i) {
      char c = query[i];
      if (quote) {
        out += c;
        if (c == '\\' && i + 1 < query.size()) {
          out += query[++i];
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if (c == '\'' || c == '"' || c == '`') {
        quote = c;
        out += c;
        continue;
      }
      auto word_char = [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
      };
      if (query.compare(i, 10, "ScheduleId") == 0 && (i == 0 || !word_char(query[i - 1])) &&
          (i + 10 >= query.size() || !word_char(query[i + 10]))) {
        out += "WorkflowId";
        i += 9;
        continue;
      }
      out += c;
    }
    return out;
  }

  template <typename Executions>
  Status List(const std::string& namespace_name, const std::string& query, int page_size,
              const std::string& page_token, Executions* executions, std::string* next_token,
              bool schedules = false) {
    EON_ASSIGN_OR_RETURN(auto ns, Namespace(namespace_name));
    EON_ASSIGN_OR_RETURN(const int64_t offset, DecodeOffsetPageToken(page_token));
    const int limit = page_size <= 0 ? kPageSizeDefault : std::min(page_size, kPageSizeMax);
    EON_ASSIGN_OR_RETURN(auto filter, Filter(ns->info().id(), query));
    if (filter.group_by) {
      return InvalidArgument("GROUP BY is only for CountWorkflowExecutions");
    }
    EON_ASSIGN_OR_RETURN(auto rows,
                         schedules ? store_.ListSchedules(ns->info().id(), filter, limit, offset)
                                   : store_.ListVisibility(ns->info().id(), filter, limit, offset));
    for (const auto& row : rows) {
      if (!persistence::ParseRecord(row, executions->Add())) return Internal("corrupt visibility row");
    }
    if (static_cast<int>(rows.size()) == limit) *next_token = EncodeOffsetPageToken(offset + limit);
    return Status::Ok();
  }

  Result<wfs::CountWorkflowExecutionsResponse> Count(const std::string& namespace_name,
                                                     const std::string& query) {
    EON_ASSIGN_OR_RETURN(auto ns, Namespace(namespace_name));
    EON_ASSIGN_OR_RETURN(auto filter, Filter(ns->info().id(), query));
    EON_ASSIGN_OR_RETURN(auto counts, store_.CountVisibility(ns->info().id(), filter));
    wfs::CountWorkflowExecutionsResponse response;
    int64_t total = 0;
    for (const auto& [value, count] : counts) {
      total += count;
      if (!filter.group_by) continue;
      auto* group = response.add_groups();
      group->set_count(count);
      // Grouped by ExecutionStatus: the value is the status name, as Temporal reports it.
      auto* payload = group->add_group_values();
      (*payload->mutable_metadata())["encoding"] = "json/plain";
      std::string name =
          enums::WorkflowExecutionStatus_Name(static_cast<enums::WorkflowExecutionStatus>(value));
      const std::string prefix = "WORKFLOW_EXECUTION_STATUS_";
      if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
      std::string pretty;  // RUNNING -> Running, CONTINUED_AS_NEW -> ContinuedAsNew
      bool upper = true;
      for (char c : name) {
        if (c == '_') {
          upper = true;
          continue;
        }
        pretty += upper ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        upper = false;
      }
      payload->set_data("\"" + pretty + "\"");
    }
    response.set_count(total);
    return response;
  }

  namespaces::Registry& namespaces_;
  persistence::Store& store_;
  Executor& executor_;  // background work (namespace deletion)
};

}  // namespace

std::unique_ptr<ServiceHandle> RegisterVisibilityService(RpcRouter& router,
                                                         namespaces::Registry& namespaces,
                                                         persistence::Store& store) {
  auto service = std::make_unique<VisibilityService>(namespaces, store, router.executor());
  service->Register(router);
  return service;
}

}  // namespace eon::frontend
