#include "algorithms/estimate_endmembers_algorithm.h"

#include <cstdio>
#include <string>

#include <qgsprocessingoutputs.h>
#include <qgsprocessingparameters.h>

#include "algorithms/gdal_raster.h"
#include "algorithms/output_files.h"
#include "core/errors.h"

namespace dequnmix::processing {

namespace {

// One row per component: the eigen-analysis behind each method's count.
std::string eigenTable(const dequnmix::EndmemberCountEstimate& e) {
  std::string text =
      "component,signal_eigenvalue,hysime_criterion,correlation_eigenvalue,"
      "covariance_eigenvalue,hfc_threshold,nwhfc_difference,nwhfc_threshold\n";
  char line[512];
  for (size_t k = 0; k < e.signalEigenvalues.size(); ++k) {
    std::snprintf(line, sizeof line, "%zu,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", k + 1,
                  e.signalEigenvalues[k], e.hysimeCriterion[k], e.correlationEigenvalues[k],
                  e.covarianceEigenvalues[k], e.hfcThreshold[k], e.whitenedDifference[k],
                  e.nwhfcThreshold[k]);
    text += line;
  }
  return text;
}

}  // namespace

QString EstimateEndmembersAlgorithm::name() const { return QStringLiteral("estimate_endmembers"); }

QString EstimateEndmembersAlgorithm::displayName() const {
  return QObject::tr("Estimate the number of endmembers");
}

QStringList EstimateEndmembersAlgorithm::tags() const {
  return QObject::tr(
             "hysime,hfc,nwhfc,virtual dimensionality,vd,signal subspace,endmember,number,"
             "hyperspectral,unmixing")
      .split(',');
}

QString EstimateEndmembersAlgorithm::group() const { return QObject::tr("Endmembers"); }

QString EstimateEndmembersAlgorithm::groupId() const { return QStringLiteral("endmembers"); }

QString EstimateEndmembersAlgorithm::shortDescription() const {
  return QObject::tr("Estimates how many materials a hyperspectral raster holds.");
}

QString EstimateEndmembersAlgorithm::shortHelpString() const {
  return QObject::tr(
             "Estimates the number of endmembers from the scene's band statistics, in one pass: "
             "the Harsanyi-Farrand-Chang virtual dimensionality, noise-whitened (NWHFC; "
             "default) or plain (HFC), and HySime (Bioucas-Dias and Nascimento, 2008). NWHFC came "
             "closest on scenes with library spectra, varying brightness, variability and on "
             "real data; HySime counts the signal subspace, which those widen (dozens on a "
             "three-material scene), and is exact only on plain linear mixtures. HFC and NWHFC "
             "count a material by its share of the scene's mean, so one covering a few percent "
             "of the scene can go uncounted.\n\n"
             "Parameters\n"
             "- INPUT, BANDS, BAD_BANDS: as in 'Extract endmembers (VCA)'.\n"
             "- METHOD: the estimate given as ENDMEMBERS (hysime, hfc or nwhfc; default "
             "nwhfc, the estimate behind ENDMEMBERS = 0 elsewhere). Every method's count is "
             "output either way.\n"
             "- FALSE_ALARM (advanced): false-alarm probability of HFC and NWHFC (default "
             "%1).\n\n"
             "Outputs\n"
             "- ENDMEMBERS: the chosen method's estimate; HYSIME, HFC, NWHFC: each method's.\n"
             "- OUTPUT_TABLE: optional CSV of the eigen-analysis, one row per component.")
      .arg(dequnmix::EndmemberCountOptions{}.falseAlarm);
}

EstimateEndmembersAlgorithm* EstimateEndmembersAlgorithm::createInstance() const {
  return new EstimateEndmembersAlgorithm();
}

void EstimateEndmembersAlgorithm::initAlgorithm(const QVariantMap&) {
  addParameter(new QgsProcessingParameterRasterLayer(QStringLiteral("INPUT"),
                                                     QObject::tr("Hyperspectral raster")));
  addBandParameters(QStringLiteral("INPUT"));
  addParameter(
      namedChoice("METHOD", QObject::tr("Method"), dequnmix::endmemberCountMethodNames(),
                  dequnmix::endmemberCountMethodNames()[int(dequnmix::kUnmixingCountMethod)]));
  auto* falseAlarm = new QgsProcessingParameterNumber(
      QStringLiteral("FALSE_ALARM"), QObject::tr("False-alarm probability (HFC, NWHFC)"),
      QgsProcessingParameterNumber::Double, dequnmix::EndmemberCountOptions{}.falseAlarm, false,
      1e-12, 0.49);
  addParameter(advanced(ranged(falseAlarm)));
  addParameter(new QgsProcessingParameterFileDestination(
      QStringLiteral("OUTPUT_TABLE"), QObject::tr("Eigen-analysis"),
      QObject::tr("CSV files (*.csv)"), QVariant(), true, false));
  for (const char* id : {"ENDMEMBERS", "HYSIME", "HFC", "NWHFC"})
    addOutput(new QgsProcessingOutputNumber(QString::fromLatin1(id),
                                            QObject::tr("Number of endmembers (%1)").arg(id)));
}

bool EstimateEndmembersAlgorithm::prepareAlgorithm(const QVariantMap& parameters,
                                                   QgsProcessingContext& context,
                                                   QgsProcessingFeedback* feedback) {
  input_ = rasterInput(parameters, QStringLiteral("INPUT"), context);
  bands_ = spectralBandSelection(parameters, QStringLiteral("BANDS"), context, input_, feedback);
  requireMultiBand(input_, bands_, QStringLiteral("BANDS"));
  method_ = dequnmix::parseEndmemberCountMethod(
      parameterAsEnumString(parameters, QStringLiteral("METHOD"), context).toStdString());
  options_.falseAlarm = parameterAsDouble(parameters, QStringLiteral("FALSE_ALARM"), context);
  try {
    options_.validate();
  } catch (const dequnmix::Error& e) {
    fail(QStringLiteral("FALSE_ALARM: ") + QString::fromStdString(e.what()));
  }
  return true;
}

QVariantMap EstimateEndmembersAlgorithm::processAlgorithm(const QVariantMap& parameters,
                                                          QgsProcessingContext& context,
                                                          QgsProcessingFeedback* feedback) {
  const QString tablePath =
      parameterAsFileOutput(parameters, QStringLiteral("OUTPUT_TABLE"), context);
  OutputCheck check;
  addInput(check, input_);
  if (!tablePath.isEmpty()) check.addOutput("OUTPUT_TABLE", tablePath.toStdString(), {".csv"});
  checkOutputs(check);
  FeedbackProgress progress(feedback);
  QVariantMap outputs;
  try {
    GdalRasterReader reader(input_.gdalPath, bands_,
                            QStringLiteral("INPUT (%1)").arg(input_.layerName).toStdString());
    reader.readZeroPixelsAsNodata();
    const dequnmix::EndmemberCountEstimate e =
        dequnmix::estimateEndmemberCount(dequnmix::bandMoments(reader, &progress), options_);
    throwIfCanceled(&progress);
    if (!tablePath.isEmpty()) writeTextFileAtomically(tablePath.toStdString(), eigenTable(e));
    progress.info("Estimated endmembers: HySime " + std::to_string(e.hysime) + ", HFC " +
                  std::to_string(e.hfc) + ", NWHFC " + std::to_string(e.nwhfc) +
                  " (false-alarm probability " + std::to_string(options_.falseAlarm) + ")");
    outputs.insert(QStringLiteral("ENDMEMBERS"), e.count(method_));
    outputs.insert(QStringLiteral("HYSIME"), e.hysime);
    outputs.insert(QStringLiteral("HFC"), e.hfc);
    outputs.insert(QStringLiteral("NWHFC"), e.nwhfc);
  } catch (...) {
    rethrowAsProcessingException();
  }
  if (!tablePath.isEmpty()) outputs.insert(QStringLiteral("OUTPUT_TABLE"), tablePath);
  return outputs;
}

}  // namespace dequnmix::processing
