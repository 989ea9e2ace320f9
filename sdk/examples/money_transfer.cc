// Money transfer with compensation (a saga): the workflow withdraws the amount from one account
// and deposits it into the other. When the deposit fails for good, it refunds the withdrawal
// (the compensating action) and fails, so the money is never lost in between.
//
// The bank is a map in this process, shared by the activities. Each operation carries an
// idempotency key (the workflow id plus the step), so an activity the server retries after a
// lost completion does not move the money twice.
//
//   build/examples/money_transfer [--address localhost:7233] [--from alice] [--to bob]
//       [--amount 100] [--fail-deposit]
//
// Exit code: 0 when the transfer completed, 2 when it failed and was compensated (every balance
// is back to where it started), 1 for anything else.
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "eon/sdk/sdk.h"

using namespace eon::sdk;
using namespace std::chrono_literals;

namespace {

constexpr char kTaskQueue[] = "money-transfer";

struct TransferRequest {
  std::string from;
  std::string to;
  int64_t amount = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TransferRequest, from, to, amount)

std::mutex print_mu;  // guards std::cout (activities print from the worker's threads)

void Say(const std::string& line) {
  std::lock_guard lock(print_mu);
  std::cout << line << std::endl;
}

// An in-memory bank. Thread-safe: activities run on several threads.
class Bank {
 public:
  Bank(std::map<std::string, int64_t> balances, bool fail_deposits)
      : balances_(std::move(balances)), fail_deposits_(fail_deposits) {}

  // Each operation is applied once per idempotency key; a repeat is a no-op.
  void Withdraw(const std::string& key, const std::string& account, int64_t amount) {
    std::lock_guard lock(mu_);
    if (applied_.count(key)) return;
    auto it = FindAccount(account);
    if (it->second < amount) {
      throw ApplicationError("insufficient funds in " + account + ": balance " +
                                 std::to_string(it->second) + ", needs " + std::to_string(amount),
                             "InsufficientFunds", /*non_retryable=*/true);
    }
    it->second -= amount;
    applied_.insert(key);
    Say("withdrew " + std::to_string(amount) + " from " + account);
  }

  void Deposit(const std::string& key, const std::string& account, int64_t amount) {
    std::lock_guard lock(mu_);
    if (applied_.count(key)) return;
    if (fail_deposits_) {
      throw ApplicationError("deposits into " + account + " are refused (--fail-deposit)",
                             "DepositRefused", /*non_retryable=*/true);
    }
    FindAccount(account)->second += amount;
    applied_.insert(key);
    Say("deposited " + std::to_string(amount) + " into " + account);
  }

  void Refund(const std::string& key, const std::string& account, int64_t amount) {
    std::lock_guard lock(mu_);
    if (applied_.count(key)) return;
    FindAccount(account)->second += amount;
    applied_.insert(key);
    Say("refunded " + std::to_string(amount) + " to " + account);
  }

  std::map<std::string, int64_t> balances() const {
    std::lock_guard lock(mu_);
    return balances_;
  }

 private:
  // REQUIRES: mu_ held. Throws a non-retryable ApplicationError for an unknown account.
  std::map<std::string, int64_t>::iterator FindAccount(const std::string& account) {
    auto it = balances_.find(account);
    if (it == balances_.end()) {
      throw ApplicationError("unknown account " + account, "UnknownAccount",
                             /*non_retryable=*/true);
    }
    return it;
  }

  mutable std::mutex mu_;  // guards the members below
  std::map<std::string, int64_t> balances_;
  std::set<std::string> applied_;  // idempotency keys of the operations done
  const bool fail_deposits_;
};

// The idempotency key of one step of one transfer.
std::string StepKey(const ActivityContext& ctx, const char* step) {
  return ctx.info().workflow_id + "/" + ctx.info().workflow_run_id + "/" + step;
}

// --- The workflow.

Task<std::string> MoneyTransfer(WorkflowContext& ctx, TransferRequest request) {
  // A few quick retries; a non-retryable error (an unknown account) is not retried at all.
  const ActivityOptions options =
      ActivityOptions().start_to_close(5s).retry(RetryPolicy()
                                                     .initial_interval(100ms)
                                                     .backoff_coefficient(2.0)
                                                     .maximum_interval(1s)
                                                     .maximum_attempts(3));

  co_await ctx.execute_activity<void>("Withdraw", options, request.from, request.amount);

  // C++ does not allow co_await inside a catch block: keep the error, compensate after it.
  std::exception_ptr deposit_error;
  try {
    co_await ctx.execute_activity<void>("Deposit", options, request.to, request.amount);
  } catch (const ActivityError&) {
    deposit_error = std::current_exception();
  }
  if (deposit_error) {
    co_await ctx.execute_activity<void>("Refund", options, request.from, request.amount);
    std::rethrow_exception(deposit_error);  // fails the workflow with the deposit's failure
  }
  co_return "transferred " + std::to_string(request.amount) + " from " + request.from + " to " +
      request.to;
}

// --- The program: a worker and a client.

struct Flags {
  std::string address = "localhost:7233";
  TransferRequest request{.from = "alice", .to = "bob", .amount = 100};
  bool fail_deposit = false;
};

// Returns an error message, or "" when the flags are fine.
std::string ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--fail-deposit") {
      flags->fail_deposit = true;
      continue;
    }
    if (i + 1 >= argc) return "missing value for " + flag;
    const char* value = argv[++i];
    if (flag == "--address") {
      flags->address = value;
    } else if (flag == "--from") {
      flags->request.from = value;
    } else if (flag == "--to") {
      flags->request.to = value;
    } else if (flag == "--amount") {
      char* end = nullptr;
      errno = 0;
      long long amount = std::strtoll(value, &end, 10);
      if (errno != 0 || end == value || *end != '\0' || amount <= 0) {
        return "bad value for --amount (a positive integer): " + std::string(value);
      }
      flags->request.amount = amount;
    } else {
      return "unknown flag " + flag;
    }
  }
  return "";
}

void PrintBalances(const std::map<std::string, int64_t>& balances) {
  std::string line = "balances:";
  for (const auto& [account, balance] : balances) {
    line += " " + account + "=" + std::to_string(balance);
  }
  Say(line);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (std::string error = ParseFlags(argc, argv, &flags); !error.empty()) {
    std::cerr << "money_transfer: " << error << "\n";
    return 1;
  }
  const std::map<std::string, int64_t> initial_balances = {{"alice", 1000}, {"bob", 500}};
  Bank bank(initial_balances, flags.fail_deposit);
  PrintBalances(bank.balances());

  ClientOptions client_options;
  client_options.address = flags.address;
  auto client = Client::Connect(client_options);
  if (!client.ok()) {
    std::cerr << "money_transfer: cannot connect to " << flags.address << ": "
              << client.error().ToString() << "\n";
    return 1;
  }
  // The activities capture the bank; the worker (and its threads) ends before the bank does.
  WorkerOptions worker_options;
  worker_options.task_queue = kTaskQueue;
  Worker worker(client.value(), worker_options);
  worker.register_workflow("MoneyTransfer", MoneyTransfer);
  worker.register_activity(
      "Withdraw", [&bank](ActivityContext& ctx, const std::string& account, int64_t amount) {
        bank.Withdraw(StepKey(ctx, "withdraw"), account, amount);
      });
  worker.register_activity(
      "Deposit", [&bank](ActivityContext& ctx, const std::string& account, int64_t amount) {
        bank.Deposit(StepKey(ctx, "deposit"), account, amount);
      });
  worker.register_activity(
      "Refund", [&bank](ActivityContext& ctx, const std::string& account, int64_t amount) {
        bank.Refund(StepKey(ctx, "refund"), account, amount);
      });
  if (auto started = worker.start(); !started.ok()) {
    std::cerr << "money_transfer: cannot start the worker: " << started.error().ToString() << "\n";
    return 1;
  }

  const TransferRequest& request = flags.request;
  Say("transferring " + std::to_string(request.amount) + " from " + request.from + " to " +
      request.to);
  // A fresh id per run: a transfer is not to be repeated by accident, and the ids of finished
  // transfers stay in the server's history.
  StartWorkflowOptions start;
  start.id = "transfer-" + request.from + "-" + request.to + "-" +
             std::to_string(std::chrono::system_clock::now().time_since_epoch() /
                            std::chrono::microseconds(1));
  start.task_queue = kTaskQueue;
  auto result = client->execute_workflow<std::string>("MoneyTransfer", start, request);
  worker.shutdown();
  auto balances = bank.balances();

  if (result.ok()) {
    Say("result: " + result.value());
    PrintBalances(balances);
    return 0;
  }
  const Error& error = result.error();
  if (!error.failure) {  // not the workflow's failure: the server or the connection
    std::cerr << "money_transfer: " << error.ToString() << "\n";
    PrintBalances(balances);
    return 1;
  }
  Say("transfer failed: " + RootCauseMessage(*error.failure));
  PrintBalances(balances);
  if (balances == initial_balances) {
    Say("no money was lost: every balance is back to where it started");
    return 2;
  }
  std::cerr << "money_transfer: the transfer failed and the balances were not restored\n";
  return 1;
}
