// Issue 9 (core side): scale and range traps caught, internal errors turned into messages
// that name the problem and the fix, stored settings bounded, CSV dialects read. One test
// per item; each failed on the code before the fix.
#include <torch/types.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/classical/fcls.h"
#include "core/classical/fcls_ops.h"
#include "core/classical/vca.h"
#include "core/data_checks.h"
#include "core/deq/deq_ops.h"
#include "core/deq/deq_unmix.h"
#include "core/io/endmember_table.h"
#include "core/pixel_source.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

SyntheticScene smallScene() {
  SyntheticOptions so;
  so.width = so.height = 16;
  so.bands = 20;
  so.endmembers = 3;
  so.snrDb = 30;
  so.seed = 9;
  return generateSyntheticScene(so);
}

DeqTrainOptions quickOptions() {
  DeqTrainOptions o;
  o.endmembers = 3;
  o.epochs = 3;
  o.threads = 2;
  o.seed = 4;
  o.refinement = EndmemberRefinement::AngularMeanShift;
  // Solves from FCLS with a fixed count: a warm-started solve stops within its tolerance
  // after a number of iterations that rounding can change by one, and Adam's normalised
  // steps amplify that over epochs (abundances 0.014 apart at 1e19 units); scale
  // invariance is about the arithmetic, which this isolates.
  o.warmStartForward = false;
  return o;
}

std::vector<float> scaled(std::vector<float> v, float factor) {
  for (float& x : v) x *= factor;
  return v;
}

double maxRelDiff(const std::vector<float>& a, const std::vector<float>& b, double unit) {
  return test::maxAbsDiff(a, b) / unit;
}

std::string writeFile(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + "/reliability_" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// --- Item 5: the scale of a scene against a model's or the endmembers'.
TEST(Reliability, Item05_CompareScaleWarnsAndRefusesWithTheFactor) {
  const std::vector<float> unit = {0.3f, -0.4f, NAN, INFINITY};
  EXPECT_NEAR(rmsOf(unit.data(), 4), std::sqrt(0.125), 1e-7);
  const std::vector<float> huge = {3e38f, 3e38f};
  EXPECT_NEAR(rmsOf(huge.data(), 2) / 3e38, 1.0, 1e-6);  // no float overflow
  EXPECT_EQ(rmsOf(unit.data() + 2, 2), 0.0);

  EXPECT_EQ(compareScale(0.5, 0.459, "INPUT", "the training scene").verdict,
            ScaleCheck::Verdict::Agree);
  EXPECT_EQ(compareScale(0.459 / 3.9, 0.459, "INPUT", "x").verdict, ScaleCheck::Verdict::Agree);
  const ScaleCheck warn = compareScale(0.459 * 5, 0.459, "INPUT", "the training scene");
  EXPECT_EQ(warn.verdict, ScaleCheck::Verdict::Warn);
  EXPECT_NEAR(warn.ratio, 5, 1e-12);
  EXPECT_NE(warn.message.find("about 5.0 times"), std::string::npos) << warn.message;

  const ScaleCheck units = compareScale(4592, 0.459, "INPUT", "the training scene");
  EXPECT_EQ(units.verdict, ScaleCheck::Verdict::Refuse);
  for (const char* part : {"INPUT's values are about 10000 times those of the training scene",
                           "RMS 4.59e+03 against 0.459", "Multiply it by 0.0001"})
    EXPECT_NE(units.message.find(part), std::string::npos) << units.message;
  const ScaleCheck small = compareScale(0.459, 4592, "INPUT", "the endmembers");
  EXPECT_EQ(small.verdict, ScaleCheck::Verdict::Refuse);
  EXPECT_NE(small.message.find("Multiply it by 10000"), std::string::npos) << small.message;
  EXPECT_EQ(compareScale(INFINITY, 1, "INPUT", "x").verdict, ScaleCheck::Verdict::Refuse);
  EXPECT_EQ(compareScale(0, 1, "INPUT", "x").verdict, ScaleCheck::Verdict::Agree);
}

TEST(Reliability, Item05_NegativeValuesWarnAboveAFifth) {
  const std::vector<float> values = {0.3f, -0.4f, NAN, 0.1f, -0.2f, INFINITY, 0.5f};
  const ValueSummary s = summarizeValues(values.data(), int64_t(values.size()));
  EXPECT_EQ(s.count, 5);
  EXPECT_NEAR(s.negativeShare(), 0.4, 1e-12);
  EXPECT_NEAR(s.rms(), std::sqrt((0.09 + 0.16 + 0.01 + 0.04 + 0.25) / 5), 1e-7);
  const std::string warning = negativeValuesWarning(s, "INPUT");
  EXPECT_NE(warning.find("INPUT: 40% of its values are negative"), std::string::npos) << warning;
  const std::vector<float> reflectance = {0.3f, 0.2f, 0.1f, 0.4f, -0.01f};  // a fifth: kept
  EXPECT_EQ(negativeValuesWarning(summarizeValues(reflectance.data(), 5), "INPUT"), "");
  EXPECT_EQ(negativeValuesWarning(ValueSummary{}, "INPUT"), "");
}

// --- Item 7: endmember sets that make unmixing impossible or unreliable.
TEST(Reliability, Item07_EndmemberSetChecksNameTheEndmembersAndTheFix) {
  const SyntheticScene s = smallScene();
  const EndmemberTable good = s.endmembers;
  EXPECT_TRUE(checkEndmemberSet(good).errors.empty());
  EXPECT_TRUE(checkEndmemberSet(good).warnings.empty());
  auto withColumn = [&](int target, auto value) {
    EndmemberTable t = good;
    t.names = {"rock", "tree", "water"};
    for (int b = 0; b < t.bands; ++b) t.values[b * 3 + target] = value(b);
    return t;
  };
  auto has = [](const std::vector<std::string>& list, std::vector<std::string> parts) {
    for (const std::string& m : list) {
      bool all = true;
      for (const std::string& p : parts) all = all && m.find(p) != std::string::npos;
      if (all) return true;
    }
    return false;
  };
  const EndmemberTable zero = withColumn(1, [](int) { return 0.0f; });
  EXPECT_TRUE(has(checkEndmemberSet(zero).errors, {"'tree'", "all zeros"}));
  const EndmemberTable copy = withColumn(2, [&](int b) { return 3 * good.at(b, 0); });
  EXPECT_TRUE(has(checkEndmemberSet(copy).errors, {"'rock' and 'water'", "remove or replace"}));
  const EndmemberTable close =
      withColumn(2, [&](int b) { return good.at(b, 0) * (1 + 0.004f * (b % 2)); });
  const EndmemberSetCheck nearly = checkEndmemberSet(close);
  EXPECT_TRUE(nearly.errors.empty());
  EXPECT_TRUE(has(nearly.warnings, {"'rock' and 'water'", "nearly collinear"}));
  const EndmemberTable negative = withColumn(0, [&](int b) { return b < 2 ? -0.1f : 0.5f; });
  EXPECT_TRUE(has(checkEndmemberSet(negative).warnings, {"'rock' (2 of 20 values)"}));
  const EndmemberTable mixture =
      withColumn(2, [&](int b) { return 0.5f * (good.at(b, 0) + good.at(b, 1)); });
  const EndmemberSetCheck rank = checkEndmemberSet(mixture);
  EXPECT_TRUE(rank.errors.empty());
  EXPECT_TRUE(has(rank.warnings, {"rank-deficient", "mixture of the others"}));
}

// --- Item 6: values near the top of the float range.
TEST(Reliability, Item06_FclsOnHugeValuesNeverGivesNan) {
  const SyntheticScene s = smallScene();
  const int L = s.bands, P = 3;
  const int64_t n = int64_t(s.width) * s.height;
  std::vector<float> pixels(n * L);
  for (int b = 0; b < L; ++b)
    for (int64_t i = 0; i < n; ++i) pixels[i * L + b] = s.scene[b * n + i];
  std::vector<float> a(n * P), big(n * P);
  FclsSolver(s.endmembers.values, L, P).unmix(pixels.data(), n, a.data());
  // Endmembers and data scaled together: the same problem.
  FclsSolver(scaled(s.endmembers.values, 1e30f), L, P)
      .unmix(scaled(pixels, 1e30f).data(), n, big.data());
  EXPECT_ALL_NEAR(big, a, 1e-4);
  // Data 1e20 times the endmembers' scale (a unit mismatch; used to give NaN for most
  // pixels): the linear term dominates, so the optimum is the vertex of the largest e_i^T y.
  FclsSolver(s.endmembers.values, L, P).unmix(scaled(pixels, 1e20f).data(), n, big.data());
  for (int64_t i = 0; i < n; ++i) {
    int best = 0;
    std::vector<double> dot(P, 0.0);
    for (int e = 0; e < P; ++e) {
      for (int b = 0; b < L; ++b) dot[e] += double(s.endmembers.at(b, e)) * pixels[i * L + b];
      if (dot[e] > dot[best]) best = e;
    }
    for (int e = 0; e < P; ++e) ASSERT_NEAR(big[i * P + e], e == best ? 1 : 0, 1e-6) << i;
  }
}

// Solved to convergence, so that results compare to rounding, not to where the solver
// stopped (at the default tolerance two runs on data that differ by rounding stop at
// iterates 5e-3 apart, see Item13).
DeqInferOptions tightInference() {
  DeqInferOptions io;
  io.solver.tolerance = 1e-7;
  io.solver.maxIterations = 3000;
  return io;
}

TEST(Reliability, Item06_TrainOnHugeValuesWorks) {
  const SyntheticScene s = smallScene();
  const DeqTrainOptions o = quickOptions();
  const DeqTrainResult plain = trainDeqUnmix(test::trainInputOf(s), o, tightInference());
  DeqTrainInput in = test::trainInputOf(s);
  in.scene = scaled(in.scene, 1e19f);
  const DeqTrainResult big = trainDeqUnmix(in, o, tightInference());
  EXPECT_LE(
      maxRelDiff(big.model.endmembers.values, scaled(plain.model.endmembers.values, 1e19f), 1e19),
      1e-4);
  EXPECT_EQ(big.inference.converged, big.inference.solves);
  EXPECT_ALL_NEAR(big.abundances, plain.abundances, 1e-3);
  EXPECT_LE(maxRelDiff(big.residual, scaled(plain.residual, 1e19f), 1e19), 1e-4);
}

TEST(Reliability, Item06_UnmixOnHugeValuesWorks) {
  const SyntheticScene s = smallScene();
  const int64_t n = int64_t(s.width) * s.height;
  const DeqModel model = trainDeqUnmix(test::trainInputOf(s), quickOptions()).model;
  // A model for other units on this scene (used to fail: "index -1 is out of bounds"):
  // nonsense, but finite abundances on the simplex (the adapters check the scale).
  const std::vector<float> huge = scaled(s.scene, 1e19f);
  const DeqInferResult wrong = unmixSceneWithDeqModel(model, huge, s.height, s.width);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int e = 0; e < 3; ++e) sum += wrong.abundances[e * n + i];
    ASSERT_NEAR(sum, 1, 1e-5) << i;
  }
  DeqModel big = model;  // the same model for data in units 1e19 times smaller
  big.endmembers.values = scaled(model.endmembers.values, 1e19f);
  big.inputScale = model.inputScale / 1e19;
  const DeqInferResult a =
      unmixSceneWithDeqModel(model, s.scene, s.height, s.width, tightInference());
  const DeqInferResult b = unmixSceneWithDeqModel(big, huge, s.height, s.width, tightInference());
  EXPECT_EQ(b.stats.solver.converged, b.stats.solver.solves);
  EXPECT_ALL_NEAR(b.abundances, a.abundances, 1e-4);
  EXPECT_LE(maxRelDiff(b.residual, scaled(a.residual, 1e19f), 1e19), 1e-5);
}

// --- Item 7: options and endmembers that used to end in LibTorch's internal errors.
TEST(Reliability, Item07_LearningRateOutOfRangeIsRefusedAndDivergenceNamed) {
  const SyntheticScene s = smallScene();
  DeqTrainOptions o = quickOptions();
  o.networkLearningRate = 1e10;
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmix(test::trainInputOf(s), o); },
                                         {"network learning rate", "[0, 1]"});
  o = quickOptions();
  o.endmemberLearningRate = 2;
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmix(test::trainInputOf(s), o); },
                                         {"endmember learning rate", "[0, 1]"});
  // Learning rates within the range keep Adam's steps bounded; a weight decay that flips and
  // multiplies the weights by -3e27 each step overflows them at the second step.
  o = quickOptions();
  o.weightDecay = 1e30;
  test::expectThrowWith<InvalidArgument>(
      [&] { trainDeqUnmix(test::trainInputOf(s), o); },
      {"training diverged at epoch 2 (the network's weights are not finite)", "lower the network"});
}

TEST(Reliability, Item07_IdenticalInitialEndmembersAreRefusedByName) {
  const SyntheticScene s = smallScene();
  DeqTrainInput in = test::trainInputOf(s);
  in.hasInitialEndmembers = true;
  in.initialEndmembers = s.endmembers;
  in.initialEndmembers.names = {"rock", "tree", "water"};
  for (int b = 0; b < s.bands; ++b)
    in.initialEndmembers.values[b * 3 + 2] = in.initialEndmembers.values[b * 3 + 1];
  DeqTrainOptions o = quickOptions();
  o.refinement = EndmemberRefinement::MinimumVolume;
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmix(in, o); },
                                         {"'tree' and 'water'", "remove or replace"});
  // The refinement itself: a singular vertex matrix keeps the given endmembers.
  torch::Tensor E =
      torch::from_blob(in.initialEndmembers.values.data(), {s.bands, 3}, torch::kFloat32).clone();
  torch::Tensor Y = torch::from_blob(const_cast<float*>(s.scene.data()),
                                     {s.bands, s.height * s.width}, torch::kFloat32);
  torch::Tensor R = refineEndmembersMinVolume(E, Y, 0.02, 50, 0);
  EXPECT_TRUE(torch::equal(R, E));
}

// --- Item 8: every stored setting bounded on load, one set of bounds for all callers.
TEST(Reliability, Item08_ModelWithUnboundedSolverIsCorrupt) {
  const SyntheticScene s = smallScene();
  DeqModel m = trainDeqUnmix(test::trainInputOf(s), quickOptions()).model;
  EXPECT_NO_THROW(deserializeDeqModel(serializeDeqModel(m)));
  auto expectCorrupt = [](const DeqModel& bad, std::vector<std::string> parts) {
    parts.push_back("stored setting out of range");
    test::expectThrowWith<ModelCorruptError>([&] { deserializeDeqModel(serializeDeqModel(bad)); },
                                             parts);
  };
  DeqModel bad = m;
  bad.solver.maxIterations = 1000000;
  bad.solver.tolerance = 0;
  expectCorrupt(bad, {"maximum iterations", "1000000", "1..10000"});
  bad = m;
  bad.solver.tolerance = INFINITY;
  expectCorrupt(bad, {"tolerance"});
  bad = m;
  bad.network.hiddenChannels = 4000;  // the weights' shapes do not matter: refused first
  expectCorrupt(bad, {"hidden channels", "1..1024"});
  bad = m;
  for (DeqTensor& t : bad.weights)
    if (t.name == "eta") t.values = {NAN};
  expectCorrupt(bad, {"'eta'", "not finite"});
  bad = m;
  bad.network.superpixelSize = 5000;
  expectCorrupt(bad, {"superpixel size", "2..1000"});
  bad = m;
  bad.inputScale = 1e300;
  expectCorrupt(bad, {"input scale"});

  // The same bounds in the option validation of training and inference.
  DeqSolverOptions so;
  so.maxIterations = 20000;
  test::expectThrowWith<InvalidArgument>([&] { so.validate("inference solver"); },
                                         {"inference solver", "maximum iterations", "1..10000"});
  DeqInferOptions io;
  io.solver.damping = 0;
  test::expectThrowWith<InvalidArgument>(
      [&] { unmixSceneWithDeqModel(m, s.scene, s.height, s.width, io); }, {"damping", "(0, 1]"});
  DeqTrainOptions o = quickOptions();
  o.network.hiddenLayers = 17;
  test::expectThrowWith<InvalidArgument>([&] { trainDeqUnmix(test::trainInputOf(s), o); },
                                         {"hidden layers", "0..16"});
}

// The training and inference options check their own bounds (DeqLimits), without a scene:
// what the QGIS algorithms call before the work.
TEST(Reliability, Item08_TrainAndInferenceOptionsCheckTheirOwnBounds) {
  EXPECT_NO_THROW(DeqTrainOptions().validate());
  EXPECT_NO_THROW(DeqInferOptions().validate());
  auto refusedTraining = [](void (*set)(DeqTrainOptions&), std::vector<std::string> parts) {
    DeqTrainOptions o;
    set(o);
    test::expectThrowWith<InvalidArgument>([&] { o.validate(); }, parts);
  };
  refusedTraining([](DeqTrainOptions& o) { o.epochs = DeqLimits::kMaxEpochs + 1; },
                  {"epochs", "1..1000000"});
  refusedTraining([](DeqTrainOptions& o) { o.endmembers = -1; }, {"endmember count", "0..1000"});
  refusedTraining([](DeqTrainOptions& o) { o.forward.history = 101; }, {"forward", "history"});
  refusedTraining([](DeqTrainOptions& o) { o.backward.maxIterations = 0; },
                  {"backward", "maximum iterations"});
  refusedTraining([](DeqTrainOptions& o) { o.networkLearningRate = 2; },
                  {"network learning rate", "[0, 1]"});
  refusedTraining([](DeqTrainOptions& o) { o.automaticAnchorGain = 0.5; }, {"anchor gain"});
  DeqInferOptions io;
  io.tileSize = DeqLimits::kMinInferenceTile - 1;
  test::expectThrowWith<InvalidArgument>([&] { io.validate(); }, {"tile size", "8..100000"});
  io = DeqInferOptions();
  io.halo = -1;
  test::expectThrowWith<InvalidArgument>([&] { io.validate(); }, {"halo", "0..10000"});
}

// --- Item 12: small things.
TEST(Reliability, Item12_VcaOnOnePixelSaysTheSceneIsTooSmall) {
  const std::vector<float> pixel = {0.1f, 0.2f, 0.3f, 0.4f};
  MatrixPixelSource source(pixel, 4, 1);
  VcaOptions vo;
  vo.endmembers = 2;
  test::expectThrowWith<InvalidArgument>([&] { vca(source, vo); }, {"1 valid pixel", "at least 2"});
}

TEST(Reliability, Item12_SemicolonAndTabCsvAreRead) {
  const EndmemberTable t = readEndmemberCsv(writeFile(
      "semicolon.csv", "band;wavelength_nm;rock;tree\r\n1;401,5;0,123;1\n2;402;-0,5;2\n"));
  EXPECT_EQ(t.names, (std::vector<std::string>{"rock", "tree"}));
  EXPECT_EQ(t.wavelengths, (std::vector<double>{401.5, 402}));
  EXPECT_EQ(t.values, (std::vector<float>{0.123f, 1, -0.5f, 2}));
  const EndmemberTable u = readEndmemberCsv(writeFile("tab.tsv", "band\trock\ttree\n1\t0.5\t1\n"));
  EXPECT_EQ(u.names, (std::vector<std::string>{"rock", "tree"}));
  EXPECT_EQ(u.values, (std::vector<float>{0.5f, 1}));
  // Commas stay the delimiter when the header has them (a decimal comma is not guessed).
  test::expectThrowWith<IoError>(
      [] { readEndmemberCsv(writeFile("mixed.csv", "band,rock;tree\n1,0.5;1\n")); }, {"'0.5;1'"});
}

TEST(Reliability, Item12_Latin1NamesBecomeUtf8) {
  const EndmemberTable t =
      readEndmemberCsv(writeFile("latin1.csv", "band,for\xEAt,caf\xE9\n1,0.5,1\n"));
  EXPECT_EQ(t.names, (std::vector<std::string>{"for\xC3\xAAt", "caf\xC3\xA9"}));
  const EndmemberTable u = readEndmemberCsv(writeFile("utf8.csv",
                                                      "\xEF\xBB\xBF"
                                                      "band,caf\xC3\xA9\n1,0.5\n"));
  EXPECT_EQ(u.names, (std::vector<std::string>{"caf\xC3\xA9"}));
}

// --- Item 13: why CUDA and CPU tiled inference differed by 3.7e-3. Anderson stops at the
// first iterate within the tolerance, and any rounding difference (another device, or here
// one ulp on every input value) changes its trajectory and so the iterate it stops at. The
// results then differ by up to tolerance x ||x|| / (1 - contraction), not by rounding: a
// lot for the paper's map, which barely contracts along some directions, and little for the
// anchored map (DeqNetworkOptions::anchorWeight), which contracts by 1 - eta mu.
TEST(Reliability, Item13_TiledResultsDifferByTheSolverToleranceNotByRounding) {
  SyntheticOptions so;  // the scene and model of DeqDevice.TiledInferenceOnCudaMatchesCpu
  so.width = so.height = 24;
  so.bands = 30;
  so.endmembers = 3;
  so.seed = 31;
  const SyntheticScene s = generateSyntheticScene(so);
  std::vector<float> nudged = s.scene;
  test::Fixtures fx(3);
  for (float& v : nudged) v = std::nextafter(v, fx.uniform() < 0.5 ? 0.0f : 2.0f);
  auto difference = [&](const DeqModel& model, double tolerance) {
    DeqInferOptions io;
    io.tileSize = 8;
    io.halo = 4;
    io.solver.tolerance = tolerance;
    io.solver.maxIterations = 1000;
    const DeqInferResult a = unmixSceneWithDeqModel(model, s.scene, s.height, s.width, io);
    const DeqInferResult b = unmixSceneWithDeqModel(model, nudged, s.height, s.width, io);
    EXPECT_EQ(a.stats.solver.converged, a.stats.solver.solves);
    EXPECT_EQ(b.stats.solver.converged, b.stats.solver.solves);
    return test::maxAbsDiff(a.abundances, b.abundances);
  };
  DeqTrainOptions o = quickOptions();
  o.seed = 5;
  o.network.spatialWeight = 0.02;
  o.network.anchorWeight = 0;
  const DeqModel paper = trainDeqUnmix(test::trainInputOf(s), o).model;
  const double defaultTolerance = DeqInferOptions().solver.tolerance;
  const double atDefault = difference(paper, defaultTolerance);  // measured 8.2e-4
  const double converged = difference(paper, 1e-7);              // measured 9.1e-6
  EXPECT_GT(atDefault, 10 * converged);
  EXPECT_LE(converged, 1000 * 1e-7);

  o.network.anchorWeight = DeqNetworkOptions().anchorWeight;
  const DeqModel anchored = trainDeqUnmix(test::trainInputOf(s), o).model;
  // measured 1.1e-6: the anchored map's iterates meet within the tolerance itself
  EXPECT_LT(difference(anchored, defaultTolerance), defaultTolerance);
}

}  // namespace
}  // namespace dequnmix
