// The `eon` command line client: `eon workflow ...`, `eon operator namespace ...`,
// `eon task-queue describe`, following the `temporal` CLI's nouns, verbs and flags.
#pragma once

namespace eon::cli {

// argv holds the words after "eon". Returns the process exit code.
int RunClientCommand(int argc, char** argv);

}  // namespace eon::cli
