// Ablation of the paper's gradient: peak training memory and time per epoch of implicit
// differentiation against the unrolled network of the same map, at 5, 10, 20 and 40
// forward iterations, on Samson (or a synthetic scene when Samson is absent). Each
// configuration trains in its own child process (this executable with --child), so the
// peak-RSS growth (VmHWM minus the RSS before training) is that run's alone. Next to it,
// the peak of the tensors alive, counted at LibTorch's allocator (bench/tensor_memory.h):
// exact and repeatable, where the RSS also holds what malloc keeps after frees.
// Options: --help.

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

}  // namespace

int main(int argc, char** argv) {
  int epochs = 6;
  std::vector<int> iters = {5, 10, 20, 40};
  std::string data = std::string(DEQUNMIX_SHARED_DIR) + "/data/samson";
  std::string childMode;
  int childIters = 0;
  double backwardTol = NAN;  // of the implicit backward solve; NaN: the core default
  bench::Arguments args("bench_deq_ablation",
                        "Peak training memory and time per epoch, implicit vs unrolled.");
  args.option("--epochs", epochs, "N", "training epochs per run");
  args.option("--iters", iters, "K,K,...", "forward iterations, one table row each");
  args.option("--data", data, "DIR", "folder holding samson.tif (else a synthetic scene)");
  args.option("--backward-tol", backwardTol, "T", "implicit backward tolerance", "the core's");
  args.option("--child", childMode, "MODE", "internal: one run with gradient MODE");
  args.option("--child-iters", childIters, "K", "internal: the child run's forward iterations");
  args.parseOrExit(argc, argv);
  if (!childMode.empty()) {
    DeqTrainInput in = loadInput(data);
    DeqTrainOptions o;
    o.epochs = epochs;
    o.threads = 2;
    o.gradient = parseEnum<DeqGradientMode>(childMode);
    o.forward.maxIterations = childIters;
    o.forward.tolerance = 0;  // always run the full K iterations, as the unrolled network
    if (!std::isnan(backwardTol)) o.backward.tolerance = backwardTol;
    DeqInferOptions io;
    io.solver.maxIterations = 1;  // the final output pass is not part of the ablation
    const double rss0 = statusKiB("VmRSS:");
    bench::startTensorPeak();
    DeqTrainResult r = trainDeqUnmix(in, o, io);
    const double peak = (statusKiB("VmHWM:") - rss0) / 1024.0;
    const double tensors = bench::tensorPeakMiB();
    double t = 0, bwd = 0;
    int n = 0;
    for (size_t e = 1; e < r.epochs.size(); ++e, ++n) {  // the first epoch warms up
      t += r.epochs[e].seconds;
      bwd += r.epochs[e].backward.meanIterations();
    }
    std::printf("RESULT %.1f %.4f %.1f %.3g %.2f\n", peak, t / std::max(1, n), bwd / std::max(1, n),
                r.epochs.back().loss, tensors);
    return 0;
  }
  std::printf(
      "## Implicit vs unrolled training (%d epochs per run, 2 threads, %s)\n\n", epochs,
      std::ifstream(data + "/samson.tif") ? "Samson 95 x 95 x 156" : "synthetic 95 x 95 x 156");
  std::printf(
      "| forward iterations | implicit tensor peak MiB | unrolled tensor peak MiB | ratio | "
      "implicit peak RSS MiB | unrolled peak RSS MiB | ratio | implicit s/epoch | unrolled "
      "s/epoch | ratio | implicit bwd it |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  // Each child sees the options as typed (the same defaults apply there), less --iters.
  std::vector<std::string> typed = {argv[0]};
  for (const std::string& a : args.given({"--iters"})) typed.push_back(a);
  for (const int k : iters) {
    double v[2][5] = {};
    const char* modes[2] = {"implicit", "unrolled"};
    for (int m = 0; m < 2; ++m) {
      std::vector<std::string> child = typed;
      child.insert(child.end(), {"--child", modes[m], "--child-iters", std::to_string(k)});
      const std::string out = runSelf(child);
      const size_t at = out.find("RESULT ");
      if (at != std::string::npos)
        std::sscanf(out.c_str() + at + 7, "%lf %lf %lf %lf %lf", &v[m][0], &v[m][1], &v[m][2],
                    &v[m][3], &v[m][4]);
    }
    auto ratio = [](double a, double b) { return a / std::max(1e-9, b); };
    std::printf("| %d | %.1f | %.1f | %.2f | %.0f | %.0f | %.2f | %.3f | %.3f | %.2f | %.1f |\n", k,
                v[0][4], v[1][4], ratio(v[0][4], v[1][4]), v[0][0], v[1][0],
                ratio(v[0][0], v[1][0]), v[0][1], v[1][1], ratio(v[0][1], v[1][1]), v[0][2]);
    std::fflush(stdout);
  }
  return 0;
}
