// dequnmix:vca: vertex component analysis endmember extraction (core/classical/vca.h).
#pragma once

#include <string>
#include <vector>

#include "algorithms/gdal_raster.h"
#include "algorithms/processing_utils.h"

namespace dequnmix::processing {

class VcaAlgorithm final : public DequnmixAlgorithm {
 public:
  QString name() const override;
  QString displayName() const override;
  QStringList tags() const override;
  QString group() const override;
  QString groupId() const override;
  QString shortHelpString() const override;
  QString shortDescription() const override;

 protected:
  VcaAlgorithm* createInstance() const override;
  void initAlgorithm(const QVariantMap& configuration = QVariantMap()) override;
  bool prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                        QgsProcessingFeedback* feedback) override;
  QVariantMap processAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                               QgsProcessingFeedback* feedback) override;

 private:
  std::vector<int64_t> extract(GdalRasterReader& reader, int endmembers,
                               std::vector<float>& spectra, FeedbackProgress& progress) const;
  QString writeLocations(const QVariantMap& parameters, QgsProcessingContext& context,
                         const std::vector<std::string>& names,
                         const std::vector<int64_t>& pixelIndices) const;
  RasterInput input_;
  std::vector<int> bands_;
  int threads_ = 1;
  int endmembers_ = 0;
  qlonglong seed_ = 0;
  bool nfindr_ = false;  // METHOD nfindr, else vca
};

}  // namespace dequnmix::processing
