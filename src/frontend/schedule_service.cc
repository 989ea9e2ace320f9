#include "frontend/schedule_service.h"

#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::frontend {
namespace {

namespace wfs = temporal::api::workflowservice::v1;

class ScheduleService final : public ServiceHandle {
 public:
  ScheduleService(namespaces::Registry& namespaces, worker::Scheduler& scheduler)
      : namespaces_(namespaces), scheduler_(scheduler) {}

  void Register(RpcRouter& router) {
    router.Unary<wfs::CreateScheduleRequest, wfs::CreateScheduleResponse>(
        kWorkflowService, "CreateSchedule",
        [this](CallContext&, const auto& r) -> Result<wfs::CreateScheduleResponse> {
          EON_ASSIGN_OR_RETURN(auto id, NamespaceId(r.namespace_()));
          return scheduler_.Create(id, r);
        });
    router.Unary<wfs::DescribeScheduleRequest, wfs::DescribeScheduleResponse>(
        kWorkflowService, "DescribeSchedule",
        [this](CallContext&, const auto& r) -> Result<wfs::DescribeScheduleResponse> {
          EON_ASSIGN_OR_RETURN(auto id, NamespaceId(r.namespace_()));
          return scheduler_.Describe(id, r.schedule_id());
        });
    router.Unary<wfs::UpdateScheduleRequest, wfs::UpdateScheduleResponse>(
        kWorkflowService, "UpdateSchedule",
        [this](CallContext&, const auto& r) -> Result<wfs::UpdateScheduleResponse> {
          EON_ASSIGN_OR_RETURN(auto id, NamespaceId(r.namespace_()));
          EON_RETURN_IF_ERROR(scheduler_.Update(id, r));
          return wfs::UpdateScheduleResponse();
        });
    router.Unary<wfs::PatchScheduleRequest, wfs::PatchScheduleResponse>(
        kWorkflowService, "PatchSchedule",
        [this](CallContext&, const auto& r) -> Result<wfs::PatchScheduleResponse> {
          EON_ASSIGN_OR_RETURN(auto id, NamespaceId(r.namespace_()));
          EON_RETURN_IF_ERROR(scheduler_.Patch(id, r));
          return wfs::PatchScheduleResponse();
        });
    router.Unary<wfs::DeleteScheduleRequest, wfs::DeleteScheduleResponse>(
        kWorkflowService, "DeleteSchedule",
        [this](CallContext&, const auto& r) -> Result<wfs::DeleteScheduleResponse> {
          EON_ASSIGN_OR_RETURN(auto id, NamespaceId(r.namespace_()));
          EON_RETURN_IF_ERROR(scheduler_.Delete(id, r.schedule_id()));
          return wfs::DeleteScheduleResponse();
        });
    router.Unary<wfs::ListScheduleMatchingTimesRequest, wfs::ListScheduleMatchingTimesResponse>(
        kWorkflowService, "ListScheduleMatchingTimes",
        [this](CallContext&, const auto& r) -> Result<wfs::ListScheduleMatchingTimesResponse> {
          EON_ASSIGN_OR_RETURN(auto id, NamespaceId(r.namespace_()));
          return scheduler_.MatchingTimes(id, r);
        });
  }

 private:
  Result<std::string> NamespaceId(const std::string& name) {
    if (name.empty()) return InvalidArgument("Namespace not set on request.");
    EON_ASSIGN_OR_RETURN(auto ns, namespaces_.ByName(name));
    return ns->info().id();
  }

  namespaces::Registry& namespaces_;
  worker::Scheduler& scheduler_;
};

}  // namespace

std::unique_ptr<ServiceHandle> RegisterScheduleService(RpcRouter& router,
                                                       namespaces::Registry& namespaces,
                                                       worker::Scheduler& scheduler) {
  auto service = std::make_unique<ScheduleService>(namespaces, scheduler);
  service->Register(router);
  return service;
}

}  // namespace eon::frontend
