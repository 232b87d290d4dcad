// DEQ-Unmix inference on a large scene (default 2048 x 2048 x 200, 3.2 GB as float32)
// streamed tile by tile through unmixWithDeqModel: the scene is never held in memory. A
// DeqTileReader generates each window procedurally (smooth abundance fields, a closed-form
// function of (row, col), mixing the P endmember spectra of a small synthetic scene, plus
// Gaussian noise keyed by the pixel and band index, so every window is deterministic and
// overlapping windows agree); a DeqTileWriter writes the abundances to a tiled Float32
// GeoTIFF through GDAL (or only checksums them with --no-write). The model is trained for a
// few epochs on a small synthetic scene with the same spectra and band count: the point is
// inference, not accuracy (aRMSE against the procedural reference is printed anyway).
//
// Reports peak memory (VmHWM from /proc/self/status, reset after training through
// /proc/self/clear_refs, minus the RSS before inference), seconds, pixels per second, mean
// solver iterations per tile and the converged fraction, and checks the peak against the
// 1.5 GB target (prints PASS or FAIL; never asserts).
//
// Options: --help.
#include <gdal_priv.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/arguments.h"
#include "bench/process_stats.h"
#include "bench/scene_io.h"
#include "core/deq/deq_unmix.h"
#include "core/metrics/metrics.h"
#include "core/synthetic/synthetic.h"

using namespace dequnmix;
using dequnmix::bench::statusKiB;
namespace fs = std::filesystem;

namespace {

// Resets VmHWM to the current RSS (Linux >= 4.0); false when not permitted.
bool resetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return bool(out);
}

struct Args {
  int size = 2048;
  int bands = 200;
  int endmembers = 4;
  int tile = 256;
  int halo = 16;
  int threads = 2;
  int epochs = 3;
  int trainSize = 64;
  double snrDb = 30;
  std::string out = "bench/out/inference_large/abundances.tif";
  bool write = true;
  double targetMiB = 1536;
  bool markdownOnly = false;
  int iters = 0;    // 0: DeqInferOptions' default
  double tol = -1;  // < 0: DeqInferOptions' default
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The procedural scene: abundances a_p(r, c) = softmax_p(k * field_p(r, c)), capped
// smoothly by the temperature (highly mixed, no pure pixels), y = E a + sigma * n(pixel, b).
class ProceduralScene {
 public:
  ProceduralScene(const std::vector<float>& spectra, int bands, int p, int size, double snrDb)
      : spectra_(spectra), bands_(bands), p_(p), size_(size) {
    double power = 0;  // mean squared value of a spectrum, for the noise level
    for (float v : spectra) power += double(v) * v;
    power /= double(spectra.size());
    sigma_ = std::sqrt(power / std::pow(10.0, snrDb / 10.0));
  }
  int endmembers() const { return p_; }

  void abundances(int row, int col, double* a) const {
    const double u = double(row) / size_, v = double(col) / size_;
    double sum = 0;
    for (int p = 0; p < p_; ++p) {
      // Smooth fields with a few periods across the scene, different per endmember.
      const double f = std::sin(2 * M_PI * ((p + 1) * 1.3 * u + (p_ - p) * 0.7 * v) + p) +
                       0.5 * std::cos(2 * M_PI * ((p % 2 + 1) * 2.1 * v - 1.7 * u) + 2 * p);
      a[p] = std::exp(1.5 * f);
      sum += a[p];
    }
    for (int p = 0; p < p_; ++p) a[p] /= sum;
  }

  // values: bands x rows x cols (band-sequential).
  void read(int row, int col, int rows, int cols, float* values) const {
    const int64_t plane = int64_t(rows) * cols;
    std::vector<double> a(p_);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        abundances(row + r, col + c, a.data());
        const uint64_t pixel = uint64_t(row + r) * uint64_t(size_) + uint64_t(col + c);
        for (int b = 0; b < bands_; ++b) {
          double y = 0;
          for (int p = 0; p < p_; ++p) y += spectra_[b * p_ + p] * a[p];
          // Box-Muller from two hashes of (pixel, band): the same value in every window.
          const uint64_t h = splitmix64(pixel * uint64_t(bands_) + uint64_t(b));
          const double u1 = (double(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
          const double u2 = double(splitmix64(h) >> 11) * (1.0 / 9007199254740992.0);
          y += sigma_ * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
          values[b * plane + int64_t(r) * cols + c] = float(y);
        }
      }
  }

 private:
  std::vector<float> spectra_;  // bands x P
  int bands_, p_, size_;
  double sigma_ = 0;
};

class ProceduralReader final : public DeqTileReader {
 public:
  explicit ProceduralReader(const ProceduralScene& scene) : scene_(scene) {}
  void read(int row, int col, int rows, int cols, float* values) override {
    const auto t0 = std::chrono::steady_clock::now();
    scene_.read(row, col, rows, cols, values);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  double seconds = 0;  // time spent generating (not DEQ-Unmix's cost)

 private:
  const ProceduralScene& scene_;
};

// Writes P abundance bands to a tiled GeoTIFF (or nowhere), checksums them and accumulates
// their error against the procedural reference.
class GeoTiffWriter final : public DeqTileWriter {
 public:
  GeoTiffWriter(const std::string& path, int size, const ProceduralScene& scene,
                std::vector<int> referenceOf)
      : scene_(scene), referenceOf_(std::move(referenceOf)), errors_(scene.endmembers()) {
    if (path.empty()) return;
    bench::ensureGdalRegistered();
    GDALDriver* driver = GetGDALDriverManager()->GetDriverByName("GTiff");
    char** opts = nullptr;
    opts = CSLSetNameValue(opts, "TILED", "YES");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", "256");
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", "256");
    opts = CSLSetNameValue(opts, "BIGTIFF", "IF_SAFER");
    dataset_ = driver
                   ? driver->Create(path.c_str(), size, size, scene.endmembers(), GDT_Float32, opts)
                   : nullptr;
    CSLDestroy(opts);
    if (!dataset_) throw IoError("cannot create " + path);
  }
  ~GeoTiffWriter() override {
    if (dataset_) GDALClose(dataset_);
  }
  void write(int row, int col, int rows, int cols, const float* abundances,
             const float* residual) override {
    const int p = scene_.endmembers();
    const int64_t plane = int64_t(rows) * cols;
    if (dataset_)
      for (int e = 0; e < p; ++e) {
        const CPLErr err = dataset_->GetRasterBand(e + 1)->RasterIO(
            GF_Write, col, row, cols, rows, const_cast<float*>(abundances + e * plane), cols, rows,
            GDT_Float32, 0, 0);
        if (err != CE_None) throw IoError("GeoTIFF write failed");
      }
    std::vector<float> est(plane * p), ref(plane * p);
    std::vector<double> a(p);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const int64_t i = int64_t(r) * cols + c;
        scene_.abundances(row + r, col + c, a.data());
        for (int e = 0; e < p; ++e) {
          est[i * p + e] = abundances[e * plane + i];
          ref[i * p + e] = float(a[e]);
          checksum += abundances[e * plane + i] * double(1 + (e + i) % 7);
        }
      }
    errors_.add(est.data(), ref.data(), plane);
    (void)residual;
  }
  double armse() const { return errors_.armse(referenceOf_); }
  double armseMean() const { return errors_.armseMeanPerEndmember(referenceOf_); }
  double checksum = 0;

 private:
  const ProceduralScene& scene_;
  std::vector<int> referenceOf_;
  AbundanceErrorAccumulator errors_;
  GDALDataset* dataset_ = nullptr;
};

// Declares every option on `a`, whose initial values are the defaults --help shows.
void declare(bench::Arguments& args, Args& a) {
  args.option("--size", a.size, "N", "scene width and height in pixels");
  args.option("--bands", a.bands, "B", "number of bands");
  args.option("--endmembers", a.endmembers, "P", "number of endmembers");
  args.option("--tile", a.tile, "T", "inference tile size");
  args.option("--halo", a.halo, "H", "tile halo");
  args.option("--threads", a.threads, "N", "threads");
  args.option("--epochs", a.epochs, "N", "training epochs of the quick model");
  args.option("--train-size", a.trainSize, "N", "width and height of the training scene");
  args.option("--snr", a.snrDb, "DB", "noise level in dB");
  args.option("--out", a.out, "FILE.tif", "the abundance GeoTIFF");
  args.flag("--no-write", a.write, "only checksum the abundances", false);
  args.option("--target-mib", a.targetMiB, "M", "peak memory target (PASS or FAIL)");
  // The solver's defaults are the core's (a sentinel in Args), shown as the core states them.
  const DeqSolverOptions core = DeqInferOptions().solver;
  char tol[32];
  std::snprintf(tol, sizeof tol, "the core's, %g", core.tolerance);
  args.option("--iters", a.iters, "N", "inference solver iterations",
              "the core's, " + std::to_string(core.maxIterations));
  args.option("--tol", a.tol, "X", "inference solver tolerance", tol);
  args.flag("--markdown", a.markdownOnly, "only the Markdown table, for bench/run_all.sh");
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  bench::Arguments args("bench_deq_inference_large",
                        "DEQ-Unmix inference on a large procedural scene, streamed tile by tile.");
  declare(args, a);
  args.parseOrExit(argc, argv);
  try {
    // 1. A quick model on a small synthetic scene with the same band count.
    SyntheticOptions so;
    so.width = so.height = a.trainSize;
    so.bands = a.bands;
    so.endmembers = a.endmembers;
    so.snrDb = a.snrDb;
    so.seed = 42;
    DeqModel model;
    std::vector<float> spectra;
    double trainSeconds = 0;
    {
      SyntheticScene s = generateSyntheticScene(so);
      spectra = s.endmembers.values;
      DeqTrainInput in;
      in.bands = s.bands;
      in.height = s.height;
      in.width = s.width;
      in.scene = std::move(s.scene);
      DeqTrainOptions o;
      o.endmembers = a.endmembers;
      o.epochs = a.epochs;
      o.threads = a.threads;
      o.seed = 1;
      DeqInferOptions trainInfer;
      trainInfer.solver.maxIterations = 1;  // the final pass over the training scene is skipped
      const auto t0 = std::chrono::steady_clock::now();
      DeqTrainResult r = trainDeqUnmix(in, o, trainInfer);
      trainSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      model = std::move(r.model);
    }
    const ProceduralScene scene(spectra, a.bands, a.endmembers, a.size, a.snrDb);
    const EndmemberMatch match =
        matchEndmembers(model.endmembers.values, spectra, a.bands, a.endmembers);

    // 2. Streamed inference; the peak is measured from here on.
    std::string outPath;
    if (a.write) {
      fs::create_directories(fs::path(a.out).parent_path().empty() ? fs::path(".")
                                                                   : fs::path(a.out).parent_path());
      outPath = a.out;
      bench::ensureGdalRegistered();
      GDALSetCacheMax64(int64_t(64) << 20);  // GDAL's block cache counts in the peak
    }
    const bool reset = resetPeakRss();
    const double rss0 = statusKiB("VmRSS:");
    ProceduralReader reader(scene);
    DeqInferStats st;
    double writeChecksum = 0, armse = NAN, armseMean = NAN;
    const auto t0 = std::chrono::steady_clock::now();
    {
      GeoTiffWriter writer(outPath, a.size, scene, match.referenceOf);
      DeqInferOptions io;
      io.tileSize = a.tile;
      io.halo = a.halo;
      io.threads = a.threads;
      if (a.iters > 0) io.solver.maxIterations = a.iters;
      if (a.tol >= 0) io.solver.tolerance = a.tol;
      st = unmixWithDeqModel(model, a.size, a.size, reader, writer, io);
      writeChecksum = writer.checksum;
      armse = writer.armse();
      armseMean = writer.armseMean();
    }  // the GeoTIFF is flushed and closed here, inside the timing
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double peakAbs = statusKiB("VmHWM:") / 1024.0;
    const double peak = peakAbs - rss0 / 1024.0;
    const double pixels = double(a.size) * a.size;
    const double cubeMiB = pixels * a.bands * 4 / (1 << 20);
    const bool pass = peak < a.targetMiB;

    if (!a.markdownOnly) {
      std::printf("# DEQ-Unmix streamed inference on a %d x %d x %d procedural scene\n\n", a.size,
                  a.size, a.bands);
      std::printf(
          "Model: %d epochs on a %d x %d x %d synthetic scene (%.1f s), P = %d. Tiles %d + halo "
          "%d, %d threads. Output: %s. The scene as float32 would be %.0f MiB.\n\n",
          a.epochs, a.trainSize, a.trainSize, a.bands, trainSeconds, a.endmembers, a.tile, a.halo,
          a.threads, a.write ? a.out.c_str() : "none (--no-write, checksum only)", cubeMiB);
    }
    std::printf(
        "| scene | tile + halo | threads | output | seconds | pixels/s | tiles | mean it | "
        "max it | converged | aRMSE | aRMSE mean/endm. | peak growth MiB | process peak MiB | "
        "target |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::printf(
        "| %d x %d x %d (%.0f MiB as float32) | %d + %d | %d | %s | %.1f | %.0f | %lld | %.1f | "
        "%lld | %.2f | %.4f | %.4f | %.0f | %.0f | %s (< %.0f MiB) |\n",
        a.size, a.size, a.bands, cubeMiB, a.tile, a.halo, a.threads,
        a.write ? "GeoTIFF" : "checksum", seconds, pixels / seconds, (long long)st.tiles,
        st.solver.meanIterations(), (long long)st.solver.maxIterations,
        st.solver.convergedFraction(), armse, armseMean, peak, peakAbs, pass ? "PASS" : "FAIL",
        a.targetMiB);
    if (!a.markdownOnly) {
      std::printf(
          "\nCore throughput (DeqInferStats): %.0f pixels/s over %.1f s; scene generation in the "
          "reader took %.1f s of the total. Mean residual RMSE %.4g. Checksum %.6e.%s\n",
          st.pixelsPerSecond, st.seconds, reader.seconds, st.meanResidualRmse, writeChecksum,
          reset ? "" : " (VmHWM could not be reset after training: the peak includes it)");
      std::printf("Peak memory: %s, growth %.0f MiB against the %.0f MiB target.\n",
                  pass ? "PASS" : "FAIL", peak, a.targetMiB);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_deq_inference_large: %s\n", e.what());
    return 1;
  }
}
