// The unmix report (unmix_report.h).
#include "algorithms/unmix_report.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "algorithms/training_report.h"

namespace dequnmix::processing {

namespace {

void writeStatistics(std::ostringstream& h, const UnmixReportInput& in) {
  const DeqInferStats& s = *in.stats;
  h << "<table>\n";
  reportRow(h, "Scene",
            in.sceneName + " (" + std::to_string(in.width) + " x " + std::to_string(in.height) +
                " pixels)");
  reportRow(h, "Model", in.modelPath);
  reportRow(h, "Tiles",
            std::to_string(s.tiles) + " solved of " + std::to_string(s.tilesX * s.tilesY) + " (" +
                std::to_string(in.tileSize) + " pixels + halo " + std::to_string(in.halo) + ")" +
                (in.ranks > 1 ? ", over " + std::to_string(in.ranks) + " ranks" : ""));
  reportRow(h, "Valid pixels", std::to_string(s.validPixels));
  reportRow(
      h, "Mean / most solver iterations per tile",
      reportNumber(s.solver.meanIterations()) + " / " + std::to_string(s.solver.maxIterations));
  reportRow(h, "Converged fraction of the tile solves", reportNumber(s.solver.convergedFraction()));
  reportRow(h, "Mean reconstruction RMSE (data units)", reportNumber(s.meanResidualRmse));
  reportRow(h, "Seconds / pixels per second",
            reportNumber(s.seconds) + " / " + reportNumber(s.pixelsPerSecond, 6));
  h << "</table>\n";
}

void writeTileMaps(std::ostringstream& h, const DeqInferStats& s) {
  const int most = std::max(1, *std::max_element(s.tileIterations.begin(), s.tileIterations.end()));
  std::vector<float> iterations(s.tileIterations.begin(), s.tileIterations.end());
  std::vector<float> converged(s.tileConverged.begin(), s.tileConverged.end());
  h << "<h2>Tiles</h2>\n<p class=\"note\">One cell per tile: the solver's iterations (0 to " << most
    << ") and whether it converged (yellow) or stopped at the cap (purple).</p>\n"
    << "<div class=\"maps\">"
    << rampImage(iterations, s.tilesX, s.tilesY, "iterations per tile", 0, float(most))
    << rampImage(converged, s.tilesX, s.tilesY, "converged tiles", 0, 1) << "</div>\n";
}

}  // namespace

std::string unmixReportHtml(const UnmixReportInput& in) {
  std::ostringstream h;
  h << reportHead("DEQ-Unmix: " + in.sceneName);
  h << "<h1>DEQ-Unmix abundances</h1>\n";
  writeStatistics(h, in);
  h << "<h2>Abundance maps</h2>\n<p class=\"note\">Every endmember on one scale, 0 to 1 "
       "(grey: nodata).</p>\n"
    << rampLegend(0, 1) << "<div class=\"maps\">";
  for (size_t e = 0; e < in.endmemberNames.size(); ++e)
    h << rampImage(in.abundances, int(e), in.endmemberNames[e]);
  h << "</div>\n";
  if (in.residual.width > 0) {
    float high = 0;
    for (float v : in.residual.values)
      if (std::isfinite(v)) high = std::max(high, v);
    h << "<h2>Reconstruction error</h2>\n"
      << rampLegend(0, high) << "<div class=\"maps\">"
      << rampImage(in.residual, 0, "reconstruction RMSE (data units)", 0, high) << "</div>\n";
  }
  writeTileMaps(h, *in.stats);
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace dequnmix::processing
