#include "algorithms/fcls_algorithm.h"

#include <memory>

#include <qgsprocessingparameters.h>

#include "algorithms/gdal_raster.h"
#include "core/classical/fcls.h"
#include "core/data_checks.h"
#include "core/io/endmember_table.h"
#include "core/metrics/metrics.h"
#include "core/runtime.h"

namespace dequnmix::processing {

QString FclsAlgorithm::name() const { return QStringLiteral("fcls"); }

QString FclsAlgorithm::displayName() const {
  return QObject::tr("Abundances (FCLS, NNLS, SCLS, UCLS)");
}

QStringList FclsAlgorithm::tags() const {
  return QObject::tr(
             "fcls,fully constrained least squares,nnls,ncls,non-negative,scls,sum-to-one,ucls,"
             "unconstrained,abundance,unmixing,hyperspectral,linear mixing,endmember")
      .split(',');
}

QString FclsAlgorithm::group() const { return QObject::tr("Abundances"); }

QString FclsAlgorithm::groupId() const { return QStringLiteral("abundances"); }

QString FclsAlgorithm::shortDescription() const {
  return QObject::tr(
      "Estimates abundances for given endmember spectra by least squares, fully constrained "
      "by default.");
}

QString FclsAlgorithm::shortHelpString() const {
  return QObject::tr(
      "Estimates per-pixel abundances under the linear mixing model by least squares, exact "
      "per pixel: fully constrained (FCLS, Heinz and Chang, 2001: non-negative abundances "
      "that sum to one; default), non-negative only (NNLS), sum-to-one only (SCLS) or "
      "unconstrained (UCLS). The raster is processed tile by tile; nodata pixels (nodata or NaN in "
      "any band used, or 0 in every band: fill) stay nodata (-9999) in every output.\n\n"
      "Parameters\n"
      "- INPUT: the hyperspectral raster (any raster GDAL reads, at least 2 bands).\n"
      "- ENDMEMBERS: endmember spectra as CSV (header row; columns band, optionally "
      "wavelength or wavelength_nm, then one column per endmember named after it; one row per "
      "band used), e.g. the output of 'Extract endmembers (VCA)'.\n"
      "- BANDS: optional subset of bands to use, typed as 1,2,3 or 1;2;3 or ranges such as 1-40 "
      "(default: all); the CSV must have one row per "
      "band used.\n"
      "- BAD_BANDS (advanced): wavelength ranges in nm to drop from them, such as "
      "1340-1450;1790-1960;2450-2500, or auto (the raster's ENVI bbl list, else those "
      "water-vapour windows); needs band wavelengths (ENVI header, band metadata or "
      "descriptions).\n"
      "- METHOD: fcls, nnls, scls or ucls (default fcls). NNLS and UCLS abundances do not sum "
      "to one; SCLS and UCLS can be negative.\n"
      "- THREADS (advanced): CPU threads, 0 = all cores (default 0).\n\n"
      "Outputs\n"
      "- OUTPUT: abundance raster, one Float32 band per endmember, named after it; same grid, "
      "geotransform and CRS as INPUT.\n"
      "- OUTPUT_RESIDUAL: optional single-band Float32 raster of the per-pixel reconstruction "
      "RMSE, sqrt(mean over bands of (y - E a)^2).");
}

FclsAlgorithm* FclsAlgorithm::createInstance() const { return new FclsAlgorithm(); }

void FclsAlgorithm::initAlgorithm(const QVariantMap&) {
  addParameter(new QgsProcessingParameterRasterLayer(QStringLiteral("INPUT"),
                                                     QObject::tr("Hyperspectral raster")));
  addParameter(new QgsProcessingParameterFile(
      QStringLiteral("ENDMEMBERS"), QObject::tr("Endmember spectra (CSV or ENVI library)"),
      QgsProcessingParameterFile::File, QString(), QVariant(), false, spectraFileFilter()));
  addBandParameters(QStringLiteral("INPUT"));
  addParameter(
      namedChoice("METHOD", QObject::tr("Constraints"), dequnmix::abundanceMethodNames(), "fcls"));
  addThreadsParameter(true);
  addParameter(new QgsProcessingParameterRasterDestination(QStringLiteral("OUTPUT"),
                                                           QObject::tr("Abundances")));
  addParameter(new QgsProcessingParameterRasterDestination(QStringLiteral("OUTPUT_RESIDUAL"),
                                                           QObject::tr("Reconstruction RMSE"),
                                                           QVariant(), true, false));
}

bool FclsAlgorithm::prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                                     QgsProcessingFeedback* feedback) {
  input_ = rasterInput(parameters, QStringLiteral("INPUT"), context);
  bands_ = spectralBandSelection(parameters, QStringLiteral("BANDS"), context, input_, feedback);
  requireMultiBand(input_, bands_, QStringLiteral("BANDS"));
  endmemberPath_ = parameterAsFile(parameters, QStringLiteral("ENDMEMBERS"), context);
  threads_ = threadsParameter(parameters, context);
  constraints_ = dequnmix::parseAbundanceMethod(
      parameterAsEnumString(parameters, QStringLiteral("METHOD"), context).toStdString());
  return true;
}

QVariantMap FclsAlgorithm::processAlgorithm(const QVariantMap& parameters,
                                            QgsProcessingContext& context,
                                            QgsProcessingFeedback* feedback) {
  const AbundanceOutputPaths paths = abundanceOutputPaths(parameters, context);
  checkAbundanceOutputs(paths, input_, QStringLiteral("ENDMEMBERS"), endmemberPath_);
  const auto& [outputPath, residualPath] = paths;
  const dequnmix::EndmemberTable table = readEndmemberTable(feedback);
  FeedbackProgress progress(feedback);
  checkEndmembers(table, QStringLiteral("ENDMEMBERS"), progress, false);
  try {
    const int threads = dequnmix::setThreadCount(threads_);  // on the worker thread
    GdalRasterReader reader(input_.gdalPath, bands_,
                            QStringLiteral("INPUT (%1)").arg(input_.layerName).toStdString());
    reader.readZeroPixelsAsNodata();
    const dequnmix::ValueSummary values = reader.sampledValues();
    checkSceneValues(values, progress);
    checkScale(values.rms(),
               dequnmix::rmsOf(table.values.data(), static_cast<int64_t>(table.values.size())),
               QStringLiteral("the ENDMEMBERS spectra"), progress);
    dequnmix::FclsOptions options;
    options.constraints = constraints_;
    const dequnmix::FclsSolver solver(table.values, table.bands, table.endmembers(), options);
    const Georeference geo = reader.georeference();
    GdalRasterWriter abundanceWriter(outputPath.toStdString(), reader.width(), reader.height(),
                                     table.names, geo, kOutputNoData);
    const std::unique_ptr<GdalRasterWriter> residualWriter =
        residualWriterFor(residualPath.toStdString(), reader.width(), reader.height(), geo);
    const int64_t valid =
        unmix(reader, solver, table, abundanceWriter, residualWriter.get(), progress);
    abundanceWriter.finish();
    if (residualWriter) residualWriter->finish();
    abundanceWriter.commit();
    if (residualWriter) residualWriter->commit();
    progress.info("FCLS: " + std::to_string(valid) + " valid pixels of " +
                  std::to_string(reader.gridPixelCount()) + " unmixed into " +
                  std::to_string(table.endmembers()) + " endmembers (" + std::to_string(threads) +
                  " threads)");
  } catch (...) {
    rethrowAsProcessingException();
  }
  QVariantMap results;
  results.insert(QStringLiteral("OUTPUT"), outputPath);
  if (!residualPath.isEmpty()) results.insert(QStringLiteral("OUTPUT_RESIDUAL"), residualPath);
  return results;
}

// ENDMEMBERS, checked against the bands used.
dequnmix::EndmemberTable FclsAlgorithm::readEndmemberTable(QgsProcessingFeedback* feedback) const {
  dequnmix::EndmemberTable table =
      spectraForBands(readEndmembers(endmemberPath_, QStringLiteral("ENDMEMBERS")),
                      QStringLiteral("ENDMEMBERS"), input_, bands_, feedback);
  if (table.endmembers() < 2) {
    fail(QObject::tr("ENDMEMBERS has %1 endmember column(s); unmixing needs at least 2.")
             .arg(table.endmembers()));
  }
  return table;
}

// FCLS over every block of valid pixels, the abundances (and the RMSE when a residual
// writer is given) assembled into rows; returns the valid pixel count.
int64_t FclsAlgorithm::unmix(GdalRasterReader& reader, const dequnmix::FclsSolver& solver,
                             const dequnmix::EndmemberTable& table,
                             GdalRasterWriter& abundanceWriter, GdalRasterWriter* residualWriter,
                             FeedbackProgress& progress) {
  const int p = table.endmembers();
  RowAssembler abundanceRows(abundanceWriter, reader.rowsPerTile());
  std::unique_ptr<RowAssembler> residualRows;
  if (residualWriter) {
    residualRows = std::make_unique<RowAssembler>(*residualWriter, reader.rowsPerTile());
  }
  std::vector<float> abundances;
  std::vector<float> rmse;
  int64_t valid = 0;
  reader.scan(
      [&](const dequnmix::PixelBlock& block) {
        abundances.resize(static_cast<size_t>(block.count) * p);
        solver.unmix(block.values, block.count, abundances.data());
        abundanceRows.add(block.indices, abundances.data(), block.count);
        if (residualRows) {
          rmse.resize(static_cast<size_t>(block.count));
          dequnmix::reconstructionRmse(table.values, table.bands, p, block.values,
                                       abundances.data(), block.count, rmse.data());
          residualRows->add(block.indices, rmse.data(), block.count);
        }
        valid += block.count;
      },
      &progress);
  throwIfCanceled(&progress);
  abundanceRows.finish();
  if (residualRows) residualRows->finish();
  return valid;
}

}  // namespace dequnmix::processing
