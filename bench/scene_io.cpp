#include "bench/scene_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <mutex>

#include <cpl_conv.h>
#include <gdal.h>
#include <gdal_priv.h>

#include "core/errors.h"
#include "core/io/atomic_file.h"

namespace dequnmix::bench {

namespace {

std::string lastGdalError() {
  const char* message = CPLGetLastErrorMsg();
  return (message && *message) ? std::string(": ") + message : std::string();
}

struct DatasetCloser {
  void operator()(GDALDataset* dataset) const {
    if (dataset) GDALClose(GDALDataset::ToHandle(dataset));
  }
};
using DatasetPtr = std::unique_ptr<GDALDataset, DatasetCloser>;

// The cube's values (NaN as the nodata value when asked), nodata and band descriptions;
// false when GDAL could not write them.
bool fillDataset(GDALDataset& dataset, const Cube& cube, const WriteOptions& options) {
  double geotransform[6] = {0.0, 1.0, 0.0, 0.0, 0.0, -1.0};
  geotransform[3] = static_cast<double>(cube.height);
  dataset.SetGeoTransform(geotransform);
  const float* source = cube.values.data();
  std::vector<float> substituted;
  if (options.setNodata) {
    substituted = cube.values;
    for (float& v : substituted) {
      if (std::isnan(v)) v = static_cast<float>(options.nodata);
    }
    source = substituted.data();
  }
  const GSpacing pixelSpace = sizeof(float);
  const GSpacing lineSpace = pixelSpace * cube.width;
  const GSpacing bandSpace = lineSpace * cube.height;
  CPLErr err = dataset.RasterIO(GF_Write, 0, 0, cube.width, cube.height, const_cast<float*>(source),
                                cube.width, cube.height, GDT_Float32, cube.bands, nullptr,
                                pixelSpace, lineSpace, bandSpace, nullptr);
  for (int b = 0; b < cube.bands && err == CE_None; ++b) {
    GDALRasterBand* band = dataset.GetRasterBand(b + 1);
    if (options.setNodata) band->SetNoDataValue(options.nodata);
    if (!options.bandDescriptions.empty())
      band->SetDescription(options.bandDescriptions[b].c_str());
  }
  if (err == CE_None) dataset.FlushCache();
  return err == CE_None;
}

}  // namespace

void ensureGdalRegistered() {
  static std::once_flag once;
  std::call_once(once, [] { GDALAllRegister(); });
}

Cube makeCube(std::vector<float> bandSequential, int bands, int height, int width) {
  if (bands < 1 || height < 1 || width < 1 ||
      bandSequential.size() != static_cast<size_t>(bands) * height * width) {
    throw InvalidArgument("makeCube: data size does not match bands x height x width");
  }
  Cube cube;
  cube.bands = bands;
  cube.height = height;
  cube.width = width;
  cube.values = std::move(bandSequential);
  cube.bandDescriptions.assign(bands, std::string());
  return cube;
}

Cube readCube(const std::string& path) {
  ensureGdalRegistered();
  CPLErrorReset();
  DatasetPtr dataset(GDALDataset::FromHandle(GDALOpen(path.c_str(), GA_ReadOnly)));
  if (!dataset) throw IoError("cannot open raster '" + path + "'" + lastGdalError());
  Cube cube;
  cube.bands = dataset->GetRasterCount();
  cube.width = dataset->GetRasterXSize();
  cube.height = dataset->GetRasterYSize();
  if (cube.bands < 1) throw IoError("raster '" + path + "' has no bands");
  cube.values.resize(static_cast<size_t>(cube.bands) * cube.pixels());
  // One RasterIO call over all bands (band-sequential buffer).
  const GSpacing pixelSpace = sizeof(float);
  const GSpacing lineSpace = pixelSpace * cube.width;
  const GSpacing bandSpace = lineSpace * cube.height;
  if (dataset->RasterIO(GF_Read, 0, 0, cube.width, cube.height, cube.values.data(), cube.width,
                        cube.height, GDT_Float32, cube.bands, nullptr, pixelSpace, lineSpace,
                        bandSpace, nullptr) != CE_None) {
    throw IoError("cannot read raster '" + path + "'" + lastGdalError());
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int b = 0; b < cube.bands; ++b) {
    GDALRasterBand* band = dataset->GetRasterBand(b + 1);
    const char* description = band->GetDescription();
    cube.bandDescriptions.emplace_back(description ? description : "");
    int hasNodata = 0;
    const double nodata = band->GetNoDataValue(&hasNodata);
    const float nodataF = static_cast<float>(nodata);
    float* values = cube.band(b);
    for (int64_t i = 0; i < cube.pixels(); ++i) {
      if (!std::isfinite(values[i]) || (hasNodata && values[i] == nodataF)) values[i] = nan;
    }
  }
  return cube;
}

void writeCube(const std::string& path, const Cube& cube, const WriteOptions& options) {
  ensureGdalRegistered();
  if (cube.bands < 1 || cube.height < 1 || cube.width < 1 ||
      cube.values.size() != static_cast<size_t>(cube.bands) * cube.pixels()) {
    throw InvalidArgument("writeCube: cube size does not match its dimensions");
  }
  if (!options.bandDescriptions.empty() &&
      options.bandDescriptions.size() != static_cast<size_t>(cube.bands)) {
    throw InvalidArgument("writeCube: need one band description per band");
  }
  GDALDriver* driver = GetGDALDriverManager()->GetDriverByName("GTiff");
  if (!driver) throw IoError("GDAL has no GTiff driver");
  char** createOptions = nullptr;
  createOptions =
      CSLSetNameValue(createOptions, "INTERLEAVE", options.pixelInterleaved ? "PIXEL" : "BAND");
  createOptions = CSLSetNameValue(createOptions, "BIGTIFF", "IF_SAFER");
  replaceFileAtomically(path, "raster", [&](const std::string& temporary) {
    CPLErrorReset();
    DatasetPtr dataset(driver->Create(temporary.c_str(), cube.width, cube.height, cube.bands,
                                      GDT_Float32, createOptions));
    CSLDestroy(createOptions);
    if (!dataset) throw IoError("cannot create raster '" + path + "'" + lastGdalError());
    if (!fillDataset(*dataset, cube, options) || CPLGetLastErrorType() == CE_Failure)
      throw IoError("cannot write raster '" + path + "'" + lastGdalError());
  });
}

EndmemberTable readEndmembers(const std::string& path) { return readEndmemberCsv(path); }

void validPixelsPixelMajor(const Cube& cube, std::vector<float>& pixels,
                           std::vector<int64_t>& indices) {
  const int64_t n = cube.pixels();
  // Validity band by band (sequential reads), then a blocked transposition so that both
  // the reads (per band) and the writes (per pixel block) stay in cache.
  std::vector<uint8_t> valid(static_cast<size_t>(n), 1);
  for (int b = 0; b < cube.bands; ++b) {
    const float* band = cube.band(b);
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(band[i])) valid[i] = 0;
    }
  }
  indices.clear();
  for (int64_t i = 0; i < n; ++i) {
    if (valid[i]) indices.push_back(i);
  }
  const int64_t count = static_cast<int64_t>(indices.size());
  pixels.assign(static_cast<size_t>(count) * cube.bands, 0.0f);
  const int64_t chunk = 256;
  for (int64_t start = 0; start < count; start += chunk) {
    const int64_t stop = std::min(count, start + chunk);
    for (int b = 0; b < cube.bands; ++b) {
      const float* band = cube.band(b);
      for (int64_t k = start; k < stop; ++k) pixels[k * cube.bands + b] = band[indices[k]];
    }
  }
}

PixelMajorSource::PixelMajorSource(const float* pixels, const int64_t* indices, int64_t count,
                                   int bands, int64_t gridPixels, int64_t blockPixels)
    : pixels_(pixels),
      indices_(indices),
      count_(count),
      bands_(bands),
      gridPixels_(gridPixels),
      blockPixels_(blockPixels) {
  if (bands < 1 || count < 0 || blockPixels < 1 || count > gridPixels) {
    throw InvalidArgument("PixelMajorSource: inconsistent sizes");
  }
}

void PixelMajorSource::scan(const std::function<void(const PixelBlock&)>& visit,
                            ProgressSink* progress) {
  for (int64_t start = 0; start < count_; start += blockPixels_) {
    throwIfCanceled(progress);
    PixelBlock block;
    block.values = pixels_ + start * bands_;
    block.indices = indices_ + start;
    block.count = std::min(blockPixels_, count_ - start);
    visit(block);
    if (progress) progress->setProgress(static_cast<double>(start + block.count) / count_);
  }
  throwIfCanceled(progress);
}

}  // namespace dequnmix::bench
