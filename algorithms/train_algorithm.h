// dequnmix:train: trains DEQ-Unmix (core/deq_unmix.h) on one scene and writes the model,
// the scene's abundances, the learned endmembers, the residual and an HTML report.
#pragma once

#include <vector>

#include "algorithms/processing_utils.h"
#include "core/deq_unmix.h"

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
  RasterInput input_;
  std::vector<int> bands_;
  QString initialPath_;
  bool hasReference_ = false;
  RasterInput reference_;
  dequnmix::DeqTrainOptions options_;
  dequnmix::DeqInferOptions inference_;
};

}  // namespace dequnmix::processing
