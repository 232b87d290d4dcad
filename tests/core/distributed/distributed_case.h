// The training case the data-parallel tests run on every rank and in one process: a small
// synthetic scene (with `spikePixels` spiked pixels), tiles of 8 pixels, Picard with a fixed number
// of iterations and the unrolled gradient, so each tile's gradient does not depend on which other
// tiles share its step (Anderson's mixing and a tolerance check would couple them).
#pragma once

#include "core/deq/deq_unmix.h"
#include "core/synthetic/synthetic.h"

namespace dequnmix::test {

inline SyntheticScene distributedCaseScene(int spikePixels = 0) {
  SyntheticOptions so;
  so.width = so.height = 24;
  so.bands = 20;
  so.endmembers = 3;
  so.snrDb = 30;
  so.seed = 21;
  so.spikePixels = spikePixels;
  return generateSyntheticScene(so);
}

inline DeqTrainOptions distributedCaseOptions(int tilesPerStep) {
  DeqTrainOptions o;
  o.endmembers = 3;
  o.epochs = 3;
  o.seed = 4;
  o.threads = 1;
  o.refinement = EndmemberRefinement::None;
  o.forward.kind = "picard";
  o.forward.maxIterations = 6;
  o.forward.tolerance = 0;
  o.gradient = DeqGradientMode::Unrolled;
  o.tileSize = 8;
  o.tilesPerStep = tilesPerStep;
  o.memoryBudgetMiB = 1e-6;  // tiles in one process too
  return o;
}

}  // namespace dequnmix::test
