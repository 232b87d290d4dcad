// GDAL-backed raster access for the dequnmix algorithms (no LibTorch, no QGIS types):
//   - GdalInput: a raster opened read-only with a validated band subset and each band's
//     nodata value; the readers here and in deq_raster_io.h are built on it;
//   - GdalRasterReader: a dequnmix::PixelSource over a GDAL dataset, reading blocks of rows
//     with one RasterIO call per tile over all selected bands, honouring each band's
//     nodata value (and NaN): a pixel is valid when every selected band is valid;
//   - GdalRasterWriter: a Float32 raster in the format the destination's extension names,
//     written under a temporary name in the destination folder and renamed only by
//     commit(); otherwise the partial files are deleted;
//   - RowAssembler: turns the valid pixels of a scan back into full rows (nodata elsewhere)
//     for a writer, so outputs are produced tile by tile.
// Errors are thrown as dequnmix::IoError / dequnmix::InvalidArgument.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "algorithms/output_files.h"
#include "core/data_checks.h"
#include "core/pixel_source.h"

namespace dequnmix::processing {

// What a raster's metadata says of the spectra of its bands (every band of the raster),
// from the ENVI header (GDAL's ENVI domain: wavelength, fwhm, wavelength units, bbl), the
// band metadata (wavelength and wavelength_units; CENTRAL_WAVELENGTH_UM and FWHM_UM in the
// IMAGERY domain) or the band descriptions ("... (0.4500 um)", "450 nm"), in nm.
struct RasterSpectra {
  std::vector<double> wavelengthsNm;  // one per band, or empty unless every band states one
  std::vector<double> fwhmNm;         // one per band, or empty
  std::vector<int> badBandList;       // ENVI bbl, one per band (1 good, 0 bad), or empty
};

// Georeferencing copied from an input to the outputs.
struct Georeference {
  bool hasGeoTransform = false;
  std::array<double, 6> geoTransform{0, 1, 0, 0, 0, 1};
  std::string projectionWkt;  // empty when the input has no CRS
};

// A raster opened read-only through GDAL, with a validated subset of its bands and each
// band's nodata value.
class GdalInput {
 public:
  // Opens `path` read-only. `bands`: 1-based band numbers (empty: all bands). `label`
  // names the raster in messages (e.g. "INPUT (scene)"). Throws IoError when the raster
  // cannot be opened, InvalidArgument when a band does not exist.
  GdalInput(const std::string& path, std::vector<int> bands, std::string label);
  ~GdalInput();
  GdalInput(const GdalInput&) = delete;
  GdalInput& operator=(const GdalInput&) = delete;

  int width() const { return width_; }
  int height() const { return height_; }
  int bands() const { return static_cast<int>(bands_.size()); }
  const std::string& label() const { return label_; }

  // Reads the window (col, row, cols, rows) of the selected bands as Float32 with the given
  // byte spacings (as GDALDatasetRasterIOEx), NaN in every band of a fill pixel
  // (readZeroPixelsAsNodata). `what` describes the window in the error message ("reading
  // rows 1-64").
  void read(int col, int row, int cols, int rows, float* values, int64_t pixelSpace,
            int64_t lineSpace, int64_t bandSpace, const std::string& what) const;
  // Whether `value` of selected band `band` (0-based) is nodata or not finite.
  bool isNodata(int band, float value) const {
    return !std::isfinite(value) || (hasNodata_[band] && value == nodata_[band]);
  }
  // A scene's pixels that are 0 in every selected band are read as nodata (NaN) from now
  // on: the fill around a swath or a mosaic, which rasters often leave undeclared and which
  // sensors never record (VCA would take it for a dark endmember). Not for abundance rasters.
  void readZeroPixelsAsNodata() { zeroIsFill_ = true; }

  Georeference georeference() const;
  // The valid values of up to `maxRows` rows spread evenly over the raster: the scene's
  // scale and signs, cheaply, to compare with a model's or spectra's and to check.
  ValueSummary sampledValues(int maxRows = 32) const;
  // Descriptions of the selected bands (may be empty strings).
  std::vector<std::string> bandDescriptions() const;
  // Centre wavelength (nm) of each selected band (RasterSpectra); empty unless every band
  // has one.
  std::vector<double> wavelengthsNm() const;
  // Of every band of the raster, not only the selected ones. Throws InvalidArgument for a
  // malformed ENVI list (naming it).
  RasterSpectra spectra() const;

 private:
  void* dataset_ = nullptr;  // GDALDatasetH
  std::vector<int> bands_;
  std::vector<float> nodata_;
  std::vector<uint8_t> hasNodata_;
  // Per selected band: values are raw * scale + offset (GDAL's scale and offset, or 1 /
  // the ENVI reflectance scale factor); nodata is read as NaN where either applies.
  std::vector<double> scale_, offset_;
  std::string label_;
  int width_ = 0;
  int height_ = 0;
  bool zeroIsFill_ = false;
};

class GdalRasterReader final : public dequnmix::PixelSource {
 public:
  // Opens `path` read-only (see GdalInput).
  GdalRasterReader(const std::string& path, std::vector<int> bands, std::string label);

  int bands() const override { return input_.bands(); }
  int64_t gridPixelCount() const override { return int64_t{width()} * height(); }
  // Visits the valid pixels tile by tile. Throws InvalidArgument when a complete scan
  // finds no valid pixel (every pixel is nodata in some selected band).
  void scan(const std::function<void(const PixelBlock&)>& visit, ProgressSink* progress) override;

  int width() const { return input_.width(); }
  int height() const { return input_.height(); }
  int rowsPerTile() const { return rowsPerTile_; }
  const std::string& label() const { return input_.label(); }

  // Reads rows [row0, row0 + rows) of the selected bands, pixel-major
  // (values[(r * width + c) * bands + b]), and the validity of each pixel.
  void readRows(int row0, int rows, float* values, uint8_t* valid) const;

  Georeference georeference() const { return input_.georeference(); }
  ValueSummary sampledValues() const { return input_.sampledValues(); }
  void readZeroPixelsAsNodata() { input_.readZeroPixelsAsNodata(); }  // see GdalInput
  std::vector<std::string> bandDescriptions() const { return input_.bandDescriptions(); }
  std::vector<double> wavelengthsNm() const { return input_.wavelengthsNm(); }

 private:
  GdalInput input_;
  int rowsPerTile_ = 1;
};

class GdalRasterWriter {
 public:
  // Creates a Float32 raster of `bandNames.size()` bands, georeferenced like `geo`, with
  // `nodata` declared on every band, in the format the destination's extension names
  // (rasterDriverFor), under a temporary name next to `destination` (StagedFile: its folder
  // is created when missing). Throws InvalidArgument for an extension no GDAL driver
  // writes Float32 rasters for, IoError when it cannot be written.
  GdalRasterWriter(const std::string& destination, int width, int height,
                   const std::vector<std::string>& bandNames, const Georeference& geo,
                   float nodata);
  ~GdalRasterWriter();  // deletes the temporary files unless committed
  GdalRasterWriter(const GdalRasterWriter&) = delete;
  GdalRasterWriter& operator=(const GdalRasterWriter&) = delete;

  int width() const { return width_; }
  int height() const { return height_; }
  int bands() const { return bands_; }
  float nodata() const { return nodata_; }

  // Writes rows [row0, row0 + rows) from pixel-major values (rows * width * bands).
  void writeRows(int row0, int rows, const float* values);
  // Writes a whole band-sequential raster (bands x height x width).
  void writeBandSequential(const float* values);
  void setBandMetadata(int band, const std::string& key, const std::string& value);
  // Closes the temporary file and converts it to the destination's format: everything that
  // can fail short of the final rename. Idempotent.
  void finish();
  // finish(), then renames the file over the destination (replacing an older file).
  void commit();

 private:
  // Fails unless the driver can copy a 1 x 1 raster of bands_ Float32 bands.
  void probeDriver() const;
  void* dataset_ = nullptr;  // GDALDatasetH, a GeoTIFF (the final file or a scratch copy)
  std::string driver_;       // GDAL driver of the destination
  StagedFile staged_;
  std::string scratch_;  // GeoTIFF written first when the destination is another format
  int width_;
  int height_;
  int bands_;
  float nodata_;
  bool finished_ = false;
};

// Every file of the GDAL dataset `gdalPath` (a raster and its sidecars, e.g. an ENVI .hdr);
// empty when GDAL cannot open it.
std::vector<std::string> gdalFileList(const std::string& gdalPath);

// GDAL driver that writes `path` by its extension: .tif/.tiff GeoTIFF, .bsq/.bil/.bip/.dat
// ENVI, otherwise the first GDAL raster driver listing the extension that can create
// Float32 rasters (.img Erdas Imagine, .nc netCDF, ...). Throws InvalidArgument naming
// the supported extensions when there is none, or when the name has no extension.
std::string rasterDriverFor(const std::string& path);

// Nodata value of every raster the algorithms write.
constexpr float kOutputNoData = -9999.0f;

// The single-band writer of a residual raster ("reconstruction_rmse", Float32, nodata
// kOutputNoData), or null when `destination` is empty (an optional output not asked for).
std::unique_ptr<GdalRasterWriter> residualWriterFor(const std::string& destination, int width,
                                                    int height, const Georeference& geo);

// Collects per-pixel values of valid pixels (in increasing scene index order, as a
// PixelSource visits them) into full tiles of rows filled with nodata elsewhere, and
// writes each tile when the scan moves past it.
class RowAssembler {
 public:
  RowAssembler(GdalRasterWriter& writer, int rowsPerTile);
  // `count` pixels at scene indices `indices` with writer.bands() values each (pixel-major).
  void add(const int64_t* indices, const float* values, int64_t count);
  // Writes the remaining rows (nodata where nothing was added).
  void finish();

 private:
  void flush();
  GdalRasterWriter& writer_;
  int rowsPerTile_;
  int row0_ = 0;
  std::vector<float> tile_;
};

// Rows per tile such that one tile of `bands` Float32 values stays near 4 MiB and at most
// 64 rows (so progress and cancel come at least every 64 rows).
int defaultRowsPerTile(int width, int bands);

// QGIS asks GDAL for a georeferencing transformer whenever it opens a raster, and GDAL then
// prints "Unable to compute a transformation ..." for every raster without a geotransform
// (Samson, most lab scenes), although QGIS goes on in pixel coordinates. Installs, once, a
// GDAL error handler that drops that one message and hands every other to the handler that
// was there before.
void dropMissingGeotransformMessage();

}  // namespace dequnmix::processing
