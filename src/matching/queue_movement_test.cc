// A task queue moving between two nodes' matching engines on one database (issue 15): the old
// owner answers its parked polls empty and forgets the queue; the new owner serves the backlog
// the old one wrote.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>

#include "common/executor.h"
#include "matching/matching_engine.h"
#include "persistence/sqlite_store.h"

namespace eon::matching {
namespace {

using namespace std::chrono_literals;

eon::v1::QueueTask TaskOfEvent(int64_t scheduled_event_id) {
  eon::v1::QueueTask task;
  task.set_namespace_id("ns");
  task.set_workflow_id("wf");
  task.set_run_id("run");
  task.set_scheduled_event_id(scheduled_event_id);
  task.set_attempt(1);
  return task;
}

std::shared_future<std::optional<MatchedTask>> Park(MatchingEngine& engine, const QueueId& queue,
                                                    std::chrono::milliseconds wait) {
  auto promise = std::make_shared<std::promise<std::optional<MatchedTask>>>();
  auto answer = promise->get_future().share();
  auto parked = engine.Poll(
      queue, {"worker", ""}, std::chrono::steady_clock::now() + wait,
      [promise](std::optional<MatchedTask> task) { promise->set_value(std::move(task)); });
  EXPECT_TRUE(parked.ok()) << parked.status().message();
  return answer;
}

TEST(QueueMovement, TheOldOwnerAnswersItsPollsEmptyAndTheNewOneServesTheBacklog) {
  auto store = persistence::SqliteStore::Open(persistence::SqliteOptions{});
  ASSERT_TRUE(store.ok()) << store.status().message();
  ThreadDeadlineScheduler deadlines;
  MatchingOptions shared;
  shared.shared_backlogs = true;
  MatchingEngine old_owner(**store, deadlines, shared);
  MatchingEngine new_owner(**store, deadlines, shared);
  ASSERT_TRUE(old_owner.Recover().ok());
  ASSERT_TRUE(new_owner.Recover().ok());
  const QueueId moving{"ns", "moving", eon::v1::TASK_QUEUE_KIND_ACTIVITY};
  const QueueId staying{"ns", "staying", eon::v1::TASK_QUEUE_KIND_ACTIVITY};

  // The new owner has seen the queue before it moved there (empty then).
  auto early = Park(new_owner, moving, 50ms);
  EXPECT_FALSE(early.get().has_value());
  // The old owner backlogs two tasks (no poller yet). Task 5 is handed out and done; task 6 is
  // handed to a worker that never finishes with it (it stays in the database).
  ASSERT_TRUE(old_owner.AddTask(moving, TaskOfEvent(5), nullptr).ok());
  ASSERT_TRUE(old_owner.AddTask(moving, TaskOfEvent(6), nullptr).ok());
  auto first = Park(old_owner, moving, 30s);
  ASSERT_EQ(first.wait_for(5s), std::future_status::ready);
  ASSERT_TRUE(first.get().has_value());
  EXPECT_EQ(first.get()->task.scheduled_event_id(), 5);
  old_owner.Done(*first.get());
  auto second = Park(old_owner, moving, 30s);
  ASSERT_EQ(second.wait_for(5s), std::future_status::ready);
  ASSERT_TRUE(second.get().has_value());
  // Now polls wait on both queues.
  auto parked_moving = Park(old_owner, moving, 30s);
  auto parked_staying = Park(old_owner, staying, 30s);
  EXPECT_EQ(parked_moving.wait_for(100ms), std::future_status::timeout);

  old_owner.ReleaseQueues([&](const QueueId& queue) { return queue.name != "moving"; });
  ASSERT_EQ(parked_moving.wait_for(5s), std::future_status::ready)
      << "a poll parked on a queue that moved away was not answered";
  EXPECT_FALSE(parked_moving.get().has_value());
  EXPECT_EQ(parked_staying.wait_for(200ms), std::future_status::timeout)
      << "a poll on a queue that stayed was answered";

  // The new owner hears of the change too (it keeps every queue it has) and serves task 6 from
  // the database, though its memory of the queue was empty.
  new_owner.ReleaseQueues([](const QueueId&) { return true; });
  auto served = Park(new_owner, moving, 5s);
  ASSERT_EQ(served.wait_for(10s), std::future_status::ready);
  auto task = served.get();
  ASSERT_TRUE(task.has_value()) << "the new owner did not serve the moved queue's backlog";
  EXPECT_EQ(task->task.scheduled_event_id(), 6);
  new_owner.Done(*task);
  old_owner.ReleaseQueues([](const QueueId&) { return false; });
  ASSERT_EQ(parked_staying.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(parked_staying.get().has_value());
}

}  // namespace
}  // namespace eon::matching
