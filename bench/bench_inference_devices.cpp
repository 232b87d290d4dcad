// DEQ-Unmix inference throughput per device on a large procedural scene (default 1024 x
// 1024 x 200, 800 MiB as float32, never held in memory): the same quick model unmixes the
// same tiles on each device of --devices (default cpu,cuda; a device this machine lacks is
// reported and skipped), and one table prints seconds, pixels per second, solver iterations
// and the largest abundance difference from the first device side by side, with the ratio
// of each device's pixels per second to the first's. Next to each, a compute bound: the
// multiply-adds of one map evaluation per pixel (the network's convolutions and the two
// products with E) times the mean iterations, against the device's measured throughput on
// the network's largest convolution (3x3, C -> C, on a 256 x 256 image), and the fraction
// of that bound reached. Core only (no GDAL): it builds and runs on the GPU machine.
// Options: --help.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "bench/arguments.h"
#include "bench/procedural_scene.h"
#include "core/runtime.h"

using namespace dequnmix;

namespace {

struct Args {
  int size = 1024;
  int bands = 200;
  int endmembers = 4;
  int tile = 256;
  int halo = 16;
  int threads = 2;
  int epochs = 3;
  std::string devices = "cpu,cuda";
};

// Keeps the abundances of the whole scene (P x size x size floats) to compare devices.
class KeepingWriter final : public DeqTileWriter {
 public:
  KeepingWriter(int size, int p) : size_(size), values_(size_t(p) * size * size) {}
  void write(int row, int col, int rows, int cols, const float* abundances, const float*) override {
    const size_t plane = size_t(rows) * cols, scene = size_t(size_) * size_;
    for (size_t e = 0; e < values_.size() / scene; ++e)
      for (int r = 0; r < rows; ++r)
        std::copy_n(abundances + e * plane + size_t(r) * cols, cols,
                    values_.begin() + e * scene + size_t(row + r) * size_ + col);
  }
  const std::vector<float>& values() const { return values_; }

 private:
  int size_;
  std::vector<float> values_;
};

// Multiply-adds of one map evaluation per pixel: the 1x1 input convolution of [R; A], the
// hidden and output 3x3 convolutions, and E a and E^T r.
double macsPerPixel(const DeqModel& m) {
  const double L = m.bands, P = m.endmemberCount(), C = m.network.hiddenChannels;
  return (L + P) * C + m.network.hiddenLayers * 9 * C * C + 9 * C * P + 2 * L * P;
}

// Multiply-adds per second of a 3x3 C -> C convolution on `device` (best of 5 runs in
// each memory layout: the network runs channels-last on the CPU).
double convolutionThroughput(const std::string& device, int channels, int threads) {
  setThreadCount(threads);
  const KeepFreedMemory keep;  // as during a run
  const torch::Device d(device);
  const torch::Tensor w = torch::randn({channels, channels, 3, 3}).to(d);
  torch::NoGradGuard noGrad;
  double best = 1e30;
  for (int run = 0; run < 12; ++run) {
    const torch::Tensor x =
        torch::randn({1, channels, 256, 256})
            .to(d)
            .contiguous(run < 6 ? at::MemoryFormat::Contiguous : at::MemoryFormat::ChannelsLast);
    if (d.is_cuda()) torch::cuda::synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    const torch::Tensor y = torch::conv2d(x, w, {}, 1, 1);
    if (d.is_cuda()) torch::cuda::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (run % 6 > 0) best = std::min(best, s);  // the first run of a layout warms up
  }
  return 9.0 * channels * channels * 256 * 256 / best;
}

struct DeviceRun {
  std::string device, skipped;  // skipped: why the device could not run
  DeqInferStats stats;
  std::vector<float> abundances;
  double boundPixelsPerSecond = 0;  // the compute bound at the run's mean iterations
};

DeviceRun runOn(const std::string& device, const DeqModel& model,
                const bench::ProceduralScene& scene, const Args& a) {
  DeviceRun run{device, {}, {}, {}};
  DeqInferOptions io;
  io.tileSize = a.tile;
  io.halo = a.halo;
  io.threads = a.threads;
  io.computeResidual = false;
  try {
    io.device = resolveDevice(device);
  } catch (const InvalidArgument& e) {
    run.skipped = e.what();
    return run;
  }
  bench::ProceduralReader reader(scene);
  KeepingWriter writer(a.size, a.endmembers);
  run.stats = unmixWithDeqModel(model, a.size, a.size, reader, writer, io);
  // The core's time: the procedural reader's generation of the pixels is not inference.
  run.stats.seconds -= reader.seconds;
  run.stats.pixelsPerSecond = double(a.size) * a.size / std::max(run.stats.seconds, 1e-9);
  run.abundances = writer.values();
  run.boundPixelsPerSecond =
      convolutionThroughput(io.device, model.network.hiddenChannels, a.threads) /
      (macsPerPixel(model) * std::max(1.0, run.stats.solver.meanIterations()));
  return run;
}

float maxDifference(const std::vector<float>& x, const std::vector<float>& y) {
  float worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]));
  return worst;
}

void printTable(const std::vector<DeviceRun>& runs, const Args& a, double trainSeconds) {
  std::printf("# DEQ-Unmix inference per device, %d x %d x %d procedural scene, P = %d\n\n", a.size,
              a.size, a.bands, a.endmembers);
  std::printf(
      "Quick model: %d epochs (%.1f s on the CPU). Tiles %d + halo %d, %d CPU threads; "
      "the seconds are the core's (scene generation excluded).\n\n",
      a.epochs, trainSeconds, a.tile, a.halo, a.threads);
  const auto ran =
      std::find_if(runs.begin(), runs.end(), [](const DeviceRun& r) { return r.skipped.empty(); });
  const std::string reference = ran == runs.end() ? "-" : ran->device;
  std::printf(
      "| device | seconds | tile starts s | solves s | pixels/s | vs %s | compute bound pixels/s "
      "| of the bound | tiles | mean it | converged | max abundance diff vs %s |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      reference.c_str(), reference.c_str());
  for (const DeviceRun& r : runs) {
    if (!r.skipped.empty()) {
      std::printf("| %s | skipped: %s | | | | | | | | | | |\n", r.device.c_str(),
                  r.skipped.c_str());
      continue;
    }
    const DeviceRun* first = &*ran;
    std::printf(
        "| %s | %.2f | %.2f | %.2f | %.0f | %.2fx | %.0f | %.0f%% | %lld | %.1f | %.2f | %.2e |\n",
        r.device.c_str(), r.stats.seconds, r.stats.startSeconds, r.stats.solver.seconds,
        r.stats.pixelsPerSecond, r.stats.pixelsPerSecond / first->stats.pixelsPerSecond,
        r.boundPixelsPerSecond, 100 * r.stats.pixelsPerSecond / r.boundPixelsPerSecond,
        (long long)r.stats.tiles, r.stats.solver.meanIterations(),
        r.stats.solver.convergedFraction(), maxDifference(r.abundances, first->abundances));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  bench::Arguments args("bench_inference_devices",
                        "DEQ-Unmix inference pixels per second per device, side by side.");
  args.option("--size", a.size, "N", "scene width and height in pixels");
  args.option("--bands", a.bands, "B", "number of bands");
  args.option("--endmembers", a.endmembers, "P", "number of endmembers");
  args.option("--tile", a.tile, "T", "inference tile size");
  args.option("--halo", a.halo, "H", "tile halo");
  args.option("--threads", a.threads, "N", "CPU threads");
  args.option("--epochs", a.epochs, "N", "training epochs of the quick model");
  args.option("--devices", a.devices, "LIST", "comma-separated devices, the first the reference");
  args.parseOrExit(argc, argv);
  try {
    const bench::QuickModel quick =
        bench::trainQuickModel(a.bands, a.endmembers, 64, 30, a.epochs, a.threads);
    const bench::ProceduralScene scene(quick.spectra, a.bands, a.endmembers, a.size, 30);
    std::vector<DeviceRun> runs;
    std::stringstream list(a.devices);
    for (std::string device; std::getline(list, device, ',');)
      runs.push_back(runOn(device, quick.model, scene, a));
    printTable(runs, a, quick.trainSeconds);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_inference_devices: %s\n", e.what());
    return 1;
  }
}
