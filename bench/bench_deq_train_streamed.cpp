// DEQ-Unmix training on a scene larger than memory (default 8192 x 8192 x 200, 51 GB as
// float32, generated window by window by bench/procedural_scene.h and never materialised):
// trainDeqUnmixStreamed samples tiles for the endmember stage, then reads every step's
// tiles through the reader. Prints the peak resident memory (VmHWM) against the 2 GB
// target, the tiles read per second in the epochs and the accuracy of the endmembers found
// against the scene's. Core only (no GDAL). Options: --help.
#include <chrono>
#include <cstdio>
#include <string>

#include "bench/arguments.h"
#include "bench/procedural_scene.h"
#include "bench/process_stats.h"
#include "core/metrics/metrics.h"
#include "core/synthetic/synthetic.h"

using namespace dequnmix;

int main(int argc, char** argv) {
  int size = 8192, bands = 200, endmembers = 4, epochs = 2, steps = 25, tile = 64, threads = 2;
  double budgetMiB = 1024, targetMiB = 2048;
  bench::Arguments args("bench_deq_train_streamed",
                        "DEQ-Unmix training streamed from a procedural scene larger than memory.");
  args.option("--size", size, "N", "scene width and height in pixels");
  args.option("--bands", bands, "B", "bands");
  args.option("--endmembers", endmembers, "P", "endmembers");
  args.option("--epochs", epochs, "N", "epochs");
  args.option("--steps", steps, "N", "optimiser steps per epoch (4 tiles each)");
  args.option("--tile", tile, "T", "tile side");
  args.option("--threads", threads, "N", "LibTorch threads");
  args.option("--budget-mib", budgetMiB, "M", "memory budget (DeqTrainOptions::memoryBudgetMiB)");
  args.option("--target-mib", targetMiB, "M", "peak memory target (PASS or FAIL)");
  args.parseOrExit(argc, argv);
  try {
    SyntheticOptions so;
    so.width = so.height = 16;
    so.bands = bands;
    so.endmembers = endmembers;
    so.seed = 42;
    const std::vector<float> spectra = generateSyntheticScene(so).endmembers.values;
    const bench::ProceduralScene scene(spectra, bands, endmembers, size, 30);
    bench::ProceduralReader reader(scene);
    DeqTrainInput info;
    info.bands = bands;
    info.height = info.width = size;
    DeqTrainOptions o;
    o.endmembers = endmembers;
    o.epochs = epochs;
    o.stepsPerEpoch = steps;
    o.tileSize = tile;
    o.threads = threads;
    o.memoryBudgetMiB = budgetMiB;
    const auto t0 = std::chrono::steady_clock::now();
    const DeqTrainResult r = trainDeqUnmixStreamed(reader, info, o);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double epochSeconds = 0;
    for (const auto& e : r.epochs) epochSeconds += e.seconds;
    const double tiles = double(epochs) * steps * o.tilesPerStep;
    const double peakMiB = bench::statusKiB("VmHWM:") / 1024.0;
    const EndmemberMatch match =
        matchEndmembers(r.model.endmembers.values, spectra, bands, endmembers);
    std::printf(
        "# Streamed DEQ-Unmix training, %d x %d x %d procedural scene (%.1f GB as float32)\n\n",
        size, size, bands, double(size) * size * bands * 4 / 1e9);
    std::printf(
        "| tiles | epochs x steps | seconds (all) | epoch seconds | tiles/s | generation s | "
        "peak RSS MiB | target | mSAD rad |\n|---|---|---|---|---|---|---|---|---|\n");
    std::printf(
        "| %d x %d, 4 per step | %d x %d | %.1f | %.1f | %.1f | %.1f | %.0f | %s (< %.0f) | %.4f "
        "|\n",
        tile, tile, epochs, steps, seconds, epochSeconds, tiles / epochSeconds, reader.seconds,
        peakMiB, peakMiB < targetMiB ? "PASS" : "FAIL", targetMiB, match.msadRad);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_deq_train_streamed: %s\n", e.what());
    return 1;
  }
}
