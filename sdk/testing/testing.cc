// eon::sdk::testing: the test environment (a real `eon server start-dev` in a child process)
// and the activity environment (an ActivityContext of its own).
#include "eon/sdk/testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace eon::sdk::testing {

namespace {

constexpr int kLaunchAttemptsMax = 5;  // a free port can be taken before the server binds it
constexpr int kRestartAttemptsMax = 50;
constexpr auto kStopGrace = std::chrono::seconds(10);

// A port no one listens on, drawn at random below Linux's ephemeral range (32768 and up). A port
// the kernel picks (bind to port 0) comes from that range, where every outgoing connection of
// the machine also takes its local port, so under parallel tests it was sometimes taken by a
// connection or by another test's server before this one bound it.
int FreePort() {
  static std::mutex mutex;
  static std::mt19937 random(std::random_device{}());
  for (int attempt = 0; attempt < 100; ++attempt) {
    int port;
    {
      std::lock_guard lock(mutex);
      port = std::uniform_int_distribution<int>(20000, 32000)(random);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;
}

bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

bool Executable(const std::string& path) {
  return !path.empty() && access(path.c_str(), X_OK) == 0;
}

// The binary by the documented order; "" when none is found.
std::string FindEon(const TestEnvironmentOptions& options) {
  if (!options.eon_binary.empty()) return Executable(options.eon_binary) ? options.eon_binary : "";
  if (const char* env = std::getenv("EON_BIN"); env != nullptr && *env != '\0') {
    return Executable(env) ? env : "";
  }
  if (Executable(options.packaged_eon_binary)) return options.packaged_eon_binary;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (!dir.empty() && Executable(dir + "/eon")) return dir + "/eon";
    }
  }
  return "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

Result<std::unique_ptr<TestEnvironment>> TestEnvironment::Start(TestEnvironmentOptions options) {
  std::unique_ptr<TestEnvironment> env(new TestEnvironment());
  env->options_ = std::move(options);
  env->binary_ = FindEon(env->options_);
  if (env->binary_.empty()) {
    return Error{grpc::StatusCode::NOT_FOUND,
                 "no eon binary: set TestEnvironmentOptions::eon_binary or EON_BIN, install it "
                 "with the SDK package, or put it on PATH",
                 std::nullopt};
  }
  char tmpl[] = "/tmp/eon-sdk-testing-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return Error{grpc::StatusCode::INTERNAL, "cannot make a temporary directory", std::nullopt};
  }
  env->dir_ = tmpl;
  for (int attempt = 0; attempt < kLaunchAttemptsMax && env->pid_ < 0; ++attempt) {
    env->port_ = FreePort();
    if (env->port_ != 0) env->Launch();
  }
  if (env->pid_ < 0) {
    return Error{grpc::StatusCode::UNAVAILABLE,
                 "eon server did not start: " + ReadFile(env->dir_ + "/server.log"), std::nullopt};
  }
  env->address_ = "127.0.0.1:" + std::to_string(env->port_);
  env->task_queue_ = UniqueName("test-queue");
  ClientOptions client_options;
  client_options.address = env->address_;
  client_options.ns = env->options_.ns;
  client_options.codec = env->options_.codec;
  client_options.time_skipping = env->options_.time_skipping;
  auto client = Client::Connect(client_options);
  if (!client.ok()) return client.error();
  env->client_ = std::make_unique<Client>(std::move(client).value());
  return env;
}

bool TestEnvironment::Launch() {
  std::string command =
      "exec " + Quote(binary_) + " server start-dev --headless --ip 127.0.0.1 --port " +
      std::to_string(port_) + " --db-filename " + Quote(dir_ + "/eon.db") + " --log-level warn" +
      (options_.time_skipping ? " --time-skipping" : "") + " " + options_.extra_server_flags +
      " >> " + Quote(dir_ + "/server.log") + " 2>&1";
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + options_.server_start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (CanConnect(port_)) {
      pid_ = pid;
      return true;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;  // exited: the port was taken?
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return false;
}

TestEnvironment::~TestEnvironment() {
  for (auto& worker : workers_) worker->shutdown();
  workers_.clear();
  client_.reset();
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + kStopGrace;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

StartWorkflowOptions TestEnvironment::workflow_options(const std::string& workflow_id) const {
  StartWorkflowOptions options;
  options.id = workflow_id;
  options.task_queue = task_queue_;
  return options;
}

Worker& TestEnvironment::new_worker(WorkerOptions options) {
  if (options.task_queue.empty()) options.task_queue = task_queue_;
  workers_.push_back(std::make_unique<Worker>(*client_, std::move(options)));
  return *workers_.back();
}

Result<void> TestEnvironment::crash_and_restart_server() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  for (int attempt = 0; attempt < kRestartAttemptsMax && pid_ < 0; ++attempt) {
    if (!Launch()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (pid_ < 0) {
    return Error{grpc::StatusCode::UNAVAILABLE,
                 "eon server did not restart: " + ReadFile(dir_ + "/server.log"), std::nullopt};
  }
  return {};
}

std::string TestEnvironment::cli(const std::string& args) const {
  std::string command = Quote(binary_) + " " + args + " --address " + address_ + " 2>&1";
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  pclose(pipe);
  return out;
}

// --- ActivityEnvironment

ActivityEnvironment::ActivityEnvironment() {
  info_.ns = "default";
  info_.activity_id = "1";
  info_.activity_type = "activity";
  info_.task_queue = "test";
  info_.workflow_id = "test-workflow";
  info_.workflow_run_id = "test-run";
  info_.workflow_type = "TestWorkflow";
  info_.scheduled_time = info_.started_time = std::chrono::system_clock::now();
  info_.deadline = info_.started_time + std::chrono::minutes(1);
}

std::optional<Payload> ActivityEnvironment::RunActivity(const internal::ActivityFn& fn,
                                                        const Payloads& args) {
  ActivityContext ctx;
  ctx.info_ = info_;
  ctx.task_token_ = "test-task-token";
  ctx.converter_ = converter_;
  ctx.previous_details_ = previous_details_;
  ctx.throttle_ = false;
  int sent = 0;
  ctx.send_heartbeat_ = [this, &sent](const Payloads& details) {
    std::lock_guard lock(mu_);
    heartbeats_.push_back(details);
    ++sent;
    return cancel_on_heartbeat_ > 0 && sent >= cancel_on_heartbeat_;
  };
  {
    std::lock_guard lock(mu_);
    running_ = &ctx;
    if (cancel_requested_) ctx.Cancel();
  }
  struct Clear {
    ActivityEnvironment* env;
    ~Clear() {
      std::lock_guard lock(env->mu_);
      env->running_ = nullptr;
      env->cancel_requested_ = false;
    }
  } clear{this};
  auto result = fn(ctx, args);
  completed_async_ = ctx.async_;
  return result;
}

std::vector<Payloads> ActivityEnvironment::heartbeats() const {
  std::lock_guard lock(mu_);
  return heartbeats_;
}

void ActivityEnvironment::cancel() {
  std::lock_guard lock(mu_);
  cancel_requested_ = true;
  if (running_ != nullptr) running_->Cancel();
}

}  // namespace eon::sdk::testing
