// Second-order statistics of a scene and the signal-to-noise estimate built on them, as used
// by VCA (vca.h) to choose its projection and by the endmember-count estimators.
//
// bandMoments makes one streaming pass over a PixelSource and accumulates, in double,
// N, sum r and sum r r^T of the valid pixels r (L bands), giving
//   the band mean             r_m = sum r / N,
//   the correlation matrix    K   = sum r r^T / N,
//   the covariance matrix     C   = K - r_m r_m^T (symmetrised: the subtraction may break
//                                   exact symmetry).
// estimateSnrDb is estimate_snr of the reference VCA code (Nascimento and Bioucas-Dias,
// IEEE TGRS 43(4), 2005) for a signal subspace of dimension p, from the moments alone:
//   P_y = trace(K),  P_x = sum of the top-p eigenvalues of C + r_m^T r_m,
//   SNR = 10 log10((P_x - p/L P_y) / (P_y - P_x)).
#pragma once

#include <cstdint>
#include <vector>

#include "core/pixel_source.h"

namespace dequnmix {

struct BandMoments {
  int bands = 0;                    // L
  int64_t pixels = 0;               // N: valid pixels seen
  std::vector<double> mean;         // r_m, L values (0 when N = 0)
  std::vector<double> correlation;  // K, L x L, row-major (0 when N = 0)
  std::vector<double> covariance;   // C, L x L, row-major, symmetric (0 when N = 0)
};

// One pass over the valid pixels of `source`. Values are accumulated as they are: a scene
// with infinite or overflowing values gives non-finite moments (callers check).
BandMoments bandMoments(PixelSource& source, ProgressSink* progress = nullptr);

// The SNR estimate in dB for a p-dimensional signal subspace: +infinity when the noise
// power P_y - P_x is <= 0 (noise-free to rounding), -infinity when the signal power is.
// Throws InvalidArgument unless 1 <= p <= bands and the moments hold at least one pixel.
double estimateSnrDb(const BandMoments& moments, int signalDimension);

}  // namespace dequnmix
