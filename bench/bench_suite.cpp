// The development suite of issue 11: VCA+FCLS against DEQ-Unmix (default settings) on
// scenes that look like the world, not only on the ones the defaults were chosen on.
// Samson (when ../shared/data/samson is there) plus synthetic scenes spanning the
// generator's effects (core/synthetic/synthetic.h): random and USGS library spectra
// (correlated real minerals), P from 3 to 8, 15 to 35 dB, with and without pure pixels,
// illumination and shade, endmember variability, bilinear and post-nonlinear mixing,
// band-dependent noise and low-SNR bands. Each synthetic scene is fixed (its own generator
// seed); the run seeds (--seeds) seed VCA and DEQ-Unmix.
//
// Prints one Markdown table: per scene mSAD (rad), aRMSE (global) and aRMSE (mean of the
// per-endmember RMSEs), both methods, averaged over the seeds, the DEQ-Unmix training
// seconds, and a mark where DEQ-Unmix loses (a metric more than 5% above VCA+FCLS); then
// the average row. Options: --help; --list prints the scenes.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/arguments.h"
#include "bench/scene_io.h"
#include "core/classical/endmember_count.h"
#include "core/classical/vca.h"
#include "core/deq/deq_unmix.h"
#include "core/deq/scene_tensors.h"
#include "core/deq/training_data.h"
#include "core/endmembers/initial_endmembers.h"
#include "core/endmembers/refinement.h"
#include "core/io/spectral_library.h"
#include "core/metrics/metrics.h"
#include "core/pixel_source.h"
#include "core/runtime.h"
#include "core/synthetic/synthetic.h"

using namespace dequnmix;

namespace {

constexpr int kRandomSceneSide = 64;  // pixels; the scenes every random range was first run at

struct Args {
  std::vector<int> seeds = {1, 2, 3};
  std::string scenes;  // names or indices, comma-separated; empty: all
  int epochs = -1;
  std::string refine;          // candidate endmember refinement; empty: the training default
  bool trainE = false;         // candidate: learn E with the network
  int forwardIterations = -1;  // candidate training forward cap; < 0: the default
  double forwardTolerance = -1;
  bool coldStart = false;         // candidate: every training forward solve from FCLS
  double jacobianPenalty = -1;    // candidate Jacobian penalty weight; < 0: the default
  double anchorWeight = -1;       // candidate anchor weight of the map; < 0: the default
  double clusterRadius = -1;      // candidate pure-cluster radius fraction; < 0: the default
  double alpha = -2;              // candidate loss weight; -1: automatic; < -1: the default
  std::string scaleInvariance;    // candidate data term: off|on|auto; empty: the default
  double whiteningSpread = -1;    // candidate noise-whitening threshold; < 0: the default
  double anomalyRatio = -1;       // candidate anomaly residual ratio; < 0: the default
  double directionsOutside = -1;  // candidate automaticDirectionsOutsideMass; < 0: the default
  double noiseShare = -1;         // candidate automaticSpatialNoiseShare; < 0: the default
  double anchorGain = -1;         // candidate automaticAnchorGain; < 0: the default
  double startGain = -1;          // candidate automaticStartBrightnessGain; < 0: the default
  int inferIterations = -1;       // candidate inference cap; < 0: the default
  int inferHistory = -1;          // candidate inference Anderson history; < 0: the default
  bool endmemberStage = false;    // only the endmember stage: refinements and their signals
  bool endmemberCount = false;    // only the endmember count estimates against P
  double falseAlarm = -1;         // HFC / NWHFC false-alarm probability; <= 0: the default
  bool scaledBaseline = false;    // the baseline's abundances: NNLS over its sum, not FCLS
  int threads = 1;
  std::string csv;
  std::string samson = std::string(DEQUNMIX_SHARED_DIR) + "/data/samson";
  std::string library = std::string(DEQUNMIX_SHARED_DIR) + "/data/usgs/usgs_splib_aviris224.csv";
  bool list = false;
  bool holdout = false;               // the held-out scenes instead of the suite
  std::string random;                 // "FIRST-LAST": randomly drawn scenes instead of the suite
  int randomSize = kRandomSceneSide;  // side of the random scenes in pixels
  bool moreEffects = false;           // random scenes also draw the effects of real sensors
  int randomBands = 0;                // random scenes' bands; 0: 100, or the library's 224
  int randomEndmembers = 0;           // random scenes' materials; 0: drawn, 3 to 8
};

// A scene of the suite: Samson (or a square window of it), or generator settings
// (libraryPath set for USGS scenes).
struct SuiteScene {
  std::string name;
  bool samson = false;
  SyntheticOptions options;
  int cropRow = 0, cropCol = 0, cropSize = 0;  // Samson's window; cropSize 0: the whole scene
};

// Synthetic scenes are 40 x 40 pixels (one default training well under a minute on one
// core); random spectra on 100 bands, library spectra on the library's 224. Without pure
// pixels the largest abundance is capped at 0.8 (highly mixed).
SyntheticOptions base(int endmembers, double snrDb, bool pure, uint64_t seed) {
  SyntheticOptions o;
  o.width = o.height = 40;
  o.bands = 100;
  o.endmembers = endmembers;
  o.snrDb = snrDb;
  o.purePixels = pure;
  o.maxAbundance = pure ? 1.0 : 0.8;
  o.seed = seed;
  return o;
}

// A generated scene of the suite; `usgs`: its spectra drawn from the library.
SuiteScene generated(const std::string& name, SyntheticOptions o, bool usgs, const Args& a) {
  if (usgs) o.libraryPath = a.library;
  return {name, false, o};
}

std::vector<SuiteScene> suite(const Args& a) {
  std::vector<SuiteScene> s;
  s.push_back({"samson", true, {}});
  auto add = [&](const std::string& name, SyntheticOptions o, bool usgs) {
    s.push_back(generated(name, o, usgs, a));
  };
  add("rand-p3-35db-pure", base(3, 35, true, 101), false);
  add("rand-p4-20db-nopure", base(4, 20, false, 102), false);
  SyntheticOptions o = base(6, 15, false, 103);
  o.noiseSpreadDb = 10;
  o.lowSnrBands = 4;
  add("rand-p6-15db-nopure-bandnoise", o, false);
  o = base(5, 25, true, 104);
  o.illumination = 0.3;
  o.shade = 0.02;
  add("rand-p5-25db-pure-illum-shade", o, false);
  o = base(4, 30, true, 105);
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0.5;
  add("rand-p4-30db-pure-bilinear", o, false);
  add("usgs-p4-30db-pure", base(4, 30, true, 106), true);
  o = base(5, 20, false, 107);
  o.illumination = 0.3;
  add("usgs-p5-20db-nopure-illum", o, true);
  o = base(6, 25, true, 108);
  o.variability = 0.5;
  add("usgs-p6-25db-pure-var", o, true);
  add("usgs-p8-30db-nopure", base(8, 30, false, 109), true);
  o = base(3, 15, false, 110);
  o.nonlinearity = NonlinearMixing::PostNonlinear;
  o.nonlinearStrength = 0.5;
  add("usgs-p3-15db-nopure-ppnmm", o, true);
  o = base(5, 25, false, 111);
  o.illumination = 0.3;
  o.shade = 0.02;
  o.variability = 0.3;
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0.3;
  o.noiseSpreadDb = 10;
  o.lowSnrBands = 3;
  add("usgs-p5-25db-nopure-alleffects", o, true);
  o = base(4, 25, true, 112);
  o.pureRegions = 0.2;
  o.illumination = 0.3;
  add("usgs-p4-25db-regions-illum", o, true);
  o = base(5, 20, true, 113);
  o.pureRegions = 0.15;
  o.variability = 0.3;
  add("rand-p5-20db-regions-var", o, false);
  return s;
}

// Scenes no default was chosen on (--holdout): other generator seeds, sizes and mixes of
// the same effects, at strengths the suite does not use, to check the automatic choices.
std::vector<SuiteScene> holdoutScenes(const Args& a) {
  std::vector<SuiteScene> s;
  auto add = [&](const std::string& name, SyntheticOptions o, bool usgs) {
    s.push_back(generated(name, o, usgs, a));
  };
  SyntheticOptions o = base(4, 30, true, 201);
  o.illumination = 0.15;
  add("usgs-p4-30db-pure-illum0.15", o, true);
  o = base(5, 20, false, 202);
  o.illumination = 0.5;
  o.illuminationSmoothness = 3;
  add("rand-p5-20db-nopure-illum0.5", o, false);
  o = base(6, 35, false, 203);
  o.shade = 0.03;
  add("usgs-p6-35db-nopure-shade", o, true);
  o = base(4, 25, true, 204);
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0.2;
  add("usgs-p4-25db-pure-bilinear0.2", o, true);
  o = base(3, 25, false, 205);
  o.variability = 0.3;
  add("rand-p3-25db-nopure-var0.3", o, false);
  o = base(5, 30, true, 206);
  o.nonlinearity = NonlinearMixing::PostNonlinear;
  o.nonlinearStrength = 0.3;
  o.noiseSpreadDb = 6;
  add("usgs-p5-30db-pure-ppnmm0.3-bandnoise", o, true);
  o = base(7, 20, false, 207);
  o.width = o.height = 56;
  add("usgs-p7-20db-nopure-56px", o, true);
  o = base(8, 30, true, 208);
  o.illumination = 0.2;
  o.smoothness = 2;
  add("rand-p8-30db-pure-illum0.2", o, false);
  o = base(6, 30, true, 209);
  o.pureRegions = 0.3;
  o.variability = 0.5;
  add("usgs-p6-30db-regions0.3-var0.5", o, true);
  o = base(3, 15, true, 210);
  o.pureRegions = 0.1;
  o.pureRegionSize = 4;
  add("rand-p3-15db-regions0.1", o, false);
  o = base(5, 25, true, 211);
  o.pureRegions = 0.2;
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0.3;
  o.illumination = 0.2;
  add("usgs-p5-25db-regions-bilinear-illum", o, true);
  o = base(4, 40, true, 212);
  o.pureRegions = 0.2;
  o.variability = 0.2;
  add("usgs-p4-40db-regions-var0.2", o, true);
  o = base(3, 35, true, 213);
  o.pureRegions = 0.3;
  o.illumination = 0.3;
  add("rand-p3-35db-regions0.3-illum", o, false);
  // Abundances capped below 1 pile up on the cap beside each single pure pixel: the failure
  // class of the pure-cluster centring (bench/README.md, "Pure-cluster centring").
  o = base(3, 30, true, 23);
  o.maxAbundance = 0.9;
  o.width = o.height = 64;
  o.bands = 30;
  add("rand-p3-30db-cap0.9-30bands-64px", o, false);
  o.illumination = 0.2;
  add("rand-p3-30db-cap0.9-illum0.2-30bands-64px", o, false);
  o.illumination = 0;
  o.variability = 0.2;
  add("rand-p3-30db-cap0.9-var0.2-30bands-64px", o, false);
  o = base(4, 35, true, 215);
  o.maxAbundance = 0.9;
  o.illumination = 0.3;
  add("usgs-p4-35db-cap0.9-illum0.3", o, true);
  o = base(4, 40, true, 216);
  o.maxAbundance = 0.95;
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0.5;
  add("rand-p4-40db-cap0.95-bilinear0.5", o, false);
  // More materials than any suite scene (the suite stops at 8; Cuprite-like scenes have 12).
  o = base(12, 30, true, 217);
  o.width = o.height = 64;
  o.pureRegions = 0.2;
  o.illumination = 0.2;
  add("usgs-p12-30db-regions0.2-illum0.2-64px", o, true);
  o = base(10, 25, false, 218);
  o.width = o.height = 64;
  add("rand-p10-25db-nopure-64px", o, false);
  // Real windows of Samson with other mixes: no pure rock; all three pure; few pure water
  // (the N-FINDR start was chosen on these three and all scenes above) ...
  s.push_back({"samson-window-r0-c0-48px", true, {}, 0, 0, 48});
  s.push_back({"samson-window-r47-c0-48px", true, {}, 47, 0, 48});
  s.push_back({"samson-window-r0-c23-48px", true, {}, 0, 23, 48});
  // ... and checked on five more: two almost without water (at most 0.09 and 0.6), three
  // with every material but in other proportions.
  s.push_back({"samson-window-r47-c47-48px", true, {}, 47, 47, 48});
  s.push_back({"samson-window-r0-c47-48px", true, {}, 0, 47, 48});
  s.push_back({"samson-window-r23-c23-48px", true, {}, 23, 23, 48});
  s.push_back({"samson-window-r23-c0-48px", true, {}, 23, 0, 48});
  s.push_back({"samson-window-r47-c23-48px", true, {}, 47, 23, 48});
  // Probes added after every default above was chosen, to look like airborne scenes: larger
  // regions, a dark material, strong illumination, rough fields, noisy bands; and Samson
  // windows of other sizes.
  o = base(4, 30, true, 301);
  o.width = o.height = 96;
  o.pureRegions = 0.3;
  o.pureRegionSize = 10;
  o.illumination = 0.4;
  add("usgs-p4-30db-regions0.3-illum0.4-96px", o, true);
  o = base(4, 25, true, 302);
  o.shade = 0.05;
  o.illumination = 0.2;
  o.pureRegions = 0.2;
  add("rand-p4-25db-regions0.2-shade0.05-illum0.2", o, false);
  o = base(5, 35, false, 303);
  o.maxAbundance = 0.7;
  o.illumination = 0.1;
  add("usgs-p5-35db-cap0.7-illum0.1", o, true);
  o = base(6, 25, true, 304);
  o.pureRegions = 0.2;
  o.illumination = 0.3;
  o.variability = 0.2;
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0.2;
  add("rand-p6-25db-regions0.2-illum0.3-var0.2-bilinear0.2", o, false);
  o = base(3, 30, true, 305);
  o.pureRegions = 0.5;
  o.illumination = 0.2;
  add("usgs-p3-30db-regions0.5-illum0.2", o, true);
  o = base(7, 25, true, 306);
  o.pureRegions = 0.1;
  o.nonlinearity = NonlinearMixing::PostNonlinear;
  o.nonlinearStrength = 0.2;
  add("rand-p7-25db-regions0.1-ppnmm0.2", o, false);
  o = base(4, 20, true, 307);
  o.noiseSpreadDb = 15;
  o.lowSnrBands = 6;
  o.illumination = 0.2;
  add("usgs-p4-20db-pure-bandnoise15-illum0.2", o, true);
  o = base(5, 30, false, 308);
  o.smoothness = 1;
  add("rand-p5-30db-nopure-smooth1", o, false);
  s.push_back({"samson-window-r0-c0-64px", true, {}, 0, 0, 64});
  s.push_back({"samson-window-r31-c31-64px", true, {}, 31, 31, 64});
  s.push_back({"samson-window-r0-c31-64px", true, {}, 0, 31, 64});
  s.push_back({"samson-window-r31-c0-64px", true, {}, 31, 0, 64});
  s.push_back({"samson-window-r63-c63-32px", true, {}, 63, 63, 32});
  s.push_back({"samson-window-r10-c50-32px", true, {}, 10, 50, 32});
  // Pixels with spikes (detector glitches), added with the anomaly screen.
  o = base(4, 30, true, 309);
  o.illumination = 0.2;
  o.spikePixels = 5;
  add("usgs-p4-30db-pure-illum0.2-spikes5", o, true);
  o = base(5, 25, false, 310);
  o.spikePixels = 12;
  add("rand-p5-25db-nopure-spikes12", o, false);
  o = base(6, 30, true, 311);
  o.pureRegions = 0.3;
  o.variability = 0.2;
  o.spikePixels = 8;
  add("usgs-p6-30db-regions0.3-var0.2-spikes8", o, true);
  o = base(3, 20, true, 312);
  o.spikePixels = 3;
  add("rand-p3-20db-pure-spikes3", o, false);
  // Uneven shares (one material covers most of the scene, one is rare), added after every
  // default was chosen.
  o = base(4, 30, true, 313);
  o.shareRatio = 20;
  add("usgs-p4-30db-pure-share20", o, true);
  o = base(5, 25, false, 314);
  o.shareRatio = 50;
  add("rand-p5-25db-nopure-share50", o, false);
  o = base(6, 25, true, 315);
  o.pureRegions = 0.2;
  o.illumination = 0.2;
  o.shareRatio = 10;
  add("usgs-p6-25db-regions0.2-illum0.2-share10", o, true);
  o = base(4, 20, true, 316);
  o.illumination = 0.3;
  o.shareRatio = 100;
  add("rand-p4-20db-pure-illum0.3-share100", o, false);
  o = base(3, 35, false, 317);
  o.variability = 0.2;
  o.shareRatio = 30;
  add("usgs-p3-35db-nopure-var0.2-share30", o, true);
  // Probes added after the fit of the pixels' directions was chosen: brightness that varies
  // with and without pure pixels, and windows of Samson at other places.
  o = base(4, 25, false, 401);
  o.illumination = 0.2;
  add("usgs-p4-25db-nopure-illum0.2", o, true);
  o = base(6, 30, true, 402);
  o.pureRegions = 0.2;
  o.illumination = 0.4;
  add("rand-p6-30db-regions0.2-illum0.4", o, false);
  o = base(5, 30, true, 403);
  o.variability = 0.3;
  add("usgs-p5-30db-pure-var0.3", o, true);
  o = base(4, 25, false, 404);
  o.illumination = 0.3;
  o.shade = 0.03;
  add("rand-p4-25db-nopure-illum0.3-shade0.03", o, false);
  o = base(3, 20, true, 405);
  o.pureRegions = 0.3;
  o.illumination = 0.3;
  o.variability = 0.2;
  add("usgs-p3-20db-regions0.3-illum0.3-var0.2", o, true);
  o = base(5, 35, true, 406);
  o.illumination = 0.3;
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0.2;
  add("rand-p5-35db-pure-illum0.3-bilinear0.2", o, false);
  s.push_back({"samson-window-r15-c15-48px", true, {}, 15, 15, 48});
  s.push_back({"samson-window-r40-c40-48px", true, {}, 40, 40, 48});
  return s;
}

// The effects of real scenes and sensors that randomScene leaves out (--more-effects), drawn
// from k by a generator of their own so that the rest of scene k stays as without them:
// uneven shares, noise that varies over the bands, low-SNR bands (water absorption), spikes
// and shade. Returns the scene name's suffix.
std::string drawSensorEffects(int k, SyntheticOptions& o) {
  std::mt19937 rng(static_cast<uint32_t>(k) ^ 0x5eb5e5u);
  const double shareRatios[] = {1, 1, 5, 20, 100}, spreads[] = {0, 10, 20};
  const int lowSnrBands[] = {0, 0, 4, 12};
  o.shareRatio = shareRatios[rng() % 5];
  o.noiseSpreadDb = spreads[rng() % 3];
  o.lowSnrBands = lowSnrBands[rng() % 4];
  o.spikePixels = rng() % 4 == 0 ? 5 : 0;
  o.shade = rng() % 4 == 0 ? 0.02 : 0.0;
  char suffix[120];
  std::snprintf(suffix, sizeof suffix, "-share%.0f-spread%.0f-low%d%s%s", o.shareRatio,
                o.noiseSpreadDb, o.lowSnrBands, o.spikePixels > 0 ? "-spikes5" : "",
                o.shade > 0 ? "-shade0.02" : "");
  return suffix;
}

// Random scene k (--random): settings drawn from k alone, so a scene stays the same from run
// to run and no default can have been chosen on the scenes of a range not looked at before.
// 64 x 64 pixels (--size), 3-8 materials, 20-40 dB, library spectra three times in four, and each
// effect with its own odds: illumination, variability, bilinear mixing, no pure pixels
// (largest abundance 0.8), rough abundance fields, pure regions.
SuiteScene randomScene(int k, const Args& a) {
  std::mt19937 rng(static_cast<uint32_t>(k));
  SyntheticOptions o;
  o.endmembers = 3 + int(rng() % 6);
  if (a.randomEndmembers > 0) o.endmembers = a.randomEndmembers;
  const double snrs[] = {20, 25, 30, 35, 40}, lights[] = {0, 0, 0.1, 0.2, 0.3},
               variabilities[] = {0, 0, 0.1, 0.2};
  o.snrDb = snrs[rng() % 5];
  o.seed = uint64_t(k);
  o.width = o.height = a.randomSize;
  const bool usgs = rng() % 4 != 0;
  o.illumination = lights[rng() % 5];
  o.variability = variabilities[rng() % 4];
  if (rng() % 4 == 0) {
    o.nonlinearity = NonlinearMixing::Bilinear;
    o.nonlinearStrength = 0.2;
  }
  if (rng() % 3 == 0) {
    o.purePixels = false;
    o.maxAbundance = 0.8;
  }
  if (rng() % 3 == 0) o.smoothness = 1;
  if (rng() % 4 == 0) o.pureRegions = 0.2;
  char name[160];
  std::snprintf(name, sizeof name, "random-%d-%s-p%d-%.0fdb%s%s-illum%.1f-var%.1f%s%s", k,
                usgs ? "usgs" : "rand", o.endmembers, o.snrDb, o.purePixels ? "" : "-nopure",
                o.smoothness < 4 ? "-smooth1" : "", o.illumination, o.variability,
                o.nonlinearity == NonlinearMixing::Bilinear ? "-bilinear0.2" : "",
                o.pureRegions > 0 ? "-regions0.2" : "");
  std::string full = name;
  if (a.moreEffects) full += drawSensorEffects(k, o);
  if (a.randomSize != kRandomSceneSide) full += "-" + std::to_string(a.randomSize) + "px";
  if (a.randomBands > 0) {
    o.bands = a.randomBands;
    full += "-" + std::to_string(a.randomBands) + "bands";
  }
  return generated(full, o, usgs, a);
}

// The library at `bands` broad bands spread evenly over its range (each a Gaussian response
// as wide as the bands' spacing, as a multispectral sensor's), written once to a temporary
// CSV whose path is returned: the generator reads its library from a file.
std::string libraryAtBands(const std::string& path, int bands) {
  const EndmemberTable library = readSpectralLibrary(path);
  if (library.wavelengths.empty())
    throw bench::ArgumentError("--bands: the library " + path + " has no wavelengths");
  const double first = library.wavelengths.front(), last = library.wavelengths.back();
  const double spacing = (last - first) / bands;
  std::vector<double> centres, widths(size_t(bands), spacing);
  for (int b = 0; b < bands; ++b) centres.push_back(first + spacing * (b + 0.5));
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("bench_suite_library_" + std::to_string(bands) + "bands.csv"))
                              .string();
  writeEndmemberCsv(out, resampleLibrary(library, centres, widths));
  return out;
}

std::vector<SuiteScene> randomScenes(const Args& a) {
  int first = 0, last = -1;
  if (std::sscanf(a.random.c_str(), "%d-%d", &first, &last) != 2 || first < 0 || last < first)
    throw bench::ArgumentError("--random: expected FIRST-LAST, e.g. 1-240");
  if (a.randomSize < 16) throw bench::ArgumentError("--size: at least 16 pixels");
  const int largestP = a.randomEndmembers > 0 ? a.randomEndmembers : 8;
  if (a.randomEndmembers != 0 && a.randomEndmembers < 2)
    throw bench::ArgumentError("--endmembers: at least 2");
  if (a.randomBands != 0 && a.randomBands <= largestP)
    throw bench::ArgumentError("--bands: more bands than endmembers (" + std::to_string(largestP) +
                               ")");
  Args withLibrary = a;
  if (a.randomBands > 0) withLibrary.library = libraryAtBands(a.library, a.randomBands);
  std::vector<SuiteScene> s;
  for (int k = first; k <= last; ++k) s.push_back(randomScene(k, withLibrary));
  return s;
}

// The scene list the arguments ask for: the suite, the held-out scenes or random ones.
std::vector<SuiteScene> allScenes(const Args& a) {
  if (!a.random.empty()) return randomScenes(a);
  return a.holdout ? holdoutScenes(a) : suite(a);
}

// The scenes --scenes names (by name or 0-based index), all when it is empty.
std::vector<SuiteScene> selected(const std::vector<SuiteScene>& all, const std::string& list) {
  if (list.empty()) return all;
  std::vector<SuiteScene> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string token = list.substr(start, end - start);
    bool found = false;
    for (size_t k = 0; k < all.size() && !found; ++k) {
      if (token == all[k].name || token == std::to_string(k)) {
        out.push_back(all[k]);
        found = true;
      }
    }
    if (!found) throw bench::ArgumentError("--scenes: no scene '" + token + "' (see --list)");
    start = end + 1;
  }
  return out;
}

struct Scene {
  int bands = 0, height = 0, width = 0, P = 0;
  std::vector<float> cube, refAbundances, refEndmembers;  // refEndmembers bands x P
};

// The size x size window at (row, col) of band-major `values` with `bands` bands.
std::vector<float> window(const std::vector<float>& values, int bands, int height, int width,
                          int row, int col, int size) {
  std::vector<float> out;
  out.reserve(size_t(bands) * size * size);
  for (int b = 0; b < bands; ++b)
    for (int y = row; y < row + size; ++y) {
      const float* line = values.data() + (int64_t(b) * height + y) * width + col;
      out.insert(out.end(), line, line + size);
    }
  return out;
}

// The scene's size x size window at (row, col), its reference abundances with it.
Scene window(const Scene& s, int row, int col, int size) {
  if (row < 0 || col < 0 || row + size > s.height || col + size > s.width)
    throw bench::ArgumentError("a window outside the scene");
  Scene w = s;
  w.height = w.width = size;
  w.cube = window(s.cube, s.bands, s.height, s.width, row, col, size);
  w.refAbundances = window(s.refAbundances, s.P, s.height, s.width, row, col, size);
  return w;
}

Scene load(const SuiteScene& spec, const Args& a) {
  Scene s;
  if (spec.samson) {
    const bench::Cube c = bench::readCube(a.samson + "/samson.tif");
    const bench::Cube r = bench::readCube(a.samson + "/samson_abundances_gt.tif");
    const EndmemberTable t = bench::readEndmembers(a.samson + "/samson_endmembers_gt.csv");
    s = {c.bands, c.height, c.width, t.endmembers(), c.values, r.values, t.values};
    return spec.cropSize > 0 ? window(s, spec.cropRow, spec.cropCol, spec.cropSize) : s;
  }
  SyntheticScene g = generateSyntheticScene(spec.options);
  s = {g.bands,      g.height,           g.width, spec.options.endmembers, std::move(g.scene),
       g.abundances, g.endmembers.values};
  return s;
}

bool available(const SuiteScene& spec, const Args& a) {
  if (spec.samson) return static_cast<bool>(std::ifstream(a.samson + "/samson.tif"));
  return spec.options.libraryPath.empty() ||
         static_cast<bool>(std::ifstream(spec.options.libraryPath));
}

struct Score {
  double msad = NAN, armse = NAN, armseMean = NAN, seconds = NAN;
  // DEQ-Unmix only: converged fraction and mean iterations of the training forward solves
  // over the last 50 epochs, and of the final inference's tiles.
  double trainConverged = NAN, trainIterations = NAN, inferConverged = NAN, inferIterations = NAN;
  double scaleInvariant = NAN;  // DEQ-Unmix only: 1 where the data term was scale-invariant
  double whitened = NAN;        // DEQ-Unmix only: 1 where the bands were weighed by their noise
  double noiseSpread = NAN;     // DEQ-Unmix only: the bands' noise spread measured (0: none)
  double brightnessGain = NAN;  // DEQ-Unmix only: what automatic scale invariance was chosen by
  // DEQ-Unmix only: what the spatial prox weight was scaled by.
  double neighbourCorrelation = NAN, noiseShare = NAN;
  // DEQ-Unmix only: pixels left out as anomalies, and the largest residual ratio (0: none).
  double anomalousPixels = NAN, anomalyRatio = NAN;
};

// Forward-solve statistics of the last `count` epochs.
DeqSolveStats lastEpochs(const std::vector<DeqEpochStats>& epochs, size_t count) {
  DeqSolveStats s;
  for (size_t k = epochs.size() > count ? epochs.size() - count : 0; k < epochs.size(); ++k)
    s.add(epochs[k].forward);
  return s;
}

// Matches E to the reference by SAD (metrics.h) and scores A under that matching.
Score score(const Scene& s, const std::vector<float>& E, const std::vector<float>& A) {
  const UnmixingScore u = scoreUnmixing(E, A, s.refEndmembers, s.refAbundances, s.bands, s.P,
                                        int64_t(s.height) * s.width);
  Score r;
  r.msad = u.msadRad;
  r.armse = u.armse;
  r.armseMean = u.armseMeanPerEndmember;
  return r;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const char* baselineName(const Args& a) { return a.scaledBaseline ? "VCA+NNLS/sum" : "VCA+FCLS"; }

// VCA's endmembers and the least-squares abundances DEQ-Unmix starts from
// (leastSquaresStart): FCLS, or NNLS over its sum with `scaled`.
Score runBaseline(const Scene& s, uint64_t seed, bool scaled) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t n = int64_t(s.height) * s.width;
  MatrixPixelSource source(s.cube, s.bands, n);
  VcaOptions vo;
  vo.endmembers = s.P;
  vo.seed = seed;
  const VcaResult v = vca(source, vo);
  const torch::Tensor E =
      torch::from_blob(const_cast<float*>(v.spectra.data()), {s.bands, s.P}, torch::kFloat32);
  const torch::Tensor scene = torch::from_blob(const_cast<float*>(s.cube.data()),
                                               {1, s.bands, s.height, s.width}, torch::kFloat32);
  const torch::Tensor A = leastSquaresStart(E, scene, scaled).contiguous();  // 1 x P x h x w
  Score r =
      score(s, v.spectra, std::vector<float>(A.data_ptr<float>(), A.data_ptr<float>() + A.numel()));
  r.seconds = secondsSince(t0);
  return r;
}

// The candidate settings of the endmember stage, which --endmember-stage applies as well.
void applyEndmemberStageCandidates(const Args& a, DeqTrainOptions& o) {
  if (a.clusterRadius >= 0) o.pureClusterRadiusFraction = a.clusterRadius;
  if (a.startGain >= 0) o.automaticStartBrightnessGain = a.startGain;
}

// DEQ-Unmix with DeqTrainOptions{} but P, the seed, the threads (and the candidate settings
// --epochs, --refine, --train-e when given).
Score runDeq(const Scene& s, uint64_t seed, const Args& a, std::string& refinement) {
  DeqTrainInput in;
  in.bands = s.bands;
  in.height = s.height;
  in.width = s.width;
  in.scene = s.cube;
  DeqTrainOptions o;
  o.endmembers = s.P;
  o.seed = seed;
  o.threads = a.threads;
  if (a.epochs > 0) o.epochs = a.epochs;
  if (!a.refine.empty()) o.refinement = parseEnum<EndmemberRefinement>(a.refine);
  o.trainEndmembers = o.trainEndmembers || a.trainE;
  if (a.forwardIterations > 0) o.forward.maxIterations = a.forwardIterations;
  if (a.forwardTolerance >= 0) o.forward.tolerance = a.forwardTolerance;
  if (a.coldStart) o.warmStartForward = false;
  if (a.jacobianPenalty >= 0) o.jacobianPenalty = a.jacobianPenalty;
  if (a.anchorWeight >= 0) o.network.anchorWeight = a.anchorWeight;
  applyEndmemberStageCandidates(a, o);
  if (a.alpha >= -1) o.alpha = a.alpha;
  if (!a.scaleInvariance.empty())
    o.network.scaleInvariance = parseEnum<ScaleInvariance>(a.scaleInvariance);
  if (a.whiteningSpread >= 0) o.automaticWhiteningSpread = a.whiteningSpread;
  if (a.anomalyRatio >= 0) o.anomalyResidualRatio = a.anomalyRatio;
  if (a.directionsOutside >= 0) o.automaticDirectionsOutsideMass = a.directionsOutside;
  if (a.noiseShare >= 0) o.automaticSpatialNoiseShare = a.noiseShare;
  if (a.anchorGain >= 0) o.automaticAnchorGain = a.anchorGain;
  const auto t0 = std::chrono::steady_clock::now();
  DeqInferOptions inference;
  if (a.inferIterations > 0) inference.solver.maxIterations = a.inferIterations;
  if (a.inferHistory > 0) inference.solver.history = a.inferHistory;
  const DeqTrainResult r = trainDeqUnmix(in, o, inference);
  Score d = score(s, r.model.endmembers.values, r.abundances);
  d.seconds = secondsSince(t0);
  const DeqSolveStats last = lastEpochs(r.epochs, 50);
  d.trainConverged = last.convergedFraction();
  d.trainIterations = last.meanIterations();
  d.inferConverged = r.inference.convergedFraction();
  d.inferIterations = r.inference.meanIterations();
  d.scaleInvariant = r.model.network.scaleInvariant();
  d.whitened = !r.model.bandWeights.empty();
  d.noiseSpread = r.noiseSpread;
  d.brightnessGain = r.brightnessGain;
  d.neighbourCorrelation = r.spatialCorrelation;
  d.noiseShare = r.spatialNoiseShare;
  d.anomalousPixels = double(r.anomalousPixels);
  d.anomalyRatio = r.anomalyRatio;
  refinement = toString(r.refinement);
  return d;
}

Score mean(const std::vector<Score>& v) {
  Score m;
  for (double Score::*f :
       {&Score::msad, &Score::armse, &Score::armseMean, &Score::seconds, &Score::trainConverged,
        &Score::trainIterations, &Score::inferConverged, &Score::inferIterations,
        &Score::scaleInvariant, &Score::whitened, &Score::noiseSpread, &Score::brightnessGain,
        &Score::neighbourCorrelation, &Score::noiseShare, &Score::anomalousPixels,
        &Score::anomalyRatio}) {
    m.*f = 0;
    for (const Score& s : v) m.*f += s.*f / double(v.size());
  }
  return m;
}

struct Row {
  std::string name;
  int P = 0, bands = 0;
  Score vca, deq;
};

// "mSAD, aRMSE" etc.: the metrics on which DEQ-Unmix is more than 5% above the baseline.
std::string losses(const Row& r) {
  std::string out;
  auto check = [&](const char* name, double deq, double vca) {
    if (!(deq <= 1.05 * vca)) out += std::string(out.empty() ? "" : ", ") + name;
  };
  check("mSAD", r.deq.msad, r.vca.msad);
  check("aRMSE", r.deq.armse, r.vca.armse);
  check("aRMSE/e", r.deq.armseMean, r.vca.armseMean);
  return out.empty() ? "" : "**loses** (" + out + ")";
}

void printTable(const std::vector<Row>& rows, const std::string& options, const char* baseline) {
  std::printf(
      "| scene | P | bands | mSAD %s | mSAD DEQ | aRMSE %s | aRMSE DEQ | "
      "aRMSE/e %s | aRMSE/e DEQ | DEQ train s | train conv. | train it | infer conv. | "
      "infer it | scale-inv. | whitened | DEQ loses |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      baseline, baseline, baseline);
  std::vector<Score> vca, deq;
  int lost = 0;
  for (const Row& r : rows) {
    const std::string mark = losses(r);
    lost += !mark.empty();
    std::printf(
        "| %s | %d | %d | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.1f | %.2f | %.1f | %.2f | "
        "%.1f | %.2f | %.2f | %s |\n",
        r.name.c_str(), r.P, r.bands, r.vca.msad, r.deq.msad, r.vca.armse, r.deq.armse,
        r.vca.armseMean, r.deq.armseMean, r.deq.seconds, r.deq.trainConverged,
        r.deq.trainIterations, r.deq.inferConverged, r.deq.inferIterations, r.deq.scaleInvariant,
        r.deq.whitened, mark.c_str());
    vca.push_back(r.vca);
    deq.push_back(r.deq);
  }
  const Score v = mean(vca), d = mean(deq);
  std::printf(
      "| **average** (%zu scenes) | | | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.1f | %.2f | "
      "%.1f | %.2f | %.1f | | | %d of %zu |\n",
      rows.size(), v.msad, d.msad, v.armse, d.armse, v.armseMean, d.armseMean, d.seconds,
      d.trainConverged, d.trainIterations, d.inferConverged, d.inferIterations, lost, rows.size());
  std::printf(
      "\nMeans over seeds; aRMSE = sqrt(mean over pixels and endmembers), aRMSE/e = mean of the "
      "per-endmember RMSEs (core/metrics/metrics.h); endmembers matched by SAD. DEQ-Unmix loses "
      "where a metric is more than 5%% above %s's. train conv. / train it: converged "
      "fraction and mean iterations of the training forward solves in the last 50 epochs; "
      "infer conv. / infer it: the same over the final inference's tiles; scale-inv.: the "
      "fraction of seeds whose data term was scale-invariant; whitened: the fraction whose "
      "bands were weighed by their noise. Options: %s.\n",
      baseline, options.empty() ? "none (the defaults)" : options.c_str());
}

// The endmember stage alone (no training), on the scene as training prepares it: mSAD of
// VCA's vertices, of each refinement and of the automatic choice, with the signals that
// choose (refinement.h).
struct StageRow {
  double none = 0, minVolume = 0, directions = 0, meanShift = 0, automatic = 0, excess = 0,
         outside = 0, volumeRatio = 0, normRatio = 0, minVolumeChosen = 0, brightnessGain = 0,
         brightnessShare = 0, centred = 0, vertexResidualRatio = 0, nfindrChosen = 0,
         directionsChosen = 0, directionsOutside = 0;
};

StageRow endmemberStage(const Scene& s, uint64_t seed, const Args& a) {
  DeqTrainInput in;
  in.bands = s.bands;
  in.height = s.height;
  in.width = s.width;
  in.scene = s.cube;
  DeqTrainOptions o;
  o.endmembers = s.P;
  o.seed = seed;
  applyEndmemberStageCandidates(a, o);
  // Bands whitened and anomalies left out where they apply (workingScene).
  NoiseWhitening whitening;
  std::optional<DeqTrainInput> copy;
  const TrainingData data = workingScene(in, nullptr, nullptr, o, whitening, copy);
  const EndmemberScene scene{copy ? &*copy : &in, data.raw, data.validFlat, data.validPixels};
  auto refined = [&](EndmemberRefinement r) {
    o.refinement = r;
    return initialEndmembers(scene, o, nullptr);
  };
  auto msad = [&](const torch::Tensor& E) {  // in data units: the band weights divided out
    const torch::Tensor e = (E.to(torch::kFloat32) / data.bandWeights.unsqueeze(1)).contiguous();
    const std::vector<float> v(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
    return matchEndmembers(v, s.refEndmembers, s.bands, s.P).msadRad;
  };
  const torch::Tensor vcaE = refined(EndmemberRefinement::None).endmembers;
  const torch::Tensor minVolE = refined(EndmemberRefinement::MinimumVolume).endmembers;
  const InitialEndmembers automatic = refined(EndmemberRefinement::Automatic);
  StageRow r;
  r.none = msad(vcaE);
  r.minVolume = msad(minVolE);
  r.directions = msad(refined(EndmemberRefinement::MinimumVolumeOfDirections).endmembers);
  r.meanShift = msad(refined(EndmemberRefinement::AngularMeanShift).endmembers);
  r.automatic = msad(automatic.endmembers);
  r.minVolumeChosen = automatic.refinement == EndmemberRefinement::MinimumVolume;
  r.directionsChosen = automatic.refinement == EndmemberRefinement::MinimumVolumeOfDirections;
  r.directionsOutside = automatic.directionsOutsideMass;
  r.centred = automatic.centredVertices;
  r.vertexResidualRatio = automatic.vertexResidualRatio;
  r.nfindrChosen = automatic.nfindrVertices;
  r.excess = affineModelExcess(data.validPixels, s.P);
  r.outside = outsideMass(vcaE, data.validPixels);
  r.volumeRatio = simplexVolume(minVolE) / simplexVolume(vcaE);
  r.normRatio = (minVolE.norm(2, 0) / vcaE.norm(2, 0)).min().item<double>();
  const BrightnessFit fit = brightnessFit(automatic.endmembers, data.validPixels);
  r.brightnessGain = fit.gain;
  r.brightnessShare = fit.share;
  return r;
}

void printStageTable(const std::vector<std::pair<std::string, StageRow>>& rows) {
  std::printf(
      "| scene | mSAD none | mSAD min_volume | mSAD min_volume_directions | mSAD mean_shift | "
      "mSAD auto | auto took N-FINDR | VCA / N-FINDR residual | auto chose min_volume | "
      "vertices centred | directions outside | auto chose min_volume_directions | excess | "
      "outside mass | volume ratio | least norm ratio | brightness gain | brightness share |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  StageRow mean;
  for (const auto& [name, r] : rows) {
    std::printf(
        "| %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.2f | %.3f | %.2f | %.2f | %.4f | %.2f | "
        "%.3g | %.4f | %.3f | %.3f | %.3g | %.3g |\n",
        name.c_str(), r.none, r.minVolume, r.directions, r.meanShift, r.automatic, r.nfindrChosen,
        r.vertexResidualRatio, r.minVolumeChosen, r.centred, r.directionsOutside,
        r.directionsChosen, r.excess, r.outside, r.volumeRatio, r.normRatio, r.brightnessGain,
        r.brightnessShare);
    for (double StageRow::*f : {&StageRow::none, &StageRow::minVolume, &StageRow::directions,
                                &StageRow::meanShift, &StageRow::automatic})
      mean.*f += r.*f / double(rows.size());
  }
  std::printf("| **average** | %.4f | %.4f | %.4f | %.4f | %.4f | | | | | | | | | | | | |\n",
              mean.none, mean.minVolume, mean.directions, mean.meanShift, mean.automatic);
}

int runEndmemberStage(const std::vector<SuiteScene>& scenes, const Args& a) {
  std::vector<std::pair<std::string, StageRow>> rows;
  for (const SuiteScene& spec : scenes) {
    if (!available(spec, a)) continue;
    const Scene s = load(spec, a);
    StageRow mean;
    for (int seed : a.seeds) {
      const StageRow r = endmemberStage(s, uint64_t(seed), a);
      std::fprintf(
          stderr,
          "%s seed %d: none %.4f min_volume %.4f min_volume_directions %.4f mean_shift %.4f auto "
          "%.4f (%s, min volume %s, %d centred, directions outside %.4f, %s) VCA / N-FINDR "
          "residual %.3f excess %.3g outside %.4f volume ratio %.3f least norm ratio %.3f "
          "brightness gain %.3g share %.3g\n",
          spec.name.c_str(), seed, r.none, r.minVolume, r.directions, r.meanShift, r.automatic,
          r.nfindrChosen ? "N-FINDR" : "VCA", r.minVolumeChosen ? "chosen" : "not chosen",
          int(r.centred), r.directionsOutside, r.directionsChosen ? "chosen" : "not chosen",
          r.vertexResidualRatio, r.excess, r.outside, r.volumeRatio, r.normRatio, r.brightnessGain,
          r.brightnessShare);
      for (double StageRow::*f :
           {&StageRow::none, &StageRow::minVolume, &StageRow::directions, &StageRow::meanShift,
            &StageRow::automatic, &StageRow::excess, &StageRow::outside, &StageRow::volumeRatio,
            &StageRow::normRatio, &StageRow::minVolumeChosen, &StageRow::brightnessGain,
            &StageRow::brightnessShare, &StageRow::centred, &StageRow::vertexResidualRatio,
            &StageRow::nfindrChosen, &StageRow::directionsChosen, &StageRow::directionsOutside})
        mean.*f += r.*f / double(a.seeds.size());
    }
    rows.emplace_back(spec.name, mean);
  }
  printStageTable(rows);
  return 0;
}

// ENDMEMBERS = 0: each estimator's count against the scene's P, and their mean absolute
// errors (the scenes do not depend on the seed).
int runEndmemberCount(const std::vector<SuiteScene>& scenes, const Args& a) {
  std::printf("| scene | P | HySime | HFC | NWHFC |\n|---|---|---|---|---|\n");
  double error[3] = {0, 0, 0};
  int rows = 0;
  for (const SuiteScene& spec : scenes) {
    if (!available(spec, a)) continue;
    const Scene s = load(spec, a);
    MatrixPixelSource source(s.cube, s.bands, int64_t(s.height) * s.width);
    EndmemberCountOptions co;
    if (a.falseAlarm > 0) co.falseAlarm = a.falseAlarm;
    const EndmemberCountEstimate e = estimateEndmemberCount(bandMoments(source), co);
    std::printf("| %s | %d | %d | %d | %d |\n", spec.name.c_str(), s.P, e.hysime, e.hfc, e.nwhfc);
    const int counts[3] = {e.hysime, e.hfc, e.nwhfc};
    for (int k = 0; k < 3; ++k) error[k] += std::abs(counts[k] - s.P);
    ++rows;
  }
  std::printf("| **mean absolute error** (%d scenes) | | %.2f | %.2f | %.2f |\n", rows,
              error[0] / rows, error[1] / rows, error[2] / rows);
  return 0;
}

void declare(bench::Arguments& args, Args& a) {
  args.option("--seeds", a.seeds, "S,S,...", "run seeds (VCA and DEQ-Unmix), one run each");
  args.option("--scenes", a.scenes, "LIST", "scene names or 0-based indices, comma-separated",
              "all");
  args.option("--epochs", a.epochs, "N", "training epochs", "the training default");
  args.option(
      "--refine", a.refine, "R",
      "endmember refinement: none|mean_shift|min_volume|auto|pure_clusters|min_volume_directions",
      "the training default");
  args.flag("--train-e", a.trainE, "learn the endmembers with the network");
  args.option("--fwd-iters", a.forwardIterations, "N", "training forward iteration cap",
              "the training default");
  args.option("--fwd-tol", a.forwardTolerance, "T", "training forward tolerance",
              "the training default");
  args.flag("--cold-start", a.coldStart, "start every training forward solve from FCLS");
  args.option("--jacobian", a.jacobianPenalty, "W", "Jacobian penalty weight",
              "the training default");
  args.option("--anchor", a.anchorWeight, "W", "anchor weight of the map (0 = the paper's map)",
              "the training default");
  args.option("--alpha", a.alpha, "A", "loss weight of the MSE (-1 = automatic)",
              "the training default");
  args.option("--cluster-radius", a.clusterRadius, "F",
              "pure-cluster centring radius over the angle to the nearest vertex",
              "the training default");
  args.option("--infer-iters", a.inferIterations, "N", "inference iteration cap",
              "the inference default");
  args.option("--infer-history", a.inferHistory, "M", "inference Anderson history",
              "the inference default");
  args.option("--threads", a.threads, "N", "LibTorch threads");
  args.option("--csv", a.csv, "FILE", "also write one row per scene, seed and method", "none");
  args.option("--samson", a.samson, "DIR", "folder holding the Samson files");
  args.option("--library", a.library, "CSV", "spectral library of the usgs-* scenes");
  args.flag("--endmember-count", a.endmemberCount,
            "only the endmember count: HySime, HFC and NWHFC against each scene's P");
  args.option("--false-alarm", a.falseAlarm, "F",
              "HFC and NWHFC false-alarm probability (EndmemberCountOptions::falseAlarm)",
              "the default");
  args.flag("--endmember-stage", a.endmemberStage,
            "only the endmember stage: mSAD of each refinement and the signals that choose");
  args.option("--scale-invariance", a.scaleInvariance, "S",
              "DEQ-Unmix's data term: off|on|auto (DeqNetworkOptions::scaleInvariance)",
              "the training default");
  args.option("--whitening-spread", a.whiteningSpread, "F",
              "noise spread from which the bands are weighed by their noise (0 = never, 1 = "
              "always; DeqTrainOptions::automaticWhiteningSpread)",
              "the training default");
  args.option("--anomaly-ratio", a.anomalyRatio, "F",
              "residual ratio beyond which pixels are left out as anomalies (0 = never; "
              "DeqTrainOptions::anomalyResidualRatio)",
              "the training default");
  args.option("--directions-outside", a.directionsOutside, "M",
              "outside mass of the vertices' directions beyond which the automatic refinement "
              "fits the pixels' directions (1e9 = never; "
              "DeqTrainOptions::automaticDirectionsOutsideMass)",
              "the training default");
  args.option("--noise-share", a.noiseShare, "F",
              "neighbour noise share from which the spatial prox has its full weight (0 = "
              "always; DeqTrainOptions::automaticSpatialNoiseShare)",
              "the training default");
  args.option("--anchor-gain", a.anchorGain, "G",
              "largest factor by which the anchor weight grows where noise makes a small share "
              "of the neighbours' differences (1 = never; DeqTrainOptions::automaticAnchorGain)",
              "the training default");
  args.option("--start-gain", a.startGain, "G",
              "brightness gain of the start's vertices above which the automatic refinement "
              "takes a minimum-volume simplex below the size bound (1e300 = never; "
              "DeqTrainOptions::automaticStartBrightnessGain)",
              "the training default");
  args.option("--random", a.random, "FIRST-LAST",
              "random scenes FIRST to LAST (each drawn from its number) instead of the suite",
              "none");
  args.option("--size", a.randomSize, "N", "side of the random scenes in pixels");
  args.option("--bands", a.randomBands, "N",
              "bands of the random scenes: random spectra drawn on N bands, library spectra "
              "resampled to N broad bands",
              "100, or the library's 224");
  args.option("--endmembers", a.randomEndmembers, "P",
              "materials of every random scene (the rest of each scene drawn as without it)",
              "drawn, 3 to 8");
  args.flag("--more-effects", a.moreEffects,
            "random scenes also draw uneven shares, band-dependent noise, low-SNR bands, spikes "
            "and shade");
  args.flag("--scaled-baseline", a.scaledBaseline,
            "baseline abundances from NNLS divided by their sum (VCA+NNLS/sum), not FCLS");
  args.flag("--list", a.list, "print the scenes and exit");
  args.flag("--holdout", a.holdout,
            "the held-out scenes (no default was chosen on them) instead of the suite");
}

// The CSV with its header, or null with a message where it cannot be written.
std::FILE* openCsv(const std::string& path) {
  std::FILE* csv = std::fopen(path.c_str(), "w");
  if (!csv) {
    std::fprintf(stderr, "--csv: cannot write %s\n", path.c_str());
    return nullptr;
  }
  std::fprintf(csv,
               "scene,seed,method,msad_rad,armse,armse_mean_per_endmember,seconds,refinement,"
               "train_converged,train_iterations,infer_converged,infer_iterations,"
               "scale_invariant,whitened\n");
  return csv;
}

void logRun(const std::string& scene, uint64_t seed, const char* baseline, const Score& vca,
            const Score& deq, const std::string& refinement) {
  std::fprintf(stderr,
               "%s seed %llu: %s mSAD %.4f aRMSE %.4f | DEQ mSAD %.4f aRMSE %.4f (%s, noise spread "
               "%.3g, brightness gain %.3g, anomalies %.0f of largest residual ratio %.3g, "
               "neighbour correlation %.3g, noise share %.3g, %.1f s)\n",
               scene.c_str(), (unsigned long long)seed, baseline, vca.msad, vca.armse, deq.msad,
               deq.armse, refinement.c_str(), deq.noiseSpread, deq.brightnessGain,
               deq.anomalousPixels, deq.anomalyRatio, deq.neighbourCorrelation, deq.noiseShare,
               deq.seconds);
}

void writeCsvRow(std::FILE* csv, const std::string& scene, uint64_t seed, const char* method,
                 const Score& x, const std::string& refinement) {
  std::fprintf(csv, "%s,%llu,%s,%.6f,%.6f,%.6f,%.3f,%s,%.4f,%.2f,%.4f,%.2f,%.0f,%.0f\n",
               scene.c_str(), (unsigned long long)seed, method, x.msad, x.armse, x.armseMean,
               x.seconds, refinement.c_str(), x.trainConverged, x.trainIterations, x.inferConverged,
               x.inferIterations, x.scaleInvariant, x.whitened);
  std::fflush(csv);
}

// The baseline and DEQ-Unmix on one scene for every seed, each run logged (and written to
// `csv` where not null); the row of their means. A failing run counts as NaN (and so as a
// loss) and the suite goes on.
Row runScene(const SuiteScene& spec, const Args& a, std::FILE* csv) {
  const Scene s = load(spec, a);
  const char* baseline = baselineName(a);
  std::vector<Score> vca, deq;
  for (int seedValue : a.seeds) {
    const uint64_t seed = static_cast<uint64_t>(seedValue);
    std::string refinement = "-";
    auto attempt = [&](const char* method, auto run) {
      try {
        return run();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s seed %d: %s failed: %s\n", spec.name.c_str(), seedValue, method,
                     e.what());
        return Score{};
      }
    };
    vca.push_back(attempt(baseline, [&] { return runBaseline(s, seed, a.scaledBaseline); }));
    deq.push_back(attempt("DEQ-Unmix", [&] { return runDeq(s, seed, a, refinement); }));
    logRun(spec.name, seed, baseline, vca.back(), deq.back(), refinement);
    if (csv) {
      writeCsvRow(csv, spec.name, seed, baseline, vca.back(), "-");
      writeCsvRow(csv, spec.name, seed, "DEQ-Unmix", deq.back(), refinement);
    }
  }
  return {spec.name, s.P, s.bands, mean(vca), mean(deq)};
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  bench::Arguments args("bench_suite",
                        "VCA+FCLS against DEQ-Unmix (defaults) on the issue-11 scene suite.");
  declare(args, a);
  args.parseOrExit(argc, argv);
  std::vector<SuiteScene> scenes;
  try {
    scenes = selected(allScenes(a), a.scenes);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  if (a.list) {
    const std::vector<SuiteScene> all = allScenes(a);
    for (size_t k = 0; k < all.size(); ++k) std::printf("%zu %s\n", k, all[k].name.c_str());
    return 0;
  }
  setThreadCount(a.threads);
  try {  // a candidate setting out of its range ends these modes with the core's message
    if (a.endmemberStage) return runEndmemberStage(scenes, a);
    if (a.endmemberCount) return runEndmemberCount(scenes, a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  std::FILE* csv = a.csv.empty() ? nullptr : openCsv(a.csv);
  if (!a.csv.empty() && !csv) return 2;
  std::vector<Row> rows;
  for (const SuiteScene& spec : scenes) {
    if (available(spec, a))
      rows.push_back(runScene(spec, a, csv));
    else
      std::fprintf(stderr, "%s: data not found, skipped\n", spec.name.c_str());
  }
  if (csv) std::fclose(csv);
  std::string options;
  for (const std::string& word : args.given({"--csv"}))
    options += (options.empty() ? "" : " ") + word;
  printTable(rows, options, baselineName(a));
  return 0;
}
