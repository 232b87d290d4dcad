// The HTML report of 'Evaluate unmixing': per matched endmember the estimated, reference
// and absolute-difference abundance maps side by side on one fixed 0-1 colour ramp, the two
// spectra overlaid with their SAD, and a table of per-endmember SAD and RMSE with both
// aRMSE definitions and the matching used. Self-contained: maps are inline PNG images,
// charts inline SVG.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "algorithms/report_images.h"
#include "core/io/endmember_table.h"

namespace dequnmix::processing {

// Every step-th row and column of the raster at `path`, as reportGrid. Throws IoError.
ReportMaps readAbundanceMaps(const std::string& path, const std::string& label, int maxSide = 320);

struct EvaluationReportInput {
  std::string estimatedName, referenceName;  // the two rasters, as the user named them
  std::vector<std::string> estimatedNames, referenceNames;
  std::vector<int> referenceOf;  // estimated endmember e matches reference referenceOf[e]
  std::vector<double> rmse;      // per estimated endmember
  std::vector<double> sadRad;    // per estimated endmember; empty without spectra
  double armse = 0, armseMean = 0;
  double msadRad = std::numeric_limits<double>::quiet_NaN();
  int64_t pixels = 0;                                // valid in both rasters
  const EndmemberTable* estimatedSpectra = nullptr;  // both null without spectra
  const EndmemberTable* referenceSpectra = nullptr;
  ReportMaps estimated, reference;
};

// The complete HTML document.
std::string evaluationReportHtml(const EvaluationReportInput& input);

}  // namespace dequnmix::processing
