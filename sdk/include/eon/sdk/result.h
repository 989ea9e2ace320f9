// Result<T> and Error: how the client API reports failure. The client never throws; a call
// returns either its value or an Error that carries the gRPC status code, a message, and (when a
// workflow, update or activity failed) the Temporal failure it failed with.
#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "temporal/api/failure/v1/message.pb.h"

namespace eon::sdk {

struct Error {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;
  // Set when the error is a failure reported by a workflow, update or activity (the workflow
  // failed, was canceled, terminated or timed out; an update was rejected or failed).
  std::optional<temporal::api::failure::v1::Failure> failure;

  // "NOT_FOUND: workflow not found" style, for logs and messages.
  std::string ToString() const;
};

namespace internal {
[[noreturn]] inline void DieOnError(const Error& error) {
  std::fprintf(stderr, "eon::sdk: value() called on an error result: %s\n",
               error.ToString().c_str());
  std::abort();
}
}  // namespace internal

// A value or an Error. value() on an error is a programming error: it prints the error and
// aborts (check ok() first, or use it only where failure should end the program, as examples do).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& {
    if (!ok()) internal::DieOnError(error());
    return std::get<0>(v_);
  }
  T& value() & {
    if (!ok()) internal::DieOnError(error());
    return std::get<0>(v_);
  }
  T&& value() && {
    if (!ok()) internal::DieOnError(error());
    return std::get<0>(std::move(v_));
  }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  // REQUIRES: !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  void value() const {
    if (!ok()) internal::DieOnError(*error_);
  }
  // REQUIRES: !ok().
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

}  // namespace eon::sdk
