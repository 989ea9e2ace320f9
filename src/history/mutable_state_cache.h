// An LRU cache of execution mutable state, keyed by namespace id, workflow id and run id.
// Thread-safe. Put is called under the execution's lock after a commit, so it is always the
// last committed state; Fill is for reads that may run without that lock and only ever replaces
// an entry with a newer db_version, so a slow read never overwrites a newer commit.
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
    InsertLocked(std::move(k), std::move(value));
  }

  // Caches `value` read from the store unless the cache holds the same or a newer version.
  void Fill(const persistence::ExecutionKey& key, persistence::StoredExecution value) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(Key(key));
    if (it != index_.end()) {
      if (it->second->second.db_version >= value.db_version) return;
      it->second->second = std::move(value);
      entries_.splice(entries_.begin(), entries_, it->second);
      return;
    }
    InsertLocked(Key(key), std::move(value));
  }

  void Erase(const persistence::ExecutionKey& key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(Key(key));
    if (it == index_.end()) return;
    entries_.erase(it->second);
    index_.erase(it);
  }

 private:
  void InsertLocked(std::string k, persistence::StoredExecution value) {
    entries_.emplace_front(k, std::move(value));
    index_[std::move(k)] = entries_.begin();
    while (static_cast<int>(entries_.size()) > capacity_) {
      index_.erase(entries_.back().first);
      entries_.pop_back();
    }
  }

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
