#include "visibility/search_attributes.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "common/json_depth.h"
#include "persistence/indexed_value_type.h"
#include "temporal/api/enums/v1/common.pb.h"
#include "visibility/query.h"

namespace eon::visibility {
namespace {

namespace enums = temporal::api::enums::v1;

// Set by the server only; a workflow may not set them.
const std::set<std::string>& SystemNames() {
  static const auto* kNames = new std::set<std::string>{"WorkflowId",       "RunId",
                                                        "WorkflowType",     "ExecutionStatus",
                                                        "StartTime",        "CloseTime",
                                                        "ExecutionTime",    "ExecutionDuration",
                                                        "TaskQueue",        "HistoryLength",
                                                        "HistorySizeBytes", "StateTransitionCount",
                                                        "ParentWorkflowId", "ParentRunId",
                                                        "RootWorkflowId",   "RootRunId",
                                                        "NamespaceId",      "VisibilityTaskKey"};
  return *kNames;
}

// Temporal's predefined attributes that workflows and the server's own workers may set.
const std::map<std::string, int>& PredefinedTypes() {
  static const auto* kTypes = new std::map<std::string, int>{
      {"TemporalChangeVersion", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
      {"BinaryChecksums", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
      {"BuildIds", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
      {"BatcherNamespace", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"BatcherUser", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"TemporalScheduledStartTime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"TemporalScheduledById", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"TemporalSchedulePaused", enums::INDEXED_VALUE_TYPE_BOOL},
      {"TemporalNamespaceDivision", enums::INDEXED_VALUE_TYPE_KEYWORD},
  };
  return *kTypes;
}

bool ScalarFits(const nlohmann::json& value, int type) {
  switch (type) {
    case enums::INDEXED_VALUE_TYPE_TEXT:
    case enums::INDEXED_VALUE_TYPE_KEYWORD:
    case enums::INDEXED_VALUE_TYPE_KEYWORD_LIST:
      return value.is_string();
    case enums::INDEXED_VALUE_TYPE_INT:
      return value.is_number_integer() ||
             (value.is_number_float() &&
              std::nearbyint(value.get<double>()) == value.get<double>() &&
              std::fabs(value.get<double>()) < 9.2e18);
    case enums::INDEXED_VALUE_TYPE_DOUBLE:
      return value.is_number();
    case enums::INDEXED_VALUE_TYPE_BOOL:
      return value.is_boolean();
    case enums::INDEXED_VALUE_TYPE_DATETIME:
      return value.is_string() && ParseRfc3339Nanos(value.get<std::string>()).ok();
    default:
      return false;
  }
}

// A value decodes as `type`: the scalar, or (as older SDKs send every value) a list of them;
// null (or an empty payload) removes the attribute.
bool ValueFits(const temporal::api::common::v1::Payload& payload, int type) {
  const std::string& data = payload.data();
  auto encoding = payload.metadata().find("encoding");
  if (encoding != payload.metadata().end() && encoding->second == "binary/null") return true;
  if (data.empty()) return true;
  // Every valid value is a scalar or a flat list; anything deeper is refused before parsing.
  if (JsonNestingDepth(data, 1) > 1) return false;
  auto value = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return false;
  if (value.is_null()) return true;
  if (value.is_array()) {
    for (const auto& item : value) {
      if (!ScalarFits(item, type)) return false;
    }
    return true;
  }
  return ScalarFits(value, type);
}

std::string Shown(const std::string& data) {
  constexpr size_t kShownBytesMax = 100;
  if (data.size() <= kShownBytesMax) return data;
  return data.substr(0, kShownBytesMax) + "...";
}

}  // namespace

Status ValidateSearchAttributes(const temporal::api::common::v1::SearchAttributes& attributes,
                                const std::map<std::string, int>& custom_types) {
  const auto& fields = attributes.indexed_fields();
  if (static_cast<int>(fields.size()) > kSearchAttributesCountMax) {
    return InvalidArgument("number of search attributes " + std::to_string(fields.size()) +
                           " exceeds limit " + std::to_string(kSearchAttributesCountMax));
  }
  for (const auto& [name, payload] : fields) {
    if (SystemNames().count(name)) {
      return InvalidArgument(name + " attribute can't be set in SearchAttributes");
    }
    int type = 0;
    if (auto custom = custom_types.find(name); custom != custom_types.end()) {
      type = custom->second;
    } else if (auto predefined = PredefinedTypes().find(name);
               predefined != PredefinedTypes().end()) {
      type = predefined->second;
    } else {
      return InvalidArgument("search attribute " + name + " is not defined");
    }
    if (!ValueFits(payload, type)) {
      return InvalidArgument(Shown(payload.data()) + " is not a valid value for search attribute " +
                             name + " of type " +
                             std::string(persistence::IndexedValueTypeName(type)));
    }
    if (static_cast<int64_t>(payload.data().size()) > kSearchAttributeValueBytesMax) {
      return InvalidArgument("search attribute " + name + " value of size " +
                             std::to_string(payload.data().size()) + ": exceeds size limit " +
                             std::to_string(kSearchAttributeValueBytesMax));
    }
  }
  const auto total = static_cast<int64_t>(attributes.ByteSizeLong());
  if (total > kSearchAttributesTotalBytesMax) {
    return InvalidArgument("total size of search attributes " + std::to_string(total) +
                           ": exceeds size limit " +
                           std::to_string(kSearchAttributesTotalBytesMax));
  }
  return Status::Ok();
}

}  // namespace eon::visibility
