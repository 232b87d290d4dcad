// GDAL adapters of the DEQ-Unmix core's streaming interfaces (no LibTorch, no QGIS types):
//   - GdalWindowReader: a dequnmix::DeqTileReader over a GDAL raster (band subset, one
//     RasterIO call per window over all bands, band-sequential, NaN at nodata), also used
//     to read a whole training scene into memory;
//   - StripTileWriter: a dequnmix::DeqTileWriter that gathers the core's row-major tiles
//     into strips of full rows and writes them through GdalRasterWriter (temporary file,
//     renamed by commit(), so an interrupted run leaves nothing that looks complete);
//   - writeBandSequentialWithNoData(): a band-sequential array with NaN at nodata, written
//     with the writer's nodata value.
#pragma once

#include <string>
#include <vector>

#include "algorithms/gdal_raster.h"
#include "core/deq/deq_unmix.h"

namespace dequnmix::processing {

class GdalWindowReader final : public dequnmix::DeqTileReader {
 public:
  // Opens `path` read-only (see GdalInput in gdal_raster.h). Throws IoError /
  // InvalidArgument.
  GdalWindowReader(const std::string& path, std::vector<int> bands, std::string label);

  int width() const { return input_.width(); }
  int height() const { return input_.height(); }
  int bands() const { return input_.bands(); }
  Georeference georeference() const { return input_.georeference(); }
  ValueSummary sampledValues() const { return input_.sampledValues(); }
  std::vector<double> wavelengthsNm() const { return input_.wavelengthsNm(); }
  void readZeroPixelsAsNodata() { input_.readZeroPixelsAsNodata(); }  // see GdalInput

  // bands() x rows x cols values, band-sequential; a pixel that is nodata (or NaN) in any
  // selected band, or fill (GdalInput::readZeroPixelsAsNodata), is NaN in every band.
  void read(int row, int col, int rows, int cols, float* values) override;
  // The whole raster, bands() x height x width.
  std::vector<float> readAll();

 private:
  GdalInput input_;
};

class StripTileWriter final : public dequnmix::DeqTileWriter {
 public:
  // `residual` may be null (then residual tiles are ignored). With `everyRow` false (a
  // data-parallel rank's share of the tiles) rows no tile reached stay nodata.
  StripTileWriter(GdalRasterWriter& abundances, GdalRasterWriter* residual, bool everyRow = true);
  void write(int row, int col, int rows, int cols, const float* abundances,
             const float* residual) override;
  // Writes a pending strip; throws IoError unless every row was written.
  void finish();

 private:
  void flush();
  GdalRasterWriter& abundances_;
  GdalRasterWriter* residual_;
  bool everyRow_;
  int stripRow_ = -1;
  int stripRows_ = 0;
  int rowsDone_ = 0;
  std::vector<float> abundanceStrip_;  // pixel-major, stripRows_ x width x P
  std::vector<float> residualStrip_;   // stripRows_ x width
};

// Writes bands x height x width values (NaN at nodata) through `writer`, NaN replaced by
// the writer's nodata value.
void writeBandSequentialWithNoData(GdalRasterWriter& writer, std::vector<float> values);

}  // namespace dequnmix::processing
