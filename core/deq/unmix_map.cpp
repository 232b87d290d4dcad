// The DEQ-Unmix map f_theta and the training losses (deq_ops.h).
#include <ATen/Parallel.h>

#include "core/classical/simplex_ops.h"
#include "core/deq/deq_ops.h"
#include "core/errors.h"

namespace dequnmix {

torch::Tensor reconstructScene(const torch::Tensor& endmembers, const torch::Tensor& abundances) {
  const auto s = abundances.sizes();
  torch::Tensor flat = abundances.reshape({s[0], s[1], s[2] * s[3]});
  return endmembers.matmul(flat).reshape({s[0], endmembers.size(0), s[2], s[3]});
}

namespace {

// The pixels of y (B x L x h x w) times m (L x k): B x hw x k. On the CPU the pixels are
// split over LibTorch's threads, each product on one BLAS thread (setThreadCount).
torch::Tensor pixelProduct(const torch::Tensor& y, const torch::Tensor& m) {
  const int64_t B = y.size(0), L = y.size(1), n = y.size(2) * y.size(3);
  const torch::Tensor pixels = y.reshape({B, L, n}).transpose(1, 2);
  if (!y.is_cpu()) return pixels.matmul(m);
  torch::Tensor out = torch::empty({B, n, m.size(1)}, y.options());
  for (int64_t b = 0; b < B; ++b)
    at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
      torch::Tensor rows = out[b].narrow(0, begin, end - begin);
      torch::mm_out(rows, pixels[b].narrow(0, begin, end - begin), m);
    });
  return out;
}

// s = <x, y> / ||x||^2 from those two products, bounded to [0.1, 10].
torch::Tensor scaleFromProducts(const torch::Tensor& xy, const torch::Tensor& xx) {
  return (xy / xx.clamp_min(1e-12)).clamp(0.1, 10);
}

}  // namespace

torch::Tensor brightnessScale(const torch::Tensor& x, const torch::Tensor& y) {
  return scaleFromProducts((x * y).sum(1, true), x.pow(2).sum(1, true));
}

DeqUnmixMap::DeqUnmixMap(const DeqNetwork& network, torch::Tensor endmembers, torch::Tensor scene,
                         torch::Tensor anchor, const torch::Tensor& guides)
    : network_(&network),
      endmembers_(std::move(endmembers)),
      scene_(std::move(scene)),
      anchor_(std::move(anchor)),
      prox_(makeSpatialProx(network)) {
  torch::NoGradGuard noGrad;
  if (network.options.anchorWeight > 0 &&
      !(anchor_.defined() && anchor_.size(0) == scene_.size(0) &&
        anchor_.size(1) == network.endmembers && anchor_.size(2) == scene_.size(2) &&
        anchor_.size(3) == scene_.size(3)))
    throw InvalidArgument("DEQ map: the anchor term needs the start abundances, B x P x h x w");
  if (prox_) {
    if (guides.defined() && (guides.dim() != 3 || guides.size(0) != scene_.size(0) ||
                             guides.size(1) != scene_.size(2) || guides.size(2) != scene_.size(3)))
      throw InvalidArgument("DEQ map: the spatial prox's guides must be B x h x w, one per tile");
    prox_->prepare(guides);
  }
  // ||E||_2^2 = largest eigenvalue of E^T E (P x P, float64 for accuracy).
  torch::Tensor gram =
      endmembers_.detach().to(torch::kFloat64).t().matmul(endmembers_.detach().to(torch::kFloat64));
  lipschitz_ = torch::linalg_eigvalsh(gram.cpu()).max().item<double>();
  if (!(lipschitz_ > 0)) throw InvalidArgument("DEQ map: endmember matrix is zero");
  if (network.options.input == DeqNetworkInput::ResidualAndAbundances) projectScene(network);
}

void DeqUnmixMap::projectScene(const DeqNetwork& network) {
  torch::NoGradGuard noGrad;
  const torch::Tensor E = endmembers_.detach();
  const torch::Tensor y = scene_.detach();
  gram_ = E.t().matmul(E);
  const int64_t B = y.size(0), L = E.size(0), P = E.size(1), h = y.size(2), w = y.size(3);
  const torch::Tensor w0 = network.weights[0].detach().flatten(1);  // C x (L + P)
  const torch::Tensor onResidual = w0.narrow(1, 0, L);
  inputWeights_ = (onResidual.matmul(E) + w0.narrow(1, L, P)).reshape({-1, P, 1, 1});
  // E^T y and W_R y in one pass over the L-band scene, as the pixels (hw x L) times
  // [E W_R^T]; W_R y is then channels-last as it comes, the network's layout on the CPU
  // without autograd.
  const torch::Tensor both = pixelProduct(y, torch::cat({E, onResidual.t()}, 1));
  correlation_ = both.narrow(2, 0, P).transpose(1, 2).contiguous().view({B, P, h, w});
  inputScene_ = both.narrow(2, P, w0.size(0))
                    .view({B, h, w, -1})
                    .permute({0, 3, 1, 2})
                    .contiguous(DeqNetwork::layout(y));  // each evaluation reads it
}

torch::Tensor DeqUnmixMap::step() const {
  return torch::softplus(network_->etaParameter) / lipschitz_;
}

torch::Tensor DeqUnmixMap::recordedDirection(const torch::Tensor& abundances) const {
  const torch::Tensor reconstruction = reconstructScene(endmembers_, abundances);
  // Scale-invariant: the residual against the pixel at the model's brightness, y / s with s
  // its least-squares scale. E^T (E a - y / s) is the gradient of ||s E a - y||^2 / 2 at the
  // best s (s E^T (s E a - y)) over s^2: the same equilibria of the data term, at a step
  // that does not shrink on dark pixels (with s^2 in it, shade pixels missed the tolerance).
  const torch::Tensor target = network_->options.scaleInvariant()
                                   ? scene_ / brightnessScale(reconstruction, scene_)
                                   : scene_;
  torch::Tensor residual = reconstruction - target;
  torch::Tensor gradient = reconstructScene(endmembers_.t(), residual);  // E^T R
  return gradient + network_->learned(residual, abundances, endmembers_);
}

torch::Tensor DeqUnmixMap::projectedDirection(const torch::Tensor& abundances) const {
  const torch::Tensor gramA = reconstructScene(gram_, abundances);   // E^T E a
  torch::Tensor sceneTerm = correlation_, inputScene = inputScene_;  // E^T y, W_R y
  if (network_->options.scaleInvariant()) {
    // brightnessScale's s, with <E a, y> = a . E^T y and ||E a||^2 = a . E^T E a.
    const torch::Tensor s = scaleFromProducts((abundances * correlation_).sum(1, true),
                                              (abundances * gramA).sum(1, true));
    sceneTerm = correlation_ / s;
    inputScene = inputScene / s;
  }
  const torch::Tensor preactivation =
      torch::conv2d(abundances.contiguous(DeqNetwork::layout(abundances)), inputWeights_,
                    network_->biases[0]) -
      inputScene;
  return gramA - sceneTerm + network_->afterInputLayer(preactivation);  // E^T R + N_theta
}

torch::Tensor DeqUnmixMap::operator()(const torch::Tensor& abundances) const {
  return evaluate(abundances, !torch::GradMode::is_enabled() && inputScene_.defined());
}

torch::Tensor DeqUnmixMap::evaluate(const torch::Tensor& abundances, bool projected) const {
  torch::Tensor g = projected ? projectedDirection(abundances) : recordedDirection(abundances);
  const double mu = network_->options.anchorWeight * lipschitz_;
  if (mu > 0) g = g + mu * (abundances - anchor_);
  // contiguous(): the projection returns a permuted layout, and convolutions on it took
  // 20x longer (measured 280 ms instead of 14 ms per evaluation on 32 x 32 x 100).
  torch::Tensor b = projectOntoSimplex(abundances - step() * g, 1).contiguous();
  if (!prox_) return b;
  // A convex combination of simplex points, so the result stays on the simplex.
  const double w = network_->options.spatialWeight;
  return ((1 - w) * b + w * prox_->apply(b)).contiguous();
}

DeqMap DeqUnmixMap::asMap() const {
  return [this](const torch::Tensor& a) { return (*this)(a); };
}

DeqMap DeqUnmixMap::linearization() const {
  if (!inputScene_.defined()) return {};
  return [this](const torch::Tensor& a) { return evaluate(a, true); };
}

torch::Tensor maskedSpectralAngle(const torch::Tensor& y, const torch::Tensor& yhat,
                                  const torch::Tensor& mask) {
  torch::Tensor dot = (y * yhat).sum(1, true);
  torch::Tensor n = y.norm(2, 1, true) * yhat.norm(2, 1, true) + 1e-12;
  torch::Tensor angle = torch::acos(torch::clamp(dot / n, -1 + 1e-7, 1 - 1e-7));
  return (angle * mask).sum() / mask.sum().clamp_min(1);
}

torch::Tensor maskedMse(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  torch::Tensor se = ((a - b).pow(2) * mask).sum();
  return se / (mask.sum().clamp_min(1) * a.size(1));
}

}  // namespace dequnmix
