// Spatial proxes: a fixed spatial prior applied after the simplex projection in every
// evaluation of the map, b -> (1 - w) b + w M b (w = DeqNetworkOptions::spatialWeight), as
// objects built by name (DeqNetworkOptions::spatialProx). M b must be, per pixel, a convex
// combination of simplex points, so the blend stays on the simplex. Adding a prox: one file
// with its class and factory and one line in builtinProxes() (spatial_prox.cpp), or
// registerSpatialProx at run time.
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/classical/superpixels.h"
#include "core/deq/deq_unmix.h"

namespace dequnmix {

struct DeqNetwork;

// A window of the raw scene: L x h x w in data units (NaN = nodata), any device, whose
// first pixel is at (row, col) in the scene.
struct ProxWindow {
  torch::Tensor raw;
  int row = 0;
  int col = 0;
};

class SpatialProx {
 public:
  virtual ~SpatialProx() = default;
  // Learns what the prox keeps from the whole training scene (raw L x H x W) into the
  // network, which the model file stores. Default: nothing.
  virtual void fit(const torch::Tensor& raw, DeqNetwork& network) const;
  // Per-pixel guide of one window (h x w, on raw's device), or undefined when the prox
  // needs none. Computed once per window; training crops it along with its tiles.
  virtual torch::Tensor guide(const ProxWindow& window) const;
  // Before apply(): the guides of a batch of windows (B x h x w), undefined without guide.
  virtual void prepare(const torch::Tensor& guides);
  // M b for b: B x P x h x w on the simplex.
  virtual torch::Tensor apply(const torch::Tensor& abundances) const = 0;
};

using SpatialProxFactory = std::function<std::unique_ptr<SpatialProx>(const DeqNetwork&)>;

// Adds (or replaces) a prox under `name`; DeqNetworkOptions::validate accepts it from then on.
void registerSpatialProx(const std::string& name, SpatialProxFactory factory);
bool isSpatialProx(const std::string& name);
// The prox of a network (options.spatialProx), or nullptr when its weight is 0.
std::unique_ptr<SpatialProx> makeSpatialProx(const DeqNetwork& network);

// How the start abundances differ between neighbouring pixels, both over valid pixels and
// the 4-neighbours: `correlation`, their correlation (1 - half the mean squared neighbour
// difference over the variance); `noiseShare` in [0, 1], the part of those differences that
// is noise (0: all structure, 1: all noise), the noise variance read from two starts on
// alternate bands (each on half the bands, so that their difference carries four times the
// full start's noise variance). `scene` 1 x L x H x W (scaled, as leastSquaresStart takes it),
// `start` 1 x P x H x W its start on `endmembers` (L x P), `mask` 1 x 1 x H x W. Both 0 with
// fewer than 4 bands, no pair of valid neighbours or constant abundances.
struct NeighbourStatistics {
  double correlation = 0;
  double noiseShare = 0;
};
NeighbourStatistics neighbourStatistics(const torch::Tensor& endmembers, const torch::Tensor& scene,
                                        const torch::Tensor& mask, const torch::Tensor& start,
                                        bool scaleInvariant);

// Built-in proxes (their own files).
// The pixel's 3 x 3 neighbourhood mean (border windows average only the pixels inside).
std::unique_ptr<SpatialProx> makeNeighbourhoodProx(const DeqNetwork& network);
// The mean over the pixel's SLIC superpixel, the pooling of the authors' superpixel-guided
// prox. The superpixels are segmented once per window in the training scene's
// feature space (DeqNetwork::superpixelFeatures), with the seed grid anchored to scene
// coordinates, so that every window of any scene measures spectral distances alike.
std::unique_ptr<SpatialProx> makeSuperpixelProx(const DeqNetwork& network);

// SLIC superpixels (core/classical/superpixels.h, grid step `size`, the other settings at
// their defaults) of a raw scene window raw: L x h x w (any device; NaN marks nodata) whose
// first pixel is at (originRow, originCol) in the scene, as an h x w int64 tensor on raw's
// device, -1 at nodata. features: the transform to segment with (the scene's, see
// DeqNetwork::superpixelFeatures); without one (components 0) the window's own.
torch::Tensor superpixelLabels(const torch::Tensor& raw, int size, int originRow = 0,
                               int originCol = 0, const SuperpixelFeatures& features = {});

// Superpixel pooling: each pixel's values replaced by the mean over its superpixel,
//     (Pool a)_i = (1 / |S(i)|) sum_{j in S(i)} a_j.
// Built with index_add (a scatter-sum over segment ids) and index_select (a gather), so
// autograd differentiates through it. labels: B x h x w int64, -1 = nodata (such a pixel is
// its own segment, so its value passes through unchanged).
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

}  // namespace dequnmix
