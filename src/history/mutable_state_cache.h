// An LRU cache of execution mutable state, keyed by namespace id, workflow id and run id.
// Thread-safe.
//
// Each entry holds two states:
// - `latest`: what the next update builds on. It includes changes whose commit is still in
//   flight (an update applies to the cached state and joins the next group commit; the thread
//   that made it does not wait). Read it only under the execution's lock (LoadForUpdate).
// - `durable`: the newest state known to be committed. Reads that answer callers use it, so
//   nothing is answered before it is durable.
// An entry with commits in flight is pinned (never evicted). A failed commit erases the entry
// (if it is still the same generation), so the next update reloads from the store; the commits
// that were built on the failed one fail their db_version condition in turn.
//
// Each entry also keeps the run's newest committed events (its `tail`): those a workflow task
// carries next, so a poll is answered without reading the history back. Kept are the events
// since the last completed workflow task's started event (all of them before the first one
// completes), up to kTailBytesMax serialized bytes; older ones are dropped.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "persistence/store.h"

namespace eon::history {

class MutableStateCache {
 public:
  explicit MutableStateCache(int capacity) : capacity_(capacity) {}

  // The state the next update builds on (in-flight commits included).
  std::optional<persistence::StoredExecution> GetLatest(const persistence::ExecutionKey& key) {
    std::lock_guard lock(mutex_);
    Entry* e = FindLocked(key);
    if (!e) return std::nullopt;
    return e->latest;
  }

  // Whether the state the next update builds on is here (no store read needed).
  bool HasLatest(const persistence::ExecutionKey& key) {
    std::lock_guard lock(mutex_);
    return FindLocked(key) != nullptr;
  }

  // Whether the newest committed state is here and its run still open (nothing copied).
  bool DurableAndOpen(const persistence::ExecutionKey& key) {
    std::lock_guard lock(mutex_);
    Entry* e = FindLocked(key);
    return e && e->durable &&
           e->durable->state.status() ==
               temporal::api::enums::v1::WORKFLOW_EXECUTION_STATUS_RUNNING;
  }

  // The newest committed state; nullopt when the cache does not know it (read the store).
  std::optional<persistence::StoredExecution> GetDurable(const persistence::ExecutionKey& key) {
    std::lock_guard lock(mutex_);
    Entry* e = FindLocked(key);
    if (!e || !e->durable) return std::nullopt;
    return e->durable;
  }

  // A change to `key` whose commit was just submitted. Returns the entry's generation, for
  // Committed and Failed.
  uint64_t PutPending(const persistence::ExecutionKey& key, persistence::StoredExecution value) {
    std::lock_guard lock(mutex_);
    Entry& e = GetOrInsertLocked(key);
    e.latest = std::move(value);
    ++e.pending;
    const uint64_t generation = e.generation;
    TrimLocked();
    return generation;
  }

  // The commit of `value` (submitted with PutPending under `generation`), which added
  // `new_events` to the run's history, is durable.
  void Committed(const persistence::ExecutionKey& key, uint64_t generation,
                 persistence::StoredExecution value,
                 const std::vector<temporal::api::history::v1::HistoryEvent>& new_events = {}) {
    std::lock_guard lock(mutex_);
    Entry* e = FindLocked(key);
    if (!e || e->generation != generation) return;
    if (e->pending > 0) --e->pending;
    if (!e->durable || e->durable->db_version < value.db_version) {
      ExtendTailLocked(*e, value, new_events);
      e->durable = std::move(value);
    }
    TrimLocked();
  }

  // Appends to `out` the committed events from `first` through `last` (those of them that exist),
  // when this entry's tail holds every event from `first` on and they are no more than
  // `count_max`. False when it does not (read them from the store); `out` is then unchanged.
  bool CopyEvents(
      const persistence::ExecutionKey& key, int64_t first, int64_t last, size_t count_max,
      google::protobuf::RepeatedPtrField<temporal::api::history::v1::HistoryEvent>* out) {
    std::lock_guard lock(mutex_);
    Entry* e = FindLocked(key);
    if (!e || !e->durable || e->tail_version != e->durable->db_version || first < e->tail_first) {
      return false;
    }
    const auto begin = e->tail.begin() + std::min<int64_t>(first - e->tail_first, e->tail.size());
    auto end = begin;
    while (end != e->tail.end() && end->event.event_id() <= last) ++end;
    if (static_cast<size_t>(end - begin) > count_max) return false;
    for (auto it = begin; it != end; ++it) *out->Add() = it->event;
    return true;
  }

  // The commit submitted under `generation` failed: forget the entry, unless it was already
  // replaced by one built on a fresh read.
  void Failed(const persistence::ExecutionKey& key, uint64_t generation) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(Key(key));
    if (it == index_.end() || it->second->second.generation != generation) return;
    entries_.erase(it->second);
    index_.erase(it);
  }

  // Caches `value` read from the store (so durable) unless the cache knows the same or a newer
  // version.
  void Fill(const persistence::ExecutionKey& key, persistence::StoredExecution value) {
    std::lock_guard lock(mutex_);
    if (Entry* e = FindLocked(key)) {
      if (e->durable && e->durable->db_version >= value.db_version) return;
      if (e->pending == 0 && e->latest.db_version < value.db_version) e->latest = value;
      e->durable = std::move(value);
      e->tail.clear();  // which events this version added is not known
      e->tail_version = -1;
      return;
    }
    Entry& fresh = GetOrInsertLocked(key);
    fresh.latest = value;
    fresh.durable = std::move(value);
    TrimLocked();
  }

  void Erase(const persistence::ExecutionKey& key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(Key(key));
    if (it == index_.end()) return;
    entries_.erase(it->second);
    index_.erase(it);
  }

  // Forgets every entry whose latest state `drop` picks (those of a shard this process lost).
  // Commits in flight of them find no entry when they answer, and change nothing.
  template <typename Pred>
  void EraseIf(Pred drop) {
    std::lock_guard lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (!drop(it->second.latest.state)) {
        ++it;
        continue;
      }
      index_.erase(it->first);
      it = entries_.erase(it);
    }
  }

  // The most serialized bytes of events one entry's tail keeps.
  static constexpr size_t kTailBytesMax = 8 * 1024;

 private:
  struct TailEvent {
    temporal::api::history::v1::HistoryEvent event;
    size_t bytes = 0;
  };
  struct Entry {
    persistence::StoredExecution latest;
    std::optional<persistence::StoredExecution> durable;
    int pending = 0;  // commits in flight
    uint64_t generation = 0;
    // Every committed event from tail_first to the end of the history as of `tail_version`
    // (valid only while that is durable's version; empty when no such event exists yet).
    std::deque<TailEvent> tail;
    int64_t tail_first = 0;
    int64_t tail_version = -1;
    size_t tail_bytes = 0;
  };
  using Node = std::pair<std::string, Entry>;

  // `value` becomes durable: its commit's events extend the tail kept for the version before it,
  // or, when that tail is not kept, start a new one.
  static void ExtendTailLocked(
      Entry& e, const persistence::StoredExecution& value,
      const std::vector<temporal::api::history::v1::HistoryEvent>& new_events) {
    const int64_t next_event_id = value.state.next_event_id();
    const int64_t first_new = new_events.empty() ? next_event_id : new_events.front().event_id();
    const bool extends = e.durable && e.tail_version == e.durable->db_version &&
                         e.tail_version + 1 == value.db_version &&
                         e.tail_first + static_cast<int64_t>(e.tail.size()) == first_new;
    // A sticky task carries the events since the last completed task's started event; the
    // first task carries them all.
    const int64_t keep_from = value.state.previous_started_event_id() + 1;
    // The new events that would be dropped at once (too old, or before the newest that fit) are
    // not copied: the tail starts after them.
    std::vector<size_t> sizes(new_events.size());
    size_t skip = new_events.size(), suffix_bytes = 0;
    while (skip > 0) {
      const auto& event = new_events[skip - 1];
      sizes[skip - 1] = event.ByteSizeLong();
      if (event.event_id() < keep_from || suffix_bytes + sizes[skip - 1] > kTailBytesMax) break;
      suffix_bytes += sizes[--skip];
    }
    if (!extends || skip > 0) {
      e.tail.clear();
      e.tail_bytes = 0;
      e.tail_first = first_new + static_cast<int64_t>(skip);
    }
    for (size_t i = skip; i < new_events.size(); ++i) {
      e.tail.push_back({new_events[i], sizes[i]});
      e.tail_bytes += sizes[i];
    }
    e.tail_version = value.db_version;
    while (!e.tail.empty() && (e.tail_first < keep_from || e.tail_bytes > kTailBytesMax)) {
      e.tail_bytes -= e.tail.front().bytes;
      e.tail.pop_front();
      ++e.tail_first;
    }
  }

  Entry* FindLocked(const persistence::ExecutionKey& key) {
    auto it = index_.find(Key(key));
    if (it == index_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, it->second);
    return &it->second->second;
  }

  Entry& GetOrInsertLocked(const persistence::ExecutionKey& key) {
    if (Entry* e = FindLocked(key)) return *e;
    std::string k = Key(key);
    entries_.emplace_front(k, Entry{});
    entries_.front().second.generation = ++next_generation_;
    index_[std::move(k)] = entries_.begin();
    return entries_.front().second;
  }

  // Evicts least recently used entries without commits in flight while over capacity.
  void TrimLocked() {
    auto it = entries_.end();
    size_t size = entries_.size();
    while (size > static_cast<size_t>(capacity_) && it != entries_.begin()) {
      --it;
      if (it->second.pending > 0) continue;
      index_.erase(it->first);
      it = entries_.erase(it);
      --size;
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
  std::list<Node> entries_;                                           // guarded by mutex_
  std::unordered_map<std::string, std::list<Node>::iterator> index_;  // guarded by mutex_
  uint64_t next_generation_ = 0;                                      // guarded by mutex_
};

}  // namespace eon::history
