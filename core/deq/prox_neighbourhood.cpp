// The 3 x 3 neighbourhood-mean prox (spatial_prox.h).
#include "core/deq/spatial_prox.h"

namespace dequnmix {

namespace {

// The pixels of each 3-pixel run along a dimension of length n that lie inside: 3, and 2
// at the ends (1 where n is 1).
torch::Tensor runLengths(int64_t n, const torch::TensorOptions& options) {
  torch::Tensor count = torch::full({n}, 3.0, options);
  count.narrow(0, 0, 1).sub_(1);
  count.narrow(0, n - 1, 1).sub_(1);
  return count;
}

// Sums over a zero border, three along the rows and then three along the columns, divided
// by the pixels inside each window: avg_pool2d's means (not counting the padding) at a
// third of its time on 4 x 288 x 288 (bench/README.md, "OpenMP in the core, and fewer
// passes per evaluation"), and differentiable as it is.
class NeighbourhoodProx final : public SpatialProx {
 public:
  torch::Tensor apply(const torch::Tensor& b) const override {
    const int64_t h = b.size(2), w = b.size(3);
    const torch::Tensor padded = torch::constant_pad_nd(b, {1, 1, 1, 1}, 0);
    const torch::Tensor rows =
        padded.narrow(3, 0, w) + padded.narrow(3, 1, w) + padded.narrow(3, 2, w);
    const torch::Tensor sums = rows.narrow(2, 0, h) + rows.narrow(2, 1, h) + rows.narrow(2, 2, h);
    return sums / torch::outer(runLengths(h, b.options()), runLengths(w, b.options()));
  }
};

}  // namespace

std::unique_ptr<SpatialProx> makeNeighbourhoodProx(const DeqNetwork&) {
  return std::make_unique<NeighbourhoodProx>();
}

}  // namespace dequnmix
