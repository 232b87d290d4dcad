// dequnmix:unmix: applies a trained DEQ-Unmix model to a scene, tile by tile (GDAL windows in,
// strips of rows out), so the scene never has to fit in memory.
#pragma once

#include <vector>

#include "algorithms/processing_utils.h"
#include "core/deq_unmix.h"

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
  RasterInput input_;
  QString modelPath_;
  dequnmix::DeqInferOptions options_;
};

}  // namespace dequnmix::processing
