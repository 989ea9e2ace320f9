// Subscription: a long-lived workflow that drives a customer's subscription. It sends a welcome
// email, waits out a free trial (60 days by default), then charges the customer every billing
// period (30 days) until the customer cancels (a "cancel" signal) or the subscription runs its
// course (12 billing cycles). The "billing_cycle" query reports how many cycles were charged.
//
// The sleeps are durable timers: the worker can be stopped in the middle of the trial and the
// workflow carries on when a worker comes back. The periods are workflow arguments so a demo
// (or a test) can make them short:
//
//   build/examples/subscription [--address localhost:7233] [--customer alice@example.com]
//       [--trial-period-ms 5184000000] [--billing-period-ms 2592000000] [--max-cycles 12]
//       [--cancel-after-ms N]   # the client sends "cancel" after N ms (default: never)
//       [--time-skipping]       # against `eon server start-dev --time-skipping`: the real
//                               # 60-day trial and 30-day periods pass in moments
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "eon/sdk/sdk.h"

using namespace eon::sdk;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kDayMs = 24LL * 60 * 60 * 1000;
constexpr char kTaskQueue[] = "subscription";

// The subscription's terms; every period in milliseconds.
struct SubscriptionTerms {
  int64_t trial_period_ms = 60 * kDayMs;
  int64_t billing_period_ms = 30 * kDayMs;
  int32_t max_cycles = 12;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SubscriptionTerms, trial_period_ms, billing_period_ms,
                                   max_cycles)

// --- Activities: the outside world (here, lines on stdout). Printing goes through one mutex
// because activities run on the worker's threads while the client prints on the main thread.

std::mutex print_mu;  // guards std::cout

void Say(const std::string& line) {
  std::lock_guard lock(print_mu);
  std::cout << line << std::endl;
}

void SendWelcomeEmail(const std::string& customer) { Say("welcome email sent to " + customer); }

void ChargeMonthlyFee(const std::string& customer, int32_t billing_cycle) {
  Say("charged " + customer + " for cycle " + std::to_string(billing_cycle));
}

void SendCancellationEmail(const std::string& customer) {
  Say("cancellation email sent to " + customer);
}

void SendSubscriptionOverEmail(const std::string& customer) {
  Say("subscription over email sent to " + customer);
}

// --- The workflow: a class, so the state its handlers read (the billing cycle, the
// cancellation) lives in members that the SDK keeps until the run leaves the worker. A query
// after the workflow completed (answered by replaying it to its end) reads them safely.

class Subscription {
 public:
  explicit Subscription(WorkflowContext& ctx) {
    ctx.set_signal_handler("cancel", [this]() { canceled_ = true; });
    ctx.set_query_handler("billing_cycle", [this]() { return billing_cycle_; });
  }

  Task<std::string> run(WorkflowContext& ctx, std::string customer, SubscriptionTerms terms) {
    // Emails and charges are retried a few times, quickly.
    const ActivityOptions options =
        ActivityOptions().start_to_close(10s).retry(RetryPolicy()
                                                        .initial_interval(200ms)
                                                        .backoff_coefficient(2.0)
                                                        .maximum_interval(2s)
                                                        .maximum_attempts(5));
    auto cancel_requested = [this]() { return canceled_; };

    co_await ctx.execute_activity<void>("SendWelcomeEmail", options, customer);

    // The trial: a durable wait that the "cancel" signal ends early.
    if (co_await ctx.wait_condition(cancel_requested, milliseconds(terms.trial_period_ms))) {
      co_await ctx.execute_activity<void>("SendCancellationEmail", options, customer);
      co_return "subscription of " + customer + " canceled during the trial";
    }

    while (billing_cycle_ < terms.max_cycles) {
      ++billing_cycle_;
      co_await ctx.execute_activity<void>("ChargeMonthlyFee", options, customer, billing_cycle_);
      if (co_await ctx.wait_condition(cancel_requested, milliseconds(terms.billing_period_ms))) {
        co_await ctx.execute_activity<void>("SendCancellationEmail", options, customer);
        co_return "subscription of " + customer + " canceled after " +
            std::to_string(billing_cycle_) + " billing cycle(s)";
      }
    }
    co_await ctx.execute_activity<void>("SendSubscriptionOverEmail", options, customer);
    co_return "subscription of " + customer + " completed after " + std::to_string(billing_cycle_) +
        " billing cycle(s)";
  }

 private:
  bool canceled_ = false;
  int32_t billing_cycle_ = 0;
};

// --- The program: a worker and a client.

struct Flags {
  std::string address = "localhost:7233";
  std::string customer = "alice@example.com";
  SubscriptionTerms terms;
  std::optional<int64_t> cancel_after_ms;
  bool time_skipping = false;
};

bool ParseInt(const char* text, int64_t min, int64_t* out) {
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min) return false;
  *out = value;
  return true;
}

// Returns an error message, or "" when the flags are fine.
std::string ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--time-skipping") {
      flags->time_skipping = true;
      continue;
    }
    if (i + 1 >= argc) return "missing value for " + flag;
    const char* value = argv[++i];
    int64_t number = 0;
    if (flag == "--address") {
      flags->address = value;
    } else if (flag == "--customer") {
      flags->customer = value;
    } else if (flag == "--trial-period-ms" || flag == "--billing-period-ms" ||
               flag == "--cancel-after-ms" || flag == "--max-cycles") {
      if (!ParseInt(value, flag == "--max-cycles" ? 1 : 0, &number)) {
        return "bad value for " + flag + ": " + value;
      }
      if (flag == "--trial-period-ms") flags->terms.trial_period_ms = number;
      if (flag == "--billing-period-ms") flags->terms.billing_period_ms = number;
      if (flag == "--cancel-after-ms") flags->cancel_after_ms = number;
      if (flag == "--max-cycles") {
        if (number > INT32_MAX) return "bad value for --max-cycles: " + std::string(value);
        flags->terms.max_cycles = static_cast<int32_t>(number);
      }
    } else {
      return "unknown flag " + flag;
    }
  }
  if (flags->terms.trial_period_ms == 0 || flags->terms.billing_period_ms == 0) {
    return "the periods must be at least 1 ms";
  }
  return "";
}

// Sends the "cancel" signal after a delay unless the workflow ended first (Stop()).
class DelayedCancel {
 public:
  DelayedCancel(WorkflowHandle handle, milliseconds delay)
      : thread_([this, handle = std::move(handle), delay] { Run(handle, delay); }) {}
  ~DelayedCancel() {
    Stop();
    thread_.join();
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  void Run(const WorkflowHandle& handle, milliseconds delay) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, delay, [this] { return stopped_; })) return;
    }
    auto cycle = handle.query<int32_t>("billing_cycle");
    Say("client: canceling the subscription (billing cycle " +
        (cycle.ok() ? std::to_string(cycle.value()) : "unknown: " + cycle.error().ToString()) +
        ")");
    auto sent = handle.signal("cancel");
    if (!sent.ok()) Say("client: could not send the cancel signal: " + sent.error().ToString());
  }

  std::mutex mu_;  // guards stopped_
  std::condition_variable cv_;
  bool stopped_ = false;
  std::thread thread_;  // last: it starts in the constructor and uses the members above
};

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (std::string error = ParseFlags(argc, argv, &flags); !error.empty()) {
    std::cerr << "subscription: " << error << "\n";
    return 1;
  }
  ClientOptions client_options;
  client_options.address = flags.address;
  client_options.time_skipping = flags.time_skipping;
  auto client = Client::Connect(client_options);
  if (!client.ok()) {
    std::cerr << "subscription: cannot connect to " << flags.address << ": "
              << client.error().ToString() << "\n";
    return 1;
  }
  WorkerOptions worker_options;
  worker_options.task_queue = kTaskQueue;
  Worker worker(client.value(), worker_options);
  worker.register_workflow<Subscription>("Subscription");
  worker.register_activity("SendWelcomeEmail", SendWelcomeEmail);
  worker.register_activity("ChargeMonthlyFee", ChargeMonthlyFee);
  worker.register_activity("SendCancellationEmail", SendCancellationEmail);
  worker.register_activity("SendSubscriptionOverEmail", SendSubscriptionOverEmail);
  if (auto started = worker.start(); !started.ok()) {
    std::cerr << "subscription: cannot start the worker: " << started.error().ToString() << "\n";
    return 1;
  }

  StartWorkflowOptions start;
  start.id = "subscription-" + flags.customer;
  start.task_queue = kTaskQueue;
  auto handle = client->start_workflow("Subscription", start, flags.customer, flags.terms);
  if (!handle.ok()) {
    worker.shutdown();
    std::cerr << "subscription: cannot start the workflow: " << handle.error().ToString() << "\n";
    return 1;
  }
  Say("client: started workflow " + handle->workflow_id() + " (trial " +
      std::to_string(flags.terms.trial_period_ms) + " ms, billing period " +
      std::to_string(flags.terms.billing_period_ms) + " ms, up to " +
      std::to_string(flags.terms.max_cycles) + " cycles)");

  std::optional<DelayedCancel> canceler;
  if (flags.cancel_after_ms) canceler.emplace(handle.value(), milliseconds(*flags.cancel_after_ms));
  auto result = handle->result<std::string>();
  canceler.reset();
  // The run has ended; a query is answered by replaying it to its end, from the state of the
  // workflow object (members), which the SDK keeps until then.
  auto cycles = handle->query<int32_t>("billing_cycle");
  worker.shutdown();

  if (!result.ok()) {
    const Error& error = result.error();
    std::cerr << "subscription: the workflow did not complete: " << error.ToString();
    if (error.failure) std::cerr << " (" << RootCauseMessage(*error.failure) << ")";
    std::cerr << "\n";
    return 1;
  }
  Say("result: " + result.value());
  if (!cycles.ok()) {
    std::cerr << "subscription: the final query failed: " << cycles.error().ToString() << "\n";
    return 1;
  }
  Say("client: billing cycles charged: " + std::to_string(*cycles));
  return 0;
}
