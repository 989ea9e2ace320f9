#include "matching/local_matching.h"

#include <mutex>
#include <type_traits>

#include "common/barrier.h"
#include "common/log.h"
#include "common/metrics.h"

namespace eon::matching {

namespace {

persistence::ExecutionKey KeyOf(const eon::v1::QueueTask& task) {
  return {task.namespace_id(), task.workflow_id(), task.run_id()};
}

}  // namespace

// One poll call: it parks again after a stale task, and Cancel must reach the parked one,
// whichever it is.
class LocalMatching::Poll final : public PendingPoll {
 public:
  Poll(MatchingEngine& engine, PollRequest request)
      : request(std::move(request)), engine_(engine) {}

  void Cancel() override {
    MatchingEngine::PollId id;
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
      id = id_;
    }
    if (id != 0) engine_.CancelPoll(id);
  }
  // Records the engine's poll now parked; returns false when the call was cancelled meanwhile
  // (the caller then cancels `id` itself). A park may be recorded after a later one: the first
  // park's task can be stale, and the poll parks again (inside the engine's Poll, or on the
  // executor) before the first Park returns. The engine numbers polls in increasing order, so
  // the newest id is the one still waiting; an older one is long answered and is not recorded.
  bool Parked(MatchingEngine::PollId id) {
    std::lock_guard lock(mutex_);
    if (id > id_) id_ = id;
    return !cancelled_;
  }

  const PollRequest request;

 private:
  MatchingEngine& engine_;
  std::mutex mutex_;
  MatchingEngine::PollId id_ = 0;  // guarded by mutex_
  bool cancelled_ = false;         // guarded by mutex_
};

void LocalMatching::RecordPoll(const Poll& poll, const MatchedTask* task) {
  if (task != nullptr && !task->query_id.empty()) return;  // queries are not tasks of the queue
  const QueueId& queue = poll.request.queue;
  const std::string& name = poll.request.namespace_name;
  const char* type = queue.kind == eon::v1::TASK_QUEUE_KIND_WORKFLOW ? "Workflow" : "Activity";
  metrics::PollEnded(name, queue.name, type, task != nullptr);
  if (task == nullptr || !task->task.has_created_time()) return;
  metrics::ScheduleToStart(
      name, queue.name, type,
      std::chrono::system_clock::now() - FromTimestamp(task->task.created_time()));
}

template <typename Resp>
void LocalMatching::AfterStart(std::shared_ptr<Poll> poll, StartTask<Resp> start,
                               std::function<void(Result<Resp>)> done, const MatchedTask& matched,
                               Result<Resp> response) {
  if (response.ok()) {
    RecordPoll(*poll, &matched);
    engine_.Done(matched);
    done(std::move(response));
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (response.status().code() == StatusCode::NOT_FOUND) {
    engine_.Done(matched);  // stale: the execution moved on
  } else {
    engine_.Requeue(matched);
    LOG_WARN("could not start a task from " << poll->request.queue.name << ": "
                                            << response.status().message());
    // Not at once: the requeued task is the first this poll would take again.
    if (scheduler_ == nullptr || now + kStartRetryDelay >= poll->request.deadline) {
      done(Resp());
      return;
    }
    scheduler_->At(now + kStartRetryDelay, [this, poll, start, done]() mutable {
      executor_.Submit([this, poll, start, done]() mutable {
        Park<Resp>(std::move(poll), std::move(start), std::move(done));
      });
    });
    return;
  }
  if (now >= poll->request.deadline) {
    done(Resp());
    return;
  }
  Park<Resp>(std::move(poll), std::move(start), std::move(done));
}

template <typename Resp>
void LocalMatching::Park(std::shared_ptr<Poll> poll, StartTask<Resp> start,
                         std::function<void(Result<Resp>)> done) {
  auto deliver = [this, poll, start, done](std::optional<MatchedTask> matched) {
    if (!matched) {
      RecordPoll(*poll, nullptr);
      done(Resp());  // timed out or cancelled: an empty answer, not an error
      return;
    }
    if (matched->is_claim()) return Claimed<Resp>(poll, start, done, std::move(*matched));
    auto after = [this, poll, start, done, matched = *matched](Result<Resp> response) {
      // This may run on the store's committer thread, which must not wait on the store: a
      // task from the backlog (whose row Done deletes) and the requeue (which writes one)
      // finish on the executor.
      if (response.ok() && matched.backlog_task_id == 0) {
        RecordPoll(*poll, &matched);
        engine_.Done(matched);
        done(std::move(response));
        return;
      }
      executor_.Submit(
          [this, poll, start, done, matched, response = std::move(response)]() mutable {
            AfterStart<Resp>(poll, start, done, matched, std::move(response));
          });
    };
    // Recording the start waits for nothing (its commit answers later), so it runs on the
    // thread that matched the task (maybe gRPC's, for a poll that found a task waiting),
    // unless the execution is not at hand or busy: then on the executor. (A query task's
    // answer reads the history: on the executor.)
    if (matched->query_id.empty() && history_->CanUpdateWithoutWaiting(KeyOf(matched->task))) {
      return start(*matched, std::move(after));
    }
    executor_.Submit([start, matched = std::move(*matched), after = std::move(after)] {
      Status thrown = RunGuarded("a task's start", [&] { start(matched, after); });
      if (!thrown.ok()) after(thrown);
    });
  };
  PollerInfo poller = poll->request.poller;
  poller.takes_claims = true;
  auto id = engine_.Poll(poll->request.queue, poller, poll->request.deadline, deliver);
  if (!id.ok()) {
    done(id.status());  // too many polls wait on the queue
    return;
  }
  if (!poll->Parked(*id)) engine_.CancelPoll(*id);  // the caller left while we parked
}

template <typename Resp>
void LocalMatching::Claimed(std::shared_ptr<Poll> poll, StartTask<Resp> start,
                            std::function<void(Result<Resp>)> done, MatchedTask matched) {
  constexpr bool kWorkflow = std::is_same_v<Resp, wfs::PollWorkflowTaskQueueResponse>;
  std::shared_ptr<PollClaim<Resp>>* out;
  if constexpr (kWorkflow) {
    out = matched.workflow_claim;
  } else {
    out = matched.activity_claim;
  }
  matched.workflow_claim = nullptr;
  matched.activity_claim = nullptr;
  if (out == nullptr) {
    // A claim of the other kind (never: a queue's id holds its kind): not this poll's.
    return executor_.Submit([this, poll, start, done] { Park<Resp>(poll, start, done); });
  }
  auto answer = [poll, done, matched = std::move(matched)](Result<Resp> response) {
    if constexpr (!kWorkflow) response->set_workflow_namespace(poll->request.namespace_name);
    RecordPoll(*poll, &matched);
    done(std::move(response));
  };
  // The commit failed: the poll waits again, off the caller's thread (the committer's, maybe;
  // parking may read the backlog from the store).
  auto release = [this, poll, start, done] {
    executor_.Submit([this, poll, start, done] {
      if (std::chrono::steady_clock::now() >= poll->request.deadline) {
        RecordPoll(*poll, nullptr);
        return done(Resp());
      }
      Park<Resp>(poll, start, done);
    });
  };
  *out = std::make_shared<PollClaim<Resp>>(poll->request.poller.identity,
                                           poll->request.poll_request_id, std::move(answer),
                                           std::move(release));
}

template <typename Resp>
std::shared_ptr<PollClaim<Resp>> LocalMatching::Claim(const QueueId& queue) {
  std::shared_ptr<PollClaim<Resp>> claim;
  MatchedTask matched;
  matched.queue = queue;
  *matched.task.mutable_created_time() = ToTimestamp(std::chrono::system_clock::now());
  if constexpr (std::is_same_v<Resp, wfs::PollWorkflowTaskQueueResponse>) {
    matched.workflow_claim = &claim;
  } else {
    matched.activity_claim = &claim;
  }
  if (!engine_.TryHandToPoller(std::move(matched))) return nullptr;
  return claim;  // the poller filled it in (Claimed) before TryHandToPoller returned
}

std::shared_ptr<WorkflowPollClaim> LocalMatching::ClaimWorkflowPoll(const QueueId& queue) {
  return Claim<wfs::PollWorkflowTaskQueueResponse>(queue);
}

std::shared_ptr<ActivityPollClaim> LocalMatching::ClaimActivityPoll(const QueueId& queue) {
  return Claim<wfs::PollActivityTaskQueueResponse>(queue);
}

std::shared_ptr<PendingPoll> LocalMatching::PollWorkflowTaskQueue(
    const PollRequest& request,
    std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) {
  auto poll = std::make_shared<Poll>(engine_, request);
  StartTask<wfs::PollWorkflowTaskQueueResponse> start =
      [this, poll](const MatchedTask& matched,
                   std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> started) {
        if (matched.query_id.empty()) {
          history_->RecordWorkflowTaskStartedAsync(matched.task, poll->request.poll_request_id,
                                                   poll->request.poller.identity,
                                                   std::move(started));
          return;
        }
        auto response = history_->QueryTaskResponse(matched.task, matched.query_id, matched.query);
        if (!response.ok()) {
          if (matched.on_undeliverable) matched.on_undeliverable(response.status());
          return started(NotFound("the queried workflow is gone"));  // poll on
        }
        started(std::move(response));
      };
  Park<wfs::PollWorkflowTaskQueueResponse>(poll, std::move(start), std::move(done));
  return poll;
}

std::shared_ptr<PendingPoll> LocalMatching::PollActivityTaskQueue(
    const PollRequest& request,
    std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) {
  auto poll = std::make_shared<Poll>(engine_, request);
  StartTask<wfs::PollActivityTaskQueueResponse> start =
      [this, poll](const MatchedTask& matched,
                   std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> started) {
        history_->RecordActivityTaskStartedAsync(
            matched.task, poll->request.poll_request_id, poll->request.poller.identity,
            [namespace_name = poll->request.namespace_name,
             started = std::move(started)](Result<wfs::PollActivityTaskQueueResponse> response) {
              if (response.ok()) response->set_workflow_namespace(namespace_name);
              started(std::move(response));
            });
      };
  Park<wfs::PollActivityTaskQueueResponse>(poll, std::move(start), std::move(done));
  return poll;
}

}  // namespace eon::matching
