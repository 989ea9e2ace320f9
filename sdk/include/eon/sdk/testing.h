// eon::sdk::testing: test workflows against a real server, and activities without one
// (library eon::sdk_testing, installed with the SDK).
//
// TestEnvironment starts `eon server start-dev --time-skipping` on a free loopback port with its
// own database, a client whose result() lets the server skip time (a workflow that sleeps for a
// month finishes in moments, with its durations unchanged), and workers on a task queue of its
// own:
//
//   auto env = eon::sdk::testing::TestEnvironment::Start().value();
//   auto& worker = env->new_worker();
//   worker.register_workflow("Greeting", Greeting);
//   worker.register_activity("ComposeGreeting", ComposeGreeting);
//   ASSERT_TRUE(worker.start().ok());
//   auto greeting = env->client().execute_workflow<std::string>(
//       "Greeting", env->workflow_options("greeting-1"), std::string("World"));
//
// The eon binary: TestEnvironmentOptions::eon_binary, else $EON_BIN, else the one installed
// with this package (<prefix>/bin/eon), else `eon` on PATH.
//
// ActivityEnvironment runs an activity function on the calling thread with a context of its
// own: heartbeats are recorded (none throttled), cancellation can be injected (at once, or as
// the server's answer to the n-th heartbeat), and the info and the last attempt's heartbeat
// details can be set:
//
//   eon::sdk::testing::ActivityEnvironment env;
//   env.cancel_on_heartbeat(3);
//   EXPECT_THROW(env.run<int>(CountSlowly, 10), eon::sdk::CanceledError);
//   EXPECT_EQ(env.heartbeats().size(), 3);
//
// Thread safety: a TestEnvironment is used from the test's thread (its client and workers are
// thread-safe); ActivityEnvironment::cancel() may be called from any thread.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "eon/sdk/activity.h"
#include "eon/sdk/client.h"
#include "eon/sdk/registry.h"
#include "eon/sdk/result.h"
#include "eon/sdk/worker.h"

// The installed package defines this (its own bin/eon) for the code that links eon::sdk_testing.
#ifndef EON_SDK_TESTING_PACKAGED_EON_BIN
#define EON_SDK_TESTING_PACKAGED_EON_BIN ""
#endif

namespace eon::sdk::testing {

struct TestEnvironmentOptions {
  std::string eon_binary{};  // "": see the search order above
  // Starts the server with --time-skipping and sets ClientOptions::time_skipping.
  bool time_skipping = true;
  std::string ns = "default";
  std::shared_ptr<const PayloadCodec> codec{};
  std::string extra_server_flags{};           // appended to `eon server start-dev`
  milliseconds server_start_timeout{30'000};  // per attempt
  // Set by the installed package; leave as is.
  std::string packaged_eon_binary = EON_SDK_TESTING_PACKAGED_EON_BIN;
};

class TestEnvironment {
 public:
  // Starts the server (on another free port if one was taken meanwhile, up to 5 tries) and
  // connects. NOT_FOUND when no eon binary is found; UNAVAILABLE (with the server's output)
  // when it does not come up.
  static Result<std::unique_ptr<TestEnvironment>> Start(TestEnvironmentOptions options = {});
  // Shuts the workers down, stops the server (SIGTERM, then SIGKILL) and removes its files.
  ~TestEnvironment();
  TestEnvironment(const TestEnvironment&) = delete;
  TestEnvironment& operator=(const TestEnvironment&) = delete;

  Client& client() { return *client_; }
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // A task queue unique to this environment: the default of new_worker() and
  // workflow_options().
  const std::string& task_queue() const { return task_queue_; }
  StartWorkflowOptions workflow_options(const std::string& workflow_id) const;

  // A worker (not started: register, then start()) on task_queue() unless options say
  // otherwise. The environment owns it and shuts it down first.
  Worker& new_worker(WorkerOptions options = {});

  // kill -9 the server and start it again on the same port and database (for crash tests).
  Result<void> crash_and_restart_server();
  // Runs `eon <args> --address <address>` and returns what it printed (stdout and stderr).
  std::string cli(const std::string& args) const;

 private:
  TestEnvironment() = default;
  bool Launch();

  TestEnvironmentOptions options_;
  std::string binary_;
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string address_;
  std::string task_queue_;
  std::unique_ptr<Client> client_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// A name unique to this process and call ("prefix-<pid>-<n>"), for task queues and ids.
std::string UniqueName(const std::string& prefix);

class ActivityEnvironment {
 public:
  ActivityEnvironment();

  // What the activity sees as ctx.info() (type, ids, attempt, timeouts); edit before run().
  ActivityInfo& info() { return info_; }
  const DataConverter& converter() const { return converter_; }
  void set_converter(DataConverter converter) { converter_ = std::move(converter); }
  // The heartbeat details of the "last attempt" (ctx.heartbeat_details<T>()).
  template <typename... A>
  void set_heartbeat_details(const A&... details) {
    previous_details_ = converter_.EncodeAll(details...);
  }

  // Runs `fn` (R(ActivityContext&, A...) or R(A...)) with `args` encoded and decoded as the
  // worker would, on this thread, and returns its result decoded as R. Throws what the
  // activity throws (CanceledError, ApplicationError, ...). Heartbeats of earlier runs are
  // kept; a cancellation is not.
  template <typename R, typename F, typename... A>
  R run(F fn, const A&... args) {
    Registry registry;
    registry.register_activity("activity", std::move(fn));
    auto payload = RunActivity(*registry.activity("activity"), converter_.EncodeAll(args...));
    if constexpr (!std::is_void_v<R>) {
      return converter_.Decode<R>(payload ? *payload : ToPayload(nullptr));
    }
  }

  // Every heartbeat the activity sent, in order.
  std::vector<Payloads> heartbeats() const;
  // The `index`th value of the last heartbeat, decoded (nullopt when there was none).
  template <typename T>
  std::optional<T> last_heartbeat(int index = 0) const {
    auto all = heartbeats();
    if (all.empty() || index >= all.back().payloads_size()) return std::nullopt;
    return converter_.Decode<T>(all.back().payloads(index));
  }

  // Cancels the activity now (or, before run(), from its start): is_canceled() turns true and
  // wait_canceled() wakes. Any thread.
  void cancel();
  // The server's answer to the n-th heartbeat (1-based, counted over this run) requests
  // cancellation, as a real cancellation reaches an activity.
  void cancel_on_heartbeat(int n) { cancel_on_heartbeat_ = n; }
  // Whether the last run called ctx.complete_async().
  bool completed_async() const { return completed_async_; }

 private:
  std::optional<Payload> RunActivity(const internal::ActivityFn& fn, const Payloads& args);

  ActivityInfo info_;
  DataConverter converter_;
  Payloads previous_details_;
  int cancel_on_heartbeat_ = 0;
  bool completed_async_ = false;

  mutable std::mutex mu_;  // guards the fields below (heartbeats come from the activity)
  std::vector<Payloads> heartbeats_;
  bool cancel_requested_ = false;
  ActivityContext* running_ = nullptr;
};

}  // namespace eon::sdk::testing
