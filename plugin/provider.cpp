#include "plugin/provider.h"

#include "algorithms/algorithms.h"
#include "algorithms/processing_utils.h"

#ifndef DEQUNMIX_VERSION
#define DEQUNMIX_VERSION "unknown"
#endif

namespace dequnmix::processing {

QString DequnmixProvider::id() const { return providerId(); }

QString DequnmixProvider::name() const { return QStringLiteral("DEQ-Unmix"); }

QString DequnmixProvider::longName() const {
  return QStringLiteral("DEQ-Unmix hyperspectral unmixing (%1)").arg(versionInfo());
}

QString DequnmixProvider::versionInfo() const { return QStringLiteral(DEQUNMIX_VERSION); }

QIcon DequnmixProvider::icon() const { return processing::icon(QStringLiteral("provider")); }

QString DequnmixProvider::svgIconPath() const {
  return processing::iconPath(QStringLiteral("provider"));
}

QStringList DequnmixProvider::supportedOutputRasterLayerExtensions() const {
  return {QStringLiteral("tif")};
}

QString DequnmixProvider::defaultRasterFileExtension() const { return QStringLiteral("tif"); }

void DequnmixProvider::loadAlgorithms() {
  for (QgsProcessingAlgorithm* algorithm : createAlgorithms()) addAlgorithm(algorithm);
}

}  // namespace dequnmix::processing
