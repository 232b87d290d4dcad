// N-FINDR on scenes with pure pixels: it picks them (exact on noise-free data).
#include "core/classical/nfindr.h"

#include <limits>

#include "core/errors.h"
#include "core/metrics/metrics.h"
#include "core/synthetic/synthetic.h"
#include "tests/core/test_support.h"

namespace dequnmix {
namespace {

SyntheticScene pureScene(int endmembers, double snrDb) {
  SyntheticOptions o;
  o.width = o.height = 40;
  o.bands = 60;
  o.endmembers = endmembers;
  o.snrDb = snrDb;
  o.purePixels = true;
  o.seed = 9;
  return generateSyntheticScene(o);
}

TEST(Nfindr, FindsThePurePixels) {
  for (int P : {3, 5, 7}) {
    const SyntheticScene s = pureScene(P, std::numeric_limits<double>::infinity());
    MatrixPixelSource source(s.scene, s.bands, int64_t(s.width) * s.height);
    NfindrOptions o;
    o.endmembers = P;
    const NfindrResult r = nfindr(source, o);
    ASSERT_EQ(r.pixelIndices.size(), size_t(P));
    EXPECT_LT(matchEndmembers(r.spectra, s.endmembers.values, s.bands, P).msadRad, 1e-4) << P;
    const int64_t n = int64_t(s.width) * s.height;
    for (int e = 0; e < P; ++e) {  // each chosen pixel is pure in the reference
      double largest = 0;
      for (int q = 0; q < P; ++q)
        largest = std::max(largest, double(s.abundances[q * n + r.pixelIndices[e]]));
      EXPECT_GT(largest, 0.999) << P;
    }
  }
  const SyntheticScene noisy = pureScene(4, 30);
  MatrixPixelSource source(noisy.scene, noisy.bands, int64_t(noisy.width) * noisy.height);
  NfindrOptions o;
  o.endmembers = 4;
  EXPECT_LT(
      matchEndmembers(nfindr(source, o).spectra, noisy.endmembers.values, noisy.bands, 4).msadRad,
      0.05);
}

TEST(Nfindr, RefusesImpossibleCounts) {
  const SyntheticScene s = pureScene(3, 30);
  MatrixPixelSource source(s.scene, s.bands, int64_t(s.width) * s.height);
  NfindrOptions o;
  o.endmembers = 1;
  test::expectThrowWith<InvalidArgument>([&] { nfindr(source, o); }, {"at least 2"});
  o.endmembers = 60;
  test::expectThrowWith<InvalidArgument>([&] { nfindr(source, o); }, {"fewer than the 60 bands"});
}

}  // namespace
}  // namespace dequnmix
