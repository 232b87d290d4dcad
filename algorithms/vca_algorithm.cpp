#include "algorithms/vca_algorithm.h"

#include <limits>
#include <memory>

#include <qgsfeature.h>
#include <qgsfeaturesink.h>
#include <qgsfields.h>
#include <qgsgeometry.h>
#include <qgspoint.h>
#include <qgsprocessingparameters.h>

#include "algorithms/gdal_raster.h"
#include "core/classical/endmember_count.h"
#include "core/classical/nfindr.h"
#include "core/classical/vca.h"
#include "core/io/endmember_table.h"
#include "core/io/spectral_library.h"
#include "core/runtime.h"

namespace dequnmix::processing {

QString VcaAlgorithm::name() const { return QStringLiteral("vca"); }

QString VcaAlgorithm::displayName() const {
  return QObject::tr("Extract endmembers (VCA, N-FINDR)");
}

QStringList VcaAlgorithm::tags() const {
  return QObject::tr(
             "vca,vertex component analysis,n-findr,nfindr,simplex volume,endmember,extraction,"
             "pure pixel,hyperspectral,unmixing,spectra")
      .split(',');
}

QString VcaAlgorithm::group() const { return QObject::tr("Endmembers"); }

QString VcaAlgorithm::groupId() const { return QStringLiteral("endmembers"); }

QString VcaAlgorithm::shortDescription() const {
  return QObject::tr("Extracts endmember spectra from a hyperspectral raster with VCA.");
}

QString VcaAlgorithm::shortHelpString() const {
  const dequnmix::VcaOptions d;
  return QObject::
      tr("Extracts endmember spectra under the pure-pixel assumption, picking the pixels at "
         "the vertices of the data simplex: vertex component analysis (Nascimento and "
         "Bioucas-Dias, 2005; deterministic for a seed) or N-FINDR (Winter, 1999: the "
         "pixels spanning the largest simplex volume; deterministic). The raster is read tile by "
         "tile; nodata pixels (nodata or NaN in any selected band, or 0 in every band: fill) are "
         "ignored.\n\n"
         "Parameters\n"
         "- INPUT: the hyperspectral raster (any raster GDAL reads, at least 2 bands).\n"
         "- BANDS: optional subset of bands to use, typed as 1,2,3 or 1;2;3 or ranges such as "
         "1-40 (default: all bands).\n"
         "- BAD_BANDS (advanced): wavelength ranges in nm to drop from them, such as "
         "1340-1450;1790-1960;2450-2500, or auto (the raster's ENVI bbl list, else those "
         "water-vapour windows); needs band wavelengths (ENVI header, band metadata or "
         "descriptions).\n"
         "- ENDMEMBERS: number of endmembers to extract (default %1); at least 2 and fewer "
         "than the number of bands used, or 0 to estimate it with NWHFC (see 'Estimate the "
         "number of endmembers').\n"
         "- METHOD: vca or nfindr (default vca).\n"
         "- SEED: seed of VCA's random search directions (default %2).\n"
         "- THREADS (advanced): CPU threads, 0 = all cores (default 0).\n\n"
         "Outputs\n"
         "- OUTPUT_ENDMEMBERS: the endmember spectra as CSV (columns band, wavelength_nm when "
         "the raster's band metadata gives wavelengths, then endmember_1, endmember_2...; "
         "one row per band used), or an ENVI spectral library when the name ends in .sli. "
         "It is the ENDMEMBERS input of 'Abundances (FCLS, NNLS, SCLS, UCLS)'.\n"
         "- OUTPUT_LOCATIONS: optional point layer in the raster's CRS, one feature per "
         "endmember at the centre of the chosen pixel, with attributes name, row and col "
         "(0-based).")
          .arg(d.endmembers)
          .arg(static_cast<qulonglong>(d.seed));
}

VcaAlgorithm* VcaAlgorithm::createInstance() const { return new VcaAlgorithm(); }

void VcaAlgorithm::initAlgorithm(const QVariantMap&) {
  const dequnmix::VcaOptions d;
  using Number = QgsProcessingParameterNumber;
  addParameter(new QgsProcessingParameterRasterLayer(QStringLiteral("INPUT"),
                                                     QObject::tr("Hyperspectral raster")));
  addBandParameters(QStringLiteral("INPUT"));
  addParameter(ranged(new Number(QStringLiteral("ENDMEMBERS"), QObject::tr("Number of endmembers"),
                                 Number::Integer, d.endmembers, false, 0, 1000)));
  addParameter(ranged(new Number(QStringLiteral("SEED"), QObject::tr("Random seed"),
                                 Number::Integer, static_cast<qlonglong>(d.seed), false, 0,
                                 std::numeric_limits<int>::max())));
  addParameter(namedChoice("METHOD", QObject::tr("Method"), {"vca", "nfindr"}, "vca"));
  addThreadsParameter(true);
  addParameter(new QgsProcessingParameterFileDestination(
      QStringLiteral("OUTPUT_ENDMEMBERS"), QObject::tr("Endmembers"), spectraOutputFilter()));
  addParameter(new QgsProcessingParameterFeatureSink(
      QStringLiteral("OUTPUT_LOCATIONS"), QObject::tr("Endmember locations"),
      QgsProcessing::TypeVectorPoint, QVariant(), true, false));
}

bool VcaAlgorithm::prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                                    QgsProcessingFeedback* feedback) {
  input_ = rasterInput(parameters, QStringLiteral("INPUT"), context);
  bands_ = spectralBandSelection(parameters, QStringLiteral("BANDS"), context, input_, feedback);
  requireMultiBand(input_, bands_, QStringLiteral("BANDS"));
  endmembers_ = parameterAsInt(parameters, QStringLiteral("ENDMEMBERS"), context);
  const int used = usedBandCount(input_, bands_);
  if (endmembers_ != 0 && (endmembers_ < 2 || endmembers_ >= used)) {
    fail(QObject::tr("ENDMEMBERS is %1 but must be at least 2 and fewer than the %2 bands used "
                     "from INPUT (or 0 to estimate it). Lower ENDMEMBERS or use more bands.")
             .arg(endmembers_)
             .arg(used));
  }
  seed_ = parameterAsInt(parameters, QStringLiteral("SEED"), context);
  nfindr_ = parameterAsEnumString(parameters, QStringLiteral("METHOD"), context) == "nfindr";
  threads_ = threadsParameter(parameters, context);
  return true;
}

// The chosen pixels' scene indices; their spectra into `spectra` (bands x P, row-major).
std::vector<int64_t> VcaAlgorithm::extract(GdalRasterReader& reader, int endmembers,
                                           std::vector<float>& spectra,
                                           FeedbackProgress& progress) const {
  if (nfindr_) {
    dequnmix::NfindrOptions options;
    options.endmembers = endmembers;
    dequnmix::NfindrResult r = dequnmix::nfindr(reader, options, &progress);
    progress.info("N-FINDR: " + std::to_string(r.sweeps) + " replacement sweeps");
    spectra = std::move(r.spectra);
    return r.pixelIndices;
  }
  dequnmix::VcaOptions options;
  options.endmembers = endmembers;
  options.seed = static_cast<uint64_t>(std::max<qlonglong>(0, seed_));
  dequnmix::VcaResult r = dequnmix::vca(reader, options, &progress);
  progress.info("VCA: estimated SNR " + std::to_string(r.estimatedSnrDb) + " dB, " +
                (r.projective ? "projective" : "zero-mean") + " projection");
  spectra = std::move(r.spectra);
  return r.pixelIndices;
}

// OUTPUT_LOCATIONS, where asked for: a point per endmember at its pixel's centre. Returns
// the sink's id, empty where the output was not asked for.
QString VcaAlgorithm::writeLocations(const QVariantMap& parameters, QgsProcessingContext& context,
                                     const std::vector<std::string>& names,
                                     const std::vector<int64_t>& pixelIndices) const {
  QgsFields fields;
  fields.append(QgsField(QStringLiteral("name"), QVariant::String));
  fields.append(QgsField(QStringLiteral("row"), QVariant::Int));
  fields.append(QgsField(QStringLiteral("col"), QVariant::Int));
  QString locationsId;
  std::unique_ptr<QgsFeatureSink> sink(
      parameterAsSink(parameters, QStringLiteral("OUTPUT_LOCATIONS"), context, locationsId, fields,
                      QgsWkbTypes::Point, input_.crs));
  if (!sink) return QString();
  for (size_t e = 0; e < pixelIndices.size(); ++e) {
    const int64_t row = pixelIndices[e] / input_.width;
    const int64_t col = pixelIndices[e] % input_.width;
    QgsFeature feature(fields);
    feature.setGeometry(QgsGeometry(new QgsPoint(input_.centreX(col), input_.centreY(row))));
    QgsAttributes attributes;
    attributes << QString::fromStdString(names[e]) << static_cast<int>(row)
               << static_cast<int>(col);
    feature.setAttributes(attributes);
    if (!sink->addFeature(feature, QgsFeatureSink::FastInsert))
      throw QgsProcessingException(
          writeFeatureError(sink.get(), parameters, QStringLiteral("OUTPUT_LOCATIONS")));
  }
  return locationsId;  // the sink is closed as it goes out of scope
}

QVariantMap VcaAlgorithm::processAlgorithm(const QVariantMap& parameters,
                                           QgsProcessingContext& context,
                                           QgsProcessingFeedback* feedback) {
  const QString csvPath =
      parameterAsFileOutput(parameters, QStringLiteral("OUTPUT_ENDMEMBERS"), context);
  OutputCheck check;
  addInput(check, input_);
  check.addOutput("OUTPUT_ENDMEMBERS", csvPath.toStdString(), {".csv", ".sli"});
  checkOutputs(check);
  FeedbackProgress progress(feedback);
  std::unique_ptr<StagedFile> csv;
  std::vector<int64_t> pixelIndices;
  dequnmix::EndmemberTable table;
  try {
    csv = std::make_unique<StagedFile>(csvPath.toStdString());
    const int threads = dequnmix::setThreadCount(threads_);  // on the worker thread
    GdalRasterReader reader(input_.gdalPath, bands_,
                            QStringLiteral("INPUT (%1)").arg(input_.layerName).toStdString());
    reader.readZeroPixelsAsNodata();
    checkSceneValues(reader.sampledValues(), progress);
    int endmembers = endmembers_;
    if (endmembers == 0) {
      endmembers = dequnmix::endmemberCountForUnmixing(dequnmix::bandMoments(reader, &progress));
      progress.info(dequnmix::estimatedCountMessage(endmembers));
    }
    pixelIndices = extract(reader, endmembers, table.values, progress);
    table.names = dequnmix::defaultEndmemberNames(endmembers);
    table.bands = reader.bands();
    table.wavelengths = reader.wavelengthsNm();
    progress.info(std::to_string(threads) + " threads");
    throwIfCanceled(&progress);
  } catch (...) {
    rethrowAsProcessingException();
  }

  QVariantMap outputs;
  const QString locationsId = writeLocations(parameters, context, table.names, pixelIndices);
  if (!locationsId.isEmpty()) outputs.insert(QStringLiteral("OUTPUT_LOCATIONS"), locationsId);

  try {
    dequnmix::writeSpectralLibrary(csv->path(), table);
    csv->commit();
  } catch (...) {
    rethrowAsProcessingException();
  }
  outputs.insert(QStringLiteral("OUTPUT_ENDMEMBERS"), csvPath);
  progress.setProgress(1.0);
  return outputs;
}

}  // namespace dequnmix::processing
