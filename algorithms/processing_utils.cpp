#include "algorithms/processing_utils.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <set>

#include <QFileInfo>
#include <QObject>
#include <QRegularExpression>

#include <qgsexception.h>
#include <qgsmaplayerstore.h>
#include <qgsproperty.h>
#include <qgsproviderregistry.h>
#include <qgsrasterlayer.h>

#include "algorithms/gdal_raster.h"
#include "algorithms/layer_styling.h"
#include "algorithms/vector_spectra.h"
#include "core/data_checks.h"
#include "core/deq/deq_unmix.h"
#include "core/errors.h"
#include "core/io/spectral_library.h"
#include "core/io/spectral_metadata.h"
#include "core/runtime.h"

namespace dequnmix::processing {

QString iconPath(const QString& name) {
  return QStringLiteral(":/dequnmix/icons/%1.svg").arg(name);
}

QIcon icon(const QString& name) { return QIcon(iconPath(name)); }

namespace {

// Stop signals (SIGINT, SIGTERM) received while a FeedbackProgress exists.
std::atomic<int> stopSignal{0};
std::mutex stopHandlersMutex;
int stopHandlerUsers = 0;
struct sigaction previousInt, previousTerm;

extern "C" void onStopSignal(int signal) {
  // A second signal while the run is still unwinding ends the process as usual.
  if (stopSignal.exchange(signal) != 0) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}

void installStopHandlers() {
  std::lock_guard<std::mutex> lock(stopHandlersMutex);
  if (stopHandlerUsers++ > 0) return;
  stopSignal = 0;
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &previousInt);
  sigaction(SIGTERM, &action, &previousTerm);
}

void removeStopHandlers() {
  std::lock_guard<std::mutex> lock(stopHandlersMutex);
  if (--stopHandlerUsers > 0) return;
  sigaction(SIGINT, &previousInt, nullptr);
  sigaction(SIGTERM, &previousTerm, nullptr);
}

}  // namespace

FeedbackProgress::FeedbackProgress(QgsProcessingFeedback* feedback) : feedback_(feedback) {
  installStopHandlers();
}

FeedbackProgress::~FeedbackProgress() { removeStopHandlers(); }

void FeedbackProgress::setProgress(double fraction) {
  if (!feedback_) return;
  const double clamped = std::min(1.0, std::max(0.0, fraction));
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::abs(clamped - last_) < 1e-3 && clamped != 1.0) return;
  last_ = clamped;
  feedback_->setProgress(100.0 * clamped);
}

bool FeedbackProgress::isCanceled() const {
  if (stopSignal != 0) {
    if (feedback_ && !feedback_->isCanceled()) feedback_->cancel();
    return true;
  }
  return feedback_ && feedback_->isCanceled();
}

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

namespace {

// A GDAL dataset name that is not a file, such as a subdataset ('NETCDF:"f.nc":var',
// 'HDF5:"f.h5"://data'), which QGIS 3.22 does not load from a string: opened here, kept in
// the context's temporary store. Null when it is not one.
QgsRasterLayer* gdalDatasetLayer(const QVariant& value, QgsProcessingContext& context) {
  const QString uri = value.toString();
  if (uri.isEmpty() || !uri.contains(QLatin1Char(':')) || QFileInfo::exists(uri)) return nullptr;
  auto layer = std::make_unique<QgsRasterLayer>(uri, uri, QStringLiteral("gdal"));
  if (!layer->isValid()) return nullptr;
  QgsRasterLayer* raw = layer.get();
  context.temporaryLayerStore()->addMapLayer(layer.release());
  return raw;
}

}  // namespace

RasterInput DequnmixAlgorithm::rasterInput(const QVariantMap& parameters, const QString& name,
                                           QgsProcessingContext& context) const {
  QgsRasterLayer* layer = parameterAsRasterLayer(parameters, name, context);
  if (!layer) layer = gdalDatasetLayer(parameters.value(name), context);
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
  input.files = gdalFileList(input.gdalPath);
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

namespace {

// The band numbers of a BANDS value as users type them: "1,2,3", "1;2;3", "5-40", or a
// list of such items (a repeated --BANDS in qgis_process).
QList<int> parseBandList(const QString& name, const QVariant& value) {
  QStringList items;
  if (value.type() == QVariant::List || value.type() == QVariant::StringList) {
    for (const QVariant& item : value.toList()) items << item.toString();
  } else {
    items << value.toString();
  }
  QList<int> bands;
  static const QRegularExpression separators(QStringLiteral("[,;\\s]+"));
  static const QRegularExpression range(QStringLiteral("^(\\d+)\\s*-\\s*(\\d+)$"));
  for (const QString& item : items) {
    for (const QString& token : item.split(separators, Qt::SkipEmptyParts)) {
      const QRegularExpressionMatch m = range.match(token);
      bool ok = false;
      const int single = token.toInt(&ok);
      if (ok) {
        bands << single;
      } else if (m.hasMatch() && m.captured(1).toInt() <= m.captured(2).toInt()) {
        for (int b = m.captured(1).toInt(); b <= m.captured(2).toInt(); ++b) bands << b;
      } else {
        fail(QObject::tr("%1: '%2' is not a band number or a range such as 5-40. List bands as "
                         "1,2,3 or 1;2;3 or ranges like 1-40.")
                 .arg(name, token));
      }
    }
  }
  return bands;
}

}  // namespace

std::vector<int> DequnmixAlgorithm::bandSelection(const QVariantMap& parameters,
                                                  const QString& name,
                                                  QgsProcessingContext& context,
                                                  const RasterInput& raster) const {
  const QVariant value = parameters.value(name);
  const QList<int> chosen = value.canConvert<QgsProperty>()
                                ? parameterAsInts(parameters, name, context)
                                : parseBandList(name, value);
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

namespace {

// "1 to 10000", or "at least 0" where the parameter has no maximum.
QString rangeText(const QgsProcessingParameterNumber& parameter) {
  const bool integer = parameter.dataType() == QgsProcessingParameterNumber::Integer;
  const auto text = [integer](double v) {
    return integer ? QString::number(static_cast<qlonglong>(v)) : QString::number(v);
  };
  return parameter.maximum() < std::numeric_limits<int>::max()
             ? QObject::tr("%1 to %2").arg(text(parameter.minimum()), text(parameter.maximum()))
             : QObject::tr("at least %1").arg(text(parameter.minimum()));
}

}  // namespace

QgsProcessingParameterNumber* ranged(QgsProcessingParameterNumber* parameter) {
  parameter->setDescription(
      QStringLiteral("%1 [%2]").arg(parameter->description(), rangeText(*parameter)));
  return parameter;
}

void DequnmixAlgorithm::checkNumberRanges(const QVariantMap& parameters,
                                          QgsProcessingContext& context) const {
  for (const QgsProcessingParameterDefinition* definition : parameterDefinitions()) {
    const auto* number = dynamic_cast<const QgsProcessingParameterNumber*>(definition);
    if (!number || !parameters.contains(number->name())) continue;
    const QVariant value = parameters.value(number->name());
    if (!number->checkValueIsAcceptable(value, &context))
      fail(QObject::tr("%1 is %2, outside its range (%3).")
               .arg(number->name(), value.toString(), rangeText(*number)));
  }
}

void DequnmixAlgorithm::addInput(OutputCheck& check, const RasterInput& raster) {
  check.addInput(QStringLiteral("%1 (%2)").arg(raster.parameter, raster.layerName).toStdString(),
                 raster.files);
}

void DequnmixAlgorithm::addInput(OutputCheck& check, const QString& parameter,
                                 const QString& path) {
  check.addInput(parameter.toStdString(), {path.toStdString()});
}

void DequnmixAlgorithm::checkOutputs(const OutputCheck& check) {
  try {
    check.check();
  } catch (...) {
    rethrowAsProcessingException();
  }
}

void DequnmixAlgorithm::checkAbundanceOutputs(const AbundanceOutputPaths& outputs,
                                              const RasterInput& raster, const QString& parameter,
                                              const QString& path) {
  OutputCheck check;
  addInput(check, raster);
  addInput(check, parameter, path);
  check.addOutput("OUTPUT", outputs.abundances.toStdString());
  check.addOutput("OUTPUT_RESIDUAL", outputs.residual.toStdString());
  checkOutputs(check);
}

dequnmix::EndmemberTable DequnmixAlgorithm::spectraForBands(dequnmix::EndmemberTable table,
                                                            const QString& parameter,
                                                            const RasterInput& raster,
                                                            const std::vector<int>& bands,
                                                            QgsProcessingFeedback* feedback) {
  std::vector<double> centres, widths;  // of the bands used, in their order
  if (!table.wavelengths.empty()) {
    RasterSpectra spectra;
    try {
      spectra = GdalInput(raster.gdalPath, {}, raster.parameter.toStdString()).spectra();
    } catch (const dequnmix::Error& e) {
      fail(QString::fromStdString(e.what()));
    }
    std::vector<int> used = bands;
    if (used.empty())
      for (int b = 1; b <= raster.bandCount; ++b) used.push_back(b);
    for (int b : used) {
      if (spectra.wavelengthsNm.empty()) break;
      centres.push_back(spectra.wavelengthsNm[b - 1]);
      if (!spectra.fwhmNm.empty()) widths.push_back(spectra.fwhmNm[b - 1]);
    }
  }
  if (!centres.empty()) {
    dequnmix::LibraryResampling how;
    try {
      table = dequnmix::resampleLibrary(table, centres, widths, &how);
    } catch (const dequnmix::Error& e) {
      fail(QObject::tr("%1: %2").arg(parameter, QString::fromStdString(e.what())));
    }
    if (how.resampled && feedback)
      feedback->pushInfo(QObject::tr("%1 resampled to the %2 bands of %3 (%4).")
                             .arg(parameter)
                             .arg(centres.size())
                             .arg(raster.parameter)
                             .arg(how.gaussian ? QObject::tr("Gaussian band response from FWHM")
                                               : QObject::tr("linear interpolation")));
    return table;
  }
  const int used = usedBandCount(raster, bands);
  if (table.bands == used) return table;
  fail(QObject::tr("%1 has %2 bands (rows) but %3 uses %4 bands%5. Give spectra with one row "
                   "per band used, or choose BANDS to match the CSV.")
           .arg(parameter)
           .arg(table.bands)
           .arg(raster.parameter)
           .arg(used)
           .arg(bands.empty() ? QObject::tr(" (all of its bands)")
                              : QObject::tr(" (the BANDS subset)")));
}

void DequnmixAlgorithm::checkScale(double sceneRms, double referenceRms,
                                   const QString& referenceLabel,
                                   dequnmix::ProgressSink& progress) {
  const dequnmix::ScaleCheck c =
      dequnmix::compareScale(sceneRms, referenceRms, "INPUT", referenceLabel.toStdString());
  if (c.verdict == dequnmix::ScaleCheck::Verdict::Refuse) fail(QString::fromStdString(c.message));
  if (c.verdict == dequnmix::ScaleCheck::Verdict::Warn) progress.warning(c.message);
}

void DequnmixAlgorithm::checkSceneValues(const dequnmix::ValueSummary& scene,
                                         dequnmix::ProgressSink& progress) {
  const std::string warning = dequnmix::negativeValuesWarning(scene, "INPUT");
  if (!warning.empty()) progress.warning(warning);
}

void DequnmixAlgorithm::checkEndmembers(const dequnmix::EndmemberTable& table,
                                        const QString& parameter, dequnmix::ProgressSink& progress,
                                        bool refuseErrors) {
  const dequnmix::EndmemberSetCheck c = dequnmix::checkEndmemberSet(table);
  for (const std::string& error : c.errors) {
    const QString message = QStringLiteral("%1: %2").arg(parameter, QString::fromStdString(error));
    if (refuseErrors) fail(message);
    progress.warning(message.toStdString());
  }
  for (const std::string& warning : c.warnings) {
    progress.warning(
        QStringLiteral("%1: %2").arg(parameter, QString::fromStdString(warning)).toStdString());
  }
}

QString spectraFileFilter() {
  return QObject::tr(
      "Spectra (*.csv *.sli *.hdr *.gpkg *.geojson);;CSV files (*.csv);;ENVI spectral libraries "
      "(*.sli *.hdr);;Vector spectral libraries (*.gpkg *.geojson *.json *.sqlite)");
}

QString spectraOutputFilter() {
  return QObject::tr("CSV files (*.csv);;ENVI spectral libraries (*.sli)");
}

QgsProcessingParameterEnum* namedChoice(const char* name, const QString& description,
                                        const std::vector<std::string>& names,
                                        const std::string& defaultName) {
  QStringList options;
  for (const std::string& n : names) options << QString::fromStdString(n);
  return new QgsProcessingParameterEnum(QString::fromLatin1(name), description, options, false,
                                        QString::fromStdString(defaultName), false, true);
}

void DequnmixAlgorithm::addBandParameters(const QString& raster) {
  addParameter(new QgsProcessingParameterBand(QStringLiteral("BANDS"),
                                              QObject::tr("Bands to use (default: all)"),
                                              QVariant(), raster, true, true));
  addParameter(advanced(new QgsProcessingParameterString(
      QStringLiteral("BAD_BANDS"), QObject::tr("Bad bands to drop (nm ranges, or auto)"),
      QVariant(), false, true)));
}

namespace {

// The 0-based raster bands BAD_BANDS (`text`) keeps, by wavelength or by the ENVI bbl.
std::vector<int> bandsKeptBy(const QString& text, const RasterSpectra& spectra,
                             const RasterInput& raster) {
  const bool automatic = text.trimmed().compare(QStringLiteral("auto"), Qt::CaseInsensitive) == 0;
  if (automatic && !spectra.badBandList.empty()) {
    std::vector<int> kept;
    for (size_t b = 0; b < spectra.badBandList.size(); ++b)
      if (spectra.badBandList[b]) kept.push_back(static_cast<int>(b));
    return kept;
  }
  if (spectra.wavelengthsNm.empty()) {
    fail(QObject::tr("BAD_BANDS needs the band wavelengths, but %1 (%2) states none (no ENVI "
                     "wavelength list, band 'wavelength' metadata or wavelength in the band "
                     "descriptions). Drop bands by number with BANDS instead.")
             .arg(raster.parameter, raster.layerName));
  }
  try {
    return bandsOutside(
        spectra.wavelengthsNm,
        automatic ? waterVapourWindows() : parseWavelengthRanges(text.toStdString(), "BAD_BANDS"));
  } catch (const dequnmix::InvalidArgument& e) {
    fail(QString::fromStdString(e.what()));
  }
}

}  // namespace

std::vector<int> DequnmixAlgorithm::spectralBandSelection(const QVariantMap& parameters,
                                                          const QString& bandsName,
                                                          QgsProcessingContext& context,
                                                          const RasterInput& raster,
                                                          QgsProcessingFeedback* feedback) const {
  std::vector<int> bands = bandSelection(parameters, bandsName, context, raster);
  const QString text = parameterAsString(parameters, QStringLiteral("BAD_BANDS"), context);
  if (text.trimmed().isEmpty()) return bands;
  RasterSpectra spectra;
  try {
    spectra = GdalInput(raster.gdalPath, {}, raster.parameter.toStdString()).spectra();
  } catch (const dequnmix::Error& e) {
    fail(QString::fromStdString(e.what()));
  }
  const std::vector<int> kept = bandsKeptBy(text, spectra, raster);
  const std::set<int> keep(kept.begin(), kept.end());
  if (bands.empty())
    for (int b = 1; b <= raster.bandCount; ++b) bands.push_back(b);
  std::vector<int> selected;
  for (int b : bands)
    if (keep.count(b - 1)) selected.push_back(b);
  if (selected.empty())
    fail(QObject::tr("BAD_BANDS (%1) drops every band %2 uses. Give narrower ranges.")
             .arg(text, bandsName));
  if (feedback)
    feedback->pushInfo(QObject::tr("BAD_BANDS (%1): %2 of %3 bands kept.")
                           .arg(text)
                           .arg(selected.size())
                           .arg(bands.size()));
  return selected;
}

void DequnmixAlgorithm::addThreadsParameter(bool isAdvanced) {
  auto* threads = ranged(new QgsProcessingParameterNumber(
      QStringLiteral("THREADS"), QObject::tr("Threads (0 = all cores)"),
      QgsProcessingParameterNumber::Integer, 0, false, 0, 1024));
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

void DequnmixAlgorithm::addDeviceParameter() {
  addParameter(advanced(new QgsProcessingParameterString(
      QStringLiteral("DEVICE"), QObject::tr("Device (auto, cpu, cuda or cuda:N)"),
      QString::fromLatin1(dequnmix::kAutoDevice))));
}

std::string DequnmixAlgorithm::deviceParameter(const QVariantMap& parameters,
                                               QgsProcessingContext& context,
                                               QgsProcessingFeedback* feedback) const {
  QString name = parameterAsString(parameters, QStringLiteral("DEVICE"), context).trimmed();
  if (name.isEmpty()) name = QString::fromLatin1(dequnmix::kAutoDevice);
  try {
    std::string device = dequnmix::resolveDevice(name.toStdString());
    if (feedback)
      feedback->pushInfo(
          QObject::tr("DEVICE %1: running on %2.").arg(name, QString::fromStdString(device)));
    return device;
  } catch (const dequnmix::Error& e) {
    fail(QObject::tr("DEVICE: %1").arg(QString::fromStdString(e.what())));
  }
}

double peakResidentMiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0.0;
}

std::unique_ptr<dequnmix::ProcessGroup> joinProcessGroup(dequnmix::ProgressSink& progress) {
  const dequnmix::DistributedEnvironment environment = dequnmix::distributedEnvironment();
  if (!environment.distributed()) return nullptr;
  progress.info("Data-parallel run: rank " + std::to_string(environment.rank) + " of " +
                std::to_string(environment.worldSize) + ", joining at " + environment.endpoint() +
                " (MASTER_ADDR:MASTER_PORT)");
  return std::make_unique<dequnmix::ProcessGroup>(environment);
}

dequnmix::EndmemberTable DequnmixAlgorithm::readEndmembers(const QString& path,
                                                           const QString& parameter) {
  if (path.isEmpty()) {
    fail(QObject::tr("%1: no endmember CSV file was given.").arg(parameter));
  }
  try {
    return isVectorSpectralLibrary(path) ? readVectorSpectra(path)
                                         : dequnmix::readSpectralLibrary(path.toStdString());
  } catch (const dequnmix::Error& e) {
    fail(QObject::tr("%1: %2").arg(parameter, QString::fromStdString(e.what())));
  } catch (...) {
    rethrowAsProcessingException();
  }
}

}  // namespace dequnmix::processing
