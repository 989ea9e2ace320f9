// Which search attributes a workflow may set, and which values they accept, as Temporal checks
// them (common/searchattribute/validator.go): at start (StartWorkflowExecution,
// SignalWithStart), on UpsertWorkflowSearchAttributes, child starts and continue-as-new.
// An attribute must be registered in the namespace (custom) or be one of Temporal's predefined
// settable ones (TemporalChangeVersion, BuildIds, ...); system attributes (WorkflowId, ...) cannot
// be set; each value must decode as its type; the number and size of values are limited.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "temporal/api/common/v1/message.pb.h"

namespace eon::visibility {

// Temporal's defaults (dynamic config limit.numberOfSearchAttributes..., sizeOfValue, totalSize).
constexpr int kSearchAttributesCountMax = 100;
constexpr int64_t kSearchAttributeValueBytesMax = 2 * 1024;
constexpr int64_t kSearchAttributesTotalBytesMax = 40 * 1024;

// INVALID_ARGUMENT with Temporal's message when `attributes` may not be set. `custom_types` maps
// the namespace's registered attributes to their temporal.api.enums.v1.IndexedValueType.
Status ValidateSearchAttributes(const temporal::api::common::v1::SearchAttributes& attributes,
                                const std::map<std::string, int>& custom_types);

}  // namespace eon::visibility
