#include "bench/procedural_scene.h"

#include <chrono>
#include <cmath>

#include "core/synthetic/synthetic.h"

namespace dequnmix::bench {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ProceduralScene::ProceduralScene(const std::vector<float>& spectra, int bands, int p, int size,
                                 double snrDb)
    : spectra_(spectra), bands_(bands), p_(p), size_(size) {
  double power = 0;  // mean squared value of a spectrum, for the noise level
  for (float v : spectra) power += double(v) * v;
  power /= double(spectra.size());
  sigma_ = std::sqrt(power / std::pow(10.0, snrDb / 10.0));
}

void ProceduralScene::abundances(int row, int col, double* a) const {
  const double u = double(row) / size_, v = double(col) / size_;
  double sum = 0;
  for (int p = 0; p < p_; ++p) {
    const double f = std::sin(2 * M_PI * ((p + 1) * 1.3 * u + (p_ - p) * 0.7 * v) + p) +
                     0.5 * std::cos(2 * M_PI * ((p % 2 + 1) * 2.1 * v - 1.7 * u) + 2 * p);
    a[p] = std::exp(1.5 * f);
    sum += a[p];
  }
  for (int p = 0; p < p_; ++p) a[p] /= sum;
}

void ProceduralScene::read(int row, int col, int rows, int cols, float* values) const {
  const int64_t plane = int64_t(rows) * cols;
  std::vector<double> a(p_);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      abundances(row + r, col + c, a.data());
      const uint64_t pixel = uint64_t(row + r) * uint64_t(size_) + uint64_t(col + c);
      for (int b = 0; b < bands_; ++b) {
        double y = 0;
        for (int p = 0; p < p_; ++p) y += spectra_[b * p_ + p] * a[p];
        // Box-Muller from two hashes of (pixel, band): the same value in every window.
        const uint64_t h = splitmix64(pixel * uint64_t(bands_) + uint64_t(b));
        const double u1 = (double(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        const double u2 = double(splitmix64(h) >> 11) * (1.0 / 9007199254740992.0);
        y += sigma_ * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
        values[b * plane + int64_t(r) * cols + c] = float(y);
      }
    }
}

void ProceduralReader::read(int row, int col, int rows, int cols, float* values) {
  const auto t0 = std::chrono::steady_clock::now();
  scene_.read(row, col, rows, cols, values);
  seconds += secondsSince(t0);
}

QuickModel trainQuickModel(int bands, int endmembers, int trainSize, double snrDb, int epochs,
                           int threads) {
  SyntheticOptions so;
  so.width = so.height = trainSize;
  so.bands = bands;
  so.endmembers = endmembers;
  so.snrDb = snrDb;
  so.seed = 42;
  SyntheticScene s = generateSyntheticScene(so);
  QuickModel q;
  q.spectra = s.endmembers.values;
  DeqTrainInput in;
  in.bands = s.bands;
  in.height = s.height;
  in.width = s.width;
  in.scene = std::move(s.scene);
  DeqTrainOptions o;
  o.endmembers = endmembers;
  o.epochs = epochs;
  o.threads = threads;
  o.seed = 1;
  DeqInferOptions skipFinalPass;
  skipFinalPass.solver.maxIterations = 1;
  const auto t0 = std::chrono::steady_clock::now();
  q.model = trainDeqUnmix(in, o, skipFinalPass).model;
  q.trainSeconds = secondsSince(t0);
  return q;
}

}  // namespace dequnmix::bench
