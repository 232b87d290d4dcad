// Process-level helpers shared by the benchmarks: memory figures from /proc and running
// this executable again in a child process, so that each measured run's peak memory is
// its own (Linux only, as are the benchmarks' memory figures).
#pragma once

#include <string>
#include <vector>

namespace dequnmix::bench {

// A "Key:" field of /proc/self/status in KiB (e.g. "VmRSS:", "VmHWM:"); 0 when absent.
double statusKiB(const char* key);

// Runs /proc/self/exe with `args` (args[0] is the program name) and returns its standard
// output; "" when the child cannot be started.
std::string runSelf(const std::vector<std::string>& args);

}  // namespace dequnmix::bench
