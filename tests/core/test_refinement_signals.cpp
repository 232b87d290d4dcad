// The signals the automatic refinement reads (refinement.h), on exact small problems.
#include <torch/types.h>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "core/deq/deq_unmix.h"
#include "core/deq/scene_tensors.h"
#include "core/deq/spatial_prox.h"
#include "core/endmembers/refinement.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

// A scene's pixels (L x N) and reference endmembers (L x P) as tensors.
std::pair<torch::Tensor, torch::Tensor> pixelsAndEndmembers(const SyntheticScene& s) {
  const int64_t n = int64_t(s.width) * s.height;
  const int64_t P = s.endmembers.endmembers();
  auto tensor = [](const std::vector<float>& v, int64_t rows, int64_t cols) {
    return torch::from_blob(const_cast<float*>(v.data()), {rows, cols}, torch::kFloat).clone();
  };
  return {tensor(s.scene, s.bands, n), tensor(s.endmembers.values, s.bands, P)};
}

TEST(RefinementSignals, SimplexVolumeOfKnownSimplices) {
  // The unit right triangle in 2-D has area 1/2; lifted into 4-D and scaled by 3, 9/2.
  const torch::Tensor triangle = torch::tensor({{0.0, 1.0, 0.0}, {0.0, 0.0, 1.0}});
  EXPECT_NEAR(simplexVolume(triangle), 0.5, 1e-12);
  const torch::Tensor lifted =
      3 * torch::cat({triangle, torch::zeros({2, 3}, torch::kDouble)}, 0) + 7;
  EXPECT_NEAR(simplexVolume(lifted), 4.5, 1e-9);
  // The unit tetrahedron: 1/6.
  EXPECT_NEAR(simplexVolume(torch::tensor(
                  {{0.0, 1.0, 0.0, 0.0}, {0.0, 0.0, 1.0, 0.0}, {0.0, 0.0, 0.0, 1.0}})),
              1.0 / 6, 1e-12);
}

// Noise-free mixtures of three spectra on 30 bands, 24 x 24 pixels.
SyntheticOptions exactMixtures() {
  SyntheticOptions o;
  o.width = o.height = 24;
  o.bands = 30;
  o.endmembers = 3;
  o.snrDb = std::numeric_limits<double>::infinity();
  return o;
}

// Noise-free mixtures lie inside the true simplex (outside mass 0); vertices pulled 30%
// towards their mean leave pixels outside.
TEST(RefinementSignals, OutsideMassSeesVerticesInsideTheData) {
  const auto [Y, E] = pixelsAndEndmembers(generateSyntheticScene(exactMixtures()));
  EXPECT_LT(outsideMass(E, Y), 1e-4);
  const torch::Tensor shrunk = 0.7 * E + 0.3 * E.mean(1, true);
  EXPECT_GT(outsideMass(shrunk, Y), 0.01);
  EXPECT_NEAR(simplexVolume(shrunk) / simplexVolume(E), 0.49, 1e-3);  // 0.7^2 in 2-D
}

// Noise-free mixtures, at any brightness, lie in the cone their vertices span (residual 0);
// vertices that miss a material (the third replaced by a mixture of the first two, as VCA's
// two water vertices on a window of Samson) leave that material's share of every pixel
// outside it.
TEST(RefinementSignals, ConeResidualSeesAMissingMaterial) {
  SyntheticOptions o = exactMixtures();
  o.illumination = 0.3;
  const auto [Y, E] = pixelsAndEndmembers(generateSyntheticScene(o));
  const double energy = Y.to(torch::kDouble).pow(2).sum(0).mean().item<double>();
  EXPECT_LT(coneResidualEnergy(E, Y), 1e-9 * energy);
  torch::Tensor missing = E.clone();
  missing.select(1, 2).copy_(0.6 * E.select(1, 0) + 0.4 * E.select(1, 1));
  EXPECT_GT(coneResidualEnergy(missing, Y), 1e-4 * energy);  // 0.99e-3 measured
}

// Mixtures of three spectra at 30 dB, size x size pixels.
SyntheticOptions noisyMixtures(int size, int bands) {
  SyntheticOptions o;
  o.width = o.height = size;
  o.bands = bands;
  o.endmembers = 3;
  o.snrDb = 30;
  return o;
}

// With the true endmembers, letting each pixel's brightness scale fits one more unknown per
// pixel: about one noise variance of a linear mixture, far more where illumination scales
// whole spectra.
TEST(RefinementSignals, BrightnessFitGainIsNoiseOnLinearMixturesAndLargeUnderIllumination) {
  SyntheticOptions o = noisyMixtures(32, 30);
  auto gain = [&](double illumination) {
    o.illumination = illumination;
    const auto [Y, E] = pixelsAndEndmembers(generateSyntheticScene(o));
    return brightnessFit(E, Y).gain;
  };
  const double linear = gain(0), illuminated = gain(0.3);
  EXPECT_GT(linear, 0.5);
  EXPECT_LT(linear, 2.0);
  EXPECT_GT(illuminated, 100.0);
}

// Pure pixels s e1 of two orthonormal endmembers: FCLS fits a1 = min(1, (s + 1) / 2) of e1
// and the rest of e2, leaving (s - 1)^2 / 2 below s = 1 and (s - 1)^2 above; NNLS fits s e1
// exactly. The share is their sum over the pixels' energy; noise-free, no gain is counted.
// Under illumination the gain grows with the signal-to-noise ratio and the share does not.
TEST(RefinementSignals, BrightnessFitShareIsTheEnergyAScaleExplains) {
  const torch::Tensor E = torch::eye(6, 2, torch::kDouble);
  const std::vector<double> scales = {0.5, 0.8, 1.0, 1.2, 1.5};
  torch::Tensor Y = torch::zeros({6, int64_t(scales.size())}, torch::kDouble);
  double explained = 0, energy = 0;
  for (size_t i = 0; i < scales.size(); ++i) {
    const double s = scales[i];
    Y[0][int64_t(i)] = s;
    explained += (s < 1 ? 0.5 : 1.0) * (s - 1) * (s - 1);
    energy += s * s;
  }
  const BrightnessFit exact = brightnessFit(E, Y);
  EXPECT_NEAR(exact.share, explained / energy, 1e-7);  // 0.435 / 5.58; float abundances
  EXPECT_EQ(exact.gain, 0);

  SyntheticOptions o = noisyMixtures(32, 30);
  o.illumination = 0.3;
  auto fit = [&](double snrDb) {
    o.snrDb = snrDb;
    const auto [pixels, endmembers] = pixelsAndEndmembers(generateSyntheticScene(o));
    return brightnessFit(endmembers, pixels);
  };
  const BrightnessFit noisy = fit(20), clean = fit(40);
  EXPECT_GT(clean.gain, 30 * noisy.gain);
  EXPECT_NEAR(noisy.share, clean.share, 0.1 * clean.share);
}

// A small clip of a scene, with fewer pixels (64) than bands (200): its covariance has 137
// zero eigenvalues, which are not noise. The gain is still counted in noise variances, as on
// the whole scene (it was about 1e14 when their median was taken as the noise), and the
// affine-model test stays at its noise level.
TEST(RefinementSignals, FewerPixelsThanBandsKeepANoiseLevel) {
  const auto [Y, E] = pixelsAndEndmembers(generateSyntheticScene(noisyMixtures(8, 200)));
  const double gain = brightnessFit(E, Y).gain;
  EXPECT_GT(gain, 0.05);
  EXPECT_LT(gain, 10.0);  // the automatic threshold: the scene is a linear mixture
  const double excess = affineModelExcess(Y, 3);
  EXPECT_GT(excess, 1.0);
  EXPECT_LT(excess, 10.0);
}

// Mean angle between the columns of A and B (L x P), in order.
double meanColumnAngle(const torch::Tensor& A, const torch::Tensor& B) {
  const torch::Tensor a = A.to(torch::kDouble), b = B.to(torch::kDouble);
  const torch::Tensor c = (a * b).sum(0) / (a.norm(2, 0) * b.norm(2, 0));
  return torch::acos(torch::clamp(c, -1, 1)).mean().item<double>();
}

// Illuminated mixtures without pure pixels (each pixel's spectrum scaled by its own
// brightness): the start's vertices (the true ones pulled a fifth of the way to their mean,
// at uneven brightness, as a vertex picker's mixed pixels) lie inside the data. The pixels
// leave the simplex of sum-to-one mixtures, so the minimum-volume fit of the pixels fits
// their spread; at unit brightness they lie in the endmembers' simplex, whose vertices the fit
// of the directions recovers, each at its start's brightness along the mean pixel.
TEST(MinimumVolume, OfDirectionsRecoversIlluminatedMixturesWithoutPurePixels) {
  SyntheticOptions o = exactMixtures();
  o.width = o.height = 40;
  o.purePixels = false;
  o.maxAbundance = 0.8;
  o.illumination = 0.3;
  const auto [Y, E] = pixelsAndEndmembers(generateSyntheticScene(o));
  const torch::Tensor start =
      (0.8 * E + 0.2 * E.mean(1, true)) * torch::tensor({0.7f, 1.0f, 1.3f}).unsqueeze(0);
  const DeqTrainOptions d;
  const torch::Tensor ofPixels =
      refineEndmembersMinVolume(start, Y, d.minVolumeOutsideFraction, d.minVolumeIterations);
  const torch::Tensor ofDirections = refineEndmembersMinVolumeOfDirections(
      start, Y, d.minVolumeDarkFraction, d.minVolumeOutsideFraction, d.minVolumeIterations);
  // Measured: start 0.035 rad, the pixels' fit 0.057, the directions' 0.0099.
  const double atStart = meanColumnAngle(start, E);
  EXPECT_LT(meanColumnAngle(ofDirections, E), 0.4 * atStart);
  EXPECT_GT(meanColumnAngle(ofPixels, E), atStart);
  const torch::Tensor u = Y.mean(1) / Y.mean(1).norm();
  EXPECT_TRUE(torch::allclose(u.matmul(ofDirections), u.matmul(start), 1e-4));
}

// The training defaults (DeqTrainOptions holds them).
PureClusterOptions clusterOptions() {
  const DeqTrainOptions d;
  return {d.pureClusterRadiusFraction, d.refinementIterations, d.refinementMinPixels,
          d.pureClusterMinDensity, d.pureClusterDensityGain};
}

// Pure regions with spectral variability: a pure pixel among each material's most deviant
// tenth (a vertex picker such as VCA takes extreme pixels) is an outlier of its cluster; centring
// moves it to the cluster's centre, close to the reference.
TEST(PureClusterCentring, MovesOutlierVerticesToTheirClusterCentre) {
  const SyntheticScene s = generateSyntheticScene(test::pureRegionsUnderVariability(42));
  const auto [Y, E] = pixelsAndEndmembers(s);
  const torch::Tensor A =
      torch::from_blob(const_cast<float*>(s.abundances.data()), {3, Y.size(1)}, torch::kFloat);
  torch::Tensor start = E.clone();
  for (int p = 0; p < 3; ++p) {
    const torch::Tensor pure = torch::nonzero(A[p] == 1).reshape({-1});
    const torch::Tensor Yp = Y.index_select(1, pure);
    const torch::Tensor cosines =
        E.select(1, p).matmul(Yp) / (Yp.norm(2, 0) * E.select(1, p).norm());
    const int64_t tenthMostDeviant = cosines.argsort()[cosines.size(0) / 10].item<int64_t>();
    start.select(1, p).copy_(Yp.select(1, tenthMostDeviant));
  }
  std::vector<bool> moved;
  const torch::Tensor centred = centreOnPureClusters(start, Y, clusterOptions(), &moved);
  EXPECT_EQ(std::count(moved.begin(), moved.end(), true), 3);
  EXPECT_LT(meanColumnAngle(centred, E), 0.3 * meanColumnAngle(start, E));
}

// One pure pixel per material and mixtures crowding towards it: the densest place near a
// vertex lies among mixed pixels, so no vertex moves.
TEST(PureClusterCentring, KeepsVerticesAtIsolatedPurePixels) {
  SyntheticOptions o;
  o.width = o.height = 40;
  o.endmembers = 3;
  o.snrDb = 35;
  o.seed = 101;
  const SyntheticScene s = generateSyntheticScene(o);
  const auto [Y, E] = pixelsAndEndmembers(s);
  std::vector<bool> moved;
  const torch::Tensor kept = centreOnPureClusters(E, Y, clusterOptions(), &moved);
  EXPECT_EQ(std::count(moved.begin(), moved.end(), true), 0);
  EXPECT_TRUE(torch::equal(kept, E));
}

// neighbourStatistics against the truth. With exact endmembers the start's error is the
// noise's, so its variance over the start's neighbour semivariance is the share the two
// alternate-band starts estimate. 48 x 48 pixels, 60 bands, 4 endmembers.
TEST(RefinementSignals, NeighbourStatisticsReadNoiseAndSmoothness) {
  struct Measured {
    NeighbourStatistics estimate;
    double trueShare = 0;
  };
  auto measure = [](double smoothness, double snrDb) {
    SyntheticOptions so;
    so.width = so.height = 48;
    so.bands = 60;
    so.endmembers = 4;
    so.snrDb = snrDb;
    so.smoothness = smoothness;
    so.seed = 7;
    const SyntheticScene s = generateSyntheticScene(so);
    const auto [pixels, E] = pixelsAndEndmembers(s);
    const torch::Tensor scene = pixels.reshape({1, s.bands, 48, 48});
    const torch::Tensor start = leastSquaresStart(E, scene, false);
    const torch::Tensor truth =
        torch::from_blob(const_cast<float*>(s.abundances.data()), {1, 4, 48, 48}).clone();
    const NeighbourStatistics n =
        neighbourStatistics(E, scene, torch::ones({1, 1, 48, 48}), start, false);
    const double variance = start.var(/*dim=*/{2, 3}, /*unbiased=*/false).mean().item<double>();
    const double semivariance = (1 - n.correlation) * variance;
    return Measured{n, (start - truth).square().mean().item<double>() / semivariance};
  };
  // Abundances drawn per pixel: no correlation, and at 40 dB almost no noise in their
  // differences; at 10 dB a tenth of them.
  const Measured rough = measure(0, 40), roughNoisy = measure(0, 10);
  EXPECT_LT(std::abs(rough.estimate.correlation), 0.1);
  EXPECT_LT(rough.estimate.noiseShare, 0.01);
  EXPECT_GT(roughNoisy.estimate.noiseShare, 10 * rough.estimate.noiseShare);
  // Smooth fields (4 pixels): strongly correlated; noise makes more of their small
  // differences, as much more as the noise is stronger.
  const Measured smooth = measure(4, 40), smoothNoisy = measure(4, 10);
  EXPECT_GT(smooth.estimate.correlation, 0.9);
  EXPECT_GT(smoothNoisy.estimate.noiseShare, smooth.estimate.noiseShare);
  // Within a few tens of percent of the truth (0.75-0.99 of it measured; the constraints
  // take some noise out of the half-band starts at 10 dB).
  for (const Measured& m : {rough, roughNoisy, smooth, smoothNoisy}) {
    EXPECT_GT(m.estimate.noiseShare, 0.6 * m.trueShare);
    EXPECT_LT(m.estimate.noiseShare, 1.4 * m.trueShare);
  }
}

}  // namespace
}  // namespace dequnmix
