// A real `eon server start-dev` for the SDK's integration tests: started on a free port with
// its own database file, stopped (SIGTERM, then SIGKILL) when the object goes away.
#pragma once

#include <sys/types.h>

#include <string>

namespace eon::sdk::testing {

class TestServer {
 public:
  // Starts the server and waits until it accepts connections; aborts the test binary (with the
  // server's output) if it does not come up within 30 s.
  explicit TestServer(const std::string& extra_flags = "");
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // kill -9, then starts the server again on the same port and database file.
  void CrashAndRestart();

  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // Runs `eon <args> --address <address>` and returns its standard output.
  std::string Cli(const std::string& args) const;

 private:
  // Starts the server on port_ (a free one first when port_ is 0); false if it did not come up.
  bool Launch(const std::string& extra_flags);

  pid_t pid_ = -1;
  std::string extra_flags_;
  int port_ = 0;
  std::string address_;
  std::string dir_;
};

// A task queue name unique to the calling test.
std::string UniqueName(const std::string& prefix);

}  // namespace eon::sdk::testing
