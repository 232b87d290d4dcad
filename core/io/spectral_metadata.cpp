// Spectral metadata as rasters state it (spectral_metadata.h).
#include "core/io/spectral_metadata.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <regex>

#include "core/errors.h"
#include "core/io/text.h"

namespace dequnmix {

namespace {

// ENVI list values come braced: "{ 450, 460 }".
std::string trimmed(const std::string& s) { return trim(s, " \t\r\n{}"); }

bool parseNumber(const std::string& token, double& value) {
  const std::string t = trimmed(token);
  if (t.empty()) return false;
  char* end = nullptr;
  value = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size() && std::isfinite(value);
}

}  // namespace

double nanometresPerUnit(const std::string& units) {
  const std::string u = toLower(trimmed(units));
  if (u == "nm" || u == "nanometers" || u == "nanometres" || u == "nanometer") return 1.0;
  if (u == "um" || u == "\xc2\xb5m" || u == "micrometers" || u == "micrometres" ||
      u == "micrometer" || u == "microns" || u == "micron")
    return 1000.0;
  if (u == "mm" || u == "millimeters" || u == "millimetres") return 1e6;
  return 0.0;
}

std::vector<double> parseEnviList(const std::string& text, const std::string& what) {
  std::vector<double> values;
  const std::string body = trimmed(text);
  if (body.empty()) return values;
  size_t start = 0;
  while (start <= body.size()) {
    const size_t end = std::min(body.find(',', start), body.size());
    double v = 0;
    if (!parseNumber(body.substr(start, end - start), v))
      throw InvalidArgument(what + ": '" + trimmed(body.substr(start, end - start)) +
                            "' is not a number (expected a list such as { 450.0, 460.0 })");
    values.push_back(v);
    start = end + 1;
  }
  return values;
}

std::vector<double> wavelengthsToNm(std::vector<double> values, const std::string& units) {
  double factor = nanometresPerUnit(units);
  if (trimmed(units).empty() || toLower(trimmed(units)) == "unknown")
    factor =
        std::all_of(values.begin(), values.end(), [](double v) { return v < 30; }) ? 1000.0 : 1.0;
  if (factor == 0) return {};
  for (double& v : values) v *= factor;
  return values;
}

double wavelengthFromDescription(const std::string& description) {
  static const std::regex pattern(
      R"(([0-9]+(?:\.[0-9]+)?)\s*(nm|um|\xc2\xb5m|micrometers|micrometres|microns|nanometers)\b)",
      std::regex::icase);
  std::smatch m;
  if (!std::regex_search(description, m, pattern)) return std::numeric_limits<double>::quiet_NaN();
  return std::stod(m[1].str()) * nanometresPerUnit(m[2].str());
}

std::vector<WavelengthRange> parseWavelengthRanges(const std::string& text,
                                                   const std::string& what) {
  static const std::regex separators(R"([;,\s]+)");
  static const std::regex range(R"(^([0-9]+(?:\.[0-9]+)?)-([0-9]+(?:\.[0-9]+)?)$)");
  std::vector<WavelengthRange> ranges;
  for (std::sregex_token_iterator it(text.begin(), text.end(), separators, -1), end; it != end;
       ++it) {
    const std::string token = it->str();
    if (token.empty()) continue;
    std::smatch m;
    if (!std::regex_match(token, m, range) || std::stod(m[1].str()) > std::stod(m[2].str()))
      throw InvalidArgument(what + ": '" + token +
                            "' is not a wavelength range in nm such as 1340-1450 (list ranges as "
                            "1340-1450;1790-1960, or write auto)");
    ranges.emplace_back(std::stod(m[1].str()), std::stod(m[2].str()));
  }
  return ranges;
}

const std::vector<WavelengthRange>& waterVapourWindows() {
  static const std::vector<WavelengthRange> windows = {{1340, 1450}, {1790, 1960}, {2450, 2500}};
  return windows;
}

std::vector<int> bandsOutside(const std::vector<double>& wavelengths,
                              const std::vector<WavelengthRange>& ranges) {
  std::vector<int> kept;
  for (size_t b = 0; b < wavelengths.size(); ++b) {
    const double w = wavelengths[b];
    const bool bad = std::any_of(ranges.begin(), ranges.end(), [w](const WavelengthRange& r) {
      return w >= r.first && w <= r.second;
    });
    if (!bad) kept.push_back(static_cast<int>(b));
  }
  return kept;
}

std::vector<int> matchWavelengths(const std::vector<double>& wanted,
                                  const std::vector<double>& available, double toleranceNm) {
  std::vector<int> indices;
  for (double w : wanted) {
    int best = -1;
    for (size_t b = 0; b < available.size(); ++b)
      if (best < 0 || std::abs(available[b] - w) < std::abs(available[best] - w)) best = int(b);
    if (best < 0 || !(std::abs(available[best] - w) <= toleranceNm))
      throw InvalidArgument(
          "no band at " + messageNumber(w) + " nm (within " + messageNumber(toleranceNm) + " nm" +
          (best < 0 ? std::string(")")
                    : "; the nearest is at " + messageNumber(available[best]) + " nm)"));
    indices.push_back(best);
  }
  return indices;
}

}  // namespace dequnmix
