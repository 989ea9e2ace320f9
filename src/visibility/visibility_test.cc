#include "visibility/visibility.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "persistence/sqlite_store.h"

namespace eon::visibility {
namespace {

namespace enums = temporal::api::enums::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class VisibilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = persistence::SqliteStore::Open(persistence::SqliteOptions{});
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
    visibility_ = std::make_unique<Visibility>(*store_);
  }

  void AddRun(const std::string& run, int64_t status, const std::string& search_attributes) {
    persistence::VisibilityRow row;
    row.namespace_id = "ns";
    row.run_id = run;
    row.workflow_id = "wf-" + run;
    row.workflow_type = "T";
    row.status = status;
    row.task_queue = "q";
    row.search_attributes_json = search_attributes;
    row.info = run;
    ASSERT_TRUE(store_->UpsertVisibility(row).ok());
  }

  std::unique_ptr<persistence::SqliteStore> store_;
  std::unique_ptr<Visibility> visibility_;
};

TEST_F(VisibilityTest, CustomAttributesAreCheckedThenRegistered) {
  const int keyword = enums::INDEXED_VALUE_TYPE_KEYWORD;
  struct Bad {
    std::string name;
    int type;
    std::string message;
  };
  const Bad bad[] = {
      {"", keyword, "must have 1 to 255 characters"},
      {std::string(256, 'a'), keyword, "must have 1 to 255 characters"},
      {"a b", keyword, "may contain only letters, digits"},
      {"O'Brien", keyword, "may contain only letters, digits"},
      {"WorkflowId", keyword, "Search attribute WorkflowId is reserved by the system."},
      {"Color", enums::INDEXED_VALUE_TYPE_UNSPECIFIED, "unknown search attribute type 0"},
      {"Color", 99, "unknown search attribute type 99"},
  };
  for (const Bad& b : bad) {
    Status added = visibility_->AddCustomAttribute("ns", b.name, b.type);
    EXPECT_EQ(added.code(), StatusCode::INVALID_ARGUMENT) << b.name;
    EXPECT_THAT(added.message(), HasSubstr(b.message)) << b.name;
  }
  EXPECT_THAT(*visibility_->CustomAttributes("ns"), IsEmpty());

  ASSERT_TRUE(visibility_->AddCustomAttribute("ns", "Color", keyword).ok());
  ASSERT_TRUE(visibility_->AddCustomAttribute("ns", "Size.v2-x_y", enums::INDEXED_VALUE_TYPE_INT)
                  .ok());
  EXPECT_TRUE(visibility_->AddCustomAttribute("ns", "Color", keyword).ok());  // the same again
  EXPECT_EQ(visibility_->AddCustomAttribute("ns", "Color", enums::INDEXED_VALUE_TYPE_INT).code(),
            StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(*visibility_->CustomAttributes("ns"),
              UnorderedElementsAre(std::pair<const std::string, int>{"Color", keyword},
                                   std::pair<const std::string, int>{
                                       "Size.v2-x_y", enums::INDEXED_VALUE_TYPE_INT}));
  EXPECT_THAT(*visibility_->CustomAttributes("other-ns"), IsEmpty());

  EXPECT_TRUE(visibility_->RemoveCustomAttribute("ns", "Color").ok());
  EXPECT_EQ(visibility_->RemoveCustomAttribute("ns", "Color").code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(visibility_->CustomAttributes("ns")->size(), 1u);
}

TEST_F(VisibilityTest, QueriesSeeTheNamespacesAttributes) {
  AddRun("r1", 1, R"({"Color":"red"})");
  AddRun("r2", 2, R"({"Color":"blue"})");
  AddRun("r3", 2, "{}");
  auto unknown = visibility_->ParseFilter("ns", "Color = 'red'");
  EXPECT_EQ(unknown.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown search attribute Color"));

  ASSERT_TRUE(
      visibility_->AddCustomAttribute("ns", "Color", enums::INDEXED_VALUE_TYPE_KEYWORD).ok());
  auto filter = visibility_->ParseFilter("ns", "Color = 'red' OR Color = 'blue' ORDER BY RunId");
  ASSERT_TRUE(filter.ok()) << filter.status().message();
  auto rows = visibility_->ListWorkflows("ns", *filter, 10, 0);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(*rows, (std::vector<std::string>{"r1", "r2"}));
  rows = visibility_->ListWorkflows("ns", *filter, 1, 1);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, std::vector<std::string>{"r2"});
  auto schedules = visibility_->ListSchedules("ns", *filter, 10, 0);
  ASSERT_TRUE(schedules.ok()) << schedules.status().message();
  EXPECT_THAT(*schedules, IsEmpty());

  auto grouped = visibility_->ParseFilter("ns", "GROUP BY ExecutionStatus");
  ASSERT_TRUE(grouped.ok());
  auto counts = visibility_->Count("ns", *grouped);
  ASSERT_TRUE(counts.ok()) << counts.status().message();
  EXPECT_THAT(*counts, UnorderedElementsAre(std::pair<int64_t, int64_t>{1, 1},
                                            std::pair<int64_t, int64_t>{2, 2}));

  EXPECT_EQ(Visibility::SystemAttributes().size(), 21u);
  EXPECT_EQ(Visibility::SystemAttributes().at("ExecutionStatus"),
            enums::INDEXED_VALUE_TYPE_KEYWORD);
}

}  // namespace
}  // namespace eon::visibility
