// Benchmark: our classical pipeline (core VCA + FCLS) against Orfeo ToolBox's
// otbcli_VertexComponentAnalysis + otbcli_HyperspectralUnmixing (-ua ucls), on the same
// synthetic scene (core generateSyntheticScene, default 512 x 512 pixels, 200 bands), in
// one run. Prints the scene settings, the timings of both, their ratio, and the accuracy
// of both against the scene's reference (mSAD, aRMSE global and mean per endmember, with
// the matching of core/metrics/metrics.h). See bench/README.md for the command and how to read it.
//
// Timing: OTB is timed as two CLI processes (start-up, GeoTIFF read, compute, GeoTIFF
// write). Ours is timed twice: compute only (VCA + FCLS on the cube in memory) and end to
// end (read the same GeoTIFF, VCA, FCLS, write the abundance GeoTIFF), which is the figure
// comparable with the CLIs. Both sides use the same thread count (LibTorch intra-op
// threads here, ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS for OTB).
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/arguments.h"
#include "bench/scene_io.h"
#include "core/classical/fcls.h"
#include "core/classical/vca.h"
#include "core/errors.h"
#include "core/metrics/metrics.h"
#include "core/pixel_source.h"
#include "core/synthetic/synthetic.h"

namespace fs = std::filesystem;
using namespace dequnmix;
using dequnmix::bench::Cube;

namespace {

struct Settings {
  SyntheticOptions scene;
  int threads = 0;
  int repeats = 1;
  std::string outDir = "bench/out/classical_vs_otb";
  bool skipOtb = false;
  bool tsv = false;
};

Settings defaults() {
  Settings s;
  s.scene.width = 512;
  s.scene.height = 512;
  s.scene.bands = 200;
  s.scene.endmembers = 4;
  s.scene.snrDb = 30.0;
  s.scene.maxAbundance = 1.0;
  s.scene.purePixels = true;
  s.scene.seed = 42;
  s.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return s;
}

// Declares every option on `s`, whose initial values are the defaults --help shows.
void declare(bench::Arguments& args, Settings& s) {
  args.option("--width", s.scene.width, "N", "scene width in pixels");
  args.option("--height", s.scene.height, "N", "scene height in pixels");
  args.option("--bands", s.scene.bands, "N", "number of bands");
  args.option("--endmembers", s.scene.endmembers, "N", "number of endmembers");
  args.option("--snr", s.scene.snrDb, "DB", "noise level in dB, 'inf' for none");
  args.option("--max-abundance", s.scene.maxAbundance, "X", "cap on any abundance, (1/P, 1]");
  args.flag("--no-pure-pixels", s.scene.purePixels, "do not plant one pure pixel per endmember",
            false);
  args.option("--seed", s.scene.seed, "N", "scene seed; also the VCA seed of both methods");
  args.option("--threads", s.threads, "N", "threads for both methods", "all cores");
  args.option("--repeats", s.repeats, "N", "time each method N times and keep the fastest");
  args.option("--out", s.outDir, "DIR", "working folder for the GeoTIFFs and OTB logs");
  args.flag("--skip-otb", s.skipOtb, "time only our pipeline");
  args.flag("--tsv", s.tsv,
            "also print one tab-separated line per method at the end:\n"
            "ROW <method> <seed> <mSAD rad> <aRMSE> <aRMSE mean/endm.>\n"
            "<end-to-end s> - - -   (for bench/run_all.sh)");
}

// False after --help; throws (ArgumentError, InvalidArgument) on a bad command line.
bool parseArguments(int argc, char** argv, Settings& s) {
  bench::Arguments args(
      "bench_classical_vs_otb",
      "Classical unmixing: deq-unmix (VCA + FCLS) vs Orfeo ToolBox (VCA + UCLS).");
  declare(args, s);
  if (!args.parse(argc, argv)) return false;
  if (s.threads < 1 || s.repeats < 1) throw InvalidArgument("--threads and --repeats must be >= 1");
  return true;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string shellQuote(const std::string& s) {
  std::string quoted = "'";
  for (char c : s) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

bool onPath(const std::string& program) {
  return std::system(("command -v " + program + " > /dev/null 2>&1").c_str()) == 0;
}

std::string tailOf(const std::string& path, int lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size();
       ++i) {
    out += "    " + all[i] + "\n";
  }
  return out;
}

// Runs a shell command with its output in a log file; returns wall seconds. Throws Error
// when the command fails.
double runTimed(const std::string& command, const std::string& logPath) {
  const auto start = std::chrono::steady_clock::now();
  const int rc = std::system((command + " > " + shellQuote(logPath) + " 2>&1").c_str());
  const double seconds = secondsSince(start);
  if (rc != 0) {
    throw Error("command failed (status " + std::to_string(rc) + "): " + command + "\n  log " +
                logPath + ":\n" + tailOf(logPath, 15));
  }
  return seconds;
}

// Accuracy of one method against the reference.
struct Accuracy {
  double msadRad = NAN;
  double msadDeg = NAN;
  double armse = NAN;
  double armseMean = NAN;
  double meanSum = NAN;     // mean over pixels of the abundance sum (1 for FCLS)
  double minValue = NAN;    // smallest abundance (>= 0 for FCLS)
  double scaleRatio = NAN;  // median over matched endmembers of |e| / |e_ref|
};

// estimated: bands x P row-major; abundances: P x pixels band-sequential.
Accuracy evaluate(const std::vector<float>& estimated, const std::vector<float>& abundances,
                  const SyntheticScene& scene) {
  const int bands = scene.bands;
  const int p = scene.endmembers.endmembers();
  const int64_t n = static_cast<int64_t>(scene.width) * scene.height;
  Accuracy acc;
  const EndmemberMatch match = matchEndmembers(estimated, scene.endmembers.values, bands, p);
  acc.msadRad = match.msadRad;
  acc.msadDeg = match.msadDeg;
  AbundanceErrorAccumulator errors(p);
  const int64_t block = 8192;
  std::vector<float> est(block * p), ref(block * p);
  double sum = 0;
  double minValue = std::numeric_limits<double>::infinity();
  for (int64_t start = 0; start < n; start += block) {
    const int64_t count = std::min(block, n - start);
    for (int64_t i = 0; i < count; ++i) {
      double pixelSum = 0;
      for (int e = 0; e < p; ++e) {
        const float a = abundances[e * n + start + i];
        est[i * p + e] = a;
        ref[i * p + e] = scene.abundances[e * n + start + i];
        pixelSum += a;
        minValue = std::min(minValue, static_cast<double>(a));
      }
      sum += pixelSum;
    }
    errors.add(est.data(), ref.data(), count);
  }
  acc.armse = errors.armse(match.referenceOf);
  acc.armseMean = errors.armseMeanPerEndmember(match.referenceOf);
  acc.meanSum = sum / static_cast<double>(n);
  acc.minValue = minValue;
  std::vector<double> ratios;
  for (int e = 0; e < p; ++e) {
    const int r = match.referenceOf[e];
    double ne = 0, nr = 0;
    for (int b = 0; b < bands; ++b) {
      ne += static_cast<double>(estimated[b * p + e]) * estimated[b * p + e];
      nr += static_cast<double>(scene.endmembers.values[b * p + r]) *
            scene.endmembers.values[b * p + r];
    }
    ratios.push_back(std::sqrt(ne / nr));
  }
  std::sort(ratios.begin(), ratios.end());
  acc.scaleRatio = ratios[ratios.size() / 2];
  return acc;
}

// OTB's endmember image: width P, height 1, one band per spectral band.
std::vector<float> endmembersFromOtbImage(const Cube& image, int bands, int p) {
  if (image.bands != bands || image.width * image.height != p) {
    throw Error("unexpected OTB endmember image: " + std::to_string(image.width) + " x " +
                std::to_string(image.height) + " x " + std::to_string(image.bands) + " (expected " +
                std::to_string(p) + " x 1 x " + std::to_string(bands) + ")");
  }
  std::vector<float> spectra(static_cast<size_t>(bands) * p);
  for (int b = 0; b < bands; ++b) {
    for (int e = 0; e < p; ++e) spectra[b * p + e] = image.band(b)[e];
  }
  return spectra;
}

Cube otbEndmemberImage(const std::vector<float>& spectra, int bands, int p) {
  std::vector<float> values(static_cast<size_t>(bands) * p);
  for (int b = 0; b < bands; ++b) {
    for (int e = 0; e < p; ++e) values[b * p + e] = spectra[b * p + e];
  }
  return bench::makeCube(std::move(values), bands, 1, p);
}

struct OursTiming {
  double read = 0, vca = 0, fcls = 0, write = 0;
  double compute() const { return vca + fcls; }
  double endToEnd() const { return read + vca + fcls + write; }
};

struct OursResult {
  OursTiming timing;
  std::vector<float> endmembers;  // bands x P
  std::vector<float> abundances;  // P x pixels
  double estimatedSnrDb = 0;
  bool projective = true;
};

OursResult runOurs(const std::string& scenePath, const std::string& abundancePath, int p,
                   uint64_t seed) {
  OursResult result;
  auto start = std::chrono::steady_clock::now();
  Cube cube = bench::readCube(scenePath);
  std::vector<float> pixels;
  std::vector<int64_t> indices;
  bench::validPixelsPixelMajor(cube, pixels, indices);
  result.timing.read = secondsSince(start);
  const int bands = cube.bands;
  const int height = cube.height;
  const int width = cube.width;
  const int64_t gridPixels = cube.pixels();

  cube.values = std::vector<float>();  // the pixel-major copy is all we need from here on
  const int64_t n = static_cast<int64_t>(indices.size());

  start = std::chrono::steady_clock::now();
  bench::PixelMajorSource source(pixels.data(), indices.data(), n, bands, gridPixels);
  VcaOptions vcaOptions;
  vcaOptions.endmembers = p;
  vcaOptions.seed = seed;
  const VcaResult vcaResult = vca(source, vcaOptions);
  result.timing.vca = secondsSince(start);
  result.endmembers = vcaResult.spectra;
  result.estimatedSnrDb = vcaResult.estimatedSnrDb;
  result.projective = vcaResult.projective;

  start = std::chrono::steady_clock::now();
  const FclsSolver solver(vcaResult.spectra, bands, p);
  std::vector<float> pixelMajor(static_cast<size_t>(n) * p);
  solver.unmix(pixels.data(), n, pixelMajor.data());
  result.timing.fcls = secondsSince(start);

  start = std::chrono::steady_clock::now();
  result.abundances.assign(static_cast<size_t>(p) * gridPixels,
                           std::numeric_limits<float>::quiet_NaN());
  for (int64_t k = 0; k < n; ++k) {
    for (int e = 0; e < p; ++e)
      result.abundances[e * gridPixels + indices[k]] = pixelMajor[k * p + e];
  }
  Cube abundanceCube = bench::makeCube(result.abundances, p, height, width);
  bench::WriteOptions writeOptions;
  for (int e = 0; e < p; ++e)
    writeOptions.bandDescriptions.push_back("endmember_" + std::to_string(e + 1));
  bench::writeCube(abundancePath, abundanceCube, writeOptions);
  result.timing.write = secondsSince(start);
  return result;
}

std::string fmt(double value, int precision = 4) {
  if (std::isnan(value)) return "-";
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(precision);
  out << value;
  return out.str();
}

void printAccuracyRow(const std::string& method, const Accuracy& a) {
  std::cout << "| " << method << " | " << fmt(a.msadRad) << " | " << fmt(a.msadDeg, 2) << " | "
            << fmt(a.armse) << " | " << fmt(a.armseMean) << " | " << fmt(a.meanSum, 3) << " | "
            << fmt(a.minValue, 3) << " | " << fmt(a.scaleRatio, 3) << " |\n";
}

void printSettings(const Settings& settings, const std::string& dir) {
  const SyntheticOptions& so = settings.scene;
  std::cout << "# Classical unmixing: deq-unmix (VCA + FCLS) vs Orfeo ToolBox (VCA + UCLS)\n\n";
  std::cout << "Scene: generateSyntheticScene, " << so.width << " x " << so.height << " pixels, "
            << so.bands << " bands, " << so.endmembers << " endmembers, SNR "
            << (std::isinf(so.snrDb) ? std::string("inf (noise-free)") : fmt(so.snrDb, 1))
            << " dB, max abundance " << fmt(so.maxAbundance, 2) << ", pure pixels "
            << (so.purePixels ? "yes" : "no") << ", seed " << so.seed << "\n";
  std::cout << "Threads: " << settings.threads
            << " for both (LibTorch intra-op threads here; ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS "
               "for OTB); best of "
            << settings.repeats << " run(s)\n";
  std::cout << "Working folder: " << dir << "\n\n" << std::flush;
}

// Generates the scene and writes it to `path` pixel-interleaved, OTB's fast layout (it
// streams pixel by pixel).
SyntheticScene writeScene(const SyntheticOptions& so, const std::string& path) {
  auto start = std::chrono::steady_clock::now();
  SyntheticScene scene = generateSyntheticScene(so);
  const double generateSeconds = secondsSince(start);
  start = std::chrono::steady_clock::now();
  bench::WriteOptions options;
  options.pixelInterleaved = true;
  bench::writeCube(path, bench::makeCube(scene.scene, scene.bands, scene.height, scene.width),
                   options);
  std::cout << "Scene generated in " << fmt(generateSeconds, 2)
            << " s, written as Float32 GeoTIFF ("
            << fmt(static_cast<double>(fs::file_size(path)) / (1 << 20), 0) << " MiB) in "
            << fmt(secondsSince(start), 2) << " s: " << path << "\n\n"
            << std::flush;
  return scene;
}

// The fastest end to end of `repeats` runs of ours.
OursResult fastestOfOurs(int repeats, const std::string& scenePath, const std::string& dir, int p,
                         uint64_t seed) {
  OursResult ours;
  for (int r = 0; r < repeats; ++r) {
    OursResult attempt = runOurs(scenePath, dir + "/ours_abundances.tif", p, seed);
    if (r == 0 || attempt.timing.endToEnd() < ours.timing.endToEnd()) ours = std::move(attempt);
  }
  return ours;
}

struct OtbResult {
  double vca = NAN, unmix = NAN, unmixOnOurs = NAN;  // seconds, the fastest of the repeats
  Accuracy accuracy, onOurs;                         // its VCA + UCLS; its UCLS on our VCA
};

// Seconds of one otbcli_HyperspectralUnmixing (UCLS) run.
double runOtbUcls(const std::string& scenePath, const std::string& endmembersPath,
                  const std::string& outPath, const std::string& logPath) {
  return runTimed("otbcli_HyperspectralUnmixing -in " + shellQuote(scenePath) + " -ie " +
                      shellQuote(endmembersPath) + " -out " + shellQuote(outPath) +
                      " float -ua ucls",
                  logPath);
}

// OTB's VCA and UCLS on the scene, then its UCLS alone on our VCA endmembers, which isolates
// the unmixing step. Throws Error where a CLI fails or writes an unexpected raster.
OtbResult runOtb(const Settings& settings, const SyntheticScene& scene,
                 const std::string& scenePath, const std::string& dir, const OursResult& ours) {
  const int p = scene.endmembers.endmembers();
  const std::string endmPath = dir + "/otb_endmembers.tif";
  const std::string abundPath = dir + "/otb_abundances.tif";
  const std::string ourEPath = dir + "/ours_endmembers_otb_layout.tif";
  const std::string abundOurEPath = dir + "/otb_ucls_on_our_endmembers.tif";
  OtbResult otb;
  for (int r = 0; r < settings.repeats; ++r) {
    const double v =
        runTimed("otbcli_VertexComponentAnalysis -in " + shellQuote(scenePath) + " -ne " +
                     std::to_string(p) + " -rand " + std::to_string(settings.scene.seed) +
                     " -outendm " + shellQuote(endmPath) + " double",
                 dir + "/otb_vca.log");
    const double u = runOtbUcls(scenePath, endmPath, abundPath, dir + "/otb_unmixing.log");
    if (r == 0 || v + u < otb.vca + otb.unmix) {
      otb.vca = v;
      otb.unmix = u;
    }
  }
  const Cube otbA = bench::readCube(abundPath);
  if (otbA.bands != p || otbA.width != scene.width || otbA.height != scene.height)
    throw Error("unexpected OTB abundance raster size");
  otb.accuracy = evaluate(endmembersFromOtbImage(bench::readCube(endmPath), scene.bands, p),
                          otbA.values, scene);
  bench::writeCube(ourEPath, otbEndmemberImage(ours.endmembers, scene.bands, p));
  for (int r = 0; r < settings.repeats; ++r) {
    const double u =
        runOtbUcls(scenePath, ourEPath, abundOurEPath, dir + "/otb_unmixing_our_endmembers.log");
    if (r == 0 || u < otb.unmixOnOurs) otb.unmixOnOurs = u;
  }
  otb.onOurs = evaluate(ours.endmembers, bench::readCube(abundOurEPath).values, scene);
  return otb;
}

// `otb` null: OTB did not run.
void printTimes(const OursTiming& ours, const OtbResult* otb) {
  std::cout << "## Time (seconds, wall clock)\n\n";
  std::cout
      << "| method | read | VCA | unmixing | write | compute (VCA + unmixing) | end to end |\n"
         "|---|---|---|---|---|---|---|\n";
  std::cout << "| deq-unmix VCA + FCLS (this build) | " << fmt(ours.read, 2) << " | "
            << fmt(ours.vca, 2) << " | " << fmt(ours.fcls, 2) << " | " << fmt(ours.write, 2)
            << " | " << fmt(ours.compute(), 2) << " | " << fmt(ours.endToEnd(), 2) << " |\n";
  if (!otb) {
    std::cout << "\n";
    return;
  }
  const double otbTotal = otb->vca + otb->unmix;
  std::cout << "| OTB VCA + UCLS (two CLI runs, incl. start-up and I/O) | in CLI | "
            << fmt(otb->vca, 2) << " | " << fmt(otb->unmix, 2) << " | in CLI | - | "
            << fmt(otbTotal, 2) << " |\n\n";
  std::cout << "Ratio OTB / deq-unmix, end to end: " << fmt(otbTotal / ours.endToEnd(), 2)
            << "x (VCA " << fmt(otb->vca / ours.vca, 2) << "x, unmixing CLI vs FCLS "
            << fmt(otb->unmix / ours.fcls, 2) << "x)\n";
  std::cout << "Ratio OTB end to end / deq-unmix compute only: "
            << fmt(otbTotal / ours.compute(), 2) << "x\n";
  std::cout << "OTB UCLS on our VCA endmembers (unmixing step alone, CLI): "
            << fmt(otb->unmixOnOurs, 2) << " s\n\n";
}

void printAccuracy(const Accuracy& ours, const OtbResult* otb) {
  std::cout << "## Accuracy against the reference (endmembers matched by minimum total SAD)\n\n";
  std::cout << "| method | mSAD rad | mSAD deg | aRMSE | aRMSE mean per endmember | mean sum(a) "
               "| min a | median abs(e)/abs(e_ref) |\n"
               "|---|---|---|---|---|---|---|---|\n";
  printAccuracyRow("deq-unmix VCA + FCLS", ours);
  if (otb) {
    printAccuracyRow("OTB VCA + UCLS", otb->accuracy);
    printAccuracyRow("OTB UCLS on deq-unmix VCA endmembers", otb->onOurs);
  }
}

void printNotes(const OtbResult& otb) {
  std::cout << "\nNotes: UCLS is unconstrained least squares (no non-negativity, no "
               "sum-to-one), so its abundances may leave the simplex (see min a and mean "
               "sum(a)); FCLS enforces both. SAD is scale-invariant; the last column is the "
               "scale of each method's endmembers relative to the reference.";
  if (std::abs(otb.accuracy.scaleRatio - 1.0) > 0.1) {
    std::cout << " OTB's VCA spectra came out " << fmt(otb.accuracy.scaleRatio, 3)
              << "x the reference's scale here, which scales its abundances by about the "
                 "inverse and inflates its aRMSE for that reason alone.";
  } else {
    std::cout << " OTB's VCA spectra kept the data's scale on this scene.";
  }
  std::cout << "\n";
}

// One tab-separated line per method (--tsv, for bench/run_all.sh).
void printRows(uint64_t seed, const Accuracy& ours, double oursSeconds, const OtbResult* otb) {
  auto row = [&](const std::string& method, const Accuracy& acc, double seconds) {
    std::cout << "ROW\t" << method << "\t" << seed << "\t" << fmt(acc.msadRad, 5) << "\t"
              << fmt(acc.armse, 5) << "\t" << fmt(acc.armseMean, 5) << "\t" << fmt(seconds, 2)
              << "\t-\t-\t-\n";
  };
  row("deq-unmix VCA+FCLS (end to end)", ours, oursSeconds);
  if (!otb) return;
  row("OTB VCA+UCLS", otb->accuracy, otb->vca + otb->unmix);
  row("OTB UCLS on deq-unmix VCA", otb->onOurs, otb->unmixOnOurs);
}

int run(int argc, char** argv) {
  Settings settings = defaults();
  if (!parseArguments(argc, argv, settings)) return 0;
  fs::create_directories(settings.outDir);
  const std::string dir = fs::absolute(settings.outDir).string();
  at::set_num_threads(settings.threads);
  setenv("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", std::to_string(settings.threads).c_str(), 1);
  printSettings(settings, dir);

  const std::string scenePath = dir + "/scene.tif";
  const SyntheticScene scene = writeScene(settings.scene, scenePath);
  const int p = scene.endmembers.endmembers();
  const OursResult ours = fastestOfOurs(settings.repeats, scenePath, dir, p, settings.scene.seed);
  const Accuracy oursAccuracy = evaluate(ours.endmembers, ours.abundances, scene);
  const bool haveOtb = !settings.skipOtb && onPath("otbcli_VertexComponentAnalysis") &&
                       onPath("otbcli_HyperspectralUnmixing");
  std::optional<OtbResult> otb;
  std::string otbError;
  if (haveOtb) try {
      otb = runOtb(settings, scene, scenePath, dir, ours);
    } catch (const std::exception& e) {
      otbError = e.what();
    }

  printTimes(ours.timing, otb ? &*otb : nullptr);
  printAccuracy(oursAccuracy, otb ? &*otb : nullptr);
  std::cout << "\nVCA (ours): estimated SNR " << fmt(ours.estimatedSnrDb, 1) << " dB, "
            << (ours.projective ? "projective" : "zero-mean") << " projection\n";
  if (!haveOtb) {
    std::cout << "\nOTB: "
              << (settings.skipOtb ? "skipped (--skip-otb)"
                                   : "otbcli_* not on PATH (apt-get install otb-bin)")
              << "; only our pipeline was timed.\n";
  } else if (!otb) {
    std::cout << "\nOTB failed: " << otbError << "\n";
    return 1;
  } else {
    printNotes(*otb);
  }
  if (settings.tsv)
    printRows(settings.scene.seed, oursAccuracy, ours.timing.endToEnd(), otb ? &*otb : nullptr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_classical_vs_otb: " << e.what() << "\n";
    return 1;
  }
}
