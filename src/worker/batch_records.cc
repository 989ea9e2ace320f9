#include "worker/batch_records.h"

namespace eon::worker {

Status BatchRecords::Put(const std::string& namespace_name, const Record& record) {
  return store_.PutBatchOperation(namespace_name, record.job_id(), record.SerializeAsString());
}

Status BatchRecords::Delete(const std::string& namespace_name, const std::string& job_id) {
  return store_.DeleteBatchOperation(namespace_name, job_id);
}

Result<std::vector<std::pair<std::string, BatchRecords::Record>>> BatchRecords::LoadAll() {
  EON_ASSIGN_OR_RETURN(auto stored, store_.LoadBatchOperations());
  std::vector<std::pair<std::string, Record>> out;
  out.reserve(stored.size());
  for (auto& [namespace_name, bytes] : stored) {
    Record record;
    if (!record.ParseFromString(bytes)) {
      return Internal("the stored record of batch operation in namespace " + namespace_name +
                      " does not parse");
    }
    out.emplace_back(std::move(namespace_name), std::move(record));
  }
  return out;
}

}  // namespace eon::worker
