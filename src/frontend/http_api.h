// The HTTP API: Temporal's `/api/v1/...` JSON routes over the same handlers the gRPC edge runs.
//
// The routes are not written by hand: they are read at start from the `google.api.http` options
// of WorkflowService's and OperatorService's methods (the generated descriptors carry them), as
// Temporal's gRPC gateway does. A request becomes the method's request message by the protobuf
// JSON mapping (the body, then path variables, then query parameters for GET and DELETE), with
// Temporal's payload shorthand (a Payload may be written as its JSON value); the call runs in
// process through RpcRouter::Invoke (field checks, authorization, metrics, the handler), and its
// answer is written back the same way. Errors are google.rpc.Status as JSON with the HTTP status
// grpc-gateway gives the gRPC code (NOT_FOUND 404, INVALID_ARGUMENT 400, ...).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "frontend/rpc.h"

namespace eon::frontend {

struct HttpRequest {
  std::string method;    // GET, POST, ...
  std::string raw_path;  // as sent, percent-encoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::string body;
  std::string authorization;  // the Authorization header ("" if absent)
  std::string peer;           // the caller's address
};

struct HttpResponse {
  int status = 200;
  std::string body;  // JSON
};

// Largest request body the API reads, as Temporal's (gRPC's default message size).
constexpr size_t kHttpBodyMaxBytes = 4 << 20;
// How long one HTTP call may run (long polls answer before it).
constexpr int kHttpCallTimeoutS = 60;

// The HTTP status grpc-gateway answers for a gRPC code.
int HttpStatusFor(StatusCode code);

class HttpApi {
 public:
  // Routes of every binding of the two services; `api_paths_only` keeps only those under
  // /api/ (the UI port serves its pages on the others).
  HttpApi(RpcRouter& router, bool api_paths_only);
  ~HttpApi();

  // Whether some route has this path (any HTTP method).
  bool Matches(const std::string& raw_path) const;
  // Runs the request's call and answers; blocks the calling thread until the call answers
  // (at most kHttpCallTimeoutS). Unknown paths answer 404, a known path with another method 405.
  HttpResponse Handle(const HttpRequest& request) const;
  size_t route_count() const;

 private:
  struct Route;
  RpcRouter& router_;
  std::vector<Route> routes_;  // most literal segments first; read-only after construction
};

}  // namespace eon::frontend
