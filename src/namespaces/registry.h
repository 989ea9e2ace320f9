// namespaces: the registry of namespaces, read through on every request. Loaded from the store
// at start and kept in memory (namespaces are few and change rarely).
//
// Several nodes may share the store, each with a registry of its own: a name or id not found in
// memory is looked up in the store (so a namespace registered through another node is found at
// once), the whole registry is read again when it is older than the refresh interval (so another
// node's changes show within it), and an update made over a stale copy is re-applied to the
// stored record rather than lost or refused.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/executor.h"
#include "common/status.h"
#include "eon/v1/state.pb.h"
#include "persistence/store.h"

namespace eon::namespaces {

using Namespace = std::shared_ptr<const eon::v1::NamespaceRecord>;  // shared: immutable snapshot

class Registry {
 public:
  Registry(persistence::Store& store, Clock& clock) : store_(store), clock_(clock) {}

  // How old the loaded copy may grow before a lookup reads the store again (default 10 s).
  void SetRefreshInterval(Duration interval) { refresh_interval_ = interval; }

  // Reads every namespace from the store, replacing what is known.
  Status Load();
  // NOT_FOUND with NamespaceNotFoundFailure when there is no such namespace.
  Result<Namespace> ByName(const std::string& name) const;
  Result<Namespace> ById(const std::string& id) const;
  std::vector<Namespace> All() const;
  // ALREADY_EXISTS (with NamespaceAlreadyExistsFailure) when the name is taken.
  Result<Namespace> Register(const std::string& name, const std::string& description,
                             const std::string& owner_email, Duration retention);
  // Applies `change` to the namespace's record and stores it.
  Result<Namespace> Update(const std::string& name,
                           const std::function<Status(eon::v1::NamespaceRecord&)>& change);
  // Deletes a namespace: at once it is out of service, renamed "<name>-deleted-<5 chars>" (its
  // name is free again) with state DELETED, and that record is returned; then a job on
  // `background` removes its workflows' data and its record (Store::DeleteNamespaceData) and
  // forgets it. If that removal fails, the namespace stays listed as DELETED. "default" cannot be
  // deleted (INVALID_ARGUMENT). REQUIRES: `background` and this registry outlive the job.
  Result<Namespace> Delete(const std::string& name, Executor& background);
  // Registers `name` unless it exists.
  Status Ensure(const std::string& name);

 private:
  // Load, when the copy is older than the refresh interval. Errors are logged (the old copy
  // keeps serving).
  void RefreshIfStale() const;
  Status Reload() const;
  // The namespace by name or id in memory; null when not there. REQUIRES: mutex_ held.
  Namespace FindLocked(const std::string& key, bool by_id) const;
  // Caches `record` (just stored) under its name and id. REQUIRES: mutex_ held.
  Namespace KeepLocked(eon::v1::NamespaceRecord record);
  Result<Namespace> Find(const std::string& key, bool by_id) const;
  Result<Namespace> MarkDeleted(const std::string& name);
  void Forget(const std::string& id);
  // Writes an update made over the cached record; ABORTED if another update came first.
  Status UpdateStored(const eon::v1::NamespaceRecord& record);

  persistence::Store& store_;
  Clock& clock_;
  Duration refresh_interval_ = std::chrono::seconds(10);
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, Namespace> by_name_;  // guarded by mutex_
  mutable std::unordered_map<std::string, Namespace> by_id_;    // guarded by mutex_
  mutable TimePoint loaded_at_{};                               // guarded by mutex_
};

}  // namespace eon::namespaces
