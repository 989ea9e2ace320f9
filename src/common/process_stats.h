// process_stats: what a process costs the machine (CPU time, resident memory, context switches),
// read from the kernel. The server reports its own through /metrics; `eon bench` reads a child
// server's through /proc.
//
// Linux only (/proc). Thread-safe. Never throws.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "common/status.h"

namespace eon {

struct ProcessStats {
  double cpu_seconds = 0;  // user + system, all threads (exited ones included)
  int64_t rss_bytes = 0;   // resident set size now
  // Context switches of all threads, exited ones included; -1 when unknown (another process:
  // the kernel keeps exited threads' counts only for the process itself and its parent after
  // it ends).
  int64_t voluntary_switches = -1;
  int64_t involuntary_switches = -1;
};

// This process: getrusage(RUSAGE_SELF) and /proc/self/statm.
ProcessStats OwnProcessStats();

// Another process: /proc/<pid>/stat (CPU time and RSS; switches stay -1). NOT_FOUND when the
// process does not exist or its stat cannot be parsed.
Result<ProcessStats> ProcessStatsOf(pid_t pid);

}  // namespace eon
