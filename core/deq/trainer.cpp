// The training loop (trainer.h).
#include "core/deq/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/optim/schedulers/step_lr.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "core/deq/device.h"
#include "core/deq/scene_tensors.h"
#include "core/distributed/process_group_ops.h"
#include "core/errors.h"

namespace dequnmix {

namespace {

// The process's peak memory per byte of its tensors' peak in a training run: what the
// allocator keeps after frees (KeepFreedMemory) and the data outside tensors
// (bench_deq_train_memory measured 1.45-1.57).
constexpr double kResidentPerTensorByte = 1.5;

// Bytes per pixel of one training step: scene, abundances, Anderson history and the
// recorded graphs of the map (one per evaluation kept by the gradient mode), as the process
// holds them. A recorded evaluation keeps about 8 band-long values per pixel, 10 with the
// scale-invariant data term (bench_deq_train_memory over 50-400 bands: tensor peaks 3.4-15.5
// KB per pixel, 2 bands' worth more with that term; bench/README.md, "Training memory").
double bytesPerPixel(const DeqTrainOptions& o, int bands, int endmembers) {
  const int C = o.network.hiddenChannels;
  const double bandValues = o.network.scaleInvariant() ? 10.0 : 8.0;
  const double graphFloats =
      bandValues * bands + 6.0 * endmembers + C * (3.0 * (o.network.hiddenLayers + 1) + 1);
  const int graphs = o.gradient == DeqGradientMode::Unrolled  ? o.forward.maxIterations
                     : o.gradient == DeqGradientMode::Phantom ? std::max(1, o.phantomSteps)
                                                              : 1;
  return kResidentPerTensorByte * 4.0 *
         (bands + 2.0 * endmembers + 4.0 * o.forward.historyFor(endmembers) * endmembers +
          graphFloats * graphs);
}

// One optimiser step's inputs: the whole scene or a batch of random tiles.
struct Batch {
  torch::Tensor scene, start, mask, reference, guide;
};

// Random tiles when the scene is over the memory budget or the run is data-parallel: every
// rank draws the same ranks x tilesPerStep tiles per step (same seed) and keeps its share.
class TileSampler {
 public:
  TileSampler(const TrainingData& d, const DeqTrainOptions& o, ProgressSink* progress, int rank,
              int ranks, StreamedTiles* streamed)
      : data_(d),
        streamed_(streamed),
        tiles_(o.tilesPerStep),
        rank_(rank),
        ranks_(ranks),
        rng_(o.seed + 7) {
    height_ = streamed ? streamed->height() : int(d.scene.size(2));
    width_ = streamed ? streamed->width() : int(d.scene.size(3));
    const int64_t N = int64_t(height_) * width_;
    const bool overBudget =
        streamed || bytesPerPixel(o, int(d.scene.size(1)), int(d.start.size(1))) * double(N) >
                        o.memoryBudgetInEffectMiB() * 1048576.0;
    tiled_ = overBudget || ranks > 1;
    tile_ = std::min({o.tileSize, height_, width_});
    const int64_t perStep = int64_t(tiles_) * ranks_ * tile_ * tile_;
    // A streamed scene's valid pixels are not counted: its epochs cover every pixel once.
    const int64_t valid = streamed ? N : d.validFlat.sum().item<int64_t>();
    steps_ = tiled_ ? int(std::max<int64_t>(1, (valid + perStep - 1) / perStep)) : 1;
    if (tiled_ && o.stepsPerEpoch > 0) steps_ = o.stepsPerEpoch;
    if (tiled_ && progress)
      progress->info(std::string(streamed     ? "Scene streamed from its file"
                                 : overBudget ? "Scene exceeds the training memory budget"
                                              : "Data-parallel training") +
                     ": training on " + std::to_string(tiles_) + " random " +
                     std::to_string(tile_) + " x " + std::to_string(tile_) + " tiles per step" +
                     (ranks_ > 1 ? " on each of " + std::to_string(ranks_) + " ranks" : "") + ", " +
                     std::to_string(steps_) + " steps per epoch");
  }
  bool tiled() const { return tiled_; }
  int stepsPerEpoch() const { return steps_; }

  Batch next() {
    const TrainingData& d = data_;
    if (!tiled_) return {d.scene, d.start, d.mask, d.reference, d.guide};
    std::uniform_int_distribution<int> dr(0, height_ - tile_);
    std::uniform_int_distribution<int> dc(0, width_ - tile_);
    std::vector<torch::Tensor> ys, as, ms, rs, gs;
    for (int k = 0; k < tiles_ * ranks_; ++k) {
      using torch::indexing::Slice;
      const int r = dr(rng_), c = dc(rng_);
      if (k / tiles_ != rank_) continue;  // another rank's tile
      if (streamed_) {
        const auto [scene, start, mask] = streamed_->tile(r, c, tile_);
        ys.push_back(scene);
        as.push_back(start);
        ms.push_back(mask);
        continue;
      }
      const Slice rows(r, r + tile_), cols(c, c + tile_);
      auto crop = [&](const torch::Tensor& t) { return t.index({0, Slice(), rows, cols}); };
      ys.push_back(crop(d.scene));
      as.push_back(crop(d.start));
      ms.push_back(crop(d.mask));
      if (d.reference.defined()) rs.push_back(crop(d.reference));
      // A tile keeps the scene's guide: a superpixel cut by the tile edge pools over its
      // part inside the tile.
      if (d.guide.defined()) gs.push_back(d.guide.index({0, rows, cols}));
    }
    Batch b{torch::stack(ys), torch::stack(as), torch::stack(ms), {}, {}};
    if (!rs.empty()) b.reference = torch::stack(rs);
    if (!gs.empty()) b.guide = torch::stack(gs);
    return b;
  }

 private:
  const TrainingData& data_;
  StreamedTiles* streamed_;
  int tiles_, rank_, ranks_, tile_ = 0, steps_ = 1, height_ = 0, width_ = 0;
  bool tiled_ = false;
  std::mt19937_64 rng_;
};

// Loss terms of the last evaluation, for the epoch statistics.
struct LossTerms {
  double spectralAngle = 0, mse = 0, abundanceMse = 0;
};

DeqLoss makeLoss(const Batch& b, const torch::Tensor& E, double alpha, bool scaleInvariant,
                 LossTerms& terms) {
  if (b.reference.defined())
    return [&b, &terms](const torch::Tensor& a) {
      torch::Tensor l = maskedMse(a, b.reference, b.mask);
      terms.abundanceMse = l.item<double>();
      return l;
    };
  return [&b, E, alpha, scaleInvariant, &terms](const torch::Tensor& a) {
    torch::Tensor yhat = reconstructScene(E, a);
    if (scaleInvariant) yhat = brightnessScale(yhat, b.scene) * yhat;
    torch::Tensor s = maskedSpectralAngle(b.scene, yhat, b.mask);
    torch::Tensor e = maskedMse(b.scene, yhat, b.mask);
    terms.spectralAngle = s.item<double>();
    terms.mse = e.item<double>();
    return s + alpha * e;
  };
}

// Non-finite values would otherwise end in an internal LibTorch error some steps later.
void checkFinite(double loss, const std::vector<torch::Tensor>& params, int epoch, double lr) {
  bool finite = std::isfinite(loss);
  for (const auto& p : params) finite = finite && p.isfinite().all().item<bool>();
  if (!finite)
    throw InvalidArgument("training diverged at epoch " + std::to_string(epoch) + " (the " +
                          (std::isfinite(loss) ? "network's weights are" : "loss is") +
                          " not finite): lower the network learning rate (now " +
                          messageNumber(lr) +
                          ") or the weight decay, and keep gradient clipping on");
}

class Trainer {
 public:
  Trainer(DeqNetwork& net, const TrainingData& d, const DeqTrainOptions& o, ProgressSink* progress,
          ProcessGroup* group, StreamedTiles* streamed)
      : net_(net),
        o_(o),
        progress_(progress),
        group_(group && group->size() > 1 ? group : nullptr),
        sampler_(d, o, progress, group_ ? group_->rank() : 0, group_ ? group_->size() : 1,
                 streamed),
        E_((d.endmembers * d.scale)
               .to(net.weights.front().device())
               .requires_grad_(o.trainEndmembers)),
        optimizer_(parameterGroups(), torch::optim::AdamWOptions(o.networkLearningRate)),
        decay_(optimizer_, unsigned(o.decayEvery), o.decayFactor),
        minEndmember_(o.minEndmemberValue * d.scale),
        probes_(at::detail::createCPUGenerator(o.seed + 11)) {}

  TrainerResult run() {
    TrainerResult result;
    for (int epoch = 1; epoch <= o_.epochs; ++epoch) {
      throwIfCanceled(progress_);
      decay_.step();  // before the epoch: epoch e runs at rate x factor^((e - 1) / every)
      result.epochs.push_back(runEpoch(epoch));
      result.forward.add(result.epochs.back().forward);
      report(result.epochs.back());
      if (progress_) progress_->setProgress(double(epoch) / o_.epochs);
    }
    result.tiled = sampler_.tiled();
    result.endmembers = E_.detach();
    return result;
  }

 private:
  std::vector<torch::optim::OptimizerParamGroup> parameterGroups() {
    auto options = [&](double lr) {
      return std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(lr).weight_decay(o_.weightDecay));
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(net_.parameters(), options(o_.networkLearningRate));
    if (o_.trainEndmembers)
      groups.emplace_back(std::vector<torch::Tensor>{E_}, options(o_.endmemberLearningRate));
    return groups;
  }

  double learningRate(size_t group) const {
    return optimizer_.param_groups()[group].options().get_lr();
  }

  DeqEpochStats runEpoch(int epoch);
  void report(const DeqEpochStats& es) const;

  // Every rank's gradients become their mean weighted by the ranks' valid pixels, the
  // gradient of the loss over all of the step's tiles as one process computes it (a parameter
  // without a gradient counts as zero).
  void averageGradients(const std::vector<torch::Tensor>& params, const Batch& batch) {
    std::vector<torch::Tensor> grads;
    for (const auto& p : params) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p.grad());
    }
    averageOverRanks(*group_, grads, batch.mask.sum().item<double>());
  }

  DeqNetwork& net_;
  const DeqTrainOptions& o_;
  ProgressSink* progress_;
  ProcessGroup* group_;  // null in a one-process run
  TileSampler sampler_;
  torch::Tensor E_;
  torch::optim::AdamW optimizer_;
  torch::optim::StepLR decay_;
  double minEndmember_;
  torch::Tensor adjoint_;      // the previous step's implicit-backward solution
  torch::Tensor equilibrium_;  // the previous step's forward fixed point
  at::Generator probes_;       // the Jacobian penalty's random directions
};

DeqEpochStats Trainer::runEpoch(int epoch) {
  const auto start = Clock::now();
  DeqEpochStats es;
  es.epoch = epoch;
  const int steps = sampler_.stepsPerEpoch();
  std::vector<torch::Tensor> params = net_.parameters();
  if (o_.trainEndmembers) params.push_back(E_);
  for (int step = 0; step < steps; ++step) {
    const Batch batch = sampler_.next();
    optimizer_.zero_grad();
    DeqUnmixMap map(net_, E_, batch.scene, batch.start, batch.guide);
    LossTerms terms;
    // Unrolled training keeps its K iterations from the FCLS start (the ablation baseline).
    const bool warm =
        o_.warmStartForward && o_.gradient != DeqGradientMode::Unrolled && equilibrium_.defined();
    DeqGradientResult g =
        deqGradient(map.asMap(), warm ? equilibrium_ : batch.start,
                    makeLoss(batch, E_, o_.alpha, net_.options.scaleInvariant(), terms), o_,
                    progress_, adjoint_, map.linearization());
    if (o_.jacobianPenalty > 0)
      es.jacobianNorm +=
          jacobianPenalty(map.asMap(), g.abundances, o_.jacobianPenalty, probes_) / steps;
    // Whole-scene training sees the same pixels every step: the next solves start from this
    // one's solutions (tiles differ from step to step, so they do not).
    if (!sampler_.tiled()) {
      if (o_.warmStartBackward) adjoint_ = g.adjoint;
      // Without the anchor a warm-started solve that missed its tolerance may be drifting: the
      // next starts from FCLS again. The anchored map contracts, so a miss there is only slow
      // and the next solve goes on from it.
      const bool drifting = warm && g.forward.converged == 0 && !(net_.options.anchorWeight > 0);
      if (o_.warmStartForward) equilibrium_ = drifting ? torch::Tensor() : g.abundances;
    }
    if (group_) averageGradients(params, batch);
    const double clip =
        o_.gradientClip > 0 ? o_.gradientClip : std::numeric_limits<double>::infinity();
    const double gnorm = torch::nn::utils::clip_grad_norm_(params, clip);
    if (std::isfinite(gnorm)) optimizer_.step();
    if (o_.trainEndmembers) {
      torch::NoGradGuard noGrad;
      E_.clamp_min_(minEndmember_);
    }
    checkFinite(g.loss, params, epoch, learningRate(0));
    es.loss += g.loss / steps;
    es.spectralAngle += terms.spectralAngle / steps;
    es.mse += terms.mse / steps;
    es.abundanceMse += terms.abundanceMse / steps;
    es.gradientNorm += gnorm / steps;
    es.forward.add(g.forward);
    es.backward.add(g.backward);
  }
  es.networkLearningRate = learningRate(0);
  es.endmemberLearningRate = o_.trainEndmembers ? learningRate(1) : 0.0;
  es.eta = net_.stepInLipschitzUnits();
  es.seconds = secondsSince(start);
  return es;
}

void Trainer::report(const DeqEpochStats& es) const {
  if (!progress_ || !(es.epoch == 1 || es.epoch % 25 == 0 || es.epoch == o_.epochs)) return;
  std::ostringstream s;
  s.precision(4);
  s << "epoch " << es.epoch << "/" << o_.epochs << ": loss " << es.loss << ", forward "
    << es.forward.meanIterations() << " it (rel. residual " << es.forward.lastRelativeResidual
    << ")";
  if (o_.gradient == DeqGradientMode::Implicit)
    s << ", backward " << es.backward.meanIterations() << " it";
  progress_->info(s.str());
}

}  // namespace

StreamedTiles::StreamedTiles(DeqTileReader& reader, int height, int width, const TrainingData& data,
                             bool scaleInvariant, const torch::Device& device)
    : reader_(reader),
      height_(height),
      width_(width),
      bands_(int(data.bandWeights.size(0))),
      bandWeights_(data.bandWeights),
      bandScale_((data.bandWeights * data.scale).to(device)),
      anomalies_(data.anomalies),
      scaleInvariant_(scaleInvariant),
      endmembers_((data.endmembers * data.scale).to(device)),
      fill_(endmembers_.mean(1)),
      device_(device) {}

std::array<torch::Tensor, 3> StreamedTiles::tile(int row, int col, int size) {
  buffer_.resize(size_t(bands_) * size * size);
  reader_.read(row, col, size, size, buffer_.data());
  ++tilesRead;
  torch::Tensor raw = torch::from_blob(buffer_.data(), {bands_, size, size}, torch::kFloat32)
                          .to(device_, false, true);
  maskAnomalies(anomalies_, bandWeights_, raw);
  auto [scene, mask] = prepareScene(raw, bandScale_, fill_);
  torch::Tensor start = leastSquaresStart(endmembers_, scene, scaleInvariant_);
  return {scene[0], start[0], mask[0]};
}

TrainerResult trainNetwork(DeqNetwork& network, const TrainingData& data,
                           const DeqTrainOptions& options, ProgressSink* progress,
                           ProcessGroup* group, StreamedTiles* streamed) {
  network.setRequiresGrad(true);
  Trainer trainer(network, data, options, progress, group, streamed);
  return trainer.run();
}

}  // namespace dequnmix
