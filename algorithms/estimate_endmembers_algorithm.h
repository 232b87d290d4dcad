// dequnmix:estimate_endmembers: the number of materials in a scene
// (core/classical/endmember_count.h).
#pragma once

#include <vector>

#include "algorithms/processing_utils.h"
#include "core/classical/endmember_count.h"

namespace dequnmix::processing {

class EstimateEndmembersAlgorithm final : public DequnmixAlgorithm {
 public:
  QString name() const override;
  QString displayName() const override;
  QStringList tags() const override;
  QString group() const override;
  QString groupId() const override;
  QString shortHelpString() const override;
  QString shortDescription() const override;

 protected:
  EstimateEndmembersAlgorithm* createInstance() const override;
  void initAlgorithm(const QVariantMap& configuration = QVariantMap()) override;
  bool prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                        QgsProcessingFeedback* feedback) override;
  QVariantMap processAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                               QgsProcessingFeedback* feedback) override;

 private:
  RasterInput input_;
  std::vector<int> bands_;
  dequnmix::EndmemberCountMethod method_ = dequnmix::EndmemberCountMethod::HySime;
  dequnmix::EndmemberCountOptions options_;
};

}  // namespace dequnmix::processing
