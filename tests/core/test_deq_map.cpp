// The DEQ-Unmix map: projected-gradient limit, implicit gradient against the unrolled one
// and finite differences (also through the superpixel prox), the superpixel prox itself,
// tiled inference against whole-image inference.
#include <cmath>

#include "core/classical/fcls_ops.h"
#include "core/classical/simplex_ops.h"
#include "core/deq/deq_ops.h"
#include "core/deq/scene_tensors.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

struct Problem {
  SyntheticScene scene;
  torch::Tensor Y;   // 1 x L x H x W (scaled)
  torch::Tensor E;   // L x P (scaled)
  torch::Tensor A0;  // FCLS start
  DeqNetwork net;
};

// A small synthetic scene with its reference endmembers, a random network whose output
// layer is non-zero (so N_theta matters), all in float64 for exact gradient checks.
Problem makeProblem(int size, torch::ScalarType dtype = torch::kFloat64, double outScale = 0.05) {
  SyntheticOptions so;
  so.width = so.height = size;
  so.bands = 24;
  so.endmembers = 3;
  so.snrDb = 30;
  so.seed = 5;
  Problem p;
  p.scene = generateSyntheticScene(so);
  const int L = so.bands, P = so.endmembers;
  torch::Tensor Y = torch::tensor(p.scene.scene, torch::kFloat32).reshape({1, L, size, size});
  const double scale = 1.0 / Y.pow(2).mean().sqrt().item<double>();
  p.Y = (Y * scale).to(dtype);
  p.E =
      (torch::tensor(p.scene.endmembers.values, torch::kFloat32).reshape({L, P}) * scale).to(dtype);
  p.A0 =
      fclsAbundances(p.E, p.Y[0].reshape({L, size * size})).reshape({1, P, size, size}).to(dtype);
  DeqNetworkOptions no;
  no.hiddenChannels = 8;
  no.hiddenLayers = 1;
  no.spatialWeight = 0;  // the plain map; tests that want the prox set it
  p.net = DeqNetwork::create(L, P, no, 9, torch::Device(torch::kCPU));
  test::Fixtures fx(21);
  std::vector<float> w(p.net.weights.back().numel());
  for (float& v : w) v = static_cast<float>(outScale * fx.normal());
  p.net.weights.back() = torch::tensor(w, torch::kFloat32).reshape(p.net.weights.back().sizes());
  for (auto& t : p.net.weights) t = t.to(dtype);
  for (auto& t : p.net.biases) t = t.to(dtype);
  p.net.etaParameter = p.net.etaParameter.to(dtype);
  return p;
}

DeqSolverOptions tight(int iterations = 1000, double tol = 1e-11) {
  DeqSolverOptions o;
  o.maxIterations = iterations;
  o.tolerance = tol;
  o.regularization = 1e-10;
  return o;
}

// The paper's map (no anchor) and the anchored one, whose anchor at FCLS adds nothing there.
TEST(DeqMap, ZeroNetworkFixedPointIsFcls) {
  Problem p = makeProblem(12);
  p.net.zeroLearnedPart();
  for (double anchor : {0.0, 0.05}) {
    SCOPED_TRACE(anchor);
    p.net.options.anchorWeight = anchor;
    DeqUnmixMap map(p.net, p.E, p.Y, p.A0);
    torch::Tensor uniform = torch::full_like(p.A0, 1.0 / 3.0);
    FixedPointResult r = solveFixedPoint(map.asMap(), uniform, tight(3000, 1e-12));
    EXPECT_EQ(r.stats.converged, 1) << r.stats.lastRelativeResidual;
    const double diff = (r.solution - p.A0).abs().max().item<double>();
    EXPECT_LT(diff, 1e-5);
    // On the simplex exactly (f ends with the projection).
    EXPECT_LT((r.solution.sum(1) - 1).abs().max().item<double>(), 1e-12);
    EXPECT_GE(r.solution.min().item<double>(), 0.0);
  }
}

// With the anchor a0 elsewhere, the zero network's fixed point minimises
// ||E a - y||^2 / 2 + mu L / 2 ||a - a0||^2 on the simplex (L = ||E||_2^2). Where that
// minimiser is interior it solves M a + nu 1 = b, 1^T a = 1 with M = E^T E + mu L I and
// b = E^T y + mu L a0; and plain fixed-point iteration contracts by 1 - mu per step.
TEST(DeqMap, AnchoredFixedPointSolvesTheAnchoredProblemAndContracts) {
  Problem p = makeProblem(6);
  p.net.zeroLearnedPart();
  const double mu = 0.3;
  p.net.options.anchorWeight = mu;
  const int64_t L = p.E.size(0), P = p.E.size(1), n = 36;
  torch::Tensor anchor = torch::full_like(p.A0, 1.0 / 3.0);
  DeqSolverOptions picard = tight(80, 1e-10);
  picard.kind = "picard";
  const FixedPointResult r =
      solveFixedPoint(DeqUnmixMap(p.net, p.E, p.Y, anchor).asMap(), p.A0, picard);
  EXPECT_EQ(r.stats.converged, 1) << "0.7^80 is 4e-13; residual " << r.stats.lastRelativeResidual;

  const double lip = torch::linalg_eigvalsh(p.E.t().matmul(p.E)).max().item<double>();
  torch::Tensor M = p.E.t().matmul(p.E) + mu * lip * torch::eye(P, p.E.options());
  torch::Tensor b = p.E.t().matmul(p.Y[0].reshape({L, n})) + mu * lip * anchor[0].reshape({P, n});
  torch::Tensor Mb = torch::linalg_solve(M, b),
                M1 = torch::linalg_solve(M, torch::ones({P, 1}, b.options()));
  torch::Tensor nu = (Mb.sum(0, true) - 1) / M1.sum();
  torch::Tensor expected = Mb - M1 * nu;
  ASSERT_GT(expected.min().item<double>(), 0.0) << "the oracle needs an interior minimiser";
  EXPECT_LT((r.solution[0].reshape({P, n}) - expected).abs().max().item<double>(), 1e-8);
}

// Scale-invariant data term: with every pixel's spectrum scaled by its own factor, the zero
// network's fixed point is NNLS over its sum of the unscaled scene (NNLS(c y) = c NNLS(y)),
// where FCLS of the scaled scene is not.
TEST(DeqMap, ScaleInvariantFixedPointIsNnlsOverItsSumOfTheUnscaledScene) {
  Problem p = makeProblem(8);
  p.net.zeroLearnedPart();
  p.net.options.scaleInvariance = ScaleInvariance::On;
  p.net.options.anchorWeight = 0;  // the data term alone
  test::Fixtures fx(4);
  std::vector<double> factors(64);
  for (double& f : factors) f = fx.uniform(0.6, 1.4);
  const torch::Tensor Y = p.Y * torch::tensor(factors, torch::kFloat64).reshape({1, 1, 8, 8});
  const torch::Tensor expected = leastSquaresStart(p.E, p.Y, true).to(torch::kFloat64);
  DeqUnmixMap map(p.net, p.E, Y, leastSquaresStart(p.E, Y, true));
  const FixedPointResult r =
      solveFixedPoint(map.asMap(), torch::full_like(p.A0, 1.0 / 3.0), tight(3000, 1e-12));
  EXPECT_EQ(r.stats.converged, 1) << r.stats.lastRelativeResidual;
  EXPECT_LT((r.solution - expected).abs().max().item<double>(), 1e-5);
  const torch::Tensor fcls = leastSquaresStart(p.E, Y, false).to(torch::kFloat64);
  EXPECT_GT((fcls - expected).abs().max().item<double>(), 1e-2);
}

// The problem's map with the given data term and no anchor.
Problem withDataTerm(Problem p, ScaleInvariance mode) {
  p.net.options.scaleInvariance = mode;
  p.net.options.anchorWeight = 0;
  return p;
}

// Without autograd the map works from the scene's projections (E^T y, W_R y) and never forms
// the L-band residual, in the network's channels-last layout; with autograd it records the
// residual. Both are the same map, on one tile and on a batch of two.
TEST(DeqMap, EvaluationWithoutAutogradEqualsTheRecordedOne) {
  for (auto [mode, tiles] : {std::pair{ScaleInvariance::Off, 1}, std::pair{ScaleInvariance::On, 1},
                             std::pair{ScaleInvariance::On, 2}}) {
    SCOPED_TRACE(std::string(toString(mode)) + ", " + std::to_string(tiles) + " tiles");
    const Problem p = withDataTerm(makeProblem(8), mode);
    const torch::Tensor Y = tiles == 1 ? p.Y : torch::cat({p.Y, p.Y.flip({3})});
    const torch::Tensor A0 = tiles == 1 ? p.A0 : torch::cat({p.A0, p.A0.flip({3})});
    const DeqUnmixMap map(p.net, p.E, Y, A0);
    torch::Tensor a = projectOntoSimplex(A0 + 0.2 * torch::randn_like(A0), 1).contiguous();
    torch::Tensor projected;
    {
      torch::NoGradGuard noGrad;
      projected = map(a);
    }
    const torch::Tensor recorded = map(a.clone().requires_grad_(true)).detach();
    EXPECT_GT((recorded - a).abs().max().item<double>(), 1e-3) << "the map moved nothing";
    EXPECT_LT((projected - recorded).abs().max().item<double>(), 1e-12);
  }
}

torch::Tensor flatGrad(const DeqNetwork& net) {
  std::vector<torch::Tensor> g;
  for (const auto& p : net.parameters())
    g.push_back(p.grad().defined() ? p.grad().reshape({-1})
                                   : torch::zeros({p.numel()}, p.options()));
  return torch::cat(g);
}

void zeroGrad(DeqNetwork& net) {
  for (auto& p : net.parameters())
    if (p.grad().defined()) p.mutable_grad().zero_();
}

DeqLoss unsupervisedLoss(const Problem& p) {
  torch::Tensor mask = torch::ones({1, 1, p.Y.size(2), p.Y.size(3)}, p.Y.options());
  return [&p, mask](const torch::Tensor& a) {
    torch::Tensor yhat = reconstructScene(p.E, a);
    return maskedSpectralAngle(p.Y, yhat, mask) + 0.2 * maskedMse(p.Y, yhat, mask);
  };
}

TEST(DeqImplicitGradient, AgreesWithUnrolledAtConvergence) {
  Problem p = makeProblem(12);
  p.net.setRequiresGrad(true);
  DeqUnmixMap map(p.net, p.E, p.Y, p.A0);
  DeqLoss loss = unsupervisedLoss(p);

  DeqTrainOptions implicit;
  implicit.gradient = DeqGradientMode::Implicit;
  implicit.forward = tight();
  implicit.backward = tight();
  DeqGradientResult ri = deqGradient(map.asMap(), p.A0, loss, implicit);
  EXPECT_EQ(ri.forward.converged, 1);
  EXPECT_EQ(ri.backward.converged, 1);
  torch::Tensor gi = flatGrad(p.net);

  zeroGrad(p.net);
  DeqTrainOptions unrolled;
  unrolled.gradient = DeqGradientMode::Unrolled;
  unrolled.forward.maxIterations = 200;
  DeqGradientResult ru = deqGradient(map.asMap(), p.A0, loss, unrolled);
  torch::Tensor gu = flatGrad(p.net);
  EXPECT_LT(ru.forward.lastRelativeResidual, 1e-6);

  const double cosine = (gi * gu).sum().item<double>() / (gi.norm() * gu.norm()).item<double>();
  EXPECT_GE(cosine, 0.99);
  EXPECT_GT(cosine, 0.9999) << "measured cosine " << cosine;
  EXPECT_NEAR(ri.loss, ru.loss, 1e-8);

  // The phantom gradient is an approximation: it must at least point the same way.
  zeroGrad(p.net);
  DeqTrainOptions phantom = implicit;
  phantom.gradient = DeqGradientMode::Phantom;
  deqGradient(map.asMap(), p.A0, loss, phantom);
  torch::Tensor gp = flatGrad(p.net);
  EXPECT_GT((gi * gp).sum().item<double>() / (gi.norm() * gp.norm()).item<double>(), 0.5);
}

// J^T u through the projected evaluation (the map's linearization) is the same product: the
// implicit gradient does not change, with either data term.
TEST(DeqImplicitGradient, LinearizationGivesTheSameGradient) {
  for (ScaleInvariance mode : {ScaleInvariance::Off, ScaleInvariance::On}) {
    SCOPED_TRACE(toString(mode));
    Problem p = withDataTerm(makeProblem(10), mode);
    p.net.setRequiresGrad(true);
    DeqUnmixMap map(p.net, p.E, p.Y, p.A0);
    ASSERT_TRUE(bool(map.linearization()));
    DeqLoss loss = unsupervisedLoss(p);
    const torch::Tensor x = solveFixedPoint(map.asMap(), p.A0, tight()).solution;
    const DeqGradientResult plain = implicitBackward(map.asMap(), x, loss, tight());
    const torch::Tensor gradient = flatGrad(p.net);
    zeroGrad(p.net);
    const DeqGradientResult linearized =
        implicitBackward(map.asMap(), x, loss, tight(), nullptr, {}, map.linearization());
    EXPECT_EQ(linearized.backward.converged, 1);
    EXPECT_GT(gradient.norm().item<double>(), 1e-6);
    EXPECT_LT((flatGrad(p.net) - gradient).abs().max().item<double>(),
              1e-9 * gradient.abs().max().item<double>());
    EXPECT_LT((linearized.adjoint - plain.adjoint).abs().max().item<double>(), 1e-9);
  }
}

// Superpixel labels (1 x h x w) of the problem's raw scene, grid step `size`.
torch::Tensor problemSuperpixels(const Problem& p, int size) {
  const int L = p.scene.bands, H = p.scene.height, W = p.scene.width;
  return superpixelLabels(torch::tensor(p.scene.scene, torch::kFloat32).reshape({L, H, W}), size)
      .unsqueeze(0);
}

// The implicit gradient of the unsupervised loss along a random parameter direction
// against central finite differences of the loss at tightly solved fixed points.
void expectImplicitGradientMatchesFiniteDifferences(Problem& p,
                                                    const torch::Tensor& superpixels = {}) {
  p.net.setRequiresGrad(true);
  DeqLoss loss = unsupervisedLoss(p);
  DeqTrainOptions implicit;
  implicit.forward = tight();
  implicit.backward = tight();
  {
    DeqUnmixMap map(p.net, p.E, p.Y, p.A0, superpixels);
    deqGradient(map.asMap(), p.A0, loss, implicit);
  }
  torch::Tensor g = flatGrad(p.net);
  // A random direction over all parameters.
  test::Fixtures fx(33);
  std::vector<double> dv(g.numel());
  for (double& v : dv) v = fx.normal();
  torch::Tensor d = torch::tensor(dv, torch::kFloat64);
  d = d / d.norm();
  auto lossAt = [&](double h) {
    torch::NoGradGuard noGrad;
    DeqNetwork q = p.net;
    q.weights.clear();
    q.biases.clear();
    int64_t offset = 0;
    std::vector<torch::Tensor> params = p.net.parameters();
    std::vector<torch::Tensor> moved;
    for (const auto& t : params) {
      moved.push_back(t.detach() + h * d.slice(0, offset, offset + t.numel()).reshape(t.sizes()));
      offset += t.numel();
    }
    const size_t n = p.net.weights.size();
    q.weights.assign(moved.begin(), moved.begin() + n);
    q.biases.assign(moved.begin() + n, moved.begin() + 2 * n);
    q.etaParameter = moved.back();
    DeqUnmixMap map(q, p.E, p.Y, p.A0, superpixels);
    FixedPointResult r = solveFixedPoint(map.asMap(), p.A0, tight());
    return loss(r.solution).item<double>();
  };
  const double h = 1e-5;
  const double fd = (lossAt(h) - lossAt(-h)) / (2 * h);
  const double analytic = (g * d).sum().item<double>();
  EXPECT_NEAR(analytic, fd, 1e-3 * std::abs(fd) + 1e-9) << "analytic " << analytic << " fd " << fd;
}

TEST(DeqImplicitGradient, MatchesFiniteDifferences) {
  Problem p = makeProblem(10);
  expectImplicitGradientMatchesFiniteDifferences(p);
}

TEST(DeqImplicitGradient, MatchesFiniteDifferencesWithTheScaleInvariantDataTerm) {
  Problem p = makeProblem(10);
  p.net.options.scaleInvariance = ScaleInvariance::On;
  expectImplicitGradientMatchesFiniteDifferences(p);
}

TEST(DeqImplicitGradient, MatchesFiniteDifferencesThroughTheSuperpixelProx) {
  Problem p = makeProblem(10);
  p.net.options.spatialProx = "superpixel";
  p.net.options.spatialWeight = 0.2;
  const torch::Tensor superpixels = problemSuperpixels(p, 3);
  ASSERT_GT(superpixels.max().item<int64_t>(), 3);  // several superpixels in 10 x 10
  expectImplicitGradientMatchesFiniteDifferences(p, superpixels);
}

TEST(DeqSuperpixelProx, PoolsPerSuperpixelStaysOnTheSimplexAndIsOffAtWeightZero) {
  Problem p = makeProblem(16);
  const torch::Tensor labels = problemSuperpixels(p, 4);
  // Random points of the simplex (not a fixed point), with a nodata pixel in the labels.
  test::Fixtures fx(8);
  std::vector<double> values(3 * 16 * 16);
  for (double& v : values) v = fx.uniform(0.01, 1);
  torch::Tensor a = torch::tensor(values, torch::kFloat64).reshape({1, 3, 16, 16});
  a = a / a.sum(1, true);
  torch::Tensor withNodata = labels.clone();
  withNodata.index_put_({0, 5, 6}, -1);
  torch::Tensor pooled = SuperpixelPooling(withNodata)(a);
  for (int64_t l = 0; l <= labels.max().item<int64_t>(); ++l) {
    torch::Tensor in = (withNodata[0] == l);
    if (in.sum().item<int64_t>() == 0) continue;
    for (int c = 0; c < 3; ++c) {
      torch::Tensor mean = a[0][c].masked_select(in).mean();
      EXPECT_LT((pooled[0][c].masked_select(in) - mean).abs().max().item<double>(), 1e-14);
    }
  }
  EXPECT_EQ((pooled[0].select(1, 5).select(1, 6) - a[0].select(1, 5).select(1, 6))
                .abs()
                .max()
                .item<double>(),
            0.0);  // the nodata pixel passes through

  DeqNetwork plain = p.net;
  DeqNetwork super = p.net;
  super.options.spatialProx = "superpixel";
  super.options.spatialWeight = 0.3;
  torch::Tensor b = DeqUnmixMap(super, p.E, p.Y, p.A0, labels)(a);
  EXPECT_LT((b.sum(1) - 1).abs().max().item<double>(), 1e-12);
  EXPECT_GE(b.min().item<double>(), 0.0);
  EXPECT_GT((b - DeqUnmixMap(plain, p.E, p.Y, p.A0)(a)).abs().max().item<double>(), 1e-3);
  // Weight 0: exactly the plain map (and no labels are needed).
  super.options.spatialWeight = 0;
  EXPECT_TRUE(
      torch::equal(DeqUnmixMap(super, p.E, p.Y, p.A0)(a), DeqUnmixMap(plain, p.E, p.Y, p.A0)(a)));
  // Weight > 0 without labels is refused with the fix in the message.
  super.options.spatialWeight = 0.3;
  test::expectThrowWith<InvalidArgument>([&] { DeqUnmixMap(super, p.E, p.Y, p.A0); },
                                         {"superpixel labels"});
}

// Tiled inference with a halo against one whole-image solve.
TEST(DeqTiledInference, HaloKeepsTiledCloseToWholeImage) {
  Problem p = makeProblem(48, torch::kFloat32, 0.2);
  DeqModel model;
  model.bands = 24;
  model.sourceBands = 24;
  model.endmembers = p.scene.endmembers;
  model.initialEndmembers = p.scene.endmembers;
  model.inputScale =
      1.0 / torch::tensor(p.scene.scene, torch::kFloat32).pow(2).mean().sqrt().item<double>();
  model.network = p.net.options;
  model.network.scaleInvariance = ScaleInvariance::Off;  // a model holds the resolved term
  model.weights = p.net.toTensors();

  DeqInferOptions whole;
  whole.solver.tolerance = 1e-5;  // near the fixed point, so the halo is what is measured
  whole.tileSize = 64;
  whole.threads = 2;
  DeqInferResult a = unmixSceneWithDeqModel(model, p.scene.scene, 48, 48, whole);
  EXPECT_EQ(a.stats.tiles, 1);
  EXPECT_EQ(a.stats.solver.converged, 1);
  DeqInferOptions tiled = whole;
  tiled.tileSize = 16;
  tiled.halo = 16;
  DeqInferResult b = unmixSceneWithDeqModel(model, p.scene.scene, 48, 48, tiled);
  EXPECT_EQ(b.stats.tiles, 9);
  const double diff = test::maxAbsDiff(a.abundances, b.abundances);
  // Measured 2.8e-4 with halo 16 (the default) and 1.1e-2 with no halo; the bound leaves
  // room for other BLAS builds.
  EXPECT_LT(diff, 1e-3) << "max |tiled - whole| = " << diff;
  RecordProperty("tiled_whole_max_abs_diff", std::to_string(diff));
  std::printf("tiled vs whole (tile 16, halo 16): max abs diff %.3g\n", diff);
  EXPECT_LT(test::maxAbsDiff(a.residual, b.residual), 1e-3);
  DeqInferOptions noHalo = tiled;
  noHalo.halo = 0;
  DeqInferResult c = unmixSceneWithDeqModel(model, p.scene.scene, 48, 48, noHalo);
  std::printf("tiled vs whole (tile 16, halo 0): max abs diff %.3g\n",
              test::maxAbsDiff(a.abundances, c.abundances));
}

}  // namespace
}  // namespace dequnmix
