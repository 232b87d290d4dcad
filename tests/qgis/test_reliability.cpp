// Issue 9 through the processing registry: outputs never clobber inputs or special files,
// every output is checked before the work, scale and range traps are caught. One test per
// item of the issue (the core-side halves are in tests/core/test_reliability.cpp).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <filesystem>

#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <gdal.h>
#include <qgsapplication.h>
#include <qgsprocessingalgorithm.h>
#include <qgsprocessingfeedback.h>
#include <qgsprocessingregistry.h>

#include "core/deq/deq_unmix.h"
#include "test_support.h"

using namespace dequnmix::testing;

namespace {

class ReliabilityTest : public FolderTest {
 protected:
  // A small noisy synthetic scene (scene.tif, reference.tif, reference.csv in the folder).
  void SetUp() override {
    FolderTest::SetUp();
    const RunResult r = runAlgorithm(QStringLiteral("dequnmix:synthesize"),
                                     {{"WIDTH", 16},
                                      {"HEIGHT", 16},
                                      {"BANDS", 20},
                                      {"ENDMEMBERS", 3},
                                      {"SNR_DB", 40.0},
                                      {"MAX_ABUNDANCE", 1.0},
                                      {"PURE_PIXELS", true},
                                      {"SEED", 3},
                                      {"OUTPUT", path("scene.tif")},
                                      {"OUTPUT_ABUNDANCES", path("reference.tif")},
                                      {"OUTPUT_ENDMEMBERS", path("reference.csv")}});
    ASSERT_TRUE(r.ok) << r.error.toStdString();
  }

  RunResult fcls(const QVariantMap& changes = {}) {
    QVariantMap p{{"INPUT", path("scene.tif")},
                  {"ENDMEMBERS", path("reference.csv")},
                  {"OUTPUT", out("abundances.tif")}};
    for (auto it = changes.constBegin(); it != changes.constEnd(); ++it) p[it.key()] = it.value();
    return runAlgorithm(QStringLiteral("dequnmix:fcls"), p);
  }

  QVariantMap trainParameters(const QVariantMap& changes = {}) const {
    QVariantMap p{{"INPUT", path("scene.tif")},
                  {"ENDMEMBERS", 3},
                  {"EPOCHS", 2},
                  {"SEED", 5},
                  {"THREADS", 2},
                  {"MAX_ITERATIONS", 4},
                  {"BACKWARD_MAX_ITERATIONS", 6},
                  {"HIDDEN_CHANNELS", 8},
                  {"OUTPUT_MODEL", out("model.dequnmix")},
                  {"OUTPUT", out("abundances.tif")},
                  {"OUTPUT_ENDMEMBERS", out("endmembers.csv")}};
    for (auto it = changes.constBegin(); it != changes.constEnd(); ++it) p[it.key()] = it.value();
    return p;
  }

  // A model of scene.tif in the folder (not in out/).
  QString trainedModel(const QString& name = QStringLiteral("trained.dequnmix")) {
    const RunResult r = runAlgorithm(QStringLiteral("dequnmix:train"),
                                     trainParameters({{"OUTPUT_MODEL", path(name)},
                                                      {"OUTPUT", path("trained.tif")},
                                                      {"OUTPUT_ENDMEMBERS", path("trained.csv")}}));
    EXPECT_TRUE(r.ok) << r.error.toStdString();
    return path(name);
  }

  // scene.tif with every value multiplied by `factor`, written as `name`.
  QString scaledScene(const QString& name, float factor) {
    RasterData r = readRaster(path("scene.tif"));
    for (float& v : r.values) v *= factor;
    writeRaster(path(name), r);
    return path(name);
  }
};

bool isGdalDriver(const QString& file, const char* driver) {
  GDALAllRegister();
  GDALDatasetH d = GDALOpen(file.toUtf8().constData(), GA_ReadOnly);
  if (!d) return false;
  const bool same = QString(GDALGetDriverShortName(GDALGetDatasetDriver(d))) == driver;
  GDALClose(d);
  return same;
}

// ------------------------------------------------------------------------ data loss

TEST_F(ReliabilityTest, Item01_OutputOverAnInputOrAnotherOutputIsRefused) {
  const QByteArray scene = readBytes(path("scene.tif"));
  const QByteArray csv = readBytes(path("reference.csv"));
  expectFailure(
      "dequnmix:vca",
      {{"INPUT", path("scene.tif")}, {"ENDMEMBERS", 3}, {"OUTPUT_ENDMEMBERS", path("scene.tif")}},
      {"OUTPUT_ENDMEMBERS", "INPUT", "destroy"});
  expectFailure("dequnmix:fcls",
                {{"INPUT", path("scene.tif")},
                 {"ENDMEMBERS", path("reference.csv")},
                 {"OUTPUT", out("a.tif")},
                 {"OUTPUT_RESIDUAL", path("reference.csv")}},
                {"OUTPUT_RESIDUAL", "ENDMEMBERS"});
  expectFailure("dequnmix:fcls",
                {{"INPUT", path("scene.tif")},
                 {"ENDMEMBERS", path("reference.csv")},
                 {"OUTPUT", out("a.tif")},
                 {"OUTPUT_RESIDUAL", out("a.tif")}},
                {"same file"});
  // Through a symbolic link to the input.
  ASSERT_EQ(
      ::symlink(path("scene.tif").toUtf8().constData(), path("link.tif").toUtf8().constData()), 0);
  const RunResult r = fcls({{"OUTPUT", path("link.tif")}});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.contains("INPUT")) << r.error.toStdString();
  expectFailure("dequnmix:train", trainParameters({{"OUTPUT_ENDMEMBERS", path("scene.tif")}}),
                {"OUTPUT_ENDMEMBERS", "INPUT"});
  expectFailure("dequnmix:evaluate",
                {{"ABUNDANCES", path("reference.tif")},
                 {"REFERENCE_ABUNDANCES", path("reference.tif")},
                 {"ENDMEMBERS", path("reference.csv")},
                 {"REFERENCE_ENDMEMBERS", path("reference.csv")},
                 {"OUTPUT_TABLE", path("reference.csv")}},
                {"OUTPUT_TABLE"});
  EXPECT_EQ(readBytes(path("scene.tif")), scene);
  EXPECT_EQ(readBytes(path("reference.csv")), csv);
}

TEST_F(ReliabilityTest, Item02_SpecialFilesAreNeverReplaced) {
  const QString fifo = out("pipe.csv");
  ASSERT_EQ(::mkfifo(fifo.toUtf8().constData(), 0600), 0);
  const RunResult r =
      runAlgorithm("dequnmix:vca",
                   {{"INPUT", path("scene.tif")}, {"ENDMEMBERS", 3}, {"OUTPUT_ENDMEMBERS", fifo}});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.contains("not a regular file")) << r.error.toStdString();
  struct stat st {};
  ASSERT_EQ(::stat(fifo.toUtf8().constData(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // A folder named like the output.
  QDir().mkpath(out("folder.tif"));
  const RunResult f = fcls({{"OUTPUT", out("folder.tif")}});
  EXPECT_FALSE(f.ok);
  EXPECT_TRUE(f.error.contains("not a regular file")) << f.error.toStdString();
  EXPECT_TRUE(QFileInfo(out("folder.tif")).isDir());
}

// ------------------------------------------------------------------------ checked first

TEST_F(ReliabilityTest, Item03_TrainChecksEveryOutputBeforeTheWorkAndCommitsAllOrNone) {
  // An unwritable report: refused before training, nothing written.
  expectFailure("dequnmix:train", trainParameters({{"OUTPUT_REPORT", "/proc/r.html"}}),
                {"/proc/r.html"});
  // Every output kind creates its missing folder alike.
  const RunResult r = runAlgorithm("dequnmix:train",
                                   trainParameters({{"OUTPUT_MODEL", out("m/model.dequnmix")},
                                                    {"OUTPUT", out("a/abundances.tif")},
                                                    {"OUTPUT_ENDMEMBERS", out("e/endmembers.csv")},
                                                    {"OUTPUT_REPORT", out("r/report.html")}}));
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  for (const char* file :
       {"m/model.dequnmix", "a/abundances.tif", "e/endmembers.csv", "r/report.html"}) {
    EXPECT_TRUE(QFileInfo::exists(out(file))) << file;
  }
  const RunResult v = runAlgorithm("dequnmix:vca", {{"INPUT", path("scene.tif")},
                                                    {"ENDMEMBERS", 3},
                                                    {"OUTPUT_ENDMEMBERS", out("new/sub/e.csv")}});
  ASSERT_TRUE(v.ok) << v.error.toStdString();
  EXPECT_TRUE(QFileInfo::exists(out("new/sub/e.csv")));
  for (const QString& dir : {out("m"), out("a"), out("e"), out("r"), out("new/sub")}) {
    for (const QString& name : filesIn(dir))
      EXPECT_FALSE(name.startsWith('.')) << name.toStdString();
  }
}

TEST_F(ReliabilityTest, Item04_RasterOutputsFollowTheirExtension) {
  ASSERT_TRUE(fcls({{"OUTPUT", out("a.img")}}).ok);
  EXPECT_TRUE(isGdalDriver(out("a.img"), "HFA"));
  ASSERT_TRUE(fcls({{"OUTPUT", out("b.bsq")}, {"OUTPUT_RESIDUAL", out("r.nc")}}).ok);
  EXPECT_TRUE(isGdalDriver(out("b.bsq"), "ENVI"));
  EXPECT_TRUE(QFileInfo::exists(out("b.hdr")));
  EXPECT_TRUE(isGdalDriver(out("r.nc"), "netCDF"));
  const RasterData envi = readRaster(out("b.bsq"));
  const RasterData tiff = [&] {
    EXPECT_TRUE(fcls({{"OUTPUT", out("c.tif")}}).ok);
    return readRaster(out("c.tif"));
  }();
  EXPECT_EQ(envi.values, tiff.values);
  for (const QString& name : filesIn(out("")))
    EXPECT_FALSE(name.startsWith('.')) << name.toStdString();

  QDir(out("")).removeRecursively();
  for (const char* bad : {"x.png", "x.jpg", "noextension"}) {
    const RunResult r = fcls({{"OUTPUT", out(bad)}});
    EXPECT_FALSE(r.ok) << bad;
    EXPECT_TRUE(r.error.contains(".tif")) << r.error.toStdString();
  }
  const RunResult memory = fcls({{"OUTPUT", "memory:"}});
  EXPECT_FALSE(memory.ok);
  EXPECT_TRUE(memory.error.contains("temporary")) << memory.error.toStdString();
  EXPECT_FALSE(QFileInfo::exists("memory:"));
  expectFailure("dequnmix:evaluate",
                {{"ABUNDANCES", path("reference.tif")},
                 {"REFERENCE_ABUNDANCES", path("reference.tif")},
                 {"OUTPUT_TABLE", out("t.xlsx")}},
                {"OUTPUT_TABLE", ".csv"});
  EXPECT_TRUE(outputs().isEmpty()) << outputs().join(' ').toStdString();
}

// ------------------------------------------------------------------------ silently wrong

TEST_F(ReliabilityTest, Item05_SceneInOtherUnitsThanTheModelOrEndmembersIsRefused) {
  const QString model = trainedModel();
  const QString scaled = scaledScene("scaled.tif", 10000.0f);
  expectFailure("dequnmix:unmix", {{"INPUT", scaled}, {"MODEL", model}, {"OUTPUT", out("a.tif")}},
                {"10000", "0.0001"});
  expectFailure(
      "dequnmix:fcls",
      {{"INPUT", scaled}, {"ENDMEMBERS", path("reference.csv")}, {"OUTPUT", out("a.tif")}},
      {"10000", "0.0001"});
  // A moderately brighter scene is unmixed, with a warning.
  CapturingFeedback feedback;
  const RunResult r = runAlgorithm(
      "dequnmix:unmix",
      {{"INPUT", scaledScene("bright.tif", 6.0f)}, {"MODEL", model}, {"OUTPUT", out("b.tif")}},
      &feedback);
  EXPECT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_TRUE(feedback.warnings.join(' ').contains("times"))
      << feedback.warnings.join(' ').toStdString();
}

// A scene shifted below zero (as a mean-centred or MNF-transformed cube is) is no radiance
// or reflectance: each algorithm that unmixes it says so; the scene itself gets no warning.
TEST_F(ReliabilityTest, Item05_MostlyNegativeSceneIsNamed) {
  RasterData shifted = readRaster(path("scene.tif"));
  double mean = 0;
  for (float v : shifted.values) mean += v / double(shifted.values.size());
  for (float& v : shifted.values) v -= float(mean);
  writeRaster(path("shifted.tif"), shifted);
  const QString model = trainedModel();
  auto warnings = [&](const QString& id, const QVariantMap& parameters) {
    CapturingFeedback feedback;
    const RunResult r = runAlgorithm(id, parameters, &feedback);
    EXPECT_TRUE(r.ok) << id.toStdString() << ": " << r.error.toStdString();
    return feedback.warnings.join(' ');
  };
  const QVariantMap vca{{"ENDMEMBERS", 3}, {"OUTPUT_ENDMEMBERS", out("e.csv")}};
  const QVariantMap fcls{{"ENDMEMBERS", path("reference.csv")}, {"OUTPUT", out("f.tif")}};
  const QVariantMap unmix{{"MODEL", model}, {"OUTPUT", out("u.tif")}};
  const QVariantMap train = trainParameters();
  const std::vector<std::pair<QString, QVariantMap>> runs = {{"dequnmix:vca", vca},
                                                             {"dequnmix:fcls", fcls},
                                                             {"dequnmix:unmix", unmix},
                                                             {"dequnmix:train", train}};
  for (const auto& [id, parameters] : runs) {
    QVariantMap onShifted = parameters, onScene = parameters;
    onShifted["INPUT"] = path("shifted.tif");
    onScene["INPUT"] = path("scene.tif");
    const QString named = warnings(id, onShifted);
    EXPECT_TRUE(named.contains("of its values are negative") && named.contains("MNF"))
        << id.toStdString() << ": " << named.toStdString();
    EXPECT_FALSE(warnings(id, onScene).contains("negative")) << id.toStdString();
  }
}

TEST_F(ReliabilityTest, Item06_HugeValuesNeverGiveNanOrInternalErrors) {
  const QString huge = scaledScene("huge.tif", 1e30f);
  const RunResult vca = runAlgorithm(
      "dequnmix:vca", {{"INPUT", huge}, {"ENDMEMBERS", 3}, {"OUTPUT_ENDMEMBERS", path("h.csv")}});
  ASSERT_TRUE(vca.ok) << vca.error.toStdString();
  const RunResult f =
      fcls({{"INPUT", huge}, {"ENDMEMBERS", path("h.csv")}, {"OUTPUT", out("a.tif")}});
  if (f.ok) {
    const RasterData a = readRaster(out("a.tif"));
    for (float v : a.values) ASSERT_TRUE(std::isfinite(v) && v != kNoData);
  } else {
    EXPECT_FALSE(f.error.contains("Internal error")) << f.error.toStdString();
  }
  const QString big = scaledScene("big.tif", 1e19f);
  const RunResult t = runAlgorithm("dequnmix:train", trainParameters({{"INPUT", big}}));
  if (!t.ok) {
    EXPECT_FALSE(t.error.contains("Internal error")) << t.error.toStdString();
    EXPECT_FALSE(t.error.contains("all zeros")) << t.error.toStdString();
  }
  const RunResult u = runAlgorithm(
      "dequnmix:unmix", {{"INPUT", big}, {"MODEL", trainedModel()}, {"OUTPUT", out("u.tif")}});
  EXPECT_FALSE(u.ok);
  EXPECT_FALSE(u.error.contains("Internal error")) << u.error.toStdString();
}

TEST_F(ReliabilityTest, Item07_DivergenceAndDegenerateEndmembersGetClearMessages) {
  const RunResult lr =
      runAlgorithm("dequnmix:train", trainParameters({{"NETWORK_LEARNING_RATE", 1e10}}));
  EXPECT_FALSE(lr.ok);
  EXPECT_FALSE(lr.error.contains("Internal error")) << lr.error.toStdString();
  // Two identical endmember columns.
  writeText(path("twins.csv"), [&] {
    QFile f(path("reference.csv"));
    f.open(QIODevice::ReadOnly);
    QString text;
    const QStringList lines = QString(f.readAll()).split('\n', Qt::SkipEmptyParts);
    for (const QString& line : lines) {
      text += line + ',' + (line == lines.first() ? "twin" : line.section(',', -1)) + '\n';
    }
    return text;
  }());
  expectFailure("dequnmix:train", trainParameters({{"INITIAL_ENDMEMBERS", path("twins.csv")}}),
                {"endmember"});
  CapturingFeedback feedback;
  const RunResult f = runAlgorithm(
      "dequnmix:fcls",
      {{"INPUT", path("scene.tif")}, {"ENDMEMBERS", path("twins.csv")}, {"OUTPUT", out("a.tif")}},
      &feedback);
  EXPECT_FALSE(f.ok && feedback.warnings.isEmpty()) << "no warning on identical endmembers";
}

TEST_F(ReliabilityTest, Item08_ModelSettingsOutOfRangeAreRefused) {
  dequnmix::DeqModel model = dequnmix::loadDeqModel(trainedModel().toStdString());
  model.solver.maxIterations = 1000000;
  model.solver.tolerance = 0;
  dequnmix::saveDeqModel(path("crafted.dequnmix").toStdString(), model);
  expectFailure(
      "dequnmix:unmix",
      {{"INPUT", path("scene.tif")}, {"MODEL", path("crafted.dequnmix")}, {"OUTPUT", out("a.tif")}},
      {"MODEL", "iterations"});
}

// ------------------------------------------------------------------------ friction

TEST_F(ReliabilityTest, Item09_BandsAcceptCommasRangesAndRepeats) {
  ASSERT_TRUE(runAlgorithm("dequnmix:vca", {{"INPUT", path("scene.tif")},
                                            {"BANDS", "1;2;3;4;5;6"},
                                            {"ENDMEMBERS", 3},
                                            {"OUTPUT_ENDMEMBERS", path("semicolons.csv")}})
                  .ok);
  const QByteArray expected = readBytes(path("semicolons.csv"));
  const QVariantList forms{QStringLiteral("1,2,3,4,5,6"), QStringLiteral("1-6"),
                           QStringLiteral("1-3, 4;5 6"),
                           QVariantList{QStringLiteral("1,2"), QStringLiteral("3-6")}};
  for (const QVariant& form : forms) {
    const RunResult r = runAlgorithm("dequnmix:vca", {{"INPUT", path("scene.tif")},
                                                      {"BANDS", form},
                                                      {"ENDMEMBERS", 3},
                                                      {"OUTPUT_ENDMEMBERS", path("form.csv")}});
    ASSERT_TRUE(r.ok) << r.error.toStdString();
    EXPECT_EQ(readBytes(path("form.csv")), expected) << form.toString().toStdString();
  }
  expectFailure("dequnmix:vca",
                {{"INPUT", path("scene.tif")},
                 {"BANDS", "1,x"},
                 {"ENDMEMBERS", 3},
                 {"OUTPUT_ENDMEMBERS", out("bad.csv")}},
                {"BANDS", "'x'", "1-40"});
}

TEST_F(ReliabilityTest, Item10_ModelsAreRecognisedByContentNotName) {
  const QString model = trainedModel(QStringLiteral("trained.bin"));
  const RunResult r =
      runAlgorithm("dequnmix:unmix",
                   {{"INPUT", path("scene.tif")}, {"MODEL", model}, {"OUTPUT", path("a.tif")}});
  EXPECT_TRUE(r.ok) << r.error.toStdString();
  expectFailure(
      "dequnmix:unmix",
      {{"INPUT", path("scene.tif")}, {"MODEL", path("reference.csv")}, {"OUTPUT", out("b.tif")}},
      {"MODEL", "not a DEQ-Unmix model"});
}

TEST_F(ReliabilityTest, Item11_StopSignalsCancelAndStalePartFilesGo) {
  // A stale part file of a killed run (its process no longer exists) is removed.
  writeText(out(".abundances.part-999999999-dead.tif"), "");
  writeText(out(".other.part-999999999-dead.tif"), "");
  ASSERT_TRUE(fcls().ok);
  EXPECT_EQ(outputs(), (QStringList{".other.part-999999999-dead.tif", "abundances.tif"}));
  QDir(out("")).removeRecursively();
  // SIGINT mid-training cancels like the toolbox's Cancel and leaves nothing.
  CapturingFeedback feedback;
  bool raised = false;
  QObject::connect(&feedback, &QgsFeedback::progressChanged, [&](double progress) {
    if (progress > 10.0 && !raised) {
      raised = true;
      std::raise(SIGINT);
    }
  });
  expectFailure("dequnmix:train", trainParameters({{"EPOCHS", 200}}), {"Canceled"}, &feedback);
  EXPECT_TRUE(raised);
  // The handler is gone after the run: the default action is back.
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

TEST_F(ReliabilityTest, Item12_SmallerFrictions) {
  const RasterData scene = readRaster(path("scene.tif"));
  RasterData one = scene;
  one.width = one.height = 1;
  one.values.clear();
  for (int b = 0; b < scene.bands; ++b) one.values.push_back(scene.at(b, 0, 0));
  writeRaster(path("one.tif"), one);
  const RunResult r = runAlgorithm(
      "dequnmix:vca",
      {{"INPUT", path("one.tif")}, {"ENDMEMBERS", 2}, {"OUTPUT_ENDMEMBERS", out("e.csv")}});
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.contains("at most 1")) << r.error.toStdString();
  // Ranges are stated in the parameters' descriptions.
  const QgsProcessingAlgorithm* train =
      QgsApplication::processingRegistry()->algorithmById(QStringLiteral("dequnmix:train"));
  EXPECT_TRUE(
      train->parameterDefinition(QStringLiteral("EPOCHS"))->description().contains("1 to 1000000"));
  // A semicolon-separated CSV with decimal commas and Latin-1 names.
  QFile in(path("reference.csv"));
  in.open(QIODevice::ReadOnly);
  QString text = QString(in.readAll());
  text.replace(',', ';');
  text.replace('.', ',');
  QByteArray bytes = text.toLatin1();
  bytes.replace("endmember_1", "min\xe9ral");
  writeBytes(path("excel.csv"), bytes);
  const RunResult f = fcls({{"ENDMEMBERS", path("excel.csv")}, {"OUTPUT", out("x.tif")}});
  ASSERT_TRUE(f.ok) << f.error.toStdString();
  EXPECT_EQ(readRaster(out("x.tif")).descriptions.at(0), "min\xc3\xa9ral");
  ASSERT_TRUE(fcls({{"OUTPUT", out("y.tif")}}).ok);
  const RasterData x = readRaster(out("x.tif")), y = readRaster(out("y.tif"));
  ASSERT_EQ(x.values.size(), y.values.size());
  for (size_t i = 0; i < x.values.size(); ++i) ASSERT_NEAR(x.values[i], y.values[i], 1e-4);
}

}  // namespace
