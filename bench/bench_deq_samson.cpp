// DEQ-Unmix on the real Samson scene (../shared/data/samson) with the default settings:
// mSAD (rad), aRMSE (global and per-endmember mean), training seconds and peak memory,
// next to VCA+FCLS. Each training run executes in a child process (this executable
// re-run with --child), so its peak-RSS growth (VmHWM minus the RSS before training) is
// its own. Also runs on a generated synthetic scene (--synthetic SNR) for tuning.
//
// Options: --help.
// --tsv: instead of the Markdown tables, one tab-separated line per run on stdout
//   ROW <method> <seed> <mSAD rad> <aRMSE> <aRMSE mean/endm.> <train s> <peak MiB> <fwd it>
//   <bwd it> [<epoch loop s> <forward solve s> <backward solve s>]  (method VCA+FCLS, "refined E +
//   FCLS" or DEQ-Unmix; "-" where not measured),
// for bench/run_all.sh to aggregate over seeds and methods.
// --score-endmembers E.tif --score-abundances A.tif [--score-label L] [--score-seconds S]:
//   only score another tool's output on the same scene (Orfeo ToolBox's
//   otbcli_VertexComponentAnalysis endmember image, P x 1 pixels x bands, and its
//   otbcli_HyperspectralUnmixing abundances, P bands) and print one row (ROW with --tsv).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "bench/arguments.h"
#include "bench/process_stats.h"
#include "bench/scene_io.h"
#include "bench/tensor_memory.h"
#include "core/classical/fcls.h"
#include "core/classical/vca.h"
#include "core/deq/deq_unmix.h"
#include "core/metrics/metrics.h"
#include "core/pixel_source.h"
#include "core/synthetic/synthetic.h"

using namespace dequnmix;
using dequnmix::bench::runSelf;
using dequnmix::bench::statusKiB;

namespace {

struct Args {
  std::vector<int> seeds = {1, 2, 3};
  int epochs = -1;
  double lr = -1;
  std::string refine;
  double radius = -100;
  double outside = -1;
  double margin = -1;
  int smooth = -1;
  double spatial = -1;
  double anchor = -1;
  std::string scaleInvariance;  // off|on|auto; empty: the core default
  std::string prox;
  int superpixelSize = -1;
  double alpha = -1;
  bool trainE = false;
  bool coldStart = false;
  bool coldBackward = false;
  std::string gradient;
  int iters = -1;
  double backwardTol = -1;
  double synthetic = NAN;
  int size = 64;
  double maxAbundance = 0.8;
  std::string data = std::string(DEQUNMIX_SHARED_DIR) + "/data/samson";
  bool verbose = false;
  bool inferenceSweep = false;
  bool allocations = false;
  bool tsv = false;
  bool child = false;
  std::string scoreEndmembers, scoreAbundances, scoreLabel = "OTB VCA+UCLS";
  double scoreSeconds = NAN;
  uint64_t seed = 1;
  int threads = 2;
};

// Declares every option on `a`, whose initial values are the defaults --help shows; a
// negative (or empty) value is the sentinel for "the core's default".
void declare(bench::Arguments& args, Args& a) {
  const std::string core = "the core's";
  args.option("--seeds", a.seeds, "S,S,...", "training seeds, one run each");
  args.option("--epochs", a.epochs, "N", "training epochs", core);
  args.option("--lr", a.lr, "X", "network learning rate", core);
  args.option("--refine", a.refine, "R", "endmember refinement: none|mean_shift", core);
  args.option("--radius", a.radius, "T", "refinement radius", core);
  args.option("--outside", a.outside, "F", "minimum-volume outside fraction", core);
  args.option("--margin", a.margin, "K", "minimum-volume noise margin", core);
  args.option("--smooth", a.smooth, "R", "minimum-volume smoothing", core);
  args.option("--spatial", a.spatial, "W", "spatial weight", core);
  args.option("--anchor", a.anchor, "W", "anchor weight (0 = the paper's map)", core);
  args.option("--scale-invariance", a.scaleInvariance, "S", "data term: off|on|auto", core);
  args.option("--prox", a.prox, "P", "spatial prox: neighbourhood|superpixel", core);
  args.option("--superpixel-size", a.superpixelSize, "S", "superpixel size", core);
  args.option("--alpha", a.alpha, "A", "alpha", core);
  args.flag("--train-e", a.trainE, "train the endmembers");
  args.flag("--cold-start", a.coldStart, "start every training forward solve from FCLS");
  args.flag("--cold-backward", a.coldBackward,
            "start every implicit-backward solve from g, not the previous step's solution");
  args.option("--gradient", a.gradient, "G", "gradient: implicit|phantom|unrolled", core);
  args.option("--iters", a.iters, "K", "forward solver iterations", core);
  args.option("--backward-tol", a.backwardTol, "T", "implicit backward tolerance", core);
  args.option("--synthetic", a.synthetic, "DB", "a synthetic scene at this SNR", "Samson");
  args.option("--size", a.size, "N", "synthetic scene width and height");
  args.option("--max-abundance", a.maxAbundance, "A", "synthetic scene abundance cap");
  args.option("--data", a.data, "DIR", "folder holding the Samson files");
  args.option("--threads", a.threads, "N", "LibTorch threads");
  args.flag("--verbose", a.verbose, "training progress on stderr");
  args.flag("--inference-sweep", a.inferenceSweep, "inference iterations and tolerances (stderr)");
  args.flag("--allocations", a.allocations,
            "count CPU tensor allocations per epoch (stderr; slows the run, so no timing)");
  args.flag("--tsv", a.tsv, "one tab-separated ROW line per run instead of the tables");
  args.option("--score-endmembers", a.scoreEndmembers, "E.tif",
              "only score another tool's endmembers (with --score-abundances)");
  args.option("--score-abundances", a.scoreAbundances, "A.tif", "its abundances");
  args.option("--score-label", a.scoreLabel, "L", "its row's label");
  args.option("--score-seconds", a.scoreSeconds, "S", "its seconds", "none");
  args.flag("--child", a.child, "internal: one training run");
  args.option("--seed", a.seed, "N", "internal: the child run's seed");
}

struct Scene {
  int bands = 0, height = 0, width = 0, P = 0;
  std::vector<float> cube, refAbundances, refEndmembers;  // refEndmembers bands x P
};

Scene loadScene(const Args& a) {
  Scene s;
  if (!std::isnan(a.synthetic)) {
    SyntheticOptions so;
    so.width = so.height = a.size;
    so.bands = 100;
    so.endmembers = 4;
    so.snrDb = a.synthetic;
    so.maxAbundance = a.maxAbundance;
    so.purePixels = a.maxAbundance >= 1.0;
    so.seed = 42;
    SyntheticScene g = generateSyntheticScene(so);
    s.bands = g.bands;
    s.height = g.height;
    s.width = g.width;
    s.P = 4;
    s.cube = g.scene;
    s.refAbundances = g.abundances;
    s.refEndmembers = g.endmembers.values;
    return s;
  }
  bench::Cube c = bench::readCube(a.data + "/samson.tif");
  bench::Cube r = bench::readCube(a.data + "/samson_abundances_gt.tif");
  EndmemberTable t = bench::readEndmembers(a.data + "/samson_endmembers_gt.csv");
  s.bands = c.bands;
  s.height = c.height;
  s.width = c.width;
  s.P = t.endmembers();
  s.cube = c.values;
  s.refAbundances = r.values;
  s.refEndmembers = t.values;
  return s;
}

struct Score {
  double msad, armse, armseMean;
};

Score score(const Scene& s, const std::vector<float>& E, const std::vector<float>& A) {
  const UnmixingScore u = scoreUnmixing(E, A, s.refEndmembers, s.refAbundances, s.bands, s.P,
                                        int64_t(s.height) * s.width);
  return {u.msadRad, u.armse, u.armseMeanPerEndmember};
}

class Printer : public ProgressSink {
 public:
  void setProgress(double) override {}
  bool isCanceled() const override { return false; }
  void info(const std::string& m) override { std::fprintf(stderr, "  %s\n", m.c_str()); }
};

DeqTrainOptions optionsFrom(const Args& a, int P) {
  DeqTrainOptions o;
  o.endmembers = P;
  o.threads = a.threads;
  o.seed = a.seed;
  if (a.epochs > 0) o.epochs = a.epochs;
  if (a.lr > 0) o.networkLearningRate = a.lr;
  if (!a.refine.empty()) o.refinement = parseEnum<EndmemberRefinement>(a.refine);
  if (a.radius > -100) o.refinementRadius = a.radius;
  if (a.outside > 0) o.minVolumeOutsideFraction = a.outside;
  if (a.margin >= 0) o.minVolumeNoiseMargin = a.margin;
  if (a.smooth >= 0) o.minVolumeSmoothing = a.smooth;
  if (a.spatial >= 0) o.network.spatialWeight = a.spatial;
  if (a.anchor >= 0) o.network.anchorWeight = a.anchor;
  if (!a.scaleInvariance.empty())
    o.network.scaleInvariance = parseEnum<ScaleInvariance>(a.scaleInvariance);
  if (!a.prox.empty()) o.network.spatialProx = a.prox;
  if (a.superpixelSize > 0) o.network.superpixelSize = a.superpixelSize;
  if (a.alpha >= 0) o.alpha = a.alpha;
  o.trainEndmembers = a.trainE || o.trainEndmembers;
  if (a.coldStart) o.warmStartForward = false;
  if (a.coldBackward) o.warmStartBackward = false;
  if (!a.gradient.empty()) o.gradient = parseEnum<DeqGradientMode>(a.gradient);
  if (a.iters > 0) o.forward.maxIterations = a.iters;
  if (a.backwardTol > 0) o.backward.tolerance = a.backwardTol;
  return o;
}

// --inference-sweep: the trained model's inference with the training's forward solver
// (the abundances the loss saw) and at several tolerances with the inference cap, on the
// whole scene and in 32-pixel tiles with the default halo: iterations, throughput, the
// largest tiled-vs-whole difference, the deviation from a tight whole-scene solve
// (tolerance 1e-7, 500 iterations) and aRMSE (stderr).
void sweepInference(const Scene& s, const DeqTrainResult& r, const DeqTrainOptions& train) {
  const int whole = std::max(s.height, s.width);
  DeqInferOptions tight;
  tight.threads = train.threads;
  tight.tileSize = whole;
  tight.solver.tolerance = 1e-7;
  tight.solver.maxIterations = 500;
  const DeqInferResult ref = unmixSceneWithDeqModel(r.model, s.cube, s.height, s.width, tight);
  std::fprintf(stderr, "inference sweep: tight solve %.1f iterations, relative residual %.3g\n",
               ref.stats.solver.meanIterations(), ref.stats.solver.maxRelativeResidual);
  std::fprintf(stderr,
               "| max it | tolerance | mean it whole / tiled | px/s whole / tiled | max "
               "tiled-whole | max whole-tight | aRMSE whole / tiled |\n");
  auto maxDiff = [](const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::isfinite(a[i]) && std::isfinite(b[i]))
        d = std::max(d, double(std::abs(a[i] - b[i])));
    return d;
  };
  std::vector<std::pair<int, double>> settings = {
      {train.forward.maxIterations, train.forward.tolerance}};
  for (double tol : {1e-3, 1e-4, 1e-5})
    settings.push_back({DeqInferOptions().solver.maxIterations, tol});
  for (const auto& [iterations, tol] : settings) {
    DeqInferOptions o = tight;
    o.solver.maxIterations = iterations;
    o.solver.tolerance = tol;
    const DeqInferResult w = unmixSceneWithDeqModel(r.model, s.cube, s.height, s.width, o);
    o.tileSize = 32;
    const DeqInferResult t = unmixSceneWithDeqModel(r.model, s.cube, s.height, s.width, o);
    std::fprintf(stderr, "| %d | %.0e | %.1f / %.1f | %.0f / %.0f | %.2g | %.2g | %.4f / %.4f |\n",
                 iterations, tol, w.stats.solver.meanIterations(), t.stats.solver.meanIterations(),
                 w.stats.pixelsPerSecond, t.stats.pixelsPerSecond,
                 maxDiff(t.abundances, w.abundances), maxDiff(w.abundances, ref.abundances),
                 score(s, r.model.endmembers.values, w.abundances).armse,
                 score(s, r.model.endmembers.values, t.abundances).armse);
  }
}

// Child: one training run; prints "RESULT msad armse armseMean seconds peakMiB fwdIt bwdIt
// initMsad initArmse initArmseMean lastResidual epochLoopSeconds forwardSeconds
// backwardSeconds".
int runChild(const Args& a) {
  Scene s = loadScene(a);
  DeqTrainInput in;
  in.bands = s.bands;
  in.height = s.height;
  in.width = s.width;
  in.scene = s.cube;
  const DeqTrainOptions o = optionsFrom(a, s.P);
  const double rss0 = statusKiB("VmRSS:");
  if (a.allocations) bench::startTensorPeak();
  Printer printer;
  const auto t0 = std::chrono::steady_clock::now();
  DeqTrainResult r = trainDeqUnmix(in, o, {}, a.verbose ? &printer : nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double peak = (statusKiB("VmHWM:") - rss0) / 1024.0;
  const Score d = score(s, r.model.endmembers.values, r.abundances);
  const Score init = score(s, r.model.initialEndmembers.values, r.initialAbundances);
  double fwd = 0, bwd = 0, epochSeconds = 0, fwdSeconds = 0, bwdSeconds = 0;
  for (const auto& e : r.epochs) {
    fwd += e.forward.meanIterations();
    bwd += e.backward.meanIterations();
    epochSeconds += e.seconds;
    fwdSeconds += e.forward.seconds;
    bwdSeconds += e.backward.seconds;
  }
  if (a.allocations)
    std::fprintf(stderr,
                 "%.0f CPU tensor allocations per epoch (the whole training / %zu epochs)\n",
                 double(bench::tensorAllocations()) / double(r.epochs.size()), r.epochs.size());
  if (a.inferenceSweep) sweepInference(s, r, o);
  std::printf("RESULT %.5f %.5f %.5f %.2f %.1f %.2f %.2f %.5f %.5f %.5f %.3g %.3f %.3f %.3f\n",
              d.msad, d.armse, d.armseMean, seconds, peak, fwd / r.epochs.size(),
              bwd / r.epochs.size(), init.msad, init.armse, init.armseMean,
              r.epochs.back().forward.lastRelativeResidual, epochSeconds, fwdSeconds, bwdSeconds);
  return 0;
}

// Scores another tool's endmembers and abundances on the scene (see --score-endmembers).
int scoreOther(const Args& a) {
  try {
    const Scene s = loadScene(a);
    const bench::Cube e = bench::readCube(a.scoreEndmembers);
    const bench::Cube ab = bench::readCube(a.scoreAbundances);
    if (e.bands != s.bands || e.pixels() != s.P || ab.bands != s.P || ab.height != s.height ||
        ab.width != s.width)
      throw InvalidArgument("endmember or abundance raster does not fit the scene");
    std::vector<float> E(size_t(s.bands) * s.P);
    for (int b = 0; b < s.bands; ++b)
      for (int p = 0; p < s.P; ++p) E[b * s.P + p] = e.band(b)[p];
    const Score r = score(s, E, ab.values);
    if (a.tsv)
      std::printf("ROW\t%s\t-\t%.5f\t%.5f\t%.5f\t%s\t-\t-\t-\n", a.scoreLabel.c_str(), r.msad,
                  r.armse, r.armseMean,
                  std::isnan(a.scoreSeconds) ? "-" : std::to_string(a.scoreSeconds).c_str());
    else
      std::printf("| %s | - | %.4f | %.2f | %.4f | %.4f | %s | | | |\n", a.scoreLabel.c_str(),
                  r.msad, r.msad * 180 / M_PI, r.armse, r.armseMean,
                  std::isnan(a.scoreSeconds) ? "" : std::to_string(a.scoreSeconds).c_str());
    return 0;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "scoring failed: %s\n", ex.what());
    return 1;
  }
}

// VCA + FCLS, seeded like the DEQ runs' VCA: its row.
void printBaseline(const Scene& s, uint64_t seed, bool tsv) {
  const int64_t n = int64_t(s.height) * s.width;
  MatrixPixelSource src(s.cube, s.bands, n);
  VcaOptions vo;
  vo.endmembers = s.P;
  vo.seed = seed;
  const VcaResult v = vca(src, vo);
  std::vector<float> abundances(n * s.P);
  FclsSolver(v.spectra, s.bands, s.P).unmixBandMajor(s.cube.data(), n, abundances.data());
  const Score b = score(s, v.spectra, abundances);
  if (tsv)
    std::printf("ROW\tVCA+FCLS\t%llu\t%.5f\t%.5f\t%.5f\t-\t-\t-\t-\n", (unsigned long long)seed,
                b.msad, b.armse, b.armseMean);
  else
    std::printf("| VCA+FCLS | %llu | %.4f | %.2f | %.4f | %.4f | | | | |\n",
                (unsigned long long)seed, b.msad, b.msad * 180 / M_PI, b.armse, b.armseMean);
}

// A child's RESULT line (runChild).
struct ChildResult {
  Score deq, start;  // the trained model's, and FCLS on the refined endmembers it started from
  double seconds, peakMiB, forwardIterations, backwardIterations, lastResidual;
  double epochLoopSeconds, forwardSeconds, backwardSeconds;
};

std::optional<ChildResult> parseChild(const std::string& out) {
  const size_t at = out.find("RESULT ");
  if (at == std::string::npos) return std::nullopt;
  ChildResult r;
  std::sscanf(out.c_str() + at + 7, "%lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf",
              &r.deq.msad, &r.deq.armse, &r.deq.armseMean, &r.seconds, &r.peakMiB,
              &r.forwardIterations, &r.backwardIterations, &r.start.msad, &r.start.armse,
              &r.start.armseMean, &r.lastResidual, &r.epochLoopSeconds, &r.forwardSeconds,
              &r.backwardSeconds);
  return r;
}

void printChild(const ChildResult& r, uint64_t seed, bool tsv) {
  const auto sd = (unsigned long long)seed;
  if (tsv) {
    std::printf("ROW\trefined E + FCLS\t%llu\t%.5f\t%.5f\t%.5f\t-\t-\t-\t-\n", sd, r.start.msad,
                r.start.armse, r.start.armseMean);
    std::printf(
        "ROW\tDEQ-Unmix\t%llu\t%.5f\t%.5f\t%.5f\t%.2f\t%.1f\t%.2f\t%.2f\t%.3f\t%.3f\t%.3f\n", sd,
        r.deq.msad, r.deq.armse, r.deq.armseMean, r.seconds, r.peakMiB, r.forwardIterations,
        r.backwardIterations, r.epochLoopSeconds, r.forwardSeconds, r.backwardSeconds);
  } else {
    std::printf("| refined E + FCLS (DEQ start) | %llu | %.4f | %.2f | %.4f | %.4f | | | | |\n", sd,
                r.start.msad, r.start.msad * 180 / M_PI, r.start.armse, r.start.armseMean);
    std::printf("| DEQ-Unmix | %llu | %.4f | %.2f | %.4f | %.4f | %.1f | %.0f | %.1f | %.1f |\n",
                sd, r.deq.msad, r.deq.msad * 180 / M_PI, r.deq.armse, r.deq.armseMean, r.seconds,
                r.peakMiB, r.forwardIterations, r.backwardIterations);
  }
  std::fflush(stdout);
}

// Mean and standard deviation over the seeds' runs.
void printSummary(const std::vector<ChildResult>& runs) {
  auto stat = [&](auto get) {
    double m = 0, sd = 0;
    for (const ChildResult& r : runs) m += get(r.deq);
    m /= runs.size();
    for (const ChildResult& r : runs) sd += (get(r.deq) - m) * (get(r.deq) - m);
    return std::make_pair(m, std::sqrt(sd / runs.size()));
  };
  const auto ms = stat([](const Score& x) { return x.msad; });
  const auto ar = stat([](const Score& x) { return x.armse; });
  const auto am = stat([](const Score& x) { return x.armseMean; });
  double seconds = 0, peak = 0;
  for (const ChildResult& r : runs) {
    seconds += r.seconds / runs.size();
    peak = std::max(peak, r.peakMiB);
  }
  std::printf(
      "\nDEQ-Unmix over %zu seeds: mSAD %.4f +- %.4f rad, aRMSE %.4f +- %.4f, aRMSE "
      "mean/endmember %.4f +- %.4f, %.1f s training, peak memory growth %.0f MiB\n",
      runs.size(), ms.first, ms.second, ar.first, ar.second, am.first, am.second, seconds, peak);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  bench::Arguments args("bench_deq_samson",
                        "DEQ-Unmix on Samson (or a synthetic scene) next to VCA+FCLS.");
  declare(args, a);
  args.parseOrExit(argc, argv);
  if (a.child) return runChild(a);
  if (!a.scoreEndmembers.empty()) return scoreOther(a);

  const std::string name =
      std::isnan(a.synthetic) ? "Samson" : "synthetic " + std::to_string(a.synthetic) + " dB";
  if (std::isnan(a.synthetic) && !std::ifstream(a.data + "/samson.tif")) {
    std::fprintf(a.tsv ? stderr : stdout, "Samson data not found in %s: skipped\n", a.data.c_str());
    return 0;
  }
  const Scene s = loadScene(a);
  if (!a.tsv) {
    std::printf("## DEQ-Unmix on %s (%d x %d x %d, P = %d), default settings, %d threads\n\n",
                name.c_str(), s.width, s.height, s.bands, s.P, a.threads);
    std::printf(
        "| method | seed | mSAD rad | mSAD deg | aRMSE | aRMSE mean/endm. | train s | peak "
        "MiB | fwd it | bwd it |\n|---|---|---|---|---|---|---|---|---|---|\n");
  }
  // Each child run gets the training and scene options as typed (the same defaults apply
  // there), less those that only concern this process.
  std::vector<std::string> passThrough = {argv[0]};
  for (const std::string& k :
       args.given({"--seeds", "--seed", "--child", "--tsv", "--score-endmembers",
                   "--score-abundances", "--score-label", "--score-seconds"}))
    passThrough.push_back(k);
  std::vector<ChildResult> runs;
  for (const int seedValue : a.seeds) {
    const uint64_t seed = static_cast<uint64_t>(seedValue);
    printBaseline(s, seed, a.tsv);
    std::vector<std::string> childArgs = passThrough;
    childArgs.insert(childArgs.end(), {"--child", "--seed", std::to_string(seed)});
    const std::string out = runSelf(childArgs);
    const std::optional<ChildResult> r = parseChild(out);
    if (!r) {
      if (a.tsv)
        std::fprintf(stderr, "DEQ-Unmix seed %llu: child failed: %s\n", (unsigned long long)seed,
                     out.c_str());
      else
        std::printf("| DEQ-Unmix | %llu | child failed: %s |\n", (unsigned long long)seed,
                    out.c_str());
      continue;
    }
    printChild(*r, seed, a.tsv);
    runs.push_back(*r);
  }
  if (!runs.empty() && !a.tsv) printSummary(runs);
  return 0;
}
