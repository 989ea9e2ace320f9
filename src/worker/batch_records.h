// The durable records of batch operations (frontend/batch_service.h runs the jobs; Temporal's
// batcher lives in its worker service, hence this folder). A record is the job's
// DescribeBatchOperationResponse, kept per namespace name and job id, replaced as the job goes
// on, so Describe and List answer across a restart.
//
// Thread-safe; every call may block on the store.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "persistence/store.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::worker {

class BatchRecords {
 public:
  using Record = temporal::api::workflowservice::v1::DescribeBatchOperationResponse;

  explicit BatchRecords(persistence::Store& store) : store_(store) {}

  // Writes (or replaces) the record of job record.job_id() in `namespace_name`.
  Status Put(const std::string& namespace_name, const Record& record);
  // NOT_FOUND when absent.
  Status Delete(const std::string& namespace_name, const std::string& job_id);
  // Every record as (namespace name, record), in the order they were first put. INTERNAL when a
  // stored record does not parse.
  Result<std::vector<std::pair<std::string, Record>>> LoadAll();

 private:
  persistence::Store& store_;
};

}  // namespace eon::worker
