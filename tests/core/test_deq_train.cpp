// DEQ-Unmix training on a small synthetic scene: it lowers the loss, beats its VCA+FCLS
// start, and the saved model reproduces its abundances.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <utility>

#include "core/classical/fcls.h"
#include "core/classical/vca.h"
#include "core/deq/deq_unmix.h"
#include "core/deq/training_data.h"
#include "core/metrics/metrics.h"
#include "core/pixel_source.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

struct Scores {
  double msad = 0, armse = 0;
};

// Pixel-major copy of a band-sequential cube.
std::vector<float> pixelMajor(const std::vector<float>& cube, int channels, int64_t n) {
  std::vector<float> out(cube.size());
  for (int c = 0; c < channels; ++c)
    for (int64_t i = 0; i < n; ++i) out[i * channels + c] = cube[c * n + i];
  return out;
}

Scores score(const std::vector<float>& endmembers, const std::vector<float>& abundances,
             const SyntheticScene& s) {
  const int P = s.endmembers.endmembers();
  const int64_t n = int64_t(s.width) * s.height;
  EndmemberMatch match = matchEndmembers(endmembers, s.endmembers.values, s.bands, P);
  AbundanceErrorAccumulator acc(P);
  std::vector<float> est = pixelMajor(abundances, P, n), ref = pixelMajor(s.abundances, P, n);
  acc.add(est.data(), ref.data(), n);
  return {match.msadRad, acc.armse(match.referenceOf)};
}

// mSAD of the endmembers a training started from (after the endmember stage).
double initialMsad(const DeqTrainResult& r, const SyntheticScene& s) {
  return score(r.model.initialEndmembers.values, r.abundances, s).msad;
}

// The defaults for one epoch (seed 1, 2 threads): enough to see what the endmember stage chose.
DeqTrainOptions oneEpoch(int endmembers) {
  DeqTrainOptions o;
  o.endmembers = endmembers;
  o.seed = 1;
  o.epochs = 1;
  o.threads = 2;
  return o;
}

// The small scenes below: 32 x 32 pixels, 40 bands, three endmembers (seed 17) at `snrDb`.
SyntheticOptions smallScene(double snrDb) {
  SyntheticOptions so;
  so.width = so.height = 32;
  so.bands = 40;
  so.endmembers = 3;
  so.snrDb = snrDb;
  so.seed = 17;
  return so;
}

// A small scene with near-pure regions and, as in real scenes, a few anomalous pixels:
// for each endmember one pixel extrapolated beyond its vertex (1.3 e_p - 0.3 mean(E)).
// VCA picks such outliers as vertices; the angular mean shift moves them back to the dense
// near-pure cluster, and the DEQ is trained on that E.
SyntheticScene testScene(bool outliers = false) {
  SyntheticOptions so = smallScene(30);
  so.purePixels = true;
  SyntheticScene s = generateSyntheticScene(so);
  if (outliers) {
    const int64_t n = 32 * 32;
    const int P = 3;
    for (int p = 0; p < P; ++p) {
      const int64_t at = 40 + 300 * p;
      for (int b = 0; b < s.bands; ++b) {
        double mean = 0;
        for (int q = 0; q < P; ++q) mean += s.endmembers.at(b, q) / P;
        const double v = 1.3 * s.endmembers.at(b, p) - 0.3 * mean;
        s.scene[b * n + at] = static_cast<float>(std::max(0.01, v));
      }
      for (int q = 0; q < P; ++q) s.abundances[q * n + at] = q == p ? 1.0f : 0.0f;
    }
  }
  return s;
}

DeqTrainOptions fastOptions() {
  DeqTrainOptions o;
  o.endmembers = 3;
  o.epochs = 40;
  o.threads = 2;
  o.seed = 3;
  return o;
}

// VCA + FCLS on the same scene: the classical baseline.
Scores baseline(const SyntheticScene& s, uint64_t seed) {
  const int64_t n = int64_t(s.width) * s.height;
  const int P = s.endmembers.endmembers();
  MatrixPixelSource source(s.scene, s.bands, n);
  VcaOptions vo;
  vo.endmembers = P;
  vo.seed = seed;
  VcaResult v = vca(source, vo);
  FclsSolver fcls(v.spectra, s.bands, P);
  std::vector<float> pixels = pixelMajor(s.scene, s.bands, n), a(n * P);
  fcls.unmix(pixels.data(), n, a.data());
  std::vector<float> bandSeq(a.size());
  for (int64_t i = 0; i < n; ++i)
    for (int p = 0; p < P; ++p) bandSeq[p * n + i] = a[i * P + p];
  return score(v.spectra, bandSeq, s);
}

// The recipe for highly mixed scenes (issue 5): minimum-volume endmembers from the VCA
// start (on 3 x 3 averaged pixels) and the 3 x 3 spatial prox in the map.
DeqTrainOptions highlyMixedOptions() {
  DeqTrainOptions o = fastOptions();
  o.refinement = EndmemberRefinement::MinimumVolume;
  o.minVolumeSmoothing = 1;
  o.minVolumeOutsideFraction = 0.02;
  o.network.spatialWeight = 0.02;
  return o;
}

// Highly mixed (issue 5): no pure pixels, no abundance above 0.8, 20 dB.
SyntheticScene highlyMixedScene() {
  SyntheticOptions so = smallScene(20);
  so.maxAbundance = 0.8;
  so.purePixels = false;
  return generateSyntheticScene(so);
}

TEST(DeqTrain, LowersLossBeatsVcaFclsAndReloadsIdentically) {
  const SyntheticScene s = highlyMixedScene();
  DeqTrainOptions o = fastOptions();  // automatic refinement and alpha
  o.refinement = EndmemberRefinement::Automatic;
  o.epochs = 20;
  const Scores base = baseline(s, o.seed);
  DeqTrainResult r = trainDeqUnmix(test::trainInputOf(s), o);
  ASSERT_EQ(r.epochs.size(), 20u);
  EXPECT_LT(r.epochs.back().loss, r.epochs.front().loss);
  const Scores deq = score(r.model.endmembers.values, r.abundances, s);
  std::printf(
      "VCA+FCLS: mSAD %.4f aRMSE %.4f | DEQ-Unmix: mSAD %.4f aRMSE %.4f (loss %.4g -> %.4g)\n",
      base.msad, base.armse, deq.msad, deq.armse, r.epochs.front().loss, r.epochs.back().loss);
  // Issue 3: beats its VCA+FCLS start on both metrics by a stated margin (fixed seeds):
  // at most half of VCA+FCLS's mSAD and aRMSE. Measured: mSAD 0.0922 -> 0.0228,
  // aRMSE 0.1022 -> 0.0352 (20 epochs). The reload check below covers the spatial prox
  // weight stored in the model file.
  EXPECT_LT(deq.msad, 0.5 * base.msad);
  EXPECT_LT(deq.armse, 0.5 * base.armse);

  // Supervised mode on the scene with pure pixels (VCA's E, no prox) beats its start too.
  {
    const SyntheticScene p = testScene();
    DeqTrainInput supervised = test::trainInputOf(p);
    supervised.referenceAbundances = p.abundances;
    DeqTrainOptions so = fastOptions();
    so.refinement = EndmemberRefinement::None;
    so.epochs = 30;
    const Scores pureBase = baseline(p, so.seed);
    DeqTrainResult rs = trainDeqUnmix(supervised, so);
    const Scores sup = score(rs.model.endmembers.values, rs.abundances, p);
    std::printf("supervised DEQ-Unmix: aRMSE %.4f (VCA+FCLS %.4f)\n", sup.armse, pureBase.armse);
    EXPECT_LT(sup.armse, pureBase.armse);
  }

  // Abundances on the simplex.
  const int64_t n = 32 * 32;
  for (int64_t i = 0; i < n; i += 37) {
    double sum = 0;
    for (int p = 0; p < 3; ++p) {
      EXPECT_GE(r.abundances[p * n + i], 0.0f);
      sum += r.abundances[p * n + i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }

  // Saved and loaded: identical abundances through the same inference path.
  const std::string path = ::testing::TempDir() + "/deq_train.dequnmix";
  saveDeqModel(path, r.model);
  const DeqModel loaded = loadDeqModel(path);
  DeqInferOptions io;
  io.threads = 2;
  DeqInferResult again = unmixSceneWithDeqModel(loaded, s.scene, 32, 32, io);
  EXPECT_EQ(test::maxAbsDiff(again.abundances, r.abundances), 0.0);
  EXPECT_EQ(test::maxAbsDiff(again.residual, r.residual), 0.0);
  std::remove(path.c_str());

  // A scene with another band count is refused with the specific error.
  std::vector<float> wrong(size_t(39) * 32 * 32, 0.5f);
  EXPECT_THROW(unmixSceneWithDeqModel(loaded, wrong, 32, 32, io), BandMismatchError);
  EXPECT_THROW(checkModelBands(loaded, 39), BandMismatchError);
}

// The automatic settings read the scene. Refinement: a highly mixed linear scene (no pure
// pixels) gets the minimum-volume simplex, a scene with pure pixels keeps VCA's vertices.
// Alpha and scale invariance: the linear mixture gets the MSE-led loss and the linear data
// term; the same scene with per-pixel brightness scaling (illumination, as in real scenes)
// departs from the model and gets the authors' angle-led loss and the scale-invariant term.
TEST(DeqTrain, AutomaticSettingsFollowTheScene) {
  const SyntheticScene s = highlyMixedScene();
  DeqTrainOptions o = fastOptions();
  o.epochs = 1;
  o.refinement = EndmemberRefinement::Automatic;
  const DeqTrainResult linear = trainDeqUnmix(test::trainInputOf(s), o);
  // The noise eigenvalues of 1,024 pixels x 40 bands reach (1 + sqrt(40 / 1024))^2 = 1.43.
  EXPECT_LT(linear.affineModelExcess, 2.0);
  EXPECT_EQ(linear.refinement, EndmemberRefinement::MinimumVolume);
  // The model records the settings used, automatic ones resolved.
  auto recorded = [](const DeqTrainResult& r, const char* key, const char* value) {
    const auto& hp = r.model.hyperparameters;
    return std::find(hp.begin(), hp.end(), std::make_pair(std::string(key), std::string(value))) !=
           hp.end();
  };
  EXPECT_TRUE(recorded(linear, "refinement", "min_volume"));
  EXPECT_TRUE(recorded(linear, "alpha", "100"));
  EXPECT_LT(linear.brightnessGain, o.automaticBrightnessGain);
  EXPECT_EQ(linear.model.network.scaleInvariance, ScaleInvariance::Off);
  // The minimum-volume vertices are closer to the truth than VCA's on this scene.
  o.refinement = EndmemberRefinement::None;
  const DeqTrainResult vcaOnly = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_EQ(vcaOnly.refinement, EndmemberRefinement::None);
  EXPECT_LT(initialMsad(linear, s), 0.5 * initialMsad(vcaOnly, s));

  o.refinement = EndmemberRefinement::Automatic;
  const DeqTrainResult pure = trainDeqUnmix(test::trainInputOf(testScene()), o);
  EXPECT_EQ(pure.refinement, EndmemberRefinement::None);
  EXPECT_TRUE(recorded(pure, "refinement", "none"));

  DeqTrainInput scaled = test::trainInputOf(s);
  const int64_t n = int64_t(s.width) * s.height;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> brightness(0.7f, 1.3f);
  for (int64_t i = 0; i < n; ++i) {
    const float f = brightness(rng);
    for (int b = 0; b < s.bands; ++b) scaled.scene[b * n + i] *= f;
  }
  const DeqTrainResult real = trainDeqUnmix(scaled, o);
  EXPECT_GT(real.affineModelExcess, 10 * linear.affineModelExcess);
  EXPECT_GT(real.affineModelExcess, o.automaticExcessThreshold);
  EXPECT_TRUE(recorded(real, "alpha", "0.2"));
  EXPECT_GT(real.brightnessGain, 2 * o.automaticBrightnessGain);  // 27 noise variances
  EXPECT_EQ(real.model.network.scaleInvariance, ScaleInvariance::On);
  EXPECT_TRUE(recorded(real, "scale_invariant", "true"));
  // A setting that is not automatic is kept, and nothing is measured for it.
  o.network.scaleInvariance = ScaleInvariance::Off;
  const DeqTrainResult kept = trainDeqUnmix(scaled, o);
  EXPECT_EQ(kept.model.network.scaleInvariance, ScaleInvariance::Off);
  EXPECT_EQ(kept.brightnessGain, 0);
}

// bench_suite's scene settings with spectra from the USGS library in ../shared: 40 x 40
// pixels, the largest abundance capped at 0.8 without pure pixels. Empty where the library
// is absent (the test then skips).
std::optional<SyntheticOptions> libraryScene(int endmembers, double snrDb, bool pure,
                                             uint64_t seed) {
  const std::string library =
      std::string(DEQUNMIX_SHARED_DIR) + "/data/usgs/usgs_splib_aviris224.csv";
  if (!std::ifstream(library)) return std::nullopt;
  SyntheticOptions so;
  so.width = so.height = 40;
  so.endmembers = endmembers;
  so.snrDb = snrDb;
  so.purePixels = pure;
  so.maxAbundance = pure ? 1.0 : 0.8;
  so.seed = seed;
  so.libraryPath = library;
  return so;
}

// libraryScene under illumination 0.3 (a smooth brightness field); empty where the library
// is absent.
std::optional<SyntheticScene> illuminatedLibraryScene(int endmembers, double snrDb, bool pure,
                                                      uint64_t seed) {
  std::optional<SyntheticOptions> so = libraryScene(endmembers, snrDb, pure, seed);
  if (!so) return std::nullopt;
  so->illumination = 0.3;
  return generateSyntheticScene(*so);
}

// The spatial prox weight follows the scene: abundances drawn per pixel at 40 dB, which
// blending would blur, leave it near 0; smooth fields keep the full weight; with the option 0
// the weight is as given; bounds that cannot hold are refused.
TEST(DeqTrain, SpatialProxWeightFollowsTheScene) {
  SyntheticOptions so = smallScene(40);
  so.smoothness = 0;
  const DeqTrainInput rough = test::trainInputOf(generateSyntheticScene(so));
  DeqTrainOptions o = oneEpoch(3);
  const double full = DeqNetworkOptions{}.spatialWeight;
  const DeqTrainResult r = trainDeqUnmix(rough, o);
  EXPECT_LT(std::abs(r.spatialCorrelation), 0.15);
  EXPECT_GT(r.spatialNoiseShare, 0);
  EXPECT_LT(r.spatialNoiseShare, 0.05);
  EXPECT_LT(r.model.network.spatialWeight, 0.1 * full);
  so.smoothness = 4;
  const DeqTrainResult smooth = trainDeqUnmix(test::trainInputOf(generateSyntheticScene(so)), o);
  EXPECT_GT(smooth.spatialCorrelation, o.automaticSpatialCorrelationMax);
  EXPECT_DOUBLE_EQ(smooth.model.network.spatialWeight, full);
  o.automaticSpatialNoiseShare = 0;
  const DeqTrainResult given = trainDeqUnmix(rough, o);
  EXPECT_DOUBLE_EQ(given.model.network.spatialWeight, full);
  EXPECT_EQ(given.spatialNoiseShare, 0);
  o.automaticSpatialNoiseShare = -0.1;
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmix(rough, o); }, {"noise share"});
  o.automaticSpatialNoiseShare = 0.1;
  o.automaticSpatialCorrelationMin = o.automaticSpatialCorrelationMax;
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmix(rough, o); }, {"min < max"});
}

// The anchor weight follows the noise: at 40 dB noise makes a small share of the start's
// neighbour differences, and the anchor grows by up to automaticAnchorGain; at 10 dB it is
// as given, as it is with the gain 1; a gain below 1 is refused.
TEST(DeqTrain, AnchorWeightGrowsWhereTheNoiseIsLow) {
  DeqTrainOptions o = oneEpoch(3);
  const double given = o.network.anchorWeight;
  const DeqTrainInput clean = test::trainInputOf(generateSyntheticScene(smallScene(40)));
  const DeqTrainResult r = trainDeqUnmix(clean, o);
  ASSERT_GT(r.spatialNoiseShare, 0);
  ASSERT_LT(r.spatialNoiseShare, o.automaticSpatialNoiseShare / o.automaticAnchorGain);
  EXPECT_DOUBLE_EQ(r.model.network.anchorWeight, given * o.automaticAnchorGain);
  const DeqTrainResult noisy =
      trainDeqUnmix(test::trainInputOf(generateSyntheticScene(smallScene(10))), o);
  ASSERT_GT(noisy.spatialNoiseShare, o.automaticSpatialNoiseShare);
  EXPECT_DOUBLE_EQ(noisy.model.network.anchorWeight, given);
  o.automaticAnchorGain = 1;
  EXPECT_DOUBLE_EQ(trainDeqUnmix(clean, o).model.network.anchorWeight, given);
  o.automaticAnchorGain = 0.5;
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmix(clean, o); }, {"anchor gain"});
}

// Guard of issue 11 on one hard scene of bench_suite (usgs-p5-25db-nopure-alleffects):
// correlated USGS mineral spectra, brightness varying per pixel with a shade component,
// endmember variability, bilinear mixing, uneven noise and no pure pixels. With every
// default (300 epochs; the automatic data term is scale-invariant here), DEQ-Unmix must stay
// at least 20% below VCA+FCLS on aRMSE (the suite measured 0.1447 against 0.3461 for this
// seed; 0.2139 before the fit of the pixels' directions) and not raise the mSAD by more than 5%.
TEST(DeqTrain, DefaultsBeatVcaFclsOnAHardLibraryScene) {
  std::optional<SyntheticOptions> library = libraryScene(5, 25, false, 111);
  if (!library) GTEST_SKIP() << "no USGS library in ../shared/data/usgs";
  SyntheticOptions so = *library;
  so.illumination = 0.3;
  so.shade = 0.02;
  so.variability = 0.3;
  so.nonlinearity = NonlinearMixing::Bilinear;
  so.nonlinearStrength = 0.3;
  so.noiseSpreadDb = 10;
  so.lowSnrBands = 3;
  const SyntheticScene s = generateSyntheticScene(so);
  DeqTrainOptions o;
  o.endmembers = 5;
  o.seed = 1;
  o.threads = 2;
  const Scores base = baseline(s, o.seed);
  const DeqTrainResult r = trainDeqUnmix(test::trainInputOf(s), o);
  const Scores deq = score(r.model.endmembers.values, r.abundances, s);
  std::printf("VCA+FCLS: mSAD %.4f aRMSE %.4f | DEQ-Unmix: mSAD %.4f aRMSE %.4f\n", base.msad,
              base.armse, deq.msad, deq.armse);
  EXPECT_LT(deq.armse, 0.8 * base.armse);
  EXPECT_LT(deq.msad, 1.05 * base.msad);
}

// Pixels with spikes (a twentieth of their bands multiplied by 6, as detector glitches leave)
// lie far outside the scene's signal subspace: they are left out of the endmember stage and
// of training, which then find the endmembers of the scene without spikes, where VCA would
// take spiked pixels as vertices; unmix still unmixes them. Where more than 1% of the pixels
// are spiked, the 99th percentile is one of them and none stands out.
TEST(DeqTrain, SpikedPixelsAreLeftOutOfTheEndmemberStage) {
  SyntheticOptions so = smallScene(30);
  so.maxAbundance = 0.8;  // no pure pixels: the spikes stand out further than any vertex
  so.purePixels = false;
  const SyntheticScene clean = generateSyntheticScene(so);
  so.spikePixels = 4;
  const SyntheticScene s = generateSyntheticScene(so);
  DeqTrainOptions o = oneEpoch(3);
  const DeqTrainResult screened = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_EQ(screened.anomalousPixels, 4);
  EXPECT_GT(screened.anomalyRatio, 10 * o.anomalyResidualRatio);
  for (float a : screened.abundances) ASSERT_TRUE(std::isfinite(a));
  const DeqTrainResult reference = trainDeqUnmix(test::trainInputOf(clean), o);
  EXPECT_EQ(reference.anomalousPixels, 0);
  EXPECT_LT(reference.anomalyRatio, 2);
  o.anomalyResidualRatio = 0;
  const DeqTrainResult plain = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_EQ(plain.anomalyRatio, 0);
  const double withScreen = initialMsad(screened, s), without = initialMsad(plain, s),
               noSpikes = initialMsad(reference, clean);
  std::printf("mSAD: screened %.4f, not screened %.4f, scene without spikes %.4f\n", withScreen,
              without, noSpikes);
  EXPECT_NEAR(withScreen, noSpikes, 0.005);
  EXPECT_GT(without, 5 * withScreen);

  so.spikePixels = 40;  // 4% of the pixels
  o.anomalyResidualRatio = DeqTrainOptions().anomalyResidualRatio;
  const DeqTrainResult many = trainDeqUnmix(test::trainInputOf(generateSyntheticScene(so)), o);
  EXPECT_LT(many.anomalyRatio, o.anomalyResidualRatio);
  EXPECT_EQ(many.anomalousPixels, 0);
}

// Band-dependent noise (a 15 dB spread over the bands and four bands at 5 dB, as near a
// sensor's water-vapour bands): the automatic whitening measures the spread, trains on the
// whitened bands and keeps the weights in the model, whose unmix reproduces the training's
// abundances; without it the noisy bands lead the fits astray. A white-noise scene is left
// as it is.
SyntheticScene noisyBandScene() {
  SyntheticOptions so = smallScene(25);
  so.noiseSpreadDb = 15;
  so.lowSnrBands = 4;
  return generateSyntheticScene(so);
}

TEST(DeqTrain, NoisyBandsAreWhitened) {
  const SyntheticScene s = noisyBandScene();
  DeqTrainOptions o = oneEpoch(3);
  const DeqTrainResult whitened = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_GT(whitened.noiseSpread, o.automaticWhiteningSpread);
  ASSERT_EQ(whitened.model.bandWeights.size(), size_t(s.bands));
  DeqInferOptions io;
  io.threads = o.threads;
  EXPECT_LE(test::maxAbsDiff(unmixSceneWithDeqModel(whitened.model, s.scene, 32, 32, io).abundances,
                             whitened.abundances),
            1e-6);
  o.automaticWhiteningSpread = 0;
  const DeqTrainResult plain = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_TRUE(plain.model.bandWeights.empty());
  EXPECT_EQ(plain.noiseSpread, 0);
  const Scores w = score(whitened.model.endmembers.values, whitened.abundances, s);
  const Scores p = score(plain.model.endmembers.values, plain.abundances, s);
  std::printf("whitened: mSAD %.4f aRMSE %.4f | plain: mSAD %.4f aRMSE %.4f\n", w.msad, w.armse,
              p.msad, p.armse);
  EXPECT_LT(w.armse, 0.8 * p.armse);

  const DeqTrainResult white = trainDeqUnmix(test::trainInputOf(testScene()), oneEpoch(3));
  EXPECT_LT(white.noiseSpread, 1.5);
  EXPECT_TRUE(white.model.bandWeights.empty());

  // A duplicated band: the other copy predicts it exactly, yet its weight stays at most 3.
  DeqTrainInput twin = test::trainInputOf(s);
  std::copy_n(twin.scene.begin(), 32 * 32, twin.scene.begin() + 32 * 32);
  o.automaticWhiteningSpread = DeqTrainOptions().automaticWhiteningSpread;
  const DeqTrainResult duplicated = trainDeqUnmix(twin, o);
  ASSERT_EQ(duplicated.model.bandWeights.size(), size_t(s.bands));
  EXPECT_NEAR(duplicated.model.bandWeights[0], 3.0, 1e-9);
  EXPECT_LE(
      *std::max_element(duplicated.model.bandWeights.begin(), duplicated.model.bandWeights.end()),
      3.0 + 1e-9);
}

// Given endmembers are whitened with the scene and come back in data units.
TEST(DeqTrain, GivenEndmembersComeBackInDataUnitsFromWhitenedTraining) {
  const SyntheticScene s = noisyBandScene();
  DeqTrainInput in = test::trainInputOf(s);
  in.hasInitialEndmembers = true;
  in.initialEndmembers = s.endmembers;
  DeqTrainOptions o = oneEpoch(3);
  o.refinement = EndmemberRefinement::None;
  const DeqTrainResult r = trainDeqUnmix(in, o);
  ASSERT_FALSE(r.model.bandWeights.empty());
  const std::vector<float>& given = s.endmembers.values;
  for (const EndmemberTable* t : {&r.model.initialEndmembers, &r.model.endmembers})
    for (size_t i = 0; i < given.size(); ++i)
      EXPECT_NEAR(t->values[i], given[i], 1e-6 * std::fabs(given[i]) + 1e-9) << i;
  EXPECT_LT(score(r.model.endmembers.values, r.abundances, s).armse, 0.03);
}

// A held-out scene of bench_suite (usgs-p4-30db-pure-illum0.15): pure pixels, illumination.
// The minimum-volume simplex passes the volume and darkness bounds there, but its vertices
// still leave the pixels needing a per-pixel scale (the affine fit bent the simplex to
// brightness), so the automatic refinement refuses it; and as VCA's vertices, pure pixels,
// enclose the pixels' directions, it does not fit those either (that fit would cut into
// them: mSAD 0.021). It keeps VCA's vertices (mSAD 0.005, against 0.053).
TEST(DeqTrain, AutomaticRefinementKeepsVcaWhereBrightnessBendsTheSimplex) {
  std::optional<SyntheticOptions> library = libraryScene(4, 30, true, 201);
  if (!library) GTEST_SKIP() << "no USGS library in ../shared/data/usgs";
  SyntheticOptions so = *library;
  so.illumination = 0.15;
  const SyntheticScene s = generateSyntheticScene(so);
  const DeqTrainOptions o = oneEpoch(4);
  const DeqTrainResult r = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_GT(std::pow(r.volumeRatio, 1.0 / 3), o.automaticSizeRatioMin);
  EXPECT_EQ(r.refinement, EndmemberRefinement::None);
  EXPECT_LT(initialMsad(r, s), 0.01);
}

// The suite scene usgs-p5-20db-nopure-illum: five library spectra, no pure pixels,
// illumination 0.3. VCA's vertices lie inside the data, and the minimum-volume simplex of the
// pixels fits the brightness spread (mSAD 0.19); that of their directions halves VCA's error
// (bench_suite --endmember-stage, seed 1: 0.128 -> 0.064).
TEST(DeqTrain, AutomaticRefinementFitsTheDirectionsWhereBrightnessVaries) {
  const std::optional<SyntheticScene> scene = illuminatedLibraryScene(5, 20, false, 107);
  if (!scene) GTEST_SKIP() << "no USGS library in ../shared/data/usgs";
  const SyntheticScene& s = *scene;
  DeqTrainOptions o = oneEpoch(5);
  const DeqTrainResult automatic = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_EQ(automatic.refinement, EndmemberRefinement::MinimumVolumeOfDirections);
  o.refinement = EndmemberRefinement::None;
  const DeqTrainResult vca = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_LT(initialMsad(automatic, s), 0.6 * initialMsad(vca, s));
}

// The scene of the test above in other units (reflectance in per mille, or a radiance-like
// 1e-3): every automatic choice and every fit (VCA, the minimum-volume fit of the directions
// by Adam, training) sees the same scene, so the endmembers come back in the scene's units
// and the abundances are the same, within the solvers' tolerance-bound stops.
TEST(DeqTrain, TheScenesUnitsChangeNothingButTheEndmembersScale) {
  const std::optional<SyntheticScene> scene = illuminatedLibraryScene(5, 20, false, 107);
  if (!scene) GTEST_SKIP() << "no USGS library in ../shared/data/usgs";
  const DeqTrainOptions o = oneEpoch(5);
  const DeqTrainResult plain = trainDeqUnmix(test::trainInputOf(*scene), o);
  for (const float unit : {1e3f, 1e-3f}) {
    DeqTrainInput in = test::trainInputOf(*scene);
    for (float& v : in.scene) v *= unit;
    const DeqTrainResult r = trainDeqUnmix(in, o);
    EXPECT_EQ(r.refinement, plain.refinement) << unit;
    EXPECT_EQ(r.model.network.scaleInvariance, plain.model.network.scaleInvariance) << unit;
    EXPECT_NEAR(r.model.network.spatialWeight, plain.model.network.spatialWeight, 1e-6) << unit;
    EXPECT_NEAR(r.model.network.anchorWeight, plain.model.network.anchorWeight, 1e-6) << unit;
    std::vector<float> endmembers = r.model.endmembers.values;
    for (float& v : endmembers) v /= unit;
    EXPECT_ALL_NEAR(endmembers, plain.model.endmembers.values, 1e-4) << unit;
    EXPECT_ALL_NEAR(r.abundances, plain.abundances, 5e-4) << unit;
  }
}

// Four library spectra at 20 dB under illumination 0.3 (seed 2, 40 x 40): the noise hides
// most of what a per-pixel brightness explains (6.5 noise variances per pixel, under the
// gain threshold 10), but it is 2.8e-4 of the pixels' energy, so the data term is
// scale-invariant. aRMSE after one epoch 0.136, with the linear term 0.222.
TEST(DeqTrain, ScaleInvariantWhereBrightnessVariesUnderNoise) {
  const std::optional<SyntheticScene> scene = illuminatedLibraryScene(4, 20, true, 2);
  if (!scene) GTEST_SKIP() << "no USGS library in ../shared/data/usgs";
  const SyntheticScene& s = *scene;
  DeqTrainOptions o = oneEpoch(4);
  const DeqTrainResult automatic = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_LT(automatic.brightnessGain, o.automaticBrightnessGain);
  EXPECT_GT(automatic.brightnessGain, o.automaticBrightnessShareGain);
  EXPECT_GT(automatic.brightnessShare, o.automaticBrightnessShare);
  EXPECT_EQ(automatic.model.network.scaleInvariance, ScaleInvariance::On);
  o.network.scaleInvariance = ScaleInvariance::Off;
  const DeqTrainResult linear = trainDeqUnmix(test::trainInputOf(s), o);
  const double armse = score(automatic.model.endmembers.values, automatic.abundances, s).armse;
  EXPECT_LT(armse, 0.75 * score(linear.model.endmembers.values, linear.abundances, s).armse);
  EXPECT_LT(armse, 0.75 * baseline(s, o.seed).armse);
}

// Five library spectra at 30 dB with one pure pixel each (synthesize's defaults, seed 21).
// VCA misses a pure pixel and takes a mixture inside the data: pixels lie beyond its facets,
// and a per-pixel brightness explains hundreds of noise variances per pixel. The
// minimum-volume simplex is barely larger (size 1.03 x), too little to say that the scene
// lacks pure pixels, but it explains the pixels as sum-to-one mixtures: it is taken, with the
// linear data term. aRMSE after one epoch 0.016, VCA+FCLS 0.029; before, with VCA's vertices
// fitted as directions and the scale-invariant term, 0.082.
TEST(DeqTrain, AutomaticRefinementTakesTheMinimumVolumeWhereTheStartLeavesPixelsOutside) {
  std::optional<SyntheticOptions> library = libraryScene(5, 30, true, 21);
  if (!library) GTEST_SKIP() << "no USGS library in ../shared/data/usgs";
  SyntheticOptions so = *library;
  so.width = so.height = 64;
  const SyntheticScene s = generateSyntheticScene(so);
  const DeqTrainOptions o = oneEpoch(5);
  const DeqTrainResult automatic = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_LT(std::pow(automatic.volumeRatio, 1.0 / 4), o.automaticSizeRatioMin);
  EXPECT_EQ(automatic.refinement, EndmemberRefinement::MinimumVolume);
  EXPECT_LT(automatic.brightnessGain, o.automaticBrightnessGain);
  EXPECT_EQ(automatic.model.network.scaleInvariance, ScaleInvariance::Off);
  const Scores base = baseline(s, o.seed);
  EXPECT_LT(score(automatic.model.endmembers.values, automatic.abundances, s).armse,
            0.6 * base.armse);
}

// The held-out scene rand-p10-25db-nopure-64px of bench_suite: ten materials, no pure pixels.
// The minimum-volume simplex is 10x VCA's volume there but only 1.3x its size, and halves the
// endmember error; a bound on the volume ratio (5, as before) refused it.
TEST(DeqTrain, AutomaticRefinementTakesTheMinimumVolumeSimplexForManyEndmembers) {
  SyntheticOptions so;
  so.width = so.height = 64;
  so.bands = 100;
  so.endmembers = 10;
  so.snrDb = 25;
  so.purePixels = false;
  so.maxAbundance = 0.8;
  so.seed = 218;
  const SyntheticScene s = generateSyntheticScene(so);
  DeqTrainOptions o = oneEpoch(10);
  const DeqTrainResult automatic = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_EQ(automatic.refinement, EndmemberRefinement::MinimumVolume);
  EXPECT_GT(automatic.volumeRatio, 5);
  o.refinement = EndmemberRefinement::None;
  const DeqTrainResult vca = trainDeqUnmix(test::trainInputOf(s), o);
  // Measured (bench_suite --endmember-stage --holdout, seed 1): mSAD 0.0922 -> 0.0476.
  EXPECT_LT(initialMsad(automatic, s), 0.7 * initialMsad(vca, s));
}

// The held-out scene usgs-p12-30db-regions0.2-illum0.2-64px of bench_suite: twelve library
// spectra in pure regions under illumination. VCA's vertices miss materials there (mSAD
// 0.15 on every seed); N-FINDR's largest simplex leaves far less of the scene outside its
// cone and holds them (0.023).
TEST(DeqTrain, AutomaticRefinementStartsFromNfindrWhereVcaMissesAMaterial) {
  std::optional<SyntheticOptions> library = libraryScene(12, 30, true, 217);
  if (!library) GTEST_SKIP() << "no USGS library in ../shared/data/usgs";
  SyntheticOptions so = *library;
  so.width = so.height = 64;
  so.pureRegions = 0.2;
  so.illumination = 0.2;
  const SyntheticScene s = generateSyntheticScene(so);
  const DeqTrainOptions o = oneEpoch(12);
  const DeqTrainResult automatic = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_TRUE(automatic.nfindrVertices);
  EXPECT_GT(automatic.vertexResidualRatio, o.automaticNfindrResidualRatio);
  EXPECT_LT(initialMsad(automatic, s), 0.3 * baseline(s, o.seed).msad);  // VCA's vertices
}

// Pure regions under spectral variability (40 dB): the spectra vary per pixel, VCA's extreme
// pixels are outliers of their materials' clusters, and the automatic refinement centres
// them, closer to the truth than VCA's vertices.
TEST(DeqTrain, AutomaticRefinementCentresVerticesOnPureRegions) {
  const SyntheticScene s = generateSyntheticScene(test::pureRegionsUnderVariability(7));
  DeqTrainOptions o = oneEpoch(3);
  const DeqTrainResult centred = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_EQ(centred.refinement, EndmemberRefinement::PureClusters);
  EXPECT_GT(centred.centredVertices, 0);
  o.refinement = EndmemberRefinement::None;
  const DeqTrainResult vca = trainDeqUnmix(test::trainInputOf(s), o);
  // Measured (scene seeds 7, 8, 9): mSAD 0.0356 -> 0.0105, 0.0393 -> 0.0089, 0.0278 -> 0.0108.
  EXPECT_LT(initialMsad(centred, s), 0.7 * initialMsad(vca, s));
}

TEST(DeqTrain, SuperpixelProxTrainsAndReloadsIdentically) {
  const SyntheticScene s = highlyMixedScene();
  DeqTrainOptions o = highlyMixedOptions();
  o.epochs = 5;
  o.network.spatialProx = "superpixel";
  o.network.superpixelSize = 5;
  DeqTrainResult r = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_EQ(r.model.network.spatialProx, "superpixel");
  const int64_t n = 32 * 32;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int p = 0; p < 3; ++p) {
      ASSERT_GE(r.abundances[p * n + i], 0.0f);
      sum += r.abundances[p * n + i];
    }
    ASSERT_NEAR(sum, 1.0, 1e-5);
  }
  const std::string path = ::testing::TempDir() + "/deq_superpixel.dequnmix";
  saveDeqModel(path, r.model);
  const DeqModel loaded = loadDeqModel(path);
  std::remove(path.c_str());
  EXPECT_EQ(loaded.network.spatialProx, "superpixel");
  EXPECT_EQ(loaded.network.superpixelSize, 5);
  DeqInferOptions io;
  io.threads = 2;
  DeqInferResult again = unmixSceneWithDeqModel(loaded, s.scene, 32, 32, io);
  EXPECT_EQ(test::maxAbsDiff(again.abundances, r.abundances), 0.0);
  EXPECT_EQ(test::maxAbsDiff(again.residual, r.residual), 0.0);
  // The same model as a neighbourhood prox gives other abundances: the kind is used.
  DeqModel neighbourhood = loaded;
  neighbourhood.weights.erase(
      std::remove_if(neighbourhood.weights.begin(), neighbourhood.weights.end(),
                     [](const DeqTensor& t) {
                       return t.name == "spatial_prox" || t.name.rfind("superpixel_", 0) == 0;
                     }),
      neighbourhood.weights.end());
  neighbourhood.network.spatialProx = "neighbourhood";
  DeqInferResult other = unmixSceneWithDeqModel(neighbourhood, s.scene, 32, 32, io);
  EXPECT_GT(test::maxAbsDiff(other.abundances, r.abundances), 1e-4);
  // Tiles smaller than the scene segment their own windows (16 + 2 x halo pixels), in the
  // training scene's feature space stored in the model, so windows differ from the whole
  // scene where their edges cut superpixels (a band along the tile edges, up to 0.27 there)
  // and little elsewhere. Measured max abs difference / mean: halo 4: 0.27 / 0.0051; halo 8:
  // 0.21 / 0.0031; halo 16, where every window is the whole 32 x 32 scene: 0 / 0.
  auto tiledDifference = [&](const DeqModel& m, int halo) {
    io.tileSize = 16;
    io.halo = halo;
    DeqInferResult tiled = unmixSceneWithDeqModel(m, s.scene, 32, 32, io);
    double meanDiff = 0;
    for (size_t i = 0; i < tiled.abundances.size(); ++i)
      meanDiff += std::fabs(tiled.abundances[i] - r.abundances[i]);
    meanDiff /= double(tiled.abundances.size());
    const double maxDiff = test::maxAbsDiff(tiled.abundances, r.abundances);
    std::printf(
        "superpixel prox, %s transform, tiles 16 + halo %d against the whole scene: max abs "
        "diff %.3g, mean %.3g\n",
        &m == &loaded ? "stored" : "per-window", halo, maxDiff, meanDiff);
    return std::make_pair(maxDiff, meanDiff);
  };
  EXPECT_LT(tiledDifference(loaded, 4).second, 0.008);
  EXPECT_LT(tiledDifference(loaded, 8).second, 0.005);
  EXPECT_EQ(tiledDifference(loaded, 16).first, 0.0);
  // A file without the transform (saved before it was stored) still runs, each window in
  // its own feature space, so superpixels differ throughout the windows: halo 4 measured
  // max 0.30, mean 0.014.
  DeqModel older = loaded;
  const size_t stored = older.weights.size();
  older.weights.erase(std::remove_if(older.weights.begin(), older.weights.end(),
                                     [](const DeqTensor& t) {
                                       return t.name == "superpixel_mean" ||
                                              t.name == "superpixel_basis" ||
                                              t.name == "superpixel_spread";
                                     }),
                      older.weights.end());
  ASSERT_EQ(older.weights.size() + 3, stored);
  EXPECT_LT(tiledDifference(older, 4).second, 0.03);

  o.network.superpixelSize = 1;
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmix(test::trainInputOf(s), o); },
                                         {"superpixel size", "2..1000"});
}

TEST(DeqTrain, SupervisedNodataAndGradientModes) {
  SyntheticScene s = testScene();
  DeqTrainInput in = test::trainInputOf(s);
  in.referenceAbundances = s.abundances;
  const int64_t n = 32 * 32;
  for (int b = 0; b < s.bands; ++b) in.scene[b * n + 5 * 32 + 7] = NAN;  // one nodata pixel
  DeqTrainOptions o = fastOptions();
  o.epochs = 8;
  for (DeqGradientMode mode :
       {DeqGradientMode::Implicit, DeqGradientMode::Phantom, DeqGradientMode::Unrolled}) {
    o.gradient = mode;
    DeqTrainResult r = trainDeqUnmix(in, o);
    EXPECT_TRUE(r.model.summary.supervised);
    EXPECT_LT(r.epochs.back().abundanceMse, r.epochs.front().abundanceMse) << toString(mode);
    EXPECT_TRUE(std::isnan(r.abundances[5 * 32 + 7]));
    EXPECT_TRUE(std::isnan(r.residual[5 * 32 + 7]));
    EXPECT_TRUE(std::isfinite(r.abundances[5 * 32 + 8]));
    EXPECT_GT(r.epochs.back().forward.iterations, 0);
    if (mode == DeqGradientMode::Implicit) {
      EXPECT_GT(r.epochs.back().backward.iterations, 0);
    }
  }
}

// Starting each backward solve at the previous step's solution changes where the solve
// starts, not what it solves: at a tight backward tolerance both runs take the same steps.
TEST(DeqTrain, BackwardWarmStartChangesOnlyWhereTheSolveStarts) {
  const DeqTrainInput in = test::trainInputOf(testScene());
  DeqTrainOptions o = fastOptions();
  o.epochs = 6;
  o.refinement = EndmemberRefinement::None;
  o.backward = DeqSolverOptions::limited(400, 1e-7);
  const DeqTrainResult warm = trainDeqUnmix(in, o);
  o.warmStartBackward = false;
  const DeqTrainResult cold = trainDeqUnmix(in, o);
  ASSERT_EQ(warm.epochs.size(), cold.epochs.size());
  EXPECT_EQ(warm.epochs.front().backward.iterations, cold.epochs.front().backward.iterations);
  for (size_t e = 0; e < warm.epochs.size(); ++e)
    EXPECT_NEAR(warm.epochs[e].loss, cold.epochs[e].loss, 1e-5 * cold.epochs[e].loss) << e;
  ASSERT_EQ(warm.abundances.size(), cold.abundances.size());
  for (size_t i = 0; i < warm.abundances.size(); ++i)
    ASSERT_NEAR(warm.abundances[i], cold.abundances[i], 1e-4) << i;
}

TEST(DeqTrain, TilesWhenOverTheMemoryBudget) {
  const SyntheticScene s = testScene();
  DeqTrainOptions o = fastOptions();
  o.epochs = 5;
  o.memoryBudgetMiB = 0.5;
  o.tileSize = 16;
  o.tilesPerStep = 2;
  DeqTrainResult r = trainDeqUnmix(test::trainInputOf(s), o);
  EXPECT_TRUE(r.model.summary.tiled);
  // 1024 pixels in steps of 2 x 16 x 16: two steps per epoch, each one solve per tile batch.
  EXPECT_EQ(r.epochs.back().forward.solves, 2);
}

TEST(DeqTrain, BadInputAndCancel) {
  const SyntheticScene s = testScene();
  DeqTrainOptions o = fastOptions();
  o.epochs = 0;
  EXPECT_THROW(trainDeqUnmix(test::trainInputOf(s), o), InvalidArgument);
  o.epochs = 3;
  DeqTrainInput tiny = test::trainInputOf(s);
  tiny.height = tiny.width = 4;
  tiny.scene.resize(size_t(s.bands) * 16);
  EXPECT_THROW(trainDeqUnmix(tiny, o), InvalidArgument);
  DeqTrainInput badRef = test::trainInputOf(s);
  badRef.referenceAbundances.assign(10, 0.f);
  EXPECT_THROW(trainDeqUnmix(badRef, o), InvalidArgument);
  DeqTrainInput badE = test::trainInputOf(s);
  badE.hasInitialEndmembers = true;
  badE.initialEndmembers = s.endmembers;
  badE.initialEndmembers.bands = 39;
  EXPECT_THROW(trainDeqUnmix(badE, o), InvalidArgument);

  struct CancelAfter : ProgressSink {
    int calls = 0;
    void setProgress(double f) override {
      if (f > 0.1) ++calls;
    }
    bool isCanceled() const override { return calls > 0; }
  } cancel;
  o.epochs = 50;
  EXPECT_THROW(trainDeqUnmix(test::trainInputOf(s), o, {}, &cancel), Canceled);
}

}  // namespace
}  // namespace dequnmix

namespace dequnmix {
namespace {

// Serves a scene held here window by window and records the largest window read.
class WindowCountingReader final : public DeqTileReader {
 public:
  explicit WindowCountingReader(const SyntheticScene& s) : s_(s) {}
  void read(int row, int col, int rows, int cols, float* values) override {
    largestWindow = std::max<int64_t>(largestWindow, int64_t(rows) * cols);
    ++reads;
    const int64_t n = int64_t(s_.height) * s_.width;
    for (int b = 0; b < s_.bands; ++b)
      for (int r = 0; r < rows; ++r)
        std::copy_n(s_.scene.data() + b * n + int64_t(row + r) * s_.width + col, cols,
                    values + (int64_t(b) * rows + r) * cols);
  }
  int64_t largestWindow = 0, reads = 0;

 private:
  const SyntheticScene& s_;
};

// A scene read only in tile windows trains a model that unmixes about as well as one
// trained with the scene in memory on the same tiles.
TEST(DeqTrainStreamed, ReadsOnlyTileWindowsAndUnmixesLikeInMemoryTiles) {
  SyntheticOptions so;
  so.width = so.height = 64;
  so.bands = 30;
  so.endmembers = 3;
  so.snrDb = 30;
  so.maxAbundance = 0.9;
  so.seed = 23;
  const SyntheticScene s = generateSyntheticScene(so);
  DeqTrainOptions o;
  o.endmembers = 3;
  o.epochs = 8;
  o.seed = 2;
  o.threads = 2;
  o.tileSize = 16;
  o.memoryBudgetMiB = 2;  // the sample: an eighth, 256 KiB = 8 of the 16 tiles of 30 KiB
  WindowCountingReader reader(s);
  DeqTrainInput info = test::trainInputOf(s);
  info.scene.clear();
  const DeqTrainResult streamed = trainDeqUnmixStreamed(reader, info, o);
  EXPECT_LE(reader.largestWindow, 16 * 16);
  EXPECT_TRUE(streamed.abundances.empty());
  ASSERT_EQ(int(streamed.epochs.size()), o.epochs);
  const DeqTrainResult inMemory = trainDeqUnmix(test::trainInputOf(s), o);
  const DeqInferResult unmixed = unmixSceneWithDeqModel(streamed.model, s.scene, s.height, s.width);
  const Scores a = score(streamed.model.endmembers.values, unmixed.abundances, s);
  const Scores b = score(inMemory.model.endmembers.values, inMemory.abundances, s);
  std::printf("streamed: mSAD %.4f aRMSE %.4f; in memory: mSAD %.4f aRMSE %.4f; %lld reads\n",
              a.msad, a.armse, b.msad, b.armse, (long long)reader.reads);
  // Measured: aRMSE 0.0194 against 0.0184; VCA on half of the tiles finds endmembers 0.0121
  // rad off against 0.0061 on all of them.
  EXPECT_LT(a.armse, 1.25 * b.armse + 0.005);
  EXPECT_LT(a.msad, 0.03);
  // A linear mixture whose capped abundances pile up beside each single pure pixel: the
  // automatic refinement must not centre a vertex on the pile (bench/README.md,
  // "Pure-cluster centring").
  EXPECT_EQ(inMemory.centredVertices, 0);

  DeqTrainOptions superpixel = o;
  superpixel.network.spatialProx = "superpixel";
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmixStreamed(reader, info, superpixel); },
                                         {"superpixel", "budget"});
  DeqTrainInput supervised = info;
  supervised.referenceAbundances = s.abundances;
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmixStreamed(reader, supervised, o); },
                                         {"supervised", "budget"});
}

// A streamed scene takes its band weights from the sample and whitens every tile it reads
// (the reader's windows are in data units): as in memory, far better than unweighted.
TEST(DeqTrainStreamed, WhitensTheTilesItReads) {
  const SyntheticScene s = noisyBandScene();
  DeqTrainOptions o = oneEpoch(3);
  o.tileSize = 16;
  o.memoryBudgetMiB = 1;
  WindowCountingReader reader(s);
  DeqTrainInput info = test::trainInputOf(s);
  info.scene.clear();
  const DeqTrainResult streamed = trainDeqUnmixStreamed(reader, info, o);
  EXPECT_LE(reader.largestWindow, 16 * 16);
  ASSERT_EQ(streamed.model.bandWeights.size(), size_t(s.bands));
  o.automaticWhiteningSpread = 0;
  const DeqTrainResult plain = trainDeqUnmix(test::trainInputOf(s), o);
  const Scores w = score(streamed.model.endmembers.values,
                         unmixSceneWithDeqModel(streamed.model, s.scene, 32, 32).abundances, s);
  const Scores p = score(plain.model.endmembers.values, plain.abundances, s);
  std::printf("streamed, whitened: aRMSE %.4f | in memory, plain: aRMSE %.4f\n", w.armse, p.armse);
  EXPECT_LT(w.armse, 0.5 * p.armse);
}

// A streamed training's tiles leave out the pixels its sample's anomaly screen left out: with
// the whole scene as the tile, exactly those.
TEST(DeqTrainStreamed, LeavesTheAnomaliesOutOfTheTilesItReads) {
  SyntheticOptions so = smallScene(30);
  so.maxAbundance = 0.8;
  so.purePixels = false;
  so.spikePixels = 4;
  const SyntheticScene s = generateSyntheticScene(so);
  const DeqTrainInput in = test::trainInputOf(s);
  const TrainingData data = trainingScene(in);  // views in's scene
  const AnomalyScreen screen = screenAnomalies(data, 3, DeqTrainOptions(), nullptr);
  ASSERT_EQ(screen.pixels.size(), 4u);
  torch::Tensor tile = data.raw.clone();
  maskAnomalies(screen, torch::ones({s.bands}), tile);
  const torch::Tensor left = tile.isnan().all(0).reshape({-1}).nonzero().reshape({-1});
  EXPECT_EQ(std::vector<int64_t>(left.data_ptr<int64_t>(), left.data_ptr<int64_t>() + left.numel()),
            screen.pixels);
  EXPECT_EQ(tile.isnan().sum().item<int64_t>(), 4 * s.bands);
}

}  // namespace
}  // namespace dequnmix
