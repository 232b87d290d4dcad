// The DEQ-Unmix network, map, losses and the angular mean-shift refinement (deq_ops.h).
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/functional/pooling.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/deq/deq_ops.h"
#include "core/errors.h"
#include "core/classical/simplex_ops.h"
#include "core/classical/superpixels.h"

namespace dequnmix {

namespace {

torch::Tensor uniformTensor(std::vector<int64_t> shape, double bound, std::mt19937_64& rng,
                            const torch::Device& device) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<float> v(static_cast<size_t>(n));
  std::uniform_real_distribution<double> dist(-bound, bound);
  for (float& x : v) x = static_cast<float>(dist(rng));
  return torch::from_blob(v.data(), shape, torch::kFloat32).clone().to(device);
}

int inputChannels(const DeqNetworkOptions& o, int bands, int endmembers) {
  return o.input == DeqNetworkInput::ResidualAndAbundances ? bands + endmembers : 2 * endmembers;
}

std::string layerName(size_t i, const char* what) {
  return "conv" + std::to_string(i) + "." + what;
}

// At most 20,000 pixels (columns of L x N), every k-th: a deterministic subsample that
// keeps the endmember fits' cost independent of the scene size.
torch::Tensor subsamplePixels(const torch::Tensor& pixels) {
  const int64_t maxPixels = 20000;
  if (pixels.size(1) <= maxPixels) return pixels;
  const int64_t k = (pixels.size(1) + maxPixels - 1) / maxPixels;
  return pixels.index(
      {torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, k)});
}

}  // namespace

DeqNetwork DeqNetwork::create(int bands, int endmembers, const DeqNetworkOptions& options,
                              uint64_t seed, const torch::Device& device) {
  if (bands < 1 || endmembers < 2)
    throw InvalidArgument("network: needs at least one band and two endmembers");
  if (options.hiddenChannels < 1 || options.hiddenLayers < 0)
    throw InvalidArgument("network: hiddenChannels must be >= 1 and hiddenLayers >= 0");
  if (!(options.initialStep > 0)) throw InvalidArgument("network: initialStep must be > 0");
  DeqNetwork net;
  net.options = options;
  net.bands = bands;
  net.endmembers = endmembers;
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  const int C = options.hiddenChannels;
  std::vector<std::vector<int64_t>> shapes;
  shapes.push_back({C, inputChannels(options, bands, endmembers), 1, 1});
  for (int i = 0; i < options.hiddenLayers; ++i) shapes.push_back({C, C, 3, 3});
  shapes.push_back({endmembers, C, 3, 3});
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto& s = shapes[i];
    const double bound = 1.0 / std::sqrt(static_cast<double>(s[1] * s[2] * s[3]));
    const bool last = i + 1 == shapes.size();
    net.weights.push_back(last ? torch::zeros(s, torch::TensorOptions(device))
                               : uniformTensor(s, bound, rng, device));
    net.biases.push_back(last ? torch::zeros({s[0]}, torch::TensorOptions(device))
                              : uniformTensor({s[0]}, bound, rng, device));
  }
  // softplus^-1(s) = log(exp(s) - 1)
  const double p = std::log(std::expm1(options.initialStep));
  net.etaParameter = torch::full({}, p, torch::TensorOptions(device));
  return net;
}

std::vector<DeqTensor> DeqNetwork::toTensors() const {
  std::vector<DeqTensor> out;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    DeqTensor d;
    d.name = name;
    d.shape.assign(c.sizes().begin(), c.sizes().end());
    d.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    out.push_back(std::move(d));
  };
  for (size_t i = 0; i < weights.size(); ++i) {
    add(layerName(i, "weight"), weights[i]);
    add(layerName(i, "bias"), biases[i]);
  }
  add("eta", etaParameter);
  // The spatial prox weight travels as a tensor, so files without it (older models) read
  // as weight 0 and the file format is unchanged.
  if (options.spatialWeight > 0)
    add("spatial_weight", torch::tensor({float(options.spatialWeight)}));
  if (options.spatialProx == SpatialProx::Superpixel) {
    add("spatial_prox", torch::tensor({1.0f}));
    add("superpixel_size", torch::tensor({float(options.superpixelSize)}));
    const SuperpixelFeatures& f = superpixelFeatures;
    if (f.components > 0) {
      add("superpixel_mean", torch::tensor(f.mean));
      add("superpixel_basis", torch::tensor(f.basis).reshape({f.bands, f.components}));
      add("superpixel_spread", torch::tensor({f.spread}));
    }
  }
  return out;
}

DeqNetwork DeqNetwork::fromTensors(int bands, int endmembers, const DeqNetworkOptions& options,
                                   const std::vector<DeqTensor>& tensors,
                                   const torch::Device& device) {
  // The shapes come from create(); the stored tensors must match them exactly.
  DeqNetwork net = create(bands, endmembers, options, 0, torch::Device(torch::kCPU));
  auto find = [&](const std::string& name) -> const DeqTensor& {
    for (const DeqTensor& t : tensors)
      if (t.name == name) return t;
    throw ModelCorruptError("model file: network tensor '" + name + "' is missing");
  };
  auto load = [&](const std::string& name, torch::Tensor& target) {
    const DeqTensor& t = find(name);
    if (std::vector<int64_t>(target.sizes().begin(), target.sizes().end()) != t.shape ||
        static_cast<int64_t>(t.values.size()) != target.numel())
      throw ModelCorruptError("model file: network tensor '" + name +
                              "' has the wrong shape for the stored network settings");
    for (float v : t.values)
      if (!std::isfinite(v))
        throw ModelCorruptError("model file: network tensor '" + name + "' is not finite");
    target = torch::from_blob(const_cast<float*>(t.values.data()), t.shape, torch::kFloat32)
                 .clone()
                 .to(device);
  };
  for (size_t i = 0; i < net.weights.size(); ++i) {
    load(layerName(i, "weight"), net.weights[i]);
    load(layerName(i, "bias"), net.biases[i]);
  }
  load("eta", net.etaParameter);
  size_t expected = 2 * net.weights.size() + 1;
  for (const DeqTensor& t : tensors)
    if (t.name == "spatial_weight") {
      if (t.values.size() != 1 || !(t.values[0] >= 0 && t.values[0] < 1))
        throw ModelCorruptError("model file: spatial_weight must be one value in [0, 1)");
      net.options.spatialWeight = t.values[0];
      ++expected;
    } else if (t.name == "spatial_prox") {
      if (t.values.size() != 1 || !(t.values[0] == 0 || t.values[0] == 1))
        throw ModelCorruptError(
            "model file: spatial_prox must be 0 (neighbourhood) or 1 "
            "(superpixel)");
      net.options.spatialProx =
          t.values[0] == 1 ? SpatialProx::Superpixel : SpatialProx::Neighbourhood;
      ++expected;
    } else if (t.name == "superpixel_size") {
      if (t.values.size() != 1 || !(t.values[0] >= 2 && t.values[0] <= 1e6) ||
          t.values[0] != std::floor(t.values[0]))
        throw ModelCorruptError("model file: superpixel_size must be one integer >= 2");
      net.options.superpixelSize = static_cast<int>(t.values[0]);
      ++expected;
    }
  // The SLIC feature transform: all three tensors or none (files from before it was
  // stored), and only with the superpixel prox.
  const DeqTensor *mean = nullptr, *basis = nullptr, *spread = nullptr;
  for (const DeqTensor& t : tensors) {
    if (t.name == "superpixel_mean") mean = &t;
    if (t.name == "superpixel_basis") basis = &t;
    if (t.name == "superpixel_spread") spread = &t;
  }
  if (mean || basis || spread) {
    if (!(mean && basis && spread) || net.options.spatialProx != SpatialProx::Superpixel)
      throw ModelCorruptError(
          "model file: superpixel_mean, superpixel_basis and superpixel_spread must be stored "
          "together, with spatial_prox 1 (superpixel)");
    const int64_t k = basis->shape.size() == 2 ? basis->shape[1] : 0;
    if (mean->shape != std::vector<int64_t>{bands} || k < 1 || k > bands ||
        basis->shape[0] != bands || spread->shape != std::vector<int64_t>{1})
      throw ModelCorruptError(
          "model file: the superpixel feature transform needs "
          "superpixel_mean of shape [" +
          std::to_string(bands) + "], superpixel_basis [" + std::to_string(bands) +
          ", k] with 1 <= k <= " + std::to_string(bands) + " and superpixel_spread [1]");
    for (const DeqTensor* t : {mean, basis, spread})
      for (float v : t->values)
        if (!std::isfinite(v))
          throw ModelCorruptError("model file: network tensor '" + t->name + "' is not finite");
    if (!(spread->values[0] >= 0))
      throw ModelCorruptError("model file: superpixel_spread must be >= 0");
    net.superpixelFeatures.bands = bands;
    net.superpixelFeatures.components = int(k);
    net.superpixelFeatures.mean = mean->values;
    net.superpixelFeatures.basis = basis->values;
    net.superpixelFeatures.spread = spread->values[0];
    expected += 3;
  }
  if (tensors.size() != expected)
    throw ModelCorruptError("model file: unexpected extra network tensors");
  return net;
}

std::vector<torch::Tensor> DeqNetwork::parameters() const {
  std::vector<torch::Tensor> p(weights);
  p.insert(p.end(), biases.begin(), biases.end());
  p.push_back(etaParameter);
  return p;
}

void DeqNetwork::setRequiresGrad(bool requiresGrad) {
  for (torch::Tensor& t : weights) t.requires_grad_(requiresGrad);
  for (torch::Tensor& t : biases) t.requires_grad_(requiresGrad);
  etaParameter.requires_grad_(requiresGrad);
}

void DeqNetwork::zeroLearnedPart() {
  torch::NoGradGuard noGrad;
  for (torch::Tensor& t : weights) t.zero_();
  for (torch::Tensor& t : biases) t.zero_();
}

double DeqNetwork::stepInLipschitzUnits() const {
  return torch::softplus(etaParameter.detach()).item<double>();
}

torch::Tensor reconstructScene(const torch::Tensor& endmembers, const torch::Tensor& abundances) {
  const auto s = abundances.sizes();
  torch::Tensor flat = abundances.reshape({s[0], s[1], s[2] * s[3]});
  return endmembers.matmul(flat).reshape({s[0], endmembers.size(0), s[2], s[3]});
}

torch::Tensor DeqNetwork::learned(const torch::Tensor& residual, const torch::Tensor& abundances,
                                  const torch::Tensor& endmembers) const {
  torch::Tensor in;
  if (options.input == DeqNetworkInput::ResidualAndAbundances) {
    in = torch::cat({residual, abundances}, 1);
  } else {
    in = torch::cat({reconstructScene(endmembers.t(), residual), abundances}, 1);
  }
  torch::Tensor h = torch::tanh(torch::conv2d(in, weights[0], biases[0]));
  for (size_t i = 1; i < weights.size(); ++i) {
    torch::Tensor padded = torch::replication_pad2d(h, {1, 1, 1, 1});
    h = torch::conv2d(padded, weights[i], biases[i]);
    if (i + 1 < weights.size()) h = torch::tanh(h);
  }
  return h;
}

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

DeqUnmixMap::DeqUnmixMap(const DeqNetwork& network, torch::Tensor endmembers, torch::Tensor scene,
                         const torch::Tensor& superpixels)
    : network_(&network), endmembers_(std::move(endmembers)), scene_(std::move(scene)) {
  torch::NoGradGuard noGrad;
  if (network.options.spatialProx == SpatialProx::Superpixel && network.options.spatialWeight > 0) {
    if (!superpixels.defined() || superpixels.dim() != 3 || superpixels.size(0) != scene_.size(0) ||
        superpixels.size(1) != scene_.size(2) || superpixels.size(2) != scene_.size(3))
      throw InvalidArgument(
          "DEQ map: the superpixel prox needs B x h x w superpixel labels of the scene "
          "(superpixelLabels of each tile)");
    pooling_ = SuperpixelPooling(superpixels);
  }
  // ||E||_2^2 = largest eigenvalue of E^T E (P x P, float64 for accuracy).
  torch::Tensor gram =
      endmembers_.detach().to(torch::kFloat64).t().matmul(endmembers_.detach().to(torch::kFloat64));
  lipschitz_ = torch::linalg_eigvalsh(gram.cpu()).max().item<double>();
  if (!(lipschitz_ > 0)) throw InvalidArgument("DEQ map: endmember matrix is zero");
}

torch::Tensor DeqUnmixMap::step() const {
  return torch::softplus(network_->etaParameter) / lipschitz_;
}

torch::Tensor DeqUnmixMap::operator()(const torch::Tensor& abundances) const {
  torch::Tensor residual = reconstructScene(endmembers_, abundances) - scene_;
  torch::Tensor gradient = reconstructScene(endmembers_.t(), residual);  // E^T R
  torch::Tensor g = gradient + network_->learned(residual, abundances, endmembers_);
  // contiguous(): the projection returns a permuted layout, and convolutions on it took
  // 20x longer (measured 280 ms instead of 14 ms per evaluation on 32 x 32 x 100).
  torch::Tensor b = projectOntoSimplex(abundances - step() * g, 1).contiguous();
  const double w = network_->options.spatialWeight;
  if (!(w > 0)) return b;
  // Spatial prox: blend with the 3 x 3 neighbourhood mean (border windows average only
  // the pixels inside) or the superpixel mean; either is a convex combination of simplex
  // points, so the result stays on the simplex.
  torch::Tensor mean;
  if (pooling_.defined()) {
    mean = pooling_(b);
  } else {
    namespace F = torch::nn::functional;
    mean =
        F::avg_pool2d(b, F::AvgPool2dFuncOptions(3).stride(1).padding(1).count_include_pad(false));
  }
  return ((1 - w) * b + w * mean).contiguous();
}

DeqMap DeqUnmixMap::asMap() const {
  return [this](const torch::Tensor& a) { return (*this)(a); };
}

torch::Tensor maskedSpectralAngle(const torch::Tensor& y, const torch::Tensor& yhat,
                                  const torch::Tensor& mask) {
  torch::Tensor dot = (y * yhat).sum(1, true);
  torch::Tensor n = y.norm(2, 1, true) * yhat.norm(2, 1, true) + 1e-12;
  torch::Tensor angle = torch::acos(torch::clamp(dot / n, -1 + 1e-7, 1 - 1e-7));
  return (angle * mask).sum() / mask.sum().clamp_min(1);
}

torch::Tensor maskedMse(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  torch::Tensor se = ((a - b).pow(2) * mask).sum();
  return se / (mask.sum().clamp_min(1) * a.size(1));
}

torch::Tensor refineEndmembersMeanShift(const torch::Tensor& endmembers,
                                        const torch::Tensor& pixels, double radius, int iterations,
                                        int minPixels, std::vector<bool>* moved) {
  torch::NoGradGuard noGrad;
  torch::Tensor E = endmembers.to(torch::kFloat64);
  torch::Tensor Y = pixels.to(torch::kFloat64);
  torch::Tensor norms = Y.norm(2, 0, true);  // 1 x N
  torch::Tensor valid = (norms > 0).reshape({-1});
  Y = Y.index({torch::indexing::Slice(), valid});
  norms = norms.index({torch::indexing::Slice(), valid});
  torch::Tensor U = Y / norms;  // unit pixels, L x N
  const int64_t N = U.size(1);
  const int P = static_cast<int>(E.size(1));
  torch::Tensor out = E.clone();
  if (moved) moved->assign(P, false);
  for (int p = 0; p < P; ++p) {
    torch::Tensor d = E.select(1, p);
    const double dn = d.norm().item<double>();
    if (!(dn > 0) || N == 0) continue;
    d = d / dn;
    double t = radius;
    if (!(t > 0)) {
      // Adaptive ball: the angle to the k-th nearest pixel.
      const int64_t k = std::min<int64_t>(
          N, std::max<int64_t>(minPixels, static_cast<int64_t>(std::ceil(0.002 * N))));
      torch::Tensor ang = torch::acos(torch::clamp(d.matmul(U), -1.0, 1.0));
      t = std::max(0.02, std::get<0>(torch::kthvalue(ang, k)).item<double>());
    }
    const double cosT = std::cos(t);
    torch::Tensor ball;
    bool ok = true;
    for (int it = 0; it < std::max(1, iterations); ++it) {
      ball = d.matmul(U) >= cosT;
      if (ball.sum().item<int64_t>() < minPixels) {
        ok = false;
        break;
      }
      torch::Tensor m = U.index({torch::indexing::Slice(), ball}).mean(1);
      d = m / m.norm();
    }
    if (!ok) continue;
    const double scale = norms.index({torch::indexing::Slice(), ball}).mean().item<double>();
    out.select(1, p).copy_(d * scale);
    if (moved) (*moved)[p] = true;
  }
  return out.to(endmembers.scalar_type());
}

}  // namespace dequnmix

namespace dequnmix {

torch::Tensor refineEndmembersMinVolume(const torch::Tensor& endmembers,
                                        const torch::Tensor& pixels, double outsideFraction,
                                        int iterations, double noiseMargin) {
  const int P = static_cast<int>(endmembers.size(1));
  const int64_t L = pixels.size(0);
  torch::Tensor Y = pixels.to(torch::kFloat64).cpu();
  torch::Tensor E = endmembers.to(torch::kFloat64).cpu();
  if (Y.size(1) < P + 1 || P < 2 || L < P) return endmembers.clone();
  Y = subsamplePixels(Y);
  torch::Tensor U, m, Z, V0;
  double s = 1, noiseVar = 0;
  {
    torch::NoGradGuard noGrad;
    m = Y.mean(1, true);
    torch::Tensor Yc = Y - m;
    torch::Tensor cov = Yc.matmul(Yc.t()) / double(Yc.size(1));
    auto [evals, evecs] = torch::linalg_eigh(cov);  // ascending
    noiseVar = evals.index({torch::indexing::Slice(0, L - (P - 1))}).median().item<double>();
    U = evecs.index({torch::indexing::Slice(), torch::indexing::Slice(L - (P - 1), L)});
    Z = U.t().matmul(Yc);
    s = Z.pow(2).sum(0).mean().sqrt().item<double>();
    if (!(s > 0) || !std::isfinite(s)) return endmembers.clone();
    Z = Z / s;
    V0 = U.t().matmul(E - m) / s;  // (P - 1) x P
  }
  torch::Tensor X = torch::cat({Z, torch::ones({1, Z.size(1)}, Z.options())}, 0);  // P x N
  torch::Tensor V = V0.clone().requires_grad_(true);
  torch::Tensor ones = torch::ones({1, P}, Z.options());
  const double lambda = 1.0 / std::max(1e-4, outsideFraction);
  // Adam on the vertices (in units of the data's spread), learning rate decayed linearly.
  torch::Tensor mo = torch::zeros_like(V), ve = torch::zeros_like(V);
  const double b1 = 0.9, b2 = 0.999, lr0 = 0.02;
  torch::Tensor best = V0.clone();
  for (int it = 1; it <= iterations; ++it) {
    torch::Tensor M = torch::cat({V, ones}, 0);
    auto sld = torch::linalg_slogdet(M);
    // A singular vertex matrix (two identical vertices): linalg_solve would throw.
    if (std::get<0>(sld).item<double>() == 0) {
      if (it == 1) return endmembers.clone();
      break;
    }
    torch::Tensor A = torch::linalg_solve(M, X);
    torch::Tensor margin;
    {
      torch::NoGradGuard noGrad;
      torch::Tensor Q = torch::linalg_inv(M.detach());
      margin =
          (noiseMargin * std::sqrt(std::max(0.0, noiseVar)) / s) *
          Q.index({torch::indexing::Slice(), torch::indexing::Slice(0, P - 1)}).norm(2, 1, true);
    }
    torch::Tensor loss = std::get<1>(sld) + lambda * torch::relu(-A - margin).sum(0).mean();
    if (!std::isfinite(loss.item<double>())) break;
    torch::Tensor g = torch::autograd::grad({loss}, {V})[0];
    torch::NoGradGuard noGrad;
    mo.mul_(b1).add_(g, 1 - b1);
    ve.mul_(b2).addcmul_(g, g, 1 - b2);
    const double lr = lr0 * (1.0 - 0.9 * double(it - 1) / iterations);
    torch::Tensor step =
        (mo / (1 - std::pow(b1, it))) / ((ve / (1 - std::pow(b2, it))).sqrt() + 1e-12);
    V.sub_(lr * step);
    best = V.detach().clone();
  }
  torch::NoGradGuard noGrad;
  torch::Tensor out = m + U.matmul(best * s);
  return out.clamp_min(0).to(endmembers.scalar_type());
}

}  // namespace dequnmix

namespace dequnmix {

double affineModelExcess(const torch::Tensor& pixels, int endmembers) {
  torch::NoGradGuard noGrad;
  const int64_t L = pixels.size(0);
  const int P = endmembers;
  torch::Tensor Y = pixels.to(torch::kFloat64).cpu();
  if (Y.size(1) < 2 || P < 2 || L < P + 2) return 1.0;
  Y = subsamplePixels(Y);
  torch::Tensor Yc = Y - Y.mean(1, true);
  torch::Tensor evals =
      torch::linalg_eigvalsh(Yc.matmul(Yc.t()) / double(Yc.size(1)));  // ascending
  const double noise =
      evals.index({torch::indexing::Slice(0, L - (P - 1))}).median().item<double>();
  const double pth = evals[L - P].item<double>();
  return noise > 0 ? pth / noise : 1.0;
}

}  // namespace dequnmix
