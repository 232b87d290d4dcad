// Synthetic scenes (synthetic.h).
//
// Determinism: every random draw comes from std::mt19937_64 (whose output sequence the C++
// standard fixes) through our own uniform and Box-Muller normal transforms (the standard
// distributions are implementation-defined), so a seed gives the same scene with any
// compiler and thread count. Independent streams serve the endmembers, the abundance
// fields, the pure-pixel and pure-region positions, each band's noise and each effect (library
// draw, illumination, variability, noise profile, low-SNR bands). So no option but the seed, the
// size, P, the cap, the share ratio, the smoothness and the pure pixels and regions change the
// abundances; only the library, the shade, the bands and the minimum angle change the
// endmembers; and a scene with every effect off is the one this generator made before they
// existed, bit for bit.
#include "core/synthetic/synthetic.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <unordered_set>

#include "core/errors.h"
#include "core/metrics/metrics.h"

namespace dequnmix {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Abundance fields are mapped onto the simplex by softmax(kSoftmaxGain * z) with z of unit
// variance: for P = 4 the largest abundance then has a median of about 0.68 and a 95th
// percentile of about 0.97, a mix of strongly and weakly mixed pixels with no exactly pure
// one (those are placed on purpose).
constexpr double kSoftmaxGain = 2.0;

enum Stream : uint64_t {
  kEndmemberStream = 1,
  kAbundanceStream = 2,
  kPureStream = 3,
  kNoiseStream = 4,
  kLibraryStream = 5,
  kIlluminationStream = 6,
  kVariabilityStream = 7,
  kNoiseProfileStream = 8,
  kLowSnrStream = 9,
  kPureRegionStream = 10,
  kSpikeStream = 11
};

// Spikes (SyntheticOptions::spikePixels): the share of a spiked pixel's bands and their gain.
constexpr double kSpikeBandShare = 0.05;
constexpr double kSpikeGain = 6;

// Endmember variability (SyntheticOptions::variability = 1): standard deviation of the
// log-scaling, of each spectral-shape coefficient, the shape basis size and the floor of
// the shape factor (keeps spectra positive).
constexpr double kVariabilityLogScale = 0.3;
constexpr double kVariabilityShape = 0.1;
constexpr int kShapeBasis = 3;
constexpr double kShapeFloor = 0.05;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream, uint64_t sub = 0)
      : engine_(splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ sub)) {}
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  uint64_t below(uint64_t n) { return engine_() % n; }  // bias < n / 2^64: negligible
  double normal() {
    if (hasSpare_) {
      hasSpare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2 * kPi * u2);
    hasSpare_ = true;
    return r * std::cos(2 * kPi * u2);
  }

 private:
  std::mt19937_64 engine_;
  bool hasSpare_ = false;
  double spare_ = 0;
};

// One spectrum on band positions x in [0, 1]: a smooth continuum (a baseline plus three
// broad Gaussian bumps) mapped affinely onto a random range [lo, hi] in [0.05, 0.95], times
// one to four Gaussian absorption features of depth <= 0.5. Values lie in [0.05 * 0.5^4, 0.95].
std::vector<double> randomSpectrum(Rng& rng, int bands) {
  std::vector<double> continuum(bands, 0.0);
  const double slope = rng.uniform(-1, 1);
  double m[3], s[3], h[3];
  for (int k = 0; k < 3; ++k) {
    m[k] = rng.uniform(-0.2, 1.2);
    s[k] = rng.uniform(0.1, 0.4);
    h[k] = rng.uniform(-1, 1);
  }
  for (int b = 0; b < bands; ++b) {
    const double x = bands > 1 ? static_cast<double>(b) / (bands - 1) : 0.5;
    double c = slope * x;
    for (int k = 0; k < 3; ++k) c += h[k] * std::exp(-0.5 * std::pow((x - m[k]) / s[k], 2));
    continuum[b] = c;
  }
  const auto [mn, mx] = std::minmax_element(continuum.begin(), continuum.end());
  const double lo = rng.uniform(0.05, 0.5);
  const double hi = rng.uniform(lo + 0.2, 0.95);
  const double span = *mx - *mn;
  const double cmin = *mn;
  for (double& c : continuum) c = span > 0 ? lo + (hi - lo) * (c - cmin) / span : 0.5 * (lo + hi);

  const int features = 1 + static_cast<int>(rng.below(4));
  for (int k = 0; k < features; ++k) {
    const double centre = rng.uniform(0.05, 0.95);
    const double width = rng.uniform(0.01, 0.05);
    const double depth = rng.uniform(0.1, 0.5);
    for (int b = 0; b < bands; ++b) {
      const double x = bands > 1 ? static_cast<double>(b) / (bands - 1) : 0.5;
      continuum[b] *= 1.0 - depth * std::exp(-0.5 * std::pow((x - centre) / width, 2));
    }
  }
  return continuum;
}

double angle(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<float> fa(a.begin(), a.end()), fb(b.begin(), b.end());
  return spectralAngle(fa.data(), fb.data(), static_cast<int>(fa.size()));
}

bool farFromAll(const std::vector<std::vector<double>>& set, const std::vector<double>& candidate,
                double minAngle) {
  bool farEnough = true;
  for (const auto& e : set) farEnough = farEnough && angle(e, candidate) >= minAngle;
  return farEnough;
}

[[noreturn]] void throwNoEndmemberSet(const SyntheticOptions& o) {
  throw InvalidArgument("no set of " + std::to_string(o.endmembers) +
                        " endmember spectra with pairwise spectral angles of at least " +
                        std::to_string(o.minSpectralAngle) +
                        " rad was found; lower the minimum angle or the endmember count");
}

// `count` random spectra by rejection: each new one must be at least minAngle from the
// others and from every spectrum of `keepAway` (the shade).
std::vector<std::vector<double>> randomEndmembers(
    const SyntheticOptions& o, int count, const std::vector<std::vector<double>>& keepAway) {
  Rng rng(o.seed, kEndmemberStream);
  constexpr int kRestarts = 50, kTriesPerEndmember = 200;
  for (int restart = 0; restart < kRestarts; ++restart) {
    std::vector<std::vector<double>> set;
    for (int tries = 0; tries < kTriesPerEndmember && static_cast<int>(set.size()) < count;
         ++tries) {
      std::vector<double> candidate = randomSpectrum(rng, o.bands);
      if (farFromAll(set, candidate, o.minSpectralAngle) &&
          farFromAll(keepAway, candidate, o.minSpectralAngle))
        set.push_back(std::move(candidate));
    }
    if (static_cast<int>(set.size()) == count) return set;
  }
  throwNoEndmemberSet(o);
}

// `count` columns of the library, greedily along a seeded random order of its spectra (a
// fresh order per restart), each at least minAngle from those taken and from `keepAway`.
std::vector<int> libraryColumns(const SyntheticOptions& o, const EndmemberTable& library, int count,
                                const std::vector<std::vector<double>>& keepAway) {
  Rng rng(o.seed, kLibraryStream);
  const int m = library.endmembers();
  constexpr int kRestarts = 50;
  for (int restart = 0; restart < kRestarts; ++restart) {
    std::vector<int> order(m);
    for (int k = 0; k < m; ++k) order[k] = k;
    for (int k = m - 1; k > 0; --k)
      std::swap(order[k], order[rng.below(static_cast<uint64_t>(k) + 1)]);
    std::vector<std::vector<double>> set;
    std::vector<int> chosen;
    for (int k = 0; k < m && static_cast<int>(chosen.size()) < count; ++k) {
      std::vector<double> candidate(library.bands);
      for (int b = 0; b < library.bands; ++b) candidate[b] = library.at(b, order[k]);
      if (farFromAll(set, candidate, o.minSpectralAngle) &&
          farFromAll(keepAway, candidate, o.minSpectralAngle)) {
        set.push_back(std::move(candidate));
        chosen.push_back(order[k]);
      }
    }
    if (static_cast<int>(chosen.size()) == count) return chosen;
  }
  throwNoEndmemberSet(o);
}

// The library of SyntheticOptions::libraryPath, checked for use as reflectance spectra.
EndmemberTable loadLibrary(const SyntheticOptions& o) {
  EndmemberTable library = readEndmemberCsv(o.libraryPath);
  for (float v : library.values) {
    if (!(std::isfinite(v) && v >= 0)) {
      throw InvalidArgument("synthetic scene: the spectral library " + o.libraryPath +
                            " holds a negative or non-finite value; libraryPath needs "
                            "non-negative reflectance spectra");
    }
  }
  const int needed = o.endmembers - (o.shade > 0 ? 1 : 0);
  if (library.endmembers() < needed) {
    throw InvalidArgument("synthetic scene: the spectral library " + o.libraryPath + " holds " +
                          std::to_string(library.endmembers()) + " spectra, fewer than the " +
                          std::to_string(needed) + " endmembers to draw from it (libraryPath)");
  }
  return library;
}

struct EndmemberSet {
  std::vector<std::vector<double>> spectra;  // P spectra of L values
  std::vector<std::string> names;
  std::vector<double> wavelengths;  // L (nm)
};

// Random or library spectra, and the shade as the last endmember when asked for.
EndmemberSet drawEndmembers(const SyntheticOptions& o, const EndmemberTable* library, int bands) {
  const bool shade = o.shade > 0;
  std::vector<std::vector<double>> keepAway;
  if (shade) keepAway.push_back(std::vector<double>(bands, o.shade));
  const int count = o.endmembers - (shade ? 1 : 0);
  EndmemberSet set;
  if (library) {
    for (int c : libraryColumns(o, *library, count, keepAway)) {
      std::vector<double> spectrum(bands);
      for (int b = 0; b < bands; ++b) spectrum[b] = library->at(b, c);
      set.spectra.push_back(std::move(spectrum));
      set.names.push_back(library->names[c]);
    }
    set.wavelengths = library->wavelengths;
  } else {
    set.spectra = randomEndmembers(o, count, keepAway);
    set.names = defaultEndmemberNames(o.endmembers);
    set.names.resize(count);
  }
  if (shade) {
    set.spectra.push_back(keepAway.front());
    set.names.push_back("shade");
  }
  if (set.wavelengths.empty()) {
    set.wavelengths.resize(bands);
    for (int b = 0; b < bands; ++b)
      set.wavelengths[b] =
          bands > 1
              ? o.firstWavelengthNm + (o.lastWavelengthNm - o.firstWavelengthNm) * b / (bands - 1)
              : o.firstWavelengthNm;
  }
  return set;
}

// Separable Gaussian smoothing of an H x W field with mirrored borders.
void smooth(std::vector<double>& field, int height, int width, double sigma) {
  if (!(sigma > 0)) return;
  const int radius = std::max(1, static_cast<int>(std::ceil(3 * sigma)));
  std::vector<double> kernel(2 * radius + 1);
  double total = 0;
  for (int k = -radius; k <= radius; ++k)
    total += kernel[k + radius] = std::exp(-0.5 * k * k / (sigma * sigma));
  for (double& k : kernel) k /= total;
  auto mirror = [](int i, int n) {
    if (n == 1) return 0;
    const int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
  };
  std::vector<double> tmp(field.size());
  for (int r = 0; r < height; ++r)
    for (int c = 0; c < width; ++c) {
      double s = 0;
      for (int k = -radius; k <= radius; ++k)
        s += kernel[k + radius] * field[static_cast<size_t>(r) * width + mirror(c + k, width)];
      tmp[static_cast<size_t>(r) * width + c] = s;
    }
  for (int r = 0; r < height; ++r)
    for (int c = 0; c < width; ++c) {
      double s = 0;
      for (int k = -radius; k <= radius; ++k)
        s += kernel[k + radius] * tmp[static_cast<size_t>(mirror(r + k, height)) * width + c];
      field[static_cast<size_t>(r) * width + c] = s;
    }
}

// An H x W field of standard normal draws, smoothed, then shifted and scaled to zero mean
// and unit variance (all zeros when it is constant).
std::vector<double> unitField(Rng& rng, int height, int width, double sigma) {
  const int64_t n = static_cast<int64_t>(height) * width;
  std::vector<double> f(n);
  for (double& v : f) v = rng.normal();
  smooth(f, height, width, sigma);
  double mean = 0, var = 0;
  for (double v : f) mean += v;
  mean /= n;
  for (double v : f) var += (v - mean) * (v - mean);
  const double sd = std::sqrt(var / n);
  for (double& v : f) v = sd > 0 ? (v - mean) / sd : 0.0;
  return f;
}

// Abundances (P x N): smoothed unit-variance Gaussian fields -> softmax (weighted by the
// share odds) -> cap.
std::vector<double> simplexAbundances(const SyntheticOptions& o) {
  const int P = o.endmembers;
  const int64_t N = static_cast<int64_t>(o.height) * o.width;
  std::vector<double> fields(static_cast<size_t>(P) * N);
  Rng rng(o.seed, kAbundanceStream);
  for (int e = 0; e < P; ++e) {
    const std::vector<double> f = unitField(rng, o.height, o.width, o.smoothness);
    std::copy(f.begin(), f.end(), fields.begin() + e * N);
  }
  std::vector<double> a(P);
  const double uniform = 1.0 / P;
  std::vector<double> abundance(static_cast<size_t>(P) * N);
  std::vector<double> odds(P);  // log-weights of the shares; all zero for even shares
  for (int e = 0; e < P; ++e) odds[e] = -std::log(o.shareRatio) * e / (P - 1);
  for (int64_t i = 0; i < N; ++i) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int e = 0; e < P; ++e) mx = std::max(mx, kSoftmaxGain * fields[e * N + i] + odds[e]);
    double sum = 0;
    for (int e = 0; e < P; ++e)
      sum += a[e] = std::exp(kSoftmaxGain * fields[e * N + i] + odds[e] - mx);
    double top = 0;
    for (int e = 0; e < P; ++e) top = std::max(top, a[e] /= sum);
    // Cap: shrink towards the simplex centre, a' = u + t (a - u) with t chosen so that the
    // largest entry becomes the cap; stays on the simplex and keeps the field smooth.
    if (top > o.maxAbundance) {
      const double t = (o.maxAbundance - uniform) / (top - uniform);
      for (int e = 0; e < P; ++e) a[e] = uniform + t * (a[e] - uniform);
    }
    for (int e = 0; e < P; ++e) abundance[e * N + i] = a[e];
  }
  return abundance;
}

// One exactly pure pixel per endmember at seeded random positions.
void placePurePixels(const SyntheticOptions& o, std::vector<double>& abundance) {
  const int P = o.endmembers;
  const int64_t N = static_cast<int64_t>(o.height) * o.width;
  Rng rng(o.seed, kPureStream);
  std::vector<int64_t> chosen;
  while (static_cast<int>(chosen.size()) < P) {
    const int64_t i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(N)));
    if (std::find(chosen.begin(), chosen.end(), i) == chosen.end()) chosen.push_back(i);
  }
  for (int e = 0; e < P; ++e)
    for (int q = 0; q < P; ++q) abundance[q * N + chosen[e]] = q == e ? 1.0 : 0.0;
}

// Square pure patches (fields, water bodies): each endmember in turn gets a patch of side
// pureRegionSize at a seeded random position until its patches have covered pureRegions / P
// of the pixels; later patches overwrite earlier ones where they overlap.
void placePureRegions(const SyntheticOptions& o, std::vector<double>& abundance) {
  const int P = o.endmembers;
  const int64_t N = static_cast<int64_t>(o.height) * o.width;
  const int side = std::min({o.pureRegionSize, o.height, o.width});
  const int64_t perEndmember = static_cast<int64_t>(std::ceil(o.pureRegions * N / P));
  Rng rng(o.seed, kPureRegionStream);
  std::vector<int64_t> covered(P, 0);
  for (bool more = true; more;) {
    more = false;
    for (int e = 0; e < P; ++e) {
      if (covered[e] >= perEndmember) continue;
      const int top = static_cast<int>(rng.below(uint64_t(o.height - side + 1)));
      const int left = static_cast<int>(rng.below(uint64_t(o.width - side + 1)));
      for (int r = top; r < top + side; ++r)
        for (int c = left; c < left + side; ++c)
          for (int q = 0; q < P; ++q) abundance[q * N + int64_t(r) * o.width + c] = q == e;
      covered[e] += int64_t(side) * side;
      more = more || covered[e] < perEndmember;
    }
  }
}

// Everything the per-pixel mixing needs; an empty vector is an effect that is off.
struct Mixing {
  int P = 0;
  int L = 0;
  int64_t N = 0;
  const std::vector<std::vector<double>>* spectra = nullptr;
  const std::vector<double>* abundance = nullptr;  // P x N
  std::vector<double> brightness;                  // N: illumination factor
  std::vector<double> scaling;                     // P x N: variability scaling
  std::vector<double> shape;                       // (P x N) x kShapeBasis coefficients
  std::vector<double> basis;                       // kShapeBasis x L: cos(pi k x)
  NonlinearMixing nonlinearity = NonlinearMixing::None;
  double strength = 0;
};

// Illumination factors exp(s z) / mean(exp(s z)), or empty when off.
std::vector<double> brightnessField(const SyntheticOptions& o) {
  if (!(o.illumination > 0)) return {};
  Rng rng(o.seed, kIlluminationStream);
  std::vector<double> t = unitField(rng, o.height, o.width, o.illuminationSmoothness);
  double mean = 0;
  for (double& v : t) mean += v = std::exp(o.illumination * v);
  mean /= static_cast<double>(t.size());
  for (double& v : t) v /= mean;
  return t;
}

// Variability scaling fields, shape coefficients and basis (left empty when off).
void addVariability(const SyntheticOptions& o, Mixing& m) {
  if (!(o.variability > 0)) return;
  Rng rng(o.seed, kVariabilityStream);
  m.scaling.resize(static_cast<size_t>(m.P) * m.N);
  for (int e = 0; e < m.P; ++e) {
    const std::vector<double> z = unitField(rng, o.height, o.width, o.smoothness);
    for (int64_t i = 0; i < m.N; ++i)
      m.scaling[e * m.N + i] = std::exp(kVariabilityLogScale * o.variability * z[i]);
  }
  m.shape.resize(static_cast<size_t>(m.P) * m.N * kShapeBasis);
  for (double& c : m.shape) c = kVariabilityShape * o.variability * rng.normal();
  m.basis.resize(static_cast<size_t>(kShapeBasis) * m.L);
  for (int k = 0; k < kShapeBasis; ++k)
    for (int b = 0; b < m.L; ++b) {
      const double x = m.L > 1 ? static_cast<double>(b) / (m.L - 1) : 0.5;
      m.basis[k * m.L + b] = std::cos(kPi * (k + 1) * x);
    }
}

// Scene value of band b at pixel i; s receives the P (perturbed) spectra values.
double pixelValue(const Mixing& m, int64_t b, int64_t i, double* s) {
  const std::vector<double>& a = *m.abundance;
  double y = 0;
  for (int e = 0; e < m.P; ++e) {
    s[e] = (*m.spectra)[e][b];
    if (!m.scaling.empty()) {
      const double* c = m.shape.data() + (e * m.N + i) * kShapeBasis;
      double factor = 1;
      for (int k = 0; k < kShapeBasis; ++k) factor += c[k] * m.basis[k * m.L + b];
      s[e] *= m.scaling[e * m.N + i] * std::max(kShapeFloor, factor);
    }
    y += s[e] * a[e * m.N + i];
  }
  if (m.nonlinearity == NonlinearMixing::Bilinear && m.strength > 0) {
    double q = 0;
    for (int e = 0; e < m.P; ++e)
      for (int f = e + 1; f < m.P; ++f) q += a[e * m.N + i] * a[f * m.N + i] * s[e] * s[f];
    y += m.strength * q;
  } else if (m.nonlinearity == NonlinearMixing::PostNonlinear && m.strength > 0) {
    y += m.strength * y * y;
  }
  if (!m.brightness.empty()) y *= m.brightness[i];
  return y;
}

// Writes the noise-free scene (in double, stored as float); returns each band's sum of
// squares.
std::vector<double> mixScene(const Mixing& m, int bands, std::vector<float>& scene) {
  scene.resize(static_cast<size_t>(bands) * m.N);
  std::vector<double> bandPower(bands, 0.0);
  at::parallel_for(0, bands, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> s(m.P);
    for (int64_t b = begin; b < end; ++b) {
      double power = 0;
      for (int64_t i = 0; i < m.N; ++i) {
        const double y = pixelValue(m, b, i, s.data());
        scene[b * m.N + i] = static_cast<float>(y);
        power += y * y;
      }
      bandPower[b] = power;
    }
  });
  return bandPower;
}

// Relative noise variance per band (mean 1): 10^(spread/10 * g), g a smooth random curve
// over the bands scaled to [0, 1]; all ones when the spread is 0.
std::vector<double> noiseProfile(const SyntheticOptions& o, int bands) {
  std::vector<double> w(bands, 1.0);
  if (!(o.noiseSpreadDb > 0) || bands < 2) return w;
  Rng rng(o.seed, kNoiseProfileStream);
  double amplitude[3], phase[3];
  for (int k = 0; k < 3; ++k) {
    amplitude[k] = rng.normal() / (k + 1);
    phase[k] = rng.uniform(0, 2 * kPi);
  }
  for (int b = 0; b < bands; ++b) {
    const double x = static_cast<double>(b) / (bands - 1);
    w[b] = 0;
    for (int k = 0; k < 3; ++k) w[b] += amplitude[k] * std::cos(kPi * (k + 1) * x + phase[k]);
  }
  const auto [lo, hi] = std::minmax_element(w.begin(), w.end());
  const double low = *lo, span = *hi - *lo;
  double mean = 0;
  for (double& v : w)
    mean += v = std::pow(10.0, o.noiseSpreadDb / 10 * (span > 0 ? (v - low) / span : 0));
  mean /= bands;
  for (double& v : w) v /= mean;
  return w;
}

// Noise standard deviation per band; negative for a band left noise-free.
std::vector<double> noiseSigmas(const SyntheticOptions& o, const std::vector<double>& bandPower,
                                int64_t pixels) {
  const int bands = static_cast<int>(bandPower.size());
  std::vector<double> sigma(bands, -1.0);
  if (std::isfinite(o.snrDb)) {
    double signal = 0;
    for (double p : bandPower) signal += p;
    const double base =
        std::sqrt(signal / (static_cast<double>(bands) * pixels) / std::pow(10.0, o.snrDb / 10));
    const std::vector<double> w = noiseProfile(o, bands);
    for (int b = 0; b < bands; ++b) sigma[b] = o.noiseSpreadDb > 0 ? base * std::sqrt(w[b]) : base;
  }
  Rng rng(o.seed, kLowSnrStream);
  std::vector<int> order(bands);
  for (int b = 0; b < bands; ++b) order[b] = b;
  for (int k = 0; k < o.lowSnrBands; ++k) {  // partial Fisher-Yates: distinct bands
    std::swap(order[k], order[k + rng.below(static_cast<uint64_t>(bands - k))]);
    const int b = order[k];
    sigma[b] =
        std::sqrt(bandPower[b] / static_cast<double>(pixels) / std::pow(10.0, o.lowSnrDb / 10));
  }
  return sigma;
}

// Adds Gaussian noise of the given standard deviation to each band (its own stream).
void addNoise(const SyntheticOptions& o, const std::vector<double>& sigma, int64_t pixels,
              std::vector<float>& scene) {
  const int64_t bands = static_cast<int64_t>(sigma.size());
  at::parallel_for(0, bands, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      if (sigma[b] < 0) continue;
      Rng rng(o.seed, kNoiseStream, static_cast<uint64_t>(b));
      for (int64_t i = 0; i < pixels; ++i)
        scene[b * pixels + i] = static_cast<float>(scene[b * pixels + i] + sigma[b] * rng.normal());
    }
  });
}

// Multiplies a few random bands of spikePixels distinct random pixels (their own stream).
void addSpikes(const SyntheticOptions& o, int bands, int64_t pixels, std::vector<float>& scene) {
  Rng rng(o.seed, kSpikeStream);
  const int spiked = std::max(1, int(std::lround(kSpikeBandShare * bands)));
  std::unordered_set<int64_t> done;
  std::vector<int> order(bands);
  while (int64_t(done.size()) < o.spikePixels) {
    const int64_t i = int64_t(rng.below(uint64_t(pixels)));
    if (!done.insert(i).second) continue;
    std::iota(order.begin(), order.end(), 0);
    for (int k = 0; k < spiked; ++k) {  // partial Fisher-Yates: distinct bands
      std::swap(order[k], order[k + rng.below(uint64_t(bands - k))]);
      float& v = scene[size_t(order[k]) * pixels + i];
      v = float(v * kSpikeGain);
    }
  }
}

void requireRange(const char* option, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi)) {
    throw InvalidArgument(std::string("synthetic scene: ") + option + " must lie in [" +
                          messageNumber(lo) + ", " + messageNumber(hi) + "] (got " +
                          messageNumber(value) + ")");
  }
}

// Ranges of the effect options (those that do not depend on the band count).
void validateEffects(const SyntheticOptions& o) {
  using Limits = SyntheticLimits;
  requireRange("smoothness", o.smoothness, 0, Limits::kMaxSmoothness);
  requireRange("illumination", o.illumination, 0, Limits::kMaxIllumination);
  requireRange("illuminationSmoothness", o.illuminationSmoothness, 0,
               Limits::kMaxIlluminationSmoothness);
  requireRange("shade", o.shade, 0, Limits::kMaxShade);
  requireRange("variability", o.variability, 0, Limits::kMaxVariability);
  requireRange("nonlinearStrength", o.nonlinearStrength, 0, Limits::kMaxNonlinearStrength);
  requireRange("noiseSpreadDb", o.noiseSpreadDb, 0, Limits::kMaxNoiseSpreadDb);
  requireRange("lowSnrDb", o.lowSnrDb, Limits::kMinLowSnrDb, Limits::kMaxLowSnrDb);
  requireRange("pureRegions", o.pureRegions, 0, Limits::kMaxPureRegions);
  requireRange("pureRegionSize", o.pureRegionSize, 1, Limits::kMaxPureRegionSize);
  requireRange("shareRatio", o.shareRatio, 1, Limits::kMaxShareRatio);
  if (o.nonlinearity != NonlinearMixing::None && o.nonlinearity != NonlinearMixing::Bilinear &&
      o.nonlinearity != NonlinearMixing::PostNonlinear) {
    throw InvalidArgument("synthetic scene: nonlinearity must be none, bilinear or ppnmm");
  }
  if (o.lowSnrBands < 0) {
    throw InvalidArgument("synthetic scene: lowSnrBands must lie in [0, bands] (got " +
                          std::to_string(o.lowSnrBands) + ")");
  }
}
// Cap, SNR, angle and wavelengths.
void validateValues(const SyntheticOptions& o) {
  const double minCap = 1.0 / o.endmembers;
  if (!(o.maxAbundance > minCap && o.maxAbundance <= 1.0)) {
    throw InvalidArgument("synthetic scene: the maximum abundance must lie in (1/P, 1] = (" +
                          std::to_string(minCap) + ", 1] (got " + std::to_string(o.maxAbundance) +
                          ")");
  }
  if (std::isnan(o.snrDb) || o.snrDb == -std::numeric_limits<double>::infinity()) {
    throw InvalidArgument(
        "synthetic scene: the SNR must be a number of dB (or +infinity for no noise)");
  }
  if (!(o.minSpectralAngle >= 0 && o.minSpectralAngle < kPi / 2)) {
    throw InvalidArgument("synthetic scene: the minimum spectral angle must lie in [0, pi/2) rad");
  }
  if (!std::isfinite(o.firstWavelengthNm) || !std::isfinite(o.lastWavelengthNm)) {
    throw InvalidArgument("synthetic scene: the wavelength range must be finite");
  }
  if (o.purePixels && static_cast<int64_t>(o.width) * o.height < o.endmembers) {
    throw InvalidArgument("synthetic scene: " + std::to_string(o.endmembers) +
                          " pure pixels do not fit in " + std::to_string(o.width) + " x " +
                          std::to_string(o.height) +
                          " pixels; enlarge the scene or turn pure pixels off");
  }
}

void validate(const SyntheticOptions& o, int bands) {
  if (o.width < 1 || o.height < 1 || bands < 1) {
    throw InvalidArgument("synthetic scene: width, height and bands must be at least 1 (got " +
                          std::to_string(o.width) + " x " + std::to_string(o.height) + " x " +
                          std::to_string(bands) + ")");
  }
  if (o.endmembers < 2) {
    throw InvalidArgument("synthetic scene: at least 2 endmembers are needed (got " +
                          std::to_string(o.endmembers) + ")");
  }
  if (o.endmembers >= bands) {
    throw InvalidArgument("synthetic scene: the endmember count (" + std::to_string(o.endmembers) +
                          ") must be less than the band count (" + std::to_string(bands) + ")");
  }
  if (o.spikePixels < 0 || o.spikePixels > int64_t(o.width) * o.height) {
    throw InvalidArgument("synthetic scene: spikePixels must lie in [0, width x height] = [0, " +
                          std::to_string(int64_t(o.width) * o.height) + "] (got " +
                          std::to_string(o.spikePixels) + ")");
  }
  if (o.lowSnrBands > bands) {
    throw InvalidArgument("synthetic scene: lowSnrBands must lie in [0, bands] = [0, " +
                          std::to_string(bands) + "] (got " + std::to_string(o.lowSnrBands) + ")");
  }
  validateValues(o);
}

}  // namespace

const char* toString(NonlinearMixing model) {
  switch (model) {
    case NonlinearMixing::Bilinear:
      return "bilinear";
    case NonlinearMixing::PostNonlinear:
      return "ppnmm";
    case NonlinearMixing::None:
      break;
  }
  return "none";
}

NonlinearMixing parseNonlinearMixing(const std::string& name) {
  for (NonlinearMixing m :
       {NonlinearMixing::None, NonlinearMixing::Bilinear, NonlinearMixing::PostNonlinear})
    if (name == toString(m)) return m;
  throw InvalidArgument("unknown nonlinear mixing '" + name + "': use none, bilinear or ppnmm");
}

SyntheticScene generateSyntheticScene(const SyntheticOptions& o) {
  validateEffects(o);
  EndmemberTable library;
  if (!o.libraryPath.empty()) library = loadLibrary(o);
  const int L = o.libraryPath.empty() ? o.bands : library.bands;
  validate(o, L);
  const int P = o.endmembers;
  const int64_t N = static_cast<int64_t>(o.height) * o.width;

  SyntheticScene scene;
  scene.width = o.width;
  scene.height = o.height;
  scene.bands = L;
  EndmemberSet set = drawEndmembers(o, o.libraryPath.empty() ? nullptr : &library, L);
  EndmemberTable& table = scene.endmembers;
  table.names = set.names;
  table.bands = L;
  table.wavelengths = set.wavelengths;
  table.values.resize(static_cast<size_t>(L) * P);
  for (int b = 0; b < L; ++b)
    for (int e = 0; e < P; ++e)
      table.values[static_cast<size_t>(b) * P + e] = static_cast<float>(set.spectra[e][b]);

  std::vector<double> abundance = simplexAbundances(o);
  if (o.purePixels) placePurePixels(o, abundance);
  if (o.pureRegions > 0) placePureRegions(o, abundance);
  scene.abundances.assign(abundance.begin(), abundance.end());

  // Scene Y = E A in double (with the effects asked for), then Gaussian noise with
  // sigma^2 = (sum Y^2 / (L N)) / 10^(SNR / 10), i.e. SNR = 10 log10(sum Y^2 / E[sum n^2]),
  // shaped over bands by the noise profile and raised on the low-SNR bands.
  Mixing m;
  m.P = P;
  m.L = L;
  m.N = N;
  m.spectra = &set.spectra;
  m.abundance = &abundance;
  m.brightness = brightnessField(o);
  addVariability(o, m);
  m.nonlinearity = o.nonlinearity;
  m.strength = o.nonlinearStrength;
  const std::vector<double> bandPower = mixScene(m, L, scene.scene);
  addNoise(o, noiseSigmas(o, bandPower, N), N, scene.scene);
  addSpikes(o, L, N, scene.scene);
  return scene;
}

}  // namespace dequnmix
