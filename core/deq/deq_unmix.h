// DEQ-Unmix (Wang, Gao, Zhu and Chen, "A Deep Equilibrium Network for Hyperspectral
// Unmixing", arXiv 2604.11279, 2026): plain C++ facade, no LibTorch or Qt type in it, so
// the QGIS adapters can include it. The LibTorch-level pieces are in core/deq/deq_ops.h.
//
// The model. Scene Y (L x H x W), endmembers E (L x P), abundances
// A (P x H x W), residual R(A) = E A - Y. One equilibrium layer
//     f_theta(A) = Proj_simplex(A - eta * G_theta(R(A), A)),
//     G_theta(R, A) = E^T R + N_theta([R; A]),
// where N_theta is a small fully convolutional network (1x1 conv to C channels, 3x3 convs
// with tanh, a 3x3 conv to P channels whose weights start at zero), so theta = 0 is
// projected gradient descent on ||E A - Y||^2 / 2 and its fixed point is FCLS. The skip
// E^T R is essential: without it the map starts as the identity at A0 and training never
// recovers. eta = softplus(p) / ||E||_2^2, i.e. the step is learned in
// units of the Lipschitz constant of the data term, so one setting transfers across
// scenes and data units (the paper's absolute eta = 0.01 is about 0.6 / ||E||_2^2 on
// Samson). The abundance output is A* = f(A*), found by Anderson acceleration (Walker and
// Ni, SIAM J. Numer. Anal. 49(4), 2011) from the FCLS abundances.
//
// Training back-propagates by implicit differentiation (Bai, Kolter and Koltun, "Deep
// Equilibrium Models", NeurIPS 2019): with g = dLoss/dA*, solve u = g + J^T u, J = df/dA at
// A*, then dLoss/dtheta = u^T df/dtheta; memory does not depend on the forward iterations.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/io/endmember_table.h"
#include "core/progress.h"

namespace dequnmix {

class ProcessGroup;

// ----------------------------------------------------------------------------------------
// Errors specific to DEQ-Unmix model files (all are IoError, so adapters can catch either).
class ModelFileError : public IoError {
 public:
  using IoError::IoError;
};
// Not a DEQ-Unmix model file (wrong magic bytes).
class ModelFormatError : public ModelFileError {
 public:
  using ModelFileError::ModelFileError;
};
// A DEQ-Unmix model file of a format version this build cannot read.
class ModelVersionError : public ModelFileError {
 public:
  using ModelFileError::ModelFileError;
};
// The file ends before the size its header declares.
class ModelTruncatedError : public ModelFileError {
 public:
  using ModelFileError::ModelFileError;
};
// Checksum mismatch or inconsistent content.
class ModelCorruptError : public ModelFileError {
 public:
  using ModelFileError::ModelFileError;
};
// A scene whose band count does not fit the model (an InvalidArgument, not a file error).
class BandMismatchError : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

// ----------------------------------------------------------------------------------------
// Options. Every default below is the one the QGIS algorithms use; the comment says why.

enum class DeqGradientMode {
  Implicit,  // u = g + J^T u at the fixed point (the paper's); memory flat in iterations
  Phantom,   // k damped steps with the graph recorded from the detached fixed point
  Unrolled,  // K plain iterations from A0 with the full graph (ablation baseline)
};

enum class DeqNetworkInput {
  ResidualAndAbundances,           // N_theta sees [R; A] (L + P channels)
  ProjectedResidualAndAbundances,  // N_theta sees [E^T R; A] (2P channels)
};

enum class EndmemberRefinement {
  None,              // use VCA (or the given spectra) as they are
  AngularMeanShift,  // non-learned angular mean shift of the vertices
  MinimumVolume,     // minimum-volume simplex from the VCA start (highly mixed scenes)
  Automatic,         // MinimumVolume where the scene lacks pure pixels, else PureClusters
                     // where spectra vary per pixel, else MinimumVolumeOfDirections where
                     // brightness varies, else None (see DeqTrainOptions::
                     // automaticSizeRatioMin and pureClusterRadiusFraction)
  PureClusters,      // vertices that are outliers of dense pure clusters move to their centre
  MinimumVolumeOfDirections,  // minimum-volume simplex of the pixels at unit brightness
};

// Whether the data term fits each pixel at its own brightness (DeqNetworkOptions).
enum class ScaleInvariance {
  Off,        // residual E a - y: brightness carries abundance information (linear mixtures)
  On,         // residual E a - y / s, s each pixel's least-squares brightness scale
  Automatic,  // On where the scene's brightness varies (DeqTrainOptions::
              // automaticBrightnessGain); training resolves it, a model never holds it
};

// Names: one table per enum (core/deq/options.cpp) drives toString, parsing, the QGIS
// option lists and the model file, so adding a member is one line there. Solvers and
// spatial proxes are open sets chosen by name instead (fixed_point.h, spatial_prox.h).
// Every name of Enum, in the order of its table (the order of the QGIS option lists).
template <class Enum>
const std::vector<std::string>& enumNames();
template <class Enum>
const char* toString(Enum value);
// Inverse of toString; throws InvalidArgument naming the accepted values.
template <class Enum>
Enum parseEnum(const std::string& name);
// Registered solvers (DeqSolverOptions::kind) and spatial proxes
// (DeqNetworkOptions::spatialProx), built-in ones first.
std::vector<std::string> fixedPointSolverNames();
std::vector<std::string> spatialProxNames();

// The options' bounds: the validate() functions below and the QGIS parameters' ranges read
// them, so each has one source.
struct DeqLimits {
  static constexpr int kMaxIterations = 10000;     // DeqSolverOptions::maxIterations, from 1
  static constexpr int kMaxHistory = 100;          // DeqSolverOptions::history, from 0
  static constexpr int kMaxHiddenChannels = 1024;  // DeqNetworkOptions::hiddenChannels, from 1
  static constexpr int kMaxHiddenLayers = 16;      // DeqNetworkOptions::hiddenLayers, from 0
  static constexpr int kMinSuperpixelSize = 2;     // DeqNetworkOptions::superpixelSize
  static constexpr int kMaxSuperpixelSize = 1000;
  static constexpr int kMaxEndmembers = 1000;  // DeqTrainOptions::endmembers, from 0
  static constexpr int kMaxEpochs = 1000000;   // DeqTrainOptions::epochs, from 1
  static constexpr int kMinInferenceTile = 8;  // DeqInferOptions::tileSize
  static constexpr int kMaxInferenceTile = 100000;
  static constexpr int kMaxHalo = 10000;  // DeqInferOptions::halo, from 0
};

// The fixed-point solves (forward and implicit-backward) of every registered solver.
struct DeqSolverOptions {
  // A registered solver (fixedPointSolverNames()): "anderson" (Anderson acceleration, the
  // paper's) or "picard" (damped fixed-point iteration, reference and fallback).
  std::string kind = "anderson";
  // Cap on evaluations of the map: 10 is the authors' training setting, enough for the loss;
  // inference uses DeqInferOptions' tighter defaults.
  int maxIterations = 10;
  double tolerance = 1e-4;  // stop when ||f(x) - x|| / ||x|| <= tolerance
  // Anderson history m; 0: max(5, P) with P the iterate's second dimension (endmembers of
  // B x P x h x w), the authors' 5 but at least one per unknown of a pixel: at 5 the solves
  // of a P = 12 scene stalled short of their fixed point (bench/README.md, "History").
  int history = 0;
  // Tikhonov term of the Anderson Gram system relative to its mean diagonal, so that it does
  // not depend on the data's scale.
  double regularization = 1e-3;
  // Damping beta: x_{k+1} = beta * sum c_i f(x_i) + (1 - beta) * sum c_i x_i; 1 converged
  // fastest on the projected-gradient map.
  double damping = 1.0;

  // The one set of bounds (training, inference, model files): kind registered,
  // maxIterations and history within DeqLimits, tolerance in [0, 1] (0 runs to the cap),
  // regularization >= 0, damping in (0, 1], all finite. Throws InvalidArgument naming `what`
  // ("inference solver"), the setting and its range.
  void validate(const std::string& what) const;
  // The history m for iterates with `unknowns` per pixel (P).
  int historyFor(int64_t unknowns) const {
    return history > 0 ? history : int(std::max<int64_t>(5, unknowns));
  }
  // The defaults with another iteration cap and tolerance.
  static DeqSolverOptions limited(int maxIterations, double tolerance) {
    DeqSolverOptions o;
    o.maxIterations = maxIterations;
    o.tolerance = tolerance;
    return o;
  }
};

// The learned operator N_theta and the spatial prox.
struct DeqNetworkOptions {
  int hiddenChannels = 32;  // C
  int hiddenLayers = 2;     // 3x3 C -> C convolutions between the 1x1 input and 3x3 output
  // [R; A] was more accurate on Samson; [E^T R; A] is cheaper per epoch for many bands.
  DeqNetworkInput input = DeqNetworkInput::ResidualAndAbundances;
  // Initial eta in units of 1 / ||E||_2^2 (1 = the classical projected-gradient step).
  double initialStep = 1.0;
  // Weight mu, in units of ||E||_2^2, of an anchor term mu/2 ||a - a0||^2 in the map's
  // gradient, a0 the start (FCLS; NNLS over its sum when scaleInvariant). Its data part then
  // contracts by 1 - eta mu per iteration, so solves reach the equilibrium even where
  // correlated spectra leave E^T E nearly singular; it keeps that equilibrium near the start
  // where the data cannot tell abundances apart (there the spatial prox alone drifted to an
  // over-smoothed one). 0 = the paper's map (model files before format version 3). Across
  // the suite 0.02 to 0.2 were as accurate as each other; 0.1 is the least that converged on
  // 11 of 12 scenes (bench/README.md, "the anchor term"). Training scales it by the scene
  // (DeqTrainOptions::automaticAnchorGain); the model holds the weight applied.
  double anchorWeight = 0.1;
  // On: data term and loss invariant to each pixel's brightness: the map's residual is
  // E a - y / s with s the pixel's least-squares scale (the pixel at the model's brightness),
  // the solves start (and are anchored) at NNLS over its sum, and the loss compares the
  // scaled reconstruction. Right where brightness varies per pixel (illumination,
  // topography); on linear mixtures brightness carries abundance information that this
  // drops, so Automatic chooses by the scene (bench/README.md, "choosing the data term").
  ScaleInvariance scaleInvariance = ScaleInvariance::Automatic;
  // scaleInvariance is On (a resolved setting; Automatic is not).
  bool scaleInvariant() const { return scaleInvariance == ScaleInvariance::On; }
  // Spatial prox weight w in [0, 1): after the simplex projection each pixel's abundances
  // become (1 - w) a + w M a, M the prox below; 0 = plain projection. With E fixed, FCLS
  // already minimises the reconstruction error, so the unsupervised loss alone cannot beat
  // it; the prox is what brings the gain. It acts at every iteration, so small weights are
  // strong (bench/README.md, "Spatial prox"). Training scales it by the scene
  // (DeqTrainOptions::automaticSpatialNoiseShare); the model holds the weight applied.
  // Version-1 model files without it read as 0.
  double spatialWeight = 0.02;
  // A registered prox (spatialProxNames()): "neighbourhood" (3 x 3 mean) or "superpixel"
  // (SLIC superpixel mean, the authors' superpixel-guided prox; it over-smooths clean
  // scenes, so it is not the default).
  std::string spatialProx = "neighbourhood";
  // SLIC grid step S in pixels (superpixel prox): 7 gives about 200 superpixels on the
  // 95 x 95 Samson scene, near the authors' 189.
  int superpixelSize = 7;

  // Bounds as DeqSolverOptions::validate: hiddenChannels, hiddenLayers and superpixelSize
  // within DeqLimits, initialStep finite > 0, anchorWeight in [0, 1], spatialWeight in
  // [0, 1), spatialProx registered.
  void validate(const std::string& what) const;
  // Side of the network's receptive field: the smallest scene it handles meaningfully.
  int receptiveField() const { return 2 * (hiddenLayers + 1) + 1; }
};

struct DeqTrainOptions {
  int endmembers = 3;  // P (ignored when initial endmembers are given); 0: NWHFC's estimate
  int epochs = 300;    // the authors' setting
  uint64_t seed = 42;  // seeds VCA, the network initialisation and tile sampling
  DeqGradientMode gradient = DeqGradientMode::Implicit;
  DeqNetworkOptions network;
  DeqSolverOptions forward;  // forward solves during training (authors' 10 iterations, m = 5)
  // Whole-scene training starts each forward solve from the previous epoch's fixed point
  // instead of the FCLS abundances: the map moves little between steps, so the solve starts
  // near its equilibrium (tiles differ from step to step and always start from FCLS).
  // Without the anchor term (network.anchorWeight 0) a warm-started solve that misses its
  // tolerance sends the next one back to FCLS: without that reset such a map that stops
  // contracting drifts from epoch to epoch (a 64 x 64 highly mixed scene: aRMSE 0.0836
  // against 0.0247 with it; bench/README.md).
  bool warmStartForward = true;
  // Whole-scene training starts each implicit-backward solve from the previous step's
  // solution u instead of g (off: every backward solve from g, as torchdeq and the paper).
  bool warmStartBackward = true;
  // Backward solves u = g + J^T u; 1e-3 is the accuracy the forward solve reaches, and a
  // tighter tolerance cost 25% more time for the same accuracy.
  DeqSolverOptions backward = DeqSolverOptions::limited(30, 1e-3);
  int phantomSteps = 3;         // k of the phantom gradient
  double phantomDamping = 0.5;  // lambda of the phantom gradient's damped steps
  // The authors' 0.01 diverged for some seeds on Samson; 0.003 was stable.
  double networkLearningRate = 0.003;
  // Endmember learning rate (the authors' 0.007), used only when trainEndmembers is true.
  double endmemberLearningRate = 0.007;
  // Learning E through the loss made E worse on Samson in every variant tried, so E is held
  // fixed after the refinement by default.
  bool trainEndmembers = false;
  double weightDecay = 1e-5;  // AdamW decoupled weight decay (authors)
  int decayEvery = 15;        // learning rates x decayFactor every decayEvery epochs
  double decayFactor = 0.8;   // (authors)
  double gradientClip = 1.0;  // global gradient-norm clip (authors); <= 0 disables
  // Weight of the Jacobian penalty ||J||_F^2 / n at each step's fixed point (gradients.h),
  // which favours a contractive map. Off: with the anchor term it makes every suite scene
  // converge, but gains on three scenes and loses on four, one of them against FCLS
  // (bench/README.md, "the anchor term").
  double jacobianPenalty = 0;
  // loss = mean SAD(y, E a) + alpha * MSE; alpha < 0 picks it by the scene, as the automatic
  // refinement does. The angle ignores each pixel's brightness: right where brightness
  // varies, but on a linear sum-to-one mixture brightness carries abundance information.
  double alpha = -1;
  double linearMixtureAlpha = 100;       // automatic alpha on linear mixtures
  double variableBrightnessAlpha = 0.2;  // automatic alpha otherwise (the authors' on Samson)
  double minEndmemberValue = 1e-5;       // E clamped to >= this after each step (authors)
  // Refinement of the initial vertices. Automatic: the minimum-volume simplex where it says
  // the scene lacks pure pixels (automaticSizeRatioMin), else VCA's vertices with
  // pure-cluster centring (pureClusterRadiusFraction), and where that moves no vertex and a
  // per-pixel brightness explains the scene (automaticBrightnessGain, on the start's
  // vertices) the minimum-volume simplex of the pixels' directions. Across the suite and
  // held-out scenes (bench_suite --endmember-stage) it never leaves the endmembers worse than
  // VCA's on their mean; the angular mean shift, which moves every vertex, lost on most of
  // them and is never chosen automatically (bench/README.md, "Scene suite").
  EndmemberRefinement refinement = EndmemberRefinement::Automatic;
  // Ball radius t (radians) of the angular mean shift; <= 0 chooses it per endmember from
  // the data (a fixed radius did not transfer between scenes).
  double refinementRadius = 0;
  int refinementIterations = 20;
  int refinementMinPixels = 5;  // keep the VCA column when its ball holds fewer pixels
  // Pure-cluster centring (centreOnPureClusters, refinement.h; automatic where VCA's
  // vertices are kept and the scene departs from the linear sum-to-one model, i.e. its
  // affineModelExcess exceeds automaticExcessThreshold): the mean-shift radius as a fraction
  // of the angle to the nearest other vertex, and the density at the mode that moves a
  // vertex: at least this fraction of the pixels within half the radius, and this many times
  // the density at the vertex. On 28 suite and held-out scenes it moved Samson's vertices and
  // those of a held-out scene with pure regions, and no vertex whose move would have been
  // worse; its failure class is a scene whose abundances pile up at a cap beside single pure
  // pixels (three of four such held-out scenes; bench/README.md, "Pure-cluster centring").
  double pureClusterRadiusFraction = 0.1;
  double pureClusterMinDensity = 0.01;
  double pureClusterDensityGain = 2;
  // Automatic scale invariance: On where letting each pixel's brightness scale (NNLS instead
  // of FCLS on the final endmembers) lowers the residual by more than this many noise
  // variances per pixel (BrightnessFit::gain, refinement.h). Noise alone explains about 1 (one
  // more unknown per pixel); suite scenes of linear mixtures 1.0-3.0, scenes whose
  // brightness varies 39-84,000 (bench/README.md, "choosing the data term") ...
  double automaticBrightnessGain = 10;
  // ... or by more than automaticBrightnessShareGain noise variances and this share of the
  // pixels' energy (BrightnessFit::share), which the noise does not scale: at a low
  // signal-to-noise ratio a strong illumination explains only a few noise variances (what
  // each bound gained and cost on random scenes: bench/README.md, "Illumination under noise").
  double automaticBrightnessShareGain = 3.5;
  double automaticBrightnessShare = 2e-4;
  // Automatic alpha: 1.33-1.44 on linear synthetic mixtures, 7,800 on Samson: 10 sits well
  // above the Marchenko-Pastur noise edge of scenes with at least as many pixels as bands.
  double automaticExcessThreshold = 10;
  // Automatic refinement takes the minimum-volume simplex when its size over VCA's, the
  // volume ratio to the power 1 / (P - 1), lies in this range (a volume bound would tighten
  // with P: a P = 10 scene without pure pixels had 10x VCA's volume at 1.3x its size). Suite
  // and held-out scenes: 0.76-1.07 where VCA found pure pixels or the minimum-volume simplex
  // lost, 1.11-1.38 without pure pixels where it gained, 1.52-4.2 where brightness or the
  // spectra vary per pixel (bench/README.md, "size, not volume") ...
  double automaticSizeRatioMin = 1.09;
  double automaticSizeRatioMax = 1.45;
  // ... and no vertex is darker than this fraction of VCA's (a vertex pulled towards zero
  // models shade, not a material: 0.04 where illumination varies, 0.65 or more elsewhere),
  // and its vertices leave a brightness gain of at most automaticMinVolumeBrightnessGain (a
  // held-out illuminated scene with pure pixels passed the two bounds, and its minimum-volume
  // vertices were ten times further from the truth than VCA's: bench/README.md, "Held-out").
  double automaticNormRatioMin = 0.5;
  // 0.8-1.8 on the suite and held-out scenes where the minimum-volume vertices were right;
  // 7.5 on a scene of pure regions under 20 dB and spectral variability, where they fitted
  // the variability and were a quarter further from the truth than VCA's.
  double automaticMinVolumeBrightnessGain = 4;
  // Below automaticSizeRatioMin the minimum-volume simplex is still taken (within the other
  // bounds) where the start's vertices leave a brightness gain above this and its own do not:
  // VCA missed a pure pixel and took a mixture inside the data, so pixels lie beyond its
  // facets; a simplex barely larger then explains them as sum-to-one mixtures. The same
  // threshold as the data term's (automaticBrightnessGain). Random scenes 1-240 (bench_suite
  // --random): 5 take it, aRMSE lower on 4 (two losses to VCA+FCLS gone), higher on one;
  // random 301-420, checked after: 2, both losses turned into wins (bench/README.md, "A
  // missed pure pixel"). Infinity: never.
  double automaticStartBrightnessGain = 10;
  // Where no vertex was centred and brightness varies (automaticBrightnessGain, on the
  // start's vertices), the minimum-volume simplex of the pixels' directions replaces the
  // vertices when the pixels' directions reach beyond theirs by more than this outsideMass
  // (refinement.h): 0.0010-0.0073 where they were pure pixels that the fit would cut into,
  // 0.029-5.4 where it gained (and two small gains of pure regions at 0.0017, 0.0029 given up;
  // bench/README.md, "The minimum-volume simplex of the pixels' directions").
  double automaticDirectionsOutsideMass = 0.01;
  // Automatic refinement starts from N-FINDR's vertices (the pixels of the largest simplex,
  // on the signal subspace as VCA's) instead of VCA's where VCA's leave more than this many
  // times their residual energy outside the cone they span (coneResidualEnergy, refinement.h):
  // VCA took two vertices of one material and none of another, as on windows of Samson
  // where one material is rare (1.33-2.96). Suite and held-out scenes where N-FINDR's were no
  // better: 0.15-1.12 (bench/README.md, "Vertices that miss a material"). 0: VCA's always.
  double automaticNfindrResidualRatio = 1.25;
  // Noise whitening: where the bands' noise standard deviations (HySime's regression noise,
  // noiseWhitening in training_data.h) differ by at least this factor from the quietest band
  // to the noisiest, every stage works on the bands divided by their noise, so that the fits
  // weigh each band by its signal-to-noise ratio as maximum likelihood does; the model keeps
  // the weights and unmix applies them. White-noise scenes measure 1.05-1.2, scenes with
  // noisy bands 2.1-22, Samson 51 (bench/README.md, "Noisy bands"). 0: never, 1: always.
  double automaticWhiteningSpread = 3;
  // Spatial prox strength: the prox blends each pixel with its neighbours, which removes
  // noise where abundances vary smoothly and blurs real detail where they change from pixel
  // to pixel (abundances drawn per pixel, as many published synthetic scenes are, or fine
  // texture). The weight applied is network.spatialWeight times the larger of
  // min(1, share / automaticSpatialNoiseShare), as a Wiener filter smooths in proportion to
  // the noise, and the start's neighbour correlation ramped from 0 at
  // automaticSpatialCorrelationMin to 1 at ...Max (smooth fields lose nothing to the blend);
  // share and correlation: neighbourStatistics (spatial_prox.h). bench/README.md, "Spatial
  // prox strength". automaticSpatialNoiseShare 0: the weight as given.
  double automaticSpatialNoiseShare = 0.1;
  double automaticSpatialCorrelationMin = 0.8;
  double automaticSpatialCorrelationMax = 0.95;
  // Anchor strength: where noise makes a small share of the start's neighbour differences,
  // the start (FCLS) is already near the abundances and what the learned map moves away
  // from it is bias, not denoising. The anchor weight applied is network.anchorWeight times
  // min(automaticAnchorGain, automaticSpatialNoiseShare / share), at most 1 (bench/README.md,
  // "An anchor that follows the noise"). 1, or automaticSpatialNoiseShare 0: the weight as
  // given.
  double automaticAnchorGain = 5;
  // Anomalous pixels: a pixel whose energy outside the signal subspace (the top P
  // eigenvectors of the pixels' correlation, as VCA projects on) exceeds this many times its
  // 99th percentile over the pixels is left out of the endmember stage and of training (as
  // nodata; the outputs still cover it): spikes and saturated bands would otherwise take
  // vertices. Only while such pixels are at most anomalyMaxFraction of the valid ones (more
  // mean the subspace misses a material: too few endmembers). The suite's and held-out
  // scenes without artefacts measure at most 2.9, spiked and saturated pixels 95 to 809
  // (bench/README.md, "Anomalous pixels"). 0: never.
  double anomalyResidualRatio = 10;
  double anomalyMaxFraction = 0.01;
  // Minimum-volume fit: the fraction of pixels allowed beyond each facet (absorbs noise),
  // its Adam steps, a margin in noise units (0: off; it shrank the simplex) and the radius r
  // of a (2r+1)^2 box average of the pixels before the fit (divides the noise that moves
  // the facets). 400 steps left the fit of the pixels' directions short of its optimum at
  // low SNR and many materials: 1600 improved the stage on 17 of 233 scenes, worsened none
  // (bench/README.md, "The minimum-volume fit run to its optimum").
  double minVolumeOutsideFraction = 0.02;
  int minVolumeIterations = 1600;
  double minVolumeNoiseMargin = 0;
  int minVolumeSmoothing = 1;
  // The fit of the pixels' directions leaves out pixels darker than this fraction of the
  // median brightness: 0.25 left out Samson's water and lost its vertex (bench/README.md,
  // "The minimum-volume simplex of the pixels' directions").
  double minVolumeDarkFraction = 0.05;
  // Scenes whose training working set would exceed this train on random tiles instead of
  // the whole image (memory bounded by tileSize, not by the scene); `train` streams a scene
  // file whose pixels alone exceed it (trainDeqUnmixStreamed). 0 = automatic: a quarter of
  // the machine's physical memory (1024 MiB where the system does not say), which leaves
  // room for QGIS and the rest of the desktop. The working set is the tensors' times 1.5, what
  // the process holds besides them (bench/README.md, "Training memory").
  double memoryBudgetMiB = 0;
  // memoryBudgetMiB, or its automatic value.
  double memoryBudgetInEffectMiB() const;
  int tileSize = 64;     // side of the training tiles (only when over the budget)
  int tilesPerStep = 4;  // tiles per optimiser step (only when over the budget)
  // Optimiser steps per epoch on tiles; 0: as many as cover the scene's pixels once (a
  // streamed scene of millions of tiles wants a cap).
  int stepsPerEpoch = 0;
  int threads = 0;             // LibTorch intra-op threads (setThreadCount: 0 = all cores)
  std::string device = "cpu";  // torch::Device string: "cpu", "cuda", "cuda:1"

  // The settings alone, within DeqLimits and each threshold's stated range (the scene decides
  // the rest: 2 <= endmembers < bands, the receptive field); the network's and both solvers'
  // validate() included. Throws InvalidArgument naming the setting.
  void validate() const;
};

struct DeqInferOptions {
  // Tolerance 1e-4, the training's: trained models often stall near it, so 1e-5 ran tiles to
  // the cap for nothing. Anderson's mixing is global to a tile, so tiled and whole-image
  // results agree only near the true fixed point.
  DeqSolverOptions solver = DeqSolverOptions::limited(60, 1e-4);
  int tileSize = 256;  // core of each tile (pixels per side)
  // Pixels read around each tile and dropped after the solve: the equilibrium couples the
  // whole image, but the influence decays fast with distance.
  int halo = 16;
  bool computeResidual = true;  // per-pixel reconstruction RMSE (data units)
  int threads = 0;              // as DeqTrainOptions::threads
  std::string device = "cpu";

  // The solver's validate(), tileSize and halo within DeqLimits; throws InvalidArgument.
  void validate() const;
};

// Devices (core/deq/device.h has the torch::Device). The plugin's default is kAutoDevice,
// the GPU where there is one; the core's options default to "cpu", as LibTorch's tensors do.
inline constexpr const char* kAutoDevice = "auto";
// `name` ("auto", "cpu", "cuda" or "cuda:N") as the device a run will use ("cpu",
// "cuda:0"); throws InvalidArgument naming what is missing (CUDA in this LibTorch, a GPU,
// device N).
std::string resolveDevice(const std::string& name);
// Whether this process's LibTorch carries CUDA (libtorch_cuda loaded), GPU or not.
bool libtorchHasCuda();

// Every training and inference option as (name, value) pairs, for the model file's
// training record and the report; generated from the field lists of option_fields.h.
std::vector<std::pair<std::string, std::string>> describeOptions(const DeqTrainOptions& train,
                                                                 const DeqInferOptions& inference);

// ----------------------------------------------------------------------------------------
// Statistics.

// Accumulated over solves (one epoch, one tile, or a whole run).
struct DeqSolveStats {
  int64_t solves = 0;
  int64_t iterations = 0;            // evaluations of the map, summed
  int64_t maxIterations = 0;         // most evaluations in one solve
  int64_t converged = 0;             // solves that met the tolerance
  int64_t fallbacks = 0;             // Anderson steps that fell back to a damped Picard step
  int64_t regularizationRaises = 0;  // Anderson solves retried with a larger lambda
  double sumRelativeResidual = 0;
  double maxRelativeResidual = 0;
  double lastAbsoluteResidual = 0;
  double lastRelativeResidual = 0;
  double seconds = 0;  // wall time in the solver, summed

  void add(const DeqSolveStats& other);
  double meanIterations() const { return solves ? double(iterations) / double(solves) : 0.0; }
  double meanRelativeResidual() const {
    return solves ? sumRelativeResidual / double(solves) : 0.0;
  }
  double convergedFraction() const { return solves ? double(converged) / double(solves) : 0.0; }
};

struct DeqEpochStats {
  int epoch = 0;             // 1-based
  double loss = 0;           // the optimised loss
  double spectralAngle = 0;  // mean SAD(y, E a) (rad), unsupervised part
  double mse = 0;            // mean squared reconstruction error (scaled data)
  double abundanceMse = 0;   // supervised loss (0 when unsupervised)
  DeqSolveStats forward;
  DeqSolveStats backward;  // implicit mode only
  double networkLearningRate = 0;
  double endmemberLearningRate = 0;
  double eta = 0;           // current step, in units of 1 / ||E||_2^2
  double gradientNorm = 0;  // before clipping
  double jacobianNorm = 0;  // estimate of ||J||_F^2 / n at the fixed point (when penalised)
  double seconds = 0;
};

struct DeqTrainSummary {
  int epochs = 0;
  double finalLoss = 0;
  double trainingSeconds = 0;
  double meanForwardIterations = 0;  // over all training solves
  double convergedFraction = 0;      // of the training forward solves
  bool supervised = false;
  bool tiled = false;  // trained on sampled tiles (scene over the memory budget)
};

// ----------------------------------------------------------------------------------------
// The trained model as a plain value (what the model file stores).

struct DeqTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

struct DeqModel {
  int bands = 0;                     // bands the network takes (after the subset)
  int sourceBands = 0;               // band count of the raster it was trained on
  std::vector<int> bandSubset;       // 1-based raster bands used, in order; empty = all
  std::vector<double> wavelengths;   // per used band, or empty
  EndmemberTable endmembers;         // final E in data units, with names
  EndmemberTable initialEndmembers;  // E before training (VCA or given, after refinement)
  // Input scaling: the network sees Y * inputScale (1 / RMS of the training scene), so
  // data units (reflectance 0-1 or 0-10000) do not matter.
  double inputScale = 1.0;
  // Noise whitening (DeqTrainOptions::automaticWhiteningSpread): per used band, the factor
  // the network's input and E are multiplied by before the input scale (1 / the band's noise
  // standard deviation, median 1); empty when the bands were not whitened.
  std::vector<double> bandWeights;
  DeqNetworkOptions network;
  DeqSolverOptions solver;         // default inference solver (from DeqInferOptions at training)
  std::vector<DeqTensor> weights;  // network parameters and the step parameter "eta"
  std::vector<std::pair<std::string, std::string>> hyperparameters;  // training options
  DeqTrainSummary summary;
  std::vector<double> lossHistory;  // per epoch
  std::string torchVersion;
  std::string coreVersion;

  int endmemberCount() const { return endmembers.endmembers(); }
};

// Throws BandMismatchError unless a raster with `rasterBands` bands fits the model (its
// source band count, or its own band count when no subset was used).
void checkModelBands(const DeqModel& model, int rasterBands);

// Versioned binary file: magic, format version, payload size, payload (named typed fields,
// then the tensors and tables), CRC-32; the layout is in deq_model_file.cpp. Always writes
// the newest version, atomically (core/io/atomic_file.h), and checks nothing: the reader
// does. Throws IoError when it cannot be written.
void saveDeqModel(const std::string& path, const DeqModel& model);
// Reads versions 1 to 4. Throws ModelFormatError / ModelVersionError (a newer format
// version or a field this build does not know) / ModelTruncatedError / ModelCorruptError
// (settings out of validate()'s bounds, naming the field) or IoError when the file cannot
// be opened; never crashes on arbitrary bytes.
DeqModel loadDeqModel(const std::string& path);
// The same, from bytes in memory (tests, embedded models).
std::vector<uint8_t> serializeDeqModel(const DeqModel& model);
DeqModel deserializeDeqModel(const std::vector<uint8_t>& bytes);

// ----------------------------------------------------------------------------------------
// Training.

struct DeqTrainInput {
  int bands = 0;
  int height = 0;
  int width = 0;
  // bands x height x width, band-sequential; a pixel with NaN in any band is nodata
  // (excluded from the loss, NaN in the output abundances).
  std::vector<float> scene;
  int sourceBands = 0;              // raster band count (0: same as bands)
  std::vector<int> bandSubset;      // 1-based raster bands in `scene`, empty = all
  std::vector<double> wavelengths;  // optional, per band of `scene`
  // Optional initial endmembers (bands x P); otherwise VCA with options.endmembers.
  bool hasInitialEndmembers = false;
  EndmemberTable initialEndmembers;
  // Optional reference abundances (P x height x width): switch to supervised training.
  std::vector<float> referenceAbundances;
};

struct DeqTrainResult {
  DeqModel model;
  std::vector<float> abundances;         // P x height x width, NaN at nodata (inference pass)
  std::vector<float> residual;           // height x width reconstruction RMSE, NaN at nodata
  std::vector<float> initialAbundances;  // FCLS on the initial E (the VCA+FCLS baseline)
  std::vector<DeqEpochStats> epochs;
  DeqSolveStats inference;  // statistics of the final inference pass
  // The refinement applied (never Automatic) and, when it was automatic, the volume of the
  // minimum-volume simplex over VCA's it was chosen by; when alpha was automatic, the
  // departure from the linear mixing model it was chosen by (affineModelExcess, deq_ops.h).
  // Both 0 otherwise.
  EndmemberRefinement refinement = EndmemberRefinement::None;
  double affineModelExcess = 0;
  double volumeRatio = 0;
  int centredVertices = 0;  // vertices moved by pure-cluster centring
  // Automatic refinement: VCA's cone residual over N-FINDR's, and whether N-FINDR's vertices
  // were taken (DeqTrainOptions::automaticNfindrResidualRatio); 0 / false otherwise.
  double vertexResidualRatio = 0;
  bool nfindrVertices = false;
  // When scale invariance was automatic, the brightness fit it was chosen by (BrightnessFit,
  // refinement.h); 0 otherwise. The model holds the choice.
  double brightnessGain = 0;
  double brightnessShare = 0;
  // The start's neighbour correlation and noise share the spatial prox weight was scaled by
  // (automaticSpatialNoiseShare); 0 where they were not measured (that option or the weight 0).
  double spatialCorrelation = 0;
  double spatialNoiseShare = 0;
  // The bands' noise spread (noisiest over quietest standard deviation) the whitening was
  // chosen by; 0 where it was not measured (automaticWhiteningSpread 0, fewer than 4 pixels
  // per band, or noise-free data). The model holds the weights.
  double noiseSpread = 0;
  // Pixels left out as anomalies (DeqTrainOptions::anomalyResidualRatio), and the largest
  // pixel's residual ratio; 0 where it was not measured (the option 0).
  int64_t anomalousPixels = 0;
  double anomalyRatio = 0;
  int worldSize = 1;  // processes that trained it together (data-parallel)
};

// The number of endmembers training on `input` uses: the given spectra's count, else
// options.endmembers, else (0) endmemberCountForUnmixing's estimate on the scene, reported to
// `progress`. Throws InvalidArgument (a scene too small to estimate it).
int trainingEndmemberCount(const DeqTrainInput& input, const DeqTrainOptions& options,
                           ProgressSink* progress);

// Throws InvalidArgument (sizes, epochs < 1, endmember table of the wrong band count,
// reference of the wrong size, scene smaller than the receptive field), Canceled.
// With a `group` of more than one process (core/distributed/process_group.h), every rank
// calls this with the same scene and options: the endmembers and the network start as rank
// 0's, each rank trains on its share of every step's random tiles, and the gradients are
// averaged over the ranks before each optimiser step, so every rank ends with the same
// network (DistributedDataParallel's semantics); DistributedError when a rank is lost.
DeqTrainResult trainDeqUnmix(const DeqTrainInput& input, const DeqTrainOptions& options,
                             const DeqInferOptions& inference = {},
                             ProgressSink* progress = nullptr, ProcessGroup* group = nullptr);

// ----------------------------------------------------------------------------------------
// Tiled inference over a streaming interface (the adapter reads from / writes to GDAL).

class DeqTileReader {
 public:
  virtual ~DeqTileReader() = default;
  // Fill `values` (model.bands x rows x cols, band-sequential) with the window at
  // (row, col); the model's band subset already applied; NaN marks nodata.
  virtual void read(int row, int col, int rows, int cols, float* values) = 0;
};

// Training on a scene larger than memory, read only in windows through `reader`. `scene`
// describes it (bands, height, width, wavelengths, band subset, initial endmembers) with
// `scene` values left empty. The endmember stage and the input scale come from a sample of
// random tiles (an eighth of options.memoryBudgetMiB, laid side by side); every epoch then
// reads its tiles (options.tileSize, tilesPerStep per step, stepsPerEpoch steps or as many
// as cover the scene once) through the reader. No final inference: unmixWithDeqModel
// streams it. Throws InvalidArgument for what needs the whole scene (reference
// abundances, the superpixel prox) and as trainDeqUnmix does.
DeqTrainResult trainDeqUnmixStreamed(DeqTileReader& reader, const DeqTrainInput& scene,
                                     const DeqTrainOptions& options,
                                     ProgressSink* progress = nullptr,
                                     ProcessGroup* group = nullptr);

class DeqTileWriter {
 public:
  virtual ~DeqTileWriter() = default;
  // abundances: P x rows x cols (NaN at nodata); residual: rows x cols or nullptr.
  virtual void write(int row, int col, int rows, int cols, const float* abundances,
                     const float* residual) = 0;
};

struct DeqInferStats {
  DeqSolveStats solver;  // one solve per tile
  int64_t tiles = 0;
  int64_t validPixels = 0;
  double meanResidualRmse = 0;  // over valid pixels (data units)
  double seconds = 0;
  double startSeconds = 0;  // of seconds: scaling the tiles, their FCLS starts, the map's setup
  double pixelsPerSecond = 0;
  // Per tile of the tilesY x tilesX grid (row-major): the solver's iterations and whether
  // it converged (1) or not (0); 0 and 0 for a tile without a solve (all nodata, or another
  // rank's).
  int tilesX = 0, tilesY = 0;
  std::vector<int> tileIterations, tileConverged;
};

// A data-parallel run's share of the tiles: tile i (row-major) is this process's when
// i % ranks == rank. Each tile is solved on its own, so the shares together are exactly
// the one-process result.
struct TileShare {
  int rank = 0;
  int ranks = 1;
  bool owns(int64_t tile) const { return tile % ranks == rank; }
};

// Unmixes a height x width scene tile by tile (tiles written in row-major order, each
// exactly once; only `share`'s tiles). Progress and cancel per tile and per solver
// iteration.
DeqInferStats unmixWithDeqModel(const DeqModel& model, int height, int width, DeqTileReader& reader,
                                DeqTileWriter& writer, const DeqInferOptions& options = {},
                                ProgressSink* progress = nullptr, TileShare share = {});

// In-memory convenience over the same tiling: scene is model.bands x height x width.
struct DeqInferResult {
  std::vector<float> abundances;  // P x height x width
  std::vector<float> residual;    // height x width (empty unless computeResidual)
  DeqInferStats stats;
};
DeqInferResult unmixSceneWithDeqModel(const DeqModel& model, const std::vector<float>& scene,
                                      int height, int width, const DeqInferOptions& options = {},
                                      ProgressSink* progress = nullptr);

}  // namespace dequnmix
