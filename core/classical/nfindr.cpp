// N-FINDR (nfindr.h).
#include "core/classical/nfindr.h"

#include <ATen/ATen.h>

#include <map>
#include <string>

#include "core/classical/subspace.h"
#include "core/classical/subspace_ops.h"
#include "core/errors.h"

namespace dequnmix {

namespace {

// Every valid pixel projected on the top P - 1 principal directions (N x (P - 1), double).
std::pair<at::Tensor, std::vector<int64_t>> projectedPixels(PixelSource& source,
                                                            const BandMoments& m, int p,
                                                            ProgressSink* progress) {
  const int L = m.bands;
  const at::Tensor basis =
      topEigenpairs(doubleTensor(m.covariance, {L, L}), p - 1).second.contiguous();
  const at::Tensor mean = doubleTensor(m.mean, {L});
  std::vector<at::Tensor> parts;
  std::vector<int64_t> indices;
  source.scan(
      [&](const PixelBlock& block) {
        const at::Tensor x =
            at::from_blob(const_cast<float*>(block.values), {block.count, L}, at::kFloat)
                .to(at::kDouble);
        parts.push_back((x - mean).mm(basis));
        indices.insert(indices.end(), block.indices, block.indices + block.count);
      },
      progress);
  return {at::cat(parts), std::move(indices)};
}

// The greedy start: the pixel farthest from the mean, then each next one the farthest from
// the affine hull of those chosen.
std::vector<int64_t> greedyStart(const at::Tensor& Z, int p) {
  std::vector<int64_t> chosen = {(Z - Z.mean(0)).norm(2, 1).argmax().item<int64_t>()};
  const at::Tensor v0 = Z[chosen[0]];
  at::Tensor D = Z - v0;
  while (int(chosen.size()) < p) {
    const int64_t next = D.norm(2, 1).argmax().item<int64_t>();
    at::Tensor q = D[next] / D[next].norm().clamp_min(1e-300);
    D = D - D.mv(q).unsqueeze(1) * q.unsqueeze(0);
    chosen.push_back(next);
  }
  return chosen;
}

// Sweeps of single-vertex replacements; the volume with vertex j replaced by pixel z is
// |c_j . [1; z]| with c_j the j-th row of adj(M), M = [1 ... 1; V].
int replacementSweeps(const at::Tensor& Z, std::vector<int64_t>& chosen, int maxSweeps,
                      ProgressSink* progress) {
  const int p = int(chosen.size());
  const at::Tensor H = at::cat({at::ones({Z.size(0), 1}, Z.options()), Z}, 1);  // N x P
  int sweep = 0;
  for (bool changed = true; changed && sweep < maxSweeps; ++sweep) {
    throwIfCanceled(progress);
    changed = false;
    for (int j = 0; j < p; ++j) {
      const at::Tensor M = H.index({at::tensor(chosen)}).t();  // P x P, columns [1; v]
      const double det = at::linalg_det(M).item<double>();
      if (!(std::abs(det) > 0)) break;
      const at::Tensor cofactors = det * at::linalg_inv(M)[j];
      const at::Tensor volumes = H.mv(cofactors).abs();
      const int64_t best = volumes.argmax().item<int64_t>();
      if (volumes[best].item<double>() > std::abs(det) * (1 + 1e-9)) {
        chosen[j] = best;
        changed = true;
      }
    }
  }
  return sweep;
}

// Pass 3: the spectra of the chosen scene indices (bands x P, row-major).
std::vector<float> spectraOf(PixelSource& source, const std::vector<int64_t>& sceneIndices,
                             ProgressSink* progress) {
  const int L = source.bands(), p = int(sceneIndices.size());
  std::map<int64_t, std::vector<int>> wanted;
  for (int e = 0; e < p; ++e) wanted[sceneIndices[e]].push_back(e);
  std::vector<float> spectra(size_t(L) * p);
  source.scan(
      [&](const PixelBlock& block) {
        for (int64_t i = 0; i < block.count; ++i) {
          const auto it = wanted.find(block.indices[i]);
          if (it == wanted.end()) continue;
          for (int e : it->second)
            for (int b = 0; b < L; ++b) spectra[size_t(b) * p + e] = block.values[i * L + b];
        }
      },
      progress);
  return spectra;
}

}  // namespace

NfindrResult nfindr(PixelSource& source, const NfindrOptions& options, ProgressSink* progress) {
  const int L = source.bands(), p = options.endmembers;
  if (p < 2 || p >= L)
    throw InvalidArgument(
        "N-FINDR: the number of endmembers must be at least 2 and fewer than "
        "the " +
        std::to_string(L) + " bands (got " + std::to_string(p) + ")");
  const BandMoments m = bandMoments(source, progress);
  if (m.pixels < p)
    throw InvalidArgument("N-FINDR: the scene has " + std::to_string(m.pixels) +
                          " valid pixels, fewer than the " + std::to_string(p) + " endmembers");
  auto [Z, indices] = projectedPixels(source, m, p, progress);
  std::vector<int64_t> chosen = greedyStart(Z, p);
  NfindrResult r;
  r.sweeps = replacementSweeps(Z, chosen, options.maxSweeps, progress);
  r.bands = L;
  r.endmembers = p;
  for (int64_t k : chosen) r.pixelIndices.push_back(indices[size_t(k)]);
  r.spectra = spectraOf(source, r.pixelIndices, progress);
  return r;
}

}  // namespace dequnmix
