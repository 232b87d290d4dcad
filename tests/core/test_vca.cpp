// VCA: exact pure-pixel recovery on noise-free scenes, and agreement with a dense,
// non-streaming transcription of the reference code (VCA.m) that takes its subspaces from
// the SVD of the data matrix rather than from the eigenvectors of accumulated correlations.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <set>

#include "core/errors.h"
#include "core/metrics/metrics.h"
#include "core/synthetic/synthetic.h"
#include "core/classical/vca.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

struct Dense {
  std::vector<int64_t> indices;
  double snr;
  bool projective;
  at::Tensor spectra;  // L x p
};

// Left singular vectors, largest first, with the sign convention of the implementation
// (largest-magnitude entry positive) so that the seeded searches are comparable.
at::Tensor leftSingular(const at::Tensor& m, int k) {
  at::Tensor u = std::get<0>(at::linalg_svd(m, /*full_matrices=*/false)).slice(1, 0, k);
  const at::Tensor pivot = u.abs().argmax(0);
  return u * u.gather(0, pivot.unsqueeze(0)).sign();
}

// Dense VCA.m: R is L x N (valid pixels only), seed drives at::randn as in the core.
Dense denseVca(const at::Tensor& r, int p, uint64_t seed) {
  const int64_t l = r.size(0), n = r.size(1);
  const at::Tensor rm = r.mean(1, true);
  const at::Tensor ro = r - rm;
  at::Tensor ud = leftSingular(ro / std::sqrt(double(n)), p);  // svds(R_o R_o'/N, p)
  at::Tensor xp = ud.t().mm(ro);
  // estimate_snr
  const double py = r.pow(2).sum().item<double>() / n;
  const double px = xp.pow(2).sum().item<double>() / n + rm.pow(2).sum().item<double>();
  const double snr = 10 * std::log10((px - double(p) / l * py) / (py - px));
  const double th = 15 + 10 * std::log10(double(p));
  Dense out;
  out.snr = snr;
  at::Tensor y, rp;
  if (snr < th) {  // NaN (noise-free) compares false: projective, as in Matlab
    out.projective = false;
    const int d = p - 1;
    ud = ud.slice(1, 0, d);
    rp = ud.mm(xp.slice(0, 0, d)) + rm;
    const at::Tensor x = xp.slice(0, 0, d);
    const double c = x.pow(2).sum(0).max().sqrt().item<double>();
    y = at::cat({x, at::full({1, n}, c, x.options())}, 0);
  } else {
    out.projective = true;
    ud = leftSingular(r / std::sqrt(double(n)), p);  // svds(R R'/N, p)
    const at::Tensor x = ud.t().mm(r);
    rp = ud.mm(x);
    const at::Tensor u = x.mean(1, true);
    y = x / (x * u).sum(0, true);
  }
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor a = at::zeros({p, p}, r.options());
  a[p - 1][0] = 1;
  for (int i = 0; i < p; ++i) {
    const at::Tensor w = at::randn({p}, gen, r.options()).unsqueeze(1);
    at::Tensor f = w - a.mm(at::linalg_pinv(a)).mm(w);
    f = f / f.norm();
    const at::Tensor v = f.t().mm(y).abs().squeeze(0);
    const int64_t j = v.argmax().item<int64_t>();
    out.indices.push_back(j);
    a.select(1, i).copy_(y.select(1, j));
  }
  out.spectra = rp.index_select(1, at::tensor(out.indices));
  return out;
}

SyntheticOptions sceneOptions(double snr, int p = 4) {
  SyntheticOptions o;
  o.width = 20;
  o.height = 16;
  o.bands = 25;
  o.endmembers = p;
  o.snrDb = snr;
  o.seed = 7;
  return o;
}

TEST(Vca, FindsExactlyThePurePixelsOfANoiseFreeScene) {
  for (uint64_t seed : {1, 2, 3}) {
    SyntheticOptions o = sceneOptions(std::numeric_limits<double>::infinity());
    o.seed = seed;
    o.maxAbundance = 0.8;  // the pure pixels are the only vertices
    const SyntheticScene s = generateSyntheticScene(o);
    const int64_t n = int64_t(s.width) * s.height;
    MatrixPixelSource src(s.scene, s.bands, n, 64);
    VcaOptions vo;
    vo.endmembers = 4;
    vo.seed = seed;
    const VcaResult r = vca(src, vo);
    EXPECT_TRUE(r.projective);
    EXPECT_GT(r.estimatedSnrDb, 60.0);
    std::set<int64_t> pure;
    for (int64_t i = 0; i < n; ++i)
      for (int e = 0; e < 4; ++e)
        if (s.abundances[e * n + i] == 1.0f) pure.insert(i);
    ASSERT_EQ(pure.size(), 4u);
    EXPECT_EQ(std::set<int64_t>(r.pixelIndices.begin(), r.pixelIndices.end()), pure);
    const EndmemberMatch m = matchEndmembers(r.spectra, s.endmembers.values, s.bands, 4);
    EXPECT_LT(m.msadRad, 1e-5);
    // The spectra keep the data's scale: each equals its pure pixel.
    for (int e = 0; e < 4; ++e)
      for (int b = 0; b < s.bands; ++b)
        EXPECT_NEAR(r.spectra[b * 4 + e], s.scene[b * n + r.pixelIndices[e]], 1e-5);
  }
}

TEST(Vca, AgreesWithDenseReferenceInBothProjections) {
  // 30 dB: projective (threshold 15 + 10 log10 4 = 21 dB); 8 dB: zero-mean.
  for (double snr : {30.0, 8.0}) {
    const SyntheticScene s = generateSyntheticScene(sceneOptions(snr));
    const int64_t n = int64_t(s.width) * s.height;
    MatrixPixelSource src(s.scene, s.bands, n, 50);
    VcaOptions vo;
    vo.endmembers = 4;
    vo.seed = 99;
    const VcaResult r = vca(src, vo);
    const at::Tensor data =
        at::from_blob(const_cast<float*>(s.scene.data()), {s.bands, n}, at::kFloat).to(at::kDouble);
    const Dense d = denseVca(data, 4, 99);
    EXPECT_EQ(r.projective, snr > 21) << snr;
    EXPECT_EQ(r.projective, d.projective);
    EXPECT_NEAR(r.estimatedSnrDb, d.snr, 1e-6);
    EXPECT_NEAR(r.estimatedSnrDb, snr, 2.0);  // the estimator itself is good on these scenes
    EXPECT_EQ(r.pixelIndices, d.indices) << "SNR " << snr;
    const at::Tensor ours = at::tensor(r.spectra).reshape({s.bands, 4}).to(at::kDouble);
    EXPECT_LT((ours - d.spectra).abs().max().item<double>(), 1e-5);
  }
}

TEST(Vca, DeterministicAndIndependentOfBlockSize) {
  const SyntheticScene s = generateSyntheticScene(sceneOptions(25));
  const int64_t n = int64_t(s.width) * s.height;
  VcaOptions vo;
  vo.endmembers = 4;
  MatrixPixelSource a(s.scene, s.bands, n, 4096), b(s.scene, s.bands, n, 7);
  const VcaResult r1 = vca(a, vo), r2 = vca(a, vo), r3 = vca(b, vo);
  EXPECT_EQ(r1.pixelIndices, r2.pixelIndices);
  EXPECT_EQ(r1.spectra, r2.spectra);
  EXPECT_EQ(r1.pixelIndices, r3.pixelIndices);
  EXPECT_LT(test::maxAbsDiff(r1.spectra, r3.spectra), 1e-5);
  // Another seed draws other directions; the result is still a valid set of pixels.
  vo.seed = 1234;
  const VcaResult r4 = vca(a, vo);
  EXPECT_EQ(std::set<int64_t>(r4.pixelIndices.begin(), r4.pixelIndices.end()).size(), 4u);
}

TEST(Vca, NodataPixelsAreSkipped) {
  SyntheticOptions o = sceneOptions(std::numeric_limits<double>::infinity());
  o.maxAbundance = 0.8;
  const SyntheticScene s = generateSyntheticScene(o);
  const int64_t n = int64_t(s.width) * s.height;
  MatrixPixelSource clean(s.scene, s.bands, n);
  VcaOptions vo;
  vo.endmembers = 4;
  const VcaResult expected = vca(clean, vo);
  // Outliers far outside the simplex, masked by a NaN in one band: they must not count.
  std::vector<float> masked = s.scene;
  std::set<int64_t> pure(expected.pixelIndices.begin(), expected.pixelIndices.end());
  std::set<int64_t> bad;
  for (int64_t i = 3; i < n; i += 17) {
    if (pure.count(i)) continue;
    bad.insert(i);
    for (int b = 0; b < s.bands; ++b) masked[b * n + i] = 50.0f * (b % 3 + 1);
    masked[(i % s.bands) * n + i] = std::numeric_limits<float>::quiet_NaN();
  }
  MatrixPixelSource src(masked, s.bands, n);
  const VcaResult r = vca(src, vo);
  for (int64_t i : r.pixelIndices) EXPECT_EQ(bad.count(i), 0u);
  EXPECT_EQ(std::set<int64_t>(r.pixelIndices.begin(), r.pixelIndices.end()), pure);
}

TEST(Vca, RejectsBadCountsAndEmptyScenes) {
  const SyntheticScene s = generateSyntheticScene(sceneOptions(30));
  const int64_t n = int64_t(s.width) * s.height;
  MatrixPixelSource src(s.scene, s.bands, n);
  VcaOptions vo;
  vo.endmembers = 1;
  test::expectThrowWith<InvalidArgument>([&] { vca(src, vo); }, {"at least 2"});
  vo.endmembers = s.bands;
  test::expectThrowWith<InvalidArgument>([&] { vca(src, vo); }, {"less than the number of bands"});
  // Three valid pixels for four endmembers.
  std::vector<float> few(s.bands * 10, std::numeric_limits<float>::quiet_NaN());
  for (int b = 0; b < s.bands; ++b)
    for (int i = 0; i < 3; ++i) few[b * 10 + i] = 0.1f * (b + i + 1);
  MatrixPixelSource fewSrc(few, s.bands, 10);
  vo.endmembers = 4;
  test::expectThrowWith<InvalidArgument>([&] { vca(fewSrc, vo); }, {"only 3 valid pixels"});
  MatrixPixelSource none(std::vector<float>(s.bands * 10, std::nanf("")), s.bands, 10);
  test::expectThrowWith<InvalidArgument>([&] { vca(none, vo); }, {"no valid pixel"});
}

TEST(Vca, WarnsWhenTheSceneHasTooFewDistinctPixels) {
  // Two distinct spectra repeated: the third endmember can only repeat a pixel.
  const int bands = 6;
  const int64_t n = 40;
  std::vector<float> v(bands * n);
  for (int b = 0; b < bands; ++b)
    for (int64_t i = 0; i < n; ++i) v[b * n + i] = i % 2 ? 0.1f * (b + 1) : 0.5f - 0.05f * b;
  MatrixPixelSource src(v, bands, n);
  VcaOptions vo;
  vo.endmembers = 3;
  test::RecordingSink sink;
  const VcaResult r = vca(src, vo, &sink);
  ASSERT_EQ(sink.warnings.size(), 1u);
  EXPECT_NE(sink.warnings[0].find("same pixel"), std::string::npos);
  EXPECT_LT(std::set<int64_t>(r.pixelIndices.begin(), r.pixelIndices.end()).size(), 3u);
  // A scene with enough distinct vertices gives no warning.
  const SyntheticScene s = generateSyntheticScene(sceneOptions(30));
  MatrixPixelSource good(s.scene, s.bands, int64_t(s.width) * s.height);
  test::RecordingSink quiet;
  vca(good, vo, &quiet);
  EXPECT_TRUE(quiet.warnings.empty());
}

TEST(Vca, ReportsProgressAndHonoursCancel) {
  const SyntheticScene s = generateSyntheticScene(sceneOptions(30));
  const int64_t n = int64_t(s.width) * s.height;
  MatrixPixelSource src(s.scene, s.bands, n, 32);
  VcaOptions vo;
  vo.endmembers = 4;
  test::RecordingSink sink;
  vca(src, vo, &sink);
  ASSERT_FALSE(sink.reports.empty());
  EXPECT_TRUE(std::is_sorted(sink.reports.begin(), sink.reports.end()));
  EXPECT_DOUBLE_EQ(sink.reports.back(), 1.0);
  test::RecordingSink cancel(/*cancelAfter=*/5);
  EXPECT_THROW(vca(src, vo, &cancel), Canceled);
}

}  // namespace
}  // namespace dequnmix
