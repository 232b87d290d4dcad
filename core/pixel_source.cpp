#include "core/pixel_source.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/errors.h"

namespace dequnmix {

MatrixPixelSource::MatrixPixelSource(std::vector<float> bandSequential, int bands, int64_t pixels,
                                     int64_t blockPixels)
    : MatrixPixelSource(bandSequential.data(), bandSequential.size(), bands, pixels, blockPixels) {
  owned_ = std::move(bandSequential);  // moving keeps the buffer values_ points into
}

MatrixPixelSource MatrixPixelSource::viewOf(const std::vector<float>& bandSequential, int bands,
                                            int64_t pixels) {
  return MatrixPixelSource(bandSequential.data(), bandSequential.size(), bands, pixels,
                           kDefaultBlockPixels);
}

MatrixPixelSource::MatrixPixelSource(const float* values, size_t count, int bands, int64_t pixels,
                                     int64_t blockPixels)
    : values_(values), bands_(bands), pixels_(pixels), blockPixels_(blockPixels) {
  if (bands < 1) throw InvalidArgument("a scene needs at least one band");
  if (pixels < 0) throw InvalidArgument("a scene cannot have a negative pixel count");
  if (blockPixels < 1) throw InvalidArgument("the block size must be at least one pixel");
  if (count != static_cast<size_t>(bands) * static_cast<size_t>(pixels)) {
    throw InvalidArgument("scene holds " + std::to_string(count) + " values but " +
                          std::to_string(bands) + " bands x " + std::to_string(pixels) +
                          " pixels need " + std::to_string(static_cast<size_t>(bands) * pixels));
  }
}

void MatrixPixelSource::scan(const std::function<void(const PixelBlock&)>& visit,
                             ProgressSink* progress) {
  std::vector<float> block;
  std::vector<int64_t> indices;
  std::vector<char> valid;
  std::vector<int64_t> slot;  // position of each grid pixel of the block among the valid ones
  for (int64_t start = 0; start < pixels_; start += blockPixels_) {
    throwIfCanceled(progress);
    const int64_t stop = std::min(pixels_, start + blockPixels_);
    const int64_t len = stop - start;
    // Band by band, so that the band-sequential storage is read contiguously.
    valid.assign(len, 1);
    for (int b = 0; b < bands_; ++b) {
      const float* band = values_ + static_cast<size_t>(b) * pixels_ + start;
      for (int64_t k = 0; k < len; ++k)
        if (!std::isfinite(band[k])) valid[k] = 0;  // nodata: NaN or a non-finite value
    }
    indices.clear();
    slot.assign(len, -1);
    for (int64_t k = 0; k < len; ++k)
      if (valid[k]) {
        slot[k] = static_cast<int64_t>(indices.size());
        indices.push_back(start + k);
      }
    if (!indices.empty()) {
      block.resize(indices.size() * bands_);
      for (int b = 0; b < bands_; ++b) {
        const float* band = values_ + static_cast<size_t>(b) * pixels_ + start;
        for (int64_t k = 0; k < len; ++k)
          if (slot[k] >= 0) block[slot[k] * bands_ + b] = band[k];
      }
      PixelBlock view;
      view.values = block.data();
      view.indices = indices.data();
      view.count = static_cast<int64_t>(indices.size());
      visit(view);
    }
    if (progress) progress->setProgress(static_cast<double>(stop) / pixels_);
  }
  throwIfCanceled(progress);
}

}  // namespace dequnmix
