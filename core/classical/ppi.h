// Pixel purity index (Boardman, Kruse and Green, "Mapping target signatures via partial
// unmixing of AVIRIS data", JPL AVIRIS workshop, 1995): the pixels are projected on the
// leading principal directions and then on random unit vectors ("skewers"); each skewer
// counts one for the pixel at either extreme. Pure pixels sit at the vertices of the data
// simplex, so they collect the counts. Two passes (moments, then projections); seeded.
#pragma once

#include <cstdint>
#include <vector>

#include "core/pixel_source.h"

namespace dequnmix {

struct PpiOptions {
  int skewers = 1000;   // random directions (ENVI's default is 10,000 iterations of 1)
  int dimensions = 0;   // principal directions kept; 0: HySime's signal dimension
  uint64_t seed = 42;   // seeds the skewers
};

struct PpiResult {
  std::vector<int32_t> counts;  // per scene pixel (gridPixelCount); -1 where nodata
  int dimensions = 0;           // principal directions used
};

// Throws InvalidArgument for skewers < 1, dimensions < 0 or >= bands, or a scene without
// valid pixels; Canceled between blocks.
PpiResult pixelPurityIndex(PixelSource& source, const PpiOptions& options,
                           ProgressSink* progress = nullptr);

}  // namespace dequnmix
