// The DEQ-Unmix training loop: epochs of forward solve, loss and gradient, with LibTorch's
// AdamW, gradient-norm clipping and step decay, on the whole scene or on random tiles when
// the scene's working set exceeds the memory budget.
#pragma once

#include <array>
#include <vector>

#include "core/deq/deq_ops.h"
#include "core/deq/training_data.h"
#include "core/distributed/process_group.h"

namespace dequnmix {

// Where training tiles come from when the scene is not in memory: windows read through a
// DeqTileReader, scaled and started from FCLS like the in-memory scene.
class StreamedTiles {
 public:
  // `data`'s endmembers, scale, band weights (the reader's windows are in data units, so they
  // are whitened here) and anomaly screen (whose pixels each tile leaves out as nodata);
  // `scaleInvariant` as DeqNetworkOptions'.
  StreamedTiles(DeqTileReader& reader, int height, int width, const TrainingData& data,
                bool scaleInvariant, const torch::Device& device);
  int height() const { return height_; }
  int width() const { return width_; }
  // The size x size window at (row, col): scaled scene (L x s x s), FCLS start (P x s x s)
  // and validity mask (1 x s x s), on the device.
  std::array<torch::Tensor, 3> tile(int row, int col, int size);
  int64_t tilesRead = 0;

 private:
  DeqTileReader& reader_;
  int height_, width_, bands_;
  torch::Tensor bandWeights_, bandScale_;  // L: bandWeights (CPU), x scale on the device
  AnomalyScreen anomalies_;
  bool scaleInvariant_;
  torch::Tensor endmembers_, fill_;  // scaled, on the device
  torch::Device device_;
  std::vector<float> buffer_;
};

struct TrainerResult {
  std::vector<DeqEpochStats> epochs;
  DeqSolveStats forward;     // every training forward solve
  bool tiled = false;        // trained on random tiles (scene over the memory budget)
  torch::Tensor endmembers;  // the scaled E after training (learned or as given)
};

// options.alpha must be resolved (>= 0). Throws InvalidArgument when training diverges,
// Canceled.
// With a `group` of more than one rank, training always draws tiles: every step draws
// size() x tilesPerStep tiles from the same seed on every rank, rank r takes the r-th share,
// and the gradients are averaged over the ranks before clipping and the optimiser step.
// With `streamed` tiles, every step reads its tiles through them (the scene is not in
// `data`, whose scale and endmembers still apply).
TrainerResult trainNetwork(DeqNetwork& network, const TrainingData& data,
                           const DeqTrainOptions& options, ProgressSink* progress,
                           ProcessGroup* group = nullptr, StreamedTiles* streamed = nullptr);

}  // namespace dequnmix
