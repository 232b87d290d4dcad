// The HTML report of 'Unmix with DEQ-Unmix model': the abundance map of each endmember and
// the reconstruction-error map (report_images.h), the solver's statistics, and the tiles'
// iterations and convergence as small maps of the tile grid. Self-contained.
#pragma once

#include <string>
#include <vector>

#include "algorithms/report_images.h"
#include "core/deq/deq_unmix.h"

namespace dequnmix::processing {

struct UnmixReportInput {
  std::string sceneName, modelPath;
  int width = 0, height = 0;
  std::vector<std::string> endmemberNames;
  ReportMaps abundances;  // P bands at report size
  ReportMaps residual;    // 1 band; empty (width 0) when OUTPUT_RESIDUAL was not asked for
  const DeqInferStats* stats = nullptr;  // required
  int tileSize = 0, halo = 0, ranks = 1;
};

std::string unmixReportHtml(const UnmixReportInput& input);

}  // namespace dequnmix::processing
