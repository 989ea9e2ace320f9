#include "history/stored_failure.h"

#include <string>

namespace eon::history {

namespace failure = temporal::api::failure::v1;

namespace {

// Protobuf's tag and length bytes for a short field or a nested message, counted against the
// budget as Temporal counts them.
constexpr size_t kFieldOverheadBytes = 4;
constexpr size_t kApplicationInfoOverheadBytes = 8;

// The longest prefix of `s` of at most `bytes_max` bytes that does not end inside a UTF-8
// character.
std::string Utf8Prefix(const std::string& s, size_t bytes_max) {
  if (s.size() <= bytes_max) return s;
  size_t cut = bytes_max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut);
}

}  // namespace

int FailureCauseDepth(const failure::Failure& f) {
  int depth = 0;
  for (const failure::Failure* at = &f; at->has_cause(); at = &at->cause()) ++depth;
  return depth;
}

failure::Failure TruncateFailure(const failure::Failure& f, size_t bytes_max,
                                 int cause_depth_max) {
  failure::Failure out;
  failure::Failure* to = &out;
  size_t budget = bytes_max;
  // Strings are given the budget in order of importance; what is left goes to the cause.
  auto take = [&budget](const std::string& s) {
    std::string kept = Utf8Prefix(s, budget);
    budget -= kept.size();
    if (!kept.empty()) budget -= std::min(budget, kFieldOverheadBytes);
    return kept;
  };
  int depth = 0;
  for (const failure::Failure* from = &f;; from = &from->cause(), to = to->mutable_cause()) {
    if (from->has_application_failure_info()) {
      auto* info = to->mutable_application_failure_info();
      info->set_non_retryable(from->application_failure_info().non_retryable());
      budget -= std::min(budget, kApplicationInfoOverheadBytes);
      info->set_type(take(from->application_failure_info().type()));
    } else if (from->has_server_failure_info()) {
      to->mutable_server_failure_info()->set_non_retryable(
          from->server_failure_info().non_retryable());
      budget -= std::min(budget, kFieldOverheadBytes);
    }
    to->set_source(take(from->source()));
    to->set_message(take(from->message()));
    to->set_stack_trace(take(from->stack_trace()));
    if (!from->has_cause() || budget <= kFieldOverheadBytes || depth >= cause_depth_max) break;
    budget -= kFieldOverheadBytes;
    ++depth;
  }
  return out;
}

namespace {
failure::Failure StandIn(const failure::Failure& f) {
  failure::Failure stand_in;
  stand_in.set_message(kFailureExceedsLimitMessage);
  stand_in.mutable_server_failure_info()->set_non_retryable(false);
  // The stand-in is one more level: its cause keeps one level fewer.
  *stand_in.mutable_cause() =
      TruncateFailure(f, kStoredFailureBytesMax, kStoredFailureCauseDepthMax - 1);
  return stand_in;
}
}  // namespace

failure::Failure FailureToStore(const failure::Failure& f) {
  if (f.ByteSizeLong() <= kStoredFailureBytesMax &&
      FailureCauseDepth(f) <= kStoredFailureCauseDepthMax) {
    return f;
  }
  return StandIn(f);
}

failure::Failure FailureWithinDepth(const failure::Failure& f) {
  if (FailureCauseDepth(f) <= kStoredFailureCauseDepthMax) return f;
  return StandIn(f);
}

}  // namespace eon::history
