// The superpixel-mean prox (spatial_prox.h): SLIC labels per window, pooled means.
#include "core/deq/deq_ops.h"
#include "core/deq/spatial_prox.h"
#include "core/errors.h"

namespace dequnmix {

torch::Tensor superpixelLabels(const torch::Tensor& raw, int size, int originRow, int originCol,
                               const SuperpixelFeatures& features) {
  torch::Tensor c = raw.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  SuperpixelOptions o;
  o.regionSize = size;
  o.originRow = originRow;
  o.originCol = originCol;
  const float* scene = c.data_ptr<float>();
  const int L = int(c.size(0)), h = int(c.size(1)), w = int(c.size(2));
  Superpixels s = features.components > 0 ? computeSuperpixels(scene, L, h, w, features, o)
                                          : computeSuperpixels(scene, L, h, w, o);
  return torch::from_blob(s.labels.data(), {c.size(1), c.size(2)}, torch::kInt32)
      .to(raw.device(), torch::kLong);
}

SuperpixelPooling::SuperpixelPooling(const torch::Tensor& labels) {
  torch::NoGradGuard noGrad;
  const int64_t B = labels.size(0);
  torch::Tensor lab = labels.to(torch::kLong).reshape({B, -1});
  const int64_t K = std::max<int64_t>(0, lab.max().item<int64_t>() + 1);
  torch::Tensor nodata = (lab < 0).reshape({-1});
  torch::Tensor offset = torch::arange(B, lab.options()).unsqueeze(1) * K;
  torch::Tensor own = B * K + nodata.to(torch::kLong).cumsum(0) - 1;
  index_ = torch::where(nodata, own, (lab + offset).reshape({-1}));
  segments_ = B * K + nodata.sum().item<int64_t>();
  counts_ = torch::zeros({segments_}, lab.options().dtype(torch::kFloat64))
                .index_add_(0, index_,
                            torch::ones({index_.size(0)}, index_.options().dtype(torch::kFloat64)));
}

torch::Tensor SuperpixelPooling::operator()(const torch::Tensor& a) const {
  const auto s = a.sizes();
  // P x (B h w): one row per abundance channel, pixels of all tiles along the columns.
  torch::Tensor x = a.transpose(0, 1).reshape({s[1], -1});
  torch::Tensor sums = torch::zeros({s[1], segments_}, a.options()).index_add(1, index_, x);
  torch::Tensor mean = sums / counts_.to(a.scalar_type());
  return mean.index_select(1, index_).reshape({s[1], s[0], s[2], s[3]}).transpose(0, 1);
}

namespace {

class SuperpixelProx final : public SpatialProx {
 public:
  explicit SuperpixelProx(const DeqNetwork& network)
      : size_(network.options.superpixelSize), features_(network.superpixelFeatures) {}

  void fit(const torch::Tensor& raw, DeqNetwork& network) const override {
    torch::Tensor c = raw.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    network.superpixelFeatures = computeSuperpixelFeatures(c.data_ptr<float>(), int(c.size(0)),
                                                           int(c.size(1)), int(c.size(2)));
  }
  torch::Tensor guide(const ProxWindow& window) const override {
    return superpixelLabels(window.raw, size_, window.row, window.col, features_);
  }
  void prepare(const torch::Tensor& guides) override {
    if (!guides.defined())
      throw InvalidArgument(
          "DEQ map: the superpixel prox needs B x h x w superpixel labels of the scene "
          "(superpixelLabels of each tile)");
    pooling_ = SuperpixelPooling(guides);
  }
  torch::Tensor apply(const torch::Tensor& b) const override { return pooling_(b); }

 private:
  int size_;
  SuperpixelFeatures features_;
  SuperpixelPooling pooling_;
};

}  // namespace

std::unique_ptr<SpatialProx> makeSuperpixelProx(const DeqNetwork& network) {
  return std::make_unique<SuperpixelProx>(network);
}

}  // namespace dequnmix
