// `eon bench`: a load generator in the binary, like Temporal's omes. It starts a development
// server of its own (or targets one with --address), runs a scenario through the C++ SDK (a
// worker and a client in this process) and prints one line: workflows/s, start-to-result
// latency, and what each workflow cost the server (CPU, database transactions and fsyncs,
// context switches). With --open-timers N it reports the server's memory with N workflows each
// waiting on a timer.
#pragma once

namespace eon::cli {

// argv holds the words after "bench". Returns the process exit code: 0 when every workflow
// succeeded, 1 for a failure, 2 for bad flags.
int Bench(int argc, char** argv);

}  // namespace eon::cli
