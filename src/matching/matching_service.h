// matching's interface to the other roles (DESIGN.md section 2): history adds tasks, the
// frontend parks workers' polls and sends query tasks. LocalMatching (matching/local_matching.h)
// is the implementation over this process's MatchingEngine; a node that does not own a task
// queue will reach the owner through a remote one behind the same interface.
//
// A poll is the whole handshake, as in Temporal's matching service: park until a task comes,
// have history record it started (stale tasks are dropped and the poll goes on; a task history
// could not take goes back to the queue), and answer with what history returned.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "matching/matching_engine.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::matching {

namespace wfs = temporal::api::workflowservice::v1;

// One worker's poll, as the frontend validated it.
struct PollRequest {
  QueueId queue;
  std::string namespace_name;  // for the poll's metrics and the activity task's answer
  PollerInfo poller;
  std::string poll_request_id;  // names the attempt in history's started event
  SteadyTime deadline;          // answered empty by then
};

// A poll on its way; Cancel answers it empty (its caller left). Cancelling a poll already
// answered does nothing.
class PendingPoll {
 public:
  virtual ~PendingPoll() = default;
  virtual void Cancel() = 0;
};

class MatchingService {
 public:
  virtual ~MatchingService() = default;

  // history's side: see MatchingEngine::AddTask.
  virtual Status AddTask(const QueueId& queue, const eon::v1::QueueTask& task,
                         std::function<void()> on_settled, bool sticky) = 0;
  // As AddTask, but only if a poll is parked on the queue right now: hands it the task and
  // returns true. Otherwise returns false and does nothing (no backlog write: the caller may be
  // a thread that must not wait on the store). A matching that cannot tell cheaply says false.
  virtual bool TryHandToPoller(const QueueId& queue, const eon::v1::QueueTask& task,
                               std::function<void()> on_settled) {
    (void)queue, (void)task, (void)on_settled;
    return false;
  }

  // Workers' polls. `done` runs exactly once, maybe before the call returns, on any thread: it
  // must not wait. An empty response means the poll timed out or was cancelled;
  // RESOURCE_EXHAUSTED that too many polls wait on the queue.
  virtual std::shared_ptr<PendingPoll> PollWorkflowTaskQueue(
      const PollRequest& request,
      std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) = 0;
  virtual std::shared_ptr<PendingPoll> PollActivityTaskQueue(
      const PollRequest& request,
      std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) = 0;
  // See MatchingEngine::ShutdownWorker.
  virtual void ShutdownWorker(const std::string& namespace_id, const std::string& sticky_queue,
                              const std::string& identity,
                              const std::string& worker_instance_key) = 0;

  // Query tasks (see MatchingEngine::AddQuery). A query whose workflow is gone when a poller
  // takes it is answered through query.on_undeliverable, and the poll goes on.
  virtual Status AddQuery(const QueueId& queue, MatchedTask query, bool sticky) = 0;
  virtual bool RemoveQuery(const QueueId& queue, const std::string& query_id) = 0;

  virtual MatchingEngine::QueueDescription Describe(const QueueId& queue) = 0;
};

}  // namespace eon::matching
