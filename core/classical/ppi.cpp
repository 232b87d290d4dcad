// Pixel purity index (ppi.h).
#include "core/classical/ppi.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <limits>
#include <string>

#include "core/classical/endmember_count.h"
#include "core/classical/subspace.h"
#include "core/classical/subspace_ops.h"
#include "core/errors.h"

namespace dequnmix {

namespace {

// The running extremes of every skewer and the scene index of the pixel holding each,
// updated a block at a time without a per-skewer loop.
struct Extremes {
  at::Tensor max, min;        // K
  at::Tensor argMax, argMin;  // K scene indices (int64)

  explicit Extremes(int64_t k)
      : max(at::full({k}, -std::numeric_limits<double>::infinity(), at::kDouble)),
        min(at::full({k}, std::numeric_limits<double>::infinity(), at::kDouble)),
        argMax(at::full({k}, -1, at::kLong)),
        argMin(at::full({k}, -1, at::kLong)) {}

  void update(const at::Tensor& projections, const int64_t* indices) {  // n x K
    const at::Tensor scene =
        at::from_blob(const_cast<int64_t*>(indices), {projections.size(0)}, at::kLong);
    const auto [blockMax, whereMax] = projections.max(0);
    const auto [blockMin, whereMin] = projections.min(0);
    const at::Tensor higher = blockMax > max, lower = blockMin < min;
    max = at::where(higher, blockMax, max);
    argMax = at::where(higher, scene.index_select(0, whereMax), argMax);
    min = at::where(lower, blockMin, min);
    argMin = at::where(lower, scene.index_select(0, whereMin), argMin);
  }
};

}  // namespace

PpiResult pixelPurityIndex(PixelSource& source, const PpiOptions& options, ProgressSink* progress) {
  const int L = source.bands();
  if (options.skewers < 1 || options.dimensions < 0 || options.dimensions >= L)
    throw InvalidArgument("PPI: needs at least one skewer and 0 <= dimensions < bands (" +
                          std::to_string(L) + ")");
  const BandMoments m = bandMoments(source, progress);
  if (m.pixels < 1) throw InvalidArgument("PPI: the scene has no valid pixel");
  PpiResult r;
  r.dimensions = options.dimensions > 0 ? options.dimensions
                                        : std::clamp(estimateEndmemberCount(m).hysime, 1, L - 1);
  const at::Tensor basis =
      topEigenpairs(doubleTensor(m.covariance, {L, L}), r.dimensions).second.contiguous();
  at::Generator generator = at::detail::createCPUGenerator(options.seed);
  at::Tensor skewers =
      at::randn({r.dimensions, options.skewers}, generator, at::TensorOptions(at::kDouble));
  skewers = basis.mm(skewers / skewers.norm(2, 0, true));  // L x K: straight on the bands
  const at::Tensor mean = doubleTensor(m.mean, {L});
  Extremes extremes(options.skewers);
  r.counts.assign(size_t(source.gridPixelCount()), -1);
  source.scan(
      [&](const PixelBlock& block) {
        const at::Tensor x =
            at::from_blob(const_cast<float*>(block.values), {block.count, L}, at::kFloat)
                .to(at::kDouble);
        extremes.update((x - mean).mm(skewers), block.indices);
        for (int64_t i = 0; i < block.count; ++i) r.counts[size_t(block.indices[i])] = 0;
      },
      progress);
  const at::Tensor ends = at::cat({extremes.argMax, extremes.argMin}).contiguous();
  for (int64_t k = 0; k < ends.numel(); ++k) ++r.counts[size_t(ends.data_ptr<int64_t>()[k])];
  return r;
}

}  // namespace dequnmix
