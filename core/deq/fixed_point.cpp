// Solver registry and the iteration loop the built-in solvers share (fixed_point.h).
#include "core/deq/fixed_point.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/deq/device.h"
#include "core/errors.h"
#include "core/registry.h"

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
  seconds += other.seconds;
  if (other.solves) {
    lastAbsoluteResidual = other.lastAbsoluteResidual;
    lastRelativeResidual = other.lastRelativeResidual;
  }
}

namespace {

NamedRegistry<FixedPointSolver>& solvers() {
  static NamedRegistry<FixedPointSolver> r({{"anderson", andersonSolve}, {"picard", picardSolve}});
  return r;
}

double l2norm(const torch::Tensor& t) { return t.norm().item<double>(); }

}  // namespace

void registerFixedPointSolver(const std::string& name, FixedPointSolver solver) {
  if (name.empty() || !solver) throw InvalidArgument("a solver needs a name and a function");
  solvers().add(name, std::move(solver));
}

std::vector<std::string> fixedPointSolverNames() { return solvers().names(); }

bool isFixedPointSolver(const std::string& name) { return bool(solvers().find(name)); }

FixedPointResult solveFixedPoint(const DeqMap& map, const torch::Tensor& start,
                                 const DeqSolverOptions& options, const ProgressSink* cancel) {
  options.validate("solver");
  torch::NoGradGuard noGrad;
  const auto t0 = Clock::now();
  FixedPointResult result = solvers().find(options.kind)(map, start, options, cancel);
  result.stats.seconds = secondsSince(t0);
  return result;
}

FixedPointResult iterateFixedPoint(const DeqMap& map, const torch::Tensor& start,
                                   const DeqSolverOptions& options, const ProgressSink* cancel,
                                   const FixedPointStep& step) {
  torch::NoGradGuard noGrad;
  FixedPointResult result;
  DeqSolveStats& st = result.stats;
  st.solves = 1;
  auto relativeResidual = [](const torch::Tensor& xv, const torch::Tensor& fv, double& abs) {
    abs = l2norm(fv - xv);
    return abs / (l2norm(xv) + 1e-30);
  };
  torch::Tensor x = start.detach();
  torch::Tensor fx = map(x).detach();
  int64_t evaluations = 1;
  double absRes = 0;
  double relRes = relativeResidual(x, fx, absRes);
  double bestAbs = absRes, bestRel = relRes;
  torch::Tensor best = fx;
  while (evaluations < options.maxIterations && !(relRes <= options.tolerance) &&
         std::isfinite(relRes)) {
    throwIfCanceled(cancel);
    x = step(x, fx, st);
    fx = map(x).detach();
    ++evaluations;
    relRes = relativeResidual(x, fx, absRes);
    if (absRes < bestAbs || !std::isfinite(bestAbs)) {
      bestAbs = absRes;
      bestRel = relRes;
      best = fx;
    }
  }
  result.solution = best;
  st.iterations = st.maxIterations = evaluations;
  st.lastAbsoluteResidual = bestAbs;
  st.lastRelativeResidual = st.sumRelativeResidual = st.maxRelativeResidual = bestRel;
  st.converged = bestRel <= options.tolerance ? 1 : 0;
  return result;
}

}  // namespace dequnmix
