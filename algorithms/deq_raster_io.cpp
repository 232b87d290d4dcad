#include "algorithms/deq_raster_io.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <cpl_error.h>
#include <gdal.h>

#include "core/errors.h"

namespace dequnmix::processing {

namespace {

GDALDatasetH handle(void* dataset) { return static_cast<GDALDatasetH>(dataset); }

std::string lastGdalError() {
  const char* message = CPLGetLastErrorMsg();
  return (message && *message) ? std::string(message) : std::string("unknown GDAL error");
}

}  // namespace

// ---------------------------------------------------------------------------- reader

GdalWindowReader::GdalWindowReader(const std::string& path, std::vector<int> bands,
                                   std::string label)
    : bands_(std::move(bands)), label_(std::move(label)) {
  GDALAllRegister();
  CPLErrorReset();
  dataset_ = GDALOpen(path.c_str(), GA_ReadOnly);
  if (!dataset_) {
    throw IoError(label_ + ": cannot open raster '" + path + "' (" + lastGdalError() +
                  "). Check that the file exists and is a raster GDAL can read.");
  }
  width_ = GDALGetRasterXSize(handle(dataset_));
  height_ = GDALGetRasterYSize(handle(dataset_));
  rasterBands_ = GDALGetRasterCount(handle(dataset_));
  if (bands_.empty()) {
    for (int b = 1; b <= rasterBands_; ++b) bands_.push_back(b);
  }
  for (int b : bands_) {
    if (b < 1 || b > rasterBands_) {
      GDALClose(handle(dataset_));
      dataset_ = nullptr;
      throw InvalidArgument(label_ + ": band " + std::to_string(b) +
                            " does not exist (the raster has " + std::to_string(rasterBands_) +
                            " bands).");
    }
    int has = 0;
    const double value = GDALGetRasterNoDataValue(GDALGetRasterBand(handle(dataset_), b), &has);
    nodata_.push_back(value);
    hasNodata_.push_back(has ? 1 : 0);
  }
}

GdalWindowReader::~GdalWindowReader() {
  if (dataset_) GDALClose(handle(dataset_));
}

void GdalWindowReader::read(int row, int col, int rows, int cols, float* values) {
  const int nb = bands();
  const GSpacing line = GSpacing{cols} * static_cast<GSpacing>(sizeof(float));
  const GSpacing band = line * rows;
  std::vector<int> bandMap = bands_;
  CPLErrorReset();
  const CPLErr err =
      GDALDatasetRasterIOEx(handle(dataset_), GF_Read, col, row, cols, rows, values, cols, rows,
                            GDT_Float32, nb, bandMap.data(), sizeof(float), line, band, nullptr);
  if (err != CE_None) {
    throw IoError(label_ + ": reading the window at row " + std::to_string(row + 1) + ", column " +
                  std::to_string(col + 1) + " failed (" + lastGdalError() + ").");
  }
  const int64_t n = int64_t{rows} * cols;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int b = 0; b < nb; ++b) {
    const float nodata = static_cast<float>(nodata_[b]);
    float* v = values + b * n;
    for (int64_t p = 0; p < n; ++p) {
      if (!std::isfinite(v[p]) || (hasNodata_[b] && v[p] == nodata)) {
        for (int k = 0; k < nb; ++k) values[k * n + p] = nan;
      }
    }
  }
}

std::vector<float> GdalWindowReader::readAll() {
  std::vector<float> values(static_cast<size_t>(bands()) * width_ * height_);
  read(0, 0, height_, width_, values.data());
  return values;
}

// ---------------------------------------------------------------------------- writer

StripTileWriter::StripTileWriter(GdalRasterWriter& abundances, GdalRasterWriter* residual)
    : abundances_(abundances), residual_(residual) {}

void StripTileWriter::flush() {
  if (stripRow_ < 0) return;
  abundances_.writeRows(stripRow_, stripRows_, abundanceStrip_.data());
  if (residual_) residual_->writeRows(stripRow_, stripRows_, residualStrip_.data());
  rowsDone_ = stripRow_ + stripRows_;
  stripRow_ = -1;
}

void StripTileWriter::write(int row, int col, int rows, int cols, const float* abundances,
                            const float* residual) {
  const int width = abundances_.width();
  const int p = abundances_.bands();
  if (row != stripRow_) {
    flush();
    stripRow_ = row;
    stripRows_ = rows;
    abundanceStrip_.assign(static_cast<size_t>(rows) * width * p, abundances_.nodata());
    if (residual_) residualStrip_.assign(static_cast<size_t>(rows) * width, residual_->nodata());
  }
  const int64_t n = int64_t{rows} * cols;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const int64_t src = int64_t{r} * cols + c;
      const int64_t dst = int64_t{r} * width + col + c;
      for (int e = 0; e < p; ++e) {
        const float v = abundances[e * n + src];
        abundanceStrip_[static_cast<size_t>(dst * p + e)] =
            std::isfinite(v) ? v : abundances_.nodata();
      }
      if (residual_ && residual) {
        const float v = residual[src];
        residualStrip_[static_cast<size_t>(dst)] = std::isfinite(v) ? v : residual_->nodata();
      }
    }
  }
  if (col + cols >= width) flush();
}

void StripTileWriter::finish() {
  flush();
  if (rowsDone_ != abundances_.height()) {
    throw IoError("unmix: only " + std::to_string(rowsDone_) + " of " +
                  std::to_string(abundances_.height()) + " rows were written");
  }
}

void writeBandSequentialWithNoData(GdalRasterWriter& writer, std::vector<float> values) {
  const float nodata = writer.nodata();
  for (float& v : values) {
    if (!std::isfinite(v)) v = nodata;
  }
  writer.writeBandSequential(values.data());
}

}  // namespace dequnmix::processing
