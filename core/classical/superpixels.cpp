// SLIC superpixels (superpixels.h; Achanta et al., IEEE TPAMI 34(11), 2012).
#include "core/classical/superpixels.h"

#include <algorithm>
#include <array>
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

// Scene indices of the valid pixels, increasing.
std::vector<int64_t> validIndices(const std::vector<uint8_t>& valid) {
  std::vector<int64_t> index;
  for (int64_t i = 0; i < int64_t(valid.size()); ++i)
    if (valid[i]) index.push_back(i);
  return index;
}

std::vector<double> bandMean(const float* scene, int L, int64_t N,
                             const std::vector<int64_t>& validIndex) {
  std::vector<double> mean(L, 0.0);
  for (int b = 0; b < L; ++b) {
    const float* band = scene + int64_t(b) * N;
    double s = 0;
    for (int64_t i : validIndex) s += band[i];
    mean[b] = s / double(validIndex.size());
  }
  return mean;
}

// Covariance (L x L) on a regular subsample of the valid pixels: the leading directions of
// a scene are well estimated from a few thousand pixels, and the cost stays O(4096 L^2).
std::vector<double> subsampledCovariance(const float* scene, int L, int64_t N,
                                         const std::vector<int64_t>& validIndex,
                                         const std::vector<double>& mean) {
  const int64_t maxSamples = 4096;
  const int64_t stride = std::max<int64_t>(1, int64_t(validIndex.size()) / maxSamples);
  std::vector<double> cov(size_t(L) * L, 0.0), d(L);
  int64_t samples = 0;
  for (size_t s = 0; s < validIndex.size(); s += size_t(stride)) {
    const int64_t i = validIndex[s];
    for (int b = 0; b < L; ++b) d[b] = scene[int64_t(b) * N + i] - mean[b];
    for (int a = 0; a < L; ++a) {  // upper triangle; mirrored below
      double* row = cov.data() + size_t(a) * L;
      const double da = d[a];
      for (int b = a; b < L; ++b) row[b] += da * d[b];
    }
    ++samples;
  }
  for (int a = 0; a < L; ++a)
    for (int b = a; b < L; ++b) {
      cov[size_t(a) * L + b] /= double(samples);
      cov[size_t(b) * L + a] = cov[size_t(a) * L + b];
    }
  return cov;
}

// Gram-Schmidt on the k columns of the L x k row-major M. A direction beyond the
// covariance's rank carries no variance: its column becomes zero.
void orthonormaliseColumns(std::vector<double>& M, int L, int k) {
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
    const double inv = n > 1e-12 * firstNorm && n > 0 ? 1.0 / n : 0.0;
    for (int b = 0; b < L; ++b) M[size_t(b) * k + j] *= inv;
  }
}

// Leading k-dimensional invariant subspace of cov (L x k, orthonormal columns) by subspace
// iteration Q <- orth(C Q) from a fixed pseudo-random start (std::mt19937's sequence is
// fixed by the standard). Only the subspace matters (distances are invariant to a rotation
// within it), so slow convergence between nearly equal eigenvalues is harmless.
std::vector<double> leadingSubspace(const std::vector<double>& cov, int L, int k) {
  std::mt19937 rng(20120501u);
  std::vector<double> Q(size_t(L) * k), Z(size_t(L) * k);
  for (double& q : Q) q = double(rng()) / 4294967296.0 - 0.5;
  orthonormaliseColumns(Q, L, k);
  for (int it = 0; it < 50; ++it) {
    std::fill(Z.begin(), Z.end(), 0.0);
    for (int a = 0; a < L; ++a)
      for (int b = 0; b < L; ++b) {
        const double c = cov[size_t(a) * L + b];
        for (int j = 0; j < k; ++j) Z[size_t(a) * k + j] += c * Q[size_t(b) * k + j];
      }
    orthonormaliseColumns(Z, L, k);
    Q.swap(Z);
  }
  return Q;
}

void checkSceneSize(int bands, int height, int width) {
  if (bands < 1 || height < 1 || width < 1)
    throw InvalidArgument("superpixels: the scene needs at least 1 band and 1 x 1 pixels");
}

void checkOptions(const SuperpixelOptions& o) {
  if (o.regionSize < 1)
    throw InvalidArgument("superpixels: region size is " + std::to_string(o.regionSize) +
                          " but must be at least 1 pixel");
  if (!(o.compactness >= 0) || o.iterations < 1 || o.originRow < 0 || o.originCol < 0)
    throw InvalidArgument("superpixels: compactness and the origin must be >= 0, iterations >= 1");
}

// The scene as SLIC sees it: a H x W grid of k-dimensional features and a validity mask.
struct FeatureImage {
  int H = 0, W = 0, k = 0;
  std::vector<uint8_t> valid;  // H x W
  std::vector<float> F;        // H x W x k

  const float* at(int64_t i) const { return F.data() + i * k; }
  // Squared feature distance of pixel i to the feature vector c.
  float distance(int64_t i, const float* c) const {
    const float* f = at(i);
    float s = 0;
    for (int j = 0; j < k; ++j) s += (f[j] - c[j]) * (f[j] - c[j]);
    return s;
  }
};

// Cluster centres: position (row, column) and mean feature (k values each).
struct Centres {
  std::vector<double> cy, cx;
  std::vector<float> cf;
  int count() const { return int(cy.size()); }
};

// Feature gradient at (r, c) (edges clamped), infinite next to nodata.
float gradient(const FeatureImage& img, int r, int c) {
  const int H = img.H, W = img.W;
  const int64_t nb[4] = {
      int64_t(r) * W + std::max(c - 1, 0), int64_t(r) * W + std::min(c + 1, W - 1),
      int64_t(std::max(r - 1, 0)) * W + c, int64_t(std::min(r + 1, H - 1)) * W + c};
  for (int64_t n : nb)
    if (!img.valid[n]) return std::numeric_limits<float>::infinity();
  return img.distance(nb[0], img.at(nb[1])) + img.distance(nb[2], img.at(nb[3]));
}

// The valid pixel of lowest gradient in the 3 x 3 neighbourhood of the grid point (r0, c0),
// or false when it has none. The grid point itself wins ties, then raster order.
bool lowestGradientNear(const FeatureImage& img, int r0, int c0, int& br, int& bc) {
  br = -1;
  bc = -1;
  float bg = 0;
  for (int r = std::max(0, r0 - 1); r <= std::min(img.H - 1, r0 + 1); ++r)
    for (int c = std::max(0, c0 - 1); c <= std::min(img.W - 1, c0 + 1); ++c) {
      if (!img.valid[int64_t(r) * img.W + c]) continue;
      const float g = gradient(img, r, c);
      const bool centre = r == r0 && c == c0;
      if (br < 0 || g < bg || (centre && g <= bg)) {
        br = r;
        bc = c;
        bg = g;
      }
    }
  return br >= 0;
}

// Seeds at the scene's grid points (g + 1/2) S, in scene coordinates so that windows of one
// scene (tiles with their halo) share their seeds, each moved to the lowest gradient of its
// 3 x 3 neighbourhood. A grid point without a valid pixel nearby gets no seed.
Centres seedCentres(const FeatureImage& img, const SuperpixelOptions& o) {
  const int S = o.regionSize;
  auto firstSeed = [&](int origin) { return ((S / 2 - origin) % S + S) % S; };
  Centres centres;
  for (int r0 = firstSeed(o.originRow); r0 < img.H; r0 += S)
    for (int c0 = firstSeed(o.originCol); c0 < img.W; c0 += S) {
      int br, bc;
      if (!lowestGradientNear(img, r0, c0, br, bc)) continue;
      centres.cy.push_back(br);
      centres.cx.push_back(bc);
      const float* f = img.at(int64_t(br) * img.W + bc);
      centres.cf.insert(centres.cf.end(), f, f + img.k);
    }
  return centres;
}

// Assignment step: each centre claims the valid pixels of its 2S x 2S window that are
// closer to it (D^2 = d_c^2 + (m d_s / S)^2) than to any centre seen before.
void assignPixels(const FeatureImage& img, const Centres& centres, int S, double compactness,
                  std::vector<int32_t>& cluster, std::vector<float>& dist) {
  const double spatial = (compactness / S) * (compactness / S);
  std::fill(dist.begin(), dist.end(), std::numeric_limits<float>::infinity());
  for (int c = 0; c < centres.count(); ++c) {
    const double cy = centres.cy[c], cx = centres.cx[c];
    const int r0 = std::max(0, int(std::floor(cy - S))),
              r1 = std::min(img.H - 1, int(std::ceil(cy + S)));
    const int q0 = std::max(0, int(std::floor(cx - S))),
              q1 = std::min(img.W - 1, int(std::ceil(cx + S)));
    const float* centre = centres.cf.data() + size_t(c) * img.k;
    for (int r = r0; r <= r1; ++r) {
      const double dy2 = (r - cy) * (r - cy);
      for (int q = q0; q <= q1; ++q) {
        const int64_t i = int64_t(r) * img.W + q;
        if (!img.valid[i]) continue;
        const float D = img.distance(i, centre) + float(spatial * (dy2 + (q - cx) * (q - cx)));
        if (D < dist[i]) {
          dist[i] = D;
          cluster[i] = c;
        }
      }
    }
  }
}

// Update step: every centre moves to the mean position and feature of its pixels; an empty
// cluster keeps its centre.
void updateCentres(const FeatureImage& img, const std::vector<int32_t>& cluster, Centres& centres) {
  const int K = centres.count(), k = img.k, W = img.W;
  std::vector<double> sy(K, 0.0), sx(K, 0.0), sf(size_t(K) * k, 0.0);
  std::vector<int64_t> count(K, 0);
  for (int64_t i = 0; i < int64_t(cluster.size()); ++i) {
    const int c = cluster[i];
    if (c < 0) continue;
    sy[c] += double(i / W);
    sx[c] += double(i % W);
    const float* f = img.at(i);
    for (int j = 0; j < k; ++j) sf[size_t(c) * k + j] += f[j];
    ++count[c];
  }
  for (int c = 0; c < K; ++c) {
    if (count[c] == 0) continue;
    const double inv = 1.0 / double(count[c]);
    centres.cy[c] = sy[c] * inv;
    centres.cx[c] = sx[c] * inv;
    for (int j = 0; j < k; ++j) centres.cf[size_t(c) * k + j] = float(sf[size_t(c) * k + j] * inv);
  }
}

// The 4-neighbours of pixel i in the order left, up, right, down; -1 off the grid.
std::array<int64_t, 4> neighbours(int64_t i, int H, int W) {
  const int r = int(i / W), q = int(i % W);
  return {q > 0 ? i - 1 : -1, r > 0 ? i - W : -1, q + 1 < W ? i + 1 : -1, r + 1 < H ? i + W : -1};
}

// Labels with `label` the 4-connected valid pixels of start's cluster that have no label
// yet; returns them in `fragment`.
void floodFragment(const FeatureImage& img, const std::vector<int32_t>& cluster, int64_t start,
                   int32_t label, std::vector<int32_t>& labels, std::vector<int64_t>& fragment) {
  const int32_t old = cluster[start];
  std::vector<int64_t> stack(1, start);
  fragment.clear();
  labels[start] = label;
  while (!stack.empty()) {
    const int64_t i = stack.back();
    stack.pop_back();
    fragment.push_back(i);
    for (int64_t n : neighbours(i, img.H, img.W))
      if (n >= 0 && img.valid[n] && labels[n] < 0 && cluster[n] == old) {
        labels[n] = label;
        stack.push_back(n);
      }
  }
}

// Connectivity as in Achanta's reference code: relabel 4-connected fragments in raster
// order; fragments below S^2 / 4 pixels join the superpixel next to their first pixel.
// Valid pixels no window reached (cluster -1) are handled the same way, as fragments of
// their own. Returns the number of labels.
int32_t enforceConnectivity(const FeatureImage& img, const std::vector<int32_t>& cluster, int S,
                            std::vector<int32_t>& labels) {
  const int64_t minSize = std::max<int64_t>(1, int64_t(S) * S / 4);
  std::vector<int64_t> fragment;
  int32_t next = 0;
  for (int64_t start = 0; start < int64_t(labels.size()); ++start) {
    if (!img.valid[start] || labels[start] >= 0) continue;
    int32_t adjacent = -1;
    for (int64_t n : neighbours(start, img.H, img.W))
      if (n >= 0 && labels[n] >= 0) {
        adjacent = labels[n];
        break;
      }
    floodFragment(img, cluster, start, next, labels, fragment);
    if (int64_t(fragment.size()) < minSize && adjacent >= 0) {
      for (int64_t i : fragment) labels[i] = adjacent;
    } else {
      ++next;
    }
  }
  return next;
}

}  // namespace

SuperpixelFeatures computeSuperpixelFeatures(const float* scene, int bands, int height, int width,
                                             int components) {
  checkSceneSize(bands, height, width);
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
  const std::vector<int64_t> validIndex = validIndices(validPixels(scene, L, N));
  if (validIndex.empty()) return out;

  const std::vector<double> mean = bandMean(scene, L, N, validIndex);
  for (int b = 0; b < L; ++b) out.mean[b] = float(mean[b]);
  const std::vector<double> cov = subsampledCovariance(scene, L, N, validIndex, mean);
  double trace = 0;
  for (int a = 0; a < L; ++a) trace += cov[size_t(a) * L + a];
  const std::vector<double> Q = leadingSubspace(cov, L, k);
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
  checkSceneSize(bands, height, width);
  checkOptions(o);
  checkFeatures(features, bands);
  Superpixels out;
  out.height = height;
  out.width = width;
  const int64_t N = int64_t(height) * width;
  out.labels.assign(size_t(N), -1);

  FeatureImage img;
  img.H = height;
  img.W = width;
  img.k = features.components;
  img.valid = validPixels(scene, bands, N);
  if (std::find(img.valid.begin(), img.valid.end(), 1) == img.valid.end()) return out;
  img.F = projectFeatures(scene, N, img.valid, features);

  // K may be 0 on sparse data (no valid pixel near any grid point): then every valid
  // pixel is left to the connectivity step, one region per fragment.
  Centres centres = seedCentres(img, o);
  // Assignment and update (Achanta et al., Algorithm 1), a fixed number of iterations.
  std::vector<int32_t> cluster(size_t(N), -1);
  std::vector<float> dist(static_cast<size_t>(N));
  for (int it = 0; it < o.iterations; ++it) {
    assignPixels(img, centres, o.regionSize, o.compactness, cluster, dist);
    updateCentres(img, cluster, centres);
  }
  out.count = enforceConnectivity(img, cluster, o.regionSize, out.labels);
  return out;
}

}  // namespace dequnmix
