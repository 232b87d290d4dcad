// dequnmix:resample_library: spectra brought to a raster's bands
// (core/io/spectral_library.h).
#pragma once

#include <vector>

#include "algorithms/processing_utils.h"

namespace dequnmix::processing {

class ResampleLibraryAlgorithm final : public DequnmixAlgorithm {
 public:
  QString name() const override;
  QString displayName() const override;
  QStringList tags() const override;
  QString group() const override;
  QString groupId() const override;
  QString shortHelpString() const override;
  QString shortDescription() const override;

 protected:
  ResampleLibraryAlgorithm* createInstance() const override;
  void initAlgorithm(const QVariantMap& configuration = QVariantMap()) override;
  bool prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                        QgsProcessingFeedback* feedback) override;
  QVariantMap processAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                               QgsProcessingFeedback* feedback) override;

 private:
  QString libraryPath_;
  RasterInput raster_;
  std::vector<int> bands_;
};

}  // namespace dequnmix::processing
