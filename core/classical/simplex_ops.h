// Euclidean projection onto the probability simplex (LibTorch):
//   Proj(v) = argmin_{a >= 0, sum a = 1} ||a - v||^2,
// exact and sort-based (Held, Wolfe and Crowder 1974; Duchi et al., ICML 2008): with u
// sorted in decreasing order, rho = max{j : u_j - (sum_{i<=j} u_i - 1) / j > 0},
// tau = (sum_{i<=rho} u_i - 1) / rho, and Proj(v) = max(v - tau, 0).
// Built from differentiable tensor ops, so autograd gives the (almost everywhere exact)
// Jacobian of the projection; without a graph to record, on the CPU, one pass per slice
// with the same arithmetic.
#pragma once

#include <torch/types.h>

namespace dequnmix {

// Projects every slice along `dim` (the endmember axis) of a floating tensor.
torch::Tensor projectOntoSimplex(const torch::Tensor& values, int64_t dim = 0);

}  // namespace dequnmix
