// dequnmix:train and dequnmix:unmix through the processing registry, headless: parameters
// and defaults, outputs (band names, simplex, nodata, report, styling), unmix reproducing
// train's abundances, and every bad-input case of issue 4. Helpers and main() are shared
// with tests/qgis (test_support.h, main.cpp); tiny scenes and few epochs so it stays fast.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTextStream>

#include <gdal.h>

#include <qgsapplication.h>
#include <qgsexception.h>
#include <qgsprocessingalgorithm.h>
#include <qgsprocessingcontext.h>
#include <qgsprocessingfeedback.h>
#include <qgsprocessingoutputs.h>
#include <qgsprocessingparameters.h>
#include <qgsprocessingregistry.h>
#include <qgsproject.h>
#include <qgsrasterlayer.h>
#include <qgsrasterrenderer.h>

#include "core/deq/deq_unmix.h"
#include "tests/qgis/test_support.h"

using namespace dequnmix::testing;

namespace {

// A copy of `r` keeping bands [first, first + count).
RasterData bandSlice(const RasterData& r, int first, int count) {
  RasterData out = r;
  out.bands = count;
  out.descriptions.assign(r.descriptions.begin() + first, r.descriptions.begin() + first + count);
  out.nodata.assign(r.nodata.begin() + first, r.nodata.begin() + first + count);
  const size_t n = size_t(r.width) * r.height;
  out.values.assign(r.values.begin() + long(first * n),
                    r.values.begin() + long((first + count) * n));
  return out;
}

class TrainUnmixTest : public FolderTest {
 protected:
  // A synthetic scene (16 x 16 pixels, 20 bands, 3 endmembers) written into the test folder.
  void synthesize(int width = 16, int height = 16, int bands = 20, int endmembers = 3) {
    const RunResult r = runAlgorithm(QStringLiteral("dequnmix:synthesize"),
                                     {{"WIDTH", width},
                                      {"HEIGHT", height},
                                      {"BANDS", bands},
                                      {"ENDMEMBERS", endmembers},
                                      {"SNR_DB", 40.0},
                                      {"MAX_ABUNDANCE", 1.0},
                                      {"PURE_PIXELS", true},
                                      {"SEED", 3},
                                      {"OUTPUT", path("scene.tif")},
                                      {"OUTPUT_ABUNDANCES", path("reference.tif")},
                                      {"OUTPUT_ENDMEMBERS", path("reference.csv")}});
    ASSERT_TRUE(r.ok) << r.error.toStdString();
  }

  // Train parameters with every output in out/ (tiny and fast: 2 epochs, 4 forward iterations).
  QVariantMap trainParameters(const QString& scene, int epochs = 2) const {
    return {{"INPUT", scene},
            {"ENDMEMBERS", 3},
            {"EPOCHS", epochs},
            {"SEED", 5},
            {"THREADS", 2},
            {"MAX_ITERATIONS", 4},
            {"BACKWARD_MAX_ITERATIONS", 6},
            {"HIDDEN_CHANNELS", 8},
            {"OUTPUT_MODEL", out("model.dequnmix")},
            {"OUTPUT", out("abundances.tif")},
            {"OUTPUT_ENDMEMBERS", out("endmembers.csv")},
            {"OUTPUT_RESIDUAL", out("residual.tif")},
            {"OUTPUT_REPORT", out("report.html")}};
  }

  // Trains on scene.tif with trainParameters() and `changes`, writing <stem>.dequnmix,
  // <stem>.tif and <stem>.csv into the test folder (not into out/).
  RunResult trainIntoFolder(const QString& stem, const QVariantMap& changes = {}) {
    QVariantMap p = trainParameters(path("scene.tif"));
    p["OUTPUT_MODEL"] = path(stem + ".dequnmix");
    p["OUTPUT"] = path(stem + ".tif");
    p["OUTPUT_ENDMEMBERS"] = path(stem + ".csv");
    p.remove("OUTPUT_RESIDUAL");
    p.remove("OUTPUT_REPORT");
    for (auto it = changes.constBegin(); it != changes.constEnd(); ++it) p[it.key()] = it.value();
    return runAlgorithm(QStringLiteral("dequnmix:train"), p);
  }

  // A trained model of scene.tif in the test folder (not in out/).
  QString trainedModel() {
    const RunResult r = trainIntoFolder(QStringLiteral("trained"));
    EXPECT_TRUE(r.ok) << r.error.toStdString();
    return path("trained.dequnmix");
  }

  // Unmixes scene.tif with <stem>.dequnmix in one tile covering the scene and expects the
  // training output <stem>.tif exactly.
  void expectUnmixReproducesTraining(const QString& stem) {
    const RunResult u =
        runAlgorithm(QStringLiteral("dequnmix:unmix"), {{"INPUT", path("scene.tif")},
                                                        {"MODEL", path(stem + ".dequnmix")},
                                                        {"THREADS", 2},
                                                        {"OUTPUT", path(stem + "_unmix.tif")}});
    ASSERT_TRUE(u.ok) << u.error.toStdString();
    const RasterData a = readRaster(path(stem + ".tif"));
    const RasterData b = readRaster(path(stem + "_unmix.tif"));
    ASSERT_EQ(a.values.size(), b.values.size());
    for (size_t i = 0; i < a.values.size(); ++i) ASSERT_EQ(a.values[i], b.values[i]) << i;
  }

  // Checks abundances: P bands named endmember_1.., on the simplex at valid pixels, nodata
  // at `nodataPixels` (row, col).
  void expectAbundances(const QString& file, int p,
                        const std::vector<std::pair<int, int>>& nodataPixels = {}) {
    const RasterData a = readRaster(file);
    ASSERT_EQ(a.bands, p);
    for (int e = 0; e < p; ++e) {
      EXPECT_EQ(a.descriptions[e], "endmember_" + std::to_string(e + 1));
      EXPECT_EQ(a.nodata[e], kNoData);
    }
    std::set<std::pair<int, int>> holes(nodataPixels.begin(), nodataPixels.end());
    for (int r = 0; r < a.height; ++r) {
      for (int c = 0; c < a.width; ++c) {
        if (holes.count({r, c})) {
          for (int e = 0; e < p; ++e) EXPECT_EQ(a.at(e, r, c), kNoData);
          continue;
        }
        double sum = 0;
        for (int e = 0; e < p; ++e) {
          EXPECT_GE(a.at(e, r, c), -1e-6);
          sum += a.at(e, r, c);
        }
        EXPECT_NEAR(sum, 1.0, 1e-4) << "pixel " << r << "," << c;
      }
    }
  }
};

// ------------------------------------------------------------------------ registry

TEST(TrainUnmixRegistry, ParametersOutputsAndAdvancedFlags) {
  const auto* train = QgsApplication::processingRegistry()->algorithmById("dequnmix:train");
  const auto* unmix = QgsApplication::processingRegistry()->algorithmById("dequnmix:unmix");
  ASSERT_NE(train, nullptr);
  ASSERT_NE(unmix, nullptr);
  EXPECT_EQ(train->displayName(), QStringLiteral("Train DEQ-Unmix"));
  EXPECT_EQ(unmix->displayName(), QStringLiteral("Unmix with DEQ-Unmix model"));
  EXPECT_EQ(parameterNames("dequnmix:train"), QStringList({"INPUT",
                                                           "BANDS",
                                                           "BAD_BANDS",
                                                           "ENDMEMBERS",
                                                           "INITIAL_ENDMEMBERS",
                                                           "REFERENCE_ABUNDANCES",
                                                           "EPOCHS",
                                                           "SEED",
                                                           "THREADS",
                                                           "DEVICE",
                                                           "MEMORY_BUDGET_MB",
                                                           "SOLVER",
                                                           "MAX_ITERATIONS",
                                                           "TOLERANCE",
                                                           "ANDERSON_HISTORY",
                                                           "ANDERSON_REGULARIZATION",
                                                           "BACKWARD_MAX_ITERATIONS",
                                                           "GRADIENT",
                                                           "NETWORK_LEARNING_RATE",
                                                           "TRAIN_ENDMEMBERS",
                                                           "ENDMEMBER_LEARNING_RATE",
                                                           "ALPHA",
                                                           "REFINEMENT",
                                                           "REFINEMENT_RADIUS",
                                                           "WHITENING_SPREAD",
                                                           "ANOMALY_RATIO",
                                                           "SPATIAL_WEIGHT",
                                                           "SPATIAL_NOISE_SHARE",
                                                           "ANCHOR_WEIGHT",
                                                           "SCALE_INVARIANT",
                                                           "SPATIAL_PROX",
                                                           "SUPERPIXEL_SIZE",
                                                           "HIDDEN_CHANNELS",
                                                           "INFERENCE_MAX_ITERATIONS",
                                                           "INFERENCE_TOLERANCE",
                                                           "OUTPUT_MODEL",
                                                           "OUTPUT",
                                                           "OUTPUT_ENDMEMBERS",
                                                           "OUTPUT_RESIDUAL",
                                                           "OUTPUT_REPORT"}));
  EXPECT_EQ(outputNames("dequnmix:train"),
            QStringList({"CONVERGED_FRACTION", "FINAL_LOSS", "MEAN_ITERATIONS", "OUTPUT",
                         "OUTPUT_ENDMEMBERS", "OUTPUT_MODEL", "OUTPUT_REPORT", "OUTPUT_RESIDUAL",
                         "TRAINING_SECONDS"}));
  EXPECT_EQ(parameterNames("dequnmix:unmix"),
            QStringList({"INPUT", "MODEL", "TILE_SIZE", "HALO", "THREADS", "DEVICE", "OUTPUT",
                         "OUTPUT_RESIDUAL", "OUTPUT_REPORT"}));
  EXPECT_EQ(outputNames("dequnmix:unmix"),
            QStringList({"CONVERGED_FRACTION", "MEAN_ITERATIONS", "MEAN_RESIDUAL_RMSE", "OUTPUT",
                         "OUTPUT_REPORT", "OUTPUT_RESIDUAL"}));
  // The report is an HTML output (shown in the desktop's results viewer).
  EXPECT_EQ(train->outputDefinition("OUTPUT_REPORT")->type(), QStringLiteral("outputHtml"));
  const QSet<QString> basic = {"INPUT",
                               "BANDS",
                               "ENDMEMBERS",
                               "INITIAL_ENDMEMBERS",
                               "REFERENCE_ABUNDANCES",
                               "EPOCHS",
                               "SEED",
                               "THREADS",
                               "OUTPUT_MODEL",
                               "OUTPUT",
                               "OUTPUT_ENDMEMBERS",
                               "OUTPUT_RESIDUAL",
                               "OUTPUT_REPORT"};
  for (const auto* p : train->parameterDefinitions()) {
    const bool isAdvanced = p->flags() & QgsProcessingParameterDefinition::FlagAdvanced;
    EXPECT_EQ(isAdvanced, !basic.contains(p->name())) << p->name().toStdString();
  }
  for (const auto* a : {train, unmix}) {
    const QString help = a->shortHelpString();
    for (const auto* p : a->parameterDefinitions()) EXPECT_TRUE(help.contains(p->name()));
    for (const auto* o : a->outputDefinitions()) EXPECT_TRUE(help.contains(o->name()));
    EXPECT_TRUE(QFile::exists(a->svgIconPath()));
  }
}

// The parameters' ranges are the core's bounds (DeqLimits), which validate() applies.
TEST(TrainUnmixRegistry, RangesComeFromTheCoreLimits) {
  using Limits = dequnmix::DeqLimits;
  const auto* train = QgsApplication::processingRegistry()->algorithmById("dequnmix:train");
  const auto* unmix = QgsApplication::processingRegistry()->algorithmById("dequnmix:unmix");
  auto range = [](const QgsProcessingAlgorithm* a, const char* name) {
    const auto* p = dynamic_cast<const QgsProcessingParameterNumber*>(a->parameterDefinition(name));
    return p ? std::make_pair(p->minimum(), p->maximum()) : std::make_pair(-1.0, -1.0);
  };
  using Range = std::pair<double, double>;
  EXPECT_EQ(range(train, "ENDMEMBERS"), Range(0, Limits::kMaxEndmembers));
  EXPECT_EQ(range(train, "EPOCHS"), Range(1, Limits::kMaxEpochs));
  for (const char* name : {"MAX_ITERATIONS", "BACKWARD_MAX_ITERATIONS", "INFERENCE_MAX_ITERATIONS"})
    EXPECT_EQ(range(train, name), Range(1, Limits::kMaxIterations)) << name;
  EXPECT_EQ(range(train, "ANDERSON_HISTORY"), Range(0, Limits::kMaxHistory));
  EXPECT_EQ(range(train, "HIDDEN_CHANNELS"), Range(1, Limits::kMaxHiddenChannels));
  EXPECT_EQ(range(train, "SUPERPIXEL_SIZE"),
            Range(Limits::kMinSuperpixelSize, Limits::kMaxSuperpixelSize));
  EXPECT_EQ(range(unmix, "TILE_SIZE"), Range(Limits::kMinInferenceTile, Limits::kMaxInferenceTile));
  EXPECT_EQ(range(unmix, "HALO"), Range(0, Limits::kMaxHalo));
}

TEST(TrainUnmixRegistry, DefaultsComeFromTheCoreOptions) {
  const dequnmix::DeqTrainOptions t;
  const dequnmix::DeqInferOptions i;
  const auto* train = QgsApplication::processingRegistry()->algorithmById("dequnmix:train");
  const auto* unmix = QgsApplication::processingRegistry()->algorithmById("dequnmix:unmix");
  auto def = [](const QgsProcessingAlgorithm* a, const char* name) {
    return a->parameterDefinition(name)->defaultValue();
  };
  EXPECT_EQ(def(train, "ENDMEMBERS").toInt(), t.endmembers);
  EXPECT_EQ(def(train, "EPOCHS").toInt(), t.epochs);
  EXPECT_EQ(def(train, "SEED").toULongLong(), t.seed);
  EXPECT_EQ(def(train, "THREADS").toInt(), 0);
  EXPECT_EQ(def(train, "SOLVER").toString().toStdString(), t.forward.kind);
  EXPECT_EQ(def(train, "MAX_ITERATIONS").toInt(), t.forward.maxIterations);
  EXPECT_DOUBLE_EQ(def(train, "TOLERANCE").toDouble(), t.forward.tolerance);
  EXPECT_EQ(def(train, "ANDERSON_HISTORY").toInt(), t.forward.history);
  EXPECT_DOUBLE_EQ(def(train, "ANDERSON_REGULARIZATION").toDouble(), t.forward.regularization);
  EXPECT_EQ(def(train, "BACKWARD_MAX_ITERATIONS").toInt(), t.backward.maxIterations);
  EXPECT_EQ(def(train, "GRADIENT").toString().toStdString(), dequnmix::toString(t.gradient));
  EXPECT_DOUBLE_EQ(def(train, "NETWORK_LEARNING_RATE").toDouble(), t.networkLearningRate);
  EXPECT_EQ(def(train, "TRAIN_ENDMEMBERS").toBool(), t.trainEndmembers);
  EXPECT_DOUBLE_EQ(def(train, "ENDMEMBER_LEARNING_RATE").toDouble(), t.endmemberLearningRate);
  EXPECT_DOUBLE_EQ(def(train, "ALPHA").toDouble(), t.alpha);
  EXPECT_EQ(def(train, "REFINEMENT").toString().toStdString(), dequnmix::toString(t.refinement));
  EXPECT_DOUBLE_EQ(def(train, "REFINEMENT_RADIUS").toDouble(), t.refinementRadius);
  EXPECT_DOUBLE_EQ(def(train, "SPATIAL_WEIGHT").toDouble(), t.network.spatialWeight);
  EXPECT_DOUBLE_EQ(def(train, "ANCHOR_WEIGHT").toDouble(), t.network.anchorWeight);
  EXPECT_EQ(def(train, "SCALE_INVARIANT").toString().toStdString(),
            dequnmix::toString(t.network.scaleInvariance));
  EXPECT_EQ(def(train, "SPATIAL_PROX").toString().toStdString(), t.network.spatialProx);
  EXPECT_EQ(def(train, "SUPERPIXEL_SIZE").toInt(), t.network.superpixelSize);
  EXPECT_EQ(def(train, "HIDDEN_CHANNELS").toInt(), t.network.hiddenChannels);
  EXPECT_EQ(def(train, "INFERENCE_MAX_ITERATIONS").toInt(), i.solver.maxIterations);
  EXPECT_DOUBLE_EQ(def(train, "INFERENCE_TOLERANCE").toDouble(), i.solver.tolerance);
  EXPECT_EQ(def(unmix, "TILE_SIZE").toInt(), i.tileSize);
  EXPECT_EQ(def(unmix, "HALO").toInt(), i.halo);
  EXPECT_EQ(def(unmix, "THREADS").toInt(), 0);
  EXPECT_DOUBLE_EQ(def(train, "MEMORY_BUDGET_MB").toDouble(), t.memoryBudgetMiB);
  for (const auto* a : {train, unmix}) {
    EXPECT_EQ(def(a, "DEVICE").toString(), QString(dequnmix::kAutoDevice));
    EXPECT_TRUE(a->parameterDefinition("DEVICE")->flags() &
                QgsProcessingParameterDefinition::FlagAdvanced);
  }
}

// ------------------------------------------------------------------------ outputs

TEST_F(TrainUnmixTest, TrainWritesEveryOutputAndUnmixReproducesIt) {
  synthesize();
  // Two nodata pixels (one band each) and one of fill (0 in every band) must stay nodata
  // everywhere.
  RasterData scene = readRaster(path("scene.tif"));
  for (double& nd : scene.nodata) nd = kNoData;
  scene.at(4, 2, 3) = kNoData;
  scene.at(17, 9, 12) = std::numeric_limits<float>::quiet_NaN();
  for (int b = 0; b < scene.bands; ++b) scene.at(b, 6, 7) = 0.0f;
  writeRaster(path("holes.tif"), scene);
  const std::vector<std::pair<int, int>> holes = {{2, 3}, {9, 12}, {6, 7}};

  const RunResult r =
      runAlgorithm(QStringLiteral("dequnmix:train"), trainParameters(path("holes.tif")));
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(outputs(), QStringList({"abundances.tif", "endmembers.csv", "model.dequnmix",
                                    "report.html", "residual.tif"}));
  for (const char* key :
       {"FINAL_LOSS", "MEAN_ITERATIONS", "CONVERGED_FRACTION", "TRAINING_SECONDS"}) {
    ASSERT_TRUE(r.outputs.contains(key)) << key;
    EXPECT_TRUE(std::isfinite(r.outputs.value(key).toDouble())) << key;
  }
  EXPECT_GE(r.outputs.value("MEAN_ITERATIONS").toDouble(), 1.0);
  EXPECT_LE(r.outputs.value("MEAN_ITERATIONS").toDouble(), 4.0);
  EXPECT_GE(r.outputs.value("CONVERGED_FRACTION").toDouble(), 0.0);
  EXPECT_LE(r.outputs.value("CONVERGED_FRACTION").toDouble(), 1.0);
  expectAbundances(out("abundances.tif"), 3, holes);
  const RasterData residual = readRaster(out("residual.tif"));
  ASSERT_EQ(residual.bands, 1);
  EXPECT_EQ(residual.at(0, 2, 3), kNoData);
  EXPECT_EQ(residual.at(0, 9, 12), kNoData);
  EXPECT_GE(residual.at(0, 0, 0), 0.0f);
  EXPECT_LT(residual.at(0, 0, 0), 0.5f);

  // Learned endmembers: header band, wavelength_nm, endmember_1..3 and 20 rows.
  const QStringList csv = QString::fromUtf8(readBytes(out("endmembers.csv"))).trimmed().split('\n');
  ASSERT_EQ(csv.size(), 21);
  EXPECT_TRUE(csv[0].startsWith("band")) << csv[0].toStdString();
  EXPECT_TRUE(csv[0].contains("endmember_3"));

  // The report: self-contained HTML with inline SVG charts of every section.
  const QString html = QString::fromUtf8(readBytes(out("report.html")));
  EXPECT_TRUE(html.startsWith("<!DOCTYPE html>"));
  EXPECT_GE(html.count("<svg"), 6);
  for (const char* part :
       {"Training loss per epoch", "Learned (solid) and initial (dashed)", "Solver iterations",
        "Final relative residual", "Converged fraction of solves", "Settings", "Timings",
        "endmember_2", "Data term", "noise variances per pixel", "of the energy of the pixels"}) {
    EXPECT_TRUE(html.contains(part)) << part;
  }
  EXPECT_FALSE(html.contains("<script"));
  EXPECT_FALSE(html.contains("<link"));
  EXPECT_FALSE(html.contains("src=\"http"));
  EXPECT_FALSE(html.contains("href=\"http"));
  // One inline map per endmember, named after it, and the reconstruction error's map.
  EXPECT_EQ(html.count("src=\"data:image/png;base64,"), 4);
  for (const char* part : {"Abundance maps", "Abundance histograms", "Reconstruction error",
                           "alt=\"endmember_1\"", "alt=\"reconstruction RMSE\""})
    EXPECT_TRUE(html.contains(part)) << part;

  // The model file loads and knows the scene.
  const dequnmix::DeqModel model = dequnmix::loadDeqModel(out("model.dequnmix").toStdString());
  EXPECT_EQ(model.bands, 20);
  EXPECT_EQ(model.endmemberCount(), 3);
  EXPECT_EQ(model.summary.epochs, 2);

  // Unmix of the training scene with the saved model reproduces train's OUTPUT.
  const RunResult u = runAlgorithm(QStringLiteral("dequnmix:unmix"),
                                   {{"INPUT", path("holes.tif")},
                                    {"MODEL", out("model.dequnmix")},
                                    {"THREADS", 2},
                                    {"OUTPUT", path("unmixed.tif")},
                                    {"OUTPUT_RESIDUAL", path("unmixed_residual.tif")},
                                    {"OUTPUT_REPORT", path("unmix.html")}});
  ASSERT_TRUE(u.ok) << u.error.toStdString();
  expectAbundances(path("unmixed.tif"), 3, holes);
  // unmix's report: three abundance maps, the error map and the two maps of the tiles.
  const QString unmixHtml = QString::fromUtf8(readBytes(path("unmix.html")));
  EXPECT_EQ(unmixHtml.count("src=\"data:image/png;base64,"), 6);
  for (const char* part :
       {"iterations per tile", "converged tiles", "Converged fraction", "alt=\"endmember_3\""})
    EXPECT_TRUE(unmixHtml.contains(part)) << part;
  const RasterData a = readRaster(out("abundances.tif"));
  const RasterData b = readRaster(path("unmixed.tif"));
  double worst = 0;
  for (size_t i = 0; i < a.values.size(); ++i)
    worst = std::max(worst, double(std::abs(a.values[i] - b.values[i])));
  EXPECT_LT(worst, 1e-4) << "unmix differs from train's OUTPUT by " << worst;
  const RasterData ur = readRaster(path("unmixed_residual.tif"));
  double worstResidual = 0;
  for (size_t i = 0; i < ur.values.size(); ++i)
    worstResidual = std::max(worstResidual, double(std::abs(ur.values[i] - residual.values[i])));
  EXPECT_LT(worstResidual, 1e-4);
  for (const char* key : {"MEAN_RESIDUAL_RMSE", "MEAN_ITERATIONS", "CONVERGED_FRACTION"}) {
    ASSERT_TRUE(u.outputs.contains(key)) << key;
    EXPECT_TRUE(std::isfinite(u.outputs.value(key).toDouble())) << key;
  }
  EXPECT_GT(u.outputs.value("MEAN_RESIDUAL_RMSE").toDouble(), 0.0);
}

TEST_F(TrainUnmixTest, UnmixStreamsSmallTilesWithHalo) {
  synthesize(20, 18);
  const QString model = trainedModel();
  const RunResult u =
      runAlgorithm(QStringLiteral("dequnmix:unmix"), {{"INPUT", path("scene.tif")},
                                                      {"MODEL", model},
                                                      {"TILE_SIZE", 8},
                                                      {"HALO", 6},
                                                      {"THREADS", 1},
                                                      {"OUTPUT", out("tiles.tif")}});
  ASSERT_TRUE(u.ok) << u.error.toStdString();
  EXPECT_EQ(outputs(), QStringList({"tiles.tif"}));
  expectAbundances(out("tiles.tif"), 3);
  // Close to the whole-scene result of the training run.
  const RasterData a = readRaster(path("trained.tif"));
  const RasterData b = readRaster(out("tiles.tif"));
  double worst = 0;
  for (size_t i = 0; i < a.values.size(); ++i)
    worst = std::max(worst, double(std::abs(a.values[i] - b.values[i])));
  EXPECT_LT(worst, 0.05) << "tiled unmix differs from the whole-scene result by " << worst;
}

// A model whose inference solves cannot reach their tolerance (one iteration) makes unmix
// warn, naming the tiles and the fix; the default model's tiles converge without a warning.
TEST_F(TrainUnmixTest, UnmixWarnsWhenTilesDoNotConverge) {
  synthesize();
  const RunResult capped =
      trainIntoFolder(QStringLiteral("capped"), {{"INFERENCE_MAX_ITERATIONS", 1}});
  ASSERT_TRUE(capped.ok) << capped.error.toStdString();
  auto unmixWarnings = [&](const QString& model) {
    CapturingFeedback feedback;
    const RunResult u = runAlgorithm(QStringLiteral("dequnmix:unmix"),
                                     {{"INPUT", path("scene.tif")},
                                      {"MODEL", model},
                                      {"TILE_SIZE", 8},
                                      {"THREADS", 1},
                                      {"OUTPUT", out("warned.tif")}},
                                     &feedback);
    EXPECT_TRUE(u.ok) << u.error.toStdString();
    return feedback.warnings.join('\n').toStdString();
  };
  const std::string warned = unmixWarnings(path("capped.dequnmix"));
  for (const char* part : {"4 of 4 tile solves stopped at the iteration cap before the tolerance",
                           "more inference iterations"})
    EXPECT_NE(warned.find(part), std::string::npos) << warned;
  EXPECT_EQ(unmixWarnings(trainedModel()).find("iteration cap"), std::string::npos);
}

TEST_F(TrainUnmixTest, SuperpixelProxTrainsAndUnmixReproducesIt) {
  synthesize(20, 18);
  const RunResult t = trainIntoFolder(
      QStringLiteral("superpixel"),
      {{"SPATIAL_WEIGHT", 0.05}, {"SPATIAL_PROX", "superpixel"}, {"SUPERPIXEL_SIZE", 4}});
  ASSERT_TRUE(t.ok) << t.error.toStdString();
  expectAbundances(path("superpixel.tif"), 3);
  const dequnmix::DeqModel model =
      dequnmix::loadDeqModel(path("superpixel.dequnmix").toStdString());
  EXPECT_EQ(model.network.spatialProx, "superpixel");
  EXPECT_EQ(model.network.superpixelSize, 4);
  // One tile covering the scene: the same superpixels, so the training output exactly.
  expectUnmixReproducesTraining(QStringLiteral("superpixel"));
  // SUPERPIXEL_SIZE below 2 is refused, naming the parameter.
  QVariantMap bad = trainParameters(path("scene.tif"));
  bad["SPATIAL_PROX"] = "superpixel";
  bad["SUPERPIXEL_SIZE"] = 1;
  expectFailure(QStringLiteral("dequnmix:train"), bad, {"SUPERPIXEL_SIZE"});
}

// SCALE_INVARIANT is stored in the model, and unmix (one tile covering the scene) reproduces
// the training output with it, residual included.
TEST_F(TrainUnmixTest, ScaleInvariantModelUnmixesAsItTrained) {
  synthesize(20, 18);
  const RunResult t = trainIntoFolder(QStringLiteral("scaled"), {{"SCALE_INVARIANT", "on"}});
  ASSERT_TRUE(t.ok) << t.error.toStdString();
  expectAbundances(path("scaled.tif"), 3);
  EXPECT_TRUE(
      dequnmix::loadDeqModel(path("scaled.dequnmix").toStdString()).network.scaleInvariant());
  expectUnmixReproducesTraining(QStringLiteral("scaled"));
}

TEST_F(TrainUnmixTest, BandSubsetIsRememberedByTheModel) {
  synthesize();
  QVariantMap p = trainParameters(path("scene.tif"));
  QVariantList subset;
  for (int b = 3; b <= 16; ++b) subset << b;
  p["BANDS"] = subset;
  p.remove("OUTPUT_REPORT");
  const RunResult r = runAlgorithm(QStringLiteral("dequnmix:train"), p);
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const dequnmix::DeqModel model = dequnmix::loadDeqModel(out("model.dequnmix").toStdString());
  EXPECT_EQ(model.bands, 14);
  EXPECT_EQ(model.sourceBands, 20);
  ASSERT_EQ(model.bandSubset.size(), 14u);
  EXPECT_EQ(model.bandSubset.front(), 3);
  const QStringList csv = QString::fromUtf8(readBytes(out("endmembers.csv"))).trimmed().split('\n');
  EXPECT_EQ(csv.size(), 15);
  // unmix needs no repeat of the subset.
  const RunResult u =
      runAlgorithm(QStringLiteral("dequnmix:unmix"), {{"INPUT", path("scene.tif")},
                                                      {"MODEL", out("model.dequnmix")},
                                                      {"OUTPUT", path("subset.tif")}});
  ASSERT_TRUE(u.ok) << u.error.toStdString();
  const RasterData a = readRaster(out("abundances.tif"));
  const RasterData b = readRaster(path("subset.tif"));
  double worst = 0;
  for (size_t i = 0; i < a.values.size(); ++i)
    worst = std::max(worst, double(std::abs(a.values[i] - b.values[i])));
  EXPECT_LT(worst, 1e-4);
}

// A scene from the same sensor whose bands are numbered otherwise (here: its first band is
// missing) fits the model by wavelength, stated in the band descriptions.
TEST_F(TrainUnmixTest, ModelBandsAreMatchedByWavelength) {
  synthesize();
  QVariantList subset;
  for (int b = 3; b <= 16; ++b) subset << b;
  ASSERT_TRUE(trainIntoFolder(QStringLiteral("subset"), {{"BANDS", subset}}).ok);
  const QStringList csv = QString::fromUtf8(readBytes(path("reference.csv"))).trimmed().split('\n');
  ASSERT_EQ(csv.size(), 21);
  RasterData shifted = bandSlice(readRaster(path("scene.tif")), 1, 19);
  for (int b = 0; b < 19; ++b)
    shifted.descriptions[b] = "band (" + csv[b + 2].split(',')[1].toStdString() + " nm)";
  writeRaster(path("shifted.tif"), shifted);
  const RunResult u =
      runAlgorithm(QStringLiteral("dequnmix:unmix"), {{"INPUT", path("shifted.tif")},
                                                      {"MODEL", path("subset.dequnmix")},
                                                      {"OUTPUT", path("matched.tif")}});
  ASSERT_TRUE(u.ok) << u.error.toStdString();
  const RasterData a = readRaster(path("subset.tif"));
  const RasterData b = readRaster(path("matched.tif"));
  double worst = 0;
  for (size_t i = 0; i < a.values.size(); ++i)
    worst = std::max(worst, double(std::abs(a.values[i] - b.values[i])));
  EXPECT_LT(worst, 1e-4);
  // A scene lacking one of the model's wavelengths is refused by name.
  for (int b = 0; b < 19; ++b)
    shifted.descriptions[b] = "band (" + std::to_string(300 + b) + " nm)";
  writeRaster(path("other.tif"), shifted);
  expectFailure(
      QStringLiteral("dequnmix:unmix"),
      {{"INPUT", path("other.tif")}, {"MODEL", path("subset.dequnmix")}, {"OUTPUT", out("a.tif")}},
      {"lacks", "no band at"});
}

TEST_F(TrainUnmixTest, EndmemberCountZeroIsEstimated) {
  synthesize();
  const RunResult r = trainIntoFolder(QStringLiteral("estimated"), {{"ENDMEMBERS", 0}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const dequnmix::DeqModel model = dequnmix::loadDeqModel(path("estimated.dequnmix").toStdString());
  EXPECT_EQ(model.endmemberCount(), 3);  // the scene's P
}

// Issue 12's workflow: an ENVI reflectance product (Int16 x 10000, wavelengths in
// micrometres, FWHM, a bad-band list) -> estimate_endmembers -> vca with P estimated -> a
// finer ENVI library resampled to the scene -> fcls and train -> outputs with wavelengths.
TEST_F(TrainUnmixTest, EnviProductToLibraryWorkflow) {
  synthesize();
  const QStringList csv = QString::fromUtf8(readBytes(path("reference.csv"))).trimmed().split('\n');
  std::vector<double> centres;
  std::vector<std::vector<float>> reference(3);
  for (int b = 1; b < csv.size(); ++b) {
    const QStringList cells = csv[b].split(',');
    centres.push_back(cells[1].toDouble());
    for (int e = 0; e < 3; ++e) reference[e].push_back(cells[2 + e].toFloat());
  }
  std::vector<int> bbl(20, 1);
  bbl[6] = bbl[7] = 0;
  writeEnviScene(path("scene.img"), readRaster(path("scene.tif")), centres,
                 std::vector<double>(20, 5.0), bbl);
  const QString scene = path("scene.img");
  RunResult r = runAlgorithm(QStringLiteral("dequnmix:estimate_endmembers"),
                             {{"INPUT", scene}, {"BAD_BANDS", "auto"}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(r.outputs.value("ENDMEMBERS").toInt(), 3);
  r = runAlgorithm(QStringLiteral("dequnmix:vca"), {{"INPUT", scene},
                                                    {"BAD_BANDS", "auto"},
                                                    {"ENDMEMBERS", 0},
                                                    {"OUTPUT_ENDMEMBERS", path("vca.sli")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_TRUE(QString::fromUtf8(readBytes(path("vca.hdr"))).contains("lines = 3"));
  // The library: the reference spectra at every centre and midpoint (39 wavelengths).
  std::vector<double> fine;
  std::vector<std::vector<float>> spectra(3);
  for (size_t b = 0; b < centres.size(); ++b)
    for (int half = 0; half < (b + 1 < centres.size() ? 2 : 1); ++half) {
      fine.push_back(half ? (centres[b] + centres[b + 1]) / 2 : centres[b]);
      for (int e = 0; e < 3; ++e)
        spectra[e].push_back(half ? (reference[e][b] + reference[e][b + 1]) / 2 : reference[e][b]);
    }
  writeEnviLibrary(path("library.sli"), {"a", "b", "c"}, fine, spectra);
  r = runAlgorithm(QStringLiteral("dequnmix:resample_library"), {{"INPUT", path("library.sli")},
                                                                 {"RASTER", scene},
                                                                 {"BAD_BANDS", "auto"},
                                                                 {"OUTPUT", path("library.csv")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const QStringList resampled =
      QString::fromUtf8(readBytes(path("library.csv"))).trimmed().split('\n');
  EXPECT_EQ(resampled.size(), 19);  // header + the 18 good bands
  EXPECT_TRUE(resampled[0].startsWith("band,wavelength_nm"));
  r = runAlgorithm(QStringLiteral("dequnmix:fcls"), {{"INPUT", scene},
                                                     {"BAD_BANDS", "auto"},
                                                     {"ENDMEMBERS", path("library.sli")},
                                                     {"OUTPUT", path("fcls.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  r = runAlgorithm(
      QStringLiteral("dequnmix:evaluate"),
      {{"ABUNDANCES", path("fcls.tif")}, {"REFERENCE_ABUNDANCES", path("reference.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_LT(r.outputs.value("ARMSE").toDouble(), 0.05);
  QVariantMap p = trainParameters(scene);
  p["BAD_BANDS"] = "auto";
  p["INITIAL_ENDMEMBERS"] = path("library.csv");
  p["OUTPUT_ENDMEMBERS"] = out("learned.sli");
  r = runAlgorithm(QStringLiteral("dequnmix:train"), p);
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const dequnmix::DeqModel model = dequnmix::loadDeqModel(out("model.dequnmix").toStdString());
  ASSERT_EQ(model.wavelengths.size(), 18u);
  EXPECT_NEAR(model.wavelengths.front(), centres.front(), 1e-3);
  EXPECT_TRUE(QString::fromUtf8(readBytes(out("learned.hdr"))).contains("wavelength = {"));
}

TEST_F(TrainUnmixTest, SupervisedTrainingAndInitialEndmembers) {
  synthesize();
  QVariantMap p = trainParameters(path("scene.tif"));
  p["REFERENCE_ABUNDANCES"] = path("reference.tif");
  p["INITIAL_ENDMEMBERS"] = path("reference.csv");
  p["ENDMEMBERS"] = 7;  // ignored: the CSV decides
  const RunResult r = runAlgorithm(QStringLiteral("dequnmix:train"), p);
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const RasterData a = readRaster(out("abundances.tif"));
  const RasterData ref = readRaster(path("reference.tif"));
  ASSERT_EQ(a.bands, 3);
  EXPECT_EQ(a.descriptions, ref.descriptions);  // named after the CSV's endmembers
  const dequnmix::DeqModel model = dequnmix::loadDeqModel(out("model.dequnmix").toStdString());
  EXPECT_TRUE(model.summary.supervised);
  EXPECT_TRUE(QString::fromUtf8(readBytes(out("report.html"))).contains("supervised"));
}

TEST_F(TrainUnmixTest, OutputsLoadedIntoAProjectGetRenderers) {
  synthesize();
  QVariantMap p = trainParameters(path("scene.tif"));
  QgsProcessingOutputLayerDefinition abundances(out("abundances.tif"), QgsProject::instance());
  QgsProcessingOutputLayerDefinition residual(out("residual.tif"), QgsProject::instance());
  p["OUTPUT"] = QVariant::fromValue(abundances);
  p["OUTPUT_RESIDUAL"] = QVariant::fromValue(residual);
  QString abundanceRenderer, residualRenderer;
  const RunResult r =
      runAlgorithm(QStringLiteral("dequnmix:train"), p, nullptr, [&](QgsProcessingContext& c) {
        const auto layers = c.layersToLoadOnCompletion();
        for (auto it = layers.constBegin(); it != layers.constEnd(); ++it) {
          QgsRasterLayer layer(it.key(), QStringLiteral("x"), QStringLiteral("gdal"));
          if (!it.value().postProcessor()) continue;
          CapturingFeedback feedback;
          it.value().postProcessor()->postProcessLayer(&layer, c, &feedback);
          const QString type = layer.renderer() ? layer.renderer()->type() : QString();
          if (it.key().endsWith("abundances.tif")) abundanceRenderer = type;
          if (it.key().endsWith("residual.tif")) residualRenderer = type;
        }
      });
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(abundanceRenderer, QStringLiteral("multibandcolor"));
  EXPECT_EQ(residualRenderer, QStringLiteral("singlebandpseudocolor"));
}

TEST_F(TrainUnmixTest, FclsOutputsShareTheStyling) {
  synthesize();
  QgsProcessingOutputLayerDefinition abundances(out("fcls.tif"), QgsProject::instance());
  QgsProcessingOutputLayerDefinition residual(out("fcls_residual.tif"), QgsProject::instance());
  QStringList renderers;
  const RunResult r =
      runAlgorithm(QStringLiteral("dequnmix:fcls"),
                   {{"INPUT", path("scene.tif")},
                    {"ENDMEMBERS", path("reference.csv")},
                    {"OUTPUT", QVariant::fromValue(abundances)},
                    {"OUTPUT_RESIDUAL", QVariant::fromValue(residual)}},
                   nullptr, [&](QgsProcessingContext& c) {
                     const auto layers = c.layersToLoadOnCompletion();
                     for (auto it = layers.constBegin(); it != layers.constEnd(); ++it) {
                       QgsRasterLayer layer(it.key(), QStringLiteral("x"), QStringLiteral("gdal"));
                       if (!it.value().postProcessor()) continue;
                       QgsProcessingFeedback feedback;
                       it.value().postProcessor()->postProcessLayer(&layer, c, &feedback);
                       renderers << QFileInfo(it.key()).fileName() + "=" +
                                        (layer.renderer() ? layer.renderer()->type() : QString());
                     }
                   });
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  renderers.sort();
  EXPECT_EQ(renderers,
            QStringList({"fcls.tif=multibandcolor", "fcls_residual.tif=singlebandpseudocolor"}));
}

// ------------------------------------------------------------------------ bad input

TEST_F(TrainUnmixTest, ModelFromASceneWithAnotherBandCount) {
  synthesize();
  const QString model = trainedModel();
  const RasterData scene = readRaster(path("scene.tif"));
  writeRaster(path("fewer.tif"), bandSlice(scene, 0, 12));
  expectFailure(QStringLiteral("dequnmix:unmix"),
                {{"INPUT", path("fewer.tif")}, {"MODEL", model}, {"OUTPUT", out("a.tif")}},
                {"20-band", "12 bands"});
}

TEST_F(TrainUnmixTest, ModelBandSubsetThatDoesNotExist) {
  synthesize();
  const RunResult r = trainIntoFolder(
      QStringLiteral("subset"), {{"BANDS", QVariantList{1, 2, 3, 4, 5, 6, 7, 8, 18, 19, 20}}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const RasterData scene = readRaster(path("scene.tif"));
  writeRaster(path("fewer.tif"), bandSlice(scene, 0, 15));
  expectFailure(
      QStringLiteral("dequnmix:unmix"),
      {{"INPUT", path("fewer.tif")}, {"MODEL", path("subset.dequnmix")}, {"OUTPUT", out("a.tif")}},
      {"band 18 does not exist"});
  // A subset naming a band the training scene lacks.
  QVariantMap bad = trainParameters(path("scene.tif"));
  bad["BANDS"] = QVariantList{1, 2, 3, 4, 25};
  expectFailure(QStringLiteral("dequnmix:train"), bad, {"BANDS", "25"});
}

TEST_F(TrainUnmixTest, CorruptOrTruncatedModelFile) {
  synthesize();
  const QString model = trainedModel();
  const QByteArray bytes = readBytes(model);
  ASSERT_GT(bytes.size(), 100);
  QByteArray corrupt = bytes;
  corrupt[corrupt.size() / 2] = char(corrupt[corrupt.size() / 2] ^ 0x5a);
  writeBytes(path("corrupt.dequnmix"), corrupt);
  writeBytes(path("truncated.dequnmix"), bytes.left(bytes.size() * 2 / 3));
  writeBytes(path("garbage.dequnmix"), QByteArray("this is not a model\n"));
  writeBytes(path("empty.dequnmix"), QByteArray());
  for (const char* name : {"corrupt.dequnmix", "truncated.dequnmix", "garbage.dequnmix",
                           "empty.dequnmix", "missing.dequnmix"}) {
    SCOPED_TRACE(name);
    expectFailure(QStringLiteral("dequnmix:unmix"),
                  {{"INPUT", path("scene.tif")}, {"MODEL", path(name)}, {"OUTPUT", out("a.tif")}},
                  {"MODEL", name});
  }
}

TEST_F(TrainUnmixTest, EpochsBelowOne) {
  synthesize();
  QVariantMap p = trainParameters(path("scene.tif"));
  p["EPOCHS"] = 0;
  expectFailure(QStringLiteral("dequnmix:train"), p, {"EPOCHS", "range (1 to 1000000)"});
  p["EPOCHS"] = -3;
  expectFailure(QStringLiteral("dequnmix:train"), p, {"EPOCHS"});
}

// A scene whose pixels exceed MEMORY_BUDGET_MB is trained on tiles read from the file and
// unmixed tile by tile; its abundances are what unmix gives with the model, and the report
// says so and names the peak memory.
TEST_F(TrainUnmixTest, SceneOverTheMemoryBudgetIsStreamed) {
  synthesize(128, 128, 40);  // 2.5 MiB of pixels
  QVariantMap p = trainParameters(path("scene.tif"), 3);
  p["MEMORY_BUDGET_MB"] = 1.0;
  RunResult r = runAlgorithm(QStringLiteral("dequnmix:train"), p);
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const QString report = QString::fromUtf8(readBytes(out("report.html")));
  EXPECT_TRUE(report.contains("read from the file")) << "streaming not reported";
  EXPECT_TRUE(report.contains("peak resident memory"));
  EXPECT_TRUE(report.contains("Not drawn: the scene was streamed"));
  r = runAlgorithm(QStringLiteral("dequnmix:unmix"), {{"INPUT", path("scene.tif")},
                                                      {"MODEL", out("model.dequnmix")},
                                                      {"THREADS", 2},
                                                      {"OUTPUT", out("unmixed.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const RasterData trained = readRaster(out("abundances.tif"));
  const RasterData unmixed = readRaster(out("unmixed.tif"));
  ASSERT_EQ(trained.values.size(), unmixed.values.size());
  double worst = 0;
  for (size_t i = 0; i < trained.values.size(); ++i)
    worst = std::max(worst, double(std::fabs(trained.values[i] - unmixed.values[i])));
  EXPECT_LT(worst, 1e-5);
  r = runAlgorithm(
      QStringLiteral("dequnmix:evaluate"),
      {{"ABUNDANCES", out("abundances.tif")}, {"REFERENCE_ABUNDANCES", path("reference.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_LT(r.outputs.value("ARMSE").toDouble(), 0.1);
  for (const QString& name : outputs()) QFile::remove(out(name));
  p["REFERENCE_ABUNDANCES"] = path("reference.tif");
  expectFailure(QStringLiteral("dequnmix:train"), p, {"REFERENCE_ABUNDANCES", "MEMORY_BUDGET_MB"});
}

// Where the machine has no usable GPU (every CI machine), asking for one says which part
// is missing; a name that is no device is refused as such.
TEST_F(TrainUnmixTest, DeviceThatIsNotThere) {
  synthesize();
  QVariantMap p = trainParameters(path("scene.tif"));
  p["DEVICE"] = "tpu";
  expectFailure(QStringLiteral("dequnmix:train"), p, {"DEVICE", "unknown device 'tpu'", "auto"});
  if (dequnmix::resolveDevice("auto") != "cpu") GTEST_SKIP() << "a GPU is visible here";
  const QString missing = dequnmix::libtorchHasCuda() ? "sees none" : "LibTorch has none";
  p["DEVICE"] = "cuda";
  expectFailure(QStringLiteral("dequnmix:train"), p, {"DEVICE", "'cuda'", missing});
  expectFailure(QStringLiteral("dequnmix:unmix"),
                {{"INPUT", path("scene.tif")},
                 {"MODEL", path("missing.dequnmix")},
                 {"DEVICE", "cuda:1"},
                 {"OUTPUT", out("a.tif")}},
                {"DEVICE", "'cuda:1'", missing});
}

TEST_F(TrainUnmixTest, InitialEndmembersThatDoNotFit) {
  synthesize();
  QVariantMap p = trainParameters(path("scene.tif"));
  // 19 rows for a 20-band scene: with wavelengths, the spectra stop short of the last band;
  // without, the band counts differ.
  const QStringList lines =
      QString::fromUtf8(readBytes(path("reference.csv"))).trimmed().split('\n');
  writeBytes(path("short.csv"), lines.mid(0, lines.size() - 1).join('\n').toUtf8() + "\n");
  p["INITIAL_ENDMEMBERS"] = path("short.csv");
  expectFailure(QStringLiteral("dequnmix:train"), p, {"INITIAL_ENDMEMBERS", "covers", "band 20"});
  QStringList bare;
  for (const QString& line : lines.mid(0, lines.size() - 1)) {
    QStringList cells = line.split(',');
    cells.removeAt(1);  // the wavelength column
    bare << cells.join(',');
  }
  writeBytes(path("bare.csv"), bare.join('\n').toUtf8() + "\n");
  p["INITIAL_ENDMEMBERS"] = path("bare.csv");
  expectFailure(QStringLiteral("dequnmix:train"), p, {"INITIAL_ENDMEMBERS", "19", "20"});
  // Non-numeric.
  writeText(path("text.csv"), "band,a,b\n1,x,y\n");
  p["INITIAL_ENDMEMBERS"] = path("text.csv");
  expectFailure(QStringLiteral("dequnmix:train"), p, {"INITIAL_ENDMEMBERS"});
  // One endmember only.
  QStringList single;
  for (int b = 1; b <= 20; ++b) single << QStringLiteral("%1,0.5").arg(b);
  writeBytes(path("single.csv"), ("band,only\n" + single.join('\n') + "\n").toUtf8());
  p["INITIAL_ENDMEMBERS"] = path("single.csv");
  expectFailure(QStringLiteral("dequnmix:train"), p, {"INITIAL_ENDMEMBERS", "at least 2"});
}

TEST_F(TrainUnmixTest, ReferenceAbundancesOfAnotherSizeOrBandCount) {
  synthesize();
  QVariantMap p = trainParameters(path("scene.tif"));
  const RasterData ref = readRaster(path("reference.tif"));
  writeRaster(path("two_bands.tif"), bandSlice(ref, 0, 2));
  p["REFERENCE_ABUNDANCES"] = path("two_bands.tif");
  expectFailure(QStringLiteral("dequnmix:train"), p, {"REFERENCE_ABUNDANCES", "2 bands", "3"});
  RasterData smaller = ref;
  smaller.width = 8;
  smaller.values.clear();
  for (int b = 0; b < ref.bands; ++b)
    for (int r = 0; r < ref.height; ++r)
      for (int c = 0; c < 8; ++c) smaller.values.push_back(ref.at(b, r, c));
  writeRaster(path("smaller.tif"), smaller);
  p["REFERENCE_ABUNDANCES"] = path("smaller.tif");
  expectFailure(QStringLiteral("dequnmix:train"), p, {"REFERENCE_ABUNDANCES", "8 x 16", "16 x 16"});
}

TEST_F(TrainUnmixTest, SceneSmallerThanTheReceptiveField) {
  synthesize(5, 5, 20, 3);
  expectFailure(QStringLiteral("dequnmix:train"), trainParameters(path("scene.tif")),
                {"receptive field"});
}

TEST_F(TrainUnmixTest, CancelMidTraining) {
  synthesize();
  CapturingFeedback feedback;
  bool sawTraining = false;
  QObject::connect(&feedback, &QgsFeedback::progressChanged, [&](double progress) {
    if (progress > 10.0 && progress < 90.0) {
      sawTraining = true;
      feedback.cancel();
    }
  });
  expectFailure(QStringLiteral("dequnmix:train"), trainParameters(path("scene.tif"), 50),
                {"Canceled"}, &feedback);
  EXPECT_TRUE(sawTraining);
  // Cancel during unmix tiles too.
  const QString model = trainedModel();
  CapturingFeedback unmixFeedback;
  QObject::connect(&unmixFeedback, &QgsFeedback::progressChanged, [&](double progress) {
    if (progress > 0.0) unmixFeedback.cancel();
  });
  expectFailure(QStringLiteral("dequnmix:unmix"),
                {{"INPUT", path("scene.tif")},
                 {"MODEL", model},
                 {"TILE_SIZE", 8},
                 {"OUTPUT", out("a.tif")},
                 {"OUTPUT_RESIDUAL", out("r.tif")}},
                {"Canceled"}, &unmixFeedback);
}

}  // namespace
