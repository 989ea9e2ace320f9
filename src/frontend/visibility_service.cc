#include "frontend/visibility_service.h"

#include "common/clock.h"
#include "common/page_token.h"
#include "persistence/records.h"
#include "temporal/api/operatorservice/v1/request_response.pb.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::frontend {
namespace {

namespace wfs = temporal::api::workflowservice::v1;
namespace ops = temporal::api::operatorservice::v1;
namespace enums = temporal::api::enums::v1;

constexpr const char* kOperatorService = "temporal.api.operatorservice.v1.OperatorService";
constexpr int kPageSizeDefault = 1'000;
constexpr int kPageSizeMax = 1'000;

class VisibilityService final : public ServiceHandle {
 public:
  VisibilityService(namespaces::Registry& namespaces, visibility::Visibility& visibility,
                    Executor& executor)
      : namespaces_(namespaces), visibility_(visibility), executor_(executor) {}

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
          for (const auto& [name, type] : visibility::Visibility::SystemAttributes())
            (*response.mutable_keys())[name] = type;
          EON_ASSIGN_OR_RETURN(auto ns, namespaces_.ByName("default"));
          EON_ASSIGN_OR_RETURN(auto custom, visibility_.CustomAttributes(ns->info().id()));
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
            EON_RETURN_IF_ERROR(visibility_.AddCustomAttribute(ns->info().id(), name, type));
          }
          return ops::AddSearchAttributesResponse();
        });
    router.Unary<ops::RemoveSearchAttributesRequest, ops::RemoveSearchAttributesResponse>(
        kOperatorService, "RemoveSearchAttributes",
        [this](CallContext&, const auto& r) -> Result<ops::RemoveSearchAttributesResponse> {
          EON_ASSIGN_OR_RETURN(auto ns, Namespace(r.namespace_()));
          for (const auto& name : r.search_attributes()) {
            EON_RETURN_IF_ERROR(visibility_.RemoveCustomAttribute(ns->info().id(), name));
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
          // The namespace is out of service at once; its workflows go in the background.
          EON_ASSIGN_OR_RETURN(auto deleted, namespaces_.Delete(name, executor_));
          ops::DeleteNamespaceResponse response;
          response.set_deleted_namespace(deleted->info().name());
          return response;
        });
    router.Unary<ops::ListSearchAttributesRequest, ops::ListSearchAttributesResponse>(
        kOperatorService, "ListSearchAttributes",
        [this](CallContext&, const auto& r) -> Result<ops::ListSearchAttributesResponse> {
          EON_ASSIGN_OR_RETURN(auto ns, Namespace(r.namespace_()));
          ops::ListSearchAttributesResponse response;
          for (const auto& [name, type] : visibility::Visibility::SystemAttributes()) {
            (*response.mutable_system_attributes())[name] = type;
          }
          EON_ASSIGN_OR_RETURN(auto custom, visibility_.CustomAttributes(ns->info().id()));
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
    EON_ASSIGN_OR_RETURN(auto filter, visibility_.ParseFilter(ns->info().id(), query));
    if (filter.group_by) {
      return InvalidArgument("GROUP BY is only for CountWorkflowExecutions");
    }
    EON_ASSIGN_OR_RETURN(
        auto rows, schedules ? visibility_.ListSchedules(ns->info().id(), filter, limit, offset)
                             : visibility_.ListWorkflows(ns->info().id(), filter, limit, offset));
    for (const auto& row : rows) {
      if (!persistence::ParseRecord(row, executions->Add()))
        return Internal("corrupt visibility row");
    }
    if (static_cast<int>(rows.size()) == limit) *next_token = EncodeOffsetPageToken(offset + limit);
    return Status::Ok();
  }

  Result<wfs::CountWorkflowExecutionsResponse> Count(const std::string& namespace_name,
                                                     const std::string& query) {
    EON_ASSIGN_OR_RETURN(auto ns, Namespace(namespace_name));
    EON_ASSIGN_OR_RETURN(auto filter, visibility_.ParseFilter(ns->info().id(), query));
    EON_ASSIGN_OR_RETURN(auto counts, visibility_.Count(ns->info().id(), filter));
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
  visibility::Visibility& visibility_;
  Executor& executor_;  // background work (namespace deletion)
};

}  // namespace

std::unique_ptr<ServiceHandle> RegisterVisibilityService(RpcRouter& router,
                                                         namespaces::Registry& namespaces,
                                                         visibility::Visibility& visibility) {
  auto service = std::make_unique<VisibilityService>(namespaces, visibility, router.executor());
  service->Register(router);
  return service;
}

}  // namespace eon::frontend
