#include "algorithms/gdal_raster.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>

#include "core/errors.h"
#include "core/io/spectral_metadata.h"

namespace dequnmix::processing {

namespace fs = std::filesystem;

namespace {

std::string lastGdalError() {
  const char* message = CPLGetLastErrorMsg();
  return (message && *message) ? std::string(message) : std::string("unknown GDAL error");
}

GDALDatasetH handle(void* dataset) { return static_cast<GDALDatasetH>(dataset); }

std::string metadataItem(GDALMajorObjectH object, const char* key, const char* domain) {
  const char* text = GDALGetMetadataItem(object, key, domain);
  return text ? std::string(text) : std::string();
}

// An ENVI header list of the dataset (GDAL's ENVI domain) with one value per band, or empty.
std::vector<double> enviList(GDALDatasetH ds, const char* key, int bands) {
  const std::string text = metadataItem(ds, key, "ENVI");
  if (text.empty()) return {};
  std::vector<double> values = parseEnviList(text, std::string("ENVI header '") + key + "'");
  return int(values.size()) == bands ? values : std::vector<double>{};
}

// One band's centre wavelength and width (nm; NaN where the band metadata states none).
std::pair<double, double> bandSpectrum(GDALRasterBandH band) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto number = [](const std::string& text, double factor) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    return !text.empty() && end != text.c_str() && std::isfinite(v) && factor > 0
               ? v * factor
               : std::numeric_limits<double>::quiet_NaN();
  };
  const std::string imagery = metadataItem(band, "CENTRAL_WAVELENGTH_UM", "IMAGERY");
  if (!imagery.empty())
    return {number(imagery, 1000.0), number(metadataItem(band, "FWHM_UM", "IMAGERY"), 1000.0)};
  const std::string wavelength = metadataItem(band, "wavelength", nullptr);
  if (!wavelength.empty()) {
    const std::vector<double> nm =
        wavelengthsToNm({number(wavelength, 1.0)}, metadataItem(band, "wavelength_units", nullptr));
    return {nm.empty() ? nan : nm[0], nan};
  }
  return {wavelengthFromDescription(GDALGetDescription(band)), nan};
}

}  // namespace

int defaultRowsPerTile(int width, int bands) {
  const int64_t valuesPerRow = std::max<int64_t>(1, int64_t{width} * std::max(1, bands));
  const int64_t rows = (int64_t{1} << 20) / valuesPerRow;
  return static_cast<int>(std::clamp<int64_t>(rows, 1, 64));
}

// ---------------------------------------------------------------------------- input

GdalInput::GdalInput(const std::string& path, std::vector<int> bands, std::string label)
    : bands_(std::move(bands)), label_(std::move(label)) {
  GDALAllRegister();
  CPLErrorReset();
  dataset_ = GDALOpen(path.c_str(), GA_ReadOnly);
  if (!dataset_) {
    throw IoError(label_ + ": cannot open raster '" + path + "' (" + lastGdalError() +
                  "). Check that the file exists and is a raster GDAL can read.");
  }
  width_ = GDALGetRasterXSize(handle(dataset_));
  const double reflectanceScale = std::strtod(
      metadataItem(handle(dataset_), "reflectance_scale_factor", "ENVI").c_str(), nullptr);
  height_ = GDALGetRasterYSize(handle(dataset_));
  const int rasterBands = GDALGetRasterCount(handle(dataset_));
  if (bands_.empty()) {
    for (int b = 1; b <= rasterBands; ++b) bands_.push_back(b);
  }
  for (int b : bands_) {
    if (b < 1 || b > rasterBands) {
      GDALClose(handle(dataset_));
      dataset_ = nullptr;
      throw InvalidArgument(label_ + ": band " + std::to_string(b) +
                            " does not exist (the raster has " + std::to_string(rasterBands) +
                            " bands).");
    }
    int has = 0;
    const double value = GDALGetRasterNoDataValue(GDALGetRasterBand(handle(dataset_), b), &has);
    nodata_.push_back(static_cast<float>(value));
    hasNodata_.push_back(has ? 1 : 0);
    GDALRasterBandH band = GDALGetRasterBand(handle(dataset_), b);
    int hasScale = 0, hasOffset = 0;
    double scale = GDALGetRasterScale(band, &hasScale);
    const double offset = GDALGetRasterOffset(band, &hasOffset);
    // GDAL may report a scale of 1 as set once QGIS has opened the layer (PAM).
    if ((!hasScale || scale == 1.0) && reflectanceScale > 0 && std::isfinite(reflectanceScale))
      scale = 1.0 / reflectanceScale;
    scale_.push_back(std::isfinite(scale) && scale != 0 ? scale : 1.0);
    offset_.push_back(hasOffset && std::isfinite(offset) ? offset : 0.0);
  }
}

GdalInput::~GdalInput() {
  if (dataset_) GDALClose(handle(dataset_));
}

void GdalInput::read(int col, int row, int cols, int rows, float* values, int64_t pixelSpace,
                     int64_t lineSpace, int64_t bandSpace, const std::string& what) const {
  std::vector<int> bandMap = bands_;
  CPLErrorReset();
  const CPLErr err = GDALDatasetRasterIOEx(handle(dataset_), GF_Read, col, row, cols, rows, values,
                                           cols, rows, GDT_Float32, bands(), bandMap.data(),
                                           pixelSpace, lineSpace, bandSpace, nullptr);
  if (err != CE_None) {
    throw IoError(label_ + ": " + what + " failed (" + lastGdalError() + ").");
  }
  auto* bytes = reinterpret_cast<char*>(values);
  auto at = [&](int r, int c, int b) -> float& {
    return *reinterpret_cast<float*>(bytes + r * lineSpace + c * pixelSpace + b * bandSpace);
  };
  for (int b = 0; b < bands(); ++b) {
    if (scale_[b] == 1.0 && offset_[b] == 0.0) continue;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        float& v = at(r, c, b);
        v = isNodata(b, v) ? std::numeric_limits<float>::quiet_NaN()
                           : static_cast<float>(v * scale_[b] + offset_[b]);
      }
  }
  if (!zeroIsFill_) return;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      int b = 0;
      while (b < bands() && at(r, c, b) == 0.0f) ++b;
      if (b < bands()) continue;
      for (b = 0; b < bands(); ++b) at(r, c, b) = std::numeric_limits<float>::quiet_NaN();
    }
}

ValueSummary GdalInput::sampledValues(int maxRows) const {
  const int rows = std::max(1, std::min(maxRows, height_));
  const int nb = bands();
  std::vector<float> values(static_cast<size_t>(width_) * nb);
  const int64_t pixelSpace = int64_t{nb} * static_cast<int64_t>(sizeof(float));
  ValueSummary summary;
  for (int i = 0; i < rows; ++i) {
    const int row = static_cast<int>(int64_t{i} * height_ / rows);
    read(0, row, width_, 1, values.data(), pixelSpace, pixelSpace * width_, sizeof(float),
         "reading row " + std::to_string(row + 1));
    for (int64_t k = 0; k < int64_t{width_} * nb; ++k)
      if (!isNodata(static_cast<int>(k % nb), values[k])) summary.add(values[k]);
  }
  return summary;
}

Georeference GdalInput::georeference() const {
  Georeference geo;
  geo.hasGeoTransform = GDALGetGeoTransform(handle(dataset_), geo.geoTransform.data()) == CE_None;
  const char* wkt = GDALGetProjectionRef(handle(dataset_));
  if (wkt) geo.projectionWkt = wkt;
  return geo;
}

std::vector<std::string> GdalInput::bandDescriptions() const {
  std::vector<std::string> names;
  for (int b : bands_) {
    const char* d = GDALGetDescription(GDALGetRasterBand(handle(dataset_), b));
    names.emplace_back(d ? d : "");
  }
  return names;
}

std::vector<double> GdalInput::wavelengthsNm() const {
  const std::vector<double> all = spectra().wavelengthsNm;
  if (all.empty()) return {};
  std::vector<double> selected;
  for (int b : bands_) selected.push_back(all[b - 1]);
  return selected;
}

RasterSpectra GdalInput::spectra() const {
  GDALDatasetH ds = handle(dataset_);
  const int count = GDALGetRasterCount(ds);
  RasterSpectra s;
  s.wavelengthsNm = wavelengthsToNm(enviList(ds, "wavelength", count),
                                    metadataItem(ds, "wavelength_units", "ENVI"));
  s.fwhmNm =
      wavelengthsToNm(enviList(ds, "fwhm", count), metadataItem(ds, "wavelength_units", "ENVI"));
  for (double v : enviList(ds, "bbl", count)) s.badBandList.push_back(v != 0 ? 1 : 0);
  if (s.wavelengthsNm.empty()) {
    std::vector<double> w, f;
    for (int b = 1; b <= count; ++b) {
      const auto [centre, width] = bandSpectrum(GDALGetRasterBand(ds, b));
      w.push_back(centre);
      f.push_back(width);
    }
    auto complete = [](const std::vector<double>& v) {
      return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
    };
    if (complete(w)) s.wavelengthsNm = w;
    if (complete(w) && complete(f)) s.fwhmNm = f;
  }
  return s;
}

// ---------------------------------------------------------------------------- reader

GdalRasterReader::GdalRasterReader(const std::string& path, std::vector<int> bands,
                                   std::string label)
    : input_(path, std::move(bands), std::move(label)),
      rowsPerTile_(defaultRowsPerTile(input_.width(), input_.bands())) {}

void GdalRasterReader::readRows(int row0, int rows, float* values, uint8_t* valid) const {
  const int nb = bands();
  const int width = this->width();
  const int64_t pixelSpace = int64_t{nb} * static_cast<int64_t>(sizeof(float));
  input_.read(0, row0, width, rows, values, pixelSpace, pixelSpace * width, sizeof(float),
              "reading rows " + std::to_string(row0 + 1) + "-" + std::to_string(row0 + rows));
  const int64_t n = int64_t{rows} * width;
  for (int64_t p = 0; p < n; ++p) {
    const float* v = values + p * nb;
    uint8_t ok = 1;
    for (int b = 0; b < nb; ++b) {
      if (input_.isNodata(b, v[b])) {
        ok = 0;
        break;
      }
    }
    valid[p] = ok;
  }
}

void GdalRasterReader::scan(const std::function<void(const PixelBlock&)>& visit,
                            ProgressSink* progress) {
  const int nb = bands();
  const int width = this->width();
  const int height = this->height();
  const int tileRows = std::min(rowsPerTile_, std::max(1, height));
  std::vector<float> values(static_cast<size_t>(tileRows) * width * nb);
  std::vector<uint8_t> valid(static_cast<size_t>(tileRows) * width);
  std::vector<int64_t> indices(static_cast<size_t>(tileRows) * width);
  int64_t total = 0;
  for (int row0 = 0; row0 < height; row0 += tileRows) {
    throwIfCanceled(progress);
    const int rows = std::min(tileRows, height - row0);
    readRows(row0, rows, values.data(), valid.data());
    const int64_t n = int64_t{rows} * width;
    int64_t k = 0;
    for (int64_t p = 0; p < n; ++p) {
      if (!valid[p]) continue;
      if (k != p) std::memmove(&values[k * nb], &values[p * nb], sizeof(float) * nb);
      indices[k] = int64_t{row0} * width + p;
      ++k;
    }
    if (k > 0) {
      PixelBlock block;
      block.values = values.data();
      block.indices = indices.data();
      block.count = k;
      visit(block);
    }
    total += k;
    if (progress) progress->setProgress(static_cast<double>(row0 + rows) / height);
  }
  if (total == 0) {
    throw InvalidArgument(label() +
                          " has no valid pixel: every pixel is nodata (or NaN) in at least one "
                          "selected band, or 0 in every band. Check the raster's nodata value "
                          "and the band subset.");
  }
}

// ---------------------------------------------------------------------------- writer

namespace {

bool hasToken(const char* list, const std::string& token) {
  std::istringstream words(list ? list : "");
  for (std::string word; words >> word;) {
    if (EQUAL(word.c_str(), token.c_str())) return true;
  }
  return false;
}

// Raster drivers that can create (or copy into) Float32 rasters.
bool writesFloat32(GDALDriverH driver) {
  const bool raster = GDALGetMetadataItem(driver, GDAL_DCAP_RASTER, nullptr) != nullptr;
  const bool creates = GDALGetMetadataItem(driver, GDAL_DCAP_CREATE, nullptr) ||
                       GDALGetMetadataItem(driver, GDAL_DCAP_CREATECOPY, nullptr);
  return raster && creates &&
         hasToken(GDALGetMetadataItem(driver, GDAL_DMD_CREATIONDATATYPES, nullptr), "Float32");
}

const char* const kEnviExtensions[] = {".bsq", ".bil", ".bip", ".dat"};

std::string supportedRasterExtensions() {
  std::set<std::string> extensions{".tif", ".tiff"};
  for (const char* e : kEnviExtensions) extensions.insert(e);
  for (int i = 0; i < GDALGetDriverCount(); ++i) {
    GDALDriverH driver = GDALGetDriver(i);
    if (!writesFloat32(driver)) continue;
    const char* list = GDALGetMetadataItem(driver, GDAL_DMD_EXTENSIONS, nullptr);
    std::istringstream words(list ? list : "");
    for (std::string word; words >> word;) extensions.insert("." + word);
  }
  std::string list;
  for (const std::string& e : extensions) list += (list.empty() ? "" : " ") + e;
  return list;
}

// Creation options for `driver`, the ENVI interleave following the extension.
char** creationOptions(const std::string& driver, const std::string& extension) {
  char** options = nullptr;
  if (driver == "GTiff") {
    options = CSLSetNameValue(options, "INTERLEAVE", "BAND");
    options = CSLSetNameValue(options, "BIGTIFF", "IF_SAFER");
  } else if (driver == "ENVI") {
    const std::string interleave = extension == ".bil"   ? "BIL"
                                   : extension == ".bip" ? "BIP"
                                                         : "BSQ";
    options = CSLSetNameValue(options, "INTERLEAVE", interleave.c_str());
  }
  return options;
}

}  // namespace

std::vector<std::string> gdalFileList(const std::string& gdalPath) {
  GDALAllRegister();
  std::vector<std::string> files;
  GDALDatasetH dataset = GDALOpen(gdalPath.c_str(), GA_ReadOnly);
  if (!dataset) return files;
  char** list = GDALGetFileList(dataset);
  for (char** f = list; f && *f; ++f) files.emplace_back(*f);
  CSLDestroy(list);
  GDALClose(dataset);
  return files;
}

std::string rasterDriverFor(const std::string& path) {
  GDALAllRegister();
  if (path.rfind("memory:", 0) == 0) {
    throw InvalidArgument("'" + path +
                          "': QGIS keeps only vector layers in memory; a raster "
                          "output needs a file. Leave the output empty for a temporary file, or "
                          "give a path such as abundances.tif.");
  }
  const std::string ext = lowerExtension(path);
  if (ext.empty()) {
    throw InvalidArgument("'" + path +
                          "' has no file extension, so its raster format is "
                          "unknown. Add one: .tif (GeoTIFF) or another of " +
                          supportedRasterExtensions() + ".");
  }
  if (ext == ".tif" || ext == ".tiff") return "GTiff";
  for (const char* e : kEnviExtensions) {
    if (ext == e) return "ENVI";
  }
  for (int i = 0; i < GDALGetDriverCount(); ++i) {
    GDALDriverH driver = GDALGetDriver(i);
    if (writesFloat32(driver) &&
        hasToken(GDALGetMetadataItem(driver, GDAL_DMD_EXTENSIONS, nullptr), ext.substr(1))) {
      return GDALGetDriverShortName(driver);
    }
  }
  throw InvalidArgument("'" + path + "': no GDAL raster format with the extension " + ext +
                        " can hold Float32 abundances. Use .tif (GeoTIFF) or another of " +
                        supportedRasterExtensions() + ".");
}

GdalRasterWriter::GdalRasterWriter(const std::string& destination, int width, int height,
                                   const std::vector<std::string>& bandNames,
                                   const Georeference& geo, float nodata)
    : driver_(rasterDriverFor(destination)),
      staged_(destination),
      width_(width),
      height_(height),
      bands_(static_cast<int>(bandNames.size())),
      nodata_(nodata) {
  // Rows arrive in order, which every format does not take: other formats are written as
  // a GeoTIFF first and copied by finish(); a 1 x 1 copy now tells whether they can be.
  const std::string tiff = driver_ == "GTiff" ? staged_.path() : staged_.path() + ".scratch.tif";
  if (driver_ != "GTiff") {
    scratch_ = tiff;
    probeDriver();
  }
  char** options = creationOptions("GTiff", ".tif");
  CPLErrorReset();
  dataset_ = GDALCreate(GDALGetDriverByName("GTiff"), tiff.c_str(), width, height, bands_,
                        GDT_Float32, options);
  CSLDestroy(options);
  if (!dataset_) {
    throw IoError("Cannot write '" + destination + "' (" + lastGdalError() +
                  "). Choose an output path in a writable folder.");
  }
  if (geo.hasGeoTransform) {
    std::array<double, 6> gt = geo.geoTransform;
    GDALSetGeoTransform(handle(dataset_), gt.data());
  }
  if (!geo.projectionWkt.empty()) GDALSetProjection(handle(dataset_), geo.projectionWkt.c_str());
  for (int b = 0; b < bands_; ++b) {
    GDALRasterBandH band = GDALGetRasterBand(handle(dataset_), b + 1);
    GDALSetDescription(band, bandNames[b].c_str());
    GDALSetRasterNoDataValue(band, nodata);
  }
}

GdalRasterWriter::~GdalRasterWriter() {
  if (dataset_) GDALClose(handle(dataset_));
}

void GdalRasterWriter::probeDriver() const {
  GDALDatasetH source =
      GDALCreate(GDALGetDriverByName("MEM"), "", 1, 1, bands_, GDT_Float32, nullptr);
  const std::string probe = staged_.path() + ".probe" + lowerExtension(staged_.destination());
  char** options = creationOptions(driver_, lowerExtension(staged_.destination()));
  CPLErrorReset();
  GDALDatasetH copy = GDALCreateCopy(GDALGetDriverByName(driver_.c_str()), probe.c_str(), source,
                                     FALSE, options, nullptr, nullptr);
  CSLDestroy(options);
  const std::string why = lastGdalError();
  if (copy) GDALClose(copy);
  GDALClose(source);
  if (copy) GDALDeleteDataset(GDALGetDriverByName(driver_.c_str()), probe.c_str());
  if (!copy) {
    throw InvalidArgument("'" + staged_.destination() + "': GDAL's " + driver_ +
                          " driver cannot write a " + std::to_string(bands_) +
                          "-band Float32 raster (" + why + "). Use .tif (GeoTIFF) instead.");
  }
}

void GdalRasterWriter::writeRows(int row0, int rows, const float* values) {
  const GSpacing pixelSpace = GSpacing{bands_} * static_cast<GSpacing>(sizeof(float));
  const GSpacing lineSpace = pixelSpace * width_;
  CPLErrorReset();
  const CPLErr err = GDALDatasetRasterIOEx(
      handle(dataset_), GF_Write, 0, row0, width_, rows, const_cast<float*>(values), width_, rows,
      GDT_Float32, bands_, nullptr, pixelSpace, lineSpace, sizeof(float), nullptr);
  if (err != CE_None) {
    throw IoError("Writing '" + staged_.destination() + "' failed (" + lastGdalError() +
                  "). Check the free disk space and the folder's permissions.");
  }
}

void GdalRasterWriter::writeBandSequential(const float* values) {
  const GSpacing bandSpace = GSpacing{width_} * height_ * static_cast<GSpacing>(sizeof(float));
  CPLErrorReset();
  const CPLErr err = GDALDatasetRasterIOEx(
      handle(dataset_), GF_Write, 0, 0, width_, height_, const_cast<float*>(values), width_,
      height_, GDT_Float32, bands_, nullptr, sizeof(float),
      GSpacing{width_} * static_cast<GSpacing>(sizeof(float)), bandSpace, nullptr);
  if (err != CE_None) {
    throw IoError("Writing '" + staged_.destination() + "' failed (" + lastGdalError() +
                  "). Check the free disk space and the folder's permissions.");
  }
}

void GdalRasterWriter::setBandMetadata(int band, const std::string& key, const std::string& value) {
  GDALSetMetadataItem(GDALGetRasterBand(handle(dataset_), band), key.c_str(), value.c_str(),
                      nullptr);
}

void GdalRasterWriter::finish() {
  if (finished_) return;
  const std::string failed = "Writing '" + staged_.destination() + "' failed";
  if (!scratch_.empty()) {
    char** options = creationOptions(driver_, lowerExtension(staged_.destination()));
    CPLErrorReset();
    GDALDatasetH copy = GDALCreateCopy(GDALGetDriverByName(driver_.c_str()), staged_.path().c_str(),
                                       handle(dataset_), FALSE, options, nullptr, nullptr);
    CSLDestroy(options);
    if (!copy) throw IoError(failed + " (" + lastGdalError() + ").");
    GDALClose(copy);
  }
  CPLErrorReset();
  GDALClose(handle(dataset_));
  dataset_ = nullptr;
  if (CPLGetLastErrorType() >= CE_Failure) {
    throw IoError(failed + " when closing it (" + lastGdalError() + ").");
  }
  if (!scratch_.empty()) {
    std::error_code ec;
    fs::remove(scratch_, ec);
    fs::remove(scratch_ + ".aux.xml", ec);
  }
  finished_ = true;
}

void GdalRasterWriter::commit() {
  finish();
  staged_.commit();
}

std::unique_ptr<GdalRasterWriter> residualWriterFor(const std::string& destination, int width,
                                                    int height, const Georeference& geo) {
  if (destination.empty()) return nullptr;
  return std::make_unique<GdalRasterWriter>(destination, width, height,
                                            std::vector<std::string>{"reconstruction_rmse"}, geo,
                                            kOutputNoData);
}

// ---------------------------------------------------------------------------- assembler

RowAssembler::RowAssembler(GdalRasterWriter& writer, int rowsPerTile)
    : writer_(writer),
      rowsPerTile_(std::max(1, rowsPerTile)),
      tile_(static_cast<size_t>(rowsPerTile_) * writer.width() * writer.bands(), writer.nodata()) {}

void RowAssembler::flush() {
  const int rows = std::min(rowsPerTile_, writer_.height() - row0_);
  if (rows > 0) writer_.writeRows(row0_, rows, tile_.data());
  row0_ += rowsPerTile_;
  std::fill(tile_.begin(), tile_.end(), writer_.nodata());
}

void RowAssembler::add(const int64_t* indices, const float* values, int64_t count) {
  const int nb = writer_.bands();
  const int64_t width = writer_.width();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t row = indices[i] / width;
    while (row >= row0_ + rowsPerTile_) flush();
    const int64_t local = indices[i] - int64_t{row0_} * width;
    std::memcpy(&tile_[static_cast<size_t>(local * nb)], values + i * nb, sizeof(float) * nb);
  }
}

void RowAssembler::finish() {
  while (row0_ < writer_.height()) flush();
}

namespace {

CPLErrorHandler handlerBefore = nullptr;

void CPL_STDCALL withoutMissingGeotransform(CPLErr level, CPLErrorNum number, const char* text) {
  static const char kMissing[] =
      "Unable to compute a transformation between pixel/line and georeferenced coordinates";
  if (number == CPLE_AppDefined && text && std::strncmp(text, kMissing, sizeof kMissing - 1) == 0)
    return;
  (handlerBefore ? handlerBefore : CPLDefaultErrorHandler)(level, number, text);
}

}  // namespace

void dropMissingGeotransformMessage() {
  static const bool installed = [] {
    handlerBefore = CPLSetErrorHandlerEx(withoutMissingGeotransform, nullptr);
    return true;
  }();
  (void)installed;
}

}  // namespace dequnmix::processing
