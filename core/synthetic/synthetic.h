// Synthetic scenes, deterministic for a seed: smooth random
// endmember spectra (a continuum with Gaussian absorption features, values in (0, 1),
// pairwise SAD above a minimum), spatially smooth abundance maps (Gaussian-smoothed random
// fields mapped onto the simplex, optionally capped and with pure pixels), and additive
// white Gaussian noise at a given SNR.
//
// Effects real scenes have (issue 11), each off by default so that default scenes are
// unchanged bit for bit:
//   - endmembers drawn from a spectral library file (real spectra are strongly correlated);
//   - per-pixel illumination (a smooth brightness field scaling the whole spectrum) and a
//     dark shade endmember;
//   - endmember variability: each pixel's spectra scaled (extended linear mixing model,
//     Drumetz et al. 2016) and perturbed by a smooth spectral shape (perturbed linear
//     mixing model, Thouvenin et al. 2016);
//   - nonlinear mixing: bilinear (Fan et al. 2009), y = E a + s sum_{i<j} a_i a_j e_i * e_j,
//     or post-nonlinear (PPNMM, Altmann et al. 2012), y = x + s x * x with x = E a;
//   - band-dependent noise (variance varying smoothly over bands) and a few low-SNR bands.
// Per pixel the scene is: spectra (with variability) -> mixture (linear or nonlinear)
// -> times the illumination -> plus noise. The reference endmembers are the unperturbed
// spectra and the reference abundances the mixing fractions.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/io/endmember_table.h"

namespace dequnmix {

enum class NonlinearMixing {
  None,           // linear mixing model
  Bilinear,       // Fan: y = E a + strength * sum_{i<j} a_i a_j (e_i * e_j)
  PostNonlinear,  // PPNMM: y = x + strength * x * x, x = E a (element-wise product)
};

// "none", "bilinear", "ppnmm"; parseNonlinearMixing throws InvalidArgument naming them.
const char* toString(NonlinearMixing model);
NonlinearMixing parseNonlinearMixing(const std::string& name);

// Accepted ranges of the effect options (validation in the core, bounds of the QGIS
// parameters).
struct SyntheticLimits {
  static constexpr double kMaxSmoothness = 1000.0;
  static constexpr double kMaxIllumination = 2.0;
  static constexpr double kMaxIlluminationSmoothness = 1000.0;
  static constexpr double kMaxShade = 0.2;
  static constexpr double kMaxVariability = 1.0;
  static constexpr double kMaxNonlinearStrength = 1.0;
  static constexpr double kMaxNoiseSpreadDb = 40.0;
  static constexpr double kMinLowSnrDb = -10.0;
  static constexpr double kMaxLowSnrDb = 40.0;
  static constexpr double kMaxPureRegions = 0.9;
  static constexpr int kMaxPureRegionSize = 1000;
  static constexpr double kMaxShareRatio = 1000.0;
};

struct SyntheticOptions {
  int width = 64;
  int height = 64;
  int bands = 100;  // ignored when libraryPath is set (the library's bands are used)
  int endmembers = 4;
  // SNR = 10 log10(sum signal^2 / sum noise^2); infinity gives a noise-free scene.
  double snrDb = 30.0;
  // Cap on any single abundance in (1/P, 1]; below 1 makes a highly mixed scene.
  double maxAbundance = 1.0;
  // Odds R of the first endmember against the last, [1, 1000], default 1 (even shares): each
  // pixel's softmax weight of endmember e (0-based) is multiplied by R^(-e / (P - 1)), so the
  // first material covers most of the scene and the last is rare, as on real scenes.
  double shareRatio = 1.0;
  // Place one exactly pure pixel per endmember (overrides the cap at those pixels).
  bool purePixels = true;
  uint64_t seed = 42;
  // Minimum pairwise spectral angle between endmembers (radians).
  double minSpectralAngle = 0.1;
  // Standard deviation (pixels) of the Gaussian that smooths the abundance fields, [0, 1000];
  // 0 draws every pixel's abundances independently.
  double smoothness = 4.0;
  // Wavelength range assigned to the bands (nm), for the CSV and raster metadata.
  double firstWavelengthNm = 400.0;
  double lastWavelengthNm = 2500.0;

  // Endmember CSV (core/io/endmember_table.h) to draw the P spectra from, at random and at
  // least minSpectralAngle apart; "" (default): random smooth spectra. The scene takes the
  // library's bands and wavelengths (bands and the wavelength range are then ignored).
  std::string libraryPath;
  // Illumination strength s in [0, 2], default 0 (off): pixel i's spectrum is scaled by
  // exp(s z_i) / mean(exp(s z)), z a smooth unit-variance random field.
  double illumination = 0.0;
  // Standard deviation (pixels) of the Gaussian smoothing the illumination field, [0, 1000].
  double illuminationSmoothness = 8.0;
  // Shade reflectance in [0, 0.2], default 0 (off): the last endmember becomes a flat dark
  // spectrum of this value, named "shade".
  double shade = 0.0;
  // Endmember variability v in [0, 1], default 0 (off): pixel i's spectrum of endmember e is
  // e(x) exp(0.3 v z_e(i)) max(0.05, 1 + 0.1 v sum_{k=1..3} c_eik cos(pi k x)), with z_e a
  // smooth unit-variance field, c_eik ~ N(0, 1) per pixel and x in [0, 1] over the bands.
  double variability = 0.0;
  NonlinearMixing nonlinearity = NonlinearMixing::None;  // default: linear mixing
  // Strength s of the nonlinear term in [0, 1], default 0 (1: Fan's bilinear model).
  double nonlinearStrength = 0.0;
  // Spread (dB, peak to trough) of the noise variance over bands, [0, 40], default 0 (white);
  // a smooth random profile with the mean variance kept, so the overall SNR is snrDb.
  double noiseSpreadDb = 0.0;
  // Number of randomly chosen bands with extra noise (their own SNR lowSnrDb), [0, bands],
  // default 0; applied even when snrDb is infinite.
  int lowSnrBands = 0;
  // SNR (dB) of each low-SNR band against that band's own signal, [-10, 40], default 5.
  double lowSnrDb = 5.0;
  // Fraction of the pixels in [0, 0.9] made pure in square patches, about equal for every
  // endmember, default 0 (off): real scenes hold homogeneous regions (fields, water), whose
  // pixels the other effects then perturb, where a scene of mixtures has only isolated pure
  // pixels.
  double pureRegions = 0.0;
  int pureRegionSize = 6;  // side of the pure patches (pixels), [1, 1000]
  // Number of random pixels with spikes, as detector glitches and cosmic-ray hits leave,
  // [0, width x height], default 0: a twentieth of their bands (at least one) multiplied by
  // 6, after the noise. The reference abundances stay those of the mixture.
  int64_t spikePixels = 0;
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
// an effect option outside its range (the message names the option and the range), a
// library with fewer spectra than endmembers or with non-finite or negative values, or when
// no endmember set with the requested minimum angle is found; IoError when the library
// cannot be read.
SyntheticScene generateSyntheticScene(const SyntheticOptions& options);

}  // namespace dequnmix
