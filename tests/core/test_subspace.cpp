// Band moments (one streaming pass) and the SNR estimate VCA uses to pick its projection.
#include <cmath>
#include <limits>
#include <random>

#include "core/classical/subspace.h"
#include "core/classical/vca.h"
#include "core/errors.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

TEST(BandMoments, MatchADirectComputationAndSkipNodata) {
  // 3 bands x 5 pixels, band-sequential; pixel 2 is nodata.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> scene = {1, 2,  nan, 4, -1,  //
                                    0, 3,  7,   1, 2,   //
                                    5, -2, 1,   0, 3};
  const std::vector<std::vector<double>> pixels = {{1, 0, 5}, {2, 3, -2}, {4, 1, 0}, {-1, 2, 3}};
  const int L = 3;
  const double n = double(pixels.size());
  MatrixPixelSource source(scene, L, 5, /*blockPixels=*/2);
  const BandMoments m = bandMoments(source);
  EXPECT_EQ(m.bands, L);
  EXPECT_EQ(m.pixels, 4);
  ASSERT_EQ(m.mean.size(), size_t(L));
  ASSERT_EQ(m.correlation.size(), size_t(L * L));
  ASSERT_EQ(m.covariance.size(), size_t(L * L));
  std::vector<double> mean(L, 0.0);
  for (const auto& r : pixels)
    for (int a = 0; a < L; ++a) mean[a] += r[a] / n;
  for (int a = 0; a < L; ++a) {
    EXPECT_NEAR(m.mean[a], mean[a], 1e-12);
    for (int b = 0; b < L; ++b) {
      double corr = 0, cov = 0;
      for (const auto& r : pixels) {
        corr += r[a] * r[b] / n;
        cov += (r[a] - mean[a]) * (r[b] - mean[b]) / n;
      }
      EXPECT_NEAR(m.correlation[a * L + b], corr, 1e-12);
      EXPECT_NEAR(m.covariance[a * L + b], cov, 1e-12);
      EXPECT_EQ(m.covariance[a * L + b], m.covariance[b * L + a]);  // exactly symmetric
    }
  }
}

// A view serves the caller's vector itself (no copy: it sees a later change) with the same
// pixels, nodata skipped, as the source that owns a copy.
TEST(MatrixPixelSource, AViewServesTheVectorWithoutCopyingIt) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> scene = {1, 2, nan, 4, -1, 0, 3, 7, 1, 2};  // 2 bands x 5 pixels
  MatrixPixelSource owner(scene, 2, 5);
  MatrixPixelSource view = MatrixPixelSource::viewOf(scene, 2, 5);
  scene[0] = 9;
  auto pixels = [](MatrixPixelSource& source) {
    std::vector<float> values;
    std::vector<int64_t> indices;
    source.scan(
        [&](const PixelBlock& b) {
          values.insert(values.end(), b.values, b.values + b.count * 2);
          indices.insert(indices.end(), b.indices, b.indices + b.count);
        },
        nullptr);
    return std::make_pair(values, indices);
  };
  const auto [owned, ownedIndices] = pixels(owner);
  const auto [viewed, viewedIndices] = pixels(view);
  EXPECT_EQ(ownedIndices, (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(viewedIndices, ownedIndices);
  EXPECT_EQ(owned, (std::vector<float>{1, 0, 2, 3, 4, 1, -1, 2}));
  EXPECT_EQ(viewed, (std::vector<float>{9, 0, 2, 3, 4, 1, -1, 2}));
  test::expectThrowWith<InvalidArgument>([&] { MatrixPixelSource::viewOf(scene, 3, 5); },
                                         {"10 values", "3 bands x 5 pixels"});
}

TEST(BandMoments, AllNodataGivesZeros) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  MatrixPixelSource source(std::vector<float>(6, nan), 2, 3);
  const BandMoments m = bandMoments(source);
  EXPECT_EQ(m.pixels, 0);
  EXPECT_EQ(m.mean, std::vector<double>(2, 0.0));
  EXPECT_EQ(m.covariance, std::vector<double>(4, 0.0));
  test::expectThrowWith<InvalidArgument>([&] { estimateSnrDb(m, 1); }, {"no valid pixel"});
}

TEST(EstimateSnr, LargeForANoiseFreeLowRankSceneAndSameAsVca) {
  SyntheticOptions o;
  o.width = 20;
  o.height = 16;
  o.bands = 25;
  o.endmembers = 4;
  o.snrDb = std::numeric_limits<double>::infinity();
  const SyntheticScene s = generateSyntheticScene(o);
  MatrixPixelSource source(s.scene, s.bands, int64_t(s.width) * s.height);
  const double snr = estimateSnrDb(bandMoments(source), 4);
  EXPECT_GT(snr, 60.0);
  VcaOptions vo;
  vo.endmembers = 4;
  EXPECT_EQ(vca(source, vo).estimatedSnrDb, snr);  // VCA decides on this very estimate
}

TEST(EstimateSnr, LowForPureNoise) {
  const int L = 20;
  const int64_t n = 2000;
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> scene(size_t(L) * n);
  for (float& v : scene) v = noise(rng);
  MatrixPixelSource source(scene, L, n);
  EXPECT_LT(estimateSnrDb(bandMoments(source), 3), 0.0);
}

TEST(EstimateSnr, RejectsSignalDimensionsOutsideTheBands) {
  MatrixPixelSource source({1, 2, 3, 4, 5, 7}, 2, 3);
  const BandMoments m = bandMoments(source);
  test::expectThrowWith<InvalidArgument>([&] { estimateSnrDb(m, 0); }, {"signal dimension"});
  test::expectThrowWith<InvalidArgument>([&] { estimateSnrDb(m, 3); }, {"signal dimension"});
  EXPECT_NO_THROW(estimateSnrDb(m, 2));
}

}  // namespace
}  // namespace dequnmix
