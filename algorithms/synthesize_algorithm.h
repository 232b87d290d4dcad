// dequnmix:synthesize: a deterministic synthetic hyperspectral scene,
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
  void addEffectParameters(const dequnmix::SyntheticOptions& d);
  void readEffectParameters(const QVariantMap& parameters, QgsProcessingContext& context);
  void checkSizes(double snr) const;

  dequnmix::SyntheticOptions options_;
  int bands_ = 0;  // of the scene: BANDS, or the library's band count
};

}  // namespace dequnmix::processing
