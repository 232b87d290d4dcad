// DEQ-Unmix at the LibTorch level: the network N_theta, the map f_theta and the training
// losses, with the solvers (fixed_point.h), gradients (gradients.h), spatial proxes
// (spatial_prox.h) and endmember refinements (core/endmembers/refinement.h) it uses. The
// plain C++ facade is core/deq/deq_unmix.h; the notation and references are there.
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <vector>

#include "core/classical/superpixels.h"
#include "core/deq/deq_unmix.h"
#include "core/deq/fixed_point.h"
#include "core/deq/gradients.h"
#include "core/deq/spatial_prox.h"
#include "core/endmembers/refinement.h"

namespace dequnmix {

// ----------------------------------------------------------------------------------------
// The learned operator N_theta and the step parameter.

struct DeqNetwork {
  DeqNetworkOptions options;
  int bands = 0;
  int endmembers = 0;
  std::vector<torch::Tensor> weights;  // conv0 (1x1), hidden 3x3 ..., output 3x3
  std::vector<torch::Tensor> biases;
  torch::Tensor etaParameter;  // scalar; step = softplus(etaParameter) / ||E||_2^2
  // SLIC feature transform of the training scene (superpixel prox with a weight > 0; set by
  // training, stored as tensors "superpixel_mean", "superpixel_basis", "superpixel_spread"),
  // so that every tile window of any scene segments in the same feature space. Empty
  // (components 0) otherwise and in model files saved before it was stored: then each
  // window uses its own transform (superpixelLabels).
  SuperpixelFeatures superpixelFeatures;

  // PyTorch's default conv initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from a
  // std::mt19937_64 seeded by `seed` (identical on every device), except the output layer,
  // which starts at zero so that the untrained map is projected gradient descent.
  static DeqNetwork create(int bands, int endmembers, const DeqNetworkOptions& options,
                           uint64_t seed, const torch::Device& device);
  // The network's tensors (weights, biases, "eta", the superpixel transform); its settings
  // are `options`, which the model file stores as named fields.
  static DeqNetwork fromTensors(int bands, int endmembers, const DeqNetworkOptions& options,
                                const std::vector<DeqTensor>& tensors,
                                const torch::Device& device);  // throws ModelCorruptError
  std::vector<DeqTensor> toTensors() const;
  std::vector<torch::Tensor> parameters() const;  // weights, biases, etaParameter
  void setRequiresGrad(bool requiresGrad);
  // Sets every network weight and bias to zero: G_theta = E^T R (projected gradient).
  void zeroLearnedPart();
  // N_theta: residual B x L x h x w, abundances B x P x h x w, endmembers L x P ->
  // B x P x h x w. 3x3 convolutions pad by edge replication.
  torch::Tensor learned(const torch::Tensor& residual, const torch::Tensor& abundances,
                        const torch::Tensor& endmembers) const;
  // N_theta after its 1x1 input convolution: that convolution's output with its bias,
  // B x C x h x w -> B x P x h x w. Recorded under autograd; otherwise in place, and on the
  // CPU in sigmoids (below).
  torch::Tensor afterInputLayer(const torch::Tensor& preactivation) const;
  // The same with each tanh(z) as s = sigmoid(2 z), its scale and shift folded into the next
  // layer: one pass per activation, where LibTorch 1.13's float tanh costs four sigmoids.
  torch::Tensor afterInputLayerInSigmoids(const torch::Tensor& preactivation) const;
  // The memory layout afterInputLayer computes in for tensors like `x`: channels-last on the
  // CPU without autograd (oneDNN's convolutions then skip reordering), else contiguous.
  static at::MemoryFormat layout(const torch::Tensor& x);
  double stepInLipschitzUnits() const;  // softplus(etaParameter)
};

// E A for E: L x P and A: B x P x h x w -> B x L x h x w.
torch::Tensor reconstructScene(const torch::Tensor& endmembers, const torch::Tensor& abundances);

// f_theta(A) = Prox(Proj(A - eta (E^T R(A) + N_theta([R(A); A])))), over a batch of
// tiles; Prox(b) = (1 - w) b + w M b with M the network's spatial prox (spatial_prox.h),
// the identity when w = 0.
// Each pixel's least-squares brightness scale <x, y> / ||x||^2 of a reconstruction x against
// the scene y (B x L x h x w -> B x 1 x h x w), kept within [0.1, 10].
torch::Tensor brightnessScale(const torch::Tensor& reconstruction, const torch::Tensor& scene);

class DeqUnmixMap {
 public:
  // scene: B x L x h x w (scaled, nodata filled); endmembers: L x P (scaled); anchor:
  // B x P x h x w, the start abundances the anchor term pulls towards (leastSquaresStart;
  // required when the network's anchorWeight > 0); guides: B x h x w, the prox's guide of
  // each raw tile (SpatialProx::guide; superpixel labels for the superpixel prox, which
  // refuses to work without them), ignored at weight 0.
  DeqUnmixMap(const DeqNetwork& network, torch::Tensor endmembers, torch::Tensor scene,
              torch::Tensor anchor, const torch::Tensor& guides = {});
  torch::Tensor operator()(const torch::Tensor& abundances) const;
  DeqMap asMap() const;
  // The same map from the scene's projections also under autograd, for vector-Jacobian
  // products in abundances (no parameter gradient flows through the input layer there;
  // implicitBackward's linearization); empty for the input [E^T R; A].
  DeqMap linearization() const;
  // eta = softplus(p) / ||E||_2^2 (the norm of the detached E).
  torch::Tensor step() const;

 private:
  // E^T R + N_theta([R; A]), R = E A - target, recorded for autograd.
  torch::Tensor recordedDirection(const torch::Tensor& abundances) const;
  // The same from the scene's projections (below).
  torch::Tensor projectedDirection(const torch::Tensor& abundances) const;
  torch::Tensor evaluate(const torch::Tensor& abundances, bool projected) const;
  void projectScene(const DeqNetwork& network);

  const DeqNetwork* network_;
  torch::Tensor endmembers_;
  torch::Tensor scene_;
  torch::Tensor anchor_;
  double lipschitz_;
  std::shared_ptr<SpatialProx> prox_;  // null at weight 0
  // With the input [R; A], E^T R and the input layer's W_R R are linear in A and in the
  // target y / s, so evaluations without autograd (every forward solve) and linearization()
  // never form the L-band residual: E^T E (P x P), E^T y (B x P x h x w), W_R E + W_A (the
  // input layer on A, C x P x 1 x 1) and W_R y (B x C x h x w), once per map, detached.
  torch::Tensor gram_, correlation_, inputWeights_, inputScene_;
};

// Mean spectral angle between the pixels of y and yhat (B x L x h x w) over mask
// (B x 1 x h x w, 1 = valid) and the masked mean squared error, for the training loss.
torch::Tensor maskedSpectralAngle(const torch::Tensor& y, const torch::Tensor& yhat,
                                  const torch::Tensor& mask);
torch::Tensor maskedMse(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask);

}  // namespace dequnmix
