// Three tiers for what should never happen (STYLE.md: invariants are asserted, input from outside
// is validated and answered with INVALID_ARGUMENT, never asserted):
//   EON_ASSERT(cond, message)          checked in debug builds only: cheap hints on hot paths.
//   EON_RELEASE_ASSERT(cond, message)  checked in every build: an invariant whose violation
//                                      would corrupt durable state; logs and aborts.
//   EON_BUG(message)                   "should not happen" where the process can go on: logs and
//                                      counts in release (BugCount), aborts in debug builds.
// Caught exceptions (the barriers around request handlers and task processors) are counted
// apart (CaughtExceptionCount). Both counters are process-wide and only grow.
#pragma once

#include <cstdint>
#include <sstream>
#include <string_view>

namespace eon {

int64_t BugCount();
int64_t CaughtExceptionCount();

namespace internal {
[[noreturn]] void AssertFailed(const char* file, int line, const char* condition,
                               std::string_view message);
void Bug(const char* file, int line, std::string_view message);
void ExceptionCaught();
}  // namespace internal

}  // namespace eon

#define EON_RELEASE_ASSERT(cond, message)                                             \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::ostringstream eon_assert_stream_;                                          \
      eon_assert_stream_ << message;                                                  \
      ::eon::internal::AssertFailed(__FILE__, __LINE__, #cond, eon_assert_stream_.str()); \
    }                                                                                 \
  } while (0)

#ifdef NDEBUG
#define EON_ASSERT(cond, message) \
  do {                            \
  } while (0)
#else
#define EON_ASSERT(cond, message) EON_RELEASE_ASSERT(cond, message)
#endif

#define EON_BUG(message)                                                  \
  do {                                                                    \
    std::ostringstream eon_bug_stream_;                                   \
    eon_bug_stream_ << message;                                           \
    ::eon::internal::Bug(__FILE__, __LINE__, eon_bug_stream_.str());      \
  } while (0)
