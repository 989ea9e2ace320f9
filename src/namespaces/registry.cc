#include "namespaces/registry.h"

#include <algorithm>

#include "common/ids.h"
#include "common/log.h"
#include "temporal/api/errordetails/v1/message.pb.h"

namespace eon::namespaces {

namespace {
constexpr auto kDefaultRetention = std::chrono::hours(24);
}

Status Registry::Load() { return Reload(); }

Status Registry::Reload() const {
  const TimePoint started = clock_.Now();
  EON_ASSIGN_OR_RETURN(auto records, store_.ListNamespaces());
  std::unordered_map<std::string, Namespace> by_name, by_id;
  std::lock_guard lock(mutex_);
  for (auto& record : records) {
    auto ns = std::make_shared<const eon::v1::NamespaceRecord>(std::move(record));
    // An update this node made while the read ran is newer than what the read saw.
    auto cached = by_id_.find(ns->info().id());
    if (cached != by_id_.end() && cached->second->record_version() > ns->record_version()) {
      ns = cached->second;
    }
    by_name[ns->info().name()] = ns;
    by_id[ns->info().id()] = ns;
  }
  by_name_ = std::move(by_name);
  by_id_ = std::move(by_id);
  loaded_at_ = started;
  return Status::Ok();
}

void Registry::RefreshIfStale() const {
  {
    std::lock_guard lock(mutex_);
    if (clock_.Now() - loaded_at_ < refresh_interval_) return;
    loaded_at_ = clock_.Now();  // one caller reads; the others go on with this copy meanwhile
  }
  Status reloaded = Reload();
  if (!reloaded.ok()) LOG_WARN("cannot read the namespaces again: " << reloaded.message());
}

Namespace Registry::KeepLocked(eon::v1::NamespaceRecord record) {
  auto ns = std::make_shared<const eon::v1::NamespaceRecord>(std::move(record));
  by_name_[ns->info().name()] = ns;
  by_id_[ns->info().id()] = ns;
  return ns;
}

Namespace Registry::FindLocked(const std::string& key, bool by_id) const {
  const auto& index = by_id ? by_id_ : by_name_;
  auto it = index.find(key);
  return it == index.end() ? nullptr : it->second;
}

Result<Namespace> Registry::Find(const std::string& key, bool by_id) const {
  RefreshIfStale();
  {
    std::lock_guard lock(mutex_);
    if (Namespace ns = FindLocked(key, by_id)) return ns;
  }
  // Maybe registered through another node since the last read.
  EON_RETURN_IF_ERROR(Reload());
  std::lock_guard lock(mutex_);
  if (Namespace ns = FindLocked(key, by_id)) return ns;
  if (by_id) return NotFound("Namespace id " + key + " is not found.");
  temporal::api::errordetails::v1::NamespaceNotFoundFailure detail;
  detail.set_namespace_(key);
  return NotFound("Namespace " + key + " is not found.").WithDetail(detail);
}

Result<Namespace> Registry::ByName(const std::string& name) const { return Find(name, false); }

Result<Namespace> Registry::ById(const std::string& id) const { return Find(id, true); }

std::vector<Namespace> Registry::All() const {
  RefreshIfStale();
  std::lock_guard lock(mutex_);
  std::vector<Namespace> out;
  for (const auto& [name, ns] : by_name_) out.push_back(ns);
  std::sort(out.begin(), out.end(), [](const Namespace& a, const Namespace& b) {
    return a->info().name() < b->info().name();
  });
  return out;
}

Result<Namespace> Registry::Register(const std::string& name, const std::string& description,
                                     const std::string& owner_email, Duration retention) {
  eon::v1::NamespaceRecord record;
  auto* info = record.mutable_info();
  info->set_name(name);
  info->set_id(NewUuid());
  info->set_state(temporal::api::enums::v1::NAMESPACE_STATE_REGISTERED);
  info->set_description(description);
  info->set_owner_email(owner_email);
  auto* config = record.mutable_config();
  *config->mutable_workflow_execution_retention_ttl() =
      ToProtoDuration(retention.count() > 0 ? retention : Duration(kDefaultRetention));
  config->set_history_archival_state(temporal::api::enums::v1::ARCHIVAL_STATE_DISABLED);
  config->set_visibility_archival_state(temporal::api::enums::v1::ARCHIVAL_STATE_DISABLED);
  Status created = store_.CreateNamespace(record);
  if (created.code() == StatusCode::ALREADY_EXISTS) {
    return AlreadyExists("Namespace already exists.")
        .WithDetail(temporal::api::errordetails::v1::NamespaceAlreadyExistsFailure());
  }
  EON_RETURN_IF_ERROR(created);
  std::lock_guard lock(mutex_);
  return KeepLocked(std::move(record));
}

Status Registry::UpdateStored(const eon::v1::NamespaceRecord& record) {
  Status updated = store_.UpdateNamespace(record);
  if (updated.code() == StatusCode::ABORTED) {
    // Another update won (and holds the cached copy): this one is refused, not merged.
    return Aborted("namespace " + record.info().name() + " was changed concurrently; retry");
  }
  return updated;
}

Result<Namespace> Registry::Update(const std::string& name,
                                   const std::function<Status(eon::v1::NamespaceRecord&)>& change) {
  // Another node may have updated the record since this copy was read: the change is then
  // applied again to the stored record, a few times at most.
  constexpr int kAttemptsMax = 5;
  for (int attempt = 1;; ++attempt) {
    EON_ASSIGN_OR_RETURN(Namespace current, ByName(name));
    eon::v1::NamespaceRecord record = *current;
    EON_RETURN_IF_ERROR(change(record));
    record.set_record_version(current->record_version() + 1);
    Status stored = UpdateStored(record);
    if (stored.code() == StatusCode::ABORTED && attempt < kAttemptsMax) {
      EON_RETURN_IF_ERROR(Reload());
      continue;
    }
    EON_RETURN_IF_ERROR(stored);
    std::lock_guard lock(mutex_);
    return KeepLocked(std::move(record));
  }
}

Result<Namespace> Registry::MarkDeleted(const std::string& name) {
  if (name == "default") return InvalidArgument("Namespace default cannot be deleted.");
  EON_ASSIGN_OR_RETURN(Namespace current, ByName(name));
  eon::v1::NamespaceRecord record = *current;
  record.mutable_info()->set_name(name + "-deleted-" + NewUuid().substr(0, 5));
  record.mutable_info()->set_state(temporal::api::enums::v1::NAMESPACE_STATE_DELETED);
  record.set_record_version(current->record_version() + 1);
  EON_RETURN_IF_ERROR(UpdateStored(record));
  std::lock_guard lock(mutex_);
  by_name_.erase(name);
  return KeepLocked(std::move(record));
}

Result<Namespace> Registry::Delete(const std::string& name, Executor& background) {
  EON_ASSIGN_OR_RETURN(Namespace deleted, MarkDeleted(name));
  background.Submit([this, id = deleted->info().id()] {
    Status removed = store_.DeleteNamespaceData(id);
    if (removed.ok()) Forget(id);
  });
  return deleted;
}

void Registry::Forget(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  by_name_.erase(it->second->info().name());
  by_id_.erase(it);
}

Status Registry::Ensure(const std::string& name) {
  if (ByName(name).ok()) return Status::Ok();
  auto registered = Register(name, "", "", Duration(kDefaultRetention));
  if (!registered.ok() && registered.status().code() != StatusCode::ALREADY_EXISTS) {
    return registered.status();
  }
  return Status::Ok();
}

}  // namespace eon::namespaces
