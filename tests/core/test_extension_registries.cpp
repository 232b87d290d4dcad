// A new solver and a new spatial prox added through the registries alone (no edit to the
// core), then used by training, inference and validation like the built-in ones.
#include <atomic>

#include "core/deq/deq_ops.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

// Toy solver: plain fixed-point iteration, counting its calls.
std::atomic<int> toySolves{0};
FixedPointResult toySolve(const DeqMap& map, const torch::Tensor& start,
                          const DeqSolverOptions& options, const ProgressSink* cancel) {
  ++toySolves;
  return iterateFixedPoint(
      map, start, options, cancel,
      [](const torch::Tensor&, const torch::Tensor& fx, DeqSolveStats&) { return fx; });
}

// Toy prox: every pixel towards the mean abundances of its window (a convex combination of
// simplex points), counting the windows it was prepared for.
std::atomic<int> toyPrepared{0};
class WindowMeanProx final : public SpatialProx {
 public:
  void prepare(const torch::Tensor&) override { ++toyPrepared; }
  torch::Tensor apply(const torch::Tensor& b) const override {
    return b.mean({2, 3}, true).expand_as(b);
  }
};

void registerToys() {
  registerFixedPointSolver("toy_picard", toySolve);
  registerSpatialProx("toy_window_mean",
                      [](const DeqNetwork&) { return std::make_unique<WindowMeanProx>(); });
}

TEST(ExtensionRegistries, ToySolverAndProxAreListedValidatedAndSolveAnAnalyticFixedPoint) {
  registerToys();
  const auto solvers = fixedPointSolverNames();
  EXPECT_EQ(solvers.front(), "anderson");
  EXPECT_EQ(solvers.back(), "toy_picard");
  EXPECT_EQ(spatialProxNames().back(), "toy_window_mean");
  DeqSolverOptions o;
  o.kind = "toy_picard";
  EXPECT_NO_THROW(o.validate("solver"));
  o.kind = "newton";
  test::expectThrowWith<InvalidArgument>([&] { o.validate("solver"); },
                                         {"newton", "anderson", "toy_picard"});
  // x = 0.5 x + 1 has the fixed point 2.
  o.kind = "toy_picard";
  o.maxIterations = 200;
  o.tolerance = 1e-12;
  const int before = toySolves;
  FixedPointResult r = solveFixedPoint([](const torch::Tensor& x) { return 0.5 * x + 1; },
                                       torch::zeros({3}, torch::kFloat64), o);
  EXPECT_EQ(toySolves, before + 1);
  EXPECT_LT((r.solution - 2).abs().max().item<double>(), 1e-10);
  EXPECT_EQ(r.stats.converged, 1);
}

TEST(ExtensionRegistries, TrainsAndInfersWithTheToySolverAndProx) {
  registerToys();
  SyntheticOptions so;
  so.width = so.height = 16;
  so.bands = 20;
  so.endmembers = 3;
  so.seed = 5;
  const SyntheticScene s = generateSyntheticScene(so);
  DeqTrainInput in;
  in.bands = s.bands;
  in.height = s.height;
  in.width = s.width;
  in.scene = s.scene;
  DeqTrainOptions o;
  o.endmembers = 3;
  o.epochs = 2;
  o.threads = 1;
  o.refinement = EndmemberRefinement::None;
  o.forward.kind = o.backward.kind = "toy_picard";
  o.network.spatialProx = "toy_window_mean";
  o.network.spatialWeight = 0.1;
  o.automaticSpatialNoiseShare = 0;  // the weight as given, which the file must keep
  DeqInferOptions inference;
  inference.solver.kind = "toy_picard";
  const int solvesBefore = toySolves, preparedBefore = toyPrepared;
  DeqTrainResult r = trainDeqUnmix(in, o, inference);
  // Two epochs of a forward and a backward solve, and the final inference.
  EXPECT_GE(toySolves - solvesBefore, 5);
  EXPECT_GE(toyPrepared - preparedBefore, 3);
  EXPECT_EQ(r.model.network.spatialProx, "toy_window_mean");
  ASSERT_EQ(r.abundances.size(), size_t(3 * 16 * 16));
  for (int64_t i = 0; i < 16 * 16; ++i) {
    double sum = 0;
    for (int p = 0; p < 3; ++p) {
      const float a = r.abundances[p * 256 + i];
      EXPECT_GE(a, -1e-6);
      sum += a;
    }
    EXPECT_NEAR(sum, 1.0, 1e-4);
  }

  // The model file stores the solver and the prox by name: they load and unmix as before.
  const DeqModel loaded = deserializeDeqModel(serializeDeqModel(r.model));
  EXPECT_EQ(loaded.solver.kind, "toy_picard");
  EXPECT_EQ(loaded.network.spatialProx, "toy_window_mean");
  EXPECT_EQ(loaded.network.spatialWeight, 0.1);
  inference.threads = 1;
  const DeqInferResult before = unmixSceneWithDeqModel(r.model, s.scene, 16, 16, inference);
  const DeqInferResult after = unmixSceneWithDeqModel(loaded, s.scene, 16, 16, inference);
  EXPECT_EQ(after.abundances, before.abundances);
}

}  // namespace
}  // namespace dequnmix
