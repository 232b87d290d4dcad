#include "algorithms/training_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "core/errors.h"

namespace dequnmix::processing {

namespace {

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string paletteColor(size_t i) { return kPalette[i % (sizeof kPalette / sizeof *kPalette)]; }

std::string fmt(double v, int digits = 4) {
  if (!std::isfinite(v)) return "-";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
  return buffer;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
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
    case EndmemberRefinement::None:
    case EndmemberRefinement::Automatic:
      return phrase;
  }
  if (r.affineModelExcess > 0)
    phrase += " (chosen automatically: departure from the linear mixing model " +
              fmt(r.affineModelExcess, 3) + ")";
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

double sad(const EndmemberTable& a, const EndmemberTable& b, int e) {
  double dot = 0, na = 0, nb = 0;
  for (int l = 0; l < a.bands && l < b.bands; ++l) {
    const double x = a.at(l, e), y = b.at(l, e);
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na <= 0 || nb <= 0) return std::numeric_limits<double>::quiet_NaN();
  return std::acos(std::clamp(dot / std::sqrt(na * nb), -1.0, 1.0));
}

void row(std::ostringstream& out, const std::string& key, const std::string& value) {
  out << "<tr><th>" << htmlEscape(key) << "</th><td>" << htmlEscape(value) << "</td></tr>\n";
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

std::string lineChartSvg(const std::vector<ChartSeries>& series, const ChartOptions& o) {
  const double left = 70, right = 20, top = 34, bottom = 46;
  const double legendHeight = 18.0 * ((series.size() + 2) / 3);
  const double W = o.width, H = o.height + legendHeight;
  const double plotW = W - left - right, plotH = o.height - top - bottom;
  auto ty = [&](double v) { return o.logY ? std::log10(v) : v; };
  Range xr, yr;
  for (const ChartSeries& s : series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (o.logY && s.y[i] <= 0)) continue;
      xr.add(s.x[i]);
      yr.add(ty(s.y[i]));
    }
  }
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" viewBox=\"0 0 " << W << " " << H << "\" role=\"img\" class=\"chart\">\n";
  svg << "<title>" << htmlEscape(o.title) << "</title>\n";
  svg << "<rect x=\"0\" y=\"0\" width=\"" << W << "\" height=\"" << H << "\" fill=\"#ffffff\"/>\n";
  svg << "<text x=\"" << W / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" "
      << "font-weight=\"bold\">" << htmlEscape(o.title) << "</text>\n";
  if (!xr.valid() || !yr.valid()) {
    svg << "<text x=\"" << W / 2 << "\" y=\"" << top + plotH / 2
        << "\" text-anchor=\"middle\" font-size=\"12\" fill=\"#777\">no data</text>\n</svg>\n";
    return svg.str();
  }
  double x0 = xr.lo, x1 = xr.hi, y0 = yr.lo, y1 = yr.hi;
  if (x1 <= x0) {
    x0 -= 0.5;
    x1 += 0.5;
  }
  if (o.logY) {
    y0 = std::floor(y0);
    y1 = std::ceil(y1);
    if (y1 <= y0) y1 = y0 + 1;
  } else {
    if (y1 <= y0) {
      const double pad = std::max(std::abs(y0) * 0.1, 1e-6);
      y0 -= pad;
      y1 += pad;
    } else {
      const double pad = (y1 - y0) * 0.05;
      y0 -= pad;
      y1 += pad;
    }
  }
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * plotW; };
  auto py = [&](double y) { return top + plotH - (y - y0) / (y1 - y0) * plotH; };
  svg << "<g font-size=\"11\" fill=\"#333\">\n";
  // Grid and ticks.
  std::vector<double> yt;
  if (o.logY) {
    for (double d = y0; d <= y1 + 1e-9; d += 1) yt.push_back(d);
  } else {
    yt = niceTicks(y0, y1);
  }
  for (double t : yt) {
    if (t < y0 - 1e-12 || t > y1 + 1e-12) continue;
    svg << "<line x1=\"" << left << "\" x2=\"" << left + plotW << "\" y1=\"" << py(t) << "\" y2=\""
        << py(t) << "\" stroke=\"#e4e4e4\"/>\n";
    svg << "<text x=\"" << left - 6 << "\" y=\"" << py(t) + 4 << "\" text-anchor=\"end\">"
        << (o.logY ? "1e" + fixed(t, 0) : fmt(t, 4)) << "</text>\n";
  }
  for (double t : niceTicks(x0, x1)) {
    if (t < x0 - 1e-12 || t > x1 + 1e-12) continue;
    svg << "<line x1=\"" << px(t) << "\" x2=\"" << px(t) << "\" y1=\"" << top << "\" y2=\""
        << top + plotH << "\" stroke=\"#f0f0f0\"/>\n";
    svg << "<text x=\"" << px(t) << "\" y=\"" << top + plotH + 16 << "\" text-anchor=\"middle\">"
        << fmt(t, 5) << "</text>\n";
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << plotW << "\" height=\""
      << plotH << "\" fill=\"none\" stroke=\"#888\"/>\n";
  svg << "<text x=\"" << left + plotW / 2 << "\" y=\"" << top + plotH + 34
      << "\" text-anchor=\"middle\">" << htmlEscape(o.xLabel) << "</text>\n";
  svg << "<text transform=\"translate(16," << top + plotH / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << htmlEscape(o.yLabel) << "</text>\n";
  svg << "</g>\n";
  // Series.
  for (size_t k = 0; k < series.size(); ++k) {
    const ChartSeries& s = series[k];
    const std::string color = s.color.empty() ? paletteColor(k) : s.color;
    std::ostringstream points;
    int count = 0;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (o.logY && s.y[i] <= 0)) continue;
      points << fixed(px(s.x[i]), 2) << "," << fixed(py(ty(s.y[i])), 2) << " ";
      ++count;
    }
    if (count == 1) {
      std::istringstream p(points.str());
      std::string xy;
      p >> xy;
      const auto comma = xy.find(',');
      svg << "<circle cx=\"" << xy.substr(0, comma) << "\" cy=\"" << xy.substr(comma + 1)
          << "\" r=\"3\" fill=\"" << color << "\"/>\n";
    } else if (count > 1) {
      svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.8\""
          << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << " points=\"" << points.str()
          << "\"><title>" << htmlEscape(s.name) << "</title></polyline>\n";
    }
    // Legend entry.
    const double lx = 10 + (k % 3) * (W - 20) / 3.0;
    const double ly = o.height + 18.0 * (k / 3) + 4;
    svg << "<line x1=\"" << lx << "\" x2=\"" << lx + 26 << "\" y1=\"" << ly << "\" y2=\"" << ly
        << "\" stroke=\"" << color << "\" stroke-width=\"2\""
        << (s.dashed ? " stroke-dasharray=\"6,4\"" : "") << "/>\n";
    svg << "<text x=\"" << lx + 32 << "\" y=\"" << ly + 4 << "\" font-size=\"11\">"
        << htmlEscape(s.name) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

std::string trainingReportHtml(const TrainingReportInput& in) {
  if (!in.result || !in.options || !in.inference) {
    throw InvalidArgument("training report: result and options are required");
  }
  const DeqTrainResult& r = *in.result;
  const DeqModel& m = r.model;
  const DeqTrainOptions& o = *in.options;
  const bool implicit = o.gradient == DeqGradientMode::Implicit;

  std::vector<double> epochs;
  for (const DeqEpochStats& e : r.epochs) epochs.push_back(e.epoch);
  auto series = [&](const std::string& name, auto get, const std::string& color = "",
                    bool dashed = false) {
    ChartSeries s;
    s.name = name;
    s.x = epochs;
    for (const DeqEpochStats& e : r.epochs) s.y.push_back(get(e));
    s.color = color;
    s.dashed = dashed;
    return s;
  };

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<title>DEQ-Unmix training report: " << htmlEscape(in.sceneName) << "</title>\n"
    << "<style>\n"
    << "body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}\n"
    << "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}\n"
    << "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;"
    << "padding:3px 8px;text-align:left;font-size:13px}th{background:#f4f4f4}\n"
    << ".charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #eee}\n"
    << ".note{color:#555;font-size:13px}\n</style>\n</head>\n<body>\n";
  h << "<h1>DEQ-Unmix training report</h1>\n";
  h << "<p class=\"note\">Deep equilibrium unmixing (Wang, Gao, Zhu and Chen, arXiv 2604.11279): "
       "abundances are the fixed point A* = Proj(A - eta G_theta(EA - Y, A)), found by "
    << htmlEscape(toString(o.forward.kind)) << " iteration and trained with the "
    << htmlEscape(toString(o.gradient)) << " gradient.";
  if (!in.created.empty()) h << " Created " << htmlEscape(in.created) << ".";
  h << "</p>\n";

  // Summary.
  h << "<h2>Summary</h2>\n<table>\n";
  row(h, "Scene", in.sceneName);
  if (!in.scenePath.empty()) row(h, "Scene file", in.scenePath);
  row(h, "Size",
      std::to_string(in.width) + " x " + std::to_string(in.height) + " pixels, " +
          std::to_string(m.bands) + " bands used of " + std::to_string(m.sourceBands));
  if (in.validPixels > 0) row(h, "Valid pixels", std::to_string(in.validPixels));
  std::string names;
  for (size_t i = 0; i < m.endmembers.names.size(); ++i)
    names += (i ? ", " : "") + m.endmembers.names[i];
  row(h, "Endmembers", std::to_string(m.endmemberCount()) + " (" + names + ")");
  row(h, "Initial endmembers",
      std::string(in.givenEndmembers ? "given (INITIAL_ENDMEMBERS)" : "VCA") + refinementPhrase(r) +
          (o.trainEndmembers ? ", then trained" : ", then held fixed"));
  row(h, "Training",
      std::string(m.summary.supervised ? "supervised (reference abundances)" : "unsupervised") +
          (m.summary.tiled ? ", on sampled tiles" : ", on the whole scene"));
  row(h, "Epochs", std::to_string(m.summary.epochs));
  row(h, "Final loss", fmt(m.summary.finalLoss, 6));
  row(h, "Mean forward iterations (training)", fmt(m.summary.meanForwardIterations, 4));
  row(h, "Converged fraction (training forward solves)", fmt(m.summary.convergedFraction, 4));
  row(h, "Inference solves / mean iterations / converged",
      std::to_string(r.inference.solves) + " / " + fmt(r.inference.meanIterations(), 4) + " / " +
          fmt(r.inference.convergedFraction(), 4));
  row(h, "Inference relative residual (mean / max)",
      fmt(r.inference.meanRelativeResidual(), 3) + " / " + fmt(r.inference.maxRelativeResidual, 3));
  row(h, "Training seconds", fixed(m.summary.trainingSeconds, 2));
  h << "</table>\n";

  // Loss.
  h << "<h2>Loss</h2>\n<div class=\"charts\">\n";
  {
    std::vector<ChartSeries> s{series("loss", [](const DeqEpochStats& e) { return e.loss; })};
    if (m.summary.supervised) {
      s.push_back(series("abundance MSE", [](const DeqEpochStats& e) { return e.abundanceMse; }));
    } else {
      s.push_back(series("mean SAD (rad)", [](const DeqEpochStats& e) { return e.spectralAngle; }));
      s.push_back(series("MSE (scaled data)", [](const DeqEpochStats& e) { return e.mse; }));
    }
    h << lineChartSvg(s, {"Training loss per epoch", "epoch", "loss", false, 640, 300});
  }
  h << lineChartSvg(
      {series("eta (x 1/||E||^2)", [](const DeqEpochStats& e) { return e.eta; }),
       series("gradient norm", [](const DeqEpochStats& e) { return e.gradientNorm; })},
      {"Step size and gradient norm", "epoch", "value", true, 640, 300});
  h << "</div>\n";

  // Endmembers.
  h << "<h2>Endmember spectra</h2>\n<p class=\"note\">Solid: final (learned) spectra; dashed: "
       "initial spectra (";
  h << (in.givenEndmembers ? "given" : "VCA") << refinementPhrase(r) << ").";
  if (!o.trainEndmembers)
    h << " Endmembers were held fixed during training, so the curves coincide.";
  h << "</p>\n<div class=\"charts\">\n";
  {
    const bool nm = m.wavelengths.size() == size_t(m.bands);
    std::vector<double> x;
    for (int b = 0; b < m.bands; ++b) x.push_back(nm ? m.wavelengths[b] : double(b + 1));
    std::vector<ChartSeries> s;
    for (int e = 0; e < m.endmemberCount(); ++e) {
      ChartSeries learned, initial;
      learned.name = m.endmembers.names[e];
      initial.name = m.endmembers.names[e] + " (initial)";
      learned.x = initial.x = x;
      for (int b = 0; b < m.bands; ++b) {
        learned.y.push_back(m.endmembers.at(b, e));
        initial.y.push_back(e < m.initialEndmembers.endmembers() && b < m.initialEndmembers.bands
                                ? m.initialEndmembers.at(b, e)
                                : std::numeric_limits<double>::quiet_NaN());
      }
      learned.color = initial.color = paletteColor(e);
      initial.dashed = true;
      s.push_back(learned);
      s.push_back(initial);
    }
    h << lineChartSvg(s, {"Learned (solid) and initial (dashed) endmembers",
                          nm ? "wavelength (nm)" : "band", "value (data units)", false, 900, 340});
  }
  h << "</div>\n<table>\n<tr><th>endmember</th><th>SAD initial vs final (rad)</th></tr>\n";
  for (int e = 0; e < m.endmemberCount(); ++e) {
    h << "<tr><td>" << htmlEscape(m.endmembers.names[e]) << "</td><td>"
      << (e < m.initialEndmembers.endmembers() ? fmt(sad(m.initialEndmembers, m.endmembers, e), 4)
                                               : "-")
      << "</td></tr>\n";
  }
  h << "</table>\n";

  // Solver.
  h << "<h2>Equilibrium solver per epoch</h2>\n<p class=\"note\">Forward: "
    << htmlEscape(toString(o.forward.kind)) << ", at most " << o.forward.maxIterations
    << " iterations, tolerance " << fmt(o.forward.tolerance, 3) << ", history " << o.forward.history
    << ".";
  if (implicit)
    h << " Backward (implicit, u = g + J^T u): " << htmlEscape(toString(o.backward.kind))
      << ", at most " << o.backward.maxIterations << " iterations, tolerance "
      << fmt(o.backward.tolerance, 3) << ".";
  h << "</p>\n<div class=\"charts\">\n";
  {
    std::vector<ChartSeries> it{
        series(
            "forward mean", [](const DeqEpochStats& e) { return e.forward.meanIterations(); },
            "#1f77b4"),
        series(
            "forward max", [](const DeqEpochStats& e) { return double(e.forward.maxIterations); },
            "#1f77b4", true)};
    if (implicit) {
      it.push_back(series(
          "backward mean", [](const DeqEpochStats& e) { return e.backward.meanIterations(); },
          "#d62728"));
      it.push_back(series(
          "backward max", [](const DeqEpochStats& e) { return double(e.backward.maxIterations); },
          "#d62728", true));
    }
    h << lineChartSvg(it, {"Solver iterations", "epoch", "iterations", false, 640, 300});
    std::vector<ChartSeries> res{
        series(
            "forward mean", [](const DeqEpochStats& e) { return e.forward.meanRelativeResidual(); },
            "#1f77b4"),
        series(
            "forward max", [](const DeqEpochStats& e) { return e.forward.maxRelativeResidual; },
            "#1f77b4", true)};
    if (implicit) {
      res.push_back(series(
          "backward mean", [](const DeqEpochStats& e) { return e.backward.meanRelativeResidual(); },
          "#d62728"));
      res.push_back(series(
          "backward max", [](const DeqEpochStats& e) { return e.backward.maxRelativeResidual; },
          "#d62728", true));
    }
    h << lineChartSvg(res, {"Final relative residual ||f(x) - x|| / ||x||", "epoch",
                            "relative residual", true, 640, 300});
    std::vector<ChartSeries> conv{series(
        "forward", [](const DeqEpochStats& e) { return e.forward.convergedFraction(); },
        "#1f77b4")};
    if (implicit)
      conv.push_back(series(
          "backward", [](const DeqEpochStats& e) { return e.backward.convergedFraction(); },
          "#d62728"));
    h << lineChartSvg(conv, {"Converged fraction of solves", "epoch", "fraction", false, 640, 300});
  }
  h << "</div>\n";

  // Per-epoch table (at most ~40 rows).
  h << "<h2>Epochs</h2>\n<table>\n<tr><th>epoch</th><th>loss</th><th>forward it.</th>"
       "<th>forward rel. residual</th><th>backward it.</th><th>network lr</th><th>eta</th>"
       "<th>seconds</th></tr>\n";
  const size_t stride = std::max<size_t>(1, (r.epochs.size() + 39) / 40);
  for (size_t i = 0; i < r.epochs.size(); ++i) {
    if (i % stride != 0 && i + 1 != r.epochs.size()) continue;
    const DeqEpochStats& e = r.epochs[i];
    h << "<tr><td>" << e.epoch << "</td><td>" << fmt(e.loss, 6) << "</td><td>"
      << fmt(e.forward.meanIterations(), 3) << "</td><td>" << fmt(e.forward.lastRelativeResidual, 3)
      << "</td><td>" << (implicit ? fmt(e.backward.meanIterations(), 3) : "-") << "</td><td>"
      << fmt(e.networkLearningRate, 3) << "</td><td>" << fmt(e.eta, 4) << "</td><td>"
      << fixed(e.seconds, 3) << "</td></tr>\n";
  }
  h << "</table>\n";

  // Settings.
  h << "<h2>Settings</h2>\n<table>\n";
  for (const auto& kv : m.hyperparameters) row(h, kv.first, kv.second);
  row(h, "threads", std::to_string(o.threads));
  row(h, "device", o.device);
  row(h, "inference tile size / halo",
      std::to_string(in.inference->tileSize) + " / " + std::to_string(in.inference->halo));
  row(h, "LibTorch", m.torchVersion);
  row(h, "core", m.coreVersion);
  h << "</table>\n";

  // Timings.
  h << "<h2>Timings</h2>\n<table>\n";
  double total = 0;
  for (const auto& t : in.timings) {
    row(h, t.first, fixed(t.second, 2) + " s");
    total += t.second;
  }
  row(h, "total", fixed(total, 2) + " s");
  if (!r.epochs.empty()) {
    double sum = 0;
    for (const auto& e : r.epochs) sum += e.seconds;
    row(h, "mean seconds per epoch", fixed(sum / r.epochs.size(), 4));
  }
  h << "</table>\n";

  if (!in.outputs.empty()) {
    h << "<h2>Outputs</h2>\n<table>\n";
    for (const auto& kv : in.outputs) row(h, kv.first, kv.second);
    h << "</table>\n";
  }
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace dequnmix::processing
