// The learned operator N_theta and the step parameter (deq_ops.h).
#include <algorithm>
#include <cmath>
#include <random>

#include "core/deq/deq_ops.h"
#include "core/errors.h"

namespace dequnmix {

namespace {

torch::Tensor uniformTensor(const std::vector<int64_t>& shape, double bound, std::mt19937_64& rng,
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

// The SLIC feature transform: all three tensors or none (files from before it was stored),
// and only with the superpixel prox. Returns the number of tensors it took.
size_t readSuperpixelFeatures(int bands, const DeqNetworkOptions& options,
                              const std::vector<DeqTensor>& tensors, SuperpixelFeatures& features) {
  const DeqTensor *mean = nullptr, *basis = nullptr, *spread = nullptr;
  for (const DeqTensor& t : tensors) {
    if (t.name == "superpixel_mean") mean = &t;
    if (t.name == "superpixel_basis") basis = &t;
    if (t.name == "superpixel_spread") spread = &t;
  }
  if (!(mean || basis || spread)) return 0;
  if (!(mean && basis && spread) || options.spatialProx != "superpixel")
    throw ModelCorruptError(
        "model file: superpixel_mean, superpixel_basis and superpixel_spread must be stored "
        "together, with spatial_prox superpixel");
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
  features.bands = bands;
  features.components = int(k);
  features.mean = mean->values;
  features.basis = basis->values;
  features.spread = spread->values[0];
  return 3;
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
  const SuperpixelFeatures& f = superpixelFeatures;
  if (options.spatialProx == "superpixel" && f.components > 0) {
    add("superpixel_mean", torch::tensor(f.mean));
    add("superpixel_basis", torch::tensor(f.basis).reshape({f.bands, f.components}));
    add("superpixel_spread", torch::tensor({f.spread}));
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
  expected += readSuperpixelFeatures(bands, net.options, tensors, net.superpixelFeatures);
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

torch::Tensor DeqNetwork::learned(const torch::Tensor& residual, const torch::Tensor& abundances,
                                  const torch::Tensor& endmembers) const {
  torch::Tensor in;
  if (options.input == DeqNetworkInput::ResidualAndAbundances) {
    in = torch::cat({residual, abundances}, 1);
  } else {
    in = torch::cat({reconstructScene(endmembers.t(), residual), abundances}, 1);
  }
  return afterInputLayer(torch::conv2d(in, weights[0], biases[0]));
}

namespace {

// replication_pad2d(x, 1) as copies into the interior and border of a new buffer of x's
// layout: not differentiable, and twice as fast (replication_pad2d took 2-3 ms on
// 32 x 288 x 288, the copies 0.3; tanh_out into the strided interior took as long as both).
torch::Tensor replicationPadded(const torch::Tensor& x) {
  using torch::indexing::Slice;
  const int64_t h = x.size(2), w = x.size(3);
  torch::Tensor out = torch::empty({x.size(0), x.size(1), h + 2, w + 2},
                                   x.options().memory_format(x.suggest_memory_format()));
  out.index({Slice(), Slice(), Slice(1, h + 1), Slice(1, w + 1)}).copy_(x);
  out.select(2, 0).narrow(2, 1, w).copy_(out.select(2, 1).narrow(2, 1, w));
  out.select(2, h + 1).narrow(2, 1, w).copy_(out.select(2, h).narrow(2, 1, w));
  out.select(3, 0).copy_(out.select(3, 1));
  out.select(3, w + 1).copy_(out.select(3, w));
  return out;
}

}  // namespace

at::MemoryFormat DeqNetwork::layout(const torch::Tensor& x) {
  return x.is_cpu() && !torch::GradMode::is_enabled() ? at::MemoryFormat::ChannelsLast
                                                      : at::MemoryFormat::Contiguous;
}

torch::Tensor DeqNetwork::afterInputLayer(const torch::Tensor& preactivation) const {
  if (!torch::GradMode::is_enabled()) {
    if (preactivation.is_cpu()) return afterInputLayerInSigmoids(preactivation);
    torch::Tensor h = preactivation.clone(layout(preactivation)).tanh_();  // not recorded
    for (size_t i = 1; i < weights.size(); ++i) {
      h = torch::conv2d(replicationPadded(h), weights[i], biases[i]);
      if (i + 1 < weights.size()) h.tanh_();
    }
    return h.contiguous();
  }
  torch::Tensor h = torch::tanh(preactivation.contiguous());
  for (size_t i = 1; i < weights.size(); ++i) {
    h = torch::conv2d(torch::replication_pad2d(h, {1, 1, 1, 1}), weights[i], biases[i]);
    if (i + 1 < weights.size()) h = torch::tanh(h);
  }
  return h.contiguous();
}

torch::Tensor DeqNetwork::afterInputLayerInSigmoids(const torch::Tensor& preactivation) const {
  // s = sigmoid(2 z) = (tanh(z) + 1) / 2, with tanh's scale and shift folded into the next
  // layer: W * pad(2 s - 1) + b = 2 W * pad(s) + b - W * 1 (padding keeps a constant), and
  // the next activation's 2 z into that layer's weights and bias.
  torch::Tensor s = (preactivation.contiguous(layout(preactivation)) * 2).sigmoid_();
  for (size_t i = 1; i < weights.size(); ++i) {
    const bool hidden = i + 1 < weights.size();
    const double scale = hidden ? 2 : 1;
    s = torch::conv2d(replicationPadded(s), weights[i] * (2 * scale),
                      (biases[i] - weights[i].sum({1, 2, 3})) * scale);
    if (hidden) s.sigmoid_();
  }
  return s.contiguous();
}

}  // namespace dequnmix
