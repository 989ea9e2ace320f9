// Failure exceptions and their conversion to and from temporal.api.failure.v1.Failure, plus
// Error::ToString (result.h), the one place status codes get their names.
#include "eon/sdk/failure.h"

#include <google/protobuf/util/time_util.h>

#include <utility>

#include "eon/sdk/result.h"

namespace eon::sdk {

namespace {

// Every failure this SDK creates says where it came from, as the other SDKs do.
constexpr const char* kFailureSource = "EonCppSDK";

Failure ApplicationFailure(const std::string& message, const std::string& type) {
  Failure failure;
  failure.set_message(message);
  failure.set_source(kFailureSource);
  failure.set_stack_trace("");
  failure.mutable_application_failure_info()->set_type(type);
  return failure;
}

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return nullptr;
  }
}

}  // namespace

std::string Error::ToString() const {
  const char* name = StatusCodeName(code);
  std::string text = name != nullptr ? name : "CODE_" + std::to_string(static_cast<int>(code));
  if (!message.empty()) text += ": " + message;
  return text;
}

TemporalFailure::TemporalFailure(Failure failure)
    : std::runtime_error(failure.message()), failure_(std::move(failure)) {}

std::exception_ptr TemporalFailure::cause() const {
  if (!failure_.has_cause()) return nullptr;
  return FailureToException(failure_.cause());
}

ApplicationError::ApplicationError(const std::string& message, const std::string& type,
                                   bool non_retryable, Payloads details,
                                   std::optional<std::chrono::milliseconds> next_retry_delay)
    : TemporalFailure(ApplicationFailure(message, type)) {
  auto* info = failure_.mutable_application_failure_info();
  info->set_non_retryable(non_retryable);
  if (details.payloads_size() > 0) *info->mutable_details() = std::move(details);
  if (next_retry_delay.has_value()) {
    *info->mutable_next_retry_delay() =
        google::protobuf::util::TimeUtil::MillisecondsToDuration(next_retry_delay->count());
  }
}

CanceledError::CanceledError(const std::string& message)
    : TemporalFailure([&message] {
        Failure failure;
        failure.set_message(message);
        failure.set_source(kFailureSource);
        failure.mutable_canceled_failure_info();
        return failure;
      }()) {}

std::exception_ptr FailureToException(const Failure& failure) {
  switch (failure.failure_info_case()) {
    case Failure::kApplicationFailureInfo:
      return std::make_exception_ptr(ApplicationError(failure));
    case Failure::kCanceledFailureInfo:
      return std::make_exception_ptr(CanceledError(failure));
    case Failure::kTimeoutFailureInfo:
      return std::make_exception_ptr(TimeoutError(failure));
    case Failure::kTerminatedFailureInfo:
      return std::make_exception_ptr(TerminatedError(failure));
    case Failure::kActivityFailureInfo:
      return std::make_exception_ptr(ActivityError(failure));
    case Failure::kChildWorkflowExecutionFailureInfo:
      return std::make_exception_ptr(ChildWorkflowError(failure));
    default:
      return std::make_exception_ptr(OtherFailure(failure));
  }
}

Failure ExceptionToFailure(std::exception_ptr error) {
  if (error == nullptr) return ApplicationFailure("unknown exception", "unknown");
  try {
    std::rethrow_exception(std::move(error));
  } catch (const TemporalFailure& e) {
    return e.failure();
  } catch (const PayloadError& e) {
    // Input that cannot be decoded will not decode on a retry either.
    Failure failure = ApplicationFailure(e.what(), "PayloadError");
    failure.mutable_application_failure_info()->set_non_retryable(true);
    return failure;
  } catch (const std::exception& e) {
    return ApplicationFailure(e.what(), "std::exception");
  } catch (...) {
    return ApplicationFailure("unknown exception", "unknown");
  }
}

std::string RootCauseMessage(const Failure& failure) {
  const Failure* innermost = &failure;
  while (innermost->has_cause()) innermost = &innermost->cause();
  return innermost->message();
}

std::optional<ApplicationError> FindApplicationError(const Failure& failure,
                                                     const std::string& type) {
  // A chain is as long as the nesting the server accepted; follow it iteratively.
  for (const Failure* f = &failure; f != nullptr; f = f->has_cause() ? &f->cause() : nullptr) {
    if (f->has_application_failure_info() && f->application_failure_info().type() == type) {
      return ApplicationError(*f);
    }
  }
  return std::nullopt;
}

std::optional<ApplicationError> FindApplicationError(const TemporalFailure& error,
                                                     const std::string& type) {
  return FindApplicationError(error.failure(), type);
}

std::optional<ApplicationError> FindApplicationError(const std::exception_ptr& error,
                                                     const std::string& type) {
  if (!error) return std::nullopt;
  try {
    std::rethrow_exception(error);
  } catch (const TemporalFailure& failure) {
    return FindApplicationError(failure.failure(), type);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace eon::sdk
