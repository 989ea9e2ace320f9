// Status and Result: the error vocabulary inside Eon. Codes are gRPC's, so the API edge maps
// them once (frontend/grpc_status.h) and no exception crosses a module boundary.
#pragma once

#include <google/protobuf/any.pb.h>
#include <grpcpp/support/status.h>

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace eon {

using StatusCode = grpc::StatusCode;

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::OK; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // A typed error detail (temporal.api.errordetails.v1.*) the SDKs decode.
  const std::optional<google::protobuf::Any>& detail() const { return detail_; }
  Status&& WithDetail(const google::protobuf::Message& detail) && {
    detail_.emplace();
    detail_->PackFrom(detail);
    return std::move(*this);
  }

  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::OK;
  std::string message_;
  std::optional<google::protobuf::Any> detail_;
};

inline Status InvalidArgument(std::string message) {
  return {StatusCode::INVALID_ARGUMENT, std::move(message)};
}
inline Status NotFound(std::string message) { return {StatusCode::NOT_FOUND, std::move(message)}; }
inline Status AlreadyExists(std::string message) {
  return {StatusCode::ALREADY_EXISTS, std::move(message)};
}
inline Status FailedPrecondition(std::string message) {
  return {StatusCode::FAILED_PRECONDITION, std::move(message)};
}
inline Status Internal(std::string message) { return {StatusCode::INTERNAL, std::move(message)}; }
inline Status Unavailable(std::string message) {
  return {StatusCode::UNAVAILABLE, std::move(message)};
}
inline Status Unimplemented(std::string message) {
  return {StatusCode::UNIMPLEMENTED, std::move(message)};
}
inline Status Aborted(std::string message) { return {StatusCode::ABORTED, std::move(message)}; }
inline Status ResourceExhausted(std::string message) {
  return {StatusCode::RESOURCE_EXHAUSTED, std::move(message)};
}
inline Status Unauthenticated(std::string message) {
  return {StatusCode::UNAUTHENTICATED, std::move(message)};
}

// A value or the Status that explains its absence.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(value_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace eon

#define EON_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::eon::Status eon_status_ = (expr);        \
    if (!eon_status_.ok()) return eon_status_; \
  } while (0)

#define EON_CONCAT_INNER(a, b) a##b
#define EON_CONCAT(a, b) EON_CONCAT_INNER(a, b)
#define EON_ASSIGN_OR_RETURN(lhs, expr) \
  EON_ASSIGN_OR_RETURN_IMPL(EON_CONCAT(eon_result_, __LINE__), lhs, expr)
#define EON_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
