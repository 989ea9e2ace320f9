// The stores the conformance suite (store_test.cc) runs on: SQLite on a file of its own, and
// PostgreSQL on a schema of its own in the server named by EON_TEST_POSTGRES_URL
// (scripts/with-postgres.sh starts one and sets it; scripts/test.sh runs the unit tests under
// it). Without that variable the PostgreSQL half skips, except under CI (CI set), where it fails.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "persistence/store.h"

namespace eon::persistence {

class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // "sqlite" or "postgres".
  virtual std::string kind() const = 0;
  // Opens this test's database (again, for a reopen); shard_count as the stores' options.
  virtual Result<std::unique_ptr<Store>> Open(int32_t shard_count = 0) = 0;
  // Runs SQL on the database behind the store's back (old or half-migrated schemas).
  virtual Status Exec(const std::string& sql) = 0;
  // The database the store opens (a path or a URL).
  virtual std::string database() const = 0;
};

// The backend of `kind` for the running test. `why` tells why it is null: no PostgreSQL
// server configured (a skip, or a failure under CI) or it could not be prepared.
std::unique_ptr<StoreBackend> MakeStoreBackend(const std::string& kind, std::string* why);

// The server URL of EON_TEST_POSTGRES_URL, or "" when unset.
std::string TestPostgresUrl();

}  // namespace eon::persistence
