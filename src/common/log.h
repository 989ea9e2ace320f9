// A small leveled logger writing one line per message to stderr. Thread-safe.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace eon::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kNone = 4 };

// Returns false when `name` is not one of debug, info, warn, error, none.
bool ParseLevel(std::string_view name, Level* level);
void SetLevel(Level level);
bool Enabled(Level level);
void Write(Level level, std::string_view message);

}  // namespace eon::log

#define EON_LOG(level, stream_expr)                                       \
  do {                                                                    \
    if (::eon::log::Enabled(::eon::log::Level::level)) {                  \
      std::ostringstream eon_log_stream_;                                 \
      eon_log_stream_ << stream_expr;                                     \
      ::eon::log::Write(::eon::log::Level::level, eon_log_stream_.str()); \
    }                                                                     \
  } while (0)
#define LOG_DEBUG(x) EON_LOG(kDebug, x)
#define LOG_INFO(x) EON_LOG(kInfo, x)
#define LOG_WARN(x) EON_LOG(kWarn, x)
#define LOG_ERROR(x) EON_LOG(kError, x)
