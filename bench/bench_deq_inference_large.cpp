// DEQ-Unmix inference on a large scene (default 2048 x 2048 x 200, 3.2 GB as float32)
// streamed tile by tile through unmixWithDeqModel: the scene is never held in memory. A
// DeqTileReader generates each window procedurally (bench/procedural_scene.h); a
// DeqTileWriter writes the abundances to a tiled Float32 GeoTIFF through GDAL (or only
// checksums them with --no-write). The model is a quick one (trainQuickModel): the point is
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
#include "bench/procedural_scene.h"
#include "bench/process_stats.h"
#include "bench/scene_io.h"
#include "core/deq/deq_unmix.h"
#include "core/metrics/metrics.h"

using namespace dequnmix;
using dequnmix::bench::ProceduralReader;
using dequnmix::bench::ProceduralScene;
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

// What one streamed inference measured.
struct StreamedRun {
  DeqInferStats stats;
  double seconds = 0;  // inference, the output's flush and close included
  double peakMiB = 0;  // peak RSS growth over the RSS before inference
  double processPeakMiB = 0;
  bool peakReset = false;    // false: VmHWM kept training's peak
  double readerSeconds = 0;  // generating the scene's windows
  double checksum = 0, armse = NAN, armseMean = NAN;
};

StreamedRun runStreamed(const Args& a, const DeqModel& model, const ProceduralScene& scene,
                        const std::vector<int>& referenceOf) {
  std::string outPath;
  if (a.write) {
    const fs::path parent = fs::path(a.out).parent_path();
    fs::create_directories(parent.empty() ? fs::path(".") : parent);
    outPath = a.out;
    bench::ensureGdalRegistered();
    GDALSetCacheMax64(int64_t(64) << 20);  // GDAL's block cache counts in the peak
  }
  StreamedRun run;
  run.peakReset = resetPeakRss();
  const double rss0 = statusKiB("VmRSS:");
  ProceduralReader reader(scene);
  const auto t0 = std::chrono::steady_clock::now();
  {
    GeoTiffWriter writer(outPath, a.size, scene, referenceOf);
    DeqInferOptions io;
    io.tileSize = a.tile;
    io.halo = a.halo;
    io.threads = a.threads;
    if (a.iters > 0) io.solver.maxIterations = a.iters;
    if (a.tol >= 0) io.solver.tolerance = a.tol;
    run.stats = unmixWithDeqModel(model, a.size, a.size, reader, writer, io);
    run.checksum = writer.checksum;
    run.armse = writer.armse();
    run.armseMean = writer.armseMean();
  }  // the GeoTIFF is flushed and closed here, inside the timing
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.processPeakMiB = statusKiB("VmHWM:") / 1024.0;
  run.peakMiB = run.processPeakMiB - rss0 / 1024.0;
  run.readerSeconds = reader.seconds;
  return run;
}

void printRun(const Args& a, double trainSeconds, const StreamedRun& run) {
  const DeqInferStats& st = run.stats;
  const double pixels = double(a.size) * a.size;
  const double cubeMiB = pixels * a.bands * 4 / (1 << 20);
  const char* verdict = run.peakMiB < a.targetMiB ? "PASS" : "FAIL";
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
      a.size, a.size, a.bands, cubeMiB, a.tile, a.halo, a.threads, a.write ? "GeoTIFF" : "checksum",
      run.seconds, pixels / run.seconds, (long long)st.tiles, st.solver.meanIterations(),
      (long long)st.solver.maxIterations, st.solver.convergedFraction(), run.armse, run.armseMean,
      run.peakMiB, run.processPeakMiB, verdict, a.targetMiB);
  if (a.markdownOnly) return;
  std::printf(
      "\nCore throughput (DeqInferStats): %.0f pixels/s over %.1f s; scene generation in the "
      "reader took %.1f s of the total. Mean residual RMSE %.4g. Checksum %.6e.%s\n",
      st.pixelsPerSecond, st.seconds, run.readerSeconds, st.meanResidualRmse, run.checksum,
      run.peakReset ? "" : " (VmHWM could not be reset after training: the peak includes it)");
  std::printf("Peak memory: %s, growth %.0f MiB against the %.0f MiB target.\n", verdict,
              run.peakMiB, a.targetMiB);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  bench::Arguments args("bench_deq_inference_large",
                        "DEQ-Unmix inference on a large procedural scene, streamed tile by tile.");
  declare(args, a);
  args.parseOrExit(argc, argv);
  try {
    // A quick model on a small synthetic scene with the same band count; the peak is
    // measured from after it.
    const bench::QuickModel quick =
        bench::trainQuickModel(a.bands, a.endmembers, a.trainSize, a.snrDb, a.epochs, a.threads);
    const ProceduralScene scene(quick.spectra, a.bands, a.endmembers, a.size, a.snrDb);
    const EndmemberMatch match =
        matchEndmembers(quick.model.endmembers.values, quick.spectra, a.bands, a.endmembers);
    printRun(a, quick.trainSeconds, runStreamed(a, quick.model, scene, match.referenceOf));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_deq_inference_large: %s\n", e.what());
    return 1;
  }
}
