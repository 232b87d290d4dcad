// LibTorch entry to FCLS (see fcls.h for the method).
#pragma once

#include <torch/types.h>

#include "core/classical/fcls.h"

namespace dequnmix {

// endmembers: L x P; pixels: L x N (any float dtype, CPU or not). Returns P x N float32
// abundances on the device of `pixels`.
torch::Tensor fclsAbundances(const torch::Tensor& endmembers, const torch::Tensor& pixels,
                             const FclsOptions& options = {});

}  // namespace dequnmix
