// N-FINDR (Winter, "N-FINDR: an algorithm for fast autonomous spectral end-member
// determination in hyperspectral data", Proc. SPIE 3753, 1999): the P pixels spanning the
// simplex of largest volume in the (P - 1)-dimensional principal subspace. Streaming like
// VCA: pass 1 the band moments (subspace.h), pass 2 the projected pixels, pass 3 the chosen
// pixels' spectra. Deterministic: the start is grown greedily (each next vertex the pixel
// farthest from the affine hull of the previous ones), then every vertex in turn is replaced
// by the pixel that enlarges the volume most, sweep after sweep, until none does.
#pragma once

#include <cstdint>
#include <vector>

#include "core/pixel_source.h"

namespace dequnmix {

struct NfindrOptions {
  int endmembers = 3;  // P, 2 <= P < bands
  int maxSweeps = 20;  // replacement sweeps over the P vertices (it usually stops in 2 or 3)
};

struct NfindrResult {
  int bands = 0;
  int endmembers = 0;
  std::vector<float> spectra;         // bands x endmembers, row-major: the chosen pixels
  std::vector<int64_t> pixelIndices;  // scene index of each endmember
  int sweeps = 0;                     // replacement sweeps run
};

// Throws InvalidArgument when P < 2, P >= bands, or there are fewer than P valid pixels;
// Canceled between blocks.
NfindrResult nfindr(PixelSource& source, const NfindrOptions& options,
                    ProgressSink* progress = nullptr);

}  // namespace dequnmix
