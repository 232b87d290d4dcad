// SLIC superpixels of a hyperspectral scene (plain C++, no LibTorch), for the
// superpixel-guided spatial prox of DEQ-Unmix.
//
// Simple linear iterative clustering (Achanta, Shaji, Smith, Lucchi, Fua and Suesstrunk,
// "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods", IEEE TPAMI 34(11),
// 2012): k-means on (feature, position) with cluster centres seeded on a regular grid of
// step S and each centre searching only a 2S x 2S window around itself, so one iteration
// costs O(N) whatever the number of superpixels. The distance of pixel i to centre k is
//     D^2 = d_c^2 + (m d_s / S)^2,
// d_c the spectral distance, d_s the Euclidean distance in pixels and m the compactness
// (the relative weight of space against spectrum).
//
// Spectral distance (the choice made here, so that d_c is scale-free): the Euclidean
// distance between the pixels' projections onto the scene's first k (default 8) principal
// components, divided by the scene's spectral spread sigma = sqrt(trace Cov(y)) (the RMS
// distance of the valid pixels from their mean). d_c = 1 is then a typical difference
// between two pixels of the scene, whatever the data units, band count or overall
// brightness, so one compactness transfers across scenes. The projection also discards
// most of the noise: at 15 dB over 100 bands the noise spread summed over all bands is
// comparable to the signal spread, while a linear mixture of P endmembers lives in P - 1
// dimensions; and it makes the assignment cost independent of the band count.
//
// Steps: features z = Q^T (y - mean) / sigma, Q the leading eigenvectors of the covariance
// (estimated on a regular subsample of at most 4096 valid pixels, found by subspace
// iteration); centres on the grid (g + 1/2) S of the scene, each moved to the lowest
// feature-gradient position of its 3 x 3 neighbourhood (off edges; the grid is anchored to
// scene coordinates so that overlapping windows of one scene start from the same seeds);
// a fixed number of assignment/update iterations;
// then connectivity is enforced as in Achanta's reference code: 4-connected fragments of
// one cluster are relabelled in raster order, fragments smaller than S^2 / 4 pixels join
// the neighbouring superpixel found first, so every label is one connected region and the
// labels are 0..count-1. Everything is sequential and deterministic (no random numbers
// beyond a fixed-seed start of the subspace iteration).
//
// The transform (mean, Q, sigma) is computed separately (computeSuperpixelFeatures) so that
// it can be a property of a whole scene: tiled inference segments each tile window with
// the transform of the scene the model was trained on, so every window measures spectral
// distances the same way and overlapping windows agree except where their edges cut
// superpixels. A window's own transform would change with its content.
#pragma once

#include <cstdint>
#include <vector>

namespace dequnmix {

struct SuperpixelOptions {
  // Grid step S in pixels; the count is about height * width / S^2. 7 gives 14 x 14 seeds on
  // the 95 x 95 Samson scene (200 superpixels after the connectivity step), near the 189 of
  // the authors' code.
  int regionSize = 7;
  // m in D^2 = d_c^2 + (m d_s / S)^2, with d_c in units of the scene's spectral spread. At
  // d_s = S the spatial term equals a spectral difference of m spreads: 0.3 lets a pixel
  // join a spectrally closer centre up to about three times further away than the nearest
  // one once spectral differences reach the spread. Checked on Samson (bench_superpixels
  // --write-labels): 0.1 gives ragged regions in the water, 1 regions that cut across the
  // shoreline, 0.3 compact regions in uniform areas that follow the shoreline (200
  // superpixels with S = 7). The piecewise-constant tests recover every region with it.
  double compactness = 0.3;
  int iterations = 10;  // Achanta et al. report 10 as enough for most images
  // Scene coordinates of the window's first row and column (tiled inference): seeds lie on
  // the scene's grid, so with one feature transform for all of them the windows of one
  // scene differ only near their edges.
  int originRow = 0;
  int originCol = 0;
};

// The spectral feature space z = basis^T (y - mean) / spread of the segmentation.
struct SuperpixelFeatures {
  int bands = 0;
  int components = 0;        // k; 0 = no transform
  std::vector<float> mean;   // bands
  std::vector<float> basis;  // bands x components, row-major: orthonormal columns, a column
                             // of zeros past the rank of the covariance
  float spread = 0;          // sigma = sqrt(trace Cov(y)); 0 for a constant scene
};

struct Superpixels {
  int height = 0;
  int width = 0;
  int count = 0;                // labels are 0..count-1
  std::vector<int32_t> labels;  // height x width, row-major; -1 at nodata pixels
};

// scene: bands x height x width, band-sequential; a pixel with NaN in any band is nodata.
// The transform of the scene's valid pixels on its first min(components, bands) principal
// components (default 8: a mixture of a few endmembers lives in few dimensions, see above).
// Throws InvalidArgument on sizes < 1 or components < 1. A scene without valid pixels gives
// mean, basis and spread 0 (every pixel the same features).
SuperpixelFeatures computeSuperpixelFeatures(const float* scene, int bands, int height, int width,
                                             int components = 8);

// SLIC labels of the scene (nodata: label -1) with the given transform (InvalidArgument
// unless it has the scene's band count, components >= 1, matching sizes and finite values
// with spread >= 0). Throws InvalidArgument on sizes < 1, regionSize < 1, compactness < 0,
// iterations < 1 or a negative origin. A scene without valid pixels gives count 0.
Superpixels computeSuperpixels(const float* scene, int bands, int height, int width,
                               const SuperpixelFeatures& features,
                               const SuperpixelOptions& options = {});
// The same with the scene's own transform (computeSuperpixelFeatures with 8 components).
Superpixels computeSuperpixels(const float* scene, int bands, int height, int width,
                               const SuperpixelOptions& options = {});

}  // namespace dequnmix
