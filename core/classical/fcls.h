// Fully constrained least squares abundances (Heinz and Chang, IEEE TGRS 39(3), 2001):
//   a* = argmin_a ||E a - y||^2  subject to  a >= 0, sum(a) = 1,
// solved per pixel exactly by a primal active-set method on the P x P normal equations in
// double precision: it terminates in finitely many steps at the KKT point, so constraints
// hold to rounding and the objective matches a brute-force search over supports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dequnmix {

// Which constraints the least squares honour: FCLS both, NNLS (non-negative, NCLS) only
// a >= 0, SCLS only sum(a) = 1, UCLS none (a = (E^T E)^-1 E^T y).
enum class AbundanceConstraints { Full, NonNegative, SumToOne, None };

// "fcls", "nnls", "scls", "ucls" (the QGIS METHOD values), in enum order.
const std::vector<std::string>& abundanceMethodNames();
// Throws InvalidArgument naming the accepted names.
AbundanceConstraints parseAbundanceMethod(const std::string& name);

struct FclsOptions {
  AbundanceConstraints constraints = AbundanceConstraints::Full;
  // Ridge added to E^T E relative to its trace, so that (nearly) collinear endmembers
  // still give a unique answer. Small enough to leave well-posed problems unchanged to
  // well below 1e-6 in the abundances.
  double ridge = 1e-12;
  // Active-set changes allowed per pixel before giving up (far above what P < 64 needs);
  // on giving up the last feasible iterate is returned, so ANC and ASC still hold.
  int maxIterations = 500;
};

class FclsSolver {
 public:
  // endmembers: bands x count, row-major (EndmemberTable::values). Throws InvalidArgument
  // on empty or mis-sized input or non-finite values.
  FclsSolver(const std::vector<float>& endmembers, int bands, int count,
             const FclsOptions& options = {});
  int bands() const { return bands_; }
  int endmembers() const { return count_; }

  // pixels: n spectra, pixel-major (n x bands); abundances: n x endmembers, pixel-major.
  // Runs in parallel over pixels (LibTorch's intra-op thread pool); the result does not
  // depend on the thread count. A pixel with a non-finite value gets NaN abundances; a
  // finite pixel without a finite solution throws InvalidArgument (never a silent NaN).
  void unmix(const float* pixels, int64_t n, float* abundances) const;
  // The same for band-major pixels (bands x n, each band's row contiguous) into band-major
  // abundances (endmembers x n): no transposes of a tile; the same values as unmix.
  void unmixBandMajor(const float* pixels, int64_t n, float* abundances) const;

 private:
  int bands_;
  int count_;
  FclsOptions options_;
  std::vector<double> endmembers_;  // bands x count
  std::vector<double> gram_;        // count x count: E^T E (+ ridge)
};

}  // namespace dequnmix
