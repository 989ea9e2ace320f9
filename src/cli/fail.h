// How the `eon` commands report an error: "Error: <message>" on stderr, exit code 1.
#pragma once

#include <grpcpp/support/status.h>

#include <cstdio>
#include <string>

namespace eon::cli {

inline int Fail(const std::string& message) {
  std::fprintf(stderr, "Error: %s\n", message.c_str());
  return 1;
}

// A failed call: the server's message, or its code when it sent none.
inline int Fail(const grpc::Status& status) {
  return Fail(status.error_message().empty()
                  ? "request failed (code " + std::to_string(status.error_code()) + ")"
                  : status.error_message());
}

}  // namespace eon::cli
