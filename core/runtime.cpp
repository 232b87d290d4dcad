#include "core/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <string>
#include <thread>

#include <ATen/Parallel.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/errors.h"

namespace dequnmix {

int hardwareThreadCount() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

double physicalMemoryMiB() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && pageSize > 0) return double(pages) * double(pageSize) / 1048576.0;
#endif
  return 0;
}

namespace {

// LibTorch parallelises with its OpenMP team; a BLAS with its own thread pool (Debian's
// OpenBLAS) on the same cores makes each product fight that team, and the product is
// faster on one thread (bench/README.md, "Thread pools"). OpenBLAS is found among the
// loaded libraries, so a BLAS without this entry point is left alone.
void useOneBlasThread() {
  for (const char* library : {"libopenblas.so.0", "libblas.so.3"}) {
    void* handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
    if (!handle) continue;
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(handle, "openblas_set_num_threads"))) set(1);
    dlclose(handle);
  }
}

}  // namespace

int setThreadCount(int threads) {
  if (threads < 0) {
    throw InvalidArgument("the thread count is " + std::to_string(threads) +
                          " but must be 0 (all hardware threads) or more");
  }
  at::set_num_threads(threads > 0 ? threads : hardwareThreadCount());
#ifdef _OPENMP
  // The core's parallel loops run on the OpenMP runtime it was linked with, which is not
  // LibTorch's where a pip wheel bundles its own libgomp: the same team size for both.
  omp_set_num_threads(at::get_num_threads());
#endif
  useOneBlasThread();
  return at::get_num_threads();
}

namespace {
std::atomic<int> keepDepth{0};
}  // namespace

KeepFreedMemory::KeepFreedMemory() {
  if (keepDepth++ > 0) return;
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 0);              // every block from the heap, none mapped on its own
  mallopt(M_TRIM_THRESHOLD, INT_MAX);  // and the heap's top not returned on every free
#endif
}

KeepFreedMemory::~KeepFreedMemory() {
  if (--keepDepth > 0) return;
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 65536);  // glibc's defaults
  mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  malloc_trim(0);
#endif
}

}  // namespace dequnmix
