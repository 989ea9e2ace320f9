#include "cli/server_settings.h"

#include <arpa/inet.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace eon::cli {
namespace {

// What a setting takes: one value, several (repeatable flag, YAML list), or none (a switch; in
// the file true or false).
enum class Kind { kValue, kList, kSwitch };

constexpr unsigned kStart = 1;
constexpr unsigned kStartDev = 2;
constexpr unsigned kBoth = kStart | kStartDev;

struct ParseState {
  ServerSettings settings;
  bool headless = false;
};

// Applies one value to the state. Returns "" or what is wrong, worded to follow the setting's
// name ("needs a port number (0-65535)").
using Apply = std::string (*)(const std::string& value, ParseState& state);

struct Setting {
  const char* name;        // the flag without "--", and the key in the config file
  const char* short_flag;  // "-p", or nullptr
  Kind kind;
  unsigned commands;  // kStart, kStartDev or both
  Apply apply;
};

std::optional<int64_t> ParseWhole(const std::string& text, int64_t min, int64_t max) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max)
    return std::nullopt;
  return value;
}

constexpr int64_t kLimitMax = int64_t{1} << 40;

std::string Port(const std::string& v, int* out) {
  auto port = ParseWhole(v, 0, 65535);
  if (!port) return "needs a port number (0-65535)";
  *out = static_cast<int>(*port);
  return "";
}

// A port that may also be "off" (serve nothing); naming one makes it required.
std::string OptionalPort(const std::string& v, int* out, bool* required) {
  if (v == "off") {
    *out = -1;
    *required = false;
    return "";
  }
  if (!Port(v, out).empty()) return "needs a port number (0-65535) or off";
  *required = true;
  return "";
}

std::string FileName(const std::string& v, std::string* out) {
  if (v.empty()) return "needs a file name";
  *out = v;
  return "";
}

template <typename T>
std::string Whole(const std::string& v, int64_t min, int64_t max, T* out) {
  auto n = ParseWhole(v, min, max);
  if (!n) {
    return max == kLimitMax
               ? "needs a positive whole number"
               : "needs a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  }
  *out = static_cast<T>(*n);
  return "";
}

std::string Rate(const std::string& v, double* out) {
  double value = 0;
  const char* end = v.data() + v.size();
  auto [ptr, ec] = std::from_chars(v.data(), end, value);
  if (v.empty() || ec != std::errc() || ptr != end || !(value > 0) || value > 1e9)
    return "needs a positive number";
  *out = value;
  return "";
}

// "host" or "host:port"; an IPv6 address in brackets ("[fd00::1]:7234").
std::string HostAndPort(const std::string& v, std::string* out) {
  constexpr const char* kNeeds = "needs a host or host:port (an IPv6 address in brackets)";
  std::string host = v;
  std::string port;
  if (!v.empty() && v.front() == '[') {
    const size_t close = v.find(']');
    if (close == std::string::npos || close == 1) return kNeeds;
    host = v.substr(1, close - 1);
    if (close + 1 < v.size()) {
      if (v[close + 1] != ':') return kNeeds;
      port = v.substr(close + 2);
      if (port.empty()) return kNeeds;
    }
  } else if (const size_t colon = v.find(':'); colon != std::string::npos) {
    if (v.find(':', colon + 1) != std::string::npos) return kNeeds;  // bare IPv6
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
    if (port.empty()) return kNeeds;
  }
  if (host.empty()) return kNeeds;
  for (char c : host) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@') return kNeeds;
  }
  if (!port.empty() && !ParseWhole(port, 1, 65535)) return "needs a port from 1 to 65535 after ':'";
  *out = v;
  return "";
}

std::string Switch(const std::string& v, bool* out) {
  if (v != "true" && v != "false") return "is a switch: true or false";
  *out = v == "true";
  return "";
}

constexpr size_t kNodeNameMax = 64;

bool IsNodeName(const std::string& v) {
  if (v.empty() || v.size() > kNodeNameMax) return false;
  for (char c : v) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return true;
}

#define OPT(field) [](const std::string& v, ParseState& s) { return field; }

const Setting kSettings[] = {
    {"port", "-p", Kind::kValue, kBoth, OPT(Port(v, &s.settings.options.port))},
    {"ip", nullptr, Kind::kValue, kBoth,
     [](const std::string& v, ParseState& s) -> std::string {
       unsigned char buffer[sizeof(struct in6_addr)];
       if (inet_pton(AF_INET, v.c_str(), buffer) != 1 &&
           inet_pton(AF_INET6, v.c_str(), buffer) != 1)
         return "needs an IP address (such as 127.0.0.1, 0.0.0.0 or ::)";
       s.settings.options.ip = v;
       return "";
     }},
    {"database", nullptr, Kind::kValue, kBoth,
     [](const std::string& v, ParseState& s) -> std::string {
       if (v.empty()) return "needs a SQLite file or a PostgreSQL URL";
       s.settings.options.db_path = v;
       return "";
     }},
    {"db-filename", "-f", Kind::kValue, kStartDev,
     [](const std::string& v, ParseState& s) -> std::string {
       if (v.empty()) return "needs a file name or a PostgreSQL URL";
       s.settings.options.db_path = v;
       return "";
     }},
    {"num-shards", nullptr, Kind::kValue, kBoth,
     OPT(Whole(v, 1, 16384, &s.settings.options.shard_count))},
    {"internal-port", nullptr, Kind::kValue, kStart,
     OPT(Port(v, &s.settings.options.internal_port))},
    {"internal-address", nullptr, Kind::kValue, kStart,
     OPT(HostAndPort(v, &s.settings.options.internal_advertise))},
    {"internal-tls-cert-path", nullptr, Kind::kValue, kStart,
     OPT(FileName(v, &s.settings.options.internal_tls_cert_path))},
    {"internal-tls-key-path", nullptr, Kind::kValue, kStart,
     OPT(FileName(v, &s.settings.options.internal_tls_key_path))},
    {"internal-tls-ca-path", nullptr, Kind::kValue, kStart,
     OPT(FileName(v, &s.settings.options.internal_tls_ca_path))},
    {"internal-tls-server-name", nullptr, Kind::kValue, kStart,
     [](const std::string& v, ParseState& s) -> std::string {
       if (v.empty()) return "needs a name";
       s.settings.options.internal_tls_server_name = v;
       return "";
     }},
    {"node-name", nullptr, Kind::kValue, kStart,
     [](const std::string& v, ParseState& s) -> std::string {
       if (!IsNodeName(v)) return "needs 1 to 64 letters, digits, '-', '_' or '.'";
       s.settings.options.node_name = v;
       return "";
     }},
    {"namespace", "-n", Kind::kList, kBoth,
     [](const std::string& v, ParseState& s) -> std::string {
       if (v.empty()) return "needs a name";
       s.settings.options.namespaces.push_back(v);
       return "";
     }},
    {"log-level", nullptr, Kind::kValue, kBoth,
     [](const std::string& v, ParseState& s) -> std::string {
       if (!log::ParseLevel(v, &s.settings.log_level))
         return "must be one of debug, info, warn, error, never";
       return "";
     }},
    {"log-format", nullptr, Kind::kValue, kBoth,
     [](const std::string& v, ParseState& s) -> std::string {
       if (!log::ParseFormat(v, &s.settings.log_format)) return "must be text or json";
       return "";
     }},
    {"metrics-port", nullptr, Kind::kValue, kBoth,
     OPT(OptionalPort(v, &s.settings.options.metrics_port,
                      &s.settings.options.metrics_port_required))},
    {"ui-port", nullptr, Kind::kValue, kBoth,
     OPT(OptionalPort(v, &s.settings.options.ui_port, &s.settings.options.ui_port_required))},
    {"http-port", nullptr, Kind::kValue, kBoth, OPT(Port(v, &s.settings.options.http_port))},
    {"headless", nullptr, Kind::kSwitch, kStartDev, OPT(Switch(v, &s.headless))},
    {"tls-cert-path", nullptr, Kind::kValue, kBoth,
     OPT(FileName(v, &s.settings.options.tls_cert_path))},
    {"tls-key-path", nullptr, Kind::kValue, kBoth,
     OPT(FileName(v, &s.settings.options.tls_key_path))},
    {"tls-client-ca-path", nullptr, Kind::kValue, kBoth,
     OPT(FileName(v, &s.settings.options.tls_client_ca_path))},
    {"auth-config", nullptr, Kind::kValue, kBoth,
     OPT(FileName(v, &s.settings.options.auth_config_path))},
    {"audit-log", nullptr, Kind::kValue, kBoth,
     OPT(FileName(v, &s.settings.options.audit_log_path))},
    {"namespace-rps", nullptr, Kind::kValue, kBoth,
     OPT(Rate(v, &s.settings.options.namespace_rps))},
    {"caller-rps", nullptr, Kind::kValue, kBoth, OPT(Rate(v, &s.settings.options.caller_rps))},
    {"max-parked-polls-per-queue", nullptr, Kind::kValue, kBoth,
     OPT(Whole(v, 1, 1'000'000, &s.settings.options.parked_polls_per_queue_max))},
    {"history-count-limit", nullptr, Kind::kValue, kBoth,
     OPT(Whole(v, 1, kLimitMax, &s.settings.options.history_count_limit))},
    {"history-size-limit", nullptr, Kind::kValue, kBoth,
     OPT(Whole(v, 1, kLimitMax, &s.settings.options.history_size_limit_bytes))},
    {"payload-size-limit", nullptr, Kind::kValue, kBoth,
     OPT(Whole(v, 1, kLimitMax, &s.settings.options.blob_size_limit_bytes))},
    {"pending-activities-limit", nullptr, Kind::kValue, kBoth,
     OPT(Whole(v, 1, kLimitMax, &s.settings.options.pending_activities_limit))},
    {"pending-children-limit", nullptr, Kind::kValue, kBoth,
     OPT(Whole(v, 1, kLimitMax, &s.settings.options.pending_children_limit))},
    {"pending-signals-limit", nullptr, Kind::kValue, kBoth,
     OPT(Whole(v, 1, kLimitMax, &s.settings.options.pending_signals_limit))},
    {"task-failures-before-parking", nullptr, Kind::kValue, kBoth,
     OPT(Whole(v, 1, 1000, &s.settings.options.task_failures_before_parking))},
    {"time-skipping", nullptr, Kind::kSwitch, kStartDev,
     OPT(Switch(v, &s.settings.options.time_skipping))},
    {"sync-normal", nullptr, Kind::kSwitch, kStartDev,
     [](const std::string& v, ParseState& s) -> std::string {
       bool normal = false;
       std::string problem = Switch(v, &normal);
       if (problem.empty()) s.settings.options.synchronous_full = !normal;
       return problem;
     }},
};

#undef OPT

const char* CommandName(ServerCommand command) {
  return command == ServerCommand::kStart ? "eon server start" : "eon server start-dev";
}

unsigned CommandBit(ServerCommand command) {
  return command == ServerCommand::kStart ? kStart : kStartDev;
}

const Setting* FindSetting(ServerCommand command, const std::string& name) {
  for (const Setting& setting : kSettings) {
    if ((setting.commands & CommandBit(command)) == 0) continue;
    if (name == setting.name || (setting.short_flag != nullptr && name == setting.short_flag))
      return &setting;
  }
  return nullptr;
}

// A value as it is echoed in a message: one line, at most 60 characters.
std::string Quoted(const std::string& value) {
  constexpr size_t kShownMax = 60;
  std::string out = "\"";
  for (size_t i = 0; i < value.size() && i < kShownMax; ++i) {
    const char c = value[i];
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  if (value.size() > kShownMax) out += "...";
  return out + "\"";
}

// One value of one setting, and where it came from, for messages ("--port" or "eon.yaml: port").
struct Entry {
  const Setting* setting;
  std::string value;
  std::string where;
  bool has_value;  // false: a flag given last with nothing after it
};

// Reads the config file's entries. The file is a YAML mapping of setting names to values (a list
// for a repeatable setting, true or false for a switch).
Status ReadConfigFile(ServerCommand command, const std::string& path, std::vector<Entry>* out) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return InvalidArgument("--config: cannot read " + path);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) +
                           ": not valid YAML: " + e.msg);
  }
  if (root.IsNull()) return Status::Ok();  // an empty file: no settings
  if (!root.IsMap()) {
    return InvalidArgument(path + ": the config file must be a mapping of settings (port: 7233)");
  }
  try {
    for (const auto& item : root) {
      const int line = item.first.Mark().line + 1;
      const std::string at = path + ":" + std::to_string(line) + ": ";
      if (!item.first.IsScalar()) return InvalidArgument(at + "a setting's name must be a word");
      const std::string key = item.first.Scalar();
      const Setting* setting = FindSetting(command, key);
      if (setting == nullptr || key.rfind('-', 0) == 0) {
        return InvalidArgument(at + "unknown setting " + Quoted(key) + " (the settings are " +
                               CommandName(command) + "'s flags, without \"--\"; see --help)");
      }
      const YAML::Node& value = item.second;
      const std::string where = at + key;
      if (value.IsNull()) return InvalidArgument(where + " has no value");
      if (setting->kind == Kind::kList && value.IsSequence()) {
        for (const auto& element : value) {
          if (!element.IsScalar())
            return InvalidArgument(where + " must be a list of single values");
          out->push_back({setting, element.Scalar(), where, true});
        }
        continue;
      }
      if (!value.IsScalar()) {
        return InvalidArgument(where + (setting->kind == Kind::kList
                                            ? " must be a value or a list of values"
                                            : " must be a single value"));
      }
      std::string text = value.Scalar();
      if (setting->kind == Kind::kSwitch) {
        bool on = false;
        if (!YAML::convert<bool>::decode(value, on))
          return InvalidArgument(where + " is a switch: true or false, got " + Quoted(text));
        text = on ? "true" : "false";
      }
      out->push_back({setting, text, where, true});
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return Status::Ok();
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || !IsNodeName(name)) return "eon";
  return name;
}

// Two listeners on one port would fail at bind with a less clear message; say which two.
Status CheckPortsDiffer(const server::ServerOptions& options) {
  const std::pair<const char*, int> ports[] = {{"port", options.port},
                                               {"internal-port", options.internal_port},
                                               {"ui-port", options.ui_port},
                                               {"metrics-port", options.metrics_port},
                                               {"http-port", options.http_port}};
  for (size_t i = 0; i < std::size(ports); ++i) {
    for (size_t j = i + 1; j < std::size(ports); ++j) {
      if (ports[i].second > 0 && ports[i].second == ports[j].second) {
        return InvalidArgument(std::string("--") + ports[j].first + " and --" + ports[i].first +
                               " are both " + std::to_string(ports[i].second) +
                               "; each listener needs a port of its own");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ServerSettings> ParseServerSettings(ServerCommand command,
                                           const std::vector<std::string>& args) {
  ParseState state;
  server::ServerOptions& options = state.settings.options;
  options.metrics_port = 9233;
  if (command == ServerCommand::kStartDev) {
    options.ui_port = 8233;
  } else {
    // Production: no in-memory database, no UI unless asked (Temporal serves its UI apart), and
    // metrics on their default port, which must then be free (a server silently without metrics
    // is worse in production than one that refuses to start).
    options.db_path = "";
    options.ui_port = -1;
    options.metrics_port_required = true;
    options.node_name = HostName();
  }

  // The command line, first only read: the config file's entries come before it, so flags win.
  std::vector<Entry> flags;
  std::string config_path;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "-h" || arg == "--help") {
      state.settings.help = true;
      return std::move(state.settings);
    }
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const bool is_long = arg.rfind("--", 0) == 0;
    if (command == ServerCommand::kStart && arg == "--config") {
      if (!inline_value && i + 1 >= args.size()) return InvalidArgument("--config needs a file");
      config_path = inline_value ? *inline_value : args[++i];
      if (config_path.empty()) return InvalidArgument("--config needs a file");
      continue;
    }
    const Setting* setting = FindSetting(command, is_long ? arg.substr(2) : arg);
    if (setting == nullptr || (is_long && arg.substr(2) != setting->name) ||
        (!is_long && (setting->short_flag == nullptr || arg != setting->short_flag))) {
      return InvalidArgument("unknown flag " + args[i] + " for \"" + CommandName(command) +
                             "\" (see --help)");
    }
    Entry entry{setting, "", arg, true};
    if (setting->kind == Kind::kSwitch) {
      entry.value = inline_value.value_or("true");
    } else if (inline_value) {
      entry.value = *inline_value;
    } else if (i + 1 < args.size()) {
      entry.value = args[++i];
    } else {
      entry.has_value = false;
    }
    flags.push_back(std::move(entry));
  }

  std::vector<Entry> entries;
  if (!config_path.empty()) {
    Status read = ReadConfigFile(command, config_path, &entries);
    if (!read.ok()) return read;
    // A setting named on the command line replaces the file's (all of a list's values too).
    std::erase_if(entries, [&](const Entry& from_file) {
      for (const Entry& flag : flags) {
        if (flag.setting == from_file.setting) return true;
      }
      return false;
    });
  }
  entries.insert(entries.end(), flags.begin(), flags.end());
  for (const Entry& entry : entries) {
    std::string problem = entry.setting->apply(entry.value, state);
    if (!entry.has_value) {
      // Apply an empty value only for its wording of what the setting needs.
      return InvalidArgument(entry.where + " " + (problem.empty() ? "needs a value" : problem));
    }
    if (!problem.empty()) {
      return InvalidArgument(entry.where + " " + problem + ", got " + Quoted(entry.value));
    }
  }

  if (state.headless) options.ui_port = -1;
  if (options.db_path.empty()) {
    return InvalidArgument(
        "--database is required (a PostgreSQL URL, postgresql://user:password@host:port/database, "
        "or a SQLite file), as a flag or in the --config file");
  }
  Status ports = CheckPortsDiffer(options);
  if (!ports.ok()) return ports;
  if (!options.internal_advertise.empty() && options.internal_port < 0)
    return InvalidArgument("--internal-address needs --internal-port");
  // Before anything is opened (the server checks it again, as it needs the address).
  Status advertised = server::CheckInternalAddress(options);
  if (!advertised.ok()) return advertised;
  return std::move(state.settings);
}

}  // namespace eon::cli
