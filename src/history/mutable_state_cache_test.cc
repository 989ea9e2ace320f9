#include "history/mutable_state_cache.h"

#include <gtest/gtest.h>

namespace eon::history {
namespace {

persistence::StoredExecution Version(int64_t db_version) {
  persistence::StoredExecution stored;
  stored.db_version = db_version;
  stored.state.set_workflow_id("wf-v" + std::to_string(db_version));
  return stored;
}

const persistence::ExecutionKey kKey{"ns", "wf", "run"};

// A read made without the execution's lock may finish after a newer commit was cached.
TEST(MutableStateCache, AFillNeverReplacesANewerEntry) {
  MutableStateCache cache(8);
  uint64_t generation = cache.PutPending(kKey, Version(6));
  cache.Committed(kKey, generation, Version(6));
  cache.Fill(kKey, Version(5));
  EXPECT_EQ(cache.GetDurable(kKey)->db_version, 6);
  EXPECT_EQ(cache.GetLatest(kKey)->db_version, 6);
  cache.Fill(kKey, Version(7));
  EXPECT_EQ(cache.GetDurable(kKey)->db_version, 7);
  EXPECT_EQ(cache.GetLatest(kKey)->db_version, 7);
  cache.Erase(kKey);
  cache.Fill(kKey, Version(3));
  EXPECT_EQ(cache.GetDurable(kKey)->db_version, 3);
}

// Updates build on a change whose commit is in flight; readers see only what is durable.
TEST(MutableStateCache, ReadersSeeOnlyDurableStateWhileCommitsAreInFlight) {
  MutableStateCache cache(8);
  cache.Fill(kKey, Version(1));
  uint64_t g = cache.PutPending(kKey, Version(2));
  cache.PutPending(kKey, Version(3));
  EXPECT_EQ(cache.GetLatest(kKey)->db_version, 3);
  EXPECT_EQ(cache.GetDurable(kKey)->db_version, 1);
  cache.Committed(kKey, g, Version(2));
  EXPECT_EQ(cache.GetDurable(kKey)->db_version, 2);
  cache.Committed(kKey, g, Version(3));
  EXPECT_EQ(cache.GetDurable(kKey)->db_version, 3);
  // A read of the store that raced with those commits does not go back in time.
  cache.Fill(kKey, Version(2));
  EXPECT_EQ(cache.GetLatest(kKey)->db_version, 3);
}

// A new run's first commit in flight: the cache knows nothing durable, so readers go to the
// store (and find nothing yet).
TEST(MutableStateCache, ANewRunIsNotDurableUntilCommitted) {
  MutableStateCache cache(8);
  uint64_t g = cache.PutPending(kKey, Version(1));
  EXPECT_FALSE(cache.GetDurable(kKey).has_value());
  EXPECT_TRUE(cache.GetLatest(kKey).has_value());
  cache.Committed(kKey, g, Version(1));
  EXPECT_EQ(cache.GetDurable(kKey)->db_version, 1);
}

// A failed commit forgets the entry, but not an entry rebuilt from a fresh read since.
TEST(MutableStateCache, AFailedCommitErasesOnlyItsOwnGeneration) {
  MutableStateCache cache(8);
  cache.Fill(kKey, Version(1));
  uint64_t first = cache.PutPending(kKey, Version(2));
  cache.Failed(kKey, first);
  EXPECT_FALSE(cache.GetLatest(kKey).has_value());
  cache.Fill(kKey, Version(1));
  uint64_t second = cache.PutPending(kKey, Version(2));
  EXPECT_NE(first, second);
  cache.Failed(kKey, first);  // a late failure of a write built on the old entry
  EXPECT_EQ(cache.GetLatest(kKey)->db_version, 2);
  cache.Committed(kKey, second, Version(2));
  EXPECT_EQ(cache.GetDurable(kKey)->db_version, 2);
}

// Entries with commits in flight are never evicted; others are, least recently used first.
TEST(MutableStateCache, EntriesWithCommitsInFlightAreNotEvicted) {
  MutableStateCache cache(2);
  const persistence::ExecutionKey a{"ns", "a", "r"}, b{"ns", "b", "r"}, c{"ns", "c", "r"};
  uint64_t ga = cache.PutPending(a, Version(1));
  cache.Fill(b, Version(1));
  cache.Fill(c, Version(1));  // evicts b, not the pinned a
  EXPECT_TRUE(cache.GetLatest(a).has_value());
  EXPECT_FALSE(cache.GetLatest(b).has_value());
  EXPECT_TRUE(cache.GetLatest(c).has_value());
  cache.Committed(a, ga, Version(1));
  cache.GetLatest(c);
  cache.Fill(b, Version(1));  // a is now the least recently used and unpinned
  EXPECT_FALSE(cache.GetLatest(a).has_value());
}

// Tail tests: a commit at `db_version` that adds events `first`..`last` (no events when
// first > last), with `previous_started` the last completed workflow task's started event.
struct Commit {
  persistence::StoredExecution stored;
  std::vector<temporal::api::history::v1::HistoryEvent> events;
};
Commit Adding(int64_t db_version, int64_t first, int64_t last, int64_t previous_started = 0,
              size_t payload_bytes = 0) {
  Commit c{Version(db_version), {}};
  for (int64_t id = first; id <= last; ++id) {
    auto& event = c.events.emplace_back();
    event.set_event_id(id);
    if (payload_bytes > 0) {
      event.mutable_workflow_execution_signaled_event_attributes()->set_signal_name(
          std::string(payload_bytes, 'x'));
    }
  }
  c.stored.state.set_next_event_id(std::max(first, last + 1));
  c.stored.state.set_previous_started_event_id(previous_started);
  return c;
}

void CommitTo(MutableStateCache& cache, const Commit& c) {
  uint64_t generation = cache.PutPending(kKey, c.stored);
  cache.Committed(kKey, generation, c.stored, c.events);
}

// The ids of the events CopyEvents gives, or nullopt when it declines.
std::optional<std::vector<int64_t>> Copied(MutableStateCache& cache, int64_t first, int64_t last,
                                           size_t count_max = 1000) {
  google::protobuf::RepeatedPtrField<temporal::api::history::v1::HistoryEvent> out;
  if (!cache.CopyEvents(kKey, first, last, count_max, &out)) {
    EXPECT_TRUE(out.empty());
    return std::nullopt;
  }
  std::vector<int64_t> ids;
  for (const auto& event : out) ids.push_back(event.event_id());
  return ids;
}

using Ids = std::vector<int64_t>;

// A run's commits extend the tail; it answers for any range that starts inside it.
TEST(MutableStateCacheTail, CommitsExtendTheTailUntilAWorkflowTaskCompletes) {
  MutableStateCache cache(8);
  CommitTo(cache, Adding(1, 1, 2));  // started, task scheduled
  CommitTo(cache, Adding(2, 3, 3));  // task started
  EXPECT_EQ(Copied(cache, 1, 3), (Ids{1, 2, 3}));
  EXPECT_EQ(Copied(cache, 1, 2), (Ids{1, 2}));
  EXPECT_EQ(Copied(cache, 2, 9), (Ids{2, 3}));
  EXPECT_EQ(Copied(cache, 4, 9), Ids{});  // nothing from 4 on exists: known, and none
  EXPECT_EQ(Copied(cache, 1, 3, /*count_max=*/2), std::nullopt);
  // The task completed (its started event was 3): a sticky task needs only what follows.
  CommitTo(cache, Adding(3, 4, 5, /*previous_started=*/3));
  EXPECT_EQ(Copied(cache, 1, 5), std::nullopt);
  EXPECT_EQ(Copied(cache, 4, 5), (Ids{4, 5}));
  CommitTo(cache, Adding(4, 6, 6, 3));
  CommitTo(cache, Adding(5, 7, 6, 3));  // a commit that adds no event
  CommitTo(cache, Adding(6, 7, 8, 3));
  EXPECT_EQ(Copied(cache, 4, 8), (Ids{4, 5, 6, 7, 8}));
  // A commit that completes a task whose events it writes too (a transient task's 9 and 10)
  // keeps only what follows that task's started event.
  CommitTo(cache, Adding(7, 9, 12, /*previous_started=*/10));
  EXPECT_EQ(Copied(cache, 9, 12), std::nullopt);
  EXPECT_EQ(Copied(cache, 11, 12), (Ids{11, 12}));
}

// What a read of the store put in the cache comes without its events: the tail is unknown
// until a commit starts one, and then holds only that commit's events.
TEST(MutableStateCacheTail, AFillForgetsTheTailAndAGapStartsANewOne) {
  MutableStateCache cache(8);
  CommitTo(cache, Adding(1, 1, 2));
  cache.Fill(kKey, Adding(3, 3, 4).stored);
  EXPECT_EQ(Copied(cache, 1, 4), std::nullopt);
  EXPECT_EQ(Copied(cache, 4, 4), std::nullopt);
  CommitTo(cache, Adding(4, 5, 6));
  EXPECT_EQ(Copied(cache, 4, 6), std::nullopt);
  EXPECT_EQ(Copied(cache, 5, 6), (Ids{5, 6}));
  // A commit whose events do not follow the tail's (ids skipped) starts over.
  CommitTo(cache, Adding(5, 9, 9));
  EXPECT_EQ(Copied(cache, 5, 9), std::nullopt);
  EXPECT_EQ(Copied(cache, 9, 9), (Ids{9}));
  // An erased entry (a failed commit) has no tail either.
  uint64_t generation = cache.PutPending(kKey, Adding(6, 10, 10).stored);
  cache.Failed(kKey, generation);
  EXPECT_EQ(Copied(cache, 9, 9), std::nullopt);
}

// A commit that is not the next version (one committed in between was not seen) starts over.
TEST(MutableStateCacheTail, OnlyTheNextVersionExtendsTheTail) {
  MutableStateCache cache(8);
  CommitTo(cache, Adding(1, 1, 2));
  CommitTo(cache, Adding(3, 3, 3));
  EXPECT_EQ(Copied(cache, 1, 3), std::nullopt);
  EXPECT_EQ(Copied(cache, 3, 3), (Ids{3}));
}

// The tail keeps at most kTailBytesMax bytes, dropping its oldest events.
TEST(MutableStateCacheTail, TheTailKeepsItsNewestEventsWithinItsByteLimit) {
  MutableStateCache cache(8);
  const size_t quarter = MutableStateCache::kTailBytesMax / 4;
  CommitTo(cache, Adding(1, 1, 2, 0, quarter));
  CommitTo(cache, Adding(2, 3, 4, 0, quarter));
  EXPECT_EQ(Copied(cache, 1, 2), std::nullopt);  // 4 quarters and their framing do not fit
  EXPECT_EQ(Copied(cache, 2, 4), (Ids{2, 3, 4}));
  CommitTo(cache, Adding(3, 5, 5, 0, MutableStateCache::kTailBytesMax));
  EXPECT_EQ(Copied(cache, 5, 5), std::nullopt);  // one event over the limit is not kept
  EXPECT_EQ(Copied(cache, 6, 6), Ids{});
}

}  // namespace
}  // namespace eon::history
