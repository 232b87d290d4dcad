// Helpers of the QGIS-side tests (tests/qgis and the train/unmix tests): running
// algorithms through the processing registry, a fixture with its own folder, and
// reading/writing small rasters and files with GDAL. main.cpp is their shared main().
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include <QByteArray>
#include <QString>
#include <QTemporaryDir>
#include <QVariantMap>

#include <qgsprocessingcontext.h>
#include <qgsprocessingfeedback.h>

namespace dequnmix::testing {

struct RunResult {
  bool ok = false;
  QVariantMap outputs;
  QString error;  // the QgsProcessingException message, or the errors reported, when !ok
};

// Feedback that records the errors reported to it (QGIS reports failed parameter checks
// there rather than throwing).
class CapturingFeedback : public QgsProcessingFeedback {
 public:
  void reportError(const QString& error, bool fatalError = false) override {
    errors << error;
    QgsProcessingFeedback::reportError(error, fatalError);
  }
  void pushWarning(const QString& warning) override {
    warnings << warning;
    QgsProcessingFeedback::pushWarning(warning);
  }
  QStringList errors;
  QStringList warnings;
};

// Nodata value of every raster the algorithms write.
constexpr float kNoData = -9999.0f;

// Runs a registry algorithm synchronously with its own QgsProcessingContext on the current
// project (destroyed before returning), like qgis_process does. `inspect` sees the context
// after the run (layers to load, post-processors).
RunResult runAlgorithm(const QString& id, const QVariantMap& parameters,
                       CapturingFeedback* feedback = nullptr,
                       const std::function<void(QgsProcessingContext&)>& inspect = {});

// Names of a registry algorithm's parameters, in their order, and of its outputs, sorted.
QStringList parameterNames(const QString& id);
QStringList outputNames(const QString& id);

struct RasterData {
  int width = 0;
  int height = 0;
  int bands = 0;
  bool hasGeoTransform = true;
  std::array<double, 6> geoTransform{0, 1, 0, 0, 0, -1};
  std::string projectionWkt;
  std::vector<std::string> descriptions;
  std::vector<double> nodata;  // per band (NaN when none)
  std::vector<float> values;   // band-sequential: values[(b * height + r) * width + c]
  float at(int band, int row, int col) const {
    return values[(static_cast<size_t>(band) * height + row) * width + col];
  }
  float& at(int band, int row, int col) {
    return values[(static_cast<size_t>(band) * height + row) * width + col];
  }
};

RasterData readRaster(const QString& path);
// Writes a Float32 GeoTIFF; nodata NaN means "no nodata value".
void writeRaster(const QString& path, const RasterData& raster);
void writeText(const QString& path, const QString& text);
// Writes / reads a file byte for byte (reading a missing file gives an empty array).
void writeBytes(const QString& path, const QByteArray& bytes);
QByteArray readBytes(const QString& path);
// An ENVI scene as reflectance products come: Int16 (value x 10000, with a reflectance scale
// factor in the header and data ignore value -9999), band-sequential, the header stating
// wavelengths in micrometres, FWHM (empty: none) and the bad-band list (empty: none).
void writeEnviScene(const QString& imagePath, const RasterData& reflectance,
                    const std::vector<double>& wavelengthsNm, const std::vector<double>& fwhmNm,
                    const std::vector<int>& badBandList);
// An ENVI spectral library (Float32): `spectra[e][b]` at `wavelengthsNm[b]`.
void writeEnviLibrary(const QString& sliPath, const QStringList& names,
                      const std::vector<double>& wavelengthsNm,
                      const std::vector<std::vector<float>>& spectra);
// Names of the files in `folder` (no subfolders, hidden files included), sorted.
QStringList filesIn(const QString& folder);

// A fixture with its own temporary folder: inputs go in it, outputs in its out/ subfolder.
class FolderTest : public ::testing::Test {
 protected:
  void SetUp() override;
  QString path(const QString& name) const { return dir_.filePath(name); }
  QString out(const QString& name) const { return dir_.filePath(QStringLiteral("out/") + name); }
  // The files in out/.
  QStringList outputs() const { return filesIn(dir_.filePath(QStringLiteral("out"))); }
  // Runs `id` and expects it to fail with a message containing every one of `words`
  // (case-insensitive) and to leave nothing at all in out/.
  void expectFailure(const QString& id, const QVariantMap& parameters, const QStringList& words,
                     CapturingFeedback* feedback = nullptr);

  QTemporaryDir dir_;
};

}  // namespace dequnmix::testing
