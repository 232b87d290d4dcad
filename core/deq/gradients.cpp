// The three gradient modes of DEQ-Unmix (gradients.h); each calls solveFixedPoint only.
#include "core/deq/gradients.h"

#include <torch/csrc/autograd/autograd.h>

#include <algorithm>

namespace dequnmix {

namespace {

// K plain iterations from the start with the full graph (the ablation baseline).
DeqGradientResult unrolledGradient(const DeqMap& map, const torch::Tensor& start,
                                   const DeqLoss& loss, const DeqTrainOptions& options,
                                   const ProgressSink* cancel) {
  DeqGradientResult result;
  torch::Tensor z = start.detach();
  const int K = options.forward.maxIterations;
  for (int k = 0; k < K; ++k) {
    throwIfCanceled(cancel);
    z = map(z);
  }
  torch::Tensor l = loss(z);
  result.loss = l.item<double>();
  l.backward();
  DeqSolveStats& st = result.forward;
  st.solves = 1;
  st.iterations = st.maxIterations = K;
  {
    torch::NoGradGuard noGrad;
    torch::Tensor zd = z.detach();
    torch::Tensor fz = map(zd);
    st.lastAbsoluteResidual = (fz - zd).norm().item<double>();
    st.lastRelativeResidual = st.lastAbsoluteResidual / (zd.norm().item<double>() + 1e-30);
  }
  st.sumRelativeResidual = st.maxRelativeResidual = st.lastRelativeResidual;
  st.converged = st.lastRelativeResidual <= options.forward.tolerance;
  result.abundances = z.detach();
  return result;
}

// k damped steps with the graph recorded from the detached fixed point.
DeqGradientResult phantomGradient(const DeqMap& map, const FixedPointResult& forward,
                                  const DeqLoss& loss, const DeqTrainOptions& options) {
  DeqGradientResult result;
  result.forward = forward.stats;
  torch::Tensor z = forward.solution.detach();
  const double l = options.phantomDamping;
  for (int k = 0; k < std::max(1, options.phantomSteps); ++k) {
    torch::Tensor fz = map(z);
    z = l == 1.0 ? fz : (1 - l) * z + l * fz;
  }
  torch::Tensor lossValue = loss(z);
  result.loss = lossValue.item<double>();
  lossValue.backward();
  result.abundances = z.detach();
  return result;
}

}  // namespace

DeqGradientResult implicitBackward(const DeqMap& map, const torch::Tensor& fixedPoint,
                                   const DeqLoss& loss, const DeqSolverOptions& backward,
                                   const ProgressSink* cancel, const torch::Tensor& adjointStart,
                                   const DeqMap& linearization) {
  DeqGradientResult result;
  torch::Tensor x = fixedPoint.detach().requires_grad_(true);
  torch::Tensor z = map(x);  // the recorded evaluation that carries the parameter gradient
  torch::Tensor zOut = z.detach().requires_grad_(true);
  torch::Tensor l = loss(zOut);
  result.loss = l.item<double>();
  l.backward();  // direct parameter gradients (e.g. E in the loss) and g = dLoss/dz
  torch::Tensor g = zOut.grad().detach();
  torch::Tensor xJ = x, zJ = z;
  if (linearization) {
    xJ = fixedPoint.detach().requires_grad_(true);
    zJ = linearization(xJ);
  }
  // u = g + J^T u, J^T u by a VJP through a recorded evaluation.
  DeqMap adjoint = [&](const torch::Tensor& u) {
    auto vjp = torch::autograd::grad({zJ}, {xJ}, {u}, /*retain_graph=*/true,
                                     /*create_graph=*/false, /*allow_unused=*/true);
    return vjp[0].defined() ? g + vjp[0] : g.clone();
  };
  const bool warm = adjointStart.defined() && adjointStart.sizes() == g.sizes();
  FixedPointResult solved =
      solveFixedPoint(adjoint, warm ? adjointStart.detach() : g, backward, cancel);
  result.backward = solved.stats;
  result.adjoint = solved.solution.detach();
  // Parameter gradient u^T dmap/dtheta, accumulated into .grad (x's own .grad is unused).
  torch::autograd::backward({z}, {solved.solution});
  result.abundances = zOut.detach();
  return result;
}

double jacobianPenalty(const DeqMap& map, const torch::Tensor& x, double weight,
                       at::Generator& generator) {
  torch::Tensor xr = x.detach().requires_grad_(true);
  torch::Tensor z = map(xr);
  torch::Tensor v =
      torch::randn(z.sizes(), generator, torch::TensorOptions().dtype(z.scalar_type()))
          .to(z.device());
  auto vjp = torch::autograd::grad({z}, {xr}, {v}, /*retain_graph=*/true,
                                   /*create_graph=*/true, /*allow_unused=*/true);
  if (!vjp[0].defined()) return 0;
  torch::Tensor estimate = vjp[0].pow(2).sum() / double(z.numel());
  (weight * estimate).backward();
  return estimate.item<double>();
}

DeqGradientResult deqGradient(const DeqMap& map, const torch::Tensor& start, const DeqLoss& loss,
                              const DeqTrainOptions& options, const ProgressSink* cancel,
                              const torch::Tensor& adjointStart, const DeqMap& linearization) {
  if (options.gradient == DeqGradientMode::Unrolled)
    return unrolledGradient(map, start, loss, options, cancel);
  FixedPointResult forward = solveFixedPoint(map, start, options.forward, cancel);
  if (options.gradient == DeqGradientMode::Phantom)
    return phantomGradient(map, forward, loss, options);
  DeqGradientResult result = implicitBackward(map, forward.solution, loss, options.backward, cancel,
                                              adjointStart, linearization);
  result.forward = forward.stats;
  return result;
}

}  // namespace dequnmix
