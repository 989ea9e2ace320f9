#include "namespaces/registry.h"

#include <gtest/gtest.h>

#include <deque>

#include "persistence/sqlite_store.h"

namespace eon::namespaces {
namespace {

namespace enums = temporal::api::enums::v1;

// Holds closures until the test runs them.
class HeldExecutor final : public Executor {
 public:
  void Submit(std::function<void()> fn) override { held.push_back(std::move(fn)); }
  std::deque<std::function<void()>> held;
};

TEST(Registry, DeleteTakesANamespaceOutAtOnceAndItsDataInTheBackground) {
  auto store = persistence::SqliteStore::Open(persistence::SqliteOptions{});
  ASSERT_TRUE(store.ok());
  ManualClock clock(TimePoint(std::chrono::seconds(1'700'000'000)));
  Registry registry(**store, clock);
  ASSERT_TRUE(registry.Load().ok());
  ASSERT_TRUE(registry.Ensure("default").ok());
  auto registered = registry.Register("gone", "", "", std::chrono::hours(24));
  ASSERT_TRUE(registered.ok()) << registered.status().message();
  const std::string id = (*registered)->info().id();

  HeldExecutor background;
  EXPECT_EQ(registry.Delete("default", background).status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(registry.Delete("nope", background).status().code(), StatusCode::NOT_FOUND);
  EXPECT_TRUE(background.held.empty());

  auto deleted = registry.Delete("gone", background);
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_EQ((*deleted)->info().name().rfind("gone-deleted-", 0), 0u);
  EXPECT_EQ((*deleted)->info().state(), enums::NAMESPACE_STATE_DELETED);
  // Out of service at once: the name is free, the id still known as DELETED until the data goes.
  EXPECT_EQ(registry.ByName("gone").status().code(), StatusCode::NOT_FOUND);
  ASSERT_TRUE(registry.ById(id).ok());
  EXPECT_EQ((*registry.ById(id))->info().state(), enums::NAMESPACE_STATE_DELETED);

  ASSERT_EQ(background.held.size(), 1u);
  background.held.front()();
  EXPECT_EQ(registry.ById(id).status().code(), StatusCode::NOT_FOUND);
  auto stored = (*store)->ListNamespaces();
  ASSERT_TRUE(stored.ok());
  for (const auto& record : *stored) EXPECT_NE(record.info().id(), id);
  EXPECT_TRUE(registry.ByName("default").ok());
}

}  // namespace
}  // namespace eon::namespaces
