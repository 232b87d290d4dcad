// Seeded fixtures and tolerance helpers shared by the core unit tests. Plain C++ (no
// LibTorch include) so that tests of the plain API stay cheap to compile.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/deq/deq_unmix.h"
#include "core/progress.h"
#include "core/synthetic/synthetic.h"

namespace dequnmix::test {

// Deterministic random source for fixtures (std::mt19937_64 has a standard-fixed sequence).
class Fixtures {
 public:
  explicit Fixtures(uint64_t seed) : rng_(seed) {}
  double uniform(double lo = 0, double hi = 1) {
    return std::uniform_real_distribution<double>(lo, hi)(rng_);
  }
  double normal() { return std::normal_distribution<double>(0, 1)(rng_); }
  int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  // bands x count, row-major, entries in [lo, hi).
  std::vector<float> matrix(int rows, int cols, double lo = 0.05, double hi = 1.0) {
    std::vector<float> m(static_cast<size_t>(rows) * cols);
    for (float& v : m) v = static_cast<float>(uniform(lo, hi));
    return m;
  }
  // A point of the probability simplex drawn uniformly (Dirichlet(1, ..., 1)); with
  // `zeros` > 0 that many random entries are set to exactly zero (a face of the simplex).
  std::vector<double> simplexPoint(int p, int zeros = 0) {
    std::vector<double> a(p);
    double s = 0;
    for (double& v : a) s += v = -std::log(1.0 - uniform());
    for (int k = 0; k < zeros && k < p - 1; ++k) {
      int i;
      do i = integer(0, p - 1);
      while (a[i] == 0);
      s -= a[i];
      a[i] = 0;
    }
    for (double& v : a) v /= s;
    return a;
  }

 private:
  std::mt19937_64 rng_;
};

// Largest absolute difference between two equally long ranges.
template <typename A, typename B>
double maxAbsDiff(const A& a, const B& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return m;
}

#define EXPECT_ALL_NEAR(a, b, tol) EXPECT_LE(::dequnmix::test::maxAbsDiff((a), (b)), (tol))

// Runs `f`, expecting it to throw `Ex` whose message contains every one of `parts`.
template <typename Ex, typename F>
void expectThrowWith(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an exception";
  } catch (const Ex& e) {
    const std::string what = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(what.find(part), std::string::npos)
          << "message '" << what << "' lacks '" << part << "'";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception type: " << e.what();
  }
}

// A ProgressSink that records progress and cancels after a given number of reports.
class RecordingSink : public ProgressSink {
 public:
  explicit RecordingSink(int cancelAfter = -1) : cancelAfter_(cancelAfter) {}
  void setProgress(double fraction) override { reports.push_back(fraction); }
  void warning(const std::string& message) override { warnings.push_back(message); }
  bool isCanceled() const override {
    return cancelAfter_ >= 0 && static_cast<int>(reports.size()) >= cancelAfter_;
  }
  std::vector<double> reports;
  std::vector<std::string> warnings;

 private:
  int cancelAfter_;
};

// Column-major <-> row-major helpers for bands x P matrices stored row-major.
inline std::vector<float> column(const std::vector<float>& rowMajor, int rows, int cols, int c) {
  std::vector<float> v(rows);
  for (int r = 0; r < rows; ++r) v[r] = rowMajor[static_cast<size_t>(r) * cols + c];
  return v;
}

// A generated scene as DEQ-Unmix training input (unsupervised, all bands).
inline DeqTrainInput trainInputOf(const SyntheticScene& s) {
  DeqTrainInput in;
  in.bands = s.bands;
  in.height = s.height;
  in.width = s.width;
  in.scene = s.scene;
  return in;
}

// Pure regions (30% of the pixels) under spectral variability 0.2 at 40 dB, three random
// spectra at least 0.4 rad apart, 40 x 40 x 60: each material's extreme pure pixels are
// outliers of a dense cluster (the case pure-cluster centring is for).
inline SyntheticOptions pureRegionsUnderVariability(uint64_t seed) {
  SyntheticOptions o;
  o.width = o.height = 40;
  o.bands = 60;
  o.endmembers = 3;
  o.snrDb = 40;
  o.minSpectralAngle = 0.4;
  o.pureRegions = 0.3;
  o.variability = 0.2;
  o.seed = seed;
  return o;
}

}  // namespace dequnmix::test
