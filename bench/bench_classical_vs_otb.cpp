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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/arguments.h"
#include "bench/scene_io.h"
#include "core/errors.h"
#include "core/classical/fcls.h"
#include "core/metrics/metrics.h"
#include "core/pixel_source.h"
#include "core/synthetic/synthetic.h"
#include "core/classical/vca.h"

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

int run(int argc, char** argv) {
  Settings settings = defaults();
  if (!parseArguments(argc, argv, settings)) return 0;
  const SyntheticOptions& so = settings.scene;
  fs::create_directories(settings.outDir);
  const std::string dir = fs::absolute(settings.outDir).string();
  const std::string scenePath = dir + "/scene.tif";

  at::set_num_threads(settings.threads);
  const std::string threads = std::to_string(settings.threads);
  setenv("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", threads.c_str(), 1);

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

  auto start = std::chrono::steady_clock::now();
  const SyntheticScene scene = generateSyntheticScene(so);
  const double generateSeconds = secondsSince(start);
  const int p = scene.endmembers.endmembers();
  start = std::chrono::steady_clock::now();
  {
    Cube cube = bench::makeCube(scene.scene, scene.bands, scene.height, scene.width);
    bench::WriteOptions options;
    options.pixelInterleaved = true;  // OTB streams pixel by pixel; this is its fast layout
    bench::writeCube(scenePath, cube, options);
  }
  std::cout << "Scene generated in " << fmt(generateSeconds, 2)
            << " s, written as Float32 GeoTIFF ("
            << fmt(static_cast<double>(fs::file_size(scenePath)) / (1 << 20), 0) << " MiB) in "
            << fmt(secondsSince(start), 2) << " s: " << scenePath << "\n\n"
            << std::flush;

  // Ours.
  OursResult ours;
  for (int r = 0; r < settings.repeats; ++r) {
    OursResult attempt = runOurs(scenePath, dir + "/ours_abundances.tif", p, so.seed);
    if (r == 0 || attempt.timing.endToEnd() < ours.timing.endToEnd()) ours = std::move(attempt);
  }
  const Accuracy oursAccuracy = evaluate(ours.endmembers, ours.abundances, scene);

  // OTB.
  const bool haveOtb = !settings.skipOtb && onPath("otbcli_VertexComponentAnalysis") &&
                       onPath("otbcli_HyperspectralUnmixing");
  double otbVca = NAN, otbUnmix = NAN, otbUnmixOurE = NAN;
  Accuracy otbAccuracy, otbOnOurEAccuracy;
  std::string otbError;
  if (haveOtb) {
    try {
      const std::string endmPath = dir + "/otb_endmembers.tif";
      const std::string abundPath = dir + "/otb_abundances.tif";
      const std::string ourEPath = dir + "/ours_endmembers_otb_layout.tif";
      const std::string abundOurEPath = dir + "/otb_ucls_on_our_endmembers.tif";
      for (int r = 0; r < settings.repeats; ++r) {
        const double v =
            runTimed("otbcli_VertexComponentAnalysis -in " + shellQuote(scenePath) + " -ne " +
                         std::to_string(p) + " -rand " + std::to_string(so.seed) + " -outendm " +
                         shellQuote(endmPath) + " double",
                     dir + "/otb_vca.log");
        const double u = runTimed("otbcli_HyperspectralUnmixing -in " + shellQuote(scenePath) +
                                      " -ie " + shellQuote(endmPath) + " -out " +
                                      shellQuote(abundPath) + " float -ua ucls",
                                  dir + "/otb_unmixing.log");
        if (r == 0 || v + u < otbVca + otbUnmix) {
          otbVca = v;
          otbUnmix = u;
        }
      }
      const std::vector<float> otbE =
          endmembersFromOtbImage(bench::readCube(endmPath), scene.bands, p);
      Cube otbA = bench::readCube(abundPath);
      if (otbA.bands != p || otbA.width != scene.width || otbA.height != scene.height) {
        throw Error("unexpected OTB abundance raster size");
      }
      otbAccuracy = evaluate(otbE, otbA.values, scene);

      // Isolate the unmixing step: OTB's UCLS on our VCA endmembers.
      bench::writeCube(ourEPath, otbEndmemberImage(ours.endmembers, scene.bands, p));
      for (int r = 0; r < settings.repeats; ++r) {
        const double u = runTimed("otbcli_HyperspectralUnmixing -in " + shellQuote(scenePath) +
                                      " -ie " + shellQuote(ourEPath) + " -out " +
                                      shellQuote(abundOurEPath) + " float -ua ucls",
                                  dir + "/otb_unmixing_our_endmembers.log");
        if (r == 0 || u < otbUnmixOurE) otbUnmixOurE = u;
      }
      Cube otbA2 = bench::readCube(abundOurEPath);
      otbOnOurEAccuracy = evaluate(ours.endmembers, otbA2.values, scene);
    } catch (const std::exception& e) {
      otbError = e.what();
    }
  }

  std::cout << "## Time (seconds, wall clock)\n\n";
  std::cout
      << "| method | read | VCA | unmixing | write | compute (VCA + unmixing) | end to end |\n"
         "|---|---|---|---|---|---|---|\n";
  std::cout << "| deq-unmix VCA + FCLS (this build) | " << fmt(ours.timing.read, 2) << " | "
            << fmt(ours.timing.vca, 2) << " | " << fmt(ours.timing.fcls, 2) << " | "
            << fmt(ours.timing.write, 2) << " | " << fmt(ours.timing.compute(), 2) << " | "
            << fmt(ours.timing.endToEnd(), 2) << " |\n";
  const bool otbOk = haveOtb && otbError.empty();
  if (otbOk) {
    std::cout << "| OTB VCA + UCLS (two CLI runs, incl. start-up and I/O) | in CLI | "
              << fmt(otbVca, 2) << " | " << fmt(otbUnmix, 2) << " | in CLI | - | "
              << fmt(otbVca + otbUnmix, 2) << " |\n";
  }
  std::cout << "\n";
  if (otbOk) {
    const double otbTotal = otbVca + otbUnmix;
    std::cout << "Ratio OTB / deq-unmix, end to end: " << fmt(otbTotal / ours.timing.endToEnd(), 2)
              << "x (VCA " << fmt(otbVca / ours.timing.vca, 2) << "x, unmixing CLI vs FCLS "
              << fmt(otbUnmix / ours.timing.fcls, 2) << "x)\n";
    std::cout << "Ratio OTB end to end / deq-unmix compute only: "
              << fmt(otbTotal / ours.timing.compute(), 2) << "x\n";
    std::cout << "OTB UCLS on our VCA endmembers (unmixing step alone, CLI): "
              << fmt(otbUnmixOurE, 2) << " s\n\n";
  }

  std::cout << "## Accuracy against the reference (endmembers matched by minimum total SAD)\n\n";
  std::cout << "| method | mSAD rad | mSAD deg | aRMSE | aRMSE mean per endmember | mean sum(a) "
               "| min a | median abs(e)/abs(e_ref) |\n"
               "|---|---|---|---|---|---|---|---|\n";
  printAccuracyRow("deq-unmix VCA + FCLS", oursAccuracy);
  if (otbOk) {
    printAccuracyRow("OTB VCA + UCLS", otbAccuracy);
    printAccuracyRow("OTB UCLS on deq-unmix VCA endmembers", otbOnOurEAccuracy);
  }
  std::cout << "\nVCA (ours): estimated SNR " << fmt(ours.estimatedSnrDb, 1) << " dB, "
            << (ours.projective ? "projective" : "zero-mean") << " projection\n";
  if (!haveOtb) {
    std::cout << "\nOTB: "
              << (settings.skipOtb ? "skipped (--skip-otb)"
                                   : "otbcli_* not on PATH (apt-get install otb-bin)")
              << "; only our pipeline was timed.\n";
  } else if (!otbError.empty()) {
    std::cout << "\nOTB failed: " << otbError << "\n";
    return 1;
  } else {
    std::cout << "\nNotes: UCLS is unconstrained least squares (no non-negativity, no "
                 "sum-to-one), so its abundances may leave the simplex (see min a and mean "
                 "sum(a)); FCLS enforces both. SAD is scale-invariant; the last column is the "
                 "scale of each method's endmembers relative to the reference.";
    if (std::abs(otbAccuracy.scaleRatio - 1.0) > 0.1) {
      std::cout << " OTB's VCA spectra came out " << fmt(otbAccuracy.scaleRatio, 3)
                << "x the reference's scale here, which scales its abundances by about the "
                   "inverse and inflates its aRMSE for that reason alone.";
    } else {
      std::cout << " OTB's VCA spectra kept the data's scale on this scene.";
    }
    std::cout << "\n";
  }
  if (settings.tsv) {
    auto row = [&](const std::string& method, const Accuracy& acc, double seconds) {
      std::cout << "ROW\t" << method << "\t" << so.seed << "\t" << fmt(acc.msadRad, 5) << "\t"
                << fmt(acc.armse, 5) << "\t" << fmt(acc.armseMean, 5) << "\t" << fmt(seconds, 2)
                << "\t-\t-\t-\n";
    };
    row("deq-unmix VCA+FCLS (end to end)", oursAccuracy, ours.timing.endToEnd());
    if (otbOk) {
      row("OTB VCA+UCLS", otbAccuracy, otbVca + otbUnmix);
      row("OTB UCLS on deq-unmix VCA", otbOnOurEAccuracy, otbUnmixOurE);
    }
  }
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
