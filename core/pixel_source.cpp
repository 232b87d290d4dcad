#include "core/pixel_source.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/errors.h"

namespace dequnmix {

MatrixPixelSource::MatrixPixelSource(std::vector<float> bandSequential, int bands, int64_t pixels,
                                     int64_t blockPixels)
    : values_(std::move(bandSequential)),
      bands_(bands),
      pixels_(pixels),
      blockPixels_(blockPixels) {
  if (bands < 1) throw InvalidArgument("a scene needs at least one band");
  if (pixels < 0) throw InvalidArgument("a scene cannot have a negative pixel count");
  if (blockPixels < 1) throw InvalidArgument("the block size must be at least one pixel");
  if (values_.size() != static_cast<size_t>(bands) * static_cast<size_t>(pixels)) {
    throw InvalidArgument("scene holds " + std::to_string(values_.size()) + " values but " +
                          std::to_string(bands) + " bands x " + std::to_string(pixels) +
                          " pixels need " + std::to_string(static_cast<size_t>(bands) * pixels));
  }
}

void MatrixPixelSource::scan(const std::function<void(const PixelBlock&)>& visit,
                             ProgressSink* progress) {
  std::vector<float> block;
  std::vector<int64_t> indices;
  for (int64_t start = 0; start < pixels_; start += blockPixels_) {
    throwIfCanceled(progress);
    const int64_t stop = std::min(pixels_, start + blockPixels_);
    block.clear();
    indices.clear();
    for (int64_t i = start; i < stop; ++i) {
      bool valid = true;
      for (int b = 0; b < bands_ && valid; ++b)
        valid = std::isfinite(values_[static_cast<size_t>(b) * pixels_ + i]);
      if (!valid) continue;  // nodata (NaN, or a non-finite value) in some band
      indices.push_back(i);
      for (int b = 0; b < bands_; ++b)
        block.push_back(values_[static_cast<size_t>(b) * pixels_ + i]);
    }
    if (!indices.empty()) {
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
