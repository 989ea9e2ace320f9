// The exception barrier. Eon's code reports failures as Status, but a library call may still
// throw (std::bad_alloc, a throwing parse that slipped in). Every request handler and every task
// processor runs behind this barrier, so one bad request or one bad execution answers INTERNAL
// (logged once, counted in CaughtExceptionCount) instead of ending the process.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "common/assert.h"
#include "common/log.h"
#include "common/status.h"

namespace eon {

// Runs `fn()` (which returns void) and returns OK, or INTERNAL naming `what` if it threw.
template <typename Fn>
Status RunGuarded(std::string_view what, Fn&& fn) {
  std::string reason;
  try {
    fn();
    return Status::Ok();
  } catch (const std::exception& e) {
    reason = e.what();
  } catch (...) {
    reason = "an exception of unknown type";
  }
  internal::ExceptionCaught();
  LOG_ERROR(what << " threw: " << reason);
  return Internal(std::string(what) + " failed with an internal error: " + reason);
}

}  // namespace eon
