// A large scene that is never held in memory, for inference benchmarks: every window is
// generated on demand, deterministic, and overlapping windows agree. No GDAL: the
// benchmarks built on it run where only LibTorch is (the GPU machine).
#pragma once

#include <cstdint>
#include <vector>

#include "core/deq/deq_unmix.h"

namespace dequnmix::bench {

// Abundances a_p(r, c) = softmax_p(1.5 field_p(r, c)) of smooth fields with a few periods
// across the scene (highly mixed, no pure pixels); y = E a + sigma n(pixel, band), the
// Gaussian noise keyed by pixel and band.
class ProceduralScene {
 public:
  // spectra: bands x P, row-major.
  ProceduralScene(const std::vector<float>& spectra, int bands, int p, int size, double snrDb);
  int endmembers() const { return p_; }
  void abundances(int row, int col, double* a) const;
  // values: bands x rows x cols (band-sequential).
  void read(int row, int col, int rows, int cols, float* values) const;

 private:
  std::vector<float> spectra_;
  int bands_, p_, size_;
  double sigma_ = 0;
};

// Serves the scene's windows to unmixWithDeqModel, timing the generation (not DEQ-Unmix's
// cost).
class ProceduralReader final : public DeqTileReader {
 public:
  explicit ProceduralReader(const ProceduralScene& scene) : scene_(scene) {}
  void read(int row, int col, int rows, int cols, float* values) override;
  double seconds = 0;

 private:
  const ProceduralScene& scene_;
};

// A model for the scene: a few epochs on a small synthetic scene of the same band count,
// with the endmember spectra the procedural scene then mixes. The point is inference, not
// accuracy.
struct QuickModel {
  DeqModel model;
  std::vector<float> spectra;  // bands x P, the scene's endmembers
  double trainSeconds = 0;
};
QuickModel trainQuickModel(int bands, int endmembers, int trainSize, double snrDb, int epochs,
                           int threads);

}  // namespace dequnmix::bench
