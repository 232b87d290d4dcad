// Damped Picard iteration (fixed_point.h).
#include "core/deq/fixed_point.h"

namespace dequnmix {

FixedPointResult picardSolve(const DeqMap& map, const torch::Tensor& start,
                             const DeqSolverOptions& options, const ProgressSink* cancel) {
  const double beta = options.damping;
  return iterateFixedPoint(map, start, options, cancel,
                           [beta](const torch::Tensor& x, const torch::Tensor& fx, DeqSolveStats&) {
                             return beta == 1.0 ? fx : (1 - beta) * x + beta * fx;
                           });
}

}  // namespace dequnmix
