// What the trainer loop works on: the scaled scene on the device, its validity mask, the
// FCLS start, the spatial prox's guide and the optional reference abundances.
#pragma once

#include <torch/types.h>

#include <optional>
#include <vector>

#include "core/deq/deq_ops.h"

namespace dequnmix {

class ProcessGroup;

// Pixels far outside the scene's signal subspace (DeqTrainOptions::anomalyResidualRatio).
struct AnomalyScreen {
  std::vector<int64_t> pixels;  // flat indices (row x width + column) of the anomalies
  double largestRatio = 0;      // the largest pixel's residual ratio; 0: not measured
  torch::Tensor subspace;       // L x P orthonormal (float64, CPU) where pixels were left out
  double limit = 0;             // the residual energy beyond which a pixel is left out
};

struct TrainingData {
  double scale = 1;           // the network sees Y * scale (1 / RMS of the valid pixels)
  torch::Tensor bandWeights;  // L: noise whitening of the data units (ones where off; CPU)
  torch::Tensor raw;          // L x H x W, data units, NaN = nodata (CPU)
  torch::Tensor validFlat;    // H*W bools
  torch::Tensor validPixels;  // L x Nv, the valid pixels (CPU)
  torch::Tensor endmembers;   // L x P, data units (CPU), in the reference's order if any
  torch::Tensor scene;        // 1 x L x H x W, scaled, nodata filled
  torch::Tensor mask;         // 1 x 1 x H x W, 1 = valid
  torch::Tensor start;        // 1 x P x H x W, leastSquaresStart on the scaled endmembers
  torch::Tensor guide;        // 1 x H x W spatial prox guide, or undefined
  torch::Tensor reference;    // 1 x P x H x W reference abundances (supervised), or undefined
  AnomalyScreen anomalies;    // the screen, and the pixels it left out of raw (as NaN)
};

// The scene's raw tensor, validity and scale. Throws InvalidArgument when no pixel is
// valid or the scene is all zeros or not finite.
TrainingData trainingScene(const DeqTrainInput& input);

// Noise whitening of a training scene (DeqTrainOptions::automaticWhiteningSpread).
struct NoiseWhitening {
  std::vector<double> weights;  // per band: median noise std over the band's; empty = off
  double spread = 0;            // noisiest over quietest band's noise std; 0: not measured
};

// HySime's regression noise of each band of `data`'s valid pixels (subsampled as the
// endmember stage does), and the weights where its spread reaches the option's threshold. A
// band the others predict almost exactly counts as a third of the median noise (its weight
// at most 3). Not measured (no weights) with the option 0, with fewer than 4 valid pixels per
// band (the regression would fit the noise) or on noise-free data. Logs the choice.
NoiseWhitening noiseWhitening(const TrainingData& data, const DeqTrainOptions& options,
                              ProgressSink* progress);

// Each valid pixel's energy outside the top `endmembers` eigenvectors of the pixels'
// correlation over the 99th percentile of the (subsampled) pixels' (a floor of 1e-8 of the
// mean pixel energy keeps noise-free scenes from comparing rounding): the pixels beyond the
// option's ratio, where they are at most its fraction of the valid pixels (none otherwise).
// Logs the result.
AnomalyScreen screenAnomalies(const TrainingData& data, int endmembers,
                              const DeqTrainOptions& options, ProgressSink* progress);

// The valid pixels of `data` (flat indices) beyond `screen`'s limit, as screenAnomalies
// would list them with that subspace and limit.
std::vector<int64_t> pixelsBeyond(const AnomalyScreen& screen, const TrainingData& data);

// Sets every band of the given pixels (flat indices) of `input` to NaN: nodata.
void markAsNodata(DeqTrainInput& input, const std::vector<int64_t>& pixels);

// Sets to NaN the pixels of `raw` (L x h x w, data units) that `screen` would have left out
// (after the band weights), as a streamed training's tiles need.
void maskAnomalies(const AnomalyScreen& screen, const torch::Tensor& bandWeights,
                   torch::Tensor& raw);

// `in` with its scene and initial endmembers multiplied band by band by `weights`.
DeqTrainInput whitenedInput(const DeqTrainInput& in, const std::vector<double>& weights);

// `data` (trainingScene of the input whitenedInput weighted) made trainingScene(whitened)
// without a second copy of the valid pixels: its raw tensor views `whitened`, which must
// outlive it.
void whitenTrainingScene(const DeqTrainInput& whitened, const std::vector<double>& weights,
                         TrainingData& data);

// The training data every stage works on: `in`'s, or where either applies those of `copy`,
// `in` with the bands whitened and the anomalies as nodata; `stage` gets the endmember count
// (trainingEndmemberCount: estimated where 0). With a `group`, rank 0's weights and screen.
TrainingData workingScene(const DeqTrainInput& in, ProcessGroup* group, ProgressSink* progress,
                          DeqTrainOptions& stage, NoiseWhitening& whitening,
                          std::optional<DeqTrainInput>& copy);

// Each band's row of `table` multiplied (or, with `divide`, divided) by its weight; the
// round trip is exact to float rounding.
void scaleEndmemberBands(EndmemberTable& table, const std::vector<double>& weights, bool divide);

// Scaled scene, FCLS start and reference on the device. With a reference and VCA's
// endmembers, E's columns are permuted to the reference's order (the least abundance error
// of the FCLS start).
void prepareTrainingData(const DeqTrainInput& input, const torch::Tensor& endmembers,
                         bool scaleInvariant, const torch::Device& device, TrainingData& data);

// The prox's guide of the whole training scene (undefined where it needs none).
void setProxGuide(const SpatialProx& prox, const torch::Device& device, TrainingData& data);

// The FCLS start as a plain P x H x W vector, NaN at nodata (the VCA+FCLS baseline).
std::vector<float> startAbundances(const TrainingData& data);

}  // namespace dequnmix
