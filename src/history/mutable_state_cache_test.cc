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

}  // namespace
}  // namespace eon::history
