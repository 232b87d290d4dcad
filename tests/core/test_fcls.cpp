// FCLS against a brute-force oracle: the constrained minimiser is the best, over all
// supports S, of the equality-constrained least-squares solution on S that is feasible
// (all entries >= 0). Small random problems make the enumeration (2^P supports) cheap.
#include <torch/types.h>

#include "core/classical/fcls.h"
#include "core/classical/fcls_ops.h"
#include "core/errors.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

// Solves the square system M x = r (row-major, n x n) by Gaussian elimination with
// partial pivoting; returns false when singular.
bool solveDense(std::vector<double> m, std::vector<double> r, int n, std::vector<double>& x) {
  for (int c = 0; c < n; ++c) {
    int piv = c;
    for (int i = c + 1; i < n; ++i)
      if (std::fabs(m[i * n + c]) > std::fabs(m[piv * n + c])) piv = i;
    if (std::fabs(m[piv * n + c]) < 1e-300) return false;
    for (int k = 0; k < n; ++k) std::swap(m[c * n + k], m[piv * n + k]);
    std::swap(r[c], r[piv]);
    for (int i = c + 1; i < n; ++i) {
      const double f = m[i * n + c] / m[c * n + c];
      for (int k = c; k < n; ++k) m[i * n + k] -= f * m[c * n + k];
      r[i] -= f * r[c];
    }
  }
  x.assign(n, 0);
  for (int i = n - 1; i >= 0; --i) {
    double s = r[i];
    for (int k = i + 1; k < n; ++k) s -= m[i * n + k] * x[k];
    x[i] = s / m[i * n + i];
  }
  return true;
}

double objective(const std::vector<float>& e, int l, int p, const float* y, const double* a) {
  double s = 0;
  for (int b = 0; b < l; ++b) {
    double r = -static_cast<double>(y[b]);
    for (int i = 0; i < p; ++i) r += static_cast<double>(e[b * p + i]) * a[i];
    s += r * r;
  }
  return s;
}

// Brute force over supports: KKT system [E_S^T E_S 1; 1^T 0] [z; nu] = [E_S^T y; 1].
std::vector<double> bruteForceFcls(const std::vector<float>& e, int l, int p, const float* y) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<double> bestA(p, 0);
  for (int mask = 1; mask < (1 << p); ++mask) {
    std::vector<int> s;
    for (int i = 0; i < p; ++i)
      if (mask & (1 << i)) s.push_back(i);
    const int k = static_cast<int>(s.size());
    std::vector<double> m((k + 1) * (k + 1), 0), r(k + 1, 0), z;
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j < k; ++j)
        for (int b = 0; b < l; ++b)
          m[i * (k + 1) + j] += static_cast<double>(e[b * p + s[i]]) * e[b * p + s[j]];
      for (int b = 0; b < l; ++b) r[i] += static_cast<double>(e[b * p + s[i]]) * y[b];
      m[i * (k + 1) + k] = m[k * (k + 1) + i] = 1;
    }
    r[k] = 1;
    if (!solveDense(m, r, k + 1, z)) continue;
    bool feasible = true;
    for (int i = 0; i < k; ++i) feasible = feasible && z[i] >= -1e-12;
    if (!feasible) continue;
    std::vector<double> a(p, 0);
    for (int i = 0; i < k; ++i) a[s[i]] = std::max(z[i], 0.0);
    const double f = objective(e, l, p, y, a.data());
    if (f < best) {
      best = f;
      bestA = a;
    }
  }
  return bestA;
}

struct Problem {
  int l, p;
  std::vector<float> e;
  std::vector<float> y;  // n x l
  std::vector<std::vector<double>> truth;
};

Problem randomProblem(test::Fixtures& fx, int n, double noise, bool offSimplex) {
  Problem pr;
  pr.l = fx.integer(5, 20);
  pr.p = fx.integer(2, std::min(7, pr.l - 1));
  pr.e = fx.matrix(pr.l, pr.p);
  pr.y.resize(static_cast<size_t>(n) * pr.l);
  for (int i = 0; i < n; ++i) {
    const auto a = fx.simplexPoint(pr.p, fx.integer(0, pr.p - 1));
    pr.truth.push_back(a);
    for (int b = 0; b < pr.l; ++b) {
      double v = 0;
      for (int k = 0; k < pr.p; ++k) v += pr.e[b * pr.p + k] * a[k];
      // Off-simplex pixels: scaled and shifted, so many constraints are active.
      if (offSimplex) v = fx.uniform(0.3, 2.0) * v + fx.uniform(-0.3, 0.3);
      pr.y[static_cast<size_t>(i) * pr.l + b] = static_cast<float>(v + noise * fx.normal());
    }
  }
  return pr;
}

TEST(Fcls, MatchesBruteForceOverSupports) {
  test::Fixtures fx(11);
  int pixels = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const int n = 20;
    const Problem pr = randomProblem(fx, n, trial % 2 ? 0.05 : 0.0, trial % 3 == 0);
    const FclsSolver solver(pr.e, pr.l, pr.p);
    std::vector<float> a(static_cast<size_t>(n) * pr.p);
    solver.unmix(pr.y.data(), n, a.data());
    for (int i = 0; i < n; ++i, ++pixels) {
      const float* y = &pr.y[static_cast<size_t>(i) * pr.l];
      const std::vector<double> oracle = bruteForceFcls(pr.e, pr.l, pr.p, y);
      std::vector<double> got(a.begin() + i * pr.p, a.begin() + (i + 1) * pr.p);
      EXPECT_ALL_NEAR(got, oracle, 1e-6) << "trial " << trial << " pixel " << i;
      double sum = 0;
      for (double v : got) {
        EXPECT_GE(v, 0.0);
        sum += v;
      }
      EXPECT_NEAR(sum, 1.0, 1e-6);
      // The objective is no worse than the oracle's (to float rounding of a).
      const double fo = objective(pr.e, pr.l, pr.p, y, oracle.data());
      const double fg = objective(pr.e, pr.l, pr.p, y, got.data());
      EXPECT_LE(fg, fo + 1e-6 * (1 + fo));
    }
  }
  EXPECT_EQ(pixels, 1200);
}

TEST(Fcls, RecoversExactAbundancesOnNoiseFreeData) {
  test::Fixtures fx(12);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 50;
    const Problem pr = randomProblem(fx, n, 0.0, false);
    std::vector<float> a(static_cast<size_t>(n) * pr.p);
    FclsSolver(pr.e, pr.l, pr.p).unmix(pr.y.data(), n, a.data());
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < pr.p; ++k) EXPECT_NEAR(a[i * pr.p + k], pr.truth[i][k], 1e-5);
  }
}

TEST(Fcls, ConstraintsHoldOnLargeBatchesAndThreadingDoesNotMatter) {
  test::Fixtures fx(13);
  const int n = 5000;
  const Problem pr = randomProblem(fx, n, 0.2, true);
  const FclsSolver solver(pr.e, pr.l, pr.p);
  std::vector<float> batch(static_cast<size_t>(n) * pr.p), single(pr.p);
  solver.unmix(pr.y.data(), n, batch.data());
  for (int i = 0; i < n; ++i) {
    double sum = 0;
    for (int k = 0; k < pr.p; ++k) {
      EXPECT_GE(batch[i * pr.p + k], 0.0f);
      sum += batch[i * pr.p + k];
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
    if (i % 97 == 0) {
      solver.unmix(&pr.y[static_cast<size_t>(i) * pr.l], 1, single.data());
      for (int k = 0; k < pr.p; ++k) EXPECT_EQ(single[k], batch[i * pr.p + k]);
    }
  }
}

TEST(Fcls, ScaleOfTheDataDoesNotMatter) {
  // Raw digital numbers (x 10000) give the same abundances as reflectances.
  test::Fixtures fx(14);
  const int n = 200;
  Problem pr = randomProblem(fx, n, 0.03, true);
  std::vector<float> a(static_cast<size_t>(n) * pr.p), b(a.size());
  FclsSolver(pr.e, pr.l, pr.p).unmix(pr.y.data(), n, a.data());
  for (float& v : pr.e) v *= 10000;
  for (float& v : pr.y) v *= 10000;
  FclsSolver(pr.e, pr.l, pr.p).unmix(pr.y.data(), n, b.data());
  EXPECT_ALL_NEAR(a, b, 1e-5);
}

TEST(Fcls, CollinearEndmembersStillGiveAFeasibleOptimum) {
  // Endmembers 0 and 2 identical: the split between them is arbitrary, the fit is not.
  test::Fixtures fx(15);
  const int l = 8, p = 3, n = 100;
  std::vector<float> e = fx.matrix(l, p);
  for (int b = 0; b < l; ++b) e[b * p + 2] = e[b * p + 0];
  std::vector<float> y(static_cast<size_t>(n) * l), a(static_cast<size_t>(n) * p);
  for (float& v : y) v = static_cast<float>(fx.uniform(0, 1));
  FclsSolver(e, l, p).unmix(y.data(), n, a.data());
  for (int i = 0; i < n; ++i) {
    std::vector<double> got(a.begin() + i * p, a.begin() + (i + 1) * p);
    const std::vector<double> oracle = bruteForceFcls(e, l, p, &y[static_cast<size_t>(i) * l]);
    double sum = 0;
    for (double v : got) {
      EXPECT_GE(v, 0.0);
      sum += v;
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
    const double fo = objective(e, l, p, &y[static_cast<size_t>(i) * l], oracle.data());
    const double fg = objective(e, l, p, &y[static_cast<size_t>(i) * l], got.data());
    EXPECT_LE(fg, fo + 1e-6 * (1 + fo));
  }
}

TEST(Fcls, NonFinitePixelGivesNanOthersUnaffected) {
  test::Fixtures fx(16);
  const int l = 6, p = 3;
  const std::vector<float> e = fx.matrix(l, p);
  std::vector<float> y = fx.matrix(2, l);
  std::vector<float> a(2 * p), ref(p);
  y[2] = std::numeric_limits<float>::quiet_NaN();
  const FclsSolver solver(e, l, p);
  solver.unmix(y.data(), 2, a.data());
  solver.unmix(y.data() + l, 1, ref.data());
  for (int k = 0; k < p; ++k) {
    EXPECT_TRUE(std::isnan(a[k]));
    EXPECT_EQ(a[p + k], ref[k]);
  }
}

TEST(Fcls, SingleEndmemberIsOne) {
  const std::vector<float> e = {0.1f, 0.5f, 0.2f};
  const std::vector<float> y = {3, 1, 4, 0, 0, 0};
  std::vector<float> a(2);
  FclsSolver(e, 3, 1).unmix(y.data(), 2, a.data());
  EXPECT_EQ(a[0], 1.0f);
  EXPECT_EQ(a[1], 1.0f);
}

TEST(Fcls, RejectsBadEndmembers) {
  test::expectThrowWith<InvalidArgument>(
      [] {
        FclsSolver({1, 2, 3}, 2, 2);
      },
      {"3 values", "2 bands x 2 endmembers"});
  test::expectThrowWith<InvalidArgument>([] { FclsSolver({}, 0, 2); }, {"at least one band"});
  test::expectThrowWith<InvalidArgument>(
      [] {
        FclsSolver({1, 2, std::numeric_limits<float>::infinity(), 4}, 2, 2);
      },
      {"endmember 1", "band 2"});
  test::expectThrowWith<InvalidArgument>([] { FclsSolver({0, 0, 0, 0}, 2, 2); }, {"zero"});
}

TEST(Fcls, TensorEntryMatchesSolver) {
  test::Fixtures fx(17);
  const int n = 600;  // the tensor entry works in blocks of 256 pixels: two full, one partial
  Problem pr = randomProblem(fx, n, 0.05, true);
  pr.y[static_cast<size_t>(300) * pr.l + 1] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> a(static_cast<size_t>(n) * pr.p);
  FclsSolver(pr.e, pr.l, pr.p).unmix(pr.y.data(), n, a.data());
  const torch::Tensor e = torch::tensor(pr.e).reshape({pr.l, pr.p}).to(torch::kDouble);
  const torch::Tensor y = torch::tensor(pr.y).reshape({n, pr.l}).t();  // L x N, non-contiguous
  const torch::Tensor t = fclsAbundances(e, y);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{pr.p, n}));
  EXPECT_EQ(t.scalar_type(), torch::kFloat);
  const torch::Tensor expected = torch::tensor(a).reshape({n, pr.p}).t();
  EXPECT_TRUE(torch::equal(torch::isnan(t), torch::isnan(expected)));
  EXPECT_EQ(torch::isnan(t).sum().item<int64_t>(), pr.p);
  EXPECT_TRUE(torch::equal(t.nan_to_num(-1), expected.nan_to_num(-1)));
  EXPECT_THROW(fclsAbundances(e, torch::ones({pr.l + 1, 3})), c10::Error);
}

}  // namespace
}  // namespace dequnmix

namespace dequnmix {
namespace {

FclsSolver solverWith(const Problem& pr, AbundanceConstraints c) {
  FclsOptions o;
  o.constraints = c;
  return FclsSolver(pr.e, pr.l, pr.p, o);
}

// The relaxations against their oracles on off-simplex pixels: UCLS and SCLS against their
// closed forms (normal equations, and gradient parallel to 1 with the sum at 1), NNLS
// against brute force over supports of the unconstrained solution.
TEST(AbundanceMethods, UclsSclsNnlsMatchTheirOracles) {
  test::Fixtures fx(11);
  for (int trial = 0; trial < 20; ++trial) {
    const Problem pr = randomProblem(fx, 10, 0.01, true);
    const int n = 10;
    torch::Tensor E = torch::from_blob(const_cast<float*>(pr.e.data()), {pr.l, pr.p}, torch::kFloat)
                          .to(torch::kDouble);
    torch::Tensor Y = torch::from_blob(const_cast<float*>(pr.y.data()), {n, pr.l}, torch::kFloat)
                          .to(torch::kDouble)
                          .t();
    std::vector<float> a(size_t(n) * pr.p);
    auto abundances = [&](AbundanceConstraints c) {
      solverWith(pr, c).unmix(pr.y.data(), n, a.data());
      return torch::from_blob(a.data(), {n, pr.p}, torch::kFloat).to(torch::kDouble).t().clone();
    };
    const torch::Tensor G = E.t().mm(E), B = E.t().mm(Y);
    const torch::Tensor ucls = abundances(AbundanceConstraints::None);
    EXPECT_LT((ucls - torch::linalg_solve(G, B)).abs().max().item<double>(), 1e-3);
    const torch::Tensor scls = abundances(AbundanceConstraints::SumToOne);
    EXPECT_LT((scls.sum(0) - 1).abs().max().item<double>(), 1e-5);
    const torch::Tensor gradient = G.mm(scls) - B;  // = -nu 1 at the optimum
    EXPECT_LT((gradient - gradient.mean(0, true)).abs().max().item<double>(),
              1e-3 * B.abs().max().item<double>());
    const torch::Tensor nnls = abundances(AbundanceConstraints::NonNegative);
    for (int i = 0; i < n; ++i) {
      double best = std::numeric_limits<double>::infinity();
      for (int mask = 0; mask < (1 << pr.p); ++mask) {
        std::vector<int> s;
        for (int k = 0; k < pr.p; ++k)
          if (mask & (1 << k)) s.push_back(k);
        std::vector<double> x(pr.p, 0.0);
        if (!s.empty()) {
          const torch::Tensor idx = torch::tensor(std::vector<int64_t>(s.begin(), s.end()));
          const torch::Tensor z = torch::linalg_solve(
              G.index({idx}).index({torch::indexing::Slice(), idx}), B.select(1, i).index({idx}));
          if ((z < -1e-12).any().item<bool>()) continue;
          for (size_t k = 0; k < s.size(); ++k) x[s[k]] = z[k].item<double>();
        }
        best = std::min(best, objective(pr.e, pr.l, pr.p, &pr.y[size_t(i) * pr.l], x.data()));
      }
      std::vector<double> found(pr.p);
      for (int k = 0; k < pr.p; ++k) found[k] = nnls[k][i].item<double>();
      EXPECT_GE(*std::min_element(found.begin(), found.end()), 0.0);
      EXPECT_LE(objective(pr.e, pr.l, pr.p, &pr.y[size_t(i) * pr.l], found.data()),
                best * (1 + 1e-4) + 1e-9);
    }
  }
  EXPECT_EQ(parseAbundanceMethod("nnls"), AbundanceConstraints::NonNegative);
  test::expectThrowWith<InvalidArgument>([] { parseAbundanceMethod("ncls"); },
                                         {"'ncls'", "fcls, nnls, scls or ucls"});
}

}  // namespace
}  // namespace dequnmix
