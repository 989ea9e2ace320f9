#include "test_server.h"

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
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace eon::sdk::testing {

namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

TestServer::TestServer(const std::string& extra_flags) : extra_flags_(extra_flags) {
  char tmpl[] = "/tmp/eon-sdk-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
    port_ = FreePort();
    Launch(extra_flags_);
  }
  if (pid_ < 0) {
    std::ifstream log(dir_ + "/server.log");
    std::cerr << "eon server did not start:\n" << log.rdbuf() << "\n";
    std::abort();
  }
  address_ = "127.0.0.1:" + std::to_string(port_);
}

bool TestServer::Launch(const std::string& extra_flags) {
  std::string command =
      std::string("exec ") + EON_BINARY + " server start-dev --headless --ip 127.0.0.1 --port " +
      std::to_string(port_) + " --db-filename " + dir_ + "/eon.db --log-level warn " + extra_flags +
      " >> " + dir_ + "/server.log 2>&1";
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
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

void TestServer::CrashAndRestart() {
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  for (int attempt = 0; attempt < 50 && pid_ < 0; ++attempt) {
    if (!Launch(extra_flags_)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (pid_ < 0) {
    std::ifstream log(dir_ + "/server.log");
    std::cerr << "eon server did not restart:\n" << log.rdbuf() << "\n";
    std::abort();
  }
}

TestServer::~TestServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
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
  std::string rm = "rm -rf " + dir_;
  (void)std::system(rm.c_str());
}

std::string TestServer::Cli(const std::string& args) const {
  std::string command = std::string(EON_BINARY) + " " + args + " --address " + address_ + " 2>&1";
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  pclose(pipe);
  return out;
}

std::string UniqueName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

}  // namespace eon::sdk::testing
