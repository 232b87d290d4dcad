#include "algorithms/deq_raster_io.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/errors.h"

namespace dequnmix::processing {

// ---------------------------------------------------------------------------- reader

GdalWindowReader::GdalWindowReader(const std::string& path, std::vector<int> bands,
                                   std::string label)
    : input_(path, std::move(bands), std::move(label)) {}

void GdalWindowReader::read(int row, int col, int rows, int cols, float* values) {
  const int nb = bands();
  const int64_t line = int64_t{cols} * static_cast<int64_t>(sizeof(float));
  input_.read(col, row, cols, rows, values, sizeof(float), line, line * rows,
              "reading the window at row " + std::to_string(row + 1) + ", column " +
                  std::to_string(col + 1));
  const int64_t n = int64_t{rows} * cols;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int b = 0; b < nb; ++b) {
    const float* v = values + b * n;
    for (int64_t p = 0; p < n; ++p) {
      if (input_.isNodata(b, v[p])) {
        for (int k = 0; k < nb; ++k) values[k * n + p] = nan;
      }
    }
  }
}

std::vector<float> GdalWindowReader::readAll() {
  std::vector<float> values(static_cast<size_t>(bands()) * width() * height());
  read(0, 0, height(), width(), values.data());
  return values;
}

// ---------------------------------------------------------------------------- writer

StripTileWriter::StripTileWriter(GdalRasterWriter& abundances, GdalRasterWriter* residual,
                                 bool everyRow)
    : abundances_(abundances), residual_(residual), everyRow_(everyRow) {}

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
  if (everyRow_ && rowsDone_ != abundances_.height()) {
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
