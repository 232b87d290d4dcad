#include "algorithms/ppi_algorithm.h"

#include <limits>
#include <string>

#include <qgsprocessingparameters.h>

#include "algorithms/gdal_raster.h"
#include "algorithms/output_files.h"

namespace dequnmix::processing {

QString PpiAlgorithm::name() const { return QStringLiteral("ppi"); }

QString PpiAlgorithm::displayName() const { return QObject::tr("Pixel purity index (PPI)"); }

QStringList PpiAlgorithm::tags() const {
  return QObject::tr("ppi,pixel purity index,pure pixel,skewer,endmember,hyperspectral").split(',');
}

QString PpiAlgorithm::group() const { return QObject::tr("Endmembers"); }

QString PpiAlgorithm::groupId() const { return QStringLiteral("endmembers"); }

QString PpiAlgorithm::shortDescription() const {
  return QObject::tr("Counts how often each pixel is extreme along random directions.");
}

QString PpiAlgorithm::shortHelpString() const {
  const dequnmix::PpiOptions d;
  return QObject::tr(
             "Pixel purity index (Boardman et al., 1995): the pixels are projected on the "
             "leading principal directions, then on random unit vectors (skewers); each skewer "
             "counts one for the pixel at either end. Pure pixels collect the counts; pick "
             "endmember candidates where the count is high.\n\n"
             "Parameters\n"
             "- INPUT, BANDS, BAD_BANDS: as in 'Extract endmembers (VCA, N-FINDR)'.\n"
             "- SKEWERS: random directions (default %1).\n"
             "- DIMENSIONS (advanced): principal directions kept (default 0: the signal "
             "dimension HySime estimates).\n"
             "- SEED: seed of the skewers (default %2).\n\n"
             "Outputs\n"
             "- OUTPUT: single-band Float32 raster of the counts (nodata where the input is).")
      .arg(d.skewers)
      .arg(static_cast<qulonglong>(d.seed));
}

PpiAlgorithm* PpiAlgorithm::createInstance() const { return new PpiAlgorithm(); }

void PpiAlgorithm::initAlgorithm(const QVariantMap&) {
  const dequnmix::PpiOptions d;
  using Number = QgsProcessingParameterNumber;
  addParameter(new QgsProcessingParameterRasterLayer(QStringLiteral("INPUT"),
                                                     QObject::tr("Hyperspectral raster")));
  addBandParameters(QStringLiteral("INPUT"));
  addParameter(ranged(new Number(QStringLiteral("SKEWERS"), QObject::tr("Skewers"), Number::Integer,
                                 d.skewers, false, 1, 1000000)));
  addParameter(advanced(ranged(new Number(QStringLiteral("DIMENSIONS"),
                                          QObject::tr("Principal directions (0 = HySime's)"),
                                          Number::Integer, d.dimensions, false, 0, 1000))));
  addParameter(ranged(new Number(QStringLiteral("SEED"), QObject::tr("Random seed"),
                                 Number::Integer, static_cast<qlonglong>(d.seed), false, 0,
                                 std::numeric_limits<int>::max())));
  addParameter(new QgsProcessingParameterRasterDestination(QStringLiteral("OUTPUT"),
                                                           QObject::tr("PPI counts")));
}

bool PpiAlgorithm::prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                                    QgsProcessingFeedback* feedback) {
  input_ = rasterInput(parameters, QStringLiteral("INPUT"), context);
  bands_ = spectralBandSelection(parameters, QStringLiteral("BANDS"), context, input_, feedback);
  requireMultiBand(input_, bands_, QStringLiteral("BANDS"));
  options_.skewers = parameterAsInt(parameters, QStringLiteral("SKEWERS"), context);
  options_.dimensions = parameterAsInt(parameters, QStringLiteral("DIMENSIONS"), context);
  options_.seed = static_cast<uint64_t>(
      std::max(0, parameterAsInt(parameters, QStringLiteral("SEED"), context)));
  if (options_.dimensions >= usedBandCount(input_, bands_))
    fail(QObject::tr("DIMENSIONS is %1 but must be fewer than the %2 bands used (0 = HySime's).")
             .arg(options_.dimensions)
             .arg(usedBandCount(input_, bands_)));
  return true;
}

QVariantMap PpiAlgorithm::processAlgorithm(const QVariantMap& parameters,
                                           QgsProcessingContext& context,
                                           QgsProcessingFeedback* feedback) {
  const QString outputPath = parameterAsOutputLayer(parameters, QStringLiteral("OUTPUT"), context);
  OutputCheck check;
  addInput(check, input_);
  check.addOutput("OUTPUT", outputPath.toStdString());
  checkOutputs(check);
  FeedbackProgress progress(feedback);
  try {
    GdalRasterReader reader(input_.gdalPath, bands_,
                            QStringLiteral("INPUT (%1)").arg(input_.layerName).toStdString());
    reader.readZeroPixelsAsNodata();
    const dequnmix::PpiResult r = dequnmix::pixelPurityIndex(reader, options_, &progress);
    progress.info("PPI: " + std::to_string(options_.skewers) + " skewers in " +
                  std::to_string(r.dimensions) + " principal directions");
    std::vector<float> counts(r.counts.size());
    for (size_t i = 0; i < counts.size(); ++i)
      counts[i] = r.counts[i] < 0 ? kOutputNoData : static_cast<float>(r.counts[i]);
    GdalRasterWriter writer(outputPath.toStdString(), reader.width(), reader.height(),
                            {"ppi_count"}, reader.georeference(), kOutputNoData);
    writer.writeBandSequential(counts.data());
    writer.commit();
  } catch (...) {
    rethrowAsProcessingException();
  }
  return {{QStringLiteral("OUTPUT"), outputPath}};
}

}  // namespace dequnmix::processing
