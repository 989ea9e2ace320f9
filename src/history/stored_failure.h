// The failure a retrying activity keeps in mutable state (`ActivityInfo.last_failure`), bounded
// as Temporal bounds it, so no stored record grows or nests without limit whatever a worker
// reports. Temporal (service/history/workflow/mutable_state_impl.go,
// truncateRetryableActivityFailure; common/failure, Truncate) keeps a failure whose encoded size
// is at most `limit.mutableStateActivityFailureSize.error` (4 KiB) as it is; a larger one is
// replaced by a server failure "Failure exceeds size limit." (not non-retryable) whose cause is
// the original cut down to fit, at most 20 causes deep. Eon also replaces a small failure whose
// cause chain is deeper than those 20 levels, so the stored record's nesting is bounded too.
// The activity's closing event keeps the worker's failure as it came.
//
// Failures stored elsewhere (an update's outcome, in its completion event and in mutable state;
// the continued_failure a retried, cron or continued-as-new run starts with, and the failure of
// the ContinuedAsNew event that hands it over) are bounded in
// depth only (FailureWithinDepth): they arrive inside a protocol message's Any body, which the
// request nesting limit does not reach, or from the previous run, and a chain near protobuf's
// 100-level parse limit would leave the record, or a workflow task that carries the event,
// unreadable by an SDK. Temporal keeps those whole; Eon keeps them whole up to 20 causes.
#pragma once

#include <cstddef>

#include "temporal/api/failure/v1/message.pb.h"

namespace eon::history {

// Temporal's limit.mutableStateActivityFailureSize.error default.
constexpr size_t kStoredFailureBytesMax = 4 * 1024;
// Temporal's failure.Truncate depth: causes kept below the top failure.
constexpr int kStoredFailureCauseDepthMax = 20;
// The message of the failure that stands in for one over the limits (Temporal's
// common.FailureReasonFailureExceedsLimit).
inline constexpr char kFailureExceedsLimitMessage[] = "Failure exceeds size limit.";

// How many causes `f` has below it (0 without a cause). Iterative.
int FailureCauseDepth(const temporal::api::failure::v1::Failure& f);

// `f` cut down to about `bytes_max` encoded bytes and `cause_depth_max` causes: each level keeps
// its source, message and stack trace (cut at a UTF-8 character boundary, earlier levels first)
// and the type and non-retryable flag of an application or server failure; payloads, encoded
// attributes and other failure infos are dropped. Iterative, so any depth is safe.
temporal::api::failure::v1::Failure TruncateFailure(const temporal::api::failure::v1::Failure& f,
                                                    size_t bytes_max, int cause_depth_max);

// What an activity retried after failing with `f` stores as its last failure: `f` itself if it
// is within kStoredFailureBytesMax and kStoredFailureCauseDepthMax, else the stand-in server
// failure whose cause is `f` truncated to fit both.
temporal::api::failure::v1::Failure FailureToStore(const temporal::api::failure::v1::Failure& f);

// `f` itself if its cause chain is at most kStoredFailureCauseDepthMax deep (whatever its size),
// else the stand-in FailureToStore makes.
temporal::api::failure::v1::Failure FailureWithinDepth(
    const temporal::api::failure::v1::Failure& f);

}  // namespace eon::history
