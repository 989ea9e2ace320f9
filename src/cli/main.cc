// The `eon` binary: server, command line client and (later) web UI in one.
#include <absl/synchronization/mutex.h>

#include <cstdio>
#include <string>

#include "cli/bench_command.h"
#include "cli/client_commands.h"
#include "cli/server_command.h"

namespace {

constexpr const char* kVersion = "0.1.0";
constexpr const char* kUsage = R"(eon: a durable execution platform that speaks Temporal's API.

Usage:
  eon server start [flags]       Start a production server (see eon server start --help)
  eon server start-dev [flags]   Start a development server (see eon server start-dev --help)
  eon workflow <command>         Start, list, describe, signal, ... workflows (eon workflow --help)
  eon operator namespace <cmd>   Create, describe, list, update namespaces
  eon operator search-attribute  Create, list, remove custom search attributes
  eon schedule <command>         Create, list, describe, toggle, trigger, backfill schedules
  eon activity complete|fail     Complete or fail an activity by its id
  eon task-queue describe        Show a task queue's pollers and backlog
  eon admin parked-tasks list|retry  Outbox tasks parked after failing again and again
  eon admin db migrate|status    Apply or show the database schema (eon admin db --help)
  eon bench [flags]              Run a workload through the C++ SDK and print its figures
                                 (eon bench --help)
  eon --version                  Print the version
  eon --help                     Show this help
)";

}  // namespace

int main(int argc, char** argv) {
  // gRPC locks absl::Mutex. Debian builds Abseil without NDEBUG, which leaves its deadlock
  // detector on: every lock and unlock then records its lock order in one global graph under
  // one global lock (absl::GraphCycles, ~0.7% of a loaded server's samples). Eon's own code uses
  // std::mutex; the sanitizer builds are where lock order is checked.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string first = argc > 1 ? argv[1] : "";
  if (first == "--version" || first == "-v") {
    std::printf("eon version %s\n", kVersion);
    return 0;
  }
  if (first == "" || first == "--help" || first == "-h") {
    std::fputs(kUsage, first.empty() ? stderr : stdout);
    return first.empty() ? 1 : 0;
  }
  if (first == "server") {
    std::string verb = argc > 2 ? argv[2] : "";
    if (verb == "start-dev") return eon::cli::ServerStartDev(argc - 3, argv + 3);
    if (verb == "start") return eon::cli::ServerStart(argc - 3, argv + 3);
    std::fprintf(stderr,
                 "Error: unknown command \"server %s\"; try \"eon server start\" or \"eon "
                 "server start-dev\"\n",
                 verb.c_str());
    return 1;
  }
  if (first == "bench") return eon::cli::Bench(argc - 2, argv + 2);
  if (first == "admin" && argc > 2 && std::string(argv[2]) == "db") {
    return eon::cli::AdminDb(argc - 3, argv + 3);
  }
  return eon::cli::RunClientCommand(argc - 1, argv + 1);
}
