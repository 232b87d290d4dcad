// Synthetic scenes (DESIGN.md section 6).
//
// Determinism: every random draw comes from std::mt19937_64 (whose output sequence the C++
// standard fixes) through our own uniform and Box-Muller normal transforms (the standard
// distributions are implementation-defined), so a seed gives the same scene with any
// compiler and thread count. Independent streams serve the endmembers, the abundance
// fields, the pure-pixel positions and each band's noise; changing the SNR therefore leaves
// the endmembers and abundances unchanged.
#include "core/synthetic/synthetic.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

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
  kNoiseStream = 4
};

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

// Endmember set by rejection: each new spectrum must be at least minAngle from the others.
std::vector<std::vector<double>> randomEndmembers(const SyntheticOptions& o) {
  Rng rng(o.seed, kEndmemberStream);
  constexpr int kRestarts = 50, kTriesPerEndmember = 200;
  for (int restart = 0; restart < kRestarts; ++restart) {
    std::vector<std::vector<double>> set;
    for (int tries = 0; tries < kTriesPerEndmember && static_cast<int>(set.size()) < o.endmembers;
         ++tries) {
      std::vector<double> candidate = randomSpectrum(rng, o.bands);
      bool farEnough = true;
      for (const auto& e : set) farEnough = farEnough && angle(e, candidate) >= o.minSpectralAngle;
      if (farEnough) set.push_back(std::move(candidate));
    }
    if (static_cast<int>(set.size()) == o.endmembers) return set;
  }
  throw InvalidArgument("no set of " + std::to_string(o.endmembers) +
                        " endmember spectra with pairwise spectral angles of at least " +
                        std::to_string(o.minSpectralAngle) +
                        " rad was found; lower the minimum angle or the endmember count");
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

void validate(const SyntheticOptions& o) {
  if (o.width < 1 || o.height < 1 || o.bands < 1) {
    throw InvalidArgument("synthetic scene: width, height and bands must be at least 1 (got " +
                          std::to_string(o.width) + " x " + std::to_string(o.height) + " x " +
                          std::to_string(o.bands) + ")");
  }
  if (o.endmembers < 2) {
    throw InvalidArgument("synthetic scene: at least 2 endmembers are needed (got " +
                          std::to_string(o.endmembers) + ")");
  }
  if (o.endmembers >= o.bands) {
    throw InvalidArgument("synthetic scene: the endmember count (" + std::to_string(o.endmembers) +
                          ") must be less than the band count (" + std::to_string(o.bands) + ")");
  }
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
  if (!(o.smoothness >= 0) || !std::isfinite(o.smoothness)) {
    throw InvalidArgument("synthetic scene: the smoothness must be a finite value >= 0 (pixels)");
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

}  // namespace

SyntheticScene generateSyntheticScene(const SyntheticOptions& o) {
  validate(o);
  const int L = o.bands, P = o.endmembers, H = o.height, W = o.width;
  const int64_t N = static_cast<int64_t>(H) * W;

  SyntheticScene scene;
  scene.width = W;
  scene.height = H;
  scene.bands = L;

  // Endmembers.
  const std::vector<std::vector<double>> spectra = randomEndmembers(o);
  EndmemberTable& table = scene.endmembers;
  table.names = defaultEndmemberNames(P);
  table.bands = L;
  table.values.resize(static_cast<size_t>(L) * P);
  for (int b = 0; b < L; ++b)
    for (int e = 0; e < P; ++e)
      table.values[static_cast<size_t>(b) * P + e] = static_cast<float>(spectra[e][b]);
  table.wavelengths.resize(L);
  for (int b = 0; b < L; ++b)
    table.wavelengths[b] =
        L > 1 ? o.firstWavelengthNm + (o.lastWavelengthNm - o.firstWavelengthNm) * b / (L - 1)
              : o.firstWavelengthNm;

  // Abundances: smoothed unit-variance Gaussian fields -> softmax -> cap -> pure pixels.
  std::vector<double> fields(static_cast<size_t>(P) * N);
  {
    Rng rng(o.seed, kAbundanceStream);
    for (int e = 0; e < P; ++e) {
      std::vector<double> f(N);
      for (double& v : f) v = rng.normal();
      smooth(f, H, W, o.smoothness);
      double mean = 0, var = 0;
      for (double v : f) mean += v;
      mean /= N;
      for (double v : f) var += (v - mean) * (v - mean);
      const double sd = std::sqrt(var / N);
      for (int64_t i = 0; i < N; ++i) fields[e * N + i] = sd > 0 ? (f[i] - mean) / sd : 0.0;
    }
  }
  std::vector<double> a(P);
  const double uniform = 1.0 / P;
  scene.abundances.resize(static_cast<size_t>(P) * N);
  std::vector<double> abundance(static_cast<size_t>(P) * N);
  for (int64_t i = 0; i < N; ++i) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int e = 0; e < P; ++e) mx = std::max(mx, kSoftmaxGain * fields[e * N + i]);
    double sum = 0;
    for (int e = 0; e < P; ++e) sum += a[e] = std::exp(kSoftmaxGain * fields[e * N + i] - mx);
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
  if (o.purePixels) {
    Rng rng(o.seed, kPureStream);
    std::vector<int64_t> chosen;
    while (static_cast<int>(chosen.size()) < P) {
      const int64_t i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(N)));
      if (std::find(chosen.begin(), chosen.end(), i) == chosen.end()) chosen.push_back(i);
    }
    for (int e = 0; e < P; ++e)
      for (int q = 0; q < P; ++q) abundance[q * N + chosen[e]] = q == e ? 1.0 : 0.0;
  }
  for (size_t k = 0; k < abundance.size(); ++k)
    scene.abundances[k] = static_cast<float>(abundance[k]);

  // Scene Y = E A in double, then white Gaussian noise with
  // sigma^2 = (sum Y^2 / (L N)) / 10^(SNR / 10), i.e. SNR = 10 log10(sum Y^2 / E[sum n^2]).
  scene.scene.resize(static_cast<size_t>(L) * N);
  std::vector<double> bandPower(L, 0.0);
  at::parallel_for(0, L, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      double power = 0;
      for (int64_t i = 0; i < N; ++i) {
        double y = 0;
        for (int e = 0; e < P; ++e) y += spectra[e][b] * abundance[e * N + i];
        scene.scene[b * N + i] = static_cast<float>(y);
        power += y * y;
      }
      bandPower[b] = power;
    }
  });
  if (std::isfinite(o.snrDb)) {
    double signal = 0;
    for (double p : bandPower) signal += p;
    const double sigma =
        std::sqrt(signal / (static_cast<double>(L) * N) / std::pow(10.0, o.snrDb / 10));
    at::parallel_for(0, L, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        Rng rng(o.seed, kNoiseStream, static_cast<uint64_t>(b));
        for (int64_t i = 0; i < N; ++i)
          scene.scene[b * N + i] =
              static_cast<float>(scene.scene[b * N + i] + sigma * rng.normal());
      }
    });
  }
  return scene;
}

}  // namespace dequnmix
