// Streaming access to the valid pixels of a scene, block by block, so that classical
// methods never need the whole cube in memory. The QGIS adapters implement it over GDAL
// tiles; MatrixPixelSource serves in-memory scenes (tests, synthetic data).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/progress.h"

namespace dequnmix {

// A run of valid pixels: `count` spectra of `bands` values each, pixel-major
// (values[i * bands + b] is band b of the i-th pixel), and the linear scene index
// (row * width + col) of each spectrum. Nodata pixels are never part of a block.
struct PixelBlock {
  const float* values = nullptr;
  const int64_t* indices = nullptr;
  int64_t count = 0;
};

class PixelSource {
 public:
  virtual ~PixelSource() = default;
  virtual int bands() const = 0;
  // Pixels in the scene grid (width * height), valid or not: the range of the indices.
  virtual int64_t gridPixelCount() const = 0;
  // Visits every valid pixel once, in increasing index order, in blocks. Reports
  // progress on `progress` and throws Canceled between blocks when asked to stop.
  // May be called several times (multi-pass algorithms).
  virtual void scan(const std::function<void(const PixelBlock&)>& visit,
                    ProgressSink* progress) = 0;
};

// An in-memory scene stored band-sequential (values[b * pixels + i]), the layout of a
// GeoTIFF band stack. Pixels whose value in any band is NaN (or infinite) are nodata.
class MatrixPixelSource final : public PixelSource {
 public:
  static constexpr int64_t kDefaultBlockPixels = 4096;
  MatrixPixelSource(std::vector<float> bandSequential, int bands, int64_t pixels,
                    int64_t blockPixels = kDefaultBlockPixels);
  // Serves `bandSequential` without copying it (a training scene can be most of the memory):
  // the vector must outlive the source.
  static MatrixPixelSource viewOf(const std::vector<float>& bandSequential, int bands,
                                  int64_t pixels);
  MatrixPixelSource(const MatrixPixelSource&) = delete;
  MatrixPixelSource& operator=(const MatrixPixelSource&) = delete;
  int bands() const override { return bands_; }
  int64_t gridPixelCount() const override { return pixels_; }
  void scan(const std::function<void(const PixelBlock&)>& visit, ProgressSink* progress) override;

 private:
  MatrixPixelSource(const float* values, size_t count, int bands, int64_t pixels,
                    int64_t blockPixels);

  std::vector<float> owned_;  // empty for a view
  const float* values_;
  int bands_;
  int64_t pixels_;
  int64_t blockPixels_;
};

}  // namespace dequnmix
