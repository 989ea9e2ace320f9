// SQLite's own cases; the contract every store keeps is tested in store_test.cc.
#include "persistence/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "persistence/sqlite_db.h"

namespace eon::persistence {
namespace {

std::string TempPath(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("eon-store-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");
  return path.string();
}

TEST(SqliteStore, FixesTheShardCountWhenTheDatabaseIsCreated) {
  std::string path = TempPath("shards.db");
  {
    auto created = SqliteStore::Open({.path = path, .shard_count = 8});
    ASSERT_TRUE(created.ok()) << created.status().message();
    EXPECT_EQ(*(*created)->ShardCount(), 8);
    auto range_ids = (*created)->AcquireShards();
    ASSERT_TRUE(range_ids.ok());
    EXPECT_EQ(range_ids->size(), 8u);
  }
  {
    auto any = SqliteStore::Open({.path = path});  // 0: whatever the database has
    ASSERT_TRUE(any.ok()) << any.status().message();
    EXPECT_EQ(*(*any)->ShardCount(), 8);
  }
  auto other = SqliteStore::Open({.path = path, .shard_count = 4});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(other.status().message().find("created with 8 shards"), std::string::npos)
      << other.status().message();
  auto fresh = SqliteStore::Open({.path = TempPath("default-shards.db")});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(*(*fresh)->ShardCount(), 4);
}

TEST(SqliteStore, RefusesAFileThatIsNotAnEonDatabase) {
  std::string path = TempPath("not-a-db.txt");
  {
    std::ofstream out(path);
    for (int i = 0; i < 200; ++i) out << "hello, this is not a database\n";
  }
  auto store = SqliteStore::Open({.path = path});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(store.status().message().find("not an Eon database"), std::string::npos);
}

// A full disk is told apart from a lost condition ("changed concurrently") and from a bug.
TEST(SqliteDb, AFullDatabaseIsResourceExhausted) {
  auto db = SqliteDb::Open(":memory:");
  ASSERT_TRUE(db.ok()) << db.status().message();
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t (b BLOB)").ok());
  ASSERT_TRUE((*db)->Exec("PRAGMA max_page_count = 8").ok());
  Status full = (*db)->Exec("INSERT INTO t VALUES (zeroblob(1000000))");
  EXPECT_EQ(full.code(), StatusCode::RESOURCE_EXHAUSTED) << full.message();
  EXPECT_NE(full.message().find("disk is full"), std::string::npos) << full.message();
  auto stmt = (*db)->Prepare("INSERT INTO t VALUES (zeroblob(1000000))");
  ASSERT_TRUE(stmt.ok());
  EXPECT_EQ((*stmt)->Run().code(), StatusCode::RESOURCE_EXHAUSTED);
}

}  // namespace
}  // namespace eon::persistence
