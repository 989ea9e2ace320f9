// The worker: poller threads for workflow tasks (normal and sticky queue) and activity tasks,
// the sticky cache of workflow instances, local activity execution, and graceful shutdown.
#include "eon/sdk/worker.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include <atomic>
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <list>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "client_core.h"
#include "uuid.h"
#include "workflow_instance.h"

namespace eon::sdk {

namespace wfs = temporal::api::workflowservice::v1;
namespace enums = temporal::api::enums::v1;
using google::protobuf::util::TimeUtil;

namespace internal {

namespace {

constexpr auto kPollTimeout = std::chrono::seconds(70);  // the server answers empty after 60 s
// Eager activities requested per workflow task at most (sdk-core's limit).
constexpr size_t kEagerActivitiesPerWorkflowTaskMax = 3;
// Activity polls in flight at most (sdk-core's default); fewer when there are few slots.
constexpr size_t kActivityPollsMax = 5;

std::chrono::system_clock::time_point FromTimestamp(const google::protobuf::Timestamp& t) {
  return std::chrono::system_clock::time_point(
      std::chrono::milliseconds(TimeUtil::TimestampToMilliseconds(t)));
}
milliseconds FromDuration(const google::protobuf::Duration& d) {
  return milliseconds(TimeUtil::DurationToMilliseconds(d));
}

}  // namespace

// Sets up ActivityContexts (a friend of ActivityContext).
class ActivityRunner {
 public:
  static std::unique_ptr<ActivityContext> Make(ActivityInfo info, std::string token,
                                               DataConverter converter, Payloads previous,
                                               std::function<bool(const Payloads&)> send) {
    std::unique_ptr<ActivityContext> ctx(new ActivityContext());
    ctx->info_ = std::move(info);
    ctx->task_token_ = std::move(token);
    ctx->converter_ = std::move(converter);
    ctx->previous_details_ = std::move(previous);
    ctx->send_heartbeat_ = std::move(send);
    return ctx;
  }
  static void Cancel(ActivityContext& ctx) { ctx.Cancel(); }
  static bool Async(const ActivityContext& ctx) { return ctx.async_; }
  static std::optional<Payloads> PendingDetails(ActivityContext& ctx) {
    std::lock_guard lock(ctx.mu_);
    return ctx.pending_details_;
  }
};

// Threads that end on their own (local activities, and the attempts of theirs that timed out
// and were told to cancel); the worker joins what is left at shutdown.
class ThreadSet {
 public:
  ~ThreadSet() { JoinAll(); }
  void Spawn(std::function<void()> fn) {
    auto ended = std::make_shared<std::atomic<bool>>(false);
    std::thread thread([fn = std::move(fn), ended] {
      fn();
      *ended = true;
    });
    Adopt(std::move(thread), std::move(ended));
  }
  // Takes `thread`, which sets `*ended` as its last step.
  void Adopt(std::thread thread, std::shared_ptr<std::atomic<bool>> ended) {
    std::vector<std::thread> finished;
    {
      std::lock_guard lock(mu_);
      for (auto it = entries_.begin(); it != entries_.end();) {
        if (*it->ended) {
          finished.push_back(std::move(it->thread));
          it = entries_.erase(it);
        } else {
          ++it;
        }
      }
      entries_.push_back({std::move(thread), std::move(ended)});
    }
    for (auto& t : finished) t.join();
  }
  // Joins every thread, including those adopted while it waits.
  void JoinAll() {
    for (;;) {
      std::list<Entry> entries;
      {
        std::lock_guard lock(mu_);
        entries.swap(entries_);
      }
      if (entries.empty()) return;
      for (auto& e : entries) e.thread.join();
    }
  }

 private:
  struct Entry {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> ended;  // shared with the thread
  };
  std::mutex mu_;  // guards entries_
  std::list<Entry> entries_;
};

class WorkerCore {
 public:
  WorkerCore(Client client, WorkerOptions options)
      : client_(std::move(client)), core_(*client_.core()), options_(std::move(options)) {
    if (options_.identity.empty()) options_.identity = core_.identity;
    if (!options_.log) {
      options_.log = [](const std::string& line) {
        std::fprintf(stderr, "eon worker: %s\n", line.c_str());
      };
    }
    sticky_queue_ = options_.identity + "-sticky-" + NewUuid();
  }
  ~WorkerCore() { Shutdown(); }

  Registry registry;

  Result<void> Start();
  void Shutdown();
  size_t CachedWorkflows() const {
    std::lock_guard lock(cache_mu_);
    return cache_.size();
  }
  size_t EagerActivitiesReceived() const { return eager_received_; }

 private:
  struct CacheEntry {
    std::mutex mu;  // held while a task or query runs against the instance
    std::string workflow_id;
    std::unique_ptr<WorkflowInstance> instance;
  };

  bool Sticky() const { return options_.max_cached_workflows > 0; }
  void WorkflowPollLoop(bool sticky);
  void ActivityPollLoop();
  template <typename Request, typename Response, typename Call>
  bool Poll(const Request& request, Response* response, Call call);

  void HandleWorkflowTask(wfs::PollWorkflowTaskQueueResponse& task);
  void HandleLegacyQuery(const wfs::PollWorkflowTaskQueueResponse& task);
  // Appends the history's events from `page_token` on (all pages), up to `up_to_event_id` (0:
  // all). False when a page cannot be read.
  bool FetchHistory(const temporal::api::common::v1::WorkflowExecution& execution,
                    std::string page_token, int64_t up_to_event_id,
                    std::vector<hist::HistoryEvent>* events);
  void FailWorkflowTask(const wfs::PollWorkflowTaskQueueResponse& task,
                        enums::WorkflowTaskFailedCause cause, const Failure& failure);
  // Runs a local activity with its retries and timeouts (see LocalActivityOptions). Nullopt
  // when it was given up (its workflow evicted, or the worker shutting down): nothing is
  // recorded, and the activity runs again with the workflow's next task.
  std::optional<RawOutcome> RunLocalActivity(const LocalActivityRequest& request, const WorkflowInfo& info,
                              const LocalActivityMailbox& mailbox);
  void TrackActivity(ActivityContext* ctx, bool running);
  void HandleActivityTask(const wfs::PollActivityTaskQueueResponse& task);
  // Keeps request_eager_execution on up to kEagerActivitiesPerWorkflowTaskMax of the commands
  // that schedule an activity on this worker's queue, one free activity slot reserved for
  // each, and clears it on the rest. Returns the slots reserved.
  int64_t ReserveEagerActivities(wfs::RespondWorkflowTaskCompletedRequest& request);
  // Queues the activity tasks the server handed back for the activity threads; gives back the
  // reserved slots it did not use.
  void AcceptEagerActivities(int64_t reserved, wfs::RespondWorkflowTaskCompletedResponse* response);

  std::shared_ptr<CacheEntry> CacheGet(const std::string& run_id, const std::string& workflow_id);
  void CacheEvict(const std::string& run_id);
  void CacheTrim();

  Client client_;
  const ClientCore& core_;
  WorkerOptions options_;
  std::string sticky_queue_;

  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::once_flag shutdown_once_;
  std::vector<std::thread> workflow_threads_;
  std::vector<std::thread> activity_threads_;

  std::mutex polls_mu_;                   // guards polls_
  std::set<grpc::ClientContext*> polls_;  // in flight, canceled on shutdown

  mutable std::mutex cache_mu_;  // guards cache_ and lru_
  // Shared: the cache and the thread running a task on the entry both hold it.
  std::unordered_map<std::string, std::shared_ptr<CacheEntry>> cache_;
  std::list<std::string> lru_;  // run ids, most recently used first

  std::mutex activities_mu_;  // guards running_activities_
  std::condition_variable activities_cv_;
  std::set<ActivityContext*> running_activities_;

  // Activity slots (max_concurrent_activities): each running activity, activity poll in
  // flight and eager reservation holds one.
  std::mutex slots_mu_;  // guards the four below
  std::condition_variable slots_cv_;
  int64_t slots_free_ = 0;
  size_t activity_polls_ = 0;  // in flight
  std::deque<wfs::PollActivityTaskQueueResponse> eager_tasks_;  // each holds a reserved slot
  bool workflow_threads_done_ = false;  // no more eager tasks can come
  std::atomic<size_t> eager_received_{0};

  ThreadSet local_activity_threads_;
};

Result<void> WorkerCore::Start() {
  if (options_.task_queue.empty()) {
    return Error{grpc::StatusCode::INVALID_ARGUMENT, "worker: task_queue is required", {}};
  }
  if (options_.max_concurrent_workflow_tasks == 0 || options_.max_concurrent_activities == 0) {
    return Error{grpc::StatusCode::INVALID_ARGUMENT,
                 "worker: max_concurrent_workflow_tasks and max_concurrent_activities must be > 0",
                 {}};
  }
  if (started_.exchange(true)) {
    return Error{grpc::StatusCode::FAILED_PRECONDITION, "worker: already started", {}};
  }
  wfs::DescribeNamespaceRequest request;
  request.set_namespace_(core_.options.ns);
  wfs::DescribeNamespaceResponse response;
  grpc::ClientContext ctx;
  core_.Prepare(ctx);
  auto status = core_.stub->DescribeNamespace(&ctx, request, &response);
  if (!status.ok()) {
    started_ = false;  // start() may be tried again
    return ErrorFromStatus(status);
  }

  {
    std::lock_guard lock(slots_mu_);
    slots_free_ = static_cast<int64_t>(options_.max_concurrent_activities);
  }
  size_t workflow_threads = std::max<size_t>(options_.max_concurrent_workflow_tasks, 2);
  for (size_t i = 0; i < workflow_threads; ++i) {
    bool sticky = Sticky() && i % 2 == 1;
    workflow_threads_.emplace_back([this, sticky] { WorkflowPollLoop(sticky); });
  }
  for (size_t i = 0; i < options_.max_concurrent_activities; ++i) {
    activity_threads_.emplace_back([this] { ActivityPollLoop(); });
  }
  return Result<void>();
}

void WorkerCore::Shutdown() {
  if (!started_) return;
  std::call_once(shutdown_once_, [this] {
    stopping_ = true;
    {
      wfs::ShutdownWorkerRequest request;
      request.set_namespace_(core_.options.ns);
      request.set_identity(options_.identity);
      if (Sticky()) request.set_sticky_task_queue(sticky_queue_);
      request.set_reason("graceful shutdown");
      wfs::ShutdownWorkerResponse response;
      grpc::ClientContext ctx;
      core_.Prepare(ctx);
      (void)core_.stub->ShutdownWorker(&ctx, request, &response);
    }
    {
      std::lock_guard lock(polls_mu_);
      for (auto* ctx : polls_) ctx->TryCancel();
    }
    slots_cv_.notify_all();
    for (auto& t : workflow_threads_) t.join();
    {
      std::lock_guard lock(slots_mu_);
      workflow_threads_done_ = true;  // the eager tasks still queued run before the threads end
    }
    slots_cv_.notify_all();
    // Running activities get the grace period, then are told to cancel.
    {
      std::unique_lock lock(activities_mu_);
      activities_cv_.wait_for(lock, options_.graceful_shutdown_timeout,
                              [this] { return running_activities_.empty(); });
      for (auto* ctx : running_activities_) ActivityRunner::Cancel(*ctx);
    }
    for (auto& t : activity_threads_) t.join();
    local_activity_threads_.JoinAll();
    // Hand the cached workflows back to the normal queue.
    std::unordered_map<std::string, std::shared_ptr<CacheEntry>> cached;
    {
      std::lock_guard lock(cache_mu_);
      cached.swap(cache_);
      lru_.clear();
    }
    for (const auto& [run_id, entry] : cached) {
      wfs::ResetStickyTaskQueueRequest request;
      request.set_namespace_(core_.options.ns);
      request.mutable_execution()->set_workflow_id(entry->workflow_id);
      request.mutable_execution()->set_run_id(run_id);
      wfs::ResetStickyTaskQueueResponse response;
      grpc::ClientContext ctx;
      core_.Prepare(ctx);
      (void)core_.stub->ResetStickyTaskQueue(&ctx, request, &response);
    }
  });
}

template <typename Request, typename Response, typename Call>
bool WorkerCore::Poll(const Request& request, Response* response, Call call) {
  grpc::ClientContext ctx;
  core_.Prepare(ctx, std::chrono::duration_cast<milliseconds>(kPollTimeout));
  {
    std::lock_guard lock(polls_mu_);
    if (stopping_) return false;
    polls_.insert(&ctx);
  }
  grpc::Status status = call(&ctx, request, response);
  {
    std::lock_guard lock(polls_mu_);
    polls_.erase(&ctx);
  }
  if (!status.ok()) {
    if (!stopping_ && status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      // The server is away or refused: back off a little rather than spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
  return !response->task_token().empty();
}

// ---------------------------------------------------------------------------------------------
// Workflow tasks

void WorkerCore::WorkflowPollLoop(bool sticky) {
  while (!stopping_) {
    wfs::PollWorkflowTaskQueueRequest request;
    request.set_namespace_(core_.options.ns);
    request.set_identity(options_.identity);
    auto* queue = request.mutable_task_queue();
    if (sticky) {
      queue->set_name(sticky_queue_);
      queue->set_kind(enums::TASK_QUEUE_KIND_STICKY);
      queue->set_normal_name(options_.task_queue);
    } else {
      queue->set_name(options_.task_queue);
      queue->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
    }
    wfs::PollWorkflowTaskQueueResponse task;
    bool got = Poll(request, &task, [this](grpc::ClientContext* ctx, const auto& req, auto* resp) {
      return core_.stub->PollWorkflowTaskQueue(ctx, req, resp);
    });
    if (!got) continue;
    if (task.has_query()) {
      HandleLegacyQuery(task);
    } else {
      HandleWorkflowTask(task);
    }
  }
}

std::shared_ptr<WorkerCore::CacheEntry> WorkerCore::CacheGet(const std::string& run_id,
                                                             const std::string& workflow_id) {
  std::lock_guard lock(cache_mu_);
  auto it = cache_.find(run_id);
  if (it != cache_.end()) {
    lru_.remove(run_id);
    lru_.push_front(run_id);
    return it->second;
  }
  auto entry = std::make_shared<CacheEntry>();
  entry->workflow_id = workflow_id;
  cache_[run_id] = entry;
  lru_.push_front(run_id);
  return entry;
}

void WorkerCore::CacheEvict(const std::string& run_id) {
  std::lock_guard lock(cache_mu_);
  cache_.erase(run_id);
  lru_.remove(run_id);
}

void WorkerCore::CacheTrim() {
  std::vector<std::shared_ptr<CacheEntry>> evicted;  // destroyed outside the lock
  {
    std::lock_guard lock(cache_mu_);
    size_t limit = options_.max_cached_workflows;
    auto it = lru_.end();
    while (cache_.size() > limit && it != lru_.begin()) {
      --it;
      auto entry = cache_.find(*it);
      // An entry in use (its lock held) stays; the next trim gets it.
      if (entry != cache_.end() && entry->second->mu.try_lock()) {
        entry->second->mu.unlock();
        evicted.push_back(entry->second);
        cache_.erase(entry);
        it = lru_.erase(it);
      }
    }
  }
}

bool WorkerCore::FetchHistory(const temporal::api::common::v1::WorkflowExecution& execution,
                              std::string page_token, int64_t up_to_event_id,
                              std::vector<hist::HistoryEvent>* events) {
  do {
    wfs::GetWorkflowExecutionHistoryRequest request;
    request.set_namespace_(core_.options.ns);
    *request.mutable_execution() = execution;
    request.set_next_page_token(page_token);
    wfs::GetWorkflowExecutionHistoryResponse response;
    grpc::ClientContext ctx;
    core_.Prepare(ctx, milliseconds(30'000));
    auto status = core_.stub->GetWorkflowExecutionHistory(&ctx, request, &response);
    if (!status.ok()) return false;
    for (const auto& e : response.history().events()) {
      if (up_to_event_id > 0 && e.event_id() > up_to_event_id) return true;
      events->push_back(e);
    }
    page_token = response.next_page_token();
  } while (!page_token.empty());
  return true;
}

void WorkerCore::FailWorkflowTask(const wfs::PollWorkflowTaskQueueResponse& task,
                                  enums::WorkflowTaskFailedCause cause, const Failure& failure) {
  options_.log("workflow task of " + task.workflow_execution().workflow_id() + " (" +
               task.workflow_type().name() + ") failed: " + failure.message());
  // Only the first attempt is reported; later attempts time out instead of failing in a loop
  // (as Temporal's SDKs do).
  if (task.attempt() > 1) return;
  wfs::RespondWorkflowTaskFailedRequest request;
  request.set_namespace_(core_.options.ns);
  request.set_task_token(task.task_token());
  request.set_cause(cause);
  *request.mutable_failure() = failure;
  request.set_identity(options_.identity);
  wfs::RespondWorkflowTaskFailedResponse response;
  grpc::ClientContext ctx;
  core_.Prepare(ctx);
  (void)core_.stub->RespondWorkflowTaskFailed(&ctx, request, &response);
}

void WorkerCore::HandleWorkflowTask(wfs::PollWorkflowTaskQueueResponse& task) {
  const auto received = std::chrono::steady_clock::now();
  const auto& execution = task.workflow_execution();
  std::vector<hist::HistoryEvent> events(task.history().events().begin(),
                                         task.history().events().end());
  // A long history comes in pages; the rest is fetched here.
  if (!task.next_page_token().empty() &&
      !FetchHistory(execution, task.next_page_token(), 0, &events)) {
    return;  // the task times out and is retried
  }

  auto entry = CacheGet(execution.run_id(), execution.workflow_id());
  std::unique_lock entry_lock(entry->mu);
  bool full = !events.empty() && events.front().event_id() == 1;
  if (full) entry->instance.reset();
  if (entry->instance && !events.empty() &&
      events.front().event_id() != entry->instance->last_event_id() + 1) {
    entry->instance.reset();  // the cache missed some events: rebuild from the full history
  }
  if (!entry->instance && !full) {
    events.clear();
    if (!FetchHistory(execution, "", task.started_event_id(), &events)) {
      entry_lock.unlock();
      CacheEvict(execution.run_id());
      return;
    }
  }
  if (!entry->instance) {
    const auto* fn = registry.workflow(task.workflow_type().name());
    if (fn == nullptr) {
      entry_lock.unlock();
      CacheEvict(execution.run_id());
      FailWorkflowTask(task, enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                       ApplicationError("workflow type " + task.workflow_type().name() +
                                            " is not registered on this worker (registered: " +
                                            registry.workflow_names() + ")",
                                        "NotFoundError")
                           .failure());
      return;
    }
    entry->instance = std::make_unique<WorkflowInstance>(
        *fn, core_.converter, core_.options.ns, execution.workflow_id(), execution.run_id());
  }

  std::vector<protocol::Message> messages(task.messages().begin(), task.messages().end());
  ActivationResult result;
  WorkflowInstance& instance = *entry->instance;
  LocalActivityHost local_activities;
  local_activities.task_received = received;
  // The heartbeat's next task must find this instance: without the sticky cache, the task
  // waits for its local activities instead.
  local_activities.heartbeat = Sticky();
  local_activities.stop_waiting = [this] { return stopping_.load(); };
  local_activities.start = [this, &instance](const LocalActivityRequest& request,
                                              std::shared_ptr<LocalActivityMailbox> mailbox) {
    // Called inside Activate, once the instance knows its info.
    local_activity_threads_.Spawn([this, request, info = instance.info(), mailbox] {
      auto outcome = RunLocalActivity(request, info, *mailbox);
      if (outcome) mailbox->Post(request.activity_id, std::move(*outcome));
    });
  };
  try {
    result = instance.Activate(events, messages, task.started_event_id(), &local_activities);
  } catch (const NonDeterminismError& e) {
    entry->instance.reset();
    entry_lock.unlock();
    CacheEvict(execution.run_id());
    Failure failure = ApplicationError(e.what(), "NonDeterminismError").failure();
    FailWorkflowTask(task, enums::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR, failure);
    return;
  } catch (...) {
    Failure failure = ExceptionToFailure(std::current_exception());
    entry->instance.reset();
    entry_lock.unlock();
    CacheEvict(execution.run_id());
    FailWorkflowTask(task, enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                     failure);
    return;
  }

  wfs::RespondWorkflowTaskCompletedRequest request;
  request.set_namespace_(core_.options.ns);
  request.set_task_token(task.task_token());
  request.set_identity(options_.identity);
  for (auto& c : result.commands) *request.add_commands() = std::move(c);
  for (auto& m : result.messages) *request.add_messages() = std::move(m);
  // Queries that rode on this task.
  for (const auto& [id, query] : task.queries()) {
    temporal::api::query::v1::WorkflowQueryResult answer;
    try {
      auto payload = instance.Query(query.query_type(), query.query_args());
      answer.set_result_type(enums::QUERY_RESULT_TYPE_ANSWERED);
      if (payload) *answer.mutable_answer()->add_payloads() = *payload;
    } catch (...) {
      answer.set_result_type(enums::QUERY_RESULT_TYPE_FAILED);
      Failure failure = ExceptionToFailure(std::current_exception());
      answer.set_error_message(failure.message());
      *answer.mutable_failure() = failure;
    }
    (*request.mutable_query_results())[id] = answer;
  }
  // The workflow-task heartbeat: local activities still run, so the server is asked for a new
  // task now (the code's commands so far go with it) and their results go in that one.
  if (result.local_activities_pending) request.set_force_create_new_workflow_task(true);
  bool keep = Sticky() && !result.completed;
  if (keep) {
    auto* sticky = request.mutable_sticky_attributes();
    sticky->mutable_worker_task_queue()->set_name(sticky_queue_);
    sticky->mutable_worker_task_queue()->set_kind(enums::TASK_QUEUE_KIND_STICKY);
    sticky->mutable_worker_task_queue()->set_normal_name(options_.task_queue);
    *sticky->mutable_schedule_to_start_timeout() =
        TimeUtil::MillisecondsToDuration(options_.sticky_schedule_to_start_timeout.count());
  }
  int64_t eager_reserved = ReserveEagerActivities(request);
  wfs::RespondWorkflowTaskCompletedResponse response;
  grpc::ClientContext ctx;
  core_.Prepare(ctx);
  auto status = core_.stub->RespondWorkflowTaskCompleted(&ctx, request, &response);
  AcceptEagerActivities(eager_reserved, status.ok() ? &response : nullptr);
  if (!status.ok()) {
    options_.log("completing the workflow task of " + execution.workflow_id() +
                 " failed: " + status.error_message());
  }
  if (!status.ok() || !keep) {
    entry->instance.reset();
    entry_lock.unlock();
    CacheEvict(execution.run_id());
    return;
  }
  entry_lock.unlock();
  CacheTrim();
}

void WorkerCore::HandleLegacyQuery(const wfs::PollWorkflowTaskQueueResponse& task) {
  const auto& execution = task.workflow_execution();
  wfs::RespondQueryTaskCompletedRequest request;
  request.set_namespace_(core_.options.ns);
  request.set_task_token(task.task_token());
  auto answer = [&](WorkflowInstance& instance) {
    try {
      auto payload = instance.Query(task.query().query_type(), task.query().query_args());
      request.set_completed_type(enums::QUERY_RESULT_TYPE_ANSWERED);
      if (payload) *request.mutable_query_result()->add_payloads() = *payload;
    } catch (...) {
      Failure failure = ExceptionToFailure(std::current_exception());
      request.set_completed_type(enums::QUERY_RESULT_TYPE_FAILED);
      request.set_error_message(failure.message());
      *request.mutable_failure() = failure;
    }
  };
  std::shared_ptr<CacheEntry> entry;
  {
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(execution.run_id());
    if (it != cache_.end()) entry = it->second;
  }
  bool answered = false;
  if (entry) {
    std::lock_guard entry_lock(entry->mu);
    if (entry->instance) {
      answer(*entry->instance);
      answered = true;
    }
  }
  if (!answered) {
    // Not cached: rebuild the state from the history (up to the last completed task).
    std::vector<hist::HistoryEvent> events;
    const auto* fn = registry.workflow(task.workflow_type().name());
    if (fn == nullptr) {
      request.set_completed_type(enums::QUERY_RESULT_TYPE_FAILED);
      request.set_error_message("workflow type " + task.workflow_type().name() +
                                " is not registered on this worker");
    } else if (!FetchHistory(execution, "", 0, &events)) {
      request.set_completed_type(enums::QUERY_RESULT_TYPE_FAILED);
      request.set_error_message("could not read the workflow's history");
    } else {
      try {
        WorkflowInstance instance(*fn, core_.converter, core_.options.ns, execution.workflow_id(),
                                  execution.run_id());
        (void)instance.Activate(events, {}, 0, nullptr);
        answer(instance);
      } catch (...) {
        Failure failure = ExceptionToFailure(std::current_exception());
        request.set_completed_type(enums::QUERY_RESULT_TYPE_FAILED);
        request.set_error_message("replay for the query failed: " + failure.message());
      }
    }
  }
  wfs::RespondQueryTaskCompletedResponse response;
  grpc::ClientContext ctx;
  core_.Prepare(ctx);
  (void)core_.stub->RespondQueryTaskCompleted(&ctx, request, &response);
}

void WorkerCore::TrackActivity(ActivityContext* ctx, bool running) {
  {
    std::lock_guard lock(activities_mu_);
    if (running) {
      running_activities_.insert(ctx);
    } else {
      running_activities_.erase(ctx);
    }
  }
  if (!running) activities_cv_.notify_all();
}

std::optional<RawOutcome> WorkerCore::RunLocalActivity(const LocalActivityRequest& request,
                                                       const WorkflowInfo& workflow,
                                                       const LocalActivityMailbox& mailbox) {
  using Clock = std::chrono::steady_clock;
  const auto& options = request.options;
  auto wrap = [&](Failure cause, enums::RetryState retry_state) {
    Failure f;
    f.set_message("local activity " + request.activity_type + " failed");
    f.set_source("EonCppSDK");
    auto* info = f.mutable_activity_failure_info();
    info->mutable_activity_type()->set_name(request.activity_type);
    info->set_activity_id(request.activity_id);
    info->set_retry_state(retry_state);
    *f.mutable_cause() = std::move(cause);
    return std::optional<RawOutcome>(RawOutcome{std::nullopt, FailureToException(f)});
  };
  const auto* fn = registry.activity(request.activity_type);
  if (fn == nullptr) {
    return wrap(ApplicationError("local activity type " + request.activity_type +
                                     " is not registered on this worker (registered: " +
                                     registry.activity_names() + ")",
                                 "NotFoundError", true)
                    .failure(),
                enums::RETRY_STATE_NON_RETRYABLE_FAILURE);
  }
  RetryPolicy policy = options.retry_.value_or(RetryPolicy{});
  auto initial = policy.initial_interval_.count() ? policy.initial_interval_ : milliseconds(1000);
  double coefficient = policy.backoff_coefficient_ > 0 ? policy.backoff_coefficient_ : 2.0;
  auto maximum = policy.maximum_interval_.count() ? policy.maximum_interval_ : initial * 100;
  const auto scheduled = Clock::now();
  const auto schedule_to_close_deadline = options.schedule_to_close_.count() > 0
                                              ? scheduled + options.schedule_to_close_
                                              : Clock::time_point::max();
  auto given_up = [&] { return stopping_ || mailbox.abandoned(); };
  // A running attempt is left to finish on shutdown (its result may still be recorded).
  // Waits in slices so a shutdown or an evicted workflow is noticed.
  constexpr auto kWaitSlice = milliseconds(100);
  auto delay = initial;
  for (int attempt = 1;; ++attempt) {
    ActivityInfo info;
    info.ns = workflow.ns;
    info.activity_id = request.activity_id;
    info.activity_type = request.activity_type;
    info.task_queue = workflow.task_queue;
    info.workflow_id = workflow.workflow_id;
    info.workflow_run_id = workflow.run_id;
    info.workflow_type = workflow.workflow_type;
    info.attempt = attempt;
    info.scheduled_time = info.started_time = std::chrono::system_clock::now();
    const auto started = Clock::now();
    auto deadline = schedule_to_close_deadline;
    bool start_to_close_first = false;
    if (options.start_to_close_.count() > 0 && started + options.start_to_close_ < deadline) {
      deadline = started + options.start_to_close_;
      start_to_close_first = true;
    }
    info.deadline = info.started_time + std::chrono::duration_cast<milliseconds>(
                                            deadline == Clock::time_point::max()
                                                ? milliseconds(0)
                                                : deadline - started);

    // The attempt runs on a thread of its own so that its timeout can be kept while it runs.
    struct Attempt {
      std::mutex mu;  // guards ended and outcome
      std::condition_variable cv;
      bool ended = false;
      RawOutcome outcome;
    };
    // Shared with the attempt's thread, which may outlive this call after a timeout.
    auto state = std::make_shared<Attempt>();
    std::shared_ptr<ActivityContext> ctx =
        ActivityRunner::Make(info, "", core_.converter, {}, nullptr);
    auto thread_ended = std::make_shared<std::atomic<bool>>(false);
    TrackActivity(ctx.get(), true);
    std::thread thread([this, fn, ctx, state, args = request.args, thread_ended] {
      RawOutcome outcome;
      try {
        outcome.payload = (*fn)(*ctx, args);
      } catch (...) {
        outcome.error = std::current_exception();
      }
      {
        std::lock_guard lock(state->mu);
        state->ended = true;
        state->outcome = std::move(outcome);
      }
      state->cv.notify_all();
      TrackActivity(ctx.get(), false);
      *thread_ended = true;
    });
    bool ended = false;
    {
      std::unique_lock lock(state->mu);
      while (!state->ended && Clock::now() < deadline && !mailbox.abandoned()) {
        state->cv.wait_until(lock, std::min(deadline, Clock::now() + kWaitSlice));
      }
      ended = state->ended;
    }
    Failure failure;
    bool timed_out_schedule_to_close = false;
    if (ended) {
      thread.join();
      RawOutcome outcome = std::move(state->outcome);
      if (!outcome.error) return outcome;
      failure = ExceptionToFailure(outcome.error);
    } else {
      // Timed out (or abandoned): the attempt is told to cancel and left to return on its own.
      ActivityRunner::Cancel(*ctx);
      local_activity_threads_.Adopt(std::move(thread), thread_ended);
      if (mailbox.abandoned()) return std::nullopt;
      timed_out_schedule_to_close = !start_to_close_first;
      failure.set_message(std::string("local activity ") +
                          (timed_out_schedule_to_close ? "ScheduleToClose" : "StartToClose") +
                          " timeout");
      failure.set_source("EonCppSDK");
      failure.mutable_timeout_failure_info()->set_timeout_type(
          timed_out_schedule_to_close ? enums::TIMEOUT_TYPE_SCHEDULE_TO_CLOSE
                                      : enums::TIMEOUT_TYPE_START_TO_CLOSE);
    }
    if (given_up()) return std::nullopt;  // possibly the shutdown's cancellation
    bool non_retryable = failure.application_failure_info().non_retryable();
    for (const auto& type : policy.non_retryable_error_types_) {
      if (type == failure.application_failure_info().type()) non_retryable = true;
    }
    if (non_retryable) return wrap(failure, enums::RETRY_STATE_NON_RETRYABLE_FAILURE);
    if (timed_out_schedule_to_close || Clock::now() + delay >= schedule_to_close_deadline) {
      return wrap(failure, enums::RETRY_STATE_TIMEOUT);
    }
    if (policy.maximum_attempts_ > 0 && attempt >= policy.maximum_attempts_) {
      return wrap(failure, enums::RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED);
    }
    if (given_up()) return std::nullopt;
    for (auto wake = Clock::now() + delay; Clock::now() < wake && !given_up();) {
      std::this_thread::sleep_for(std::min<Clock::duration>(kWaitSlice, wake - Clock::now()));
    }
    if (given_up()) return std::nullopt;
    delay = std::min(maximum, milliseconds(static_cast<int64_t>(delay.count() * coefficient)));
  }
}

// ---------------------------------------------------------------------------------------------
// Activity tasks

void WorkerCore::ActivityPollLoop() {
  const size_t polls_max = std::clamp<size_t>(options_.max_concurrent_activities / 2, 1,
                                              kActivityPollsMax);
  for (;;) {
    std::unique_lock slots(slots_mu_);
    slots_cv_.wait(slots, [&] {
      return !eager_tasks_.empty() || (stopping_ && workflow_threads_done_) ||
             (!stopping_ && slots_free_ > 0 && activity_polls_ < polls_max);
    });
    if (!eager_tasks_.empty()) {
      auto task = std::move(eager_tasks_.front());
      eager_tasks_.pop_front();
      slots.unlock();
      HandleActivityTask(task);
      slots.lock();
      ++slots_free_;
      slots.unlock();
      slots_cv_.notify_all();
      continue;
    }
    if (stopping_) return;
    --slots_free_;
    ++activity_polls_;
    slots.unlock();

    wfs::PollActivityTaskQueueRequest request;
    request.set_namespace_(core_.options.ns);
    request.set_identity(options_.identity);
    request.mutable_task_queue()->set_name(options_.task_queue);
    request.mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
    wfs::PollActivityTaskQueueResponse task;
    bool got = Poll(request, &task, [this](grpc::ClientContext* ctx, const auto& req, auto* resp) {
      return core_.stub->PollActivityTaskQueue(ctx, req, resp);
    });
    slots.lock();
    --activity_polls_;
    slots.unlock();
    if (got) HandleActivityTask(task);
    slots.lock();
    ++slots_free_;
    slots.unlock();
    slots_cv_.notify_all();
  }
}

int64_t WorkerCore::ReserveEagerActivities(wfs::RespondWorkflowTaskCompletedRequest& request) {
  int64_t reserved = 0;
  std::lock_guard lock(slots_mu_);
  for (auto& command : *request.mutable_commands()) {
    if (command.command_type() != enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK) continue;
    auto* attributes = command.mutable_schedule_activity_task_command_attributes();
    if (!attributes->request_eager_execution()) continue;
    bool eager = options_.eager_activities && !stopping_ &&
                 attributes->task_queue().name() == options_.task_queue &&
                 registry.activity(attributes->activity_type().name()) != nullptr &&
                 reserved < static_cast<int64_t>(kEagerActivitiesPerWorkflowTaskMax) &&
                 slots_free_ > 0;
    if (eager) {
      --slots_free_;
      ++reserved;
    } else {
      attributes->set_request_eager_execution(false);
    }
  }
  return reserved;
}

void WorkerCore::AcceptEagerActivities(int64_t reserved,
                                       wfs::RespondWorkflowTaskCompletedResponse* response) {
  int64_t handed = response == nullptr ? 0 : response->activity_tasks_size();
  if (reserved == 0 && handed == 0) return;
  {
    std::lock_guard lock(slots_mu_);
    for (int64_t i = 0; i < handed; ++i) {
      eager_tasks_.push_back(std::move(*response->mutable_activity_tasks(static_cast<int>(i))));
    }
    // The server hands back at most what was requested; more would take slots not reserved.
    slots_free_ += reserved - handed;
  }
  eager_received_ += static_cast<size_t>(handed);
  slots_cv_.notify_all();
}

void WorkerCore::HandleActivityTask(const wfs::PollActivityTaskQueueResponse& task) {
  ActivityInfo info;
  info.ns = core_.options.ns;
  info.activity_id = task.activity_id();
  info.activity_type = task.activity_type().name();
  info.task_queue = options_.task_queue;
  info.workflow_id = task.workflow_execution().workflow_id();
  info.workflow_run_id = task.workflow_execution().run_id();
  info.workflow_type = task.workflow_type().name();
  info.attempt = std::max(1, task.attempt());
  info.heartbeat_timeout = FromDuration(task.heartbeat_timeout());
  info.scheduled_time = FromTimestamp(task.scheduled_time());
  info.started_time = FromTimestamp(task.started_time());
  auto start_to_close = FromDuration(task.start_to_close_timeout());
  info.deadline = info.started_time + start_to_close;
  if (task.has_schedule_to_close_timeout() &&
      FromDuration(task.schedule_to_close_timeout()).count() > 0) {
    info.deadline = std::min(info.deadline,
                             info.scheduled_time + FromDuration(task.schedule_to_close_timeout()));
  }
  std::string token = task.task_token();
  auto send = [this, token](const Payloads& details) -> bool {
    wfs::RecordActivityTaskHeartbeatRequest request;
    request.set_namespace_(core_.options.ns);
    request.set_task_token(token);
    *request.mutable_details() = details;
    request.set_identity(options_.identity);
    wfs::RecordActivityTaskHeartbeatResponse response;
    grpc::ClientContext ctx;
    core_.Prepare(ctx);
    auto status = core_.stub->RecordActivityTaskHeartbeat(&ctx, request, &response);
    // NOT_FOUND: the activity is no longer running here (timed out, or its workflow closed).
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) return true;
    return status.ok() && response.cancel_requested();
  };
  auto ctx = ActivityRunner::Make(info, token, core_.converter, task.heartbeat_details(), send);
  TrackActivity(ctx.get(), true);

  const auto* fn = registry.activity(info.activity_type);
  std::optional<Payload> result;
  std::exception_ptr error;
  if (fn == nullptr) {
    error = std::make_exception_ptr(ApplicationError(
        "activity type " + info.activity_type +
            " is not registered on this worker (registered: " + registry.activity_names() + ")",
        "NotFoundError"));
  } else {
    try {
      result = (*fn)(*ctx, task.input());
    } catch (...) {
      error = std::current_exception();
    }
  }

  grpc::ClientContext call;
  core_.Prepare(call);
  grpc::Status status;
  if (!error) {
    if (!ActivityRunner::Async(*ctx)) {
      wfs::RespondActivityTaskCompletedRequest request;
      request.set_namespace_(core_.options.ns);
      request.set_task_token(token);
      request.set_identity(options_.identity);
      if (result) *request.mutable_result()->add_payloads() = *result;
      wfs::RespondActivityTaskCompletedResponse response;
      status = core_.stub->RespondActivityTaskCompleted(&call, request, &response);
    }
  } else {
    bool canceled = false;
    try {
      std::rethrow_exception(error);
    } catch (const CanceledError&) {
      canceled = ctx->is_canceled();
    } catch (...) {
    }
    if (canceled && !stopping_) {
      wfs::RespondActivityTaskCanceledRequest request;
      request.set_namespace_(core_.options.ns);
      request.set_task_token(token);
      request.set_identity(options_.identity);
      if (auto details = ActivityRunner::PendingDetails(*ctx))
        *request.mutable_details() = *details;
      wfs::RespondActivityTaskCanceledResponse response;
      status = core_.stub->RespondActivityTaskCanceled(&call, request, &response);
    } else {
      wfs::RespondActivityTaskFailedRequest request;
      request.set_namespace_(core_.options.ns);
      request.set_task_token(token);
      request.set_identity(options_.identity);
      *request.mutable_failure() =
          canceled ? ApplicationError("worker shutting down", "WorkerShutdown").failure()
                   : ExceptionToFailure(error);
      if (auto details = ActivityRunner::PendingDetails(*ctx)) {
        *request.mutable_last_heartbeat_details() = *details;
      }
      wfs::RespondActivityTaskFailedResponse response;
      status = core_.stub->RespondActivityTaskFailed(&call, request, &response);
    }
  }
  if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) {
    options_.log("reporting activity " + info.activity_id + " (" + info.activity_type +
                 ") failed: " + status.error_message());
  }
  TrackActivity(ctx.get(), false);
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------

Worker::Worker(Client client, WorkerOptions options)
    : core_(std::make_unique<internal::WorkerCore>(std::move(client), std::move(options))) {}
Worker::~Worker() { core_->Shutdown(); }
Registry& Worker::registry() { return core_->registry; }
Result<void> Worker::start() { return core_->Start(); }
void Worker::shutdown() { core_->Shutdown(); }
size_t Worker::cached_workflows() const { return core_->CachedWorkflows(); }
size_t Worker::eager_activities_received() const { return core_->EagerActivitiesReceived(); }

}  // namespace eon::sdk
