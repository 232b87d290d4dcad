// Fixed-point solvers and the implicit gradient on maps with known answers.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "core/deq/deq_ops.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

DeqSolverOptions solverOptions(const std::string& kind, int maxIterations, double tolerance) {
  DeqSolverOptions o;
  o.kind = kind;
  o.maxIterations = maxIterations;
  o.tolerance = tolerance;
  o.history = 5;
  o.regularization = 1e-8;
  o.damping = 1.0;
  return o;
}

// x = cos(x): the Dottie number 0.7390851332151607 (contraction near it, |sin x*| = 0.67).
TEST(AndersonSolver, ScalarContractionReachesKnownFixedPoint) {
  DeqMap map = [](const torch::Tensor& x) { return torch::cos(x); };
  torch::Tensor start = torch::zeros({1}, torch::kFloat64);
  auto anderson = solveFixedPoint(map, start, solverOptions("anderson", 200, 1e-12));
  auto picard = solveFixedPoint(map, start, solverOptions("picard", 200, 1e-12));
  EXPECT_NEAR(anderson.solution.item<double>(), 0.7390851332151607, 1e-11);
  EXPECT_NEAR(picard.solution.item<double>(), 0.7390851332151607, 1e-11);
  EXPECT_EQ(anderson.stats.converged, 1);
  EXPECT_EQ(picard.stats.converged, 1);
  EXPECT_LT(anderson.stats.iterations, picard.stats.iterations);
}

struct LinearProblem {
  torch::Tensor W, b, solution;
};

// f(x) = W x + b, W = Q diag(lambda) Q^T with eigenvalues spread over [-rho/2, rho] (a
// random orthogonal Q), so Picard contracts by rho per step in the worst direction: the
// fixed point is (I - W)^-1 b.
LinearProblem linearProblem(int n, double rho, uint64_t seed) {
  test::Fixtures fx(seed);
  std::vector<double> w(n * n), bv(n);
  for (double& v : w) v = fx.normal();
  for (double& v : bv) v = fx.normal();
  LinearProblem p;
  torch::Tensor Q =
      std::get<0>(torch::linalg_qr(torch::tensor(w, torch::kFloat64).reshape({n, n})));
  torch::Tensor lambda = torch::linspace(-rho / 2, rho, n, torch::kFloat64);
  p.W = Q.matmul(torch::diag(lambda)).matmul(Q.t());
  p.b = torch::tensor(bv, torch::kFloat64);
  p.solution = torch::linalg_solve(torch::eye(n, torch::kFloat64) - p.W, p.b);
  return p;
}

TEST(AndersonSolver, LinearContractionNeedsFewerEvaluationsThanPicard) {
  LinearProblem p = linearProblem(40, 0.9, 3);
  DeqMap map = [&](const torch::Tensor& x) { return p.W.matmul(x) + p.b; };
  torch::Tensor start = torch::zeros({40}, torch::kFloat64);
  auto anderson = solveFixedPoint(map, start, solverOptions("anderson", 500, 1e-10));
  auto picard = solveFixedPoint(map, start, solverOptions("picard", 500, 1e-10));
  const double scale = p.solution.norm().item<double>();
  EXPECT_LT((anderson.solution - p.solution).norm().item<double>() / scale, 1e-8);
  EXPECT_LT((picard.solution - p.solution).norm().item<double>() / scale, 1e-8);
  EXPECT_EQ(anderson.stats.converged, 1);
  EXPECT_EQ(picard.stats.converged, 1);
  // Picard contracts by 0.9 per step (about 220 steps to 1e-10); Anderson with m = 5
  // needs about a third (64 vs 176 measured).
  EXPECT_LT(anderson.stats.iterations * 2, picard.stats.iterations)
      << anderson.stats.iterations << " vs " << picard.stats.iterations;
}

// The same 12 x 12 linear map in every pixel of a 1 x 12 x 4 x 4 iterate (P = 12 unknowns per
// pixel, as the DEQ map's abundances). Anderson with m = 12 keeps a direction per unknown;
// m = 5 needs more than twice the evaluations (24 against 56 measured).
TEST(AndersonSolver, AutomaticHistoryCoversEveryUnknownOfAPixel) {
  LinearProblem p = linearProblem(12, 0.95, 7);
  DeqMap map = [&](const torch::Tensor& x) {
    return torch::einsum("pq,bqhw->bphw", {p.W, x}) + p.b.reshape({1, 12, 1, 1});
  };
  const torch::Tensor start = torch::zeros({1, 12, 4, 4}, torch::kFloat64);
  DeqSolverOptions o = solverOptions("anderson", 200, 1e-10);
  o.history = 0;
  EXPECT_EQ(o.historyFor(start.size(1)), 12);
  const FixedPointResult automatic = solveFixedPoint(map, start, o);
  o.history = 5;
  const FixedPointResult five = solveFixedPoint(map, start, o);
  const torch::Tensor expected = p.solution.reshape({1, 12, 1, 1}).expand({1, 12, 4, 4});
  EXPECT_LT((automatic.solution - expected).abs().max().item<double>(), 1e-8);
  EXPECT_EQ(automatic.stats.converged, 1);
  EXPECT_LT(automatic.stats.iterations * 2, five.stats.iterations)
      << automatic.stats.iterations << " vs " << five.stats.iterations;
}

TEST(AndersonSolver, DampedPicardAndCapReportNonConvergence) {
  LinearProblem p = linearProblem(20, 0.95, 5);
  DeqMap map = [&](const torch::Tensor& x) { return p.W.matmul(x) + p.b; };
  DeqSolverOptions o = solverOptions("picard", 5, 1e-12);
  o.damping = 0.5;
  auto r = solveFixedPoint(map, torch::zeros({20}, torch::kFloat64), o);
  EXPECT_EQ(r.stats.iterations, 5);
  EXPECT_EQ(r.stats.converged, 0);
  EXPECT_GT(r.stats.lastRelativeResidual, 1e-3);
}

TEST(AndersonSolver, NonFiniteMapStopsWithoutCrash) {
  DeqMap map = [](const torch::Tensor& x) { return x * std::numeric_limits<double>::quiet_NaN(); };
  auto r =
      solveFixedPoint(map, torch::ones({3}, torch::kFloat64), solverOptions("anderson", 20, 1e-6));
  EXPECT_EQ(r.stats.converged, 0);
  EXPECT_LE(r.stats.iterations, 20);
}

TEST(AndersonSolver, SingularHistoryRaisesRegularizationOrFallsBack) {
  // f(x) = x + 1: every residual is the same vector, so the Gram matrix has rank one.
  DeqMap map = [](const torch::Tensor& x) { return x + 1.0; };
  DeqSolverOptions o = solverOptions("anderson", 8, 1e-12);
  o.regularization = 0;
  auto r = solveFixedPoint(map, torch::zeros({4}, torch::kFloat64), o);
  EXPECT_EQ(r.stats.converged, 0);
  EXPECT_TRUE(torch::isfinite(r.solution).all().item<bool>());
}

TEST(AndersonSolver, CancelStopsBetweenIterations) {
  struct Cancelled : ProgressSink {
    void setProgress(double) override {}
    bool isCanceled() const override { return true; }
  } cancel;
  DeqMap map = [](const torch::Tensor& x) { return torch::cos(x); };
  EXPECT_THROW(solveFixedPoint(map, torch::zeros({1}, torch::kFloat64),
                               solverOptions("anderson", 50, 1e-12), &cancel),
               Canceled);
}

// Implicit gradient of L = c^T x*, x* = W x* + b: dL/db = (I - W)^-T c, dL/dW = u x*^T.
TEST(DeqImplicitGradient, LinearContractionMatchesClosedForm) {
  const int n = 30;
  LinearProblem p = linearProblem(n, 0.8, 11);
  test::Fixtures fx(12);
  std::vector<double> cv(n);
  for (double& v : cv) v = fx.normal();
  torch::Tensor c = torch::tensor(cv, torch::kFloat64);
  torch::Tensor W = p.W.clone().requires_grad_(true);
  torch::Tensor b = p.b.clone().requires_grad_(true);
  DeqMap map = [&](const torch::Tensor& x) { return W.matmul(x) + b; };
  auto forward = solveFixedPoint(map, torch::zeros({n}, torch::kFloat64),
                                 solverOptions("anderson", 300, 1e-12));
  auto result = implicitBackward(
      map, forward.solution, [&](const torch::Tensor& x) { return (c * x).sum(); },
      solverOptions("anderson", 300, 1e-12));
  torch::Tensor u = torch::linalg_solve((torch::eye(n, torch::kFloat64) - p.W).t(), c);
  EXPECT_LT((b.grad() - u).norm().item<double>() / u.norm().item<double>(), 1e-8);
  torch::Tensor dW = torch::outer(u, p.solution);
  EXPECT_LT((W.grad() - dW).norm().item<double>() / dW.norm().item<double>(), 1e-8);
  EXPECT_EQ(result.backward.converged, 1);
  EXPECT_NEAR(result.loss, (c * p.solution).sum().item<double>(), 1e-8);
}

// f(x) = W x: J = W, so ||J||_F^2 / n is known, and the penalty's gradient with respect to
// W is weight * 2 v v^T W / n for the drawn v (checked against a second evaluation with the
// same draw).
TEST(DeqJacobianPenalty, EstimatesTheFrobeniusNormAndItsGradient) {
  const int64_t n = 400;
  torch::manual_seed(3);
  torch::Tensor W0 = 0.1 * torch::randn({n, n}, torch::kFloat64);
  torch::Tensor W = W0.clone().requires_grad_(true);
  DeqMap map = [&](const torch::Tensor& x) { return W.matmul(x); };
  torch::Tensor x = torch::randn({n}, torch::kFloat64);
  const double exact = W0.pow(2).sum().item<double>() / double(n);
  double mean = 0;
  const int draws = 50;
  at::Generator generator = at::detail::createCPUGenerator(7);
  for (int k = 0; k < draws; ++k) mean += jacobianPenalty(map, x, 0.0, generator) / draws;
  EXPECT_NEAR(mean, exact, 0.05 * exact);  // Hutchinson: unbiased, spread ~ sqrt(2 / (n draws))

  W.mutable_grad() = torch::Tensor();
  at::Generator again = at::detail::createCPUGenerator(11);
  const double weight = 0.5;
  const double estimate = jacobianPenalty(map, x, weight, again);
  at::Generator same = at::detail::createCPUGenerator(11);
  torch::Tensor v = torch::randn({n}, same, torch::TensorOptions().dtype(torch::kFloat64));
  EXPECT_NEAR(estimate, W0.t().matmul(v).pow(2).sum().item<double>() / double(n), 1e-10);
  torch::Tensor expected = weight * 2.0 * torch::outer(v, W0.t().matmul(v)) / double(n);
  EXPECT_LT((W.grad() - expected).norm().item<double>() / expected.norm().item<double>(), 1e-10);
}

}  // namespace
}  // namespace dequnmix
