#include "common/assert.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "common/log.h"

namespace eon {
namespace {
std::atomic<int64_t> bugs{0};
std::atomic<int64_t> exceptions{0};
}  // namespace

int64_t BugCount() { return bugs.load(); }
int64_t CaughtExceptionCount() { return exceptions.load(); }

namespace internal {

void AssertFailed(const char* file, int line, const char* condition, std::string_view message) {
  log::Write(log::Level::kError, file,
             std::string("assertion failed at line ") + std::to_string(line) + ": " + condition +
                 ": " + std::string(message));
  std::abort();
}

void Bug(const char* file, int line, std::string_view message) {
  ++bugs;
  log::Write(log::Level::kError, file,
             std::string("bug at line ") + std::to_string(line) + ": " + std::string(message));
#ifndef NDEBUG
  std::abort();
#endif
}

void ExceptionCaught() { ++exceptions; }

}  // namespace internal
}  // namespace eon
