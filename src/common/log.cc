#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace eon::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};
std::mutex g_write_mutex;
thread_local Fields t_fields;

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarn:
      return "WARN";
    case Level::kError:
      return "ERROR";
    case Level::kNone:
      return "NONE";
  }
  return "?";
}

const char* LevelNameLower(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    case Level::kNone:
      return "none";
  }
  return "?";
}

// The folder a source file sits in: "src/history/x.cc" -> "history".
std::string_view Component(const char* file) {
  std::string_view path(file);
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return "eon";
  path = path.substr(0, slash);
  auto parent = path.rfind('/');
  return parent == std::string_view::npos ? path : path.substr(parent + 1);
}

void AppendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[40];
  size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03lldZ", static_cast<long long>(millis));
  return stamp;
}

}  // namespace

bool ParseLevel(std::string_view name, Level* level) {
  if (name == "debug")
    *level = Level::kDebug;
  else if (name == "info")
    *level = Level::kInfo;
  else if (name == "warn")
    *level = Level::kWarn;
  else if (name == "error")
    *level = Level::kError;
  else if (name == "none" || name == "never")
    *level = Level::kNone;
  else
    return false;
  return true;
}

bool ParseFormat(std::string_view name, Format* format) {
  if (name == "text")
    *format = Format::kText;
  else if (name == "json")
    *format = Format::kJson;
  else
    return false;
  return true;
}

void SetLevel(Level level) { g_level = level; }
void SetFormat(Format format) { g_format = format; }

bool Enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

ScopedFields::ScopedFields(Fields fields) : saved_(std::move(t_fields)) {
  t_fields = std::move(fields);
}
ScopedFields::~ScopedFields() { t_fields = std::move(saved_); }

std::string FormatLine(Level level, std::string_view component, const Fields& fields,
                       std::string_view message) {
  std::string line;
  if (g_format.load(std::memory_order_relaxed) == Format::kJson) {
    line = "{\"level\":\"";
    line += LevelNameLower(level);
    line += "\",\"ts\":\"" + Timestamp() + "\",\"component\":";
    AppendJsonString(line, component);
    auto field = [&](const char* key, const std::string& value) {
      if (value.empty()) return;
      line += ",\"";
      line += key;
      line += "\":";
      AppendJsonString(line, value);
    };
    field("namespace", fields.ns);
    field("workflow_id", fields.workflow_id);
    field("run_id", fields.run_id);
    line += ",\"msg\":";
    AppendJsonString(line, message);
    line += "}";
    return line;
  }
  char head[64];
  std::snprintf(head, sizeof head, "%s %-5s ", Timestamp().c_str(), LevelName(level));
  line = head;
  line += "[";
  line += component;
  line += "] ";
  if (!fields.ns.empty()) line += "ns=" + fields.ns + " ";
  if (!fields.workflow_id.empty()) line += "wf=" + fields.workflow_id + " ";
  if (!fields.run_id.empty()) line += "run=" + fields.run_id + " ";
  line += message;
  return line;
}

void Write(Level level, const char* file, std::string_view message) {
  std::string line = FormatLine(level, Component(file), t_fields, message);
  line.push_back('\n');
  std::lock_guard lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace eon::log
