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

// A parked poll that history took to start a task in the same commit that schedules it
// (MatchingService::ClaimWorkflowPoll, ClaimActivityPoll), instead of a second commit that
// records the start. History answers it once that commit is durable, or releases it because the
// commit failed, which sends the poll back to wait on its queue. One dropped with neither (only
// at teardown, when the commit's callback or the answer's task never runs) does nothing: matching
// may be gone by then, and the poll's call ends with the server.
template <typename Response>
class PollClaim {
 public:
  PollClaim(std::string identity, std::string request_id,
            std::function<void(Result<Response>)> answer, std::function<void()> release)
      : identity(std::move(identity)),
        request_id(std::move(request_id)),
        answer_(std::move(answer)),
        release_(std::move(release)) {}
  PollClaim(const PollClaim&) = delete;
  PollClaim& operator=(const PollClaim&) = delete;

  // The started task, once, on any thread. An error (the task's history could not be read)
  // releases the poll instead; the task, started durably, times out and is tried again.
  void Answer(Result<Response> response) {
    if (!response.ok()) return Release();
    auto answer = std::move(answer_);
    release_ = nullptr;
    if (answer) answer(std::move(response));
  }
  void Release() {
    auto release = std::move(release_);
    answer_ = nullptr;
    if (release) release();
  }

  const std::string identity;    // the poller's, for the started event or activity
  const std::string request_id;  // the poll's

 private:
  std::function<void(Result<Response>)> answer_;
  std::function<void()> release_;
};
using WorkflowPollClaim = PollClaim<wfs::PollWorkflowTaskQueueResponse>;
using ActivityPollClaim = PollClaim<wfs::PollActivityTaskQueueResponse>;

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

  // Takes a poll parked on the workflow (activity) queue `queue` right now, for history to
  // start a task it schedules in the same commit (see PollClaim); nullptr when none is parked.
  // Never waits. A matching that cannot tell cheaply says nullptr.
  virtual std::shared_ptr<WorkflowPollClaim> ClaimWorkflowPoll(const QueueId& queue) {
    (void)queue;
    return nullptr;
  }
  virtual std::shared_ptr<ActivityPollClaim> ClaimActivityPoll(const QueueId& queue) {
    (void)queue;
    return nullptr;
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
