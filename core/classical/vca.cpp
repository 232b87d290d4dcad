// VCA in streaming form (see vca.h). Notation of the reference code (VCA.m, Nascimento
// and Bioucas-Dias): R is the L x N data, r_m its band mean, p the endmember count.
//
//   Pass 1 accumulates N, sum r and sum r r^T (double), giving the correlation
//   K = R R^T / N and the covariance C = K - r_m r_m^T, whose top-p eigenvectors are the
//   reference's svds(R R^T / N, p) and svds(R_o R_o^T / N, p). The SNR estimate
//     P_y = trace(K),  P_x = sum of the top-p eigenvalues of C + r_m^T r_m
//     (= sum(x_p.^2) / N + r_m' r_m, since x_p = U_d^T (R - r_m)),
//     SNR = 10 log10((P_x - p/L P_y) / (P_y - P_x))
//   needs no further pass. SNR < 15 + 10 log10(p) selects the zero-mean projection:
//     d = p - 1, x = U_d^T (r - r_m), y = [x; c] with c = max ||x||;
//   otherwise the projective one:
//     d = p, x = U_d^T r (U_d from K), u = mean x, y = x / (x^T u).
//   Pass 2 stores x (d floats per pixel) and the pixel indices.
//   Vertex search, i = 1..p: w ~ N(0, I_p) from the seeded generator, f = w - A A^+ w
//   (A: the vertices found so far, initially e_p), f /= ||f||, pick argmax_j |f^T y_j|.
//   The endmember is the chosen pixel projected onto the signal subspace, Rp(:, j):
//   U_d x_j + r_m (zero-mean) or U_d x_j (projective).
//
// Eigenvector signs are arbitrary in LAPACK and the search depends on them (w is not
// sign-symmetric), so each eigenvector is normalised to have its largest-magnitude entry
// positive: the result then does not depend on the LAPACK build.
#include "core/classical/vca.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>

#include "core/errors.h"

namespace dequnmix {
namespace {

// Top-k eigenpairs of a symmetric matrix, eigenvalues decreasing, signs normalised.
std::pair<at::Tensor, at::Tensor> topEigen(const at::Tensor& symmetric, int k) {
  auto [values, vectors] = at::linalg_eigh(symmetric);  // ascending
  const int64_t n = symmetric.size(0);
  at::Tensor topValues = values.slice(0, n - k, n).flip({0}).contiguous();
  at::Tensor topVectors = vectors.slice(1, n - k, n).flip({1}).contiguous();
  const at::Tensor pivot = topVectors.abs().argmax(0);  // row of the largest entry per column
  const at::Tensor signs = topVectors.gather(0, pivot.unsqueeze(0)).sign();
  topVectors = topVectors * at::where(signs == 0, at::ones_like(signs), signs);
  return {topValues, topVectors};
}

}  // namespace

VcaResult vca(PixelSource& source, const VcaOptions& options, ProgressSink* progress) {
  const int L = source.bands();
  const int p = options.endmembers;
  if (p < 2) {
    throw InvalidArgument("VCA: at least 2 endmembers are needed (got " + std::to_string(p) + ")");
  }
  if (p >= L) {
    throw InvalidArgument("VCA: the endmember count (" + std::to_string(p) +
                          ") must be less than the number of bands (" + std::to_string(L) +
                          "); ask for fewer endmembers or use more bands");
  }
  const auto dopt = at::TensorOptions().dtype(at::kDouble);

  // Pass 1: N, sum r, sum r r^T.
  int64_t n = 0;
  at::Tensor sum = at::zeros({L}, dopt);
  at::Tensor corr = at::zeros({L, L}, dopt);
  {
    ProgressRange pass(progress, 0.0, 0.45);
    source.scan(
        [&](const PixelBlock& block) {
          const at::Tensor x =
              at::from_blob(const_cast<float*>(block.values), {block.count, L}, at::kFloat)
                  .to(at::kDouble);
          corr.addmm_(x.t(), x);
          sum.add_(x.sum(0));
          n += block.count;
        },
        &pass);
  }
  if (n == 0) {
    throw InvalidArgument("VCA: the scene has no valid pixel (all nodata)");
  }
  if (n < 2) {
    throw InvalidArgument(
        "VCA: the scene has only 1 valid pixel; unmixing needs at least 2 (one per endmember, "
        "and at least 2 endmembers): use a larger area");
  }
  if (n < p) {
    throw InvalidArgument("VCA: only " + std::to_string(n) + " valid pixels for " +
                          std::to_string(p) + " endmembers; ask for at most " + std::to_string(n) +
                          " endmembers or use a larger area");
  }
  if (!corr.isfinite().all().item<bool>()) {
    throw InvalidArgument("VCA: the scene has infinite or overflowing values; mask them as nodata");
  }
  const at::Tensor mean = sum / static_cast<double>(n);
  const at::Tensor corrN = corr / static_cast<double>(n);
  // Symmetrise: the covariance is formed by a subtraction that may break exact symmetry.
  at::Tensor cov = corrN - at::outer(mean, mean);
  cov = (cov + cov.t()) * 0.5;

  // SNR estimate (reference: estimate_snr).
  auto [covValues, covVectors] = topEigen(cov, p);
  const double py = corrN.trace().item<double>();
  const double px = covValues.sum().item<double>() + mean.dot(mean).item<double>();
  const double signal = px - static_cast<double>(p) / L * py;
  const double noise = py - px;
  double snr;
  if (noise <= 0) {
    snr = std::numeric_limits<double>::infinity();  // noise-free to rounding
  } else if (signal <= 0) {
    snr = -std::numeric_limits<double>::infinity();
  } else {
    snr = 10.0 * std::log10(signal / noise);
  }
  const double threshold = 15.0 + 10.0 * std::log10(static_cast<double>(p));
  const bool projective = !(snr < threshold);
  const int d = projective ? p : p - 1;

  at::Tensor basis;   // L x d
  at::Tensor offset;  // L: subtracted before projecting (zero-mean) or zeros (projective)
  if (projective) {
    basis = topEigen(corrN, p).second;
    offset = at::zeros({L}, dopt);
  } else {
    basis = covVectors.slice(1, 0, d).contiguous();
    offset = mean;
  }

  // Pass 2: d-dimensional projections of every valid pixel.
  std::vector<float> proj;
  std::vector<int64_t> indices;
  proj.reserve(static_cast<size_t>(n) * d);
  indices.reserve(static_cast<size_t>(n));
  {
    ProgressRange pass(progress, 0.45, 0.9);
    source.scan(
        [&](const PixelBlock& block) {
          const at::Tensor x =
              at::from_blob(const_cast<float*>(block.values), {block.count, L}, at::kFloat)
                  .to(at::kDouble);
          const at::Tensor xp = (x - offset).mm(basis).to(at::kFloat).contiguous();
          const float* v = xp.data_ptr<float>();
          proj.insert(proj.end(), v, v + xp.numel());
          indices.insert(indices.end(), block.indices, block.indices + block.count);
        },
        &pass);
  }
  if (static_cast<int64_t>(indices.size()) != n) {
    throw InvalidArgument("VCA: the scene changed between passes (" + std::to_string(n) + " then " +
                          std::to_string(indices.size()) + " valid pixels)");
  }

  // y_j from x_j: projective y = x / (x^T u) with u the mean of x, zero-mean y = [x; c].
  std::vector<double> u(d, 0.0);
  double c = 0;
  if (projective) {
    const at::Tensor um = mean.matmul(basis);
    for (int k = 0; k < d; ++k) u[k] = um[k].item<double>();
  } else {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int k = 0; k < d; ++k) s += static_cast<double>(proj[j * d + k]) * proj[j * d + k];
      c = std::max(c, s);
    }
    c = std::sqrt(c);
  }

  at::Generator gen = at::detail::createCPUGenerator(options.seed);
  std::vector<std::vector<double>> chosen;  // columns of A (p-dimensional y vectors)
  std::vector<double> ep(p, 0.0);
  ep[p - 1] = 1.0;  // A(p, 1) = 1 before the first vertex is found
  VcaResult result;
  result.bands = L;
  result.endmembers = p;
  result.estimatedSnrDb = snr;
  result.projective = projective;
  result.spectra.assign(static_cast<size_t>(L) * p, 0.0f);
  result.pixelIndices.resize(p);
  std::vector<int64_t> picked(p);

  for (int i = 0; i < p; ++i) {
    throwIfCanceled(progress);
    const at::Tensor wt = at::randn({p}, gen, dopt);
    std::vector<double> f(wt.data_ptr<double>(), wt.data_ptr<double>() + p);
    // f = w - A A^+ w: remove the components along an orthonormal basis of range(A),
    // built by Gram-Schmidt (twice, for orthogonality to rounding); columns dependent on
    // the previous ones add nothing, as in the pseudo-inverse.
    std::vector<std::vector<double>> q;
    const auto& columns = chosen.empty() ? std::vector<std::vector<double>>{ep} : chosen;
    for (const auto& col : columns) {
      std::vector<double> v = col;
      double norm0 = 0;
      for (double x : v) norm0 += x * x;
      norm0 = std::sqrt(norm0);
      for (int pass = 0; pass < 2; ++pass)
        for (const auto& b : q) {
          double dot = 0;
          for (int k = 0; k < p; ++k) dot += b[k] * v[k];
          for (int k = 0; k < p; ++k) v[k] -= dot * b[k];
        }
      double norm = 0;
      for (double x : v) norm += x * x;
      norm = std::sqrt(norm);
      if (norm > 1e-12 * norm0 && norm > 0) {
        for (double& x : v) x /= norm;
        q.push_back(std::move(v));
      }
    }
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& b : q) {
        double dot = 0;
        for (int k = 0; k < p; ++k) dot += b[k] * f[k];
        for (int k = 0; k < p; ++k) f[k] -= dot * b[k];
      }
    double fn = 0;
    for (double x : f) fn += x * x;
    fn = std::sqrt(fn);
    for (double& x : f) x /= fn;

    // argmax_j |f^T y_j|, ties to the lowest j (as Matlab's max), independent of threading.
    double bestValue = -1;
    int64_t bestJ = -1;
    std::mutex m;
    at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
      double localValue = -1;
      int64_t localJ = -1;
      for (int64_t j = begin; j < end; ++j) {
        const float* x = &proj[j * d];
        double v = 0;
        if (projective) {
          double den = 0;
          for (int k = 0; k < d; ++k) {
            v += f[k] * x[k];
            den += u[k] * x[k];
          }
          if (den == 0) continue;
          v /= den;
        } else {
          for (int k = 0; k < d; ++k) v += f[k] * x[k];
          v += f[d] * c;
        }
        v = std::fabs(v);
        if (v > localValue) {
          localValue = v;
          localJ = j;
        }
      }
      std::lock_guard<std::mutex> lock(m);
      if (localJ >= 0 && (localValue > bestValue || (localValue == bestValue && localJ < bestJ))) {
        bestValue = localValue;
        bestJ = localJ;
      }
    });
    if (bestJ < 0) {
      throw InvalidArgument(
          "VCA: no pixel could be projected (the scene is degenerate, e.g. all zeros)");
    }
    picked[i] = bestJ;
    std::vector<double> y(p);
    const float* x = &proj[bestJ * d];
    if (projective) {
      double den = 0;
      for (int k = 0; k < d; ++k) den += u[k] * x[k];
      for (int k = 0; k < d; ++k) y[k] = x[k] / den;
    } else {
      for (int k = 0; k < d; ++k) y[k] = x[k];
      y[d] = c;
    }
    chosen.push_back(std::move(y));
    if (progress) progress->setProgress(0.9 + 0.1 * (i + 1) / p);
  }

  // Endmembers: Rp(:, j) = U_d x_j (+ r_m in the zero-mean case).
  const at::Tensor basisC = basis.contiguous();
  const double* bd = basisC.data_ptr<double>();
  const at::Tensor offsetC = offset.contiguous();
  const double* od = offsetC.data_ptr<double>();
  for (int e = 0; e < p; ++e) {
    const float* x = &proj[picked[e] * d];
    for (int b = 0; b < L; ++b) {
      double s = od[b];
      for (int k = 0; k < d; ++k) s += bd[b * d + k] * x[k];
      result.spectra[static_cast<size_t>(b) * p + e] = static_cast<float>(s);
    }
    result.pixelIndices[e] = indices[picked[e]];
  }
  for (int e = 1; e < p; ++e)
    if (std::find(picked.begin(), picked.begin() + e, picked[e]) != picked.begin() + e) {
      if (progress) {
        progress->warning(
            "VCA chose the same pixel for more than one endmember: the scene has fewer than " +
            std::to_string(p) + " distinct extreme pixels; ask for fewer endmembers");
      }
      break;
    }
  return result;
}

}  // namespace dequnmix
