// The Processing provider "dequnmix" (DEQ-Unmix).
#pragma once

#include <QIcon>
#include <QString>
#include <QStringList>

#include <qgsprocessingprovider.h>

namespace dequnmix::processing {

class DequnmixProvider final : public QgsProcessingProvider {
 public:
  static QString providerId() { return QStringLiteral("dequnmix"); }

  QString id() const override;
  QString name() const override;
  QString longName() const override;
  QString versionInfo() const override;
  QIcon icon() const override;
  QString svgIconPath() const override;
  // Every raster output is a Float32 GeoTIFF.
  QStringList supportedOutputRasterLayerExtensions() const override;
  QString defaultRasterFileExtension() const override;

 protected:
  void loadAlgorithms() override;
};

}  // namespace dequnmix::processing
