#include "algorithms/processing_utils.h"

#include <cmath>
#include <exception>
#include <new>
#include <set>

#include <QObject>

#include <qgsexception.h>
#include <qgsproviderregistry.h>
#include <qgsrasterlayer.h>

#include "algorithms/layer_styling.h"
#include "core/errors.h"
#include "core/runtime.h"

namespace dequnmix::processing {

QString iconPath(const QString& name) {
  return QStringLiteral(":/dequnmix/icons/%1.svg").arg(name);
}

QIcon icon(const QString& name) { return QIcon(iconPath(name)); }

void FeedbackProgress::setProgress(double fraction) {
  if (!feedback_) return;
  const double clamped = std::min(1.0, std::max(0.0, fraction));
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::abs(clamped - last_) < 1e-3 && clamped != 1.0) return;
  last_ = clamped;
  feedback_->setProgress(100.0 * clamped);
}

bool FeedbackProgress::isCanceled() const { return feedback_ && feedback_->isCanceled(); }

void FeedbackProgress::info(const std::string& message) {
  if (!feedback_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  feedback_->pushInfo(QString::fromStdString(message));
}

void FeedbackProgress::warning(const std::string& message) {
  if (!feedback_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  feedback_->pushWarning(QString::fromStdString(message));
}

void fail(const QString& message) { throw QgsProcessingException(message); }

void rethrowAsProcessingException() {
  try {
    throw;
  } catch (const QgsProcessingException&) {
    throw;
  } catch (const dequnmix::Canceled&) {
    fail(QObject::tr("Canceled by the user; no output was written."));
  } catch (const dequnmix::Error& e) {
    fail(QString::fromStdString(e.what()));
  } catch (const std::bad_alloc&) {
    fail(QObject::tr("Out of memory. Try a smaller scene or a band subset (BANDS)."));
  } catch (const std::exception& e) {
    // LibTorch errors carry a backtrace after the first line: keep the message only.
    QString message = QString::fromLocal8Bit(e.what()).section('\n', 0, 0).trimmed();
    fail(QObject::tr("Internal error in dequnmix: %1").arg(message));
  } catch (...) {
    fail(QObject::tr("Internal error in dequnmix (unknown exception)."));
  }
}

double RasterInput::centreX(int64_t col) const {
  return extent.xMinimum() + (static_cast<double>(col) + 0.5) * extent.width() / width;
}

double RasterInput::centreY(int64_t row) const {
  return extent.yMaximum() - (static_cast<double>(row) + 0.5) * extent.height() / height;
}

QIcon DequnmixAlgorithm::icon() const { return processing::icon(name()); }

QString DequnmixAlgorithm::svgIconPath() const { return processing::iconPath(name()); }

QgsProcessingAlgorithm::Flags DequnmixAlgorithm::flags() const {
  return QgsProcessingAlgorithm::FlagSupportsBatch | QgsProcessingAlgorithm::FlagCanCancel;
}

RasterInput DequnmixAlgorithm::rasterInput(const QVariantMap& parameters, const QString& name,
                                           QgsProcessingContext& context) const {
  QgsRasterLayer* layer = parameterAsRasterLayer(parameters, name, context);
  if (!layer || !layer->isValid()) {
    fail(QObject::tr("%1. Check that the file exists and is a raster GDAL can read.")
             .arg(invalidRasterError(parameters, name)));
  }
  if (layer->providerType() != QLatin1String("gdal")) {
    fail(QObject::tr("%1 (%2) is served by the '%3' data provider; dequnmix reads rasters "
                     "through GDAL. Save the layer as a GeoTIFF first.")
             .arg(name, layer->name(), layer->providerType()));
  }
  RasterInput input;
  input.parameter = name;
  input.layerName = layer->name();
  const QVariantMap parts =
      QgsProviderRegistry::instance()->decodeUri(QStringLiteral("gdal"), layer->source());
  const QString path = parts.value(QStringLiteral("path")).toString();
  const bool plainPath = !path.isEmpty() && parts.value(QStringLiteral("layerName")).isNull() &&
                         parts.value(QStringLiteral("openOptions")).isNull();
  input.gdalPath = (plainPath ? path : layer->source()).toStdString();
  input.width = layer->width();
  input.height = layer->height();
  input.bandCount = layer->bandCount();
  input.crs = layer->crs();
  input.extent = layer->extent();
  if (input.width < 1 || input.height < 1 || input.bandCount < 1) {
    fail(QObject::tr("%1 (%2) is empty (%3 x %4 pixels, %5 bands).")
             .arg(name, input.layerName)
             .arg(input.width)
             .arg(input.height)
             .arg(input.bandCount));
  }
  return input;
}

std::vector<int> DequnmixAlgorithm::bandSelection(const QVariantMap& parameters,
                                                  const QString& name,
                                                  QgsProcessingContext& context,
                                                  const RasterInput& raster) const {
  const QList<int> chosen = parameterAsInts(parameters, name, context);
  std::vector<int> bands;
  std::set<int> seen;
  for (int band : chosen) {
    if (band < 1 || band > raster.bandCount) {
      fail(QObject::tr("%1 lists band %2, but %3 (%4) has bands 1 to %5. Choose bands that "
                       "exist, or leave %1 empty to use every band.")
               .arg(name)
               .arg(band)
               .arg(raster.parameter, raster.layerName)
               .arg(raster.bandCount));
    }
    if (!seen.insert(band).second) {
      fail(QObject::tr("%1 lists band %2 twice. List each band once.").arg(name).arg(band));
    }
    bands.push_back(band);
  }
  return bands;
}

void DequnmixAlgorithm::requireMultiBand(const RasterInput& raster, const std::vector<int>& bands,
                                         const QString& bandsParameter) {
  if (usedBandCount(raster, bands) >= 2) return;
  if (bands.empty()) {
    fail(QObject::tr("%1 (%2) has a single band. Unmixing needs a multi-band (hyperspectral) "
                     "raster with more bands than endmembers.")
             .arg(raster.parameter, raster.layerName));
  }
  fail(QObject::tr("%1 selects a single band of %2. Unmixing needs several bands: select more "
                   "bands, or leave %1 empty to use all %3.")
           .arg(bandsParameter, raster.parameter)
           .arg(raster.bandCount));
}

DequnmixAlgorithm::AbundanceOutputPaths DequnmixAlgorithm::abundanceOutputPaths(
    const QVariantMap& parameters, QgsProcessingContext& context) const {
  AbundanceOutputPaths paths;
  paths.abundances = parameterAsOutputLayer(parameters, QStringLiteral("OUTPUT"), context);
  paths.residual = parameterAsOutputLayer(parameters, QStringLiteral("OUTPUT_RESIDUAL"), context);
  styleOutputOnLoad(context, paths.abundances, RasterStyle::Abundances);
  styleOutputOnLoad(context, paths.residual, RasterStyle::Residual);
  return paths;
}

void DequnmixAlgorithm::addThreadsParameter(bool isAdvanced) {
  auto* threads = new QgsProcessingParameterNumber(
      QStringLiteral("THREADS"), QObject::tr("Threads (0 = all cores)"),
      QgsProcessingParameterNumber::Integer, 0, false, 0, 1024);
  addParameter(isAdvanced ? advanced(threads) : threads);
}

int DequnmixAlgorithm::threadsParameter(const QVariantMap& parameters,
                                        QgsProcessingContext& context) const {
  const int threads = parameterAsInt(parameters, QStringLiteral("THREADS"), context);
  if (threads < 0) {
    fail(QObject::tr("THREADS is %1 but must be 0 (all cores) or more.").arg(threads));
  }
  return threads > 0 ? threads : dequnmix::hardwareThreadCount();
}

dequnmix::EndmemberTable DequnmixAlgorithm::readEndmembers(const QString& path,
                                                           const QString& parameter) {
  if (path.isEmpty()) {
    fail(QObject::tr("%1: no endmember CSV file was given.").arg(parameter));
  }
  try {
    return dequnmix::readEndmemberCsv(path.toStdString());
  } catch (const dequnmix::Error& e) {
    fail(QObject::tr("%1: %2").arg(parameter, QString::fromStdString(e.what())));
  } catch (...) {
    rethrowAsProcessingException();
  }
}

}  // namespace dequnmix::processing
