// The worker: polls a task queue for workflow and activity tasks and runs them.
//
//   eon::sdk::Worker worker(client, {.task_queue = "hello"});
//   worker.register_workflow("Greeting", Greeting);
//   worker.register_activity("ComposeGreeting", ComposeGreeting);
//   worker.start();   // polls on its own threads
//   ...
//   worker.shutdown();
//
// Workflow tasks run on max_concurrent_workflow_tasks threads (half of them poll the worker's
// sticky queue); running workflows stay in a cache (up to max_cached_workflows, least recently
// used evicted first), so the server sends only new events. Activities run on
// max_concurrent_activities threads, one activity per thread; at most half of those threads
// (1 to 5) poll at a time, so slots stay free for eager activities (see eager_activities).
//
// shutdown() stops polling, lets workflow tasks in hand finish, gives running activities
// graceful_shutdown_timeout to end and then cancels them (an activity that still fails is
// reported as failed, so the server retries it elsewhere), and hands the cached workflows back
// to the normal queue (ResetStickyTaskQueue).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "eon/sdk/client.h"
#include "eon/sdk/registry.h"

namespace eon::sdk {

struct WorkerOptions {
  std::string task_queue{};  // required
  size_t max_concurrent_workflow_tasks = 8;
  size_t max_concurrent_activities = 8;
  size_t max_cached_workflows = 500;  // 0: no cache and no sticky queue
  milliseconds sticky_schedule_to_start_timeout{10'000};
  milliseconds graceful_shutdown_timeout{5'000};
  std::string identity{};  // default: the client's
  // Eager activities: when the workflow code schedules an activity on this worker's task queue
  // and an activity slot is free, the worker asks the server to hand the activity straight
  // back in the workflow task's reply (up to 3 per workflow task, as Temporal's SDKs do), and
  // runs it without a poll. False: every activity goes through the task queue.
  bool eager_activities = true;
  // Where the worker reports problems it handles itself (a workflow task it failed, a report
  // the server refused). Default: one line on stderr. Called from worker threads.
  std::function<void(const std::string&)> log{};
};

namespace internal {
class WorkerCore;
}

class Worker {
 public:
  Worker(Client client, WorkerOptions options);
  ~Worker();  // shuts down if still running
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  template <typename F>
  void register_workflow(const std::string& name, F fn) {
    registry().register_workflow(name, std::move(fn));
  }
  template <typename W>
  void register_workflow(const std::string& name) {
    registry().template register_workflow<W>(name);
  }
  template <typename F>
  void register_activity(const std::string& name, F fn) {
    registry().register_activity(name, std::move(fn));
  }
  // REQUIRES: not started yet.
  Registry& registry();

  // Checks the options and the namespace, then starts polling. INVALID_ARGUMENT for bad
  // options, NOT_FOUND for an unknown namespace.
  Result<void> start();
  // Graceful stop (see above); idempotent.
  void shutdown();

  // For tests and metrics: workflows in the sticky cache.
  size_t cached_workflows() const;
  // For tests and metrics: activity tasks the server handed back eagerly (since start()).
  size_t eager_activities_received() const;

 private:
  std::unique_ptr<internal::WorkerCore> core_;
};

}  // namespace eon::sdk
