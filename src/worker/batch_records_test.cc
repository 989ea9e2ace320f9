#include "worker/batch_records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "persistence/sqlite_store.h"

namespace eon::worker {
namespace {

namespace enums = temporal::api::enums::v1;
using ::testing::HasSubstr;

BatchRecords::Record Job(const std::string& id, enums::BatchOperationState state) {
  BatchRecords::Record record;
  record.set_job_id(id);
  record.set_state(state);
  record.set_reason("because");
  return record;
}

TEST(BatchRecords, PutReplaceDeleteAndLoadInFirstPutOrder) {
  auto store = persistence::SqliteStore::Open(persistence::SqliteOptions{});
  ASSERT_TRUE(store.ok());
  BatchRecords records(**store);
  ASSERT_TRUE(records.Put("ns-b", Job("j1", enums::BATCH_OPERATION_STATE_RUNNING)).ok());
  ASSERT_TRUE(records.Put("ns-a", Job("j2", enums::BATCH_OPERATION_STATE_RUNNING)).ok());
  ASSERT_TRUE(records.Put("ns-a", Job("j3", enums::BATCH_OPERATION_STATE_RUNNING)).ok());
  ASSERT_TRUE(records.Put("ns-b", Job("j1", enums::BATCH_OPERATION_STATE_COMPLETED)).ok());
  ASSERT_TRUE(records.Delete("ns-a", "j2").ok());
  EXPECT_EQ(records.Delete("ns-a", "j2").code(), StatusCode::NOT_FOUND);

  auto loaded = records.LoadAll();
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].first, "ns-b");
  EXPECT_EQ((*loaded)[0].second.job_id(), "j1");
  EXPECT_EQ((*loaded)[0].second.state(), enums::BATCH_OPERATION_STATE_COMPLETED);
  EXPECT_EQ((*loaded)[0].second.reason(), "because");
  EXPECT_EQ((*loaded)[1].first, "ns-a");
  EXPECT_EQ((*loaded)[1].second.job_id(), "j3");
}

TEST(BatchRecords, ARecordThatDoesNotParseIsAnError) {
  auto store = persistence::SqliteStore::Open(persistence::SqliteOptions{});
  ASSERT_TRUE(store.ok());
  // Field 1, length-delimited, 255 bytes announced and none there.
  ASSERT_TRUE((*store)->PutBatchOperation("ns", "bad", std::string("\x0a\xff", 2)).ok());
  auto loaded = BatchRecords(**store).LoadAll();
  EXPECT_EQ(loaded.status().code(), StatusCode::INTERNAL);
  EXPECT_THAT(loaded.status().message(), HasSubstr("in namespace ns does not parse"));
}

}  // namespace
}  // namespace eon::worker
