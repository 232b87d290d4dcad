// Process-wide runtime settings of the dequnmix core as a plain C++ API (no LibTorch
// header), so that the QGIS adapters can use them.
#pragma once

namespace dequnmix {

// Number of hardware threads of the machine (at least 1).
int hardwareThreadCount();

// Physical memory of the machine in MiB; 0 where the system does not say.
double physicalMemoryMiB();

// Sets the number of CPU threads LibTorch uses for intra-op parallelism (at::parallel_for
// in FCLS, VCA and the metrics; tensor operations of DEQ-Unmix). `threads`: 0 = all
// hardware threads. Returns the count in effect. With OpenMP the setting belongs to the
// calling thread, so call it on the thread that runs the computation (in a Processing
// algorithm: processAlgorithm(), not prepareAlgorithm()). Throws InvalidArgument when
// `threads` is negative. A BLAS with its own thread pool (OpenBLAS) is set to one thread:
// LibTorch's threads do the parallel work.
int setThreadCount(int threads);

// For the length of a DEQ-Unmix run (nested scopes count once): freed memory stays in the
// process's heap for the next tensor instead of going back to the system, and is given
// back when the outermost scope ends. LibTorch frees and allocates tensors of tens of MiB
// at every solver iteration, and glibc's defaults had every one of them fault its pages in
// again (bench/README.md, "Freed memory").
class KeepFreedMemory {
 public:
  KeepFreedMemory();
  ~KeepFreedMemory();
  KeepFreedMemory(const KeepFreedMemory&) = delete;
  KeepFreedMemory& operator=(const KeepFreedMemory&) = delete;
};

}  // namespace dequnmix
