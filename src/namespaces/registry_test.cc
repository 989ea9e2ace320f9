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

// Two nodes, each with its registry, on one database: a namespace registered through one is
// found by the other at once; updates made through both (the second over a stale copy) are
// both kept; a changed record shows on the other node within the refresh interval.
TEST(Registry, RegistriesOfTwoNodesOnOneDatabaseSeeEachOthersChanges) {
  auto store = persistence::SqliteStore::Open(persistence::SqliteOptions{});
  ASSERT_TRUE(store.ok());
  ManualClock clock(TimePoint(std::chrono::seconds(1'700'000'000)));
  Registry one(**store, clock), two(**store, clock);
  ASSERT_TRUE(one.Load().ok());
  ASSERT_TRUE(two.Load().ok());
  ASSERT_TRUE(one.Register("orders", "", "", std::chrono::hours(24)).ok());
  auto found = two.ByName("orders");
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_TRUE(two.ById((*found)->info().id()).ok());
  EXPECT_EQ(two.Register("orders", "", "", std::chrono::hours(24)).status().code(),
            StatusCode::ALREADY_EXISTS);

  auto described = one.Update("orders", [](eon::v1::NamespaceRecord& record) {
    record.mutable_info()->set_description("from one");
    return Status::Ok();
  });
  ASSERT_TRUE(described.ok()) << described.status().message();
  // two's copy is stale (version 0); its update is applied over the stored record, not lost.
  auto owned = two.Update("orders", [](eon::v1::NamespaceRecord& record) {
    record.mutable_info()->set_owner_email("two@example.com");
    return Status::Ok();
  });
  ASSERT_TRUE(owned.ok()) << owned.status().message();
  EXPECT_EQ((*owned)->info().description(), "from one");
  EXPECT_EQ((*owned)->info().owner_email(), "two@example.com");

  // one still has its own copy until the refresh interval passes, then reads two's change.
  EXPECT_EQ((*one.ByName("orders"))->info().owner_email(), "");
  clock.Advance(std::chrono::seconds(11));
  EXPECT_EQ((*one.ByName("orders"))->info().owner_email(), "two@example.com");
  EXPECT_EQ(one.All().size(), 1u);
}

}  // namespace
}  // namespace eon::namespaces
