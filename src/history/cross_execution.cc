// Transfer tasks that reach a second execution: starting a child, telling a parent how its child
// ended, a parent's close policy, and signals or cancel requests to other workflows. Each asks the
// other execution first, through cross_history_ (this engine, or with several nodes the owner of
// that execution's shard, over the network), holding no lock; then, back on the task executor,
// records the outcome in the execution that owns the task (under its lock), so no two locks are
// ever held together and no thread waits on the other execution. Both steps are idempotent: a task
// that runs again after a crash or a shard move finds its work done and records nothing twice.
//
// The other execution's side (StartChildWorkflowExecutionAsync, DeliverExternalRequestAsync,
// RecordChildClosedAsync, and the terminate and cancel calls) is served by the engine that holds
// its shard.
#include "common/barrier.h"
#include "common/ids.h"
#include "history/history_engine.h"
#include "history/mutable_state.h"
#include "temporal/api/history/v1/message.pb.h"

namespace eon::history {

using persistence::ExecutionKey;
using persistence::StoredExecution;

namespace {

// NOT_FOUND means the target is gone (missing or closed): the owner records a failure.
bool Gone(const Status& status) { return status.code() == StatusCode::NOT_FOUND; }

}  // namespace

void HistoryEngine::StartChild(const eon::v1::HistoryTask& task, Done done) {
  const ExecutionKey parent_key{task.namespace_id(), task.workflow_id(), task.run_id()};
  auto parent = Load(parent_key);
  if (!parent.ok()) return done(Gone(parent.status()) ? Status::Ok() : parent.status());
  const auto& ps = parent->state;
  auto child_it = ps.children().find(task.event_id());
  // A closed parent starts no children; a started one is done.
  if (!IsRunning(ps) || child_it == ps.children().end() || !child_it->second.run_id().empty()) {
    return done(Status::Ok());
  }
  auto page = store_.ReadHistory(ps.namespace_id(), ps.run_id(), task.event_id(), 1);
  if (!page.ok()) return done(page.status());
  if (page->events.empty() ||
      !page->events[0].has_start_child_workflow_execution_initiated_event_attributes()) {
    return done(
        Internal("child initiated event " + std::to_string(task.event_id()) + " is missing"));
  }
  const auto& a = page->events[0].start_child_workflow_execution_initiated_event_attributes();

  wfs::StartWorkflowExecutionRequest request;
  request.set_workflow_id(a.workflow_id());
  *request.mutable_workflow_type() = a.workflow_type();
  *request.mutable_task_queue() = a.task_queue();
  *request.mutable_input() = a.input();
  *request.mutable_workflow_execution_timeout() = a.workflow_execution_timeout();
  *request.mutable_workflow_run_timeout() = a.workflow_run_timeout();
  *request.mutable_workflow_task_timeout() = a.workflow_task_timeout();
  // Deterministic, so a retried task finds the child it already started.
  request.set_request_id(ps.run_id() + ":" + std::to_string(task.event_id()));
  request.set_workflow_id_reuse_policy(a.workflow_id_reuse_policy());
  if (a.has_retry_policy()) *request.mutable_retry_policy() = a.retry_policy();
  request.set_cron_schedule(a.cron_schedule());
  *request.mutable_header() = a.header();
  *request.mutable_memo() = a.memo();
  *request.mutable_search_attributes() = a.search_attributes();
  eon::v1::ParentInfo parent_info;
  parent_info.set_namespace_id(ps.namespace_id());
  parent_info.set_namespace_(a.namespace_());
  parent_info.set_workflow_id(ps.workflow_id());
  parent_info.set_run_id(ps.run_id());
  parent_info.set_initiated_event_id(task.event_id());
  parent_info.set_root_workflow_id(ps.has_parent() ? ps.parent().root_workflow_id()
                                                   : ps.workflow_id());
  parent_info.set_root_run_id(ps.has_parent() ? ps.parent().root_run_id() : ps.run_id());

  // Copied for the answer, which comes after this returns.
  auto attributes = std::make_shared<
      const temporal::api::history::v1::StartChildWorkflowExecutionInitiatedEventAttributes>(a);
  const std::string namespace_id = ps.namespace_id();
  cross_history_->StartChildWorkflowExecutionAsync(
      namespace_id, request, parent_info,
      [this, task, parent_key, namespace_id, attributes, done](Result<StartResult> started) {
        AfterCrossCall(done, [this, task, parent_key, namespace_id, attributes, done,
                              started = std::move(started)] {
          RecordChildStarted(task, parent_key, namespace_id, *attributes, started, done);
        });
      });
}

void HistoryEngine::RecordChildStarted(
    const eon::v1::HistoryTask& task, const ExecutionKey& parent_key,
    const std::string& namespace_id,
    const temporal::api::history::v1::StartChildWorkflowExecutionInitiatedEventAttributes& a,
    const Result<StartResult>& started, Done done) {
  if (!started.ok() && started.status().code() != StatusCode::ALREADY_EXISTS) {
    return done(started.status());
  }
  const MutateFn record = [&](Mutation& m) -> Status {
    auto it = m.state.mutable_children()->find(task.event_id());
    if (!IsRunning(m.state) || it == m.state.mutable_children()->end() ||
        !it->second.run_id().empty()) {
      return Status::Ok();
    }
    if (!started.ok()) {
      auto& event = m.AddExternalEvent(enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED);
      auto* f = event.mutable_start_child_workflow_execution_failed_event_attributes();
      f->set_namespace_(a.namespace_());
      f->set_namespace_id(namespace_id);
      f->set_workflow_id(a.workflow_id());
      *f->mutable_workflow_type() = a.workflow_type();
      f->set_cause(enums::START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS);
      f->set_control(a.control());
      f->set_initiated_event_id(task.event_id());
      f->set_workflow_task_completed_event_id(0);  // as Temporal writes it
      m.state.mutable_children()->erase(it);
    } else {
      auto& event = m.AddExternalEvent(enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED);
      auto* e = event.mutable_child_workflow_execution_started_event_attributes();
      e->set_namespace_(a.namespace_());
      e->set_namespace_id(namespace_id);
      e->set_initiated_event_id(task.event_id());
      e->mutable_workflow_execution()->set_workflow_id(a.workflow_id());
      e->mutable_workflow_execution()->set_run_id(started->run_id);
      *e->mutable_workflow_type() = a.workflow_type();
      *e->mutable_header() = a.header();
      it->second.set_run_id(started->run_id);
      it->second.set_started_event_id(event.event_id());  // 0 while buffered; set at flush
    }
    m.EnsureWorkflowTask();
    return Status::Ok();
  };
  MutateAsync(parent_key, record, StatusOnly(std::move(done)));
}

void HistoryEngine::RecordChildClosed(const eon::v1::HistoryTask& task, Done done) {
  const ExecutionKey child_key{task.namespace_id(), task.workflow_id(), task.run_id()};
  auto child = Load(child_key);
  if (!child.ok()) return done(Gone(child.status()) ? Status::Ok() : child.status());
  const auto& cs = child->state;
  auto page = store_.ReadHistory(cs.namespace_id(), cs.run_id(), task.event_id(), 1);
  if (!page.ok()) return done(page.status());
  if (page->events.empty()) return done(Internal("the child's close event is missing"));
  common::WorkflowExecution execution;
  execution.set_workflow_id(cs.workflow_id());
  execution.set_run_id(cs.run_id());
  const ExecutionKey parent_key{task.target_namespace_id(), task.target_workflow_id(),
                                task.target_run_id()};
  cross_history_->RecordChildClosedAsync(
      parent_key, cs.parent().initiated_event_id(), execution, cs.workflow_type(), page->events[0],
      [done](Status recorded) { done(Gone(recorded) ? Status::Ok() : std::move(recorded)); });
}

void HistoryEngine::RecordChildClosedAsync(const ExecutionKey& parent_key, int64_t initiated_id,
                                           const common::WorkflowExecution& execution,
                                           const std::string& workflow_type,
                                           const temporal::api::history::v1::HistoryEvent& close,
                                           std::function<void(Status)> done) {
  const MutateFn record = [&](Mutation& m) -> Status {
    auto it = m.state.mutable_children()->find(initiated_id);
    if (!IsRunning(m.state) || it == m.state.mutable_children()->end()) return Status::Ok();
    if (it->second.run_id().empty()) {
      return Unavailable("the parent has not recorded its child started yet");  // retried
    }
    const auto& info = it->second;
    common::WorkflowType type;
    type.set_name(workflow_type);
    auto fill = [&](auto* e) {
      e->set_namespace_(info.namespace_());
      e->set_namespace_id(info.namespace_id());
      *e->mutable_workflow_execution() = execution;
      *e->mutable_workflow_type() = type;
      e->set_initiated_event_id(initiated_id);
      e->set_started_event_id(info.started_event_id());
    };
    switch (close.event_type()) {
      case enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: {
        auto* e = m.AddExternalEvent(enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED)
                      .mutable_child_workflow_execution_completed_event_attributes();
        fill(e);
        *e->mutable_result() = close.workflow_execution_completed_event_attributes().result();
        break;
      }
      case enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: {
        auto* e = m.AddExternalEvent(enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED)
                      .mutable_child_workflow_execution_failed_event_attributes();
        fill(e);
        *e->mutable_failure() = close.workflow_execution_failed_event_attributes().failure();
        e->set_retry_state(close.workflow_execution_failed_event_attributes().retry_state());
        break;
      }
      case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: {
        auto* e = m.AddExternalEvent(enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED)
                      .mutable_child_workflow_execution_canceled_event_attributes();
        fill(e);
        *e->mutable_details() = close.workflow_execution_canceled_event_attributes().details();
        break;
      }
      case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: {
        auto* e = m.AddExternalEvent(enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT)
                      .mutable_child_workflow_execution_timed_out_event_attributes();
        fill(e);
        e->set_retry_state(close.workflow_execution_timed_out_event_attributes().retry_state());
        break;
      }
      case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: {
        fill(m.AddExternalEvent(enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED)
                 .mutable_child_workflow_execution_terminated_event_attributes());
        break;
      }
      default:
        return Internal("unexpected close event " + std::to_string(close.event_type()));
    }
    m.state.mutable_children()->erase(it);
    m.EnsureWorkflowTask();
    return Status::Ok();
  };
  MutateAsync(parent_key, record, StatusOnly(std::move(done)));
}

void HistoryEngine::ApplyParentClosePolicy(const eon::v1::HistoryTask& task, Done done) {
  common::WorkflowExecution child;
  child.set_workflow_id(task.target_workflow_id());
  child.set_run_id(task.target_run_id());
  // A child that already ended is fine.
  auto answer = [done](Status applied) { done(Gone(applied) ? Status::Ok() : std::move(applied)); };
  if (task.parent_close_policy() == enums::PARENT_CLOSE_POLICY_REQUEST_CANCEL) {
    wfs::RequestCancelWorkflowExecutionRequest cancel;
    *cancel.mutable_workflow_execution() = child;
    cancel.set_reason("by parent close policy");
    cross_history_->RequestCancelWorkflowExecutionAsync(task.target_namespace_id(), cancel,
                                                        std::move(answer));
  } else {
    wfs::TerminateWorkflowExecutionRequest terminate;
    *terminate.mutable_workflow_execution() = child;
    terminate.set_reason("by parent close policy");
    terminate.set_identity("history-service");
    cross_history_->TerminateWorkflowExecutionAsync(task.target_namespace_id(), terminate,
                                                    std::move(answer));
  }
}

void HistoryEngine::SignalOrCancelExternal(const eon::v1::HistoryTask& task, Done done) {
  const ExecutionKey source_key{task.namespace_id(), task.workflow_id(), task.run_id()};
  auto source = Load(source_key);
  if (!source.ok()) return done(Gone(source.status()) ? Status::Ok() : source.status());
  const auto& ss = source->state;
  auto request_it = ss.external_requests().find(task.event_id());
  if (!IsRunning(ss) || request_it == ss.external_requests().end()) return done(Status::Ok());
  eon::v1::ExternalRequest request = request_it->second;
  request.set_initiated_event_id(task.event_id());
  common::WorkflowExecution source_execution;
  source_execution.set_workflow_id(ss.workflow_id());
  source_execution.set_run_id(ss.run_id());
  cross_history_->DeliverExternalRequestAsync(
      request, source_execution, [this, task, source_key, request, done](Status delivered) {
        AfterCrossCall(done, [this, task, source_key, request, done, delivered] {
          RecordExternalOutcome(task, source_key, request, delivered, done);
        });
      });
}

void HistoryEngine::DeliverExternalRequestAsync(const eon::v1::ExternalRequest& request,
                                                const common::WorkflowExecution& source,
                                                std::function<void(Status)> done) {
  auto target = ResolveKey(request.namespace_id(), request.workflow_id(), request.run_id());
  if (!target.ok()) return done(target.status());
  Then answer = StatusOnly(done);
  const std::string request_id =
      source.run_id() + ":" + std::to_string(request.initiated_event_id());
  std::lock_guard lock(LockFor(target->namespace_id, target->workflow_id));
  if (request.child_workflow_only()) {
    auto state = Load(*target);
    if (state.ok() && (state->state.parent().workflow_id() != source.workflow_id() ||
                       state->state.parent().run_id() != source.run_id())) {
      return done(NotFound("the target is not a child of this workflow"));
    }
  }
  if (request.cancel()) {
    CancelRequest cancel;
    cancel.reason = request.reason();
    cancel.request_id = request_id;
    cancel.external_initiated_event_id = request.initiated_event_id();
    cancel.external_execution = source;
    MutateLockedAsync(*target, RequestCancelFn(cancel), nullptr, std::move(answer));
  } else {
    Signal signal{request.signal_name(), request.input(), "", request.header(), request_id, source};
    MutateLockedAsync(*target, SignalFn(signal), nullptr, std::move(answer));
  }
}

void HistoryEngine::RecordExternalOutcome(const eon::v1::HistoryTask& task,
                                          const ExecutionKey& source_key,
                                          const eon::v1::ExternalRequest& request,
                                          const Status& delivered, Done done) {
  // A target that takes no more signals is a failure the workflow sees, not a retry.
  const bool over_limit = delivered.code() == StatusCode::RESOURCE_EXHAUSTED;
  if (!delivered.ok() && !Gone(delivered) && !over_limit) return done(delivered);  // retried

  const MutateFn record = [&](Mutation& m) -> Status {
    auto it = m.state.mutable_external_requests()->find(task.event_id());
    if (!IsRunning(m.state) || it == m.state.mutable_external_requests()->end()) {
      return Status::Ok();
    }
    common::WorkflowExecution execution;
    execution.set_workflow_id(request.workflow_id());
    execution.set_run_id(request.run_id());
    if (request.cancel()) {
      if (delivered.ok()) {
        auto* e = m.AddExternalEvent(enums::EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
                      .mutable_external_workflow_execution_cancel_requested_event_attributes();
        e->set_initiated_event_id(task.event_id());
        e->set_namespace_(request.namespace_());
        e->set_namespace_id(request.namespace_id());
        *e->mutable_workflow_execution() = execution;
      } else {
        auto* e =
            m.AddExternalEvent(enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED)
                .mutable_request_cancel_external_workflow_execution_failed_event_attributes();
        e->set_cause(
            enums::
                CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND);
        e->set_namespace_(request.namespace_());
        e->set_namespace_id(request.namespace_id());
        *e->mutable_workflow_execution() = execution;
        e->set_initiated_event_id(task.event_id());
        e->set_control(request.control());
      }
    } else if (delivered.ok()) {
      auto* e = m.AddExternalEvent(enums::EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED)
                    .mutable_external_workflow_execution_signaled_event_attributes();
      e->set_initiated_event_id(task.event_id());
      e->set_namespace_(request.namespace_());
      e->set_namespace_id(request.namespace_id());
      *e->mutable_workflow_execution() = execution;
      e->set_control(request.control());
    } else {
      auto* e = m.AddExternalEvent(enums::EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED)
                    .mutable_signal_external_workflow_execution_failed_event_attributes();
      namespace sx = enums;  // the cause names are long
      e->set_cause(
          over_limit
              ? sx::SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_SIGNAL_COUNT_LIMIT_EXCEEDED
              : sx::SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND);
      e->set_namespace_(request.namespace_());
      e->set_namespace_id(request.namespace_id());
      *e->mutable_workflow_execution() = execution;
      e->set_initiated_event_id(task.event_id());
      e->set_control(request.control());
    }
    m.state.mutable_external_requests()->erase(it);
    m.EnsureWorkflowTask();
    return Status::Ok();
  };
  MutateAsync(source_key, record, [done](Status recorded, const StoredExecution&) {
    done(Gone(recorded) ? Status::Ok() : std::move(recorded));
  });
}

void HistoryEngine::StartChildWorkflowExecutionAsync(
    const std::string& namespace_id, const wfs::StartWorkflowExecutionRequest& request,
    const eon::v1::ParentInfo& parent, std::function<void(Result<StartResult>)> done) {
  std::lock_guard lock(LockFor(namespace_id, request.workflow_id()));
  StartLockedAsync(namespace_id, request, nullptr, &parent, std::move(done));
}

void HistoryEngine::AfterCrossCall(Done done, std::function<void()> next) {
  {
    std::lock_guard lock(stop_mutex_);
    if (!stopped_) {
      return task_executor_.Submit([done, next = std::move(next)] {
        Status thrown = RunGuarded("an outbox task's second step", next);
        if (!thrown.ok()) done(thrown);
      });
    }
  }
  // Answered without the lock: the answer may let the engine be destroyed.
  done(Unavailable("the history engine is stopping"));
}

}  // namespace eon::history
