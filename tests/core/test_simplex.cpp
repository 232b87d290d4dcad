// Simplex projection against independent oracles: bisection on the threshold tau
// (sum max(v - tau, 0) = 1 is monotone in tau), the KKT conditions of the projection QP,
// and finite differences for the autograd Jacobian.
#include <torch/types.h>

#include "core/classical/simplex_ops.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

// Independent oracle: tau by bisection to full double precision.
std::vector<double> bisectionProjection(const std::vector<double>& v) {
  double lo = *std::min_element(v.begin(), v.end()) - 1.0;  // sum(v - lo)_+ >= 1
  double hi = *std::max_element(v.begin(), v.end());        // sum(v - hi)_+ = 0
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    double s = 0;
    for (double x : v) s += std::max(x - mid, 0.0);
    (s > 1 ? lo : hi) = mid;
  }
  const double tau = 0.5 * (lo + hi);
  std::vector<double> a;
  for (double x : v) a.push_back(std::max(x - tau, 0.0));
  return a;
}

torch::Tensor toTensor(const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); }

std::vector<double> toVector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

TEST(SimplexProjection, MatchesBisectionOracleAndKkt) {
  test::Fixtures fx(1);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = fx.integer(1, 9);
    std::vector<double> v(n);
    const double scale = trial % 3 == 0 ? 0.1 : (trial % 3 == 1 ? 1.0 : 10.0);
    for (double& x : v) x = scale * fx.normal();
    const std::vector<double> a = toVector(projectOntoSimplex(toTensor(v)));
    EXPECT_ALL_NEAR(a, bisectionProjection(v), 1e-12);
    // KKT: a >= 0, sum a = 1, and a = v - tau on the support, v - tau <= 0 off it.
    double sum = 0, tau = 0;
    int support = 0;
    for (int i = 0; i < n; ++i) {
      EXPECT_GE(a[i], 0.0);
      sum += a[i];
      if (a[i] > 0) {
        tau += v[i] - a[i];
        ++support;
      }
    }
    ASSERT_GT(support, 0);
    tau /= support;
    EXPECT_NEAR(sum, 1.0, 1e-12);
    for (int i = 0; i < n; ++i) {
      if (a[i] > 0)
        EXPECT_NEAR(v[i] - a[i], tau, 1e-12);
      else
        EXPECT_LE(v[i] - tau, 1e-12);
    }
  }
}

// Without autograd the projection runs one pass per slice; it gives what the differentiable
// tensor version gives, in float and double, along any axis.
TEST(SimplexProjection, WithoutAutogradEqualsTheDifferentiableVersion) {
  torch::manual_seed(3);
  for (torch::ScalarType type : {torch::kFloat, torch::kDouble}) {
    for (int64_t n : {1, 4, 17}) {
      const torch::Tensor v = 3 * torch::randn({2, n, 5, 7}, type);
      const torch::Tensor plain = projectOntoSimplex(v, 1);
      const torch::Tensor recorded = projectOntoSimplex(v.clone().requires_grad_(true), 1);
      EXPECT_EQ(plain.scalar_type(), type);
      EXPECT_TRUE(torch::equal(plain, recorded.detach())) << n;
      EXPECT_TRUE(torch::equal(projectOntoSimplex(v, -1),
                               projectOntoSimplex(v.clone().requires_grad_(true), -1).detach()));
    }
  }
}

TEST(SimplexProjection, PointsOnTheSimplexAreUnchanged) {
  test::Fixtures fx(2);
  for (int trial = 0; trial < 50; ++trial) {
    const int n = fx.integer(1, 8);
    const std::vector<double> a = fx.simplexPoint(n, trial % 3);
    EXPECT_ALL_NEAR(toVector(projectOntoSimplex(toTensor(a))), a, 1e-15);
  }
  // Vertices exactly.
  const torch::Tensor eye = torch::eye(5, torch::kDouble);
  EXPECT_TRUE(torch::equal(projectOntoSimplex(eye, 0), eye));
}

TEST(SimplexProjection, ShiftInvarianceAndKnownValues) {
  // Proj(v + c 1) = Proj(v); two hand-computed cases.
  EXPECT_ALL_NEAR(toVector(projectOntoSimplex(toTensor({0.5, 0.5, 7.0}))),
                  std::vector<double>({0, 0, 1}), 0);
  EXPECT_ALL_NEAR(toVector(projectOntoSimplex(toTensor({1.0, 2.0, 3.0}))),
                  std::vector<double>({0, 0, 1}), 0);
  EXPECT_ALL_NEAR(toVector(projectOntoSimplex(toTensor({1.0, 1.0, 0.0}))),
                  std::vector<double>({0.5, 0.5, 0}), 1e-15);
  EXPECT_ALL_NEAR(toVector(projectOntoSimplex(toTensor({100.25, 100.0, 0}))),
                  std::vector<double>({0.625, 0.375, 0}), 1e-12);
  EXPECT_ALL_NEAR(toVector(projectOntoSimplex(toTensor({-3.0, -3.0, -3.0, -3.0}))),
                  std::vector<double>({0.25, 0.25, 0.25, 0.25}), 1e-15);
}

TEST(SimplexProjection, BatchedAlongAnyDimension) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({4, 5, 6}, torch::kDouble) * 2;
  for (int64_t dim : {0, 1, 2, -1}) {
    const torch::Tensor batched = projectOntoSimplex(x, dim);
    ASSERT_EQ(batched.sizes(), x.sizes());
    EXPECT_TRUE(torch::allclose(batched.sum(dim), torch::ones({1}, torch::kDouble), 0, 1e-12));
    EXPECT_GE(batched.min().item<double>(), 0.0);
    // Each slice equals the projection of the slice alone.
    const torch::Tensor moved = x.movedim(dim, -1).reshape({-1, x.size(dim)});
    const torch::Tensor expected = batched.movedim(dim, -1).reshape({-1, x.size(dim)});
    for (int64_t r = 0; r < moved.size(0); ++r)
      EXPECT_ALL_NEAR(toVector(projectOntoSimplex(moved[r])),
                      bisectionProjection(toVector(moved[r])), 1e-12);
    EXPECT_TRUE(torch::allclose(expected, torch::stack([&] {
                                  std::vector<torch::Tensor> rows;
                                  for (int64_t r = 0; r < moved.size(0); ++r)
                                    rows.push_back(projectOntoSimplex(moved[r]));
                                  return rows;
                                }()),
                                0, 0));
  }
}

TEST(SimplexProjection, FloatInputStaysFloatAndOnTheSimplex) {
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({3, 1000}, torch::kFloat);
  const torch::Tensor a = projectOntoSimplex(x, 0);
  EXPECT_EQ(a.scalar_type(), torch::kFloat);
  EXPECT_LT((a.sum(0) - 1).abs().max().item<float>(), 1e-6f);
  EXPECT_GE(a.min().item<float>(), 0.0f);
}

TEST(SimplexProjection, AutogradJacobianMatchesFiniteDifferencesAndClosedForm) {
  test::Fixtures fx(5);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = fx.integer(2, 7);
    std::vector<double> v(n);
    for (double& x : v) x = fx.normal();
    const torch::Tensor input = toTensor(v).requires_grad_(true);
    const torch::Tensor out = projectOntoSimplex(input);
    const std::vector<double> a = toVector(out.detach());
    int k = 0;
    double tau = 0;
    for (int i = 0; i < n; ++i)
      if (a[i] > 0) {
        ++k;
        tau += v[i] - a[i];
      }
    tau /= k;
    // Finite differences only where no entry sits within 1e-4 of the support boundary
    // (v_i = tau), so a step of 1e-7 cannot change the support.
    double margin = 1e300;
    for (double x : v) margin = std::min(margin, std::fabs(x - tau));
    const bool checkFd = margin > 1e-4;
    for (int i = 0; i < n; ++i) {
      // Row i of the Jacobian by a backward pass with e_i.
      if (input.grad().defined()) input.grad().zero_();
      torch::Tensor seed = torch::zeros({n}, torch::kDouble);
      seed[i] = 1.0;
      out.backward(seed, /*retain_graph=*/true);
      const std::vector<double> row = toVector(input.grad());
      for (int j = 0; j < n; ++j) {
        // Closed form: I - 1 1^T / k on the support, zero elsewhere.
        const double closed = (a[i] > 0 && a[j] > 0) ? (i == j) - 1.0 / k : 0.0;
        EXPECT_NEAR(row[j], closed, 1e-12) << "trial " << trial << " (" << i << "," << j << ")";
        if (!checkFd) continue;
        std::vector<double> plus = v, minus = v;
        plus[j] += 1e-7;
        minus[j] -= 1e-7;
        const double fd = (bisectionProjection(plus)[i] - bisectionProjection(minus)[i]) / 2e-7;
        EXPECT_NEAR(row[j], fd, 1e-5);
      }
    }
  }
}

TEST(SimplexProjection, RejectsBadInput) {
  EXPECT_THROW(projectOntoSimplex(torch::ones({3}, torch::kLong)), c10::Error);
  EXPECT_THROW(projectOntoSimplex(torch::ones({3, 2}), 2), c10::Error);
  EXPECT_THROW(projectOntoSimplex(torch::ones({0, 2}), 0), c10::Error);
  EXPECT_EQ(projectOntoSimplex(torch::ones({3, 0}), 0).numel(), 0);
}

}  // namespace
}  // namespace dequnmix
