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

// A read made without the execution's lock may finish after a newer commit was cached.
TEST(MutableStateCache, AFillNeverReplacesANewerEntry) {
  MutableStateCache cache(8);
  const persistence::ExecutionKey key{"ns", "wf", "run"};
  cache.Put(key, Version(6));
  cache.Fill(key, Version(5));
  EXPECT_EQ(cache.Get(key)->db_version, 6);
  cache.Fill(key, Version(7));
  EXPECT_EQ(cache.Get(key)->db_version, 7);
  cache.Erase(key);
  cache.Fill(key, Version(3));
  EXPECT_EQ(cache.Get(key)->db_version, 3);
}

}  // namespace
}  // namespace eon::history
