#include "algorithms/layer_styling.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include <qgscolorramp.h>
#include <qgscolorrampshader.h>
#include <qgscontrastenhancement.h>
#include <qgsmultibandcolorrenderer.h>
#include <qgsprocessingcontext.h>
#include <qgsrasterbandstats.h>
#include <qgsrasterdataprovider.h>
#include <qgsrasterlayer.h>
#include <qgsrastershader.h>
#include <qgssinglebandpseudocolorrenderer.h>
#include <qgsstyle.h>

namespace dequnmix::processing {

namespace {

class StylePostProcessor final : public QgsProcessingLayerPostProcessorInterface {
 public:
  explicit StylePostProcessor(RasterStyle style) : style_(style) {}
  void postProcessLayer(QgsMapLayer* layer, QgsProcessingContext&,
                        QgsProcessingFeedback*) override {
    applyRasterStyle(qobject_cast<QgsRasterLayer*>(layer), style_);
  }

 private:
  RasterStyle style_;
};

QgsContrastEnhancement* unitStretch(Qgis::DataType type) {
  auto* enhancement = new QgsContrastEnhancement(type);
  enhancement->setContrastEnhancementAlgorithm(QgsContrastEnhancement::StretchToMinimumMaximum);
  enhancement->setMinimumValue(0.0);
  enhancement->setMaximumValue(1.0);
  return enhancement;
}

bool applyAbundances(QgsRasterLayer* layer) {
  QgsRasterDataProvider* provider = layer->dataProvider();
  const int bands = layer->bandCount();
  if (bands < 2) return false;
  const int red = 1, green = 2, blue = bands >= 3 ? 3 : -1;
  auto* renderer = new QgsMultiBandColorRenderer(provider, red, green, blue);
  renderer->setRedContrastEnhancement(unitStretch(provider->dataType(red)));
  renderer->setGreenContrastEnhancement(unitStretch(provider->dataType(green)));
  if (blue > 0) renderer->setBlueContrastEnhancement(unitStretch(provider->dataType(blue)));
  layer->setRenderer(renderer);
  return true;
}

bool applyResidual(QgsRasterLayer* layer) {
  QgsRasterDataProvider* provider = layer->dataProvider();
  if (layer->bandCount() < 1) return false;
  const QgsRasterBandStats stats =
      provider->bandStatistics(1, QgsRasterBandStats::Min | QgsRasterBandStats::Max);
  double lo = std::isfinite(stats.minimumValue) ? stats.minimumValue : 0.0;
  double hi = std::isfinite(stats.maximumValue) ? stats.maximumValue : 1.0;
  if (!(hi > lo)) hi = lo + 1.0;
  std::unique_ptr<QgsColorRamp> ramp;
  if (QgsStyle* style = QgsStyle::defaultStyle())
    ramp.reset(style->colorRamp(QStringLiteral("Magma")));
  if (!ramp)
    ramp = std::make_unique<QgsGradientColorRamp>(QColor(13, 8, 135), QColor(240, 249, 33));
  auto* shaderFunction =
      new QgsColorRampShader(lo, hi, ramp.release(), QgsColorRampShader::Interpolated);
  shaderFunction->classifyColorRamp(6, 1, layer->extent(), provider);
  auto* shader = new QgsRasterShader(lo, hi);
  shader->setRasterShaderFunction(shaderFunction);
  auto* renderer = new QgsSingleBandPseudoColorRenderer(provider, 1, shader);
  renderer->setClassificationMin(lo);
  renderer->setClassificationMax(hi);
  layer->setRenderer(renderer);
  return true;
}

}  // namespace

void styleOutputOnLoad(QgsProcessingContext& context, const QString& path, RasterStyle style) {
  if (path.isEmpty() || !context.willLoadLayerOnCompletion(path)) return;
  context.layerToLoadOnCompletionDetails(path).setPostProcessor(new StylePostProcessor(style));
}

bool applyRasterStyle(QgsRasterLayer* layer, RasterStyle style) {
  if (!layer || !layer->isValid() || !layer->dataProvider()) return false;
  const bool ok = style == RasterStyle::Abundances ? applyAbundances(layer) : applyResidual(layer);
  if (ok) layer->triggerRepaint();
  return ok;
}

}  // namespace dequnmix::processing
