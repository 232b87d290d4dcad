// DEQ-Unmix training (trainDeqUnmix in deq_unmix.h) as its steps: validation, the
// endmember stage, the training data, the trainer loop, the model, the final inference.
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

#include "core/data_checks.h"
#include "core/deq/deq_ops.h"
#include "core/deq/device.h"
#include "core/deq/scene_tensors.h"
#include "core/deq/trainer.h"
#include "core/deq/training_data.h"
#include "core/distributed/process_group_ops.h"
#include "core/endmembers/initial_endmembers.h"
#include "core/errors.h"

namespace dequnmix {

namespace {

void validateTrain(const DeqTrainInput& in, const DeqTrainOptions& o) {
  o.validate();
  if (in.bands < 2 || in.height < 1 || in.width < 1)
    throw InvalidArgument("training scene: needs at least 2 bands and 1 x 1 pixels");
  if (in.scene.size() != size_t(in.bands) * in.height * in.width)
    throw InvalidArgument("training scene: expected bands x height x width values");
  const int rf = o.network.receptiveField();
  if (in.height < rf || in.width < rf)
    throw InvalidArgument("training scene of " + std::to_string(in.width) + " x " +
                          std::to_string(in.height) +
                          " pixels is smaller than the network's receptive field (" +
                          std::to_string(rf) + " x " + std::to_string(rf) + ")");
  if (!in.wavelengths.empty() && int(in.wavelengths.size()) != in.bands)
    throw InvalidArgument("training scene: wavelengths must be empty or one per band");
  if (!in.bandSubset.empty()) {
    if (int(in.bandSubset.size()) != in.bands)
      throw InvalidArgument("band subset must list one raster band per scene band");
    const int source = in.sourceBands ? in.sourceBands : in.bands;
    for (int b : in.bandSubset)
      if (b < 1 || b > source)
        throw InvalidArgument("band subset names band " + std::to_string(b) +
                              ", which the raster does not have");
  }
  if (in.hasInitialEndmembers) {
    const EndmemberTable& t = in.initialEndmembers;
    if (t.bands != in.bands)
      throw InvalidArgument("initial endmembers have " + std::to_string(t.bands) +
                            " bands but the scene has " + std::to_string(in.bands));
    if (t.endmembers() < 2 || t.endmembers() >= in.bands)
      throw InvalidArgument("initial endmembers: need 2 <= endmembers < bands");
    if (t.values.size() != size_t(t.bands) * t.endmembers())
      throw InvalidArgument("initial endmembers: table values do not match its size");
    for (float v : t.values)
      if (!std::isfinite(v)) throw InvalidArgument("initial endmembers: non-finite value");
    // Identical or zero columns make the FCLS start and the refinement singular.
    const EndmemberSetCheck check = checkEndmemberSet(t);
    if (!check.errors.empty()) throw InvalidArgument("initial endmembers: " + check.errors[0]);
  } else if (o.endmembers != 0 && (o.endmembers < 2 || o.endmembers >= in.bands)) {
    throw InvalidArgument(
        "endmember count must satisfy 2 <= endmembers < bands (or be 0: "
        "estimated)");
  }
  const int P = in.hasInitialEndmembers ? in.initialEndmembers.endmembers() : o.endmembers;
  if (!in.referenceAbundances.empty() && P == 0)
    throw InvalidArgument("reference abundances need the number of endmembers (not 0)");
  if (!in.referenceAbundances.empty() &&
      in.referenceAbundances.size() != size_t(P) * in.height * in.width)
    throw InvalidArgument("reference abundances: expected " + std::to_string(P) +
                          " bands of the scene's size");
}

// The model as a plain value: settings, weights, endmembers and the run's summary.
DeqModel assembleModel(const DeqTrainInput& in, const DeqTrainOptions& o,
                       const DeqInferOptions& inference, const InitialEndmembers& init,
                       const TrainingData& data, const DeqNetwork& net,
                       const TrainerResult& trained) {
  DeqModel model;
  model.bands = in.bands;
  model.sourceBands = in.sourceBands ? in.sourceBands : in.bands;
  model.bandSubset = in.bandSubset;
  model.wavelengths = in.wavelengths;
  model.initialEndmembers = tensorTable(data.endmembers, init.names, in.wavelengths);
  model.endmembers =
      tensorTable(o.trainEndmembers ? trained.endmembers / data.scale : data.endmembers, init.names,
                  in.wavelengths);
  model.inputScale = data.scale;
  model.network = o.network;
  model.solver = inference.solver;
  model.weights = net.toTensors();
  model.hyperparameters = describeOptions(o, inference);
  model.summary.epochs = o.epochs;
  model.summary.finalLoss = trained.epochs.back().loss;
  model.summary.meanForwardIterations = trained.forward.meanIterations();
  model.summary.convergedFraction = trained.forward.convergedFraction();
  model.summary.supervised = !in.referenceAbundances.empty();
  model.summary.tiled = trained.tiled;
  for (const auto& e : trained.epochs) model.lossHistory.push_back(e.loss);
  model.torchVersion = TORCH_VERSION;
  model.coreVersion = "dequnmix-core 0.1.0";
  return model;
}

// A model trained on whitened bands: its endmember tables back in data units, and the
// weights that unmix applies to every tile.
void unwhitenModel(const std::vector<double>& weights, DeqModel& model) {
  model.bandWeights = weights;
  for (EndmemberTable* t : {&model.endmembers, &model.initialEndmembers})
    scaleEndmemberBands(*t, weights, true);
}

// The output abundances through the inference path (what `unmix` reproduces).
void finalInference(const DeqTrainInput& in, const DeqTrainOptions& o,
                    const DeqInferOptions& inference, DeqTrainResult& result,
                    ProgressSink* progress) {
  DeqInferOptions io = inference;
  io.device = o.device;
  if (io.threads == 0) io.threads = o.threads;
  DeqInferResult out =
      unmixSceneWithDeqModel(result.model, in.scene, in.height, in.width, io, progress);
  result.abundances = std::move(out.abundances);
  result.residual = std::move(out.residual);
  result.inference = out.stats.solver;
}

// Rank 0's endmembers, loss weight, data term and scene scale on every rank (the same
// reasons).
void broadcastAutomaticChoices(ProcessGroup& group, InitialEndmembers& init, TrainingData& data) {
  torch::Tensor choices = torch::tensor(
      {init.alpha, init.scaleInvariance == ScaleInvariance::On ? 1.0 : 0.0, data.scale},
      torch::kFloat64);
  broadcastFromRankZero(group, {init.endmembers, choices});
  init.alpha = choices[0].item<double>();
  init.scaleInvariance = choices[1].item<double>() > 0 ? ScaleInvariance::On : ScaleInvariance::Off;
  data.scale = choices[2].item<double>();
}

// Scales o's spatial prox weight and anchor weight by how the start abundances differ
// between neighbours (automaticSpatialNoiseShare, automaticSpatialCorrelation,
// automaticAnchorGain), measured on rank 0 and sent to every rank; returns the measurement
// (zeros: not measured).
NeighbourStatistics scaleByNeighbours(const TrainingData& data, ProcessGroup* group,
                                      DeqTrainOptions& o, ProgressSink* progress) {
  const bool anchor = o.network.anchorWeight > 0 && o.automaticAnchorGain > 1;
  if (!(o.automaticSpatialNoiseShare > 0) || !(o.network.spatialWeight > 0 || anchor)) return {};
  NeighbourStatistics m;
  if (!group || group->rank() == 0)
    m = neighbourStatistics(data.endmembers * data.scale, data.scene, data.mask, data.start,
                            o.network.scaleInvariant());
  if (group) {
    const torch::Tensor sent = torch::tensor({m.correlation, m.noiseShare}, torch::kFloat64);
    broadcastFromRankZero(*group, {sent});
    m = {sent[0].item<double>(), sent[1].item<double>()};
  }
  const double fromNoise = std::min(1.0, m.noiseShare / o.automaticSpatialNoiseShare);
  const double fromSmoothness =
      std::clamp((m.correlation - o.automaticSpatialCorrelationMin) /
                     (o.automaticSpatialCorrelationMax - o.automaticSpatialCorrelationMin),
                 0.0, 1.0);
  const double weight = o.network.spatialWeight * std::max(fromNoise, fromSmoothness);
  const double anchorGain =
      anchor ? std::min(o.automaticAnchorGain, 1.0 / std::max(fromNoise, 1e-300)) : 1.0;
  const double anchorWeight = std::min(1.0, o.network.anchorWeight * anchorGain);
  if (progress)
    progress->info("Neighbouring pixels' start abundances correlate " +
                   messageNumber(m.correlation) + " (full strength from " +
                   messageNumber(o.automaticSpatialCorrelationMax) + ", none below " +
                   messageNumber(o.automaticSpatialCorrelationMin) + "), noise makes " +
                   messageNumber(m.noiseShare) + " of their differences (full strength from " +
                   messageNumber(o.automaticSpatialNoiseShare) + "): spatial prox weight " +
                   messageNumber(weight) + " of " + messageNumber(o.network.spatialWeight) +
                   ", anchor weight " + messageNumber(anchorWeight) + " of " +
                   messageNumber(o.network.anchorWeight));
  o.network.spatialWeight = weight;
  o.network.anchorWeight = anchorWeight;
  return m;
}

// Training on `in` (the whole scene, or the sample of a streamed one, whose tiles then come
// through `stream`, built once the endmembers, the scale and the data term are known).
DeqTrainResult trainOn(const DeqTrainInput& in, const DeqTrainOptions& options,
                       const DeqInferOptions& inference, ProgressSink* progress,
                       ProcessGroup* group,
                       const std::function<StreamedTiles(const TrainingData&, bool scaleInvariant,
                                                         const torch::Device&)>& stream) {
  validateTrain(in, options);
  inference.validate();
  const torch::Device device = parseDevice(options.device);
  const RunScope scope(device, options.threads);
  const auto t0 = Clock::now();

  ProgressRange initProgress(progress, 0.0, 0.05);
  std::optional<DeqTrainInput> copy;
  NoiseWhitening whitening;
  DeqTrainOptions stage = options;
  TrainingData data = workingScene(in, group, &initProgress, stage, whitening, copy);
  const DeqTrainInput& work = copy ? *copy : in;
  InitialEndmembers init =
      initialEndmembers({&work, data.raw, data.validFlat, data.validPixels}, stage, &initProgress);
  if (group) broadcastAutomaticChoices(*group, init, data);
  DeqTrainOptions o = options;  // with the automatic settings resolved
  o.refinement = init.refinement;
  o.alpha = init.alpha;
  o.network.scaleInvariance = init.scaleInvariance;
  if (!in.hasInitialEndmembers) o.endmembers = int(init.endmembers.size(1));  // 0 estimated

  prepareTrainingData(work, init.endmembers, o.network.scaleInvariant(), device, data);
  const NeighbourStatistics neighbours = scaleByNeighbours(data, group, o, &initProgress);
  const int P = int(init.endmembers.size(1));
  DeqNetwork net = DeqNetwork::create(in.bands, P, o.network, o.seed, device);
  if (group) broadcastFromRankZero(*group, net.parameters());
  // The prox learns from the scene into the network first; the one made after sees that.
  if (auto prox = makeSpatialProx(net)) {
    prox->fit(data.raw, net);
    setProxGuide(*makeSpatialProx(net), device, data);
  }
  initProgress.setProgress(1.0);

  DeqTrainResult result;
  result.initialAbundances = startAbundances(data);
  ProgressRange trainProgress(progress, 0.05, 0.9);
  std::optional<StreamedTiles> tiles;
  if (stream) tiles.emplace(stream(data, o.network.scaleInvariant(), device));
  const TrainerResult trained =
      trainNetwork(net, data, o, &trainProgress, group, tiles ? &*tiles : nullptr);
  result.epochs = trained.epochs;
  result.model = assembleModel(in, o, inference, init, data, net, trained);
  unwhitenModel(whitening.weights, result.model);
  result.noiseSpread = whitening.spread;
  result.anomalousPixels = int64_t(data.anomalies.pixels.size());
  result.anomalyRatio = data.anomalies.largestRatio;
  result.model.summary.trainingSeconds = secondsSince(t0);
  result.refinement = init.refinement;
  result.affineModelExcess = init.affineModelExcess;
  result.volumeRatio = init.volumeRatio;
  result.centredVertices = init.centredVertices;
  result.vertexResidualRatio = init.vertexResidualRatio;
  result.nfindrVertices = init.nfindrVertices;
  result.brightnessGain = init.brightnessGain;
  result.brightnessShare = init.brightnessShare;
  result.spatialCorrelation = neighbours.correlation;
  result.spatialNoiseShare = neighbours.noiseShare;
  result.worldSize = group ? group->size() : 1;
  if (!stream) {
    ProgressRange outProgress(progress, 0.9, 1.0);
    finalInference(in, o, inference, result, &outProgress);
  }
  return result;
}

// Tiles of `size` at seeded random places of the scene, as many as `budgetBytes` holds (all
// of them for a small scene), laid side by side in a grid: the sample a streamed scene's
// endmember stage and scale come from.
DeqTrainInput sampleMosaic(DeqTileReader& reader, const DeqTrainInput& scene, int size,
                           double budgetBytes, uint64_t seed) {
  const int rows = scene.height / size, cols = scene.width / size;
  std::vector<int64_t> cells(size_t(rows) * cols);
  std::iota(cells.begin(), cells.end(), 0);
  std::shuffle(cells.begin(), cells.end(), std::mt19937_64(seed + 13));
  const double tileBytes = 4.0 * scene.bands * size * size;
  cells.resize(size_t(std::clamp<double>(budgetBytes / tileBytes, 1, double(cells.size()))));
  const int gridCols = int(std::ceil(std::sqrt(double(cells.size()))));
  const int gridRows = int((cells.size() + gridCols - 1) / gridCols);
  DeqTrainInput sample = scene;
  sample.height = gridRows * size;
  sample.width = gridCols * size;
  sample.scene.assign(size_t(scene.bands) * sample.height * sample.width,
                      std::numeric_limits<float>::quiet_NaN());
  std::vector<float> tile(size_t(scene.bands) * size * size);
  for (size_t k = 0; k < cells.size(); ++k) {
    reader.read(int(cells[k] / cols) * size, int(cells[k] % cols) * size, size, size, tile.data());
    const int top = int(k / gridCols) * size, left = int(k % gridCols) * size;
    for (int b = 0; b < scene.bands; ++b)
      for (int r = 0; r < size; ++r)
        std::copy_n(
            tile.data() + (size_t(b) * size + r) * size, size,
            sample.scene.data() + (size_t(b) * sample.height + top + r) * sample.width + left);
  }
  return sample;
}

}  // namespace

DeqTrainResult trainDeqUnmix(const DeqTrainInput& in, const DeqTrainOptions& options,
                             const DeqInferOptions& inference, ProgressSink* progress,
                             ProcessGroup* group) {
  return trainOn(in, options, inference, progress, group, {});
}

DeqTrainResult trainDeqUnmixStreamed(DeqTileReader& reader, const DeqTrainInput& scene,
                                     const DeqTrainOptions& options, ProgressSink* progress,
                                     ProcessGroup* group) {
  if (!scene.referenceAbundances.empty())
    throw InvalidArgument(
        "supervised training (reference abundances) reads the whole scene; it is larger than "
        "the memory budget: raise the budget or train unsupervised");
  if (options.network.spatialProx == "superpixel" && options.network.spatialWeight > 0)
    throw InvalidArgument(
        "the superpixel prox segments the whole scene; it is larger than the memory budget: "
        "use the neighbourhood prox or raise the budget");
  const int size = std::min({options.tileSize, scene.height, scene.width});
  if (size < 1 || options.tileSize < options.network.receptiveField())
    throw InvalidArgument(
        "streamed training needs tiles of at least the network's receptive "
        "field (" +
        std::to_string(options.network.receptiveField()) + ")");
  // The sample (and the endmember stage's copies of it) take an eighth of the budget.
  const DeqTrainInput sample = sampleMosaic(
      reader, scene, size, options.memoryBudgetInEffectMiB() * 1048576.0 / 8, options.seed);
  DeqInferOptions noFinalPass;
  DeqTrainResult r = trainOn(
      sample, options, noFinalPass, progress, group,
      [&](const TrainingData& data, bool scaleInvariant, const torch::Device& device) {
        return StreamedTiles(reader, scene.height, scene.width, data, scaleInvariant, device);
      });
  r.initialAbundances.clear();  // the sample's, not the scene's
  return r;
}

}  // namespace dequnmix