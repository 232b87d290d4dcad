// The dequnmix algorithms through the processing registry: outputs, georeferencing, band
// names, nodata, band subsets, metrics, background tasks, and every bad-input case.
#include <gtest/gtest.h>

#include <gdal.h>
#include <gdal_utils.h>
#include <ogr_api.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <limits>
#include <set>
#include <tuple>

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTextStream>
#include <QThread>

#include <qgsapplication.h>
#include <qgscoordinatereferencesystem.h>
#include <qgsfeature.h>
#include <qgsfeatureiterator.h>
#include <qgsgeometry.h>
#include <qgsprocessingalgorithm.h>
#include <qgsprocessingalgrunnertask.h>
#include <qgsprocessingcontext.h>
#include <qgsprocessingfeedback.h>
#include <qgsprocessingoutputs.h>
#include <qgsprocessingparameters.h>
#include <qgsprocessingprovider.h>
#include <qgsprocessingregistry.h>
#include <qgsrasterlayer.h>
#include <qgstaskmanager.h>
#include <qgsvectorlayer.h>

#include "core/classical/vca.h"
#include "core/synthetic/synthetic.h"
#include "plugin/registration.h"
#include "test_support.h"

using namespace dequnmix::testing;

namespace {

const QString kProvider = QStringLiteral("dequnmix");

struct Spectra {
  QStringList names;
  std::vector<std::vector<double>> rows;  // per band: one value per endmember
};

// A deliberately plain CSV reader (the tests must not depend on the core's).
Spectra readSpectra(const QString& path) {
  QFile file(path);
  Spectra s;
  if (!file.open(QIODevice::ReadOnly | QIODevice::Text)) return s;
  QTextStream in(&file);
  const QStringList header = in.readLine().trimmed().split(',');
  std::vector<int> columns;
  for (int i = 0; i < header.size(); ++i) {
    const QString h = header[i].trimmed();
    if (h == "band" || h == "wavelength" || h == "wavelength_nm") continue;
    s.names << h;
    columns.push_back(i);
  }
  while (!in.atEnd()) {
    const QString line = in.readLine().trimmed();
    if (line.isEmpty()) continue;
    const QStringList cells = line.split(',');
    std::vector<double> row;
    for (int c : columns) row.push_back(cells.value(c).toDouble());
    s.rows.push_back(row);
  }
  return s;
}

std::vector<std::string> names(const QStringList& list) {
  std::vector<std::string> out;
  for (const QString& s : list) out.push_back(s.toStdString());
  return out;
}

class AlgorithmTest : public FolderTest {
 protected:
  struct Scene {
    QString scene;
    QString abundances;
    QString endmembers;
  };
  // A synthetic scene written into the test folder (not into out/).
  Scene synthesize(int width, int height, int bands, int endmembers, double snr = 0.0,
                   bool pure = true, const QString& prefix = QStringLiteral("synthetic")) {
    Scene s{path(prefix + ".tif"), path(prefix + "_abundances.tif"),
            path(prefix + "_endmembers.csv")};
    const RunResult r =
        runAlgorithm(QStringLiteral("dequnmix:synthesize"), {{"WIDTH", width},
                                                             {"HEIGHT", height},
                                                             {"BANDS", bands},
                                                             {"ENDMEMBERS", endmembers},
                                                             {"SNR_DB", snr},
                                                             {"MAX_ABUNDANCE", 1.0},
                                                             {"PURE_PIXELS", pure},
                                                             {"SEED", 7},
                                                             {"OUTPUT", s.scene},
                                                             {"OUTPUT_ABUNDANCES", s.abundances},
                                                             {"OUTPUT_ENDMEMBERS", s.endmembers}});
    EXPECT_TRUE(r.ok) << r.error.toStdString();
    return s;
  }
};

// ------------------------------------------------------------------------ provider

TEST(Provider, IsRegisteredWithItsAlgorithms) {
  QgsProcessingProvider* provider = QgsApplication::processingRegistry()->providerById(kProvider);
  ASSERT_NE(provider, nullptr);
  EXPECT_EQ(provider->name(), QStringLiteral("DEQ-Unmix"));
  EXPECT_FALSE(provider->icon().isNull());
  std::set<QString> ids;
  for (const QgsProcessingAlgorithm* a : provider->algorithms()) ids.insert(a->id());
  for (const char* id : {"dequnmix:synthesize", "dequnmix:estimate_endmembers", "dequnmix:vca",
                         "dequnmix:fcls", "dequnmix:evaluate"}) {
    EXPECT_TRUE(ids.count(QString::fromLatin1(id))) << id;
  }
}

TEST(Provider, RegistrationIsIdempotent) {
  const int before = QgsApplication::processingRegistry()->providers().size();
  EXPECT_EQ(dequnmix_register_provider(), 0);
  EXPECT_EQ(QgsApplication::processingRegistry()->providers().size(), before);
  EXPECT_STRNE(dequnmix_version(), "");
}

TEST(Provider, EveryAlgorithmIsDocumented) {
  QgsProcessingProvider* provider = QgsApplication::processingRegistry()->providerById(kProvider);
  ASSERT_NE(provider, nullptr);
  for (const QgsProcessingAlgorithm* a : provider->algorithms()) {
    SCOPED_TRACE(a->id().toStdString());
    EXPECT_FALSE(a->displayName().isEmpty());
    EXPECT_FALSE(a->group().isEmpty());
    EXPECT_FALSE(a->groupId().isEmpty());
    EXPECT_FALSE(a->tags().isEmpty());
    EXPECT_FALSE(a->icon().isNull());
    EXPECT_TRUE(QFile::exists(a->svgIconPath())) << a->svgIconPath().toStdString();
    const QString help = a->shortHelpString();
    for (const QgsProcessingParameterDefinition* p : a->parameterDefinitions()) {
      EXPECT_TRUE(help.contains(p->name())) << "help does not name " << p->name().toStdString();
    }
    for (const QgsProcessingOutputDefinition* o : a->outputDefinitions()) {
      EXPECT_TRUE(help.contains(o->name())) << "help does not name " << o->name().toStdString();
    }
  }
}

TEST(Provider, ParametersAndOutputsAreExactlyTheDocumentedOnes) {
  EXPECT_EQ(parameterNames("dequnmix:synthesize"), QStringList({"WIDTH",
                                                                "HEIGHT",
                                                                "BANDS",
                                                                "ENDMEMBERS",
                                                                "SNR_DB",
                                                                "MAX_ABUNDANCE",
                                                                "PURE_PIXELS",
                                                                "SEED",
                                                                "ABUNDANCE_SMOOTHNESS",
                                                                "LIBRARY",
                                                                "ILLUMINATION",
                                                                "ILLUMINATION_SMOOTHNESS",
                                                                "SHADE",
                                                                "VARIABILITY",
                                                                "NONLINEARITY",
                                                                "NONLINEAR_STRENGTH",
                                                                "NOISE_SPREAD_DB",
                                                                "LOW_SNR_BANDS",
                                                                "LOW_SNR_DB",
                                                                "PURE_REGIONS",
                                                                "PURE_REGION_SIZE",
                                                                "SPIKE_PIXELS",
                                                                "SHARE_RATIO",
                                                                "OUTPUT",
                                                                "OUTPUT_ABUNDANCES",
                                                                "OUTPUT_ENDMEMBERS"}));
  EXPECT_EQ(parameterNames("dequnmix:estimate_endmembers"),
            QStringList({"INPUT", "BANDS", "BAD_BANDS", "METHOD", "FALSE_ALARM", "OUTPUT_TABLE"}));
  EXPECT_EQ(outputNames("dequnmix:estimate_endmembers"),
            QStringList({"ENDMEMBERS", "HFC", "HYSIME", "NWHFC", "OUTPUT_TABLE"}));
  EXPECT_EQ(parameterNames("dequnmix:ppi"), QStringList({"INPUT", "BANDS", "BAD_BANDS", "SKEWERS",
                                                         "DIMENSIONS", "SEED", "OUTPUT"}));
  EXPECT_EQ(parameterNames("dequnmix:resample_library"),
            QStringList({"INPUT", "RASTER", "BANDS", "BAD_BANDS", "OUTPUT"}));
  EXPECT_EQ(parameterNames("dequnmix:vca"),
            QStringList({"INPUT", "BANDS", "BAD_BANDS", "ENDMEMBERS", "SEED", "METHOD", "THREADS",
                         "OUTPUT_ENDMEMBERS", "OUTPUT_LOCATIONS"}));
  EXPECT_EQ(parameterNames("dequnmix:fcls"),
            QStringList({"INPUT", "ENDMEMBERS", "BANDS", "BAD_BANDS", "METHOD", "THREADS", "OUTPUT",
                         "OUTPUT_RESIDUAL"}));
  EXPECT_EQ(parameterNames("dequnmix:evaluate"),
            QStringList({"ABUNDANCES", "REFERENCE_ABUNDANCES", "ENDMEMBERS", "REFERENCE_ENDMEMBERS",
                         "OUTPUT_TABLE", "OUTPUT_REPORT"}));
  EXPECT_EQ(outputNames("dequnmix:evaluate"),
            QStringList({"ARMSE", "ARMSE_MEAN_PER_ENDMEMBER", "MSAD_DEG", "MSAD_RAD",
                         "OUTPUT_REPORT", "OUTPUT_TABLE"}));
}

TEST(Provider, DefaultsComeFromTheCoreOptions) {
  const dequnmix::SyntheticOptions s;
  const QgsProcessingAlgorithm* synth =
      QgsApplication::processingRegistry()->algorithmById("dequnmix:synthesize");
  ASSERT_NE(synth, nullptr);
  EXPECT_EQ(synth->parameterDefinition("WIDTH")->defaultValue().toInt(), s.width);
  EXPECT_EQ(synth->parameterDefinition("HEIGHT")->defaultValue().toInt(), s.height);
  EXPECT_EQ(synth->parameterDefinition("BANDS")->defaultValue().toInt(), s.bands);
  EXPECT_EQ(synth->parameterDefinition("ENDMEMBERS")->defaultValue().toInt(), s.endmembers);
  EXPECT_DOUBLE_EQ(synth->parameterDefinition("SNR_DB")->defaultValue().toDouble(), s.snrDb);
  EXPECT_DOUBLE_EQ(synth->parameterDefinition("MAX_ABUNDANCE")->defaultValue().toDouble(),
                   s.maxAbundance);
  EXPECT_EQ(synth->parameterDefinition("PURE_PIXELS")->defaultValue().toBool(), s.purePixels);
  EXPECT_EQ(synth->parameterDefinition("SEED")->defaultValue().toULongLong(), s.seed);
  // The effects: defaults (all off) and bounds from the core.
  using Limits = dequnmix::SyntheticLimits;
  auto number = [&](const char* name) {
    return dynamic_cast<const QgsProcessingParameterNumber*>(synth->parameterDefinition(name));
  };
  const std::vector<std::tuple<const char*, double, double, double>> numbers = {
      {"ABUNDANCE_SMOOTHNESS", s.smoothness, 0, Limits::kMaxSmoothness},
      {"ILLUMINATION", s.illumination, 0, Limits::kMaxIllumination},
      {"ILLUMINATION_SMOOTHNESS", s.illuminationSmoothness, 0, Limits::kMaxIlluminationSmoothness},
      {"SHADE", s.shade, 0, Limits::kMaxShade},
      {"VARIABILITY", s.variability, 0, Limits::kMaxVariability},
      {"NONLINEAR_STRENGTH", s.nonlinearStrength, 0, Limits::kMaxNonlinearStrength},
      {"NOISE_SPREAD_DB", s.noiseSpreadDb, 0, Limits::kMaxNoiseSpreadDb},
      {"LOW_SNR_DB", s.lowSnrDb, Limits::kMinLowSnrDb, Limits::kMaxLowSnrDb},
      {"PURE_REGIONS", s.pureRegions, 0, Limits::kMaxPureRegions},
      {"PURE_REGION_SIZE", s.pureRegionSize, 1, Limits::kMaxPureRegionSize},
      {"SHARE_RATIO", s.shareRatio, 1, Limits::kMaxShareRatio}};
  for (const auto& [name, value, lo, hi] : numbers) {
    SCOPED_TRACE(name);
    ASSERT_NE(number(name), nullptr);
    EXPECT_DOUBLE_EQ(number(name)->defaultValue().toDouble(), value);
    EXPECT_DOUBLE_EQ(number(name)->minimum(), lo);
    EXPECT_DOUBLE_EQ(number(name)->maximum(), hi);
  }
  EXPECT_EQ(synth->parameterDefinition("LOW_SNR_BANDS")->defaultValue().toInt(), s.lowSnrBands);
  EXPECT_EQ(synth->parameterDefinition("SPIKE_PIXELS")->defaultValue().toLongLong(), s.spikePixels);
  EXPECT_EQ(synth->parameterDefinition("NONLINEARITY")->defaultValue().toInt(),
            static_cast<int>(s.nonlinearity));
  EXPECT_TRUE(synth->parameterDefinition("LIBRARY")->flags() &
              QgsProcessingParameterDefinition::FlagOptional);
  const dequnmix::VcaOptions v;
  const QgsProcessingAlgorithm* vca =
      QgsApplication::processingRegistry()->algorithmById("dequnmix:vca");
  ASSERT_NE(vca, nullptr);
  EXPECT_EQ(vca->parameterDefinition("ENDMEMBERS")->defaultValue().toInt(), v.endmembers);
  EXPECT_EQ(vca->parameterDefinition("SEED")->defaultValue().toULongLong(), v.seed);
}

// ------------------------------------------------------------------------ outputs

TEST_F(AlgorithmTest, SynthesizeWritesSceneAbundancesAndEndmembers) {
  const Scene s = synthesize(24, 16, 12, 3);
  const RasterData scene = readRaster(s.scene);
  EXPECT_EQ(scene.width, 24);
  EXPECT_EQ(scene.height, 16);
  EXPECT_EQ(scene.bands, 12);
  EXPECT_EQ(scene.descriptions.front(), "band_001");
  const RasterData abundances = readRaster(s.abundances);
  ASSERT_EQ(abundances.bands, 3);
  const Spectra spectra = readSpectra(s.endmembers);
  ASSERT_EQ(spectra.rows.size(), 12u);
  ASSERT_EQ(spectra.names.size(), 3);
  EXPECT_EQ(abundances.descriptions, names(spectra.names));
  // SNR_DB = 0 is noise-free: the scene is exactly E A, and abundances sum to one.
  double worst = 0;
  for (int r = 0; r < 16; ++r) {
    for (int c = 0; c < 24; ++c) {
      double sum = 0;
      for (int e = 0; e < 3; ++e) sum += abundances.at(e, r, c);
      EXPECT_NEAR(sum, 1.0, 1e-5);
      for (int b = 0; b < 12; ++b) {
        double model = 0;
        for (int e = 0; e < 3; ++e) model += spectra.rows[b][e] * abundances.at(e, r, c);
        worst = std::max(worst, std::abs(model - scene.at(b, r, c)));
      }
    }
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_TRUE(outputs().isEmpty());  // nothing stray in out/
  for (const QString& f : filesIn(dir_.path()))
    EXPECT_FALSE(f.contains(".part-")) << f.toStdString();
}

TEST_F(AlgorithmTest, SynthesizeWithNoiseDiffersFromNoiseFree) {
  const Scene clean = synthesize(16, 16, 10, 3, 0.0, true, "clean");
  const Scene noisy = synthesize(16, 16, 10, 3, 20.0, true, "noisy");
  const RasterData a = readRaster(clean.scene);
  const RasterData b = readRaster(noisy.scene);
  double diff = 0;
  for (size_t i = 0; i < a.values.size(); ++i)
    diff = std::max(diff, double(std::abs(a.values[i] - b.values[i])));
  EXPECT_GT(diff, 1e-4);
}

// A small spectral library (8 positive spectra on 25 bands) in the endmember CSV format.
QString writeLibrary(const QString& path) {
  QString text = QStringLiteral("band,wavelength_nm");
  for (int e = 0; e < 8; ++e) text += QStringLiteral(",mineral_%1").arg(e + 1);
  uint64_t state = 12345;
  for (int b = 0; b < 25; ++b) {
    text += QStringLiteral("\n%1,%2").arg(b + 1).arg(450 + 20 * b);
    for (int e = 0; e < 8; ++e) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      text += QStringLiteral(",%1").arg(0.05 + 0.9 * double(state >> 11) * 0x1.0p-53, 0, 'f', 6);
    }
  }
  writeText(path, text + "\n");
  return path;
}

TEST_F(AlgorithmTest, SynthesizeWithLibraryIlluminationVariabilityAndNonlinearMixing) {
  const QString library = writeLibrary(path("library.csv"));
  auto run = [&](const QString& prefix, bool effects) {
    QVariantMap p = {{"WIDTH", 20},
                     {"HEIGHT", 12},
                     {"BANDS", 10},  // ignored: the library has 25
                     {"ENDMEMBERS", 4},
                     {"SNR_DB", 0.0},
                     {"SEED", 3},
                     {"LIBRARY", library},
                     {"OUTPUT", path(prefix + ".tif")},
                     {"OUTPUT_ABUNDANCES", path(prefix + "_abundances.tif")},
                     {"OUTPUT_ENDMEMBERS", path(prefix + "_endmembers.csv")}};
    if (effects) {
      p.insert("ILLUMINATION", 0.3);
      p.insert("VARIABILITY", 0.4);
      p.insert("NONLINEARITY", 1);  // bilinear
      p.insert("NONLINEAR_STRENGTH", 0.5);
    }
    const RunResult r = runAlgorithm(QStringLiteral("dequnmix:synthesize"), p);
    EXPECT_TRUE(r.ok) << r.error.toStdString();
  };
  run("plain", false);
  run("effects", true);
  const RasterData scene = readRaster(path("effects.tif"));
  EXPECT_EQ(scene.width, 20);
  EXPECT_EQ(scene.height, 12);
  EXPECT_EQ(scene.bands, 25);
  const RasterData abundances = readRaster(path("effects_abundances.tif"));
  EXPECT_EQ(abundances.bands, 4);
  const Spectra spectra = readSpectra(path("effects_endmembers.csv"));
  ASSERT_EQ(spectra.rows.size(), 25u);
  ASSERT_EQ(spectra.names.size(), 4);
  for (const QString& name : spectra.names)
    EXPECT_TRUE(name.startsWith("mineral_")) << name.toStdString();
  // Same endmembers and abundances as the plain scene (the effects only act on the pixels),
  // but a different scene, which no longer follows the linear model.
  const RasterData plain = readRaster(path("plain.tif"));
  const RasterData plainAbundances = readRaster(path("plain_abundances.tif"));
  EXPECT_EQ(readSpectra(path("plain_endmembers.csv")).names, spectra.names);
  ASSERT_EQ(plain.values.size(), scene.values.size());
  EXPECT_EQ(plainAbundances.values, abundances.values);
  double diff = 0, linear = 0;
  for (size_t i = 0; i < scene.values.size(); ++i)
    diff = std::max(diff, double(std::abs(scene.values[i] - plain.values[i])));
  for (int r = 0; r < 12; ++r)
    for (int c = 0; c < 20; ++c)
      for (int b = 0; b < 25; ++b) {
        double model = 0;
        for (int e = 0; e < 4; ++e) model += spectra.rows[b][e] * abundances.at(e, r, c);
        linear = std::max(linear, std::abs(model - plain.at(b, r, c)));
      }
  EXPECT_LT(linear, 1e-5);  // the plain scene is E A
  EXPECT_GT(diff, 0.05);
}

// PURE_REGIONS reaches the core: about that fraction of the pixels is exactly pure.
TEST_F(AlgorithmTest, SynthesizePureRegions) {
  const RunResult r = runAlgorithm(QStringLiteral("dequnmix:synthesize"),
                                   {{"WIDTH", 30},
                                    {"HEIGHT", 20},
                                    {"BANDS", 12},
                                    {"ENDMEMBERS", 3},
                                    {"PURE_PIXELS", false},
                                    {"PURE_REGIONS", 0.3},
                                    {"PURE_REGION_SIZE", 3},
                                    {"OUTPUT", path("regions.tif")},
                                    {"OUTPUT_ABUNDANCES", path("regions_abundances.tif")},
                                    {"OUTPUT_ENDMEMBERS", path("regions.csv")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const RasterData a = readRaster(path("regions_abundances.tif"));
  int pure = 0;
  for (int row = 0; row < 20; ++row)
    for (int col = 0; col < 30; ++col)
      for (int e = 0; e < 3; ++e) pure += a.at(e, row, col) == 1.0f;
  EXPECT_GT(pure, 0.15 * 600);  // overlapping patches shave some off the 30%
  EXPECT_LE(pure, 0.3 * 600 + 3 * 9);
}

// SPIKE_PIXELS reaches the core: exactly that many pixels differ from the scene without.
TEST_F(AlgorithmTest, SynthesizeSpikePixels) {
  auto scene = [&](int spikes, const QString& name) {
    const RunResult r = runAlgorithm(QStringLiteral("dequnmix:synthesize"),
                                     {{"WIDTH", 20},
                                      {"HEIGHT", 10},
                                      {"BANDS", 40},
                                      {"ENDMEMBERS", 3},
                                      {"SPIKE_PIXELS", spikes},
                                      {"OUTPUT", path(name + ".tif")},
                                      {"OUTPUT_ABUNDANCES", path(name + "_abundances.tif")},
                                      {"OUTPUT_ENDMEMBERS", path(name + ".csv")}});
    EXPECT_TRUE(r.ok) << r.error.toStdString();
    return readRaster(path(name + ".tif"));
  };
  const RasterData plain = scene(0, QStringLiteral("plain")),
                   spiked = scene(3, QStringLiteral("spiked"));
  int differ = 0;
  for (int row = 0; row < 10; ++row)
    for (int col = 0; col < 20; ++col) {
      bool same = true;
      for (int b = 0; b < 40; ++b) same = same && plain.at(b, row, col) == spiked.at(b, row, col);
      differ += !same;
    }
  EXPECT_EQ(differ, 3);
}

// SHARE_RATIO reaches the core: the reference abundances' mean shares fall from the first
// endmember to the last (the core test measures them).
TEST_F(AlgorithmTest, SynthesizeShareRatio) {
  const RunResult r = runAlgorithm(QStringLiteral("dequnmix:synthesize"),
                                   {{"WIDTH", 48},
                                    {"HEIGHT", 48},
                                    {"BANDS", 30},
                                    {"ENDMEMBERS", 4},
                                    {"SHARE_RATIO", 30},
                                    {"OUTPUT", path("shares.tif")},
                                    {"OUTPUT_ABUNDANCES", path("shares_abundances.tif")},
                                    {"OUTPUT_ENDMEMBERS", path("shares.csv")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const RasterData a = readRaster(path("shares_abundances.tif"));
  std::vector<double> share(4, 0.0);
  for (int e = 0; e < 4; ++e)
    for (int row = 0; row < 48; ++row)
      for (int col = 0; col < 48; ++col) share[e] += a.at(e, row, col) / (48.0 * 48.0);
  for (int e = 1; e < 4; ++e) EXPECT_LT(share[e], share[e - 1]) << "endmember " << e;
  EXPECT_GT(share[0], 0.5);
}

TEST_F(AlgorithmTest, SynthesizeRejectsBadEffectParameters) {
  const QString library = writeLibrary(path("library.csv"));
  const QVariantMap destinations = {{"OUTPUT", out("s.tif")},
                                    {"OUTPUT_ABUNDANCES", out("a.tif")},
                                    {"OUTPUT_ENDMEMBERS", out("e.csv")}};
  auto with = [&](QVariantMap p) {
    for (auto it = destinations.begin(); it != destinations.end(); ++it)
      p.insert(it.key(), it.value());
    return p;
  };
  expectFailure("dequnmix:synthesize", with({{"LIBRARY", library}, {"ENDMEMBERS", 9}}),
                {"LIBRARY", "8 spectra"});
  expectFailure("dequnmix:synthesize", with({{"LIBRARY", path("missing.csv")}}), {"LIBRARY"});
  expectFailure("dequnmix:synthesize", with({{"BANDS", 20}, {"LOW_SNR_BANDS", 21}}),
                {"LOW_SNR_BANDS", "20"});
  expectFailure("dequnmix:synthesize", with({{"WIDTH", 4}, {"HEIGHT", 4}, {"SPIKE_PIXELS", 17}}),
                {"SPIKE_PIXELS", "16 pixels"});
  expectFailure("dequnmix:synthesize",
                {{"LIBRARY", library},
                 {"OUTPUT", out("s.tif")},
                 {"OUTPUT_ABUNDANCES", out("a.tif")},
                 {"OUTPUT_ENDMEMBERS", library}},
                {"OUTPUT_ENDMEMBERS", "LIBRARY", "destroy the input"});
  EXPECT_TRUE(outputs().isEmpty());
}

// The classical pipeline on a georeferenced scene with nodata pixels.
TEST_F(AlgorithmTest, PipelineKeepsGeoreferenceNamesAndNodata) {
  const Scene s = synthesize(40, 30, 20, 3);
  RasterData scene = readRaster(s.scene);
  const RasterData reference = readRaster(s.abundances);
  // Georeference it and punch nodata holes (never on a pure pixel).
  scene.hasGeoTransform = true;
  scene.geoTransform = {500000.0, 30.0, 0.0, 4200000.0, 0.0, -30.0};
  scene.projectionWkt = QgsCoordinateReferenceSystem(QStringLiteral("EPSG:32633"))
                            .toWkt(QgsCoordinateReferenceSystem::WKT_PREFERRED_GDAL)
                            .toStdString();
  scene.nodata.assign(scene.bands, -1.0);
  std::vector<uint8_t> hole(40 * 30, 0);
  for (int r = 0; r < 30; ++r) {
    for (int c = 0; c < 40; ++c) {
      float maxA = 0;
      for (int e = 0; e < 3; ++e) maxA = std::max(maxA, reference.at(e, r, c));
      if (maxA > 0.999f || (r * 7 + c * 3) % 11 != 0) continue;
      hole[r * 40 + c] = 1;
      if ((r + c) % 2) {
        for (int b = 0; b < scene.bands; ++b) scene.values[(size_t(b) * 30 + r) * 40 + c] = -1.0f;
      } else {
        scene.values[(size_t(4) * 30 + r) * 40 + c] = -1.0f;  // nodata in one band only
      }
    }
  }
  const QString input = path("georef.tif");
  writeRaster(input, scene);

  // VCA with locations.
  const QString endmembers = out("vca.csv");
  const QString locations = out("locations.gpkg");
  RunResult r = runAlgorithm("dequnmix:vca", {{"INPUT", input},
                                              {"ENDMEMBERS", 3},
                                              {"SEED", 1},
                                              {"OUTPUT_ENDMEMBERS", endmembers},
                                              {"OUTPUT_LOCATIONS", locations}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(r.outputs.value("OUTPUT_ENDMEMBERS").toString(), endmembers);
  const Spectra vca = readSpectra(endmembers);
  ASSERT_EQ(vca.names.size(), 3);
  ASSERT_EQ(vca.rows.size(), 20u);
  {
    QgsVectorLayer layer(r.outputs.value("OUTPUT_LOCATIONS").toString(), "locations", "ogr");
    ASSERT_TRUE(layer.isValid());
    EXPECT_EQ(layer.featureCount(), 3);
    EXPECT_EQ(layer.crs().authid(), QStringLiteral("EPSG:32633"));
    EXPECT_GE(layer.fields().indexOf("name"), 0);
    QgsFeature f;
    QgsFeatureIterator it = layer.getFeatures();
    while (it.nextFeature(f)) {
      const int row = f.attribute("row").toInt();
      const int col = f.attribute("col").toInt();
      EXPECT_TRUE(vca.names.contains(f.attribute("name").toString()));
      EXPECT_FALSE(hole[row * 40 + col]) << "VCA chose a nodata pixel";
      const QgsPointXY p = f.geometry().asPoint();
      EXPECT_NEAR(p.x(), 500000.0 + (col + 0.5) * 30.0, 1e-6);
      EXPECT_NEAR(p.y(), 4200000.0 - (row + 0.5) * 30.0, 1e-6);
    }
  }

  // FCLS with the residual.
  const QString abundances = out("abundances.tif");
  const QString residual = out("residual.tif");
  r = runAlgorithm("dequnmix:fcls", {{"INPUT", input},
                                     {"ENDMEMBERS", endmembers},
                                     {"OUTPUT", abundances},
                                     {"OUTPUT_RESIDUAL", residual}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const RasterData a = readRaster(abundances);
  const RasterData rmse = readRaster(residual);
  ASSERT_EQ(a.bands, 3);
  EXPECT_EQ(a.descriptions, names(vca.names));
  for (const RasterData* o : {&a, &rmse}) {
    EXPECT_TRUE(o->hasGeoTransform);
    for (int i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(o->geoTransform[i], scene.geoTransform[i]);
    for (double nd : o->nodata) EXPECT_EQ(nd, kNoData);
  }
  {
    QgsRasterLayer layer(abundances, "a", "gdal");
    ASSERT_TRUE(layer.isValid());
    EXPECT_EQ(layer.crs().authid(), QStringLiteral("EPSG:32633"));
  }
  for (int row = 0; row < 30; ++row) {
    for (int col = 0; col < 40; ++col) {
      if (hole[row * 40 + col]) {
        for (int e = 0; e < 3; ++e) EXPECT_EQ(a.at(e, row, col), kNoData);
        EXPECT_EQ(rmse.at(0, row, col), kNoData);
        continue;
      }
      double sum = 0;
      for (int e = 0; e < 3; ++e) {
        EXPECT_GE(a.at(e, row, col), -1e-6);
        sum += a.at(e, row, col);
      }
      EXPECT_NEAR(sum, 1.0, 1e-4);
      EXPECT_LT(rmse.at(0, row, col), 1e-3);
    }
  }

  // Evaluate with spectra: nodata pixels excluded, near-perfect recovery.
  const QString table = out("metrics.csv");
  r = runAlgorithm("dequnmix:evaluate", {{"ABUNDANCES", abundances},
                                         {"REFERENCE_ABUNDANCES", s.abundances},
                                         {"ENDMEMBERS", endmembers},
                                         {"REFERENCE_ENDMEMBERS", s.endmembers},
                                         {"OUTPUT_TABLE", table},
                                         {"OUTPUT_REPORT", out("evaluation.html")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  // The report: three maps per endmember (estimated, reference, difference), inline, and
  // each pair of spectra overlaid; nothing loaded from elsewhere.
  const QString html = QString::fromUtf8(readBytes(out("evaluation.html")));
  EXPECT_EQ(html.count("src=\"data:image/png;base64,"), 9);
  EXPECT_EQ(html.count("<svg"), 3);
  EXPECT_FALSE(html.contains("src=\"http") || html.contains("href=\"http"));
  for (const char* word : {"absolute difference", "by spectral angle", "aRMSE", "SAD "})
    EXPECT_TRUE(html.contains(word)) << word;
  const double msad = r.outputs.value("MSAD_RAD").toDouble();
  const double armse = r.outputs.value("ARMSE").toDouble();
  EXPECT_LT(msad, 0.01);
  EXPECT_NEAR(r.outputs.value("MSAD_DEG").toDouble(), msad * 180.0 / M_PI, 1e-9);
  EXPECT_LT(armse, 0.01);
  EXPECT_LT(r.outputs.value("ARMSE_MEAN_PER_ENDMEMBER").toDouble(), 0.01);
  // The same figure computed here over the valid pixels (nodata would dominate it).
  double squared = 0;
  int64_t count = 0;
  for (int e = 0; e < 3; ++e) {
    double best = std::numeric_limits<double>::infinity();
    for (int ref = 0; ref < 3; ++ref) {
      double sum = 0;
      int64_t n = 0;
      for (int row = 0; row < 30; ++row) {
        for (int col = 0; col < 40; ++col) {
          if (hole[row * 40 + col]) continue;
          const double d = a.at(e, row, col) - reference.at(ref, row, col);
          sum += d * d;
          ++n;
        }
      }
      if (sum < best) {
        best = sum;
        count = n;
      }
    }
    squared += best;
  }
  EXPECT_NEAR(armse, std::sqrt(squared / (3.0 * count)), 1e-6);
  QFile tableFile(table);
  ASSERT_TRUE(tableFile.open(QIODevice::ReadOnly | QIODevice::Text));
  const QStringList lines = QString(tableFile.readAll()).trimmed().split('\n');
  ASSERT_EQ(lines.size(), 4);
  EXPECT_EQ(lines[0], QStringLiteral("endmember,reference,sad_rad,sad_deg,rmse"));

  // Without spectra: matched by abundance error; mSAD undefined (NaN).
  r = runAlgorithm("dequnmix:evaluate",
                   {{"ABUNDANCES", abundances}, {"REFERENCE_ABUNDANCES", s.abundances}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_TRUE(std::isnan(r.outputs.value("MSAD_RAD").toDouble()));
  EXPECT_TRUE(std::isnan(r.outputs.value("MSAD_DEG").toDouble()));
  EXPECT_NEAR(r.outputs.value("ARMSE").toDouble(), armse, 1e-9);

  for (const QString& f : outputs()) EXPECT_FALSE(f.contains(".part-")) << f.toStdString();
}

// A scene whose first columns are 0 in every band without a declared nodata (fill around a
// swath): read as nodata by the algorithms that read scenes, so VCA does not take the fill
// for a dark endmember and the estimated count is the scene's; an abundance raster's
// all-zero pixel (NNLS can give one) is still a pixel to evaluate.
TEST_F(AlgorithmTest, ZeroFilledScenePixelsAreNodata) {
  const Scene s = synthesize(40, 40, 50, 5, 30.0);
  RasterData scene = readRaster(s.scene);
  const int fillColumns = 6;
  for (int b = 0; b < scene.bands; ++b)
    for (int r = 0; r < scene.height; ++r)
      for (int c = 0; c < fillColumns; ++c) scene.at(b, r, c) = 0.0f;
  const QString filled = path("filled.tif");
  writeRaster(filled, scene);

  RunResult r = runAlgorithm("dequnmix:estimate_endmembers", {{"INPUT", filled}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(r.outputs.value("HYSIME").toInt(), 5);
  EXPECT_EQ(r.outputs.value("HFC").toInt(), 5);  // 1 when the fill counts as pixels
  r = runAlgorithm("dequnmix:vca", {{"INPUT", filled},
                                    {"ENDMEMBERS", 5},
                                    {"SEED", 1},
                                    {"OUTPUT_ENDMEMBERS", out("vca.csv")},
                                    {"OUTPUT_LOCATIONS", out("locations.gpkg")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  QgsVectorLayer locations(out("locations.gpkg"), "locations", "ogr");
  ASSERT_TRUE(locations.isValid());
  QgsFeature f;
  QgsFeatureIterator it = locations.getFeatures();
  while (it.nextFeature(f)) EXPECT_GE(f.attribute("col").toInt(), fillColumns);
  r = runAlgorithm("dequnmix:fcls",
                   {{"INPUT", filled}, {"ENDMEMBERS", s.endmembers}, {"OUTPUT", out("a.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const RasterData a = readRaster(out("a.tif"));
  for (int row = 0; row < a.height; ++row) {
    EXPECT_EQ(a.at(0, row, fillColumns - 1), kNoData);
    EXPECT_NE(a.at(0, row, fillColumns), kNoData);
  }

  RasterData estimated = readRaster(s.abundances);
  for (int e = 0; e < estimated.bands; ++e) estimated.at(e, 3, 3) = 0.0f;
  writeRaster(path("estimated.tif"), estimated);
  r = runAlgorithm("dequnmix:evaluate",
                   {{"ABUNDANCES", path("estimated.tif")}, {"REFERENCE_ABUNDANCES", s.abundances}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_GT(r.outputs.value("ARMSE").toDouble(), 1e-3);  // 0 were that pixel left out
}

TEST_F(AlgorithmTest, BandSubsetIsUsedByVcaAndFcls) {
  const Scene s = synthesize(20, 20, 16, 3);
  const QVariantList subset{2, 4, 6, 8, 10, 12, 14, 16};
  const QString endmembers = out("vca.csv");
  RunResult r = runAlgorithm("dequnmix:vca", {{"INPUT", s.scene},
                                              {"BANDS", subset},
                                              {"ENDMEMBERS", 3},
                                              {"OUTPUT_ENDMEMBERS", endmembers}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(readSpectra(endmembers).rows.size(), 8u);
  r = runAlgorithm("dequnmix:fcls", {{"INPUT", s.scene},
                                     {"BANDS", subset},
                                     {"ENDMEMBERS", endmembers},
                                     {"OUTPUT", out("a.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  r = runAlgorithm("dequnmix:evaluate",
                   {{"ABUNDANCES", out("a.tif")}, {"REFERENCE_ABUNDANCES", s.abundances}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_LT(r.outputs.value("ARMSE").toDouble(), 0.01);
}

// A real-looking reflectance product: ENVI Int16 (reflectance x 10000, scale factor in the
// header, data ignore value), wavelengths in micrometres and a bad-band list.
TEST_F(AlgorithmTest, EnviSceneWithWavelengthsBadBandsAndScale) {
  const Scene s = synthesize(20, 20, 8, 3);
  writeEnviScene(path("envi.img"), readRaster(s.scene),
                 {450, 600, 900, 1200, 1400, 1850, 2100, 2300}, {}, {1, 1, 1, 1, 0, 0, 1, 1});
  const QString envi = path("envi.img");
  RunResult r = runAlgorithm("dequnmix:vca", {{"INPUT", envi},
                                              {"BAD_BANDS", "auto"},
                                              {"ENDMEMBERS", 3},
                                              {"OUTPUT_ENDMEMBERS", out("vca.csv")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const Spectra spectra = readSpectra(out("vca.csv"));
  ASSERT_EQ(spectra.rows.size(), 6u);  // the bbl drops bands 5 and 6
  for (const auto& row : spectra.rows)
    for (double v : row) EXPECT_LT(v, 2.0);  // reflectance, not x 10000
  EXPECT_TRUE(QString::fromUtf8(readBytes(out("vca.csv"))).contains("2100"));  // nm
  r = runAlgorithm("dequnmix:fcls", {{"INPUT", envi},
                                     {"BAD_BANDS", "auto"},
                                     {"ENDMEMBERS", out("vca.csv")},
                                     {"OUTPUT", out("a.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  r = runAlgorithm("dequnmix:evaluate",
                   {{"ABUNDANCES", out("a.tif")}, {"REFERENCE_ABUNDANCES", s.abundances}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_LT(r.outputs.value("ARMSE").toDouble(), 0.01);
  // Ranges in nm drop by wavelength, with or without a bbl.
  r = runAlgorithm("dequnmix:vca", {{"INPUT", envi},
                                    {"BAD_BANDS", "1300-1500;2200-2400"},
                                    {"ENDMEMBERS", 3},
                                    {"OUTPUT_ENDMEMBERS", out("ranges.csv")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(readSpectra(out("ranges.csv")).rows.size(), 6u);
}

TEST_F(AlgorithmTest, EstimateEndmembersFindsP) {
  const Scene s = synthesize(40, 40, 50, 5, 30.0);
  RunResult r = runAlgorithm("dequnmix:estimate_endmembers",
                             {{"INPUT", s.scene}, {"OUTPUT_TABLE", path("eigen.csv")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(r.outputs.value("ENDMEMBERS").toInt(), 5);
  EXPECT_EQ(r.outputs.value("HYSIME").toInt(), 5);
  EXPECT_GE(r.outputs.value("HFC").toInt(), 1);
  const QStringList table = QString::fromUtf8(readBytes(path("eigen.csv"))).trimmed().split('\n');
  EXPECT_EQ(table.size(), 51);  // header + one row per band
  EXPECT_TRUE(table[0].startsWith("component,signal_eigenvalue,hysime_criterion"));
  r = runAlgorithm("dequnmix:estimate_endmembers", {{"INPUT", s.scene}, {"METHOD", "hfc"}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(r.outputs.value("ENDMEMBERS").toInt(), r.outputs.value("HFC").toInt());
  // N-FINDR through the same algorithm: the pure pixels of this 30 dB scene.
  r = runAlgorithm("dequnmix:vca", {{"INPUT", s.scene},
                                    {"ENDMEMBERS", 5},
                                    {"METHOD", "nfindr"},
                                    {"OUTPUT_ENDMEMBERS", path("nfindr.csv")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  r = runAlgorithm("dequnmix:evaluate", {{"ABUNDANCES", s.abundances},
                                         {"REFERENCE_ABUNDANCES", s.abundances},
                                         {"ENDMEMBERS", path("nfindr.csv")},
                                         {"REFERENCE_ENDMEMBERS", s.endmembers}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_LT(r.outputs.value("MSAD_RAD").toDouble(), 0.05);
  // ENDMEMBERS = 0 in vca: estimated.
  r = runAlgorithm(
      "dequnmix:vca",
      {{"INPUT", s.scene}, {"ENDMEMBERS", 0}, {"OUTPUT_ENDMEMBERS", path("estimated.csv")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(readSpectra(path("estimated.csv")).names.size(), 5);
  // One material with varying brightness: no P that unmixing can use.
  RasterData flat = readRaster(s.scene);
  const size_t n = size_t(flat.width) * flat.height;
  for (int b = 0; b < flat.bands; ++b)
    for (size_t i = 0; i < n; ++i)
      flat.values[b * n + i] = (0.3f + 0.01f * float(b)) * (0.5f + 0.5f * float(i % 7) / 7.0f);
  writeRaster(path("flat.tif"), flat);
  expectFailure(
      "dequnmix:vca",
      {{"INPUT", path("flat.tif")}, {"ENDMEMBERS", 0}, {"OUTPUT_ENDMEMBERS", out("f.csv")}},
      {"NWHFC estimates", "give the number of endmembers"});
}

// An ENVI spectral library on a finer wavelength grid than the scene (every band centre and
// every midpoint): fcls resamples it to the scene's bands, and refuses one that stops short.
TEST_F(AlgorithmTest, EnviLibraryIsResampledToTheScene) {
  const Scene s = synthesize(16, 16, 10, 3);
  const Spectra reference = readSpectra(s.endmembers);
  const QStringList csv = QString::fromUtf8(readBytes(s.endmembers)).trimmed().split('\n');
  std::vector<double> centres;
  for (int b = 1; b < csv.size(); ++b) centres.push_back(csv[b].split(',')[1].toDouble());
  auto writeLibrary = [&](const QString& stem, size_t bands) {
    std::vector<double> wavelengths;
    std::vector<std::vector<float>> spectra(3);
    for (size_t b = 0; b < bands; ++b)
      for (int half = 0; half < (b + 1 < bands ? 2 : 1); ++half) {
        wavelengths.push_back(half ? (centres[b] + centres[b + 1]) / 2 : centres[b]);
        for (int e = 0; e < 3; ++e)
          spectra[e].push_back(float(half ? (reference.rows[b][e] + reference.rows[b + 1][e]) / 2
                                          : reference.rows[b][e]));
      }
    writeEnviLibrary(path(stem + ".sli"), reference.names, wavelengths, spectra);
  };
  writeLibrary("fine", centres.size());
  RunResult r = runAlgorithm(
      "dequnmix:fcls",
      {{"INPUT", s.scene}, {"ENDMEMBERS", path("fine.sli")}, {"OUTPUT", path("a.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  r = runAlgorithm("dequnmix:evaluate",
                   {{"ABUNDANCES", path("a.tif")}, {"REFERENCE_ABUNDANCES", s.abundances}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_LT(r.outputs.value("ARMSE").toDouble(), 0.01);
  writeLibrary("short", centres.size() - 2);
  expectFailure("dequnmix:fcls",
                {{"INPUT", s.scene}, {"ENDMEMBERS", path("short.sli")}, {"OUTPUT", out("b.tif")}},
                {"ENDMEMBERS", "covers", "band 9"});
}

// A library header that cannot be read is refused with the file and the field it lacks.
TEST_F(AlgorithmTest, MalformedEnviLibraryHeadersAreRefusedByName) {
  const Scene s = synthesize(12, 12, 6, 3);
  const std::vector<double> wavelengths{400, 500, 600, 700, 800, 900};
  const std::vector<std::vector<float>> spectra(3, std::vector<float>(6, 0.5f));
  auto fclsWithHeader = [&](const QString& name, const QString& from, const QString& to) {
    writeEnviLibrary(path(name + ".sli"), {"a", "b", "c"}, wavelengths, spectra);
    QString header = QString::fromUtf8(readBytes(path(name + ".hdr")));
    EXPECT_TRUE(header.contains(from)) << from.toStdString();
    writeBytes(path(name + ".hdr"), header.replace(from, to).toUtf8());
    return QVariantMap{
        {"INPUT", s.scene}, {"ENDMEMBERS", path(name + ".sli")}, {"OUTPUT", out(name + ".tif")}};
  };
  expectFailure("dequnmix:fcls", fclsWithHeader("nosamples", "samples = 6", "samples = six"),
                {"ENDMEMBERS", "nosamples.hdr", "'samples' is not a count"});
  expectFailure("dequnmix:fcls", fclsWithHeader("noenvi", "ENVI\n", "ENV\n"),
                {"ENDMEMBERS", "noenvi.hdr", "not an ENVI header"});
  expectFailure("dequnmix:fcls", fclsWithHeader("short", "800, 900", "800"),
                {"ENDMEMBERS", "lists 5 wavelengths for 6 bands"});
  expectFailure("dequnmix:fcls", fclsWithHeader("words", "500", "five hundred"),
                {"ENDMEMBERS", "'five hundred' is not a number"});
  expectFailure("dequnmix:fcls", fclsWithHeader("type", "data type = 4", "data type = 1"),
                {"ENDMEMBERS", "data type 1"});
}

// On noise-free mixtures every method recovers the abundances; on the scene scaled by 1.5
// (off the simplex) only the unconstrained sum exceeds one.
TEST_F(AlgorithmTest, AbundanceMethodsAgreeOnTheModelAndDifferOffIt) {
  const Scene s = synthesize(16, 16, 20, 3);
  RunResult r =
      runAlgorithm("dequnmix:vca",
                   {{"INPUT", s.scene}, {"ENDMEMBERS", 3}, {"OUTPUT_ENDMEMBERS", path("e.csv")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  RasterData bright = readRaster(s.scene);
  for (float& v : bright.values) v *= 1.5f;
  writeRaster(path("bright.tif"), bright);
  for (const char* method : {"fcls", "nnls", "scls", "ucls"}) {
    r = runAlgorithm("dequnmix:fcls", {{"INPUT", s.scene},
                                       {"ENDMEMBERS", path("e.csv")},
                                       {"METHOD", method},
                                       {"OUTPUT", out(QString(method) + ".tif")}});
    ASSERT_TRUE(r.ok) << r.error.toStdString();
    r = runAlgorithm("dequnmix:evaluate", {{"ABUNDANCES", out(QString(method) + ".tif")},
                                           {"REFERENCE_ABUNDANCES", s.abundances}});
    ASSERT_TRUE(r.ok) << r.error.toStdString();
    EXPECT_LT(r.outputs.value("ARMSE").toDouble(), 0.01) << method;
    r = runAlgorithm("dequnmix:fcls", {{"INPUT", path("bright.tif")},
                                       {"ENDMEMBERS", path("e.csv")},
                                       {"METHOD", method},
                                       {"OUTPUT", path(QString("bright_") + method + ".tif")}});
    ASSERT_TRUE(r.ok) << r.error.toStdString();
    const RasterData a = readRaster(path(QString("bright_") + method + ".tif"));
    const size_t n = size_t(a.width) * a.height;
    double sum = 0;
    for (float v : a.values) sum += v;
    sum /= double(n);
    if (QString(method) == "fcls" || QString(method) == "scls")
      EXPECT_NEAR(sum, 1.0, 1e-4) << method;
    else
      EXPECT_NEAR(sum, 1.5, 1e-2) << method;
  }
}

namespace {

// A netCDF file holding two variables, so that the scene is a subdataset:
// "reflectance" (band, y, x) with the raster's values and a single-band "mask".
void writeNetcdfWithTwoVariables(const QString& path, const RasterData& r) {
  GDALDriverH driver = GDALGetDriverByName("netCDF");
  ASSERT_NE(driver, nullptr);
  GDALDatasetH ds = GDALCreateMultiDimensional(driver, path.toUtf8().constData(), nullptr, nullptr);
  ASSERT_NE(ds, nullptr);
  GDALGroupH root = GDALDatasetGetRootGroup(ds);
  GDALDimensionH dims[3] = {
      GDALGroupCreateDimension(root, "band", nullptr, nullptr, r.bands, nullptr),
      GDALGroupCreateDimension(root, "y", nullptr, nullptr, r.height, nullptr),
      GDALGroupCreateDimension(root, "x", nullptr, nullptr, r.width, nullptr)};
  GDALExtendedDataTypeH type = GDALExtendedDataTypeCreate(GDT_Float32);
  GDALMDArrayH reflectance = GDALGroupCreateMDArray(root, "reflectance", 3, dims, type, nullptr);
  GDALMDArrayH mask = GDALGroupCreateMDArray(root, "mask", 2, dims + 1, type, nullptr);
  const GUInt64 start[3] = {0, 0, 0};
  const size_t count[3] = {size_t(r.bands), size_t(r.height), size_t(r.width)};
  EXPECT_TRUE(GDALMDArrayWrite(reflectance, start, count, nullptr, nullptr, type, r.values.data(),
                               nullptr, 0));
  const std::vector<float> ones(size_t(r.width) * r.height, 1.0f);
  EXPECT_TRUE(
      GDALMDArrayWrite(mask, start, count + 1, nullptr, nullptr, type, ones.data(), nullptr, 0));
  GDALMDArrayRelease(reflectance);
  GDALMDArrayRelease(mask);
  GDALExtendedDataTypeRelease(type);
  for (GDALDimensionH d : dims) GDALDimensionRelease(d);
  GDALGroupRelease(root);
  GDALClose(ds);
}

}  // namespace

// Any GDAL raster is an input: a VRT over the GeoTIFF and a netCDF subdataset give the
// GeoTIFF's abundances (GDAL reads a netCDF grid without georeferencing bottom-up, so its
// rows come in reverse order).
TEST_F(AlgorithmTest, VrtAndNetcdfSubdatasetInputs) {
  const Scene s = synthesize(16, 16, 12, 3);
  ASSERT_TRUE(
      runAlgorithm("dequnmix:vca",
                   {{"INPUT", s.scene}, {"ENDMEMBERS", 3}, {"OUTPUT_ENDMEMBERS", path("e.csv")}})
          .ok);
  GDALDatasetH tif = GDALOpen(s.scene.toUtf8().constData(), GA_ReadOnly);
  char* vrtArgs[] = {const_cast<char*>("-of"), const_cast<char*>("VRT"), nullptr};
  GDALTranslateOptions* options = GDALTranslateOptionsNew(vrtArgs, nullptr);
  GDALClose(GDALTranslate(path("scene.vrt").toUtf8().constData(), tif, options, nullptr));
  GDALTranslateOptionsFree(options);
  GDALClose(tif);
  writeNetcdfWithTwoVariables(path("scene.nc"), readRaster(s.scene));
  const QString subdataset = QStringLiteral("NETCDF:\"%1\":reflectance").arg(path("scene.nc"));
  const RasterData reference = [&] {
    EXPECT_TRUE(runAlgorithm("dequnmix:fcls", {{"INPUT", s.scene},
                                               {"ENDMEMBERS", path("e.csv")},
                                               {"OUTPUT", path("tif.tif")}})
                    .ok);
    return readRaster(path("tif.tif"));
  }();
  int k = 0;
  for (const QString& input : {path("scene.vrt"), subdataset}) {
    const QString output = path(QStringLiteral("out%1.tif").arg(k++));
    const RunResult r = runAlgorithm(
        "dequnmix:fcls", {{"INPUT", input}, {"ENDMEMBERS", path("e.csv")}, {"OUTPUT", output}});
    ASSERT_TRUE(r.ok) << input.toStdString() << ": " << r.error.toStdString();
    const RasterData a = readRaster(output);
    ASSERT_EQ(a.values.size(), reference.values.size()) << input.toStdString();
    const bool bottomUp = input == subdataset;
    double worst = 0;
    for (int band = 0; band < a.bands; ++band)
      for (int row = 0; row < a.height; ++row)
        for (int col = 0; col < a.width; ++col) {
          const float expected = reference.at(band, bottomUp ? a.height - 1 - row : row, col);
          worst = std::max(worst, double(std::abs(a.at(band, row, col) - expected)));
        }
    EXPECT_LT(worst, 1e-5) << input.toStdString();
  }
}

TEST_F(AlgorithmTest, PpiCountsPeakAtThePurePixels) {
  const Scene s = synthesize(24, 24, 30, 3, 40.0);
  const RunResult r = runAlgorithm(
      "dequnmix:ppi", {{"INPUT", s.scene}, {"SKEWERS", 200}, {"OUTPUT", out("ppi.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  const RasterData counts = readRaster(out("ppi.tif"));
  const RasterData truth = readRaster(s.abundances);
  ASSERT_EQ(counts.bands, 1);
  double total = 0, nearPure = 0;
  for (int row = 0; row < counts.height; ++row)
    for (int col = 0; col < counts.width; ++col) {
      const double c = counts.at(0, row, col);
      double largest = 0;
      for (int e = 0; e < 3; ++e) largest = std::max(largest, double(truth.at(e, row, col)));
      total += c;
      if (largest > 0.9) nearPure += c;
    }
  EXPECT_EQ(total, 400);  // two extremes per skewer
  EXPECT_GT(nearPure, 0.9 * total);
}

// A spectral library kept as a GeoPackage layer (one feature per spectrum, a name and a JSON
// profile with wavelengths in micrometres) is an ENDMEMBERS input like a CSV.
TEST_F(AlgorithmTest, GeoPackageSpectralLibraryIsAnEndmemberInput) {
  const Scene s = synthesize(16, 16, 10, 3);
  const Spectra reference = readSpectra(s.endmembers);
  const QStringList csv = QString::fromUtf8(readBytes(s.endmembers)).trimmed().split('\n');
  auto writeLibrary = [&](const QString& file, bool withProfiles) {
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GPKG"), file.toUtf8().constData(), 0, 0, 0,
                                 GDT_Unknown, nullptr);
    ASSERT_NE(ds, nullptr);
    OGRLayerH layer = GDALDatasetCreateLayer(ds, "profiles", nullptr, wkbNone, nullptr);
    for (const char* field : {"name", "profiles"}) {
      OGRFieldDefnH definition = OGR_Fld_Create(field, OFTString);
      OGR_L_CreateField(layer, definition, TRUE);
      OGR_Fld_Destroy(definition);
    }
    for (int e = 0; e < 3; ++e) {
      QStringList x, y;
      for (int b = 1; b < csv.size(); ++b) {
        x << QString::number(csv[b].split(',')[1].toDouble() / 1000.0, 'g', 12);
        y << QString::number(reference.rows[b - 1][e], 'g', 9);
      }
      const QString json = QStringLiteral("{\"x\": [%1], \"y\": [%2], \"xUnit\": \"micrometers\"}")
                               .arg(x.join(","), y.join(","));
      OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(layer));
      OGR_F_SetFieldString(f, 0, reference.names[e].toUtf8().constData());
      OGR_F_SetFieldString(f, 1, withProfiles ? json.toUtf8().constData() : "no spectrum");
      EXPECT_EQ(OGR_L_CreateFeature(layer, f), OGRERR_NONE);
      OGR_F_Destroy(f);
    }
    GDALClose(ds);
  };
  writeLibrary(path("library.gpkg"), true);
  RunResult r = runAlgorithm(
      "dequnmix:fcls",
      {{"INPUT", s.scene}, {"ENDMEMBERS", path("library.gpkg")}, {"OUTPUT", path("a.tif")}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_EQ(readRaster(path("a.tif")).descriptions[0], reference.names[0].toStdString());
  r = runAlgorithm("dequnmix:evaluate",
                   {{"ABUNDANCES", path("a.tif")}, {"REFERENCE_ABUNDANCES", s.abundances}});
  ASSERT_TRUE(r.ok) << r.error.toStdString();
  EXPECT_LT(r.outputs.value("ARMSE").toDouble(), 0.01);
  writeLibrary(path("broken.gpkg"), false);
  expectFailure("dequnmix:fcls",
                {{"INPUT", s.scene}, {"ENDMEMBERS", path("broken.gpkg")}, {"OUTPUT", out("b.tif")}},
                {"ENDMEMBERS", "holds no spectrum"});
}

TEST_F(AlgorithmTest, BadBandsErrorsNameTheProblem) {
  const Scene s = synthesize(12, 12, 8, 3);
  RasterData plain = readRaster(s.scene);
  plain.descriptions.assign(8, "");
  writeRaster(path("plain.tif"), plain);  // no wavelengths at all
  const QVariantMap base{{"ENDMEMBERS", 3}, {"OUTPUT_ENDMEMBERS", out("e.csv")}};
  auto with = [&](const QString& input, const QString& badBands) {
    QVariantMap p = base;
    p.insert("INPUT", input);
    p.insert("BAD_BANDS", badBands);
    return p;
  };
  expectFailure("dequnmix:vca", with(path("plain.tif"), "auto"),
                {"BAD_BANDS", "wavelengths", "states none", "BANDS"});
  expectFailure("dequnmix:vca", with(s.scene, "1340-1450;2500-2400"),
                {"BAD_BANDS", "'2500-2400'", "1340-1450"});
  expectFailure("dequnmix:vca", with(s.scene, "300-3000"), {"BAD_BANDS", "drops every band"});
}

// ------------------------------------------------------------------------ background task

namespace {
struct TaskOutcome {
  bool finished = false;
  bool ok = false;
  QVariantMap results;
};

TaskOutcome runAsTask(const QString& id, const QVariantMap& parameters) {
  TaskOutcome outcome;
  QgsProcessingContext context;
  QgsProcessingFeedback feedback;
  const QgsProcessingAlgorithm* algorithm = QgsApplication::processingRegistry()->algorithmById(id);
  auto* task = new QgsProcessingAlgRunnerTask(algorithm, parameters, context, &feedback);
  QObject::connect(task, &QgsTask::taskTerminated, [&outcome]() {
    outcome.finished = true;
    outcome.ok = false;
  });
  QObject::connect(task, &QgsProcessingAlgRunnerTask::executed,
                   [&outcome](bool ok, const QVariantMap& results) {
                     outcome.finished = true;
                     outcome.ok = ok;
                     outcome.results = results;
                   });
  if (feedback.isCanceled()) {
    // prepareAlgorithm() failed (as the toolbox dialog checks before queuing the task).
    delete task;
    outcome.finished = true;
    return outcome;
  }
  QgsApplication::taskManager()->addTask(task);
  QElapsedTimer timer;
  timer.start();
  while (!outcome.finished && timer.elapsed() < 120000) {
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    QThread::msleep(2);
  }
  // Let the task manager delete the task before the context goes away.
  while (QgsApplication::taskManager()->countActiveTasks() > 0 && timer.elapsed() < 130000) {
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
  }
  QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
  return outcome;
}
}  // namespace

TEST_F(AlgorithmTest, RunsAsBackgroundTask) {
  const Scene s = synthesize(24, 24, 12, 3);
  TaskOutcome t =
      runAsTask("dequnmix:vca",
                {{"INPUT", s.scene}, {"ENDMEMBERS", 3}, {"OUTPUT_ENDMEMBERS", out("vca.csv")}});
  ASSERT_TRUE(t.finished);
  ASSERT_TRUE(t.ok);
  t = runAsTask("dequnmix:fcls", {{"INPUT", s.scene},
                                  {"ENDMEMBERS", out("vca.csv")},
                                  {"OUTPUT", out("a.tif")},
                                  {"OUTPUT_RESIDUAL", out("rmse.tif")}});
  ASSERT_TRUE(t.finished);
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.results.value("OUTPUT").toString(), out("a.tif"));
  EXPECT_TRUE(QFile::exists(out("rmse.tif")));
  t = runAsTask("dequnmix:evaluate", {{"ABUNDANCES", out("a.tif")},
                                      {"REFERENCE_ABUNDANCES", s.abundances},
                                      {"ENDMEMBERS", out("vca.csv")},
                                      {"REFERENCE_ENDMEMBERS", s.endmembers}});
  ASSERT_TRUE(t.finished);
  ASSERT_TRUE(t.ok);
  EXPECT_LT(t.results.value("ARMSE").toDouble(), 0.01);
  EXPECT_LT(t.results.value("MSAD_RAD").toDouble(), 0.01);
}

TEST_F(AlgorithmTest, FailingBackgroundTaskReportsFailure) {
  const TaskOutcome t = runAsTask("dequnmix:fcls", {{"INPUT", path("missing.tif")},
                                                    {"ENDMEMBERS", path("missing.csv")},
                                                    {"OUTPUT", out("a.tif")}});
  ASSERT_TRUE(t.finished);
  EXPECT_FALSE(t.ok);
  EXPECT_TRUE(outputs().isEmpty());
}

// ------------------------------------------------------------------------ bad input

// Every bad input: a QgsProcessingException naming the problem, nothing in out/
// (FolderTest::expectFailure).
class BadInputTest : public AlgorithmTest {};

// Spectra without wavelengths must have one row per band used (with wavelengths they are
// resampled instead: EnviLibraryIsResampledToTheScene).
TEST_F(BadInputTest, CsvBandCountDiffersFromRaster) {
  const Scene s = synthesize(16, 16, 12, 3);
  const Scene other = synthesize(16, 16, 10, 3, 0.0, true, "other");
  auto withoutWavelengths = [&](const QString& from, const QString& to) {
    QStringList lines;
    for (const QString& line : QString::fromUtf8(readBytes(from)).trimmed().split('\n')) {
      QStringList cells = line.split(',');
      cells.removeAt(1);
      lines << cells.join(',');
    }
    writeText(to, lines.join('\n') + "\n");
  };
  withoutWavelengths(other.endmembers, path("other_bare.csv"));
  withoutWavelengths(s.endmembers, path("bare.csv"));
  expectFailure(
      "dequnmix:fcls",
      {{"INPUT", s.scene}, {"ENDMEMBERS", path("other_bare.csv")}, {"OUTPUT", out("a.tif")}},
      {"ENDMEMBERS", "10", "12", "BANDS"});
  // ... or from the band subset.
  expectFailure("dequnmix:fcls",
                {{"INPUT", s.scene},
                 {"BANDS", QVariantList{1, 2, 3}},
                 {"ENDMEMBERS", path("bare.csv")},
                 {"OUTPUT", out("a.tif")}},
                {"ENDMEMBERS", "12", "3", "BANDS"});
}

TEST_F(BadInputTest, NonNumericCsv) {
  const Scene s = synthesize(16, 16, 4, 2);
  writeText(path("bad.csv"), "band,a,b\n1,0.1,0.2\n2,0.3,oops\n3,0.1,0.2\n4,0.3,0.4\n");
  expectFailure("dequnmix:fcls",
                {{"INPUT", s.scene}, {"ENDMEMBERS", path("bad.csv")}, {"OUTPUT", out("a.tif")}},
                {"ENDMEMBERS", "bad.csv"});
}

TEST_F(BadInputTest, RaggedCsv) {
  const Scene s = synthesize(16, 16, 4, 2);
  writeText(path("ragged.csv"), "band,a,b\n1,0.1,0.2\n2,0.3\n3,0.1,0.2\n4,0.3,0.4\n");
  expectFailure("dequnmix:fcls",
                {{"INPUT", s.scene}, {"ENDMEMBERS", path("ragged.csv")}, {"OUTPUT", out("a.tif")}},
                {"ENDMEMBERS", "ragged.csv"});
}

TEST_F(BadInputTest, TooFewOrTooManyEndmembers) {
  const Scene s = synthesize(16, 16, 6, 2);
  expectFailure("dequnmix:vca",
                {{"INPUT", s.scene}, {"ENDMEMBERS", 1}, {"OUTPUT_ENDMEMBERS", out("e.csv")}},
                {"ENDMEMBERS"});
  expectFailure("dequnmix:vca",
                {{"INPUT", s.scene}, {"ENDMEMBERS", 6}, {"OUTPUT_ENDMEMBERS", out("e.csv")}},
                {"ENDMEMBERS", "6"});
  expectFailure("dequnmix:synthesize",
                {{"BANDS", 5},
                 {"ENDMEMBERS", 5},
                 {"OUTPUT", out("s.tif")},
                 {"OUTPUT_ABUNDANCES", out("a.tif")},
                 {"OUTPUT_ENDMEMBERS", out("e.csv")}},
                {"ENDMEMBERS", "BANDS"});
  writeText(path("one.csv"), "band,a\n1,0.1\n2,0.3\n3,0.1\n4,0.3\n5,0.2\n6,0.1\n");
  expectFailure("dequnmix:fcls",
                {{"INPUT", s.scene}, {"ENDMEMBERS", path("one.csv")}, {"OUTPUT", out("a.tif")}},
                {"ENDMEMBERS", "2"});
}

TEST_F(BadInputTest, AllNodataRaster) {
  RasterData r;
  r.width = 8;
  r.height = 8;
  r.bands = 5;
  r.values.assign(8 * 8 * 5, -5.0f);
  r.nodata.assign(5, -5.0);
  writeRaster(path("empty.tif"), r);
  expectFailure(
      "dequnmix:vca",
      {{"INPUT", path("empty.tif")}, {"ENDMEMBERS", 2}, {"OUTPUT_ENDMEMBERS", out("e.csv")}},
      {"no valid pixel", "nodata"});
  writeText(path("e.csv"), "band,a,b\n1,0.1,0.2\n2,0.3,0.1\n3,0.1,0.2\n4,0.3,0.4\n5,0.1,0.9\n");
  expectFailure(
      "dequnmix:fcls",
      {{"INPUT", path("empty.tif")}, {"ENDMEMBERS", path("e.csv")}, {"OUTPUT", out("a.tif")}},
      {"no valid pixel"});
}

TEST_F(BadInputTest, MissingRaster) {
  expectFailure(
      "dequnmix:vca",
      {{"INPUT", path("nowhere.tif")}, {"ENDMEMBERS", 2}, {"OUTPUT_ENDMEMBERS", out("e.csv")}},
      {"INPUT"});
  const Scene s = synthesize(8, 8, 4, 2);
  expectFailure("dequnmix:evaluate",
                {{"ABUNDANCES", path("nowhere.tif")}, {"REFERENCE_ABUNDANCES", s.abundances}},
                {"ABUNDANCES"});
}

TEST_F(BadInputTest, SingleBandRaster) {
  RasterData r;
  r.width = 8;
  r.height = 8;
  r.bands = 1;
  r.values.assign(64, 0.5f);
  writeRaster(path("single.tif"), r);
  expectFailure(
      "dequnmix:vca",
      {{"INPUT", path("single.tif")}, {"ENDMEMBERS", 2}, {"OUTPUT_ENDMEMBERS", out("e.csv")}},
      {"single band"});
  writeText(path("e.csv"), "band,a,b\n1,0.1,0.2\n");
  expectFailure(
      "dequnmix:fcls",
      {{"INPUT", path("single.tif")}, {"ENDMEMBERS", path("e.csv")}, {"OUTPUT", out("a.tif")}},
      {"single band"});
  expectFailure("dequnmix:evaluate",
                {{"ABUNDANCES", path("single.tif")}, {"REFERENCE_ABUNDANCES", path("single.tif")}},
                {"single band"});
  // A one-band subset of a multi-band raster.
  const Scene s = synthesize(8, 8, 4, 2);
  expectFailure("dequnmix:vca",
                {{"INPUT", s.scene},
                 {"BANDS", QVariantList{2}},
                 {"ENDMEMBERS", 2},
                 {"OUTPUT_ENDMEMBERS", out("e.csv")}},
                {"BANDS", "single band"});
}

TEST_F(BadInputTest, UnwritableOutputPath) {
  const Scene s = synthesize(16, 16, 6, 2);
  writeText(out("file"), "not a folder");
  const QString bad = out("file/sub/a.tif");  // under a regular file: never writable
  const RunResult r = runAlgorithm(
      "dequnmix:fcls", {{"INPUT", s.scene}, {"ENDMEMBERS", s.endmembers}, {"OUTPUT", bad}});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.contains(bad)) << r.error.toStdString();
  EXPECT_TRUE(r.error.contains("writable")) << r.error.toStdString();
  EXPECT_EQ(outputs(), QStringList{"file"});
  const RunResult v = runAlgorithm(
      "dequnmix:vca",
      {{"INPUT", s.scene}, {"ENDMEMBERS", 2}, {"OUTPUT_ENDMEMBERS", out("file/e.csv")}});
  EXPECT_FALSE(v.ok);
  EXPECT_FALSE(v.error.isEmpty());
  const RunResult y = runAlgorithm("dequnmix:synthesize", {{"WIDTH", 8},
                                                           {"HEIGHT", 8},
                                                           {"BANDS", 6},
                                                           {"ENDMEMBERS", 2},
                                                           {"OUTPUT", out("ok.tif")},
                                                           {"OUTPUT_ABUNDANCES", bad},
                                                           {"OUTPUT_ENDMEMBERS", out("ok.csv")}});
  EXPECT_FALSE(y.ok);
  EXPECT_TRUE(y.error.contains(bad)) << y.error.toStdString();
  EXPECT_EQ(outputs(), QStringList{"file"});  // the writable outputs were not left either
}

TEST_F(BadInputTest, CancelInTheMiddle) {
  const Scene s = synthesize(64, 256, 20, 3);  // several tiles of rows
  auto cancelOnProgress = [](CapturingFeedback& feedback) {
    QObject::connect(&feedback, &QgsFeedback::progressChanged, [&feedback](double progress) {
      if (progress > 0.0 && progress < 100.0) feedback.cancel();
    });
  };
  {
    CapturingFeedback feedback;
    cancelOnProgress(feedback);
    expectFailure("dequnmix:fcls",
                  {{"INPUT", s.scene},
                   {"ENDMEMBERS", s.endmembers},
                   {"OUTPUT", out("a.tif")},
                   {"OUTPUT_RESIDUAL", out("r.tif")}},
                  {"Canceled"}, &feedback);
  }
  {
    CapturingFeedback feedback;
    cancelOnProgress(feedback);
    expectFailure("dequnmix:vca",
                  {{"INPUT", s.scene}, {"ENDMEMBERS", 3}, {"OUTPUT_ENDMEMBERS", out("e.csv")}},
                  {"Canceled"}, &feedback);
  }
  {
    CapturingFeedback feedback;
    cancelOnProgress(feedback);
    expectFailure("dequnmix:synthesize",
                  {{"WIDTH", 32},
                   {"HEIGHT", 32},
                   {"BANDS", 10},
                   {"ENDMEMBERS", 3},
                   {"OUTPUT", out("s.tif")},
                   {"OUTPUT_ABUNDANCES", out("a.tif")},
                   {"OUTPUT_ENDMEMBERS", out("e.csv")}},
                  {"Canceled"}, &feedback);
  }
}

TEST_F(BadInputTest, MismatchedEvaluationInputs) {
  const Scene a = synthesize(16, 16, 8, 3, 0.0, true, "a");
  const Scene b = synthesize(12, 16, 8, 3, 0.0, true, "b");
  const Scene c = synthesize(16, 16, 8, 2, 0.0, true, "c");
  expectFailure("dequnmix:evaluate",
                {{"ABUNDANCES", a.abundances}, {"REFERENCE_ABUNDANCES", b.abundances}}, {"pixels"});
  expectFailure("dequnmix:evaluate",
                {{"ABUNDANCES", a.abundances}, {"REFERENCE_ABUNDANCES", c.abundances}}, {"bands"});
  expectFailure("dequnmix:evaluate",
                {{"ABUNDANCES", a.abundances},
                 {"REFERENCE_ABUNDANCES", a.abundances},
                 {"ENDMEMBERS", a.endmembers},
                 {"REFERENCE_ENDMEMBERS", c.endmembers},
                 {"OUTPUT_TABLE", out("t.csv")}},
                {"REFERENCE_ENDMEMBERS", "2"});
}

TEST_F(BadInputTest, BandSubsetOutOfRange) {
  const Scene s = synthesize(8, 8, 6, 2);
  expectFailure("dequnmix:vca",
                {{"INPUT", s.scene},
                 {"BANDS", QVariantList{1, 2, 9}},
                 {"ENDMEMBERS", 2},
                 {"OUTPUT_ENDMEMBERS", out("e.csv")}},
                {"BANDS", "9"});
}

}  // namespace
