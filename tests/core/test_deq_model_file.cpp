// DEQ-Unmix model file: round trip and every error case (plain C++, no LibTorch include).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "core/deq/deq_unmix.h"
#include "core/deq/option_fields.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

DeqModel sampleModel() {
  DeqModel m;
  m.bands = 4;
  m.sourceBands = 6;
  m.bandSubset = {1, 2, 4, 6};
  m.wavelengths = {400, 500, 600, 700};
  m.endmembers.names = {"rock", "tree", "water"};
  m.endmembers.bands = 4;
  m.endmembers.wavelengths = m.wavelengths;
  m.endmembers.values = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 1.1f, 1.2f};
  m.initialEndmembers = m.endmembers;
  m.inputScale = 2.5;
  m.network.hiddenChannels = 2;
  m.network.hiddenLayers = 0;
  m.network.scaleInvariance = ScaleInvariance::Off;
  m.solver.maxIterations = 42;
  m.weights = {{"conv0.weight", {2, 7, 1, 1}, std::vector<float>(14, 0.25f)},
               {"conv0.bias", {2}, {0.5f, -0.5f}},
               {"conv1.weight", {3, 2, 3, 3}, std::vector<float>(54, -0.125f)},
               {"conv1.bias", {3}, {0, 0, 0}},
               {"eta", {}, {0.54f}}};
  m.hyperparameters = {{"epochs", "10"}, {"gradient", "implicit"}};
  m.summary.epochs = 10;
  m.summary.finalLoss = 0.01;
  m.lossHistory = {0.1, 0.05, 0.01};
  m.torchVersion = "1.13.1";
  m.coreVersion = "test";
  return m;
}

std::string dataFile(const std::string& name) {
  return std::string(DEQUNMIX_TEST_DATA_DIR) + "/" + name;
}

TEST(DeqModelFile, RoundTripKeepsEverything) {
  const DeqModel m = sampleModel();
  const std::string path = ::testing::TempDir() + "/deq_roundtrip.dequnmix";
  saveDeqModel(path, m);
  const DeqModel r = loadDeqModel(path);
  EXPECT_EQ(r.bands, 4);
  EXPECT_EQ(r.sourceBands, 6);
  EXPECT_EQ(r.bandSubset, m.bandSubset);
  EXPECT_EQ(r.wavelengths, m.wavelengths);
  EXPECT_EQ(r.endmembers.names, m.endmembers.names);
  EXPECT_EQ(r.endmembers.values, m.endmembers.values);
  EXPECT_EQ(r.inputScale, 2.5);
  EXPECT_EQ(r.solver.maxIterations, 42);
  ASSERT_EQ(r.weights.size(), m.weights.size());
  for (size_t i = 0; i < m.weights.size(); ++i) {
    EXPECT_EQ(r.weights[i].name, m.weights[i].name);
    EXPECT_EQ(r.weights[i].shape, m.weights[i].shape);
    EXPECT_EQ(r.weights[i].values, m.weights[i].values);
  }
  EXPECT_EQ(r.hyperparameters, m.hyperparameters);
  EXPECT_EQ(r.lossHistory, m.lossHistory);
  EXPECT_EQ(r.torchVersion, "1.13.1");
  std::remove(path.c_str());
}

TEST(DeqModelFile, SpatialProxSettingsRoundTripAndOlderFilesReadAsNeighbourhood) {
  // Older (version 1) files without spatial prox tensors: 3 x 3 neighbourhood, weight 0.
  const DeqModel older = loadDeqModel(dataFile("model_v1_plain.dequnmix"));
  EXPECT_EQ(older.network.spatialProx, "neighbourhood");
  EXPECT_EQ(older.network.spatialWeight, 0.0);

  DeqModel m = sampleModel();
  m.network.spatialWeight = 0.05;
  m.network.spatialProx = "superpixel";
  m.network.superpixelSize = 9;
  const std::string path = ::testing::TempDir() + "/deq_superpixel_roundtrip.dequnmix";
  saveDeqModel(path, m);
  const DeqModel r = loadDeqModel(path);
  std::remove(path.c_str());
  EXPECT_EQ(r.network.spatialProx, "superpixel");
  EXPECT_EQ(r.network.superpixelSize, 9);
  EXPECT_EQ(r.network.spatialWeight, 0.05);
  EXPECT_EQ(r.weights.size(), m.weights.size());

  // The model runs with them (4 bands, 8 x 8 pixels; without a stored SLIC feature
  // transform, as in files saved before it was, each tile window uses its own), and
  // out-of-range values are refused when the file is read, naming the field.
  std::vector<float> scene(4 * 8 * 8);
  test::Fixtures fx(4);
  for (float& v : scene) v = float(fx.uniform(0.1, 1));
  const DeqInferResult a = unmixSceneWithDeqModel(r, scene, 8, 8);
  EXPECT_EQ(a.abundances.size(), 3u * 8 * 8);
  auto expectCorruptFile = [](const DeqModel& bad, std::vector<std::string> words) {
    test::expectThrowWith<ModelCorruptError>([&] { deserializeDeqModel(serializeDeqModel(bad)); },
                                             words);
  };
  DeqModel bad = r;
  bad.network.spatialProx = "3";
  expectCorruptFile(bad, {"spatial_prox", "neighbourhood or superpixel"});
  bad = r;
  bad.network.superpixelSize = 1;
  expectCorruptFile(bad, {"superpixel_size", "2..1000"});

  // The SLIC feature transform of the training scene round-trips, runs, and is checked:
  // all three tensors, shapes [bands], [bands, k], [1], finite, spread >= 0.
  DeqModel t = r;
  t.weights.push_back({"superpixel_mean", {4}, {0.5f, 0.5f, 0.5f, 0.5f}});
  t.weights.push_back({"superpixel_basis", {4, 2}, {1, 0, 0, 1, 0, 0, 0, 0}});
  t.weights.push_back({"superpixel_spread", {1}, {0.3f}});
  const DeqModel tr = deserializeDeqModel(serializeDeqModel(t));
  ASSERT_EQ(tr.weights.size(), t.weights.size());
  EXPECT_EQ(tr.weights.back().values, std::vector<float>{0.3f});
  EXPECT_EQ(unmixSceneWithDeqModel(tr, scene, 8, 8).abundances.size(), 3u * 8 * 8);
  auto expectCorrupt = [&](const DeqModel& m, std::vector<std::string> words) {
    test::expectThrowWith<ModelCorruptError>([&] { unmixSceneWithDeqModel(m, scene, 8, 8); },
                                             words);
  };
  auto tensor = [](DeqModel& m, const std::string& name) -> DeqTensor& {
    for (DeqTensor& d : m.weights)
      if (d.name == name) return d;
    throw std::logic_error("no tensor " + name);
  };
  bad = tr;
  bad.weights.pop_back();
  expectCorrupt(bad, {"superpixel_spread", "together"});
  bad = tr;
  tensor(bad, "superpixel_basis").shape = {2, 4};
  expectCorrupt(bad, {"superpixel_basis", "[4, k]"});
  bad = tr;
  tensor(bad, "superpixel_mean").shape = {1, 4};
  expectCorrupt(bad, {"superpixel_mean", "[4]"});
  bad = tr;
  tensor(bad, "superpixel_basis").values[0] = NAN;
  expectCorrupt(bad, {"superpixel_basis", "not finite"});
  bad = tr;
  tensor(bad, "superpixel_spread").values = {-1.0f};
  expectCorrupt(bad, {"superpixel_spread", ">= 0"});
  bad = tr;
  bad.network.spatialProx = "neighbourhood";
  expectCorrupt(bad, {"superpixel_mean", "spatial_prox"});

  DeqNetworkOptions named;
  for (const char* prox : {"neighbourhood", "superpixel"}) {
    named.spatialProx = prox;
    EXPECT_NO_THROW(named.validate("network"));
  }
  named.spatialProx = "slic";
  test::expectThrowWith<InvalidArgument>([&] { named.validate("network"); },
                                         {"slic", "neighbourhood or superpixel"});
}

TEST(DeqModelFile, WrongMagicVersionTruncationAndCorruptionHaveSpecificErrors) {
  const std::vector<uint8_t> good = serializeDeqModel(sampleModel());
  EXPECT_NO_THROW(deserializeDeqModel(good));

  std::vector<uint8_t> b = good;
  b[0] = 'X';
  EXPECT_THROW(deserializeDeqModel(b), ModelFormatError);
  EXPECT_THROW(deserializeDeqModel({}), ModelFormatError);
  const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 0};
  EXPECT_THROW(deserializeDeqModel(png), ModelFormatError);

  b = good;
  b[8] = 99;  // format version
  EXPECT_THROW(deserializeDeqModel(b), ModelVersionError);
  test::expectThrowWith<ModelVersionError>([&] { deserializeDeqModel(b); },
                                           {"version 99", "made by a newer deq-unmix", "update"});

  for (size_t cut : {size_t(5), size_t(15), good.size() / 2, good.size() - 1}) {
    std::vector<uint8_t> t(good.begin(), good.begin() + cut);
    EXPECT_THROW(deserializeDeqModel(t), ModelTruncatedError) << "cut at " << cut;
  }

  b = good;
  b[good.size() / 2] ^= 0x10;  // a payload byte: checksum mismatch
  EXPECT_THROW(deserializeDeqModel(b), ModelCorruptError);
  b = good;
  b.push_back(0);
  EXPECT_THROW(deserializeDeqModel(b), ModelCorruptError);
}

TEST(DeqModelFile, RandomByteCorruptionNeverCrashes) {
  const std::vector<uint8_t> good = serializeDeqModel(sampleModel());
  test::Fixtures fx(7);
  int thrown = 0;
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<uint8_t> b = good;
    const int flips = fx.integer(1, 8);
    for (int k = 0; k < flips; ++k)
      b[fx.integer(0, static_cast<int>(b.size()) - 1)] = static_cast<uint8_t>(fx.integer(0, 255));
    if (trial % 5 == 0) b.resize(fx.integer(0, static_cast<int>(b.size())));
    try {
      deserializeDeqModel(b);
    } catch (const ModelFileError&) {
      ++thrown;
    }
  }
  // Every change is caught (magic, version, size or CRC-32), except random writes that
  // happened to store the same byte value.
  EXPECT_GT(thrown, 480);
}

TEST(DeqModelFile, MissingFileIsIoErrorAndBandMismatchIsSpecific) {
  EXPECT_THROW(loadDeqModel(::testing::TempDir() + "/no_such_model.dequnmix"), IoError);
  const DeqModel m = sampleModel();
  EXPECT_NO_THROW(checkModelBands(m, 6));
  EXPECT_THROW(checkModelBands(m, 5), BandMismatchError);
  EXPECT_THROW(checkModelBands(m, 4), BandMismatchError);
  try {
    checkModelBands(m, 3);
  } catch (const BandMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("3 bands"), std::string::npos) << e.what();
  }
  // A file written by another program with the model's name: format error with the path.
  const std::string path = ::testing::TempDir() + "/not_a_model.dequnmix";
  std::ofstream(path) << "band,rock\n1,0.5\n";
  try {
    loadDeqModel(path);
    ADD_FAILURE() << "expected ModelFormatError";
  } catch (const ModelFormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  std::remove(path.c_str());
}

// The 8 x 8 scene the version-1 files' expected abundances were computed on.
std::vector<float> formulaScene() {
  std::vector<float> s(4 * 8 * 8);
  for (int b = 0; b < 4; ++b)
    for (int i = 0; i < 64; ++i)
      s[b * 64 + i] = float(0.1 + 0.9 * (0.5 + 0.5 * std::sin(0.7 * b + 0.37 * i + 0.05 * i * i)));
  return s;
}

std::vector<float> readFloats(const std::string& path) {
  std::ifstream in(path);
  std::vector<float> v;
  for (float x; in >> x;) v.push_back(x);
  return v;
}

uint32_t formatVersion(const std::vector<uint8_t>& bytes) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + 8, 4);
  return v;
}

// Files written by the version-1 writer (tests/core/data): read with their settings mapped
// to the fields, they unmix exactly as that build did, and again after saving as version 4.
TEST(DeqModelFile, Version1FilesStillLoadAndUnmixAsBefore) {
  const DeqModel plain = loadDeqModel(dataFile("model_v1_plain.dequnmix"));
  EXPECT_EQ(plain.bands, 4);
  EXPECT_EQ(plain.sourceBands, 6);
  EXPECT_EQ(plain.bandSubset, (std::vector<int>{1, 2, 4, 6}));
  EXPECT_EQ(plain.endmembers.names, (std::vector<std::string>{"rock", "tree", "water"}));
  EXPECT_EQ(plain.inputScale, 2.5);
  EXPECT_EQ(plain.network.hiddenChannels, 2);
  EXPECT_EQ(plain.network.input, DeqNetworkInput::ResidualAndAbundances);
  EXPECT_EQ(plain.solver.kind, "anderson");
  EXPECT_EQ(plain.solver.maxIterations, 42);
  EXPECT_EQ(plain.weights.size(), 5u);
  EXPECT_EQ(plain.summary.epochs, 10);
  EXPECT_EQ(plain.lossHistory, (std::vector<double>{0.1, 0.05, 0.01}));
  EXPECT_EQ(plain.torchVersion, "1.13.1");

  const DeqModel super = loadDeqModel(dataFile("model_v1_superpixel.dequnmix"));
  EXPECT_EQ(super.solver.kind, "picard");
  EXPECT_EQ(super.solver.tolerance, 1e-5);
  EXPECT_EQ(super.network.input, DeqNetworkInput::ProjectedResidualAndAbundances);
  EXPECT_EQ(super.network.spatialProx, "superpixel");
  EXPECT_EQ(super.network.superpixelSize, 3);
  EXPECT_FLOAT_EQ(float(super.network.spatialWeight), 0.05f);
  EXPECT_EQ(super.weights.size(), 8u);  // the network's and the transform, no settings

  DeqInferOptions o;
  o.threads = 1;
  // The superpixel model's Picard solve contracts slowly (49 iterations to the 1e-4
  // tolerance), so a change of rounding in the network moves its last iterate: 1.7e-3 for
  // channels-last convolutions. A setting read wrongly moves it further (input scale 1% off:
  // 6.9e-3, spatial weight 0.04 for 0.05: 0.075).
  for (auto [name, tolerance] :
       {std::pair{"model_v1_plain", 1e-6}, std::pair{"model_v1_superpixel", 3e-3}}) {
    SCOPED_TRACE(name);
    const DeqModel v1 = loadDeqModel(dataFile(std::string(name) + ".dequnmix"));
    const std::vector<float> expected = readFloats(dataFile(std::string(name) + "_abundances.txt"));
    const std::vector<float> a = unmixSceneWithDeqModel(v1, formulaScene(), 8, 8, o).abundances;
    ASSERT_EQ(a.size(), expected.size());
    EXPECT_LE(test::maxAbsDiff(a, expected), tolerance);
    const std::vector<uint8_t> resaved = serializeDeqModel(v1);
    EXPECT_EQ(formatVersion(resaved), 4u);
    const DeqModel v4 = deserializeDeqModel(resaved);
    EXPECT_EQ(v4.network.anchorWeight, 0.0);
    EXPECT_TRUE(v4.bandWeights.empty());
    EXPECT_EQ(unmixSceneWithDeqModel(v4, formulaScene(), 8, 8, o).abundances, a);
  }
}

// CRC-32 as the writer's, to craft files whose frame is intact.
void resealed(std::vector<uint8_t>& b) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 20; i + 4 < b.size(); ++i) {
    c ^= b[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  c ^= 0xFFFFFFFFu;
  std::memcpy(b.data() + b.size() - 4, &c, 4);
}

void rename(std::vector<uint8_t>& b, const std::string& from, const std::string& to) {
  auto at = std::search(b.begin(), b.end(), from.begin(), from.end());
  ASSERT_NE(at, b.end());
  std::copy(to.begin(), to.end(), at);
  resealed(b);
}

// Removes a header field (its name, type byte and value of `valueBytes`) from the writer's
// bytes.
void removeField(std::vector<uint8_t>& b, const std::string& name, size_t valueBytes) {
  std::string field(8, '\0');
  field[0] = char(name.size());
  field += name;
  auto at = std::search(b.begin(), b.end(), field.begin(), field.end());
  ASSERT_NE(at, b.end()) << name;
  b.erase(at, at + field.size() + 1 + valueBytes);
  uint64_t payload, fields;
  std::memcpy(&payload, b.data() + 12, 8);
  std::memcpy(&fields, b.data() + 20, 8);
  payload -= field.size() + 1 + valueBytes;
  --fields;
  std::memcpy(b.data() + 12, &payload, 8);
  std::memcpy(b.data() + 20, &fields, 8);
}

// A version-3 file: the writer's bytes of a model without band weights, without the field
// version 4 added.
std::vector<uint8_t> asVersion3(std::vector<uint8_t> b) {
  removeField(b, "band_weights", 8);  // the empty text
  const uint32_t version = 3;
  std::memcpy(b.data() + 8, &version, 4);
  resealed(b);
  return b;
}

// A version-2 file: the version-3 bytes without the fields version 3 added.
std::vector<uint8_t> asVersion2(std::vector<uint8_t> b) {
  b = asVersion3(b);
  removeField(b, "anchor_weight", 8);        // a float64
  removeField(b, "scale_invariant", 8 + 4);  // the text "true"
  const uint32_t version = 2;
  std::memcpy(b.data() + 8, &version, 4);
  resealed(b);
  return b;
}

// A model holds a resolved data term, written as format 3's flag so that older builds read
// it; 'auto' (a training setting) in a model is refused by inference with what to do.
TEST(DeqModelFile, ScaleInvarianceIsStoredResolved) {
  DeqModel m = sampleModel();
  for (ScaleInvariance v : {ScaleInvariance::Off, ScaleInvariance::On}) {
    m.network.scaleInvariance = v;
    EXPECT_EQ(deserializeDeqModel(serializeDeqModel(m)).network.scaleInvariance, v);
  }
  const auto fields = describeOptions(DeqTrainOptions{}, DeqInferOptions{});
  EXPECT_NE(std::find(fields.begin(), fields.end(),
                      std::make_pair(std::string("scale_invariant"), std::string("auto"))),
            fields.end());
  m.network.scaleInvariance = ScaleInvariance::Automatic;
  const DeqModel automatic = deserializeDeqModel(serializeDeqModel(m));
  EXPECT_EQ(automatic.network.scaleInvariance, ScaleInvariance::Automatic);
  test::expectThrowWith<InvalidArgument>(
      [&] {
        unmixSceneWithDeqModel(automatic, std::vector<float>(size_t(m.bands) * 16, 0.5f), 4, 4,
                               DeqInferOptions{});
      },
      {"scale invariance", "auto", "training"});
}

// Version 2 had no anchor term and only the linear data term: its files read with weight 0
// and scale invariance off, and unmix as they did; a version-3 file without them is corrupt.
TEST(DeqModelFile, Version2FilesReadWithoutTheAnchor) {
  DeqModel m = sampleModel();
  m.network.anchorWeight = 0.25;
  m.network.scaleInvariance = ScaleInvariance::On;
  const std::vector<uint8_t> v3 = serializeDeqModel(m);
  EXPECT_EQ(deserializeDeqModel(v3).network.anchorWeight, 0.25);
  EXPECT_TRUE(deserializeDeqModel(v3).network.scaleInvariant());
  const std::vector<uint8_t> v2 = asVersion2(v3);
  const DeqModel read = deserializeDeqModel(v2);
  EXPECT_EQ(read.network.anchorWeight, 0.0);
  EXPECT_FALSE(read.network.scaleInvariant());
  EXPECT_EQ(read.network.hiddenChannels, 2);
  EXPECT_EQ(read.solver.maxIterations, 42);
  std::vector<uint8_t> broken = v2;
  const uint32_t version = 3;
  std::memcpy(broken.data() + 8, &version, 4);
  test::expectThrowWith<ModelCorruptError>([&] { deserializeDeqModel(broken); },
                                           {"field 'anchor_weight' is missing"});
}

// Version 3 had no noise whitening: its files read without band weights and unmix as they
// did; a version-4 file without the field is corrupt.
TEST(DeqModelFile, Version3FilesReadWithoutBandWeights) {
  const std::vector<uint8_t> v4 = serializeDeqModel(sampleModel());
  const std::vector<uint8_t> v3 = asVersion3(v4);
  EXPECT_EQ(formatVersion(v3), 3u);
  const DeqModel read = deserializeDeqModel(v3);
  EXPECT_TRUE(read.bandWeights.empty());
  DeqInferOptions o;
  o.threads = 1;
  EXPECT_EQ(unmixSceneWithDeqModel(read, formulaScene(), 8, 8, o).abundances,
            unmixSceneWithDeqModel(deserializeDeqModel(v4), formulaScene(), 8, 8, o).abundances);
  std::vector<uint8_t> broken = v3;
  const uint32_t version = 4;
  std::memcpy(broken.data() + 8, &version, 4);
  resealed(broken);
  test::expectThrowWith<ModelCorruptError>([&] { deserializeDeqModel(broken); },
                                           {"field 'band_weights' is missing"});
}

// A whitened model unmixes a scene as the same model without weights unmixes the scene and
// the endmembers multiplied band by band by them (what training worked on); the weights are
// stored exactly, and a wrong count or a weight out of range is refused.
TEST(DeqModelFile, BandWeightsWhitenEveryTile) {
  DeqModel whitened = sampleModel();
  whitened.bandWeights = {0.5, 2.0 / 3.0, 1.0, 3.0};
  const DeqModel read = deserializeDeqModel(serializeDeqModel(whitened));
  EXPECT_EQ(read.bandWeights, whitened.bandWeights);
  DeqModel plain = sampleModel();
  std::vector<float> scene = formulaScene();
  for (int b = 0; b < 4; ++b) {
    for (int k = 0; k < 3; ++k)
      plain.endmembers.values[b * 3 + k] *= float(whitened.bandWeights[b]);
    for (int i = 0; i < 64; ++i) scene[b * 64 + i] *= float(whitened.bandWeights[b]);
  }
  DeqInferOptions o;
  o.threads = 1;
  const std::vector<float> a = unmixSceneWithDeqModel(read, formulaScene(), 8, 8, o).abundances;
  EXPECT_LE(test::maxAbsDiff(a, unmixSceneWithDeqModel(plain, scene, 8, 8, o).abundances), 1e-5);
  EXPECT_GT(test::maxAbsDiff(
                a, unmixSceneWithDeqModel(sampleModel(), formulaScene(), 8, 8, o).abundances),
            1e-3);
  DeqModel wrong = whitened;
  wrong.bandWeights.pop_back();
  test::expectThrowWith<ModelCorruptError>([&] { deserializeDeqModel(serializeDeqModel(wrong)); },
                                           {"band weight count"});
  wrong = whitened;
  wrong.bandWeights[0] = 0;
  test::expectThrowWith<ModelCorruptError>([&] { deserializeDeqModel(serializeDeqModel(wrong)); },
                                           {"band weight"});
}

TEST(DeqModelFile, HeaderFieldsUnknownTwiceOrOfTheWrongTypeAreRefused) {
  const std::vector<uint8_t> good = serializeDeqModel(sampleModel());
  std::vector<uint8_t> b = good;
  rename(b, "spatial_weight", "spatial_height");
  test::expectThrowWith<ModelVersionError>(
      [&] { deserializeDeqModel(b); }, {"'spatial_height'", "made by a newer deq-unmix", "update"});
  b = good;
  rename(b, "spatial_weight", "superpixel_siz");
  EXPECT_THROW(deserializeDeqModel(b), ModelVersionError);
  b = good;
  rename(b, "source_bands", "summary.tile");
  EXPECT_THROW(deserializeDeqModel(b), ModelVersionError);
  b = good;
  rename(b, std::string("\x0d\0\0\0\0\0\0\0hidden_layers", 21),
         std::string("\x0d\0\0\0\0\0\0\0summary.tiled", 21));
  test::expectThrowWith<ModelCorruptError>(
      [&] { deserializeDeqModel(b); },
      {"field 'summary.tiled'", "holds an integer value, expected text"});
}

TEST(DeqModelFile, DescribeOptionsListsEveryField) {
  const auto d = describeOptions(DeqTrainOptions{}, DeqInferOptions{});
  std::map<std::string, std::string> byName(d.begin(), d.end());
  EXPECT_EQ(byName.size(), d.size()) << "a name is listed twice";
  EXPECT_EQ(d.size(), trainFields().size() + networkFields().size() + 3 + inferenceFields().size());
  const std::map<std::string, std::string> expected = {
      {"refinement_min_pixels", "5"},
      {"min_volume_noise_margin", "0"},
      {"min_volume_smoothing", "1"},
      {"automatic_excess_threshold", "10"},
      {"linear_mixture_alpha", "100"},
      {"variable_brightness_alpha", "0.2"},
      {"min_endmember_value", "1e-05"},
      {"phantom_steps", "3"},
      {"phantom_damping", "0.5"},
      {"threads", "0"},
      {"device", "cpu"},
      {"train_endmembers", "false"},
      {"refinement", "auto"},
      {"warm_start_forward", "true"},
      {"warm_start_backward", "true"},
      {"jacobian_penalty", "0"},
      {"automatic_size_ratio_min", "1.09"},
      {"spatial_prox", "neighbourhood"},
      {"inference_halo", "16"},
      {"seed", "42"},
      {"forward_solver",
       "anderson max_iterations=10 tolerance=0.0001 history=0 "
       "regularization=0.001 damping=1"},
      {"inference_solver",
       "anderson max_iterations=60 tolerance=0.0001 history=0 "
       "regularization=0.001 damping=1"}};
  for (const auto& kv : expected) EXPECT_EQ(byName[kv.first], kv.second) << kv.first;
}

}  // namespace
}  // namespace dequnmix
