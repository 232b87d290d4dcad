#include "algorithms/synthesize_algorithm.h"

#include <cstdio>
#include <limits>
#include <memory>

#include <qgsprocessingparameters.h>

#include "algorithms/gdal_raster.h"
#include "core/io/endmember_table.h"

namespace dequnmix::processing {
namespace {

// NONLINEARITY's options, in the order of dequnmix::NonlinearMixing.
QStringList nonlinearityOptions() {
  return {QObject::tr("none (linear mixing)"), QObject::tr("bilinear (Fan)"),
          QObject::tr("post-nonlinear (PPNMM)")};
}

// band_001, band_002, ...
std::vector<std::string> bandNames(int bands) {
  std::vector<std::string> names;
  for (int b = 0; b < bands; ++b) {
    char label[32];
    std::snprintf(label, sizeof label, "band_%03d", b + 1);
    names.emplace_back(label);
  }
  return names;
}

// Pixel coordinates (1 unit per pixel, origin at the top-left corner, as QGIS shows rasters
// without georeferencing); no CRS.
Georeference pixelGrid() {
  Georeference grid;
  grid.hasGeoTransform = true;
  grid.geoTransform = {0.0, 1.0, 0.0, 0.0, 0.0, -1.0};
  return grid;
}

// Each band's wavelength (nm) as the band metadata the readers take.
void writeWavelengths(GdalRasterWriter& writer, const std::vector<double>& wavelengths) {
  for (size_t b = 0; b < wavelengths.size(); ++b) {
    char value[32];
    std::snprintf(value, sizeof value, "%.2f", wavelengths[b]);
    writer.setBandMetadata(int(b) + 1, "wavelength", value);
    writer.setBandMetadata(int(b) + 1, "wavelength_units", "nm");
  }
}

}  // namespace

QString SynthesizeAlgorithm::name() const { return QStringLiteral("synthesize"); }

QString SynthesizeAlgorithm::displayName() const {
  return QObject::tr("Synthesize hyperspectral scene");
}

QStringList SynthesizeAlgorithm::tags() const {
  return QObject::tr(
             "synthetic,simulate,scene,hyperspectral,endmember,abundance,test,demo,unmixing")
      .split(',');
}

QString SynthesizeAlgorithm::group() const { return QObject::tr("Data"); }

QString SynthesizeAlgorithm::groupId() const { return QStringLiteral("data"); }

QString SynthesizeAlgorithm::shortDescription() const {
  return QObject::tr(
      "Creates a synthetic hyperspectral scene with known endmembers and abundances.");
}

QString SynthesizeAlgorithm::shortHelpString() const {
  const dequnmix::SyntheticOptions d;
  using Limits = dequnmix::SyntheticLimits;
  return QObject::
      tr("Creates a synthetic hyperspectral scene under the linear mixing model, together "
         "with its reference abundances and endmember spectra, deterministically for a "
         "seed. Endmember spectra are smooth continua with absorption features (values in "
         "(0, 1), pairwise spectral angle at least %1 rad); abundance maps are smoothed "
         "random fields on the simplex.\n\n"
         "Parameters\n"
         "- WIDTH, HEIGHT: scene size in pixels (default %2 x %3).\n"
         "- BANDS: number of spectral bands (default %4), spread over %5-%6 nm (ignored with "
         "LIBRARY).\n"
         "- ENDMEMBERS: number of materials (default %7); at least 2 and fewer than BANDS.\n"
         "- SNR_DB: signal-to-noise ratio of the added white Gaussian noise in dB "
         "(default %8). 0 means noise-free.\n"
         "- MAX_ABUNDANCE: cap on any single abundance, in (1/ENDMEMBERS, 1] (default %9); "
         "below 1 gives a highly mixed scene.\n"
         "- PURE_PIXELS: place one exactly pure pixel per endmember (default %10).\n"
         "- SEED: seed of the generator (default %11); the same parameters and seed give "
         "the same scene.\n"
         "- ABUNDANCE_SMOOTHNESS: spatial scale (pixels) of the abundance fields (default %24); "
         "0 draws each pixel's abundances independently, as many published synthetic scenes "
         "do.\n\n"
         "Effects of real scenes (each off by default)\n"
         "- LIBRARY: a spectral library (endmember CSV, e.g. USGS minerals) from which the "
         "ENDMEMBERS spectra are drawn at random, pairwise at least %1 rad apart. The scene "
         "then has the library's bands and wavelengths, and BANDS is ignored.\n"
         "- ILLUMINATION: strength s in [0, %12] of a smooth brightness field: each pixel's "
         "whole spectrum is scaled by exp(s z), z a smooth unit-variance field, with mean "
         "factor 1 (0 = off).\n"
         "- ILLUMINATION_SMOOTHNESS: spatial scale (pixels) of that field (default %13).\n"
         "- SHADE: reflectance in [0, %14] of a flat dark shade endmember that replaces the "
         "last endmember (0 = off).\n"
         "- VARIABILITY: strength v in [0, %15] of endmember variability: each pixel's spectra "
         "are scaled (about 30% x v) and reshaped by a smooth spectral perturbation (about "
         "10% x v) (0 = off). The reference spectra stay unperturbed.\n"
         "- NONLINEARITY: the mixing model: none (linear), bilinear (Fan: adds the sum over "
         "pairs a_i a_j e_i e_j) or post-nonlinear (PPNMM: y = x + b x^2).\n"
         "- NONLINEAR_STRENGTH: weight in [0, %16] of the nonlinear term (1 = Fan's model; "
         "b of PPNMM).\n"
         "- NOISE_SPREAD_DB: the noise variance varies smoothly over bands by this many dB "
         "peak to trough, in [0, %17], with SNR_DB kept overall (0 = white).\n"
         "- LOW_SNR_BANDS: number of randomly chosen bands with extra noise (0 = none).\n"
         "- LOW_SNR_DB: SNR of each of those bands against its own signal, in [%18, %19] "
         "(default %20).\n"
         "- PURE_REGIONS: fraction in [0, %21] of the pixels made pure in square patches of "
         "PURE_REGION_SIZE pixels (default %22), about equal for every endmember, as fields and "
         "water bodies are in real scenes (0 = off).\n"
         "- SPIKE_PIXELS: number of random pixels with spikes, as detector glitches and "
         "cosmic-ray hits leave: a twentieth of their bands multiplied by 6 (0 = off).\n"
         "- SHARE_RATIO: odds in [1, %23] of the first endmember against the last: each "
         "pixel's weight of endmember e (from 0) is multiplied by SHARE_RATIO^(-e / "
         "(ENDMEMBERS - 1)), so the first material covers most of the scene and the last is "
         "rare, as on real scenes (1 = even shares).\n\n"
         "Outputs\n"
         "- OUTPUT: the scene, a Float32 GeoTIFF with BANDS bands (band descriptions "
         "band_001...; metadata 'wavelength' in nm). The grid is in pixel units (1 unit per pixel, "
         "top-left corner at 0, 0) with no CRS, like most hyperspectral benchmark scenes.\n"
         "- OUTPUT_ABUNDANCES: the reference abundances, one Float32 band per endmember "
         "named after it.\n"
         "- OUTPUT_ENDMEMBERS: the reference endmember spectra as CSV (columns band, "
         "wavelength_nm and one per endmember).")
          .arg(d.minSpectralAngle)
          .arg(d.width)
          .arg(d.height)
          .arg(d.bands)
          .arg(d.firstWavelengthNm)
          .arg(d.lastWavelengthNm)
          .arg(d.endmembers)
          .arg(d.snrDb)
          .arg(d.maxAbundance)
          .arg(d.purePixels ? QObject::tr("yes") : QObject::tr("no"))
          .arg(static_cast<qulonglong>(d.seed))
          .arg(Limits::kMaxIllumination)
          .arg(d.illuminationSmoothness)
          .arg(Limits::kMaxShade)
          .arg(Limits::kMaxVariability)
          .arg(Limits::kMaxNonlinearStrength)
          .arg(Limits::kMaxNoiseSpreadDb)
          .arg(Limits::kMinLowSnrDb)
          .arg(Limits::kMaxLowSnrDb)
          .arg(d.lowSnrDb)
          .arg(Limits::kMaxPureRegions)
          .arg(d.pureRegionSize)
          .arg(Limits::kMaxShareRatio)
          .arg(d.smoothness);
}

SynthesizeAlgorithm* SynthesizeAlgorithm::createInstance() const {
  return new SynthesizeAlgorithm();
}

void SynthesizeAlgorithm::initAlgorithm(const QVariantMap&) {
  const dequnmix::SyntheticOptions d;
  using Number = QgsProcessingParameterNumber;
  addParameter(ranged(new Number(QStringLiteral("WIDTH"), QObject::tr("Width (pixels)"),
                                 Number::Integer, d.width, false, 1, 100000)));
  addParameter(ranged(new Number(QStringLiteral("HEIGHT"), QObject::tr("Height (pixels)"),
                                 Number::Integer, d.height, false, 1, 100000)));
  addParameter(ranged(new Number(QStringLiteral("BANDS"), QObject::tr("Number of bands"),
                                 Number::Integer, d.bands, false, 3, 10000)));
  addParameter(ranged(new Number(QStringLiteral("ENDMEMBERS"), QObject::tr("Number of endmembers"),
                                 Number::Integer, d.endmembers, false, 2, 1000)));
  addParameter(ranged(new Number(QStringLiteral("SNR_DB"),
                                 QObject::tr("Signal-to-noise ratio (dB, 0 = noise-free)"),
                                 Number::Double, d.snrDb, false, 0.0)));
  addParameter(ranged(new Number(QStringLiteral("MAX_ABUNDANCE"), QObject::tr("Maximum abundance"),
                                 Number::Double, d.maxAbundance, false, 0.0, 1.0)));
  addParameter(new QgsProcessingParameterBoolean(QStringLiteral("PURE_PIXELS"),
                                                 QObject::tr("Place one pure pixel per endmember"),
                                                 d.purePixels));
  addParameter(ranged(new Number(QStringLiteral("SEED"), QObject::tr("Random seed"),
                                 Number::Integer, static_cast<qlonglong>(d.seed), false, 0,
                                 std::numeric_limits<int>::max())));
  addParameter(advanced(ranged(new Number(
      QStringLiteral("ABUNDANCE_SMOOTHNESS"), QObject::tr("Abundance field scale (pixels)"),
      Number::Double, d.smoothness, false, 0.0, dequnmix::SyntheticLimits::kMaxSmoothness))));
  addEffectParameters(d);
  addParameter(new QgsProcessingParameterRasterDestination(QStringLiteral("OUTPUT"),
                                                           QObject::tr("Synthetic scene")));
  addParameter(new QgsProcessingParameterRasterDestination(QStringLiteral("OUTPUT_ABUNDANCES"),
                                                           QObject::tr("Reference abundances")));
  addParameter(new QgsProcessingParameterFileDestination(QStringLiteral("OUTPUT_ENDMEMBERS"),
                                                         QObject::tr("Reference endmembers"),
                                                         QObject::tr("CSV files (*.csv)")));
}

// The effects of real scenes (issue 11), each off by default; bounds from SyntheticLimits.
void SynthesizeAlgorithm::addEffectParameters(const dequnmix::SyntheticOptions& d) {
  using Number = QgsProcessingParameterNumber;
  using Limits = dequnmix::SyntheticLimits;
  addParameter(new QgsProcessingParameterFile(
      QStringLiteral("LIBRARY"), QObject::tr("Spectral library for the endmembers (CSV, optional)"),
      QgsProcessingParameterFile::File, QString(), QVariant(), true, spectraFileFilter()));
  addParameter(ranged(new Number(
      QStringLiteral("ILLUMINATION"), QObject::tr("Illumination variation strength (0 = off)"),
      Number::Double, d.illumination, false, 0.0, Limits::kMaxIllumination)));
  addParameter(advanced(ranged(new Number(
      QStringLiteral("ILLUMINATION_SMOOTHNESS"), QObject::tr("Illumination field scale (pixels)"),
      Number::Double, d.illuminationSmoothness, false, 0.0, Limits::kMaxIlluminationSmoothness))));
  addParameter(advanced(ranged(
      new Number(QStringLiteral("SHADE"), QObject::tr("Shade endmember reflectance (0 = off)"),
                 Number::Double, d.shade, false, 0.0, Limits::kMaxShade))));
  addParameter(ranged(new Number(
      QStringLiteral("VARIABILITY"), QObject::tr("Endmember variability strength (0 = off)"),
      Number::Double, d.variability, false, 0.0, Limits::kMaxVariability)));
  addParameter(new QgsProcessingParameterEnum(
      QStringLiteral("NONLINEARITY"), QObject::tr("Nonlinear mixing"), nonlinearityOptions(), false,
      static_cast<int>(d.nonlinearity)));
  addParameter(ranged(new Number(QStringLiteral("NONLINEAR_STRENGTH"),
                                 QObject::tr("Nonlinear mixing strength"), Number::Double,
                                 d.nonlinearStrength, false, 0.0, Limits::kMaxNonlinearStrength)));
  addParameter(advanced(ranged(new Number(
      QStringLiteral("NOISE_SPREAD_DB"), QObject::tr("Noise variance spread over bands (dB)"),
      Number::Double, d.noiseSpreadDb, false, 0.0, Limits::kMaxNoiseSpreadDb))));
  addParameter(advanced(
      ranged(new Number(QStringLiteral("LOW_SNR_BANDS"), QObject::tr("Number of low-SNR bands"),
                        Number::Integer, d.lowSnrBands, false, 0, 10000))));
  addParameter(advanced(ranged(
      new Number(QStringLiteral("LOW_SNR_DB"), QObject::tr("SNR of the low-SNR bands (dB)"),
                 Number::Double, d.lowSnrDb, false, Limits::kMinLowSnrDb, Limits::kMaxLowSnrDb))));
  addParameter(ranged(new Number(
      QStringLiteral("PURE_REGIONS"), QObject::tr("Fraction of pixels in pure patches (0 = off)"),
      Number::Double, d.pureRegions, false, 0.0, Limits::kMaxPureRegions)));
  addParameter(advanced(ranged(new Number(
      QStringLiteral("PURE_REGION_SIZE"), QObject::tr("Side of the pure patches (pixels)"),
      Number::Integer, d.pureRegionSize, false, 1, Limits::kMaxPureRegionSize))));
  addParameter(advanced(ranged(new Number(QStringLiteral("SPIKE_PIXELS"),
                                          QObject::tr("Number of pixels with spikes (0 = off)"),
                                          Number::Integer, double(d.spikePixels), false, 0))));
  addParameter(advanced(ranged(new Number(
      QStringLiteral("SHARE_RATIO"), QObject::tr("Odds of the first endmember against the last"),
      Number::Double, d.shareRatio, false, 1.0, Limits::kMaxShareRatio))));
}

void SynthesizeAlgorithm::readEffectParameters(const QVariantMap& parameters,
                                               QgsProcessingContext& context) {
  const QString library = parameterAsFile(parameters, QStringLiteral("LIBRARY"), context);
  options_.libraryPath = library.toStdString();
  options_.illumination = parameterAsDouble(parameters, QStringLiteral("ILLUMINATION"), context);
  options_.illuminationSmoothness =
      parameterAsDouble(parameters, QStringLiteral("ILLUMINATION_SMOOTHNESS"), context);
  options_.shade = parameterAsDouble(parameters, QStringLiteral("SHADE"), context);
  options_.variability = parameterAsDouble(parameters, QStringLiteral("VARIABILITY"), context);
  options_.nonlinearity = static_cast<dequnmix::NonlinearMixing>(
      parameterAsEnum(parameters, QStringLiteral("NONLINEARITY"), context));
  options_.nonlinearStrength =
      parameterAsDouble(parameters, QStringLiteral("NONLINEAR_STRENGTH"), context);
  options_.noiseSpreadDb =
      parameterAsDouble(parameters, QStringLiteral("NOISE_SPREAD_DB"), context);
  options_.lowSnrBands = parameterAsInt(parameters, QStringLiteral("LOW_SNR_BANDS"), context);
  options_.lowSnrDb = parameterAsDouble(parameters, QStringLiteral("LOW_SNR_DB"), context);
  options_.pureRegions = parameterAsDouble(parameters, QStringLiteral("PURE_REGIONS"), context);
  options_.pureRegionSize = parameterAsInt(parameters, QStringLiteral("PURE_REGION_SIZE"), context);
  options_.spikePixels =
      std::llround(parameterAsDouble(parameters, QStringLiteral("SPIKE_PIXELS"), context));
  options_.shareRatio = parameterAsDouble(parameters, QStringLiteral("SHARE_RATIO"), context);
  bands_ = options_.bands;
  if (!library.isEmpty()) {
    const dequnmix::EndmemberTable table = readEndmembers(library, QStringLiteral("LIBRARY"));
    bands_ = table.bands;
    const int drawn = options_.endmembers - (options_.shade > 0 ? 1 : 0);
    if (table.endmembers() < drawn) {
      fail(QObject::tr("LIBRARY holds %1 spectra but %2 endmembers are to be drawn from it. "
                       "Lower ENDMEMBERS or use a larger library.")
               .arg(table.endmembers())
               .arg(drawn));
    }
  }
}

void SynthesizeAlgorithm::checkSizes(double snr) const {
  if (options_.width < 1 || options_.height < 1) {
    fail(QObject::tr("WIDTH and HEIGHT must be at least 1 pixel (got %1 x %2).")
             .arg(options_.width)
             .arg(options_.height));
  }
  if (options_.endmembers < 2 || options_.endmembers >= bands_) {
    fail(QObject::tr("ENDMEMBERS is %1 but must be at least 2 and fewer than the bands (%2%3). "
                     "Lower ENDMEMBERS or raise BANDS.")
             .arg(options_.endmembers)
             .arg(bands_)
             .arg(options_.libraryPath.empty() ? QString() : QObject::tr(", from LIBRARY")));
  }
  if (options_.lowSnrBands > bands_) {
    fail(QObject::tr("LOW_SNR_BANDS is %1 but the scene has only %2 bands.")
             .arg(options_.lowSnrBands)
             .arg(bands_));
  }
  const qlonglong pixels = qlonglong(options_.width) * options_.height;
  if (options_.spikePixels > pixels) {
    fail(QObject::tr("SPIKE_PIXELS is %1 but the scene has only %2 pixels.")
             .arg(qlonglong(options_.spikePixels))
             .arg(pixels));
  }
  if (snr < 0.0) {
    fail(QObject::tr("SNR_DB is %1 but must be positive, or 0 for a noise-free scene.").arg(snr));
  }
}

bool SynthesizeAlgorithm::prepareAlgorithm(const QVariantMap& parameters,
                                           QgsProcessingContext& context, QgsProcessingFeedback*) {
  options_ = dequnmix::SyntheticOptions{};
  options_.width = parameterAsInt(parameters, QStringLiteral("WIDTH"), context);
  options_.height = parameterAsInt(parameters, QStringLiteral("HEIGHT"), context);
  options_.bands = parameterAsInt(parameters, QStringLiteral("BANDS"), context);
  options_.endmembers = parameterAsInt(parameters, QStringLiteral("ENDMEMBERS"), context);
  const double snr = parameterAsDouble(parameters, QStringLiteral("SNR_DB"), context);
  options_.snrDb = snr == 0.0 ? std::numeric_limits<double>::infinity() : snr;
  options_.maxAbundance = parameterAsDouble(parameters, QStringLiteral("MAX_ABUNDANCE"), context);
  options_.purePixels = parameterAsBool(parameters, QStringLiteral("PURE_PIXELS"), context);
  options_.seed = static_cast<uint64_t>(
      std::max<qlonglong>(0, parameterAsInt(parameters, QStringLiteral("SEED"), context)));
  options_.smoothness =
      parameterAsDouble(parameters, QStringLiteral("ABUNDANCE_SMOOTHNESS"), context);
  readEffectParameters(parameters, context);
  checkSizes(snr);
  return true;
}

QVariantMap SynthesizeAlgorithm::processAlgorithm(const QVariantMap& parameters,
                                                  QgsProcessingContext& context,
                                                  QgsProcessingFeedback* feedback) {
  const QString scenePath = parameterAsOutputLayer(parameters, QStringLiteral("OUTPUT"), context);
  const QString abundancePath =
      parameterAsOutputLayer(parameters, QStringLiteral("OUTPUT_ABUNDANCES"), context);
  const QString endmemberPath =
      parameterAsFileOutput(parameters, QStringLiteral("OUTPUT_ENDMEMBERS"), context);
  OutputCheck check;
  check.addOutput("OUTPUT", scenePath.toStdString());
  check.addOutput("OUTPUT_ABUNDANCES", abundancePath.toStdString());
  check.addOutput("OUTPUT_ENDMEMBERS", endmemberPath.toStdString(), {".csv"});
  if (!options_.libraryPath.empty())
    addInput(check, QStringLiteral("LIBRARY"), QString::fromStdString(options_.libraryPath));
  checkOutputs(check);
  FeedbackProgress progress(feedback);
  try {
    // Fail on unwritable outputs before the work.
    StagedFile csv(endmemberPath.toStdString());
    const int w = options_.width;
    const int h = options_.height;
    auto sceneWriter = std::make_unique<GdalRasterWriter>(
        scenePath.toStdString(), w, h, bandNames(bands_), pixelGrid(), kOutputNoData);
    progress.info("Generating a " + std::to_string(w) + " x " + std::to_string(h) + " scene with " +
                  std::to_string(bands_) + " bands and " + std::to_string(options_.endmembers) +
                  " endmembers");
    const dequnmix::SyntheticScene scene = dequnmix::generateSyntheticScene(options_);
    if (scene.bands != bands_) fail(QObject::tr("LIBRARY changed while the scene was generated."));
    progress.setProgress(0.6);
    throwIfCanceled(&progress);

    const dequnmix::EndmemberTable& table = scene.endmembers;
    writeWavelengths(*sceneWriter, table.wavelengths);
    sceneWriter->writeBandSequential(scene.scene.data());
    progress.setProgress(0.8);
    throwIfCanceled(&progress);

    GdalRasterWriter abundanceWriter(abundancePath.toStdString(), w, h, table.names, pixelGrid(),
                                     kOutputNoData);
    abundanceWriter.writeBandSequential(scene.abundances.data());
    progress.setProgress(0.9);
    throwIfCanceled(&progress);

    dequnmix::writeEndmemberCsv(csv.path(), table);
    sceneWriter->finish();
    abundanceWriter.finish();
    sceneWriter->commit();
    abundanceWriter.commit();
    csv.commit();
    progress.setProgress(1.0);
  } catch (...) {
    rethrowAsProcessingException();
  }
  QVariantMap outputs;
  outputs.insert(QStringLiteral("OUTPUT"), scenePath);
  outputs.insert(QStringLiteral("OUTPUT_ABUNDANCES"), abundancePath);
  outputs.insert(QStringLiteral("OUTPUT_ENDMEMBERS"), endmemberPath);
  return outputs;
}

}  // namespace dequnmix::processing
