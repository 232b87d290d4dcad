// Self-contained HTML report of a DEQ-Unmix training run (no external resources: charts
// are inline SVG). Plain C++ (no Qt, no LibTorch), so it can be written from any thread.
// Sections: summary, loss curve, learned versus initial endmember spectra, forward and
// backward solver iterations, residuals and converged fraction per epoch, step size,
// settings, timings, outputs.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "algorithms/report_images.h"
#include "core/deq/deq_unmix.h"

namespace dequnmix::processing {

struct TrainingReportInput {
  std::string sceneName;  // layer name or file
  std::string scenePath;
  int width = 0;
  int height = 0;
  int validPixels = 0;
  const DeqTrainResult* result = nullptr;               // required
  const DeqTrainOptions* options = nullptr;             // required
  bool givenEndmembers = false;                         // INITIAL_ENDMEMBERS was given (else VCA)
  std::vector<std::pair<std::string, double>> timings;  // stage, seconds
  std::vector<std::pair<std::string, std::string>> outputs;  // output name, path
  std::string created;                                       // date and time, free text
  bool streamed = false;     // the scene was read in tiles, never whole
  double peakMemoryMiB = 0;  // the process's peak resident memory (0: unknown)
  ReportMaps abundances;     // P bands at report size; empty (width 0): no maps
  ReportMaps residual;       // 1 band, data units
};

// One line series of a chart.
struct ChartSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
  std::string color;  // CSS colour; empty: from the palette
  bool dashed = false;
};

struct ChartOptions {
  std::string title;
  std::string xLabel;
  std::string yLabel;
  bool logY = false;  // non-positive values are left out
  int width = 640;
  int height = 300;
};

// An inline <svg> line chart (axes, ticks, legend). Non-finite points are skipped.
std::string lineChartSvg(const std::vector<ChartSeries>& series, const ChartOptions& options);

// The complete HTML document.
std::string trainingReportHtml(const TrainingReportInput& input);

// "&", "<", ">", quotes escaped.
std::string htmlEscape(const std::string& text);

}  // namespace dequnmix::processing
