#include "algorithms/train_algorithm.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include <QDateTime>
#include <QFileInfo>

#include <qgsprocessingoutputs.h>
#include <qgsprocessingparameters.h>

#include "algorithms/deq_raster_io.h"
#include "algorithms/gdal_raster.h"
#include "algorithms/output_files.h"
#include "algorithms/training_report.h"
#include "core/data_checks.h"
#include "core/errors.h"
#include "core/io/endmember_table.h"
#include "core/io/spectral_library.h"

namespace dequnmix::processing {

namespace {

using Limits = DeqLimits;  // the parameters' ranges

QString modelFilter() { return QObject::tr("DEQ-Unmix models (*.dequnmix)"); }

QgsProcessingParameterNumber* decimals(QgsProcessingParameterNumber* parameter, int digits) {
  QVariantMap wrapper;
  wrapper.insert(QStringLiteral("decimals"), digits);
  QVariantMap metadata = parameter->metadata();
  metadata.insert(QStringLiteral("widget_wrapper"), wrapper);
  parameter->setMetadata(metadata);
  return parameter;
}

QString name(const std::string& value) { return QString::fromStdString(value); }

QString yesNo(bool value) { return value ? QObject::tr("yes") : QObject::tr("no"); }

QString overviewHelp() {
  return QObject::tr(
      "Trains DEQ-Unmix (Wang, Gao, Zhu and Chen, 'A Deep Equilibrium Network for "
      "Hyperspectral Unmixing', 2026) on one scene. Abundances are the fixed point "
      "A = Proj(A - eta G(EA - Y, A)) of a projected-gradient map whose gradient term is a "
      "small convolutional network (plus the physical term E^T(EA - Y)), found by Anderson "
      "acceleration from the FCLS abundances; the network is trained with implicit "
      "differentiation (see SOLVER and GRADIENT). Endmembers start from VCA (or the given "
      "spectra) and are refined (see REFINEMENT). The whole scene is read into memory; nodata "
      "pixels (nodata or NaN in any band used, or 0 in every band: fill) are left out and stay "
      "nodata (-9999) in every output. Apply the saved model to other scenes with 'Unmix with "
      "DEQ-Unmix model'.\n\n");
}

QString basicParameterHelp(const dequnmix::DeqTrainOptions& d) {
  return QObject::tr(
             "Parameters\n"
             "- INPUT: the hyperspectral raster.\n"
             "- BANDS: optional subset of bands, typed as 1,2,3 or 1;2;3 or ranges such as 1-40 "
             "(default: all); the model remembers it.\n"
             "- BAD_BANDS (advanced): wavelength ranges in nm to drop from them, such as "
             "1340-1450;1790-1960;2450-2500, or auto (the raster's ENVI bbl list, else those "
             "water-vapour windows); needs band wavelengths (ENVI header, band metadata or "
             "descriptions).\n"
             "- ENDMEMBERS: number of endmembers for VCA (default %1; 0 = estimated with "
             "the noise-whitened HFC virtual dimensionality, as the log says); ignored when "
             "INITIAL_ENDMEMBERS is given.\n"
             "- INITIAL_ENDMEMBERS: optional endmember CSV (one row per band used) to start "
             "from instead of VCA.\n"
             "- REFERENCE_ABUNDANCES: optional raster of reference abundances (same size, one "
             "band per endmember): switches to supervised training (abundance MSE).\n"
             "- EPOCHS: training epochs (default %2). Training time grows in proportion.\n"
             "- SEED: seed of VCA and the network initialisation (default %3).\n"
             "- THREADS: CPU threads, 0 = all cores (default 0).\n"
             "- DEVICE (advanced): auto (default: the GPU when this build has CUDA and one is "
             "visible, else the CPU), cpu, cuda or cuda:N. Models run on any device.\n"
             "- MEMORY_BUDGET_MB (advanced, default 0 = a quarter of this machine's memory, "
             "%4 MiB here): a scene whose working set exceeds it trains on random tiles; one "
             "whose pixels alone exceed it is never read whole: endmembers from a sample of "
             "tiles, epochs of tiles read from the file, abundances written tile by tile.\n\n")
      .arg(d.endmembers)
      .arg(d.epochs)
      .arg(static_cast<qulonglong>(d.seed))
      .arg(d.memoryBudgetInEffectMiB(), 0, 'f', 0);
}

QString solverParameterHelp(const dequnmix::DeqTrainOptions& d,
                            const dequnmix::DeqInferOptions& i) {
  return QObject::tr(
             "Advanced: equilibrium solver\n"
             "- SOLVER: fixed-point solver (default %1). Anderson acceleration needs fewer "
             "iterations; picard, a damped plain iteration, is a fallback.\n"
             "- MAX_ITERATIONS: forward iterations per solve during training (default %2). "
             "Raise it when the report shows training solves that do not converge.\n"
             "- TOLERANCE: relative residual at which a solve stops (default %3); smaller is "
             "more exact and slower.\n"
             "- ANDERSON_HISTORY: number of past iterates Anderson combines (default %4: "
             "0 = the larger of 5 and the number of endmembers).\n"
             "- ANDERSON_REGULARIZATION: regularisation of Anderson's least-squares step "
             "(default %5); raise it when Anderson solves are unstable.\n"
             "- BACKWARD_MAX_ITERATIONS: iterations per backward solve of the implicit "
             "gradient (default %6).\n"
             "- GRADIENT: how training differentiates through the equilibrium (default %7): "
             "implicit (memory independent of the iterations), phantom (a few damped steps "
             "from the fixed point) or unrolled (through every iteration, the most memory).\n"
             "- INFERENCE_MAX_ITERATIONS (default %8) and INFERENCE_TOLERANCE (default %9): "
             "the solver limits for the abundances written by this algorithm and, through the "
             "model, by unmix.\n\n")
      .arg(name(d.forward.kind))
      .arg(d.forward.maxIterations)
      .arg(d.forward.tolerance)
      .arg(d.forward.history)
      .arg(d.forward.regularization)
      .arg(d.backward.maxIterations)
      .arg(dequnmix::toString(d.gradient))
      .arg(i.solver.maxIterations)
      .arg(i.solver.tolerance);
}

QString learningParameterHelp(const dequnmix::DeqTrainOptions& d) {
  return QObject::tr(
             "Advanced: learning and endmembers\n"
             "- NETWORK_LEARNING_RATE: learning rate of the network (default %1); lower it "
             "when the loss curve in the report oscillates or diverges.\n"
             "- TRAIN_ENDMEMBERS: also learn the endmembers through the loss (default %2); "
             "otherwise they are held fixed after the refinement.\n"
             "- ENDMEMBER_LEARNING_RATE: learning rate of the endmembers when "
             "TRAIN_ENDMEMBERS is on (default %3).\n"
             "- ALPHA: weight of the MSE next to the spectral angle in the loss (default %4; "
             "-1 = automatic: chosen with the refinement, MSE-led on linear mixtures, "
             "angle-led on scenes whose brightness varies).\n"
             "- REFINEMENT: refinement of the initial endmembers (default %5: VCA's vertices, "
             "or N-FINDR's where VCA's miss a material; then the "
             "minimum-volume simplex where the scene lacks pure pixels or those vertices leave "
             "pixels outside that it explains as mixtures (a pure pixel missed), else those or "
             "the given "
             "spectra, each moved to the centre of its cluster of pure pixels where it is an "
             "outlier of a dense one and the spectra vary per pixel, as on real scenes with "
             "homogeneous regions: pure_clusters; where none moves and brightness varies, the "
             "minimum-volume simplex of the pixels scaled to unit brightness: "
             "min_volume_directions). Angular mean shift moves every vertex and "
             "made the endmembers worse on most test scenes.\n"
             "- REFINEMENT_RADIUS: ball radius of the angular mean shift in radians (default "
             "%6; 0 = chosen per endmember from the data).\n"
             "- WHITENING_SPREAD: every stage weighs each band by its signal-to-noise ratio "
             "where the bands' noise differs by at least this factor from the quietest to the "
             "noisiest, as where a sensor's edge or water-vapour bands are kept (default %7; "
             "0 = never, 1 = always). The log says the spread measured.\n"
             "- ANOMALY_RATIO: pixels whose energy outside the scene's signal subspace exceeds "
             "this many times its 99th percentile over the pixels (spikes, saturated bands) are "
             "left out of the endmember stage and training where they are at most %9% of the "
             "scene, so that they cannot become endmembers; the outputs still cover them "
             "(default %8; 0 = never). The log says how many.\n\n")
      .arg(d.networkLearningRate)
      .arg(yesNo(d.trainEndmembers))
      .arg(d.endmemberLearningRate)
      .arg(d.alpha)
      .arg(dequnmix::toString(d.refinement))
      .arg(d.refinementRadius)
      .arg(d.automaticWhiteningSpread)
      .arg(d.anomalyResidualRatio)
      .arg(100 * d.anomalyMaxFraction);
}

QString networkParameterHelp(const dequnmix::DeqTrainOptions& d) {
  return QObject::tr(
             "Advanced: network\n"
             "- HIDDEN_CHANNELS: channels of the network's hidden layers (default %1); more "
             "channels fit more complex scenes at a higher cost per epoch.\n"
             "- SPATIAL_WEIGHT: weight of the spatial prox, which blends each pixel's "
             "abundances with the mean of its neighbours at every iteration (default %2; 0 = "
             "off). Because it acts at every iteration, small weights are already strong.\n"
             "- SPATIAL_NOISE_SHARE: the prox weight follows the scene (default %7): full where "
             "noise makes at least this share of the start abundances' differences between "
             "neighbouring pixels, or where those abundances correlate beyond %8; none where "
             "they correlate below %9 and noise makes little of their differences (abundances "
             "that change from pixel to pixel, which blending would blur). 0 = SPATIAL_WEIGHT "
             "as given. The log and the report say what was chosen.\n"
             "- ANCHOR_WEIGHT: pull of each iteration towards the start (FCLS, or NNLS over its "
             "sum when scale-invariant), in units of the endmembers' squared norm (default %5; "
             "0 = the paper's map). It makes the solves converge where similar spectra leave "
             "the data term flat. Training strengthens it up to %10 times where noise makes "
             "little of the start abundances' differences between neighbours: the start is "
             "then already near the abundances.\n"
             "- SCALE_INVARIANT: fit each pixel at its own brightness (default %6: on where a "
             "per-pixel brightness scale explains the scene far beyond its noise, or beyond it "
             "and 0.02% of its energy on a noisy scene, as where illumination or topography "
             "scales whole spectra; off on scenes whose brightness follows the abundances). The "
             "log and the report say what was chosen.\n"
             "- SPATIAL_PROX: what the prox averages over (default %3): the 3x3 "
             "neighbourhood, or the pixel's superpixel from a SLIC segmentation of the scene "
             "(the paper's superpixel-guided prox).\n"
             "- SUPERPIXEL_SIZE: SLIC grid step in pixels, about one superpixel per "
             "SUPERPIXEL_SIZE^2 pixels (default %4). Unmix segments each tile with its halo, "
             "so where a tile edge cuts superpixels its abundances differ somewhat from a "
             "whole-scene solve.\n\n")
      .arg(d.network.hiddenChannels)
      .arg(d.network.spatialWeight)
      .arg(name(d.network.spatialProx))
      .arg(d.network.superpixelSize)
      .arg(d.network.anchorWeight)
      .arg(dequnmix::toString(d.network.scaleInvariance))
      .arg(d.automaticSpatialNoiseShare)
      .arg(d.automaticSpatialCorrelationMax)
      .arg(d.automaticSpatialCorrelationMin)
      .arg(d.automaticAnchorGain);
}

QString outputHelp() {
  return QObject::tr(
      "Outputs\n"
      "- OUTPUT_MODEL: the trained model file (*.dequnmix).\n"
      "- OUTPUT: abundances of the scene, one Float32 band per endmember named after it.\n"
      "- OUTPUT_ENDMEMBERS: the final endmember spectra (CSV, or an ENVI spectral library "
      "when the name ends in .sli).\n"
      "- OUTPUT_RESIDUAL: optional per-pixel reconstruction RMSE raster.\n"
      "- OUTPUT_REPORT: optional self-contained HTML report (loss curve, learned versus "
      "initial spectra, solver convergence per epoch, settings, timings).\n"
      "- FINAL_LOSS, MEAN_ITERATIONS (mean forward iterations in training), "
      "CONVERGED_FRACTION (of the training forward solves), TRAINING_SECONDS.");
}

}  // namespace

QString TrainAlgorithm::name() const { return QStringLiteral("train"); }

QString TrainAlgorithm::displayName() const { return QObject::tr("Train DEQ-Unmix"); }

QStringList TrainAlgorithm::tags() const {
  return QObject::tr(
             "deq,deep equilibrium,unmixing,train,neural network,anderson,implicit,abundance,"
             "endmember,hyperspectral")
      .split(',');
}

QString TrainAlgorithm::group() const { return QObject::tr("DEQ-Unmix"); }

QString TrainAlgorithm::groupId() const { return QStringLiteral("dequnmix"); }

QString TrainAlgorithm::shortDescription() const {
  return QObject::tr(
      "Trains a deep equilibrium unmixing network on a scene and writes its abundances, "
      "endmembers, model and report.");
}

QString TrainAlgorithm::shortHelpString() const {
  const dequnmix::DeqTrainOptions d;
  const dequnmix::DeqInferOptions i;
  return overviewHelp() + basicParameterHelp(d) + solverParameterHelp(d, i) +
         learningParameterHelp(d) + networkParameterHelp(d) + outputHelp();
}

TrainAlgorithm* TrainAlgorithm::createInstance() const { return new TrainAlgorithm(); }

void TrainAlgorithm::initAlgorithm(const QVariantMap&) {
  const dequnmix::DeqTrainOptions d;
  const dequnmix::DeqInferOptions i;
  addSceneParameters(d);
  addSolverParameters(d);
  addLearningParameters(d);
  addNetworkParameters(d);
  addInferenceParameters(i);
  addOutputs();
}

void TrainAlgorithm::addSceneParameters(const dequnmix::DeqTrainOptions& d) {
  using Number = QgsProcessingParameterNumber;
  addParameter(new QgsProcessingParameterRasterLayer(QStringLiteral("INPUT"),
                                                     QObject::tr("Hyperspectral raster")));
  addBandParameters(QStringLiteral("INPUT"));
  addParameter(ranged(new Number(QStringLiteral("ENDMEMBERS"), QObject::tr("Number of endmembers"),
                                 Number::Integer, d.endmembers, false, 0, Limits::kMaxEndmembers)));
  addParameter(new QgsProcessingParameterFile(
      QStringLiteral("INITIAL_ENDMEMBERS"),
      QObject::tr("Initial endmember spectra (CSV, optional; default: VCA)"),
      QgsProcessingParameterFile::File, QString(), QVariant(), true, spectraFileFilter()));
  addParameter(new QgsProcessingParameterRasterLayer(
      QStringLiteral("REFERENCE_ABUNDANCES"),
      QObject::tr("Reference abundances (optional; supervised training)"), QVariant(), true));
  addParameter(ranged(new Number(QStringLiteral("EPOCHS"), QObject::tr("Epochs"), Number::Integer,
                                 d.epochs, false, 1, Limits::kMaxEpochs)));
  addParameter(ranged(new Number(QStringLiteral("SEED"), QObject::tr("Random seed"),
                                 Number::Integer, static_cast<qlonglong>(d.seed), false, 0,
                                 std::numeric_limits<int>::max())));
  addThreadsParameter(false);
  addDeviceParameter();
  addParameter(
      advanced(ranged(new Number(QStringLiteral("MEMORY_BUDGET_MB"),
                                 QObject::tr("Memory budget (MiB, 0 = a quarter of the machine's)"),
                                 Number::Double, d.memoryBudgetMiB, false, 0, 1e7))));
}

void TrainAlgorithm::addSolverParameters(const dequnmix::DeqTrainOptions& d) {
  using Number = QgsProcessingParameterNumber;
  addParameter(advanced(namedChoice("SOLVER", QObject::tr("Fixed-point solver"),
                                    dequnmix::fixedPointSolverNames(), d.forward.kind)));
  addParameter(advanced(ranged(new Number(
      QStringLiteral("MAX_ITERATIONS"), QObject::tr("Forward iterations per solve (training)"),
      Number::Integer, d.forward.maxIterations, false, 1, Limits::kMaxIterations))));
  addParameter(
      advanced(decimals(ranged(new Number(QStringLiteral("TOLERANCE"),
                                          QObject::tr("Solver tolerance (relative residual)"),
                                          Number::Double, d.forward.tolerance, false, 0.0, 1.0)),
                        8)));
  addParameter(advanced(
      ranged(new Number(QStringLiteral("ANDERSON_HISTORY"), QObject::tr("Anderson history m"),
                        Number::Integer, d.forward.history, false, 0, Limits::kMaxHistory))));
  addParameter(
      advanced(decimals(ranged(new Number(QStringLiteral("ANDERSON_REGULARIZATION"),
                                          QObject::tr("Anderson regularisation lambda"),
                                          Number::Double, d.forward.regularization, false, 0.0)),
                        8)));
  addParameter(advanced(
      ranged(new Number(QStringLiteral("BACKWARD_MAX_ITERATIONS"),
                        QObject::tr("Backward iterations per solve (implicit)"), Number::Integer,
                        d.backward.maxIterations, false, 1, Limits::kMaxIterations))));
  addParameter(advanced(namedChoice("GRADIENT", QObject::tr("Gradient"),
                                    dequnmix::enumNames<dequnmix::DeqGradientMode>(),
                                    dequnmix::toString(d.gradient))));
}

// Learning rates, the loss weight and the endmember refinement.
void TrainAlgorithm::addLearningParameters(const dequnmix::DeqTrainOptions& d) {
  using Number = QgsProcessingParameterNumber;
  addParameter(
      advanced(decimals(ranged(new Number(QStringLiteral("NETWORK_LEARNING_RATE"),
                                          QObject::tr("Network learning rate"), Number::Double,
                                          d.networkLearningRate, false, 0.0, 1.0)),
                        6)));
  addParameter(advanced(new QgsProcessingParameterBoolean(
      QStringLiteral("TRAIN_ENDMEMBERS"), QObject::tr("Train the endmembers"), d.trainEndmembers)));
  addParameter(
      advanced(decimals(ranged(new Number(QStringLiteral("ENDMEMBER_LEARNING_RATE"),
                                          QObject::tr("Endmember learning rate"), Number::Double,
                                          d.endmemberLearningRate, false, 0.0, 1.0)),
                        6)));
  addParameter(advanced(ranged(
      new Number(QStringLiteral("ALPHA"),
                 QObject::tr("Alpha (MSE weight next to the spectral angle, -1 = automatic)"),
                 Number::Double, d.alpha, false, -1.0))));
  addParameter(advanced(namedChoice("REFINEMENT", QObject::tr("Endmember refinement"),
                                    dequnmix::enumNames<dequnmix::EndmemberRefinement>(),
                                    dequnmix::toString(d.refinement))));
  addParameter(
      advanced(decimals(ranged(new Number(QStringLiteral("REFINEMENT_RADIUS"),
                                          QObject::tr("Refinement radius (rad, 0 = automatic)"),
                                          Number::Double, d.refinementRadius, false, 0.0)),
                        4)));
  addParameter(advanced(decimals(
      ranged(new Number(QStringLiteral("WHITENING_SPREAD"),
                        QObject::tr("Weigh bands by their noise where it spreads this much "
                                    "(0 = never, 1 = always)"),
                        Number::Double, d.automaticWhiteningSpread, false, 0.0)),
      2)));
  addParameter(advanced(ranged(
      new Number(QStringLiteral("ANOMALY_RATIO"),
                 QObject::tr("Leave out pixels this far outside the signal subspace (0 = never)"),
                 Number::Double, d.anomalyResidualRatio, false, 0.0))));
}

void TrainAlgorithm::addNetworkParameters(const dequnmix::DeqTrainOptions& d) {
  using Number = QgsProcessingParameterNumber;
  addParameter(advanced(
      decimals(ranged(new Number(QStringLiteral("SPATIAL_WEIGHT"),
                                 QObject::tr("Spatial prox weight (0 = off)"), Number::Double,
                                 d.network.spatialWeight, false, 0.0, 0.99)),
               4)));
  addParameter(advanced(
      decimals(ranged(new Number(QStringLiteral("SPATIAL_NOISE_SHARE"),
                                 QObject::tr("Full spatial prox weight from this share of noise in "
                                             "neighbours' differences (0 = the weight as given)"),
                                 Number::Double, d.automaticSpatialNoiseShare, false, 0.0, 1.0)),
               3)));
  addParameter(advanced(decimals(
      ranged(new Number(QStringLiteral("ANCHOR_WEIGHT"),
                        QObject::tr("Anchor weight towards the start (0 = the paper's map)"),
                        Number::Double, d.network.anchorWeight, false, 0.0, 1.0)),
      4)));
  addParameter(
      advanced(namedChoice("SCALE_INVARIANT", QObject::tr("Fit each pixel at its own brightness"),
                           dequnmix::enumNames<dequnmix::ScaleInvariance>(),
                           dequnmix::toString(d.network.scaleInvariance))));
  addParameter(advanced(namedChoice("SPATIAL_PROX", QObject::tr("Spatial prox"),
                                    dequnmix::spatialProxNames(), d.network.spatialProx)));
  addParameter(advanced(ranged(new Number(
      QStringLiteral("SUPERPIXEL_SIZE"), QObject::tr("Superpixel size (SLIC grid step, pixels)"),
      Number::Integer, d.network.superpixelSize, false, Limits::kMinSuperpixelSize,
      Limits::kMaxSuperpixelSize))));
  addParameter(advanced(ranged(new Number(
      QStringLiteral("HIDDEN_CHANNELS"), QObject::tr("Hidden channels of the network"),
      Number::Integer, d.network.hiddenChannels, false, 1, Limits::kMaxHiddenChannels))));
}

// The solver settings of the final inference pass (stored in the model for unmix).
void TrainAlgorithm::addInferenceParameters(const dequnmix::DeqInferOptions& i) {
  using Number = QgsProcessingParameterNumber;
  addParameter(advanced(ranged(new Number(
      QStringLiteral("INFERENCE_MAX_ITERATIONS"), QObject::tr("Iterations per solve (inference)"),
      Number::Integer, i.solver.maxIterations, false, 1, Limits::kMaxIterations))));
  addParameter(advanced(decimals(
      ranged(new Number(QStringLiteral("INFERENCE_TOLERANCE"), QObject::tr("Tolerance (inference)"),
                        Number::Double, i.solver.tolerance, false, 0.0, 1.0)),
      8)));
}

void TrainAlgorithm::addOutputs() {
  addParameter(new QgsProcessingParameterFileDestination(
      QStringLiteral("OUTPUT_MODEL"), QObject::tr("Trained model"), modelFilter()));
  addParameter(new QgsProcessingParameterRasterDestination(QStringLiteral("OUTPUT"),
                                                           QObject::tr("Abundances")));
  addParameter(new QgsProcessingParameterFileDestination(QStringLiteral("OUTPUT_ENDMEMBERS"),
                                                         QObject::tr("Learned endmembers"),
                                                         spectraOutputFilter()));
  addParameter(new QgsProcessingParameterRasterDestination(QStringLiteral("OUTPUT_RESIDUAL"),
                                                           QObject::tr("Reconstruction RMSE"),
                                                           QVariant(), true, false));
  addParameter(new QgsProcessingParameterFileDestination(
      QStringLiteral("OUTPUT_REPORT"), QObject::tr("Training report"),
      QObject::tr("HTML files (*.html)"), QVariant(), true, false));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("FINAL_LOSS"), QObject::tr("Final loss")));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("MEAN_ITERATIONS"),
                                          QObject::tr("Mean forward iterations (training)")));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("CONVERGED_FRACTION"),
                                          QObject::tr("Converged fraction (training)")));
  addOutput(new QgsProcessingOutputNumber(QStringLiteral("TRAINING_SECONDS"),
                                          QObject::tr("Training time (s)")));
}

bool TrainAlgorithm::prepareAlgorithm(const QVariantMap& parameters, QgsProcessingContext& context,
                                      QgsProcessingFeedback* feedback) {
  checkNumberRanges(parameters, context);
  resolveInputs(parameters, context, feedback);
  dequnmix::DeqTrainOptions o = runOptions(parameters, context);
  readSolverOptions(parameters, context, o);
  readLearningOptions(parameters, context, o);
  o.device = deviceParameter(parameters, context, feedback);
  dequnmix::DeqInferOptions inf = inferenceOptions(parameters, context, o);
  inf.device = o.device;
  try {
    o.validate();
    inf.validate();
  } catch (...) {
    rethrowAsProcessingException();
  }
  options_ = o;
  inference_ = inf;
  return true;
}

void TrainAlgorithm::resolveInputs(const QVariantMap& parameters, QgsProcessingContext& context,
                                   QgsProcessingFeedback* feedback) {
  input_ = rasterInput(parameters, QStringLiteral("INPUT"), context);
  bands_ = spectralBandSelection(parameters, QStringLiteral("BANDS"), context, input_, feedback);
  requireMultiBand(input_, bands_, QStringLiteral("BANDS"));
  initialPath_ = parameterAsFile(parameters, QStringLiteral("INITIAL_ENDMEMBERS"), context);
  hasReference_ = false;
  // Given as a path (checked by rasterInput, so a wrong path fails clearly) or as a layer.
  const bool referenceGiven =
      !parameters.value(QStringLiteral("REFERENCE_ABUNDANCES")).toString().isEmpty() ||
      parameterAsRasterLayer(parameters, QStringLiteral("REFERENCE_ABUNDANCES"), context);
  if (referenceGiven) {
    reference_ = rasterInput(parameters, QStringLiteral("REFERENCE_ABUNDANCES"), context);
    hasReference_ = true;
  }
}

// ENDMEMBERS, EPOCHS, SEED and THREADS.
dequnmix::DeqTrainOptions TrainAlgorithm::runOptions(const QVariantMap& parameters,
                                                     QgsProcessingContext& context) const {
  dequnmix::DeqTrainOptions o;
  auto integer = [&](const char* key) { return parameterAsInt(parameters, key, context); };
  o.endmembers = integer("ENDMEMBERS");
  o.epochs = integer("EPOCHS");
  o.seed = static_cast<uint64_t>(std::max(0, integer("SEED")));
  if (initialPath_.isEmpty() && (o.endmembers == 1 || o.endmembers < 0)) {
    fail(QObject::tr("ENDMEMBERS is %1 but must be at least 2 (or 0 to estimate it).")
             .arg(o.endmembers));
  }
  o.threads = threadsParameter(parameters, context);
  o.memoryBudgetMiB = parameterAsDouble(parameters, QStringLiteral("MEMORY_BUDGET_MB"), context);
  return o;
}

// The forward and backward solvers and the gradient; the backward solver takes the
// forward one's kind, history and regularisation.
void TrainAlgorithm::readSolverOptions(const QVariantMap& parameters, QgsProcessingContext& context,
                                       dequnmix::DeqTrainOptions& o) const {
  auto integer = [&](const char* key) { return parameterAsInt(parameters, key, context); };
  auto real = [&](const char* key) { return parameterAsDouble(parameters, key, context); };
  auto choice = [&](const char* key) {
    return parameterAsEnumString(parameters, QString::fromLatin1(key), context).toStdString();
  };
  o.forward.kind = choice("SOLVER");
  o.forward.maxIterations = integer("MAX_ITERATIONS");
  o.forward.tolerance = real("TOLERANCE");
  o.forward.history = integer("ANDERSON_HISTORY");
  o.forward.regularization = real("ANDERSON_REGULARIZATION");
  o.backward.kind = o.forward.kind;
  o.backward.history = o.forward.history;
  o.backward.regularization = o.forward.regularization;
  o.backward.maxIterations = integer("BACKWARD_MAX_ITERATIONS");
  o.gradient = dequnmix::parseEnum<dequnmix::DeqGradientMode>(choice("GRADIENT"));
}

// Learning rates, loss weight, endmember refinement and network.
void TrainAlgorithm::readLearningOptions(const QVariantMap& parameters,
                                         QgsProcessingContext& context,
                                         dequnmix::DeqTrainOptions& o) const {
  auto integer = [&](const char* key) { return parameterAsInt(parameters, key, context); };
  auto real = [&](const char* key) { return parameterAsDouble(parameters, key, context); };
  o.networkLearningRate = real("NETWORK_LEARNING_RATE");
  o.trainEndmembers = parameterAsBool(parameters, QStringLiteral("TRAIN_ENDMEMBERS"), context);
  o.endmemberLearningRate = real("ENDMEMBER_LEARNING_RATE");
  o.alpha = real("ALPHA");
  auto choice = [&](const char* key) {
    return parameterAsEnumString(parameters, QString::fromLatin1(key), context).toStdString();
  };
  o.refinement = dequnmix::parseEnum<dequnmix::EndmemberRefinement>(choice("REFINEMENT"));
  o.refinementRadius = real("REFINEMENT_RADIUS");
  o.automaticWhiteningSpread = real("WHITENING_SPREAD");
  o.anomalyResidualRatio = real("ANOMALY_RATIO");
  o.network.spatialWeight = real("SPATIAL_WEIGHT");
  o.automaticSpatialNoiseShare = real("SPATIAL_NOISE_SHARE");
  o.network.anchorWeight = real("ANCHOR_WEIGHT");
  o.network.scaleInvariance =
      dequnmix::parseEnum<dequnmix::ScaleInvariance>(choice("SCALE_INVARIANT"));
  o.network.spatialProx = choice("SPATIAL_PROX");
  o.network.superpixelSize = integer("SUPERPIXEL_SIZE");
  o.network.hiddenChannels = integer("HIDDEN_CHANNELS");
}

// The final inference pass: the training solver's kind, history and regularisation with
// its own iteration limit and tolerance.
dequnmix::DeqInferOptions TrainAlgorithm::inferenceOptions(
    const QVariantMap& parameters, QgsProcessingContext& context,
    const dequnmix::DeqTrainOptions& o) const {
  dequnmix::DeqInferOptions inf;
  inf.threads = o.threads;
  inf.solver.kind = o.forward.kind;
  inf.solver.history = o.forward.history;
  inf.solver.regularization = o.forward.regularization;
  inf.solver.maxIterations = parameterAsInt(parameters, "INFERENCE_MAX_ITERATIONS", context);
  inf.solver.tolerance = parameterAsDouble(parameters, "INFERENCE_TOLERANCE", context);
  return inf;
}

// The file outputs of one training run: checked and staged before the work, committed
// together at the end (or none, when anything fails or the run is canceled).
TrainAlgorithm::Outputs TrainAlgorithm::stageOutputs(const QVariantMap& parameters,
                                                     QgsProcessingContext& context) const {
  Outputs o;
  o.model = parameterAsFileOutput(parameters, QStringLiteral("OUTPUT_MODEL"), context);
  const AbundanceOutputPaths rasters = abundanceOutputPaths(parameters, context);
  o.abundances = rasters.abundances;
  o.residual = rasters.residual;
  o.endmembers = parameterAsFileOutput(parameters, QStringLiteral("OUTPUT_ENDMEMBERS"), context);
  o.report = parameterAsFileOutput(parameters, QStringLiteral("OUTPUT_REPORT"), context);
  OutputCheck check;
  addInput(check, input_);
  addInput(check, QStringLiteral("INITIAL_ENDMEMBERS"), initialPath_);
  if (hasReference_) addInput(check, reference_);
  check.addOutput("OUTPUT_MODEL", o.model.toStdString());
  check.addOutput("OUTPUT", o.abundances.toStdString());
  check.addOutput("OUTPUT_ENDMEMBERS", o.endmembers.toStdString(), {".csv", ".sli"});
  check.addOutput("OUTPUT_RESIDUAL", o.residual.toStdString());
  check.addOutput("OUTPUT_REPORT", o.report.toStdString(), {".html", ".htm"});
  checkOutputs(check);
  try {
    o.modelFile = std::make_unique<StagedFile>(o.model.toStdString());
    o.endmemberFile = std::make_unique<StagedFile>(o.endmembers.toStdString());
    if (!o.report.isEmpty()) o.reportFile = std::make_unique<StagedFile>(o.report.toStdString());
  } catch (...) {
    rethrowAsProcessingException();
  }
  return o;
}

int TrainAlgorithm::endmemberCount(dequnmix::DeqTrainInput& in,
                                   QgsProcessingFeedback* feedback) const {
  const int used = usedBandCount(input_, bands_);
  if (initialPath_.isEmpty()) {
    if (options_.endmembers >= used) {
      fail(QObject::tr("ENDMEMBERS is %1 but must be fewer than the %2 bands used. Lower "
                       "ENDMEMBERS or use more bands.")
               .arg(options_.endmembers)
               .arg(used));
    }
    if (options_.endmembers == 0 && hasReference_)
      fail(
          QObject::tr("REFERENCE_ABUNDANCES needs ENDMEMBERS to be given (not 0): the number "
                      "of reference bands."));
    return options_.endmembers;
  }
  in.initialEndmembers =
      spectraForBands(readEndmembers(initialPath_, QStringLiteral("INITIAL_ENDMEMBERS")),
                      QStringLiteral("INITIAL_ENDMEMBERS"), input_, bands_, feedback);
  in.hasInitialEndmembers = true;
  const dequnmix::EndmemberTable& t = in.initialEndmembers;
  if (t.endmembers() < 2 || t.endmembers() >= used) {
    fail(QObject::tr("INITIAL_ENDMEMBERS has %1 endmember column(s); DEQ-Unmix needs at least "
                     "2 and fewer than the %2 bands used.")
             .arg(t.endmembers())
             .arg(used));
  }
  return t.endmembers();
}

// ENDMEMBERS = 0: the core's estimate (trainingEndmemberCount) on the scene read, the count
// training then uses. The band weights training may apply do not change it: NWHFC whitens every
// band's noise itself.
int TrainAlgorithm::estimatedEndmemberCount(const dequnmix::DeqTrainInput& in,
                                            FeedbackProgress& progress) const {
  try {
    return dequnmix::trainingEndmemberCount(in, options_, &progress);
  } catch (const dequnmix::InvalidArgument& e) {
    fail(QStringLiteral("ENDMEMBERS = 0: ") + QString::fromStdString(e.what()));
  }
}

void TrainAlgorithm::readReference(dequnmix::DeqTrainInput& in, int p) const {
  if (reference_.width != in.width || reference_.height != in.height) {
    fail(QObject::tr("REFERENCE_ABUNDANCES (%1) is %2 x %3 pixels but INPUT is %4 x %5. Give "
                     "reference abundances on the scene's grid.")
             .arg(reference_.layerName)
             .arg(reference_.width)
             .arg(reference_.height)
             .arg(in.width)
             .arg(in.height));
  }
  if (reference_.bandCount != p) {
    fail(QObject::tr("REFERENCE_ABUNDANCES (%1) has %2 bands but training uses %3 endmembers "
                     "(%4). Give one reference band per endmember.")
             .arg(reference_.layerName)
             .arg(reference_.bandCount)
             .arg(p)
             .arg(in.hasInitialEndmembers ? QObject::tr("the columns of INITIAL_ENDMEMBERS")
                                          : QObject::tr("ENDMEMBERS")));
  }
  GdalWindowReader ref(
      reference_.gdalPath, {},
      QStringLiteral("REFERENCE_ABUNDANCES (%1)").arg(reference_.layerName).toStdString());
  in.referenceAbundances = ref.readAll();
  const size_t n = size_t(in.width) * in.height;
  int64_t missing = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(in.scene[i]) && !std::isfinite(in.referenceAbundances[i])) ++missing;
  }
  if (missing > 0) {
    fail(QObject::tr("REFERENCE_ABUNDANCES (%1) is nodata at %2 pixels where INPUT is valid. "
                     "Give reference abundances for every valid pixel.")
             .arg(reference_.layerName)
             .arg(missing));
  }
}

int64_t TrainAlgorithm::readScene(dequnmix::DeqTrainInput& in, Georeference& geo) const {
  const std::string label = QStringLiteral("INPUT (%1)").arg(input_.layerName).toStdString();
  GdalWindowReader reader(input_.gdalPath, bands_, label);
  reader.readZeroPixelsAsNodata();
  geo = reader.georeference();
  describeScene(in, reader);
  in.scene = reader.readAll();
  int64_t validPixels = 0;
  const size_t n = size_t(in.width) * in.height;
  for (size_t i = 0; i < n; ++i) validPixels += std::isfinite(in.scene[i]) ? 1 : 0;
  if (validPixels == 0) {
    fail(QObject::tr("INPUT (%1) has no valid pixel: every pixel is nodata (or NaN) in at "
                     "least one band used, or 0 in every band. Check the raster's nodata value "
                     "and BANDS.")
             .arg(input_.layerName));
  }
  return validPixels;
}

QVariantMap TrainAlgorithm::processAlgorithm(const QVariantMap& parameters,
                                             QgsProcessingContext& context,
                                             QgsProcessingFeedback* feedback) {
  Outputs out = stageOutputs(parameters, context);
  dequnmix::DeqTrainInput in;
  const int p = endmemberCount(in, feedback);
  FeedbackProgress progress(feedback);
  QVariantMap results;
  try {
    const std::unique_ptr<dequnmix::ProcessGroup> group = joinProcessGroup(progress);
    results = streams() ? trainStreamed(out, in, p, group.get(), progress, feedback)
                        : trainInMemory(out, in, p, group.get(), progress, feedback);
  } catch (...) {
    rethrowAsProcessingException();
  }
  results.insert(QStringLiteral("OUTPUT_MODEL"), out.model);
  results.insert(QStringLiteral("OUTPUT"), out.abundances);
  results.insert(QStringLiteral("OUTPUT_ENDMEMBERS"), out.endmembers);
  if (!out.residual.isEmpty()) results.insert(QStringLiteral("OUTPUT_RESIDUAL"), out.residual);
  if (!out.report.isEmpty()) results.insert(QStringLiteral("OUTPUT_REPORT"), out.report);
  return results;
}

QVariantMap TrainAlgorithm::trainInMemory(Outputs& out, dequnmix::DeqTrainInput& in, int p,
                                          dequnmix::ProcessGroup* group, FeedbackProgress& progress,
                                          QgsProcessingFeedback* feedback) const {
  const bool writes = !group || group->rank() == 0;  // rank 0 writes every output
  Timings timings;
  auto t = Clock::now();
  if (feedback) feedback->setProgressText(QObject::tr("Reading the scene"));
  Georeference geo;
  const int64_t validPixels = readTrainingData(in, p, geo, progress);
  if (p == 0) p = estimatedEndmemberCount(in, progress);
  // Create the rasters now, so that an unwritable path fails before the training.
  const std::vector<std::string> names =
      in.hasInitialEndmembers ? in.initialEndmembers.names : dequnmix::defaultEndmemberNames(p);
  if (writes) createRasterWriters(out, in, names, geo);
  timings.emplace_back("reading the scene", secondsSince(t));

  t = Clock::now();
  const dequnmix::DeqTrainResult result = train(in, p, progress, feedback, group);
  timings.emplace_back("training and inference (core)", secondsSince(t));
  throwIfCanceled(&progress);
  if (!writes) {
    progress.info("Rank " + std::to_string(group->rank()) + " done; rank 0 writes the outputs.");
    return summaryResults(result.model.summary, progress);
  }

  t = Clock::now();
  if (feedback) feedback->setProgressText(QObject::tr("Writing the outputs"));
  writeOutputs(out, in, names, geo, result);
  timings.emplace_back("writing the outputs", secondsSince(t));
  if (out.reportFile) writeReport(out, result, validPixels, timings);
  throwIfCanceled(&progress);
  out.commit();
  return summaryResults(result.model.summary, progress);
}

int64_t TrainAlgorithm::readTrainingData(dequnmix::DeqTrainInput& in, int p, Georeference& geo,
                                         FeedbackProgress& progress) const {
  const int64_t validPixels = readScene(in, geo);
  if (hasReference_) readReference(in, p);
  const dequnmix::ValueSummary values =
      dequnmix::summarizeValues(in.scene.data(), static_cast<int64_t>(in.scene.size()));
  checkSceneValues(values, progress);
  if (in.hasInitialEndmembers) {
    const dequnmix::EndmemberTable& e = in.initialEndmembers;
    checkEndmembers(e, QStringLiteral("INITIAL_ENDMEMBERS"), progress, true);
    checkScale(values.rms(),
               dequnmix::rmsOf(e.values.data(), static_cast<int64_t>(e.values.size())),
               QStringLiteral("the INITIAL_ENDMEMBERS spectra"), progress);
  }
  throwIfCanceled(&progress);
  progress.setProgress(0.03);
  return validPixels;
}

void TrainAlgorithm::describeScene(dequnmix::DeqTrainInput& in,
                                   const GdalWindowReader& reader) const {
  in.bands = reader.bands();
  in.height = reader.height();
  in.width = reader.width();
  in.sourceBands = input_.bandCount;
  in.bandSubset = bands_;
  in.wavelengths = reader.wavelengthsNm();
}

void TrainAlgorithm::createRasterWriters(Outputs& out, const dequnmix::DeqTrainInput& in,
                                         const std::vector<std::string>& names,
                                         const Georeference& geo) {
  out.abundanceWriter = std::make_unique<GdalRasterWriter>(out.abundances.toStdString(), in.width,
                                                           in.height, names, geo, kOutputNoData);
  out.residualWriter = residualWriterFor(out.residual.toStdString(), in.width, in.height, geo);
}

dequnmix::DeqTrainResult TrainAlgorithm::train(const dequnmix::DeqTrainInput& in, int p,
                                               FeedbackProgress& progress,
                                               QgsProcessingFeedback* feedback,
                                               dequnmix::ProcessGroup* group) const {
  progress.info("Training DEQ-Unmix on " + std::to_string(in.width) + " x " +
                std::to_string(in.height) + " pixels, " + std::to_string(in.bands) + " bands, " +
                std::to_string(p) + " endmembers, " + std::to_string(options_.epochs) +
                " epochs (" + dequnmix::toString(options_.gradient) + " gradient, " +
                std::to_string(options_.threads) + " threads, " + options_.device + ")");
  if (feedback) feedback->setProgressText(QObject::tr("VCA, FCLS start and training epochs"));
  dequnmix::ProgressRange trainProgress(&progress, 0.05, 0.95);
  dequnmix::DeqTrainOptions o = options_;
  o.endmembers = in.hasInitialEndmembers ? o.endmembers : p;
  return dequnmix::trainDeqUnmix(in, o, inference_, &trainProgress, group);
}

// Writes the rasters, the model and the endmember CSV into the staged outputs.
void TrainAlgorithm::writeOutputs(Outputs& out, const dequnmix::DeqTrainInput& in,
                                  const std::vector<std::string>& names, const Georeference& geo,
                                  const dequnmix::DeqTrainResult& result) {
  const dequnmix::DeqModel& model = result.model;
  // Band names follow the final endmember names (VCA: endmember_1, ...).
  if (model.endmembers.names != names) {
    out.abundanceWriter =
        std::make_unique<GdalRasterWriter>(out.abundances.toStdString(), in.width, in.height,
                                           model.endmembers.names, geo, kOutputNoData);
  }
  writeBandSequentialWithNoData(*out.abundanceWriter, result.abundances);
  if (out.residualWriter) writeBandSequentialWithNoData(*out.residualWriter, result.residual);
  writeModelFiles(out, model);
}

void TrainAlgorithm::writeModelFiles(Outputs& out, const dequnmix::DeqModel& model) {
  dequnmix::saveDeqModel(out.modelFile->path(), model);
  dequnmix::writeSpectralLibrary(out.endmemberFile->path(), model.endmembers);
}

QVariantMap TrainAlgorithm::summaryResults(const dequnmix::DeqTrainSummary& s,
                                           FeedbackProgress& progress) {
  progress.info("DEQ-Unmix: final loss " + std::to_string(s.finalLoss) + ", mean forward " +
                "iterations " + std::to_string(s.meanForwardIterations) + ", converged " +
                std::to_string(s.convergedFraction) + ", training " +
                std::to_string(s.trainingSeconds) + " s");
  progress.setProgress(1.0);
  QVariantMap results;
  results.insert(QStringLiteral("FINAL_LOSS"), s.finalLoss);
  results.insert(QStringLiteral("MEAN_ITERATIONS"), s.meanForwardIterations);
  results.insert(QStringLiteral("CONVERGED_FRACTION"), s.convergedFraction);
  results.insert(QStringLiteral("TRAINING_SECONDS"), s.trainingSeconds);
  return results;
}

void TrainAlgorithm::writeReport(const Outputs& out, const dequnmix::DeqTrainResult& result,
                                 int64_t validPixels, const Timings& timings) const {
  TrainingReportInput report;
  report.streamed = streams();
  report.peakMemoryMiB = peakResidentMiB();
  if (!result.abundances.empty()) {
    report.abundances = reduceForReport(result.abundances, result.model.endmemberCount(),
                                        input_.width, input_.height);
    if (!result.residual.empty())
      report.residual = reduceForReport(result.residual, 1, input_.width, input_.height);
  }
  report.sceneName = input_.layerName.toStdString();
  report.scenePath = input_.gdalPath;
  report.width = input_.width;
  report.height = input_.height;
  report.validPixels = static_cast<int>(validPixels);
  report.result = &result;
  report.options = &options_;
  report.givenEndmembers = !initialPath_.isEmpty();
  report.timings = timings;
  report.outputs = {{"OUTPUT_MODEL", out.model.toStdString()},
                    {"OUTPUT", out.abundances.toStdString()},
                    {"OUTPUT_ENDMEMBERS", out.endmembers.toStdString()}};
  if (!out.residual.isEmpty())
    report.outputs.emplace_back("OUTPUT_RESIDUAL", out.residual.toStdString());
  report.created = QDateTime::currentDateTime().toString(Qt::ISODate).toStdString();
  writeStagedText(*out.reportFile, trainingReportHtml(report));
}

}  // namespace dequnmix::processing
