// dequnmix:fcls: least-squares abundances, fully constrained by default (core/classical/fcls.h),
// tile by tile.
#pragma once

#include <cstdint>
#include <vector>

#include "algorithms/gdal_raster.h"
#include "algorithms/processing_utils.h"
#include "core/classical/fcls.h"

namespace dequnmix::processing {

class FclsAlgorithm final : public DequnmixAlgorithm {
 public:
  QString name() const override;
  QString displayName() const override;
  QStringList tags() const override;
  QString group() const override;
  QString groupId() const override;
  QString shortHelpString() const override;
  QString shortDescription() const override;

 protected:
  FclsAlgorithm* createInstance() const override;
  void initAlgorithm(const QVariantMap& configuration = QVariantMap()) override;
  bool prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                        QgsProcessingFeedback* feedback) override;
  QVariantMap processAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                               QgsProcessingFeedback* feedback) override;

 private:
  dequnmix::EndmemberTable readEndmemberTable(QgsProcessingFeedback* feedback) const;
  static int64_t unmix(GdalRasterReader& reader, const dequnmix::FclsSolver& solver,
                       const dequnmix::EndmemberTable& table, GdalRasterWriter& abundanceWriter,
                       GdalRasterWriter* residualWriter, FeedbackProgress& progress);
  RasterInput input_;
  std::vector<int> bands_;
  int threads_ = 1;
  dequnmix::AbundanceConstraints constraints_ = dequnmix::AbundanceConstraints::Full;
  QString endmemberPath_;
};

}  // namespace dequnmix::processing
