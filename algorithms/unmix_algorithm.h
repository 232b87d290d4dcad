// dequnmix:unmix: applies a trained DEQ-Unmix model to a scene, tile by tile (GDAL windows in,
// strips of rows out), so the scene never has to fit in memory.
#pragma once

#include <vector>

#include "algorithms/deq_raster_io.h"
#include "algorithms/processing_utils.h"
#include "core/deq/deq_unmix.h"

namespace dequnmix::processing {

class UnmixAlgorithm final : public DequnmixAlgorithm {
 public:
  QString name() const override;
  QString displayName() const override;
  QStringList tags() const override;
  QString group() const override;
  QString groupId() const override;
  QString shortHelpString() const override;
  QString shortDescription() const override;

 protected:
  UnmixAlgorithm* createInstance() const override;
  void initAlgorithm(const QVariantMap& configuration = QVariantMap()) override;
  bool prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                        QgsProcessingFeedback* feedback) override;
  QVariantMap processAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                               QgsProcessingFeedback* feedback) override;

 private:
  dequnmix::DeqModel loadModel() const;
  std::vector<int> modelBands(const dequnmix::DeqModel& model, FeedbackProgress& progress) const;
  static void checkSceneFitsModel(const GdalWindowReader& reader, const dequnmix::DeqModel& model,
                                  FeedbackProgress& progress);
  dequnmix::DeqInferStats infer(const dequnmix::DeqModel& model, GdalWindowReader& reader,
                                StripTileWriter& writer, FeedbackProgress& progress,
                                QgsProcessingFeedback* feedback,
                                dequnmix::TileShare share = {}) const;
  dequnmix::DeqInferStats inferDataParallel(const dequnmix::DeqModel& model,
                                            GdalWindowReader& reader,
                                            const AbundanceOutputPaths& paths,
                                            dequnmix::ProcessGroup& group,
                                            FeedbackProgress& progress,
                                            QgsProcessingFeedback* feedback) const;
  // Fails when no pixel was valid (every pixel nodata in some band the model uses).
  void requireValidPixels(const dequnmix::DeqInferStats& stats) const;
  void writeReport(const QString& reportPath, const AbundanceOutputPaths& paths,
                   const dequnmix::DeqModel& model, const dequnmix::DeqInferStats& stats,
                   int ranks) const;
  // MEAN_RESIDUAL_RMSE and the other number outputs, also reported as a message.
  static QVariantMap statsResults(const dequnmix::DeqInferStats& stats, FeedbackProgress& progress);
  RasterInput input_;
  QString modelPath_;
  dequnmix::DeqInferOptions options_;
};

}  // namespace dequnmix::processing
