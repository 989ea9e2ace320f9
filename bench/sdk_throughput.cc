// Throughput of the C++ SDK against a running server: N single-activity workflows, `inflight`
// at a time, worker and clients in this process. Prints workflows per second and start-to-result
// latency percentiles.
//
//   build/bench/sdk_throughput --address 127.0.0.1:7233 --workflows 1000 --inflight 20
//
// With --first-task, it starts N workflows that each wait an hour on a timer, `inflight` starts
// at a time, and waits until every one ran its first workflow task, or until none ran for
// --wait-s seconds: a task left in the backlog while the worker polls shows up as that stall.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "eon/sdk/sdk.h"

using namespace eon::sdk;
using namespace std::chrono_literals;

std::string Echo(std::string s) { return s; }

Task<std::string> OneActivity(WorkflowContext& ctx, std::string s) {
  co_return co_await ctx.execute_activity<std::string>("Echo",
                                                       ActivityOptions().start_to_close(10s), s);
}

std::mutex first_tasks_mutex;
std::set<std::string> first_tasks;  // workflow ids whose first workflow task ran

Task<void> WaitLong(WorkflowContext& ctx) {
  {
    std::lock_guard lock(first_tasks_mutex);
    first_tasks.insert(ctx.info().workflow_id);
  }
  co_await ctx.sleep(std::chrono::hours(1));
}

int FirstTasks(Client& client, const std::string& queue, int workflows, int inflight, int wait_s,
               WorkerOptions options) {
  Worker worker(client, options);
  worker.register_workflow("WaitLong", WaitLong);
  worker.start().value();
  std::atomic<int> next{0}, failed{0};
  auto begin = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < inflight; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < workflows; i = next++) {
        auto r = client.start_workflow(
            "WaitLong", {.id = queue + "-" + std::to_string(i), .task_queue = queue});
        if (!r.ok()) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  double started_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  const int expected = workflows - failed.load();
  auto ran = [] {
    std::lock_guard lock(first_tasks_mutex);
    return static_cast<int>(first_tasks.size());
  };
  // Waits while first tasks keep running; gives up after wait_s seconds without one (a stall).
  int last = ran();
  auto last_progress = std::chrono::steady_clock::now();
  auto last_report = last_progress;
  while (ran() < expected &&
         std::chrono::steady_clock::now() - last_progress < std::chrono::seconds(wait_s)) {
    std::this_thread::sleep_for(100ms);
    const auto now = std::chrono::steady_clock::now();
    if (ran() != last) {
      last = ran();
      last_progress = now;
    }
    if (now - last_report >= 10s) {
      last_report = now;
      std::printf("  %.0f s: %d of %d ran their first workflow task\n",
                  std::chrono::duration<double>(now - begin).count(), last, expected);
      std::fflush(stdout);
    }
  }
  double all_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  worker.shutdown();
  std::printf(
      "first tasks: %d workflows started in %.1f s (%d starts failed); %d of them ran their first "
      "workflow task, after %.1f s; queue %s\n",
      expected, started_s, failed.load(), ran(), all_s, queue.c_str());
  return ran() == expected && failed.load() == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:7233";
  int workflows = 1000, inflight = 20, wait_s = 120;
  bool first_task = false;
  WorkerOptions options;
  options.max_concurrent_workflow_tasks = 8;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--first-task")) {
      first_task = true;
      continue;
    }
    if (i + 1 == argc) break;
    if (!std::strcmp(argv[i], "--address")) address = argv[i + 1];
    if (!std::strcmp(argv[i], "--workflows")) workflows = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--inflight")) inflight = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--wait-s")) wait_s = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--workflow-threads")) {
      options.max_concurrent_workflow_tasks = std::atoi(argv[i + 1]);
    }
    ++i;
  }
  auto client = Client::Connect({.address = address});
  if (!client.ok()) {
    std::fprintf(stderr, "sdk_throughput: %s\n", client.error().ToString().c_str());
    return 1;
  }
  std::string queue =
      "bench-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  options.task_queue = queue;
  if (first_task) return FirstTasks(client.value(), queue, workflows, inflight, wait_s, options);
  Worker worker(client.value(), options);
  worker.register_workflow("OneActivity", OneActivity);
  worker.register_activity("Echo", Echo);
  worker.start().value();

  std::atomic<int> next{0}, failed{0};
  std::vector<std::vector<double>> latencies(inflight);
  auto begin = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < inflight; ++t) {
    threads.emplace_back([&, t] {
      for (int i = next++; i < workflows; i = next++) {
        auto start = std::chrono::steady_clock::now();
        auto r = client->execute_workflow<std::string>(
            "OneActivity", {.id = queue + "-" + std::to_string(i), .task_queue = queue},
            std::string("x"));
        if (!r.ok()) ++failed;
        latencies[t].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  worker.shutdown();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0 : all[std::min(all.size() - 1, size_t(p * all.size()))];
  };
  std::printf(
      "C++ SDK: %d workflows (one activity each), %d in flight, %zu workflow task "
      "threads: %.0f workflows/s, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, %d failed\n",
      workflows, inflight, options.max_concurrent_workflow_tasks, workflows / seconds, pct(0.50),
      pct(0.95), pct(0.99), failed.load());
  return failed.load() == 0 ? 0 : 1;
}
