// Uses the installed SDK: registers a workflow and an activity, encodes a payload, and makes a
// client call (so the link pulls in the client and gRPC); then the installed testing library
// (eon::sdk_testing): an activity in an ActivityEnvironment, and the workflow in a
// TestEnvironment that starts the eon binary installed with the package.
// sdk/tests/find_package_test.sh checks the output.
#include <chrono>
#include <iostream>
#include <string>

#include "eon/sdk/sdk.h"
#include "eon/sdk/testing.h"

namespace sdk = eon::sdk;

namespace {

sdk::Task<std::string> Hello(sdk::WorkflowContext& ctx, std::string name) {
  co_return co_await ctx.execute_activity<std::string>(
      "Greet", sdk::ActivityOptions().start_to_close(std::chrono::seconds(10)), name);
}

std::string Greet(std::string name) { return "Hello, " + name + "!"; }

}  // namespace

int main() {
  sdk::Registry registry;
  registry.register_workflow("Hello", Hello);
  registry.register_activity("Greet", Greet);
  std::cout << "workflows: " << registry.workflow_names() << "\n";
  std::cout << "activities: " << registry.activity_names() << "\n";

  sdk::Payload payload = sdk::DataConverter().Encode(std::string("Zoë"));
  std::cout << "encoding: " << payload.metadata().at("encoding") << "\n";
  std::cout << "data: " << payload.data() << "\n";

  // Nothing listens on port 1: the connection fails, as a Result (UNAVAILABLE).
  sdk::ClientOptions options;
  options.address = "127.0.0.1:1";
  options.rpc_timeout = std::chrono::milliseconds(2000);
  auto client = sdk::Client::Connect(options);
  std::cout << "connect: " << (client.ok() ? std::string("OK") : client.error().ToString()) << "\n";

  sdk::testing::ActivityEnvironment activity_env;
  std::cout << "activity environment: " << activity_env.run<std::string>(Greet, std::string("Ada"))
            << "\n";

  auto env = sdk::testing::TestEnvironment::Start();
  if (!env.ok()) {
    std::cout << "test environment: " << env.error().ToString() << "\n";
    return 1;
  }
  auto& worker = (*env)->new_worker();
  worker.register_workflow("Hello", Hello);
  worker.register_activity("Greet", Greet);
  if (auto started = worker.start(); !started.ok()) {
    std::cout << "worker: " << started.error().ToString() << "\n";
    return 1;
  }
  auto greeting = (*env)->client().execute_workflow<std::string>(
      "Hello", (*env)->workflow_options("consumer-hello"), std::string("Zoë"));
  std::cout << "test environment: "
            << (greeting.ok() ? *greeting : greeting.error().ToString()) << "\n";
  return 0;
}
