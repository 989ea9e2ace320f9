// Failures: Temporal's temporal.api.failure.v1.Failure as C++ exceptions.
//
// Exceptions are used inside workflow and activity code only, where they model the user's own
// failures the way every Temporal SDK does; they never cross the SDK's boundary (the worker
// catches them and reports a Failure, the client returns an Error).
//
//   throw ApplicationError("card declined", "CardDeclined", /*non_retryable=*/true);
//
// fails an activity (not retried, as it is non-retryable) or, thrown from a workflow, fails the
// workflow. Awaiting an activity or child workflow that failed throws ActivityError /
// ChildWorkflowError, whose cause() is the exception that ended it (ApplicationError,
// TimeoutError, CanceledError, TerminatedError).
//
// Any other exception thrown by a workflow fails the workflow *task*, not the workflow, so a
// bug can be fixed and the worker restarted (as in the TypeScript SDK). From an activity, any
// std::exception becomes an ApplicationError of type "std::exception" (retryable).
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "eon/sdk/payload.h"
#include "temporal/api/enums/v1/workflow.pb.h"
#include "temporal/api/failure/v1/message.pb.h"

namespace eon::sdk {

using Failure = temporal::api::failure::v1::Failure;

// Base of every failure exception; holds the Failure it stands for.
class TemporalFailure : public std::runtime_error {
 public:
  explicit TemporalFailure(Failure failure);
  const Failure& failure() const { return failure_; }
  // The exception for failure().cause(), or nullptr when there is none.
  std::exception_ptr cause() const;

 protected:
  Failure failure_;
};

class ApplicationError : public TemporalFailure {
 public:
  ApplicationError(const std::string& message, const std::string& type = "",
                   bool non_retryable = false, Payloads details = {},
                   std::optional<std::chrono::milliseconds> next_retry_delay = std::nullopt);
  explicit ApplicationError(Failure failure) : TemporalFailure(std::move(failure)) {}

  const std::string& type() const { return failure_.application_failure_info().type(); }
  bool non_retryable() const { return failure_.application_failure_info().non_retryable(); }
  const Payloads& details() const { return failure_.application_failure_info().details(); }
};

class CanceledError : public TemporalFailure {
 public:
  explicit CanceledError(const std::string& message = "canceled");
  explicit CanceledError(Failure failure) : TemporalFailure(std::move(failure)) {}
};

class TimeoutError : public TemporalFailure {
 public:
  explicit TimeoutError(Failure failure) : TemporalFailure(std::move(failure)) {}
  temporal::api::enums::v1::TimeoutType timeout_type() const {
    return failure_.timeout_failure_info().timeout_type();
  }
};

class TerminatedError : public TemporalFailure {
 public:
  explicit TerminatedError(Failure failure) : TemporalFailure(std::move(failure)) {}
};

class ActivityError : public TemporalFailure {
 public:
  explicit ActivityError(Failure failure) : TemporalFailure(std::move(failure)) {}
  const std::string& activity_type() const {
    return failure_.activity_failure_info().activity_type().name();
  }
  const std::string& activity_id() const { return failure_.activity_failure_info().activity_id(); }
};

class ChildWorkflowError : public TemporalFailure {
 public:
  explicit ChildWorkflowError(Failure failure) : TemporalFailure(std::move(failure)) {}
  const std::string& workflow_id() const {
    return failure_.child_workflow_execution_failure_info().workflow_execution().workflow_id();
  }
};

// Any other failure kind (server, reset, Nexus...).
class OtherFailure : public TemporalFailure {
 public:
  explicit OtherFailure(Failure failure) : TemporalFailure(std::move(failure)) {}
};

// The exception that stands for `failure` (by its failure_info kind).
std::exception_ptr FailureToException(const Failure& failure);

// The Failure for an exception: a TemporalFailure's own; a PayloadError as a non-retryable
// ApplicationError of type "PayloadError"; any other std::exception as an ApplicationError of
// type "std::exception" (retryable); anything else as type "unknown". source is "EonCppSDK".
Failure ExceptionToFailure(std::exception_ptr error);

// The message of the innermost cause (what a user usually wants to print).
std::string RootCauseMessage(const Failure& failure);

// The first application failure of type `type` in the chain (the failure itself, its cause,
// the cause's cause, ...), or nullopt. For a workflow, an ActivityError's chain; for a client,
// Error::failure:
//
//   catch (const ActivityError& e) {
//     if (auto declined = FindApplicationError(e, "CardDeclined")) refund(declined->details());
//   }
//   if (result.error().failure && FindApplicationError(*result.error().failure, "CardDeclined"))
std::optional<ApplicationError> FindApplicationError(const Failure& failure,
                                                     const std::string& type);
std::optional<ApplicationError> FindApplicationError(const TemporalFailure& error,
                                                     const std::string& type);
// The same for any caught exception (nullopt when it is not a TemporalFailure).
std::optional<ApplicationError> FindApplicationError(const std::exception_ptr& error,
                                                     const std::string& type);

}  // namespace eon::sdk
