// DEQ-Unmix model file: round trip and every error case (plain C++, no LibTorch include).
#include <cstdio>
#include <fstream>

#include "core/deq/deq_unmix.h"
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
  // Older files carry no spatial prox tensors: 3 x 3 neighbourhood, weight 0.
  const DeqModel older = deserializeDeqModel(serializeDeqModel(sampleModel()));
  EXPECT_EQ(older.network.spatialProx, "neighbourhood");
  EXPECT_EQ(older.network.spatialWeight, 0.0);

  DeqModel m = sampleModel();
  m.weights.push_back({"spatial_weight", {1}, {0.05f}});
  m.weights.push_back({"spatial_prox", {1}, {1.0f}});
  m.weights.push_back({"superpixel_size", {1}, {9.0f}});
  const std::string path = ::testing::TempDir() + "/deq_superpixel_roundtrip.dequnmix";
  saveDeqModel(path, m);
  const DeqModel r = loadDeqModel(path);
  std::remove(path.c_str());
  EXPECT_EQ(r.network.spatialProx, "superpixel");
  EXPECT_EQ(r.network.superpixelSize, 9);
  EXPECT_FLOAT_EQ(r.network.spatialWeight, 0.05f);
  EXPECT_EQ(r.weights.size(), m.weights.size());

  // The model runs with them (4 bands, 8 x 8 pixels; without a stored SLIC feature
  // transform, as in files saved before it was, each tile window uses its own), and
  // out-of-range values are refused when the network is built.
  std::vector<float> scene(4 * 8 * 8);
  test::Fixtures fx(4);
  for (float& v : scene) v = float(fx.uniform(0.1, 1));
  const DeqInferResult a = unmixSceneWithDeqModel(r, scene, 8, 8);
  EXPECT_EQ(a.abundances.size(), 3u * 8 * 8);
  DeqModel bad = r;
  bad.weights[6].values = {3.0f};  // spatial_prox
  test::expectThrowWith<ModelCorruptError>([&] { unmixSceneWithDeqModel(bad, scene, 8, 8); },
                                           {"spatial_prox"});
  bad = r;
  bad.weights[7].values = {1.5f};  // superpixel_size
  test::expectThrowWith<ModelCorruptError>([&] { unmixSceneWithDeqModel(bad, scene, 8, 8); },
                                           {"superpixel_size"});

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
  bad = tr;
  bad.weights.pop_back();
  expectCorrupt(bad, {"superpixel_spread", "together"});
  bad = tr;
  bad.weights[9].shape = {2, 4};
  expectCorrupt(bad, {"superpixel_basis", "[4, k]"});
  bad = tr;
  bad.weights[8].shape = {1, 4};
  expectCorrupt(bad, {"superpixel_mean", "[4]"});
  bad = tr;
  bad.weights[9].values[0] = NAN;
  expectCorrupt(bad, {"superpixel_basis", "not finite"});
  bad = tr;
  bad.weights[10].values = {-1.0f};
  expectCorrupt(bad, {"superpixel_spread", ">= 0"});
  bad = tr;
  bad.weights[6].values = {0.0f};  // spatial_prox neighbourhood
  expectCorrupt(bad, {"superpixel_mean", "spatial_prox"});

  DeqNetworkOptions named;
  for (const std::string& prox : {"neighbourhood", "superpixel"}) {
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

}  // namespace
}  // namespace dequnmix
