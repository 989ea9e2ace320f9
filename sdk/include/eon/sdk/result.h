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

// What an Error accessor returns for a result that holds a value: code OK, empty message.
inline const Error& NoError() {
  static const Error kNone{grpc::StatusCode::OK, "", std::nullopt};
  return kNone;
}

// A value or an Error.
//
// Accessors that never throw nor abort: ok(), error() (on a success: an Error with code OK and
// an empty message), get() (nullptr on an error), value_or(fallback).
// Checked accessors: value(), operator* and operator-> on an error are a programming error:
// they print the error and abort (check ok() first, or use them where failure should end the
// program, as the examples do). They never throw.
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
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  // The value, or nullptr on an error.
  const T* get() const { return ok() ? &std::get<0>(v_) : nullptr; }
  T* get() { return ok() ? &std::get<0>(v_) : nullptr; }
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }
  template <typename U>
  T value_or(U&& fallback) && {
    return ok() ? std::get<0>(std::move(v_)) : static_cast<T>(std::forward<U>(fallback));
  }

  const Error& error() const { return ok() ? NoError() : std::get<1>(v_); }

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
  const Error& error() const { return ok() ? NoError() : *error_; }

 private:
  std::optional<Error> error_;
};

}  // namespace eon::sdk
