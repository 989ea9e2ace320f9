#include "persistence/indexed_value_type.h"

#include "temporal/api/enums/v1/common.pb.h"

namespace eon::persistence {

namespace enums = temporal::api::enums::v1;

std::string_view IndexedValueTypeName(int type) {
  switch (type) {
    case enums::INDEXED_VALUE_TYPE_TEXT:
      return "Text";
    case enums::INDEXED_VALUE_TYPE_KEYWORD:
      return "Keyword";
    case enums::INDEXED_VALUE_TYPE_INT:
      return "Int";
    case enums::INDEXED_VALUE_TYPE_DOUBLE:
      return "Double";
    case enums::INDEXED_VALUE_TYPE_BOOL:
      return "Bool";
    case enums::INDEXED_VALUE_TYPE_DATETIME:
      return "Datetime";
    case enums::INDEXED_VALUE_TYPE_KEYWORD_LIST:
      return "KeywordList";
    default:
      return "Unspecified";
  }
}

bool IsIndexedValueType(int type) {
  return type != enums::INDEXED_VALUE_TYPE_UNSPECIFIED &&
         IndexedValueTypeName(type) != "Unspecified";
}

}  // namespace eon::persistence
