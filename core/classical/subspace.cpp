// Band moments and the SNR estimate (subspace.h).
#include "core/classical/subspace.h"

#include <cmath>
#include <limits>
#include <string>

#include "core/classical/subspace_ops.h"
#include "core/errors.h"

namespace dequnmix {

at::Tensor doubleTensor(const std::vector<double>& values, at::IntArrayRef shape) {
  return at::from_blob(const_cast<double*>(values.data()), shape, at::kDouble).clone();
}

std::pair<at::Tensor, at::Tensor> topEigenpairs(const at::Tensor& symmetric, int k) {
  auto [values, vectors] = at::linalg_eigh(symmetric);  // ascending
  const int64_t n = symmetric.size(0);
  at::Tensor topValues = values.slice(0, n - k, n).flip({0}).contiguous();
  at::Tensor topVectors = vectors.slice(1, n - k, n).flip({1}).contiguous();
  const at::Tensor pivot = topVectors.abs().argmax(0);  // row of the largest entry per column
  const at::Tensor signs = topVectors.gather(0, pivot.unsqueeze(0)).sign();
  topVectors = topVectors * at::where(signs == 0, at::ones_like(signs), signs);
  return {topValues, topVectors};
}

at::Tensor ridgedInverse(const at::Tensor& K) {
  const int64_t L = K.size(0);
  const double ridge = 1e-12 * K.trace().item<double>() / double(L);
  return at::linalg_inv(K + ridge * at::eye(L, K.options()));
}

at::Tensor regressionNoiseVariances(const at::Tensor& K) {
  return 1.0 / ridgedInverse(K).diagonal();
}

namespace {

std::vector<double> toVector(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

BandMoments bandMoments(PixelSource& source, ProgressSink* progress) {
  const int L = source.bands();
  const auto dopt = at::TensorOptions().dtype(at::kDouble);
  int64_t n = 0;
  at::Tensor sum = at::zeros({L}, dopt);
  at::Tensor corr = at::zeros({L, L}, dopt);
  source.scan(
      [&](const PixelBlock& block) {
        const at::Tensor x =
            at::from_blob(const_cast<float*>(block.values), {block.count, L}, at::kFloat)
                .to(at::kDouble);
        corr.addmm_(x.t(), x);
        sum.add_(x.sum(0));
        n += block.count;
      },
      progress);

  BandMoments m;
  m.bands = L;
  m.pixels = n;
  if (n == 0) {  // zeros rather than 0 / 0
    m.mean.assign(L, 0.0);
    m.correlation.assign(static_cast<size_t>(L) * L, 0.0);
    m.covariance = m.correlation;
    return m;
  }
  const at::Tensor mean = sum / static_cast<double>(n);
  const at::Tensor corrN = corr / static_cast<double>(n);
  const at::Tensor cov = corrN - at::outer(mean, mean);
  m.mean = toVector(mean);
  m.correlation = toVector(corrN);
  m.covariance = toVector((cov + cov.t()) * 0.5);
  return m;
}

double estimateSnrDb(const BandMoments& moments, int signalDimension) {
  const int L = moments.bands;
  const int p = signalDimension;
  if (p < 1 || p > L) {
    throw InvalidArgument("SNR estimate: the signal dimension (" + std::to_string(p) +
                          ") must be between 1 and the number of bands (" + std::to_string(L) +
                          ")");
  }
  if (moments.pixels < 1) {
    throw InvalidArgument("SNR estimate: the scene has no valid pixel (all nodata)");
  }
  const at::Tensor mean = doubleTensor(moments.mean, {L});
  const at::Tensor corrN = doubleTensor(moments.correlation, {L, L});
  const at::Tensor covValues = topEigenpairs(doubleTensor(moments.covariance, {L, L}), p).first;
  const double py = corrN.trace().item<double>();
  const double px = covValues.sum().item<double>() + mean.dot(mean).item<double>();
  const double signal = px - static_cast<double>(p) / L * py;
  const double noise = py - px;
  if (noise <= 0) return std::numeric_limits<double>::infinity();  // noise-free to rounding
  if (signal <= 0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

}  // namespace dequnmix
