// The endmember stage of training (initial_endmembers.h).
#include "core/endmembers/initial_endmembers.h"

#include <torch/nn/functional/pooling.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "core/classical/endmember_count.h"
#include "core/classical/nfindr.h"
#include "core/classical/subspace_ops.h"
#include "core/classical/vca.h"
#include "core/deq/scene_tensors.h"
#include "core/endmembers/refinement.h"
#include "core/errors.h"
#include "core/pixel_source.h"

namespace dequnmix {

namespace {

// The training scene's pixels, read in place.
MatrixPixelSource scenePixels(const DeqTrainInput& in) {
  return MatrixPixelSource::viewOf(in.scene, in.bands, int64_t(in.height) * in.width);
}

// VCA's vertices, or the given spectra.
void startingVertices(const EndmemberScene& scene, const DeqTrainOptions& o, InitialEndmembers& out,
                      ProgressSink* progress) {
  const DeqTrainInput& in = *scene.input;
  if (in.hasInitialEndmembers) {
    out.endmembers = tableTensor(in.initialEndmembers);
    out.names = in.initialEndmembers.names;
    return;
  }
  MatrixPixelSource source = scenePixels(in);
  VcaOptions vo;
  vo.endmembers = trainingEndmemberCount(in, o, progress);
  if (scene.validPixels.size(1) < vo.endmembers)
    throw InvalidArgument("training scene has fewer valid pixels than endmembers");
  vo.seed = o.seed;
  VcaResult v = vca(source, vo, progress);
  EndmemberTable t;
  t.bands = in.bands;
  t.names = defaultEndmemberNames(vo.endmembers);
  t.values = v.spectra;
  out.endmembers = tableTensor(t);
  out.names = t.names;
}

// N-FINDR's vertices on the signal subspace, the top P eigenvectors of the pixels'
// correlation (Y: the subsampled valid pixels, float64), as VCA's projective vertices are:
// the projection drops the noise beyond it.
torch::Tensor nfindrVertices(const EndmemberScene& scene, const torch::Tensor& Y, int P,
                             ProgressSink* progress) {
  const DeqTrainInput& in = *scene.input;
  MatrixPixelSource source = scenePixels(in);
  NfindrOptions no;
  no.endmembers = P;
  EndmemberTable t;
  t.bands = in.bands;
  t.names = defaultEndmemberNames(P);
  t.values = nfindr(source, no, progress).spectra;
  const torch::Tensor U = topEigenpairs(Y.matmul(Y.t()), P).second;
  return U.matmul(U.t().matmul(tableTensor(t).to(torch::kFloat64))).to(torch::kFloat32);
}

// VCA's random directions can find two vertices of one material and none of another (a
// rare material beside a dark one on Samson's windows); the pixels of that material then
// lie outside the cone VCA's vertices span, and N-FINDR's largest simplex holds them.
void preferNfindrWhereVcaMissesAMaterial(const EndmemberScene& scene, const DeqTrainOptions& o,
                                         InitialEndmembers& out, ProgressSink* progress) {
  const torch::Tensor Y = subsamplePixels(scene.validPixels).to(torch::kFloat64);
  const torch::Tensor candidate = nfindrVertices(scene, Y, int(out.endmembers.size(1)), progress);
  // Residuals under 1e-8 of the pixels' energy (80 dB) are rounding: noise-free scenes
  // would otherwise compare two zeros.
  const double floor = 1e-8 * Y.pow(2).sum(0).mean().item<double>();
  out.vertexResidualRatio =
      (coneResidualEnergy(out.endmembers, Y) + floor) / (coneResidualEnergy(candidate, Y) + floor);
  out.nfindrVertices = out.vertexResidualRatio > o.automaticNfindrResidualRatio;
  if (out.nfindrVertices) out.endmembers = candidate;
  if (progress)
    progress->info("VCA's vertices leave " + messageNumber(out.vertexResidualRatio) +
                   " x the residual of N-FINDR's outside their cone (threshold " +
                   messageNumber(o.automaticNfindrResidualRatio) + "): " +
                   (out.nfindrVertices ? "N-FINDR's taken (VCA's miss a material)" : "VCA's kept"));
}

// Automatic alpha follows how well the scene fits the linear sum-to-one model.
void resolveAutomaticAlpha(const EndmemberScene& scene, const DeqTrainOptions& o,
                           InitialEndmembers& out, ProgressSink* progress) {
  out.alpha = o.alpha;
  if (o.alpha >= 0) return;
  out.affineModelExcess = affineModelExcess(scene.validPixels, int(out.endmembers.size(1)));
  const bool linear = out.affineModelExcess <= o.automaticExcessThreshold;
  out.alpha = linear ? o.linearMixtureAlpha : o.variableBrightnessAlpha;
  if (progress)
    progress->info("Departure from the linear sum-to-one mixing model " +
                   messageNumber(out.affineModelExcess) + " (threshold " +
                   messageNumber(o.automaticExcessThreshold) +
                   "): " + (linear ? "linear mixture" : "varying brightness or nonlinear mixing") +
                   "; alpha " + messageNumber(out.alpha));
}

// The valid pixels after a (2r+1)^2 box average over valid neighbours: noise within the
// signal subspace is what moves the minimum-volume facets, and averaging divides it.
torch::Tensor smoothedPixels(const EndmemberScene& scene, int r) {
  namespace F = torch::nn::functional;
  const torch::Tensor& raw = scene.raw;
  torch::Tensor v = torch::isfinite(raw).all(0, true).to(torch::kFloat32);  // 1 x H x W
  torch::Tensor x = torch::nan_to_num(raw, 0.0) * v;
  auto box = [&](const torch::Tensor& t) {
    return F::avg_pool2d(
        t.unsqueeze(0),
        F::AvgPool2dFuncOptions(2 * r + 1).stride(1).padding(r).count_include_pad(false))[0];
  };
  torch::Tensor sm = box(x) / box(v).clamp_min(1e-6);
  return sm.reshape({raw.size(0), -1})
      .index({torch::indexing::Slice(), scene.validFlat})
      .contiguous();
}

// The minimum-volume simplex from `start`, of the pixels or of their directions.
torch::Tensor minimumVolume(const EndmemberScene& scene, const DeqTrainOptions& o,
                            const torch::Tensor& start, bool ofDirections = false) {
  torch::Tensor pixels =
      o.minVolumeSmoothing > 0 ? smoothedPixels(scene, o.minVolumeSmoothing) : scene.validPixels;
  if (ofDirections)
    return refineEndmembersMinVolumeOfDirections(start, pixels, o.minVolumeDarkFraction,
                                                 o.minVolumeOutsideFraction, o.minVolumeIterations,
                                                 o.minVolumeNoiseMargin);
  return refineEndmembersMinVolume(start, pixels, o.minVolumeOutsideFraction, o.minVolumeIterations,
                                   o.minVolumeNoiseMargin);
}

// Automatic refinement: the minimum-volume simplex replaces the starting vertices (VCA's, or
// N-FINDR's where VCA's miss a material) only where it is clearly larger (no pure pixels:
// those vertices lie inside the data; compared by size, volume^(1 / (P - 1)), so the bounds
// hold for any P), or where the start's vertices leave pixels that need a per-pixel scale
// (a pure pixel missed), not so large that it is fitting brightness or per-pixel
// variability, none of its vertices is a dark (shade) direction, and its vertices explain
// the pixels as sum-to-one mixtures: where the pixels still need a per-pixel brightness
// scale, the affine fit has bent the simplex to brightness.
// Returns the brightness fit of the vertices taken, where it was measured; startFit gets
// that of the start's vertices, where it was measured.
std::optional<BrightnessFit> chooseRefinement(const EndmemberScene& scene, const DeqTrainOptions& o,
                                              InitialEndmembers& out,
                                              std::optional<BrightnessFit>& startFit,
                                              ProgressSink* progress) {
  const torch::Tensor candidate = minimumVolume(scene, o, out.endmembers);
  const double volumeRatio = simplexVolume(candidate) / simplexVolume(out.endmembers);
  out.volumeRatio = volumeRatio;
  const double sizeRatio = std::pow(volumeRatio, 1.0 / double(candidate.size(1) - 1));
  const double normRatio =
      (candidate.norm(2, 0) / out.endmembers.norm(2, 0).clamp_min(1e-30)).min().item<double>();
  bool accept = sizeRatio <= o.automaticSizeRatioMax && normRatio >= o.automaticNormRatioMin;
  std::optional<BrightnessFit> fit;
  if (accept && sizeRatio < o.automaticSizeRatioMin) {
    startFit = brightnessFit(out.endmembers, scene.validPixels);
    accept = startFit->gain > o.automaticStartBrightnessGain;
  }
  if (accept) {
    fit = brightnessFit(candidate, scene.validPixels);
    accept = fit->gain <= o.automaticMinVolumeBrightnessGain;
  }
  out.refinement = accept ? EndmemberRefinement::MinimumVolume : EndmemberRefinement::None;
  if (accept) out.endmembers = candidate;
  if (progress)
    progress->info(
        "Minimum-volume simplex: volume " + messageNumber(volumeRatio) + " x the start's (size " +
        messageNumber(sizeRatio) + " x), darkest vertex " + messageNumber(normRatio) +
        " x its brightness at the start" +
        (startFit ? ", brightness gain on the start's " + messageNumber(startFit->gain) : "") +
        (fit ? (startFit ? ", on its vertices " : ", brightness gain on its vertices ") +
                   messageNumber(fit->gain)
             : "") +
        ": " +
        (!accept    ? "the start's vertices kept"
         : startFit ? "taken (the start's vertices leave pixels outside)"
                    : "taken (the scene lacks pure pixels)"));
  return accept ? fit : std::nullopt;
}

// In a linear sum-to-one mixture the most extreme pixels are the vertices (up to noise), and
// a dense cluster beside one is a mixture; where the scene departs from that model (spectra
// that vary per pixel: illumination, variability, every real scene) an extreme pixel is an
// outlier of its material's spread, and its cluster's centre is the better vertex.
bool spectraVaryPerPixel(const EndmemberScene& scene, const DeqTrainOptions& o,
                         const InitialEndmembers& out) {
  const double excess = out.affineModelExcess > 0
                            ? out.affineModelExcess
                            : affineModelExcess(scene.validPixels, int(out.endmembers.size(1)));
  return excess > o.automaticExcessThreshold;
}

// Moves the vertices that are outliers of dense pure clusters to the clusters' centres;
// with the automatic refinement the refinement applied stays None where none moved.
void centreOnClusters(const EndmemberScene& scene, const DeqTrainOptions& o, InitialEndmembers& out,
                      ProgressSink* progress) {
  const PureClusterOptions c{o.pureClusterRadiusFraction, o.refinementIterations,
                             o.refinementMinPixels, o.pureClusterMinDensity,
                             o.pureClusterDensityGain};
  std::vector<bool> moved;
  out.endmembers = centreOnPureClusters(out.endmembers, scene.validPixels, c, &moved);
  out.centredVertices = int(std::count(moved.begin(), moved.end(), true));
  if (out.centredVertices > 0) out.refinement = EndmemberRefinement::PureClusters;
  if (progress)
    progress->info("Pure-cluster centring moved " + std::to_string(out.centredVertices) + " of " +
                   std::to_string(moved.size()) + " vertices to the centre of their cluster");
}

// Where brightness varies (illumination, topography, per-pixel scaling of the spectra) the
// pixels are scaled mixtures s E a, which leave the simplex of the sum-to-one mixtures but
// not the simplex of their directions: the vertices a bright mixed pixel or the scene's
// spread displaced are fitted there. Not where a vertex was centred on a dense cluster of
// pure pixels (that centre is the better vertex: Samson and its windows), nor where the
// vertices' directions already enclose the pixels' (pure pixels: the fit, which leaves a
// few pixels beyond each facet, would cut into them). startFit: the brightness fit of the
// start's vertices, where chooseRefinement measured it.
void fitDirectionsWhereBrightnessVaries(const EndmemberScene& scene, const DeqTrainOptions& o,
                                        std::optional<BrightnessFit> startFit,
                                        InitialEndmembers& out, ProgressSink* progress) {
  if (out.centredVertices > 0) return;
  const double gain =
      (startFit ? *startFit : brightnessFit(out.endmembers, scene.validPixels)).gain;
  const UnitBrightness unit =
      atUnitBrightness(out.endmembers, scene.validPixels, o.minVolumeDarkFraction);
  const double outside = outsideMass(unit.vertices, unit.pixels);
  out.directionsOutsideMass = outside;
  const bool fit = gain > o.automaticBrightnessGain && outside > o.automaticDirectionsOutsideMass;
  if (fit) {
    out.endmembers = minimumVolume(scene, o, out.endmembers, true);
    out.refinement = EndmemberRefinement::MinimumVolumeOfDirections;
  }
  if (progress)
    progress->info("On the vertices a per-pixel brightness scale explains " + messageNumber(gain) +
                   " noise variances per pixel (threshold " +
                   messageNumber(o.automaticBrightnessGain) +
                   "), and the pixels' directions reach " + messageNumber(outside) +
                   " beyond theirs (threshold " + messageNumber(o.automaticDirectionsOutsideMass) +
                   "): " + (fit ? "minimum-volume simplex of the pixels' directions" : "kept"));
}

// Returns the brightness fit of the final endmembers where the automatic refinement
// measured it (its vertices are already non-negative, so the final clamp keeps them).
std::optional<BrightnessFit> refine(const EndmemberScene& scene, const DeqTrainOptions& o,
                                    InitialEndmembers& out, ProgressSink* progress) {
  out.refinement = o.refinement;
  std::optional<BrightnessFit> fit, startFit;
  const bool automatic = o.refinement == EndmemberRefinement::Automatic;
  if (automatic) {
    if (!scene.input->hasInitialEndmembers && o.automaticNfindrResidualRatio > 0)
      preferNfindrWhereVcaMissesAMaterial(scene, o, out, progress);
    fit = chooseRefinement(scene, o, out, startFit, progress);
  }
  const bool startKept = automatic && out.refinement == EndmemberRefinement::None;
  if ((startKept && spectraVaryPerPixel(scene, o, out)) ||
      o.refinement == EndmemberRefinement::PureClusters)
    centreOnClusters(scene, o, out, progress);
  if (startKept) fitDirectionsWhereBrightnessVaries(scene, o, startFit, out, progress);
  if (out.refinement == EndmemberRefinement::AngularMeanShift) {
    std::vector<bool> moved;
    out.endmembers =
        refineEndmembersMeanShift(out.endmembers, scene.validPixels, o.refinementRadius,
                                  o.refinementIterations, o.refinementMinPixels, &moved);
    int count = 0;
    for (bool b : moved) count += b;
    if (progress)
      progress->info("Angular mean-shift refinement moved " + std::to_string(count) + " of " +
                     std::to_string(moved.size()) + " endmembers");
  }
  if (o.refinement == EndmemberRefinement::MinimumVolume ||
      o.refinement == EndmemberRefinement::MinimumVolumeOfDirections) {
    const bool ofDirections = o.refinement == EndmemberRefinement::MinimumVolumeOfDirections;
    out.endmembers = minimumVolume(scene, o, out.endmembers, ofDirections);
    if (progress)
      progress->info(std::string("Minimum-volume refinement of the endmembers") +
                     (ofDirections ? " (of the pixels' directions)" : ""));
  }
  out.endmembers = out.endmembers.clamp_min(0);
  return fit;
}

// Automatic scale invariance follows how much of the scene a per-pixel brightness scale
// explains on the final endmembers (`measured`: that fit, when the refinement has it): far
// beyond the noise, or beyond it and a share of the pixels' energy that matters (at a low
// signal-to-noise ratio the gain of a strong illumination stays small).
void resolveScaleInvariance(const EndmemberScene& scene, const DeqTrainOptions& o,
                            std::optional<BrightnessFit> measured, InitialEndmembers& out,
                            ProgressSink* progress) {
  out.scaleInvariance = o.network.scaleInvariance;
  if (out.scaleInvariance != ScaleInvariance::Automatic) return;
  const BrightnessFit fit = measured ? *measured : brightnessFit(out.endmembers, scene.validPixels);
  out.brightnessGain = fit.gain;
  out.brightnessShare = fit.share;
  const bool varies =
      fit.gain > o.automaticBrightnessGain ||
      (fit.gain > o.automaticBrightnessShareGain && fit.share > o.automaticBrightnessShare);
  out.scaleInvariance = varies ? ScaleInvariance::On : ScaleInvariance::Off;
  if (progress)
    progress->info("A per-pixel brightness scale explains " + messageNumber(fit.gain) +
                   " noise variances per pixel and " + messageNumber(fit.share) +
                   " of the pixels' energy (thresholds " +
                   messageNumber(o.automaticBrightnessGain) + ", or " +
                   messageNumber(o.automaticBrightnessShareGain) + " and " +
                   messageNumber(o.automaticBrightnessShare) + "): " +
                   (varies ? "brightness varies, scale-invariant data term"
                           : "linear mixture, brightness kept as abundance information"));
}

}  // namespace

int trainingEndmemberCount(const DeqTrainInput& in, const DeqTrainOptions& o,
                           ProgressSink* progress) {
  if (in.hasInitialEndmembers) return in.initialEndmembers.endmembers();
  if (o.endmembers > 0) return o.endmembers;
  MatrixPixelSource source = scenePixels(in);
  const int count = endmemberCountForUnmixing(bandMoments(source));
  if (progress) progress->info(estimatedCountMessage(count));
  return count;
}

InitialEndmembers initialEndmembers(const EndmemberScene& scene, const DeqTrainOptions& o,
                                    ProgressSink* progress) {
  InitialEndmembers out;
  startingVertices(scene, o, out, progress);
  resolveAutomaticAlpha(scene, o, out, progress);
  const std::optional<BrightnessFit> fit = refine(scene, o, out, progress);
  resolveScaleInvariance(scene, o, fit, out, progress);
  throwIfCanceled(progress);
  return out;
}

}  // namespace dequnmix
