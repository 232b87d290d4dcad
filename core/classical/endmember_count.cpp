// Endmember-count estimators (endmember_count.h).
#include "core/classical/endmember_count.h"

#include <ATen/ATen.h>

#include <cmath>
#include <utility>

#include "core/classical/subspace_ops.h"
#include "core/errors.h"

namespace dequnmix {

namespace {

std::vector<double> values(const at::Tensor& t) {
  const at::Tensor c = t.contiguous().to(at::kDouble);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

at::Tensor symmetric(const at::Tensor& m) { return 0.5 * (m + m.t()); }

// Eigenvalues (decreasing) and eigenvectors (columns) of a symmetric matrix.
std::pair<at::Tensor, at::Tensor> eigenDecreasing(const at::Tensor& m) {
  auto [w, v] = at::linalg_eigh(symmetric(m));
  return {w.flip(0), v.flip(1)};
}

// HySime's noise: band i's noise is what least squares on the other bands leaves of it.
// With Q = K^-1 that residual is (Q y)_i / Q_ii, so over the pixels the noise correlation
// is Rn = D Q D and the signal's Rx = K - 2 D + Rn, D = diag(Q)^-1.
std::pair<at::Tensor, at::Tensor> regressionNoise(const at::Tensor& K) {
  const at::Tensor Q = ridgedInverse(K);
  const at::Tensor D = at::diag(1.0 / Q.diagonal());
  const at::Tensor Rn = symmetric(D.mm(Q).mm(D));
  return {Rn, symmetric(K - 2 * D + Rn)};
}

int hysimeCount(const at::Tensor& K, const at::Tensor& Rn, const at::Tensor& Rx,
                EndmemberCountEstimate& out) {
  auto [lambda, E] = eigenDecreasing(Rx);
  const at::Tensor power = (E * K.mm(E)).sum(0);
  const at::Tensor noise = (E * Rn.mm(E)).sum(0);
  const at::Tensor criterion = -power + 2 * noise;
  out.signalEigenvalues = values(lambda);
  out.hysimeCriterion = values(criterion);
  return int((criterion < 0).sum().item<int64_t>());
}

// Components whose correlation eigenvalue exceeds the covariance one by more than the
// Neyman-Pearson threshold: the difference has variance 2 (lc^2 + lk^2) / N under the
// noise-only hypothesis.
struct HfcResult {
  int count = 0;
  std::vector<double> correlation, covariance, threshold;
};

HfcResult hfc(const at::Tensor& K, const at::Tensor& C, double pixels, double falseAlarm) {
  const at::Tensor lc = eigenDecreasing(K).first, lk = eigenDecreasing(C).first;
  const double z =
      at::special_ndtri(at::scalar_tensor(1.0 - falseAlarm, at::kDouble)).item<double>();
  const at::Tensor tau = z * (2 * (lc * lc + lk * lk) / pixels).sqrt();
  // Components at rounding level (beyond the data's numerical rank) compare noise of noise.
  const at::Tensor resolved = lc > 1e-10 * lc[0];
  return {int((lc - lk > tau).logical_and(resolved).sum().item<int64_t>()), values(lc), values(lk),
          values(tau)};
}

// The name the logs and messages give a method.
const char* methodLabel(EndmemberCountMethod method) {
  switch (method) {
    case EndmemberCountMethod::HySime:
      return "HySime";
    case EndmemberCountMethod::Hfc:
      return "HFC";
    case EndmemberCountMethod::NwHfc:
      return "NWHFC";
  }
  return "?";
}

// K and C of the data whitened by the noise correlation Rn.
std::pair<at::Tensor, at::Tensor> whitened(const at::Tensor& K, const at::Tensor& mean,
                                           const at::Tensor& Rn) {
  auto [s, V] = eigenDecreasing(Rn);
  const double floor = 1e-12 * s.max().item<double>();
  const at::Tensor W = V.mm(at::diag(1.0 / s.clamp_min(floor).sqrt())).mm(V.t());
  const at::Tensor Kw = symmetric(W.mm(K).mm(W));
  const at::Tensor mw = W.mv(mean);
  return {Kw, symmetric(Kw - at::outer(mw, mw))};
}

}  // namespace

const std::vector<std::string>& endmemberCountMethodNames() {
  static const std::vector<std::string> names = {"hysime", "hfc", "nwhfc"};
  return names;
}

EndmemberCountMethod parseEndmemberCountMethod(const std::string& name) {
  const auto& names = endmemberCountMethodNames();
  for (size_t k = 0; k < names.size(); ++k)
    if (names[k] == name) return static_cast<EndmemberCountMethod>(k);
  throw InvalidArgument("unknown endmember-count method '" + name +
                        "' (expected hysime, hfc or nwhfc)");
}

void EndmemberCountOptions::validate() const {
  if (!(falseAlarm > 0 && falseAlarm < 0.5))
    throw InvalidArgument("false-alarm probability " + messageNumber(falseAlarm) +
                          " is out of range: it must lie between 0 and 0.5 (typically 1e-3)");
}

int EndmemberCountEstimate::count(EndmemberCountMethod method) const {
  switch (method) {
    case EndmemberCountMethod::Hfc:
      return hfc;
    case EndmemberCountMethod::NwHfc:
      return nwhfc;
    case EndmemberCountMethod::HySime:
      break;
  }
  return hysime;
}

EndmemberCountEstimate estimateEndmemberCount(const BandMoments& m,
                                              const EndmemberCountOptions& options) {
  options.validate();
  const int L = m.bands;
  if (L < 2 || m.pixels < 2)
    throw InvalidArgument(
        "estimating the number of endmembers needs at least 2 bands and 2 "
        "valid pixels");
  const at::Tensor K = doubleTensor(m.correlation, {L, L});
  const at::Tensor C = doubleTensor(m.covariance, {L, L});
  const at::Tensor mean = doubleTensor(m.mean, {L});
  if (!K.isfinite().all().item<bool>() || !C.isfinite().all().item<bool>())
    throw InvalidArgument("the scene's statistics are not finite (infinite or huge values)");
  EndmemberCountEstimate out;
  auto [Rn, Rx] = regressionNoise(K);
  out.hysime = hysimeCount(K, Rn, Rx, out);
  HfcResult plain = hfc(K, C, double(m.pixels), options.falseAlarm);
  out.hfc = plain.count;
  out.correlationEigenvalues = std::move(plain.correlation);
  out.covarianceEigenvalues = std::move(plain.covariance);
  out.hfcThreshold = std::move(plain.threshold);
  auto [Kw, Cw] = whitened(K, mean, Rn);
  const HfcResult white = hfc(Kw, Cw, double(m.pixels), options.falseAlarm);
  out.nwhfc = white.count;
  for (size_t k = 0; k < white.correlation.size(); ++k)
    out.whitenedDifference.push_back(white.correlation[k] - white.covariance[k]);
  out.nwhfcThreshold = white.threshold;
  return out;
}

int endmemberCountForUnmixing(const BandMoments& moments) {
  const int P = estimateEndmemberCount(moments).count(kUnmixingCountMethod);
  if (P < 2 || P >= moments.bands)
    throw InvalidArgument(std::string(methodLabel(kUnmixingCountMethod)) + " estimates " +
                          std::to_string(P) + " endmember(s) in " + std::to_string(moments.bands) +
                          " bands, but unmixing needs at least 2 and fewer than the bands: give "
                          "the number of endmembers instead of 0");
  return P;
}

std::string estimatedCountMessage(int count) {
  return "ENDMEMBERS = 0: " + std::string(methodLabel(kUnmixingCountMethod)) + " estimates " +
         std::to_string(count) +
         " endmembers (a material covering a few percent of the scene can go uncounted: give "
         "ENDMEMBERS where one matters)";
}

}  // namespace dequnmix
