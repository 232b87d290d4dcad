// dequnmix:evaluate: unmixing metrics (core/metrics/metrics.h) of estimated abundances (and
// optionally endmembers) against a reference.
#pragma once

#include "algorithms/processing_utils.h"
#include "core/metrics/metrics.h"

namespace dequnmix::processing {

class EvaluateAlgorithm final : public DequnmixAlgorithm {
 public:
  QString name() const override;
  QString displayName() const override;
  QStringList tags() const override;
  QString group() const override;
  QString groupId() const override;
  QString shortHelpString() const override;
  QString shortDescription() const override;

 protected:
  EvaluateAlgorithm* createInstance() const override;
  void initAlgorithm(const QVariantMap& configuration = QVariantMap()) override;
  bool prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                        QgsProcessingFeedback* feedback) override;
  QVariantMap processAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                               QgsProcessingFeedback* feedback) override;

 public:
  // Defined in the .cpp file (its helpers use them too).
  struct Spectra;
  struct Evaluation;

 private:
  // Reads and checks ENDMEMBERS and REFERENCE_ENDMEMBERS.
  Spectra readSpectra(int p, FeedbackProgress& progress) const;
  Evaluation compare(const Spectra& spectra, dequnmix::AbundanceErrorAccumulator& errors,
                     FeedbackProgress& progress) const;
  void writeReport(const StagedFile& report, const Evaluation& ev, const Spectra& spectra,
                   int64_t pixels) const;
  RasterInput estimated_;
  RasterInput reference_;
  QString endmemberPath_;
  QString referenceEndmemberPath_;
};

}  // namespace dequnmix::processing
