#include "common/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace eon {
namespace {

int64_t PageSizeBytes() { return static_cast<int64_t>(sysconf(_SC_PAGESIZE)); }

double Seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; }

}  // namespace

ProcessStats OwnProcessStats() {
  ProcessStats stats;
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    stats.cpu_seconds = Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
    stats.voluntary_switches = usage.ru_nvcsw;
    stats.involuntary_switches = usage.ru_nivcsw;
  }
  // statm: size resident shared text lib data dt, in pages.
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages) stats.rss_bytes = resident_pages * PageSizeBytes();
  return stats;
}

Result<ProcessStats> ProcessStatsOf(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::ifstream file(path);
  std::string line;
  if (!file || !std::getline(file, line)) return NotFound("cannot read " + path);
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields are counted
  // after the last ')'. Field 3 (state) is the first one after it.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return NotFound("cannot parse " + path);
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  unsigned long long utime_ticks = 0, stime_ticks = 0;
  long long rss_pages = 0;
  for (int number = 3; fields >> field; ++number) {
    const char* end = field.data() + field.size();
    if (number == 14) std::from_chars(field.data(), end, utime_ticks);
    if (number == 15) std::from_chars(field.data(), end, stime_ticks);
    if (number == 24) {
      std::from_chars(field.data(), end, rss_pages);
      break;
    }
  }
  ProcessStats stats;
  const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
  stats.cpu_seconds = static_cast<double>(utime_ticks + stime_ticks) / ticks_per_second;
  stats.rss_bytes = rss_pages * PageSizeBytes();
  return stats;
}

}  // namespace eon
