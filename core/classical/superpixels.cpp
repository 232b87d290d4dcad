// SLIC superpixels (superpixels.h; Achanta et al., IEEE TPAMI 34(11), 2012).
#include "core/classical/superpixels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "core/errors.h"

namespace dequnmix {

namespace {

// 1 where every band is finite (band-outer: contiguous reads of the band-sequential scene).
std::vector<uint8_t> validPixels(const float* scene, int bands, int64_t N) {
  std::vector<uint8_t> valid(size_t(N), 1);
  for (int b = 0; b < bands; ++b) {
    const float* band = scene + int64_t(b) * N;
    for (int64_t i = 0; i < N; ++i)
      if (!std::isfinite(band[i])) valid[i] = 0;
  }
  return valid;
}

void checkFeatures(const SuperpixelFeatures& f, int bands) {
  bool finite = std::isfinite(f.spread) && f.spread >= 0;
  for (float v : f.mean) finite = finite && std::isfinite(v);
  for (float v : f.basis) finite = finite && std::isfinite(v);
  if (f.bands != bands || f.components < 1 || f.components > bands ||
      f.mean.size() != size_t(bands) || f.basis.size() != size_t(bands) * f.components || !finite)
    throw InvalidArgument("superpixels: the feature transform has " + std::to_string(f.bands) +
                          " bands and " + std::to_string(f.components) +
                          " components for a scene of " + std::to_string(bands) +
                          " bands (needs the scene's band count, 1 to bands components, "
                          "matching sizes, finite values and spread >= 0)");
}

// Pixel features z = basis^T (y - mean) / spread, pixel-major N x k (0 at nodata).
std::vector<float> projectFeatures(const float* scene, int64_t N, const std::vector<uint8_t>& valid,
                                   const SuperpixelFeatures& t) {
  const int L = t.bands, k = t.components;
  // A constant scene (spread 0) maps every pixel to 0: the segmentation is the seed grid.
  const double inv = t.spread > 0 ? 1.0 / t.spread : 0.0;
  std::vector<float> Qs(size_t(L) * k);
  for (size_t i = 0; i < Qs.size(); ++i) Qs[i] = float(t.basis[i] * inv);
  std::vector<float> features(size_t(N) * k, 0.0f);
  // Band-outer loop: the scene is band-sequential, so every read is contiguous.
  for (int b = 0; b < L; ++b) {
    const float* band = scene + int64_t(b) * N;
    const float m = t.mean[b];
    const float* q = Qs.data() + size_t(b) * k;
    for (int64_t i = 0; i < N; ++i) {
      if (!valid[i]) continue;
      const float v = band[i] - m;
      float* f = features.data() + i * k;
      for (int j = 0; j < k; ++j) f[j] += v * q[j];
    }
  }
  return features;
}

}  // namespace

SuperpixelFeatures computeSuperpixelFeatures(const float* scene, int bands, int height, int width,
                                             int components) {
  if (bands < 1 || height < 1 || width < 1)
    throw InvalidArgument("superpixels: the scene needs at least 1 band and 1 x 1 pixels");
  if (components < 1)
    throw InvalidArgument("superpixels: components is " + std::to_string(components) +
                          " but must be at least 1");
  const int L = bands, k = std::min(components, L);
  const int64_t N = int64_t(height) * width;
  SuperpixelFeatures out;
  out.bands = L;
  out.components = k;
  out.mean.assign(size_t(L), 0.0f);
  out.basis.assign(size_t(L) * k, 0.0f);
  const std::vector<uint8_t> valid = validPixels(scene, L, N);
  std::vector<int64_t> validIndex;
  for (int64_t i = 0; i < N; ++i)
    if (valid[i]) validIndex.push_back(i);
  if (validIndex.empty()) return out;

  std::vector<double> mean(L, 0.0);
  for (int b = 0; b < L; ++b) {
    const float* band = scene + int64_t(b) * N;
    double s = 0;
    for (int64_t i : validIndex) s += band[i];
    mean[b] = s / double(validIndex.size());
    out.mean[b] = float(mean[b]);
  }

  // Covariance (upper triangle) on a regular subsample: the leading directions of a scene
  // are well estimated from a few thousand pixels, and the cost stays O(4096 L^2).
  const int64_t maxSamples = 4096;
  const int64_t stride = std::max<int64_t>(1, int64_t(validIndex.size()) / maxSamples);
  std::vector<double> cov(size_t(L) * L, 0.0), d(L);
  int64_t samples = 0;
  for (size_t s = 0; s < validIndex.size(); s += size_t(stride)) {
    const int64_t i = validIndex[s];
    for (int b = 0; b < L; ++b) d[b] = scene[int64_t(b) * N + i] - mean[b];
    for (int a = 0; a < L; ++a) {
      double* row = cov.data() + size_t(a) * L;
      const double da = d[a];
      for (int b = a; b < L; ++b) row[b] += da * d[b];
    }
    ++samples;
  }
  double trace = 0;
  for (int a = 0; a < L; ++a) {
    for (int b = a; b < L; ++b) {
      cov[size_t(a) * L + b] /= double(samples);
      cov[size_t(b) * L + a] = cov[size_t(a) * L + b];
    }
    trace += cov[size_t(a) * L + a];
  }

  // Leading k-dimensional invariant subspace by subspace iteration Q <- orth(C Q) from a
  // fixed pseudo-random start (std::mt19937's sequence is fixed by the standard). Only the
  // subspace matters (distances are invariant to a rotation within it), so slow
  // convergence between nearly equal eigenvalues is harmless.
  std::mt19937 rng(20120501u);
  std::vector<double> Q(size_t(L) * k), Z(size_t(L) * k);
  for (double& q : Q) q = double(rng()) / 4294967296.0 - 0.5;
  auto orthonormalise = [&](std::vector<double>& M) {
    double firstNorm = 0;
    for (int j = 0; j < k; ++j) {
      for (int p = 0; p < j; ++p) {
        double dot = 0;
        for (int b = 0; b < L; ++b) dot += M[size_t(b) * k + j] * M[size_t(b) * k + p];
        for (int b = 0; b < L; ++b) M[size_t(b) * k + j] -= dot * M[size_t(b) * k + p];
      }
      double n = 0;
      for (int b = 0; b < L; ++b) n += M[size_t(b) * k + j] * M[size_t(b) * k + j];
      n = std::sqrt(n);
      if (j == 0) firstNorm = n;
      // A direction beyond the covariance's rank carries no variance: drop it.
      const double inv = n > 1e-12 * firstNorm && n > 0 ? 1.0 / n : 0.0;
      for (int b = 0; b < L; ++b) M[size_t(b) * k + j] *= inv;
    }
  };
  orthonormalise(Q);
  for (int it = 0; it < 50; ++it) {
    std::fill(Z.begin(), Z.end(), 0.0);
    for (int a = 0; a < L; ++a)
      for (int b = 0; b < L; ++b) {
        const double c = cov[size_t(a) * L + b];
        for (int j = 0; j < k; ++j) Z[size_t(a) * k + j] += c * Q[size_t(b) * k + j];
      }
    orthonormalise(Z);
    Q.swap(Z);
  }
  for (size_t t = 0; t < Q.size(); ++t) out.basis[t] = float(Q[t]);
  out.spread = float(std::sqrt(std::max(0.0, trace)));
  return out;
}

Superpixels computeSuperpixels(const float* scene, int bands, int height, int width,
                               const SuperpixelOptions& options) {
  return computeSuperpixels(scene, bands, height, width,
                            computeSuperpixelFeatures(scene, bands, height, width), options);
}

Superpixels computeSuperpixels(const float* scene, int bands, int height, int width,
                               const SuperpixelFeatures& features, const SuperpixelOptions& o) {
  if (bands < 1 || height < 1 || width < 1)
    throw InvalidArgument("superpixels: the scene needs at least 1 band and 1 x 1 pixels");
  if (o.regionSize < 1)
    throw InvalidArgument("superpixels: region size is " + std::to_string(o.regionSize) +
                          " but must be at least 1 pixel");
  if (!(o.compactness >= 0) || o.iterations < 1 || o.originRow < 0 || o.originCol < 0)
    throw InvalidArgument("superpixels: compactness and the origin must be >= 0, iterations >= 1");
  checkFeatures(features, bands);
  const int H = height, W = width, S = o.regionSize;
  const int64_t N = int64_t(H) * W;
  Superpixels out;
  out.height = H;
  out.width = W;
  out.labels.assign(size_t(N), -1);

  const std::vector<uint8_t> valid = validPixels(scene, bands, N);
  if (std::find(valid.begin(), valid.end(), 1) == valid.end()) return out;
  const std::vector<float> F = projectFeatures(scene, N, valid, features);
  const int k = features.components;
  auto featureDistance = [&](int64_t i, const float* c) {
    const float* f = F.data() + i * k;
    float s = 0;
    for (int j = 0; j < k; ++j) s += (f[j] - c[j]) * (f[j] - c[j]);
    return s;
  };

  // Seeds on the grid, moved to the lowest gradient of their 3 x 3 neighbourhood.
  auto gradient = [&](int r, int c) {
    const int64_t nb[4] = {
        int64_t(r) * W + std::max(c - 1, 0), int64_t(r) * W + std::min(c + 1, W - 1),
        int64_t(std::max(r - 1, 0)) * W + c, int64_t(std::min(r + 1, H - 1)) * W + c};
    for (int64_t n : nb)
      if (!valid[n]) return std::numeric_limits<float>::infinity();  // next to nodata
    return featureDistance(nb[0], F.data() + nb[1] * k) +
           featureDistance(nb[2], F.data() + nb[3] * k);
  };
  // Seeds at the scene's grid points (g + 1/2) S, in scene coordinates, so that windows of
  // one scene (tiles with their halo) share their seeds.
  auto firstSeed = [&](int origin) { return ((S / 2 - origin) % S + S) % S; };
  std::vector<double> cy, cx;
  std::vector<float> cf;
  for (int r0 = firstSeed(o.originRow); r0 < H; r0 += S)
    for (int c0 = firstSeed(o.originCol); c0 < W; c0 += S) {
      int br = -1, bc = -1;
      float bg = 0;
      for (int r = std::max(0, r0 - 1); r <= std::min(H - 1, r0 + 1); ++r)
        for (int c = std::max(0, c0 - 1); c <= std::min(W - 1, c0 + 1); ++c) {
          if (!valid[int64_t(r) * W + c]) continue;
          const float g = gradient(r, c);
          // The grid point itself wins ties, then raster order.
          const bool centre = r == r0 && c == c0;
          if (br < 0 || g < bg || (centre && g <= bg)) {
            br = r;
            bc = c;
            bg = g;
          }
        }
      if (br < 0) continue;  // no valid pixel near this grid point
      cy.push_back(br);
      cx.push_back(bc);
      const float* f = F.data() + (int64_t(br) * W + bc) * k;
      cf.insert(cf.end(), f, f + k);
    }
  // K may be 0 on sparse data (no valid pixel near any grid point): then every valid
  // pixel is left to the connectivity step below, one region per fragment.
  const int K = int(cy.size());

  // Assignment and update (Achanta et al., Algorithm 1), a fixed number of iterations.
  std::vector<int32_t> cluster(size_t(N), -1);
  std::vector<float> dist(static_cast<size_t>(N));
  const double spatial = (o.compactness / S) * (o.compactness / S);
  std::vector<double> sy(K), sx(K), sf(size_t(K) * k);
  std::vector<int64_t> count(K);
  for (int it = 0; it < o.iterations; ++it) {
    std::fill(dist.begin(), dist.end(), std::numeric_limits<float>::infinity());
    for (int c = 0; c < K; ++c) {
      const int r0 = std::max(0, int(std::floor(cy[c] - S))),
                r1 = std::min(H - 1, int(std::ceil(cy[c] + S)));
      const int q0 = std::max(0, int(std::floor(cx[c] - S))),
                q1 = std::min(W - 1, int(std::ceil(cx[c] + S)));
      const float* centre = cf.data() + size_t(c) * k;
      for (int r = r0; r <= r1; ++r) {
        const double dy2 = (r - cy[c]) * (r - cy[c]);
        for (int q = q0; q <= q1; ++q) {
          const int64_t i = int64_t(r) * W + q;
          if (!valid[i]) continue;
          const float D =
              featureDistance(i, centre) + float(spatial * (dy2 + (q - cx[c]) * (q - cx[c])));
          if (D < dist[i]) {
            dist[i] = D;
            cluster[i] = c;
          }
        }
      }
    }
    std::fill(sy.begin(), sy.end(), 0.0);
    std::fill(sx.begin(), sx.end(), 0.0);
    std::fill(sf.begin(), sf.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    for (int64_t i = 0; i < N; ++i) {
      const int c = cluster[i];
      if (c < 0) continue;
      sy[c] += double(i / W);
      sx[c] += double(i % W);
      const float* f = F.data() + i * k;
      for (int j = 0; j < k; ++j) sf[size_t(c) * k + j] += f[j];
      ++count[c];
    }
    for (int c = 0; c < K; ++c) {
      if (count[c] == 0) continue;  // an empty cluster keeps its centre
      const double inv = 1.0 / double(count[c]);
      cy[c] = sy[c] * inv;
      cx[c] = sx[c] * inv;
      for (int j = 0; j < k; ++j) cf[size_t(c) * k + j] = float(sf[size_t(c) * k + j] * inv);
    }
  }

  // Connectivity: relabel 4-connected fragments in raster order; fragments below S^2 / 4
  // pixels join the superpixel next to their first pixel. Valid pixels no window reached
  // (cluster -1) are handled the same way, as fragments of their own.
  const int64_t minSize = std::max<int64_t>(1, int64_t(S) * S / 4);
  std::vector<int32_t>& label = out.labels;
  std::vector<int64_t> stack, fragment;
  int32_t next = 0;
  for (int64_t start = 0; start < N; ++start) {
    if (!valid[start] || label[start] >= 0) continue;
    const int r = int(start / W), q = int(start % W);
    int32_t adjacent = -1;
    const int64_t nb[4] = {q > 0 ? start - 1 : -1, r > 0 ? start - W : -1,
                           q + 1 < W ? start + 1 : -1, r + 1 < H ? start + W : -1};
    for (int64_t n : nb)
      if (n >= 0 && label[n] >= 0) {
        adjacent = label[n];
        break;
      }
    const int32_t old = cluster[start];
    fragment.clear();
    stack.assign(1, start);
    label[start] = next;
    while (!stack.empty()) {
      const int64_t i = stack.back();
      stack.pop_back();
      fragment.push_back(i);
      const int ri = int(i / W), qi = int(i % W);
      const int64_t around[4] = {qi > 0 ? i - 1 : -1, ri > 0 ? i - W : -1, qi + 1 < W ? i + 1 : -1,
                                 ri + 1 < H ? i + W : -1};
      for (int64_t n : around)
        if (n >= 0 && valid[n] && label[n] < 0 && cluster[n] == old) {
          label[n] = next;
          stack.push_back(n);
        }
    }
    if (int64_t(fragment.size()) < minSize && adjacent >= 0) {
      for (int64_t i : fragment) label[i] = adjacent;
    } else {
      ++next;
    }
  }
  out.count = next;
  return out;
}

}  // namespace dequnmix
