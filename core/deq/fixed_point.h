// Fixed-point solvers behind one contract, chosen by name (DeqSolverOptions::kind), as in
// torchdeq: a solver maps (map, start, options, cancel) to (estimate, statistics). The
// gradients (deq_gradients.h) only call solveFixedPoint, so they never depend on a solver.
// Adding a solver: one file defining it and one line in builtinSolvers() (fixed_point.cpp),
// or registerFixedPointSolver at run time.
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "core/deq/deq_unmix.h"

namespace dequnmix {

using DeqMap = std::function<torch::Tensor(const torch::Tensor&)>;

struct FixedPointResult {
  // f(x_best), where x_best is the iterate with the smallest residual ||f(x) - x||: for the
  // DEQ-Unmix map it is exactly on the simplex (f ends with the projection).
  torch::Tensor solution;
  DeqSolveStats stats;  // one solve (stats.solves == 1)
};

using FixedPointSolver =
    std::function<FixedPointResult(const DeqMap& map, const torch::Tensor& start,
                                   const DeqSolverOptions& options, const ProgressSink* cancel)>;

// Adds (or replaces) a solver under `name`; DeqSolverOptions::validate accepts the name
// from then on.
void registerFixedPointSolver(const std::string& name, FixedPointSolver solver);
bool isFixedPointSolver(const std::string& name);

// Solves x = map(x) from `start` with the solver named options.kind, after validating the
// options. The map is evaluated under torch::NoGradGuard (maps that call autograd::grad on
// a graph recorded outside still work). Throws Canceled between iterations when asked.
FixedPointResult solveFixedPoint(const DeqMap& map, const torch::Tensor& start,
                                 const DeqSolverOptions& options,
                                 const ProgressSink* cancel = nullptr);

// Given the current iterate x and f(x), the next iterate; may count events in stats.
using FixedPointStep = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& fx,
                                                   DeqSolveStats& stats)>;
// The loop every built-in solver shares: x_{k+1} = step(x_k, f(x_k)) until the relative
// residual ||f(x) - x|| / ||x|| meets options.tolerance, options.maxIterations evaluations
// of the map, or a non-finite residual; returns f of the iterate with the smallest residual.
FixedPointResult iterateFixedPoint(const DeqMap& map, const torch::Tensor& start,
                                   const DeqSolverOptions& options, const ProgressSink* cancel,
                                   const FixedPointStep& step);

// Built-in solvers (their own files).
// Anderson acceleration (type II, Walker and Ni 2011): with the last n <= m iterates x_i,
// f_i = map(x_i) and residuals g_i = f_i - x_i, the weights c minimise ||sum c_i g_i||^2 +
// lambda' ||c||^2 subject to sum c_i = 1: c = H^-1 1 / (1^T H^-1 1), H = G G^T + lambda' I,
// solved in float64 with lambda' = lambda * mean(diag(G G^T)); the next iterate is
// beta sum c_i f_i + (1 - beta) sum c_i x_i. A singular or non-finite solve is retried with
// lambda' x 100 (twice), then replaced by the damped Picard step (stats.fallbacks).
FixedPointResult andersonSolve(const DeqMap& map, const torch::Tensor& start,
                               const DeqSolverOptions& options, const ProgressSink* cancel);
// Damped fixed-point iteration x <- (1 - beta) x + beta f(x) (reference and fallback).
FixedPointResult picardSolve(const DeqMap& map, const torch::Tensor& start,
                             const DeqSolverOptions& options, const ProgressSink* cancel);

}  // namespace dequnmix
