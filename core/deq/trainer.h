// The DEQ-Unmix training loop: epochs of forward solve, loss and gradient, with LibTorch's
// AdamW, gradient-norm clipping and step decay, on the whole scene or on random tiles when
// the scene's working set exceeds the memory budget.
#pragma once

#include <vector>

#include "core/deq/deq_ops.h"
#include "core/deq/training_data.h"
#include "core/distributed/process_group.h"

namespace dequnmix {

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
TrainerResult trainNetwork(DeqNetwork& network, const TrainingData& data,
                           const DeqTrainOptions& options, ProgressSink* progress,
                           ProcessGroup* group = nullptr);

}  // namespace dequnmix
