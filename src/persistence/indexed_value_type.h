// The names of search attribute types (temporal.api.enums.v1.IndexedValueType) as Temporal's
// API and error messages spell them: "Text", "Keyword", "Int", "Double", "Bool", "Datetime",
// "KeywordList".
#pragma once

#include <string_view>

namespace eon::persistence {

// "Unspecified" for INDEXED_VALUE_TYPE_UNSPECIFIED and for any value that is not a type.
std::string_view IndexedValueTypeName(int type);
// True for the seven types above.
bool IsIndexedValueType(int type);

}  // namespace eon::persistence
