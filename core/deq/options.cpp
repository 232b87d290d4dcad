// Option names (one table per enum) and the one set of bounds of the DEQ options
// (deq_unmix.h).
#include <cmath>
#include <sstream>
#include <utility>

#include "core/deq/deq_ops.h"
#include "core/errors.h"

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
        {EndmemberRefinement::Automatic, "auto"}};
    return t;
  }
};

std::string listed(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return s;
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

void requireInRange(bool ok, const std::string& what, const std::string& setting, double value,
                    const std::string& range) {
  if (!ok)
    throw InvalidArgument(what + ": " + setting + " is " + number(value) + ", out of range " +
                          range);
}

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
  throw InvalidArgument("unknown " + std::string(Names<Enum>::what) + " '" + name +
                        "' (expected " + listed(enumNames<Enum>()) + ")");
}

#define DEQUNMIX_NAMED_ENUM(Enum)                              \
  template const std::vector<std::string>& enumNames<Enum>(); \
  template const char* toString<Enum>(Enum);                   \
  template Enum parseEnum<Enum>(const std::string&);
DEQUNMIX_NAMED_ENUM(DeqGradientMode)
DEQUNMIX_NAMED_ENUM(DeqNetworkInput)
DEQUNMIX_NAMED_ENUM(EndmemberRefinement)
#undef DEQUNMIX_NAMED_ENUM

void DeqSolverOptions::validate(const std::string& what) const {
  requireName(isFixedPointSolver(kind), what, "solver", kind, fixedPointSolverNames());
  requireInRange(maxIterations >= 1 && maxIterations <= 10000, what, "maximum iterations",
                 maxIterations, "1..10000");
  requireInRange(tolerance >= 0 && tolerance <= 1, what, "tolerance", tolerance, "[0, 1]");
  requireInRange(history >= 1 && history <= 100, what, "history", history, "1..100");
  requireInRange(regularization >= 0 && std::isfinite(regularization), what, "regularization",
                 regularization, "[0, infinity)");
  requireInRange(damping > 0 && damping <= 1, what, "damping", damping, "(0, 1]");
}

void DeqNetworkOptions::validate(const std::string& what) const {
  requireInRange(hiddenChannels >= 1 && hiddenChannels <= 1024, what, "hidden channels",
                 hiddenChannels, "1..1024");
  requireInRange(hiddenLayers >= 0 && hiddenLayers <= 16, what, "hidden layers", hiddenLayers,
                 "0..16");
  requireInRange(initialStep > 0 && std::isfinite(initialStep), what, "initial step", initialStep,
                 "(0, infinity)");
  requireInRange(spatialWeight >= 0 && spatialWeight < 1, what, "spatial prox weight",
                 spatialWeight, "[0, 1)");
  requireName(isSpatialProx(spatialProx), what, "spatial prox", spatialProx, spatialProxNames());
  requireInRange(superpixelSize >= 2 && superpixelSize <= 1000, what, "superpixel size",
                 superpixelSize, "2..1000");
}

std::vector<std::pair<std::string, std::string>> describeOptions(const DeqTrainOptions& o,
                                                                 const DeqInferOptions& inf) {
  auto solver = [](const DeqSolverOptions& s) {
    return s.kind + " max_iterations=" + std::to_string(s.maxIterations) +
           " tolerance=" + number(s.tolerance) + " history=" + std::to_string(s.history) +
           " regularization=" + number(s.regularization) + " damping=" + number(s.damping);
  };
  return {
      {"endmembers", std::to_string(o.endmembers)},
      {"epochs", std::to_string(o.epochs)},
      {"seed", std::to_string(o.seed)},
      {"gradient", toString(o.gradient)},
      {"hidden_channels", std::to_string(o.network.hiddenChannels)},
      {"hidden_layers", std::to_string(o.network.hiddenLayers)},
      {"network_input", toString(o.network.input)},
      {"initial_step", number(o.network.initialStep)},
      {"spatial_weight", number(o.network.spatialWeight)},
      {"spatial_prox", o.network.spatialProx},
      {"superpixel_size", std::to_string(o.network.superpixelSize)},
      {"forward_solver", solver(o.forward)},
      {"backward_solver", solver(o.backward)},
      {"inference_solver", solver(inf.solver)},
      {"phantom_steps", std::to_string(o.phantomSteps)},
      {"phantom_damping", number(o.phantomDamping)},
      {"network_learning_rate", number(o.networkLearningRate)},
      {"endmember_learning_rate", number(o.endmemberLearningRate)},
      {"train_endmembers", o.trainEndmembers ? "true" : "false"},
      {"weight_decay", number(o.weightDecay)},
      {"decay_every", std::to_string(o.decayEvery)},
      {"decay_factor", number(o.decayFactor)},
      {"gradient_clip", number(o.gradientClip)},
      {"alpha", number(o.alpha)},
      {"refinement", toString(o.refinement)},
      {"refinement_radius", number(o.refinementRadius)},
      {"refinement_iterations", std::to_string(o.refinementIterations)},
      {"min_volume_outside_fraction", number(o.minVolumeOutsideFraction)},
      {"min_volume_iterations", std::to_string(o.minVolumeIterations)},
      {"memory_budget_mib", number(o.memoryBudgetMiB)},
      {"tile_size", std::to_string(o.tileSize)},
      {"tiles_per_step", std::to_string(o.tilesPerStep)},
      {"device", o.device},
  };
}

}  // namespace dequnmix
