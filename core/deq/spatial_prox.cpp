// Spatial prox registry (spatial_prox.h).
#include "core/deq/spatial_prox.h"

#include <mutex>

#include "core/deq/deq_ops.h"
#include "core/errors.h"

namespace dequnmix {

void SpatialProx::fit(const torch::Tensor&, DeqNetwork&) const {}
torch::Tensor SpatialProx::guide(const ProxWindow&) const { return {}; }
void SpatialProx::prepare(const torch::Tensor&) {}

namespace {

struct ProxRegistry {
  std::mutex mutex;
  std::vector<std::pair<std::string, SpatialProxFactory>> factories;  // registration order
};

ProxRegistry& registry() {
  static ProxRegistry r{
      {}, {{"neighbourhood", makeNeighbourhoodProx}, {"superpixel", makeSuperpixelProx}}};
  return r;
}

SpatialProxFactory findFactory(const std::string& name) {
  ProxRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& [n, factory] : r.factories)
    if (n == name) return factory;
  return {};
}

}  // namespace

void registerSpatialProx(const std::string& name, SpatialProxFactory factory) {
  if (name.empty() || !factory) throw InvalidArgument("a spatial prox needs a name and a factory");
  ProxRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto& entry : r.factories)
    if (entry.first == name) {
      entry.second = std::move(factory);
      return;
    }
  r.factories.emplace_back(name, std::move(factory));
}

std::vector<std::string> spatialProxNames() {
  ProxRegistry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& entry : r.factories) names.push_back(entry.first);
  return names;
}

bool isSpatialProx(const std::string& name) { return bool(findFactory(name)); }

std::unique_ptr<SpatialProx> makeSpatialProx(const DeqNetwork& network) {
  if (!(network.options.spatialWeight > 0)) return nullptr;
  SpatialProxFactory factory = findFactory(network.options.spatialProx);
  if (!factory) network.options.validate("network");  // throws, naming the known proxes
  return factory(network);
}

}  // namespace dequnmix
