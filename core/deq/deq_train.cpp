// DEQ-Unmix training and tiled inference (facade functions of deq_unmix.h).
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/nn/functional/pooling.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "core/data_checks.h"
#include "core/deq/deq_ops.h"
#include "core/errors.h"
#include "core/classical/fcls_ops.h"
#include "core/metrics/metrics.h"
#include "core/pixel_source.h"
#include "core/classical/vca.h"

namespace dequnmix {

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

torch::Device parseDevice(const std::string& name) {
  try {
    torch::Device d(name.empty() ? std::string("cpu") : name);
    if ((!d.is_cpu() && !d.is_cuda()) || (d.is_cpu() && d.has_index() && d.index() != 0))
      throw InvalidArgument("unknown device '" + name + "' (expected cpu, cuda or cuda:N)");
    if (d.is_cuda() && !at::hasCUDA())
      throw InvalidArgument("device '" + name +
                            "' requested but no CUDA device is available (LibTorch without "
                            "CUDA, or no GPU)");
    // A missing GPU index would otherwise fail only at the first copy, as a c10::Error.
    const size_t gpus = d.is_cuda() ? torch::cuda::device_count() : 0;
    if (d.is_cuda() && d.has_index() && size_t(d.index()) >= gpus)
      throw InvalidArgument("device '" + name + "' does not exist: " + std::to_string(gpus) +
                            " CUDA device(s), cuda:0 to cuda:" + std::to_string(gpus - 1));
    return d;
  } catch (const InvalidArgument&) {
    throw;
  } catch (const std::exception&) {
    throw InvalidArgument("unknown device '" + name + "' (expected cpu, cuda or cuda:N)");
  }
}

// cuDNN may run float32 convolutions in TF32 (a 10-bit mantissa; LibTorch's default on
// Ampere and later GPUs). On an H200 that put the implicit gradient 1% away from the CPU's
// (first layer's weights; 0.1% in float32) for no measurable speed gain on these small
// convolutions (Samson: 0.049 s per training epoch either way), so DEQ-Unmix runs them in
// float32 and gives the caller's setting back on return.
class FullFloat32Convolutions {
 public:
  explicit FullFloat32Convolutions(const torch::Device& device)
      : active_(device.is_cuda()), before_(active_ && at::globalContext().allowTF32CuDNN()) {
    if (active_) at::globalContext().setAllowTF32CuDNN(false);
  }
  ~FullFloat32Convolutions() {
    if (active_) at::globalContext().setAllowTF32CuDNN(before_);
  }
  FullFloat32Convolutions(const FullFloat32Convolutions&) = delete;
  FullFloat32Convolutions& operator=(const FullFloat32Convolutions&) = delete;

 private:
  bool active_, before_;
};

void applyThreads(int threads) {
  if (threads < 0) throw InvalidArgument("threads must be >= 0");
  if (threads > 0) at::set_num_threads(threads);
}

// L x P tensor from a row-major bands x P table.
torch::Tensor tableTensor(const EndmemberTable& t) {
  return torch::from_blob(const_cast<float*>(t.values.data()), {t.bands, t.endmembers()},
                          torch::kFloat32)
      .clone();
}

EndmemberTable tensorTable(const torch::Tensor& E, const std::vector<std::string>& names,
                           const std::vector<double>& wavelengths) {
  torch::Tensor c = E.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  EndmemberTable t;
  t.names = names;
  t.wavelengths = wavelengths;
  t.bands = static_cast<int>(c.size(0));
  t.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return t;
}

// Scene tile (data units, L x h x w, NaN = nodata) -> scaled 1 x L x h x w with nodata
// pixels replaced by `fill` (scaled, L), and the 1 x 1 x h x w validity mask.
std::pair<torch::Tensor, torch::Tensor> prepareScene(const torch::Tensor& raw, double scale,
                                                     const torch::Tensor& fill) {
  torch::Tensor valid = torch::isfinite(raw).all(0, true);  // 1 x h x w
  torch::Tensor y = torch::where(valid, raw * scale, fill.reshape({-1, 1, 1}));
  return {y.unsqueeze(0), valid.unsqueeze(0).to(torch::kFloat32)};
}

// FCLS start for a batch B x L x h x w -> B x P x h x w.
torch::Tensor fclsStart(const torch::Tensor& E, const torch::Tensor& scene) {
  const auto s = scene.sizes();
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < s[0]; ++b) {
    torch::Tensor pix = scene[b].reshape({s[1], s[2] * s[3]});
    out.push_back(fclsAbundances(E.detach(), pix).reshape({E.size(1), s[2], s[3]}));
  }
  return torch::stack(out).to(scene.device());
}

struct Prepared {
  DeqNetwork network;
  torch::Tensor endmembers;      // scaled, on device
  torch::Tensor endmembersData;  // data units, on device
  torch::Tensor fill;            // scaled, L
  double scale = 1;
};

Prepared prepareModel(const DeqModel& model, const torch::Device& device) {
  if (model.endmembers.bands != model.bands || model.endmembers.endmembers() < 2)
    throw InvalidArgument("DEQ-Unmix model: endmember table does not match its band count");
  Prepared p;
  p.scale = model.inputScale;
  p.network = DeqNetwork::fromTensors(model.bands, model.endmembers.endmembers(), model.network,
                                      model.weights, device);
  p.endmembersData = tableTensor(model.endmembers).to(device);
  p.endmembers = p.endmembersData * p.scale;
  p.fill = p.endmembers.mean(1);
  return p;
}

std::string num(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

std::vector<std::pair<std::string, std::string>> describe(const DeqTrainOptions& o,
                                                          const DeqInferOptions& inf) {
  auto solver = [](const DeqSolverOptions& s) {
    return std::string(toString(s.kind)) + " max_iterations=" + std::to_string(s.maxIterations) +
           " tolerance=" + num(s.tolerance) + " history=" + std::to_string(s.history) +
           " regularization=" + num(s.regularization) + " damping=" + num(s.damping);
  };
  return {
      {"endmembers", std::to_string(o.endmembers)},
      {"epochs", std::to_string(o.epochs)},
      {"seed", std::to_string(o.seed)},
      {"gradient", toString(o.gradient)},
      {"hidden_channels", std::to_string(o.network.hiddenChannels)},
      {"hidden_layers", std::to_string(o.network.hiddenLayers)},
      {"network_input", toString(o.network.input)},
      {"initial_step", num(o.network.initialStep)},
      {"spatial_weight", num(o.network.spatialWeight)},
      {"spatial_prox", toString(o.network.spatialProx)},
      {"superpixel_size", std::to_string(o.network.superpixelSize)},
      {"forward_solver", solver(o.forward)},
      {"backward_solver", solver(o.backward)},
      {"inference_solver", solver(inf.solver)},
      {"phantom_steps", std::to_string(o.phantomSteps)},
      {"phantom_damping", num(o.phantomDamping)},
      {"network_learning_rate", num(o.networkLearningRate)},
      {"endmember_learning_rate", num(o.endmemberLearningRate)},
      {"train_endmembers", o.trainEndmembers ? "true" : "false"},
      {"weight_decay", num(o.weightDecay)},
      {"decay_every", std::to_string(o.decayEvery)},
      {"decay_factor", num(o.decayFactor)},
      {"gradient_clip", num(o.gradientClip)},
      {"alpha", num(o.alpha)},
      {"refinement", toString(o.refinement)},
      {"refinement_radius", num(o.refinementRadius)},
      {"refinement_iterations", std::to_string(o.refinementIterations)},
      {"min_volume_outside_fraction", num(o.minVolumeOutsideFraction)},
      {"min_volume_iterations", std::to_string(o.minVolumeIterations)},
      {"memory_budget_mib", num(o.memoryBudgetMiB)},
      {"tile_size", std::to_string(o.tileSize)},
      {"tiles_per_step", std::to_string(o.tilesPerStep)},
      {"device", o.device},
  };
}

// AdamW (Loshchilov and Hutter, ICLR 2019), the update of torch.optim.AdamW.
struct AdamW {
  struct Slot {
    torch::Tensor param, m, v;
    double* lr;
  };
  std::vector<Slot> slots;
  double weightDecay = 0;
  int64_t step = 0;
  void add(const torch::Tensor& p, double* lr) {
    slots.push_back({p, torch::zeros_like(p), torch::zeros_like(p), lr});
  }
  void update() {
    torch::NoGradGuard noGrad;
    ++step;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const double c1 = 1 - std::pow(b1, double(step)), c2 = 1 - std::pow(b2, double(step));
    for (Slot& s : slots) {
      torch::Tensor g = s.param.grad();
      if (!g.defined()) continue;
      s.param.mul_(1 - *s.lr * weightDecay);
      s.m.mul_(b1).add_(g, 1 - b1);
      s.v.mul_(b2).addcmul_(g, g, 1 - b2);
      torch::Tensor denom = (s.v / c2).sqrt_().add_(eps);
      s.param.addcdiv_(s.m, denom, -*s.lr / c1);
    }
  }
};

// Non-finite values would otherwise end in an internal LibTorch error some steps later.
void checkFinite(double loss, const AdamW& opt, int epoch, double learningRate) {
  bool finite = std::isfinite(loss);
  for (const auto& s : opt.slots) finite = finite && s.param.isfinite().all().item<bool>();
  if (!finite)
    throw InvalidArgument("training diverged at epoch " + std::to_string(epoch) + " (the " +
                          (std::isfinite(loss) ? "network's weights are" : "loss is") +
                          " not finite): lower the network learning rate (now " +
                          num(learningRate) +
                          ") or the weight decay, and keep gradient clipping on");
}

// Adam moves every weight by about the learning rate per step: beyond 1 it overshoots any
// weight of the network.
void checkLearningRate(double rate, const std::string& which, double defaultRate) {
  if (!(rate >= 0 && rate <= 1))
    throw InvalidArgument("the " + which + " learning rate is " + num(rate) +
                          ", out of range [0, 1] (the default is " + num(defaultRate) + ")");
}

void validateTrain(const DeqTrainInput& in, const DeqTrainOptions& o) {
  o.network.validate("network");
  if (in.bands < 2 || in.height < 1 || in.width < 1)
    throw InvalidArgument("training scene: needs at least 2 bands and 1 x 1 pixels");
  if (in.scene.size() != size_t(in.bands) * in.height * in.width)
    throw InvalidArgument("training scene: expected bands x height x width values");
  if (o.epochs < 1) throw InvalidArgument("epochs must be >= 1");
  const int rf = 2 * (o.network.hiddenLayers + 1) + 1;
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
  } else if (o.endmembers < 2 || o.endmembers >= in.bands) {
    throw InvalidArgument("endmember count must satisfy 2 <= endmembers < bands");
  }
  const int P = in.hasInitialEndmembers ? in.initialEndmembers.endmembers() : o.endmembers;
  if (!in.referenceAbundances.empty() &&
      in.referenceAbundances.size() != size_t(P) * in.height * in.width)
    throw InvalidArgument("reference abundances: expected " + std::to_string(P) +
                          " bands of the scene's size");
  o.forward.validate("training forward solver");
  o.backward.validate("training backward solver");
  checkLearningRate(o.networkLearningRate, "network", DeqTrainOptions().networkLearningRate);
  checkLearningRate(o.endmemberLearningRate, "endmember", DeqTrainOptions().endmemberLearningRate);
  if (o.decayEvery < 1 || !(o.decayFactor > 0) || o.tileSize < 1 || o.tilesPerStep < 1)
    throw InvalidArgument("training options out of range (decay, tiles)");
}

}  // namespace

DeqTrainResult trainDeqUnmix(const DeqTrainInput& in, const DeqTrainOptions& options,
                             const DeqInferOptions& inference, ProgressSink* progress) {
  DeqTrainOptions o = options;  // automatic settings are resolved in this copy
  validateTrain(in, o);
  inference.solver.validate("inference solver");
  const torch::Device device = parseDevice(o.device);
  const FullFloat32Convolutions fullFloat32(device);
  applyThreads(o.threads);
  const auto t0 = Clock::now();
  const int L = in.bands, H = in.height, W = in.width;
  const int64_t N = int64_t(H) * W;
  const bool supervised = !in.referenceAbundances.empty();

  torch::Tensor raw =
      torch::from_blob(const_cast<float*>(in.scene.data()), {L, H, W}, torch::kFloat32);
  torch::Tensor validFlat = torch::isfinite(raw).all(0).reshape({-1});
  const int64_t validCount = validFlat.sum().item<int64_t>();
  if (validCount < 1) throw InvalidArgument("training scene has no valid pixel");
  torch::Tensor validPixels =
      raw.reshape({L, N}).index({torch::indexing::Slice(), validFlat}).contiguous();  // L x Nv
  // In double: squares of values beyond 1.8e19 overflow float32.
  const double rms = validPixels.to(torch::kFloat64).pow(2).mean().sqrt().item<double>();
  if (!(rms > 0) || !std::isfinite(rms))
    throw InvalidArgument("training scene is all zeros or not finite");
  const double scale = 1.0 / rms;

  // --- Endmembers: VCA (or given), refinement.
  ProgressRange initProgress(progress, 0.0, 0.05);
  torch::Tensor E0;  // data units, L x P, CPU
  std::vector<std::string> names;
  if (in.hasInitialEndmembers) {
    E0 = tableTensor(in.initialEndmembers);
    names = in.initialEndmembers.names;
  } else {
    if (validCount < o.endmembers)
      throw InvalidArgument("training scene has fewer valid pixels than endmembers");
    MatrixPixelSource source(in.scene, L, N);
    VcaOptions vo;
    vo.endmembers = o.endmembers;
    vo.seed = o.seed;
    VcaResult v = vca(source, vo, &initProgress);
    EndmemberTable t;
    t.bands = L;
    t.names = defaultEndmemberNames(o.endmembers);
    t.values = v.spectra;
    E0 = tableTensor(t);
    names = t.names;
  }
  const int P = static_cast<int>(E0.size(1));
  // Automatic settings follow how well the scene fits the linear sum-to-one model.
  double automaticExcess = 0;
  if (o.refinement == EndmemberRefinement::Automatic || o.alpha < 0) {
    automaticExcess = affineModelExcess(validPixels, P);
    const bool linear = automaticExcess <= o.automaticExcessThreshold;
    if (o.refinement == EndmemberRefinement::Automatic)
      o.refinement =
          linear ? EndmemberRefinement::MinimumVolume : EndmemberRefinement::AngularMeanShift;
    if (o.alpha < 0) o.alpha = linear ? o.linearMixtureAlpha : o.variableBrightnessAlpha;
    if (progress)
      progress->info("Departure from the linear sum-to-one mixing model " + num(automaticExcess) +
                     " (threshold " + num(o.automaticExcessThreshold) + "): " +
                     (linear ? "linear mixture" : "varying brightness or nonlinear mixing") +
                     "; refinement " + toString(o.refinement) + ", alpha " + num(o.alpha));
  }
  const EndmemberRefinement refinement = o.refinement;
  if (refinement == EndmemberRefinement::AngularMeanShift) {
    std::vector<bool> moved;
    E0 = refineEndmembersMeanShift(E0, validPixels, o.refinementRadius, o.refinementIterations,
                                   o.refinementMinPixels, &moved);
    int count = 0;
    for (bool b : moved) count += b;
    if (progress)
      progress->info("Angular mean-shift refinement moved " + std::to_string(count) + " of " +
                     std::to_string(P) + " endmembers");
  }
  if (refinement == EndmemberRefinement::MinimumVolume) {
    // Optionally on spatially averaged pixels ((2r+1)^2 box over valid neighbours): noise
    // within the signal subspace is what moves the facets, and averaging divides it.
    torch::Tensor mvPixels = validPixels;
    if (o.minVolumeSmoothing > 0) {
      const int r = o.minVolumeSmoothing;
      torch::Tensor v = torch::isfinite(raw).all(0, true).to(torch::kFloat32);  // 1 x H x W
      torch::Tensor x = torch::nan_to_num(raw, 0.0) * v;
      namespace F = torch::nn::functional;
      auto box = [&](const torch::Tensor& t) {
        return F::avg_pool2d(
            t.unsqueeze(0),
            F::AvgPool2dFuncOptions(2 * r + 1).stride(1).padding(r).count_include_pad(false))[0];
      };
      torch::Tensor sm = box(x) / box(v).clamp_min(1e-6);
      mvPixels = sm.reshape({L, N}).index({torch::indexing::Slice(), validFlat}).contiguous();
    }
    E0 = refineEndmembersMinVolume(E0, mvPixels, o.minVolumeOutsideFraction, o.minVolumeIterations,
                                   o.minVolumeNoiseMargin);
    if (progress) progress->info("Minimum-volume refinement of the endmembers");
  }
  E0 = E0.clamp_min(0);
  throwIfCanceled(progress);

  // --- Scaled scene, FCLS start.
  torch::Tensor Es0 = (E0 * scale).to(device);
  torch::Tensor fill = Es0.mean(1);
  auto prepared = prepareScene(raw.to(device), scale, fill);
  torch::Tensor Y = prepared.first;      // 1 x L x H x W
  torch::Tensor mask = prepared.second;  // 1 x 1 x H x W
  torch::Tensor A0 = fclsStart(Es0, Y);  // 1 x P x H x W
  // Superpixels of the raw scene, once (1 x H x W; the map's prox pools over them), in the
  // scene's feature space, which the model keeps for inference (DeqNetwork).
  torch::Tensor superpixels;
  SuperpixelFeatures superpixelFeatures;
  if (o.network.spatialProx == SpatialProx::Superpixel && o.network.spatialWeight > 0) {
    superpixelFeatures = computeSuperpixelFeatures(in.scene.data(), L, H, W);
    superpixels = superpixelLabels(raw, o.network.superpixelSize, 0, 0, superpixelFeatures)
                      .unsqueeze(0)
                      .to(device);
    if (progress)
      progress->info("SLIC superpixels for the spatial prox: " +
                     std::to_string(superpixels.max().item<int64_t>() + 1) + " (size " +
                     std::to_string(o.network.superpixelSize) + ")");
  }
  initProgress.setProgress(1.0);

  torch::Tensor Aref;
  if (supervised) {
    Aref = torch::from_blob(const_cast<float*>(in.referenceAbundances.data()), {1, P, H, W},
                            torch::kFloat32)
               .clone()
               .to(device);
    // The VCA order is arbitrary: permute E's columns to the reference's order by the
    // least abundance error of the FCLS start.
    if (!in.hasInitialEndmembers) {
      torch::Tensor est =
          A0[0].reshape({P, N}).t().index({validFlat.to(device)}).cpu().contiguous();
      torch::Tensor ref =
          Aref[0].reshape({P, N}).t().index({validFlat.to(device)}).cpu().contiguous();
      AbundanceErrorAccumulator acc(P);
      acc.add(est.data_ptr<float>(), ref.data_ptr<float>(), est.size(0));
      std::vector<int> refOf = acc.bestMatch();  // refOf[e] = reference of estimate e
      std::vector<int64_t> order(P);
      for (int e = 0; e < P; ++e) order[refOf[e]] = e;
      torch::Tensor idx = torch::tensor(order, torch::kLong);
      E0 = E0.index_select(1, idx);
      Es0 = Es0.index_select(1, idx.to(device));
      A0 = A0.index_select(1, idx.to(device));
    }
    Aref = torch::where(mask > 0, Aref, A0);
  }

  DeqTrainResult result;
  {
    torch::Tensor a0 = A0[0].clone();
    a0.masked_fill_(mask[0].expand({P, H, W}) == 0, std::numeric_limits<float>::quiet_NaN());
    a0 = a0.cpu().contiguous();
    result.initialAbundances.assign(a0.data_ptr<float>(), a0.data_ptr<float>() + a0.numel());
  }

  // --- Parameters and optimiser.
  DeqNetwork net = DeqNetwork::create(L, P, o.network, o.seed, device);
  net.superpixelFeatures = std::move(superpixelFeatures);
  net.setRequiresGrad(true);
  torch::Tensor E = Es0.clone().requires_grad_(o.trainEndmembers);
  double lrNet = o.networkLearningRate, lrE = o.endmemberLearningRate;
  AdamW opt;
  opt.weightDecay = o.weightDecay;
  for (const torch::Tensor& p : net.parameters()) opt.add(p, &lrNet);
  if (o.trainEndmembers) opt.add(E, &lrE);

  // --- Whole image or tiles.
  const int m = o.forward.history;
  const int C = o.network.hiddenChannels;
  const double graphFloats = 2.0 * L + 3.0 * P + C * (3.0 * (o.network.hiddenLayers + 1) + 1);
  const double perPixel =
      4.0 * (L + 2.0 * P + 4.0 * m * P +
             2.0 * graphFloats *
                 (o.gradient == DeqGradientMode::Unrolled  ? o.forward.maxIterations
                  : o.gradient == DeqGradientMode::Phantom ? std::max(1, o.phantomSteps)
                                                           : 1));
  const bool tiled = perPixel * double(N) > o.memoryBudgetMiB * 1048576.0;
  const int tile = std::min({o.tileSize, H, W});
  const int stepsPerEpoch =
      tiled ? int(std::max<int64_t>(1, (validCount + int64_t(o.tilesPerStep) * tile * tile - 1) /
                                           (int64_t(o.tilesPerStep) * tile * tile)))
            : 1;
  if (tiled && progress)
    progress->info("Scene exceeds the training memory budget: training on " +
                   std::to_string(o.tilesPerStep) + " random " + std::to_string(tile) + " x " +
                   std::to_string(tile) + " tiles per step, " + std::to_string(stepsPerEpoch) +
                   " steps per epoch");
  std::mt19937_64 rng(o.seed + 7);

  ProgressRange trainProgress(progress, 0.05, 0.9);
  DeqSolveStats allForward;
  torch::Tensor adjoint;  // the previous step's implicit-backward solution
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    throwIfCanceled(progress);
    const auto te = Clock::now();
    const double decay = std::pow(o.decayFactor, double((epoch - 1) / o.decayEvery));
    lrNet = o.networkLearningRate * decay;
    lrE = o.endmemberLearningRate * decay;
    DeqEpochStats es;
    es.epoch = epoch;
    double sumLoss = 0, sumSad = 0, sumMse = 0, sumAbund = 0, sumGrad = 0;
    for (int step = 0; step < stepsPerEpoch; ++step) {
      torch::Tensor y = Y, a0 = A0, mk = mask, ar = Aref, sp = superpixels;
      if (tiled) {
        std::uniform_int_distribution<int> dr(0, H - tile), dc(0, W - tile);
        std::vector<torch::Tensor> ys, as, ms, rs, ss;
        for (int k = 0; k < o.tilesPerStep; ++k) {
          const int r = dr(rng), c = dc(rng);
          using torch::indexing::Slice;
          auto crop = [&](const torch::Tensor& t) {
            return t.index({0, Slice(), Slice(r, r + tile), Slice(c, c + tile)});
          };
          ys.push_back(crop(Y));
          as.push_back(crop(A0));
          ms.push_back(crop(mask));
          if (supervised) rs.push_back(crop(Aref));
          // A tile keeps the scene's labels: a superpixel cut by the tile edge pools over
          // its part inside the tile.
          if (superpixels.defined())
            ss.push_back(superpixels.index({0, Slice(r, r + tile), Slice(c, c + tile)}));
        }
        y = torch::stack(ys);
        a0 = torch::stack(as);
        mk = torch::stack(ms);
        if (supervised) ar = torch::stack(rs);
        if (superpixels.defined()) sp = torch::stack(ss);
      }
      for (const torch::Tensor& p : net.parameters())
        if (p.grad().defined()) p.mutable_grad().zero_();
      if (E.grad().defined()) E.mutable_grad().zero_();
      DeqUnmixMap map(net, E, y, sp);
      double sad = 0, mse = 0, abundMse = 0;
      DeqLoss loss = [&](const torch::Tensor& a) {
        if (supervised) {
          torch::Tensor l = maskedMse(a, ar, mk);
          abundMse = l.item<double>();
          return l;
        }
        torch::Tensor yhat = reconstructScene(E, a);
        torch::Tensor s = maskedSpectralAngle(y, yhat, mk);
        torch::Tensor e = maskedMse(y, yhat, mk);
        sad = s.item<double>();
        mse = e.item<double>();
        return s + o.alpha * e;
      };
      DeqGradientResult g = deqGradient(map.asMap(), a0, loss, o, progress, adjoint);
      // Whole-scene training sees the same pixels every step: the next backward solve
      // starts from this one's solution (tiles differ from step to step, so they do not).
      if (!tiled) adjoint = g.adjoint;
      // Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_).
      double sq = 0;
      for (const auto& s : opt.slots)
        if (s.param.grad().defined()) sq += s.param.grad().pow(2).sum().item<double>();
      const double gnorm = std::sqrt(sq);
      if (o.gradientClip > 0 && gnorm > o.gradientClip) {
        torch::NoGradGuard noGrad;
        for (auto& s : opt.slots)
          if (s.param.grad().defined())
            s.param.mutable_grad().mul_(o.gradientClip / (gnorm + 1e-6));
      }
      if (std::isfinite(gnorm)) opt.update();
      if (o.trainEndmembers) {
        torch::NoGradGuard noGrad;
        E.clamp_min_(o.minEndmemberValue * scale);
      }
      checkFinite(g.loss, opt, epoch, lrNet);
      sumLoss += g.loss;
      sumSad += sad;
      sumMse += mse;
      sumAbund += abundMse;
      sumGrad += gnorm;
      es.forward.add(g.forward);
      es.backward.add(g.backward);
    }
    es.loss = sumLoss / stepsPerEpoch;
    es.spectralAngle = sumSad / stepsPerEpoch;
    es.mse = sumMse / stepsPerEpoch;
    es.abundanceMse = sumAbund / stepsPerEpoch;
    es.gradientNorm = sumGrad / stepsPerEpoch;
    es.networkLearningRate = lrNet;
    es.endmemberLearningRate = o.trainEndmembers ? lrE : 0.0;
    es.eta = net.stepInLipschitzUnits();
    es.seconds = secondsSince(te);
    allForward.add(es.forward);
    result.epochs.push_back(es);
    if (progress && (epoch == 1 || epoch % 25 == 0 || epoch == o.epochs)) {
      std::ostringstream s;
      s.precision(4);
      s << "epoch " << epoch << "/" << o.epochs << ": loss " << es.loss << ", forward "
        << es.forward.meanIterations() << " it (rel. residual " << es.forward.lastRelativeResidual
        << ")";
      if (o.gradient == DeqGradientMode::Implicit)
        s << ", backward " << es.backward.meanIterations() << " it";
      progress->info(s.str());
    }
    trainProgress.setProgress(double(epoch) / o.epochs);
  }
  const double trainingSeconds = secondsSince(t0);

  // --- The model.
  DeqModel& model = result.model;
  model.bands = L;
  model.sourceBands = in.sourceBands ? in.sourceBands : L;
  model.bandSubset = in.bandSubset;
  model.wavelengths = in.wavelengths;
  model.initialEndmembers = tensorTable(E0, names, in.wavelengths);
  model.endmembers =
      tensorTable(o.trainEndmembers ? (E.detach() / scale) : E0, names, in.wavelengths);
  model.inputScale = scale;
  model.network = o.network;
  model.solver = inference.solver;
  model.weights = net.toTensors();
  model.hyperparameters = describe(o, inference);
  result.refinement = refinement;
  result.affineModelExcess = automaticExcess;
  model.summary.epochs = o.epochs;
  model.summary.finalLoss = result.epochs.back().loss;
  model.summary.trainingSeconds = trainingSeconds;
  model.summary.meanForwardIterations = allForward.meanIterations();
  model.summary.convergedFraction = allForward.convergedFraction();
  model.summary.supervised = supervised;
  model.summary.tiled = tiled;
  for (const auto& e : result.epochs) model.lossHistory.push_back(e.loss);
  model.torchVersion = TORCH_VERSION;
  model.coreVersion = "dequnmix-core 0.1.0";

  // --- Output abundances through the inference path (what `unmix` reproduces).
  ProgressRange outProgress(progress, 0.9, 1.0);
  DeqInferOptions io = inference;
  io.device = o.device;
  if (io.threads == 0) io.threads = o.threads;
  DeqInferResult out = unmixSceneWithDeqModel(model, in.scene, H, W, io, &outProgress);
  result.abundances = std::move(out.abundances);
  result.residual = std::move(out.residual);
  result.inference = out.stats.solver;
  return result;
}

DeqInferStats unmixWithDeqModel(const DeqModel& model, int height, int width, DeqTileReader& reader,
                                DeqTileWriter& writer, const DeqInferOptions& o,
                                ProgressSink* progress) {
  if (height < 1 || width < 1) throw InvalidArgument("unmix: empty scene");
  if (o.tileSize < 1 || o.halo < 0) throw InvalidArgument("unmix: tile size >= 1, halo >= 0");
  o.solver.validate("inference solver");
  const torch::Device device = parseDevice(o.device);
  const FullFloat32Convolutions fullFloat32(device);
  applyThreads(o.threads);
  const auto t0 = Clock::now();
  Prepared pm = prepareModel(model, device);
  const int L = model.bands, P = model.endmembers.endmembers();
  const int T = o.tileSize;
  const int tilesY = (height + T - 1) / T, tilesX = (width + T - 1) / T;
  const int64_t tiles = int64_t(tilesY) * tilesX;
  DeqInferStats stats;
  double residualSum = 0;
  std::vector<float> buffer;
  torch::NoGradGuard noGrad;
  for (int ty = 0; ty < tilesY; ++ty) {
    for (int tx = 0; tx < tilesX; ++tx) {
      throwIfCanceled(progress);
      const int r0 = ty * T, c0 = tx * T;
      const int th = std::min(T, height - r0), tw = std::min(T, width - c0);
      const int R0 = std::max(0, r0 - o.halo), C0 = std::max(0, c0 - o.halo);
      const int R1 = std::min(height, r0 + th + o.halo), C1 = std::min(width, c0 + tw + o.halo);
      const int rows = R1 - R0, cols = C1 - C0;
      buffer.assign(size_t(L) * rows * cols, 0.0f);
      reader.read(R0, C0, rows, cols, buffer.data());
      torch::Tensor raw =
          torch::from_blob(buffer.data(), {L, rows, cols}, torch::kFloat32).to(device);
      auto [y, mask] = prepareScene(raw, pm.scale, pm.fill);
      using torch::indexing::Slice;
      const Slice sr(r0 - R0, r0 - R0 + th), sc(c0 - C0, c0 - C0 + tw);
      torch::Tensor validCore = mask.index({0, 0, sr, sc}) > 0;
      const int64_t nValid = validCore.sum().item<int64_t>();
      torch::Tensor A;
      if (nValid > 0) {
        torch::Tensor a0 = fclsStart(pm.endmembers, y);
        // Superpixels of this tile window (tile + halo) in the training scene's feature
        // space, see DeqNetworkOptions::spatialProx.
        torch::Tensor superpixels;
        if (pm.network.options.spatialProx == SpatialProx::Superpixel &&
            pm.network.options.spatialWeight > 0)
          superpixels = superpixelLabels(raw, pm.network.options.superpixelSize, R0, C0,
                                         pm.network.superpixelFeatures)
                            .unsqueeze(0);
        DeqUnmixMap map(pm.network, pm.endmembers, y, superpixels);
        FixedPointResult fp = solveFixedPoint(map.asMap(), a0, o.solver, progress);
        stats.solver.add(fp.stats);
        A = fp.solution.index({0, Slice(), sr, sc});
      } else {
        A = torch::zeros({P, th, tw}, y.options());
      }
      torch::Tensor invalid = validCore.logical_not();
      torch::Tensor Aout = A.masked_fill(invalid.unsqueeze(0).expand({P, th, tw}),
                                         std::numeric_limits<float>::quiet_NaN())
                               .to(torch::kCPU)
                               .contiguous();
      torch::Tensor resid;
      if (o.computeResidual) {
        torch::Tensor yd = raw.index({Slice(), sr, sc});
        torch::Tensor rec = reconstructScene(pm.endmembersData, A.unsqueeze(0))[0];
        // In double: squares of values beyond 1.8e19 overflow float32.
        torch::Tensor r = (rec - yd).to(torch::kFloat64).pow(2).mean(0).sqrt().to(yd.dtype());
        r = r.masked_fill(invalid, std::numeric_limits<float>::quiet_NaN());
        if (nValid > 0) residualSum += r.masked_fill(invalid, 0).sum().item<double>();
        resid = r.to(torch::kCPU).contiguous();
      }
      writer.write(r0, c0, th, tw, Aout.data_ptr<float>(),
                   resid.defined() ? resid.data_ptr<float>() : nullptr);
      stats.validPixels += nValid;
      ++stats.tiles;
      if (progress) progress->setProgress(double(stats.tiles) / double(tiles));
    }
  }
  stats.seconds = secondsSince(t0);
  stats.meanResidualRmse = stats.validPixels ? residualSum / double(stats.validPixels) : 0.0;
  stats.pixelsPerSecond = double(height) * width / std::max(stats.seconds, 1e-9);
  if (progress && stats.solver.solves > stats.solver.converged)
    progress->warning("DEQ-Unmix: " + std::to_string(stats.solver.solves - stats.solver.converged) +
                      " of " + std::to_string(stats.solver.solves) +
                      " tile solves stopped at the iteration cap before the tolerance "
                      "(largest relative residual " +
                      num(stats.solver.maxRelativeResidual) + ")");
  return stats;
}

namespace {
class VectorReader final : public DeqTileReader {
 public:
  VectorReader(const std::vector<float>& scene, int bands, int height, int width)
      : scene_(scene), bands_(bands), height_(height), width_(width) {}
  void read(int row, int col, int rows, int cols, float* values) override {
    for (int b = 0; b < bands_; ++b)
      for (int r = 0; r < rows; ++r)
        std::copy_n(scene_.data() + (int64_t(b) * height_ + row + r) * width_ + col, cols,
                    values + (int64_t(b) * rows + r) * cols);
  }

 private:
  const std::vector<float>& scene_;
  int bands_, height_, width_;
};

class VectorWriter final : public DeqTileWriter {
 public:
  VectorWriter(DeqInferResult& out, int P, int height, int width, bool residual)
      : out_(out), P_(P), height_(height), width_(width) {
    out_.abundances.assign(size_t(P) * height * width, 0.0f);
    if (residual) out_.residual.assign(size_t(height) * width, 0.0f);
  }
  void write(int row, int col, int rows, int cols, const float* a, const float* res) override {
    for (int p = 0; p < P_; ++p)
      for (int r = 0; r < rows; ++r)
        std::copy_n(a + (int64_t(p) * rows + r) * cols, cols,
                    out_.abundances.data() + (int64_t(p) * height_ + row + r) * width_ + col);
    if (res && !out_.residual.empty())
      for (int r = 0; r < rows; ++r)
        std::copy_n(res + int64_t(r) * cols, cols,
                    out_.residual.data() + int64_t(row + r) * width_ + col);
  }

 private:
  DeqInferResult& out_;
  int P_, height_, width_;
};
}  // namespace

DeqInferResult unmixSceneWithDeqModel(const DeqModel& model, const std::vector<float>& scene,
                                      int height, int width, const DeqInferOptions& options,
                                      ProgressSink* progress) {
  if (scene.size() != size_t(model.bands) * height * width)
    throw BandMismatchError("unmix: the scene must hold " + std::to_string(model.bands) +
                            " bands of " + std::to_string(width) + " x " + std::to_string(height) +
                            " pixels (the model's band count)");
  DeqInferResult result;
  VectorReader reader(scene, model.bands, height, width);
  VectorWriter writer(result, model.endmembers.endmembers(), height, width,
                      options.computeResidual);
  result.stats = unmixWithDeqModel(model, height, width, reader, writer, options, progress);
  return result;
}

}  // namespace dequnmix
