// `eon bench` (see bench_command.h and bench/README.md).
//
// The server under test is a child `eon server start-dev` (this binary, /proc/self/exe) on free
// ports with a durable SQLite file in a temp dir, or the one at --address. Its cost is the
// difference between two samples taken around the measured phase (after the warm-up), read
// from its /metrics: process_cpu_seconds_total and process_resident_memory_bytes (for a child
// whose metrics cannot be read, /proc/<pid>/stat), eon_db_commits_total, eon_db_fsyncs_total
// and eon_process_context_switches_total.
#include "cli/bench_command.h"

#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/parse.h"
#include "common/process_stats.h"
#include "eon/sdk/sdk.h"

namespace eon::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using sdk::ActivityOptions;
using sdk::LocalActivityOptions;
using sdk::Task;
using sdk::WorkflowContext;

constexpr const char* kBenchUsage =
    R"(Run a workload against Eon through the C++ SDK and print one line of figures.

Usage:
  eon bench [flags]

By default it starts its own server (eon server start-dev on free ports, with a durable SQLite
file in a temp dir, removed afterwards), runs a worker and a client in this process, and prints:
  scenario=activity workflows=1000 failed=0 loop=closed concurrency=16 seconds=1.71
  wf/s=584.3 p50_ms=26.1 p99_ms=41.2 server_cpu_ms/wf=2.31 db_tx/wf=3.10 fsyncs/wf=3.20
  ctx_switches/wf=45.1 bench_cpu_ms/wf=1.20 loadavg=1.54        (all on one line)
Latency runs from the start of StartWorkflowExecution to the result. The warm-up is excluded
from every figure; server figures are "n/a" when they cannot be read.

Flags:
      --scenario name         empty, activity, activities3, local-activity, timer or signal
                              (default activity). signal: the workflow waits for a signal that
                              the bench sends right after starting it
      --concurrency n         Closed loop: n workflows in flight at once (default 16). With
                              --rate: the most in flight (default 500)
      --rate r                Open loop: start r workflows per second (a start that is late
                              because the --concurrency cap is reached counts its latency from
                              when it was due)
      --workflows n           Measured workflows (default 1000)
      --duration s            Instead of --workflows: start workflows for s seconds
      --warmup n              Workflows run first and left out of the figures (default: a tenth
                              of --workflows, from 10 to 100; 50 with --duration)
      --timer-ms n            The timer of the timer scenario (default 100)
      --worker-threads n      Workflow task and activity threads of the worker (default 8)
      --open-timers n         Instead: start n workflows that each wait on a one-hour timer, then
                              report the server's RSS (and RSS per workflow)
      --address host:port     Use the server there instead of starting one (it keeps what the
                              bench started: workflows with --open-timers keep waiting)
      --metrics-address h:p   Its /metrics, for the server figures (process_cpu_seconds_total,
                              process_resident_memory_bytes and Eon's counters)
      --namespace name        Namespace (default "default")
      --sync-normal           Start the server with --sync-normal (SQLite synchronous=NORMAL)
      --json                  Print the line as a JSON object
  -h, --help                  Show this help
)";

constexpr std::chrono::seconds kServerStartTimeout{30};
constexpr std::chrono::seconds kServerStopTimeout{20};
// --open-timers fails when no first workflow task ran for this long while some wait.
constexpr std::chrono::seconds kOpenTimersStallTimeout{60};
constexpr std::chrono::seconds kScrapeTimeout{10};
constexpr std::chrono::hours kLongTimer{1};
constexpr int kOpenLoopConcurrencyDefault = 500;
constexpr int kConcurrencyMax = 10'000;
constexpr size_t kHttpResponseBytesMax = 64 << 20;

struct BenchOptions {
  std::string scenario = "activity";
  int concurrency = 0;    // 0: the default of the loop
  double rate_per_s = 0;  // 0: closed loop
  int64_t workflows = 1000;
  double duration_s = 0;  // 0: run --workflows
  int64_t warmup = -1;    // -1: the default
  int timer_ms = 100;
  int worker_threads = 8;
  int64_t open_timers = 0;
  std::string address;
  std::string metrics_address;
  std::string ns = "default";
  bool sync_normal = false;
  bool json = false;
};

// --- the workflows ------------------------------------------------------------------------

std::string Echo(std::string s) { return s; }

Task<std::string> BenchEmpty(WorkflowContext&, std::string s) { co_return s; }

Task<std::string> BenchActivity(WorkflowContext& ctx, std::string s) {
  co_return co_await ctx.execute_activity<std::string>("Echo",
                                                       ActivityOptions().start_to_close(10s), s);
}

Task<std::string> BenchActivities3(WorkflowContext& ctx, std::string s) {
  for (int i = 0; i < 3; ++i) {
    s = co_await ctx.execute_activity<std::string>("Echo", ActivityOptions().start_to_close(10s),
                                                   s);
  }
  co_return s;
}

Task<std::string> BenchLocalActivity(WorkflowContext& ctx, std::string s) {
  co_return co_await ctx.execute_local_activity<std::string>(
      "Echo", LocalActivityOptions().start_to_close(10s), s);
}

Task<std::string> BenchTimer(WorkflowContext& ctx, int timer_ms) {
  co_await ctx.sleep(std::chrono::milliseconds(timer_ms));
  co_return std::string("fired");
}

Task<std::string> BenchSignal(WorkflowContext& ctx) {
  bool go = false;
  ctx.set_signal_handler("go", [&go]() { go = true; });
  co_await ctx.wait_condition([&go] { return go; });
  co_return std::string("signaled");
}

// Workflow ids whose first workflow task ran (a set: a replay runs the code again).
std::mutex first_tasks_mutex;
std::unordered_set<std::string> first_tasks;  // guarded by first_tasks_mutex

Task<void> BenchWaitLong(WorkflowContext& ctx) {
  {
    std::lock_guard lock(first_tasks_mutex);
    first_tasks.insert(ctx.info().workflow_id);
  }
  co_await ctx.sleep(kLongTimer);
}

size_t FirstTasksRan() {
  std::lock_guard lock(first_tasks_mutex);
  return first_tasks.size();
}

bool KnownScenario(const std::string& name) {
  for (const char* known :
       {"empty", "activity", "activities3", "local-activity", "timer", "signal"}) {
    if (name == known) return true;
  }
  return false;
}

// --- the server under test ----------------------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The text after `prefix` on its line in `text`, up to `end` (exclusive), or "".
std::string After(const std::string& text, const std::string& prefix, char end) {
  size_t at = text.find(prefix);
  if (at == std::string::npos) return "";
  at += prefix.size();
  size_t stop = text.find_first_of(std::string(1, end) + "\n", at);
  if (stop == std::string::npos) return "";
  return text.substr(at, stop - at);
}

// A child `eon server start-dev`; stopped (SIGTERM, then SIGKILL) and its temp dir removed when
// destroyed.
class ChildServer {
 public:
  static Result<std::unique_ptr<ChildServer>> Start(const BenchOptions& options) {
    char dir_template[] = "/tmp/eon-bench-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return Unavailable("cannot make a temp dir in /tmp");
    auto child = std::unique_ptr<ChildServer>(new ChildServer(dir_template));
    std::vector<std::string> args = {"eon",
                                     "server",
                                     "start-dev",
                                     "--port",
                                     "0",
                                     "--metrics-port",
                                     "0",
                                     "--headless",
                                     "--db-filename",
                                     child->dir_ + "/bench.db",
                                     "--log-level",
                                     "warn"};
    if (options.sync_normal) args.push_back("--sync-normal");
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string out_path = child->dir_ + "/server.out";
    const std::string err_path = child->dir_ + "/server.err";
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return Unavailable("cannot fork the server");
    if (pid == 0) {
      // The server ends with the bench, even when the bench is killed.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(1);
      int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || err < 0) _exit(1);
      dup2(out, 1);
      dup2(err, 2);
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    child->pid_ = pid;
    const auto deadline = Clock::now() + kServerStartTimeout;
    while (Clock::now() < deadline) {
      const std::string out = ReadFile(out_path);
      child->address_ = After(out, "listening on ", ' ');
      const std::string metrics = After(out, "Metrics: http://", '/');
      if (!child->address_.empty() && !metrics.empty()) {
        child->metrics_address_ = metrics;
        return child;
      }
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        child->pid_ = 0;
        return Unavailable("the server exited at start: " + ReadFile(err_path));
      }
      std::this_thread::sleep_for(20ms);
    }
    return Unavailable("the server did not start within " +
                       std::to_string(kServerStartTimeout.count()) + " s: " + ReadFile(err_path));
  }

  ~ChildServer() {
    Stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Stops the server; false when it had to be killed or exited with an error.
  bool Stop() {
    if (pid_ == 0) return true;
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + kServerStopTimeout;
    int status = 0;
    bool exited = false;
    while (Clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    if (!exited) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = 0;
    return exited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  pid_t pid() const { return pid_; }
  const std::string& address() const { return address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  std::string errors() const { return ReadFile(dir_ + "/server.err"); }

 private:
  explicit ChildServer(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  pid_t pid_ = 0;
  std::string address_;
  std::string metrics_address_;
};

// GET http://host:port/metrics; the body.
Result<std::string> ScrapeMetrics(const std::string& host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("not host:port: " + host_port);
  std::string host = host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const std::string port = host_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return Unavailable("cannot resolve " + host_port);
  }
  int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  timeval timeout{static_cast<time_t>(kScrapeTimeout.count()), 0};
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
  const bool connected = fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  if (!connected) {
    if (fd >= 0) close(fd);
    return Unavailable("cannot connect to " + host_port);
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: " + host_port + "\r\n\r\n";
  std::string response;
  bool sent = send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
              static_cast<ssize_t>(request.size());
  char buffer[16384];
  for (ssize_t n; sent && (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) {
    response.append(buffer, static_cast<size_t>(n));
    if (response.size() > kHttpResponseBytesMax) break;
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200") > 12 ||
      body == std::string::npos) {
    return Unavailable("no metrics from http://" + host_port + "/metrics");
  }
  return response.substr(body + 4);
}

// The sum of every sample of `name` (any labels) in the Prometheus text format, or nullopt.
std::optional<double> SumMetric(const std::string& text, const std::string& name) {
  std::optional<double> sum;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    const size_t space = line.rfind(' ');
    auto value = ParseNumber<double>(std::string_view(line).substr(space + 1));
    if (value) sum = sum.value_or(0) + *value;
  }
  return sum;
}

// What the server has spent so far; a figure the bench could not read is nullopt.
struct ServerSample {
  std::optional<double> cpu_s, rss_bytes, commits, fsyncs, switches;
};

struct Target {
  std::string address;
  std::string metrics_address;  // "" when unknown
  pid_t pid = 0;                // a child server, else 0
};

ServerSample SampleServer(const Target& target) {
  ServerSample sample;
  if (!target.metrics_address.empty()) {
    auto text = ScrapeMetrics(target.metrics_address);
    if (text.ok()) {
      sample.cpu_s = SumMetric(*text, "process_cpu_seconds_total");
      sample.rss_bytes = SumMetric(*text, "process_resident_memory_bytes");
      sample.commits = SumMetric(*text, "eon_db_commits_total");
      sample.fsyncs = SumMetric(*text, "eon_db_fsyncs_total");
      sample.switches = SumMetric(*text, "eon_process_context_switches_total");
    }
  }
  // /metrics has CPU time in microseconds (getrusage), /proc in clock ticks (10 ms): /proc is
  // the fallback for a child whose metrics cannot be read.
  if (target.pid != 0 && (!sample.cpu_s || !sample.rss_bytes)) {
    auto stats = ProcessStatsOf(target.pid);
    if (stats.ok()) {
      sample.cpu_s = stats->cpu_seconds;
      sample.rss_bytes = static_cast<double>(stats->rss_bytes);
    }
  }
  return sample;
}

// (after - before) / per, or nullopt when either is unknown.
std::optional<double> PerUnit(std::optional<double> before, std::optional<double> after,
                              double per) {
  if (!before || !after || per <= 0) return std::nullopt;
  return (*after - *before) / per;
}

double LoadAverage() {
  std::ifstream file("/proc/loadavg");
  double one_minute = 0;
  file >> one_minute;
  return one_minute;
}

// --- the load -----------------------------------------------------------------------------

struct PhaseResult {
  int64_t succeeded = 0;
  int64_t failed = 0;
  double seconds = 0;                // first start to last result
  std::vector<double> latencies_ms;  // succeeded ones
  std::string first_error;
};

// Runs `one(i)` for i = 0, 1, ... on `concurrency` threads: back to back (closed loop), or
// each due at i / rate_per_s seconds (open loop, late starts measured from when they were due).
// Stops after `count` workflows (count >= 0) or once `duration_s` has passed (duration_s > 0).
PhaseResult RunPhase(const std::function<sdk::Result<void>(int64_t)>& one, int concurrency,
                     double rate_per_s, int64_t count, double duration_s) {
  std::atomic<int64_t> next{0};
  std::mutex mutex;
  PhaseResult result;
  Clock::time_point last_end;
  const auto begin = Clock::now();
  const auto end_by = begin + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(duration_s));
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      std::vector<double> latencies;
      int64_t failed = 0;
      std::string error;
      Clock::time_point ended = begin;
      for (;;) {
        const int64_t i = next++;
        if (count >= 0 && i >= count) break;
        Clock::time_point start = Clock::now();
        if (rate_per_s > 0) {
          start = begin + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(i) / rate_per_s));
        }
        if (duration_s > 0 && std::max(start, Clock::now()) >= end_by) break;
        if (rate_per_s > 0) std::this_thread::sleep_until(start);
        auto done = one(i);
        ended = Clock::now();
        if (done.ok()) {
          latencies.push_back(std::chrono::duration<double, std::milli>(ended - start).count());
        } else {
          ++failed;
          if (error.empty()) error = done.error().ToString();
        }
      }
      std::lock_guard lock(mutex);
      result.latencies_ms.insert(result.latencies_ms.end(), latencies.begin(), latencies.end());
      result.failed += failed;
      if (result.first_error.empty()) result.first_error = error;
      last_end = std::max(last_end, ended);
    });
  }
  for (auto& thread : threads) thread.join();
  result.succeeded = static_cast<int64_t>(result.latencies_ms.size());
  result.seconds = std::chrono::duration<double>(last_end - begin).count();
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  return result;
}

// The nearest-rank percentile of sorted values (p in 0..1); 0 when empty.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// One line of key=value pairs, or a JSON object with the same keys.
class Line {
 public:
  void Text(const std::string& key, const std::string& value) {
    fields_.push_back({key, value, "\"" + value + "\""});
  }
  void Number(const std::string& key, std::optional<double> value, int decimals) {
    if (!value) {
      fields_.push_back({key, "n/a", "null"});
      return;
    }
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, *value);
    fields_.push_back({key, text, text});
  }
  std::string Render(bool json) const {
    std::string out = json ? "{" : "";
    for (size_t i = 0; i < fields_.size(); ++i) {
      const auto& [key, text, json_value] = fields_[i];
      if (json)
        out += (i ? ", \"" : "\"") + key + "\": " + json_value;
      else
        out += (i ? " " : "") + key + "=" + text;
    }
    return out + (json ? "}" : "");
  }

 private:
  struct Field {
    std::string key, text, json;
  };
  std::vector<Field> fields_;
};

// --- flags ----------------------------------------------------------------------------------

int BadFlag(const std::string& message) {
  std::fprintf(stderr, "Error: %s (see eon bench --help)\n", message.c_str());
  return 2;
}

// Parses argv into options; returns an exit code when the bench should not run (help: 0).
std::optional<int> ParseFlags(int argc, char** argv, BenchOptions& options) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string value;
    bool has_inline = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    auto next = [&]() -> std::optional<std::string> {
      if (has_inline) return value;
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    auto whole = [&](int64_t min, int64_t max) -> std::optional<int64_t> {
      auto text = next();
      if (!text) return std::nullopt;
      auto n = ParseNumber<int64_t>(*text);
      if (!n || *n < min || *n > max) return std::nullopt;
      return n;
    };
    auto range = [](int64_t min, int64_t max) {
      return " needs a whole number from " + std::to_string(min) + " to " + std::to_string(max);
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kBenchUsage, stdout);
      return 0;
    } else if (arg == "--scenario") {
      auto name = next();
      if (!name || !KnownScenario(*name)) {
        return BadFlag(
            "--scenario must be one of empty, activity, activities3, local-activity, "
            "timer, signal");
      }
      options.scenario = *name;
    } else if (arg == "--concurrency") {
      auto n = whole(1, kConcurrencyMax);
      if (!n) return BadFlag(arg + range(1, kConcurrencyMax));
      options.concurrency = static_cast<int>(*n);
    } else if (arg == "--rate") {
      auto text = next();
      auto rate = text ? ParseNumber<double>(*text) : std::nullopt;
      if (!rate || !(*rate > 0) || *rate > 1e6)
        return BadFlag("--rate needs workflows per second, above 0 and at most 1000000");
      options.rate_per_s = *rate;
    } else if (arg == "--workflows" || arg == "--open-timers") {
      auto n = whole(1, int64_t{1} << 32);
      if (!n) return BadFlag(arg + range(1, int64_t{1} << 32));
      (arg == "--workflows" ? options.workflows : options.open_timers) = *n;
    } else if (arg == "--warmup") {
      auto n = whole(0, 1'000'000);
      if (!n) return BadFlag(arg + range(0, 1'000'000));
      options.warmup = *n;
    } else if (arg == "--duration") {
      auto text = next();
      if (text && !text->empty() && text->back() == 's') text->pop_back();
      auto seconds = text ? ParseNumber<double>(*text) : std::nullopt;
      if (!seconds || !(*seconds > 0) || *seconds > 86'400)
        return BadFlag("--duration needs seconds, above 0 and at most 86400");
      options.duration_s = *seconds;
    } else if (arg == "--timer-ms") {
      auto n = whole(1, 3'600'000);
      if (!n) return BadFlag(arg + range(1, 3'600'000));
      options.timer_ms = static_cast<int>(*n);
    } else if (arg == "--worker-threads") {
      auto n = whole(1, 1024);
      if (!n) return BadFlag(arg + range(1, 1024));
      options.worker_threads = static_cast<int>(*n);
    } else if (arg == "--address" || arg == "--metrics-address" || arg == "--namespace") {
      auto text = next();
      if (!text || text->empty()) return BadFlag(arg + " needs a value");
      if (arg != "--namespace" && text->find(':') == std::string::npos)
        return BadFlag(arg + " needs host:port");
      (arg == "--address"           ? options.address
       : arg == "--metrics-address" ? options.metrics_address
                                    : options.ns) = *text;
    } else if (arg == "--sync-normal") {
      options.sync_normal = true;
    } else if (arg == "--json") {
      options.json = true;
    } else {
      return BadFlag("unknown flag " + args[i] + " for \"eon bench\"");
    }
  }
  if (!options.metrics_address.empty() && options.address.empty())
    return BadFlag("--metrics-address goes with --address");
  if (options.sync_normal && !options.address.empty())
    return BadFlag("--sync-normal is for the server the bench starts, not with --address");
  if (options.concurrency == 0)
    options.concurrency = options.rate_per_s > 0 ? kOpenLoopConcurrencyDefault : 16;
  if (options.warmup < 0) {
    options.warmup =
        options.duration_s > 0 ? 50 : std::clamp<int64_t>(options.workflows / 10, 10, 100);
  }
  return std::nullopt;
}

// --- the runs -------------------------------------------------------------------------------

int RunScenario(const BenchOptions& options, const Target& target, sdk::Client& client,
                const std::string& queue) {
  sdk::Worker worker(client,
                     {.task_queue = queue,
                      .max_concurrent_workflow_tasks = static_cast<size_t>(options.worker_threads),
                      .max_concurrent_activities = static_cast<size_t>(options.worker_threads)});
  worker.register_workflow("BenchEmpty", BenchEmpty);
  worker.register_workflow("BenchActivity", BenchActivity);
  worker.register_workflow("BenchActivities3", BenchActivities3);
  worker.register_workflow("BenchLocalActivity", BenchLocalActivity);
  worker.register_workflow("BenchTimer", BenchTimer);
  worker.register_workflow("BenchSignal", BenchSignal);
  worker.register_activity("Echo", Echo);
  if (auto started = worker.start(); !started.ok()) {
    std::fprintf(stderr, "Error: the worker did not start: %s\n",
                 started.error().ToString().c_str());
    return 1;
  }
  const std::string& scenario = options.scenario;
  auto run = [&](const std::string& phase) {
    return [&, phase](int64_t i) -> sdk::Result<void> {
      sdk::StartWorkflowOptions start{.id = queue + "-" + phase + "-" + std::to_string(i),
                                      .task_queue = queue};
      sdk::Result<sdk::WorkflowHandle> handle = sdk::Error{};
      if (scenario == "timer") {
        handle = client.start_workflow("BenchTimer", start, options.timer_ms);
      } else if (scenario == "signal") {
        handle = client.start_workflow("BenchSignal", start);
        if (handle.ok()) {
          auto signaled = handle->signal("go");
          if (!signaled.ok()) return signaled.error();
        }
      } else {
        const char* type = scenario == "empty"            ? "BenchEmpty"
                           : scenario == "activities3"    ? "BenchActivities3"
                           : scenario == "local-activity" ? "BenchLocalActivity"
                                                          : "BenchActivity";
        handle = client.start_workflow(type, start, std::string("x"));
      }
      if (!handle.ok()) return handle.error();
      auto result = handle->result<std::string>();
      if (!result.ok()) return result.error();
      return {};
    };
  };

  PhaseResult warmup =
      RunPhase(run("warmup"), options.concurrency, options.rate_per_s, options.warmup, 0);
  const ServerSample server_before = SampleServer(target);
  const ProcessStats bench_before = OwnProcessStats();
  PhaseResult measured =
      RunPhase(run("run"), options.concurrency, options.rate_per_s,
               options.duration_s > 0 ? -1 : options.workflows, options.duration_s);
  const ServerSample server_after = SampleServer(target);
  const ProcessStats bench_after = OwnProcessStats();
  worker.shutdown();

  const double n = static_cast<double>(measured.succeeded + measured.failed);
  Line line;
  line.Text("scenario", scenario);
  line.Number("workflows", static_cast<double>(measured.succeeded + measured.failed), 0);
  line.Number("failed", static_cast<double>(measured.failed + warmup.failed), 0);
  line.Text("loop", options.rate_per_s > 0 ? "open" : "closed");
  if (options.rate_per_s > 0) line.Number("rate", options.rate_per_s, 1);
  line.Number("concurrency", options.concurrency, 0);
  line.Number("seconds", measured.seconds, 2);
  line.Number("wf/s", measured.seconds > 0 ? measured.succeeded / measured.seconds : 0, 1);
  line.Number("p50_ms", Percentile(measured.latencies_ms, 0.50), 1);
  line.Number("p99_ms", Percentile(measured.latencies_ms, 0.99), 1);
  auto server_cpu = PerUnit(server_before.cpu_s, server_after.cpu_s, n);
  line.Number("server_cpu_ms/wf", server_cpu ? std::optional(*server_cpu * 1000) : std::nullopt, 3);
  line.Number("db_tx/wf", PerUnit(server_before.commits, server_after.commits, n), 2);
  line.Number("fsyncs/wf", PerUnit(server_before.fsyncs, server_after.fsyncs, n), 2);
  line.Number("ctx_switches/wf", PerUnit(server_before.switches, server_after.switches, n), 1);
  line.Number("bench_cpu_ms/wf", (bench_after.cpu_seconds - bench_before.cpu_seconds) * 1000 / n,
              3);
  line.Number("loadavg", LoadAverage(), 2);
  std::printf("%s\n", line.Render(options.json).c_str());
  std::fflush(stdout);
  const std::string& error =
      !warmup.first_error.empty() ? warmup.first_error : measured.first_error;
  if (!error.empty()) std::fprintf(stderr, "Error: a workflow failed: %s\n", error.c_str());
  return measured.failed + warmup.failed == 0 && measured.succeeded > 0 ? 0 : 1;
}

int RunOpenTimers(const BenchOptions& options, const Target& target, sdk::Client& client,
                  const std::string& queue) {
  sdk::Worker worker(client,
                     {.task_queue = queue,
                      .max_concurrent_workflow_tasks = static_cast<size_t>(options.worker_threads),
                      .max_concurrent_activities = static_cast<size_t>(options.worker_threads)});
  worker.register_workflow("BenchWaitLong", BenchWaitLong);
  if (auto started = worker.start(); !started.ok()) {
    std::fprintf(stderr, "Error: the worker did not start: %s\n",
                 started.error().ToString().c_str());
    return 1;
  }
  const ServerSample idle = SampleServer(target);
  const auto begin = Clock::now();
  std::atomic<int64_t> started_count{0};
  std::thread progress_thread;
  std::atomic<bool> done{false};
  progress_thread = std::thread([&] {
    auto last = Clock::now();
    while (!done) {
      std::this_thread::sleep_for(100ms);
      if (Clock::now() - last < 10s) continue;
      last = Clock::now();
      std::fprintf(stderr, "  %.0f s: %lld started, %zu waiting on their timer\n",
                   std::chrono::duration<double>(last - begin).count(),
                   static_cast<long long>(started_count.load()), FirstTasksRan());
    }
  });
  PhaseResult starts = RunPhase(
      [&](int64_t i) -> sdk::Result<void> {
        auto handle = client.start_workflow(
            "BenchWaitLong", {.id = queue + "-timer-" + std::to_string(i), .task_queue = queue});
        if (!handle.ok()) return handle.error();
        ++started_count;
        return {};
      },
      options.concurrency, options.rate_per_s, options.open_timers, 0);
  const double start_s = std::chrono::duration<double>(Clock::now() - begin).count();
  // Every first workflow task runs and starts its timer; a stall ends the wait.
  const size_t expected = static_cast<size_t>(starts.succeeded);
  size_t last = FirstTasksRan();
  auto last_progress = Clock::now();
  while (FirstTasksRan() < expected && Clock::now() - last_progress < kOpenTimersStallTimeout) {
    std::this_thread::sleep_for(100ms);
    if (FirstTasksRan() != last) {
      last = FirstTasksRan();
      last_progress = Clock::now();
    }
  }
  // The worker's shutdown waits for the workflow tasks in hand, so every timer is durable now.
  worker.shutdown();
  done = true;
  progress_thread.join();
  const double ready_s = std::chrono::duration<double>(Clock::now() - begin).count();
  std::this_thread::sleep_for(1s);  // the last commits' caches and queues settle
  const ServerSample loaded = SampleServer(target);
  const size_t waiting = FirstTasksRan();

  const double mb = 1024.0 * 1024.0;
  Line line;
  line.Number("open_timers", static_cast<double>(waiting), 0);
  line.Number("failed", static_cast<double>(options.open_timers) - static_cast<double>(waiting), 0);
  line.Number("start_s", start_s, 1);
  line.Number("ready_s", ready_s, 1);
  line.Number("server_rss_mb",
              loaded.rss_bytes ? std::optional(*loaded.rss_bytes / mb) : std::nullopt, 1);
  line.Number("idle_rss_mb", idle.rss_bytes ? std::optional(*idle.rss_bytes / mb) : std::nullopt,
              1);
  auto per = PerUnit(idle.rss_bytes, loaded.rss_bytes, static_cast<double>(waiting));
  line.Number("rss_kb/wf", per ? std::optional(*per / 1024) : std::nullopt, 2);
  auto cpu = PerUnit(idle.cpu_s, loaded.cpu_s, static_cast<double>(waiting));
  line.Number("server_cpu_ms/wf", cpu ? std::optional(*cpu * 1000) : std::nullopt, 3);
  line.Number("loadavg", LoadAverage(), 2);
  std::printf("%s\n", line.Render(options.json).c_str());
  std::fflush(stdout);
  if (!starts.first_error.empty())
    std::fprintf(stderr, "Error: a start failed: %s\n", starts.first_error.c_str());
  if (waiting < expected) {
    std::fprintf(stderr,
                 "Error: %zu of %zu started workflows ran their first workflow task; none ran for "
                 "%lld s\n",
                 waiting, expected, static_cast<long long>(kOpenTimersStallTimeout.count()));
  }
  return waiting == static_cast<size_t>(options.open_timers) ? 0 : 1;
}

}  // namespace

int Bench(int argc, char** argv) {
  BenchOptions options;
  if (auto exit_code = ParseFlags(argc, argv, options)) return *exit_code;
  std::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<ChildServer> child;
  Target target{.address = options.address, .metrics_address = options.metrics_address};
  if (options.address.empty()) {
    auto started = ChildServer::Start(options);
    if (!started.ok()) {
      std::fprintf(stderr, "Error: %s\n", started.status().message().c_str());
      return 1;
    }
    child = std::move(*started);
    target = {.address = child->address(),
              .metrics_address = child->metrics_address(),
              .pid = child->pid()};
  }
  int exit_code = 1;
  {
    auto client = sdk::Client::Connect({.address = target.address, .ns = options.ns});
    if (!client.ok()) {
      std::fprintf(stderr, "Error: cannot connect to %s: %s\n", target.address.c_str(),
                   client.error().ToString().c_str());
      return 1;
    }
    const std::string queue =
        "bench-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    exit_code = options.open_timers > 0 ? RunOpenTimers(options, target, *client, queue)
                                        : RunScenario(options, target, *client, queue);
  }
  if (child && !child->Stop()) {
    std::fprintf(stderr, "Error: the server did not stop cleanly: %s\n", child->errors().c_str());
    exit_code = 1;
  }
  return exit_code;
}

}  // namespace eon::cli
