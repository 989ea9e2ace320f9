// LocalMatching: the MatchingService of this process, over its MatchingEngine (the queues and
// parked polls) and history's record-started calls (the second half of the poll handshake).
#pragma once

#include <chrono>
#include <memory>

#include "common/executor.h"
#include "history/history_service.h"
#include "matching/matching_engine.h"
#include "matching/matching_service.h"

namespace eon::matching {

class LocalMatching final : public MatchingService {
 public:
  // Work that may wait (deleting a backlog row once its task started, requeueing, a query
  // task's answer, a start whose execution is not at hand) runs on `executor`. A poll whose
  // task could not be started (its execution's node did not answer: dead, or its shard is
  // moving) takes a task again only after kStartRetryDelay, on `scheduler` (it must outlive
  // this); without one such a poll is answered empty at once, and the worker polls again.
  LocalMatching(MatchingEngine& engine, Executor& executor, DeadlineScheduler* scheduler = nullptr)
      : engine_(engine), executor_(executor), scheduler_(scheduler) {}

  // How long a poll waits before it takes a task again after a start failed (not a stale task):
  // without it the poll would take the requeued task back at once and spin on it, logging each
  // time, until the execution's shard is served again (seconds, when a node died).
  static constexpr std::chrono::milliseconds kStartRetryDelay{500};

  // History and matching call each other: set before the first poll.
  void SetHistory(history::HistoryService& history) { history_ = &history; }

  Status AddTask(const QueueId& queue, const eon::v1::QueueTask& task,
                 std::function<void()> on_settled, bool sticky) override {
    return engine_.AddTask(queue, task, std::move(on_settled), sticky);
  }
  bool TryHandToPoller(const QueueId& queue, const eon::v1::QueueTask& task,
                       std::function<void()> on_settled) override {
    return engine_.TryHandToPoller(queue, task, std::move(on_settled));
  }
  std::shared_ptr<WorkflowPollClaim> ClaimWorkflowPoll(const QueueId& queue) override;
  std::shared_ptr<ActivityPollClaim> ClaimActivityPoll(const QueueId& queue) override;
  // A task from another node's outbox: in the backlog (durable here) before any poller takes it.
  Status AddTaskBacklogFirst(const QueueId& queue, const eon::v1::QueueTask& task, bool sticky) {
    return engine_.AddTask(queue, task, nullptr, sticky, /*backlog_first=*/true);
  }
  std::shared_ptr<PendingPoll> PollWorkflowTaskQueue(
      const PollRequest& request,
      std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) override;
  std::shared_ptr<PendingPoll> PollActivityTaskQueue(
      const PollRequest& request,
      std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) override;
  void ShutdownWorker(const std::string& namespace_id, const std::string& sticky_queue,
                      const std::string& identity,
                      const std::string& worker_instance_key) override {
    engine_.ShutdownWorker(namespace_id, sticky_queue, identity, worker_instance_key);
  }
  Status AddQuery(const QueueId& queue, MatchedTask query, bool sticky) override {
    return engine_.AddQuery(queue, std::move(query), sticky);
  }
  bool RemoveQuery(const QueueId& queue, const std::string& query_id) override {
    return engine_.RemoveQuery(queue, query_id);
  }
  MatchingEngine::QueueDescription Describe(const QueueId& queue) override {
    return engine_.Describe(queue);
  }

 private:
  class Poll;
  // Turns a matched task into a poll answer: history's record-started, which answers once the
  // start is durable, on any thread.
  template <typename Resp>
  using StartTask =
      std::function<void(const MatchedTask&, std::function<void(Result<Resp>)> started)>;
  // Parks (again, after a stale task) the poll `poll` on its queue.
  template <typename Resp>
  void Park(std::shared_ptr<Poll> poll, StartTask<Resp> start,
            std::function<void(Result<Resp>)> done);
  // A matched task's start has its answer: the poll is answered, or parks again.
  template <typename Resp>
  void AfterStart(std::shared_ptr<Poll> poll, StartTask<Resp> start,
                  std::function<void(Result<Resp>)> done, const MatchedTask& matched,
                  Result<Resp> response);
  template <typename Resp>
  std::shared_ptr<PollClaim<Resp>> Claim(const QueueId& queue);
  // A poll taken by a claim (Claim): stores the PollClaim history answers.
  template <typename Resp>
  void Claimed(std::shared_ptr<Poll> poll, StartTask<Resp> start,
               std::function<void(Result<Resp>)> done, MatchedTask matched);
  // poll_success or poll_timeouts, and a delivered task's schedule-to-start latency.
  static void RecordPoll(const Poll& poll, const MatchedTask* task);

  MatchingEngine& engine_;
  Executor& executor_;
  DeadlineScheduler* const scheduler_;  // may be null
  history::HistoryService* history_ = nullptr;
};

}  // namespace eon::matching
