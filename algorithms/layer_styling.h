// How dequnmix raster outputs look when QGIS loads them into a project:
//   - abundances: a multiband colour composite of the first three endmembers (red, green,
//     blue), each stretched over 0-1, so mixtures read as colours;
//   - residuals (per-pixel reconstruction RMSE): a single-band pseudocolour ramp over the
//     layer's range.
// The styleOnLoad functions attach a QgsProcessingLayerPostProcessorInterface to an output
// that the context will load on completion (toolbox with "Open output file", models); the
// apply functions set the renderer directly (post-processors and tests).
#pragma once

#include <QString>

class QgsProcessingContext;
class QgsRasterLayer;

namespace dequnmix::processing {

enum class RasterStyle {
  Abundances,  // multiband colour of bands 1-3, each 0-1
  Residual,    // single-band pseudocolour over min-max
};

// Call from processAlgorithm() after parameterAsOutputLayer(): when `path` is to be loaded
// on completion, its details get a post-processor that applies `style`.
void styleOutputOnLoad(QgsProcessingContext& context, const QString& path, RasterStyle style);

// Sets the renderer for `style` on `layer` (no-op for an invalid layer). Returns false
// when the layer does not suit the style (e.g. a single band for Abundances).
bool applyRasterStyle(QgsRasterLayer* layer, RasterStyle style);

}  // namespace dequnmix::processing
