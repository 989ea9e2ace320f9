// Consistent queries held for a workflow task, as Temporal holds them ("buffered queries").
//
// A query that arrives while a workflow task is scheduled or running, or before the first
// workflow task completed, must see every event accepted before it, so it is not sent to a
// worker on its own: it waits here and rides on the next workflow task that starts
// (PollWorkflowTaskQueueResponse.queries); the worker answers it in that task's completion
// (RespondWorkflowTaskCompletedRequest.query_results). When the execution has no workflow task
// left to carry it (completed without a new one, or the workflow closed), the waiter is told
// to send the query directly, as a query task.
//
// Memory only: a restart loses what waits here, together with the connections of the callers
// that wait, who then retry. Thread-safe. Waiters are called on the thread that settles them,
// with no lock of the registry held; they must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "persistence/store.h"
#include "temporal/api/query/v1/message.pb.h"

namespace eon::history {

struct QueryOutcome {
  enum class Kind {
    kAnswered,          // `result` holds the worker's answer (answered or failed)
    kDispatchDirectly,  // nothing left to carry it: send it as a query task now
    kFailed,            // `error` says why
  };
  Kind kind = Kind::kFailed;
  temporal::api::query::v1::WorkflowQueryResult result;
  Status error;
};
using QueryWaiter = std::function<void(QueryOutcome)>;

class QueryRegistry {
 public:
  explicit QueryRegistry(int buffered_per_execution_max)
      : buffered_per_execution_max_(buffered_per_execution_max) {}

  // Holds `query` under `query_id` (unique, chosen by the caller). RESOURCE_EXHAUSTED when the
  // execution already holds buffered_per_execution_max queries.
  // REQUIRES: the execution's lock held, so the query is ordered with the task that carries it.
  Status Buffer(const persistence::ExecutionKey& key, const std::string& query_id,
                temporal::api::query::v1::WorkflowQuery query, QueryWaiter waiter);

  bool HasBuffered(const persistence::ExecutionKey& key) const;
  // The queries an execution holds, by id (for the workflow task that starts now).
  std::map<std::string, temporal::api::query::v1::WorkflowQuery> Buffered(
      const persistence::ExecutionKey& key) const;

  // Settles one query (nothing if it is gone) or every query of an execution, and calls their
  // waiters.
  void Settle(const persistence::ExecutionKey& key, const std::string& query_id,
              QueryOutcome outcome);
  void SettleAll(const persistence::ExecutionKey& key, const QueryOutcome& outcome);
  // Settles every query of the executions `which` picks (those of a shard given up).
  void SettleIf(const std::function<bool(const persistence::ExecutionKey&)>& which,
                const QueryOutcome& outcome);

  // Forgets a query whose caller left. Returns whether it was still held.
  bool Remove(const persistence::ExecutionKey& key, const std::string& query_id);

 private:
  struct Held {
    temporal::api::query::v1::WorkflowQuery query;
    QueryWaiter waiter;
  };
  struct Execution {
    persistence::ExecutionKey key;        // for SettleIf
    std::map<std::string, Held> queries;  // by query id
  };
  static std::string KeyOf(const persistence::ExecutionKey& key);

  const int buffered_per_execution_max_;
  mutable std::mutex mutex_;
  // KeyOf(execution) -> its queries; guarded by mutex_. Executions without queries are erased.
  std::unordered_map<std::string, Execution> held_;
};

}  // namespace eon::history
