// Small GDAL helpers shared by the benchmarks (not part of the plugin): read a raster into
// a band-sequential float cube, write one as a Float32 GeoTIFF, read endmember CSVs.
// Everything here throws dequnmix::IoError (core/errors.h) with the path in the message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/io/endmember_table.h"
#include "core/pixel_source.h"

namespace dequnmix::bench {

// A raster held in memory, band-sequential: values[b * height * width + row * width + col].
// Nodata cells (the band's nodata value, or non-finite values) are NaN.
struct Cube {
  int bands = 0;
  int height = 0;
  int width = 0;
  std::vector<float> values;
  std::vector<std::string> bandDescriptions;  // one per band (empty strings when unset)

  int64_t pixels() const { return static_cast<int64_t>(height) * width; }
  float* band(int b) { return values.data() + b * pixels(); }
  const float* band(int b) const { return values.data() + b * pixels(); }
  float at(int b, int row, int col) const {
    return values[b * pixels() + static_cast<int64_t>(row) * width + col];
  }
};

// Registers GDAL's drivers once (idempotent; the functions below call it themselves).
void ensureGdalRegistered();

// Reads every band of any raster GDAL can open, converting to float32. Throws IoError
// when the file is missing or unreadable.
Cube readCube(const std::string& path);

struct WriteOptions {
  // One per band, or empty: set as GDAL band descriptions.
  std::vector<std::string> bandDescriptions;
  // When set, NaN cells are written as this value and it is declared as the nodata value.
  bool setNodata = false;
  double nodata = -9999.0;
  // Pixel-interleaved output (faster to read per pixel, e.g. for OTB); default band-interleaved.
  bool pixelInterleaved = false;
};

// Writes a Float32 GeoTIFF (no georeferencing: a plain pixel grid with a unit
// north-up geotransform). Written under a temporary name and renamed, so a failure leaves
// no complete-looking file. Throws IoError on failure.
void writeCube(const std::string& path, const Cube& cube, const WriteOptions& options = {});

// Convenience: a cube from band-sequential data (moves the values in).
Cube makeCube(std::vector<float> bandSequential, int bands, int height, int width);

// Endmember CSV (core/io/endmember_table.h), through core's reader.
EndmemberTable readEndmembers(const std::string& path);

// Pixel-major copy (pixels x bands) of the valid pixels (no NaN in any band), with their
// linear indices; the layout FclsSolver::unmix takes.
void validPixelsPixelMajor(const Cube& cube, std::vector<float>& pixels,
                           std::vector<int64_t>& indices);

// A PixelSource over valid pixels already in pixel-major order (as validPixelsPixelMajor
// makes them): blocks are views into the caller's arrays (which must outlive it), no copy.
// This is how a tiled GDAL reader serves pixels, unlike core's MatrixPixelSource, which
// gathers each block from a band-sequential cube.
class PixelMajorSource final : public PixelSource {
 public:
  PixelMajorSource(const float* pixels, const int64_t* indices, int64_t count, int bands,
                   int64_t gridPixels, int64_t blockPixels = 4096);
  int bands() const override { return bands_; }
  int64_t gridPixelCount() const override { return gridPixels_; }
  void scan(const std::function<void(const PixelBlock&)>& visit, ProgressSink* progress) override;

 private:
  const float* pixels_;
  const int64_t* indices_;
  int64_t count_;
  int bands_;
  int64_t gridPixels_;
  int64_t blockPixels_;
};

}  // namespace dequnmix::bench
