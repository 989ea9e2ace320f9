// The durability counters SqliteDb feeds into /metrics (committed write transactions and the
// fsyncs SQLite makes), and the write-ahead log whose writes are gathered until its sync.
#include "persistence/sqlite_db.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "common/metrics.h"

namespace eon::persistence {
namespace {

// The value of an unlabeled sample in /metrics, or 0 before the first one.
double Sample(const std::string& name) {
  std::istringstream lines(metrics::RenderText());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return 0;
}

TEST(SqliteDbTest, CountsCommitsAndFsyncsOfAFileDatabase) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("eon-sqlite-db-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    auto db = SqliteDb::Open((dir / "test.db").string());
    ASSERT_TRUE(db.ok()) << db.status().message();
    ASSERT_TRUE((*db)->Exec("PRAGMA journal_mode = WAL").ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA synchronous = FULL").ok());
    ASSERT_TRUE((*db)->Exec("CREATE TABLE t (x INTEGER)").ok());
    const double commits = Sample("eon_db_commits_total");
    const double fsyncs = Sample("eon_db_fsyncs_total");
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*db)->Exec("INSERT INTO t VALUES (1)").ok());
    // A read commits nothing.
    ASSERT_TRUE((*db)->Exec("SELECT count(*) FROM t").ok());
    EXPECT_EQ(Sample("eon_db_commits_total"), commits + 3);
    // synchronous=FULL in WAL mode syncs the log at every commit.
    EXPECT_GE(Sample("eon_db_fsyncs_total"), fsyncs + 3);
  }
  std::filesystem::remove_all(dir);
}

// The write system calls this process has made (pwrite included), from /proc/self/io.
int64_t WriteCalls() {
  std::ifstream io("/proc/self/io");
  for (std::string line; std::getline(io, line);) {
    if (line.rfind("syscw: ", 0) == 0) return std::stoll(line.substr(7));
  }
  return -1;
}

class GatheredLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("eon-gathered-log-test-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "test.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SqliteDb> OpenWal(bool gather) {
    auto db = SqliteDb::Open(path_, {.gather_wal_writes = gather});
    EXPECT_TRUE(db.ok()) << db.status().message();
    EXPECT_TRUE((*db)->Exec("PRAGMA journal_mode = WAL").ok());
    EXPECT_TRUE((*db)->Exec("PRAGMA synchronous = FULL").ok());
    return std::move(*db);
  }

  // Rows and total blob bytes of table t, as `db` sees them.
  static std::pair<int64_t, int64_t> Totals(SqliteDb& db) {
    auto stmt = db.Prepare("SELECT count(*), coalesce(sum(length(b)), 0) FROM t");
    EXPECT_TRUE(stmt.ok());
    EXPECT_TRUE((*stmt)->Step());
    return {(*stmt)->ColumnInt(0), (*stmt)->ColumnInt(1)};
  }

  std::filesystem::path dir_;
  std::string path_;
};

// Commits of every size (one row; a few pages; past 128 KiB, where one write of the default VFS
// ends; past the 4 MiB a gathered run holds), with a reader on its own connection checking
// after each commit, a checkpoint that restarts the log midway, and a reopen at the end.
TEST_F(GatheredLogTest, EveryCommitIsThereForAReaderAndAfterAReopen) {
  auto writer = OpenWal(true);
  ASSERT_TRUE(writer->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)").ok());
  auto reader = SqliteDb::Open(path_);
  ASSERT_TRUE(reader.ok());
  int64_t rows = 0;
  int64_t bytes = 0;
  const int sizes[] = {10, 3000, 20000, 140000, 131072, 600000, 5 << 20, 50};
  for (int round = 0; round < 2; ++round) {
    for (int size : sizes) {
      ASSERT_TRUE(writer->Exec("BEGIN").ok());
      for (int i = 0; i < 3; ++i) {
        auto insert = writer->Prepare("INSERT INTO t (b) VALUES (?)");
        ASSERT_TRUE(insert.ok());
        const std::string blob(static_cast<size_t>(size), static_cast<char>('a' + i));
        ASSERT_TRUE((*insert)->BindBlob(1, blob).Run().ok()) << size;
        ++rows;
        bytes += size;
      }
      ASSERT_TRUE(writer->Exec("COMMIT").ok()) << size;
      EXPECT_EQ(Totals(**reader), std::make_pair(rows, bytes)) << size;
    }
    // The log starts over from its beginning after a checkpoint that empties it.
    ASSERT_TRUE(writer->Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  }
  reader->reset();
  writer.reset();
  auto reopened = SqliteDb::Open(path_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(Totals(**reopened), std::make_pair(rows, bytes));
  auto check = (*reopened)->Prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.ok());
  ASSERT_TRUE((*check)->Step());
  EXPECT_EQ((*check)->ColumnText(0), "ok");
}

// What it is for: a commit of about 100 pages reaches the log in a few writes, where SQLite
// alone makes two per page.
TEST_F(GatheredLogTest, ACommitOfManyPagesIsAFewWrites) {
  const std::string blob(400000, 'x');
  auto commit_writes = [&](SqliteDb& db) {
    auto insert = db.Prepare("INSERT INTO t (b) VALUES (?)");
    EXPECT_TRUE(insert.ok());
    const int64_t before = WriteCalls();
    EXPECT_TRUE((*insert)->BindBlob(1, blob).Run().ok());
    return WriteCalls() - before;
  };
  ASSERT_GE(WriteCalls(), 0) << "no /proc/self/io";
  {
    auto plain = OpenWal(false);
    ASSERT_TRUE(plain->Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)").ok());
    EXPECT_GT(commit_writes(*plain), 150);
  }
  auto gathered = OpenWal(true);
  EXPECT_LT(commit_writes(*gathered), 12);
  EXPECT_EQ(Totals(*gathered).first, 2);
}

}  // namespace
}  // namespace eon::persistence
