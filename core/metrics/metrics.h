// Unmixing metrics with the definitions used in the unmixing literature, so figures compare:
//   SAD(e, r)  = arccos(<e, r> / (|e| |r|))                 radians
//   mSAD       = mean SAD over matched endmember pairs
//   aRMSE      = sqrt(mean over pixels and endmembers of (a - a_ref)^2)
//   aRMSE_mean = mean over endmembers of sqrt(mean over pixels of (a_e - a_ref,e)^2)
//   RMSE_rec   = sqrt(mean over bands of (y - E a)^2), per pixel
// Matching: the permutation minimising the total cost (SAD, or abundance error when no
// spectra are given), found by the Hungarian method.
#pragma once

#include <cstdint>
#include <vector>

namespace dequnmix {

// Spectral angle in radians between two spectra of n values with the given strides;
// 0 for identical directions, pi/2 when either is all zeros.
double spectralAngle(const float* a, const float* b, int n, int strideA = 1, int strideB = 1);

// Optimal assignment on a square cost matrix (row-major n x n): result[i] is the column
// assigned to row i, minimising the sum of costs.
std::vector<int> minimumCostAssignment(const std::vector<double>& cost, int n);

struct EndmemberMatch {
  std::vector<int> referenceOf;  // referenceOf[e]: matched reference endmember of estimate e
  std::vector<double> sadRad;    // SAD of each estimated endmember to its match
  double msadRad = 0;
  double msadDeg = 0;
};

// estimated and reference: bands x P row-major. Throws InvalidArgument on size mismatch.
EndmemberMatch matchEndmembers(const std::vector<float>& estimated,
                               const std::vector<float>& reference, int bands, int endmembers);

// Accumulates abundance errors block by block for every (estimate, reference) pair, so
// the matching can be chosen after the pass (by SAD, or by the least abundance error).
class AbundanceErrorAccumulator {
 public:
  explicit AbundanceErrorAccumulator(int endmembers);
  // n pixels, both pixel-major n x endmembers. A pixel with a non-finite value in either
  // is nodata and not counted.
  void add(const float* estimated, const float* reference, int64_t n);
  int64_t pixels() const { return pixels_; }
  // The assignment minimising the total abundance squared error.
  std::vector<int> bestMatch() const;
  // Per-endmember RMSE of estimate e against reference referenceOf[e]. These three throw
  // InvalidArgument when no pixel was counted or referenceOf is not a permutation.
  std::vector<double> rmsePerEndmember(const std::vector<int>& referenceOf) const;
  double armse(const std::vector<int>& referenceOf) const;
  double armseMeanPerEndmember(const std::vector<int>& referenceOf) const;

 private:
  int endmembers_;
  int64_t pixels_ = 0;
  std::vector<double> squaredError_;  // [e * P + r]: sum over pixels of (a_e - ref_r)^2
};

// An unmixing result against its reference: endmembers (bands x P, row-major) matched by SAD,
// band-sequential abundances (P x pixels) scored under that matching.
struct UnmixingScore {
  double msadRad = 0;
  double armse = 0;
  double armseMeanPerEndmember = 0;
};
UnmixingScore scoreUnmixing(const std::vector<float>& endmembers,
                            const std::vector<float>& abundances,
                            const std::vector<float>& referenceEndmembers,
                            const std::vector<float>& referenceAbundances, int bands,
                            int endmembers_count, int64_t pixels);

// Per-pixel reconstruction RMSE: pixels n x bands, abundances n x P (pixel-major),
// endmembers bands x P row-major; writes n values to rmse.
void reconstructionRmse(const std::vector<float>& endmembers, int bands, int endmembers_count,
                        const float* pixels, const float* abundances, int64_t n, float* rmse);

}  // namespace dequnmix
