// DEQ-Unmix (Wang, Gao, Zhu and Chen, "A Deep Equilibrium Network for Hyperspectral
// Unmixing", arXiv 2604.11279, 2026): plain C++ facade, no LibTorch or Qt type in it, so
// the QGIS adapters can include it. The LibTorch-level pieces are in core/deq/deq_ops.h.
//
// The model (DESIGN.md section 3). Scene Y (L x H x W), endmembers E (L x P), abundances
// A (P x H x W), residual R(A) = E A - Y. One equilibrium layer
//     f_theta(A) = Proj_simplex(A - eta * G_theta(R(A), A)),
//     G_theta(R, A) = E^T R + N_theta([R; A]),
// where N_theta is a small fully convolutional network (1x1 conv to C channels, 3x3 convs
// with tanh, a 3x3 conv to P channels whose weights start at zero), so theta = 0 is
// projected gradient descent on ||E A - Y||^2 / 2 and its fixed point is FCLS. The skip
// E^T R is essential (DESIGN 1d: without it the map starts as the identity at A0 and
// training never recovers). eta = softplus(p) / ||E||_2^2, i.e. the step is learned in
// units of the Lipschitz constant of the data term, so one setting transfers across
// scenes and data units (the paper's absolute eta = 0.01 is about 0.6 / ||E||_2^2 on
// Samson). The abundance output is A* = f(A*), found by Anderson acceleration (Walker and
// Ni, SIAM J. Numer. Anal. 49(4), 2011) from the FCLS abundances.
//
// Training back-propagates by implicit differentiation (Bai, Kolter and Koltun, "Deep
// Equilibrium Models", NeurIPS 2019): with g = dLoss/dA*, solve u = g + J^T u, J = df/dA at
// A*, then dLoss/dtheta = u^T df/dtheta; memory does not depend on the forward iterations.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/io/endmember_table.h"
#include "core/errors.h"
#include "core/progress.h"

namespace dequnmix {

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
  AngularMeanShift,  // non-learned angular mean shift of the vertices (DESIGN 1d)
  MinimumVolume,     // minimum-volume simplex from the VCA start (highly mixed scenes)
  Automatic,         // MinimumVolume on linear mixtures, AngularMeanShift otherwise (see
                     // DeqTrainOptions::automaticExcessThreshold)
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

// The fixed-point solves (forward and implicit-backward) of every registered solver.
struct DeqSolverOptions {
  // A registered solver (fixedPointSolverNames()): "anderson" (Anderson acceleration, the
  // paper's) or "picard" (damped fixed-point iteration, reference and fallback).
  std::string kind = "anderson";
  // Cap on evaluations of the map. 10 is the authors' training setting (DESIGN 1b); the
  // forward solve of a trained model reaches a relative residual of about 1e-3 there,
  // which is enough for the loss (the implicit gradient is checked against the unrolled
  // one in the tests). Inference uses DeqInferOptions' tighter defaults.
  int maxIterations = 10;
  // Stop when ||f(x) - x|| / ||x|| <= tolerance.
  double tolerance = 1e-4;
  // Anderson history m (the authors' 5).
  int history = 5;
  // Tikhonov term of the Anderson Gram system, relative to its mean diagonal:
  // (G^T G + lambda * mean(diag(G^T G)) I) c = 1. Scale-free, unlike an absolute lambda.
  double regularization = 1e-3;
  // Damping beta: x_{k+1} = beta * sum c_i f(x_i) + (1 - beta) * sum c_i x_i. 1 (no
  // damping) converged fastest on the projected-gradient map.
  double damping = 1.0;

  // The one set of bounds (training, inference, model files): maxIterations 1..10000,
  // tolerance in [0, 1] (0 runs to the cap), history 1..100, regularization >= 0, damping in
  // (0, 1], all finite. Throws InvalidArgument naming `what` ("inference solver"), the
  // setting and its range.
  void validate(const std::string& what) const;
};

// The learned operator N_theta.
struct DeqNetworkOptions {
  int hiddenChannels = 32;  // C
  int hiddenLayers = 2;     // 3x3 C -> C convolutions between the 1x1 input and 3x3 output
  // [R; A] was more accurate than [E^T R; A] on Samson (aRMSE 0.126 vs 0.142, DESIGN 1d);
  // the projected input is 37% cheaper per epoch for many bands.
  DeqNetworkInput input = DeqNetworkInput::ResidualAndAbundances;
  // Initial eta in units of 1 / ||E||_2^2 (1 = the classical projected-gradient step).
  double initialStep = 1.0;
  // Spatial prox weight w in [0, 1): after the simplex projection, each pixel's abundances
  // become (1 - w) a + w * (mean of its 3 x 3 neighbourhood), still on the simplex. A
  // fixed (not learned) spatial prior in the spirit of the paper's superpixel-guided prox
  // (DESIGN 1b/3); 0 = plain projection. Stored in the model file (version-1 files without
  // it read as 0). With E fixed, FCLS already minimises the
  // reconstruction error, so the unsupervised loss alone cannot beat it on abundances
  // (it fits noise: 15 dB synthetic aRMSE 0.0879 at the start -> 0.182 after 30 epochs
  // with alpha 0.2, 0.092 with alpha 5); the prox is what brings the gain. The weight acts
  // at every iteration against a data step of 1 / ||E||^2, so small weights are strong.
  // Measured aRMSE (synthetic as above, min-volume E, f 0.02, smoothing 1, seed 1):
  //   w        epochs   30 dB    15 dB
  //   0        1        -        0.0889
  //   0        30       -        0.182
  //   0.01     1        0.0259   -
  //   0.02     30       0.0266   0.0703
  //   0.03     1        0.0470   0.0574
  //   0.03     30       -        0.0539
  //   0.1      1        -        0.0866
  //   0.3      1        -        0.124
  // (VCA+FCLS: 0.0923 at 30 dB, 0.0956 at 15 dB.) With the automatic alpha below, 300
  // epochs, seed 1 (bench_deq_samson; aRMSE of DEQ-Unmix, FCLS on the same E in brackets):
  //   w      synthetic 15 dB    synthetic 30 dB    Samson
  //   0      0.0881 (0.0879)    -                  0.1750 (0.2165)
  //   0.02   0.0771 (0.0879)    0.0196 (0.0247)    0.1742 (0.2165)
  // so 0.02 is the default: the gain on highly mixed noisy scenes, neutral on Samson.
  double spatialWeight = 0.02;
  // What the prox averages over. Superpixel: a <- (1 - w) a + w * (mean of a over the
  // pixel's superpixel), the pooling of the authors' superpixel-guided prox (DESIGN 1b);
  // again a convex combination of simplex points. The superpixels are a SLIC segmentation
  // (core/classical/superpixels.h) of the raw scene, computed once per scene in training and once
  // per tile window (tile + halo) in tiled inference, with the seed grid anchored to scene
  // coordinates and one feature transform (mean, 8 principal components and spread of the
  // training scene, stored in the model), so that every window of any scene measures
  // spectral distances alike. Tiles smaller than the scene still segment differently where
  // a window's edge cuts superpixels; because the pooling pulls a pixel strongly towards
  // its superpixel, abundances there differ from a whole-image solve (32 x 32 test scene,
  // tiles 16: max abs difference 0.27, mean 0.0051 with halo 4; 0.21 / 0.0031 with halo 8;
  // against 6.8e-4 for the neighbourhood prox). Scenes that fit one tile (TILE_SIZE,
  // default 256) are unaffected. Stored in the model file (absent in older version-1 files:
  // neighbourhood) with the transform as tensors "superpixel_mean", "superpixel_basis" and
  // "superpixel_spread"; files saved before the transform was stored segment each window
  // with its own, so tiles differ throughout
  // (halo 4: max 0.30, mean 0.014).
  // Measured (bench_deq_samson --synthetic, 64x64x100, P = 4, max abundance 0.8, no pure
  // pixels, min-volume E, w 0.02, 30 epochs, seed 1), aRMSE / mean per endmember:
  //            neighbourhood     superpixel (S = 7)
  //   30 dB    0.0266 / 0.0261   0.0633 / 0.0611
  //   15 dB    0.0703 / 0.0673   0.0668 / 0.0653
  // (mSAD unchanged, E is fixed.) The superpixel mean over-smooths clean scenes; the
  // default stays the neighbourhood.
  std::string spatialProx = "neighbourhood";
  // SLIC grid step S in pixels (Superpixel only): 7 gives 200 superpixels on the 95 x 95
  // Samson scene, near the authors' 189. The compactness and iterations are
  // SuperpixelOptions' defaults.
  int superpixelSize = 7;

  // Bounds as DeqSolverOptions::validate: hiddenChannels 1..1024, hiddenLayers 0..16,
  // initialStep finite > 0, spatialWeight in [0, 1), superpixelSize 2..1000.
  void validate(const std::string& what) const;
  // Side of the network's receptive field: the smallest scene it handles meaningfully.
  int receptiveField() const { return 2 * (hiddenLayers + 1) + 1; }
};

struct DeqTrainOptions {
  int endmembers = 3;  // P (ignored when initial endmembers are given)
  int epochs = 300;    // the authors' setting (DESIGN 1b)
  uint64_t seed = 42;  // seeds VCA, the network initialisation and tile sampling
  DeqGradientMode gradient = DeqGradientMode::Implicit;
  DeqNetworkOptions network;
  DeqSolverOptions forward;  // forward solves during training (defaults: authors' 10, m = 5)
  // Backward (implicit) solves u = g + J^T u; 1c found them needing up to 30 iterations.
  // Tolerance 1e-3, the accuracy the forward solve reaches in its 10 iterations; each
  // solve starts from the previous step's u. Measured (300 epochs, seed 1, defaults):
  //   tolerance   Samson aRMSE / train s / bwd it   synthetic 15 dB aRMSE / train s / bwd it
  //   1e-4        0.1741 / 136 / 11                  0.0769 / 84 / 12
  //   1e-3        0.1741 / 107 / 5.8                 0.0764 / 67 / 5.2
  // (unrolled, same run conditions: Samson 127 s, synthetic 76 s).
  DeqSolverOptions backward = {"anderson", 30, 1e-3, 5, 1e-3, 1.0};
  int phantomSteps = 3;         // k of the phantom gradient
  double phantomDamping = 0.5;  // lambda of the phantom gradient's damped steps
  // Network learning rate: the authors' 0.01 diverged for some seeds on Samson (aRMSE
  // 0.43), 0.003 was stable (DESIGN 1d).
  double networkLearningRate = 0.003;
  // Endmember learning rate (the authors' 0.007), used only when trainEndmembers is true.
  double endmemberLearningRate = 0.007;
  // Learning E through the loss made E worse on Samson in every variant tried (DESIGN 1d:
  // water from 0.10 to 0.26 rad), so E is held fixed after the refinement by default.
  bool trainEndmembers = false;
  double weightDecay = 1e-5;  // AdamW decoupled weight decay (authors)
  int decayEvery = 15;        // learning rates x decayFactor every decayEvery epochs
  double decayFactor = 0.8;   // (authors)
  double gradientClip = 1.0;  // global gradient-norm clip (authors); <= 0 disables
  // loss = mean SAD(y, E a) + alpha * MSE; alpha < 0 (the default) picks it by the scene,
  // as the automatic refinement does (affineModelExcess at most automaticExcessThreshold:
  // linearMixtureAlpha, else variableBrightnessAlpha). The spectral angle ignores each pixel's
  // brightness: right where brightness varies (Samson), but on a linear sum-to-one
  // mixture the brightness carries abundance information and fitting angles fits noise.
  // Measured aRMSE, 300 epochs, spatial weight 0.02, seed 1 (FCLS on the same E 0.0879,
  // 0.0247, 0.2165):
  //   alpha   synthetic 15 dB   synthetic 30 dB   Samson
  //   0.2     0.182             0.0266 (30 ep.)   0.1742
  //   100     0.0771            0.0196            0.2153
  double alpha = -1;
  double linearMixtureAlpha = 100;
  double variableBrightnessAlpha = 0.2;  // the authors' setting on Samson
  double minEndmemberValue = 1e-5;       // E clamped to >= this after each step (authors)
  // Refinement of the initial vertices before training. Automatic (the default) picks by
  // the scene (automaticExcessThreshold below). Measured mSAD (rad) / aRMSE of the refined
  // E + FCLS, seed 1 (bench_deq_samson, 1 epoch; synthetic 64 x 64 x 100, P = 4):
  //   scene                           VCA              mean shift       min volume
  //   Samson                          0.0666 / 0.283   0.0234 / 0.216   0.178 / 0.245
  //   synthetic 30 dB, max 0.8        0.0497 / 0.092   0.0501 / 0.083   0.0109 / 0.025
  //   synthetic 15 dB, max 0.8        0.0356 / 0.096   0.1035 / 0.301   0.0102 / 0.088
  //   synthetic 30 dB, pure pixels    0.0072 / 0.022   0.0126 / 0.032   0.0049 / 0.020
  //   synthetic 20 dB, pure pixels    0.0222 / 0.069   0.0513 / 0.258   0.0071 / 0.054
  //   synthetic 25 dB, max 0.9        0.0221 / 0.048   0.0295 / 0.053   0.0061 / 0.033
  //   synthetic 20 dB, max 0.7, 48^2  0.0660 / 0.116   0.0942 / 0.226   0.0152 / 0.065
  // The minimum volume wins on every linear mixture and fails on Samson, whose pixels
  // vary in brightness (affineModelExcess 7,800 against 1.33-1.44 on the synthetic ones).
  EndmemberRefinement refinement = EndmemberRefinement::Automatic;
  // Ball radius t (radians) of the angular mean shift; <= 0 (the default) chooses it per
  // endmember as the angle to its k-th nearest pixel, k = max(refinementMinPixels, 0.2% of
  // the pixels), floored at 0.02 rad (see refineEndmembersMeanShift in deq_ops.h).
  // Measured mSAD (rad) of the refined E, seed 1 (bench_deq_samson, 1 epoch):
  //                                VCA      t = 0.07   t = 0.05   adaptive (0)
  //   Samson                       0.0666   0.0233     0.0583     0.0234
  //   synthetic 48x48x100, P = 4, max abundance 0.8, no pure pixels:
  //     30 dB                      0.0527   0.0876     -          0.0530
  //     25 dB                      0.0526   0.0674     -          0.0562
  //     15 dB                      0.0625   -          -          0.0858
  // The fixed 0.07 does not transfer (as 1d warned); the adaptive ball keeps Samson's gain
  // and is close to neutral on highly mixed synthetic scenes at 25-30 dB, but still hurts at
  // 15 dB and on scenes with exact pure pixels (0.018 -> 0.043 at 20 dB): open work. Set
  // refinement = None for scenes with clean pure pixels.
  double refinementRadius = 0;
  int refinementIterations = 20;
  int refinementMinPixels = 5;  // keep the VCA column when its ball holds fewer pixels
  // Minimum-volume refinement (refinement = MinimumVolume, refineEndmembersMinVolume in
  // deq_ops.h): the fraction of pixels allowed beyond each facet of the simplex (absorbs
  // noise), its Adam steps, an optional margin in noise units (0: off; it shrank the
  // simplex on the synthetic scenes), and the radius r of a (2r+1)^2 box average of the
  // pixels before the fit (divides the in-subspace noise that moves the facets).
  // Measured mSAD (rad) / aRMSE of refined E + FCLS, synthetic 64x64x100, P = 4, max
  // abundance 0.8, no pure pixels, seed 1 (bench_deq_samson --synthetic, 1 epoch):
  //                                      30 dB            15 dB
  //   VCA                                0.0497 / 0.0923  0.0356 / 0.0956
  //   f 0.005                            0.0080 / 0.0281  0.0839 / 0.1178
  //   f 0.02                             0.0061 / 0.0220  0.0487 / 0.1021
  //   f 0.05                             0.0206 / 0.0346  0.0183 / 0.0893
  //   f 0.005, margin 1                  0.0076 / 0.0227  0.0406 / 0.0988
  //   f 0.005, margin 2                  0.0190 / 0.0330  0.0402 / 0.1020
  //   f 0.005, smoothing 1               0.0054 / 0.0218  0.0244 / 0.0936
  //   f 0.02, smoothing 1 (the recipe)   0.0109 / 0.0247  0.0102 / 0.0879
  //   f 0.02, smoothing 2                0.0144 / 0.0280  0.0142 / 0.0882
  // On Samson it over-expands the simplex (mSAD 0.178 with f 0.02, smoothing 1, against
  // 0.0666 for VCA and 0.0234 for the mean shift), so the automatic refinement keeps it
  // for scenes that follow the linear mixing model.
  // Automatic refinement: the minimum-volume simplex when the scene follows the linear
  // sum-to-one mixing model (affineModelExcess in deq_ops.h at most this), the angular
  // mean shift otherwise. Measured excess: 1.33-1.44 on every synthetic scene below
  // (15-30 dB, with and without pure pixels), 7,800 on Samson; 10 sits well above the
  // Marchenko-Pastur noise edge of scenes with at least as many pixels as bands.
  double automaticExcessThreshold = 10;
  double minVolumeOutsideFraction = 0.02;
  int minVolumeIterations = 400;
  double minVolumeNoiseMargin = 0;
  int minVolumeSmoothing = 1;
  // Scenes whose training working set would exceed this train on random tiles instead of
  // the whole image (memory bounded by tileSize, not by the scene).
  double memoryBudgetMiB = 1024;
  int tileSize = 64;           // side of the training tiles (only when over the budget)
  int tilesPerStep = 4;        // tiles per optimiser step (only when over the budget)
  int threads = 0;             // LibTorch intra-op threads (setThreadCount: 0 = all cores)
  std::string device = "cpu";  // torch::Device string: "cpu", "cuda", "cuda:1"
};

struct DeqInferOptions {
  // Anderson's mixing coefficients are global to a tile, so tiled and whole-image results
  // agree only near the true fixed point.
  // Tolerance 1e-4, the training's: trained models often stall near a relative residual
  // of 1e-4, so 1e-5 ran every tile to the cap for nothing. Measured (bench_deq_samson
  // --inference-sweep; tiles 32 + halo 16 against the whole scene):
  //   model                 tolerance  iterations  max tiled-whole  aRMSE
  //   Samson, alpha 100,    1e-4       7           8.1e-4           0.2153
  //   w 0.02, 300 epochs    1e-5       13          5.0e-4           0.2153
  //   synthetic 30 dB, 30   1e-4       49          -                0.0256
  //   epochs, w 0.02        1e-5       60 (cap)    -                0.0266
  DeqSolverOptions solver = {"anderson", 60, 1e-4, 5, 1e-3, 1.0};
  int tileSize = 256;  // core of each tile (pixels per side)
  // Pixels read around each tile and dropped after the solve. The equilibrium couples the
  // whole image, but the influence decays fast with distance: tiled (16 px tiles) against
  // whole-image max abs abundance difference 2.8e-4 with halo 16, 1.1e-2 with no halo
  // (test DeqTiledInference; the rest of the 2.8e-4 is Anderson's tile-global mixing).
  int halo = 16;
  bool computeResidual = true;  // per-pixel reconstruction RMSE (data units)
  int threads = 0;  // as DeqTrainOptions::threads
  std::string device = "cpu";
};

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
// Reads versions 1 and 2. Throws ModelFormatError / ModelVersionError (a newer format
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
  // The refinement applied (never Automatic) and, when a setting was automatic, the
  // departure from the linear mixing model it was chosen by (affineModelExcess, deq_ops.h;
  // 0 otherwise).
  EndmemberRefinement refinement = EndmemberRefinement::None;
  double affineModelExcess = 0;
};

// Throws InvalidArgument (sizes, epochs < 1, endmember table of the wrong band count,
// reference of the wrong size, scene smaller than the receptive field), Canceled.
DeqTrainResult trainDeqUnmix(const DeqTrainInput& input, const DeqTrainOptions& options,
                             const DeqInferOptions& inference = {},
                             ProgressSink* progress = nullptr);

// ----------------------------------------------------------------------------------------
// Tiled inference over a streaming interface (the adapter reads from / writes to GDAL).

class DeqTileReader {
 public:
  virtual ~DeqTileReader() = default;
  // Fill `values` (model.bands x rows x cols, band-sequential) with the window at
  // (row, col); the model's band subset already applied; NaN marks nodata.
  virtual void read(int row, int col, int rows, int cols, float* values) = 0;
};

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
  double pixelsPerSecond = 0;
};

// Unmixes a height x width scene tile by tile (tiles written in row-major order, each
// exactly once). Progress and cancel per tile and per solver iteration.
DeqInferStats unmixWithDeqModel(const DeqModel& model, int height, int width, DeqTileReader& reader,
                                DeqTileWriter& writer, const DeqInferOptions& options = {},
                                ProgressSink* progress = nullptr);

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
