#include "algorithms/training_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <sstream>

#include "core/errors.h"
#include "core/metrics/metrics.h"

namespace dequnmix::processing {

namespace {

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string paletteColor(size_t i) { return kPalette[i % (sizeof kPalette / sizeof *kPalette)]; }

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

// Where the initial vertices came from (and why N-FINDR's, when the refinement chose them).
std::string vertexSource(const TrainingReportInput& in, const DeqTrainResult& r) {
  if (in.givenEndmembers) return "given (INITIAL_ENDMEMBERS)";
  if (!r.nfindrVertices) return "VCA";
  return "N-FINDR (automatic: VCA's vertices left " + reportNumber(r.vertexResidualRatio, 2) +
         " x its residual outside their cone, a material missed)";
}

// ", refined by ..." for the refinement training applied (and why, when it was automatic).
std::string refinementPhrase(const DeqTrainResult& r) {
  std::string phrase;
  switch (r.refinement) {
    case EndmemberRefinement::AngularMeanShift:
      phrase = ", refined by angular mean shift";
      break;
    case EndmemberRefinement::MinimumVolume:
      phrase = ", refined to the minimum-volume simplex";
      break;
    case EndmemberRefinement::MinimumVolumeOfDirections:
      phrase =
          ", refined to the minimum-volume simplex of the pixels' directions (brightness "
          "varies)";
      break;
    case EndmemberRefinement::PureClusters:
      phrase = ", " + std::to_string(r.centredVertices) +
               " of them moved to the centre of their cluster of pure pixels";
      break;
    case EndmemberRefinement::None:
    case EndmemberRefinement::Automatic:
      break;
  }
  if (r.volumeRatio > 0)
    phrase += std::string(phrase.empty() ? ", kept" : "") +
              " (automatic refinement: the minimum-volume simplex is " +
              reportNumber(r.volumeRatio, 2) + " x the initial vertices' volume)";
  return phrase;
}

// The data term the model fits, and why when it was chosen automatically.
std::string dataTermPhrase(const DeqTrainResult& r) {
  std::string phrase = r.model.network.scaleInvariant()
                           ? "scale-invariant (each pixel at its own brightness)"
                           : "linear sum-to-one mixture (brightness as abundance information)";
  if (r.brightnessGain > 0)
    phrase += "; automatic: a per-pixel brightness scale explains " +
              reportNumber(r.brightnessGain, 3) + " noise variances per pixel, " +
              reportNumber(r.brightnessShare, 2) + " of the energy of the pixels";
  return phrase;
}

// Whether the bands were weighed by their noise, and the spread that chose it.
std::string bandWeightingPhrase(const DeqTrainResult& r) {
  std::string phrase = r.model.bandWeights.empty()
                           ? "equal"
                           : "by signal-to-noise ratio (each band divided by its noise)";
  if (r.noiseSpread > 0)
    phrase += "; the bands' noise spreads " + reportNumber(r.noiseSpread, 3) +
              " x from the quietest to the noisiest";
  return phrase;
}

// How many pixels were left out as anomalies, and the residual ratio that chose them.
std::string anomalyPhrase(const DeqTrainResult& r) {
  if (r.anomalyRatio == 0) return "not screened";
  return (r.anomalousPixels == 0 ? std::string("none")
                                 : std::to_string(r.anomalousPixels) +
                                       " left out of the endmember stage and training") +
         "; the largest pixel energy outside the signal subspace is " +
         reportNumber(r.anomalyRatio, 3) + " x its 99th percentile over the pixels";
}

// The spatial prox weight the model applies, and what scaled it when that was automatic.
std::string spatialProxPhrase(const DeqTrainResult& r) {
  const double w = r.model.network.spatialWeight;
  std::string phrase =
      w > 0 ? reportNumber(w, 3) + " (" + r.model.network.spatialProx + ")" : "off";
  if (r.spatialCorrelation != 0 || r.spatialNoiseShare != 0)
    phrase += "; automatic: neighbouring pixels' start abundances correlate " +
              reportNumber(r.spatialCorrelation, 3) + " and noise makes " +
              reportNumber(r.spatialNoiseShare, 3) + " of their differences";
  return phrase;
}

// "Nice" tick positions covering [lo, hi].
std::vector<double> niceTicks(double lo, double hi, int target = 6) {
  std::vector<double> ticks;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double residual = raw / magnitude;
  const double step = magnitude * (residual < 1.5 ? 1 : residual < 3 ? 2 : residual < 7 ? 5 : 10);
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool valid() const { return lo <= hi; }
};

// Spectral angle between endmember e of two tables over their common bands.
double sad(const EndmemberTable& a, const EndmemberTable& b, int e) {
  return spectralAngle(&a.values[e], &b.values[e], std::min(a.bands, b.bands), a.endmembers(),
                       b.endmembers());
}

}  // namespace

std::string htmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// A chart's geometry: the plot area inside the image and the axis ranges it shows (y in
// log10 units for a log axis).
struct ChartFrame {
  static constexpr double left = 70, right = 20, top = 34, bottom = 46;
  double width = 0;
  double height = 0;  // the whole image, legend included
  double plotW = 0;
  double plotH = 0;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool logY = false;

  double ty(double v) const { return logY ? std::log10(v) : v; }
  double px(double x) const { return left + (x - x0) / (x1 - x0) * plotW; }
  double py(double y) const { return top + plotH - (y - y0) / (y1 - y0) * plotH; }
};

ChartFrame chartFrame(size_t seriesCount, const ChartOptions& o) {
  ChartFrame f;
  const double legendHeight = 18.0 * ((seriesCount + 2) / 3);
  f.width = o.width;
  f.height = o.height + legendHeight;
  f.plotW = f.width - f.left - f.right;
  f.plotH = o.height - f.top - f.bottom;
  f.logY = o.logY;
  return f;
}

// Non-finite points, and non-positive ones on a log axis, are left out.
bool plottable(double x, double y, bool logY) {
  return std::isfinite(x) && std::isfinite(y) && !(logY && y <= 0);
}

// The ranges of the plottable points (y in axis units).
void dataRanges(const std::vector<ChartSeries>& series, const ChartFrame& f, Range& xr, Range& yr) {
  for (const ChartSeries& s : series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!plottable(s.x[i], s.y[i], f.logY)) continue;
      xr.add(s.x[i]);
      yr.add(f.ty(s.y[i]));
    }
  }
}

// Axis ranges from the data ranges: whole decades on a log axis, 5 % padding on a linear
// one, and a non-empty range when every point has the same value.
void setAxisRanges(ChartFrame& f, const Range& xr, const Range& yr) {
  f.x0 = xr.lo;
  f.x1 = xr.hi;
  f.y0 = yr.lo;
  f.y1 = yr.hi;
  if (f.x1 <= f.x0) {
    f.x0 -= 0.5;
    f.x1 += 0.5;
  }
  if (f.logY) {
    f.y0 = std::floor(f.y0);
    f.y1 = std::ceil(f.y1);
    if (f.y1 <= f.y0) f.y1 = f.y0 + 1;
  } else {
    const double pad = f.y1 <= f.y0 ? std::max(std::abs(f.y0) * 0.1, 1e-6) : (f.y1 - f.y0) * 0.05;
    f.y0 -= pad;
    f.y1 += pad;
  }
}

void writeChartHeader(std::ostringstream& svg, const ChartFrame& f, const ChartOptions& o) {
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << f.width << "\" height=\""
      << f.height << "\" viewBox=\"0 0 " << f.width << " " << f.height
      << "\" role=\"img\" class=\"chart\">\n";
  svg << "<title>" << htmlEscape(o.title) << "</title>\n";
  svg << "<rect x=\"0\" y=\"0\" width=\"" << f.width << "\" height=\"" << f.height
      << "\" fill=\"#ffffff\"/>\n";
  svg << "<text x=\"" << f.width / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" "
      << "font-weight=\"bold\">" << htmlEscape(o.title) << "</text>\n";
}

void writeNoData(std::ostringstream& svg, const ChartFrame& f) {
  svg << "<text x=\"" << f.width / 2 << "\" y=\"" << f.top + f.plotH / 2
      << "\" text-anchor=\"middle\" font-size=\"12\" fill=\"#777\">no data</text>\n</svg>\n";
}

// Horizontal grid lines with their labels (every decade on a log axis).
void writeYGrid(std::ostringstream& svg, const ChartFrame& f) {
  std::vector<double> ticks;
  if (f.logY) {
    for (double d = f.y0; d <= f.y1 + 1e-9; d += 1) ticks.push_back(d);
  } else {
    ticks = niceTicks(f.y0, f.y1);
  }
  for (double t : ticks) {
    if (t < f.y0 - 1e-12 || t > f.y1 + 1e-12) continue;
    svg << "<line x1=\"" << f.left << "\" x2=\"" << f.left + f.plotW << "\" y1=\"" << f.py(t)
        << "\" y2=\"" << f.py(t) << "\" stroke=\"#e4e4e4\"/>\n";
    svg << "<text x=\"" << f.left - 6 << "\" y=\"" << f.py(t) + 4 << "\" text-anchor=\"end\">"
        << (f.logY ? "1e" + fixed(t, 0) : reportNumber(t, 4)) << "</text>\n";
  }
}

void writeXGrid(std::ostringstream& svg, const ChartFrame& f) {
  for (double t : niceTicks(f.x0, f.x1)) {
    if (t < f.x0 - 1e-12 || t > f.x1 + 1e-12) continue;
    svg << "<line x1=\"" << f.px(t) << "\" x2=\"" << f.px(t) << "\" y1=\"" << f.top << "\" y2=\""
        << f.top + f.plotH << "\" stroke=\"#f0f0f0\"/>\n";
    svg << "<text x=\"" << f.px(t) << "\" y=\"" << f.top + f.plotH + 16
        << "\" text-anchor=\"middle\">" << reportNumber(t, 5) << "</text>\n";
  }
}

// Grid, tick labels, plot border and axis labels.
void writeAxes(std::ostringstream& svg, const ChartFrame& f, const ChartOptions& o) {
  svg << "<g font-size=\"11\" fill=\"#333\">\n";
  writeYGrid(svg, f);
  writeXGrid(svg, f);
  svg << "<rect x=\"" << f.left << "\" y=\"" << f.top << "\" width=\"" << f.plotW << "\" height=\""
      << f.plotH << "\" fill=\"none\" stroke=\"#888\"/>\n";
  svg << "<text x=\"" << f.left + f.plotW / 2 << "\" y=\"" << f.top + f.plotH + 34
      << "\" text-anchor=\"middle\">" << htmlEscape(o.xLabel) << "</text>\n";
  svg << "<text transform=\"translate(16," << f.top + f.plotH / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << htmlEscape(o.yLabel) << "</text>\n";
  svg << "</g>\n";
}

// A polyline through the series' plottable points, or a dot when there is only one.
void writeSeries(std::ostringstream& svg, const ChartFrame& f, const ChartSeries& s,
                 const std::string& color) {
  std::vector<std::pair<std::string, std::string>> points;
  for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
    if (!plottable(s.x[i], s.y[i], f.logY)) continue;
    points.emplace_back(fixed(f.px(s.x[i]), 2), fixed(f.py(f.ty(s.y[i])), 2));
  }
  if (points.size() == 1) {
    svg << "<circle cx=\"" << points[0].first << "\" cy=\"" << points[0].second
        << "\" r=\"3\" fill=\"" << color << "\"/>\n";
  } else if (points.size() > 1) {
    svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.8\""
        << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"";
    for (const auto& [x, y] : points) svg << x << "," << y << " ";
    svg << "\"><title>" << htmlEscape(s.name) << "</title></polyline>\n";
  }
}

// Legend entry k, three to a row below the plot.
void writeLegendEntry(std::ostringstream& svg, const ChartFrame& f, const ChartOptions& o, size_t k,
                      const ChartSeries& s, const std::string& color) {
  const double lx = 10 + (k % 3) * (f.width - 20) / 3.0;
  const double ly = o.height + 18.0 * (k / 3) + 4;
  svg << "<line x1=\"" << lx << "\" x2=\"" << lx + 26 << "\" y1=\"" << ly << "\" y2=\"" << ly
      << "\" stroke=\"" << color << "\" stroke-width=\"2\""
      << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>\n";
  svg << "<text x=\"" << lx + 32 << "\" y=\"" << ly + 4 << "\" font-size=\"11\">"
      << htmlEscape(s.name) << "</text>\n";
}

}  // namespace

std::string lineChartSvg(const std::vector<ChartSeries>& series, const ChartOptions& o) {
  ChartFrame f = chartFrame(series.size(), o);
  Range xr, yr;
  dataRanges(series, f, xr, yr);
  std::ostringstream svg;
  writeChartHeader(svg, f, o);
  if (!xr.valid() || !yr.valid()) {
    writeNoData(svg, f);
    return svg.str();
  }
  setAxisRanges(f, xr, yr);
  writeAxes(svg, f, o);
  for (size_t k = 0; k < series.size(); ++k) {
    const ChartSeries& s = series[k];
    const std::string color = s.color.empty() ? paletteColor(k) : s.color;
    writeSeries(svg, f, s, color);
    writeLegendEntry(svg, f, o, k, s, color);
  }
  svg << "</svg>\n";
  return svg.str();
}

namespace {

using EpochValue = std::function<double(const DeqEpochStats&)>;
using SolveValue = double (*)(const DeqSolveStats&);

// One value per epoch, against the epoch number.
ChartSeries epochSeries(const std::vector<DeqEpochStats>& epochs, const std::string& name,
                        const EpochValue& get, const std::string& color = "", bool dashed = false) {
  ChartSeries s;
  s.name = name;
  for (const DeqEpochStats& e : epochs) {
    s.x.push_back(e.epoch);
    s.y.push_back(get(e));
  }
  s.color = color;
  s.dashed = dashed;
  return s;
}

// The solves of one direction: forward, and backward for the implicit gradient.
struct SolveDirection {
  std::string name;
  DeqSolveStats DeqEpochStats::*stats;
  std::string color;
};

std::vector<SolveDirection> solveDirections(bool implicit) {
  std::vector<SolveDirection> d{{"forward", &DeqEpochStats::forward, "#1f77b4"}};
  if (implicit) d.push_back({"backward", &DeqEpochStats::backward, "#d62728"});
  return d;
}

ChartSeries solveSeries(const std::vector<DeqEpochStats>& epochs, const std::string& name,
                        const SolveDirection& d, SolveValue get, bool dashed = false) {
  auto stats = d.stats;
  return epochSeries(
      epochs, name, [stats, get](const DeqEpochStats& e) { return get(e.*stats); }, d.color,
      dashed);
}

// "<direction> mean" (solid) and "<direction> max" (dashed) per solve direction.
std::vector<ChartSeries> meanAndMaxSeries(const std::vector<DeqEpochStats>& epochs, bool implicit,
                                          SolveValue mean, SolveValue max) {
  std::vector<ChartSeries> s;
  for (const SolveDirection& d : solveDirections(implicit)) {
    s.push_back(solveSeries(epochs, d.name + " mean", d, mean));
    s.push_back(solveSeries(epochs, d.name + " max", d, max, true));
  }
  return s;
}

void writeHead(std::ostringstream& h, const TrainingReportInput& in, const DeqTrainOptions& o) {
  h << reportHead("DEQ-Unmix training report: " + in.sceneName);
  h << "<h1>DEQ-Unmix training report</h1>\n";
  h << "<p class=\"note\">Deep equilibrium unmixing (Wang, Gao, Zhu and Chen, arXiv 2604.11279): "
       "abundances are the fixed point A* = Proj(A - eta G_theta(EA - Y, A)), found by "
    << htmlEscape(o.forward.kind) << " iteration and trained with the "
    << htmlEscape(toString(o.gradient)) << " gradient.";
  if (!in.created.empty()) h << " Created " << htmlEscape(in.created) << ".";
  h << "</p>\n";
}

void writeSummary(std::ostringstream& h, const TrainingReportInput& in, const DeqTrainResult& r,
                  const DeqTrainOptions& o) {
  const DeqModel& m = r.model;
  h << "<h2>Summary</h2>\n<table>\n";
  reportRow(h, "Scene", in.sceneName);
  if (!in.scenePath.empty()) reportRow(h, "Scene file", in.scenePath);
  reportRow(h, "Size",
            std::to_string(in.width) + " x " + std::to_string(in.height) + " pixels, " +
                std::to_string(m.bands) + " bands used of " + std::to_string(m.sourceBands));
  if (in.validPixels > 0) reportRow(h, "Valid pixels", std::to_string(in.validPixels));
  std::string names;
  for (size_t i = 0; i < m.endmembers.names.size(); ++i)
    names += (i ? ", " : "") + m.endmembers.names[i];
  reportRow(h, "Endmembers", std::to_string(m.endmemberCount()) + " (" + names + ")");
  reportRow(h, "Initial endmembers",
            vertexSource(in, r) + refinementPhrase(r) +
                (o.trainEndmembers ? ", then trained" : ", then held fixed"));
  reportRow(h, "Data term", dataTermPhrase(r));
  reportRow(h, "Band weights", bandWeightingPhrase(r));
  reportRow(h, "Anomalous pixels", anomalyPhrase(r));
  reportRow(h, "Spatial prox weight", spatialProxPhrase(r));
  reportRow(
      h, "Training",
      std::string(m.summary.supervised ? "supervised (reference abundances)" : "unsupervised") +
          (m.summary.tiled ? ", on sampled tiles" : ", on the whole scene") +
          (in.streamed ? " read from the file (the scene is over the memory budget)" : "") +
          (r.worldSize > 1
               ? ", data-parallel over " + std::to_string(r.worldSize) + " processes (c10d)"
               : ""));
  reportRow(h, "Epochs", std::to_string(m.summary.epochs));
  reportRow(h, "Final loss", reportNumber(m.summary.finalLoss, 6));
  reportRow(h, "Mean forward iterations (training)",
            reportNumber(m.summary.meanForwardIterations, 4));
  reportRow(h, "Converged fraction (training forward solves)",
            reportNumber(m.summary.convergedFraction, 4));
  reportRow(h, "Inference solves / mean iterations / converged",
            std::to_string(r.inference.solves) + " / " +
                reportNumber(r.inference.meanIterations(), 4) + " / " +
                reportNumber(r.inference.convergedFraction(), 4));
  reportRow(h, "Inference relative residual (mean / max)",
            reportNumber(r.inference.meanRelativeResidual(), 3) + " / " +
                reportNumber(r.inference.maxRelativeResidual, 3));
  reportRow(h, "Training seconds", fixed(m.summary.trainingSeconds, 2));
  h << "</table>\n";
}

void writeLossCharts(std::ostringstream& h, const DeqTrainResult& r) {
  const std::vector<DeqEpochStats>& epochs = r.epochs;
  h << "<h2>Loss</h2>\n<div class=\"charts\">\n";
  std::vector<ChartSeries> loss{
      epochSeries(epochs, "loss", [](const DeqEpochStats& e) { return e.loss; })};
  if (r.model.summary.supervised) {
    loss.push_back(epochSeries(epochs, "abundance MSE",
                               [](const DeqEpochStats& e) { return e.abundanceMse; }));
  } else {
    loss.push_back(epochSeries(epochs, "mean SAD (rad)",
                               [](const DeqEpochStats& e) { return e.spectralAngle; }));
    loss.push_back(
        epochSeries(epochs, "MSE (scaled data)", [](const DeqEpochStats& e) { return e.mse; }));
  }
  h << lineChartSvg(loss, {"Training loss per epoch", "epoch", "loss", false, 640, 300});
  h << lineChartSvg(
      {epochSeries(epochs, "eta (x 1/||E||^2)", [](const DeqEpochStats& e) { return e.eta; }),
       epochSeries(epochs, "gradient norm", [](const DeqEpochStats& e) { return e.gradientNorm; })},
      {"Step size and gradient norm", "epoch", "value", true, 640, 300});
  h << "</div>\n";
}

// Each learned spectrum (solid) next to its initial one (dashed, same colour).
std::string endmemberChart(const DeqModel& m) {
  const bool nm = m.wavelengths.size() == size_t(m.bands);
  std::vector<double> x;
  for (int b = 0; b < m.bands; ++b) x.push_back(nm ? m.wavelengths[b] : double(b + 1));
  const EndmemberTable& start = m.initialEndmembers;
  std::vector<ChartSeries> s;
  for (int e = 0; e < m.endmemberCount(); ++e) {
    ChartSeries learned, initial;
    learned.name = m.endmembers.names[e];
    initial.name = m.endmembers.names[e] + " (initial)";
    learned.x = initial.x = x;
    for (int b = 0; b < m.bands; ++b) {
      learned.y.push_back(m.endmembers.at(b, e));
      initial.y.push_back(e < start.endmembers() && b < start.bands
                              ? start.at(b, e)
                              : std::numeric_limits<double>::quiet_NaN());
    }
    learned.color = initial.color = paletteColor(e);
    initial.dashed = true;
    s.push_back(learned);
    s.push_back(initial);
  }
  return lineChartSvg(s, {"Learned (solid) and initial (dashed) endmembers",
                          nm ? "wavelength (nm)" : "band", "value (data units)", false, 900, 340});
}

void writeEndmembers(std::ostringstream& h, const TrainingReportInput& in, const DeqTrainResult& r,
                     const DeqTrainOptions& o) {
  const DeqModel& m = r.model;
  h << "<h2>Endmember spectra</h2>\n<p class=\"note\">Solid: final (learned) spectra; dashed: "
       "initial spectra (";
  h << vertexSource(in, r) << refinementPhrase(r) << ").";
  if (!o.trainEndmembers)
    h << " Endmembers were held fixed during training, so the curves coincide.";
  h << "</p>\n<div class=\"charts\">\n";
  h << endmemberChart(m);
  h << "</div>\n<table>\n<tr><th>endmember</th><th>SAD initial vs final (rad)</th></tr>\n";
  for (int e = 0; e < m.endmemberCount(); ++e) {
    h << "<tr><td>" << htmlEscape(m.endmembers.names[e]) << "</td><td>"
      << (e < m.initialEndmembers.endmembers()
              ? reportNumber(sad(m.initialEndmembers, m.endmembers, e), 4)
              : "-")
      << "</td></tr>\n";
  }
  h << "</table>\n";
}

void writeSolverCharts(std::ostringstream& h, const DeqTrainResult& r, const DeqTrainOptions& o) {
  const bool implicit = o.gradient == DeqGradientMode::Implicit;
  h << "<h2>Equilibrium solver per epoch</h2>\n<p class=\"note\">Forward: "
    << htmlEscape(o.forward.kind) << ", at most " << o.forward.maxIterations
    << " iterations, tolerance " << reportNumber(o.forward.tolerance, 3) << ", history "
    << o.forward.historyFor(r.model.endmemberCount()) << ".";
  if (implicit)
    h << " Backward (implicit, u = g + J^T u): " << htmlEscape(o.backward.kind) << ", at most "
      << o.backward.maxIterations << " iterations, tolerance "
      << reportNumber(o.backward.tolerance, 3) << ".";
  h << "</p>\n<div class=\"charts\">\n";
  h << lineChartSvg(
      meanAndMaxSeries(
          r.epochs, implicit, [](const DeqSolveStats& s) { return s.meanIterations(); },
          [](const DeqSolveStats& s) { return double(s.maxIterations); }),
      {"Solver iterations", "epoch", "iterations", false, 640, 300});
  h << lineChartSvg(
      meanAndMaxSeries(
          r.epochs, implicit, [](const DeqSolveStats& s) { return s.meanRelativeResidual(); },
          [](const DeqSolveStats& s) { return s.maxRelativeResidual; }),
      {"Final relative residual ||f(x) - x|| / ||x||", "epoch", "relative residual", true, 640,
       300});
  std::vector<ChartSeries> converged;
  for (const SolveDirection& d : solveDirections(implicit))
    converged.push_back(solveSeries(r.epochs, d.name, d,
                                    [](const DeqSolveStats& s) { return s.convergedFraction(); }));
  h << lineChartSvg(converged,
                    {"Converged fraction of solves", "epoch", "fraction", false, 640, 300});
  h << "</div>\n";
}

// At most about 40 rows: every k-th epoch, and the last.
void writeEpochTable(std::ostringstream& h, const DeqTrainResult& r, bool implicit) {
  h << "<h2>Epochs</h2>\n<table>\n<tr><th>epoch</th><th>loss</th><th>forward it.</th>"
       "<th>forward rel. residual</th><th>backward it.</th><th>network lr</th><th>eta</th>"
       "<th>seconds</th></tr>\n";
  const size_t stride = std::max<size_t>(1, (r.epochs.size() + 39) / 40);
  for (size_t i = 0; i < r.epochs.size(); ++i) {
    if (i % stride != 0 && i + 1 != r.epochs.size()) continue;
    const DeqEpochStats& e = r.epochs[i];
    h << "<tr><td>" << e.epoch << "</td><td>" << reportNumber(e.loss, 6) << "</td><td>"
      << reportNumber(e.forward.meanIterations(), 3) << "</td><td>"
      << reportNumber(e.forward.lastRelativeResidual, 3) << "</td><td>"
      << (implicit ? reportNumber(e.backward.meanIterations(), 3) : "-") << "</td><td>"
      << reportNumber(e.networkLearningRate, 3) << "</td><td>" << reportNumber(e.eta, 4)
      << "</td><td>" << fixed(e.seconds, 3) << "</td></tr>\n";
  }
  h << "</table>\n";
}

// Every training and inference option (the model's record, describeOptions) and the versions.
void writeSettings(std::ostringstream& h, const DeqModel& m) {
  h << "<h2>Settings</h2>\n<table>\n";
  for (const auto& kv : m.hyperparameters) reportRow(h, kv.first, kv.second);
  reportRow(h, "LibTorch", m.torchVersion);
  reportRow(h, "core", m.coreVersion);
  h << "</table>\n";
}

void writeTimings(std::ostringstream& h, const TrainingReportInput& in, const DeqTrainResult& r) {
  h << "<h2>Timings</h2>\n<table>\n";
  double total = 0;
  for (const auto& t : in.timings) {
    reportRow(h, t.first, fixed(t.second, 2) + " s");
    total += t.second;
  }
  reportRow(h, "total", fixed(total, 2) + " s");
  if (!r.epochs.empty()) {
    double sum = 0;
    for (const auto& e : r.epochs) sum += e.seconds;
    reportRow(h, "mean seconds per epoch", fixed(sum / r.epochs.size(), 4));
  }
  if (in.peakMemoryMiB > 0)
    reportRow(h, "peak resident memory",
              fixed(in.peakMemoryMiB, 0) + " MiB (memory budget " +
                  fixed(in.options->memoryBudgetInEffectMiB(), 0) + " MiB)");
  h << "</table>\n";
}

void writeOutputs(std::ostringstream& h, const TrainingReportInput& in) {
  if (in.outputs.empty()) return;
  h << "<h2>Outputs</h2>\n<table>\n";
  for (const auto& kv : in.outputs) reportRow(h, kv.first, kv.second);
  h << "</table>\n";
}

// Shares of each endmember's valid abundances in 20 bins over [0, 1].
std::string histogramChart(const ReportMaps& maps, const std::vector<std::string>& names) {
  const int bins = 20;
  const size_t n = size_t(maps.width) * maps.height;
  std::vector<ChartSeries> series;
  for (size_t e = 0; e < names.size(); ++e) {
    std::vector<double> counts(bins, 0.0);
    double valid = 0;
    for (size_t i = 0; i < n; ++i) {
      const float v = maps.values[e * n + i];
      if (!std::isfinite(v)) continue;
      counts[std::clamp(int(v * bins), 0, bins - 1)] += 1;
      valid += 1;
    }
    ChartSeries s{names[e], {}, {}, "", false};
    for (int b = 0; b < bins; ++b) {
      s.x.push_back((b + 0.5) / bins);
      s.y.push_back(valid > 0 ? counts[b] / valid : 0.0);
    }
    series.push_back(s);
  }
  return lineChartSvg(series, {"Abundance histograms (share of pixels per 0.05 bin)", "abundance",
                               "share of pixels", false, 640, 300});
}

void writeMaps(std::ostringstream& h, const TrainingReportInput& in, const DeqModel& m) {
  if (in.abundances.width == 0) {
    if (in.streamed)
      h << "<h2>Maps</h2>\n<p class=\"note\">Not drawn: the scene was streamed; open OUTPUT in "
           "QGIS.</p>\n";
    return;
  }
  h << "<h2>Abundance maps</h2>\n<p class=\"note\">Every endmember on one scale, 0 to 1 "
       "(grey: nodata).</p>\n"
    << rampLegend(0, 1) << "<div class=\"maps\">";
  for (int e = 0; e < m.endmemberCount(); ++e)
    h << rampImage(in.abundances, e, m.endmembers.names[e]);
  h << "</div>\n<div class=\"charts\">" << histogramChart(in.abundances, m.endmembers.names)
    << "</div>\n";
  if (in.residual.width == 0) return;
  float high = 0;
  for (float v : in.residual.values)
    if (std::isfinite(v)) high = std::max(high, v);
  h << "<h2>Reconstruction error</h2>\n<p class=\"note\">Per-pixel RMSE of E a against the "
       "scene, in data units.</p>\n"
    << rampLegend(0, high) << "<div class=\"maps\">"
    << rampImage(in.residual, 0, "reconstruction RMSE", 0, high) << "</div>\n";
}

}  // namespace

std::string trainingReportHtml(const TrainingReportInput& in) {
  if (!in.result || !in.options) {
    throw InvalidArgument("training report: result and options are required");
  }
  const DeqTrainResult& r = *in.result;
  const DeqTrainOptions& o = *in.options;
  std::ostringstream h;
  writeHead(h, in, o);
  writeSummary(h, in, r, o);
  writeLossCharts(h, r);
  writeEndmembers(h, in, r, o);
  writeMaps(h, in, r.model);
  writeSolverCharts(h, r, o);
  writeEpochTable(h, r, o.gradient == DeqGradientMode::Implicit);
  writeSettings(h, r.model);
  writeTimings(h, in, r);
  writeOutputs(h, in);
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace dequnmix::processing
