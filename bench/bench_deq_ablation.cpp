// Ablation of the paper's gradient: peak training memory and time per epoch of implicit
// differentiation against the unrolled network of the same map, at 5, 10, 20 and 40
// forward iterations, on Samson (or a synthetic scene when Samson is absent). Each
// configuration trains in its own child process (this executable with --child), so the
// peak-RSS growth (VmHWM minus the RSS before training) is that run's alone. Next to it,
// the peak of the tensors alive, counted at LibTorch's allocator (bench/tensor_memory.h):
// exact and repeatable, where the RSS also holds what malloc keeps after frees.
// Options: --help.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/arguments.h"
#include "bench/process_stats.h"
#include "bench/scene_io.h"
#include "bench/tensor_memory.h"
#include "core/deq/deq_unmix.h"
#include "core/synthetic/synthetic.h"

using namespace dequnmix;
using dequnmix::bench::runSelf;
using dequnmix::bench::statusKiB;

namespace {

DeqTrainInput loadInput(const std::string& dir) {
  DeqTrainInput in;
  if (std::ifstream(dir + "/samson.tif")) {
    bench::Cube c = bench::readCube(dir + "/samson.tif");
    in.bands = c.bands;
    in.height = c.height;
    in.width = c.width;
    in.scene = c.values;
  } else {
    SyntheticOptions so;
    so.width = so.height = 95;
    so.bands = 156;
    so.endmembers = 3;
    SyntheticScene s = generateSyntheticScene(so);
    in.bands = s.bands;
    in.height = s.height;
    in.width = s.width;
    in.scene = s.scene;
  }
  return in;
}

struct Settings {
  int epochs = 6;
  std::vector<int> iters = {5, 10, 20, 40};
  std::string data = std::string(DEQUNMIX_SHARED_DIR) + "/data/samson";
  std::string childMode;
  int childIters = 0;
  double backwardTol = NAN;  // of the implicit backward solve; NaN: the core default
};

void declare(bench::Arguments& args, Settings& s) {
  args.option("--epochs", s.epochs, "N", "training epochs per run");
  args.option("--iters", s.iters, "K,K,...", "forward iterations, one table row each");
  args.option("--data", s.data, "DIR", "folder holding samson.tif (else a synthetic scene)");
  args.option("--backward-tol", s.backwardTol, "T", "implicit backward tolerance", "the core's");
  args.option("--child", s.childMode, "MODE", "internal: one run with gradient MODE");
  args.option("--child-iters", s.childIters, "K", "internal: the child run's forward iterations");
}

// What one child run measured (its RESULT line); zeros where the child failed.
struct RunResult {
  double peakRssMiB = 0, secondsPerEpoch = 0, backwardIterations = 0, loss = 0;
  double tensorPeakMiB = 0;
};

// Child: one training run with the gradient of `childMode`, K forward iterations always run
// in full (as the unrolled network does); the first epoch warms up and is not counted.
int runChild(const Settings& s) {
  DeqTrainOptions o;
  o.epochs = s.epochs;
  o.threads = 2;
  o.gradient = parseEnum<DeqGradientMode>(s.childMode);
  o.forward.maxIterations = s.childIters;
  o.forward.tolerance = 0;
  if (!std::isnan(s.backwardTol)) o.backward.tolerance = s.backwardTol;
  DeqInferOptions io;
  io.solver.maxIterations = 1;  // the final output pass is not part of the ablation
  const DeqTrainInput in = loadInput(s.data);
  const double rss0 = statusKiB("VmRSS:");
  bench::startTensorPeak();
  const DeqTrainResult r = trainDeqUnmix(in, o, io);
  const double peak = (statusKiB("VmHWM:") - rss0) / 1024.0;
  double t = 0, bwd = 0;
  int n = 0;
  for (size_t e = 1; e < r.epochs.size(); ++e, ++n) {
    t += r.epochs[e].seconds;
    bwd += r.epochs[e].backward.meanIterations();
  }
  std::printf("RESULT %.1f %.4f %.1f %.3g %.2f\n", peak, t / std::max(1, n), bwd / std::max(1, n),
              r.epochs.back().loss, bench::tensorPeakMiB());
  return 0;
}

RunResult runInChild(std::vector<std::string> command, const char* mode, int iterations) {
  command.insert(command.end(), {"--child", mode, "--child-iters", std::to_string(iterations)});
  const std::string out = runSelf(command);
  RunResult r;
  const size_t at = out.find("RESULT ");
  if (at != std::string::npos)
    std::sscanf(out.c_str() + at + 7, "%lf %lf %lf %lf %lf", &r.peakRssMiB, &r.secondsPerEpoch,
                &r.backwardIterations, &r.loss, &r.tensorPeakMiB);
  return r;
}

void printRow(int iterations, const RunResult& implicit, const RunResult& unrolled) {
  auto ratio = [](double a, double b) { return a / std::max(1e-9, b); };
  std::printf("| %d | %.1f | %.1f | %.2f | %.0f | %.0f | %.2f | %.3f | %.3f | %.2f | %.1f |\n",
              iterations, implicit.tensorPeakMiB, unrolled.tensorPeakMiB,
              ratio(implicit.tensorPeakMiB, unrolled.tensorPeakMiB), implicit.peakRssMiB,
              unrolled.peakRssMiB, ratio(implicit.peakRssMiB, unrolled.peakRssMiB),
              implicit.secondsPerEpoch, unrolled.secondsPerEpoch,
              ratio(implicit.secondsPerEpoch, unrolled.secondsPerEpoch),
              implicit.backwardIterations);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  bench::Arguments args("bench_deq_ablation",
                        "Peak training memory and time per epoch, implicit vs unrolled.");
  declare(args, s);
  args.parseOrExit(argc, argv);
  if (!s.childMode.empty()) return runChild(s);
  std::printf(
      "## Implicit vs unrolled training (%d epochs per run, 2 threads, %s)\n\n", s.epochs,
      std::ifstream(s.data + "/samson.tif") ? "Samson 95 x 95 x 156" : "synthetic 95 x 95 x 156");
  std::printf(
      "| forward iterations | implicit tensor peak MiB | unrolled tensor peak MiB | ratio | "
      "implicit peak RSS MiB | unrolled peak RSS MiB | ratio | implicit s/epoch | unrolled "
      "s/epoch | ratio | implicit bwd it |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  // Each child sees the options as typed (the same defaults apply there), less --iters.
  std::vector<std::string> typed = {argv[0]};
  for (const std::string& a : args.given({"--iters"})) typed.push_back(a);
  for (const int k : s.iters)
    printRow(k, runInChild(typed, "implicit", k), runInChild(typed, "unrolled", k));
  return 0;
}
