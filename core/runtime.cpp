#include "core/runtime.h"

#include <string>
#include <thread>

#include <ATen/Parallel.h>

#include "core/errors.h"

namespace dequnmix {

int hardwareThreadCount() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

int setThreadCount(int threads) {
  if (threads < 0) {
    throw InvalidArgument("the thread count is " + std::to_string(threads) +
                          " but must be 0 (all hardware threads) or more");
  }
  at::set_num_threads(threads > 0 ? threads : hardwareThreadCount());
  return at::get_num_threads();
}

}  // namespace dequnmix
