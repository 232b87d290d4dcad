// Conversions between the plain values of deq_unmix.h and the tensors of the solver,
// shared by training and inference.
#pragma once

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "core/io/endmember_table.h"

namespace dequnmix {

// L x P tensor (CPU, float32) of a row-major bands x P table.
torch::Tensor tableTensor(const EndmemberTable& table);
EndmemberTable tensorTable(const torch::Tensor& endmembers, const std::vector<std::string>& names,
                           const std::vector<double>& wavelengths);

// Scene window (data units, L x h x w, NaN = nodata) -> scaled 1 x L x h x w with nodata
// pixels replaced by `fill` (scaled, L), and the 1 x 1 x h x w validity mask. `scale`: one
// value, or one per band (noise whitening times the input scale).
std::pair<torch::Tensor, torch::Tensor> prepareScene(const torch::Tensor& raw,
                                                     const torch::Tensor& scale,
                                                     const torch::Tensor& fill);

// The abundances the solves start from (and the anchor term pulls towards): B x L x h x w ->
// B x P x h x w. FCLS, or with `scaleInvariant` NNLS divided by its sum per pixel, the
// least-squares abundances of a pixel whose brightness is scaled (y = s E a).
torch::Tensor leastSquaresStart(const torch::Tensor& endmembers, const torch::Tensor& scene,
                                bool scaleInvariant);

}  // namespace dequnmix
