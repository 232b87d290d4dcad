// Spatial prox registry (spatial_prox.h).
#include "core/deq/spatial_prox.h"

#include "core/deq/deq_ops.h"
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

}  // namespace dequnmix
