// Report maps (report_images.h).
#include "algorithms/report_images.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <QBuffer>
#include <QByteArray>
#include <QImage>

#include "algorithms/training_report.h"

namespace dequnmix::processing {

namespace {

// Viridis at five stops, interpolated linearly: perceptually ordered, readable in grey.
const std::array<std::array<int, 3>, 5> kStops{
    {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}};

QRgb rampColour(float v, float low, float high) {
  if (!std::isfinite(v)) return qRgb(220, 220, 220);  // nodata
  const float t = std::clamp((v - low) / std::max(high - low, 1e-30f), 0.0f, 1.0f) * 4.0f;
  const int i = std::min(3, int(t));
  const float f = t - float(i);
  auto mix = [&](int c) {
    return int(kStops[i][c] + f * (kStops[i + 1][c] - kStops[i][c]) + 0.5f);
  };
  return qRgb(mix(0), mix(1), mix(2));
}

}  // namespace

std::string reportNumber(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
  return buffer;
}

void reportRow(std::ostringstream& out, const std::string& key, const std::string& value) {
  out << "<tr><th>" << htmlEscape(key) << "</th><td>" << htmlEscape(value) << "</td></tr>\n";
}

std::vector<float> ReportMaps::band(int b) const {
  const size_t n = size_t(width) * height;
  return std::vector<float>(values.begin() + b * n, values.begin() + (b + 1) * n);
}

ReportMaps reportGrid(int bands, int width, int height, int maxSide) {
  ReportMaps m;
  m.step = std::max(1, (std::max(width, height) + maxSide - 1) / maxSide);
  m.width = (width + m.step - 1) / m.step;
  m.height = (height + m.step - 1) / m.step;
  m.values.resize(size_t(bands) * m.width * m.height);
  return m;
}

ReportMaps reduceForReport(const std::vector<float>& values, int bands, int width, int height,
                           int maxSide) {
  ReportMaps m = reportGrid(bands, width, height, maxSide);
  const int step = m.step;
  for (int b = 0; b < bands; ++b)
    for (int r = 0; r < m.height; ++r)
      for (int c = 0; c < m.width; ++c)
        m.values[(size_t(b) * m.height + r) * m.width + c] =
            values[(size_t(b) * height + size_t(r) * step) * width + size_t(c) * step];
  return m;
}

std::string rampImage(const std::vector<float>& values, int width, int height,
                      const std::string& title, float low, float high) {
  QImage image(width, height, QImage::Format_RGB32);
  for (int r = 0; r < height; ++r)
    for (int c = 0; c < width; ++c)
      image.setPixel(c, r, rampColour(values[size_t(r) * width + c], low, high));
  QByteArray png;
  QBuffer buffer(&png);
  buffer.open(QIODevice::WriteOnly);
  image.save(&buffer, "PNG");
  const int shown = std::max(160, std::min(320, width));  // small scenes are enlarged
  return "<figure><img alt=\"" + htmlEscape(title) + "\" width=\"" + std::to_string(shown) +
         "\" style=\"image-rendering:pixelated\" src=\"data:image/png;base64," +
         png.toBase64().toStdString() + "\"><figcaption>" + htmlEscape(title) +
         "</figcaption></figure>";
}

std::string rampImage(const ReportMaps& maps, int band, const std::string& title, float low,
                      float high) {
  return rampImage(maps.band(band), maps.width, maps.height, title, low, high);
}

std::string rampLegend(float low, float high) {
  return "<div class=\"ramp\"></div><div class=\"note ramp-labels\"><span>" + reportNumber(low, 3) +
         "</span><span>" + reportNumber((low + high) / 2, 3) + "</span><span>" +
         reportNumber(high, 3) + "</span></div>\n";
}

std::string reportHead(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
         htmlEscape(title) +
         "</title>\n<style>\n"
         "body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}\n"
         "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}\n"
         "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;"
         "padding:3px 8px;text-align:left;font-size:13px}th{background:#f4f4f4}\n"
         ".charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #eee}\n"
         ".note{color:#555;font-size:13px}\n"
         ".maps{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-end}figure{margin:0}"
         "figcaption{font-size:12px;color:#555}\n"
         ".ramp{width:320px;height:12px;background:linear-gradient(to right,#440154,#3b528b,"
         "#21918c,#5ec962,#fde725)}.ramp-labels{width:320px;display:flex;"
         "justify-content:space-between}\n</style>\n</head>\n<body>\n";
}

}  // namespace dequnmix::processing
