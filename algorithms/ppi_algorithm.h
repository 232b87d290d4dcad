// dequnmix:ppi: the pixel purity index count raster (core/classical/ppi.h).
#pragma once

#include <vector>

#include "algorithms/processing_utils.h"
#include "core/classical/ppi.h"

namespace dequnmix::processing {

class PpiAlgorithm final : public DequnmixAlgorithm {
 public:
  QString name() const override;
  QString displayName() const override;
  QStringList tags() const override;
  QString group() const override;
  QString groupId() const override;
  QString shortHelpString() const override;
  QString shortDescription() const override;

 protected:
  PpiAlgorithm* createInstance() const override;
  void initAlgorithm(const QVariantMap& configuration = QVariantMap()) override;
  bool prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                        QgsProcessingFeedback* feedback) override;
  QVariantMap processAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                               QgsProcessingFeedback* feedback) override;

 private:
  RasterInput input_;
  std::vector<int> bands_;
  dequnmix::PpiOptions options_;
};

}  // namespace dequnmix::processing
