// Preparing the training scene (training_data.h).
#include "core/deq/training_data.h"

#include <cmath>
#include <limits>
#include <optional>

#include "core/classical/subspace_ops.h"
#include "core/deq/scene_tensors.h"
#include "core/distributed/process_group_ops.h"
#include "core/endmembers/initial_endmembers.h"
#include "core/endmembers/refinement.h"
#include "core/errors.h"
#include "core/metrics/metrics.h"

namespace dequnmix {

namespace {

// 1 / RMS of the valid pixels (bands x pixels), the scale the network sees the scene at.
double inverseRms(const torch::Tensor& validPixels) {
  // In double: squares of values beyond 1.8e19 overflow float32.
  const double rms = validPixels.to(torch::kFloat64).pow(2).mean().sqrt().item<double>();
  if (!(rms > 0) || !std::isfinite(rms))
    throw InvalidArgument("training scene is all zeros or not finite");
  return 1.0 / rms;
}

// Column order that maps the estimate's endmembers onto the reference's, by the least
// abundance error of the FCLS start over the valid pixels.
torch::Tensor referenceOrder(const TrainingData& d) {
  const int64_t P = d.start.size(1);
  torch::Tensor valid = d.validFlat.to(d.start.device());
  torch::Tensor est = d.start[0].reshape({P, -1}).t().index({valid}).cpu().contiguous();
  torch::Tensor ref = d.reference[0].reshape({P, -1}).t().index({valid}).cpu().contiguous();
  AbundanceErrorAccumulator acc(static_cast<int>(P));
  acc.add(est.data_ptr<float>(), ref.data_ptr<float>(), est.size(0));
  std::vector<int> refOf = acc.bestMatch();  // refOf[e] = reference of estimate e
  std::vector<int64_t> order(P);
  for (int e = 0; e < P; ++e) order[refOf[e]] = e;
  return torch::tensor(order, torch::kLong);
}

void addReference(const DeqTrainInput& in, TrainingData& d, const torch::Device& device) {
  const int64_t P = d.endmembers.size(1);
  d.reference = torch::from_blob(const_cast<float*>(in.referenceAbundances.data()),
                                 {1, P, in.height, in.width}, torch::kFloat32)
                    .clone()
                    .to(device);
  // The VCA order is arbitrary; given endmembers keep theirs.
  if (!in.hasInitialEndmembers) {
    torch::Tensor idx = referenceOrder(d);
    d.endmembers = d.endmembers.index_select(1, idx);
    d.start = d.start.index_select(1, idx.to(device));
  }
  d.reference = torch::where(d.mask > 0, d.reference, d.start);
}

// Rank 0's band weights on every rank: each rank measured them on the same scene (or, when
// streamed, on a sample its own memory budget sized), but a rounding difference or another
// machine's budget must not split the group.
void broadcastWhitening(ProcessGroup& group, int bands, NoiseWhitening& whitening) {
  torch::Tensor w = torch::zeros({bands + 2}, torch::kFloat64);
  w[0] = whitening.weights.empty() ? 0.0 : 1.0;
  w[1] = whitening.spread;
  if (!whitening.weights.empty()) w.narrow(0, 2, bands).copy_(torch::tensor(whitening.weights));
  broadcastFromRankZero(group, {w});
  whitening.spread = w[1].item<double>();
  whitening.weights.clear();
  if (w[0].item<double>() > 0)
    whitening.weights.assign(w.data_ptr<double>() + 2, w.data_ptr<double>() + 2 + bands);
}

// Rank 0's anomaly screen (subspace and limit) on every rank, each rank listing its own
// pixels beyond it (the same reasons).
void broadcastAnomalyScreen(ProcessGroup& group, const TrainingData& data, int endmembers,
                            AnomalyScreen& screen) {
  const int64_t L = data.validPixels.size(0);
  torch::Tensor header = torch::tensor(
      {screen.subspace.defined() ? 1.0 : 0.0, screen.limit, screen.largestRatio}, torch::kFloat64);
  torch::Tensor U = screen.subspace.defined() ? screen.subspace.clone()
                                              : torch::zeros({L, endmembers}, torch::kFloat64);
  broadcastFromRankZero(group, {header, U});
  if (group.rank() == 0) return;
  screen.largestRatio = header[2].item<double>();
  screen.subspace = header[0].item<double>() > 0 ? U : torch::Tensor();
  screen.limit = header[1].item<double>();
  screen.pixels = pixelsBeyond(screen, data);
}

}  // namespace

TrainingData trainingScene(const DeqTrainInput& in) {
  TrainingData d;
  const int64_t N = int64_t(in.height) * in.width;
  d.raw = torch::from_blob(const_cast<float*>(in.scene.data()), {in.bands, in.height, in.width},
                           torch::kFloat32);
  d.validFlat = torch::isfinite(d.raw).all(0).reshape({-1});
  if (d.validFlat.sum().item<int64_t>() < 1)
    throw InvalidArgument("training scene has no valid pixel");
  d.validPixels =
      d.raw.reshape({in.bands, N}).index({torch::indexing::Slice(), d.validFlat}).contiguous();
  d.scale = inverseRms(d.validPixels);
  return d;
}

void whitenTrainingScene(const DeqTrainInput& whitened, const std::vector<double>& weights,
                         TrainingData& d) {
  d.raw = torch::from_blob(const_cast<float*>(whitened.scene.data()),
                           {whitened.bands, whitened.height, whitened.width}, torch::kFloat32);
  // Float products as whitenedInput's, so the same values as trainingScene(whitened).
  d.validPixels.mul_(torch::tensor(weights).to(torch::kFloat32).unsqueeze(1));
  d.scale = inverseRms(d.validPixels);
}

NoiseWhitening noiseWhitening(const TrainingData& d, const DeqTrainOptions& o,
                              ProgressSink* progress) {
  NoiseWhitening out;
  const torch::Tensor Y = subsamplePixels(d.validPixels).to(torch::kFloat64);
  const int64_t L = Y.size(0), N = Y.size(1);
  if (o.automaticWhiteningSpread == 0 || N < 4 * L) return out;
  torch::Tensor sigma = regressionNoiseVariances(Y.mm(Y.t()) / double(N)).clamp_min(0).sqrt();
  const double median = sigma.median().item<double>();
  if (!(median > 0) || !std::isfinite(median)) return out;
  // Never below a third of the median (every measured scene: 0.40 or more): bands the others
  // predict almost exactly (duplicated, or sharing their noise) would otherwise lead the fits.
  sigma = sigma.clamp_min(median / 3);
  out.spread = (sigma.max() / sigma.min()).item<double>();
  const bool whiten = out.spread >= o.automaticWhiteningSpread;
  if (whiten) {
    const torch::Tensor w = (median / sigma).contiguous();
    out.weights.assign(w.data_ptr<double>(), w.data_ptr<double>() + L);
  }
  if (progress)
    progress->info(
        "Band noise spreads " + messageNumber(out.spread) +
        " x from the quietest band to the noisiest (threshold " +
        messageNumber(o.automaticWhiteningSpread) + "): " +
        (whiten ? "bands weighted by their signal-to-noise ratio" : "bands weighted equally"));
  return out;
}

void scaleEndmemberBands(EndmemberTable& table, const std::vector<double>& weights, bool divide) {
  const int P = table.endmembers();
  for (size_t b = 0; b < weights.size(); ++b)
    for (int k = 0; k < P; ++k) {
      float& v = table.values[b * P + k];
      v = divide ? v / float(weights[b]) : v * float(weights[b]);
    }
}

namespace {

// Each column's squared distance from the span of U's orthonormal columns (in double,
// blocks of pixels so that the copy stays small).
torch::Tensor residualEnergies(const torch::Tensor& pixels, const torch::Tensor& U) {
  constexpr int64_t kBlock = 65536;
  std::vector<torch::Tensor> parts;
  for (int64_t at = 0; at < pixels.size(1); at += kBlock) {
    const torch::Tensor y =
        pixels.narrow(1, at, std::min(kBlock, pixels.size(1) - at)).to(torch::kFloat64);
    parts.push_back((y - U.mm(U.t().mm(y))).pow(2).sum(0));
  }
  return torch::cat(parts);
}

// The flat indices (row x width + column) of the valid pixels `selected` marks.
std::vector<int64_t> validIndices(const TrainingData& d, const torch::Tensor& selected) {
  const torch::Tensor flat = d.validFlat.nonzero().reshape({-1}).index({selected}).contiguous();
  return std::vector<int64_t>(flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel());
}

}  // namespace

AnomalyScreen screenAnomalies(const TrainingData& d, int P, const DeqTrainOptions& o,
                              ProgressSink* progress) {
  AnomalyScreen out;
  const int64_t L = d.validPixels.size(0), N = d.validPixels.size(1);
  if (o.anomalyResidualRatio == 0 || P < 1 || P >= L) return out;
  const torch::Tensor Y = subsamplePixels(d.validPixels).to(torch::kFloat64);
  const torch::Tensor U = topEigenpairs(Y.mm(Y.t()), P).second;
  const double floor = 1e-8 * Y.pow(2).sum(0).mean().item<double>();
  const double typical = residualEnergies(Y, U).quantile(0.99).item<double>() + floor;
  const torch::Tensor ratio = (residualEnergies(d.validPixels, U) + floor) / typical;
  out.largestRatio = ratio.max().item<double>();
  const torch::Tensor anomalous = ratio > o.anomalyResidualRatio;
  const int64_t count = anomalous.sum().item<int64_t>();
  const bool few = count <= int64_t(o.anomalyMaxFraction * double(N));
  if (few && count > 0) {
    out.pixels = validIndices(d, anomalous);
    out.subspace = U;
    out.limit = o.anomalyResidualRatio * typical - floor;
  }
  if (progress) {
    const std::string pixels = std::to_string(count) + (count == 1 ? " pixel" : " pixels");
    progress->info(
        "Largest pixel energy outside the " + std::to_string(P) + "-dimensional signal subspace: " +
        messageNumber(out.largestRatio) + " x the 99th percentile over the pixels (threshold " +
        messageNumber(o.anomalyResidualRatio) + "): " +
        (count == 0 ? std::string("no anomalous pixel")
         : few      ? pixels + " left out of the endmember stage and training as anomalies"
               : pixels + " beyond it, more than " + messageNumber(100 * o.anomalyMaxFraction) +
                     "% of the scene: the subspace misses a material, none left out"));
  }
  return out;
}

std::vector<int64_t> pixelsBeyond(const AnomalyScreen& screen, const TrainingData& d) {
  if (!screen.subspace.defined()) return {};
  return validIndices(d, residualEnergies(d.validPixels, screen.subspace) > screen.limit);
}

void markAsNodata(DeqTrainInput& in, const std::vector<int64_t>& pixels) {
  const size_t N = size_t(in.height) * in.width;
  for (int b = 0; b < in.bands; ++b)
    for (int64_t i : pixels) in.scene[b * N + size_t(i)] = std::numeric_limits<float>::quiet_NaN();
}

void maskAnomalies(const AnomalyScreen& screen, const torch::Tensor& bandWeights,
                   torch::Tensor& raw) {
  if (!screen.subspace.defined()) return;
  const int64_t L = raw.size(0);
  const torch::Tensor y = raw.reshape({L, -1}).to(torch::kCPU, torch::kFloat64) *
                          bandWeights.to(torch::kFloat64).reshape({L, 1});
  const torch::Tensor out = residualEnergies(y, screen.subspace) > screen.limit;
  raw.masked_fill_(out.reshape({1, raw.size(1), raw.size(2)}).to(raw.device()),
                   std::numeric_limits<float>::quiet_NaN());
}

DeqTrainInput whitenedInput(const DeqTrainInput& in, const std::vector<double>& w) {
  DeqTrainInput out = in;
  const size_t pixels = size_t(in.height) * in.width;
  for (size_t b = 0; b < w.size(); ++b)
    for (size_t i = 0; i < pixels; ++i) out.scene[b * pixels + i] *= float(w[b]);
  if (in.hasInitialEndmembers) scaleEndmemberBands(out.initialEndmembers, w, false);
  return out;
}

void prepareTrainingData(const DeqTrainInput& in, const torch::Tensor& endmembers,
                         bool scaleInvariant, const torch::Device& device, TrainingData& d) {
  d.endmembers = endmembers;
  torch::Tensor scaled = (endmembers * d.scale).to(device);
  // d.raw is whitened already (train.cpp): the input scale alone.
  const torch::Tensor scale = torch::full({1}, d.scale, torch::TensorOptions(device));
  auto prepared = prepareScene(d.raw.to(device), scale, scaled.mean(1));
  d.scene = prepared.first;
  d.mask = prepared.second;
  d.start = leastSquaresStart(scaled, d.scene, scaleInvariant);
  if (!in.referenceAbundances.empty()) addReference(in, d, device);
}

void setProxGuide(const SpatialProx& prox, const torch::Device& device, TrainingData& d) {
  d.guide = prox.guide({d.raw, 0, 0});
  if (d.guide.defined()) d.guide = d.guide.unsqueeze(0).to(device);
}

std::vector<float> startAbundances(const TrainingData& d) {
  torch::Tensor a0 = d.start[0].clone();
  a0.masked_fill_(d.mask[0].expand_as(a0) == 0, std::numeric_limits<float>::quiet_NaN());
  a0 = a0.cpu().contiguous();
  return std::vector<float>(a0.data_ptr<float>(), a0.data_ptr<float>() + a0.numel());
}

TrainingData workingScene(const DeqTrainInput& in, ProcessGroup* group, ProgressSink* progress,
                          DeqTrainOptions& stage, NoiseWhitening& whitening,
                          std::optional<DeqTrainInput>& copy) {
  TrainingData data = trainingScene(in);
  whitening = noiseWhitening(data, stage, progress);
  if (group) broadcastWhitening(*group, in.bands, whitening);
  if (!whitening.weights.empty()) {
    copy = whitenedInput(in, whitening.weights);
    whitenTrainingScene(*copy, whitening.weights, data);
  }
  stage.endmembers = trainingEndmemberCount(copy ? *copy : in, stage, progress);
  AnomalyScreen anomalies = screenAnomalies(data, stage.endmembers, stage, progress);
  if (group) broadcastAnomalyScreen(*group, data, stage.endmembers, anomalies);
  if (!anomalies.pixels.empty()) {
    if (!copy) copy = in;
    markAsNodata(*copy, anomalies.pixels);
    data = trainingScene(*copy);
  }
  data.anomalies = std::move(anomalies);
  data.bandWeights = torch::tensor(
      whitening.weights.empty() ? std::vector<double>(in.bands, 1.0) : whitening.weights,
      torch::kFloat32);
  return data;
}

}  // namespace dequnmix
