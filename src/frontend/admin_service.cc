#include "frontend/admin_service.h"

#include "eon/v1/admin.pb.h"

namespace eon::frontend {
namespace {

class AdminService final : public ServiceHandle {
 public:
  explicit AdminService(history::HistoryService& history) : history_(history) {}

  void Register(RpcRouter& router) {
    router.Unary<eon::v1::ListParkedTasksRequest, eon::v1::ListParkedTasksResponse>(
        kAdminService, "ListParkedTasks",
        [this](CallContext&, const auto&) -> Result<eon::v1::ListParkedTasksResponse> {
          eon::v1::ListParkedTasksResponse response;
          for (const auto& parked : history_.ParkedTasks()) {
            auto* out = response.add_tasks();
            out->set_task_id(parked.task.task_id);
            out->set_category(parked.task.category == persistence::TaskCategory::kTimer
                                  ? "timer"
                                  : "transfer");
            out->set_namespace_id(parked.task.task.namespace_id());
            out->set_workflow_id(parked.task.task.workflow_id());
            out->set_run_id(parked.task.task.run_id());
            out->set_task_type(eon::v1::HistoryTaskType_Name(parked.task.task.type()));
            out->set_failures(parked.failures);
            out->set_last_error(parked.last_error);
            *out->mutable_parked_time() = ToTimestamp(parked.parked_time);
          }
          return response;
        });
    router.Unary<eon::v1::RetryParkedTasksRequest, eon::v1::RetryParkedTasksResponse>(
        kAdminService, "RetryParkedTasks",
        [this](CallContext&, const auto& r) -> Result<eon::v1::RetryParkedTasksResponse> {
          eon::v1::RetryParkedTasksResponse response;
          response.set_retried(history_.RetryParkedTasks(
              std::vector<int64_t>(r.task_ids().begin(), r.task_ids().end())));
          return response;
        });
  }

 private:
  history::HistoryService& history_;
};

}  // namespace

std::unique_ptr<ServiceHandle> RegisterAdminService(RpcRouter& router,
                                                    history::HistoryService& history) {
  auto service = std::make_unique<AdminService>(history);
  service->Register(router);
  return service;
}

}  // namespace eon::frontend
