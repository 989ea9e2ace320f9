#include "visibility/search_attributes.h"

#include <gtest/gtest.h>

#include "temporal/api/enums/v1/common.pb.h"

namespace eon::visibility {
namespace {

namespace enums = temporal::api::enums::v1;
namespace common = temporal::api::common::v1;

common::SearchAttributes One(const std::string& name, const std::string& json) {
  common::SearchAttributes attributes;
  auto& payload = (*attributes.mutable_indexed_fields())[name];
  (*payload.mutable_metadata())["encoding"] = "json/plain";
  payload.set_data(json);
  return attributes;
}

const std::map<std::string, int> kCustom = {
    {"CustomKeywordField", enums::INDEXED_VALUE_TYPE_KEYWORD},
    {"CustomIntField", enums::INDEXED_VALUE_TYPE_INT},
    {"CustomDatetimeField", enums::INDEXED_VALUE_TYPE_DATETIME},
    {"CustomListField", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
};

std::string Message(const common::SearchAttributes& attributes) {
  Status status = ValidateSearchAttributes(attributes, kCustom);
  EXPECT_TRUE(status.ok() || status.code() == StatusCode::INVALID_ARGUMENT);
  return status.message();
}

TEST(ValidateSearchAttributes, AcceptsRegisteredAndPredefinedValuesOfTheirType) {
  EXPECT_EQ(Message(One("CustomKeywordField", R"("gold")")), "");
  EXPECT_EQ(Message(One("CustomKeywordField", R"(["gold"])")), "");  // older SDKs send lists
  EXPECT_EQ(Message(One("CustomIntField", "7")), "");
  EXPECT_EQ(Message(One("CustomIntField", "[7]")), "");
  EXPECT_EQ(Message(One("CustomDatetimeField", R"("2024-01-02T03:04:05Z")")), "");
  EXPECT_EQ(Message(One("CustomListField", R"(["a","b"])")), "");
  EXPECT_EQ(Message(One("TemporalChangeVersion", R"(["patch-1"])")), "");
  EXPECT_EQ(Message(One("CustomKeywordField", "null")), "");  // removes the attribute
}

TEST(ValidateSearchAttributes, RefusesWithTemporalsMessages) {
  EXPECT_EQ(Message(One("Unregistered", R"("x")")), "search attribute Unregistered is not defined");
  EXPECT_EQ(Message(One("WorkflowId", R"("x")")),
            "WorkflowId attribute can't be set in SearchAttributes");
  EXPECT_EQ(Message(One("CustomIntField", R"("seven")")),
            R"("seven" is not a valid value for search attribute CustomIntField of type Int)");
  EXPECT_EQ(Message(One("CustomDatetimeField", R"("yesterday")")),
            R"("yesterday" is not a valid value for search attribute CustomDatetimeField of type )"
            "Datetime");
  EXPECT_EQ(Message(One("CustomKeywordField", "{not json")),
            "{not json is not a valid value for search attribute CustomKeywordField of type "
            "Keyword");
}

// Issue 11, input 5: JSON nested 100,000 deep in a search attribute.
TEST(ValidateSearchAttributes, RefusesDeeplyNestedJsonWithoutRecursing) {
  std::string deep(100'000, '[');
  deep += std::string(100'000, ']');
  auto attributes = One("CustomKeywordField", deep);
  (*attributes.mutable_indexed_fields())["CustomKeywordField"].set_data(deep);
  Status status = ValidateSearchAttributes(attributes, kCustom);
  EXPECT_EQ(status.code(), StatusCode::INVALID_ARGUMENT);
  // Deep but small enough for the value size limit: still refused by type.
  std::string nested(500, '[');
  nested += std::string(500, ']');
  EXPECT_NE(Message(One("CustomListField", nested)).find("is not a valid value"),
            std::string::npos);
}

TEST(ValidateSearchAttributes, RefusesTooManyOrTooLarge) {
  common::SearchAttributes many;
  for (int i = 0; i <= kSearchAttributesCountMax; ++i) {
    (*many.mutable_indexed_fields())["CustomKeywordField" + std::to_string(i)].set_data("\"x\"");
  }
  EXPECT_EQ(Message(many), "number of search attributes 101 exceeds limit 100");
  std::string big = "\"" + std::string(kSearchAttributeValueBytesMax, 'x') + "\"";
  EXPECT_NE(Message(One("CustomKeywordField", big)).find("exceeds size limit 2048"),
            std::string::npos);
}

}  // namespace
}  // namespace eon::visibility
