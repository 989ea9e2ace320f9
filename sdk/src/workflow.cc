// WorkflowContext and CancellationScope: the workflow-facing API, forwarding to the instance.
#include "eon/sdk/workflow.h"

#include "workflow_instance.h"

namespace eon::sdk {

void CancellationScope::cancel() {
  if (canceled_) return;
  canceled_ = true;
  auto callbacks = std::move(callbacks_);
  callbacks_.clear();
  for (auto& [id, fn] : callbacks) fn();
  auto children = std::move(children_);
  children_.clear();
  for (auto& weak : children) {
    if (auto child = weak.lock()) child->cancel();
  }
}

std::shared_ptr<CancellationScope> CancellationScope::child() {
  auto scope = std::make_shared<CancellationScope>();
  if (canceled_) {
    scope->canceled_ = true;
  } else {
    std::erase_if(children_, [](const auto& w) { return w.expired(); });
    children_.push_back(scope);
  }
  return scope;
}

uint64_t CancellationScope::on_cancel(std::function<void()> fn) {
  uint64_t id = next_id_++;
  callbacks_.emplace_back(id, std::move(fn));
  return id;
}

void CancellationScope::remove(uint64_t id) {
  std::erase_if(callbacks_, [id](const auto& entry) { return entry.first == id; });
}

const WorkflowInfo& WorkflowContext::info() const { return instance_.info(); }
std::chrono::system_clock::time_point WorkflowContext::now() const { return instance_.now(); }
uint64_t WorkflowContext::random() { return instance_.Random(); }
std::string WorkflowContext::uuid() { return instance_.Uuid(); }
bool WorkflowContext::is_replaying() const { return instance_.replaying(); }
bool WorkflowContext::cancel_requested() const { return instance_.cancel_requested(); }
const DataConverter& WorkflowContext::converter() const { return instance_.converter(); }
internal::Scheduler& WorkflowContext::scheduler() { return instance_; }

Future<void> WorkflowContext::sleep(milliseconds duration,
                                    std::shared_ptr<CancellationScope> scope) {
  auto state = std::make_shared<internal::FutureState<void>>(&scheduler());
  instance_.StartTimer(duration, std::move(scope), Decoder(state));
  return Future<void>(state);
}

Future<bool> WorkflowContext::wait_condition(std::function<bool()> condition,
                                             std::optional<milliseconds> timeout,
                                             std::shared_ptr<CancellationScope> scope) {
  auto state = std::make_shared<internal::FutureState<bool>>(&scheduler());
  instance_.WaitCondition(std::move(condition), timeout, std::move(scope), state);
  return Future<bool>(state);
}

Future<void> WorkflowContext::cancel_external_workflow(const std::string& workflow_id,
                                                       const std::string& run_id) {
  auto state = std::make_shared<internal::FutureState<void>>(&scheduler());
  instance_.CancelExternal(workflow_id, run_id, /*child_only=*/false, Decoder(state));
  return Future<void>(state);
}

void WorkflowContext::continue_as_new_with(const ContinueAsNewOptions& options,
                                           const Payloads& args) {
  instance_.ContinueAsNew(options, args);
}

bool WorkflowContext::patched(const std::string& patch_id) {
  return instance_.Patched(patch_id, /*deprecated=*/false);
}
void WorkflowContext::deprecate_patch(const std::string& patch_id) {
  instance_.Patched(patch_id, /*deprecated=*/true);
}
void WorkflowContext::upsert_search_attributes(const SearchAttributes& attributes) {
  instance_.UpsertSearchAttributes(attributes);
}
void WorkflowContext::upsert_memo(const Memo& memo) { instance_.UpsertMemo(memo); }

std::shared_ptr<CancellationScope> WorkflowContext::root_scope() { return instance_.root_scope(); }
std::shared_ptr<CancellationScope> WorkflowContext::new_scope() {
  return instance_.root_scope()->child();
}
std::shared_ptr<CancellationScope> WorkflowContext::detached_scope() {
  return std::make_shared<CancellationScope>();
}

void WorkflowContext::schedule_activity(const std::string& type, const ActivityOptions& options,
                                        Payloads args, internal::RawCallback done) {
  instance_.ScheduleActivity(type, options, std::move(args), std::move(done));
}
void WorkflowContext::schedule_local_activity(const std::string& type,
                                              const LocalActivityOptions& options, Payloads args,
                                              internal::RawCallback done) {
  instance_.ScheduleLocalActivity(type, options, std::move(args), std::move(done));
}
std::string WorkflowContext::start_child(const std::string& type,
                                         const ChildWorkflowOptions& options, Payloads args,
                                         internal::RawCallback started,
                                         internal::RawCallback done) {
  return instance_.StartChild(type, options, std::move(args), std::move(started), std::move(done));
}
void WorkflowContext::signal_external(const std::string& workflow_id, const std::string& run_id,
                                      const std::string& name, Payloads args,
                                      internal::RawCallback done) {
  instance_.SignalExternal(workflow_id, run_id, name, std::move(args), std::move(done));
}
Payload WorkflowContext::side_effect_payload(const std::function<Payload()>& fn) {
  return instance_.SideEffect(fn);
}
void WorkflowContext::set_signal_handler_raw(const std::string& name, internal::SignalFn fn,
                                             internal::HandlerCaptures captures) {
  instance_.SetSignalHandler(name, std::move(fn), captures);
}
void WorkflowContext::set_query_handler_raw(const std::string& name, internal::QueryFn fn,
                                            internal::HandlerCaptures captures) {
  instance_.SetQueryHandler(name, std::move(fn), captures);
}
void WorkflowContext::set_update_handler_raw(const std::string& name, internal::UpdateFn fn,
                                             internal::UpdateValidatorFn validator,
                                             internal::HandlerCaptures captures) {
  instance_.SetUpdateHandler(name, std::move(fn), std::move(validator), captures);
}
void WorkflowContext::keep_alive(std::shared_ptr<void> object) {
  instance_.KeepAlive(std::move(object));
}
void WorkflowContext::start_detached(internal::DetachedTask task) { instance_.StartDetached(task); }

}  // namespace eon::sdk
