// Training gradients of a DEQ (implicit, phantom, unrolled), independent of the solver:
// they reach the forward and backward solves only through solveFixedPoint (fixed_point.h).
#pragma once

#include <functional>

#include "core/deq/fixed_point.h"

namespace dequnmix {

using DeqLoss = std::function<torch::Tensor(const torch::Tensor& abundances)>;

struct DeqGradientResult {
  torch::Tensor abundances;  // the (detached) output the loss was evaluated on
  torch::Tensor adjoint;     // implicit mode: the solved u (a warm start for the next step)
  double loss = 0;
  DeqSolveStats forward;
  DeqSolveStats backward;  // implicit mode only
};

// Given a fixed point x* of `map` (any map whose parameters are leaves requiring grad),
// evaluates z = map(x*) once with the graph recorded, the loss at z, and accumulates into
// the leaves' .grad the implicit gradient: g = dLoss/dz, u solves u = g + J^T u
// (J = dmap/dx at x*, vector-Jacobian products through the one recorded evaluation, solved
// by `backward`), then dLoss/dtheta = (direct part) + u^T dmap/dtheta. Memory: one graph
// of the map plus the solver's history, independent of how x* was found. The solve starts
// from `adjointStart` when it is defined and has g's shape (the previous training step's
// u: on the same scene, g and J move little between steps, so it starts close), else g.
// `linearization`, when given, is the same map written for cheaper vector-Jacobian products
// (DeqUnmixMap::linearization): J^T u then goes through one recorded evaluation of it
// instead of map's.
DeqGradientResult implicitBackward(const DeqMap& map, const torch::Tensor& fixedPoint,
                                   const DeqLoss& loss, const DeqSolverOptions& backward,
                                   const ProgressSink* cancel = nullptr,
                                   const torch::Tensor& adjointStart = {},
                                   const DeqMap& linearization = {});

// One training gradient of the DEQ-Unmix map: forward solve from `start` (Implicit and
// Phantom: without graph; Unrolled: forward.maxIterations plain iterations with the full
// graph), the loss, and the chosen gradient accumulated into the parameters' .grad.
// Phantom: z_0 = x* detached, z_{k+1} = (1 - l) z_k + l f(z_k), k < phantomSteps, l =
// phantomDamping, graph recorded (Geng et al., "On training implicit models", NeurIPS 2021).
// adjointStart, linearization: passed on to implicitBackward.
DeqGradientResult deqGradient(const DeqMap& map, const torch::Tensor& start, const DeqLoss& loss,
                              const DeqTrainOptions& options, const ProgressSink* cancel = nullptr,
                              const torch::Tensor& adjointStart = {},
                              const DeqMap& linearization = {});

// Jacobian regularisation (Bai, Koltun and Kolter, "Stabilizing Equilibrium Models by
// Jacobian Regularization", ICML 2021): adds weight * ||v^T J||^2 / n to the leaves' .grad,
// J = dmap/dx at x (n entries), v standard Gaussian from `generator`: Hutchinson's unbiased
// estimate of ||J||_F^2 / n. Small Jacobians keep the map contractive, so solves converge.
// Returns the estimate.
double jacobianPenalty(const DeqMap& map, const torch::Tensor& x, double weight,
                       at::Generator& generator);

}  // namespace dequnmix
