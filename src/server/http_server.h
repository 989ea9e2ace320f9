// The HTTP side of the server: the web UI and the HTTP API (frontend/http_api.h) on --ui-port,
// and the HTTP API alone on --http-port. Each listener has its own small thread pool (the HTTP
// library's); a call blocks one of its threads until the in-process call answers.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "frontend/rpc.h"

namespace eon::server {

class HttpServer {
 public:
  // Listens on ip:port (0: a free port). With `serve_ui`, GET of any path outside /api/ answers
  // the UI (its assets, or its page for the UI's routes); without, only the API's routes, both
  // with and without the /api/v1 prefix, as Temporal's HTTP port. UNAVAILABLE when the port is
  // taken. `router` must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& ip, int port,
                                                   frontend::RpcRouter& router, bool serve_ui);
  virtual ~HttpServer() = default;
  virtual int port() const = 0;
  // Stops listening and waits for the calls in progress. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace eon::server
