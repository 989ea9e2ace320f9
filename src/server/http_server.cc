#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <thread>

#include "common/barrier.h"
#include "common/log.h"
#include "frontend/http_api.h"
#include "ui/assets.h"

namespace eon::server {
namespace {

constexpr int kReadTimeoutS = 30;
constexpr int kStartWaitMaxMs = 5'000;
constexpr size_t kKeepAliveRequestsMax = 1'000;

class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(frontend::RpcRouter& router, bool serve_ui)
      : api_(router, /*api_paths_only=*/serve_ui), serve_ui_(serve_ui) {}
  ~HttpServerImpl() override { Stop(); }

  Status Listen(const std::string& ip, int port) {
    // The library's default asks for SO_REUSEPORT, which would let two servers share a port;
    // a port another process holds must fail instead.
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    server_.set_payload_max_length(frontend::kHttpBodyMaxBytes);
    // Small answers must not wait for Nagle's algorithm (40 ms with delayed ACKs), and a page
    // polling every 2 s keeps its connection.
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(kKeepAliveRequestsMax);
    server_.set_read_timeout(kReadTimeoutS, 0);
    server_.set_write_timeout(kReadTimeoutS, 0);
    auto handler = [this](const httplib::Request& request, httplib::Response& response) {
      Serve(request, response);
    };
    server_.Get(".*", handler);
    server_.Post(".*", handler);
    server_.Put(".*", handler);
    server_.Delete(".*", handler);
    server_.Patch(".*", handler);
    // Errors the library answers itself (a body past the limit, a malformed request) get the
    // API's JSON too.
    server_.set_error_handler([](const httplib::Request&, httplib::Response& response) {
      if (!response.body.empty()) return;
      std::string message = response.status == 413
                                ? "the request body is larger than " +
                                      std::to_string(frontend::kHttpBodyMaxBytes) + " bytes"
                                : "the HTTP request could not be read";
      response.set_content(R"({"code":3,"message":")" + message + R"(","details":[]})",
                           "application/json");
    });
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
          response.status = 500;
          response.set_content(R"({"code":13,"message":"internal error","details":[]})",
                               "application/json");
        });
    bool bound = false;
    if (port == 0) {
      port_ = server_.bind_to_any_port(ip);
      bound = port_ > 0;
    } else {
      bound = server_.bind_to_port(ip, port);
      port_ = port;
    }
    if (!bound)
      return Unavailable("cannot listen on " + ip + ":" + std::to_string(port) +
                         " (HTTP): the port is in use or the address is not available");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the loop runs would be lost, and Stop would wait forever.
    for (int waited_ms = 0; !server_.is_running() && waited_ms < kStartWaitMaxMs; waited_ms += 5)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return Status::Ok();
  }

  int port() const override { return port_; }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Serve(const httplib::Request& request, httplib::Response& response) {
    std::string raw_path = request.target.empty() ? request.path : request.target;
    if (auto query = raw_path.find('?'); query != std::string::npos) raw_path.resize(query);
    response.set_header("X-Content-Type-Options", "nosniff");
    if (!serve_ui_ || raw_path.rfind("/api/", 0) == 0) {
      frontend::HttpRequest call;
      call.method = request.method;
      call.raw_path = raw_path;
      for (const auto& [key, value] : request.params) call.query.emplace_back(key, value);
      call.body = request.body;
      call.authorization = request.get_header_value("Authorization");
      call.peer = "ipv4:" + request.remote_addr + ":" + std::to_string(request.remote_port);
      frontend::HttpResponse answer;
      Status thrown = RunGuarded("HTTP " + request.method + " " + raw_path,
                                 [&] { answer = api_.Handle(call); });
      if (!thrown.ok()) answer = {500, R"({"code":13,"message":"internal error","details":[]})"};
      response.status = answer.status;
      response.set_content(answer.body, "application/json");
      return;
    }
    if (request.method != "GET") {
      response.status = 405;
      response.set_content("method not allowed\n", "text/plain");
      return;
    }
    const ui::Asset* asset = ui::FindAsset(raw_path);
    if (asset == nullptr) {
      // The UI's routes (/namespaces/...) are the app's page; a missing asset is a 404.
      if (raw_path.rfind("/assets/", 0) == 0) {
        response.status = 404;
        response.set_content("not found\n", "text/plain");
        return;
      }
      asset = ui::FindAsset("/index.html");
    }
    if (asset == nullptr) {
      response.status = 404;
      response.set_content("this eon was built without its web UI\n", "text/plain");
      return;
    }
    response.set_header("Content-Security-Policy",
                        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "
                        "data:; connect-src 'self' http: https:");
    response.set_header("Cache-Control", "no-cache");
    response.set_content(std::string(asset->body), std::string(asset->content_type).c_str());
  }

  frontend::HttpApi api_;
  const bool serve_ui_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& ip, int port,
                                                      frontend::RpcRouter& router, bool serve_ui) {
  auto server = std::make_unique<HttpServerImpl>(router, serve_ui);
  EON_RETURN_IF_ERROR(server->Listen(ip, port));
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace eon::server
