#include <cstring>

#include "core/errors.h"
#include "core/metrics/metrics.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

SyntheticOptions small() {
  SyntheticOptions o;
  o.width = 24;
  o.height = 20;
  o.bands = 30;
  o.endmembers = 4;
  return o;
}

bool bitwiseEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(Synthetic, DeterministicForASeed) {
  const SyntheticScene a = generateSyntheticScene(small());
  const SyntheticScene b = generateSyntheticScene(small());
  EXPECT_TRUE(bitwiseEqual(a.scene, b.scene));
  EXPECT_TRUE(bitwiseEqual(a.abundances, b.abundances));
  EXPECT_TRUE(bitwiseEqual(a.endmembers.values, b.endmembers.values));
  SyntheticOptions other = small();
  other.seed = 43;
  const SyntheticScene c = generateSyntheticScene(other);
  EXPECT_FALSE(bitwiseEqual(a.scene, c.scene));
  EXPECT_FALSE(bitwiseEqual(a.endmembers.values, c.endmembers.values));
}

TEST(Synthetic, ShapesNamesAndWavelengths) {
  const SyntheticOptions o = small();
  const SyntheticScene s = generateSyntheticScene(o);
  EXPECT_EQ(s.width, 24);
  EXPECT_EQ(s.height, 20);
  EXPECT_EQ(s.bands, 30);
  EXPECT_EQ(s.scene.size(), 30u * 480);
  EXPECT_EQ(s.abundances.size(), 4u * 480);
  EXPECT_EQ(s.endmembers.bands, 30);
  EXPECT_EQ(s.endmembers.names, defaultEndmemberNames(4));
  ASSERT_EQ(s.endmembers.wavelengths.size(), 30u);
  EXPECT_DOUBLE_EQ(s.endmembers.wavelengths.front(), 400.0);
  EXPECT_DOUBLE_EQ(s.endmembers.wavelengths.back(), 2500.0);
}

TEST(Synthetic, EndmembersInUnitIntervalAndFarApart) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SyntheticOptions o = small();
    o.seed = seed;
    o.endmembers = 6;
    o.minSpectralAngle = 0.15;
    const SyntheticScene s = generateSyntheticScene(o);
    for (float v : s.endmembers.values) {
      EXPECT_GT(v, 0.0f);
      EXPECT_LT(v, 1.0f);
    }
    for (int i = 0; i < 6; ++i)
      for (int j = i + 1; j < 6; ++j)
        EXPECT_GE(
            spectralAngle(s.endmembers.values.data() + i, s.endmembers.values.data() + j, 30, 6, 6),
            0.15);
  }
}

TEST(Synthetic, AbundancesOnSimplexCappedWithExactPurePixels) {
  SyntheticOptions o = small();
  o.maxAbundance = 0.7;
  o.snrDb = std::numeric_limits<double>::infinity();
  const SyntheticScene s = generateSyntheticScene(o);
  const int64_t n = 480;
  const int p = 4;
  std::vector<int> pureOf;  // endmember of each pure pixel found
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0, top = 0;
    int arg = 0;
    for (int e = 0; e < p; ++e) {
      const float a = s.abundances[e * n + i];
      EXPECT_GE(a, 0.0f);
      sum += a;
      if (a > top) {
        top = a;
        arg = e;
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
    if (top == 1.0) {
      pureOf.push_back(arg);
      for (int e = 0; e < p; ++e) EXPECT_EQ(s.abundances[e * n + i], e == arg ? 1.0f : 0.0f);
      // A pure pixel of a noise-free scene is exactly the endmember spectrum.
      for (int b = 0; b < o.bands; ++b) EXPECT_EQ(s.scene[b * n + i], s.endmembers.at(b, arg));
    } else {
      EXPECT_LE(top, 0.7 + 1e-6);
    }
  }
  std::sort(pureOf.begin(), pureOf.end());
  EXPECT_EQ(pureOf, (std::vector<int>{0, 1, 2, 3}));  // exactly one per endmember

  // Without pure pixels and without a cap: no pixel is exactly pure, but some are highly so.
  o.maxAbundance = 1.0;
  o.purePixels = false;
  const SyntheticScene t = generateSyntheticScene(o);
  double top = 0;
  for (float a : t.abundances) {
    EXPECT_LT(a, 1.0f);
    top = std::max(top, double(a));
  }
  EXPECT_GT(top, 0.9);
}

TEST(Synthetic, AbundancesAreSpatiallySmooth) {
  // Neighbouring pixels differ far less than random pairs do.
  SyntheticOptions o = small();
  o.purePixels = false;
  const SyntheticScene s = generateSyntheticScene(o);
  double neighbour = 0, far = 0;
  int count = 0;
  for (int r = 0; r < o.height; ++r)
    for (int c = 0; c + 1 < o.width; ++c, ++count) {
      const int i = r * o.width + c;
      const int j = ((r + 7) % o.height) * o.width + (c + 11) % o.width;
      neighbour += std::fabs(s.abundances[i] - s.abundances[i + 1]);
      far += std::fabs(s.abundances[i] - s.abundances[j]);
    }
  EXPECT_LT(neighbour, 0.3 * far);
}

TEST(Synthetic, MeasuredSnrMatchesRequest) {
  SyntheticOptions o = small();
  o.snrDb = std::numeric_limits<double>::infinity();
  const SyntheticScene clean = generateSyntheticScene(o);
  for (double snr : {10.0, 20.0, 35.0}) {
    o.snrDb = snr;
    const SyntheticScene noisy = generateSyntheticScene(o);
    // Noise changes neither the endmembers nor the abundances (independent streams).
    EXPECT_TRUE(bitwiseEqual(noisy.abundances, clean.abundances));
    EXPECT_TRUE(bitwiseEqual(noisy.endmembers.values, clean.endmembers.values));
    double signal = 0, noise = 0;
    for (size_t k = 0; k < clean.scene.size(); ++k) {
      signal += double(clean.scene[k]) * clean.scene[k];
      const double d = double(noisy.scene[k]) - clean.scene[k];
      noise += d * d;
    }
    EXPECT_NEAR(10 * std::log10(signal / noise), snr, 0.5);
  }
}

TEST(Synthetic, RejectsBadOptions) {
  using test::expectThrowWith;
  auto with = [](auto change) {
    SyntheticOptions o = small();
    change(o);
    return o;
  };
  expectThrowWith<InvalidArgument>(
      [&] { generateSyntheticScene(with([](SyntheticOptions& o) { o.width = 0; })); }, {"width"});
  expectThrowWith<InvalidArgument>(
      [&] { generateSyntheticScene(with([](SyntheticOptions& o) { o.endmembers = 1; })); },
      {"at least 2"});
  expectThrowWith<InvalidArgument>(
      [&] { generateSyntheticScene(with([](SyntheticOptions& o) { o.endmembers = 30; })); },
      {"less than the band count"});
  expectThrowWith<InvalidArgument>(
      [&] { generateSyntheticScene(with([](SyntheticOptions& o) { o.maxAbundance = 0.25; })); },
      {"(1/P, 1]"});
  expectThrowWith<InvalidArgument>(
      [&] { generateSyntheticScene(with([](SyntheticOptions& o) { o.maxAbundance = 1.01; })); },
      {"(1/P, 1]"});
  expectThrowWith<InvalidArgument>(
      [&] { generateSyntheticScene(with([](SyntheticOptions& o) { o.snrDb = std::nan(""); })); },
      {"SNR"});
  expectThrowWith<InvalidArgument>(
      [&] {
        generateSyntheticScene(with([](SyntheticOptions& o) {
          o.width = 1;
          o.height = 3;
        }));
      },
      {"pure pixels"});
  expectThrowWith<InvalidArgument>(
      [&] {
        generateSyntheticScene(with([](SyntheticOptions& o) {
          o.endmembers = 8;
          o.minSpectralAngle = 1.4;
        }));
      },
      {"minimum angle"});
}

}  // namespace
}  // namespace dequnmix
