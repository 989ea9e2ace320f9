// The durability counters SqliteDb feeds into /metrics: committed write transactions and the
// fsyncs SQLite makes.
#include "persistence/sqlite_db.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
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

}  // namespace
}  // namespace eon::persistence
