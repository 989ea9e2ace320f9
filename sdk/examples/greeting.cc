// Greeting: the smallest complete program. A workflow calls one activity; a worker runs both;
// a client starts the workflow and prints its result.
//
//   build/examples/greeting [--address localhost:7233] [--name World]
//       [--tls-ca-path ca.pem] [--tls-cert-path client.pem --tls-key-path client.key]
//       [--tls-server-name name] [--api-key key]      (the temporal CLI's connection flags)
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "eon/sdk/sdk.h"

using namespace eon::sdk;
using namespace std::chrono_literals;

std::string ComposeGreeting(std::string greeting, std::string name) {
  return greeting + ", " + name + "!";
}

Task<std::string> Greeting(WorkflowContext& ctx, std::string name) {
  co_return co_await ctx.execute_activity<std::string>(
      "ComposeGreeting", ActivityOptions().start_to_close(10s), std::string("Hello"), name);
}

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int main(int argc, char** argv) {
  std::string address = "localhost:7233", name = "World";
  ClientOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--address")) address = argv[i + 1];
    if (!std::strcmp(argv[i], "--name")) name = argv[i + 1];
    if (!std::strcmp(argv[i], "--api-key")) options.api_key = argv[i + 1];
    bool tls_flag = !std::strncmp(argv[i], "--tls-", 6);
    if (tls_flag && !options.tls) options.tls.emplace();
    if (!std::strcmp(argv[i], "--tls-ca-path")) options.tls->server_root_ca_pem = ReadFile(argv[i + 1]);
    if (!std::strcmp(argv[i], "--tls-cert-path")) options.tls->client_cert_pem = ReadFile(argv[i + 1]);
    if (!std::strcmp(argv[i], "--tls-key-path")) options.tls->client_key_pem = ReadFile(argv[i + 1]);
    if (!std::strcmp(argv[i], "--tls-server-name")) options.tls->server_name_override = argv[i + 1];
  }
  options.address = address;
  auto client = Client::Connect(options);
  if (!client.ok()) {
    std::cerr << "greeting: " << client.error().ToString() << "\n";
    return 1;
  }
  Worker worker(client.value(), {.task_queue = "greeting"});
  worker.register_workflow("Greeting", Greeting);
  worker.register_activity("ComposeGreeting", ComposeGreeting);
  worker.start().value();

  auto result = client->execute_workflow<std::string>(
      "Greeting", {.id = "greeting-" + name, .task_queue = "greeting"}, name);
  worker.shutdown();
  if (!result.ok()) {
    std::cerr << "greeting: " << result.error().ToString() << "\n";
    return 1;
  }
  std::cout << result.value() << "\n";
  return 0;
}
