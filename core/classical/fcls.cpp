// FCLS by a primal active-set method (Lawson and Hanson's NNLS scheme, Solving Least
// Squares Problems, 1974, ch. 23, extended by the sum-to-one equality; see also Nocedal and
// Wright, Numerical Optimization, 2nd ed., section 16.5).
//
// With G = E^T E (+ ridge) and b = E^T y, minimise 1/2 a^T G a - b^T a subject to a >= 0 and
// 1^T a = 1. For a free set F (the others held at 0) the equality-constrained minimiser is
// the solution of the KKT system [G_FF 1; 1^T 0] [z; nu] = [b_F; 1], obtained from two
// Cholesky solves: G_FF z1 = b_F, G_FF z2 = 1, nu = (1^T z1 - 1) / 1^T z2, z = z1 - nu z2.
// The Lagrange multiplier of a fixed index i is lambda_i = (G a - b)_i + nu; the point is
// optimal (KKT) when every lambda_i >= 0. Otherwise the most negative index is freed; when
// z leaves the orthant, the step towards z stops at the first blocking index, which is fixed.
// The objective decreases strictly, so no free set repeats and the method terminates.
#include <ATen/Parallel.h>

#include <torch/types.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/classical/fcls.h"
#include "core/classical/fcls_ops.h"
#include "core/errors.h"

namespace dequnmix {
namespace {

// Work arrays of one thread; sized once, so the per-pixel loop does not allocate.
struct Workspace {
  explicit Workspace(int p)
      : a(p),
        b(p),
        g(p),
        z(p),
        z1(p),
        z2(p),
        chol(static_cast<size_t>(p) * p),
        freeIdx(p),
        isFree(p) {}
  std::vector<double> a, b, g, z, z1, z2, chol;
  std::vector<int> freeIdx;
  std::vector<char> isFree;
};

// In-place Cholesky factorisation of the k x k matrix G[idx, idx] into `l` (row-major,
// lower). A pivot that rounding made non-positive (numerically collinear endmembers) is
// replaced by `floor`, which amounts to a slightly larger ridge on that direction.
void choleskyOnSubset(const std::vector<double>& gram, int p, const int* idx, int k, double floor,
                      double* l) {
  for (int r = 0; r < k; ++r) {
    for (int c = 0; c <= r; ++c) {
      double s = gram[static_cast<size_t>(idx[r]) * p + idx[c]];
      for (int t = 0; t < c; ++t) s -= l[r * k + t] * l[c * k + t];
      if (r == c) {
        l[r * k + r] = std::sqrt(s > floor ? s : floor);
      } else {
        l[r * k + c] = s / l[c * k + c];
      }
    }
  }
}

// Solves L L^T x = rhs in place (k values).
void choleskySolve(const double* l, int k, double* x) {
  for (int r = 0; r < k; ++r) {
    double s = x[r];
    for (int t = 0; t < r; ++t) s -= l[r * k + t] * x[t];
    x[r] = s / l[r * k + r];
  }
  for (int r = k - 1; r >= 0; --r) {
    double s = x[r];
    for (int t = r + 1; t < k; ++t) s -= l[t * k + r] * x[t];
    x[r] = s / l[r * k + r];
  }
}

// The quadratic program shared by every pixel: G = E^T E (+ ridge), p endmembers, and the
// tolerances, relative to the scale of G so that reflectances and raw digital numbers
// behave alike.
struct Problem {
  const std::vector<double>& endmembers;  // bands x p
  const std::vector<double>& gram;        // p x p
  int bands;
  int p;
  int maxIterations;
  double pivotFloor;     // Cholesky pivots below this are raised to it
  double multiplierTol;  // multipliers above -multiplierTol count as >= 0
  bool sumToOne;         // the equality 1^T a = 1 (else nu = 0)
  bool nonNegative;      // the bounds a >= 0 (else one solve on every index)
  // G's condition below ~1e8: the all-free solution is well determined.
  bool wellConditioned = false;
  // With every index free (where wellConditioned): G's Cholesky factor, G^-1 1 and its sum,
  // the same for every pixel.
  std::vector<double> allFreeCholesky{}, allFreeOnes{};
  double allFreeOnesSum = 0;

  double g(int i, int j) const { return gram[static_cast<size_t>(i) * p + j]; }
};

// b = E^T y; false when the pixel has a non-finite value (it then has no answer).
bool correlateWithEndmembers(const Problem& pr, const float* y, std::vector<double>& b) {
  std::fill(b.begin(), b.end(), 0.0);
  for (int band = 0; band < pr.bands; ++band) {
    const double yb = y[band];
    if (!std::isfinite(yb)) return false;
    const double* row = &pr.endmembers[static_cast<size_t>(band) * pr.p];
    for (int i = 0; i < pr.p; ++i) b[i] += row[i] * yb;
  }
  return true;
}

// Starts at the best single endmember (a feasible vertex): it minimises
// ||e_k - y||^2 - ||y||^2 = G_kk - 2 b_k.
void startAtBestVertex(const Problem& pr, Workspace& w) {
  int best = 0;
  for (int i = 1; i < pr.p; ++i) {
    if (pr.g(i, i) - 2 * w.b[i] < pr.g(best, best) - 2 * w.b[best]) best = i;
  }
  std::fill(w.a.begin(), w.a.end(), 0.0);
  std::fill(w.isFree.begin(), w.isFree.end(), 0);
  w.a[best] = 1.0;
  w.isFree[best] = 1;
}

// Lists the free indices in w.freeIdx; returns their count k.
int collectFreeSet(Workspace& w, int p) {
  int k = 0;
  for (int i = 0; i < p; ++i)
    if (w.isFree[i]) w.freeIdx[k++] = i;
  return k;
}

// The equality-constrained minimiser on the free set into w.z (k values); returns nu.
double solveOnFreeSet(const Problem& pr, Workspace& w, int k) {
  choleskyOnSubset(pr.gram, pr.p, w.freeIdx.data(), k, pr.pivotFloor, w.chol.data());
  for (int r = 0; r < k; ++r) {
    w.z1[r] = w.b[w.freeIdx[r]];
    w.z2[r] = 1.0;
  }
  choleskySolve(w.chol.data(), k, w.z1.data());
  choleskySolve(w.chol.data(), k, w.z2.data());
  double s1 = 0, s2 = 0;
  for (int r = 0; r < k; ++r) {
    s1 += w.z1[r];
    s2 += w.z2[r];
  }
  if (!pr.sumToOne) {
    for (int r = 0; r < k; ++r) w.z[r] = w.z1[r];
    return 0.0;
  }
  const double nu = (s1 - 1.0) / s2;
  // One free index is the vertex itself: exactly 1, where z1 - nu z2 would cancel to 0 for
  // a pixel far outside the endmembers' scale.
  for (int r = 0; r < k; ++r) w.z[r] = k == 1 ? 1.0 : w.z1[r] - nu * w.z2[r];
  return nu;
}

// False when the free index i has z <= 0.
bool positiveAt(const Workspace& w, int k, int i) {
  for (int r = 0; r < k; ++r)
    if (w.freeIdx[r] == i && w.z[r] <= 0) return false;
  return true;
}

bool insideOrthant(const Workspace& w, int k) {
  for (int r = 0; r < k; ++r)
    if (w.z[r] <= 0) return false;
  return true;
}

// The fixed index with the most negative multiplier lambda_i = (G a - b)_i + nu below
// -tolerance, or -1 at a KKT point. a must equal z on the free set.
int mostNegativeMultiplier(const Problem& pr, const Workspace& w, int k, double nu,
                           double tolerance) {
  int enter = -1;
  double most = -tolerance;
  for (int i = 0; i < pr.p; ++i) {
    if (w.isFree[i]) continue;
    double gi = -w.b[i];
    for (int r = 0; r < k; ++r) gi += pr.g(i, w.freeIdx[r]) * w.z[r];
    const double lambda = gi + nu;
    if (lambda < most) {
      most = lambda;
      enter = i;
    }
  }
  return enter;
}

// Steps from a towards z, stopping where the first free coordinate reaches zero; that
// coordinate, and any that reached zero with it, are fixed at 0.
void stepToBoundary(Workspace& w, int k) {
  double alpha = 1.0;
  int block = -1;
  for (int r = 0; r < k; ++r) {
    if (w.z[r] <= 0) {
      const double ai = w.a[w.freeIdx[r]];
      const double t = ai / (ai - w.z[r]);
      if (t < alpha || block < 0) {
        alpha = t;
        block = w.freeIdx[r];
      }
    }
  }
  for (int r = 0; r < k; ++r) {
    double& ai = w.a[w.freeIdx[r]];
    ai += alpha * (w.z[r] - ai);
  }
  w.a[block] = 0.0;
  w.isFree[block] = 0;
  for (int r = 0; r < k; ++r) {
    const int i = w.freeIdx[r];
    if (w.isFree[i] && w.a[i] <= 0) {
      w.a[i] = 0.0;
      w.isFree[i] = 0;
    }
  }
}

// The active-set iterations from the vertex in w.a; w.a ends at the optimum, or at the last
// feasible iterate after maxIterations.
void activeSetIterations(const Problem& pr, Workspace& w) {
  // The multipliers are differences of terms as large as b: so is their rounding.
  double largestB = 0;
  for (int i = 0; i < pr.p; ++i) largestB = std::max(largestB, std::fabs(w.b[i]));
  const double tolerance = std::max(pr.multiplierTol, 1e-12 * largestB);
  int justFreed = -1;
  for (int iter = 0; iter < pr.maxIterations; ++iter) {
    const int k = collectFreeSet(w, pr.p);
    const double nu = solveOnFreeSet(pr, w, k);
    // In exact arithmetic an index freed for a negative multiplier is positive in the next
    // solution (G is positive definite). If it is not, its multiplier was rounding noise and
    // the current point (the previous solution) is the optimum.
    if (justFreed >= 0 && !positiveAt(w, k, justFreed)) {
      w.isFree[justFreed] = 0;
      break;
    }
    justFreed = -1;
    if (!insideOrthant(w, k)) {
      stepToBoundary(w, k);
      continue;
    }
    for (int r = 0; r < k; ++r) w.a[w.freeIdx[r]] = w.z[r];
    const int enter = mostNegativeMultiplier(pr, w, k, nu, tolerance);
    if (enter < 0) break;  // KKT point: optimal.
    w.isFree[enter] = 1;
    justFreed = enter;
  }
}

// Most pixels of a mixed scene have every abundance positive: then the solution with every
// index free is the optimum (the QP is strictly convex), one solve instead of the active
// set's walk from a vertex. True with it in w.a; false where an index would be <= 0. Only
// for a well-conditioned G: near-collinear endmembers leave the optimum nearly flat, and
// the walk's end and this solution then differ by far more than rounding.
bool interiorOptimum(const Problem& pr, Workspace& w) {
  // solveOnFreeSet's arithmetic on every index, with the pixel-independent parts reused.
  for (int i = 0; i < pr.p; ++i) w.z1[i] = w.b[i];
  choleskySolve(pr.allFreeCholesky.data(), pr.p, w.z1.data());
  double s1 = 0;
  for (int i = 0; i < pr.p; ++i) s1 += w.z1[i];
  const double nu = (s1 - 1.0) / pr.allFreeOnesSum;
  for (int i = 0; i < pr.p; ++i) {
    w.a[i] = pr.p == 1 ? 1.0 : w.z1[i] - nu * pr.allFreeOnes[i];
    if (w.a[i] <= 0) return false;
  }
  return true;
}

// Abundances of the pixel whose b = E^T y is in w.b into out[i * stride] (i < p). Returns
// false when it got no finite solution.
bool solvePixel(const Problem& pr, Workspace& w, float* out, int64_t stride) {
  if (!pr.nonNegative) {  // SCLS, UCLS: one solve on every index
    std::fill(w.isFree.begin(), w.isFree.end(), 1);
    const int k = collectFreeSet(w, pr.p);
    solveOnFreeSet(pr, w, k);
    for (int r = 0; r < k; ++r) w.a[w.freeIdx[r]] = w.z[r];
  } else if (pr.sumToOne) {
    if (!(pr.wellConditioned && interiorOptimum(pr, w))) {
      startAtBestVertex(pr, w);
      activeSetIterations(pr, w);
    }
  } else {  // NNLS: from a = 0, every index held at its bound
    std::fill(w.a.begin(), w.a.end(), 0.0);
    std::fill(w.isFree.begin(), w.isFree.end(), 0);
    activeSetIterations(pr, w);
  }
  // FCLS: remove the rounding left in the sum (the constraint holds to ~1e-16 already).
  double sum = 0;
  for (int i = 0; i < pr.p; ++i) sum += w.a[i];
  const bool full = pr.sumToOne && pr.nonNegative;
  for (int i = 0; i < pr.p; ++i) out[i * stride] = static_cast<float>(full ? w.a[i] / sum : w.a[i]);
  return std::isfinite(sum) && (!full || sum > 0);
}

// Abundances of one pixel into out (p values): NaN for a pixel with a non-finite value.
// Returns false when a finite pixel got no finite solution.
bool unmixPixel(const Problem& pr, const float* y, Workspace& w, float* out) {
  if (!correlateWithEndmembers(pr, y, w.b)) {
    std::fill(out, out + pr.p, std::numeric_limits<float>::quiet_NaN());
    return true;
  }
  return solvePixel(pr, w, out, 1);
}

// b = E^T y (p x count, in b) for `count` pixels of band-major data with row stride n,
// summed over the bands in the order correlateWithEndmembers sums them (same rounding),
// but vectorised over pixels. A non-finite value leaves its pixel's b non-finite.
void correlateBlock(const Problem& pr, const float* y, int64_t n, int count,
                    std::vector<double>& row, std::vector<double>& b) {
  std::fill(b.begin(), b.end(), 0.0);
  for (int band = 0; band < pr.bands; ++band) {
    std::copy_n(y + band * n, count, row.begin());  // to double once, not once per endmember
    for (int i = 0; i < pr.p; ++i) {
      const double e = pr.endmembers[static_cast<size_t>(band) * pr.p + i];
      double* bi = &b[static_cast<size_t>(i) * count];
      for (int j = 0; j < count; ++j) bi[j] += e * row[j];
    }
  }
}

void checkSolverArguments(const std::vector<float>& endmembers, int bands, int count,
                          const FclsOptions& options) {
  if (bands < 1 || count < 1) {
    throw InvalidArgument("FCLS needs at least one band and one endmember (got " +
                          std::to_string(bands) + " bands, " + std::to_string(count) +
                          " endmembers)");
  }
  if (endmembers.size() != static_cast<size_t>(bands) * count) {
    throw InvalidArgument("FCLS: the endmember matrix holds " + std::to_string(endmembers.size()) +
                          " values but " + std::to_string(bands) + " bands x " +
                          std::to_string(count) + " endmembers need " +
                          std::to_string(static_cast<size_t>(bands) * count));
  }
  if (!(options.ridge >= 0) || !std::isfinite(options.ridge)) {
    throw InvalidArgument("FCLS: ridge must be a finite value >= 0");
  }
  if (options.maxIterations < 1) {
    throw InvalidArgument("FCLS: maxIterations must be at least 1");
  }
}

// The endmembers in double; InvalidArgument naming the first non-finite value.
std::vector<double> finiteEndmembers(const std::vector<float>& endmembers, int count) {
  std::vector<double> out(endmembers.size());
  for (size_t i = 0; i < endmembers.size(); ++i) {
    if (!std::isfinite(endmembers[i])) {
      throw InvalidArgument("FCLS: endmember " + std::to_string(i % count + 1) + " has a " +
                            "non-finite value in band " + std::to_string(i / count + 1) +
                            "; fix or drop that band");
    }
    out[i] = endmembers[i];
  }
  return out;
}

// G = E^T E + (ridge trace(E^T E) / count) I.
std::vector<double> ridgedGram(const std::vector<double>& e, int bands, int count, double ridge) {
  std::vector<double> gram(static_cast<size_t>(count) * count, 0.0);
  for (int b = 0; b < bands; ++b) {
    const double* row = &e[static_cast<size_t>(b) * count];
    for (int i = 0; i < count; ++i)
      for (int j = 0; j < count; ++j) gram[static_cast<size_t>(i) * count + j] += row[i] * row[j];
  }
  double trace = 0;
  for (int i = 0; i < count; ++i) trace += gram[static_cast<size_t>(i) * count + i];
  if (!(trace > 0)) {
    throw InvalidArgument("FCLS: every endmember spectrum is zero; give non-zero spectra");
  }
  for (int i = 0; i < count; ++i) gram[static_cast<size_t>(i) * count + i] += ridge * trace / count;
  return gram;
}

// The quadratic program of every pixel, with tolerances relative to the scale of G.
Problem makeProblem(const std::vector<double>& endmembers, const std::vector<double>& gram,
                    int bands, int p, const FclsOptions& o) {
  double trace = 0;
  for (int i = 0; i < p; ++i) trace += gram[static_cast<size_t>(i) * p + i];
  Problem pr{endmembers,
             gram,
             bands,
             p,
             o.maxIterations,
             /*pivotFloor=*/1e-14 * trace / p,
             /*multiplierTol=*/1e-12 * trace / p,
             /*sumToOne=*/o.constraints == AbundanceConstraints::Full ||
                 o.constraints == AbundanceConstraints::SumToOne,
             /*nonNegative=*/o.constraints == AbundanceConstraints::Full ||
                 o.constraints == AbundanceConstraints::NonNegative};
  std::vector<int> all(p);
  std::iota(all.begin(), all.end(), 0);
  pr.allFreeCholesky.resize(static_cast<size_t>(p) * p);
  choleskyOnSubset(gram, p, all.data(), p, pr.pivotFloor, pr.allFreeCholesky.data());
  // The smallest squared pivot over the mean diagonal: about one over G's condition number.
  double smallestPivot = std::numeric_limits<double>::infinity();
  for (int r = 0; r < p; ++r)
    smallestPivot = std::min(smallestPivot, std::pow(pr.allFreeCholesky[r * p + r], 2));
  pr.wellConditioned = smallestPivot > 1e-8 * trace / p;
  pr.allFreeOnes.assign(p, 1.0);
  choleskySolve(pr.allFreeCholesky.data(), p, pr.allFreeOnes.data());
  for (double v : pr.allFreeOnes) pr.allFreeOnesSum += v;
  return pr;
}

// A finite pixel never gets NaN silently (the caller would count it as unmixed).
void throwIfFailed(int64_t failed) {
  if (failed >= 0)
    throw InvalidArgument("FCLS found no finite solution for pixel " + std::to_string(failed + 1) +
                          ": its values are too far from the endmembers' scale; rescale the "
                          "raster or the endmembers to the same units");
}

}  // namespace

const std::vector<std::string>& abundanceMethodNames() {
  static const std::vector<std::string> names = {"fcls", "nnls", "scls", "ucls"};
  return names;
}

AbundanceConstraints parseAbundanceMethod(const std::string& name) {
  const auto& names = abundanceMethodNames();
  for (size_t k = 0; k < names.size(); ++k)
    if (names[k] == name) return static_cast<AbundanceConstraints>(k);
  throw InvalidArgument("unknown abundance method '" + name +
                        "' (expected fcls, nnls, scls or ucls)");
}

FclsSolver::FclsSolver(const std::vector<float>& endmembers, int bands, int count,
                       const FclsOptions& options)
    : bands_(bands), count_(count), options_(options) {
  checkSolverArguments(endmembers, bands, count, options);
  endmembers_ = finiteEndmembers(endmembers, count);
  gram_ = ridgedGram(endmembers_, bands, count, options.ridge);
}

void FclsSolver::unmix(const float* pixels, int64_t n, float* abundances) const {
  if (n <= 0) return;
  const Problem pr = makeProblem(endmembers_, gram_, bands_, count_, options_);
  std::atomic<int64_t> failed{-1};
  at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
    Workspace w(pr.p);
    for (int64_t px = begin; px < end; ++px)
      if (!unmixPixel(pr, pixels + px * bands_, w, abundances + px * pr.p)) failed = px;
  });
  throwIfFailed(failed);
}

void FclsSolver::unmixBandMajor(const float* pixels, int64_t n, float* abundances) const {
  if (n <= 0) return;
  const Problem pr = makeProblem(endmembers_, gram_, bands_, count_, options_);
  constexpr int kBlock = 256;  // pixels whose b (p x kBlock doubles) stays in cache
  std::atomic<int64_t> failed{-1};
  at::parallel_for(0, (n + kBlock - 1) / kBlock, 1, [&](int64_t first, int64_t last) {
    Workspace w(pr.p);
    std::vector<double> row(kBlock), b(static_cast<size_t>(pr.p) * kBlock);
    for (int64_t block = first; block < last; ++block) {
      const int64_t begin = block * kBlock;
      const int count = static_cast<int>(std::min<int64_t>(kBlock, n - begin));
      correlateBlock(pr, pixels + begin, n, count, row, b);
      for (int j = 0; j < count; ++j) {
        for (int i = 0; i < pr.p; ++i) w.b[i] = b[static_cast<size_t>(i) * count + j];
        float* out = abundances + begin + j;
        if (!std::isfinite(w.b[0])) {
          for (int i = 0; i < pr.p; ++i) out[i * n] = std::numeric_limits<float>::quiet_NaN();
        } else if (!solvePixel(pr, w, out, n)) {
          failed = begin + j;
        }
      }
    }
  });
  throwIfFailed(failed);
}

torch::Tensor fclsAbundances(const torch::Tensor& endmembers, const torch::Tensor& pixels,
                             const FclsOptions& options) {
  TORCH_CHECK(endmembers.dim() == 2, "fclsAbundances: endmembers must be L x P, got ",
              endmembers.sizes());
  TORCH_CHECK(pixels.dim() == 2, "fclsAbundances: pixels must be L x N, got ", pixels.sizes());
  TORCH_CHECK(endmembers.size(0) == pixels.size(0), "fclsAbundances: endmembers have ",
              endmembers.size(0), " bands but the pixels have ", pixels.size(0));
  TORCH_CHECK(endmembers.is_floating_point() && pixels.is_floating_point(),
              "fclsAbundances: expected floating tensors");
  const int bands = static_cast<int>(endmembers.size(0));
  const int count = static_cast<int>(endmembers.size(1));
  const torch::Tensor e = endmembers.detach().to(torch::kCPU, torch::kFloat).contiguous();
  std::vector<float> values(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
  FclsSolver solver(values, bands, count, options);
  const torch::Tensor y = pixels.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t n = y.size(1);
  torch::Tensor a = torch::empty({count, n}, torch::kFloat);
  solver.unmixBandMajor(y.data_ptr<float>(), n, a.data_ptr<float>());
  return a.to(pixels.device());
}

}  // namespace dequnmix
