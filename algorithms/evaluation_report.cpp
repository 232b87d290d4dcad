// The evaluation report (evaluation_report.h).
#include "algorithms/evaluation_report.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "algorithms/deq_raster_io.h"
#include "algorithms/report_images.h"
#include "algorithms/training_report.h"

namespace dequnmix::processing {

namespace {

void writeSummary(std::ostringstream& h, const EvaluationReportInput& in) {
  const bool spectra = !in.sadRad.empty();
  h << "<table>\n<tr><th>estimated</th><th>reference</th><th>SAD (rad)</th><th>SAD (deg)</th>"
       "<th>abundance RMSE</th></tr>\n";
  for (size_t e = 0; e < in.referenceOf.size(); ++e)
    h << "<tr><td>" << htmlEscape(in.estimatedNames[e]) << "</td><td>"
      << htmlEscape(in.referenceNames[in.referenceOf[e]]) << "</td><td>"
      << (spectra ? reportNumber(in.sadRad[e]) : "-") << "</td><td>"
      << (spectra ? reportNumber(in.sadRad[e] * 180 / M_PI) : "-") << "</td><td>"
      << reportNumber(in.rmse[e]) << "</td></tr>\n";
  h << "</table>\n<table>\n<tr><th>mSAD (rad)</th><td>" << reportNumber(in.msadRad)
    << "</td></tr>\n<tr><th>aRMSE (root of the mean over pixels and endmembers)</th><td>"
    << reportNumber(in.armse)
    << "</td></tr>\n<tr><th>aRMSE (mean of the per-endmember RMSEs)</th><td>"
    << reportNumber(in.armseMean) << "</td></tr>\n<tr><th>matching</th><td>"
    << (spectra ? "by spectral angle (least total SAD)" : "by abundance error (no spectra given)")
    << "</td></tr>\n<tr><th>pixels compared</th><td>" << in.pixels << "</td></tr>\n</table>\n";
}

std::string spectraChart(const EvaluationReportInput& in, size_t e) {
  const EndmemberTable& est = *in.estimatedSpectra;
  const EndmemberTable& ref = *in.referenceSpectra;
  const int r = in.referenceOf[e];
  const bool nm = int(ref.wavelengths.size()) == ref.bands;
  ChartSeries a{"estimated", {}, {}, "#1f77b4", false}, b{"reference", {}, {}, "#555", true};
  for (int k = 0; k < est.bands; ++k) {
    const double x = nm ? ref.wavelengths[k] : k + 1;
    a.x.push_back(x);
    a.y.push_back(est.at(k, int(e)));
    b.x.push_back(x);
    b.y.push_back(ref.at(k, r));
  }
  return lineChartSvg({a, b}, {"SAD " + reportNumber(in.sadRad[e]) + " rad",
                               nm ? "wavelength (nm)" : "band", "value", false, 420, 240});
}

}  // namespace

ReportMaps readAbundanceMaps(const std::string& path, const std::string& label, int maxSide) {
  GdalWindowReader reader(path, {}, label);
  const int P = reader.bands();
  ReportMaps m = reportGrid(P, reader.width(), reader.height(), maxSide);
  const int step = m.step;
  std::vector<float> row(size_t(P) * reader.width());
  for (int r = 0; r < m.height; ++r) {
    reader.read(r * step, 0, 1, reader.width(), row.data());
    for (int b = 0; b < P; ++b)
      for (int c = 0; c < m.width; ++c)
        m.values[(size_t(b) * m.height + r) * m.width + c] =
            row[size_t(b) * reader.width() + size_t(c) * step];
  }
  return m;
}

std::string evaluationReportHtml(const EvaluationReportInput& in) {
  std::ostringstream h;
  h << reportHead("Unmixing evaluation: " + in.estimatedName);
  h << "<h1>Unmixing evaluation</h1>\n<p class=\"note\">" << htmlEscape(in.estimatedName)
    << " against " << htmlEscape(in.referenceName) << ".</p>\n";
  writeSummary(h, in);
  h << "<h2>Maps</h2>\n<p class=\"note\">Abundance, reference and absolute difference on one "
       "scale, 0 to 1 (grey: nodata):</p>"
    << rampLegend(0, 1);
  for (size_t e = 0; e < in.referenceOf.size(); ++e) {
    const int r = in.referenceOf[e];
    const std::vector<float> est = in.estimated.band(int(e)), ref = in.reference.band(r);
    std::vector<float> diff(est.size());
    for (size_t i = 0; i < est.size(); ++i) diff[i] = std::fabs(est[i] - ref[i]);
    const int w = in.estimated.width, hgt = in.estimated.height;
    h << "<h2>" << htmlEscape(in.estimatedNames[e]) << " &rarr; "
      << htmlEscape(in.referenceNames[r]) << " (RMSE " << reportNumber(in.rmse[e]) << ")</h2>\n"
      << "<div class=\"maps\">" << rampImage(est, w, hgt, in.estimatedNames[e] + " (estimated)")
      << rampImage(ref, w, hgt, in.referenceNames[r] + " (reference)")
      << rampImage(diff, w, hgt, "absolute difference");
    if (in.estimatedSpectra && in.referenceSpectra && !in.sadRad.empty())
      h << "<div class=\"chart\">" << spectraChart(in, e) << "</div>";
    h << "</div>\n";
  }
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace dequnmix::processing
