// visibility: the listings of workflow runs and of schedules, and each namespace's custom search
// attributes (the registry that list filters and workflows' search attributes are checked
// against). The frontend reaches them only through this class; the rows themselves are written
// by their owners (history's outbox upserts runs' listings, worker/scheduler.h schedules').
//
// Thread-safe; every call may block on the store.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "persistence/store.h"
#include "persistence/visibility_filter.h"

namespace eon::visibility {

class Visibility {
 public:
  explicit Visibility(persistence::Store& store) : store_(store) {}

  // The system attributes, as GetSearchAttributes and ListSearchAttributes report them.
  static const std::map<std::string, persistence::IndexedValueType>& SystemAttributes();

  // The namespace's custom attributes: name -> temporal.api.enums.v1.IndexedValueType.
  Result<std::map<std::string, int>> CustomAttributes(const std::string& namespace_id);
  // Registers a custom attribute. INVALID_ARGUMENT when the name is not 1 to 255 letters, digits,
  // '_', '-' or '.', is a system attribute's, or the type is not a known IndexedValueType;
  // ALREADY_EXISTS when the name is taken with another type.
  Status AddCustomAttribute(const std::string& namespace_id, const std::string& name, int type);
  // NOT_FOUND when absent.
  Status RemoveCustomAttribute(const std::string& namespace_id, const std::string& name);

  // `query` (visibility/query.h) parsed against the namespace's attributes; INVALID_ARGUMENT
  // naming the problem.
  Result<persistence::VisibilityFilter> ParseFilter(const std::string& namespace_id,
                                                    const std::string& query);
  // `info` of the matching runs (schedules), in filter order, `limit` from `offset` on.
  Result<std::vector<std::string>> ListWorkflows(const std::string& namespace_id,
                                                 const persistence::VisibilityFilter& filter,
                                                 int limit, int64_t offset);
  Result<std::vector<std::string>> ListSchedules(const std::string& namespace_id,
                                                 const persistence::VisibilityFilter& filter,
                                                 int limit, int64_t offset);
  // (group value or 0, count) pairs of the matching runs; one pair without GROUP BY.
  Result<std::vector<std::pair<int64_t, int64_t>>> Count(
      const std::string& namespace_id, const persistence::VisibilityFilter& filter);

 private:
  persistence::Store& store_;
};

}  // namespace eon::visibility
