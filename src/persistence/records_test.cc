// Records nested as deep as a request may nest are written and read back, through a restart of
// the store; records nested deeper than can be read back are refused at the write.
#include "persistence/records.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "persistence/sqlite_store.h"

namespace eon::persistence {
namespace {

namespace enums = temporal::api::enums::v1;

temporal::api::failure::v1::Failure Chain(int depth) {
  temporal::api::failure::v1::Failure root;
  auto* f = &root;
  for (int i = 1; i < depth; ++i) {
    f->set_message("level " + std::to_string(i));
    f = f->mutable_cause();
  }
  f->set_message("root cause");
  return root;
}

ExecutionWrite RunWithFailure(int64_t range_id, int chain_depth) {
  ExecutionWrite write;
  write.range_id = range_id;
  write.state.set_namespace_id("ns");
  write.state.set_workflow_id("wf");
  write.state.set_run_id("run");
  write.state.set_status(enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  auto& activity = (*write.state.mutable_activities())[5];
  *activity.mutable_last_failure() = Chain(chain_depth);
  temporal::api::history::v1::HistoryEvent event;
  event.set_event_id(1);
  event.set_event_type(enums::EVENT_TYPE_ACTIVITY_TASK_FAILED);
  *event.mutable_activity_task_failed_event_attributes()->mutable_failure() = Chain(chain_depth);
  write.new_events.push_back(event);
  return write;
}

TEST(Records, ParseRecordHonoursTheNestingLimit) {
  auto failure = Chain(150);
  std::string bytes = failure.SerializeAsString();
  temporal::api::failure::v1::Failure back;
  EXPECT_FALSE(ParseRecord(bytes, &back, kRequestNestingMax));
  EXPECT_TRUE(ParseRecord(bytes, &back));
  EXPECT_EQ(back.SerializeAsString(), bytes);
}

TEST(Records, SerializeRecordRefusesWhatWouldNotParseBack) {
  EXPECT_TRUE(SerializeRecord(Chain(kRecordNestingMax - 5), "failure").ok());
  auto refused = SerializeRecord(Chain(kRecordNestingMax + 5), "failure");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.status().message().find("deeper than the limit"), std::string::npos);
}

// The write's check walks the bytes instead of parsing them back: it must accept exactly what a
// parse with the same limit accepts, at the limit's edge, through map entries and messages of
// several types.
TEST(Records, NestsWithinAgreesWithTheParserAtTheLimit) {
  for (int limit : {3, 10, kRequestNestingMax, kRecordNestingMax}) {
    for (int depth = limit - 3; depth <= limit + 3; ++depth) {
      if (depth < 1) continue;
      std::string failure = Chain(depth).SerializeAsString();
      temporal::api::failure::v1::Failure parsed_failure;
      EXPECT_EQ(NestsWithin(failure, parsed_failure.GetDescriptor(), limit),
                ParseRecord(failure, &parsed_failure, limit))
          << "failure chain " << depth << ", limit " << limit;

      ExecutionWrite write = RunWithFailure(1, depth);
      std::string state = write.state.SerializeAsString();  // a map entry on the way down
      eon::v1::ExecutionState parsed_state;
      EXPECT_EQ(NestsWithin(state, parsed_state.GetDescriptor(), limit),
                ParseRecord(state, &parsed_state, limit))
          << "execution, chain " << depth << ", limit " << limit;

      std::string event = write.new_events[0].SerializeAsString();
      temporal::api::history::v1::HistoryEvent parsed_event;
      EXPECT_EQ(NestsWithin(event, parsed_event.GetDescriptor(), limit),
                ParseRecord(event, &parsed_event, limit))
          << "event, chain " << depth << ", limit " << limit;
    }
  }
}

TEST(Records, NestsWithinRefusesBytesThatAreNotAMessage) {
  const auto* type = temporal::api::failure::v1::Failure::descriptor();
  std::string good = Chain(5).SerializeAsString();
  EXPECT_TRUE(NestsWithin(good, type, 10));
  EXPECT_FALSE(NestsWithin(good.substr(0, good.size() - 1), type, 10));  // cut short
  EXPECT_FALSE(NestsWithin(std::string("\x0a\xff", 2), type, 10));       // length past the end
  EXPECT_FALSE(NestsWithin(std::string("\x00", 1), type, 10));           // field number 0
  EXPECT_FALSE(NestsWithin(std::string("\x0c", 1), type, 10));           // a group end outside one
  EXPECT_FALSE(NestsWithin(std::string("\x0b\x08\x01", 3), type, 10));   // a group never ended
  EXPECT_TRUE(NestsWithin(std::string("\x0b\x08\x01\x0c", 4), type, 10));
  EXPECT_FALSE(NestsWithin(std::string("\x0b\x08\x01\x0c", 4), type, 0));  // a group is a level
  EXPECT_TRUE(NestsWithin("", type, 0));
}

// Issue 11, input 6: a failure 98 deep was acknowledged and then unreadable after a restart.
TEST(Records, AFailureAsDeepAsARequestAllowsSurvivesARestartOfTheStore) {
  auto dir = std::filesystem::temp_directory_path() /
             ("eon-records-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  SqliteOptions options;
  options.path = (dir / "deep.db").string();
  std::filesystem::remove(options.path);
  {
    auto store = SqliteStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().message();
    auto ranges = (*store)->AcquireShards();
    ASSERT_TRUE(ranges.ok());
    ExecutionWrite write = RunWithFailure((*ranges)[0], kRequestNestingMax - 1);
    Status committed = (*store)->CommitExecution(write, nullptr);
    ASSERT_TRUE(committed.ok()) << committed.message();
  }
  auto store = SqliteStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto stored = (*store)->GetExecution({"ns", "wf", "run"});
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(stored->state.activities().at(5).last_failure().cause().message(), "level 2");
  auto history = (*store)->ReadHistory("ns", "run", 1, 10);
  ASSERT_TRUE(history.ok()) << history.status().message();
  ASSERT_EQ(history->events.size(), 1u);

  // Deeper than a record may be: refused, and nothing of it written.
  auto ranges = (*store)->AcquireShards();
  ASSERT_TRUE(ranges.ok());
  ExecutionWrite too_deep = RunWithFailure((*ranges)[0], kRecordNestingMax + 10);
  too_deep.state.set_workflow_id("wf2");
  Status refused = (*store)->CommitExecution(too_deep, nullptr);
  EXPECT_EQ(refused.code(), StatusCode::INVALID_ARGUMENT) << refused.message();
  EXPECT_EQ((*store)->GetExecution({"ns", "wf2", "run"}).status().code(), StatusCode::NOT_FOUND);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace eon::persistence
