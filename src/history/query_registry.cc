#include "history/query_registry.h"

#include <vector>

#include "temporal/api/errordetails/v1/message.pb.h"

namespace eon::history {

std::string QueryRegistry::KeyOf(const persistence::ExecutionKey& key) {
  std::string out = key.namespace_id;
  out += '\0';
  out += key.workflow_id;
  out += '\0';
  out += key.run_id;
  return out;
}

Status QueryRegistry::Buffer(const persistence::ExecutionKey& key, const std::string& query_id,
                             temporal::api::query::v1::WorkflowQuery query, QueryWaiter waiter) {
  std::lock_guard lock(mutex_);
  auto& execution = held_[KeyOf(key)];
  if (execution.queries.empty()) execution.key = key;
  auto& held = execution.queries;
  if (static_cast<int>(held.size()) >= buffered_per_execution_max_) {
    // Temporal's words and cause for the same condition.
    temporal::api::errordetails::v1::ResourceExhaustedFailure detail;
    detail.set_cause(temporal::api::enums::v1::RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW);
    detail.set_scope(temporal::api::enums::v1::RESOURCE_EXHAUSTED_SCOPE_NAMESPACE);
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "consistent query buffer is full, this may be caused by too many queries and "
                  "workflow not able to process query fast enough")
        .WithDetail(detail);
  }
  held.emplace(query_id, Held{std::move(query), std::move(waiter)});
  return Status::Ok();
}

bool QueryRegistry::HasBuffered(const persistence::ExecutionKey& key) const {
  std::lock_guard lock(mutex_);
  return held_.count(KeyOf(key)) != 0;
}

std::map<std::string, temporal::api::query::v1::WorkflowQuery> QueryRegistry::Buffered(
    const persistence::ExecutionKey& key) const {
  std::map<std::string, temporal::api::query::v1::WorkflowQuery> out;
  std::lock_guard lock(mutex_);
  auto it = held_.find(KeyOf(key));
  if (it == held_.end()) return out;
  for (const auto& [id, held] : it->second.queries) out.emplace(id, held.query);
  return out;
}

void QueryRegistry::Settle(const persistence::ExecutionKey& key, const std::string& query_id,
                           QueryOutcome outcome) {
  QueryWaiter waiter;
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(KeyOf(key));
    if (it == held_.end()) return;
    auto q = it->second.queries.find(query_id);
    if (q == it->second.queries.end()) return;
    waiter = std::move(q->second.waiter);
    it->second.queries.erase(q);
    if (it->second.queries.empty()) held_.erase(it);
  }
  waiter(std::move(outcome));
}

void QueryRegistry::SettleAll(const persistence::ExecutionKey& key, const QueryOutcome& outcome) {
  std::vector<QueryWaiter> waiters;
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(KeyOf(key));
    if (it == held_.end()) return;
    for (auto& [id, held] : it->second.queries) waiters.push_back(std::move(held.waiter));
    held_.erase(it);
  }
  for (auto& waiter : waiters) waiter(outcome);
}

void QueryRegistry::SettleIf(const std::function<bool(const persistence::ExecutionKey&)>& which,
                             const QueryOutcome& outcome) {
  std::vector<QueryWaiter> waiters;
  {
    std::lock_guard lock(mutex_);
    for (auto it = held_.begin(); it != held_.end();) {
      if (!which(it->second.key)) {
        ++it;
        continue;
      }
      for (auto& [id, held] : it->second.queries) waiters.push_back(std::move(held.waiter));
      it = held_.erase(it);
    }
  }
  for (auto& waiter : waiters) waiter(outcome);
}

bool QueryRegistry::Remove(const persistence::ExecutionKey& key, const std::string& query_id) {
  std::lock_guard lock(mutex_);
  auto it = held_.find(KeyOf(key));
  if (it == held_.end()) return false;
  bool removed = it->second.queries.erase(query_id) != 0;
  if (it->second.queries.empty()) held_.erase(it);
  return removed;
}

}  // namespace eon::history
