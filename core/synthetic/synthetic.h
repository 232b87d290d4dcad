// Synthetic scenes (DESIGN.md section 6), deterministic for a seed: smooth random
// endmember spectra (a continuum with Gaussian absorption features, values in (0, 1),
// pairwise SAD above a minimum), spatially smooth abundance maps (Gaussian-smoothed random
// fields mapped onto the simplex, optionally capped and with pure pixels), and additive
// white Gaussian noise at a given SNR.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "core/io/endmember_table.h"

namespace dequnmix {

struct SyntheticOptions {
  int width = 64;
  int height = 64;
  int bands = 100;
  int endmembers = 4;
  // SNR = 10 log10(sum signal^2 / sum noise^2); infinity gives a noise-free scene.
  double snrDb = 30.0;
  // Cap on any single abundance in (1/P, 1]; below 1 makes a highly mixed scene.
  double maxAbundance = 1.0;
  // Place one exactly pure pixel per endmember (overrides the cap at those pixels).
  bool purePixels = true;
  uint64_t seed = 42;
  // Minimum pairwise spectral angle between endmembers (radians).
  double minSpectralAngle = 0.1;
  // Standard deviation (pixels) of the Gaussian that smooths the abundance fields.
  double smoothness = 4.0;
  // Wavelength range assigned to the bands (nm), for the CSV and raster metadata.
  double firstWavelengthNm = 400.0;
  double lastWavelengthNm = 2500.0;
};

struct SyntheticScene {
  int width = 0;
  int height = 0;
  int bands = 0;
  std::vector<float> scene;       // bands x height x width (band-sequential)
  std::vector<float> abundances;  // endmembers x height x width (band-sequential)
  EndmemberTable endmembers;      // reference spectra, with names and wavelengths
};

// Throws InvalidArgument for sizes < 1, endmembers < 2 or >= bands, cap outside (1/P, 1],
// or when no endmember set with the requested minimum angle is found.
SyntheticScene generateSyntheticScene(const SyntheticOptions& options);

}  // namespace dequnmix
