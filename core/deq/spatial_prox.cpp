// Spatial prox registry (spatial_prox.h).
#include "core/deq/spatial_prox.h"

#include <algorithm>
#include <utility>

#include "core/deq/deq_ops.h"
#include "core/deq/scene_tensors.h"
#include "core/errors.h"
#include "core/registry.h"

namespace dequnmix {

void SpatialProx::fit(const torch::Tensor&, DeqNetwork&) const {}
torch::Tensor SpatialProx::guide(const ProxWindow&) const { return {}; }
void SpatialProx::prepare(const torch::Tensor&) {}

namespace {

NamedRegistry<SpatialProxFactory>& proxes() {
  static NamedRegistry<SpatialProxFactory> r(
      {{"neighbourhood", makeNeighbourhoodProx}, {"superpixel", makeSuperpixelProx}});
  return r;
}

}  // namespace

void registerSpatialProx(const std::string& name, SpatialProxFactory factory) {
  if (name.empty() || !factory) throw InvalidArgument("a spatial prox needs a name and a factory");
  proxes().add(name, std::move(factory));
}

std::vector<std::string> spatialProxNames() { return proxes().names(); }

bool isSpatialProx(const std::string& name) { return bool(proxes().find(name)); }

std::unique_ptr<SpatialProx> makeSpatialProx(const DeqNetwork& network) {
  if (!(network.options.spatialWeight > 0)) return nullptr;
  SpatialProxFactory factory = proxes().find(network.options.spatialProx);
  if (!factory) network.options.validate("network");  // throws, naming the known proxes
  return factory(network);
}

namespace {

// Sum of squared differences of `a` (1 x P x H x W) over the valid pairs of neighbours along
// `dim` (2: rows, 3: columns), and the number of such pairs.
std::pair<double, double> neighbourDifferences(const torch::Tensor& a, const torch::Tensor& valid,
                                               int64_t dim) {
  const int64_t n = a.size(dim);
  if (n < 2) return {0.0, 0.0};
  const torch::Tensor pairs = valid.narrow(dim, 1, n - 1) * valid.narrow(dim, 0, n - 1);
  const torch::Tensor d = a.narrow(dim, 1, n - 1) - a.narrow(dim, 0, n - 1);
  return {(d.square() * pairs).sum().item<double>(), pairs.sum().item<double>()};
}

}  // namespace

NeighbourStatistics neighbourStatistics(const torch::Tensor& endmembers, const torch::Tensor& scene,
                                        const torch::Tensor& mask, const torch::Tensor& start,
                                        bool scaleInvariant) {
  torch::NoGradGuard noGrad;
  const int64_t L = scene.size(1), P = start.size(1);
  const torch::Tensor valid = mask.to(torch::kFloat64);
  const double validPixels = valid.sum().item<double>();
  if (L < 4 || validPixels < 2) return {};
  const torch::Tensor a = start.to(torch::kFloat64);
  const torch::Tensor mean = (a * valid).sum({2, 3}, true) / validPixels;
  const double variance = ((a - mean).square() * valid).sum().item<double>() / (validPixels * P);
  const auto [rows, rowPairs] = neighbourDifferences(a, valid, 2);
  const auto [cols, colPairs] = neighbourDifferences(a, valid, 3);
  if (rowPairs + colPairs < 1 || !(variance > 0)) return {};
  const double semivariance = (rows + cols) / (2 * (rowPairs + colPairs) * P);
  const torch::Tensor E = endmembers.to(scene.device(), torch::kFloat32);
  auto half = [&](int64_t first) {
    const torch::Tensor bands = torch::arange(first, L, 2, torch::kLong).to(scene.device());
    return leastSquaresStart(E.index_select(0, bands), scene.index_select(1, bands), scaleInvariant)
        .to(torch::kFloat64);
  };
  const double noise =
      ((half(0) - half(1)).square() * valid).sum().item<double>() / (4 * validPixels * P);
  return {1 - semivariance / variance,
          semivariance > 0 ? std::min(1.0, noise / semivariance) : 0.0};
}

}  // namespace dequnmix
