// Anderson acceleration (fixed_point.h).
#include <cmath>
#include <deque>

#include "core/deq/fixed_point.h"

namespace dequnmix {

namespace {

// Mixing weights c (sum 1) of the residual history G (n x D), or undefined when the
// regularised Gram system stays singular or non-finite after two raises of lambda.
torch::Tensor mixingWeights(const torch::Tensor& G, double regularization, DeqSolveStats& st) {
  const int64_t n = G.size(0);
  torch::Tensor H = G.matmul(G.t()).cpu();
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

// The history of the last m iterates and map values, flattened.
class AndersonHistory {
 public:
  AndersonHistory(const DeqSolverOptions& options, int m) : options_(options), m_(m) {}

  torch::Tensor next(const torch::Tensor& x, const torch::Tensor& fx, DeqSolveStats& st) {
    const double beta = options_.damping;
    xs_.push_back(x.reshape({-1}));
    fs_.push_back(fx.reshape({-1}));
    if (static_cast<int>(xs_.size()) > m_) {
      xs_.pop_front();
      fs_.pop_front();
    }
    const int64_t n = static_cast<int64_t>(xs_.size());
    if (n < 2) return beta == 1.0 ? fx : (1 - beta) * x + beta * fx;
    torch::Tensor X = torch::stack(std::vector<torch::Tensor>(xs_.begin(), xs_.end()));
    torch::Tensor F = torch::stack(std::vector<torch::Tensor>(fs_.begin(), fs_.end()));
    torch::Tensor c = mixingWeights((F - X).to(torch::kFloat64), options_.regularization, st);
    if (!c.defined()) {
      ++st.fallbacks;
      return (1 - beta) * x + beta * fx;
    }
    torch::Tensor cf = c.to(X.scalar_type()).to(X.device()).reshape({n, 1});
    return (beta * (cf * F).sum(0) + (1 - beta) * (cf * X).sum(0)).reshape(x.sizes());
  }

 private:
  const DeqSolverOptions& options_;
  const int m_;
  std::deque<torch::Tensor> xs_, fs_;
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
