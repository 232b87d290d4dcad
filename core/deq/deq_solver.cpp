// Fixed-point solvers and the gradient modes of DEQ-Unmix (see deq_ops.h).
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <deque>

#include "core/deq/deq_ops.h"
#include "core/errors.h"

namespace dequnmix {

void DeqSolveStats::add(const DeqSolveStats& other) {
  solves += other.solves;
  iterations += other.iterations;
  maxIterations = std::max(maxIterations, other.maxIterations);
  converged += other.converged;
  fallbacks += other.fallbacks;
  regularizationRaises += other.regularizationRaises;
  sumRelativeResidual += other.sumRelativeResidual;
  maxRelativeResidual = std::max(maxRelativeResidual, other.maxRelativeResidual);
  if (other.solves) {
    lastAbsoluteResidual = other.lastAbsoluteResidual;
    lastRelativeResidual = other.lastRelativeResidual;
  }
}

namespace {

double l2norm(const torch::Tensor& t) { return t.norm().item<double>(); }

void validate(const DeqSolverOptions& o) {
  if (o.maxIterations < 1) throw InvalidArgument("solver: maxIterations must be >= 1");
  if (!(o.tolerance >= 0)) throw InvalidArgument("solver: tolerance must be >= 0");
  if (o.history < 1) throw InvalidArgument("solver: Anderson history must be >= 1");
  if (!(o.regularization >= 0)) throw InvalidArgument("solver: regularization must be >= 0");
  if (!(o.damping > 0 && o.damping <= 1))
    throw InvalidArgument("solver: damping must be in (0, 1]");
}

}  // namespace

FixedPointResult solveFixedPoint(const DeqMap& map, const torch::Tensor& start,
                                 const DeqSolverOptions& options, const ProgressSink* cancel) {
  validate(options);
  torch::NoGradGuard noGrad;
  const double beta = options.damping;
  const bool anderson = options.kind == DeqSolverKind::Anderson && options.history > 1;

  FixedPointResult result;
  DeqSolveStats& st = result.stats;
  st.solves = 1;

  torch::Tensor x = start.detach();
  torch::Tensor fx = map(x).detach();
  int64_t evaluations = 1;
  auto residualOf = [](const torch::Tensor& xv, const torch::Tensor& fv, double& abs) {
    abs = l2norm(fv - xv);
    return abs / (l2norm(xv) + 1e-30);
  };
  double absRes = 0;
  double relRes = residualOf(x, fx, absRes);
  double bestAbs = absRes, bestRel = relRes;
  torch::Tensor best = fx;

  std::deque<torch::Tensor> xs, fs;  // flattened history
  while (evaluations < options.maxIterations && !(relRes <= options.tolerance) &&
         std::isfinite(relRes)) {
    throwIfCanceled(cancel);
    torch::Tensor next;
    if (anderson) {
      xs.push_back(x.reshape({-1}));
      fs.push_back(fx.reshape({-1}));
      if (static_cast<int>(xs.size()) > options.history) {
        xs.pop_front();
        fs.pop_front();
      }
    }
    const int64_t n = static_cast<int64_t>(xs.size());
    if (anderson && n >= 2) {
      torch::Tensor X = torch::stack(std::vector<torch::Tensor>(xs.begin(), xs.end()));
      torch::Tensor F = torch::stack(std::vector<torch::Tensor>(fs.begin(), fs.end()));
      torch::Tensor G = (F - X).to(torch::kFloat64);
      torch::Tensor H = G.matmul(G.t()).cpu();
      const double meanDiag = H.diagonal().mean().item<double>();
      double lambda = options.regularization * meanDiag;
      if (!(lambda > 0)) lambda = 1e-12 * (meanDiag > 0 ? meanDiag : 1.0);
      torch::Tensor c;
      bool ok = false;
      for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
        if (attempt > 0) {
          lambda *= 100.0;
          ++st.regularizationRaises;
        }
        torch::Tensor Hr = H + lambda * torch::eye(n, H.options());
        torch::Tensor ones = torch::ones({n, 1}, H.options());
        torch::Tensor sol;
        try {
          sol = torch::linalg_solve(Hr, ones).reshape({-1});
        } catch (const c10::Error&) {
          continue;  // exactly singular: retry with a larger lambda
        }
        const double sum = sol.sum().item<double>();
        if (std::isfinite(sum) && std::abs(sum) > 1e-300 &&
            torch::isfinite(sol).all().item<bool>()) {
          c = sol / sum;
          ok = torch::isfinite(c).all().item<bool>();
        }
      }
      if (ok) {
        torch::Tensor cf = c.to(X.scalar_type()).to(X.device()).reshape({n, 1});
        torch::Tensor mixedF = (cf * F).sum(0);
        torch::Tensor mixedX = (cf * X).sum(0);
        next = (beta * mixedF + (1 - beta) * mixedX).reshape(x.sizes());
      } else {
        ++st.fallbacks;
        next = (1 - beta) * x + beta * fx;
      }
    } else {
      next = beta == 1.0 ? fx : (1 - beta) * x + beta * fx;
    }
    x = next;
    fx = map(x).detach();
    ++evaluations;
    relRes = residualOf(x, fx, absRes);
    if (absRes < bestAbs || !std::isfinite(bestAbs)) {
      bestAbs = absRes;
      bestRel = relRes;
      best = fx;
    }
  }
  result.solution = best;
  st.iterations = evaluations;
  st.maxIterations = evaluations;
  st.lastAbsoluteResidual = bestAbs;
  st.lastRelativeResidual = bestRel;
  st.sumRelativeResidual = bestRel;
  st.maxRelativeResidual = bestRel;
  st.converged = bestRel <= options.tolerance ? 1 : 0;
  return result;
}

DeqGradientResult implicitBackward(const DeqMap& map, const torch::Tensor& fixedPoint,
                                   const DeqLoss& loss, const DeqSolverOptions& backward,
                                   const ProgressSink* cancel, const torch::Tensor& adjointStart) {
  DeqGradientResult result;
  torch::Tensor x = fixedPoint.detach().requires_grad_(true);
  torch::Tensor z = map(x);  // the one recorded evaluation
  torch::Tensor zOut = z.detach().requires_grad_(true);
  torch::Tensor l = loss(zOut);
  result.loss = l.item<double>();
  l.backward();  // direct parameter gradients (e.g. E in the loss) and g = dLoss/dz
  torch::Tensor g = zOut.grad().detach();
  // u = g + J^T u, J^T u by a VJP through the recorded evaluation.
  DeqMap adjoint = [&](const torch::Tensor& u) {
    auto vjp = torch::autograd::grad({z}, {x}, {u}, /*retain_graph=*/true,
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

DeqGradientResult deqGradient(const DeqMap& map, const torch::Tensor& start, const DeqLoss& loss,
                              const DeqTrainOptions& options, const ProgressSink* cancel,
                              const torch::Tensor& adjointStart) {
  if (options.gradient == DeqGradientMode::Unrolled) {
    DeqGradientResult result;
    torch::Tensor z = start.detach();
    torch::Tensor previous;
    const int K = options.forward.maxIterations;
    for (int k = 0; k < K; ++k) {
      throwIfCanceled(cancel);
      previous = z;
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

  FixedPointResult forward = solveFixedPoint(map, start, options.forward, cancel);
  if (options.gradient == DeqGradientMode::Implicit) {
    DeqGradientResult result =
        implicitBackward(map, forward.solution, loss, options.backward, cancel, adjointStart);
    result.forward = forward.stats;
    return result;
  }
  // Phantom gradient.
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

}  // namespace dequnmix
