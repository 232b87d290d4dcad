// Refinements of initial endmember vertices (VCA's, or given) before DEQ-Unmix trains,
// and the measures of the scene that the automatic choices read.
#pragma once

#include <torch/types.h>

#include <vector>

namespace dequnmix {

// Angular mean shift: each endmember direction d is replaced by the normalised
// mean of the unit-normalised pixels within spectral angle t of it, `iterations` times;
// then its scale becomes the mean pixel norm in the final ball. Columns whose ball holds
// fewer than minPixels pixels keep their input. endmembers: L x P; pixels: L x N (valid).
// radius <= 0 picks t per endmember as the angle to its k-th nearest pixel, k = max(
// minPixels, 0.2% of N), floored at 0.02 rad (an adaptive ball: wider on sparse/noisy
// scenes). Returns the refined L x P matrix; `moved` (optional) receives per-column flags.
torch::Tensor refineEndmembersMeanShift(const torch::Tensor& endmembers,
                                        const torch::Tensor& pixels, double radius, int iterations,
                                        int minPixels, std::vector<bool>* moved = nullptr);

// Pure-cluster centring: VCA takes the most extreme pixel of each material, which on real
// scenes with homogeneous regions is an outlier of a dense cluster of pure pixels (Samson's
// water vertex lies 0.13 rad from the reference, the cluster's centre 0.016). Each vertex
// moves to the angular mean-shift mode (refineEndmembersMeanShift) within radiusFraction of
// the angle to its nearest other vertex, but only where that mode is dense (at least
// minDensity of the pixels within half the radius) and denser than the vertex itself by
// densityGain: near a single pure pixel the densest place is among mixed pixels further in,
// and moving there would make the vertex worse. endmembers: L x P; pixels: L x N.
// (DeqTrainOptions holds the defaults, bench/README.md the measurements behind them.)
struct PureClusterOptions {
  double radiusFraction;  // mean-shift radius over the angle to the nearest vertex
  int iterations;         // mean-shift iterations
  int minPixels;          // a smaller ball keeps the vertex
  double minDensity;      // pixels near the mode, as a fraction of the scene
  double densityGain;     // density at the mode over density at the vertex
};
torch::Tensor centreOnPureClusters(const torch::Tensor& endmembers, const torch::Tensor& pixels,
                                   const PureClusterOptions& options,
                                   std::vector<bool>* moved = nullptr);

// Minimum-volume simplex (in the spirit of SISAL, Bioucas-Dias 2009): the pixels are
// projected onto their (P - 1)-dimensional affine principal subspace, and the vertices V
// (starting from the given endmembers) minimise log|det [V; 1]| + (1 / outsideFraction) *
// mean over pixels of sum_j max(0, -a_j), a = [V; 1]^-1 [z; 1] (soft non-negativity: at
// the optimum about outsideFraction of the pixels lie beyond each facet, which absorbs
// noise), by `iterations` Adam steps. Recovers the vertices of highly mixed scenes (no pure
// pixels) where VCA's vertices lie inside the data. Returns L x P, clamped >= 0; the given
// endmembers unchanged when their vertex matrix is singular (two identical vertices).
torch::Tensor refineEndmembersMinVolume(const torch::Tensor& endmembers,
                                        const torch::Tensor& pixels, double outsideFraction,
                                        int iterations, double noiseMargin = 0);

// The pixels' directions: each pixel divided by its brightness along the mean pixel's
// direction u (y / u^T y), which maps scaled mixtures s E a (illumination, topography,
// per-pixel scaling of the spectra) onto the simplex of the endmembers at unit brightness.
// Pixels darker than darkFraction of the median brightness are left out (scaled up, their
// noise would dominate). endmembers: L x P; pixels: L x N (subsampled to 20,000); all
// float64 on the CPU.
struct UnitBrightness {
  torch::Tensor pixels;      // L x N', the bright pixels at unit brightness
  torch::Tensor vertices;    // L x P, the endmembers at unit brightness
  torch::Tensor brightness;  // P, the endmembers' brightness u^T e
};
UnitBrightness atUnitBrightness(const torch::Tensor& endmembers, const torch::Tensor& pixels,
                                double darkFraction);

// The minimum-volume simplex of the pixels' directions (atUnitBrightness), fitted by
// refineEndmembersMinVolume; each vertex returns at its start's brightness. endmembers:
// L x P (the start); pixels: L x N.
torch::Tensor refineEndmembersMinVolumeOfDirections(const torch::Tensor& endmembers,
                                                    const torch::Tensor& pixels,
                                                    double darkFraction, double outsideFraction,
                                                    int iterations, double noiseMargin = 0);

// How far the pixels depart from the linear mixing model with sum-to-one abundances.
// Under that model the centred pixels E (a - mean a) + noise span P - 1 directions plus
// noise, so their P-th largest covariance eigenvalue is a noise eigenvalue; brightness
// (illumination, topography) scaling, nonlinear mixing or more materials than P add
// energy along it. Returns that eigenvalue over the noise variance (the median eigenvalue
// beyond the first P - 1; pixels subsampled to 20,000). About 1 (up to the
// Marchenko-Pastur edge (1 + sqrt(L / N))^2) for a linear sum-to-one mixture; 7,800 on
// Samson. The minimum-volume simplex, fitted in the (P - 1)-dimensional affine subspace,
// is only meaningful where this is small. pixels: L x N.
double affineModelExcess(const torch::Tensor& pixels, int endmembers);

// How much of the pixels' departure from the endmembers' sum-to-one mixtures a per-pixel
// brightness scale explains: the least-squares residual energy of FCLS minus that of NNLS
// (abundances free to sum to s, the pixel's scale). endmembers: L x P; pixels: L x N
// (subsampled to 20,000). Zeros for degenerate sizes.
struct BrightnessFit {
  // Per pixel, in units of the noise variance (as affineModelExcess estimates it): about 1
  // where noise alone is fitted (one more unknown per pixel); large where illumination or
  // topography scales whole spectra. It grows with the signal-to-noise ratio ...
  double gain = 0;
  // ... this does not: the same energy over the pixels' energy.
  double share = 0;
};
BrightnessFit brightnessFit(const torch::Tensor& endmembers, const torch::Tensor& pixels);

// At most 20,000 of the pixels (columns of L x N), every k-th: a deterministic subsample
// (a view) that keeps the endmember stage's fits independent of the scene size.
torch::Tensor subsamplePixels(const torch::Tensor& pixels);

// Residual energy per pixel of the pixels' least-squares fit on the endmembers with
// non-negative abundances of any sum (NNLS: the cone the endmembers span, so a pixel's
// brightness costs nothing). endmembers: L x P; pixels: L x N (subsampled to 20,000).
double coneResidualEnergy(const torch::Tensor& endmembers, const torch::Tensor& pixels);

// Volume of the simplex whose vertices are the columns of `endmembers` (L x P), measured in
// its own (P - 1)-dimensional affine hull: sqrt(det(D^T D)) / (P - 1)!, D_j = e_j - e_1.
double simplexVolume(const torch::Tensor& endmembers);

// Mean over the pixels of the negative part of their barycentric coordinates with respect
// to the vertices `endmembers` (L x P), in the pixels' (P - 1)-dimensional affine principal
// subspace: near 0 when the vertices enclose the data (scenes with pure pixels), larger
// when the data reaches beyond them. pixels: L x N.
double outsideMass(const torch::Tensor& endmembers, const torch::Tensor& pixels);

}  // namespace dequnmix
