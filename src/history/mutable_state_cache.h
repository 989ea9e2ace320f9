// An LRU cache of execution mutable state, keyed by namespace id, workflow id and run id.
// Thread-safe. Entries are only written under the execution's lock, so a cached value is
// always the last committed one.
#pragma once

#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "persistence/store.h"

namespace eon::history {

class MutableStateCache {
 public:
  explicit MutableStateCache(int capacity) : capacity_(capacity) {}

  std::optional<persistence::StoredExecution> Get(const persistence::ExecutionKey& key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(Key(key));
    if (it == index_.end()) return std::nullopt;
    entries_.splice(entries_.begin(), entries_, it->second);
    return it->second->second;
  }

  void Put(const persistence::ExecutionKey& key, persistence::StoredExecution value) {
    std::lock_guard lock(mutex_);
    std::string k = Key(key);
    auto it = index_.find(k);
    if (it != index_.end()) {
      it->second->second = std::move(value);
      entries_.splice(entries_.begin(), entries_, it->second);
      return;
    }
    entries_.emplace_front(k, std::move(value));
    index_[k] = entries_.begin();
    while (static_cast<int>(entries_.size()) > capacity_) {
      index_.erase(entries_.back().first);
      entries_.pop_back();
    }
  }

  void Erase(const persistence::ExecutionKey& key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(Key(key));
    if (it == index_.end()) return;
    entries_.erase(it->second);
    index_.erase(it);
  }

 private:
  static std::string Key(const persistence::ExecutionKey& key) {
    std::string out;
    out.reserve(key.namespace_id.size() + key.workflow_id.size() + key.run_id.size() + 2);
    out.append(key.namespace_id).push_back('\x1f');
    out.append(key.workflow_id).push_back('\x1f');
    out.append(key.run_id);
    return out;
  }

  const int capacity_;
  std::mutex mutex_;
  using Entry = std::pair<std::string, persistence::StoredExecution>;
  std::list<Entry> entries_;                                           // guarded by mutex_
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;  // guarded by mutex_
};

}  // namespace eon::history
