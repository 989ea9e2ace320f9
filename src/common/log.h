// A small leveled logger writing one line per message to stderr. Thread-safe.
//
// Every line carries its level, time (UTC, milliseconds), component (the source folder that
// logged it: frontend, history, matching, ...) and, where known, the namespace, workflow id and
// run id: those come from the Fields in scope on the logging thread (the gRPC edge sets them
// for the request a handler serves). Text lines read
//   2026-11-30T14:00:00.123Z INFO  [history] ns=default wf=w1 run=... message
// and JSON lines are one object each:
//   {"level":"info","ts":"2026-...Z","component":"history","namespace":"default",
//    "workflow_id":"w1","run_id":"...","msg":"message"}
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace eon::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kNone = 4 };
enum class Format { kText, kJson };

// Returns false when `name` is not one of debug, info, warn, error, none.
bool ParseLevel(std::string_view name, Level* level);
// Returns false when `name` is not text or json.
bool ParseFormat(std::string_view name, Format* format);
void SetLevel(Level level);
void SetFormat(Format format);
bool Enabled(Level level);

// What a line is about. Empty fields are left out.
struct Fields {
  std::string ns;
  std::string workflow_id;
  std::string run_id;
};

// Puts `fields` in scope on this thread until destroyed (restoring what was there before).
class ScopedFields {
 public:
  explicit ScopedFields(Fields fields);
  ~ScopedFields();
  ScopedFields(const ScopedFields&) = delete;
  ScopedFields& operator=(const ScopedFields&) = delete;

 private:
  Fields saved_;
};

// `file` is the source file (__FILE__); its folder names the component.
void Write(Level level, const char* file, std::string_view message);
// The line Write would print, without the newline (for tests).
std::string FormatLine(Level level, std::string_view component, const Fields& fields,
                       std::string_view message);

}  // namespace eon::log

#define EON_LOG(level, stream_expr)                                                 \
  do {                                                                              \
    if (::eon::log::Enabled(::eon::log::Level::level)) {                            \
      std::ostringstream eon_log_stream_;                                           \
      eon_log_stream_ << stream_expr;                                               \
      ::eon::log::Write(::eon::log::Level::level, __FILE__, eon_log_stream_.str()); \
    }                                                                               \
  } while (0)
#define LOG_DEBUG(x) EON_LOG(kDebug, x)
#define LOG_INFO(x) EON_LOG(kInfo, x)
#define LOG_WARN(x) EON_LOG(kWarn, x)
#define LOG_ERROR(x) EON_LOG(kError, x)
