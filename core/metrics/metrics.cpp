#include "core/metrics/metrics.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <string>

#include "core/errors.h"

namespace dequnmix {
namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

double spectralAngle(const float* a, const float* b, int n, int strideA, int strideB) {
  double na = 0, nb = 0;
  for (int i = 0; i < n; ++i) {
    const double x = a[static_cast<int64_t>(i) * strideA];
    const double y = b[static_cast<int64_t>(i) * strideB];
    na += x * x;
    nb += y * y;
  }
  if (!(na > 0) || !(nb > 0)) return kPi / 2;
  na = std::sqrt(na);
  nb = std::sqrt(nb);
  // arccos(<a, b> / (|a| |b|)) is ill-conditioned near 0 (an angle of 1e-8 rounds to 0 or
  // to 1.5e-8); the equal formula 2 atan2(|a/|a| - b/|b||, |a/|a| + b/|b||) is accurate
  // over the whole range (Kahan, "Computing cross-products and rotations", 2016).
  double diff = 0, sum = 0;
  for (int i = 0; i < n; ++i) {
    const double x = a[static_cast<int64_t>(i) * strideA] / na;
    const double y = b[static_cast<int64_t>(i) * strideB] / nb;
    diff += (x - y) * (x - y);
    sum += (x + y) * (x + y);
  }
  return 2.0 * std::atan2(std::sqrt(diff), std::sqrt(sum));
}

// Hungarian method with row and column potentials, O(n^3) (Kuhn 1955; Munkres 1957; the
// shortest augmenting path form of Jonker and Volgenant 1987). Exact for any real costs.
std::vector<int> minimumCostAssignment(const std::vector<double>& cost, int n) {
  if (n < 0 || cost.size() != static_cast<size_t>(n) * n) {
    throw InvalidArgument("assignment: the cost matrix must be n x n (n = " + std::to_string(n) +
                          ", " + std::to_string(cost.size()) + " values given)");
  }
  for (double c : cost) {
    if (!std::isfinite(c))
      throw InvalidArgument("assignment: the cost matrix has a non-finite value");
  }
  const double inf = std::numeric_limits<double>::infinity();
  // 1-based arrays; column 0 is a virtual start column.
  std::vector<double> u(n + 1, 0.0), v(n + 1, 0.0), minv(n + 1);
  std::vector<int> rowOfCol(n + 1, 0), way(n + 1, 0);
  std::vector<char> used(n + 1);
  for (int i = 1; i <= n; ++i) {
    rowOfCol[0] = i;
    int j0 = 0;
    std::fill(minv.begin(), minv.end(), inf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[j0] = 1;
      const int i0 = rowOfCol[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = cost[static_cast<size_t>(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= n; ++j) {
        if (used[j]) {
          u[rowOfCol[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (rowOfCol[j0] != 0);
    do {
      const int j1 = way[j0];
      rowOfCol[j0] = rowOfCol[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> result(n, -1);
  for (int j = 1; j <= n; ++j) result[rowOfCol[j] - 1] = j - 1;
  return result;
}

EndmemberMatch matchEndmembers(const std::vector<float>& estimated,
                               const std::vector<float>& reference, int bands, int endmembers) {
  if (bands < 1 || endmembers < 1) {
    throw InvalidArgument("matching needs at least one band and one endmember");
  }
  const size_t expected = static_cast<size_t>(bands) * endmembers;
  if (estimated.size() != expected || reference.size() != expected) {
    throw InvalidArgument("matching: estimated (" + std::to_string(estimated.size()) +
                          " values) and reference (" + std::to_string(reference.size()) +
                          " values) endmembers must both be " + std::to_string(bands) +
                          " bands x " + std::to_string(endmembers) +
                          " endmembers; check that both have the same bands and endmember count");
  }
  const int p = endmembers;
  std::vector<double> cost(static_cast<size_t>(p) * p);
  for (int e = 0; e < p; ++e)
    for (int r = 0; r < p; ++r)
      cost[static_cast<size_t>(e) * p + r] =
          spectralAngle(estimated.data() + e, reference.data() + r, bands, p, p);
  EndmemberMatch match;
  match.referenceOf = minimumCostAssignment(cost, p);
  match.sadRad.resize(p);
  double total = 0;
  for (int e = 0; e < p; ++e) {
    match.sadRad[e] = cost[static_cast<size_t>(e) * p + match.referenceOf[e]];
    total += match.sadRad[e];
  }
  match.msadRad = total / p;
  match.msadDeg = match.msadRad * 180.0 / kPi;
  return match;
}

AbundanceErrorAccumulator::AbundanceErrorAccumulator(int endmembers) : endmembers_(endmembers) {
  if (endmembers < 1) throw InvalidArgument("abundance errors need at least one endmember");
  squaredError_.assign(static_cast<size_t>(endmembers) * endmembers, 0.0);
}

void AbundanceErrorAccumulator::add(const float* estimated, const float* reference, int64_t n) {
  const int p = endmembers_;
  for (int64_t i = 0; i < n; ++i) {
    const float* a = estimated + i * p;
    const float* r = reference + i * p;
    // A pixel with a non-finite value in either raster is nodata: it is not counted.
    bool finite = true;
    for (int e = 0; e < p && finite; ++e) finite = std::isfinite(a[e]) && std::isfinite(r[e]);
    if (!finite) continue;
    for (int e = 0; e < p; ++e)
      for (int q = 0; q < p; ++q) {
        const double d = static_cast<double>(a[e]) - r[q];
        squaredError_[static_cast<size_t>(e) * p + q] += d * d;
      }
    ++pixels_;
  }
}

std::vector<int> AbundanceErrorAccumulator::bestMatch() const {
  return minimumCostAssignment(squaredError_, endmembers_);
}

std::vector<double> AbundanceErrorAccumulator::rmsePerEndmember(
    const std::vector<int>& referenceOf) const {
  const int p = endmembers_;
  if (pixels_ == 0) {
    throw InvalidArgument("abundance errors: no valid pixel was compared (all nodata?)");
  }
  if (referenceOf.size() != static_cast<size_t>(p)) {
    throw InvalidArgument("abundance errors: the matching has " +
                          std::to_string(referenceOf.size()) + " entries for " + std::to_string(p) +
                          " endmembers");
  }
  std::vector<char> seen(p, 0);
  std::vector<double> rmse(p);
  for (int e = 0; e < p; ++e) {
    const int r = referenceOf[e];
    if (r < 0 || r >= p || seen[r]) {
      throw InvalidArgument("abundance errors: the matching is not a permutation of 0.." +
                            std::to_string(p - 1));
    }
    seen[r] = 1;
    rmse[e] = std::sqrt(squaredError_[static_cast<size_t>(e) * p + r] / pixels_);
  }
  return rmse;
}

double AbundanceErrorAccumulator::armse(const std::vector<int>& referenceOf) const {
  const std::vector<double> perEndmember = rmsePerEndmember(referenceOf);
  // sqrt of the mean over all pixels and endmembers: the mean of the squared per-endmember
  // RMSEs, since every endmember has the same pixel count.
  double sum = 0;
  for (double r : perEndmember) sum += r * r;
  return std::sqrt(sum / endmembers_);
}

double AbundanceErrorAccumulator::armseMeanPerEndmember(const std::vector<int>& referenceOf) const {
  const std::vector<double> perEndmember = rmsePerEndmember(referenceOf);
  double sum = 0;
  for (double r : perEndmember) sum += r;
  return sum / endmembers_;
}

void reconstructionRmse(const std::vector<float>& endmembers, int bands, int endmembers_count,
                        const float* pixels, const float* abundances, int64_t n, float* rmse) {
  if (bands < 1 || endmembers_count < 1 ||
      endmembers.size() != static_cast<size_t>(bands) * endmembers_count) {
    throw InvalidArgument("reconstruction RMSE: the endmember matrix must be " +
                          std::to_string(bands) + " bands x " + std::to_string(endmembers_count) +
                          " endmembers (" + std::to_string(endmembers.size()) + " values given)");
  }
  const int p = endmembers_count;
  at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* y = pixels + i * bands;
      const float* a = abundances + i * p;
      double sum = 0;
      for (int b = 0; b < bands; ++b) {
        double r = y[b];
        const float* row = endmembers.data() + static_cast<size_t>(b) * p;
        for (int e = 0; e < p; ++e) r -= static_cast<double>(row[e]) * a[e];
        sum += r * r;
      }
      rmse[i] = static_cast<float>(std::sqrt(sum / bands));
    }
  });
}

UnmixingScore scoreUnmixing(const std::vector<float>& endmembers,
                            const std::vector<float>& abundances,
                            const std::vector<float>& referenceEndmembers,
                            const std::vector<float>& referenceAbundances, int bands, int P,
                            int64_t n) {
  const EndmemberMatch m = matchEndmembers(endmembers, referenceEndmembers, bands, P);
  std::vector<float> est(size_t(n) * P), ref(size_t(n) * P);
  for (int p = 0; p < P; ++p)
    for (int64_t i = 0; i < n; ++i) {
      est[i * P + p] = abundances[p * n + i];
      ref[i * P + p] = referenceAbundances[p * n + i];
    }
  AbundanceErrorAccumulator acc(P);
  acc.add(est.data(), ref.data(), n);
  return {m.msadRad, acc.armse(m.referenceOf), acc.armseMeanPerEndmember(m.referenceOf)};
}

}  // namespace dequnmix
