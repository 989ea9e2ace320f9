// `eon server start`, the production server, and `eon server start-dev`, the development server
// with the flags of `temporal server start-dev`. Their settings: cli/server_settings.h.
#pragma once

namespace eon::cli {

// argv holds the words after "start". Returns the process exit code.
int ServerStart(int argc, char** argv);

// argv holds the words after "start-dev". Returns the process exit code.
int ServerStartDev(int argc, char** argv);

// `eon admin db migrate|status --database DB`; argv holds the words after "db".
int AdminDb(int argc, char** argv);

}  // namespace eon::cli
