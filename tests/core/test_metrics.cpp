// Metrics (core/metrics/metrics.h) against direct formulas and brute-force matching.
#include <algorithm>
#include <numeric>

#include "core/errors.h"
#include "core/metrics/metrics.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

constexpr double kPi = 3.14159265358979323846;

TEST(SpectralAngle, KnownAnglesAndStrides) {
  const std::vector<float> x = {1, 0, 0}, y = {0, 2, 0}, z = {1, 1, 0};
  EXPECT_NEAR(spectralAngle(x.data(), y.data(), 3), kPi / 2, 1e-15);
  EXPECT_NEAR(spectralAngle(x.data(), z.data(), 3), kPi / 4, 1e-15);
  EXPECT_EQ(spectralAngle(z.data(), z.data(), 3), 0.0);
  const std::vector<float> minus = {-1, 0, 0};
  EXPECT_NEAR(spectralAngle(x.data(), minus.data(), 3), kPi, 1e-15);
  // Scale invariance, and pi/2 for a zero spectrum.
  const std::vector<float> z5 = {5, 5, 0}, zero = {0, 0, 0};
  EXPECT_EQ(spectralAngle(z.data(), z5.data(), 3), 0.0);
  EXPECT_EQ(spectralAngle(z.data(), zero.data(), 3), kPi / 2);
  // Strided: columns of a 3 x 2 row-major matrix.
  const std::vector<float> m = {1, 0, 0, 1, 0, 0};
  EXPECT_NEAR(spectralAngle(m.data(), m.data() + 1, 3, 2, 2), kPi / 2, 1e-15);
}

TEST(SpectralAngle, AgreesWithArccosAndIsAccurateForTinyAngles) {
  test::Fixtures fx(21);
  for (int t = 0; t < 100; ++t) {
    const std::vector<float> a = fx.matrix(1, 30), b = fx.matrix(1, 30);
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < 30; ++i) {
      ab += double(a[i]) * b[i];
      aa += double(a[i]) * a[i];
      bb += double(b[i]) * b[i];
    }
    EXPECT_NEAR(spectralAngle(a.data(), b.data(), 30), std::acos(ab / std::sqrt(aa * bb)), 1e-12);
  }
  // (1, 0) vs (1, 1e-6): angle atan(1e-6) = 1e-6 - 3.3e-19.
  const std::vector<float> u = {1, 0}, v = {1, 1e-6f};
  EXPECT_NEAR(spectralAngle(u.data(), v.data(), 2), std::atan(double(1e-6f)), 1e-15);
}

std::vector<int> bruteForceAssignment(const std::vector<double>& cost, int n, double& best) {
  std::vector<int> perm(n), bestPerm;
  std::iota(perm.begin(), perm.end(), 0);
  best = std::numeric_limits<double>::infinity();
  do {
    double s = 0;
    for (int i = 0; i < n; ++i) s += cost[i * n + perm[i]];
    if (s < best) {
      best = s;
      bestPerm = perm;
    }
  } while (std::next_permutation(perm.begin(), perm.end()));
  return bestPerm;
}

TEST(Assignment, MatchesBruteForceUpToSeven) {
  test::Fixtures fx(22);
  for (int n = 1; n <= 7; ++n) {
    for (int t = 0; t < (n <= 5 ? 40 : 10); ++t) {
      std::vector<double> cost(n * n);
      for (double& c : cost) c = t % 4 == 0 ? fx.integer(0, 3) : fx.uniform(-5, 5);  // ties too
      double best;
      bruteForceAssignment(cost, n, best);
      const std::vector<int> got = minimumCostAssignment(cost, n);
      std::vector<int> sorted = got;
      std::sort(sorted.begin(), sorted.end());
      for (int i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i);  // a permutation
      double s = 0;
      for (int i = 0; i < n; ++i) s += cost[i * n + got[i]];
      EXPECT_NEAR(s, best, 1e-12) << "n = " << n << " trial " << t;
    }
  }
  EXPECT_TRUE(minimumCostAssignment({}, 0).empty());
  EXPECT_THROW(minimumCostAssignment({1, 2, 3}, 2), InvalidArgument);
  EXPECT_THROW(minimumCostAssignment({1, std::nan(""), 3, 4}, 2), InvalidArgument);
}

TEST(MatchEndmembers, RecoversAPermutationAndReportsAngles) {
  test::Fixtures fx(23);
  const int l = 12, p = 5;
  const std::vector<float> ref = fx.matrix(l, p);
  const std::vector<int> perm = {3, 0, 4, 1, 2};  // estimate e is reference perm[e], scaled
  std::vector<float> est(l * p);
  for (int b = 0; b < l; ++b)
    for (int e = 0; e < p; ++e) est[b * p + e] = 2.5f * ref[b * p + perm[e]];
  const EndmemberMatch m = matchEndmembers(est, ref, l, p);
  EXPECT_EQ(m.referenceOf, perm);
  for (double s : m.sadRad) EXPECT_NEAR(s, 0.0, 1e-7);
  EXPECT_NEAR(m.msadRad, 0.0, 1e-7);

  // Perturbed estimate: mSAD equals the mean of the directly computed angles.
  for (float& v : est) v *= static_cast<float>(1 + 0.05 * fx.normal());
  const EndmemberMatch m2 = matchEndmembers(est, ref, l, p);
  EXPECT_EQ(m2.referenceOf, perm);
  double mean = 0;
  for (int e = 0; e < p; ++e) {
    const double sad = spectralAngle(est.data() + e, ref.data() + perm[e], l, p, p);
    EXPECT_DOUBLE_EQ(m2.sadRad[e], sad);
    mean += sad / p;
  }
  EXPECT_NEAR(m2.msadRad, mean, 1e-15);
  EXPECT_NEAR(m2.msadDeg, mean * 180 / kPi, 1e-12);
  test::expectThrowWith<InvalidArgument>([&] { matchEndmembers(est, ref, l + 1, p); },
                                         {"same bands"});
}

TEST(AbundanceErrors, ArmseDefinitionsAndMatching) {
  test::Fixtures fx(24);
  const int p = 3, n = 500;
  std::vector<float> ref(n * p), est(n * p);
  const std::vector<int> perm = {2, 0, 1};  // estimate e approximates reference perm[e]
  for (int i = 0; i < n; ++i) {
    const auto a = fx.simplexPoint(p);
    for (int k = 0; k < p; ++k) ref[i * p + k] = static_cast<float>(a[k]);
    for (int e = 0; e < p; ++e)
      est[i * p + e] = static_cast<float>(a[perm[e]] + 0.01 * (e + 1) * fx.normal());
  }
  AbundanceErrorAccumulator acc(p);
  acc.add(est.data(), ref.data(), 200);  // in two blocks
  acc.add(est.data() + 200 * p, ref.data() + 200 * p, n - 200);
  EXPECT_EQ(acc.pixels(), n);
  EXPECT_EQ(acc.bestMatch(), perm);
  // Direct formulas.
  double total = 0;
  std::vector<double> per(p, 0);
  for (int i = 0; i < n; ++i)
    for (int e = 0; e < p; ++e) {
      const double d = double(est[i * p + e]) - ref[i * p + perm[e]];
      per[e] += d * d;
      total += d * d;
    }
  const std::vector<double> rmse = acc.rmsePerEndmember(perm);
  double meanRmse = 0;
  for (int e = 0; e < p; ++e) {
    EXPECT_NEAR(rmse[e], std::sqrt(per[e] / n), 1e-12);
    meanRmse += std::sqrt(per[e] / n) / p;
  }
  EXPECT_NEAR(acc.armse(perm), std::sqrt(total / (n * p)), 1e-12);
  EXPECT_NEAR(acc.armseMeanPerEndmember(perm), meanRmse, 1e-12);
  EXPECT_GT(acc.armse({0, 1, 2}), 5 * acc.armse(perm));
  EXPECT_THROW(acc.armse({0, 0, 1}), InvalidArgument);
  EXPECT_THROW(acc.armse({0, 1}), InvalidArgument);
}

TEST(AbundanceErrors, NodataPixelsAreSkippedAndEmptyIsAnError) {
  AbundanceErrorAccumulator acc(2);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> est = {0.5f, 0.5f, nan, nan}, ref = {1, 0, 0.2f, 0.8f};
  EXPECT_THROW(acc.armse({0, 1}), InvalidArgument);
  acc.add(est.data(), ref.data(), 2);
  EXPECT_EQ(acc.pixels(), 1);
  EXPECT_NEAR(acc.armse({0, 1}), 0.5, 1e-12);
}

TEST(ReconstructionRmse, MatchesDirectFormula) {
  test::Fixtures fx(25);
  const int l = 7, p = 3, n = 40;
  const std::vector<float> e = fx.matrix(l, p), y = fx.matrix(n, l), a = fx.matrix(n, p);
  std::vector<float> rmse(n);
  reconstructionRmse(e, l, p, y.data(), a.data(), n, rmse.data());
  for (int i = 0; i < n; ++i) {
    double s = 0;
    for (int b = 0; b < l; ++b) {
      double r = y[i * l + b];
      for (int k = 0; k < p; ++k) r -= double(e[b * p + k]) * a[i * p + k];
      s += r * r;
    }
    EXPECT_NEAR(rmse[i], std::sqrt(s / l), 1e-6);
  }
  EXPECT_THROW(reconstructionRmse(e, l, p + 1, y.data(), a.data(), n, rmse.data()),
               InvalidArgument);
}

}  // namespace
}  // namespace dequnmix

namespace dequnmix {
namespace {

TEST(ScoreUnmixing, PermutedExactEstimateScoresZeroAndErrorsShowUnderTheMatching) {
  // Reference: 3 bands x 2 endmembers, 4 pixels; the estimate swaps the endmembers.
  const std::vector<float> refE = {1, 0, 0, 1, 0.5f, 0.5f};
  const std::vector<float> refA = {1, 0, 0.25f, 0.5f, 0, 1, 0.75f, 0.5f};
  const std::vector<float> estE = {0, 1, 1, 0, 0.5f, 0.5f};
  std::vector<float> estA = {0, 1, 0.75f, 0.5f, 1, 0, 0.25f, 0.5f};
  UnmixingScore exact = scoreUnmixing(estE, estA, refE, refA, 3, 2, 4);
  EXPECT_NEAR(exact.msadRad, 0, 1e-6);
  EXPECT_NEAR(exact.armse, 0, 1e-7);
  // One abundance off by 0.4 in each endmember's map: aRMSE = sqrt(2 * 0.16 / 8) = 0.2.
  estA[0] += 0.4f;
  estA[4] -= 0.4f;
  UnmixingScore off = scoreUnmixing(estE, estA, refE, refA, 3, 2, 4);
  EXPECT_NEAR(off.armse, 0.2, 1e-6);
  EXPECT_NEAR(off.armseMeanPerEndmember, 0.2, 1e-6);
}

}  // namespace
}  // namespace dequnmix
