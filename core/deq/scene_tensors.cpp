// Plain values to tensors and back (scene_tensors.h).
#include "core/deq/scene_tensors.h"

#include "core/classical/fcls_ops.h"

namespace dequnmix {

torch::Tensor tableTensor(const EndmemberTable& t) {
  return torch::from_blob(const_cast<float*>(t.values.data()), {t.bands, t.endmembers()},
                          torch::kFloat32)
      .clone();
}

EndmemberTable tensorTable(const torch::Tensor& E, const std::vector<std::string>& names,
                           const std::vector<double>& wavelengths) {
  torch::Tensor c = E.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  EndmemberTable t;
  t.names = names;
  t.wavelengths = wavelengths;
  t.bands = static_cast<int>(c.size(0));
  t.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return t;
}

std::pair<torch::Tensor, torch::Tensor> prepareScene(const torch::Tensor& raw,
                                                     const torch::Tensor& scale,
                                                     const torch::Tensor& fill) {
  torch::Tensor y = raw * scale.reshape({-1, 1, 1});
  // A non-finite band makes the band sum non-finite: one reduction instead of a test per
  // value (a finite sum could only overflow for values beyond 1e36, which are no data).
  torch::Tensor valid = torch::isfinite(y.sum(0, true));  // 1 x h x w
  if (!valid.all().item<bool>()) y = torch::where(valid, y, fill.reshape({-1, 1, 1}));
  return {y.unsqueeze(0), valid.unsqueeze(0).to(torch::kFloat32)};
}

torch::Tensor leastSquaresStart(const torch::Tensor& E, const torch::Tensor& scene,
                                bool scaleInvariant) {
  const auto s = scene.sizes();
  FclsOptions fo;
  if (scaleInvariant) fo.constraints = AbundanceConstraints::NonNegative;
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < s[0]; ++b) {
    torch::Tensor pix = scene[b].reshape({s[1], s[2] * s[3]});
    torch::Tensor a = fclsAbundances(E.detach(), pix, fo);
    if (scaleInvariant) {
      torch::Tensor sum = a.sum(0, true);
      a = torch::where(sum > 0, a / sum.clamp_min(1e-30), torch::full_like(a, 1.0 / E.size(1)));
    }
    out.push_back(a.reshape({E.size(1), s[2], s[3]}));
  }
  return torch::stack(out).to(scene.device());
}

}  // namespace dequnmix
