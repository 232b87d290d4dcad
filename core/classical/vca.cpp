// VCA in streaming form (see vca.h). Notation of the reference code (VCA.m, Nascimento
// and Bioucas-Dias): R is the L x N data, r_m its band mean, p the endmember count.
//
//   Pass 1 (bandMoments, subspace.h) accumulates N, sum r and sum r r^T (double), giving the
//   correlation K = R R^T / N and the covariance C = K - r_m r_m^T, whose top-p
//   eigenvectors are the reference's svds(R R^T / N, p) and svds(R_o R_o^T / N, p). The SNR
//   estimate (estimateSnrDb)
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
#include <mutex>
#include <string>

#include "core/classical/subspace.h"
#include "core/classical/subspace_ops.h"
#include "core/errors.h"

namespace dequnmix {
namespace {

using Columns = std::vector<std::vector<double>>;

void checkEndmemberCount(int p, int L) {
  if (p < 2) {
    throw InvalidArgument("VCA: at least 2 endmembers are needed (got " + std::to_string(p) + ")");
  }
  if (p >= L) {
    throw InvalidArgument("VCA: the endmember count (" + std::to_string(p) +
                          ") must be less than the number of bands (" + std::to_string(L) +
                          "); ask for fewer endmembers or use more bands");
  }
}

// Enough valid pixels for p endmembers, and values whose squares do not overflow.
void checkMoments(const BandMoments& m, int p) {
  const int64_t n = m.pixels;
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
  for (double v : m.correlation)
    if (!std::isfinite(v)) {
      throw InvalidArgument(
          "VCA: the scene has infinite or overflowing values; mask them as nodata");
    }
}

// The projection of pass 2, x = basis^T (r - offset), and how y is formed from x:
// projective y = x / (x^T u) with u the mean of x, zero-mean y = [x; c] with c = max ||x||.
struct Projection {
  bool projective = true;
  int d = 0;              // p (projective) or p - 1 (zero-mean)
  at::Tensor basis;       // L x d
  at::Tensor offset;      // L: the mean (zero-mean) or zeros (projective)
  std::vector<double> u;  // d, projective only
  double c = 0;           // zero-mean only, set once the pixels are projected
};

// Low SNR selects the zero-mean projection (threshold 15 + 10 log10(p) dB, as in VCA.m).
Projection chooseProjection(const BandMoments& m, int p, double snrDb) {
  const int L = m.bands;
  const at::Tensor mean = doubleTensor(m.mean, {L});
  Projection proj;
  proj.projective = !(snrDb < 15.0 + 10.0 * std::log10(static_cast<double>(p)));
  proj.d = proj.projective ? p : p - 1;
  if (proj.projective) {
    proj.basis = topEigenpairs(doubleTensor(m.correlation, {L, L}), p).second;
    proj.offset = at::zeros({L}, at::TensorOptions().dtype(at::kDouble));
    const at::Tensor um = mean.matmul(proj.basis);
    proj.u.resize(proj.d);
    for (int k = 0; k < proj.d; ++k) proj.u[k] = um[k].item<double>();
  } else {
    proj.basis = topEigenpairs(doubleTensor(m.covariance, {L, L}), p)
                     .second.slice(1, 0, proj.d)
                     .contiguous();
    proj.offset = mean;
  }
  return proj;
}

// x of every valid pixel (n x d floats, pixel-major) and its scene index.
struct ProjectedPixels {
  std::vector<float> x;
  std::vector<int64_t> indices;
};

// Pass 2. The scene must yield the n valid pixels of pass 1.
ProjectedPixels projectPixels(PixelSource& source, const Projection& proj, int64_t n,
                              ProgressSink* progress) {
  const int L = source.bands();
  ProjectedPixels out;
  out.x.reserve(static_cast<size_t>(n) * proj.d);
  out.indices.reserve(static_cast<size_t>(n));
  source.scan(
      [&](const PixelBlock& block) {
        const at::Tensor x =
            at::from_blob(const_cast<float*>(block.values), {block.count, L}, at::kFloat)
                .to(at::kDouble);
        const at::Tensor xp = (x - proj.offset).mm(proj.basis).to(at::kFloat).contiguous();
        const float* v = xp.data_ptr<float>();
        out.x.insert(out.x.end(), v, v + xp.numel());
        out.indices.insert(out.indices.end(), block.indices, block.indices + block.count);
      },
      progress);
  if (static_cast<int64_t>(out.indices.size()) != n) {
    throw InvalidArgument("VCA: the scene changed between passes (" + std::to_string(n) + " then " +
                          std::to_string(out.indices.size()) + " valid pixels)");
  }
  return out;
}

// c = max_j ||x_j||, the constant last coordinate of the zero-mean y.
double largestNorm(const std::vector<float>& x, int64_t n, int d) {
  double c = 0;
  for (int64_t j = 0; j < n; ++j) {
    double s = 0;
    for (int k = 0; k < d; ++k) s += static_cast<double>(x[j * d + k]) * x[j * d + k];
    c = std::max(c, s);
  }
  return std::sqrt(c);
}

// Removes from v its components along the orthonormal vectors q, twice, so that the result
// is orthogonal to them to rounding.
void removeComponents(const Columns& q, std::vector<double>& v) {
  const size_t p = v.size();
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& b : q) {
      double dot = 0;
      for (size_t k = 0; k < p; ++k) dot += b[k] * v[k];
      for (size_t k = 0; k < p; ++k) v[k] -= dot * b[k];
    }
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

// Orthonormal basis of range(A) by Gram-Schmidt; columns dependent on the previous ones add
// nothing, as in the pseudo-inverse.
Columns orthonormalBasis(const Columns& columns) {
  Columns q;
  for (const auto& col : columns) {
    std::vector<double> v = col;
    const double norm0 = norm(v);
    removeComponents(q, v);
    const double n = norm(v);
    if (n > 1e-12 * norm0 && n > 0) {
      for (double& x : v) x /= n;
      q.push_back(std::move(v));
    }
  }
  return q;
}

// f = (w - A A^+ w) / ||w - A A^+ w|| for w ~ N(0, I_p) drawn from `gen`.
std::vector<double> searchDirection(at::Generator& gen, const Columns& a, int p) {
  const at::Tensor wt = at::randn({p}, gen, at::TensorOptions().dtype(at::kDouble));
  std::vector<double> f(wt.data_ptr<double>(), wt.data_ptr<double>() + p);
  removeComponents(orthonormalBasis(a), f);
  const double fn = norm(f);
  for (double& x : f) x /= fn;
  return f;
}

// |f^T y| for the pixel x; false where the projective y is undefined (x^T u = 0).
bool absProjection(const Projection& proj, const std::vector<double>& f, const float* x,
                   double& value) {
  const int d = proj.d;
  double v = 0;
  if (proj.projective) {
    double den = 0;
    for (int k = 0; k < d; ++k) {
      v += f[k] * x[k];
      den += proj.u[k] * x[k];
    }
    if (den == 0) return false;
    v /= den;
  } else {
    for (int k = 0; k < d; ++k) v += f[k] * x[k];
    v += f[d] * proj.c;
  }
  value = std::fabs(v);
  return true;
}

// argmax_j |f^T y_j|, ties to the lowest j (as Matlab's max), independent of threading.
int64_t farthestPixel(const Projection& proj, const ProjectedPixels& px,
                      const std::vector<double>& f) {
  const int64_t n = static_cast<int64_t>(px.indices.size());
  double bestValue = -1;
  int64_t bestJ = -1;
  std::mutex m;
  at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
    double localValue = -1;
    int64_t localJ = -1;
    for (int64_t j = begin; j < end; ++j) {
      double v = 0;
      if (absProjection(proj, f, &px.x[j * proj.d], v) && v > localValue) {
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
  return bestJ;
}

// y of the pixel x (p values).
std::vector<double> yOf(const Projection& proj, const float* x, int p) {
  const int d = proj.d;
  std::vector<double> y(p);
  if (proj.projective) {
    double den = 0;
    for (int k = 0; k < d; ++k) den += proj.u[k] * x[k];
    for (int k = 0; k < d; ++k) y[k] = x[k] / den;
  } else {
    for (int k = 0; k < d; ++k) y[k] = x[k];
    y[d] = proj.c;
  }
  return y;
}

// The p vertex searches; returns the chosen positions j among the projected pixels.
std::vector<int64_t> findVertices(const Projection& proj, const ProjectedPixels& px, int p,
                                  uint64_t seed, ProgressSink* progress) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  Columns chosen;  // columns of A (p-dimensional y vectors)
  std::vector<double> ep(p, 0.0);
  ep[p - 1] = 1.0;  // A(p, 1) = 1 before the first vertex is found
  std::vector<int64_t> picked(p);
  for (int i = 0; i < p; ++i) {
    throwIfCanceled(progress);
    const std::vector<double> f = searchDirection(gen, chosen.empty() ? Columns{ep} : chosen, p);
    picked[i] = farthestPixel(proj, px, f);
    chosen.push_back(yOf(proj, &px.x[picked[i] * proj.d], p));
    if (progress) progress->setProgress(0.9 + 0.1 * (i + 1) / p);
  }
  return picked;
}

// Endmembers: Rp(:, j) = U_d x_j (+ r_m in the zero-mean case), bands x p row-major.
std::vector<float> endmemberSpectra(const Projection& proj, const ProjectedPixels& px,
                                    const std::vector<int64_t>& picked, int L) {
  const int p = static_cast<int>(picked.size());
  const int d = proj.d;
  std::vector<float> spectra(static_cast<size_t>(L) * p, 0.0f);
  const at::Tensor basisC = proj.basis.contiguous();
  const double* bd = basisC.data_ptr<double>();
  const at::Tensor offsetC = proj.offset.contiguous();
  const double* od = offsetC.data_ptr<double>();
  for (int e = 0; e < p; ++e) {
    const float* x = &px.x[picked[e] * d];
    for (int b = 0; b < L; ++b) {
      double s = od[b];
      for (int k = 0; k < d; ++k) s += bd[b * d + k] * x[k];
      spectra[static_cast<size_t>(b) * p + e] = static_cast<float>(s);
    }
  }
  return spectra;
}

void warnIfRepeated(const std::vector<int64_t>& picked, ProgressSink* progress) {
  const int p = static_cast<int>(picked.size());
  for (int e = 1; e < p; ++e)
    if (std::find(picked.begin(), picked.begin() + e, picked[e]) != picked.begin() + e) {
      if (progress) {
        progress->warning(
            "VCA chose the same pixel for more than one endmember: the scene has fewer than " +
            std::to_string(p) + " distinct extreme pixels; ask for fewer endmembers");
      }
      return;
    }
}

}  // namespace

VcaResult vca(PixelSource& source, const VcaOptions& options, ProgressSink* progress) {
  const int L = source.bands();
  const int p = options.endmembers;
  checkEndmemberCount(p, L);
  BandMoments moments;
  {
    ProgressRange pass(progress, 0.0, 0.45);
    moments = bandMoments(source, &pass);
  }
  checkMoments(moments, p);
  const double snr = estimateSnrDb(moments, p);
  Projection proj = chooseProjection(moments, p, snr);
  ProjectedPixels pixels;
  {
    ProgressRange pass(progress, 0.45, 0.9);
    pixels = projectPixels(source, proj, moments.pixels, &pass);
  }
  if (!proj.projective) proj.c = largestNorm(pixels.x, moments.pixels, proj.d);
  const std::vector<int64_t> picked = findVertices(proj, pixels, p, options.seed, progress);

  VcaResult result;
  result.bands = L;
  result.endmembers = p;
  result.estimatedSnrDb = snr;
  result.projective = proj.projective;
  result.spectra = endmemberSpectra(proj, pixels, picked, L);
  for (int64_t j : picked) result.pixelIndices.push_back(pixels.indices[j]);
  warnIfRepeated(picked, progress);
  return result;
}

}  // namespace dequnmix
