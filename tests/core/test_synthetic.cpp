#include <cstring>
#include <fstream>
#include <set>

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

// ---------------------------------------------------------------- effects (issue 11)

SyntheticOptions noiseFree() {
  SyntheticOptions o = small();
  o.snrDb = std::numeric_limits<double>::infinity();
  return o;
}

// A small library CSV (`count` positive spectra of `bands` values, wavelengths 500..690 nm)
// written into the test's temporary folder; returns its path.
std::string writeLibrary(const std::string& name, int count, int bands, float offset = 0.05f) {
  test::Fixtures f(11);
  EndmemberTable t;
  for (int e = 0; e < count; ++e) t.names.push_back("mineral_" + std::to_string(e + 1));
  t.bands = bands;
  t.values = f.matrix(bands, count, 0.0, 0.9);
  for (float& v : t.values) v += offset;
  for (int b = 0; b < bands; ++b) t.wavelengths.push_back(500.0 + 10.0 * b);
  const std::string path = ::testing::TempDir() + "dequnmix_" + name + ".csv";
  writeEndmemberCsv(path, t);
  return path;
}

TEST(SyntheticEffects, EffectsAtStrengthZeroEqualThePlainScene) {
  const SyntheticScene plain = generateSyntheticScene(small());
  SyntheticOptions o = small();
  o.illumination = 0;
  o.illuminationSmoothness = 2;  // no effect while the strength is 0
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0;
  o.lowSnrDb = 20;  // no effect without low-SNR bands
  const SyntheticScene s = generateSyntheticScene(o);
  EXPECT_TRUE(bitwiseEqual(s.scene, plain.scene));
  EXPECT_TRUE(bitwiseEqual(s.abundances, plain.abundances));
  EXPECT_TRUE(bitwiseEqual(s.endmembers.values, plain.endmembers.values));
}

TEST(SyntheticEffects, LibraryEndmembersAreColumnsOfTheLibrary) {
  const std::string path = writeLibrary("library", 12, 20);
  const EndmemberTable library = readEndmemberCsv(path);
  SyntheticOptions o = small();  // bands = 30 is ignored: the library has 20
  o.libraryPath = path;
  o.minSpectralAngle = 0.05;
  std::set<std::vector<std::string>> draws;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    o.seed = seed;
    const SyntheticScene s = generateSyntheticScene(o);
    ASSERT_EQ(s.bands, 20);
    EXPECT_EQ(s.scene.size(), 20u * 480);
    EXPECT_EQ(s.endmembers.wavelengths, library.wavelengths);
    ASSERT_EQ(s.endmembers.endmembers(), 4);
    for (int e = 0; e < 4; ++e) {
      const auto at = std::find(library.names.begin(), library.names.end(), s.endmembers.names[e]);
      ASSERT_NE(at, library.names.end()) << s.endmembers.names[e];
      const int c = static_cast<int>(at - library.names.begin());
      for (int b = 0; b < 20; ++b) EXPECT_EQ(s.endmembers.at(b, e), library.at(b, c));
      for (int f = e + 1; f < 4; ++f)
        EXPECT_GE(
            spectralAngle(s.endmembers.values.data() + e, s.endmembers.values.data() + f, 20, 4, 4),
            0.05);
    }
    draws.insert(s.endmembers.names);
    EXPECT_TRUE(bitwiseEqual(s.scene, generateSyntheticScene(o).scene));  // deterministic
  }
  EXPECT_GT(draws.size(), 1u);  // the seed chooses the spectra
  // The abundances do not depend on where the spectra come from.
  o.libraryPath.clear();
  EXPECT_TRUE(bitwiseEqual(generateSyntheticScene(o).abundances, generateSyntheticScene([&] {
                                                                   SyntheticOptions l = o;
                                                                   l.libraryPath = path;
                                                                   return l;
                                                                 }())
                                                                     .abundances));
}

TEST(SyntheticEffects, UsgsLibraryGivesItsBandsAndNames) {
  const std::string path = std::string(DEQUNMIX_SHARED_DIR) + "/data/usgs/usgs_splib_aviris224.csv";
  if (!std::ifstream(path)) GTEST_SKIP() << "no USGS library at " << path;
  SyntheticOptions o = small();
  o.libraryPath = path;
  o.endmembers = 6;
  const SyntheticScene s = generateSyntheticScene(o);
  EXPECT_EQ(s.bands, 224);
  EXPECT_EQ(s.endmembers.wavelengths.size(), 224u);
  EXPECT_NE(s.endmembers.names.front().rfind("endmember_", 0), 0u);  // mineral names
}

TEST(SyntheticEffects, IlluminationScalesEachPixelsWholeSpectrum) {
  const SyntheticScene plain = generateSyntheticScene(noiseFree());
  SyntheticOptions o = noiseFree();
  o.illumination = 0.5;
  const SyntheticScene s = generateSyntheticScene(o);
  EXPECT_TRUE(bitwiseEqual(s.abundances, plain.abundances));
  EXPECT_TRUE(bitwiseEqual(s.endmembers.values, plain.endmembers.values));
  const int64_t n = 480;
  std::vector<double> t(n);
  double mean = 0, worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    t[i] = double(s.scene[i]) / plain.scene[i];
    mean += t[i] / n;
    for (int b = 1; b < 30; ++b)  // the same factor on every band
      worst =
          std::max(worst, std::fabs(double(s.scene[b * n + i]) / plain.scene[b * n + i] - t[i]));
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_NEAR(mean, 1.0, 1e-4);  // the factors average to one
  double var = 0, neighbour = 0, far = 0;
  for (int64_t i = 0; i < n; ++i) var += (t[i] - mean) * (t[i] - mean) / n;
  EXPECT_GT(std::sqrt(var), 0.2);  // about s = 0.5 in log units, smoothed
  for (int r = 0; r < 20; ++r)
    for (int c = 0; c + 1 < 24; ++c) {
      neighbour += std::fabs(t[r * 24 + c] - t[r * 24 + c + 1]);
      far += std::fabs(t[r * 24 + c] - t[((r + 7) % 20) * 24 + (c + 11) % 24]);
    }
  EXPECT_LT(neighbour, 0.3 * far);  // a smooth field
}

TEST(SyntheticEffects, ShadeIsAFlatDarkLastEndmember) {
  SyntheticOptions o = small();
  o.shade = 0.03;
  const SyntheticScene s = generateSyntheticScene(o);
  ASSERT_EQ(s.endmembers.endmembers(), 4);
  EXPECT_EQ(s.endmembers.names.back(), "shade");
  for (int b = 0; b < 30; ++b) EXPECT_EQ(s.endmembers.at(b, 3), 0.03f);
  for (int e = 0; e < 3; ++e)
    EXPECT_GE(
        spectralAngle(s.endmembers.values.data() + e, s.endmembers.values.data() + 3, 30, 4, 4),
        o.minSpectralAngle);
  const std::string path = writeLibrary("shade", 6, 20);
  o.libraryPath = path;
  const SyntheticScene l = generateSyntheticScene(o);
  EXPECT_EQ(l.endmembers.names.back(), "shade");
  EXPECT_EQ(l.endmembers.at(7, 3), 0.03f);
}

// Relative RMS difference between two scenes.
double relativeDifference(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, r = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    d += (double(a[k]) - b[k]) * (double(a[k]) - b[k]);
    r += double(b[k]) * b[k];
  }
  return std::sqrt(d / r);
}

TEST(SyntheticEffects, VariabilityPerturbsPixelsNotTheReference) {
  const SyntheticScene plain = generateSyntheticScene(noiseFree());
  SyntheticOptions o = noiseFree();
  std::vector<double> differences;
  for (double v : {0.2, 0.8}) {
    o.variability = v;
    const SyntheticScene s = generateSyntheticScene(o);
    EXPECT_TRUE(bitwiseEqual(s.abundances, plain.abundances));
    EXPECT_TRUE(bitwiseEqual(s.endmembers.values, plain.endmembers.values));
    differences.push_back(relativeDifference(s.scene, plain.scene));
    // A pure pixel is its endmember scaled and reshaped: the ratio varies over bands, within
    // the model's bounds (scaling exp(0.3 v z), shape 1 +- about 0.1 v per basis function).
    const int64_t n = 480;
    for (int64_t i = 0; i < n; ++i) {
      if (s.abundances[i] != 1.0f) continue;  // the pure pixel of endmember 1
      double lo = 1e9, hi = 0;
      for (int b = 0; b < 30; ++b) {
        const double ratio = s.scene[b * n + i] / s.endmembers.at(b, 0);
        lo = std::min(lo, ratio);
        hi = std::max(hi, ratio);
      }
      EXPECT_GT(hi / lo, 1.0 + 0.01 * v);
      EXPECT_LT(hi / lo, 1.0 + 2.0 * v);
    }
  }
  EXPECT_GT(differences[0], 0.01);
  EXPECT_GT(differences[1], 2.5 * differences[0]);  // stronger with v
}

TEST(SyntheticEffects, BilinearStrengthScalesTheFanTerm) {
  const SyntheticScene plain = generateSyntheticScene(noiseFree());
  SyntheticOptions o = noiseFree();
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0.25;
  const SyntheticScene s1 = generateSyntheticScene(o);
  o.nonlinearStrength = 0.5;
  const SyntheticScene s2 = generateSyntheticScene(o);
  const int64_t n = 480;
  double worstScaling = 0, worstModel = 0, largest = 0;
  for (int b = 0; b < 30; ++b)
    for (int64_t i = 0; i < n; ++i) {
      const double d1 = double(s1.scene[b * n + i]) - plain.scene[b * n + i];
      const double d2 = double(s2.scene[b * n + i]) - plain.scene[b * n + i];
      worstScaling = std::max(worstScaling, std::fabs(d2 - 2 * d1));
      double fan = 0;  // sum_{i<j} a_i a_j e_i e_j
      for (int e = 0; e < 4; ++e)
        for (int f = e + 1; f < 4; ++f)
          fan += double(plain.abundances[e * n + i]) * plain.abundances[f * n + i] *
                 plain.endmembers.at(b, e) * plain.endmembers.at(b, f);
      worstModel = std::max(worstModel, std::fabs(d2 - 0.5 * fan));
      largest = std::max(largest, d2);
    }
  EXPECT_LT(worstScaling, 2e-7);
  EXPECT_LT(worstModel, 2e-7);
  EXPECT_GT(largest, 0.01);
}

TEST(SyntheticEffects, PostNonlinearFollowsPpnmm) {
  const SyntheticScene plain = generateSyntheticScene(noiseFree());
  SyntheticOptions o = noiseFree();
  o.nonlinearity = NonlinearMixing::PostNonlinear;
  o.nonlinearStrength = 0.4;
  const SyntheticScene s = generateSyntheticScene(o);
  double worst = 0;
  for (size_t k = 0; k < s.scene.size(); ++k) {
    const double x = plain.scene[k];
    worst = std::max(worst, std::fabs(s.scene[k] - (x + 0.4 * x * x)));
  }
  EXPECT_LT(worst, 2e-7);
  EXPECT_GT(relativeDifference(s.scene, plain.scene), 0.05);
}

// Per-band noise variance of `noisy` against the noise-free `clean` scene.
std::vector<double> bandNoise(const SyntheticScene& noisy, const SyntheticScene& clean) {
  const int64_t n = static_cast<int64_t>(clean.width) * clean.height;
  std::vector<double> v(clean.bands, 0.0);
  for (int b = 0; b < clean.bands; ++b)
    for (int64_t i = 0; i < n; ++i) {
      const double d = double(noisy.scene[b * n + i]) - clean.scene[b * n + i];
      v[b] += d * d / n;
    }
  return v;
}

TEST(SyntheticEffects, BandDependentNoiseKeepsTheOverallSnr) {
  SyntheticOptions o = small();
  o.width = o.height = 64;
  o.snrDb = std::numeric_limits<double>::infinity();
  const SyntheticScene clean = generateSyntheticScene(o);
  o.snrDb = 20;
  o.noiseSpreadDb = 20;
  const SyntheticScene noisy = generateSyntheticScene(o);
  const std::vector<double> v = bandNoise(noisy, clean);
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  EXPECT_NEAR(10 * std::log10(*hi / *lo), 20.0, 1.5);  // the spread, up to sampling
  double signal = 0, noise = 0;
  for (float y : clean.scene) signal += double(y) * y;
  for (double x : v) noise += x * 64 * 64;
  EXPECT_NEAR(10 * std::log10(signal / noise), 20.0, 0.5);
  for (int b = 1; b < 30; ++b)  // smooth over bands: neighbours within a factor 1.5
    EXPECT_LT(std::fabs(std::log(v[b] / v[b - 1])), std::log(1.5)) << b;
}

TEST(SyntheticEffects, LowSnrBandsHaveTheirOwnSnr) {
  SyntheticOptions o = noiseFree();
  const SyntheticScene clean = generateSyntheticScene(o);
  o.lowSnrBands = 3;
  o.lowSnrDb = 0;
  const SyntheticScene onlyLow = generateSyntheticScene(o);  // infinite SNR elsewhere
  o.snrDb = 40;
  const SyntheticScene noisy = generateSyntheticScene(o);
  const int64_t n = 480;
  const std::vector<double> v = bandNoise(noisy, clean);
  const std::vector<double> w = bandNoise(onlyLow, clean);
  int low = 0;
  for (int b = 0; b < 30; ++b) {
    double power = 0;
    for (int64_t i = 0; i < n; ++i)
      power += double(clean.scene[b * n + i]) * clean.scene[b * n + i];
    const double snr = 10 * std::log10(power / n / v[b]);
    if (snr < 10) {
      ++low;
      EXPECT_NEAR(snr, 0.0, 1.0) << b;
      EXPECT_GT(w[b], 0.0);
    } else {
      EXPECT_GT(snr, 35.0) << b;
      EXPECT_EQ(w[b], 0.0) << b;  // untouched when the scene is otherwise noise-free
    }
  }
  EXPECT_EQ(low, 3);
}

TEST(SyntheticEffects, EveryEffectTogetherIsDeterministic) {
  SyntheticOptions o = small();
  o.libraryPath = writeLibrary("all", 10, 25);
  o.minSpectralAngle = 0.05;
  o.illumination = 0.3;
  o.shade = 0.02;
  o.variability = 0.5;
  o.nonlinearity = NonlinearMixing::Bilinear;
  o.nonlinearStrength = 0.3;
  o.noiseSpreadDb = 10;
  o.lowSnrBands = 2;
  const SyntheticScene a = generateSyntheticScene(o);
  const SyntheticScene b = generateSyntheticScene(o);
  EXPECT_TRUE(bitwiseEqual(a.scene, b.scene));
  for (float y : a.scene) EXPECT_TRUE(std::isfinite(y));
  o.seed = 43;
  EXPECT_FALSE(bitwiseEqual(a.scene, generateSyntheticScene(o).scene));
}

TEST(SyntheticEffects, PureRegionsArePurePatchesOfEveryEndmember) {
  SyntheticOptions o = small();
  o.width = o.height = 40;
  o.purePixels = false;
  o.snrDb = std::numeric_limits<double>::infinity();
  o.pureRegions = 0.3;
  o.pureRegionSize = 5;
  const SyntheticScene s = generateSyntheticScene(o);
  const int64_t N = int64_t(o.width) * o.height;
  const int P = o.endmembers;
  std::vector<int64_t> pure(P, 0);
  for (int64_t i = 0; i < N; ++i)
    for (int e = 0; e < P; ++e) pure[e] += s.abundances[e * N + i] == 1.0f;
  int64_t total = 0;
  for (int e = 0; e < P; ++e) {
    // Each endmember's patches cover about a P-th of the fraction (overlaps shave some off).
    EXPECT_GT(pure[e], 0.5 * o.pureRegions * N / P) << "endmember " << e;
    total += pure[e];
  }
  EXPECT_LE(total, int64_t(o.pureRegions * N) + P * o.pureRegionSize * o.pureRegionSize);
  // A pure pixel is the reference spectrum itself (no noise, no effect on).
  for (int64_t i = 0; i < N; ++i) {
    for (int e = 0; e < P; ++e) {
      if (s.abundances[e * N + i] != 1.0f) continue;
      for (int b = 0; b < s.bands; ++b)
        ASSERT_NEAR(s.scene[b * N + i], s.endmembers.values[b * P + e], 1e-6);
    }
  }
  // Outside the patches the abundances are those of the scene without them.
  SyntheticOptions plain = o;
  plain.pureRegions = 0;
  const SyntheticScene p = generateSyntheticScene(plain);
  for (int64_t i = 0; i < N; ++i) {
    bool inPatch = false;
    for (int e = 0; e < P; ++e) inPatch = inPatch || s.abundances[e * N + i] == 1.0f;
    for (int e = 0; e < P && !inPatch; ++e)
      ASSERT_EQ(s.abundances[e * N + i], p.abundances[e * N + i]);
  }
}

// Spikes touch exactly spikePixels pixels, a twentieth of the bands of each by the gain 6,
// and nothing else (the same scene otherwise, the same reference abundances).
TEST(SyntheticEffects, SpikesMultiplyAFewBandsOfAFewPixels) {
  SyntheticOptions o = small();
  o.bands = 40;
  const SyntheticScene plain = generateSyntheticScene(o);
  o.spikePixels = 7;
  const SyntheticScene s = generateSyntheticScene(o);
  EXPECT_TRUE(bitwiseEqual(s.abundances, plain.abundances));
  const int64_t N = int64_t(o.width) * o.height;
  int64_t spiked = 0;
  for (int64_t i = 0; i < N; ++i) {
    int changed = 0;
    for (int b = 0; b < s.bands; ++b) {
      const float y = s.scene[b * N + i], y0 = plain.scene[b * N + i];
      if (y == y0) continue;
      ++changed;
      EXPECT_FLOAT_EQ(y, float(y0 * 6.0));
    }
    if (changed > 0) {
      EXPECT_EQ(changed, 2) << "pixel " << i;  // 5% of 40 bands
    }
    spiked += changed > 0;
  }
  EXPECT_EQ(spiked, 7);
  EXPECT_TRUE(bitwiseEqual(s.scene, generateSyntheticScene(o).scene));
}

// The share ratio orders the materials' mean shares (the first covers most of the scene, the
// last is rare) and changes nothing but the abundances.
TEST(SyntheticEffects, ShareRatioMakesTheFirstMaterialDominantAndTheLastRare) {
  SyntheticOptions o = small();
  o.width = o.height = 48;
  const SyntheticScene even = generateSyntheticScene(o);
  o.shareRatio = 30;
  const SyntheticScene s = generateSyntheticScene(o);
  EXPECT_TRUE(bitwiseEqual(s.endmembers.values, even.endmembers.values));
  const int64_t N = int64_t(o.width) * o.height;
  std::vector<double> share(o.endmembers, 0.0), evenShare(o.endmembers, 0.0);
  for (int e = 0; e < o.endmembers; ++e)
    for (int64_t i = 0; i < N; ++i) {
      share[e] += s.abundances[e * N + i] / double(N);
      evenShare[e] += even.abundances[e * N + i] / double(N);
    }
  for (int e = 1; e < o.endmembers; ++e) EXPECT_LT(share[e], share[e - 1]) << "endmember " << e;
  EXPECT_GT(share[0], 0.5);  // measured 0.55, 0.26, 0.13, 0.055; even shares 0.22 to 0.28
  EXPECT_LT(share[3], 0.5 * *std::min_element(evenShare.begin(), evenShare.end()));
}

TEST(SyntheticEffects, NonlinearMixingNames) {
  for (NonlinearMixing m :
       {NonlinearMixing::None, NonlinearMixing::Bilinear, NonlinearMixing::PostNonlinear})
    EXPECT_EQ(parseNonlinearMixing(toString(m)), m);
  test::expectThrowWith<InvalidArgument>([] { parseNonlinearMixing("fan"); },
                                         {"none, bilinear or ppnmm"});
}

TEST(SyntheticEffects, RejectsBadEffectOptions) {
  using test::expectThrowWith;
  auto expectRejected = [](auto change, const std::vector<std::string>& parts) {
    SyntheticOptions o = small();
    change(o);
    expectThrowWith<InvalidArgument>([&] { generateSyntheticScene(o); }, parts);
  };
  expectRejected([](SyntheticOptions& o) { o.smoothness = -1; }, {"smoothness", "[0, 1000]"});
  expectRejected([](SyntheticOptions& o) { o.illumination = 2.5; }, {"illumination", "[0, 2]"});
  expectRejected([](SyntheticOptions& o) { o.illuminationSmoothness = -1; },
                 {"illuminationSmoothness", "[0, 1000]"});
  expectRejected([](SyntheticOptions& o) { o.shade = 0.3; }, {"shade", "[0, 0.2]"});
  expectRejected([](SyntheticOptions& o) { o.variability = -0.1; }, {"variability", "[0, 1]"});
  expectRejected([](SyntheticOptions& o) { o.nonlinearStrength = std::nan(""); },
                 {"nonlinearStrength", "[0, 1]"});
  expectRejected([](SyntheticOptions& o) { o.noiseSpreadDb = 50; }, {"noiseSpreadDb", "[0, 40]"});
  expectRejected([](SyntheticOptions& o) { o.lowSnrDb = 41; }, {"lowSnrDb", "[-10, 40]"});
  expectRejected([](SyntheticOptions& o) { o.lowSnrBands = 31; }, {"lowSnrBands", "[0, 30]"});
  expectRejected([](SyntheticOptions& o) { o.lowSnrBands = -1; }, {"lowSnrBands"});
  expectRejected([](SyntheticOptions& o) { o.pureRegions = 0.95; }, {"pureRegions", "[0, 0.9]"});
  expectRejected([](SyntheticOptions& o) { o.pureRegionSize = 0; },
                 {"pureRegionSize", "[1, 1000]"});
  expectRejected([](SyntheticOptions& o) { o.shareRatio = 0.5; }, {"shareRatio", "[1, 1000]"});
  expectRejected([](SyntheticOptions& o) { o.spikePixels = o.width * o.height + 1; },
                 {"spikePixels", "[0, width x height]"});
  const std::string few = writeLibrary("few", 3, 20);
  expectRejected([&](SyntheticOptions& o) { o.libraryPath = few; }, {"3 spectra", "fewer than"});
  const std::string negative = writeLibrary("negative", 6, 20, -0.5f);
  expectRejected([&](SyntheticOptions& o) { o.libraryPath = negative; }, {"negative"});
  expectRejected([&](SyntheticOptions& o) { o.libraryPath = writeLibrary("bands", 6, 4); },
                 {"less than the band count (4)"});
  expectThrowWith<IoError>(
      [] {
        SyntheticOptions o = small();
        o.libraryPath = ::testing::TempDir() + "no_such_library.csv";
        generateSyntheticScene(o);
      },
      {"no_such_library.csv"});
}

}  // namespace
}  // namespace dequnmix
