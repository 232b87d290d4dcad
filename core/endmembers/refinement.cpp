// Endmember refinements: angular mean shift, minimum-volume simplex, and the measures of the
// departure from the linear mixing model that the automatic choices read (refinement.h).
#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>

#include "core/classical/fcls_ops.h"
#include "core/endmembers/refinement.h"
#include "core/errors.h"

namespace dequnmix {

torch::Tensor subsamplePixels(const torch::Tensor& pixels) {
  const int64_t maxPixels = 20000;
  if (pixels.size(1) <= maxPixels) return pixels;
  const int64_t k = (pixels.size(1) + maxPixels - 1) / maxPixels;
  return pixels.index(
      {torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, k)});
}

namespace {

// Eigenvalues of the pixels' covariance, ascending. pixels: L x N float64.
torch::Tensor covarianceEigenvalues(const torch::Tensor& pixels) {
  const torch::Tensor Yc = pixels - pixels.mean(1, true);
  return torch::linalg_eigvalsh(Yc.matmul(Yc.t()) / double(Yc.size(1)));
}

// The noise variance under a P-endmember linear mixture: the median eigenvalue beyond the
// first P - 1 (of covarianceEigenvalues of N pixels). Fewer pixels than bands leave
// L - (N - 1) eigenvalues at zero, which are not noise: without them the median stays a
// noise level (0 when none is left) where it fell to rounding on a small clip of a scene.
double noiseVariance(const torch::Tensor& evals, int P, int64_t pixels) {
  const int64_t L = evals.size(0), first = std::max<int64_t>(0, L - (pixels - 1));
  if (first >= L - (P - 1)) return 0;
  using torch::indexing::Slice;
  return evals.index({Slice(first, L - (P - 1))}).median().item<double>();
}

}  // namespace

torch::Tensor refineEndmembersMeanShift(const torch::Tensor& endmembers,
                                        const torch::Tensor& pixels, double radius, int iterations,
                                        int minPixels, std::vector<bool>* moved) {
  torch::NoGradGuard noGrad;
  torch::Tensor E = endmembers.to(torch::kFloat64);
  torch::Tensor Y = pixels.to(torch::kFloat64);
  torch::Tensor norms = Y.norm(2, 0, true);  // 1 x N
  torch::Tensor valid = (norms > 0).reshape({-1});
  Y = Y.index({torch::indexing::Slice(), valid});
  norms = norms.index({torch::indexing::Slice(), valid});
  torch::Tensor U = Y / norms;  // unit pixels, L x N
  const int64_t N = U.size(1);
  const int P = static_cast<int>(E.size(1));
  torch::Tensor out = E.clone();
  if (moved) moved->assign(P, false);
  for (int p = 0; p < P; ++p) {
    torch::Tensor d = E.select(1, p);
    const double dn = d.norm().item<double>();
    if (!(dn > 0) || N == 0) continue;
    d = d / dn;
    double t = radius;
    if (!(t > 0)) {
      // Adaptive ball: the angle to the k-th nearest pixel.
      const int64_t k = std::min<int64_t>(
          N, std::max<int64_t>(minPixels, static_cast<int64_t>(std::ceil(0.002 * N))));
      torch::Tensor ang = torch::acos(torch::clamp(d.matmul(U), -1.0, 1.0));
      t = std::max(0.02, std::get<0>(torch::kthvalue(ang, k)).item<double>());
    }
    const double cosT = std::cos(t);
    torch::Tensor ball;
    bool ok = true;
    for (int it = 0; it < std::max(1, iterations); ++it) {
      ball = d.matmul(U) >= cosT;
      if (ball.sum().item<int64_t>() < minPixels) {
        ok = false;
        break;
      }
      torch::Tensor m = U.index({torch::indexing::Slice(), ball}).mean(1);
      d = m / m.norm();
    }
    if (!ok) continue;
    const double scale = norms.index({torch::indexing::Slice(), ball}).mean().item<double>();
    out.select(1, p).copy_(d * scale);
    if (moved) (*moved)[p] = true;
  }
  return out.to(endmembers.scalar_type());
}

torch::Tensor refineEndmembersMinVolume(const torch::Tensor& endmembers,
                                        const torch::Tensor& pixels, double outsideFraction,
                                        int iterations, double noiseMargin) {
  const int P = static_cast<int>(endmembers.size(1));
  const int64_t L = pixels.size(0);
  if (pixels.size(1) < P + 1 || P < 2 || L < P) return endmembers.clone();
  const torch::Tensor Y = subsamplePixels(pixels).to(torch::kFloat64).cpu();
  torch::Tensor E = endmembers.to(torch::kFloat64).cpu();
  torch::Tensor U, m, Z, V0;
  double s = 1, noiseVar = 0;
  {
    torch::NoGradGuard noGrad;
    m = Y.mean(1, true);
    torch::Tensor Yc = Y - m;
    torch::Tensor cov = Yc.matmul(Yc.t()) / double(Yc.size(1));
    auto [evals, evecs] = torch::linalg_eigh(cov);  // ascending
    noiseVar = evals.index({torch::indexing::Slice(0, L - (P - 1))}).median().item<double>();
    U = evecs.index({torch::indexing::Slice(), torch::indexing::Slice(L - (P - 1), L)});
    Z = U.t().matmul(Yc);
    s = Z.pow(2).sum(0).mean().sqrt().item<double>();
    if (!(s > 0) || !std::isfinite(s)) return endmembers.clone();
    Z = Z / s;
    V0 = U.t().matmul(E - m) / s;  // (P - 1) x P
  }
  torch::Tensor X = torch::cat({Z, torch::ones({1, Z.size(1)}, Z.options())}, 0);  // P x N
  torch::Tensor V = V0.clone().requires_grad_(true);
  torch::Tensor ones = torch::ones({1, P}, Z.options());
  const double lambda = 1.0 / std::max(1e-4, outsideFraction);
  // Adam on the vertices (in units of the data's spread), learning rate decayed linearly.
  const double lr0 = 0.02;
  torch::optim::Adam adam({V}, torch::optim::AdamOptions(lr0).eps(1e-12));
  for (int it = 1; it <= iterations; ++it) {
    torch::Tensor M = torch::cat({V, ones}, 0);
    auto sld = torch::linalg_slogdet(M);
    // A singular vertex matrix (two identical vertices): linalg_solve would throw.
    if (std::get<0>(sld).item<double>() == 0) {
      if (it == 1) return endmembers.clone();
      break;
    }
    torch::Tensor A = torch::linalg_solve(M, X);
    torch::Tensor margin;
    {
      torch::NoGradGuard noGrad;
      torch::Tensor Q = torch::linalg_inv(M.detach());
      margin =
          (noiseMargin * std::sqrt(std::max(0.0, noiseVar)) / s) *
          Q.index({torch::indexing::Slice(), torch::indexing::Slice(0, P - 1)}).norm(2, 1, true);
    }
    torch::Tensor loss = std::get<1>(sld) + lambda * torch::relu(-A - margin).sum(0).mean();
    if (!std::isfinite(loss.item<double>())) break;
    adam.zero_grad();
    loss.backward();
    adam.param_groups()[0].options().set_lr(lr0 * (1.0 - 0.9 * double(it - 1) / iterations));
    adam.step();
  }
  torch::NoGradGuard noGrad;
  torch::Tensor out = m + U.matmul(V.detach() * s);
  return out.clamp_min(0).to(endmembers.scalar_type());
}

UnitBrightness atUnitBrightness(const torch::Tensor& endmembers, const torch::Tensor& pixels,
                                double darkFraction) {
  torch::NoGradGuard noGrad;
  const torch::Tensor Y = subsamplePixels(pixels).to(torch::kFloat64).cpu();
  const torch::Tensor E = endmembers.to(torch::kFloat64).cpu();
  const torch::Tensor mean = Y.mean(1);
  const torch::Tensor u = mean / mean.norm().clamp_min(1e-300);
  const torch::Tensor brightness = u.matmul(Y);
  const double floor = darkFraction * brightness.median().item<double>();
  const torch::Tensor bright = brightness > std::max(floor, 1e-300);
  UnitBrightness out;
  out.pixels = Y.index({torch::indexing::Slice(), bright}) / brightness.index({bright});
  out.brightness = u.matmul(E).clamp_min(1e-300);
  out.vertices = E / out.brightness;
  return out;
}

torch::Tensor refineEndmembersMinVolumeOfDirections(const torch::Tensor& endmembers,
                                                    const torch::Tensor& pixels,
                                                    double darkFraction, double outsideFraction,
                                                    int iterations, double noiseMargin) {
  const UnitBrightness unit = atUnitBrightness(endmembers, pixels, darkFraction);
  const torch::Tensor fitted = refineEndmembersMinVolume(unit.vertices, unit.pixels,
                                                         outsideFraction, iterations, noiseMargin);
  return (fitted * unit.brightness).to(endmembers.scalar_type());
}

namespace {

// Fraction of the unit pixels U (L x N) within angle t of the unit direction d.
double fractionWithin(const torch::Tensor& d, const torch::Tensor& U, double t) {
  return (d.matmul(U) >= std::cos(t)).to(torch::kFloat64).mean().item<double>();
}

// Angle from unit column p of D (L x P) to the nearest other column.
double nearestVertexAngle(const torch::Tensor& D, int p) {
  torch::Tensor cosines = D.t().matmul(D.select(1, p));
  cosines[p] = -1;
  return std::acos(std::clamp(cosines.max().item<double>(), -1.0, 1.0));
}

}  // namespace

torch::Tensor centreOnPureClusters(const torch::Tensor& endmembers, const torch::Tensor& pixels,
                                   const PureClusterOptions& o, std::vector<bool>* moved) {
  torch::NoGradGuard noGrad;
  using torch::indexing::Slice;
  const int P = int(endmembers.size(1));
  if (moved) moved->assign(P, false);
  const torch::Tensor Y = subsamplePixels(pixels).to(torch::kFloat64).cpu();
  const torch::Tensor norms = Y.norm(2, 0);
  const torch::Tensor U = (Y / norms.clamp_min(1e-300)).index({Slice(), norms > 0});
  const torch::Tensor E = endmembers.to(torch::kFloat64).cpu();
  const torch::Tensor D = E / E.norm(2, 0, true).clamp_min(1e-300);
  torch::Tensor out = endmembers.clone();
  for (int p = 0; p < P && P > 1 && U.size(1) > 0; ++p) {
    const double radius = o.radiusFraction * nearestVertexAngle(D, p);
    if (!(radius > 0)) continue;  // two identical vertices
    const torch::Tensor mode = refineEndmembersMeanShift(E.index({Slice(), Slice(p, p + 1)}), Y,
                                                         radius, o.iterations, o.minPixels)
                                   .select(1, 0);
    const double atMode = fractionWithin(mode / mode.norm(), U, 0.5 * radius);
    const double atVertex = fractionWithin(D.select(1, p), U, 0.5 * radius);
    if (atMode < o.minDensity || atMode < o.densityGain * atVertex) continue;
    out.select(1, p).copy_(mode.to(out.scalar_type()));
    if (moved) (*moved)[p] = true;
  }
  return out;
}

double affineModelExcess(const torch::Tensor& pixels, int endmembers) {
  torch::NoGradGuard noGrad;
  const int64_t L = pixels.size(0);
  const int P = endmembers;
  if (pixels.size(1) < 2 || P < 2 || L < P + 2) return 1.0;
  const torch::Tensor Y = subsamplePixels(pixels).to(torch::kFloat64).cpu();
  const torch::Tensor evals = covarianceEigenvalues(Y);
  const double noise = noiseVariance(evals, P, Y.size(1));
  return noise > 0 ? evals[L - P].item<double>() / noise : 1.0;
}

namespace {

// Least-squares residual energy, summed over the pixels. Both float64 on the CPU.
double residualEnergy(const torch::Tensor& E, const torch::Tensor& Y,
                      AbundanceConstraints constraints) {
  FclsOptions o;
  o.constraints = constraints;
  const torch::Tensor A = fclsAbundances(E, Y, o).to(torch::kFloat64);
  return (Y - E.matmul(A)).pow(2).sum().item<double>();
}

}  // namespace

BrightnessFit brightnessFit(const torch::Tensor& endmembers, const torch::Tensor& pixels) {
  torch::NoGradGuard noGrad;
  const int64_t L = pixels.size(0);
  const int P = int(endmembers.size(1));
  if (pixels.size(1) < 2 || P < 2 || L < P + 2) return {};
  const torch::Tensor Y = subsamplePixels(pixels).to(torch::kFloat64).cpu();
  const torch::Tensor E = endmembers.to(torch::kFloat64).cpu();
  const double explained = residualEnergy(E, Y, AbundanceConstraints::Full) -
                           residualEnergy(E, Y, AbundanceConstraints::NonNegative);
  const double noise = noiseVariance(covarianceEigenvalues(Y), P, Y.size(1));
  const double energy = Y.square().sum().item<double>();
  BrightnessFit fit;
  if (noise > 0) fit.gain = explained / (noise * double(Y.size(1)));
  if (energy > 0) fit.share = explained / energy;
  return fit;
}

double coneResidualEnergy(const torch::Tensor& endmembers, const torch::Tensor& pixels) {
  torch::NoGradGuard noGrad;
  const torch::Tensor Y = subsamplePixels(pixels).to(torch::kFloat64).cpu();
  if (Y.size(1) == 0) return 0;
  return residualEnergy(endmembers.to(torch::kFloat64).cpu(), Y,
                        AbundanceConstraints::NonNegative) /
         double(Y.size(1));
}

double simplexVolume(const torch::Tensor& endmembers) {
  torch::NoGradGuard noGrad;
  const torch::Tensor E = endmembers.to(torch::kFloat64).cpu();
  const int64_t P = E.size(1);
  if (P < 2) return 0;
  using torch::indexing::Slice;
  const torch::Tensor D = E.index({Slice(), Slice(1, P)}) - E.index({Slice(), Slice(0, 1)});
  const double gram = torch::linalg_det(D.t().matmul(D)).item<double>();
  return std::sqrt(std::max(0.0, gram)) / std::tgamma(double(P));
}

double outsideMass(const torch::Tensor& endmembers, const torch::Tensor& pixels) {
  torch::NoGradGuard noGrad;
  const int64_t P = endmembers.size(1), L = pixels.size(0);
  torch::Tensor Y = subsamplePixels(pixels).to(torch::kFloat64).cpu();
  if (Y.size(1) < P || P < 2 || L < P) return 0;
  using torch::indexing::Slice;
  const torch::Tensor m = Y.mean(1, true);
  const torch::Tensor Yc = Y - m;
  const torch::Tensor U =
      std::get<1>(torch::linalg_eigh(Yc.matmul(Yc.t()))).index({Slice(), Slice(L - (P - 1), L)});
  auto homogeneous = [&](const torch::Tensor& X) {
    const torch::Tensor Z = U.t().matmul(X);
    return torch::cat({Z, torch::ones({1, Z.size(1)}, Z.options())}, 0);
  };
  const torch::Tensor M = homogeneous(endmembers.to(torch::kFloat64).cpu() - m);
  if (std::abs(torch::linalg_det(M).item<double>()) < 1e-300) return 0;
  const torch::Tensor A = torch::linalg_solve(M, homogeneous(Yc));
  return torch::relu(-A).sum(0).mean().item<double>();
}

}  // namespace dequnmix
