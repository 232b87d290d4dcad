// Anderson acceleration (fixed_point.h).
#include <algorithm>
#include <cmath>

#include "core/deq/fixed_point.h"

namespace dequnmix {

namespace {

// Mixing weights c (sum 1) from the Gram matrix H = G G^T of the residual history G
// (n x n, float64, CPU), or undefined when the regularised system stays singular or
// non-finite after two raises of lambda.
torch::Tensor mixingWeights(const torch::Tensor& H, double regularization, DeqSolveStats& st) {
  const int64_t n = H.size(0);
  const double meanDiag = H.diagonal().mean().item<double>();
  double lambda = regularization * meanDiag;
  if (!(lambda > 0)) lambda = 1e-12 * (meanDiag > 0 ? meanDiag : 1.0);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) {
      lambda *= 100.0;
      ++st.regularizationRaises;
    }
    torch::Tensor sol;
    try {
      sol = torch::linalg_solve(H + lambda * torch::eye(n, H.options()),
                                torch::ones({n, 1}, H.options()))
                .reshape({-1});
    } catch (const c10::Error&) {
      continue;  // exactly singular: retry with a larger lambda
    }
    const double sum = sol.sum().item<double>();
    if (std::isfinite(sum) && std::abs(sum) > 1e-300 && torch::isfinite(sol).all().item<bool>()) {
      torch::Tensor c = sol / sum;
      if (torch::isfinite(c).all().item<bool>()) return c;
    }
  }
  return {};
}

// The last m iterates, map values and residuals (float64) in preallocated rows, written in
// turn, with their Gram matrix kept up to date: each step adds one row and one product per
// row, where stacking the history and forming G G^T anew cost a dozen passes over it.
class AndersonHistory {
 public:
  AndersonHistory(const DeqSolverOptions& options, int m) : options_(options), m_(m) {}

  torch::Tensor next(const torch::Tensor& x, const torch::Tensor& fx, DeqSolveStats& st) {
    const double beta = options_.damping;
    if (!xs_.defined()) allocate(x);
    const int64_t slot = stored_ % m_, n = std::min<int64_t>(++stored_, m_);
    xs_[slot].copy_(x.reshape({-1}));
    fs_[slot].copy_(fx.reshape({-1}));
    gs_[slot].copy_(fs_[slot] - xs_[slot]);
    const torch::Tensor products = gs_.narrow(0, 0, n).matmul(gs_[slot]).cpu();
    gram_.select(0, slot).narrow(0, 0, n).copy_(products);
    gram_.select(1, slot).narrow(0, 0, n).copy_(products);
    if (n < 2) return beta == 1.0 ? fx : (1 - beta) * x + beta * fx;
    torch::Tensor c =
        mixingWeights(gram_.narrow(0, 0, n).narrow(1, 0, n), options_.regularization, st);
    if (!c.defined()) {
      ++st.fallbacks;
      return (1 - beta) * x + beta * fx;
    }
    const torch::Tensor cf = c.to(xs_.options()).reshape({1, n});
    torch::Tensor mixed = cf.matmul(fs_.narrow(0, 0, n));
    if (beta != 1.0) mixed = beta * mixed + (1 - beta) * cf.matmul(xs_.narrow(0, 0, n));
    return mixed.reshape(x.sizes());
  }

 private:
  void allocate(const torch::Tensor& x) {
    xs_ = torch::empty({m_, x.numel()}, x.options());
    fs_ = torch::empty_like(xs_);
    gs_ = torch::empty_like(xs_, xs_.options().dtype(torch::kFloat64));
    gram_ = torch::zeros({m_, m_}, torch::kFloat64);
  }

  const DeqSolverOptions& options_;
  const int m_;
  int64_t stored_ = 0;                 // rows written so far; row k % m holds the k-th
  torch::Tensor xs_, fs_, gs_, gram_;  // m x D (gs_ float64), m x m (float64, CPU)
};

}  // namespace

FixedPointResult andersonSolve(const DeqMap& map, const torch::Tensor& start,
                               const DeqSolverOptions& options, const ProgressSink* cancel) {
  const int m = options.historyFor(start.dim() > 1 ? start.size(1) : 1);
  if (m <= 1) return picardSolve(map, start, options, cancel);
  AndersonHistory history(options, m);
  return iterateFixedPoint(map, start, options, cancel,
                           [&history](const torch::Tensor& x, const torch::Tensor& fx,
                                      DeqSolveStats& st) { return history.next(x, fx, st); });
}

}  // namespace dequnmix
