// The endmember stage of DEQ-Unmix training: VCA (or the given spectra), the refinement and
// the automatic choices that follow how well the scene fits the linear mixing model.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "core/deq/deq_unmix.h"

namespace dequnmix {

// The training scene as the endmember stage sees it.
struct EndmemberScene {
  const DeqTrainInput* input = nullptr;
  torch::Tensor raw;          // L x H x W, data units, NaN = nodata (CPU)
  torch::Tensor validFlat;    // H*W bools
  torch::Tensor validPixels;  // L x Nv, the valid pixels
};

struct InitialEndmembers {
  torch::Tensor endmembers;  // L x P, data units, CPU, >= 0
  std::vector<std::string> names;
  EndmemberRefinement refinement = EndmemberRefinement::None;  // applied, never Automatic
  double alpha = 0;                                            // resolved loss weight
  double affineModelExcess = 0;  // what automatic alpha was chosen by (0 otherwise)
  double volumeRatio = 0;   // automatic refinement: minimum-volume over VCA volume (0 otherwise)
  int centredVertices = 0;  // vertices moved by pure-cluster centring
  double vertexResidualRatio = 0;    // VCA's cone residual over N-FINDR's (0: not compared)
  bool nfindrVertices = false;       // N-FINDR's vertices replaced VCA's
  double directionsOutsideMass = 0;  // the start's outsideMass at unit brightness (0: not measured)
  ScaleInvariance scaleInvariance = ScaleInvariance::Off;  // resolved, never Automatic
  double brightnessGain = 0;   // what automatic scale invariance was chosen by (0 otherwise)
  double brightnessShare = 0;  // (BrightnessFit, refinement.h)
};

// Throws InvalidArgument (fewer valid pixels than endmembers), Canceled.
InitialEndmembers initialEndmembers(const EndmemberScene& scene, const DeqTrainOptions& options,
                                    ProgressSink* progress);

}  // namespace dequnmix
