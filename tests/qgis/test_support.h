// Helpers of the QGIS-side tests: running algorithms through the processing registry,
// and reading/writing small rasters and files with GDAL.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <QString>
#include <QVariantMap>

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
  QStringList errors;
};

// Runs a registry algorithm synchronously with its own QgsProcessingContext (destroyed
// before returning), like qgis_process does.
RunResult runAlgorithm(const QString& id, const QVariantMap& parameters,
                       CapturingFeedback* feedback = nullptr);

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
};

RasterData readRaster(const QString& path);
// Writes a Float32 GeoTIFF; nodata NaN means "no nodata value".
void writeRaster(const QString& path, const RasterData& raster);
void writeText(const QString& path, const QString& text);
// Names of the files in `folder` (no subfolders), sorted.
QStringList filesIn(const QString& folder);

}  // namespace dequnmix::testing
