#include "core/data_checks.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace dequnmix {

namespace {

// Two significant digits, without an exponent: 10004 -> "10000", 9.996e-5 -> "0.0001".
std::string roughly(double v) {
  const int exponent = static_cast<int>(std::floor(std::log10(v)));
  const double unit = std::pow(10.0, exponent - 1);
  const double rounded = std::round(v / unit) * unit;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", std::max(0, 1 - exponent), rounded);
  return buf;
}

std::string threeDigits(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string named(const std::string& name) { return "'" + name + "'"; }

// Angle between two vectors, accurate near 0 (acos of the cosine is not).
double angleBetween(const std::vector<double>& a, const std::vector<double>& b) {
  double na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  na = std::sqrt(na);
  nb = std::sqrt(nb);
  double diff = 0, sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double u = a[i] / na, v = b[i] / nb;
    diff += (u - v) * (u - v);
    sum += (u + v) * (u + v);
  }
  return 2 * std::atan2(std::sqrt(diff), std::sqrt(sum));
}

// Smallest over largest singular value of the columns scaled to unit norm.
double inverseCondition(const std::vector<std::vector<double>>& columns) {
  const int64_t p = static_cast<int64_t>(columns.size()), l = columns[0].size();
  if (p > l) return 0;
  std::vector<double> values;  // P x L: the transpose has the same singular values
  for (const auto& c : columns) values.insert(values.end(), c.begin(), c.end());
  at::Tensor e = at::from_blob(values.data(), {p, l}, at::kDouble);
  const at::Tensor s = at::linalg_svdvals(e / e.norm(2, 1, true));
  return (s.min() / s.max()).item<double>();
}

}  // namespace

ScaleCheck compareScale(double sceneRms, double referenceRms, const std::string& sceneLabel,
                        const std::string& referenceLabel) {
  ScaleCheck c;
  if (!std::isfinite(sceneRms) || !std::isfinite(referenceRms)) {
    c.verdict = ScaleCheck::Verdict::Refuse;
    c.message = (std::isfinite(sceneRms) ? referenceLabel : sceneLabel) +
                " has values too large for single-precision arithmetic (their RMS is not "
                "finite); rescale the raster";
    return c;
  }
  if (!(sceneRms > 0) || !(referenceRms > 0)) return c;
  c.ratio = sceneRms / referenceRms;
  const double factor = std::max(c.ratio, 1 / c.ratio);
  if (factor < 4) return c;
  c.verdict = factor >= 20 ? ScaleCheck::Verdict::Refuse : ScaleCheck::Verdict::Warn;
  c.message = sceneLabel + "'s values are about " + roughly(factor) + " times " +
              (c.ratio > 1 ? "those" : "smaller than those") + " of " + referenceLabel + " (RMS " +
              threeDigits(sceneRms) + " against " + threeDigits(referenceRms) + ")";
  if (c.verdict == ScaleCheck::Verdict::Warn)
    c.message += ": check that both are in the same units";
  else
    c.message += ": " + sceneLabel +
                 " is probably stored in other units (e.g. reflectance x 10000). Multiply it by " +
                 roughly(1 / c.ratio) + " (Raster calculator) or use " + referenceLabel +
                 " in these units.";
  return c;
}

double rmsOf(const float* values, int64_t count) { return summarizeValues(values, count).rms(); }

double ValueSummary::rms() const { return count ? std::sqrt(sumOfSquares / double(count)) : 0.0; }

double ValueSummary::negativeShare() const {
  return count ? double(negatives) / double(count) : 0.0;
}

ValueSummary summarizeValues(const float* values, int64_t count) {
  ValueSummary s;
  for (int64_t i = 0; i < count; ++i)
    if (std::isfinite(values[i])) s.add(values[i]);
  return s;
}

std::string negativeValuesWarning(const ValueSummary& scene, const std::string& sceneLabel) {
  if (!(scene.negativeShare() > 0.2)) return {};
  return sceneLabel + ": " + std::to_string(int(std::lround(100 * scene.negativeShare()))) +
         "% of its values are negative, where radiance and reflectance are not: an offset, "
         "mean-centred or MNF/PCA-transformed scene breaks the linear mixing model, and "
         "unmixing it gives wrong abundances. Unmix the radiance or reflectance itself.";
}

EndmemberSetCheck checkEndmemberSet(const EndmemberTable& table) {
  EndmemberSetCheck check;
  const int p = table.endmembers(), l = table.bands;
  if (p < 1 || l < 1 || table.values.size() != size_t(l) * p) {
    check.errors.push_back("the endmember table's values do not match its " + std::to_string(l) +
                           " bands x " + std::to_string(p) + " endmembers");
    return check;
  }
  // Usable columns (finite, not all zero), in double.
  std::vector<std::vector<double>> columns;
  std::vector<std::string> names, negatives;
  for (int e = 0; e < p; ++e) {
    std::vector<double> col(l);
    bool finite = true, nonzero = false;
    int negative = 0;
    for (int b = 0; b < l; ++b) {
      col[b] = table.at(b, e);
      finite = finite && std::isfinite(col[b]);
      nonzero = nonzero || col[b] != 0;
      negative += col[b] < 0;
    }
    const std::string& name = table.names[e];
    if (!finite || !nonzero) {
      check.errors.push_back("endmember " + named(name) +
                             (finite ? " is all zeros" : " has values that are not finite") +
                             ": check the CSV's columns, or remove or replace it");
      continue;
    }
    if (negative)
      negatives.push_back(named(name) + " (" + std::to_string(negative) + " of " +
                          std::to_string(l) + " values)");
    columns.push_back(std::move(col));
    names.push_back(name);
  }
  if (!negatives.empty()) {
    std::string list;
    for (const std::string& n : negatives) list += (list.empty() ? "" : ", ") + n;
    check.warnings.push_back("negative values in endmember " + list +
                             ": spectra are not negative; check the CSV's columns");
  }
  bool pairFound = false;
  for (size_t i = 0; i < columns.size(); ++i) {
    for (size_t j = i + 1; j < columns.size(); ++j) {
      const double angle = angleBetween(columns[i], columns[j]);
      const std::string pair = "endmembers " + named(names[i]) + " and " + named(names[j]);
      if (angle < 1e-6) {
        check.errors.push_back(pair + " are identical or proportional (spectral angle " +
                               threeDigits(angle) + " rad): remove or replace one of them");
        pairFound = true;
      } else if (angle < 0.01) {
        check.warnings.push_back(pair + " are nearly collinear (spectral angle " +
                                 threeDigits(angle) +
                                 " rad): their abundances are unreliable; remove or replace one "
                                 "of them");
        pairFound = true;
      }
    }
  }
  // A set can be degenerate with every pair well apart (one endmember a mixture of others).
  if (!pairFound && columns.size() > 1) {
    const double inv = inverseCondition(columns);
    if (inv < 1e-6)
      check.warnings.push_back(
          "the endmember set is numerically rank-deficient (smallest / largest singular value " +
          threeDigits(inv) + "): one endmember is a mixture of the others; remove or replace it");
  }
  return check;
}

}  // namespace dequnmix
