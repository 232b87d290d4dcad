// SLIC superpixels: exact recovery of piecewise-constant regions, boundary adherence,
// connectivity and contiguous labels, nodata, determinism, the superpixel count and the
// separate feature transform.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/errors.h"
#include "core/classical/superpixels.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

// bands x height x width scene whose pixel i has the spectrum of region[i] (random spectra
// in [0.05, 1), one per region) plus optional Gaussian noise of standard deviation `noise`.
std::vector<float> pieceWise(const std::vector<int>& region, int regions, int bands, int64_t n,
                             double noise = 0, uint64_t seed = 3) {
  test::Fixtures fx(seed);
  const std::vector<float> spectra = fx.matrix(regions, bands);
  std::vector<float> scene(size_t(bands) * n);
  for (int b = 0; b < bands; ++b)
    for (int64_t i = 0; i < n; ++i)
      scene[b * n + i] = spectra[region[i] * bands + b] + float(noise * fx.normal());
  return scene;
}

// Every label is one 4-connected region, labels are exactly 0..count-1, nodata is -1.
void expectContiguousAndConnected(const Superpixels& s) {
  const int H = s.height, W = s.width;
  std::vector<int64_t> size(s.count, 0);
  for (int32_t l : s.labels) {
    ASSERT_GE(l, -1);
    ASSERT_LT(l, s.count);
    if (l >= 0) ++size[l];
  }
  for (int l = 0; l < s.count; ++l) EXPECT_GT(size[l], 0) << "label " << l << " is unused";
  std::vector<uint8_t> seen(s.labels.size(), 0);
  std::set<int32_t> started;
  for (int64_t start = 0; start < int64_t(s.labels.size()); ++start) {
    const int32_t l = s.labels[start];
    if (l < 0 || seen[start]) continue;
    EXPECT_TRUE(started.insert(l).second) << "label " << l << " has more than one region";
    std::vector<int64_t> stack{start};
    seen[start] = 1;
    while (!stack.empty()) {
      const int64_t i = stack.back();
      stack.pop_back();
      const int r = int(i / W), q = int(i % W);
      const int64_t nb[4] = {q > 0 ? i - 1 : -1, r > 0 ? i - W : -1, q + 1 < W ? i + 1 : -1,
                             r + 1 < H ? i + W : -1};
      for (int64_t n : nb)
        if (n >= 0 && !seen[n] && s.labels[n] == l) {
          seen[n] = 1;
          stack.push_back(n);
        }
    }
  }
}

TEST(Superpixels, GridAlignedRegionsAreRecoveredExactly) {
  // 4 x 3 blocks of 12 x 12 pixels, S = 12: one superpixel per block, whatever the labels.
  const int H = 36, W = 48, L = 30, B = 12;
  std::vector<int> region(H * W);
  for (int r = 0; r < H; ++r)
    for (int c = 0; c < W; ++c) region[r * W + c] = (r / B) * (W / B) + c / B;
  const std::vector<float> scene = pieceWise(region, 12, L, H * W);
  SuperpixelOptions o;
  o.regionSize = B;
  const Superpixels s = computeSuperpixels(scene.data(), L, H, W, o);
  ASSERT_EQ(s.count, 12);
  std::vector<int> regionOf(12, -1), labelOf(12, -1);
  for (int i = 0; i < H * W; ++i) {
    const int l = s.labels[i], g = region[i];
    if (regionOf[l] < 0) regionOf[l] = g;
    if (labelOf[g] < 0) labelOf[g] = l;
    ASSERT_EQ(regionOf[l], g) << "superpixel " << l << " crosses a region boundary";
    ASSERT_EQ(labelOf[g], l) << "region " << g << " is split";
  }
  expectContiguousAndConnected(s);
}

TEST(Superpixels, IrregularRegionsAreNeverCrossed) {
  // A vertical boundary off the grid and a disc: every superpixel lies within one region,
  // also with noise far below the spectral contrast.
  const int H = 64, W = 64, L = 40;
  std::vector<int> region(H * W);
  for (int r = 0; r < H; ++r)
    for (int c = 0; c < W; ++c) {
      const double d = std::hypot(r - 40.0, c - 36.0);
      region[r * W + c] = d < 14 ? 2 : (c < 29 ? 0 : 1);
    }
  for (double noise : {0.0, 0.01}) {
    const std::vector<float> scene = pieceWise(region, 3, L, H * W, noise);
    SuperpixelOptions o;
    o.regionSize = 8;
    const Superpixels s = computeSuperpixels(scene.data(), L, H, W, o);
    std::vector<int> regionOf(s.count, -1);
    int crossings = 0;
    for (int i = 0; i < H * W; ++i) {
      int& g = regionOf[s.labels[i]];
      if (g < 0) g = region[i];
      crossings += g != region[i];
    }
    EXPECT_EQ(crossings, 0) << "noise " << noise;
    expectContiguousAndConnected(s);
  }
}

TEST(Superpixels, CountNodataAndDeterminism) {
  // A smooth two-scale pattern with noise and a nodata block.
  const int H = 96, W = 80, L = 20, S = 8;
  const int64_t N = int64_t(H) * W;
  test::Fixtures fx(11);
  std::vector<float> scene(size_t(L) * N);
  for (int b = 0; b < L; ++b)
    for (int r = 0; r < H; ++r)
      for (int c = 0; c < W; ++c)
        scene[b * N + r * W + c] =
            float(1 + 0.3 * std::sin(0.11 * r + 0.05 * b) * std::cos(0.07 * c - 0.03 * b) +
                  0.02 * fx.normal());
  for (int r = 10; r < 30; ++r)
    for (int c = 50; c < 70; ++c) scene[size_t(3) * N + r * W + c] = NAN;  // one band is enough
  SuperpixelOptions o;
  o.regionSize = S;
  const Superpixels s = computeSuperpixels(scene.data(), L, H, W, o);
  for (int r = 0; r < H; ++r)
    for (int c = 0; c < W; ++c) {
      const bool nodata = r >= 10 && r < 30 && c >= 50 && c < 70;
      ASSERT_EQ(s.labels[r * W + c] < 0, nodata) << r << ", " << c;
    }
  expectContiguousAndConnected(s);
  const double expected = double(N - 400) / (S * S);
  EXPECT_NEAR(s.count, expected, 0.15 * expected) << "count " << s.count;
  const Superpixels again = computeSuperpixels(scene.data(), L, H, W, o);
  EXPECT_EQ(again.count, s.count);
  EXPECT_EQ(again.labels, s.labels);
}

TEST(Superpixels, ScaleFreeAndDegenerateInputs) {
  const int H = 40, W = 40, L = 12;
  std::vector<int> region(H * W);
  for (int i = 0; i < H * W; ++i) region[i] = (i % W) < 17 ? 0 : 1;
  std::vector<float> scene = pieceWise(region, 2, L, H * W, 0.02);
  SuperpixelOptions o;
  o.regionSize = 6;
  const Superpixels a = computeSuperpixels(scene.data(), L, H, W, o);
  // Data units (reflectance 0-1 or 0-10000) do not change the segmentation.
  for (float& v : scene) v *= 10000.0f;
  const Superpixels b = computeSuperpixels(scene.data(), L, H, W, o);
  EXPECT_EQ(a.labels, b.labels);
  // A constant scene is a regular grid; an all-nodata scene has no superpixel.
  std::vector<float> flat(size_t(L) * H * W, 0.5f);
  EXPECT_EQ(computeSuperpixels(flat.data(), L, H, W, o).count, 49);
  std::vector<float> empty(size_t(L) * H * W, std::numeric_limits<float>::quiet_NaN());
  const Superpixels e = computeSuperpixels(empty.data(), L, H, W, o);
  EXPECT_EQ(e.count, 0);
  EXPECT_TRUE(std::all_of(e.labels.begin(), e.labels.end(), [](int32_t l) { return l == -1; }));
  o.regionSize = 0;
  test::expectThrowWith<InvalidArgument>([&] { computeSuperpixels(flat.data(), L, H, W, o); },
                                         {"region size", "at least 1"});
}

TEST(Superpixels, FeatureTransformIsSeparateAndChecked) {
  const int H = 30, W = 30, L = 12;
  std::vector<int> region(H * W);
  for (int i = 0; i < H * W; ++i) region[i] = (i % W) < 11 ? 0 : (i / W < 17 ? 1 : 2);
  const std::vector<float> scene = pieceWise(region, 3, L, H * W, 0.02);
  SuperpixelOptions o;
  o.regionSize = 5;
  // The scene's own transform is what the shorthand segments with.
  const SuperpixelFeatures f = computeSuperpixelFeatures(scene.data(), L, H, W);
  EXPECT_EQ(f.bands, L);
  EXPECT_EQ(f.components, 8);
  EXPECT_GT(f.spread, 0.0f);
  EXPECT_EQ(computeSuperpixels(scene.data(), L, H, W, f, o).labels,
            computeSuperpixels(scene.data(), L, H, W, o).labels);
  EXPECT_EQ(computeSuperpixelFeatures(scene.data(), L, H, W, 20).components, L);
  // Without valid pixels the transform is zero (and still usable).
  const std::vector<float> empty(size_t(L) * H * W, std::numeric_limits<float>::quiet_NaN());
  const SuperpixelFeatures z = computeSuperpixelFeatures(empty.data(), L, H, W);
  EXPECT_EQ(z.spread, 0.0f);
  EXPECT_EQ(computeSuperpixels(empty.data(), L, H, W, z, o).count, 0);
  // A transform of another band count, or malformed, is refused.
  test::expectThrowWith<InvalidArgument>(
      [&] { computeSuperpixels(scene.data(), L - 1, H, W, f, o); }, {"feature transform"});
  SuperpixelFeatures bad = f;
  bad.spread = std::numeric_limits<float>::quiet_NaN();
  test::expectThrowWith<InvalidArgument>([&] { computeSuperpixels(scene.data(), L, H, W, bad, o); },
                                         {"feature transform"});
  test::expectThrowWith<InvalidArgument>(
      [&] { computeSuperpixelFeatures(scene.data(), L, H, W, 0); }, {"components", "at least 1"});
}

}  // namespace
}  // namespace dequnmix
