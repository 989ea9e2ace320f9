// A C++ worker for the interoperability tests with the TypeScript SDK
// (tests/integration/sdk-interop.test.js). It runs until SIGTERM or SIGINT.
//
//   eon_sdk_interop_worker --address A --task-queue Q [--ts-task-queue T]
//
// Registered on Q:
//   - activity "cppDescribe"(name, count) -> {"greeting": "Hello, <name>!", "length": <code
//     points in name>, "doubled": count * 2, "tags": ["cpp", name]}; the TypeScript test
//     implements the same function as "tsDescribe";
//   - workflow "cppCallsTs"(name, count): runs activity "tsDescribe" on queue T (default
//     "<Q>-ts") with the same arguments and returns its result payload untouched;
//   - workflow "cppDescribeWorkflow"(name, count): runs its own "cppDescribe".
//
// Prints "ready" on stdout once the worker polls.
#include <pthread.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "eon/sdk/sdk.h"

using namespace eon::sdk;
using namespace std::chrono_literals;

namespace {

struct Description {
  std::string greeting;
  int64_t length = 0;  // Unicode code points, so every SDK counts the same
  int64_t doubled = 0;
  std::vector<std::string> tags;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Description, greeting, length, doubled, tags)

// The number of code points in UTF-8 text: the bytes that do not continue a sequence.
int64_t CodePoints(const std::string& utf8) {
  int64_t count = 0;
  for (unsigned char c : utf8) count += (c & 0xC0) != 0x80;
  return count;
}

Description CppDescribe(std::string name, int64_t count) {
  return Description{.greeting = "Hello, " + name + "!",
                     .length = CodePoints(name),
                     .doubled = count * 2,
                     .tags = {"cpp", name}};
}

ActivityOptions DescribeOptions(std::string task_queue) {
  RetryPolicy retry;
  retry.initial_interval(100ms);
  retry.backoff_coefficient(2.0);
  retry.maximum_attempts(3);
  return ActivityOptions().task_queue(std::move(task_queue)).start_to_close(10s).retry(retry);
}

// The result is passed on as the payload the TypeScript activity produced.
Task<Payload> CppCallsTs(WorkflowContext& ctx, std::string ts_task_queue, std::string name,
                         int64_t count) {
  const ActivityOptions options = DescribeOptions(std::move(ts_task_queue));
  co_return co_await ctx.execute_activity<Payload>("tsDescribe", options, name, count);
}

Task<Description> CppDescribeWorkflow(WorkflowContext& ctx, std::string name, int64_t count) {
  const ActivityOptions options = DescribeOptions("");  // the workflow's own queue
  co_return co_await ctx.execute_activity<Description>("cppDescribe", options, name, count);
}

// Sleeps on a durable timer first, so a test can kill this process in the middle and let
// another worker process finish the run from its history.
Task<Description> CppSleepThenDescribe(WorkflowContext& ctx, std::string name, int64_t count,
                                       int64_t sleep_ms) {
  co_await ctx.sleep(milliseconds(sleep_ms));
  const ActivityOptions options = DescribeOptions("");
  co_return co_await ctx.execute_activity<Description>("cppDescribe", options, name, count);
}

struct Flags {
  std::string address;
  std::string task_queue;
  std::string ts_task_queue;
  int64_t sticky_timeout_ms = 10'000;
};

// Returns an error message, or "" when the flags are fine.
std::string ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return "missing value for " + flag;
    std::string value = argv[i + 1];
    if (flag == "--address") {
      flags->address = value;
    } else if (flag == "--task-queue") {
      flags->task_queue = value;
    } else if (flag == "--ts-task-queue") {
      flags->ts_task_queue = value;
    } else if (flag == "--sticky-timeout-ms") {
      flags->sticky_timeout_ms = std::atoll(value.c_str());
      if (flags->sticky_timeout_ms <= 0) return "bad value for --sticky-timeout-ms: " + value;
    } else {
      return "unknown flag " + flag;
    }
  }
  if (flags->address.empty() || flags->task_queue.empty()) {
    return "usage: eon_sdk_interop_worker --address A --task-queue Q [--ts-task-queue T] "
           "[--sticky-timeout-ms N]";
  }
  if (flags->ts_task_queue.empty()) flags->ts_task_queue = flags->task_queue + "-ts";
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (std::string error = ParseFlags(argc, argv, &flags); !error.empty()) {
    std::cerr << "interop_worker: " << error << "\n";
    return 1;
  }
  // SIGTERM and SIGINT are blocked here, before any thread starts (so every thread inherits the
  // mask), and taken by sigwait() below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ClientOptions client_options;
  client_options.address = flags.address;
  auto client = Client::Connect(client_options);
  if (!client.ok()) {
    std::cerr << "interop_worker: cannot connect to " << flags.address << ": "
              << client.error().ToString() << "\n";
    return 1;
  }
  WorkerOptions worker_options;
  worker_options.task_queue = flags.task_queue;
  worker_options.sticky_schedule_to_start_timeout = milliseconds(flags.sticky_timeout_ms);
  Worker worker(client.value(), worker_options);
  worker.register_activity("cppDescribe", CppDescribe);
  worker.register_workflow("cppDescribeWorkflow", CppDescribeWorkflow);
  worker.register_workflow("cppSleepThenDescribe", CppSleepThenDescribe);
  worker.register_workflow(
      "cppCallsTs",
      [ts_task_queue = flags.ts_task_queue](WorkflowContext& ctx, std::string name, int64_t count) {
        return CppCallsTs(ctx, ts_task_queue, std::move(name), count);
      });
  if (auto started = worker.start(); !started.ok()) {
    std::cerr << "interop_worker: cannot start the worker: " << started.error().ToString() << "\n";
    return 1;
  }
  std::cout << "ready" << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "interop_worker: " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
            << ", shutting down\n";
  worker.shutdown();
  return 0;
}
