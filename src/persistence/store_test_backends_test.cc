// (The backends of the store conformance suite; in a _test.cc file so that it is built into the
// unit test binary only.)
#include "persistence/store_test_backends.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "persistence/postgres_store.h"
#include "persistence/sqlite_db.h"
#include "persistence/sqlite_store.h"

namespace eon::persistence {
namespace {

class SqliteBackend final : public StoreBackend {
 public:
  explicit SqliteBackend(std::string path) : path_(std::move(path)) {}
  ~SqliteBackend() override {
    std::filesystem::remove_all(std::filesystem::path(path_).parent_path());
  }
  std::string kind() const override { return "sqlite"; }
  Result<std::unique_ptr<Store>> Open(int32_t shard_count) override {
    EON_ASSIGN_OR_RETURN(auto store,
                         SqliteStore::Open({.path = path_, .shard_count = shard_count}));
    return std::unique_ptr<Store>(std::move(store));
  }
  Status Exec(const std::string& sql) override {
    EON_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path_));
    return db->Exec(sql);
  }
  std::string database() const override { return path_; }

 private:
  std::string path_;
};

class PostgresBackend final : public StoreBackend {
 public:
  PostgresBackend(std::string server, std::string schema)
      : server_(std::move(server)), schema_(std::move(schema)) {
    url_ = server_ + (server_.find('?') == std::string::npos ? "?" : "&") +
           "options=-csearch_path%3D" + schema_;
  }
  ~PostgresBackend() override {
    if (auto admin = PgConnection::Connect(server_); admin.ok()) {
      (*admin)->Exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    }
  }
  std::string kind() const override { return "postgres"; }
  Result<std::unique_ptr<Store>> Open(int32_t shard_count) override {
    EON_ASSIGN_OR_RETURN(auto store,
                         PostgresStore::Open({.url = url_, .shard_count = shard_count}));
    return std::unique_ptr<Store>(std::move(store));
  }
  Status Exec(const std::string& sql) override {
    EON_ASSIGN_OR_RETURN(auto db, PgConnection::Connect(url_));
    return db->Exec(sql);
  }
  std::string database() const override { return url_; }

 private:
  std::string server_;
  std::string schema_;
  std::string url_;
};

std::string UniqueName() {
  static std::atomic<int> counter{0};
  return std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

}  // namespace

std::string TestPostgresUrl() {
  const char* url = std::getenv("EON_TEST_POSTGRES_URL");
  return url ? url : "";
}

std::unique_ptr<StoreBackend> MakeStoreBackend(const std::string& kind, std::string* why) {
  if (kind == "sqlite") {
    auto dir = std::filesystem::temp_directory_path() / ("eon-store-" + UniqueName());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return std::make_unique<SqliteBackend>((dir / "eon.db").string());
  }
  const std::string server = TestPostgresUrl();
  if (server.empty()) {
    *why = "EON_TEST_POSTGRES_URL is not set (run under scripts/with-postgres.sh)";
    return nullptr;
  }
  const std::string schema = "eon_test_" + UniqueName();
  auto admin = PgConnection::Connect(server);
  if (!admin.ok()) {
    *why = admin.status().message();
    return nullptr;
  }
  if (Status made =
          (*admin)->Exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema);
      !made.ok()) {
    *why = made.message();
    return nullptr;
  }
  return std::make_unique<PostgresBackend>(server, schema);
}

}  // namespace eon::persistence
