// The 3 x 3 neighbourhood-mean prox (spatial_prox.h).
#include <torch/nn/functional/pooling.h>

#include "core/deq/spatial_prox.h"

namespace dequnmix {

namespace {

class NeighbourhoodProx final : public SpatialProx {
 public:
  torch::Tensor apply(const torch::Tensor& b) const override {
    namespace F = torch::nn::functional;
    return F::avg_pool2d(b,
                         F::AvgPool2dFuncOptions(3).stride(1).padding(1).count_include_pad(false));
  }
};

}  // namespace

std::unique_ptr<SpatialProx> makeNeighbourhoodProx(const DeqNetwork&) {
  return std::make_unique<NeighbourhoodProx>();
}

}  // namespace dequnmix
