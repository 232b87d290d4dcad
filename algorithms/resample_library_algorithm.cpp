#include "algorithms/resample_library_algorithm.h"

#include <memory>

#include <qgsprocessingparameters.h>

#include "algorithms/output_files.h"
#include "core/io/spectral_library.h"

namespace dequnmix::processing {

QString ResampleLibraryAlgorithm::name() const { return QStringLiteral("resample_library"); }

QString ResampleLibraryAlgorithm::displayName() const {
  return QObject::tr("Resample spectra to a raster's bands");
}

QStringList ResampleLibraryAlgorithm::tags() const {
  return QObject::tr(
             "spectral library,resample,convolve,fwhm,spectral response,bands,wavelength,"
             "envi,sli,endmember")
      .split(',');
}

QString ResampleLibraryAlgorithm::group() const { return QObject::tr("Endmembers"); }

QString ResampleLibraryAlgorithm::groupId() const { return QStringLiteral("endmembers"); }

QString ResampleLibraryAlgorithm::shortDescription() const {
  return QObject::tr("Brings spectra (CSV or ENVI library) to the bands of a raster.");
}

QString ResampleLibraryAlgorithm::shortHelpString() const {
  return QObject::tr(
      "Resamples spectra to the bands of a raster: each band is the spectrum weighted by a "
      "Gaussian of the band's FWHM when the raster states FWHM, else linearly interpolated at "
      "the band centre. 'Abundances (FCLS, NNLS, SCLS, UCLS)' and 'Train DEQ-Unmix' do the same on "
      "their own when "
      "the spectra's wavelengths differ from the scene's.\n\n"
      "Parameters\n"
      "- INPUT: the spectra, a CSV with a wavelength column or an ENVI spectral library (.sli "
      "or its .hdr) with wavelengths.\n"
      "- RASTER: the raster whose band wavelengths (ENVI header, band metadata or "
      "descriptions) define the target bands; BANDS and BAD_BANDS select among them as in "
      "the other algorithms.\n\n"
      "Outputs\n"
      "- OUTPUT: the resampled spectra, CSV or an ENVI spectral library (.sli). Spectra that "
      "do not cover the raster's range are refused with both ranges.");
}

ResampleLibraryAlgorithm* ResampleLibraryAlgorithm::createInstance() const {
  return new ResampleLibraryAlgorithm();
}

void ResampleLibraryAlgorithm::initAlgorithm(const QVariantMap&) {
  addParameter(new QgsProcessingParameterFile(
      QStringLiteral("INPUT"), QObject::tr("Spectra (CSV or ENVI library)"),
      QgsProcessingParameterFile::File, QString(), QVariant(), false, spectraFileFilter()));
  addParameter(new QgsProcessingParameterRasterLayer(QStringLiteral("RASTER"),
                                                     QObject::tr("Raster with the target bands")));
  addBandParameters(QStringLiteral("RASTER"));
  addParameter(new QgsProcessingParameterFileDestination(
      QStringLiteral("OUTPUT"), QObject::tr("Resampled spectra"), spectraOutputFilter()));
}

bool ResampleLibraryAlgorithm::prepareAlgorithm(const QVariantMap& parameters,
                                                QgsProcessingContext& context,
                                                QgsProcessingFeedback* feedback) {
  libraryPath_ = parameterAsFile(parameters, QStringLiteral("INPUT"), context);
  raster_ = rasterInput(parameters, QStringLiteral("RASTER"), context);
  bands_ = spectralBandSelection(parameters, QStringLiteral("BANDS"), context, raster_, feedback);
  return true;
}

QVariantMap ResampleLibraryAlgorithm::processAlgorithm(const QVariantMap& parameters,
                                                       QgsProcessingContext& context,
                                                       QgsProcessingFeedback* feedback) {
  const QString outputPath = parameterAsFileOutput(parameters, QStringLiteral("OUTPUT"), context);
  OutputCheck check;
  addInput(check, raster_);
  addInput(check, QStringLiteral("INPUT"), libraryPath_);
  check.addOutput("OUTPUT", outputPath.toStdString(), {".csv", ".sli"});
  checkOutputs(check);
  const dequnmix::EndmemberTable library = readEndmembers(libraryPath_, QStringLiteral("INPUT"));
  if (library.wavelengths.empty())
    fail(QObject::tr("INPUT (%1) states no wavelengths: give the spectra a wavelength column "
                     "(CSV) or list (ENVI header).")
             .arg(libraryPath_));
  const dequnmix::EndmemberTable resampled =
      spectraForBands(library, QStringLiteral("INPUT"), raster_, bands_, feedback);
  try {
    StagedFile out(outputPath.toStdString());
    dequnmix::writeSpectralLibrary(out.path(), resampled);
    out.commit();
  } catch (...) {
    rethrowAsProcessingException();
  }
  return {{QStringLiteral("OUTPUT"), outputPath}};
}

}  // namespace dequnmix::processing
