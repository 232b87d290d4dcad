// Vertex component analysis (Nascimento and Bioucas-Dias, "Vertex component analysis: a
// fast algorithm to unmix hyperspectral data", IEEE TGRS 43(4), 2005).
//
// Streaming form with exactly the reference algorithm's result: pass 1 accumulates the
// band mean and the L x L correlation matrix (bandMoments, subspace.h); its leading
// eigenvectors give the signal subspace and the SNR estimate (estimateSnrDb) that chooses
// between the projective (high SNR) and the zero-mean (low SNR) projection; pass 2 stores
// only the P-dimensional projection of every pixel; the vertices are then found by P
// orthogonal-direction searches, each drawn from a generator seeded by VcaOptions::seed, so
// the result is deterministic.
#pragma once

#include <cstdint>
#include <vector>

#include "core/pixel_source.h"

namespace dequnmix {

struct VcaOptions {
  int endmembers = 3;  // P: number of endmembers to extract, 2 <= P < bands
  uint64_t seed = 42;  // seeds the random search directions
};

struct VcaResult {
  int bands = 0;
  int endmembers = 0;
  // bands x endmembers, row-major (as EndmemberTable::values): the chosen pixels'
  // spectra after projection onto the estimated signal subspace (as in the reference code).
  std::vector<float> spectra;
  std::vector<int64_t> pixelIndices;  // scene index (row * width + col) of each endmember
  double estimatedSnrDb = 0;          // the SNR estimate of the reference algorithm
                                      // (+infinity for a noise-free scene)
  bool projective = true;             // true when the high-SNR projective projection was used
};

// Throws InvalidArgument when P < 2, P >= bands, or there are fewer than P valid pixels.
VcaResult vca(PixelSource& source, const VcaOptions& options, ProgressSink* progress = nullptr);

}  // namespace dequnmix
