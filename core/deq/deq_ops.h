// DEQ-Unmix at the LibTorch level: fixed-point solvers, the network G_theta, the map
// f_theta and the three gradient modes. The plain C++ facade is core/deq/deq_unmix.h; the
// notation and references are there.
#pragma once

#include <torch/types.h>

#include <functional>
#include <vector>

#include "core/deq/deq_unmix.h"
#include "core/classical/superpixels.h"

namespace dequnmix {

// ----------------------------------------------------------------------------------------
// Solvers: one contract for Anderson and Picard.

using DeqMap = std::function<torch::Tensor(const torch::Tensor&)>;

struct FixedPointResult {
  // f(x_best), where x_best is the iterate with the smallest residual ||f(x) - x||: for the
  // DEQ-Unmix map it is exactly on the simplex (f ends with the projection).
  torch::Tensor solution;
  DeqSolveStats stats;  // one solve (stats.solves == 1)
};

// Solves x = map(x) from `start`.
// Anderson (type II, Walker and Ni 2011): with the last n <= m iterates x_i, f_i = map(x_i)
// and residuals g_i = f_i - x_i, the weights c minimise ||sum c_i g_i||^2 + lambda' ||c||^2
// subject to sum c_i = 1: c = H^-1 1 / (1^T H^-1 1), H = G G^T + lambda' I, solved in
// float64 with lambda' = lambda * mean(diag(G G^T)); the next iterate is
// beta sum c_i f_i + (1 - beta) sum c_i x_i. A singular or non-finite solve is retried
// with lambda' x 100 (twice), then replaced by the damped Picard step (counted in
// stats.fallbacks). Picard: x <- (1 - beta) x + beta f(x).
// The map is evaluated under torch::NoGradGuard (maps that call autograd::grad on a graph
// recorded outside still work). Throws Canceled between iterations when asked.
FixedPointResult solveFixedPoint(const DeqMap& map, const torch::Tensor& start,
                                 const DeqSolverOptions& options,
                                 const ProgressSink* cancel = nullptr);

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
  double stepInLipschitzUnits() const;  // softplus(etaParameter)
};

// SLIC superpixels (core/classical/superpixels.h, grid step `size`, the other settings at their
// defaults) of a raw scene window raw: L x h x w (any device; NaN marks nodata) whose first
// pixel is at (originRow, originCol) in the scene, as an h x w int64 tensor on raw's
// device, -1 at nodata. features: the transform to segment with (the scene's, see
// DeqNetwork::superpixelFeatures); without one (components 0) the window's own.
torch::Tensor superpixelLabels(const torch::Tensor& raw, int size, int originRow = 0,
                               int originCol = 0, const SuperpixelFeatures& features = {});

// Superpixel pooling: each pixel's values replaced by the mean over its superpixel,
//     (Pool a)_i = (1 / |S(i)|) sum_{j in S(i)} a_j,
// the pooling operator of the authors' superpixel-guided prox (DESIGN 1b). Built with
// index_add (a scatter-sum over segment ids) and index_select (a gather), so autograd
// differentiates through it. labels: B x h x w int64, -1 = nodata (such a pixel is its
// own segment, so its value passes through unchanged).
class SuperpixelPooling {
 public:
  SuperpixelPooling() = default;
  explicit SuperpixelPooling(const torch::Tensor& labels);
  bool defined() const { return index_.defined(); }
  // a: B x P x h x w (the labels' B, h, w) -> B x P x h x w.
  torch::Tensor operator()(const torch::Tensor& a) const;

 private:
  torch::Tensor index_;   // B*h*w segment ids: label + b * K, nodata pixels after B * K
  torch::Tensor counts_;  // pixels per segment (float64)
  int64_t segments_ = 0;
};

// E A for E: L x P and A: B x P x h x w -> B x L x h x w.
torch::Tensor reconstructScene(const torch::Tensor& endmembers, const torch::Tensor& abundances);

// f_theta(A) = Prox(Proj(A - eta (E^T R(A) + N_theta([R(A); A])))), over a batch of
// tiles; Prox(b) = (1 - w) b + w M b with M the 3 x 3 neighbourhood mean or the superpixel
// pooling (DeqNetworkOptions::spatialProx), the identity when w = 0.
class DeqUnmixMap {
 public:
  // scene: B x L x h x w (scaled, nodata filled); endmembers: L x P (scaled); superpixels:
  // B x h x w labels (superpixelLabels of each raw tile), required when the network's
  // prox is Superpixel with a weight > 0 (InvalidArgument otherwise), ignored otherwise.
  DeqUnmixMap(const DeqNetwork& network, torch::Tensor endmembers, torch::Tensor scene,
              const torch::Tensor& superpixels = {});
  torch::Tensor operator()(const torch::Tensor& abundances) const;
  DeqMap asMap() const;
  // eta = softplus(p) / ||E||_2^2 (the norm of the detached E).
  torch::Tensor step() const;

 private:
  const DeqNetwork* network_;
  torch::Tensor endmembers_;
  torch::Tensor scene_;
  double lipschitz_;
  SuperpixelPooling pooling_;
};

// ----------------------------------------------------------------------------------------
// Gradients.

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
DeqGradientResult implicitBackward(const DeqMap& map, const torch::Tensor& fixedPoint,
                                   const DeqLoss& loss, const DeqSolverOptions& backward,
                                   const ProgressSink* cancel = nullptr,
                                   const torch::Tensor& adjointStart = {});

// One training gradient of the DEQ-Unmix map: forward solve from `start` (Implicit and
// Phantom: without graph; Unrolled: forward.maxIterations plain iterations with the full
// graph), the loss, and the chosen gradient accumulated into the parameters' .grad.
// Phantom: z_0 = x* detached, z_{k+1} = (1 - l) z_k + l f(z_k), k < phantomSteps, l =
// phantomDamping, graph recorded (Geng et al., "On training implicit models", NeurIPS 2021).
// adjointStart: passed on to implicitBackward.
DeqGradientResult deqGradient(const DeqMap& map, const torch::Tensor& start, const DeqLoss& loss,
                              const DeqTrainOptions& options, const ProgressSink* cancel = nullptr,
                              const torch::Tensor& adjointStart = {});

// ----------------------------------------------------------------------------------------
// Endmember initialisation helpers.

// Angular mean shift (DESIGN 1d): each endmember direction d is replaced by the normalised
// mean of the unit-normalised pixels within spectral angle t of it, `iterations` times;
// then its scale becomes the mean pixel norm in the final ball. Columns whose ball holds
// fewer than minPixels pixels keep their input. endmembers: L x P; pixels: L x N (valid).
// radius <= 0 picks t per endmember as the angle to its k-th nearest pixel, k = max(
// minPixels, 0.2% of N), floored at 0.02 rad (an adaptive ball: wider on sparse/noisy
// scenes). Returns the refined L x P matrix; `moved` (optional) receives per-column flags.
torch::Tensor refineEndmembersMeanShift(const torch::Tensor& endmembers,
                                        const torch::Tensor& pixels, double radius, int iterations,
                                        int minPixels, std::vector<bool>* moved = nullptr);

// Minimum-volume simplex (in the spirit of SISAL, Bioucas-Dias 2009): the pixels are
// projected onto their (P - 1)-dimensional affine principal subspace, and the vertices V
// (starting from the given endmembers) minimise log|det [V; 1]| + (1 / outsideFraction) *
// mean over pixels of sum_j max(0, -a_j), a = [V; 1]^-1 [z; 1] (soft non-negativity: at
// the optimum about outsideFraction of the pixels lie beyond each facet, which absorbs
// noise), by `iterations` Adam steps. Recovers the vertices of highly mixed scenes (no pure
// pixels) where VCA's vertices lie inside the data. Returns L x P, clamped >= 0; the given
// endmembers unchanged when their vertex matrix is singular (two identical vertices).
torch::Tensor refineEndmembersMinVolume(const torch::Tensor& endmembers,
                                        const torch::Tensor& pixels, double outsideFraction,
                                        int iterations, double noiseMargin = 0);

// How far the pixels depart from the linear mixing model with sum-to-one abundances.
// Under that model the centred pixels E (a - mean a) + noise span P - 1 directions plus
// noise, so their P-th largest covariance eigenvalue is a noise eigenvalue; brightness
// (illumination, topography) scaling, nonlinear mixing or more materials than P add
// energy along it. Returns that eigenvalue over the noise variance (the median eigenvalue
// beyond the first P - 1; pixels subsampled to 20,000). About 1 (up to the
// Marchenko-Pastur edge (1 + sqrt(L / N))^2) for a linear sum-to-one mixture; 7,800 on
// Samson. The minimum-volume simplex, fitted in the (P - 1)-dimensional affine subspace,
// is only meaningful where this is small. pixels: L x N.
double affineModelExcess(const torch::Tensor& pixels, int endmembers);

// Mean spectral angle between the pixels of y and yhat (B x L x h x w) over mask
// (B x 1 x h x w, 1 = valid) and the masked mean squared error, for the training loss.
torch::Tensor maskedSpectralAngle(const torch::Tensor& y, const torch::Tensor& yhat,
                                  const torch::Tensor& mask);
torch::Tensor maskedMse(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask);

}  // namespace dequnmix
