// dequnmix:synthesize: a deterministic synthetic hyperspectral scene (DESIGN.md section 6),
// its reference abundances and reference endmember spectra.
#pragma once

#include "algorithms/processing_utils.h"
#include "core/synthetic/synthetic.h"

namespace dequnmix::processing {

class SynthesizeAlgorithm final : public DequnmixAlgorithm {
 public:
  QString name() const override;
  QString displayName() const override;
  QStringList tags() const override;
  QString group() const override;
  QString groupId() const override;
  QString shortHelpString() const override;
  QString shortDescription() const override;

 protected:
  SynthesizeAlgorithm* createInstance() const override;
  void initAlgorithm(const QVariantMap& configuration = QVariantMap()) override;
  bool prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                        QgsProcessingFeedback* feedback) override;
  QVariantMap processAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                               QgsProcessingFeedback* feedback) override;

 private:
  dequnmix::SyntheticOptions options_;
};

}  // namespace dequnmix::processing
