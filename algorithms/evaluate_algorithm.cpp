#include "algorithms/evaluate_algorithm.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include <QFile>
#include <QTextStream>

#include <qgsprocessingoutputs.h>
#include <qgsprocessingparameters.h>

#include "algorithms/evaluation_report.h"
#include "algorithms/gdal_raster.h"
#include "core/io/endmember_table.h"
#include "core/metrics/metrics.h"

namespace dequnmix::processing {

QString EvaluateAlgorithm::name() const { return QStringLiteral("evaluate"); }

QString EvaluateAlgorithm::displayName() const { return QObject::tr("Evaluate unmixing"); }

QStringList EvaluateAlgorithm::tags() const {
  return QObject::tr(
             "evaluate,metrics,accuracy,rmse,armse,sad,msad,spectral angle,abundance,"
             "endmember,reference,ground truth,unmixing")
      .split(',');
}

QString EvaluateAlgorithm::group() const { return QObject::tr("Evaluation"); }

QString EvaluateAlgorithm::groupId() const { return QStringLiteral("evaluation"); }

QString EvaluateAlgorithm::shortDescription() const {
  return QObject::tr(
      "Compares estimated abundances and endmembers with a reference (aRMSE, mSAD).");
}

QString EvaluateAlgorithm::shortHelpString() const {
  return QObject::tr(
      "Compares an unmixing result with a reference, with the metrics of the unmixing "
      "literature. Estimated endmembers are matched to reference endmembers by the assignment "
      "(Hungarian method) that minimises the total spectral angle when both endmember CSVs are "
      "given, otherwise the total abundance squared error; the same matching applies to the "
      "abundance bands. Pixels that are nodata in either abundance raster are excluded.\n\n"
      "Parameters\n"
      "- ABUNDANCES: estimated abundance raster, one band per endmember.\n"
      "- REFERENCE_ABUNDANCES: reference abundance raster of the same size and band count.\n"
      "- ENDMEMBERS: optional estimated endmember spectra (CSV), in the band order of "
      "ABUNDANCES.\n"
      "- REFERENCE_ENDMEMBERS: optional reference endmember spectra (CSV), in the band order "
      "of REFERENCE_ABUNDANCES, with as many rows (bands) as ENDMEMBERS.\n\n"
      "Outputs\n"
      "- MSAD_RAD, MSAD_DEG: mean spectral angle between matched endmembers, in radians and "
      "degrees. Only defined when ENDMEMBERS and REFERENCE_ENDMEMBERS are both given; "
      "otherwise NaN (null in JSON).\n"
      "- ARMSE: abundance RMSE, sqrt(mean over valid pixels and endmembers of (a - a_ref)^2).\n"
      "- ARMSE_MEAN_PER_ENDMEMBER: mean over endmembers of each endmember's abundance RMSE.\n"
      "- OUTPUT_TABLE: optional CSV with one row per estimated endmember: endmember, "
      "reference (its match), sad_rad, sad_deg (empty without spectra) and rmse.\n"
      "- OUTPUT_REPORT: optional self-contained HTML report: per matched endmember the "
      "estimated, reference and absolute-difference maps side by side and the two spectra "
      "overlaid with their SAD, and the table of the metrics.");
}

EvaluateAlgorithm* EvaluateAlgorithm::createInstance() const { return new EvaluateAlgorithm(); }

void EvaluateAlgorithm::initAlgorithm(const QVariantMap&) {
  addParameter(new QgsProcessingParameterRasterLayer(QStringLiteral("ABUNDANCES"),
                                                     QObject::tr("Estimated abundances")));
  addParameter(new QgsProcessingParameterRasterLayer(QStringLiteral("REFERENCE_ABUNDANCES"),
                                                     QObject::tr("Reference abundances")));
  addParameter(new QgsProcessingParameterFile(
      QStringLiteral("ENDMEMBERS"), QObject::tr("Estimated endmembers (CSV)"),
      QgsProcessingParameterFile::File, QString(), QVariant(), true, spectraFileFilter()));
  addParameter(new QgsProcessingParameterFile(
      QStringLiteral("REFERENCE_ENDMEMBERS"),
      QObject::tr("Reference endmembers (CSV or ENVI library)"), QgsProcessingParameterFile::File,
      QString(), QVariant(), true, spectraFileFilter()));
  addParameter(new QgsProcessingParameterFileDestination(
      QStringLiteral("OUTPUT_TABLE"), QObject::tr("Per-endmember metrics"),
      QObject::tr("CSV files (*.csv)"), QVariant(), true, false));
  addParameter(new QgsProcessingParameterFileDestination(
      QStringLiteral("OUTPUT_REPORT"), QObject::tr("Evaluation report"),
      QObject::tr("HTML files (*.html)"), QVariant(), true, false));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("MSAD_RAD"),
                                          QObject::tr("Mean spectral angle (radians)")));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("MSAD_DEG"),
                                          QObject::tr("Mean spectral angle (degrees)")));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("ARMSE"), QObject::tr("Abundance RMSE")));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("ARMSE_MEAN_PER_ENDMEMBER"),
                                          QObject::tr("Mean per-endmember abundance RMSE")));
}

bool EvaluateAlgorithm::prepareAlgorithm(const QVariantMap& parameters,
                                         QgsProcessingContext& context, QgsProcessingFeedback*) {
  estimated_ = rasterInput(parameters, QStringLiteral("ABUNDANCES"), context);
  reference_ = rasterInput(parameters, QStringLiteral("REFERENCE_ABUNDANCES"), context);
  endmemberPath_ = parameterAsFile(parameters, QStringLiteral("ENDMEMBERS"), context);
  referenceEndmemberPath_ =
      parameterAsFile(parameters, QStringLiteral("REFERENCE_ENDMEMBERS"), context);
  if (estimated_.width != reference_.width || estimated_.height != reference_.height) {
    fail(QObject::tr("ABUNDANCES is %1 x %2 pixels but REFERENCE_ABUNDANCES is %3 x %4. Both "
                     "must cover the same pixel grid.")
             .arg(estimated_.width)
             .arg(estimated_.height)
             .arg(reference_.width)
             .arg(reference_.height));
  }
  if (estimated_.bandCount != reference_.bandCount) {
    fail(QObject::tr("ABUNDANCES has %1 bands (endmembers) but REFERENCE_ABUNDANCES has %2. "
                     "Estimate as many endmembers as the reference has.")
             .arg(estimated_.bandCount)
             .arg(reference_.bandCount));
  }
  if (estimated_.bandCount < 2) {
    fail(QObject::tr("ABUNDANCES (%1) has a single band; an abundance raster has one band per "
                     "endmember and at least 2.")
             .arg(estimated_.layerName));
  }
  return true;
}

// Endmember spectra of the estimate and the reference: matching by spectral angle (and
// mSAD) needs both.
struct EvaluateAlgorithm::Spectra {
  bool given = false;
  dequnmix::EndmemberTable estimated;
  dequnmix::EndmemberTable reference;
};

// The comparison: estimated endmember e is matched to reference referenceOf[e].
struct EvaluateAlgorithm::Evaluation {
  bool bySpectra = false;
  std::vector<std::string> estimatedNames;
  std::vector<std::string> referenceNames;
  std::vector<int> referenceOf;
  dequnmix::EndmemberMatch match;  // bySpectra only
  std::vector<double> rmse;        // per estimated endmember
  double armse = 0;
  double armseMean = 0;
  double msadRad = 0;
  double msadDeg = 0;
};

namespace {

// A raster's band descriptions, the empty ones named after the spectra when given, else
// prefix1, prefix2, ...
std::vector<std::string> endmemberNames(std::vector<std::string> names, int p,
                                        const dequnmix::EndmemberTable* spectra,
                                        const std::string& prefix) {
  for (int e = 0; e < p; ++e) {
    if (names[e].empty()) names[e] = spectra ? spectra->names[e] : prefix + std::to_string(e + 1);
  }
  return names;
}

// Adds every pixel valid in both rasters, strip by strip.
void accumulateErrors(const GdalRasterReader& estimated, const GdalRasterReader& reference, int p,
                      dequnmix::AbundanceErrorAccumulator& errors, FeedbackProgress& progress) {
  const int width = estimated.width();
  const int height = estimated.height();
  const int tileRows = defaultRowsPerTile(width, 2 * p);
  std::vector<float> a(static_cast<size_t>(tileRows) * width * p);
  std::vector<float> r(a.size());
  std::vector<uint8_t> validA(static_cast<size_t>(tileRows) * width);
  std::vector<uint8_t> validR(validA.size());
  for (int row0 = 0; row0 < height; row0 += tileRows) {
    throwIfCanceled(&progress);
    const int rows = std::min(tileRows, height - row0);
    estimated.readRows(row0, rows, a.data(), validA.data());
    reference.readRows(row0, rows, r.data(), validR.data());
    const int64_t n = int64_t{rows} * width;
    int64_t k = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (!validA[i] || !validR[i]) continue;
      if (k != i) {
        std::copy_n(&a[i * p], p, &a[k * p]);
        std::copy_n(&r[i * p], p, &r[k * p]);
      }
      ++k;
    }
    if (k > 0) errors.add(a.data(), r.data(), k);
    progress.setProgress(0.95 * (row0 + rows) / height);
  }
}

// The errors of the chosen matching; mSAD is NaN without spectra.
void computeMetrics(const dequnmix::AbundanceErrorAccumulator& errors,
                    EvaluateAlgorithm::Evaluation& ev) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ev.armse = errors.armse(ev.referenceOf);
  ev.armseMean = errors.armseMeanPerEndmember(ev.referenceOf);
  ev.rmse = errors.rmsePerEndmember(ev.referenceOf);
  ev.msadRad = ev.bySpectra ? ev.match.msadRad : nan;
  ev.msadDeg = ev.bySpectra ? ev.match.msadDeg : nan;
}

// OUTPUT_TABLE's CSV, written to `path` (the staged file); `tablePath` names it in messages.
void writeMetricTable(const std::string& path, const QString& tablePath,
                      const EvaluateAlgorithm::Evaluation& ev) {
  QFile file(QString::fromStdString(path));
  if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) {
    fail(QObject::tr("Cannot write OUTPUT_TABLE '%1' (%2). Choose a writable output path.")
             .arg(tablePath, file.errorString()));
  }
  QTextStream out(&file);
  out.setRealNumberPrecision(8);
  out << "endmember,reference,sad_rad,sad_deg,rmse\n";
  for (size_t e = 0; e < ev.referenceOf.size(); ++e) {
    out << QString::fromStdString(ev.estimatedNames[e]) << ','
        << QString::fromStdString(ev.referenceNames[ev.referenceOf[e]]) << ',';
    if (ev.bySpectra) {
      out << ev.match.sadRad[e] << ',' << ev.match.sadRad[e] * 180.0 / M_PI;
    } else {
      out << ',';
    }
    out << ',' << ev.rmse[e] << '\n';
  }
  out.flush();
  file.close();
  if (file.error() != QFileDevice::NoError) {
    fail(QObject::tr("Cannot write OUTPUT_TABLE '%1' (%2). Choose a writable output path.")
             .arg(tablePath, file.errorString()));
  }
}

// One message per endmember, then the summary.
void reportMetrics(const EvaluateAlgorithm::Evaluation& ev, FeedbackProgress& progress) {
  for (size_t e = 0; e < ev.referenceOf.size(); ++e) {
    QString line = QObject::tr("%1 -> %2: RMSE %3")
                       .arg(QString::fromStdString(ev.estimatedNames[e]),
                            QString::fromStdString(ev.referenceNames[ev.referenceOf[e]]))
                       .arg(ev.rmse[e], 0, 'g', 6);
    if (ev.bySpectra) line += QObject::tr(", SAD %1 rad").arg(ev.match.sadRad[e], 0, 'g', 6);
    progress.info(line.toStdString());
  }
  progress.info(QObject::tr("mSAD %1 rad (%2 deg), aRMSE %3, per-endmember mean %4")
                    .arg(ev.msadRad, 0, 'g', 6)
                    .arg(ev.msadDeg, 0, 'g', 6)
                    .arg(ev.armse, 0, 'g', 6)
                    .arg(ev.armseMean, 0, 'g', 6)
                    .toStdString());
}

}  // namespace

QVariantMap EvaluateAlgorithm::processAlgorithm(const QVariantMap& parameters,
                                                QgsProcessingContext& context,
                                                QgsProcessingFeedback* feedback) {
  const QString tablePath =
      parameterAsFileOutput(parameters, QStringLiteral("OUTPUT_TABLE"), context);
  const QString reportPath =
      parameterAsFileOutput(parameters, QStringLiteral("OUTPUT_REPORT"), context);
  const int p = estimated_.bandCount;
  OutputCheck check;
  addInput(check, estimated_);
  addInput(check, reference_);
  addInput(check, QStringLiteral("ENDMEMBERS"), endmemberPath_);
  addInput(check, QStringLiteral("REFERENCE_ENDMEMBERS"), referenceEndmemberPath_);
  check.addOutput("OUTPUT_TABLE", tablePath.toStdString(), {".csv"});
  check.addOutput("OUTPUT_REPORT", reportPath.toStdString(), {".html", ".htm"});
  checkOutputs(check);
  std::unique_ptr<StagedFile> table, report;
  try {
    if (!tablePath.isEmpty()) table = std::make_unique<StagedFile>(tablePath.toStdString());
    if (!reportPath.isEmpty()) report = std::make_unique<StagedFile>(reportPath.toStdString());
  } catch (...) {
    rethrowAsProcessingException();
  }
  FeedbackProgress progress(feedback);
  const Spectra spectra = readSpectra(p, progress);
  dequnmix::AbundanceErrorAccumulator errors(p);
  Evaluation ev;
  try {
    ev = compare(spectra, errors, progress);
  } catch (...) {
    rethrowAsProcessingException();
  }
  computeMetrics(errors, ev);
  if (table) {
    writeMetricTable(table->path(), tablePath, ev);
    try {
      table->commit();
    } catch (...) {
      rethrowAsProcessingException();
    }
  }
  try {
    if (report) {
      writeReport(*report, ev, spectra, errors.pixels());
      report->commit();
    }
  } catch (...) {
    rethrowAsProcessingException();
  }
  reportMetrics(ev, progress);
  progress.setProgress(1.0);

  QVariantMap outputs;
  outputs.insert(QStringLiteral("MSAD_RAD"), ev.msadRad);
  outputs.insert(QStringLiteral("MSAD_DEG"), ev.msadDeg);
  outputs.insert(QStringLiteral("ARMSE"), ev.armse);
  outputs.insert(QStringLiteral("ARMSE_MEAN_PER_ENDMEMBER"), ev.armseMean);
  if (!tablePath.isEmpty()) outputs.insert(QStringLiteral("OUTPUT_TABLE"), tablePath);
  if (!reportPath.isEmpty()) outputs.insert(QStringLiteral("OUTPUT_REPORT"), reportPath);
  return outputs;
}

// OUTPUT_REPORT, written into `report` (committed by the caller).
void EvaluateAlgorithm::writeReport(const StagedFile& report, const Evaluation& ev,
                                    const Spectra& spectra, int64_t pixels) const {
  EvaluationReportInput in;
  in.estimatedName = estimated_.layerName.toStdString();
  in.referenceName = reference_.layerName.toStdString();
  in.estimatedNames = ev.estimatedNames;
  in.referenceNames = ev.referenceNames;
  in.referenceOf = ev.referenceOf;
  in.rmse = ev.rmse;
  if (ev.bySpectra) in.sadRad = ev.match.sadRad;
  in.armse = ev.armse;
  in.armseMean = ev.armseMean;
  in.msadRad = ev.msadRad;
  in.pixels = pixels;
  if (spectra.given) {
    in.estimatedSpectra = &spectra.estimated;
    in.referenceSpectra = &spectra.reference;
  }
  in.estimated = readAbundanceMaps(estimated_.gdalPath, "ABUNDANCES");
  in.reference = readAbundanceMaps(reference_.gdalPath, "REFERENCE_ABUNDANCES");
  writeStagedText(report, evaluationReportHtml(in));
}

// Both endmember CSVs, checked against each other and the abundances; neither when only
// one is given (with a warning).
EvaluateAlgorithm::Spectra EvaluateAlgorithm::readSpectra(int p, FeedbackProgress& progress) const {
  const bool haveEstimated = !endmemberPath_.isEmpty();
  const bool haveReference = !referenceEndmemberPath_.isEmpty();
  Spectra s;
  s.given = haveEstimated && haveReference;
  if (haveEstimated != haveReference) {
    progress.warning(
        QObject::tr("Only one of ENDMEMBERS and REFERENCE_ENDMEMBERS was given: the spectral "
                    "angle needs both, so endmembers are matched by abundance error and "
                    "MSAD_RAD/MSAD_DEG are NaN.")
            .toStdString());
  }
  if (!s.given) return s;
  s.estimated = readEndmembers(endmemberPath_, QStringLiteral("ENDMEMBERS"));
  s.reference = readEndmembers(referenceEndmemberPath_, QStringLiteral("REFERENCE_ENDMEMBERS"));
  checkEndmembers(s.estimated, QStringLiteral("ENDMEMBERS"), progress, false);
  checkEndmembers(s.reference, QStringLiteral("REFERENCE_ENDMEMBERS"), progress, false);
  if (s.estimated.endmembers() != p) {
    fail(QObject::tr("ENDMEMBERS has %1 endmembers but ABUNDANCES has %2 bands. Give the "
                     "spectra that produced these abundances.")
             .arg(s.estimated.endmembers())
             .arg(p));
  }
  if (s.reference.endmembers() != p) {
    fail(QObject::tr("REFERENCE_ENDMEMBERS has %1 endmembers but REFERENCE_ABUNDANCES has %2 "
                     "bands. Give the reference spectra of these abundances.")
             .arg(s.reference.endmembers())
             .arg(p));
  }
  if (s.estimated.bands != s.reference.bands) {
    fail(QObject::tr("ENDMEMBERS has %1 bands (rows) but REFERENCE_ENDMEMBERS has %2. Both "
                     "must describe the same bands.")
             .arg(s.estimated.bands)
             .arg(s.reference.bands));
  }
  return s;
}

// One pass over both abundance rasters into `errors`, then the matching: by spectral angle
// when the spectra are given, else by the least abundance error.
EvaluateAlgorithm::Evaluation EvaluateAlgorithm::compare(
    const Spectra& s, dequnmix::AbundanceErrorAccumulator& errors,
    FeedbackProgress& progress) const {
  const int p = estimated_.bandCount;
  GdalRasterReader estimated(
      estimated_.gdalPath, {},
      QStringLiteral("ABUNDANCES (%1)").arg(estimated_.layerName).toStdString());
  GdalRasterReader reference(
      reference_.gdalPath, {},
      QStringLiteral("REFERENCE_ABUNDANCES (%1)").arg(reference_.layerName).toStdString());
  Evaluation ev;
  ev.bySpectra = s.given;
  ev.estimatedNames = endmemberNames(estimated.bandDescriptions(), p,
                                     s.given ? &s.estimated : nullptr, "endmember_");
  ev.referenceNames = endmemberNames(reference.bandDescriptions(), p,
                                     s.given ? &s.reference : nullptr, "reference_");
  accumulateErrors(estimated, reference, p, errors, progress);
  if (errors.pixels() == 0) {
    fail(
        QObject::tr("No pixel is valid in both ABUNDANCES and REFERENCE_ABUNDANCES (every "
                    "pixel is nodata in one of them). Check their nodata values and that "
                    "they cover the same scene."));
  }
  if (s.given) {
    ev.match =
        dequnmix::matchEndmembers(s.estimated.values, s.reference.values, s.estimated.bands, p);
    ev.referenceOf = ev.match.referenceOf;
  } else {
    ev.referenceOf = errors.bestMatch();
  }
  progress.info("Evaluated " + std::to_string(errors.pixels()) + " valid pixels of " +
                std::to_string(estimated.gridPixelCount()) + "; matching by " +
                (s.given ? "spectral angle" : "abundance error"));
  return ev;
}

}  // namespace dequnmix::processing
