// The exchanges data-parallel training needs, on LibTorch tensors (process_group.h).
#pragma once

#include <torch/types.h>

#include <vector>

#include "core/distributed/process_group.h"

namespace dequnmix {

// Replaces every tensor by its mean over the ranks, each rank's tensors counting `weight`
// times, in one flat all-reduce. Equal weights give the gradient average of PyTorch's
// DistributedDataParallel; weights that count each rank's pixels give the gradient of the
// loss over all ranks' pixels. Throws DistributedError.
void averageOverRanks(ProcessGroup& group, const std::vector<torch::Tensor>& tensors,
                      double weight);

// Replaces every tensor by rank 0's. Throws DistributedError.
void broadcastFromRankZero(ProcessGroup& group, const std::vector<torch::Tensor>& tensors);

}  // namespace dequnmix
