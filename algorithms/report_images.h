// What the HTML reports share: the document head with its style sheet, a band on a colour
// ramp as an inline PNG <img>, the ramp's legend, and the reduction of a large band to
// report size.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace dequnmix::processing {

// Bands of a raster at reduced resolution: bands x height x width, NaN at nodata.
struct ReportMaps {
  int width = 0;
  int height = 0;
  int step = 1;  // every step-th row and column of the full raster
  std::vector<float> values;
  std::vector<float> band(int b) const;  // height x width
};

// The maps of a width x height raster with `bands` bands, zero-filled, at the least step
// that brings the longer side to at most `maxSide` pixels.
ReportMaps reportGrid(int bands, int width, int height, int maxSide = 320);

// Every step-th row and column of `values` (bands x height x width), as reportGrid.
ReportMaps reduceForReport(const std::vector<float>& values, int bands, int width, int height,
                           int maxSide = 320);

// Band `band` of `maps` on the viridis ramp from `low` to `high` (grey: nodata) as an inline
// PNG <figure> captioned `title`.
std::string rampImage(const ReportMaps& maps, int band, const std::string& title, float low = 0,
                      float high = 1);
// The same for a height x width band given alone.
std::string rampImage(const std::vector<float>& values, int width, int height,
                      const std::string& title, float low = 0, float high = 1);

// The ramp as a bar with its end and middle values.
std::string rampLegend(float low, float high);

// `v` with `digits` significant digits; "-" when it is not finite.
std::string reportNumber(double v, int digits = 4);
// One <tr> of a key-value table, both escaped.
void reportRow(std::ostringstream& out, const std::string& key, const std::string& value);

// The start of a report's HTML document up to <body>: title and the reports' one style
// sheet (tables, charts, maps, legends).
std::string reportHead(const std::string& title);

}  // namespace dequnmix::processing
