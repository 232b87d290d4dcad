// Shared helpers of the dequnmix Processing algorithms (QGIS side; no LibTorch header may
// be included here or in any file of algorithms/):
//   - DequnmixAlgorithm: common base (icons, flags, raster/band/CSV parameter readers);
//   - FeedbackProgress: dequnmix::ProgressSink over a QgsProcessingFeedback;
//   - rethrowAsProcessingException(): dequnmix::Error and friends -> QgsProcessingException.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <QIcon>
#include <QString>

#include <qgscoordinatereferencesystem.h>
#include <qgsprocessingalgorithm.h>
#include <qgsprocessingfeedback.h>
#include <qgsprocessingparameters.h>
#include <qgsrectangle.h>

#include "algorithms/output_files.h"
#include "core/data_checks.h"
#include "core/distributed/process_group.h"
#include "core/io/endmember_table.h"
#include "core/progress.h"

namespace dequnmix::processing {

// Path of an icon in the provider's Qt resources (":/dequnmix/icons/<name>.svg").
QString iconPath(const QString& name);
QIcon icon(const QString& name);

// Reports core progress, messages and cancel through a QgsProcessingFeedback. Safe to
// call from the core's worker threads: calls are serialised, and progress is forwarded
// only when it moved by at least 0.1 %. While one exists, SIGINT and SIGTERM (Ctrl-C on
// qgis_process) cancel the run as the toolbox's Cancel does; a second signal ends the
// process at once.
class FeedbackProgress final : public dequnmix::ProgressSink {
 public:
  explicit FeedbackProgress(QgsProcessingFeedback* feedback);
  ~FeedbackProgress() override;
  FeedbackProgress(const FeedbackProgress&) = delete;
  FeedbackProgress& operator=(const FeedbackProgress&) = delete;
  void setProgress(double fraction) override;
  bool isCanceled() const override;
  void info(const std::string& message) override;
  void warning(const std::string& message) override;

 private:
  QgsProcessingFeedback* feedback_;
  std::mutex mutex_;
  double last_ = -1.0;
};

// This process's place in a data-parallel run when the launcher's environment names one
// (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, or Slurm's): blocks until every rank has
// joined and logs the rank. Null for an ordinary run. Throws dequnmix::InvalidArgument and
// dequnmix::DistributedError.
std::unique_ptr<dequnmix::ProcessGroup> joinProcessGroup(dequnmix::ProgressSink& progress);

// This process's peak resident memory so far in MiB (Linux's VmHWM; 0 elsewhere).
double peakResidentMiB();

// Call from a catch (...) block: rethrows the exception in flight as a
// QgsProcessingException carrying the core's message (dequnmix::Error), a cancel notice
// (dequnmix::Canceled), or a short "internal error" message (anything else).
[[noreturn]] void rethrowAsProcessingException();

// Throws QgsProcessingException(message).
[[noreturn]] void fail(const QString& message);

// `parameter` flagged advanced (returned for chaining into addParameter()).
template <typename T>
T* advanced(T* parameter) {
  parameter->setFlags(parameter->flags() | QgsProcessingParameterDefinition::FlagAdvanced);
  return parameter;
}

// `parameter` with its accepted range appended to its description ("Epochs [1 to
// 1000000]"), so that QGIS's generic "Incorrect parameter value" can be understood.
QgsProcessingParameterNumber* ranged(QgsProcessingParameterNumber* parameter);

// File filter of the spectra inputs: CSV or ENVI spectral libraries.
QString spectraFileFilter();
// File filter of the spectra outputs: CSV, or an ENVI spectral library (.sli with its .hdr).
QString spectraOutputFilter();

// A choice among the core's names (its name table or registry), stored as the name itself
// (static strings), so scripts and models read `--REFINEMENT=min_volume`.
QgsProcessingParameterEnum* namedChoice(const char* name, const QString& description,
                                        const std::vector<std::string>& names,
                                        const std::string& defaultName);

// A raster parameter resolved in prepareAlgorithm() (main thread) into what the worker
// thread needs: the GDAL dataset name and the grid as QGIS shows it.
struct RasterInput {
  QString parameter;  // parameter name, for messages
  QString layerName;
  std::string gdalPath;
  std::vector<std::string> files;  // every file of the dataset (sidecars included)
  int width = 0;
  int height = 0;
  int bandCount = 0;
  QgsCoordinateReferenceSystem crs;
  QgsRectangle extent;

  // Centre of pixel (row, col) in layer coordinates.
  double centreX(int64_t col) const;
  double centreY(int64_t row) const;
};

// Base of every dequnmix algorithm: icon named after the algorithm, batch and cancel
// support, and the parameter readers the algorithms share.
class DequnmixAlgorithm : public QgsProcessingAlgorithm {
 public:
  QIcon icon() const override;
  QString svgIconPath() const override;
  Flags flags() const override;

 protected:
  // Fails naming the first number parameter whose value lies outside its definition's range
  // (the ranges are the core's bounds, DeqLimits), for callers that skip QGIS's own check.
  void checkNumberRanges(const QVariantMap& parameters, QgsProcessingContext& context) const;
  // The raster layer of parameter `name`, which must be GDAL-backed. Throws a
  // QgsProcessingException naming the parameter when it cannot be loaded.
  RasterInput rasterInput(const QVariantMap& parameters, const QString& name,
                          QgsProcessingContext& context) const;
  // 1-based band numbers chosen by the optional band parameter `name` (empty: all bands),
  // validated against `raster`.
  std::vector<int> bandSelection(const QVariantMap& parameters, const QString& name,
                                 QgsProcessingContext& context, const RasterInput& raster) const;
  // Adds the optional BANDS parameter (bands of the raster parameter `raster`) and the
  // advanced BAD_BANDS: wavelength ranges in nm to drop, or auto (the raster's ENVI bbl,
  // else the water-vapour windows).
  void addBandParameters(const QString& raster);
  // The bands of BANDS (`bandsName`; all when empty) less those BAD_BANDS drops, by the
  // raster's wavelengths or bbl (spectral_metadata.h); as bandSelection() when BAD_BANDS is
  // empty. Fails when BAD_BANDS needs wavelengths the raster does not state, or drops every
  // band; says in `feedback` what was dropped.
  std::vector<int> spectralBandSelection(const QVariantMap& parameters, const QString& bandsName,
                                         QgsProcessingContext& context, const RasterInput& raster,
                                         QgsProcessingFeedback* feedback) const;
  // Fails unless the raster (or its band subset) has at least two bands.
  static void requireMultiBand(const RasterInput& raster, const std::vector<int>& bands,
                               const QString& bandsParameter);
  // Reads an endmember CSV, translating core errors; `parameter` names the source.
  static dequnmix::EndmemberTable readEndmembers(const QString& path, const QString& parameter);
  // Destinations of the abundance raster OUTPUT and the optional OUTPUT_RESIDUAL (empty
  // when not asked for), each styled for when QGIS loads it (layer_styling.h).
  struct AbundanceOutputPaths {
    QString abundances;
    QString residual;
  };
  AbundanceOutputPaths abundanceOutputPaths(const QVariantMap& parameters,
                                            QgsProcessingContext& context) const;
  // The run's inputs for OutputCheck: a raster's files, or a file parameter's path.
  static void addInput(OutputCheck& check, const RasterInput& raster);
  static void addInput(OutputCheck& check, const QString& parameter, const QString& path);
  // OutputCheck::check() with its message as a QgsProcessingException.
  static void checkOutputs(const OutputCheck& check);
  // checkOutputs() of an abundance run: `raster` and the file input `parameter` (`path`)
  // against OUTPUT and OUTPUT_RESIDUAL.
  static void checkAbundanceOutputs(const AbundanceOutputPaths& outputs, const RasterInput& raster,
                                    const QString& parameter, const QString& path);
  // The spectra of `parameter` on the bands `raster` uses: resampled to them (said in
  // `feedback`) when both state wavelengths that differ; otherwise they must have one row
  // per band used. Fails with the reason (a library not covering the scene's range, a band
  // count that does not fit).
  static dequnmix::EndmemberTable spectraForBands(dequnmix::EndmemberTable table,
                                                  const QString& parameter,
                                                  const RasterInput& raster,
                                                  const std::vector<int>& bands,
                                                  QgsProcessingFeedback* feedback);
  // Fails when a scene's scale (RMS) is far from the one a model or spectra were made for
  // (dequnmix::compareScale), warns when it is somewhat off.
  static void checkScale(double sceneRms, double referenceRms, const QString& referenceLabel,
                         dequnmix::ProgressSink& progress);
  // Warns when INPUT's values look transformed rather than radiance or reflectance
  // (dequnmix::negativeValuesWarning).
  static void checkSceneValues(const dequnmix::ValueSummary& scene,
                               dequnmix::ProgressSink& progress);
  // Reports the problems of an endmember set (dequnmix::checkEndmemberSet) as warnings;
  // with `refuseErrors`, a set unmixing cannot use fails instead.
  static void checkEndmembers(const dequnmix::EndmemberTable& table, const QString& parameter,
                              dequnmix::ProgressSink& progress, bool refuseErrors);
  // Adds the THREADS parameter (CPU threads, 0 = all cores; default 0), flagged advanced
  // when `isAdvanced`.
  void addThreadsParameter(bool isAdvanced);
  // THREADS resolved to a thread count (0: every core). Fails when it is negative.
  int threadsParameter(const QVariantMap& parameters, QgsProcessingContext& context) const;
  // Adds the advanced DEVICE parameter (auto, cpu, cuda or cuda:N; default auto).
  void addDeviceParameter();
  // DEVICE checked against this build and machine (dequnmix::parseDevice) and reported in
  // the log; fails naming what is missing (CUDA in LibTorch, a GPU, device N).
  std::string deviceParameter(const QVariantMap& parameters, QgsProcessingContext& context,
                              QgsProcessingFeedback* feedback) const;
  // Number of bands actually used.
  static int usedBandCount(const RasterInput& raster, const std::vector<int>& bands) {
    return bands.empty() ? raster.bandCount : static_cast<int>(bands.size());
  }
};

}  // namespace dequnmix::processing
