// Memory of DEQ-Unmix training on a scene held in memory: the peak of LibTorch's tensors
// (counted at the allocator, bench/tensor_memory.h), which the memory budget's working-set
// estimate stands for, next to the process's peak resident memory (VmHWM), which also
// holds the scene's copies outside tensors and what the allocator keeps after a free
// (KeepFreedMemory, core/runtime.h). One scene size per run: VmHWM only grows. Core only.
// Options: --help.
#include <cstdio>
#include <string>

#include "bench/arguments.h"
#include "bench/process_stats.h"
#include "bench/tensor_memory.h"
#include "core/deq/deq_unmix.h"
#include "core/synthetic/synthetic.h"

using namespace dequnmix;

int main(int argc, char** argv) {
  int size = 512, bands = 100, endmembers = 4, epochs = 1, threads = 2;
  double budgetMiB = 0;
  std::string scaleInvariance = "auto";
  bench::Arguments args("bench_deq_train_memory",
                        "Tensor and resident memory of DEQ-Unmix training on a scene in memory.");
  args.option("--size", size, "N", "scene width and height in pixels");
  args.option("--bands", bands, "B", "bands");
  args.option("--endmembers", endmembers, "P", "endmembers");
  args.option("--epochs", epochs, "N", "epochs");
  args.option("--threads", threads, "N", "LibTorch threads");
  args.option("--budget-mib", budgetMiB, "M",
              "memory budget (DeqTrainOptions::memoryBudgetMiB; 0 = a quarter of the RAM)");
  args.option("--scale-invariance", scaleInvariance, "S",
              "data term: off|on|auto (auto: off on this scene of even brightness)");
  args.parseOrExit(argc, argv);
  try {
    SyntheticOptions so;
    so.width = so.height = size;
    so.bands = bands;
    so.endmembers = endmembers;
    DeqTrainInput in;
    in.bands = bands;
    in.height = in.width = size;
    in.scene = generateSyntheticScene(so).scene;
    DeqTrainOptions o;
    o.endmembers = endmembers;
    o.epochs = epochs;
    o.threads = threads;
    o.memoryBudgetMiB = budgetMiB;
    o.network.scaleInvariance = parseEnum<ScaleInvariance>(scaleInvariance);
    const double before = bench::statusKiB("VmRSS:") / 1024.0;
    bench::startTensorPeak();
    trainDeqUnmix(in, o);
    const double tensors = bench::tensorPeakMiB();
    const double resident = bench::statusKiB("VmHWM:") / 1024.0 - before;
    const double pixels = double(size) * size;
    auto perPixel = [&](double mib) { return mib * 1048576.0 / pixels; };
    std::printf(
        "| scene | scene MiB | budget MiB | tensor peak MiB (B/pixel) | peak RSS growth MiB "
        "(B/pixel) | RSS / tensors |\n|---|---|---|---|---|---|\n");
    std::printf("| %d x %d x %d | %.0f | %.0f | %.0f (%.0f) | %.0f (%.0f) | %.2f |\n", size, size,
                bands, pixels * bands * 4 / 1048576.0, o.memoryBudgetInEffectMiB(), tensors,
                perPixel(tensors), resident, perPixel(resident), resident / tensors);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_deq_train_memory: %s\n", e.what());
    return 1;
  }
}
