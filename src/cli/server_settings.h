// The settings of `eon server start` (production) and `eon server start-dev` (development): one
// table of flags, which `eon server start` also reads from a YAML file (`--config eon.yaml`,
// whose keys are the flags' names without the leading dashes). Flags override the file.
#pragma once

#include <string>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "server/server.h"

namespace eon::cli {

enum class ServerCommand { kStart, kStartDev };

struct ServerSettings {
  server::ServerOptions options;
  log::Level log_level = log::Level::kInfo;
  log::Format log_format = log::Format::kText;
  bool help = false;  // --help was given: print the usage, start nothing
};

// Parses the words after "start" or "start-dev" (and, for start, the file --config names) into
// settings with each command's defaults. Every problem (a flag or key this command does not
// know, a value that does not parse or is out of range, a required setting that is missing, a
// file that cannot be read or is not YAML, two ports that are the same) is INVALID_ARGUMENT with
// a one-line message that names the setting as the user wrote it ("--port ..." for a flag,
// "eon.yaml: port ..." for a key of the file). Nothing is opened or bound here.
Result<ServerSettings> ParseServerSettings(ServerCommand command,
                                           const std::vector<std::string>& args);

}  // namespace eon::cli
