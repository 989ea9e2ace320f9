#include "visibility/visibility.h"

#include <cctype>

#include "persistence/indexed_value_type.h"
#include "visibility/query.h"

namespace eon::visibility {
namespace {

namespace enums = temporal::api::enums::v1;

Status CheckName(const std::string& name) {
  if (name.empty() || name.size() > persistence::kMaxAttributeNameBytes) {
    return InvalidArgument("A search attribute name must have 1 to 255 characters.");
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      return InvalidArgument("Search attribute name " + name +
                             " may contain only letters, digits, '_', '-' and '.'.");
    }
  }
  return Status::Ok();
}

}  // namespace

const std::map<std::string, persistence::IndexedValueType>& Visibility::SystemAttributes() {
  static const auto* kSystem = new std::map<std::string, persistence::IndexedValueType>{
      {"WorkflowId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"RunId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"WorkflowType", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"ExecutionStatus", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"StartTime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"CloseTime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"ExecutionTime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"ExecutionDuration", enums::INDEXED_VALUE_TYPE_INT},
      {"TaskQueue", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"HistoryLength", enums::INDEXED_VALUE_TYPE_INT},
      {"HistorySizeBytes", enums::INDEXED_VALUE_TYPE_INT},
      {"StateTransitionCount", enums::INDEXED_VALUE_TYPE_INT},
      {"ParentWorkflowId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"ParentRunId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"RootWorkflowId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"RootRunId", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"TemporalChangeVersion", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
      {"BuildIds", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
      {"TemporalScheduledStartTime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"TemporalScheduledById", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"TemporalSchedulePaused", enums::INDEXED_VALUE_TYPE_BOOL},
  };
  return *kSystem;
}

Result<std::map<std::string, int>> Visibility::CustomAttributes(const std::string& namespace_id) {
  return store_.SearchAttributes(namespace_id);
}

Status Visibility::AddCustomAttribute(const std::string& namespace_id, const std::string& name,
                                      int type) {
  EON_RETURN_IF_ERROR(CheckName(name));
  if (SystemAttributes().count(name)) {
    return InvalidArgument("Search attribute " + name + " is reserved by the system.");
  }
  if (!persistence::IsIndexedValueType(type)) {
    return InvalidArgument("unknown search attribute type " + std::to_string(type));
  }
  return store_.AddSearchAttribute(namespace_id, name, type);
}

Status Visibility::RemoveCustomAttribute(const std::string& namespace_id, const std::string& name) {
  return store_.RemoveSearchAttribute(namespace_id, name);
}

Result<persistence::VisibilityFilter> Visibility::ParseFilter(const std::string& namespace_id,
                                                              const std::string& query) {
  EON_ASSIGN_OR_RETURN(auto custom, store_.SearchAttributes(namespace_id));
  return ParseQuery(query, custom);
}

Result<std::vector<std::string>> Visibility::ListWorkflows(
    const std::string& namespace_id, const persistence::VisibilityFilter& filter, int limit,
    int64_t offset) {
  return store_.ListVisibility(namespace_id, filter, limit, offset);
}

Result<std::vector<std::string>> Visibility::ListSchedules(
    const std::string& namespace_id, const persistence::VisibilityFilter& filter, int limit,
    int64_t offset) {
  return store_.ListSchedules(namespace_id, filter, limit, offset);
}

Result<std::vector<std::pair<int64_t, int64_t>>> Visibility::Count(
    const std::string& namespace_id, const persistence::VisibilityFilter& filter) {
  return store_.CountVisibility(namespace_id, filter);
}

}  // namespace eon::visibility
