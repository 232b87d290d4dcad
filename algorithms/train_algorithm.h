// dequnmix:train: trains DEQ-Unmix (core/deq/deq_unmix.h) on one scene and writes the model,
// the scene's abundances, the learned endmembers, the residual and an HTML report.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "algorithms/deq_raster_io.h"
#include "algorithms/gdal_raster.h"
#include "algorithms/processing_utils.h"
#include "core/deq/deq_unmix.h"

namespace dequnmix::processing {

class TrainAlgorithm final : public DequnmixAlgorithm {
 public:
  QString name() const override;
  QString displayName() const override;
  QStringList tags() const override;
  QString group() const override;
  QString groupId() const override;
  QString shortHelpString() const override;
  QString shortDescription() const override;

 protected:
  TrainAlgorithm* createInstance() const override;
  void initAlgorithm(const QVariantMap& configuration = QVariantMap()) override;
  bool prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                        QgsProcessingFeedback* feedback) override;
  QVariantMap processAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                               QgsProcessingFeedback* feedback) override;

 private:
  // Every file output, staged until commit() (a failure leaves none).
  struct Outputs {
    QString model, abundances, residual, endmembers, report;
    std::unique_ptr<StagedFile> modelFile, endmemberFile, reportFile;
    std::unique_ptr<GdalRasterWriter> abundanceWriter, residualWriter;

    void commit() {
      abundanceWriter->finish();
      if (residualWriter) residualWriter->finish();
      abundanceWriter->commit();
      if (residualWriter) residualWriter->commit();
      modelFile->commit();
      endmemberFile->commit();
      if (reportFile) reportFile->commit();
    }
  };
  using Timings = std::vector<std::pair<std::string, double>>;  // stage, seconds
  using Clock = std::chrono::steady_clock;
  static double secondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }

  // initAlgorithm(), by group.
  void addSceneParameters(const dequnmix::DeqTrainOptions& d);
  void addSolverParameters(const dequnmix::DeqTrainOptions& d);
  void addLearningParameters(const dequnmix::DeqTrainOptions& d);
  void addNetworkParameters(const dequnmix::DeqTrainOptions& d);
  void addInferenceParameters(const dequnmix::DeqInferOptions& i);
  void addOutputs();

  // prepareAlgorithm(), on the main thread.
  int estimatedEndmemberCount(const dequnmix::DeqTrainInput& in, FeedbackProgress& progress) const;
  void resolveInputs(const QVariantMap& parameters, QgsProcessingContext& context,
                     QgsProcessingFeedback* feedback);
  dequnmix::DeqTrainOptions runOptions(const QVariantMap& parameters,
                                       QgsProcessingContext& context) const;
  void readSolverOptions(const QVariantMap& parameters, QgsProcessingContext& context,
                         dequnmix::DeqTrainOptions& o) const;
  void readLearningOptions(const QVariantMap& parameters, QgsProcessingContext& context,
                           dequnmix::DeqTrainOptions& o) const;
  dequnmix::DeqInferOptions inferenceOptions(const QVariantMap& parameters,
                                             QgsProcessingContext& context,
                                             const dequnmix::DeqTrainOptions& o) const;

  // processAlgorithm(), on the worker thread.
  // Resolves, checks and stages every file output (before the work).
  Outputs stageOutputs(const QVariantMap& parameters, QgsProcessingContext& context) const;
  // P: the columns of INITIAL_ENDMEMBERS (read into `in`) or ENDMEMBERS, checked.
  int endmemberCount(dequnmix::DeqTrainInput& in, QgsProcessingFeedback* feedback) const;
  // Reads the scene into `in`; returns its valid pixel count (fails when there is none).
  int64_t readScene(dequnmix::DeqTrainInput& in, Georeference& geo) const;
  // The scene's size, bands, band subset and wavelengths into `in` (not its pixels).
  void describeScene(dequnmix::DeqTrainInput& in, const GdalWindowReader& reader) const;
  // A scene in memory: read, trained, its abundances written from the training's final
  // pass. Returns the number outputs.
  QVariantMap trainInMemory(Outputs& out, dequnmix::DeqTrainInput& in, int p,
                            dequnmix::ProcessGroup* group, FeedbackProgress& progress,
                            QgsProcessingFeedback* feedback) const;
  // Whether the scene's pixels (float32) exceed MEMORY_BUDGET_MB.
  bool streams() const;
  // A scene larger than the budget, never read whole (train_streamed.cpp): trained on
  // tiles read through GDAL windows, then unmixed tile by tile into the outputs.
  QVariantMap trainStreamed(Outputs& out, dequnmix::DeqTrainInput& in, int p,
                            dequnmix::ProcessGroup* group, FeedbackProgress& progress,
                            QgsProcessingFeedback* feedback) const;
  void readReference(dequnmix::DeqTrainInput& in, int p) const;
  // The scene, the reference abundances and the checks of the initial endmembers; returns
  // the valid pixel count.
  int64_t readTrainingData(dequnmix::DeqTrainInput& in, int p, Georeference& geo,
                           FeedbackProgress& progress) const;
  static void createRasterWriters(Outputs& out, const dequnmix::DeqTrainInput& in,
                                  const std::vector<std::string>& names, const Georeference& geo);
  dequnmix::DeqTrainResult train(const dequnmix::DeqTrainInput& in, int p,
                                 FeedbackProgress& progress, QgsProcessingFeedback* feedback,
                                 dequnmix::ProcessGroup* group) const;
  static void writeOutputs(Outputs& out, const dequnmix::DeqTrainInput& in,
                           const std::vector<std::string>& names, const Georeference& geo,
                           const dequnmix::DeqTrainResult& result);
  // The model file and the endmember spectra, staged in `out`.
  static void writeModelFiles(Outputs& out, const dequnmix::DeqModel& model);
  void writeReport(const Outputs& out, const dequnmix::DeqTrainResult& result, int64_t validPixels,
                   const Timings& timings) const;
  // FINAL_LOSS and the other number outputs, also reported as a message.
  static QVariantMap summaryResults(const dequnmix::DeqTrainSummary& s, FeedbackProgress& progress);

  RasterInput input_;
  std::vector<int> bands_;
  QString initialPath_;
  bool hasReference_ = false;
  RasterInput reference_;
  dequnmix::DeqTrainOptions options_;
  dequnmix::DeqInferOptions inference_;
};

}  // namespace dequnmix::processing
