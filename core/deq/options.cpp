// Option names (one table per enum) and the one set of bounds of the DEQ options
// (deq_unmix.h).
#include <cmath>
#include <sstream>
#include <utility>

#include "core/deq/deq_ops.h"
#include "core/deq/option_fields.h"
#include "core/errors.h"
#include "core/runtime.h"

namespace dequnmix {

namespace {

template <class Enum>
using NameTable = std::vector<std::pair<Enum, const char*>>;

template <class Enum>
struct Names;  // table() and what, one specialisation per enum
template <>
struct Names<DeqGradientMode> {
  static constexpr const char* what = "gradient mode";
  static const NameTable<DeqGradientMode>& table() {
    static const NameTable<DeqGradientMode> t = {{DeqGradientMode::Implicit, "implicit"},
                                                 {DeqGradientMode::Phantom, "phantom"},
                                                 {DeqGradientMode::Unrolled, "unrolled"}};
    return t;
  }
};
template <>
struct Names<DeqNetworkInput> {
  static constexpr const char* what = "network input";
  static const NameTable<DeqNetworkInput>& table() {
    static const NameTable<DeqNetworkInput> t = {
        {DeqNetworkInput::ResidualAndAbundances, "residual"},
        {DeqNetworkInput::ProjectedResidualAndAbundances, "projected_residual"}};
    return t;
  }
};
template <>
struct Names<EndmemberRefinement> {
  static constexpr const char* what = "endmember refinement";
  static const NameTable<EndmemberRefinement>& table() {
    static const NameTable<EndmemberRefinement> t = {
        {EndmemberRefinement::None, "none"},
        {EndmemberRefinement::AngularMeanShift, "mean_shift"},
        {EndmemberRefinement::MinimumVolume, "min_volume"},
        {EndmemberRefinement::Automatic, "auto"},
        {EndmemberRefinement::PureClusters, "pure_clusters"},
        {EndmemberRefinement::MinimumVolumeOfDirections, "min_volume_directions"}};
    return t;
  }
};

template <>
struct Names<ScaleInvariance> {
  static constexpr const char* what = "scale invariance";
  static const NameTable<ScaleInvariance>& table() {
    static const NameTable<ScaleInvariance> t = {{ScaleInvariance::Off, "off"},
                                                 {ScaleInvariance::On, "on"},
                                                 {ScaleInvariance::Automatic, "auto"}};
    return t;
  }
};

std::string listed(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return s;
}

void requireInRange(bool ok, const std::string& what, const std::string& setting, double value,
                    const std::string& range) {
  if (!ok)
    throw InvalidArgument(what + ": " + setting + " is " + messageNumber(value) +
                          ", out of range " + range);
}

// "low..high", as the range of requireInRange.
std::string upTo(int low, int high) { return std::to_string(low) + ".." + std::to_string(high); }

void requireName(bool known, const std::string& what, const std::string& setting,
                 const std::string& name, const std::vector<std::string>& names) {
  if (!known)
    throw InvalidArgument(what + ": unknown " + setting + " '" + name + "' (expected " +
                          listed(names) + ")");
}

}  // namespace

template <class Enum>
const std::vector<std::string>& enumNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& entry : Names<Enum>::table()) n.push_back(entry.second);
    return n;
  }();
  return names;
}

template <class Enum>
const char* toString(Enum value) {
  for (const auto& entry : Names<Enum>::table())
    if (entry.first == value) return entry.second;
  return "?";
}

template <class Enum>
Enum parseEnum(const std::string& name) {
  for (const auto& entry : Names<Enum>::table())
    if (name == entry.second) return entry.first;
  throw InvalidArgument("unknown " + std::string(Names<Enum>::what) + " '" + name + "' (expected " +
                        listed(enumNames<Enum>()) + ")");
}

#define DEQUNMIX_NAMED_ENUM(Enum)                             \
  template const std::vector<std::string>& enumNames<Enum>(); \
  template const char* toString<Enum>(Enum);                  \
  template Enum parseEnum<Enum>(const std::string&);
DEQUNMIX_NAMED_ENUM(DeqGradientMode)
DEQUNMIX_NAMED_ENUM(DeqNetworkInput)
DEQUNMIX_NAMED_ENUM(EndmemberRefinement)
DEQUNMIX_NAMED_ENUM(ScaleInvariance)
#undef DEQUNMIX_NAMED_ENUM

void DeqSolverOptions::validate(const std::string& what) const {
  requireName(isFixedPointSolver(kind), what, "solver", kind, fixedPointSolverNames());
  requireInRange(maxIterations >= 1 && maxIterations <= DeqLimits::kMaxIterations, what,
                 "maximum iterations", maxIterations, upTo(1, DeqLimits::kMaxIterations));
  requireInRange(tolerance >= 0 && tolerance <= 1, what, "tolerance", tolerance, "[0, 1]");
  requireInRange(history >= 0 && history <= DeqLimits::kMaxHistory, what, "history", history,
                 upTo(0, DeqLimits::kMaxHistory));
  requireInRange(regularization >= 0 && std::isfinite(regularization), what, "regularization",
                 regularization, "[0, infinity)");
  requireInRange(damping > 0 && damping <= 1, what, "damping", damping, "(0, 1]");
}

double DeqTrainOptions::memoryBudgetInEffectMiB() const {
  if (memoryBudgetMiB > 0) return memoryBudgetMiB;
  const double ram = physicalMemoryMiB();
  return ram > 0 ? ram / 4 : 1024;
}

void DeqNetworkOptions::validate(const std::string& what) const {
  requireInRange(hiddenChannels >= 1 && hiddenChannels <= DeqLimits::kMaxHiddenChannels, what,
                 "hidden channels", hiddenChannels, upTo(1, DeqLimits::kMaxHiddenChannels));
  requireInRange(hiddenLayers >= 0 && hiddenLayers <= DeqLimits::kMaxHiddenLayers, what,
                 "hidden layers", hiddenLayers, upTo(0, DeqLimits::kMaxHiddenLayers));
  requireInRange(initialStep > 0 && std::isfinite(initialStep), what, "initial step", initialStep,
                 "(0, infinity)");
  requireInRange(anchorWeight >= 0 && anchorWeight <= 1, what, "anchor weight", anchorWeight,
                 "[0, 1]");
  requireInRange(spatialWeight >= 0 && spatialWeight < 1, what, "spatial prox weight",
                 spatialWeight, "[0, 1)");
  requireName(isSpatialProx(spatialProx), what, "spatial prox", spatialProx, spatialProxNames());
  requireInRange(superpixelSize >= DeqLimits::kMinSuperpixelSize &&
                     superpixelSize <= DeqLimits::kMaxSuperpixelSize,
                 what, "superpixel size", superpixelSize,
                 upTo(DeqLimits::kMinSuperpixelSize, DeqLimits::kMaxSuperpixelSize));
}

namespace {

// Adam moves every weight by about the learning rate per step: beyond 1 it overshoots any
// weight of the network.
void checkLearningRate(double rate, const std::string& which, double defaultRate) {
  if (!(rate >= 0 && rate <= 1))
    throw InvalidArgument("the " + which + " learning rate is " + messageNumber(rate) +
                          ", out of range [0, 1] (the default is " + messageNumber(defaultRate) +
                          ")");
}

// The automatic choices' thresholds, each within the range its comment states.
void validateThresholds(const DeqTrainOptions& o) {
  if (!(o.automaticSizeRatioMin > 0 && o.automaticSizeRatioMax >= o.automaticSizeRatioMin))
    throw InvalidArgument("automatic refinement: the size ratio range must satisfy 0 < min <= max");
  if (!(o.automaticWhiteningSpread >= 0))
    throw InvalidArgument("noise whitening: the spread threshold must be >= 0 (0: never)");
  if (!(o.anomalyResidualRatio >= 0) || !(o.anomalyMaxFraction >= 0 && o.anomalyMaxFraction <= 1))
    throw InvalidArgument(
        "anomalous pixels: the residual ratio must be >= 0 (0: never) and the largest fraction "
        "in [0, 1]");
  if (!(o.automaticSpatialNoiseShare >= 0) ||
      !(o.automaticSpatialCorrelationMax > o.automaticSpatialCorrelationMin))
    throw InvalidArgument(
        "spatial prox strength: the noise share must be >= 0 (0: the weight as given) and the "
        "correlation range must satisfy min < max");
  if (!(o.automaticAnchorGain >= 1) || !std::isfinite(o.automaticAnchorGain))
    throw InvalidArgument("anchor strength: the anchor gain must be finite and >= 1 (1: never)");
  if (!(o.automaticNfindrResidualRatio >= 0))
    throw InvalidArgument("automatic refinement: the N-FINDR residual ratio must be >= 0 (0: off)");
}

}  // namespace

void DeqTrainOptions::validate() const {
  network.validate("network");
  forward.validate("training forward solver");
  backward.validate("training backward solver");
  requireInRange(endmembers >= 0 && endmembers <= DeqLimits::kMaxEndmembers, "training",
                 "endmember count", endmembers, upTo(0, DeqLimits::kMaxEndmembers));
  requireInRange(epochs >= 1 && epochs <= DeqLimits::kMaxEpochs, "training", "epochs", epochs,
                 upTo(1, DeqLimits::kMaxEpochs));
  checkLearningRate(networkLearningRate, "network", DeqTrainOptions().networkLearningRate);
  checkLearningRate(endmemberLearningRate, "endmember", DeqTrainOptions().endmemberLearningRate);
  if (decayEvery < 1 || !(decayFactor > 0) || tileSize < 1 || tilesPerStep < 1 || stepsPerEpoch < 0)
    throw InvalidArgument("training options out of range (decay, tiles)");
  validateThresholds(*this);
}

void DeqInferOptions::validate() const {
  solver.validate("inference solver");
  requireInRange(
      tileSize >= DeqLimits::kMinInferenceTile && tileSize <= DeqLimits::kMaxInferenceTile, "unmix",
      "tile size", tileSize, upTo(DeqLimits::kMinInferenceTile, DeqLimits::kMaxInferenceTile));
  requireInRange(halo >= 0 && halo <= DeqLimits::kMaxHalo, "unmix", "halo", halo,
                 upTo(0, DeqLimits::kMaxHalo));
}

std::string FieldValue::str() const {
  return type == Integer ? std::to_string(integer) : type == Real ? messageNumber(real) : text;
}

namespace {
const char* typeName(FieldValue::Type type) {
  return type == FieldValue::Integer ? "integer" : type == FieldValue::Real ? "real" : "text";
}
}  // namespace

void requireType(const FieldValue& value, FieldValue::Type type) {
  if (value.type != type)
    throw InvalidArgument(std::string("holds ") +
                          (value.type == FieldValue::Integer ? "an " : "a ") +
                          typeName(value.type) + " value, expected " + typeName(type));
}

int64_t integerIn(const FieldValue& value, int64_t low, int64_t high) {
  requireType(value, FieldValue::Integer);
  if (value.integer < low || value.integer > high)
    throw InvalidArgument(std::to_string(value.integer) + " is beyond " + std::to_string(low) +
                          ".." + std::to_string(high));
  return value.integer;
}

bool parseFlag(const FieldValue& value) {
  requireType(value, FieldValue::Text);
  if (value.text != "true" && value.text != "false")
    throw InvalidArgument("'" + value.text + "' is neither true nor false");
  return value.text == "true";
}

const OptionFields<DeqSolverOptions>& solverFields() {
  using O = DeqSolverOptions;
  static const OptionFields<O> fields = {
      textField("kind", &O::kind),
      integerField("max_iterations", &O::maxIterations),
      realField("tolerance", &O::tolerance),
      integerField("history", &O::history),
      realField("regularization", &O::regularization),
      realField("damping", &O::damping),
  };
  return fields;
}

// Resolved settings are written as the flag of format-3 files ("true", "false"), so builds
// from before the automatic choice read the models; "auto" only appears in training records.
OptionField<DeqNetworkOptions> scaleInvarianceField() {
  using O = DeqNetworkOptions;
  return {"scale_invariant", FieldValue::Text,
          [](const O& o) {
            return FieldValue::ofText(o.scaleInvariance == ScaleInvariance::Automatic
                                          ? toString(o.scaleInvariance)
                                      : o.scaleInvariant() ? "true"
                                                           : "false");
          },
          [](O& o, const FieldValue& v) {
            requireType(v, FieldValue::Text);
            o.scaleInvariance = v.text == "true"    ? ScaleInvariance::On
                                : v.text == "false" ? ScaleInvariance::Off
                                                    : parseEnum<ScaleInvariance>(v.text);
          }};
}

const OptionFields<DeqNetworkOptions>& networkFields() {
  using O = DeqNetworkOptions;
  static const OptionFields<O> fields = {
      integerField("hidden_channels", &O::hiddenChannels),
      integerField("hidden_layers", &O::hiddenLayers),
      enumField("network_input", &O::input),
      realField("initial_step", &O::initialStep),
      realField("anchor_weight", &O::anchorWeight),
      scaleInvarianceField(),
      realField("spatial_weight", &O::spatialWeight),
      textField("spatial_prox", &O::spatialProx),
      integerField("superpixel_size", &O::superpixelSize),
  };
  return fields;
}

// The seed is unsigned 64-bit: kept as text, so every value reads back the same.
OptionField<DeqTrainOptions> seedField() {
  return {"seed", FieldValue::Text,
          [](const DeqTrainOptions& o) { return FieldValue::ofText(std::to_string(o.seed)); },
          [](DeqTrainOptions& o, const FieldValue& v) {
            requireType(v, FieldValue::Text);
            try {
              o.seed = std::stoull(v.text);
            } catch (const std::exception&) {
              throw InvalidArgument("'" + v.text + "' is not an unsigned integer");
            }
          }};
}

const OptionFields<DeqTrainOptions>& trainFields() {
  using O = DeqTrainOptions;
  static const OptionFields<O> fields = {
      integerField("endmembers", &O::endmembers),
      integerField("epochs", &O::epochs),
      seedField(),
      enumField("gradient", &O::gradient),
      integerField("phantom_steps", &O::phantomSteps),
      realField("phantom_damping", &O::phantomDamping),
      realField("network_learning_rate", &O::networkLearningRate),
      realField("endmember_learning_rate", &O::endmemberLearningRate),
      flagField("train_endmembers", &O::trainEndmembers),
      flagField("warm_start_forward", &O::warmStartForward),
      flagField("warm_start_backward", &O::warmStartBackward),
      realField("weight_decay", &O::weightDecay),
      integerField("decay_every", &O::decayEvery),
      realField("decay_factor", &O::decayFactor),
      realField("gradient_clip", &O::gradientClip),
      realField("jacobian_penalty", &O::jacobianPenalty),
      realField("alpha", &O::alpha),
      realField("linear_mixture_alpha", &O::linearMixtureAlpha),
      realField("variable_brightness_alpha", &O::variableBrightnessAlpha),
      realField("min_endmember_value", &O::minEndmemberValue),
      enumField("refinement", &O::refinement),
      realField("refinement_radius", &O::refinementRadius),
      integerField("refinement_iterations", &O::refinementIterations),
      integerField("refinement_min_pixels", &O::refinementMinPixels),
      realField("pure_cluster_radius_fraction", &O::pureClusterRadiusFraction),
      realField("pure_cluster_min_density", &O::pureClusterMinDensity),
      realField("pure_cluster_density_gain", &O::pureClusterDensityGain),
      realField("automatic_brightness_gain", &O::automaticBrightnessGain),
      realField("automatic_brightness_share_gain", &O::automaticBrightnessShareGain),
      realField("automatic_brightness_share", &O::automaticBrightnessShare),
      realField("automatic_excess_threshold", &O::automaticExcessThreshold),
      realField("automatic_size_ratio_min", &O::automaticSizeRatioMin),
      realField("automatic_size_ratio_max", &O::automaticSizeRatioMax),
      realField("automatic_norm_ratio_min", &O::automaticNormRatioMin),
      realField("automatic_min_volume_brightness_gain", &O::automaticMinVolumeBrightnessGain),
      realField("automatic_start_brightness_gain", &O::automaticStartBrightnessGain),
      realField("automatic_directions_outside_mass", &O::automaticDirectionsOutsideMass),
      realField("automatic_nfindr_residual_ratio", &O::automaticNfindrResidualRatio),
      realField("automatic_whitening_spread", &O::automaticWhiteningSpread),
      realField("automatic_spatial_noise_share", &O::automaticSpatialNoiseShare),
      realField("automatic_spatial_correlation_min", &O::automaticSpatialCorrelationMin),
      realField("automatic_spatial_correlation_max", &O::automaticSpatialCorrelationMax),
      realField("automatic_anchor_gain", &O::automaticAnchorGain),
      realField("anomaly_residual_ratio", &O::anomalyResidualRatio),
      realField("anomaly_max_fraction", &O::anomalyMaxFraction),
      realField("min_volume_outside_fraction", &O::minVolumeOutsideFraction),
      integerField("min_volume_iterations", &O::minVolumeIterations),
      realField("min_volume_noise_margin", &O::minVolumeNoiseMargin),
      integerField("min_volume_smoothing", &O::minVolumeSmoothing),
      realField("min_volume_dark_fraction", &O::minVolumeDarkFraction),
      realField("memory_budget_mib", &O::memoryBudgetMiB),
      integerField("tile_size", &O::tileSize),
      integerField("tiles_per_step", &O::tilesPerStep),
      integerField("steps_per_epoch", &O::stepsPerEpoch),
      integerField("threads", &O::threads),
      textField("device", &O::device),
  };
  return fields;
}

const OptionFields<DeqInferOptions>& inferenceFields() {
  using O = DeqInferOptions;
  static const OptionFields<O> fields = {
      integerField("inference_tile_size", &O::tileSize),
      integerField("inference_halo", &O::halo),
      flagField("inference_compute_residual", &O::computeResidual),
      integerField("inference_threads", &O::threads),
      textField("inference_device", &O::device),
  };
  return fields;
}

const OptionFields<DeqTrainSummary>& summaryFields() {
  using O = DeqTrainSummary;
  static const OptionFields<O> fields = {
      integerField("epochs", &O::epochs),
      realField("final_loss", &O::finalLoss),
      realField("training_seconds", &O::trainingSeconds),
      realField("mean_forward_iterations", &O::meanForwardIterations),
      realField("converged_fraction", &O::convergedFraction),
      flagField("supervised", &O::supervised),
      flagField("tiled", &O::tiled),
  };
  return fields;
}

namespace {

template <class Options>
void describe(const Options& options, const OptionFields<Options>& fields,
              std::vector<std::pair<std::string, std::string>>& out) {
  for (const OptionField<Options>& f : fields) out.emplace_back(f.name, f.get(options).str());
}

// One line per solver: "anderson max_iterations=10 tolerance=0.0001 ...".
std::string describeSolver(const DeqSolverOptions& solver) {
  std::string s = solver.kind;
  for (const OptionField<DeqSolverOptions>& f : solverFields())
    if (f.name != "kind") s += " " + f.name + "=" + f.get(solver).str();
  return s;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> describeOptions(const DeqTrainOptions& o,
                                                                 const DeqInferOptions& inf) {
  std::vector<std::pair<std::string, std::string>> out;
  describe(o, trainFields(), out);
  describe(o.network, networkFields(), out);
  out.emplace_back("forward_solver", describeSolver(o.forward));
  out.emplace_back("backward_solver", describeSolver(o.backward));
  out.emplace_back("inference_solver", describeSolver(inf.solver));
  describe(inf, inferenceFields(), out);
  return out;
}

}  // namespace dequnmix
